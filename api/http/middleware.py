"""ASGI middleware: request ids, body limits, and an access log with no secrets in it."""

from __future__ import annotations

import itertools
import json
import logging
import os
import time
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request
from fastapi.responses import Response
from fastapi.routing import APIRoute

from api.http.deps import valid_request_id
from api.http.problems import PROBLEM_JSON, TYPE_BASE

access_log = logging.getLogger("reclaim.access")


class RequestIds:
    """Ids for the requests that bring none: 32 hex digits, a random half drawn once per
    process and a count, so that a request costs no system call for its id (``uuid4``
    reads the kernel's random source on every request, letting go of the GIL to do
    so; sampled with py-spy at 2 % of a worker's time under load). A forked child draws
    its own half."""

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self.prefix = os.urandom(8).hex()
        self.count = itertools.count(1)

    def __call__(self) -> str:
        return f"{self.prefix}{next(self.count):016x}"


new_request_id = RequestIds()

UPLOAD_SUFFIX = "/evidence"


class RequestContext:
    """Give every request an id (accepted or generated), echo it, and cap JSON bodies.

    The evidence upload route enforces its own, larger limit while it streams.
    """

    def __init__(self, app: Any, *, max_json_bytes: int) -> None:
        self.app = app
        self.max_json_bytes = max_json_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        given = headers.get("x-request-id")
        request_id = given if valid_request_id(given) else new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status_holder = {"status": 500}

        state = {"too_large": False, "replaced": False}

        async def send_with_id(message: dict[str, Any]) -> None:
            if state["replaced"]:
                return
            if state["too_large"] and message["type"] == "http.response.start":
                # the app failed reading a body we cut off: answer 413 instead
                state["replaced"] = True
                await self._too_large(scope, send_with_id_raw)
                return
            await send_with_id_raw(message)

        async def send_with_id_raw(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        breaker = getattr(scope["app"].state, "breaker", None) if "app" in scope else None
        if breaker is not None and breaker.is_open() and scope["path"].startswith(GUARDED):
            await self._unavailable(scope, send_with_id_raw, breaker.retry_after)
            self._log(scope, status_holder["status"], started, request_id)
            return

        unstorable = _nul_in_query(scope.get("query_string", b""))
        if unstorable is not None or "\x00" in scope["path"]:
            field = unstorable or "path"
            await _send_problem(
                scope,
                send_with_id_raw,
                422,
                "Invalid request",
                f"{field}: contains a NUL character (U+0000), which nothing here can hold",
                "invalid-request",
                [],
                errors=[{"field": field, "message": "contains a NUL character (U+0000)"}],
            )
            self._log(scope, status_holder["status"], started, request_id)
            return

        limited = not scope["path"].endswith(UPLOAD_SUFFIX)
        length = headers.get("content-length", "")
        if limited and length.isdigit() and int(length) > self.max_json_bytes:
            await self._too_large(scope, send_with_id_raw)
            self._log(scope, status_holder["status"], started, request_id)
            return

        received = 0

        async def receive_limited() -> dict[str, Any]:
            nonlocal received
            message = await receive()
            if limited and message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_json_bytes:
                    state["too_large"] = True
                    raise BodyTooLarge
            return message

        try:
            await self.app(scope, receive_limited, send_with_id)
        except BodyTooLarge:
            if not state["replaced"]:
                await self._too_large(scope, send_with_id_raw)
        finally:
            self._log(scope, status_holder["status"], started, request_id)

    async def _too_large(self, scope: dict[str, Any], send: Any) -> None:
        detail = f"the request body is larger than {self.max_json_bytes} bytes"
        await _send_problem(
            scope,
            send,
            413,
            "Content too large",
            detail,
            "content-too-large",
            [(b"connection", b"close")],
        )

    async def _unavailable(self, scope: dict[str, Any], send: Any, retry_after: int) -> None:
        detail = "the event store failed moments ago; retry shortly"
        await _send_problem(
            scope,
            send,
            503,
            "Service unavailable",
            detail,
            "store-unavailable",
            [(b"retry-after", str(retry_after).encode())],
        )

    @staticmethod
    def _log(scope: dict[str, Any], status: int, started: float, request_id: str) -> None:
        seconds = time.perf_counter() - started
        # the path and status only: never headers (keys) or bodies (evidence)
        access_log.info(
            "%s %s %s %.1fms rid=%s",
            scope.get("method"),
            scope.get("path"),
            status,
            seconds * 1000,
            request_id,
        )
        metrics = getattr(scope["app"].state, "metrics", None) if "app" in scope else None
        if metrics is not None:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            metrics.observe_request(str(scope.get("method")), route, status, seconds)


class BodyTooLarge(Exception):
    pass


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            # a JSONDecodeError, so FastAPI answers it as the malformed JSON it is (422)
            raise json.JSONDecodeError(f"duplicate key {key!r}", "", 0)
        seen[key] = value
    return seen


class StrictJSONRequest(Request):
    """A request whose JSON body may not name a key twice: a proxy or a log may read the
    first value where Python's json module keeps the last."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = json.loads(await self.body(), object_pairs_hook=_no_duplicate_keys)
        return self._json


class StrictJSONRoute(APIRoute):
    """Every route of Reclaim's API reads its JSON body with ``StrictJSONRequest``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(StrictJSONRequest(request.scope, request.receive))

        return strict


def _nul_in_query(query_string: bytes) -> str | None:
    """The first query parameter holding a NUL (``%00``), which no store can keep: one bad
    request must get its own 4xx, never reach the store as a data error."""
    if b"%00" not in query_string and b"\x00" not in query_string:
        return None
    for name, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if "\x00" in name or "\x00" in value:
            return name.replace("\x00", "") or "query"
    return "query"


async def _send_problem(
    scope: dict[str, Any],
    send: Any,
    status: int,
    title: str,
    detail: str,
    code: str,
    headers: list[tuple[bytes, bytes]],
    **extra: Any,
) -> None:
    body = json.dumps(
        {
            "type": TYPE_BASE + code,
            "title": title,
            "status": status,
            "detail": detail,
            "instance": scope["path"],
            **extra,
        }
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", PROBLEM_JSON.encode()),
                (b"content-length", str(len(body)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


#: what the breaker answers for while the store is down (not /healthz, /readyz, /metrics)
GUARDED = ("/v1/", "/reports", "/app")


class StoreBreaker:
    """After a store failure, answer 503 at once for a moment instead of letting every
    request wait out its own connection timeouts; then let requests probe again."""

    def __init__(self, seconds: float = 2.0) -> None:
        self.seconds = seconds
        self.open_until = 0.0

    @property
    def retry_after(self) -> int:
        return max(1, round(self.seconds))

    def trip(self) -> None:
        self.open_until = time.monotonic() + self.seconds

    def is_open(self) -> bool:
        return time.monotonic() < self.open_until
