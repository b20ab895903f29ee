"""The API's command writer (``infrastructure/store/writer.py``) on each store: commands
awaited from an event loop run on its one thread (or on the loop's own thread, its waits
for PostgreSQL made on the loop), their saves batched; other threads' saves are handed
to it and go into the same batches."""

from __future__ import annotations

import asyncio
import functools
import threading
from typing import Any

import pytest

from domain.errors import DomainError
from infrastructure.store.application import VersionMismatch
from infrastructure.store.writer import CommandWriter
from tests.integration.test_write_stress import _events_by_request
from tests.support.commands import as_users
from tests.support.factories import action_args, at, credit_facts

CASES = 30
COMMANDS = 900
THREADS = 4
PER_THREAD = 50


def _cases(app: Any, count: int) -> list[Any]:
    ids = []
    for n in range(count):
        case_id = as_users(app).open_credit(**credit_facts(request_id=f"open-{n}")).case.id
        as_users(app).submit(case_id, **action_args("submit", at(61), request_id=f"submit-{n}"))
        ids.append(case_id)
    return ids


def _command(app: Any, case_id: Any, request_id: str, n: int) -> Any:
    action = "follow_up" if n % 3 == 0 else "add_note"
    args = action_args(action, at(70), request_id=request_id)
    if action == "add_note":
        args["text"] = f"note {request_id}"
    if n % 5 == 4:  # refused when another command saved since this read
        args["expected_version"] = app.get_case(case_id).version
    return getattr(as_users(app), action)(case_id, **args)


def _writer(app: Any, **kwargs: Any) -> CommandWriter:
    return CommandWriter(app.committer, **kwargs)


def test_commands_on_the_writer_and_threads_beside_it_are_each_recorded_once(app) -> None:
    case_ids = _cases(app, CASES)
    batches_before = app.committer.batches
    acknowledged: dict[str, tuple[Any, int]] = {}
    failed: dict[str, BaseException] = {}
    lock = threading.Lock()

    def record(request_id: str, run: Any) -> None:
        try:
            done = run()
        except BaseException as exc:  # noqa: BLE001 - checked below
            with lock:
                failed[request_id] = exc
        else:
            with lock:
                acknowledged[request_id] = (done.case.id, done.case.version)

    def thread(t: int) -> None:  # beside the writer: its saves are handed over
        for n in range(PER_THREAD):
            request_id, case_id = f"t{t}-{n}", case_ids[(t * 7 + n) % CASES]
            record(request_id, functools.partial(_command, app, case_id, request_id, n))

    async def on_the_writer() -> None:
        writer = _writer(app, max_batch=app.settings.group_commit_max)

        async def one(n: int) -> None:
            request_id, case_id = f"w-{n}", case_ids[(n * 13) % CASES]
            try:
                done = await writer.run(lambda: _command(app, case_id, request_id, n), key=case_id)
            except BaseException as exc:  # noqa: BLE001 - checked below
                failed[request_id] = exc
            else:
                acknowledged[request_id] = (done.case.id, done.case.version)

        try:
            for t in threads:
                t.start()
            await asyncio.gather(*(one(n) for n in range(COMMANDS)))
            for t in threads:  # (their saves are written on the loop: it must go on)
                await asyncio.to_thread(t.join, 120)
        finally:
            await writer.aclose()

    threads = [threading.Thread(target=thread, args=(t,)) for t in range(THREADS)]
    asyncio.run(on_the_writer())
    assert not any(t.is_alive() for t in threads)

    sent = COMMANDS + THREADS * PER_THREAD
    assert len(acknowledged) + len(failed) == sent
    unexpected = {k: repr(v) for k, v in failed.items() if not isinstance(v, VersionMismatch)}
    assert not unexpected, list(unexpected.items())[:5]
    by_request = _events_by_request(app, case_ids)
    for request_id, (case_id, version) in acknowledged.items():
        assert by_request.get(request_id) == [(case_id, version)], request_id
    for request_id in failed:
        assert request_id not in by_request, f"failed {request_id} was recorded"
    # the writer batched: far fewer transactions than commands
    assert app.committer.batches - batches_before < sent / 3

    # once the writer has stopped, a thread saves on its own again
    after = as_users(app).add_note(case_ids[0], **action_args("add_note", request_id="after"))
    assert app.get_case(case_ids[0]).version == after.case.version


