"""Projections on both stores: written inline with the events, equal to a rebuild row
for row, rebuilt into new tables that are swapped in whole, one rebuild at a time."""

from __future__ import annotations

import threading
from decimal import Decimal
from uuid import UUID

import pytest

from bench.history import generate
from infrastructure.projections.locks import ProjectorBusy
from infrastructure.projections.projector import Projector, drop_unfinished
from infrastructure.projections.verify import verify
from tests.support.commands import as_users
from tests.support.factories import NOW, action_args, at, credit_facts
from tests.support.projection_support import dump, forget_projection, table_names


def test_every_acknowledged_command_is_in_every_projection_at_once(app) -> None:
    """No projector runs: what a command wrote is there the moment it answers."""
    case = as_users(app).open_credit(**credit_facts(), now=NOW).case
    as_users(app).submit(case.id, **action_args("submit", at(61)))
    for step in range(5):
        result = as_users(app).follow_up(case.id, **action_args("follow_up", at(62 + step)))
        row = app.database.fetchone(
            "SELECT version, follow_ups, last_position FROM reclaim_case_list WHERE case_id = %s",
            (str(case.id),),
        )
        assert row == {
            "version": step + 3,
            "follow_ups": step + 1,
            "last_position": result.position,
        }
        timeline = app.database.fetchone(
            "SELECT COUNT(*) AS n FROM reclaim_timeline WHERE case_id = %s", (str(case.id),)
        )
        assert timeline == {"n": step + 3}
        head = app.database.fetchone("SELECT position FROM reclaim_audit_head")
        assert head == {"position": result.position}
    assert app.projection_lag() == dict.fromkeys(app.projection_lag(), 0)


def test_inline_rows_equal_a_rebuild_row_for_row(app) -> None:
    for seed in range(1, 6):  # recorded in many small transactions, several cases in each
        generate(app, cases_=120, seed=seed, chunk=3)
    live = dump(app)
    assert len(live["reclaim_timeline"]) > 2500
    assert len(live["reclaim_timeline"]) == app.recorder.max_notification_id()

    assert Projector(app, batch_size=333).rebuild() == len(live["reclaim_audit_log"])
    assert dump(app) == live
    assert verify(app).ok
    assert not [t for t in table_names(app) if "__r" in t]  # the swap left nothing behind
    if app.database.is_postgres:  # readers get tables with statistics and a visibility map
        rows = app.database.fetchall(
            "SELECT relname, last_vacuum, last_analyze FROM pg_stat_user_tables "
            "WHERE relname IN (SELECT unnest(%s::text[]))",
            ([t.name for p in Projector(app).projections.values() for t in p.tables],),
        )
        assert len(rows) == sum(len(p.tables) for p in Projector(app).projections.values())
        assert all(r["last_vacuum"] and r["last_analyze"] for r in rows), rows


def test_the_case_list_row_is_the_aggregate(app) -> None:
    """Random histories: each case's row says what the case itself says (one fold)."""
    generate(app, cases_=60, seed=21, chunk=7)
    rows = app.database.fetchall("SELECT * FROM reclaim_case_list")
    assert len(rows) == 60
    for row in rows:
        case = app.get_case(UUID(row["case_id"]))
        assert row["version"] == case.version
        assert row["state"] == case.state
        assert row["kind"] == case.kind
        assert Decimal(row["amount_claimed"]) == case.amount_claimed
        assert Decimal(row["amount_recovered"]) == case.amount_recovered
        assert row["outcome"] == case.outcome
        assert row["escalation_level"] == case.escalation_level
        assert row["follow_ups"] == case.follow_ups
        assert row["denials"] == case.denials
        assert row["appeals"] == case.appeals
        assert row["escalations"] == len(case.escalations)
        assert row["evidence_count"] == len(case.evidence)
        assert row["notes_count"] == case.notes_count
        assert (row["resolved_at"] is None) == (case.resolved_at is None)
    assert verify(app).ok


def test_catch_up_builds_a_projection_whose_rows_were_lost(app) -> None:
    """A projection added later (or its tables emptied) is behind: 'reclaim project'
    makes it from the log; the others are left alone."""
    generate(app, cases_=40, seed=7)
    end = app.recorder.max_notification_id()
    projector = Projector(app, batch_size=7)
    assert projector.catch_up() == 0  # inline: nothing is behind
    before = dump(app)
    forget_projection(app, "timeline")
    assert projector.lag()["timeline"] == end
    assert projector.lag()["case_list"] == 0
    assert projector.catch_up() == end
    assert dump(app) == before
    assert projector.catch_up() == 0


