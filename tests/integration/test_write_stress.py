"""The write path under concurrency: 16 threads of commands through ``ReclaimApplication``
on each store, with and without idempotency records. The group committer on its own (no
I/O): tests/unit/test_group_commit.py."""

from __future__ import annotations

import threading
import time
from typing import Any

from eventsourcing.persistence import IntegrityError, OperationalError

from infrastructure.service.commands import AlreadyAnswered
from tests.support.commands import as_users

THREADS = 16


CASES = 50
#: commands per thread; 16 x 200 = 3,200 commands on 50 cases
PER_THREAD = 200
#: no command may take longer than this, measured per call (a correctness bound: a
#: command waits for the batches ahead of it and its own, never for a whole burst)
MAX_WAIT_SECONDS = 10.0
SCOPE = "ws-1/user-1"


def _idempotent(app: Any, key: str, checks: dict[str, int] | None = None) -> dict[str, Any]:
    """What the API passes the service for a request with an Idempotency-Key
    (api/http/commands.py): the key, and the answer kept with the events. ``checks`` counts
    how often the service looks the key up (before a save, and after a conflict)."""
    from infrastructure.service.commands import Idempotency, Reply

    if checks is not None:
        _count_lookups(app, checks)

    def answer(case: Any) -> Reply:
        return Reply(200, f'{{"id":"{case.id}","version":{case.version}}}', {})

    return {"idempotency": Idempotency(key, "hash"), "answer": answer}


def _count_lookups(app: Any, checks: dict[str, int]) -> None:
    """Count each key's lookups in the real store (once per application)."""
    store = app.idempotency
    if getattr(store, "counted", None) is checks:
        return
    find = type(store).find

    def counting(scope: str, key: str) -> Any:
        checks[key] = checks.get(key, 0) + 1
        return find(store, scope, key)

    store.find = counting
    store.counted = checks


def _events_by_request(app: Any, case_ids: list[Any]) -> dict[str, list[tuple[Any, int]]]:
    """request_id -> [(case, version)] for every event in the log, and each case's
    versions checked to run 1..N with no gap."""
    by_request: dict[str, list[tuple[Any, int]]] = {}
    for case_id in case_ids:
        versions = []
        for event in app.events.get(case_id):
            versions.append(event.originator_version)
            by_request.setdefault(event.request_id, []).append((case_id, event.originator_version))
        assert versions == list(range(1, len(versions) + 1)), f"gap in {case_id}: {versions}"
    # and the notification log holds each event once, in one order
    seen: set[tuple[Any, int]] = set()
    start = None
    while True:
        page = app.recorder.select_notifications(start=start, limit=1000)
        for n in page:
            key = (n.originator_id, n.originator_version)
            assert key not in seen, f"{key} is in the log twice"
            seen.add(key)
        if len(page) < 1000:
            break
        start = page[-1].id + 1
    assert len(seen) == sum(len(v) for v in by_request.values())
    return by_request


def _stress(app: Any, *, with_keys: bool) -> None:
    from infrastructure.store.application import VersionMismatch
    from tests.support.factories import action_args, at, credit_facts

    case_ids = []
    for n in range(CASES):
        case_id = as_users(app).open_credit(**credit_facts(request_id=f"open-{n}")).case.id
        as_users(app).submit(case_id, **action_args("submit", at(61), request_id=f"submit-{n}"))
        case_ids.append(case_id)
    acknowledged: dict[str, tuple[Any, int]] = {}
    failed: dict[str, BaseException] = {}
    waits: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(THREADS)

    def work(thread: int) -> None:
        start.wait()
        for n in range(PER_THREAD):
            request_id = f"t{thread}-{n}"
            case_id = case_ids[(thread * 7 + n * 13) % CASES]
            action = "follow_up" if n % 3 == 0 else "add_note"
            args = action_args(action, at(70), request_id=request_id)
            if action == "add_note":
                args["text"] = f"note {request_id}"
            extra = _idempotent(app, request_id) if with_keys else {}
            if n % 5 == 4:
                # an If-Match on the version just read: refused when another thread saved
                # in between (before the save, or at it as a conflict), and never recorded
                extra["expected_version"] = app.get_case(case_id).version
            began = time.monotonic()
            try:
                result = getattr(as_users(app), action)(case_id, **extra, **args)
            except BaseException as exc:  # noqa: BLE001 - counted and checked below
                with lock:
                    failed[request_id] = exc
            else:
                with lock:
                    acknowledged[request_id] = (case_id, result.case.version)
            finally:
                with lock:
                    waits.append(time.monotonic() - began)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]
    began = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    took = time.monotonic() - began
    assert not any(t.is_alive() for t in threads)

    by_request = _events_by_request(app, case_ids)
    # every command succeeded but those whose If-Match was overtaken: conflicts between
    # threads on one case are retried
    unexpected = {k: repr(v) for k, v in failed.items() if not isinstance(v, VersionMismatch)}
    assert not unexpected, list(unexpected.items())[:5]
    assert all(k.endswith(("4", "9")) for k in failed)  # n % 5 == 4
    assert len(acknowledged) + len(failed) == THREADS * PER_THREAD
    for request_id, (case_id, version) in acknowledged.items():
        # in the log exactly once, on its case, at the version it answered with
        assert by_request.get(request_id) == [(case_id, version)], request_id
    for request_id in failed:
        assert request_id not in by_request, f"failed {request_id} was recorded"
    recorded = {r for r in by_request if r.startswith("t")}
    assert recorded == set(acknowledged)
    if with_keys:
        for request_id in acknowledged:
            assert app.idempotency.find(SCOPE, request_id) is not None
    slowest = max(waits)
    assert slowest < MAX_WAIT_SECONDS, f"a command waited {slowest:.1f} s"
    print(
        f"\n{app.settings.uses_postgres and 'postgres' or 'sqlite'} keys={with_keys}: "
        f"{len(waits)} commands in {took:.1f} s, {len(failed)} If-Match refused, "
        f"slowest {slowest:.3f} s, "
        f"batches {app.committer.batches if app.committer else '-'}"
    )


