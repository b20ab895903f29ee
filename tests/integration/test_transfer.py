"""Export a log as JSON lines and import it into an empty store of the other kind.
Moving a store's users, checked over HTTP on both: tests/e2e/test_transfer_users.py."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from bench.history import generate
from infrastructure.projections.projector import Projector
from infrastructure.projections.verify import verify
from infrastructure.read import queries
from infrastructure.store.application import ReclaimApplication
from infrastructure.store.blobs import CHUNK_BYTES
from infrastructure.store.transfer import TransferError, export_log, import_log
from tests.support.blobs import png_of


def _case_ids(app) -> list[str]:
    rows = app.database.fetchall("SELECT case_id FROM reclaim_case_list ORDER BY case_id")
    return [r["case_id"] for r in rows]


def _what_users_see(app) -> dict:
    """Case states, timelines and reports, as the queries answer them."""
    from uuid import UUID

    db = app.database
    seen: dict = {"cases": {}, "timelines": {}, "reports": {}}
    for case_id in _case_ids(app):
        case = app.get_case(UUID(case_id))
        seen["cases"][case_id] = {k: v for k, v in vars(case).items() if k != "_pending_events"}
        rows = queries.timeline(db, case_id, case.workspace, None)
        seen["timelines"][case_id] = [{k: v for k, v in r.items() if k != "position"} for r in rows]
    for workspace, owner in [("ws-1", None), ("ws-2", None), ("ws-1", "user-2")]:
        seen["reports"][workspace, owner] = (
            queries.summary(db, workspace, owner),
            [queries.recovery(db, workspace, owner, g) for g in queries.GROUPS],
            queries.outcomes(db, workspace, owner),
        )
    return seen


@pytest.mark.parametrize(("source", "target"), [("sqlite", "postgres"), ("postgres", "sqlite")])
def test_a_log_moved_to_the_other_store_reads_the_same_and_verifies(
    settings_for, tmp_path: Path, source: str, target: str
) -> None:
    path = tmp_path / "log.jsonl"
    origin = ReclaimApplication(settings_for(source))
    try:
        recorded = generate(origin, cases_=150, seed=41)
        Projector(origin).catch_up()
        with path.open("w") as out:
            assert export_log(origin, out) == recorded
        before = _what_users_see(origin)
    finally:
        origin.close()

    destination = ReclaimApplication(settings_for(target))
    try:
        assert import_log(destination, path).events == recorded
        Projector(destination).catch_up()
        assert _what_users_see(destination) == before
        report = verify(destination)
        assert report.ok and report.events_checked == recorded
    finally:
        destination.close()


@pytest.fixture
def exported(app, tmp_path: Path) -> Path:
    generate(app, cases_=5, seed=42)
    path = tmp_path / "log.jsonl"
    with path.open("w") as out:
        export_log(app, out)
    return path


def _rewrite(path: Path, line: int, change) -> Path:
    lines = path.read_text().splitlines()
    lines[line] = change(lines[line])
    bad = path.with_name("bad.jsonl")
    bad.write_text("\n".join(lines) + "\n")
    return bad


def test_import_refuses_a_store_that_is_not_empty(app, exported: Path) -> None:
    with pytest.raises(TransferError, match="not empty"):
        import_log(app, exported)


def _edit(field: str, value):
    def change(line: str) -> str:
        data = json.loads(line)
        data[field] = value
        return json.dumps(data)

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda line: line[:-5], "line 3: not JSON"),
        (lambda line: "[1, 2]", "line 3: expected the fields"),
        (_edit("position", 1), "line 3: position must be a whole number above 2"),
        (_edit("originator_id", "not-a-uuid"), "line 3: originator_id is not a UUID"),
        (_edit("originator_version", 9), "version 9 where"),
        (_edit("topic", "domain.cases:Nothing"), "event 3 cannot be read"),
        (_edit("state", "{broken"), "event 3 cannot be read"),
    ],
)
def test_import_refuses_a_malformed_file_and_records_nothing(
    exported: Path, settings_for, store: str, change, message: str
) -> None:
    bad = _rewrite(exported, 2, change)
    target = ReclaimApplication(settings_for(store))
    try:
        with pytest.raises(TransferError, match=message):
            import_log(target, bad)
        assert not target.recorder.max_notification_id()
    finally:
        target.close()


def test_a_file_of_events_only_still_imports(app, settings_for, store: str, tmp_path) -> None:
    """The format before rows were carried: events only."""
    generate(app, cases_=3, seed=7)
    app.keys.create("alice", "ws-1", "member")
    path = tmp_path / "log.jsonl"
    with path.open("w") as out:
        written = export_log(app, out)
    events_only = tmp_path / "old.jsonl"
    lines = path.read_text().splitlines()
    events_only.write_text("\n".join(line for line in lines if '"table"' not in line) + "\n")
    target = ReclaimApplication(settings_for(store))
    try:
        result = import_log(target, events_only)
        assert result.events == written and result.rows == {}
    finally:
        target.close()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"table": "reclaim_sessions", "row": {}}', "not a table that is carried"),
        ('{"table": "reclaim_api_keys", "row": {"key_id": "k"}}', "row has the columns"),
        (
            '{"table": "reclaim_api_keys", "row": {"key_id": 1, "key_hash": "h", "user_id": "u", '
            '"workspace": "w", "role": "member", "kind": "api", "created_at": "t", '
            '"revoked_at": null}}',
            "text or null",
        ),
    ],
)
def test_import_refuses_a_bad_carried_row_and_records_nothing(
    exported: Path, settings_for, store: str, line: str, message: str
) -> None:
    bad = exported.with_name("bad.jsonl")
    bad.write_text(exported.read_text() + line + "\n")
    target = ReclaimApplication(settings_for(store))
    try:
        with pytest.raises(TransferError, match=message):
            import_log(target, bad)
        assert not target.recorder.max_notification_id()
        assert target.keys.list() == []
    finally:
        target.close()


def test_import_refuses_an_event_after_the_rows(app, settings_for, tmp_path) -> None:
    generate(app, cases_=2, seed=9)
    app.keys.create("alice", "ws-1", "member")
    path = tmp_path / "log.jsonl"
    with path.open("w") as out:
        export_log(app, out)
    lines = path.read_text().splitlines()
    last_event = max(i for i, line in enumerate(lines) if '"table"' not in line)
    moved = [*lines[:last_event], *lines[last_event + 1 :], lines[last_event]]
    path.write_text("\n".join(moved) + "\n")
    target = ReclaimApplication(settings_for("sqlite"))
    try:
        with pytest.raises(TransferError, match="an event after the carried rows"):
            import_log(target, path)
    finally:
        target.close()


def _with_files(app, tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    """A small log with two evidence files in the store (one of three chunks), exported."""
    generate(app, cases_=2, seed=11)
    files = [b"Order 1234: credit 25.00 USD\n", png_of(2 * CHUNK_BYTES + 3, b"moved")]
    kept = {
        app.blobs.put_bytes(data, "text/plain" if i == 0 else "image/png").sha256: data
        for i, data in enumerate(files)
    }
    path = tmp_path / "log.jsonl"
    with path.open("w") as out:
        export_log(app, out)
    return path, kept


@pytest.mark.parametrize(("source", "target"), [("sqlite", "postgres"), ("postgres", "sqlite")])
def test_the_evidence_files_move_with_the_log(
    settings_for, tmp_path: Path, source: str, target: str
) -> None:
    origin = ReclaimApplication(settings_for(source))
    try:
        path, kept = _with_files(origin, tmp_path)
    finally:
        origin.close()
    destination = ReclaimApplication(settings_for(target))
    try:
        assert import_log(destination, path).files == 2
        for sha256, data in kept.items():
            assert destination.blobs.read(sha256) == data
    finally:
        destination.close()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_edit("data", base64.b64encode(b"other bytes").decode()), "hashes to"),
        (_edit("data", "not base64!"), "data must be base64"),
        (_edit("seq", 2), "piece 2 of"),
        (_edit("blob", "../../etc/passwd"), "blob must be a SHA-256"),
    ],
)
def test_import_refuses_a_bad_evidence_file_and_records_nothing(
    app, settings_for, store: str, tmp_path: Path, change, message: str
) -> None:
    path, kept = _with_files(app, tmp_path)
    first_piece = next(
        i for i, line in enumerate(path.read_text().splitlines()) if line.startswith('{"blob"')
    )
    bad = _rewrite(path, first_piece, change)
    target = ReclaimApplication(settings_for(store))
    try:
        with pytest.raises(TransferError, match=message):
            import_log(target, bad)
        assert not target.recorder.max_notification_id()
        assert target.blobs.stored() == []
    finally:
        target.close()
