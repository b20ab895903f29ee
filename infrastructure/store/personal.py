"""Personal data encrypted per owner, so that a person can be erased (crypto-shredding).

Each data subject (a user in a workspace) has a data key of their own: 256 random bits,
kept in ``reclaim_data_keys`` wrapped (AES-GCM) by the master key, which is never in the
database: ``RECLAIM_MASTER_KEY``, or on the embedded default a ``master.key`` file made
in the data directory on first start. Envelope encryption as cloud KMSs do it: rotating
the master key re-wraps the data keys and touches no event.

An event's personal fields (the domain declares which: ``domain.cases.PERSONAL_FIELDS``)
are taken out of its state, encrypted together under the case owner's data key with
AES-GCM, and stored in their place as ``"_personal": [key id, base64(nonce ‖ sealed)]``;
the event's id, version and topic are the associated data, so a sealed value cannot be
moved to another event. Everything else stays in clear: amounts, states, times, choices.

Erasing a person deletes their wrapped key (the row stays, as a tombstone saying when and
by whom). Their events are unchanged, so the audit chain over the stored bytes still
verifies; decoded, each of their personal fields reads ``domain.cases.ERASED``. Events of
a person erased before they were written keep ``ERASED`` in clear.

Every node caches the keys it has unwrapped; it looks again for erasures at most every
``recheck_seconds`` (the setting that bounds how long a revoked API key still works).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.domain import Snapshot
from eventsourcing.persistence import Mapper, StoredEvent, Transcoder
from eventsourcing.utils import get_topic

from domain.cases import ERASED, PERSONAL_FIELDS, PERSONAL_STATE, Case
from infrastructure.store.database import Database

TABLE = "reclaim_data_keys"
MASTER_KEY_FILE = "master.key"
#: the row of ``reclaim_shared_keys`` that says which master key wraps this store's keys
MASTER_CHECK = "master-key-check"
_NONCE = 12

CREATE_STATEMENTS = [
    f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        key_id TEXT PRIMARY KEY,
        workspace TEXT NOT NULL,
        user_id TEXT NOT NULL,
        wrapped TEXT,
        master_id TEXT,
        created_at TEXT NOT NULL,
        erased_at TEXT,
        erased_by TEXT,
        UNIQUE (workspace, user_id)
    )""",
]


class MasterKeyError(RuntimeError):
    """The master key is missing, malformed or not the one this store's keys are wrapped
    with: the server must not start (it would serve unreadable data)."""


class SealBroken(ValueError):
    """Sealed personal fields that fail their check: changed, or taken from another event."""


class SubjectErased(Exception):
    """A write of personal data for a person who was erased."""


def parse_master_key(text: str) -> bytes:
    """32 bytes, written as 64 hex digits or as base64 (either alphabet)."""
    text = text.strip()
    try:
        key = (
            bytes.fromhex(text)
            if len(text) == 64
            else base64.urlsafe_b64decode(
                text.replace("+", "-").replace("/", "_") + "=" * (-len(text) % 4)
            )
        )
    except (ValueError, binascii.Error):
        key = b""
    if len(key) != 32:
        raise MasterKeyError(
            "RECLAIM_MASTER_KEY must be 32 bytes written as 64 hex digits or as base64; "
            "make one with: reclaim master-key new"
        )
    return key


def new_master_key() -> str:
    return secrets.token_hex(32)


def master_key_from(configured: str | None, data_dir: Path, *, file_allowed: bool) -> bytes:
    """The configured master key; else, where allowed (the embedded default), the data
    directory's key file, made on first start (mode 0600)."""
    if configured:
        return parse_master_key(configured)
    if not file_allowed:
        raise MasterKeyError(
            "RECLAIM_MASTER_KEY is not set. On PostgreSQL every node must be given the "
            "same master key (it wraps the personal data keys): set RECLAIM_MASTER_KEY "
            "to 64 hex digits, made once with: reclaim master-key new"
        )
    path = data_dir / MASTER_KEY_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return parse_master_key(path.read_text())
    with os.fdopen(fd, "w") as handle:
        handle.write(new_master_key() + "\n")
    return parse_master_key(path.read_text())


def master_id(master: bytes) -> str:
    """A name for a master key that gives nothing of it away."""
    return hashlib.sha256(b"reclaim-master-key-id\n" + master).hexdigest()[:16]


