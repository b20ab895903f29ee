"""``verify``: is the log what the audit chain says it was, and do the read tables
hold what a fresh replay of the log gives?

1. The chain, recomputed from the stored events (not from the audit table): every
   event must hash, from its audit entry's previous hash, to that entry's hash
   (a changed byte fails here); every audit entry must have its event (a deleted
   event or a cut tail fails here); the entries must link up; the chain recomputed
   from the first event must reach the signed head, whose HMAC must be valid (a
   log cut short together with its audit entries fails here).
2. Each projection, read in one consistent snapshot with its tracking position, is
   compared row for row with the same projection rebuilt in a scratch SQLite file
   from the same events up to that position.

Projections that are merely behind the log are not a problem; verify never writes.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from eventsourcing.sqlite import SQLiteDatastore

from infrastructure.projections import merkle
from infrastructure.projections.audit import (
    GENESIS,
    AuditLog,
    canonical_bytes,
    chain_hash,
    head_signature_ok,
    read_head,
)
from infrastructure.projections.base import ReclaimProjection, Table
from infrastructure.projections.inline import (
    NAMES,
    build,
    create_projection_tables,
    projection_context,
)
from infrastructure.projections.projector import ReplayFailed, feed
from infrastructure.store.application import ReclaimApplication
from infrastructure.store.database import Cursor, Database

CHUNK = 1000
MAX_PROBLEMS = 20


@dataclass(frozen=True)
class Problem:
    check: str  # "chain", "head" or a projection's name
    position: int | None
    detail: str

    def __str__(self) -> str:
        where = f"position {self.position}" if self.position is not None else "the log"
        return f"{self.check} at {where}: {self.detail}"


@dataclass
class VerifyReport:
    events_checked: int = 0
    head_position: int | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_problem(self) -> Problem | None:
        return self.problems[0] if self.problems else None

    def add(self, problem: Problem) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)

    def as_dict(self) -> dict[str, Any]:
        first = self.first_problem
        return {
            "ok": self.ok,
            "events_checked": self.events_checked,
            "head_position": self.head_position,
            "first_problem": asdict(first) if first else None,
            "problems": [asdict(p) for p in self.problems],
        }


@contextmanager
def snapshot(database: Database) -> Iterator[Cursor]:
    """A read-only transaction that sees one moment of the store throughout."""
    with database.transaction(commit=False) as cursor:
        if database.is_postgres:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield cursor


def iter_rows(cursor: Cursor, table: Table, columns: str = "*") -> Iterator[dict[str, Any]]:
    """A table's rows in its comparison order, a chunk at a time."""
    after: Any = None
    key = table.order_by
    while True:
        where = "" if after is None else f"WHERE {key} > %s"
        rows = cursor.fetchall(
            f"SELECT {columns} FROM {table.name} {where} ORDER BY {key} LIMIT {CHUNK}",
            () if after is None else (after,),
        )
        yield from rows
        if len(rows) < CHUNK:
            return
        after = rows[-1][key]


def iter_events(store: ReclaimApplication) -> Iterator[Any]:
    start = 0
    while True:
        notifications = store.recorder.select_notifications(
            start=start, limit=CHUNK, inclusive_of_start=False
        )
        yield from notifications
        if len(notifications) < CHUNK:
            return
        start = notifications[-1].id


def verify(
    store: ReclaimApplication,
    *,
    progress: Callable[[int], None] | None = None,
    witnessed: Sequence[dict[str, Any]] = (),
) -> VerifyReport:
    """Check the chain, the tree, the signed head, every head ``witnessed`` (kept outside
    the store: ``witness.read_witness``) and every projection; see the module's
    documentation."""
    report = VerifyReport()
    context = projection_context(store.settings, store.database)
    check_chain(store, context.signing_key.public_key(), report, progress, witnessed)
    check_projections(store, report)
    return report


# --- the chain ------------------------------------------------------------------------------
def check_chain(
    store: ReclaimApplication,
    key: Any,
    report: VerifyReport,
    progress: Callable[[int], None] | None = None,
    witnessed: Sequence[dict[str, Any]] = (),
) -> None:
    with snapshot(store.database) as cursor:
        head = read_head(cursor)
        report.head_position = head["position"] if head else None
        entries = iter_rows(cursor, AuditLog.table, "position, case_id, version, prev_hash, hash")
        sizes = {int(h["events"]) for h in witnessed} | ({head["events"]} if head else set())
        walk = _walk_chain(iter_events(store), entries, head, report, progress, sizes)
    _check_head(head, walk, key, report)
    for seen in witnessed:
        _check_witnessed(seen, walk, key, report)


@dataclass
class Walk:
    """What walking the stored events recomputed: the chain's hash at the head's
    position, the tree's root at each size asked for, and how many events there are."""

    at_head: str | None = None
    roots: dict[int, bytes] = field(default_factory=dict)
    events: int = 0


def _walk_chain(
    events: Iterator[Any],
    entries: Iterator[dict[str, Any]],
    head: dict[str, Any] | None,
    report: VerifyReport,
    progress: Callable[[int], None] | None,
    sizes: set[int] = frozenset(),  # type: ignore[assignment]
) -> Walk:
    """Walk events and audit entries together, in position order, recomputing the
    chain up to the head's position and the tree's root at each of ``sizes``."""
    chained, linked = GENESIS, GENESIS
    walk = Walk()
    frontier: list[bytes] = []
    audited_to = head["position"] if head else 0
    event, entry = next(events, None), next(entries, None)
    while event is not None or entry is not None:
        if entry is not None and (event is None or entry["position"] < event.id):
            report.add(Problem("chain", entry["position"], _missing(entry)))
            linked, entry = entry["hash"], next(entries, None)
            continue
        assert event is not None
        chained = chain_hash(chained, event)
        frontier, _ = merkle.append(frontier, walk.events, merkle.leaf_hash(canonical_bytes(event)))
        walk.events += 1
        if walk.events in sizes:
            walk.roots[walk.events] = merkle.root(frontier)
        report.events_checked += 1
        if entry is not None and entry["position"] == event.id:
            _check_entry(event, entry, linked, report)
            linked, entry = entry["hash"], next(entries, None)
        elif event.id <= audited_to:
            report.add(Problem("chain", event.id, "the event is not in the audit log"))
        if head and event.id == head["position"]:
            walk.at_head = chained
        if progress is not None:
            progress(1)
        event = next(events, None)
    return walk


