"""Erasing a person (GDPR Art. 17) by destroying their data key: crypto-shredding.

``begin`` destroys the key and revokes the person's API keys, calendar tokens and
sessions, in one transaction. ``record`` then records ``PersonalDataErased`` on each of
their cases (who erased, when; nothing personal), which blanks every copy of the case
held in memory and closes it to further steps. ``finish`` removes what held their data
in clear beside the log: the read rows of their cases are made again from the log (so
they equal a rebuild's, their personal fields erased), their files, snapshots and the
answers kept for their cases' Idempotency-Keys are deleted, and the freed space is wiped
(SQLite: ``secure_delete``, ``VACUUM``, then a checkpoint that empties the write-ahead
log; PostgreSQL: ``VACUUM`` of the tables touched, see DESIGN.md for what it does not do).

The log itself is not changed, so the audit chain verifies as before, and the reports'
counts and amounts stay as they were. The three steps are separate so that an API node
can run ``record`` on the store's writer (each save goes there) and the others on a
thread; ``erase`` runs them in turn. Every step may run again: an erasure cut short is
finished by running it once more.

Every erasure is also written to a ledger outside the database (``erasures.jsonl`` in
the data directory, or ``RECLAIM_ERASURE_LEDGER``) before the key is destroyed; each
start carries out again any the store does not hold (``reapply``), so a restore from a
backup made before an erasure does not bring the person back.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from infrastructure.projections.events import Batch, Recorded
from infrastructure.projections.projector import Folder
from infrastructure.store.application import ReclaimApplication
from infrastructure.store.forward import pause
from infrastructure.store.idempotency import TABLE as IDEMPOTENCY_TABLE
from infrastructure.store.sealing import Unsealed, unsealed_cases

log = logging.getLogger("reclaim.erasure")

#: the ledger's name in the data directory, unless RECLAIM_ERASURE_LEDGER names a file
LEDGER_FILE = "erasures.jsonl"
#: how many times a case's erasure event is tried against concurrent saves
RETRIES = 5


class UnknownPerson(LookupError):
    """Nobody of that name in that workspace: no key, no case, no data key."""


@dataclass(frozen=True)
class Begun:
    workspace: str
    user_id: str
    key_id: str
    case_ids: tuple[UUID, ...]
    keys_revoked: int


@dataclass(frozen=True)
class Erased:
    workspace: str
    user_id: str
    cases: int
    keys_revoked: int
    files_removed: int
    answers_removed: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "workspace": self.workspace,
            "user": self.user_id,
            "cases": self.cases,
            "keys_revoked": self.keys_revoked,
            "files_removed": self.files_removed,
            "idempotency_answers_removed": self.answers_removed,
        }


def is_known(store: ReclaimApplication, workspace: str, user_id: str) -> bool:
    """Whether the store has anything of the person: a key, a case or a data key."""
    for table, column in (
        ("reclaim_api_keys", "user_id"),
        ("reclaim_case_list", "owner"),
        ("reclaim_data_keys", "user_id"),
    ):
        row = store.database.fetchone(
            f"SELECT 1 AS x FROM {table} WHERE workspace = %s AND {column} = %s LIMIT 1",
            (workspace, user_id),
        )
        if row is not None:
            return True
    return False


def begin(store: ReclaimApplication, workspace: str, user_id: str, *, by: str) -> Begun:
    """Destroy the person's data key and revoke every way they sign in."""
    if not is_known(store, workspace, user_id):
        raise UnknownPerson(f"there is no user {user_id!r} in workspace {workspace!r}")
    unsealed = unsealed_cases(store, store.case_ids_of(workspace, user_id))
    if unsealed:
        raise Unsealed(
            f"{len(unsealed)} of {user_id}'s cases hold personal data written before it was "
            "encrypted, which destroying a key cannot erase: run `reclaim seal-log` once "
            "(with the servers stopped), then erase"
        )
    _write_ledger(store, workspace, user_id, by)
    with store.database.transaction() as cursor:
        key_id = store.data_keys.erase(cursor, workspace, user_id, by)
        store.mail.forget(cursor, workspace, user_id)  # (their address, sealed: issue 30)
        keys = cursor.fetchall(
            "SELECT key_id FROM reclaim_api_keys WHERE workspace = %s AND user_id = %s",
            (workspace, user_id),
        )
        cursor.execute(
            "UPDATE reclaim_api_keys SET revoked_at = %s WHERE workspace = %s AND user_id = %s "
            "AND revoked_at IS NULL",
            (_now(), workspace, user_id),
        )
        revoked = max(cursor.rowcount, 0)
    for row in keys:
        store.sessions.end_for_key(row["key_id"])
    store.keys.forget_verified()
    return Begun(workspace, user_id, key_id, tuple(store.case_ids_of(workspace, user_id)), revoked)