def test_a_command_on_the_writer_gets_its_own_result_or_error(app) -> None:
    (case_id,) = _cases(app, 1)
    writer = CommandWriter(app.committer)
    users = as_users(app)

    def two_saves() -> int:  # one command may save more than once
        users.add_note(case_id, **action_args("add_note", request_id="one", text="one"))
        done = users.add_note(case_id, **action_args("add_note", request_id="two", text="two"))
        return int(done.case.version)

    def refused() -> Any:  # a case already submitted cannot be submitted again
        return users.submit(case_id, **action_args("submit", at(62), request_id="again"))

    async def main() -> tuple[int, BaseException | None]:
        version = await writer.run(two_saves, key=case_id)
        try:
            await writer.run(refused, key=case_id)
        except DomainError as exc:
            return version, exc
        return version, None

    try:
        version, error = asyncio.run(main())
    finally:
        writer.close()
    assert version == 4  # opened, submitted, two notes
    assert isinstance(error, DomainError)
    assert [e.request_id for e in app.events.get(case_id)][-2:] == ["one", "two"]
    with pytest.raises(RuntimeError, match="stopped"):
        asyncio.run(writer.run(lambda: None))


def test_a_command_whose_caller_has_gone_before_it_started_is_not_run(app) -> None:
    """A request cancelled while its command waits for the writer: the command is never
    run (nothing was acknowledged), and the writer goes on with the next."""
    (case_id,) = _cases(app, 1)
    writer = CommandWriter(app.committer)
    users = as_users(app)
    busy, release = threading.Event(), threading.Event()
    ran: list[str] = []

    def hold() -> None:
        busy.set()
        release.wait(10)

    def note(name: str) -> Any:
        ran.append(name)
        return users.add_note(case_id, **action_args("add_note", request_id=name, text=name))

    async def main() -> Any:
        first = asyncio.ensure_future(writer.run(hold))
        while not busy.is_set():
            await asyncio.sleep(0.01)
        gone = asyncio.ensure_future(writer.run(lambda: note("gone"), key=case_id))
        await asyncio.sleep(0.05)
        gone.cancel()
        await asyncio.sleep(0.05)  # the cancel reaches the writer's queue
        release.set()
        await first
        return await writer.run(lambda: note("kept"), key=case_id)

    try:
        done = asyncio.run(main())
    finally:
        writer.close()
    assert ran == ["kept"]
    assert [e.request_id for e in app.events.get(case_id)][-1] == "kept"
    assert done.case.version == 3


def test_a_round_that_fails_fails_its_commands_and_the_writer_goes_on(app, monkeypatch) -> None:
    (case_id,) = _cases(app, 1)
    writer = CommandWriter(app.committer)
    users = as_users(app)
    broken = [True]
    batch = writer._batch

    def failing_once(*args: Any) -> Any:
        if broken.pop() if broken else False:
            raise RuntimeError("a bug in the writer")
        return batch(*args)

    monkeypatch.setattr(writer, "_batch", failing_once)

    def note(name: str) -> Any:
        return users.add_note(case_id, **action_args("add_note", request_id=name, text=name))

    async def main() -> tuple[BaseException | None, Any]:
        try:
            await writer.run(lambda: note("lost"), key=case_id)
        except RuntimeError as exc:
            error: BaseException | None = exc
        else:
            error = None
        return error, await writer.run(lambda: note("after"), key=case_id)

    try:
        error, done = asyncio.run(main())
    finally:
        writer.close()
    assert isinstance(error, RuntimeError)
    requests = [e.request_id for e in app.events.get(case_id)]
    assert "lost" not in requests
    assert requests[-1] == "after"
    assert done.case.version == 3


