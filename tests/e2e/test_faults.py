"""Faults on real server processes: the server SIGKILLed under load, PostgreSQL restarted
under load, the SQLite file locked by another process, keys kept out of the log, workers
starting together. Each is bounded in time and count. (A replay killed mid-way:
tests/integration/test_replay_killed.py.)"""

from __future__ import annotations

import re
import sqlite3
import subprocess
import time
from uuid import UUID

import httpx
import pytest

from infrastructure.projections.verify import verify
from infrastructure.store.application import ReclaimApplication
from tests.support.api_data import credit_body
from tests.support.load import Load
from tests.support.pgserver import PostgresServer
from tests.support.processes import ServerProcess

pytestmark = pytest.mark.slow


def _key(settings) -> str:
    app = ReclaimApplication(settings)
    try:
        return app.keys.create("alice", "home", "member")[0]
    finally:
        app.close()


def _open_cases(url: str, key: str, n: int) -> list[str]:
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}) as client:
        return [client.post("/v1/credits", json=credit_body()).json()["id"] for _ in range(n)]


def _notes_by_case(settings, cases: list[str]) -> dict[str, list[str]]:
    app = ReclaimApplication(settings)
    try:
        return {
            c: [e.text for e in app.case_events(UUID(c)) if type(e).__name__ == "NoteAdded"]
            for c in cases
        }
    finally:
        app.close()


def _projections_equal_a_rebuild(settings) -> None:
    app = ReclaimApplication(settings)
    try:
        report = verify(app)
        assert report.ok, report.as_dict()
    finally:
        app.close()


def test_server_killed_under_load_loses_nothing_it_acknowledged(settings) -> None:
    key = _key(settings)
    server = ServerProcess(settings).start()
    try:
        cases = _open_cases(server.url, key, 6)
        with Load(server.url, key, cases, seconds=4) as load:
            time.sleep(1.5)
            server.kill()
            server.start()
        assert load.statuses[200] > 20, load.statuses
        assert load.statuses[500] == 0
        notes = _notes_by_case(settings, cases)
        for case_id, text in load.acknowledged:
            assert text in notes[case_id], f"acknowledged note {text} was lost"
        for case_id, texts in notes.items():
            assert len(texts) == len(set(texts)), f"a note was recorded twice on {case_id}"
        _projections_equal_a_rebuild(settings)
    finally:
        server.stop()


def test_postgres_restarted_under_load_is_503_then_recovers(settings_for, tmp_path) -> None:
    own = PostgresServer().start()  # its own server, so the restart disturbs no other test
    try:
        from infrastructure.settings import Settings

        settings = Settings(
            data_dir=tmp_path / "data",
            database_url=own.create_database("faults"),
            connect_timeout=2,
        )
        key = _key(settings)
        server = ServerProcess(settings).start()
        try:
            cases = _open_cases(server.url, key, 4)
            with Load(server.url, key, cases, seconds=20) as load:
                time.sleep(1.5)
                own.stop()
                time.sleep(8)
                own.start()
            assert load.statuses[500] == 0, load.statuses
            assert load.statuses[503] > 0, load.statuses
            assert load.retry_after_ok
            # recovered by itself: it answers again after the restart
            with httpx.Client(
                base_url=server.url, headers={"Authorization": f"Bearer {key}"}
            ) as client:
                again = client.post(f"/v1/cases/{cases[0]}/notes", json={"text": "after"})
                assert again.status_code == 200, again.text
            notes = _notes_by_case(settings, cases)
            for case_id, text in load.acknowledged:
                assert text in notes[case_id]
        finally:
            server.stop()
    finally:
        own.cleanup()


def test_sqlite_locked_longer_than_the_busy_timeout_is_503(settings_for) -> None:
    settings = settings_for("sqlite", sqlite_lock_timeout=1)
    key = _key(settings)
    server = ServerProcess(settings, RECLAIM_SQLITE_LOCK_TIMEOUT="1").start()
    try:
        case_id = _open_cases(server.url, key, 1)[0]
        locker = subprocess.Popen(
            [
                "python3",
                "-c",
                "import sqlite3, sys, time\n"
                f"c = sqlite3.connect({str(settings.sqlite_path)!r}, isolation_level=None)\n"
                "c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); time.sleep(4)\n"
                "c.execute('ROLLBACK')\n",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert locker.stdout is not None and locker.stdout.readline().strip() == "locked"
            with httpx.Client(
                base_url=server.url, timeout=30, headers={"Authorization": f"Bearer {key}"}
            ) as client:
                refused = client.post(f"/v1/cases/{case_id}/notes", json={"text": "blocked"})
                assert refused.status_code == 503, refused.text
                assert refused.headers["Retry-After"]
                assert refused.headers["content-type"] == "application/problem+json"
                locker.wait(20)
                done = client.post(f"/v1/cases/{case_id}/notes", json={"text": "after"})
                assert done.status_code == 200, done.text
        finally:
            locker.kill()
        assert _notes_by_case(settings, [case_id])[case_id] == ["after"]  # nothing half-written
        with sqlite3.connect(settings.sqlite_path) as db:
            assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        server.stop()


def test_keys_and_tokens_never_reach_the_log(settings) -> None:
    """Every request is logged by path, from each worker of ``reclaim serve --workers 2``
    (uvicorn starts them as fresh processes: they set their logging up themselves), and
    no key or token ever is."""
    app = ReclaimApplication(settings)
    try:
        key = app.keys.create("alice", "home", "member")[0]
        token = app.keys.rotate_calendar_token("alice", "home", "member")
    finally:
        app.close()
    server = ServerProcess(settings, "--workers", "2").start()
    try:
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}) as c:
            assert c.post("/v1/credits", json=credit_body()).status_code == 201
            assert c.get("/v1/calendar.ics", params={"token": token}).status_code == 200
            assert (
                c.get("/v1/cases", headers={"Authorization": "Bearer rk_wrong"}).status_code == 401
            )
    finally:
        server.stop()
    log = server.log.read_text()
    # the requests were logged, each as the path, its status and its request id
    assert re.search(r"reclaim\.access: POST /v1/credits 201 [\d.]+ms rid=\w+", log), log[-2000:]
    assert "GET /v1/calendar.ics 200" in log and "GET /v1/cases 401" in log
    for secret in (key, token, "rk_wrong"):
        assert secret not in log


def test_several_workers_start_together_every_time(settings) -> None:
    """`reclaim serve --workers 3`: the parent makes the tables, and the workers do not race
    to make them again (on PostgreSQL two concurrent CREATE ... IF NOT EXISTS can fail with
    "tuple concurrently updated", and uvicorn then stops the whole server)."""
    workers = 3
    for attempt in range(4):
        server = ServerProcess(settings, "--workers", str(workers)).start()
        try:
            deadline = time.monotonic() + 60
            while server.log.read_text().count("Application startup complete.") < workers:
                assert server.process is not None and server.process.poll() is None, (
                    f"start {attempt + 1} failed:\n" + server.log.read_text()[-3000:]
                )
                assert time.monotonic() < deadline, server.log.read_text()[-3000:]
                time.sleep(0.05)
            assert "Traceback" not in server.log.read_text()
        finally:
            server.stop()
