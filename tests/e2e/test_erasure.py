"""Erasing a person (issue 27): two members of one workspace open cases, one of them is
erased, and every surface is checked for both, on both stores and over real HTTP.

The erased member's personal data must be unreadable everywhere (answers, pages, CSV,
ICS, dossier, files, every table of the store, and on SQLite the raw database file and
its write-ahead log); the other's intact; the reports' figures unchanged; the audit chain
still verifying; a replay giving the same rows.
"""

from __future__ import annotations

import io
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from infrastructure.store.application import ReclaimApplication
from infrastructure.store.transfer import export_log
from tests.support.api_data import credit_body, dispute_body, upload, when
from tests.support.projection_support import cli_env, dump

RECLAIM = str(Path(sys.executable).with_name("reclaim"))

#: what alice (erased) and bob (kept) wrote: each must be found in the store before
ALICE = [
    "ALICE-ACCT-7731",
    "T-ALICE-REF-1",
    "alice-submission-words",
    "alice-private-note",
    "alice-wallet-photo.png",
    "alice-file-description",
    "ALICE-MAIL-SECRET-99",
    "alice.shopper@example.org",
]
BOB = ["BOB-ACCT-5520", "bob-private-note", "bob-receipt.png"]

ALICE_MAIL = b"""From: Temu Support <support@temu.com>
To: Alice Shopper <alice.shopper@example.org>
Subject: Re: [Ticket T-ALICE-REF-1] your store credit
Date: Tue, 17 Mar 2026 09:00:00 +0000
Message-ID: <reply-17@temu.com>
MIME-Version: 1.0
Content-Type: text/plain; charset="utf-8"

Dear customer, we looked at ALICE-MAIL-SECRET-99 and need a screenshot.
"""

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64))


def _alice_and_bob(api) -> tuple[str, str]:
    alice, bob = api["owner"], api["other_member"]
    a = alice.post("/v1/credits", json=credit_body(account_reference=ALICE[0])).json()["id"]
    submitted = alice.post(
        f"/v1/cases/{a}/submit",
        json={
            "channel": "email",
            "reference": ALICE[1],
            "message": ALICE[2],
            "occurred_at": when(13),
        },
        headers={"Idempotency-Key": "alice-submit-1"},
    )
    assert submitted.status_code == 200, submitted.text
    assert alice.post(f"/v1/cases/{a}/notes", json={"text": ALICE[3]}).status_code == 200
    sent = alice.post(
        f"/v1/cases/{a}/evidence",
        files={"file": (ALICE[4], PNG + b"alice", "image/png")},
        data={"kind": "screenshot", "description": ALICE[5]},
    )
    assert sent.status_code == 201, sent.text
    mail = alice.post(
        f"/v1/cases/{a}/emails",
        files={"file": ("reply.eml", ALICE_MAIL, "message/rfc822")},
        data={"direction": "from_platform"},
    )
    assert mail.status_code in (200, 201), mail.text
    b = bob.post("/v1/disputes", json=dispute_body(account_reference=BOB[0])).json()["id"]
    assert bob.post(f"/v1/cases/{b}/notes", json={"text": BOB[1]}).status_code == 200
    assert upload(bob, b, data=PNG + b"bob", filename=BOB[2]).status_code == 201
    return a, b


