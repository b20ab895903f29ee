"""Sealing a log written before personal data was encrypted: a one-time migration.

Reclaim reads both forms (an event without ``_personal`` is read as it is stored), so an
older log keeps working the moment it is upgraded, and every new event is sealed. What
an upcaster cannot do is make the old events erasable: a person's notes stored in clear
stay readable whatever key is destroyed. So ``reclaim seal-log`` rewrites them once:

1. each stored event with personal fields in clear is encoded again, sealed under its
   case owner's data key (the owner is read from the case's opening, which comes first);
2. each evidence file stored under its SHA-256 alone is stored again sealed under the
   key of every owner whose case names it, and the unsealed copy removed;
3. snapshots are dropped (they are taken again) and every projection is rebuilt from the
   sealed log: the audit chain is linked again over the new stored bytes, its head
   signed again.

Step 3 is why it is a migration run with the servers stopped, not an upcaster: the chain
commits to the stored bytes, and they change. Run it once, after the upgrade; running it
again finds nothing to do. Until it has run, an erasure of someone with unsealed events
is refused (``Unsealed``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from domain.cases import ERASED, PERSONAL_FIELDS
from infrastructure.projections.projector import Projector
from infrastructure.store.application import ReclaimApplication

BATCH = 1000


class Unsealed(Exception):
    """The log still holds someone's personal data in clear: run ``reclaim seal-log``."""


@dataclass(frozen=True)
class Sealed:
    events: int
    files: int
    rebuilt: bool


def needs_sealing(stored: StoredEvent) -> bool:
    """Whether an event keeps personal fields in clear (written before sealing)."""
    names = PERSONAL_FIELDS.get(stored.topic.rpartition(".")[2], ())
    if not names:
        return False
    state = json.loads(bytes(stored.state))
    if "_personal" in state:
        return False
    return any(state.get(n) not in (None, ERASED) for n in names)


def _rows(
    store: ReclaimApplication, where: str = "", params: list[Any] | None = None
) -> Iterator[dict[str, Any]]:
    table = store.recorder.events_table_name  # type: ignore[attr-defined]
    position = "notification_id" if store.database.is_postgres else "rowid"
    last = 0
    while True:
        rows = store.database.fetchall(
            f"SELECT {position} AS id, originator_id, originator_version, topic, state "
            f"FROM {table} WHERE {position} > %s {where} ORDER BY {position} LIMIT {BATCH}",
            [last, *(params or [])],
        )
        if not rows:
            return
        yield from rows
        last = int(rows[-1]["id"])


def _stored(row: dict[str, Any]) -> StoredEvent:
    return StoredEvent(
        originator_id=UUID(str(row["originator_id"])),
        originator_version=int(row["originator_version"]),
        topic=row["topic"],
        state=bytes(row["state"]),
    )


def unsealed_cases(store: ReclaimApplication, case_ids: list[UUID]) -> list[UUID]:
    """Which of these cases have events with personal fields in clear."""
    if not case_ids:
        return []
    keys: list[Any] = case_ids if store.database.is_postgres else [c.hex for c in case_ids]
    marks = ", ".join(["%s"] * len(keys))
    found: dict[UUID, None] = {}
    for row in _rows(store, f"AND originator_id IN ({marks})", keys):
        stored = _stored(row)
        if needs_sealing(stored):
            found[stored.originator_id] = None  # type: ignore[index]
    return list(found)


def seal_log(store: ReclaimApplication, progress: Callable[[int], None] | None = None) -> Sealed:
    """Seal every event and file written in clear, then rebuild the projections."""
    if store.mapper.keys is None:
        raise Unsealed("personal data encryption is turned off (RECLAIM_PERSONAL_DATA_ENCRYPTION)")
    table = store.recorder.events_table_name  # type: ignore[attr-defined]
    position = "notification_id" if store.database.is_postgres else "rowid"
    owners: dict[UUID, tuple[str, str]] = {}
    files: dict[str, set[tuple[str, str]]] = {}
    events = 0
    for row in _rows(store):
        stored = _stored(row)
        event = store.mapper.to_domain_event(stored)
        case_id = stored.originator_id
        if type(event).__name__ == "Opened":
            owners[case_id] = (event.workspace, event.owner)  # type: ignore[index]
        subject = owners.get(case_id)  # type: ignore[call-overload]
        if subject is None:
            continue
        if type(event).__name__ == "EvidenceAttached":
            files.setdefault(event.sha256, set()).add(subject)
        if needs_sealing(stored):
            sealed = store.mapper.to_stored_event(event, subject)
            store.database.execute(
                f"UPDATE {table} SET state = %s WHERE {position} = %s",
                (sealed.state, row["id"]),
            )
            events += 1
            if progress is not None:
                progress(1)
    moved = _seal_files(store, files)
    rebuilt = False
    if events or moved:
        if store.snapshots is not None:
            snapshots = store.snapshots.recorder.events_table_name  # type: ignore[attr-defined]
            store.database.execute(f"DELETE FROM {snapshots}")
        Projector(store).rebuild(timeout=60.0)
        rebuilt = True
    return Sealed(events, moved, rebuilt)


def _seal_files(store: ReclaimApplication, files: dict[str, set[tuple[str, str]]]) -> int:
    moved = 0
    for sha256, subjects in files.items():
        plain = store.blobs.find(sha256)
        if plain is None or plain.key is not None or "/" in plain.name:
            continue
        for workspace, owner in sorted(subjects):
            key = store.data_keys.for_subject(workspace, owner)
            if key.erased:
                continue
            store.blobs.for_key(key).store(sha256, plain.iter_bytes(), check=True)
        with store.database.transaction() as cursor:
            cursor.execute("DELETE FROM reclaim_blob_chunks WHERE sha256 = %s", (sha256,))
            cursor.execute("DELETE FROM reclaim_blobs WHERE sha256 = %s", (sha256,))
        moved += 1
    return moved