def _seal(aead: AESGCM, plain: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(_NONCE)
    return nonce + aead.encrypt(nonce, plain, aad)


def _open(aead: AESGCM, sealed: bytes, aad: bytes) -> bytes:
    return aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], aad)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class DataKey:
    """One person's data key; ``aead`` is None once they are erased."""

    key_id: str
    workspace: str
    user_id: str
    aead: AESGCM | None

    @property
    def erased(self) -> bool:
        return self.aead is None

    def seal(self, plain: bytes, aad: bytes) -> bytes:
        if self.aead is None:
            raise SubjectErased(f"{self.user_id} in {self.workspace} was erased")
        return _seal(self.aead, plain, aad)

    def open(self, sealed: bytes, aad: bytes) -> bytes | None:
        """The plain bytes, or None when the key is destroyed."""
        if self.aead is None:
            return None
        return _open(self.aead, sealed, aad)


def _wrapping_aad(key_id: str, workspace: str, user_id: str) -> bytes:
    return f"reclaim-data-key\n{key_id}\n{workspace}\n{user_id}".encode()


class DataKeys:
    """The store's data keys, unwrapped with the master key as they are needed."""

    def __init__(self, database: Database, master: bytes, *, recheck_seconds: float = 1.0):
        self.database = database
        self.master = master
        self.master_id = master_id(master)
        self._wrap = AESGCM(master)
        self.recheck_seconds = recheck_seconds
        self._by_subject: dict[tuple[str, str], DataKey] = {}
        self._by_id: dict[str, DataKey] = {}
        self._lock = threading.Lock()
        self._erasures = -1
        self._checked = 0.0
        #: called with the data keys found erased since the last look (by another node)
        self.on_erased: Callable[[list[DataKey]], None] | None = None

    # --- tables and the master key ----------------------------------------------------------
    def create_tables(self) -> None:
        self.database.create_tables(CREATE_STATEMENTS)

    def check_master(self) -> None:
        """Refuse a master key other than the one this store's keys are wrapped with. The
        first node to start records which one that is (``reclaim_shared_keys``)."""
        from infrastructure.store.shared_keys import shared_text

        kept = shared_text(self.database, MASTER_CHECK, lambda: self._check_value(self._wrap))
        if not self._check_matches(self._wrap, kept):
            raise MasterKeyError(
                "RECLAIM_MASTER_KEY is not the master key this store's personal data keys "
                f"are wrapped with (this key's id is {self.master_id}). Set the key the "
                "store was created with (on the embedded default: the data directory's "
                f"{MASTER_KEY_FILE}); after `reclaim master-key rotate`, the new one."
            )

    @staticmethod
    def _check_value(wrap: AESGCM) -> str:
        return base64.b64encode(_seal(wrap, b"reclaim master key check", b"check")).decode()

    @staticmethod
    def _check_matches(wrap: AESGCM, kept: str) -> bool:
        try:
            return _open(wrap, base64.b64decode(kept), b"check") == b"reclaim master key check"
        except (InvalidTag, ValueError, binascii.Error):
            return False

    def rotate(self, new_master: bytes, also: Sequence[Callable[[Any, bytes], int]] = ()) -> int:
        """Re-wrap every data key under ``new_master``, and make it the store's master key,
        in one transaction; the events are not touched. ``also``: whatever else is sealed
        under the master key re-seals itself in that transaction (webhook secrets).
        Returns the keys re-wrapped."""
        self.check_master()
        new_wrap = AESGCM(new_master)
        count = 0
        with self.database.transaction() as cursor:
            rows = cursor.fetchall(
                f"SELECT key_id, workspace, user_id, wrapped FROM {TABLE} WHERE wrapped IS NOT NULL"
            )
            for row in rows:
                aad = _wrapping_aad(row["key_id"], row["workspace"], row["user_id"])
                key = _open(self._wrap, base64.b64decode(row["wrapped"]), aad)
                cursor.execute(
                    f"UPDATE {TABLE} SET wrapped = %s, master_id = %s WHERE key_id = %s",
                    (
                        base64.b64encode(_seal(new_wrap, key, aad)).decode(),
                        master_id(new_master),
                        row["key_id"],
                    ),
                )
                count += 1
            for rewrap in also:
                rewrap(cursor, new_master)
            cursor.execute(
                "UPDATE reclaim_shared_keys SET secret = %s WHERE name = %s",
                (self._check_value(new_wrap), MASTER_CHECK),
            )
        return count

    # --- finding keys ----------------------------------------------------------------------
    def for_subject(self, workspace: str, user_id: str) -> DataKey:
        """The person's key, made the first time they have personal data to keep (an
        insert that does nothing on conflict: nodes racing agree on the first)."""
        self._recheck()
        key = self._by_subject.get((workspace, user_id))
        if key is not None:
            return key
        row = self._row("workspace = %s AND user_id = %s", (workspace, user_id))
        if row is None:
            key_id = secrets.token_hex(16)
            data_key = AESGCM.generate_key(256)
            aad = _wrapping_aad(key_id, workspace, user_id)
            self.database.execute(
                f"INSERT INTO {TABLE} (key_id, workspace, user_id, wrapped, master_id, "
                "created_at) VALUES (%s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (workspace, user_id) DO NOTHING",
                (
                    key_id,
                    workspace,
                    user_id,
                    base64.b64encode(_seal(self._wrap, data_key, aad)).decode(),
                    self.master_id,
                    _now(),
                ),
            )
            row = self._row("workspace = %s AND user_id = %s", (workspace, user_id))
            assert row is not None
        return self._remember(row)

    def by_id(self, key_id: str) -> DataKey | None:
        """The key called ``key_id`` (None if the store has no such key)."""
        self._recheck()
        key = self._by_id.get(key_id)
        if key is None:
            row = self._row("key_id = %s", (key_id,))
            key = None if row is None else self._remember(row)
        return key

    def _row(self, where: str, params: tuple[Any, ...]) -> dict[str, Any] | None:
        return self.database.fetchone(
            f"SELECT key_id, workspace, user_id, wrapped FROM {TABLE} WHERE {where}", params
        )

    def _remember(self, row: dict[str, Any]) -> DataKey:
        aead = None
        if row["wrapped"] is not None:
            aad = _wrapping_aad(row["key_id"], row["workspace"], row["user_id"])
            try:
                aead = AESGCM(_open(self._wrap, base64.b64decode(row["wrapped"]), aad))
            except InvalidTag:
                raise MasterKeyError(
                    f"data key {row['key_id']} does not open with this master key "
                    f"({self.master_id}): was it rotated without this node?"
                ) from None
        key = DataKey(row["key_id"], row["workspace"], row["user_id"], aead)
        with self._lock:
            self._by_subject[(key.workspace, key.user_id)] = key
            self._by_id[key.key_id] = key
        return key

    def opens(self, row: dict[str, Any]) -> bool:
        """Whether a key row (of another store's export, say) opens with this master key."""
        aad = _wrapping_aad(row["key_id"], row["workspace"], row["user_id"])
        try:
            _open(self._wrap, base64.b64decode(row["wrapped"]), aad)
        except (InvalidTag, ValueError, binascii.Error):
            return False
        return True

    def _recheck(self) -> None:
        """Forget keys erased by another node since the last look (one indexed count)."""
        now = time.monotonic()
        if now - self._checked < self.recheck_seconds:
            return
        self._checked = now
        row = self.database.fetchone(
            f"SELECT COUNT(*) AS n FROM {TABLE} WHERE erased_at IS NOT NULL", ()
        )
        erasures = int(row["n"]) if row else 0
        if erasures == self._erasures:
            return
        first = self._erasures < 0
        self._erasures = erasures
        if first:
            return
        self.forget_erased()

    def forget_erased(self) -> list[DataKey]:
        """Drop every cached key that is now erased; returns them."""
        rows = self.database.fetchall(f"SELECT key_id FROM {TABLE} WHERE erased_at IS NOT NULL")
        gone = []
        with self._lock:
            for row in rows:
                key = self._by_id.pop(row["key_id"], None)
                if key is not None and not key.erased:
                    self._by_subject.pop((key.workspace, key.user_id), None)
                    gone.append(key)
        if gone and self.on_erased is not None:
            self.on_erased(gone)
        return gone

    # --- erasure -----------------------------------------------------------------------------
    def erase(self, cursor: Any, workspace: str, user_id: str, by: str) -> str:
        """Destroy the person's data key (in the caller's transaction); a person with no
        key yet gets a tombstone, so nothing of theirs is ever encrypted again. Returns
        the key id."""
        cursor.execute(
            f"INSERT INTO {TABLE} (key_id, workspace, user_id, wrapped, master_id, "
            "created_at, erased_at, erased_by) VALUES (%s, %s, %s, NULL, NULL, %s, %s, %s) "
            "ON CONFLICT (workspace, user_id) DO UPDATE SET wrapped = NULL, "
            f"erased_at = COALESCE({TABLE}.erased_at, excluded.erased_at), "
            f"erased_by = COALESCE({TABLE}.erased_by, excluded.erased_by)",
            (secrets.token_hex(16), workspace, user_id, _now(), _now(), by),
        )
        row = cursor.fetchone(
            f"SELECT key_id FROM {TABLE} WHERE workspace = %s AND user_id = %s",
            (workspace, user_id),
        )
        with self._lock:
            old = self._by_subject.pop((workspace, user_id), None)
            if old is not None:
                self._by_id.pop(old.key_id, None)
        return str(row["key_id"])

    def erasures(self) -> list[dict[str, Any]]:
        """Every erasure: whom, when, by whom (no personal data)."""
        return self.database.fetchall(
            f"SELECT workspace, user_id, key_id, erased_at, erased_by FROM {TABLE} "
            "WHERE erased_at IS NOT NULL ORDER BY erased_at, workspace, user_id"
        )


