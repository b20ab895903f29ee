"""verify: tampering with the stored events is caught and named by position."""

from __future__ import annotations

import hashlib
import os
import stat
import threading

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench.history import generate
from infrastructure.bootstrap import bootstrap
from infrastructure.projections.audit import (
    GENESIS,
    canonical_bytes,
    chain_hash,
    key_id,
    public_raw,
    sign_head,
    signing_key,
)
from infrastructure.projections.verify import verify
from tests.support.projection_support import (
    delete_events,
    forget_projection,
    set_stored_state,
    stored_state,
)


@pytest.fixture
def projected(app):
    generate(app, cases_=40, seed=21)
    report = verify(app)
    assert report.ok, report.problems
    assert report.events_checked == app.recorder.max_notification_id()
    return app


def _first(app):
    report = verify(app)
    assert not report.ok
    return report.first_problem


def test_a_changed_byte_in_a_stored_event_is_caught_at_its_position(projected) -> None:
    state = bytearray(stored_state(projected, 57))
    state[state.index(b'"request_id":"') + 16] ^= 0x01  # one bit of one byte
    set_stored_state(projected, 57, bytes(state))
    problem = _first(projected)
    assert (problem.check, problem.position) == ("chain", 57)
    assert "differs" in problem.detail


def test_a_deleted_event_is_caught_at_its_position(projected) -> None:
    delete_events(projected, 88)
    problem = _first(projected)
    assert (problem.check, problem.position) == ("chain", 88)
    assert "missing" in problem.detail


def test_a_truncated_tail_is_caught_at_the_first_missing_position(projected) -> None:
    last = projected.recorder.max_notification_id()
    delete_events(projected, last - 4, last)
    problem = _first(projected)
    assert (problem.check, problem.position) == ("chain", last - 4)


def test_a_tail_cut_from_the_log_and_the_audit_table_alike_misses_the_signed_head(
    projected,
) -> None:
    last = projected.recorder.max_notification_id()
    delete_events(projected, last - 4, last)
    projected.database.execute("DELETE FROM reclaim_audit_log WHERE position >= %s", (last - 4,))
    report = verify(projected)
    assert [p.check for p in report.problems][:1] == ["head"]
    assert report.first_problem.position == last
    assert "end before the signed head" in report.first_problem.detail


def test_a_rewritten_head_needs_the_key(projected) -> None:
    last = projected.recorder.max_notification_id()
    delete_events(projected, last - 4, last)
    db = projected.database
    db.execute("DELETE FROM reclaim_audit_log WHERE position >= %s", (last - 4,))
    row = db.fetchone("SELECT position, hash FROM reclaim_audit_log ORDER BY position DESC LIMIT 1")
    head = db.fetchone("SELECT * FROM reclaim_audit_head")
    head.update(position=row["position"], hash=row["hash"], events=last - 5)
    head["signature"] = sign_head(Ed25519PrivateKey.generate(), head)  # a key of one's own
    db.execute(
        "UPDATE reclaim_audit_head SET position = %s, hash = %s, events = %s, signature = %s",
        (head["position"], head["hash"], head["events"], head["signature"]),
    )
    report = verify(projected)
    assert ("head", "the signed head's signature is not valid") in [
        (p.check, p.detail) for p in report.problems if p.check == "head"
    ]


def test_a_changed_read_table_is_caught_by_the_replay_comparison(projected) -> None:
    projected.database.execute(
        "UPDATE reclaim_case_list SET amount_recovered = '1000.00' "
        "WHERE opened_position = (SELECT MIN(opened_position) FROM reclaim_case_list)"
    )
    problem = _first(projected)
    assert problem.check == "case_list"
    assert "amount_recovered" in problem.detail and "'1000.00'" in problem.detail


def test_projections_behind_the_log_are_not_a_problem(projected) -> None:
    """Events stored without their rows (as by an import before its catch-up)."""
    from bench.history import cases

    encode = projected.mapper.encode
    stored = [encode(e, case) for case in cases(5, 22) for e in case.collect_events()]
    projected.recorder.insert_events(stored)
    report = verify(projected)
    assert report.ok
    assert report.head_position < report.events_checked


def test_the_chain_is_sha256_over_the_documented_bytes(projected) -> None:
    first = projected.recorder.select_notifications(start=1, limit=1)[0]
    expected = f"{first.originator_id}\n1\n{first.topic}\n".encode() + first.state
    assert canonical_bytes(first) == expected
    digest = hashlib.sha256(bytes(32) + expected).hexdigest()
    assert chain_hash(GENESIS, first) == digest
    row = projected.database.fetchone("SELECT hash FROM reclaim_audit_log WHERE position = 1")
    assert row == {"hash": digest}


def test_the_generated_signing_key_is_private_and_kept(settings) -> None:
    key = signing_key(settings)
    path = settings.data_dir / "audit-signing.key"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert len(path.read_text().strip()) == 64
    assert key_id(signing_key(settings)) == key_id(key)
    seed = "ab" * 32
    configured = settings.model_copy(update={"audit_signing_key": seed})
    assert public_raw(signing_key(configured)) == public_raw(
        Ed25519PrivateKey.from_private_bytes(bytes.fromhex(seed))
    )
    older = settings.model_copy(update={"audit_signing_key": "an older HMAC key"})
    assert key_id(signing_key(older)) == key_id(signing_key(older)) != key_id(key)


def test_the_generated_signing_key_is_the_stores_on_every_node(settings, tmp_path) -> None:
    """Two nodes with data directories of their own sign with one key: the store's. A key
    file an earlier version generated becomes the store's when it has none yet."""
    from infrastructure.store.database import Database
    from infrastructure.store.shared_keys import create_tables

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    (settings.data_dir / "audit-signing.key").write_text("kept-from-before\n")
    with bootstrap(settings) as first:
        database: Database = first.store.database
        create_tables(database)
        kept = key_id(signing_key(settings, database))
        other = settings.model_copy(update={"data_dir": tmp_path / "other-node"})
        assert key_id(signing_key(other, database)) == kept
        assert key_id(first.store.projections.context.signing_key) == kept
        older = settings.model_copy(update={"audit_signing_key": "kept-from-before"})
        assert kept == key_id(signing_key(older))


def test_verify_agrees_with_commands_recorded_alongside(projected) -> None:
    writer = threading.Thread(target=generate, args=(projected,), kwargs={"cases_": 60, "seed": 23})
    writer.start()
    reports = [verify(projected) for _ in range(3)]
    writer.join()
    assert all(r.ok for r in reports), [r.problems for r in reports]
    assert verify(projected).ok


def test_a_log_never_projected_lacks_only_its_signed_head(app) -> None:
    generate(app, cases_=3, seed=24)
    # as a log loaded without its projections: no audit rows, no head, no position
    forget_projection(app, "audit")
    report = verify(app)
    assert [(p.check, p.position) for p in report.problems] == [("head", None)]
    assert "not built" in report.problems[0].detail
