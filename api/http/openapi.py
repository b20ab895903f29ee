"""What the OpenAPI document says beyond what FastAPI reads off the routes: the request
headers a command reads (``commands.call_for``), the headers of its answer
(``case_headers``, ``respond``, ``replayed``) and of problems (``problems.py``), and the
files some routes answer with. Declared here once; the routes name them."""

from __future__ import annotations

from typing import Any

#: what ``Idempotency-Key`` may be (``commands.idempotency`` checks it)
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"

IDEMPOTENCY_KEY: dict[str, Any] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "A retry with the same key and body gets the first answer and records "
    "nothing; the same key with another body is a 422",
    "schema": {"type": "string", "pattern": IDEMPOTENCY_KEY_PATTERN},
}
IF_MATCH: dict[str, Any] = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "description": 'The case version the command is meant for, as its ETag gave it ("3"); '
    "if the case has moved on: 412",
    "schema": {"type": "string", "examples": ['"3"']},
}

#: a case's version as an entity tag
ETAG_SCHEMA: dict[str, Any] = {"type": "string", "pattern": '^"[0-9]+"$'}
ETAG: dict[str, Any] = {
    "description": 'The case\'s version as an entity tag ("3"): send it back as If-Match',
    "required": True,
    "schema": ETAG_SCHEMA,
}
LOCATION: dict[str, Any] = {
    "description": "The case's path",
    "required": True,
    "schema": {"type": "string"},
}
RECLAIM_POSITION: dict[str, Any] = {
    "description": "Where the command's last event is in the log; left out when it recorded "
    "nothing and on a replayed answer",
    "schema": {"type": "integer", "minimum": 1},
}
IDEMPOTENT_REPLAYED: dict[str, Any] = {
    "description": "The first answer to this Idempotency-Key, given again: nothing was recorded",
    "schema": {"type": "string", "enum": ["true"]},
}
#: on a problem: 412's current version, 503's wait
STALE_ETAG: dict[str, Any] = {
    "description": "The case's version now, when it has moved on from the one If-Match named",
    "schema": ETAG_SCHEMA,
}
RETRY_AFTER: dict[str, Any] = {
    "description": "Seconds to wait before trying again (left out when waiting will not help)",
    "schema": {"type": "integer", "minimum": 1},
}
CONTENT_DISPOSITION: dict[str, Any] = {
    "description": "attachment, with the file's name",
    "required": True,
    "schema": {"type": "string"},
}


def command_parameters(*, on_a_case: bool = True) -> dict[str, Any]:
    """``openapi_extra`` of a command route: the request headers ``call_for`` reads
    (If-Match only where there is a case to be at a version: not when opening one)."""
    return {"parameters": [IDEMPOTENCY_KEY, *([IF_MATCH] if on_a_case else [])]}


def answer_headers(*, created: bool = False) -> dict[str, Any]:
    """The headers of a command's answer: ``case_headers``, ``respond``, ``replayed``."""
    return {
        "ETag": ETAG,
        **({"Location": LOCATION} if created else {}),
        "Reclaim-Position": RECLAIM_POSITION,
        "Idempotent-Replayed": IDEMPOTENT_REPLAYED,
    }


def file_content(*media_types: str) -> dict[str, Any]:
    """A response ``content`` of files: bytes, as a generated client takes them (a JSON
    file is any JSON)."""
    binary = {"type": "string", "format": "binary"}
    return {t: {"schema": {} if t.endswith("json") else binary} for t in media_types}


def text_content(media_type: str) -> dict[str, Any]:
    return {media_type: {"schema": {"type": "string"}}}