def ledger_path(store: ReclaimApplication) -> Path:
    settings = store.settings
    return settings.erasure_ledger or settings.data_dir / LEDGER_FILE


def _write_ledger(store: ReclaimApplication, workspace: str, user_id: str, by: str) -> None:
    """One line per erasure, flushed to disk before the erasure goes on: the list a
    restore is checked against (``reapply``)."""
    path = ledger_path(store)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps({"workspace": workspace, "user": user_id, "by": by, "at": _now()})
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def reapply(store: ReclaimApplication) -> list[tuple[str, str]]:
    """Carry out again every erasure in the ledger that the store does not hold: after a
    restore from a backup made before it, the person must not come back. Returns whom."""
    path = ledger_path(store)
    if not path.is_file():
        return []
    wanted: dict[tuple[str, str], str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        try:
            entry = json.loads(line)
            wanted[(str(entry["workspace"]), str(entry["user"]))] = str(entry.get("by", ""))
        except (ValueError, KeyError, TypeError):
            log.warning("%s line %d is not an erasure; skipped", path, number)
    held = {(e["workspace"], e["user_id"]) for e in store.data_keys.erasures()}
    done = []
    for (workspace, user_id), by in wanted.items():
        if (workspace, user_id) in held:
            continue
        try:
            erase(store, workspace, user_id, by=by or "ledger", request_id="erasure-ledger")
        except UnknownPerson:
            continue  # (the restored store never had them)
        log.warning("re-applied the erasure of %s in %s from %s", user_id, workspace, path)
        done.append((workspace, user_id))
    return done


def record(store: ReclaimApplication, case_id: UUID, *, by: str, request_id: str) -> None:
    """Record the erasure on one case (through the writer, as every save goes)."""
    for attempt in range(RETRIES + 1):
        store.forget(case_id)  # (a cached copy may be behind: read the store)
        case = store.case_for_command(case_id)
        case.erase_personal_data(actor=by, request_id=request_id)
        if not case.pending_events:
            return
        try:
            store.save_case(case)
            return
        except IntegrityError:
            if attempt == RETRIES:
                raise
            pause(0.05 * (attempt + 1))


def finish(store: ReclaimApplication, begun: Begun) -> Erased:
    """Rewrite and remove what held the person's data beside the log, then wipe."""
    case_ids = list(begun.case_ids)
    texts = [str(c) for c in case_ids]
    with store.database.transaction() as cursor:
        if store.database.dialect == "sqlite":
            cursor.execute("PRAGMA secure_delete = ON")
        files = store.blobs.delete_sealed(cursor, begun.key_id)
        answers = _delete_answers(cursor, begun, texts)
        if store.snapshots is not None and case_ids:
            _delete_snapshots(store, cursor, case_ids)
        if case_ids:
            batch = _history(store, case_ids)
            for projection in store.projections.projections.values():
                projection.rewrite(cursor, batch)
    # copies held in memory on this process (others drop theirs as they see the erasure)
    for case_id in case_ids:
        store.forget(case_id)
    _wipe(store)
    log.info(
        "erased %s in %s: %d cases, %d files, %d kept answers",
        begun.user_id,
        begun.workspace,
        len(case_ids),
        files,
        answers,
    )
    return Erased(begun.workspace, begun.user_id, len(case_ids), begun.keys_revoked, files, answers)


def erase(
    store: ReclaimApplication,
    workspace: str,
    user_id: str,
    *,
    by: str,
    request_id: str,
    run: Callable[[Callable[[], None]], None] | None = None,
) -> Erased:
    """The three steps in turn; ``run`` runs each case's save where saves run."""
    begun = begin(store, workspace, user_id, by=by)
    for case_id in begun.case_ids:

        def one(case_id: UUID = case_id) -> None:
            record(store, case_id, by=by, request_id=request_id)

        (run or _call)(one)
    return finish(store, begun)


def _call(command: Callable[[], None]) -> None:
    command()


def _history(store: ReclaimApplication, case_ids: list[UUID]) -> Batch:
    """Every event of these cases, decoded as the log gives them now, with the cases
    folded from them: what a rebuild would see of them."""
    table = store.recorder.events_table_name  # type: ignore[attr-defined]
    postgres = store.database.is_postgres
    position = "notification_id" if postgres else "rowid"
    keys: list[Any] = case_ids if postgres else [c.hex for c in case_ids]
    marks = ", ".join(["%s"] * len(keys))
    rows = store.database.fetchall(
        f"SELECT {position} AS id, originator_id, originator_version, topic, state "
        f"FROM {table} WHERE originator_id IN ({marks}) ORDER BY {position}",
        keys,
    )
    from eventsourcing.persistence import StoredEvent

    recorded = []
    for row in rows:
        stored = StoredEvent(
            originator_id=UUID(str(row["originator_id"])),
            originator_version=int(row["originator_version"]),
            topic=row["topic"],
            state=bytes(row["state"]),
        )
        recorded.append(Recorded(int(row["id"]), store.mapper.to_domain_event(stored), stored))
    return Folder(store).batch(recorded)


def _delete_answers(cursor: Any, begun: Begun, case_ids: list[str]) -> int:
    """The answers kept for Idempotency-Keys that name the person or their cases: those
    given to them, and those given to anyone else about their cases."""
    scope = f"{begun.workspace}:{begun.user_id}"
    removed = 0
    rows = cursor.fetchall(f"SELECT scope, key, body, headers FROM {IDEMPOTENCY_TABLE}")
    for row in rows:
        text = f"{row['body']}{row['headers']}"
        if row["scope"] == scope or any(c in text for c in case_ids):
            cursor.execute(
                f"DELETE FROM {IDEMPOTENCY_TABLE} WHERE scope = %s AND key = %s",
                (row["scope"], row["key"]),
            )
            removed += 1
    return removed


def _delete_snapshots(store: ReclaimApplication, cursor: Any, case_ids: list[UUID]) -> None:
    assert store.snapshots is not None
    table = store.snapshots.recorder.events_table_name  # type: ignore[attr-defined]
    keys: list[Any] = case_ids if store.database.is_postgres else [c.hex for c in case_ids]
    marks = ", ".join(["%s"] * len(keys))
    cursor.execute(f"DELETE FROM {table} WHERE originator_id IN ({marks})", keys)


def _wipe(store: ReclaimApplication) -> None:
    """Leave no copy of what was deleted or rewritten in the database's free space."""
    if store.database.dialect == "sqlite":
        turn = store.recorder._writers_turn()  # type: ignore[attr-defined]  # noqa: SLF001
        store.database.maintain(
            ["PRAGMA secure_delete = ON", "VACUUM", "PRAGMA wal_checkpoint(TRUNCATE)"], turn
        )
        return
    tables = list(WIPED_TABLES)
    if store.snapshots is not None:
        tables.append(store.snapshots.recorder.events_table_name)  # type: ignore[attr-defined]
    store.database.maintain([f"VACUUM {table}" for table in tables])


#: the tables an erasure deletes from or rewrites (PostgreSQL vacuums them after it)
WIPED_TABLES = (
    "reclaim_case_list",
    "reclaim_timeline",
    "reclaim_audit_log",
    IDEMPOTENCY_TABLE,
    "reclaim_blob_chunks",
    "reclaim_blobs",
    "reclaim_sessions",
)


def _now() -> str:
    from datetime import UTC, datetime

    return datetime.now(UTC).isoformat(timespec="seconds")
