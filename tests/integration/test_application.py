"""The application on a real store (SQLite file and PostgreSQL server): the seed flows,
concurrent saves, point-in-time reads, snapshots."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from eventsourcing.persistence import IntegrityError

from domain.errors import MissingForSubmit
from infrastructure.store.application import ReclaimApplication, VersionMismatch
from tests.support.commands import as_users
from tests.support.factories import ACTOR, action_args, at, credit_facts, dispute_facts

WHO = dict(ACTOR)


def test_temu_expired_store_credit_is_reinstated(app: ReclaimApplication) -> None:
    """The TEMU seed: an expired store credit, pursued all the way to an agency, reinstated."""
    case = as_users(app).open_credit(**credit_facts(platform="temu", problem="expired")).case
    cid = case.id
    as_users(app).submit(
        cid,
        channel="support_ticket",
        reference="T-1001",
        message="My 25 USD store credit expired without notice",
        occurred_at=at(61),
        **WHO,
    )
    as_users(app).follow_up(
        cid, channel="live_chat", message="No answer yet", occurred_at=at(64), **WHO
    )
    as_users(app).follow_up(
        cid, channel="email", message="Second reminder", occurred_at=at(67), **WHO
    )
    as_users(app).deny(cid, reason="Credits expire after 60 days", occurred_at=at(68), **WHO)
    as_users(app).appeal(
        cid, grounds="The expiry date was never shown in the wallet", occurred_at=at(69), **WHO
    )
    as_users(app).escalate(
        cid,
        level="supervisor",
        contact="TEMU support supervisor",
        message="Please review the appeal",
        occurred_at=at(72),
        **WHO,
    )
    as_users(app).escalate(
        cid,
        level="consumer_agency",
        contact="state attorney general",
        message="Complaint filed",
        occurred_at=at(80),
        **WHO,
    )
    result = as_users(app).resolve(
        cid,
        outcome="granted",
        recovered_amount="25.00",
        recovered_form="credit_reinstated",
        note="Reinstated for 90 days",
        occurred_at=at(85),
        **WHO,
    )

    case = app.get_case(cid)
    assert result.case.version == case.version == 9
    assert case.state == "resolved"
    assert case.follow_ups == 2
    assert case.escalations == ["supervisor", "consumer_agency"]
    assert case.outcome == "granted"
    assert case.amount_recovered == Decimal("25.00")
    assert case.recovered_form == "credit_reinstated"
    assert case.allowed_actions == ["attach_evidence", "add_note"]
    names = [type(e).__name__ for e in app.case_events(cid)]
    assert names == [
        "Opened",
        "Submitted",
        "FollowedUp",
        "FollowedUp",
        "Denied",
        "Appealed",
        "Escalated",
        "Escalated",
        "Resolved",
    ]
    for stored in app.case_events(cid):
        assert stored.actor == "user-1"
        assert stored.request_id == "req-1"


def test_tiktok_promotion_refunded_in_part(app: ReclaimApplication) -> None:
    """The TikTok seed: a promotion charged but not delivered, partly refunded on appeal."""
    case = (
        as_users(app)
        .open_dispute(**dispute_facts(platform="tiktok", reason="non_performance"))
        .case
    )
    cid = case.id
    with pytest.raises(MissingForSubmit) as refused:
        as_users(app).submit(cid, **action_args("submit", at(4)))
    assert refused.value.missing == ["evidence"]
    assert app.get_case(cid).version == 1

    as_users(app).attach_evidence(cid, **action_args("attach_evidence"))
    as_users(app).submit(
        cid,
        channel="ads_manager",
        reference="TT-55",
        message="Promotion charged, zero impressions",
        occurred_at=at(5),
        **WHO,
    )
    as_users(app).record_response(
        cid, message="Please send the campaign report", occurred_at=at(7), **WHO
    )
    as_users(app).deny(cid, reason="Delivery within policy", occurred_at=at(9), **WHO)
    as_users(app).appeal(cid, grounds="Report shows no delivery", occurred_at=at(10), **WHO)
    as_users(app).resolve(
        cid,
        outcome="partial",
        recovered_amount="60.00",
        recovered_form="refund",
        occurred_at=at(14),
        **WHO,
    )

    case = app.get_case(cid)
    assert case.state == "resolved"
    assert case.outcome == "partial"
    assert case.amount_recovered == Decimal("60.00")
    assert case.amount_claimed == Decimal("120.00")
    assert case.responses == 1
    assert [type(e).__name__ for e in app.case_events(cid)] == [
        "Opened",
        "EvidenceAttached",
        "Submitted",
        "ResponseReceived",
        "Denied",
        "Appealed",
        "Resolved",
    ]


def test_two_concurrent_saves_one_wins(app: ReclaimApplication) -> None:
    cid = as_users(app).open_credit(**credit_facts()).case.id
    first = app.get_case(cid)
    second = app.get_case(cid)
    first.submit(**action_args("submit", at(61)))
    second.add_note(**action_args("add_note"))
    app.save(first)
    with pytest.raises(IntegrityError):
        app.save(second)
    events = list(app.case_events(cid))
    assert [e.originator_version for e in events] == [1, 2]
    assert type(events[-1]).__name__ == "Submitted"


def test_concurrent_commands_are_neither_lost_nor_doubled(app: ReclaimApplication) -> None:
    cid = as_users(app).open_credit(**credit_facts()).case.id
    errors: list[BaseException] = []

    def note(n: int) -> None:
        try:
            as_users(app).add_note(cid, text=f"note {n}", **WHO)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=note, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    case = app.get_case(cid)
    texts = [e.text for e in app.case_events(cid) if type(e).__name__ == "NoteAdded"]
    assert sorted(texts) == sorted(f"note {n}" for n in range(8))
    assert case.version == 9


def test_expected_version_mismatch(app: ReclaimApplication) -> None:
    cid = as_users(app).open_credit(**credit_facts()).case.id
    as_users(app).add_note(cid, text="one", expected_version=1, **WHO)
    with pytest.raises(VersionMismatch):
        as_users(app).add_note(cid, text="two", expected_version=1, **WHO)
    assert app.get_case(cid).version == 2


def test_point_in_time_reads_by_version_and_time(app: ReclaimApplication) -> None:
    cid = as_users(app).open_credit(**credit_facts()).case.id
    as_users(app).submit(cid, **action_args("submit", at(61)))
    between = datetime.now(UTC)
    as_users(app).follow_up(cid, **action_args("follow_up", at(62)))
    as_users(app).deny(cid, **action_args("deny", at(63)))

    assert app.get_case(cid).state == "denied"
    assert app.get_case(cid, version=1).state == "opened"
    assert app.get_case(cid, version=2).state == "submitted"
    assert app.get_case(cid, version=3).state == "followed_up"
    as_of = app.get_case(cid, as_of=between)
    assert as_of.state == "submitted" and as_of.version == 2
    with pytest.raises(Exception, match="not found"):
        app.get_case(cid, as_of=between - timedelta(days=1))


def test_snapshots_every_n_events(settings_for, store: str) -> None:
    app = ReclaimApplication(settings_for(store, snapshot_interval=3))
    try:
        cid = as_users(app).open_credit(**credit_facts()).case.id
        for n in range(7):
            as_users(app).add_note(cid, text=f"n{n}", **WHO)
        snapshots = list(app.snapshots.get(cid)) if app.snapshots else []
        assert [s.originator_version for s in snapshots] == [3, 6]
        case = app.get_case(cid)
        assert case.version == 8 and case.notes_count == 7
        assert app.get_case(cid, version=2).version == 2
        # a save that passes a multiple of the interval (two events, versions 9 and 10) is
        # snapshotted as it was saved; the snapshots hold the case as its events make it
        case = app.case_for_command(cid)
        for n in (7, 8):
            case.add_note(text=f"n{n}", actor=WHO["actor"], request_id=WHO["request_id"])
        app.save_case(case)
        snapshots = list(app.snapshots.get(cid)) if app.snapshots else []
        assert [s.originator_version for s in snapshots] == [3, 6, 10]
        for snapshot in snapshots:
            from_events = None
            for event in app.case_events(cid):
                if event.originator_version <= snapshot.originator_version:
                    from_events = event.mutate(from_events)
            assert from_events is not None
            assert snapshot.mutate(None).__dict__ == from_events.__dict__
    finally:
        app.close()


def test_data_survives_a_restart(settings) -> None:
    app = ReclaimApplication(settings)
    cid = as_users(app).open_credit(**credit_facts()).case.id
    as_users(app).submit(cid, **action_args("submit", at(61)))
    app.close()
    again = ReclaimApplication(settings)
    try:
        assert again.get_case(cid).state == "submitted"
    finally:
        again.close()


def test_group_commit_batches_concurrent_commands(app: ReclaimApplication) -> None:
    """On the store's writer, concurrent threads' saves share transactions."""
    from infrastructure.store.writer import CommandWriter

    ids = [as_users(app).open_credit(**credit_facts()).case.id for _ in range(16)]
    assert app.committer is not None
    before = (app.committer.batches, app.committer.commands)

    def work(cid) -> None:
        for n in range(15):
            as_users(app).add_note(cid, text=f"n{n}", **WHO)

    writer = CommandWriter(app.committer)
    try:
        threads = [threading.Thread(target=work, args=(cid,)) for cid in ids]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        writer.close()
    batches = app.committer.batches - before[0]
    commands = app.committer.commands - before[1]
    assert commands == 16 * 15
    assert batches < commands  # some commands shared a transaction
    for cid in ids:
        assert app.get_case(cid).version == 16


def test_group_commit_answers_each_command_of_a_failed_batch_alone(app) -> None:
    from infrastructure.store.group_commit import GroupCommitter, _Pending

    first = as_users(app).open_credit(**credit_facts()).case.id
    second = as_users(app).open_credit(**credit_facts()).case.id
    fresh = app.get_case(first)
    stale = app.get_case(second)
    as_users(app).add_note(second, text="someone else got there first", **WHO)
    fresh.add_note(text="mine", **WHO)
    stale.add_note(text="lost the race", **WHO)
    committer = GroupCommitter(app._save_batch)
    ok, conflicted = _Pending(fresh, {}), _Pending(stale, {})
    committer.write([ok, conflicted])
    assert ok.error is None and ok.position is not None
    assert isinstance(conflicted.error, IntegrityError)
    assert app.get_case(first).version == 2
    assert app.get_case(second).version == 2


def test_a_stale_cached_case_is_retried_not_lost(settings) -> None:
    """Two processes' worth of applications on one store: each one's cache goes stale."""
    one = ReclaimApplication(settings)
    two = ReclaimApplication(settings)
    try:
        cid = as_users(one).open_credit(**credit_facts()).case.id
        as_users(one).add_note(cid, text="warm the cache", **WHO)
        as_users(two).add_note(cid, text="from the other process", **WHO)
        as_users(one).add_note(cid, text="on a stale copy", **WHO)  # conflicts, evicts, retries
        assert one.get_case(cid).version == two.get_case(cid).version == 4
    finally:
        one.close()
        two.close()


def test_snapshots_and_the_cache_can_be_turned_off(settings_for, store: str) -> None:
    app = ReclaimApplication(settings_for(store, snapshot_interval=0, aggregate_cache_size=0))
    try:
        cid = as_users(app).open_credit(**credit_facts()).case.id
        for n in range(5):
            as_users(app).add_note(cid, text=f"n{n}", **WHO)
        assert app.snapshots is None and app.repository.cache is None
        assert app.get_case(cid).version == 6
    finally:
        app.close()


def test_workers_start_with_table_creation_off_after_an_init_step(settings) -> None:
    ReclaimApplication(settings).close()  # the init step
    worker = ReclaimApplication(settings.model_copy(update={"create_tables": False}))
    try:
        assert worker.env.get("CREATE_TABLE") == "n"
        cid = as_users(worker).open_credit(**credit_facts()).case.id
        assert worker.get_case(cid).version == 1
    finally:
        worker.close()
