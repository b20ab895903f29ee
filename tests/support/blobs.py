"""What the evidence store's tests share: files of a given size, and a second node."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

from infrastructure.settings import Settings

PNG_HEAD = b"\x89PNG\r\n\x1a\n"


def png_of(size: int, salt: bytes = b"") -> bytes:
    """``size`` bytes that pass as a PNG, different for each ``salt``."""
    body = hashlib.sha256(salt).digest() * (size // 32 + 1)
    return (PNG_HEAD + body)[:size]


def another_node(settings: Settings, tmp_path: Path) -> Settings:
    """A second node's settings, with a data directory of its own. On PostgreSQL the same
    database; on SQLite (one host) a backup copy of the database file alone, as a restore
    from a backup would have it."""
    data_dir = tmp_path / "other-node"
    if settings.uses_postgres:
        return settings.model_copy(update={"data_dir": data_dir})
    data_dir.mkdir()
    copy = Settings(data_dir=data_dir, database_url=None)
    with (
        sqlite3.connect(settings.sqlite_path) as source,
        sqlite3.connect(copy.sqlite_path) as target,
    ):
        source.backup(target)
    return copy
