"""What every command route reads off the request and how it answers.

A route reads its body, then hands the service layer (``CaseCommands``) the caller,
the request id, the version ``If-Match`` names, the ``Idempotency-Key`` with the
request's fingerprint, and how to answer (``case_answer``). The service does the
rest; the route turns its reply into a response.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import re
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from api.http.openapi import IDEMPOTENCY_KEY_PATTERN
from api.http.presenters import present_case
from api.http.problems import ProblemError, invalid
from domain.cases import Case
from infrastructure.service.commands import AlreadyAnswered, Answer, Call, Done, Idempotency, Reply
from infrastructure.store.idempotency import IdempotencyRecord
from infrastructure.store.keys import Principal
from infrastructure.store.node import Node

_IF_MATCH = re.compile(r'^\s*(?:W/)?"?(\d{1,18})"?\s*$')
_IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)


def parse_if_match(value: str | None) -> int | None:
    if value is None or value.strip() == "*":
        return None
    match = _IF_MATCH.match(value)
    if not match:
        raise ProblemError(
            412,
            "Precondition failed",
            'If-Match must be a case version as an entity tag, e.g. "3"',
            code="version-mismatch",
        )
    return int(match.group(1))


def expected_version(request: Request) -> int | None:
    return parse_if_match(request.headers.get("If-Match"))


def fingerprint(request: Request, payload: Any) -> str:
    canonical = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(f"{request.method} {request.url.path}\n{canonical}".encode()).hexdigest()


def idempotency(request: Request, payload: Any) -> Idempotency | None:
    """The request's Idempotency-Key (checked) with the fingerprint of ``payload``."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not _IDEMPOTENCY_KEY.match(key):
        raise invalid(
            "Idempotency-Key",
            "1-255 printable characters",
            "Idempotency-Key must be 1-255 printable characters",
        )
    return Idempotency(key, fingerprint(request, payload))


def case_headers(request: Request, case: Case, status: int = 200) -> dict[str, str]:
    """The case's ETag; and its Location when the answer made it (a 201)."""
    headers = {"ETag": f'"{case.version}"'}
    if status == 201:
        headers["Location"] = _case_path(request).format(case.id)
    return headers


def _case_path(request: Request) -> str:
    """``GET /v1/cases/{id}``'s path (under the app's root path), with ``{}`` for the id:
    looked up once per app (``url_for`` walks every route, on every command)."""
    state = request.app.state
    template: str | None = getattr(state, "case_path", None)
    if template is None:
        template = state.case_path = str(request.app.url_path_for("get_case", case_id="{}"))
    return str(request.scope.get("root_path", "")) + template


def json_reply(request: Request, case: Case, status: int, body: Any) -> Reply:
    if hasattr(body, "model_dump_json"):
        text = body.model_dump_json()
    else:
        text = json.dumps(body, separators=(",", ":"))
    return Reply(status, text, case_headers(request, case, status))


def case_answer(request: Request, status: int = 200) -> Answer:
    """Answer with the case as ``GET /v1/cases/{id}`` shows it."""
    settings = request.app.state.reclaim.settings
    return lambda case: json_reply(request, case, status, present_case(case, settings))


def call_for(
    request: Request,
    caller: Principal,
    payload: Any,
    *,
    status: int = 200,
    answer: Answer | None = None,
) -> Call:
    """The Call of a command route: the caller, the request id, Idempotency-Key (with the
    fingerprint of ``payload``), If-Match, and the answer (the case, by default)."""
    key = idempotency(request, payload)
    return Call(
        by=caller,
        request_id=request.state.request_id,
        expected_version=expected_version(request),
        idempotency=key,
        answer=answer or case_answer(request, status),
    )


def respond(done: Done) -> Response:
    """The live answer: the reply, with the log position."""
    reply = done.reply
    assert reply is not None, "a command route always gives an answer"
    headers = dict(reply.headers)
    if done.position is not None:
        headers["Reclaim-Position"] = str(done.position)
    return Response(
        reply.body.encode(),
        status_code=reply.status,
        media_type="application/json",
        headers=headers,
    )


def replayed(record: IdempotencyRecord) -> Response:
    """A request answered before, answered the same way again (records kept before
    ``case_headers`` left Location out of a 200 lose it here, as their live answer did)."""
    headers = dict(record.headers)
    if record.status != 201:
        headers.pop("Location", None)
    return Response(
        record.body.encode(),
        status_code=record.status,
        media_type="application/json",
        headers={**headers, "Idempotent-Replayed": "true"},
    )


@contextlib.contextmanager
def counted(request: Request, action: str) -> Iterator[None]:
    """Count the command by its outcome for /metrics."""
    metrics = getattr(request.app.state, "metrics", None)
    outcome = "ok"
    try:
        yield
    except AlreadyAnswered:
        outcome = "replayed"
        raise
    except Exception as exc:
        outcome = type(exc).__name__
        raise
    finally:
        if metrics is not None:
            metrics.commands.labels(action, outcome).inc()


def on_the_writer(route: Callable[..., Response]) -> Callable[..., Awaitable[Response]]:
    """A command route run by the process's node (``store/node.py``): on the store's
    writer, on its command writer, not in the thread pool; on a follower, on a thread,
    its save forwarded to the writer. FastAPI sees an ``async`` route with the same
    parameters, and the route's own code runs as it is."""

    @functools.wraps(route)
    async def on_writer(**kwargs: Any) -> Response:
        node: Node = kwargs["request"].app.state.node
        return await node.run(lambda: route(**kwargs), key=kwargs.get("case_id"))

    return on_writer
