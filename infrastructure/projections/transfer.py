"""Moving a whole log: export as JSON lines, import into an empty store.

One line per event, in log order::

    {"position": 17, "originator_id": "<uuid>", "originator_version": 3,
     "topic": "domain.cases:Case.Submitted", "state": "<the stored JSON, as text>"}

Import reads the file twice: first to check every line (well-formed, positions
rising, every event decodable), then to insert the events in order, a batch per
transaction, so a bad file leaves the target untouched. Positions in the target
are its own; the audit chain does not include them, so it verifies there too.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from infrastructure.projections.verify import iter_events

BATCH = 1000
_FIELDS = {"position", "originator_id", "originator_version", "topic", "state"}


class TransferError(Exception):
    """A file that cannot be imported, or a store that must not be imported into."""


def export_log(app: Any, out: TextIO, progress: Callable[[int], None] | None = None) -> int:
    count = 0
    for n in iter_events(app):
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
    return count


def read_events(path: Path) -> Iterator[StoredEvent]:
    """The events of an export file, checked line by line."""
    last = 0
    try:
        with path.open(encoding="utf-8") as file:
            for number, line in enumerate(file, start=1):
                if not line.strip():
                    continue
                event, last = _parse(line, number, last)
                yield event
    except (OSError, UnicodeDecodeError) as error:
        raise TransferError(f"cannot read {path}: {error}") from None


def _parse(line: str, number: int, last: int) -> tuple[StoredEvent, int]:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as error:
        raise TransferError(f"line {number}: not JSON ({error.msg})") from None
    if not isinstance(data, dict) or set(data) != _FIELDS:
        raise TransferError(f"line {number}: expected the fields {', '.join(sorted(_FIELDS))}")
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


def check_file(app: Any, path: Path) -> int:
    """How many events the file holds, once every one has been checked and decoded."""
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
            app.mapper.to_domain_event(event)
        except Exception as error:
            raise TransferError(f"event {count} cannot be read: {error}") from None
    return count


def import_log(
    app: Any,
    path: Path,
    progress: Callable[[int], None] | None = None,
    on_checked: Callable[[int], None] | None = None,
) -> int:
    """Load an export into this (empty) store; returns how many events were imported.

    ``on_checked`` hears how many events the file holds once it has been checked."""
    if app.recorder.max_notification_id():
        raise TransferError("the target store is not empty: import only into an empty store")
    total = check_file(app, path)
    if on_checked is not None:
        on_checked(total)
    batch: list[StoredEvent] = []
    for event in read_events(path):
        batch.append(event)
        if len(batch) == BATCH:
            _insert(app, batch, progress)
            batch = []
    _insert(app, batch, progress)
    return total


def _insert(app: Any, batch: list[StoredEvent], progress: Callable[[int], None] | None) -> None:
    if not batch:
        return
    app.recorder.insert_events(batch)
    if progress is not None:
        progress(len(batch))
