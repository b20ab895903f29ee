"""Running the projections: catch up, follow the log, rebuild, wait for a position.

One ``Projector`` per process drives the four projections:

- ``catch_up()`` processes everything recorded so far, in batches (one transaction
  per projection per batch), and returns;
- ``start()`` / ``stop()`` run a background thread that keeps them following the
  log: on PostgreSQL with the library's projection runner (its subscription
  listens for the store's notifications; one event per transaction), on SQLite,
  where the library has no subscriptions, by polling the notification log in
  batches (woken at once by ``wait_for``);
- ``wait_for(position, timeout)`` blocks until every projection holds that position
  (read your writes), whichever process runs them;
- ``rebuild()`` empties the tables and tracking and processes the log again.

Only one runner per projection: each run takes a lock per projection (see
``locks.py``). A started projector that cannot get them waits in standby and
takes over when the holder stops or dies; ``catch_up`` and ``rebuild`` give up
with ``ProjectorBusy`` after their timeout.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import JSONTranscoder
from eventsourcing.projection import BaseProjectionRunner

from infrastructure.database import Database
from infrastructure.projections.audit import AuditLog, signing_key
from infrastructure.projections.base import Context, ReclaimProjection, make_view
from infrastructure.projections.cases import CaseList, Reports
from infrastructure.projections.events import Recorded
from infrastructure.projections.locks import ProjectorBusy, acquire, locks_for
from infrastructure.projections.timeline import Timeline
from infrastructure.topics import register_legacy_topics

if TYPE_CHECKING:
    from infrastructure.application import ReclaimApplication

log = logging.getLogger("reclaim.projections")

PROJECTION_CLASSES: tuple[type[ReclaimProjection], ...] = (CaseList, Timeline, AuditLog, Reports)
NAMES: tuple[str, ...] = tuple(c.name for c in PROJECTION_CLASSES)
BATCH_SIZE = 1000
#: how often a running projector makes sure it still holds its locks
LOCK_CHECK_SECONDS = 5.0

Progress = Callable[[int], None]


def context_for(app: ReclaimApplication) -> Context:
    recorder = app.recorder

    def load_stored(originator_id: Any, version: int) -> Any:
        return recorder.select_events(originator_id, gt=version - 1, lte=version)[0]

    return Context(app.name, signing_key(app.settings), load_stored, app.settings.deadline_policy())


def build(
    datastore: Any, dialect: str, context: Context, names: Sequence[str] = NAMES
) -> dict[str, ReclaimProjection]:
    """The projections, each with a view on the given datastore."""
    classes = {c.name: c for c in PROJECTION_CLASSES}
    return {n: classes[n](make_view(datastore, dialect, n), context) for n in names}


def create_tables(app: ReclaimApplication) -> None:
    for projection in build(
        app.database.datastore, app.database.dialect, context_for(app)
    ).values():
        projection.create_tables()


def feed(
    app: Any,
    projections: Sequence[ReclaimProjection],
    *,
    stops: dict[str, int] | None = None,
    batch_size: int = BATCH_SIZE,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> int:
    """Give each projection the events after its position (up to its stop), in batches.

    Reads the log once for all of them; returns how many events were read.
    """
    positions = {p.name: p.position() for p in projections}
    limits = {p.name: (stops or {}).get(p.name) for p in projections}
    behind = [n for n, at in positions.items() if _before(at, limits[n])]
    if not behind:
        return 0
    start = min(positions[n] for n in behind)
    ends = [limits[n] for n in behind]
    stop = None if None in ends else max(e for e in ends if e is not None)
    total = 0
    while not should_stop():
        notifications = app.recorder.select_notifications(
            start=start, limit=batch_size, stop=stop, inclusive_of_start=False
        )
        if not notifications:
            break
        batch = [_decode(app, n) for n in notifications]
        for projection in projections:
            after, limit = positions[projection.name], limits[projection.name]
            part = [
                r for r in batch if r.position > after and (limit is None or r.position <= limit)
            ]
            if part:
                _process(projection, part)
                positions[projection.name] = part[-1].position
        start = notifications[-1].id
        total += len(notifications)
        if progress is not None:
            progress(len(notifications))
    return total


def _before(position: int, limit: int | None) -> bool:
    return limit is None or position < limit


class ReplayFailed(Exception):
    """The log holds an event a projection cannot take (a log changed behind its back)."""

    def __init__(self, name: str, first: int, last: int, error: Exception) -> None:
        where = f"position {first}" if first == last else f"positions {first}-{last}"
        super().__init__(f"{name} cannot replay {where}: {error}")
        self.name = name
        self.position = first


def _decode(app: Any, notification: Any) -> Recorded:
    try:
        return Recorded(notification.id, app.mapper.to_domain_event(notification), notification)
    except Exception as error:
        raise ReplayFailed("the log", notification.id, notification.id, error) from error


def _process(projection: ReclaimProjection, batch: list[Recorded]) -> None:
    try:
        projection.process(batch)
    except Exception as error:
        raise ReplayFailed(projection.name, batch[0].position, batch[-1].position, error) from error


class LogReader(Application[UUID]):
    """Reclaim's log as the library's projection runner reads it: Reclaim's name and
    transcodings, without Reclaim's own tables."""

    name = "Reclaim"

    def __init__(self, env: Any = None) -> None:
        register_legacy_topics()
        super().__init__(env)

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        from infrastructure.application import DateAsISO

        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())


