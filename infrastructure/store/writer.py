"""The store's command writer: the writer process's commands, saved in batches.

It runs on a thread of its own (the event loop hands it commands and never waits on
the store). Each round it runs every queued command in a greenlet of its own up to its
save, at most one per case (``GroupCommitter.save`` switches back here); then it writes
all of those saves in one transaction (``GroupCommitter.write``) and resumes each
command with its result. Nothing is answered before its batch is committed. A command
that lost a race retries as it would anywhere (``CaseCommands.change``).

Other threads' saves (e-mail intake, the case book) are handed over
(``GroupCommitter.hand_off``) and go into the same batches, before the writer's own
save of the same case; a case whose handed save lost a race is kept for its retry
(``RESERVED_SECONDS``), so a stream of API commands cannot starve it. A save of a
version this writer has already written fails at once, unwritten, as the conflict it
would be, rather than fail the whole batch. The followers' saves arrive as commands
(``node.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from infrastructure.store.group_commit import (
    Gathered,
    GroupCommitter,
    _Pending,
    fail_if_stale,
    is_conflict,
)

T = TypeVar("T")

log = logging.getLogger("reclaim.writer")

#: how long a case whose handed-over save lost a race is kept for that save's retry: no
#: command of the writer's starts on it meanwhile (the retry reloads the case and hands
#: its save over again within milliseconds; this bounds the wait if it never comes)
RESERVED_SECONDS = 0.25
#: how many cases' last written versions the writer remembers (``_lose_stale``)
REMEMBERED_CASES = 4096


@dataclass
class _Job:
    run: Callable[[], Any]
    key: Hashable | None
    #: the caller's loop, its thread and the future it awaits
    loop: asyncio.AbstractEventLoop
    thread: int
    future: asyncio.Future[Any]
    started: bool = False

    def settle(self, value: Any = None, error: BaseException | None = None) -> None:
        """The command's outcome to its caller, from whichever thread."""

        def settle() -> None:
            if self.future.done():  # its caller has gone
                return
            if error is not None:
                self.future.set_exception(error)
            else:
                self.future.set_result(value)

        if threading.get_ident() == self.thread:
            settle()
        else:
            self.loop.call_soon_threadsafe(settle)


class _Task(Gathered):
    """A command running on the writer: switches back to the writer at its save."""

    def __init__(self, job: _Job) -> None:
        super().__init__(self._main)
        self.job = job

    def _main(self) -> None:
        try:
            value = self.job.run()
        except BaseException as exc:  # noqa: BLE001 - handed to the command's caller
            self.job.settle(error=exc)
        else:
            self.job.settle(value)