def test_16_threads_of_commands_are_each_recorded_once(app) -> None:
    _stress(app, with_keys=False)


def test_16_threads_of_commands_with_idempotency_keys_are_each_recorded_once(app) -> None:
    _stress(app, with_keys=True)


def _race(app: Any, targets: list[Any], key: str, checks: dict[str, int]) -> list[Any]:
    """Each target case gets an add_note with ``key``, all sent at once: each one's result
    or error."""
    from tests.support.factories import action_args

    outcomes: list[Any] = [None] * len(targets)
    start = threading.Barrier(len(targets))

    def race(i: int, case_id: Any) -> None:
        start.wait()
        try:
            args = action_args("add_note", request_id=key, text=f"{key} from {i}")
            outcomes[i] = as_users(app).add_note(case_id, **_idempotent(app, key, checks), **args)
        except BaseException as exc:  # noqa: BLE001 - checked by the caller
            outcomes[i] = exc

    threads = [threading.Thread(target=race, args=(i, c)) for i, c in enumerate(targets)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return outcomes


def test_two_racing_commands_with_one_idempotency_key_record_once(app) -> None:
    """Two requests with the same Idempotency-Key sent at once, on one case (a version
    conflict and a duplicate key in one transaction) or on two (only the duplicate key):
    exactly one records; the other is answered with the first one's record, or fails with
    the IntegrityError the API turns into that answer. Never an OperationalError (on
    PostgreSQL a conflict saved with idempotency records once surfaced as "pipeline
    aborted": a 503 for both, and the store breaker shut for everyone)."""
    from tests.support.factories import credit_facts

    cases = [
        as_users(app).open_credit(**credit_facts(request_id=f"open-{n}")).case.id for n in range(2)
    ]
    rounds = 30
    outcomes_seen: set[str] = set()
    checks: dict[str, int] = {}
    for n in range(rounds):
        key = f"race-{n}"
        outcomes = _race(app, [cases[0], cases[0]] if n % 2 == 0 else cases, key, checks)
        won = [o for o in outcomes if not isinstance(o, BaseException)]
        lost = [o for o in outcomes if isinstance(o, BaseException)]
        assert len(won) == 1, outcomes
        assert isinstance(lost[0], AlreadyAnswered | IntegrityError), repr(lost[0])
        assert not isinstance(lost[0], OperationalError)
        outcomes_seen.add(type(lost[0]).__name__)
        if isinstance(lost[0], AlreadyAnswered):
            first = won[0].case
            assert lost[0].record.body == f'{{"id":"{first.id}","version":{first.version}}}'
    by_request = _events_by_request(app, cases)
    for n in range(rounds):
        assert len(by_request[f"race-{n}"]) == 1, f"race-{n} recorded {by_request[f'race-{n}']}"
    # the race really ran to the save: a key is looked up only when a command fails, so
    # in every round the loser learnt of the winner from its own failed save, and the
    # winner never looked
    raced = sum(1 for n in range(rounds) if checks.get(f"race-{n}") == 1)
    assert raced == rounds, checks
    print(f"\n{raced} of {rounds} rounds raced to the save; the losers: {sorted(outcomes_seen)}")
