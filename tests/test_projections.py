"""Projections on both stores: live equals rebuilt, exactly once, one runner at a time."""

from __future__ import annotations

import time

import pytest

from bench.history import generate
from infrastructure.projections import Projector, ProjectorBusy
from infrastructure.projections.verify import verify
from tests.factories import NOW, action_args, at, credit_facts
from tests.projection_support import dump


def _caught_up(app, projector: Projector) -> None:
    assert projector.wait_for(app.recorder.max_notification_id(), timeout=60), projector.failure


def test_live_projections_equal_a_rebuild_row_for_row(app) -> None:
    projector = Projector(app)
    projector.start()
    try:
        for seed in range(1, 6):  # recorded in many small transactions while it follows
            generate(app, cases_=120, seed=seed, chunk=3)
        _caught_up(app, projector)
    finally:
        projector.stop()
    live = dump(app)
    assert len(live["reclaim_timeline"]) > 2500
    assert len(live["reclaim_timeline"]) == app.recorder.max_notification_id()

    assert Projector(app).rebuild() == len(live["reclaim_audit_log"])
    assert dump(app) == live
    assert verify(app).ok


def test_catch_up_processes_each_event_once_and_resumes_where_it_stopped(app) -> None:
    generate(app, cases_=40, seed=7)
    first = app.recorder.max_notification_id()
    projector = Projector(app, batch_size=7)
    assert projector.catch_up() == first
    assert projector.catch_up() == 0
    assert set(projector.positions().values()) == {first}

    generate(app, cases_=10, seed=8)
    last = app.recorder.max_notification_id()
    assert projector.catch_up() == last - first
    assert projector.lag() == dict.fromkeys(projector.names, 0)
    before = dump(app)
    projector.rebuild()
    assert dump(app) == before


def test_a_projection_refuses_an_event_it_already_holds(app) -> None:
    generate(app, cases_=3, seed=9)
    projector = Projector(app)
    projector.catch_up()
    before = dump(app)
    timeline = projector.projections["timeline"]
    notifications = app.recorder.select_notifications(start=1, limit=1)
    from infrastructure.projections.events import Recorded

    again = [Recorded(n.id, app.mapper.to_domain_event(n), n) for n in notifications]
    with pytest.raises(Exception, match="tracking"):
        timeline.process(again)
    assert dump(app) == before


def test_wait_for_reads_your_writes_from_the_background_thread(app) -> None:
    projector = Projector(app)
    projector.start()
    try:
        case = app.open_credit(**credit_facts(), now=NOW).case
        app.submit(case.id, **action_args("submit", at(61)))
        for step in range(5):
            result = app.follow_up(case.id, **action_args("follow_up", at(62 + step)))
            assert result.position is not None
            assert projector.wait_for(result.position, timeout=10)
            row = app.database.fetchone(
                "SELECT version, follow_ups FROM reclaim_case_list WHERE case_id = %s",
                (str(case.id),),
            )
            assert row == {"version": step + 3, "follow_ups": step + 1}
        assert projector.wait_for(None, timeout=0)
        assert not projector.wait_for(result.position + 1, timeout=0.2)
    finally:
        projector.stop()


def test_a_second_runner_waits_or_refuses_and_never_doubles_an_event(app) -> None:
    generate(app, cases_=20, seed=10)
    first, second = Projector(app), Projector(app)
    first.start()
    try:
        _caught_up(app, first)
        assert first.active
        with pytest.raises(ProjectorBusy):
            second.catch_up(timeout=0.3)
        with pytest.raises(ProjectorBusy):
            second.rebuild(timeout=0.3)
        second.start()  # stands by
        generate(app, cases_=10, seed=11)
        _caught_up(app, first)
        time.sleep(0.3)
        assert first.active and not second.active
        assert second.wait_for(app.recorder.max_notification_id(), timeout=5)
    finally:
        first.stop()
    try:
        generate(app, cases_=10, seed=12)
        _caught_up(app, second)  # the standby took over
        assert second.active
    finally:
        second.stop()
    assert verify(app).ok


def test_a_projector_whose_lock_session_dies_stops_and_takes_the_locks_again(
    settings_for, monkeypatch
) -> None:
    from infrastructure.application import ReclaimApplication
    from infrastructure.projections import projector as projector_module

    monkeypatch.setattr(projector_module, "LOCK_CHECK_SECONDS", 0.2)
    app = ReclaimApplication(settings_for("postgres"))
    projector = Projector(app)
    projector.start()
    try:
        deadline = time.monotonic() + 10
        while not projector.active and time.monotonic() < deadline:
            time.sleep(0.05)
        session = projector.locks._conn.info.backend_pid  # type: ignore[attr-defined]
        app.database.execute("SELECT pg_terminate_backend(%s)", (session,))
        while time.monotonic() < deadline + 20:
            conn = projector.locks._conn  # type: ignore[attr-defined]
            # a broken connection reports backend pid 0: wait for a new session that works
            if projector.active and conn is not None and conn.info.backend_pid not in (0, session):
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the projector did not take its locks again")
        generate(app, cases_=5, seed=13)
        _caught_up(app, projector)
        assert verify(app).ok
    finally:
        projector.stop()
        app.close()
