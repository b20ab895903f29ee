"""The ZIP archives Reclaim hands out (a case's dossier, a person's own data): written an
entry at a time, each entry's path, size and SHA-256 kept for the ``manifest.json`` that
ends the archive, so anyone can check the files with ``sha256sum``.

An entry can be written from chunks (``add_chunks``), so an evidence file goes in without
being held in memory whole.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import zipfile
from collections.abc import Iterable
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, BinaryIO

MEDIA_TYPE = "application/zip"
MANIFEST_NAME = "manifest.json"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_EXTENSIONS = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/webp": ".webp",
    "application/pdf": ".pdf",
    "text/plain": ".txt",
    "text/csv": ".csv",
    "message/rfc822": ".eml",
    "application/json": ".json",
}


def safe_name(filename: object, media_type: object = None, fallback: str = "evidence") -> str:
    """A file name that is safe in any ZIP tool: ASCII letters, digits, . _ - only."""
    ascii_name = unicodedata.normalize("NFKD", str(filename or "")).encode("ascii", "ignore")
    name = _UNSAFE.sub("-", ascii_name.decode()).strip(".-")[:80].strip(".-")
    if not name:
        name = fallback + _EXTENSIONS.get(str(media_type), "")
    return name


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def zip_time(moment: datetime) -> tuple[int, int, int, int, int, int]:
    utc = moment.astimezone(UTC)
    return (max(utc.year, 1980), utc.month, utc.day, utc.hour, utc.minute, utc.second)


class ManifestedZip:
    """A ZIP written to ``target`` (a file opened for binary writing) entry by entry:
    deflated, every entry stamped with one time and mode 0644. ``files`` lists what was
    written so far, in order, as the manifest names it: ``{"path", "sha256", "size"}``."""

    def __init__(self, target: BinaryIO, made_at: datetime) -> None:
        self._zip = zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED)
        self._stamp = zip_time(made_at)
        self.files: list[dict[str, Any]] = []

    def __contains__(self, path: object) -> bool:
        return any(f["path"] == path for f in self.files)

    def _info(self, path: str) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(path, date_time=self._stamp)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        return info

    def _record(self, path: str, sha256: str, size: int) -> dict[str, Any]:
        entry = {"path": path, "sha256": sha256, "size": size}
        self.files.append(entry)
        return entry

    def add(self, path: str, content: bytes) -> dict[str, Any]:
        self._zip.writestr(self._info(path), content)
        return self._record(path, sha256_hex(content), len(content))

    def add_chunks(self, path: str, chunks: Iterable[bytes], size: int = 0) -> dict[str, Any]:
        """An entry written a chunk at a time; ``size`` is what it is expected to come to
        (a file over 2 GiB needs its ZIP64 header announced before it is written)."""
        info = self._info(path)
        info.file_size = size
        digest = hashlib.sha256()
        written = 0
        with self._zip.open(info, "w") as entry:
            for chunk in chunks:
                entry.write(chunk)
                digest.update(chunk)
                written += len(chunk)
        return self._record(path, digest.hexdigest(), written)

    def close(self) -> None:
        self._zip.close()

    def __enter__(self) -> ManifestedZip:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