class Projector:
    def __init__(
        self,
        app: ReclaimApplication,
        *,
        names: Sequence[str] = NAMES,
        batch_size: int = BATCH_SIZE,
        poll_interval: float = 0.05,
    ) -> None:
        self.app = app
        self.names = tuple(names)
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.context = context_for(app)
        self.projections = build(app.database.datastore, app.database.dialect, self.context, names)
        for projection in self.projections.values():
            projection.on_commit = self._committed
        self.locks = locks_for(app.settings, self.names)
        self.database: Database = app.database
        self._changed = threading.Condition()
        #: while this process runs the projections: where each stands, kept as they commit,
        #: so that waiting for a position costs no query (the benchmarks found those queries
        #: were most of a command's time under load)
        self._held: dict[str, int] = {}
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        #: holds the locks and runs the projections (else in standby, or not started)
        self.active = False
        #: why the projections last failed, until they next get through the log: /readyz
        #: reports it, and nobody waits for projections that are failing
        self.failure: str | None = None

    # --- one-off runs -----------------------------------------------------------------
    def catch_up(self, *, timeout: float = 10.0, progress: Progress | None = None) -> int:
        """Process every event recorded so far; returns how many were read.

        While this projector runs in the background, waits for it instead."""
        if self.active:
            target = self.app.recorder.max_notification_id()
            if not self.wait_for(target, timeout):
                raise TimeoutError(f"projections did not reach position {target} in {timeout}s")
            return 0
        with self._locked(timeout):
            return self._feed(progress, background=False)

    def rebuild(self, *, timeout: float = 10.0, progress: Progress | None = None) -> int:
        """Empty every projection (rows and tracking) and process the log from the start."""
        with self._locked(timeout):
            for projection in self.projections.values():
                projection.clear()
            return self._feed(progress, background=False)

    @contextmanager
    def _locked(self, timeout: float | None) -> Iterator[None]:
        if self.active or not acquire(self.locks, timeout):
            raise ProjectorBusy("another projector is running these projections")
        try:
            yield
        finally:
            self.locks.release()

    def _feed(self, progress: Progress | None = None, *, background: bool = True) -> int:
        return feed(
            self.app,
            list(self.projections.values()),
            batch_size=self.batch_size,
            progress=progress,
            should_stop=self._stopping.is_set if background else lambda: False,
        )

    # --- in the background ---------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="reclaim-projector", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    close = stop

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                if not acquire(self.locks, timeout=1.0):
                    continue  # standby: another runner holds the projections
            except Exception:  # noqa: BLE001 - the store is down: keep trying, never die
                log.warning("cannot reach the store for the projection locks; trying again")
                self._stopping.wait(1.0)
                continue
            try:
                start = self.positions()
            except Exception:  # noqa: BLE001 - as above: the store is down, try again
                self.locks.release()
                self._stopping.wait(1.0)
                continue
            with self._changed:
                self._held = start
            self.active = True
            try:
                self._feed()
                self.failure = None
                self._follow()
            except Exception as error:
                self.failure = f"{type(error).__name__}: {error}"[:1000]
                self.active = False  # while it waits to start again, nobody waits for it
                log.exception("projections failed; starting again in a second")
                self._stopping.wait(1.0)
            finally:
                self.active = False
                self.locks.release()

    def _follow(self) -> None:
        if self.database.is_postgres:
            self._follow_with_runners()
        else:
            self._follow_by_polling()

    def _follow_by_polling(self) -> None:
        while not self._stopping.is_set():
            self._wake.clear()
            read = self._feed()
            self.failure = None
            if read == 0:
                self._wake.wait(self.poll_interval)

    def _follow_with_runners(self) -> None:
        """The library's runner per projection, on its subscription to the log."""
        env = {
            **self.app.settings.eventsourcing_env(),
            "CREATE_TABLE": "n",
            "IS_SNAPSHOTTING_ENABLED": "n",
            "POSTGRES_POOL_SIZE": "2",
            "POSTGRES_MAX_OVERFLOW": "2",
        }
        with ExitStack() as stack:
            runners = [
                stack.enter_context(
                    BaseProjectionRunner(
                        projection=projection,
                        application_class=LogReader,
                        tracking_recorder=projection.view,
                        topics=(),
                        env=env,
                    )
                )
                for projection in self.projections.values()
            ]
            checked = time.monotonic()
            while not self._stopping.wait(0.2):
                for runner in runners:
                    if runner.is_interrupted.is_set():
                        runner.run_forever(0)  # raises the runner's error, if any
                        raise RuntimeError("a projection runner stopped")
                if time.monotonic() - checked > LOCK_CHECK_SECONDS:
                    self.locks.check()  # a lost lock session: stop, and take them again
                    checked = time.monotonic()

    def _committed(self, name: str, position: int) -> None:
        with self._changed:
            self._held[name] = max(self._held.get(name, 0), position)
            self._changed.notify_all()

    def _where(self) -> dict[str, int]:
        """Positions from memory while this process runs the projections, else the table."""
        if self.active:
            with self._changed:
                if len(self._held) == len(self.names):
                    return dict(self._held)
        return self.positions()

    # --- where they are ------------------------------------------------------------------
    def positions(self) -> dict[str, int]:
        """Each projection's position in the log (0 before its first event)."""
        app_name = self.context.app_name
        keys = {p.view.tracking_key(app_name): name for name, p in self.projections.items()}
        table = next(iter(self.projections.values())).view.tracking_table
        marks = ", ".join(["%s"] * len(keys))
        rows = self.database.fetchall(
            f"SELECT application_name, notification_id FROM {table} "
            f"WHERE application_name IN ({marks})",
            list(keys),
        )
        found = {keys[r["application_name"]]: r["notification_id"] for r in rows}
        return {name: found.get(name) or 0 for name in self.names}

    def lag(self) -> dict[str, int]:
        """How many positions each projection is behind the end of the log."""
        last = self.app.recorder.max_notification_id() or 0
        return {name: max(last - at, 0) for name, at in self.positions().items()}

    def wait_for(self, position: int | None, timeout: float = 5.0) -> bool:
        """Block until every projection holds ``position``; False if ``timeout`` runs out."""
        if position is None:
            return True
        deadline = time.monotonic() + timeout
        self._wake.set()
        delay = 0.005
        while min(self._where().values()) < position:
            remaining = deadline - time.monotonic()
            # failing and waiting to start again: nobody waits for projections that are
            # stuck (a command answers, /readyz says why); once they run again, wait
            if remaining <= 0 or (self.failure is not None and not self.active):
                return False
            with self._changed:
                self._changed.wait(min(delay, remaining))
            delay = min(delay * 2, 0.1)
        return True


def count_events(app: Any) -> int:
    row = app.database.fetchone(f"SELECT COUNT(*) AS n FROM {app.recorder.events_table_name}")
    return int(row["n"]) if row else 0


def follow_until(projector: Projector, stop: threading.Event, every: float = 10.0) -> None:
    """Run the projector in the background until ``stop`` is set, logging progress."""
    projector.start()
    log.info("projecting %s; stop with SIGTERM or SIGINT", ", ".join(projector.names))
    last, since = min(projector.positions().values()), time.monotonic()
    while not stop.wait(every):
        at, now = min(projector.positions().values()), time.monotonic()
        lag = max(projector.lag().values())
        state = "running" if projector.active else "waiting for another projector to stop"
        rate = (at - last) / (now - since)
        log.info("at position %d, %d behind, %.0f events/s (%s)", at, lag, rate, state)
        last, since = at, now
    log.info("stopping")
    projector.stop()