class CommandWriter:
    def __init__(
        self,
        committer: GroupCommitter | None,
        *,
        max_batch: int = 100,
    ) -> None:
        self.committer = committer
        self.max_batch = max_batch
        self._queue: deque[_Job] = deque()
        #: saves handed over by other threads of this process (e-mail, the case
        #: book): written in the writer's batches, so one process writes one batch at a time
        self._handed: deque[_Pending] = deque()
        #: cases kept for a handed save's retry (see RESERVED_SECONDS), with their deadline
        self._reserved: dict[Hashable, float] = {}
        #: the version each case was last written at by this writer, the latest last
        self._written: OrderedDict[Any, int] = OrderedDict()
        self._ready = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._serve, name="reclaim-writer", daemon=True)
        self._thread.start()
        if committer is not None:
            committer.hand_off = self._hand_off

    async def run(self, command: Callable[[], T], *, key: Hashable | None = None) -> T:
        """Run ``command`` on the writer and wait for its result (its exception raised
        here); ``key``: the case it changes, if known."""
        loop = asyncio.get_running_loop()
        job = _Job(command, key, loop, threading.get_ident(), loop.create_future())
        with self._ready:
            if self._stopping:
                raise RuntimeError("the writer has stopped")
            self._queue.append(job)
            self._ready.notify()
        return await job.future  # type: ignore[no-any-return]

    def _hand_off(self, pending: _Pending) -> bool:
        """Take another thread's save into a batch (False once stopping)."""
        with self._ready:
            if self._stopping:
                return False
            self._reserved.pop(pending.case.id, None)  # its retry has come
            self._handed.append(pending)
            self._ready.notify()
        return True

    def close(self) -> None:
        """Stop once every queued command and handed save is written."""
        if self.committer is not None:
            self.committer.hand_off = None
        with self._ready:
            self._stopping = True
            self._ready.notify()
        self._thread.join()

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)

    # --- the writer's round --------------------------------------------------------------
    def _serve(self) -> None:
        saving: list[_Task] = []  # commands waiting for their save
        while True:
            taken = self._take(saving)
            if taken is None:
                return
            jobs, handed = taken
            try:
                saving = self._round(jobs, handed, saving)
            except BaseException as exc:  # noqa: BLE001 - a bug here must not stop the writer
                log.exception("the command writer failed a round")
                saving = self._fail(jobs, saving, handed, exc)

    def _round(self, jobs: list[_Job], handed: list[_Pending], saving: list[_Task]) -> list[_Task]:
        """Start the round's commands, write one batch of saves, resume their commands;
        the commands still waiting for a save."""
        self._start(jobs, saving)
        lost = self._lose_stale([*handed, *(t.saving for t in saving if t.saving is not None)])
        batch, left = self._batch(saving, [item for item in handed if not item.finished])
        if self.committer is not None and batch:
            self.committer.write(batch)  # its commands are resumed once it is committed
            self._remember(batch)
        written = {id(item) for item in batch}
        waiting = [t.saving for t in saving if id(t.saving) not in written]
        lost += self._lose_stale([*left, *waiting])
        # a thread's save that lost its case (to a batch's save, or to another process)
        # gets its retry in before the writer starts another command on that case
        from_threads = {id(item) for item in handed}
        reserve = [
            item.case.id
            for item in [*batch, *lost]
            if id(item) in from_threads and item.error is not None and is_conflict(item.error)
        ]
        left = [item for item in left if not item.finished]
        if left or reserve:
            with self._ready:
                self._handed.extendleft(reversed(left))  # the next round's
                deadline = time.monotonic() + RESERVED_SECONDS
                self._reserved.update(dict.fromkeys(reserve, deadline))
        ended = {id(item) for item in [*batch, *lost]}
        resumed = [t for t in saving if id(t.saving) in ended]
        saving = [t for t in saving if id(t.saving) not in ended]
        for task in resumed:
            task.switch()  # its save is written (or lost): the command goes on with the result
            if not task.dead:
                saving.append(task)  # it saves again (a retry after a conflict)
        return saving

    def _remember(self, batch: list[_Pending]) -> None:
        """The versions the batch wrote, for ``_lose_stale``."""
        for item in batch:
            if item.finished and item.error is None:
                self._written[item.case.id] = item.case.version
                self._written.move_to_end(item.case.id)
        while len(self._written) > REMEMBERED_CASES:
            self._written.popitem(last=False)

    def _lose_stale(self, saves: Iterable[_Pending | None]) -> list[_Pending]:
        """The saves, not yet written, of a version this writer has already written (a
        command that loaded its case before the batch that changed it): each would only
        conflict, and a conflict fails its whole batch, to be written again without it.
        So each fails here, unwritten, as a conflict; its command retries on the new
        version."""
        lost = []
        for item in saves:
            if item is None or item.finished or not item.case.pending_events:
                continue
            if fail_if_stale(item, self._written.get(item.case.id, 0), "another command"):
                item.finished = True
                item.done.set()
                lost.append(item)
        return lost

    @staticmethod
    def _start(jobs: list[_Job], saving: list[_Task]) -> None:
        """Run each command up to its save (or to its end)."""
        for job in jobs:
            # a command whose caller has gone (its request cancelled) before it started
            # is not run at all: nothing was acknowledged
            if job.future.cancelled():
                continue
            job.started = True
            task = _Task(job)
            task.switch()  # it runs up to its save, or to its end
            if not task.dead:
                saving.append(task)

    def _fail(
        self, jobs: list[_Job], saving: list[_Task], handed: list[_Pending], error: BaseException
    ) -> list[_Task]:
        """After a failed round: every command not started and every save not written
        gets the error (its caller answers 503), and the writer goes on."""
        for job in jobs:
            if job.started or job.future.done():
                continue  # (a running one's command hands it its own outcome)
            job.settle(error=error)
        with self._ready:
            handed = handed + list(self._handed)
            self._handed.clear()
        for item in handed:
            if not item.finished:
                item.error, item.finished = error, True
                item.done.set()
        for task in saving:
            if task.saving is not None and not task.saving.finished:
                task.saving.error, task.saving.finished = error, True
            with contextlib.suppress(BaseException):
                task.switch()
        return [t for t in saving if not t.dead]

    def _batch(
        self, saving: list[_Task], handed: list[_Pending]
    ) -> tuple[list[_Pending], list[_Pending]]:
        """This round's saves, at most ``max_batch`` and one per case; and the handed
        saves left for the next round. The saves handed over by other threads go first:
        the writer's command on the same case is then the one that retries, at once and
        on the writer, where a thread's save that kept losing to a stream of commands on
        its case would run out of retries."""
        batch: list[_Pending] = []
        cases: set[Any] = set()
        left: list[_Pending] = []
        waiting = [t.saving for t in saving if t.saving is not None and not t.saving.finished]
        for item in handed + waiting:
            if len(batch) >= self.max_batch or item.case.id in cases:
                left.append(item)
            else:
                cases.add(item.case.id)
                batch.append(item)
        from_threads = {id(item) for item in handed}
        return batch, [item for item in left if id(item) in from_threads]

    def _take(self, saving: list[_Task]) -> tuple[list[_Job], list[_Pending]] | None:
        """The next round's commands (at most one per case, none for a case whose command
        is still saving or that is kept for a thread's retry) and the saves handed over.
        None: stopped, and nothing is left."""
        with self._ready:
            while True:
                handed = list(self._handed)
                self._handed.clear()
                jobs = self._taken(saving, len(handed))
                if jobs or handed or saving:
                    return jobs, handed
                if self._stopping and not self._queue:
                    return None
                # nothing to do, or only commands on kept cases: until one is let go
                deadlines = self._reserved.values()
                self._ready.wait(max(min(deadlines) - time.monotonic(), 0) if deadlines else None)

    def _taken(self, saving: list[_Task], handed: int) -> list[_Job]:
        """Take from the queue (its lock held) the commands that may start: at most one
        per case, none for a case whose command is still saving or that is kept for a
        thread's retry; and no more than the next batch has room for beside ``handed``
        saves and the saves of ``saving``."""
        now = time.monotonic()
        for case in [case for case, deadline in self._reserved.items() if deadline <= now]:
            del self._reserved[case]
        busy = {t.job.key for t in saving if t.job.key is not None}
        busy.update(self._reserved)
        room = max(self.max_batch - len(saving) - handed, 0)
        taken: list[_Job] = []
        kept: deque[_Job] = deque()
        for job in self._queue:
            if len(taken) >= room or (job.key is not None and job.key in busy):
                kept.append(job)
                continue
            if job.key is not None:
                busy.add(job.key)
            taken.append(job)
        self._queue = kept
        return taken
