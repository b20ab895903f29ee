"""The one wiring point: settings -> store (the application, with its projections) ->
the service layer. The server's lifespan, the ``reclaim`` command line, the
benchmarks and the tests all start Reclaim through ``bootstrap``."""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType

from infrastructure.service import erasure
from infrastructure.service.commands import CaseCommands
from infrastructure.settings import Settings, get_settings
from infrastructure.store.application import ReclaimApplication
from infrastructure.store.blobs import Moved


@dataclass(frozen=True)
class Services:
    """Everything one process of Reclaim runs on."""

    settings: Settings
    #: the event store and what is saved beside the events (keys, projections, blobs ...)
    store: ReclaimApplication
    #: every command, with its access checks and unit of work
    commands: CaseCommands
    #: the evidence files of an older Reclaim moved from this node's disk into the store
    #: at start (``BlobStore.move_files_in``)
    moved_files: Moved = Moved(0, ())

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Services:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def bootstrap(settings: Settings | None = None) -> Services:
    """Open the store named by ``settings`` (the environment's when left out), move any
    evidence files an older Reclaim left in the data directory into it, and carry out
    again any erasure of the ledger that the store does not hold."""
    settings = settings or get_settings()
    store = ReclaimApplication(settings)
    try:
        moved = store.blobs.move_files_in(settings.evidence_dir)
        erasure.reapply(store)  # (a restore from before an erasure must not undo it)
    except BaseException:
        store.close()
        raise
    return Services(settings=settings, store=store, commands=CaseCommands(store), moved_files=moved)
