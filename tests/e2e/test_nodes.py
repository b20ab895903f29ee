"""Several ``reclaim serve`` processes on one store: one writes, the others forward their
saves to it, and any of them serves any case. Two nodes with data directories of their
own on one PostgreSQL; and the writer SIGKILLed under load, on both stores (on SQLite two
processes on one host, sharing the data directory)."""

from __future__ import annotations

import hashlib
import io
import re
import subprocess
import time
import zipfile
from uuid import UUID

import httpx
import pytest

from infrastructure.store.application import ReclaimApplication
from tests.support.api_data import credit_body
from tests.support.load import Load
from tests.support.processes import RECLAIM, ServerProcess
from tests.support.projection_support import cli_env

pytestmark = pytest.mark.slow

#: the bound this test holds the failover to: a new writer takes saves within it
FAILOVER_SECONDS = 3.0


def _key(settings) -> tuple[str, str]:
    """A member's key, and its id."""
    app = ReclaimApplication(settings)
    try:
        key, info = app.keys.create("alice", "home", "member")
        return key, info.key_id
    finally:
        app.close()


def _writer_row(settings) -> dict:
    app = ReclaimApplication(settings.model_copy(update={"create_tables": False}))
    try:
        row = app.registry.current()
        assert row is not None
        return row
    finally:
        app.close()


def _client(url: str, key: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30)