# --- events ------------------------------------------------------------------------------
def _event_names(cls: type) -> tuple[str, ...]:
    if issubclass(cls, Snapshot):
        return PERSONAL_STATE
    if issubclass(cls, Case.Event):  # type: ignore[arg-type]
        return PERSONAL_FIELDS.get(cls.__name__, ())
    return ()


class PersonalMapper(Mapper[UUID]):
    """The library's mapper, with each event's personal fields sealed under the case
    owner's data key (see the module's docstring for the stored form)."""

    def __init__(self, transcoder: Transcoder, keys: DataKeys | None) -> None:
        super().__init__(transcoder)
        #: None: personal fields are stored in clear (only to measure what sealing costs)
        self.keys = keys
        self._names: dict[type, tuple[str, ...]] = {}
        self._topics: dict[type, str] = {}

    def names(self, cls: type) -> tuple[str, ...]:
        names = self._names.get(cls)
        if names is None:
            names = self._names[cls] = _event_names(cls)
        return names

    def encode(self, event: Any, case: Any) -> StoredEvent:
        """``event`` of ``case`` as it is stored."""
        subject = None if case is None else (case.workspace, case.owner)
        return self.to_stored_event(event, subject)

    def to_stored_event(
        self, domain_event: Any, subject: tuple[str, str] | None = None
    ) -> StoredEvent:
        cls = type(domain_event)
        topic = self._topics.get(cls)
        if topic is None:
            topic = self._topics[cls] = get_topic(cls)
        state = dict(vars(domain_event))
        originator_id = state.pop("originator_id")
        originator_version = state.pop("originator_version")
        class_version = getattr(cls, "class_version", 1)
        if class_version > 1:
            state["class_version"] = class_version
        names = self.names(cls)
        if names and self.keys is not None:
            snapshot = names is PERSONAL_STATE
            target = state
            if snapshot:
                target = state["state"] = dict(state["state"])
            personal = {n: target.pop(n) for n in names if target.get(n) is not None}
            if personal:
                key = self.keys.for_subject(*(subject or _subject(domain_event, target)))
                if key.erased:
                    if snapshot:
                        raise SubjectErased(f"case {originator_id}: its owner was erased")
                    target.update(dict.fromkeys(personal, ERASED))
                else:
                    aad = _aad(originator_id, originator_version, topic)
                    sealed = key.seal(self.transcoder.encode(personal), aad)
                    state["_personal"] = [key.key_id, base64.b64encode(sealed).decode()]
        return StoredEvent(
            originator_id=originator_id,
            originator_version=originator_version,
            topic=topic,
            state=self.transcoder.encode(state),
        )

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        event = super().to_domain_event(stored_event)
        fields = event.__dict__
        sealed = fields.pop("_personal", None)
        if sealed is None:
            return event
        key_id, text = sealed
        cls = type(event)
        names = self.names(cls)
        target = fields["state"] if names is PERSONAL_STATE else fields
        key = None if self.keys is None else self.keys.by_id(key_id)
        plain = None
        if key is not None:
            aad = _aad(
                stored_event.originator_id, stored_event.originator_version, stored_event.topic
            )
            try:
                plain = key.open(base64.b64decode(text), aad)
            except (InvalidTag, ValueError, binascii.Error):
                raise SealBroken(
                    f"the personal fields of {stored_event.originator_id} version "
                    f"{stored_event.originator_version} do not open: they were altered or "
                    "moved from another event"
                ) from None
        if plain is not None:
            target.update(self.transcoder.decode(plain))
        elif names is PERSONAL_STATE:
            raise SubjectErased(f"snapshot of {stored_event.originator_id}: its owner was erased")
        else:
            # each field sealed is missing from the clear state; each reads as erased
            target.update({n: ERASED for n in names if n not in target})
        return event


def _aad(originator_id: Any, version: int, topic: str) -> bytes:
    return f"{originator_id}\n{version}\n{topic}".encode()


def _subject(event: Any, state: dict[str, Any]) -> tuple[str, str]:
    """Whose an event is, when the caller did not say: an opening or a snapshot names
    its owner; any other event needs its case (``PersonalMapper.encode``)."""
    workspace, owner = state.get("workspace"), state.get("owner")
    if workspace is None or owner is None:
        raise LookupError(
            f"{type(event).__qualname__} of {event.originator_id}: whose personal data it "
            "holds is not known here; encode it with its case"
        )
    return str(workspace), str(owner)
