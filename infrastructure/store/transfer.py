"""Moving a whole log: export as JSON lines, import into an empty store.

One line per event, in log order::

    {"position": 17, "originator_id": "<uuid>", "originator_version": 3,
     "topic": "domain.cases:Case.Submitted", "state": "<the stored JSON, as text>"}

After the events come the rows that belong to the users rather than to a
projection, one per line, so that moving a store moves its users::

    {"table": "reclaim_api_keys", "row": {"key_id": "…", "key_hash": "<sha-256>", …}}

API keys and calendar tokens travel as their hashes and revocation times (a key is
never in the file, and a revoked one stays revoked); workspace templates travel as
their text. Idempotency records stay behind: a retry of a request sent to the old
store is a new request to the new one. A file from before records were carried
(events only) imports as it did.

Last come the evidence files, which are kept in the store too, one line per stored
chunk (at most 1 MiB, base64), a file's chunks together and in order::

    {"blob": "<sha-256>", "seq": 0, "data": "<base64>"}

Import reads the file twice: first to check every line (well-formed, positions
rising, every event decodable, every row of a carried table, every file's chunks
hashing to its name), then to insert the events in order, a batch per transaction,
each file in a transaction of its own (a chunk at a time: a file is never in memory
whole) and the rows in one transaction, so a bad file leaves the target untouched.
Positions in the target are its own; the audit chain does not include them, so it
verifies there too.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from domain.cases import SHA256_HEX
from infrastructure.projections.verify import iter_events
from infrastructure.store.application import ReclaimApplication
from infrastructure.store.blobs import CHUNK_BYTES, SEAL_BYTES, SEALED_NAME

BATCH = 1000
_FIELDS = {"position", "originator_id", "originator_version", "topic", "state"}
_RECORD_FIELDS = {"table", "row"}
_BLOB_FIELDS = {"blob", "seq", "data"}

#: the tables carried with the log (not projections: they cannot be rebuilt from events),
#: each with its columns in the order they are written
CARRIED: dict[str, tuple[str, ...]] = {
    "reclaim_api_keys": (
        "key_id",
        "key_hash",
        "user_id",
        "workspace",
        "role",
        "kind",
        "created_at",
        "revoked_at",
    ),
    # a workspace's own draft templates (infrastructure/drafts/overrides.py)
    "reclaim_draft_templates": ("workspace", "name", "source", "updated_by", "updated_at"),
    # each person's data key, wrapped by the master key (store/personal.py): the target
    # must be given the same master key; an erased person's row carries no key at all
    "reclaim_data_keys": (
        "key_id",
        "workspace",
        "user_id",
        "wrapped",
        "master_id",
        "created_at",
        "erased_at",
        "erased_by",
    ),
}


@dataclass(frozen=True)
class Imported:
    events: int
    rows: dict[str, int]
    #: evidence files stored (not counting any the target had already)
    files: int = 0


class TransferError(Exception):
    """A file that cannot be imported, or a store that must not be imported into."""


def export_log(
    store: ReclaimApplication, out: TextIO, progress: Callable[[int], None] | None = None
) -> int:
    count = 0
    for n in iter_events(store):
        line = {
            "position": n.id,
            "originator_id": str(n.originator_id),
            "originator_version": n.originator_version,
            "topic": n.topic,
            "state": bytes(n.state).decode("utf-8"),
        }
        out.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
        count += 1
        if progress is not None:
            progress(1)
    for table, columns in CARRIED.items():
        listed = ", ".join(columns)
        rows = store.database.fetchall(f"SELECT {listed} FROM {table} ORDER BY {listed}")
        for row in rows:
            record = {"table": table, "row": {c: _text(row[c]) for c in columns}}
            out.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")
    for blob in store.blobs.stored():
        for seq, chunk in enumerate(blob.iter_bytes()):
            data = base64.b64encode(chunk).decode("ascii")
            out.write(json.dumps({"blob": blob.sha256, "seq": seq, "data": data}) + "\n")
    return count


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


Record = tuple[str, tuple[str | None, ...]]


@dataclass(frozen=True)
class Chunk:
    """A piece of an evidence file: its SHA-256, its place, its bytes."""

    sha256: str
    seq: int
    data: bytes


def read_file(path: Path) -> Iterator[StoredEvent | Record | Chunk]:
    """The events of an export file, then its carried rows and files, checked line by
    line (a file's chunks must come together and in order: ``check_file`` hashes them)."""
    last = 0
    rows_began = False
    previous: Chunk | None = None
    try:
        with path.open(encoding="utf-8") as file:
            for number, line in enumerate(file, start=1):
                if not line.strip():
                    continue
                data = _json(line, number)
                if set(data) == _BLOB_FIELDS:
                    rows_began = True
                    previous = _chunk(data, number, previous)
                    yield previous
                    continue
                if set(data) == _RECORD_FIELDS:
                    rows_began = True
                    yield _record(data, number)
                    continue
                if rows_began:
                    raise TransferError(f"line {number}: an event after the carried rows")
                event, last = _parse(data, number, last)
                yield event
    except (OSError, UnicodeDecodeError) as error:
        raise TransferError(f"cannot read {path}: {error}") from None


def read_events(path: Path) -> Iterator[StoredEvent]:
    """The events of an export file, checked line by line."""
    for item in read_file(path):
        if isinstance(item, StoredEvent):
            yield item


def _json(line: str, number: int) -> dict[str, Any]:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as error:
        raise TransferError(f"line {number}: not JSON ({error.msg})") from None
    if not isinstance(data, dict) or set(data) not in (_FIELDS, _RECORD_FIELDS, _BLOB_FIELDS):
        raise TransferError(
            f"line {number}: expected the fields {', '.join(sorted(_FIELDS))} "
            f"(an event), {', '.join(sorted(_RECORD_FIELDS))} (a carried row) "
            f"or {', '.join(sorted(_BLOB_FIELDS))} (a piece of an evidence file)"
        )
    return data


def _chunk(data: dict[str, Any], number: int, previous: Chunk | None) -> Chunk:
    sha256, seq = data["blob"], data["seq"]
    sealed = isinstance(sha256, str) and bool(SEALED_NAME.fullmatch(sha256))
    if not isinstance(sha256, str) or not (sealed or SHA256_HEX.fullmatch(sha256)):
        raise TransferError(
            f"line {number}: blob must be a SHA-256 in lower-case hex, after its key id "
            "when it is sealed"
        )
    after = previous.seq + 1 if previous is not None and previous.sha256 == sha256 else 0
    if seq != after or isinstance(seq, bool):
        raise TransferError(f"line {number}: piece {seq!r} of {sha256} where {after} comes next")
    try:
        content = base64.b64decode(data["data"], validate=True)
    except (TypeError, ValueError, binascii.Error):
        raise TransferError(f"line {number}: data must be base64") from None
    most = CHUNK_BYTES + (SEAL_BYTES if sealed else 0)
    if len(content) > most or (sealed and len(content) < SEAL_BYTES):
        raise TransferError(f"line {number}: a piece of a file holds at most {most} bytes")
    return Chunk(sha256, seq, content)


def _record(data: dict[str, Any], number: int) -> Record:
    table, row = data["table"], data["row"]
    columns = CARRIED.get(table) if isinstance(table, str) else None
    if columns is None:
        raise TransferError(f"line {number}: {table!r} is not a table that is carried")
    if not isinstance(row, dict) or set(row) != set(columns):
        raise TransferError(f"line {number}: a {table} row has the columns {', '.join(columns)}")
    if not all(v is None or isinstance(v, str) for v in row.values()):
        raise TransferError(f"line {number}: the values of a {table} row are text or null")
    return table, tuple(row[c] for c in columns)


def _parse(data: dict[str, Any], number: int, last: int) -> tuple[StoredEvent, int]:
    position, version = data["position"], data["originator_version"]
    if not isinstance(position, int) or position <= last:
        raise TransferError(f"line {number}: position must be a whole number above {last}")
    if not isinstance(version, int) or version < 1:
        raise TransferError(f"line {number}: originator_version must be a whole number from 1")
    if not isinstance(data["topic"], str) or not isinstance(data["state"], str):
        raise TransferError(f"line {number}: topic and state must be text")
    try:
        originator_id = UUID(str(data["originator_id"]))
    except ValueError:
        raise TransferError(f"line {number}: originator_id is not a UUID") from None
    event = StoredEvent(originator_id, version, data["topic"], data["state"].encode("utf-8"))
    return event, position


def check_file(store: ReclaimApplication, path: Path) -> int:
    """How many events the file holds, once every one has been checked and decoded (and
    every evidence file hashed)."""
    _check_files(path)
    versions: dict[UUID, int] = {}
    count = 0
    for count, event in enumerate(read_events(path), start=1):  # noqa: B007
        expected = versions.get(event.originator_id, 0) + 1  # type: ignore[arg-type]
        if event.originator_version != expected:
            raise TransferError(
                f"event {count}: case {event.originator_id} version "
                f"{event.originator_version} where {expected} comes next"
            )
        versions[event.originator_id] = expected  # type: ignore[index]
        try:
            store.mapper.to_domain_event(event)
        except Exception as error:
            raise TransferError(f"event {count} cannot be read: {error}") from None
    return count


def _check_files(path: Path) -> None:
    """Every evidence file in the export hashes to its name (a sealed one is checked
    by its tags when it is opened)."""
    for sha256, chunks in itertools.groupby(_chunks(read_file(path)), key=lambda c: c.sha256):
        if SEALED_NAME.fullmatch(sha256):
            continue
        digest = hashlib.sha256()
        for chunk in chunks:
            digest.update(chunk.data)
        if digest.hexdigest() != sha256:
            raise TransferError(f"the evidence file {sha256} hashes to {digest.hexdigest()}")


def _chunks(items: Iterator[StoredEvent | Record | Chunk]) -> Iterator[Chunk]:
    return (item for item in items if isinstance(item, Chunk))


def import_log(
    store: ReclaimApplication,
    path: Path,
    progress: Callable[[int], None] | None = None,
    on_checked: Callable[[int], None] | None = None,
) -> Imported:
    """Load an export into this (empty) store: its events, its evidence files, then its
    carried rows.

    ``on_checked`` hears how many events the file holds once it has been checked. A
    carried row whose key is already in the target (a key created there before the
    import, say) is kept as the target has it."""
    if store.recorder.max_notification_id():
        raise TransferError("the target store is not empty: import only into an empty store")
    total = check_file(store, path)
    _check_data_keys(store, path)
    if on_checked is not None:
        on_checked(total)
    batch: list[StoredEvent] = []
    rows: dict[str, list[tuple[str | None, ...]]] = {}
    files = 0
    for sha256, items in itertools.groupby(read_file(path), key=_file_of):
        if sha256:
            chunks = (item.data for item in items if isinstance(item, Chunk))
            if SEALED_NAME.fullmatch(sha256):
                files += store.blobs.store_sealed(sha256, chunks)
            else:
                files += store.blobs.store(sha256, chunks, check=True)
            continue
        for item in items:
            if isinstance(item, StoredEvent):
                batch.append(item)
                if len(batch) == BATCH:
                    _insert(store, batch, progress)
                    batch = []
            elif isinstance(item, tuple):
                rows.setdefault(item[0], []).append(item[1])
    _insert(store, batch, progress)
    return Imported(total, _insert_rows(store, rows), files)


def _check_data_keys(store: ReclaimApplication, path: Path) -> None:
    """Every data key the file carries opens with this store's master key: a file from
    a store with another one would import personal data nobody can read."""
    columns = CARRIED["reclaim_data_keys"]
    for item in read_file(path):
        if isinstance(item, tuple) and item[0] == "reclaim_data_keys":
            row = dict(zip(columns, item[1], strict=True))
            if row["wrapped"] is not None and not store.data_keys.opens(row):
                raise TransferError(
                    f"the data key of {row['user_id']} in {row['workspace']} is wrapped with "
                    f"another master key ({row['master_id']}) than this store's "
                    f"({store.data_keys.master_id}): import with the exporting store's "
                    "RECLAIM_MASTER_KEY"
                )


def _file_of(item: StoredEvent | Record | Chunk) -> str:
    """The SHA-256 of the evidence file a line belongs to; "" for any other line."""
    return item.sha256 if isinstance(item, Chunk) else ""


def _insert_rows(
    store: ReclaimApplication, rows: dict[str, list[tuple[str | None, ...]]]
) -> dict[str, int]:
    added: dict[str, int] = {}
    with store.database.transaction() as cursor:
        for table, values in rows.items():
            columns = CARRIED[table]
            statement = (
                f"INSERT INTO {table} ({', '.join(columns)}) "
                f"VALUES ({', '.join(['%s'] * len(columns))}) ON CONFLICT DO NOTHING"
            )
            added[table] = 0
            for row in values:
                cursor.execute(statement, row)
                added[table] += max(cursor.rowcount, 0)
    return added


def _insert(
    store: ReclaimApplication, batch: list[StoredEvent], progress: Callable[[int], None] | None
) -> None:
    if not batch:
        return
    store.recorder.insert_events(batch)
    if progress is not None:
        progress(len(batch))
