"""Evidence files: a content-addressed store under ``RECLAIM_DATA_DIR/evidence``.

A file is streamed to a temporary name while its SHA-256 is computed, checked,
then renamed to ``<sha256[:2]>/<sha256>``. Names never come from the client. A
file is written before its ``EvidenceAttached`` event is saved; if the save fails
the file is an orphan, which nothing reads and which a later upload of the same
bytes simply reuses.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from domain.cases import SHA256_HEX

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


class TooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the file is larger than the {limit} byte limit")
        self.limit = limit


class UnsupportedMedia(Exception):
    pass


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
    """Receives one upload in chunks; ``finish`` checks it and files it by its hash."""

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
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()
        if not sniff_matches(self.media_type, self.head, self.tmp_path):
            self.abort()
            raise UnsupportedMedia(f"the file's content is not {self.media_type}")
        sha256 = self.digest.hexdigest()
        target = self.store.path_for(sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(self.tmp_path, target)
        return StoredBlob(sha256=sha256, size=self.size, media_type=self.media_type)

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self.handle.close()
        with contextlib.suppress(FileNotFoundError):
            self.tmp_path.unlink()


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.tmp_dir = root / "tmp"

    def writer(self, media_type: str, limit: int) -> BlobWriter:
        return BlobWriter(self, media_type, limit)

    def put_bytes(self, data: bytes, media_type: str) -> StoredBlob:
        writer = self.writer(media_type, max(len(data), 1))
        writer.write(data)
        return writer.finish()

    def path_for(self, sha256: str) -> Path:
        if not SHA256_HEX.match(sha256):
            raise ValueError("not a SHA-256 hex digest")
        return self.root / sha256[:2] / sha256

    def exists(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    def read(self, sha256: str) -> bytes:
        return self.path_for(sha256).read_bytes()