def test_readers_see_the_old_tables_until_the_new_ones_are_swapped_in(app) -> None:
    """While a rebuild runs, the live tables stay whole and commands keep landing in
    them; the swap brings in what was recorded meanwhile."""
    generate(app, cases_=50, seed=3)
    total = app.recorder.max_notification_id()
    case = as_users(app).open_credit(**credit_facts(), now=NOW).case
    seen: list[int] = []

    def during(read: int) -> None:
        count = app.database.fetchone("SELECT COUNT(*) AS n FROM reclaim_timeline")
        seen.append(count["n"] if count else -1)
        if len(seen) == 2:  # a command in the middle of the rebuild
            as_users(app).submit(case.id, **action_args("submit", at(61)))

    Projector(app, batch_size=100).rebuild(progress=during)
    assert len(seen) >= 3
    assert seen[0] == total + 1 and seen[-1] == total + 2  # never a half-built table
    row = app.database.fetchone(
        "SELECT state FROM reclaim_case_list WHERE case_id = %s", (str(case.id),)
    )
    assert row == {"state": "submitted"}
    assert verify(app).ok


def test_a_failed_rebuild_keeps_the_live_tables_and_leaves_nothing_behind(app) -> None:
    generate(app, cases_=30, seed=4)
    before = dump(app)

    def fail(read: int) -> None:
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        Projector(app, batch_size=50).rebuild(progress=fail)
    assert dump(app) == before
    assert not [t for t in table_names(app) if "__r" in t]


def test_tables_of_a_killed_rebuild_are_dropped_by_the_next_one(app) -> None:
    generate(app, cases_=5, seed=5)
    app.database.execute("CREATE TABLE reclaim_timeline__rdeadbeef (position BIGINT)")
    assert drop_unfinished(app.database) == ["reclaim_timeline__rdeadbeef"]
    app.database.execute("CREATE TABLE reclaim_timeline__rdeadbeef (position BIGINT)")
    Projector(app).rebuild()
    assert "reclaim_timeline__rdeadbeef" not in table_names(app)
    assert verify(app).ok


def test_one_rebuild_at_a_time(app) -> None:
    generate(app, cases_=20, seed=10)
    first, second = Projector(app), Projector(app)
    started, release = threading.Event(), threading.Event()

    def slow(read: int) -> None:
        started.set()
        release.wait(10)

    runner = threading.Thread(target=lambda: first.rebuild(progress=slow))
    runner.start()
    try:
        assert started.wait(10)
        with pytest.raises(ProjectorBusy):
            second.rebuild(timeout=0.3)
    finally:
        release.set()
        runner.join(30)
    assert second.rebuild(timeout=5) > 0
    assert verify(app).ok


def test_a_projection_at_a_new_version_is_built_again_from_the_log(app, monkeypatch) -> None:
    """An upgrade that changes what a projection's rows hold raises its version: the
    store's old position is kept under the old name and does not count."""
    from infrastructure.projections.cases import CaseList

    generate(app, cases_=20, seed=31)
    end = app.recorder.max_notification_id()
    rows = app.database.fetchall("SELECT * FROM reclaim_case_list ORDER BY opened_position")
    monkeypatch.setattr(CaseList, "version", 2)
    projector = Projector(app)
    assert projector.lag() == {**dict.fromkeys(projector.names, 0), "case_list": end}
    assert projector.catch_up() == end
    assert projector.lag()["case_list"] == 0
    assert app.database.fetchall("SELECT * FROM reclaim_case_list ORDER BY opened_position") == rows


def test_one_large_save_writes_every_projection(app) -> None:
    """A thousand cases saved at once (an import, the benchmarks' set-up): the inline
    write's reads come after large executemany batches in one pipeline, and on
    PostgreSQL a shared cursor handed the audit head's query an INSERT's answer."""
    events = generate(app, cases_=1000, seed=41, chunk=1000)
    assert app.recorder.max_notification_id() == events
    assert app.projection_lag() == dict.fromkeys(app.projection_lag(), 0)
    assert verify(app).ok