def _wait_for_writer(settings, not_node: str | None = None, timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        try:
            row = _writer_row(settings)
            if row["node"] != not_node:
                return row
        except AssertionError:
            pass
        assert time.monotonic() < deadline, "no writer was elected"
        time.sleep(0.05)


@pytest.fixture
def two_nodes(settings_for, tmp_path):
    """Nodes A and B: one PostgreSQL database, a data directory each; A starts first and
    is the writer."""
    settings = settings_for("postgres")
    other = settings.model_copy(update={"data_dir": tmp_path / "node-b"})
    a = ServerProcess(settings).start()
    _wait_for_writer(settings)
    b = ServerProcess(other).start()
    try:
        yield settings, a, b
    finally:
        b.stop()
        a.stop()


def test_any_node_serves_any_case_file_session_and_key(two_nodes) -> None:
    settings, a, b = two_nodes
    member, member_id = _key(settings)
    writer = _writer_row(settings)
    assert writer["node"].endswith(f":{_pid_of(a)}"), writer
    with _client(a.url, member) as on_a, _client(b.url, member) as on_b:
        # a case opened on A is acted on through B (B forwards its saves to A)
        opened = on_a.post("/v1/credits", json=credit_body())
        assert opened.status_code == 201, opened.text
        case_id = opened.json()["id"]
        submitted = on_b.post(
            f"/v1/cases/{case_id}/submit", json={"channel": "email", "message": "please"}
        )
        assert submitted.status_code == 200, submitted.text
        assert submitted.json()["version"] == 2
        noted = on_b.post(f"/v1/cases/{case_id}/notes", json={"text": "from B"})
        assert noted.status_code == 200 and noted.json()["version"] == 3
        assert on_a.get(f"/v1/cases/{case_id}").json()["state"] == "submitted"
        # each says which it is, and the follower how many saves it forwarded
        assert on_a.get("/readyz").json()["checks"]["writer"] == "this process"
        assert on_b.get("/readyz").json()["checks"]["writer"] == "another process"
        metrics = on_b.get("/metrics").text
        assert "reclaim_node_is_writer 0.0" in metrics
        forwarded = re.search(r"^reclaim_forwarded_saves_total (\S+)$", metrics, re.M)
        assert forwarded is not None and float(forwarded.group(1)) == 2.0, metrics[-800:]
        # evidence uploaded on A downloads, and is in the dossier, on B
        content = b"%PDF-1.4\n% a statement uploaded on node A\n" + bytes(range(256)) * 64
        uploaded = on_a.post(
            f"/v1/cases/{case_id}/evidence",
            files={"file": ("statement.pdf", content, "application/pdf")},
            data={"kind": "receipt", "description": "the statement"},
        )
        assert uploaded.status_code == 201, uploaded.text
        evidence = uploaded.json()
        download = on_b.get(f"/v1/cases/{case_id}/evidence/{evidence['id']}")
        assert download.status_code == 200 and download.content == content
        dossier = on_b.get(f"/v1/cases/{case_id}/dossier")
        assert dossier.status_code == 200, dossier.text[:500]
        with zipfile.ZipFile(io.BytesIO(dossier.content)) as archive:
            kept = [archive.read(n) for n in archive.namelist() if n.startswith("evidence/")]
        assert content in kept
        assert hashlib.sha256(content).hexdigest() == evidence["sha256"]
    # a browser session made on A works on B, and a form sent through B is recorded
    with httpx.Client(base_url=a.url, follow_redirects=False, timeout=30) as browser:
        signed_in = browser.post(
            "/app/sign-in", data={"api_key": member}, headers={"Origin": a.url}
        )
        assert signed_in.status_code == 303
        cookie = browser.cookies["reclaim_session"]
    with httpx.Client(base_url=b.url, follow_redirects=False, timeout=30) as browser:
        browser.cookies.set("reclaim_session", cookie)
        page = browser.get(f"/app/cases/{case_id}")
        assert page.status_code == 200 and "from B" in page.text
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        form = browser.post(
            f"/app/cases/{case_id}/actions/add_note",
            data={"csrf_token": csrf, "version": "4", "text": "a page's note"},
            headers={"Origin": b.url},
        )
        assert form.status_code == 303, form.text[:500]
    with _client(a.url, member) as on_a:
        assert on_a.get(f"/v1/cases/{case_id}").json()["version"] == 5
    # a key revoked on A (its command line, its data directory) stops working on B within
    # the key cache's bound (RECLAIM_KEY_CACHE_SECONDS, 2 s by default)
    revoke = subprocess.run(
        [RECLAIM, "keys", "revoke", member_id], env=cli_env(settings), capture_output=True
    )
    assert revoke.returncode == 0, revoke.stderr
    revoked_at = time.monotonic()
    with _client(b.url, member) as on_b:
        while on_b.get("/v1/cases").status_code == 200:
            assert time.monotonic() - revoked_at < 3.0, "B still takes the revoked key"
            time.sleep(0.1)
        assert on_b.get("/v1/cases").status_code == 401


def test_a_person_erased_through_a_follower_is_erased_on_the_writer(two_nodes) -> None:
    """The erasure's saves go through B to A, whose cache holds the case decrypted: every
    answer on both nodes reads as erased at once, and the case takes no more steps."""
    settings, a, b = two_nodes
    member, _ = _key(settings)
    app = ReclaimApplication(settings.model_copy(update={"create_tables": False}))
    try:
        admin, _ = app.keys.create("dana", "home", "admin")
    finally:
        app.close()
    with _client(a.url, member) as on_a, _client(b.url, admin) as admin_b:
        opened = on_a.post("/v1/credits", json=credit_body(account_reference="acct-on-a"))
        case_id = opened.json()["id"]
        assert on_a.post(f"/v1/cases/{case_id}/notes", json={"text": "secret-on-a"}).is_success
        erased = admin_b.delete("/v1/users/alice")
        assert erased.status_code == 200, erased.text
        assert erased.json()["cases"] == 1
        for url in (a.url, b.url):
            with _client(url, admin) as reader:
                case = reader.get(f"/v1/cases/{case_id}").json()
                timeline = reader.get(f"/v1/cases/{case_id}/timeline").text
            assert case["account_reference"] == "[erased]", url
            assert "secret-on-a" not in timeline and "acct-on-a" not in timeline, url
        assert on_a.get("/v1/cases").status_code in (200, 401)  # (revoked within 2 s)


def _pid_of(server: ServerProcess) -> int:
    """The pid of the server's worker (``reclaim serve`` with one worker serves in the
    process it was started as)."""
    assert server.process is not None
    return server.process.pid


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_the_writer_killed_under_load_hands_over_and_loses_nothing(
    store, settings_for, tmp_path
) -> None:
    """SIGKILL the writer while clients send notes through it and through the other node:
    the other node takes the writer's lock within the bound, every acknowledged note is
    recorded once, a command caught in flight gets a 503 with Retry-After (or, on the
    killed node, no answer) and its retry under the same Idempotency-Key is recorded
    once."""
    settings = settings_for(store)
    # on SQLite both processes share the data directory: one host, one file
    other = (
        settings
        if store == "sqlite"
        else settings.model_copy(update={"data_dir": tmp_path / "node-b"})
    )
    a = ServerProcess(settings).start()
    first = _wait_for_writer(settings)
    b = ServerProcess(other).start()
    try:
        member, _ = _key(settings)
        with _client(a.url, member) as on_a:
            cases = [on_a.post("/v1/credits", json=credit_body()).json()["id"] for _ in range(8)]
        with Load([a.url, b.url], member, cases, seconds=5, retry=True) as load:
            time.sleep(1.5)
            killed_at = time.monotonic()
            a.kill()
            row = _wait_for_writer(settings, not_node=first["node"], timeout=FAILOVER_SECONDS)
            took = time.monotonic() - killed_at
        assert took < FAILOVER_SECONDS, took
        assert row["node"].endswith(f":{_pid_of(b)}")
        assert not load.unanswered, (load.unanswered[:5], load.statuses)
        assert load.statuses[500] == 0, load.statuses
        assert load.retry_after_ok
        assert load.statuses[200] > 20, load.statuses
        app = ReclaimApplication(settings.model_copy(update={"create_tables": False}))
        try:
            notes = {
                c: [e.text for e in app.case_events(UUID(c)) if type(e).__name__ == "NoteAdded"]
                for c in cases
            }
        finally:
            app.close()
        for case_id, text in load.acknowledged:
            assert text in notes[case_id], f"acknowledged note {text} was lost"
        for case_id, texts in notes.items():
            assert len(texts) == len(set(texts)), f"a note was recorded twice on {case_id}"
        # and the survivor goes on writing, alone
        with _client(b.url, member) as on_b:
            response = on_b.post(f"/v1/cases/{cases[0]}/notes", json={"text": "after"})
            assert response.status_code == 200, response.text
    finally:
        b.stop()
        a.stop()