def test_a_threads_save_is_not_starved_by_a_stream_of_commands_on_its_case(
    app, monkeypatch
) -> None:
    """Work beside the writer (e-mail intake, the case book) hands its saves to the
    writer while the writer's own commands keep changing the same case. The thread's save
    goes into a batch before theirs, and once it has lost a race its case waits for its
    retry: each of its commands gets through in a few tries, not ``CONFLICT_RETRIES``. A
    save the writer knows to be stale (its case changed by a batch since it was loaded)
    fails unwritten, so no batch is lost to it."""
    (case_id,) = _cases(app, 1)
    users = as_users(app)
    conflicts: list[str] = []  # a retry after a conflict forgets the cached case first
    forget = app.forget

    def counting(cid: Any) -> None:
        if threading.current_thread().name == "handing":
            conflicts.append(cid)
        forget(cid)

    monkeypatch.setattr(app, "forget", counting)
    written_conflicts: list[BaseException] = []  # conflicts the store itself raised
    save = app.committer._save

    def saving(batch: Any) -> None:
        try:
            save(batch)
        except BaseException as exc:
            written_conflicts.append(exc)
            raise

    monkeypatch.setattr(app.committer, "_save", saving)
    done, failed = [], []
    stop = threading.Event()

    def note(name: str) -> Any:
        return users.add_note(case_id, **action_args("add_note", request_id=name, text=name))

    def thread() -> None:
        try:
            for n in range(12):
                try:
                    done.append(note(f"t-{n}"))
                except BaseException as exc:  # noqa: BLE001 - checked below
                    failed.append(exc)
        finally:
            stop.set()

    async def stream() -> int:
        count = 0
        writer = _writer(app)

        async def one(c: int) -> None:
            nonlocal count
            while not stop.is_set():
                # (a command of the writer's that ran out of retries would raise here)
                await writer.run(functools.partial(note, f"w{c}-{count}"), key=case_id)
                count += 1

        handing = threading.Thread(target=thread, name="handing")
        try:
            handing.start()
            await asyncio.gather(*(one(c) for c in range(6)))
            await asyncio.to_thread(handing.join, 60)
        finally:
            await writer.aclose()
        return count

    streamed = asyncio.run(stream())
    assert not failed, [repr(e) for e in failed[:3]]
    assert len(done) == 12
    assert streamed >= 6  # the writer's commands went on all the while
    assert len(conflicts) <= 2 * 12, f"{len(conflicts)} conflicts for 12 commands"
    # every save that lost was known to be stale and failed unwritten: no batch failed on
    # a conflict (one that did would be written again save by save)
    assert not written_conflicts, [repr(e) for e in written_conflicts[:3]]
    requests = [e.request_id for e in app.events.get(case_id)]
    assert [r for r in requests if r.startswith("t-")] == [f"t-{n}" for n in range(12)]


def test_the_writer_waits_for_postgresql_without_holding_up_the_loop(
    settings_for,
) -> None:
    """While the writer's command waits for the server (a slow query), and while it waits
    for a connection (every pooled one taken by another thread), the loop goes on running
    other coroutines; the command then completes."""
    from infrastructure.bootstrap import bootstrap

    with bootstrap(settings_for("postgres")) as services:
        app = services.store
        (case_id,) = _cases(app, 1)
        pool = app.recorder.datastore.pool
        users = as_users(app)
        taken, release = threading.Event(), threading.Event()

        def hold_every_connection() -> None:
            held = [pool.getconn() for _ in range(pool.max_size)]
            taken.set()
            release.wait(10)
            for conn in held:
                pool.putconn(conn)

        def slow_note(name: str) -> Any:
            app.database.fetchall("SELECT pg_sleep(0.3)")
            return users.add_note(case_id, **action_args("add_note", request_id=name, text=name))

        async def ticking_while(awaitable: Any) -> tuple[Any, int]:
            ticks = 0
            task = asyncio.ensure_future(awaitable)
            while not task.done():
                ticks += 1
                await asyncio.sleep(0.01)
            return await task, ticks

        async def main() -> list[tuple[Any, int]]:
            writer = _writer(app)
            try:
                slow = await ticking_while(writer.run(lambda: slow_note("slow"), key=case_id))
                holder = threading.Thread(target=hold_every_connection)
                holder.start()
                await asyncio.to_thread(taken.wait, 10)
                asyncio.get_running_loop().call_later(0.3, release.set)
                starved = await ticking_while(
                    writer.run(lambda: slow_note("no connection"), key=case_id)
                )
                await asyncio.to_thread(holder.join, 10)
                return [slow, starved]
            finally:
                await writer.aclose()

        (slow, slow_ticks), (starved, starved_ticks) = asyncio.run(main())
        # a loop held up for the 0.3 s would have ticked once or twice
        assert slow_ticks >= 10, slow_ticks
        assert starved_ticks >= 20, starved_ticks  # the 0.3 s without, then the query
        assert (slow.case.version, starved.case.version) == (3, 4)
        assert [e.request_id for e in app.events.get(case_id)][-2:] == ["slow", "no connection"]