def test_on_postgresql_the_projections_reads_go_with_the_events_insert(
    settings_for, monkeypatch
) -> None:
    """Inline on PostgreSQL every query a projection makes (the audit head, the reports'
    rows of the cases) is sent behind the events' INSERT and answered in its round trip:
    none is left for a round trip of its own. (SQLite has no round trips to save.)"""
    from infrastructure.bootstrap import bootstrap

    with bootstrap(settings_for("postgres")) as services:
        _reads_go_with_the_insert(services.store, monkeypatch)


def _reads_go_with_the_insert(app, monkeypatch) -> None:
    from infrastructure.store.database import Cursor

    inline = app.projections
    left: list[int] = []
    sent: list[int] = []
    own_reads: list[str] = []
    write, prefetch = inline.write, inline.prefetch
    fetch = Cursor._reading

    def prefetching(*args):
        queued = prefetch(*args)
        sent.append(len(queued))
        return queued

    writing_now = []

    def writing(raw, batch, positions, queued=None):
        writing_now.append(True)
        try:
            write(raw, batch, positions, queued)
        finally:
            writing_now.pop()
        left.append(len(queued) if queued is not None else -1)

    def reading(self, statement, params):
        # (the projections' reads: a data key read by the mapper before the save is not one)
        if writing_now and (statement, tuple(params)) not in self.prefetched:
            own_reads.append(statement)
        return fetch(self, statement, params)

    monkeypatch.setattr(inline, "prefetch", prefetching)
    monkeypatch.setattr(inline, "write", writing)
    monkeypatch.setattr(Cursor, "_reading", reading)
    users = as_users(app)
    case_id = users.open_credit(**credit_facts(request_id="open")).case.id
    users.submit(case_id, **action_args("submit", at(61), request_id="submit"))
    users.follow_up(case_id, **action_args("follow_up", at(70), request_id="follow"))
    users.add_note(case_id, **action_args("add_note", at(71), request_id="note"))
    # the head on every save; the reports' facts and contacts on the submit and follow-up
    assert sent == [1, 3, 3, 1]
    assert left == [0, 0, 0, 0]
    assert own_reads == []


def test_on_postgresql_a_save_is_two_round_trips_and_a_failed_one_is_rolled_back(
    settings_for, monkeypatch, caplog
) -> None:
    """A command's whole transaction (BEGIN, the lock, the events, the projections' reads,
    their rows, the idempotency record, COMMIT) goes to PostgreSQL in one statement batch
    with two syncs: one for the events' positions and the reads, one for the rest, and
    nothing through psycopg's own pipeline. A save that conflicts is rolled back before
    its connection goes back to the pool."""
    from eventsourcing.persistence import IntegrityError
    from psycopg import _pipeline

    from infrastructure.bootstrap import bootstrap
    from infrastructure.store import pg_batch

    with bootstrap(settings_for("postgres")) as services:
        app = services.store
        users = as_users(app)
        case_id = users.open_credit(**credit_facts(request_id="open")).case.id
        syncs: list[int] = []
        sync = pg_batch.StatementBatch.sync

        def counting(self: pg_batch.StatementBatch) -> None:
            syncs.append(1)
            sync(self)

        def psycopg_pipeline(self: object) -> None:
            raise AssertionError("the write went through psycopg's pipeline")

        monkeypatch.setattr(pg_batch.StatementBatch, "sync", counting)
        monkeypatch.setattr(_pipeline.BasePipeline, "_enqueue_sync", psycopg_pipeline)
        users.submit(case_id, **action_args("submit", at(61), request_id="submit"))
        assert len(syncs) == 2
        syncs.clear()
        users.follow_up(case_id, **action_args("follow_up", at(70), request_id="follow"))
        assert len(syncs) == 2

        # a save that lost its race: the same version again
        stale = app.repository.get(case_id, version=2)
        stale.add_note(**action_args("add_note", at(71), request_id="stale"))
        with pytest.raises(IntegrityError):
            app.save(stale)
        with caplog.at_level("WARNING", logger="psycopg.pool"):
            # every pooled connection is idle again, and the next command is written
            users.add_note(case_id, **action_args("add_note", at(72), request_id="note"))
        assert "rolling back" not in caplog.text
        assert app.repository.get(case_id).version == 4
