"""Paging cursors, signed: a client passes back only what a list gave out.

A cursor is its content (compact JSON, base64url) and an HMAC-SHA256 over that content,
joined by a dot. The key is the database's own (``infrastructure/store/shared_keys.py``),
so a cursor given out by one node leads on at every node serving the same database.
Opening a cursor only says that the list gave it out; what is inside is still checked
by whoever reads it (``queries.list_cases``), as if it had come from anywhere.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from typing import Any

#: longer than any cursor given out (about 170 characters), shorter than the API's limit
MAX_CHARS = 500
_PART = re.compile(r"[A-Za-z0-9_-]+")
#: what the HMAC covers besides the content: which list, which version of the format
_CONTEXT = b"reclaim-case-list-cursor-v1\n"


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, content: bytes) -> bytes:
    return hmac.new(key, _CONTEXT + content, hashlib.sha256).digest()


def sign(key: bytes, parts: list[Any]) -> str:
    """A cursor holding ``parts`` (JSON values)."""
    content = json.dumps(parts, separators=(",", ":"), ensure_ascii=True).encode("ascii")
    return f"{_b64(content)}.{_b64(_mac(key, content))}"


def open_signed(key: bytes, cursor: str) -> list[Any] | None:
    """The parts of a cursor signed with ``key``; None for anything else (not a cursor,
    tampered with, signed with another key), whatever it holds."""
    if not isinstance(cursor, str) or len(cursor) > MAX_CHARS:
        return None
    content_text, dot, mac_text = cursor.partition(".")
    if not dot or not _PART.fullmatch(content_text) or not _PART.fullmatch(mac_text):
        return None
    try:
        content = _unb64(content_text)
    except (ValueError, binascii.Error):
        return None
    # compared as the text it is sent as: base64 leaves a last character's low bits
    # unused, so a second spelling of the same MAC decodes to the same bytes
    if not hmac.compare_digest(mac_text, _b64(_mac(key, content))):
        return None
    try:
        parts = json.loads(content)
    except ValueError:
        return None
    return parts if isinstance(parts, list) else None