def _store_text(app: ReclaimApplication) -> str:
    """Every row of every table of the store, as text (bytes decoded leniently)."""
    if app.database.is_postgres:
        names = [
            r["name"]
            for r in app.database.fetchall(
                "SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema()"
            )
        ]
    else:
        names = [
            r["name"]
            for r in app.database.fetchall("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
    parts = []
    for name in names:
        for row in app.database.fetchall(f'SELECT * FROM "{name}"'):
            for value in row.values():
                if isinstance(value, bytes | memoryview):
                    parts.append(bytes(value).decode("utf-8", "replace"))
                else:
                    parts.append(str(value))
    return "\n".join(parts)


def _raw_files(settings) -> bytes:
    """The SQLite database file and its write-ahead log, byte for byte."""
    found = b""
    for suffix in ("", "-wal"):
        path = Path(f"{settings.sqlite_path}{suffix}")
        if path.exists():
            found += path.read_bytes()
    return found


def _readable(api, case_id: str, reader: str = "admin") -> str:
    """Everything a reader gets of a case over the API, as text."""
    client = api[reader]
    texts = [
        client.get(f"/v1/cases/{case_id}").text,
        client.get(f"/v1/cases/{case_id}/timeline").text,
        client.get(f"/v1/cases/{case_id}/audit").text,
        client.get(f"/v1/cases/{case_id}/audit", params={"format": "csv"}).text,
        client.get("/v1/cases", params={"limit": 100}).text,
        client.get("/v1/cases", params={"format": "csv"}).text,
        client.get("/v1/audit/events", params={"limit": 500}).text,
    ]
    dossier = client.get(f"/v1/cases/{case_id}/dossier")
    assert dossier.status_code == 200, dossier.text
    with zipfile.ZipFile(io.BytesIO(dossier.content)) as archive:
        for name in archive.namelist():
            texts.append(archive.read(name).decode("utf-8", "replace"))
    return "\n".join(texts)


def _figures(api) -> list[str]:
    admin = api["admin"]
    return [
        admin.get("/v1/reports/summary").text,
        admin.get("/v1/reports/recovery", params={"group_by": "platform"}).text,
        admin.get("/v1/reports/outcomes").text,
    ]


def _no_changing_fields(text: str) -> str:
    import json

    body = json.loads(text)
    body.pop("generated_at", None)
    body.pop("as_of", None)
    return json.dumps(body, sort_keys=True)


def test_erasing_a_member_leaves_nothing_of_theirs_and_everything_else(api, settings) -> None:
    alices, bobs = _alice_and_bob(api)
    admin = api["admin"]
    setup = ReclaimApplication(settings)
    try:
        token = setup.keys.rotate_calendar_token("alice", "home", "member")
        before_store = _store_text(setup)
    finally:
        setup.close()
    for secret in ALICE + BOB:
        assert secret in before_store, f"{secret} should be in the store before the erasure"
    assert api["anonymous"].get("/v1/calendar.ics", params={"token": token}).status_code == 200
    signed_in = api["anonymous"].post(
        "/app/sign-in", data={"api_key": api.keys["owner"]}, follow_redirects=False
    )
    cookie = signed_in.cookies.get("reclaim_session")
    assert cookie
    figures = [_no_changing_fields(t) for t in _figures(api)]
    evidence = api["owner"].get(f"/v1/cases/{alices}").json()["evidence"]

    # --- bad requests change nothing ------------------------------------------------------
    def refused(client, user: str, status: int, code: str | None = None) -> None:
        answer = client.delete(f"/v1/users/{user}")
        assert answer.status_code == status, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")
        if code:
            assert answer.json()["type"].endswith(code)

    refused(api["owner"], "alice", 403)  # oneself, without the admin role
    refused(api["owner"], "bob", 403)
    refused(api["auditor"], "alice", 403)
    refused(admin, "nobody-here", 404, "user-not-found")
    refused(admin, "erin", 404, "user-not-found")  # another workspace's member
    refused(admin, "bad name!", 422)
    refused(api["anonymous"], "alice", 401)
    assert api["owner"].get(f"/v1/cases/{alices}").json()["account_reference"] == ALICE[0]

    # --- the erasure ------------------------------------------------------------------------
    erased = admin.delete("/v1/users/alice")
    assert erased.status_code == 200, erased.text
    body = erased.json()
    assert body["cases"] == 1 and body["keys_revoked"] >= 2 and body["files_removed"] == 2

    # her ways in are closed
    assert api["owner"].get("/v1/cases").status_code == 401
    assert api["anonymous"].get("/v1/calendar.ics", params={"token": token}).status_code in (
        401,
        404,
    )
    api["anonymous"].cookies.set("reclaim_session", cookie)
    page = api["anonymous"].get("/app/cases", follow_redirects=False)
    api["anonymous"].cookies.clear()
    assert page.status_code in (303, 401), page.status_code

    # nothing of hers is readable through any answer, and her files are gone
    text = _readable(api, alices)
    for secret in ALICE:
        assert secret not in text, f"{secret} is still readable"
    book = api["anonymous"]  # the case book, signed in as the admin
    signed = book.post("/app/sign-in", data={"api_key": api.keys["admin"]}, follow_redirects=False)
    book.cookies.set("reclaim_session", signed.cookies["reclaim_session"])
    pages = [book.get(f"/app/cases/{alices}"), book.get("/app/cases")]
    book.cookies.clear()
    for page in pages:
        assert page.status_code == 200, page.text
        for secret in ALICE:
            assert secret not in page.text, f"{secret} is on a page"
    assert "[erased]" in pages[0].text
    case = admin.get(f"/v1/cases/{alices}").json()
    assert case["account_reference"] == "[erased]"
    assert case["state"] == "submitted" and case["amount_claimed"] == "25.00"
    for item in evidence:
        gone = admin.get(f"/v1/cases/{alices}/evidence/{item['id']}")
        assert gone.status_code == 404
    titles = [e["title"] for e in admin.get(f"/v1/cases/{alices}/timeline").json()["items"]]
    assert titles[-1] == "Personal data erased"
    assert admin.get("/v1/cases", params={"q": ALICE[0].lower()}).json()["items"] == []

    # bob's are intact
    text = _readable(api, bobs, reader="other_member")
    for secret in BOB:
        assert secret in text, f"{secret} of the member kept should still be readable"
    receipt = api["other_member"].get(f"/v1/cases/{bobs}").json()["evidence"][0]
    download = api["other_member"].get(f"/v1/cases/{bobs}/evidence/{receipt['id']}")
    assert download.content == PNG + b"bob"

    # the figures, the chain and a replay
    assert [_no_changing_fields(t) for t in _figures(api)] == figures
    verified = admin.get("/v1/audit/verify").json()
    assert verified["ok"], verified

    # nothing of hers anywhere in the store; on SQLite not even in its free space
    app = ReclaimApplication(settings)
    try:
        after_store = _store_text(app)
        for secret in ALICE:
            assert secret not in after_store, f"{secret} is still in the store"
        for secret in BOB:
            assert secret in after_store
        if not settings.uses_postgres:
            raw = _raw_files(settings)
            for secret in ALICE:
                assert secret.encode() not in raw, f"{secret} lingers in the SQLite file"
        rows = dump(app)
        out = io.StringIO()
        export_log(app, out)
        for secret in ALICE:
            assert secret not in out.getvalue(), f"{secret} is in an export"
    finally:
        app.close()
    replay = subprocess.run(
        [RECLAIM, "replay"], env=cli_env(settings), capture_output=True, text=True, timeout=300
    )
    assert replay.returncode == 0, replay.stderr
    app = ReclaimApplication(settings)
    try:
        assert dump(app) == rows, "a replay gives the same erased rows"
    finally:
        app.close()


def test_erasing_from_the_command_line(settings, services) -> None:
    """``reclaim erase``: an unknown person is a plain error; a known one is erased."""
    from tests.support.commands import as_users
    from tests.support.factories import credit_facts

    app = services.store
    case = as_users(app).open_credit(**credit_facts(request_id="open")).case
    app.close()
    unknown = subprocess.run(
        [RECLAIM, "erase", "--workspace", case.workspace, "--user", "nobody"],
        env=cli_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert unknown.returncode != 0 and "no user 'nobody'" in unknown.stderr
    assert "Traceback" not in unknown.stderr
    done = subprocess.run(
        [RECLAIM, "erase", "--workspace", case.workspace, "--user", case.owner],
        env=cli_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "1 cases" in done.stdout
    again = ReclaimApplication(settings)
    try:
        assert again.get_case(case.id).account_reference == "[erased]"
    finally:
        again.close()


@pytest.mark.parametrize("store", ["sqlite"])
def test_a_case_of_an_erased_owner_takes_no_more_steps(services) -> None:
    from domain.errors import CaseErased
    from tests.support.commands import as_users
    from tests.support.factories import credit_facts

    users = as_users(services.store)
    case = users.open_credit(**credit_facts(request_id="open")).case
    case.erase_personal_data(actor="admin", request_id="erase")
    with pytest.raises(CaseErased):
        case.add_note(text="more", actor=case.owner, request_id="n")


def test_a_restore_from_before_an_erasure_does_not_bring_the_person_back(
    settings, settings_for, store, tmp_path
) -> None:
    """The backup: an export made before the erasure. The restore: that export imported
    into a new store that shares the erasure ledger. Its next start erases again."""
    from infrastructure.bootstrap import bootstrap
    from infrastructure.service import erasure
    from infrastructure.store.transfer import import_log
    from tests.support.commands import as_users
    from tests.support.factories import credit_facts

    ledger = tmp_path / "outside-the-database" / "erasures.jsonl"
    first = settings.model_copy(update={"erasure_ledger": ledger})
    backup = tmp_path / "backup.jsonl"
    with bootstrap(first) as services:
        app = services.store
        users = as_users(app)
        kept = users.open_credit(**credit_facts(owner="ann", account_reference="ann-acct")).case
        gone = users.open_credit(**credit_facts(owner="ben", account_reference="ben-acct")).case
        with backup.open("w") as out:
            export_log(app, out)
        erasure.erase(app, gone.workspace, "ben", by="admin", request_id="erase")
    assert ledger.is_file() and '"user": "ben"' in ledger.read_text()

    restored = settings_for(store).model_copy(update={"erasure_ledger": ledger})
    app = ReclaimApplication(restored)
    try:
        import_log(app, backup)
        from infrastructure.projections.projector import Projector

        Projector(app).catch_up()
        assert app.get_case(gone.id).account_reference == "ben-acct", "the backup has ben"
    finally:
        app.close()
    with bootstrap(restored) as services:  # the restored store's first start
        app = services.store
        assert app.get_case(gone.id).account_reference == "[erased]"
        assert app.get_case(kept.id).account_reference == "ann-acct"
        assert [e["user_id"] for e in app.data_keys.erasures()] == ["ben"]
