"""How mail Reclaim sends names its case, so that replies can be filed without a lookup.

A sent draft's ``Message-ID`` is ``<reclaim.{case id hex}.{nonce}.{mac}@{domain}>`` and
its subject ends with a tag ``[Reclaim {case id hex[:8]}-{mac}]``. Each ``mac`` is an
HMAC (the store's ``mail-ref-hmac`` key, ``infrastructure/store/shared_keys.py``) over
what precedes it, so mail from outside cannot name a case it did not get a message from:
a guessed or altered reference is simply not matched. The subject tag names only the
first 8 hex digits of the case id; its MAC is over the whole id, so the intake checks
the tag against the workspace's cases that begin with them.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from uuid import UUID

from infrastructure.store.database import Database
from infrastructure.store.shared_keys import MAIL_REF_KEY, shared_key

_MID = re.compile(r"<?reclaim\.([0-9a-f]{32})\.([0-9a-f]{16})\.([0-9a-f]{16})@[^>\s]+>?")
_TAG = re.compile(r"\[Reclaim ([0-9a-f]{8})-([0-9a-f]{10})\]", re.IGNORECASE)


def _mac(key: bytes, text: str, length: int) -> str:
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()[:length]


def key_of(database: Database) -> bytes:
    """The store's key for mail references (the same on every node)."""
    return shared_key(database, MAIL_REF_KEY)


def message_id(key: bytes, case_id: UUID, domain: str) -> str:
    """A new ``Message-ID`` for mail sent about ``case_id``, with its angle brackets."""
    body = f"reclaim.{case_id.hex}.{secrets.token_hex(8)}"
    return f"<{body}.{_mac(key, body, 16)}@{domain}>"


def case_of_message_id(key: bytes, value: str) -> UUID | None:
    """The case a ``Message-ID`` (or one of a ``References`` list) we made names, or None
    for one we did not make (or one that was altered)."""
    for match in _MID.finditer(value or ""):
        case_hex, nonce, mac = match.groups()
        body = f"reclaim.{case_hex}.{nonce}"
        if hmac.compare_digest(_mac(key, body, 16), mac):
            return UUID(hex=case_hex)
    return None


def subject_tag(key: bytes, case_id: UUID) -> str:
    """The tag put at the end of a sent subject: ``[Reclaim 1a2b3c4d-0123456789]``."""
    return f"[Reclaim {case_id.hex[:8]}-{_mac(key, 'tag.' + case_id.hex, 10)}]"


def tagged(key: bytes, subject: str, case_id: UUID) -> str:
    """``subject`` with the case's tag, once (a subject already tagged is kept as it is)."""
    tag = subject_tag(key, case_id)
    return subject if tag.lower() in subject.lower() else f"{subject} {tag}"


def tag_prefixes(subject: str) -> list[tuple[str, str]]:
    """Each ``(first 8 hex digits, mac)`` tag found in ``subject``."""
    return [(m.group(1).lower(), m.group(2).lower()) for m in _TAG.finditer(subject or "")]


def tag_matches(key: bytes, case_id: UUID, mac: str) -> bool:
    """Whether a tag's ``mac`` is the one ``case_id`` would carry."""
    return hmac.compare_digest(_mac(key, "tag." + case_id.hex, 10), mac.lower())
