"""Evidence files, kept in the store itself: content-addressed by SHA-256.

Every node reads every file, and a backup of the database holds them all: nothing a
request reads is on one node's disk. A file is kept as ``reclaim_blob_chunks`` rows of
1 MiB (BYTEA on PostgreSQL, BLOB on SQLite) under a ``reclaim_blobs`` row with its
size, all inserted in one transaction, so a file is in the store whole or not at all.

An upload streams to a temporary file while its SHA-256 is computed and its content
checked, then goes into the store a chunk at a time (it is never held in memory
whole); a download streams out the same way. Names never come from the client. A file
is stored before its ``EvidenceAttached`` event is saved; if the save fails the file
is an orphan, which nothing reads and which a later upload of the same bytes reuses.

A file is sealed under its case owner's data key (``personal.py``; ``for_key`` gives
the store as one owner sees it): it is kept under the name ``<key id>/<sha256>``, each
chunk ``nonce ‖ AES-GCM(chunk)`` with the name and the chunk's place as associated data,
so erasing the owner leaves nothing of it readable, and the same bytes uploaded by two
people are two files. Files stored before (named by their SHA-256 alone) are read as
they are.

Files of an older Reclaim, under ``RECLAIM_DATA_DIR/evidence/<sha256[:2]>/<sha256>``,
are moved in at start (``move_files_in``, also ``reclaim blobs migrate``): each is
checked against its name's SHA-256, stored, then removed; a file that does not match
its name is left where it is and logged.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import secrets
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from domain.cases import SHA256_HEX
from infrastructure.store.database import Database
from infrastructure.store.personal import DataKey, SubjectErased

ALLOWED_MEDIA_TYPES = (
    "image/png",
    "image/jpeg",
    "image/webp",
    "application/pdf",
    "text/plain",
    "text/csv",
    "message/rfc822",
    "application/json",
)
_HEADER_LINE = re.compile(rb"^[A-Za-z0-9-]+:[ \t]", re.MULTILINE)
SNIFF_BYTES = 8192
#: the size of every stored chunk but a file's last: a chunk is the most of a file held
#: in memory at once, by an upload's copy into the store or by a download
CHUNK_BYTES = 1024 * 1024
#: what sealing adds to a chunk: its nonce and its tag
SEAL_BYTES = 12 + 16
#: a sealed file's name: its owner's key id, then the SHA-256 of its plain bytes
SEALED_NAME = re.compile(r"^[0-9a-f]{32}/[0-9a-f]{64}$")

log = logging.getLogger("reclaim.blobs")

_CREATE = [
    """CREATE TABLE IF NOT EXISTS reclaim_blobs (
        sha256 TEXT PRIMARY KEY,
        size BIGINT NOT NULL,
        chunks INTEGER NOT NULL,
        stored_at TEXT NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS reclaim_blob_chunks (
        sha256 TEXT NOT NULL,
        seq INTEGER NOT NULL,
        data {binary} NOT NULL,
        PRIMARY KEY (sha256, seq)
    )""",
]


class TooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the file is larger than the {limit} byte limit")
        self.limit = limit


class UnsupportedMedia(Exception):
    pass


class BlobMissing(FileNotFoundError):
    """No file with this SHA-256 in the store."""


class BlobMismatch(ValueError):
    """Bytes offered under a SHA-256 they do not hash to: nothing was stored."""

    def __init__(self, expected: str, actual: str) -> None:
        super().__init__(f"the bytes hash to {actual}, not {expected}")
        self.expected = expected
        self.actual = actual


@dataclass(frozen=True)
class StoredBlob:
    sha256: str
    size: int
    media_type: str


def sniff_matches(media_type: str, head: bytes, path: Path | None = None) -> bool:
    """Whether the first bytes of a file are what its declared media type says."""
    if media_type == "image/png":
        return head.startswith(b"\x89PNG\r\n\x1a\n")
    if media_type == "image/jpeg":
        return head.startswith(b"\xff\xd8\xff")
    if media_type == "image/webp":
        return head[:4] == b"RIFF" and head[8:12] == b"WEBP"
    if media_type == "application/pdf":
        return head.lstrip()[:5] == b"%PDF-"
    if media_type == "message/rfc822":
        # an 8bit body may be in any charset (Latin-1, Shift_JIS ...): only the header is
        # asked to look like one
        return b"\x00" not in head and bool(_HEADER_LINE.match(head.lstrip()))
    if not _is_text(head):
        return False
    if media_type == "application/json":
        return head.lstrip()[:1] in (b"{", b"[") and (path is None or _is_json(path))
    return media_type in ("text/plain", "text/csv")


def _is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # a multi-byte character cut at the end of the sniffed window is still text
        return exc.start >= len(head) - 3
    return True


def _is_json(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            json.load(handle)
    except (ValueError, UnicodeDecodeError):
        return False
    return True


class BlobWriter:
    """Receives one upload in chunks into a temporary file; ``finish`` checks it and
    copies it into the store under its hash."""

    def __init__(self, store: BlobStore, media_type: str, limit: int) -> None:
        if media_type not in ALLOWED_MEDIA_TYPES:
            raise UnsupportedMedia(
                f"{media_type or 'no media type'} is not accepted; send one of "
                + ", ".join(ALLOWED_MEDIA_TYPES)
            )
        self.store = store
        self.media_type = media_type
        self.limit = limit
        self.size = 0
        self.head = b""
        self.digest = hashlib.sha256()
        store.tmp_dir.mkdir(parents=True, exist_ok=True)
        self.tmp_path = store.tmp_dir / f"upload-{secrets.token_hex(8)}"
        self.handle = open(self.tmp_path, "wb")  # noqa: SIM115 - closed in finish/abort

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            self.abort()
            raise TooLarge(self.limit)
        if len(self.head) < SNIFF_BYTES:
            self.head += chunk[: SNIFF_BYTES - len(self.head)]
        self.digest.update(chunk)
        self.handle.write(chunk)

    def finish(self) -> StoredBlob:
        """Check the content, store it (blocking: call it off the event loop) and remove
        the temporary file."""
        sha256 = self.digest.hexdigest()
        try:
            self.handle.close()
            if not sniff_matches(self.media_type, self.head, self.tmp_path):
                raise UnsupportedMedia(f"the file's content is not {self.media_type}")
            with open(self.tmp_path, "rb") as handle:
                self.store.store(sha256, _chunks_of(handle))
        finally:
            self.abort()
        return StoredBlob(sha256=sha256, size=self.size, media_type=self.media_type)

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self.handle.close()
        with contextlib.suppress(FileNotFoundError):
            self.tmp_path.unlink()


@dataclass(frozen=True)
class Blob:
    """A stored file, to be read a chunk at a time (``iter_bytes``)."""

    store: BlobStore
    #: its name in the store: its SHA-256, after its owner's key id when it is sealed
    name: str
    size: int
    chunks: int
    #: the key that opens its chunks (None: they are read as stored)
    key: DataKey | None = None

    @property
    def sha256(self) -> str:
        return self.name.rpartition("/")[2]

    def iter_bytes(self) -> Iterator[bytes]:
        """The file's chunks in order, each its own short read: a slow reader holds no
        connection between them."""
        for seq in range(self.chunks):
            row = self.store.database.fetchone(
                "SELECT data FROM reclaim_blob_chunks WHERE sha256 = %s AND seq = %s",
                (self.name, seq),
            )
            if row is None:
                raise BlobMissing(f"{self.name} has no chunk {seq}")
            data = bytes(row["data"])
            if self.key is not None:
                opened = self.key.open(data, _chunk_aad(self.name, seq))
                if opened is None:
                    raise BlobMissing(f"{self.name}: its owner was erased")
                data = opened
            yield data


@dataclass(frozen=True)
class Moved:
    """What ``move_files_in`` did: files now in the store (and removed from the
    directory), and files left where they were."""

    moved: int
    #: each file left, and why
    left: tuple[tuple[Path, str], ...]


class BlobStore:
    def __init__(
        self, database: Database, tmp_dir: Path | None = None, key: DataKey | None = None
    ) -> None:
        self.database = database
        #: where uploads wait while they arrive: transient, on this node only
        self.tmp_dir = tmp_dir or Path(tempfile.gettempdir()) / "reclaim-uploads"
        #: whose files these are: what is stored is sealed under this key
        self.key = key

    def for_key(self, key: DataKey | None) -> BlobStore:
        """The same store, its files sealed under (and opened with) ``key``."""
        return BlobStore(self.database, self.tmp_dir, key)

    def _name(self, sha256: str) -> str:
        return sha256 if self.key is None else f"{self.key.key_id}/{sha256}"

    def create_tables(self) -> None:
        binary = "BYTEA" if self.database.is_postgres else "BLOB"
        self.database.create_tables([s.format(binary=binary) for s in _CREATE])

    def writer(self, media_type: str, limit: int) -> BlobWriter:
        return BlobWriter(self, media_type, limit)

    def put_bytes(self, data: bytes, media_type: str) -> StoredBlob:
        """Bytes already in memory, checked by content as an upload is."""
        writer = self.writer(media_type, max(len(data), 1))
        writer.write(data)
        return writer.finish()

    def keep(self, data: bytes, media_type: str) -> StoredBlob:
        """Bytes kept exactly as they are, with no content check (the caller's)."""
        sha256 = hashlib.sha256(data).hexdigest()
        view = memoryview(data)
        self.store(sha256, (view[i : i + CHUNK_BYTES] for i in range(0, len(data), CHUNK_BYTES)))
        return StoredBlob(sha256=sha256, size=len(data), media_type=media_type)

    def store(
        self, sha256: str, chunks: Iterable[bytes | memoryview], *, check: bool = False
    ) -> bool:
        """Store the bytes of ``chunks`` (each at most ``CHUNK_BYTES``) under ``sha256``,
        in one transaction; False when the store has them already. With ``check``, bytes
        that do not hash to ``sha256`` are refused (``BlobMismatch``) and nothing is kept."""
        _check_name(sha256)
        key = self.key
        if key is not None and key.erased:
            raise SubjectErased(f"{key.user_id} in {key.workspace} was erased")
        name = self._name(sha256)
        if self._row(name) is not None:
            return False
        digest = hashlib.sha256()
        size = count = 0
        with self.database.transaction() as cursor:
            for chunk in chunks:
                digest.update(chunk)
                data = chunk if key is None else key.seal(bytes(chunk), _chunk_aad(name, count))
                self._insert_chunk(cursor, name, count, data)
                size += len(chunk)
                count += 1
            if check and digest.hexdigest() != sha256:
                raise BlobMismatch(sha256, digest.hexdigest())  # (rolls the chunks back)
            self._insert_blob(cursor, name, size, count)
        return True

    def store_sealed(self, name: str, chunks: Iterable[bytes]) -> bool:
        """A sealed file's chunks as they were stored (an import from another store that
        carries the same keys): they are checked when they are opened, by their tags."""
        if not SEALED_NAME.fullmatch(name):
            raise ValueError("not the name of a sealed file")
        if self._row(name) is not None:
            return False
        size = count = 0
        with self.database.transaction() as cursor:
            for data in chunks:
                self._insert_chunk(cursor, name, count, data)
                size += len(data) - SEAL_BYTES
                count += 1
            self._insert_blob(cursor, name, size, count)
        return True

    @staticmethod
    def _insert_chunk(cursor: Any, name: str, seq: int, data: bytes | memoryview) -> None:
        cursor.execute(
            "INSERT INTO reclaim_blob_chunks (sha256, seq, data) VALUES (%s, %s, %s) "
            "ON CONFLICT DO NOTHING",
            (name, seq, data),
        )

    @staticmethod
    def _insert_blob(cursor: Any, name: str, size: int, count: int) -> None:
        cursor.execute(
            "INSERT INTO reclaim_blobs (sha256, size, chunks, stored_at) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
            (name, size, count, datetime.now(UTC).isoformat(timespec="seconds")),
        )

    def _row(self, name: str) -> dict[str, Any] | None:
        return self.database.fetchone(
            "SELECT size, chunks FROM reclaim_blobs WHERE sha256 = %s", (name,)
        )

    def delete_sealed(self, cursor: Any, key_id: str) -> int:
        """Remove every file sealed under ``key_id`` (an erasure), in the caller's
        transaction; returns how many."""
        pattern = f"{key_id}/%"
        cursor.execute("DELETE FROM reclaim_blob_chunks WHERE sha256 LIKE %s", (pattern,))
        cursor.execute("DELETE FROM reclaim_blobs WHERE sha256 LIKE %s", (pattern,))
        return max(cursor.rowcount, 0)

    def find(self, sha256: str) -> Blob | None:
        """The file with this SHA-256: sealed under this store's key, or stored before
        files were sealed; None if there is neither (or its owner was erased)."""
        if not SHA256_HEX.fullmatch(sha256):
            return None
        key = self.key
        if key is not None:
            row = self._row(self._name(sha256))
            if row is not None:
                if key.erased:
                    return None
                return Blob(self, self._name(sha256), int(row["size"]), int(row["chunks"]), key)
        row = self._row(sha256)
        if row is None:
            return None
        return Blob(self, sha256, int(row["size"]), int(row["chunks"]))

    def stored(self) -> list[Blob]:
        """Every stored file as it is stored, sealed ones sealed (for an export)."""
        rows = self.database.fetchall(
            "SELECT sha256, size, chunks FROM reclaim_blobs ORDER BY sha256"
        )
        return [Blob(self, r["sha256"], int(r["size"]), int(r["chunks"])) for r in rows]

    def exists(self, sha256: str) -> bool:
        return self.find(sha256) is not None

    def read(self, sha256: str) -> bytes:
        """The whole file in memory, for a caller that needs it so (the dossier); a
        download streams it instead (``find(...).iter_bytes()``)."""
        blob = self.find(sha256)
        if blob is None:
            raise BlobMissing(sha256)
        return b"".join(blob.iter_bytes())

    def move_files_in(self, directory: Path) -> Moved:
        """Move an older Reclaim's evidence files (``<directory>/<sha256[:2]>/<sha256>``)
        into the store: each checked against its name, stored, then removed. A file
        that does not hash to its name is left and logged; so is anything else there
        but the old upload folder ``tmp``. Safe to run again, and on several nodes."""
        moved = 0
        left: list[tuple[Path, str]] = []
        if not directory.is_dir():
            return Moved(0, ())
        for folder in sorted(directory.iterdir()):
            if folder.name == "tmp" and folder.is_dir():
                with contextlib.suppress(OSError):
                    folder.rmdir()  # (only when empty: an unfinished upload is left)
                continue
            if not folder.is_dir():
                left.append(_left(folder, "it is not an evidence file"))
                continue
            for path in sorted(folder.iterdir()):
                if not (
                    SHA256_HEX.fullmatch(path.name)
                    and path.name[:2] == folder.name
                    and path.is_file()
                ):
                    left.append(_left(path, "it is not named <sha256[:2]>/<sha256>"))
                    continue
                try:
                    with open(path, "rb") as handle:
                        self.store(path.name, _chunks_of(handle), check=True)
                except BlobMismatch as mismatch:
                    left.append(_left(path, f"its bytes hash to {mismatch.actual}"))
                    continue
                except FileNotFoundError:
                    continue  # another process moved it meanwhile
                except OSError as error:
                    left.append(_left(path, f"it cannot be read: {error.strerror or error}"))
                    continue
                try:
                    path.unlink(missing_ok=True)
                except OSError as error:
                    left.append(_left(path, f"stored, not removed: {error.strerror or error}"))
                    continue
                moved += 1
            with contextlib.suppress(OSError):
                folder.rmdir()
        with contextlib.suppress(OSError):
            directory.rmdir()
        if moved:
            log.info("moved %d evidence files from %s into the store", moved, directory)
        return Moved(moved, tuple(left))


def _chunk_aad(name: str, seq: int) -> bytes:
    return f"{name}\n{seq}".encode()


def _chunks_of(handle: BinaryIO) -> Iterator[bytes]:
    """A file's bytes, ``CHUNK_BYTES`` at a time."""
    while chunk := handle.read(CHUNK_BYTES):
        yield chunk


def _check_name(sha256: str) -> None:
    if not SHA256_HEX.fullmatch(sha256):
        raise ValueError("not a SHA-256 hex digest")


def _left(path: Path, why: str) -> tuple[Path, str]:
    log.warning("evidence file %s left where it is, not moved into the store: %s", path, why)
    return path, why