def _missing(entry: dict[str, Any]) -> str:
    return (
        f"the audit log's event (case {entry['case_id']} version {entry['version']}) "
        "is missing from the stored events"
    )


def _check_entry(event: Any, entry: dict[str, Any], linked: str, report: VerifyReport) -> None:
    if entry["prev_hash"] != linked:
        report.add(Problem("chain", event.id, "the audit entry does not link to the one before"))
    if chain_hash(entry["prev_hash"], event) != entry["hash"]:
        report.add(
            Problem("chain", event.id, "the stored event differs from the one the chain recorded")
        )


def _check_head(head: dict[str, Any] | None, walk: Walk, key: Any, report: VerifyReport) -> None:
    if head is None:
        if report.events_checked:
            report.add(Problem("head", None, "there is no signed head: the audit log is not built"))
        return
    position = head["position"]
    if not head_signature_ok(key, head):
        report.add(Problem("head", position, "the signed head's signature is not valid"))
    if walk.at_head is None:
        report.add(Problem("head", position, "the stored events end before the signed head"))
    elif walk.at_head != head["hash"]:
        report.add(
            Problem("head", position, "the chain recomputed from the stored events misses the head")
        )
    root = walk.roots.get(int(head["events"]))
    if root is not None and root.hex() != head["root"]:
        report.add(
            Problem("head", position, "the tree recomputed from the stored events misses the head")
        )


def _check_witnessed(seen: dict[str, Any], walk: Walk, key: Any, report: VerifyReport) -> None:
    """A head kept outside the store: the log must still extend it."""
    size = int(seen["events"])
    name = f"the witnessed head of {size} events signed at {seen['signed_at']}"
    if not head_signature_ok(key, seen):
        report.add(Problem("witness", None, f"{name} is not signed by this store's key"))
        return
    root = walk.roots.get(size)
    if size > walk.events or root is None:
        report.add(
            Problem(
                "witness",
                None,
                f"the log ({walk.events} events) no longer extends {name}: it was cut short "
                "or rolled back",
            )
        )
    elif root.hex() != seen["root"]:
        report.add(
            Problem(
                "witness",
                None,
                f"the log no longer extends {name}: its first {size} events are not the ones "
                "that head signed (rolled back and rewritten)",
            )
        )


# --- the projections --------------------------------------------------------------------------
def check_projections(store: ReclaimApplication, report: VerifyReport) -> None:
    context = projection_context(store.settings, store.database)
    live = build(store.database, context)
    with tempfile.TemporaryDirectory(prefix="reclaim-verify-") as scratch_dir:
        scratch_file = SQLiteDatastore(str(Path(scratch_dir) / "scratch.sqlite3"))
        try:
            scratch_db = Database(scratch_file, "sqlite")
            scratch = build(scratch_db, context)
            create_projection_tables(scratch_db, scratch.values())
            targets = {name: live[name].position() for name in NAMES}
            feed(store, list(scratch.values()), stops=targets)
            for name in NAMES:
                _compare_projection(store, live[name], scratch[name], report)
        except ReplayFailed as failure:
            report.add(Problem(failure.name, failure.position, f"a replay fails: {failure}"))
        finally:
            scratch_file.close()


def _compare_projection(
    store: ReclaimApplication,
    live: ReclaimProjection,
    scratch: ReclaimProjection,
    report: VerifyReport,
) -> None:
    with snapshot(store.database) as cursor:
        target = live.view.position(cursor, store.name)
        feed(store, [scratch], stops={scratch.name: target})  # when it moved on meanwhile
        with scratch.view.transaction(commit=False) as rebuilt:
            for table in live.tables:
                problem = compare_table(cursor, rebuilt, table, live.name)
                if problem is not None:
                    report.add(problem)
                    return


def compare_table(live: Cursor, rebuilt: Cursor, table: Table, check: str) -> Problem | None:
    """The first row where the live table and the rebuilt one differ, as a problem."""
    key = table.order_by
    ours, theirs = iter_rows(live, table), iter_rows(rebuilt, table)
    a, b = next(ours, None), next(theirs, None)
    while a is not None or b is not None:
        if a is not None and b is not None and a[key] == b[key]:
            if a != b:
                return Problem(check, _position(a, key), _difference(table, a, b))
            a, b = next(ours, None), next(theirs, None)
        elif b is None or (a is not None and a[key] < b[key]):
            return Problem(check, _position(a, key), f"{table.name} has a row a replay does not")
        else:
            return Problem(check, _position(b, key), f"{table.name} lacks a row a replay has")
    return None


def _position(row: dict[str, Any] | None, key: str) -> int | None:
    if row is None:
        return None
    return row.get("last_position") or row.get("position") or row.get(key)


def _difference(table: Table, live: dict[str, Any], rebuilt: dict[str, Any]) -> str:
    column = next(c for c in table.column_names if live.get(c) != rebuilt.get(c))
    return (
        f"{table.name}.{column} is {live.get(column)!r} where a replay gives "
        f"{rebuilt.get(column)!r}"
    )
