"""A real webhook receiver for the tests: a uvicorn app on a free loopback port that
verifies every delivery's signature with the ``standardwebhooks`` package, answers as
its plan says (fail, answer slowly, answer 410, or take it), and records what it got."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from tests.support.live import free_port, wait_for  # noqa: F401 - (its tests import it here)


@dataclass
class Received:
    webhook_id: str
    verified: bool
    body: dict[str, Any]
    answered: int
    at: float


@dataclass
class Receiver:
    url: str = ""
    secret: str | None = None
    #: how to answer each request in turn ("fail", "slow", "gone", "ok"), then ``then``
    plan: list[str] = field(default_factory=list)
    then: str = "ok"
    slow_seconds: float = 1.0
    #: the body of every answer (a hostile one shows that pages escape it)
    answer_text: str = "thanks"
    got: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle(self, request: Request) -> PlainTextResponse:
        raw = await request.body()
        verified = False
        if self.secret is not None:
            try:
                Webhook(self.secret).verify(raw, dict(request.headers))
                verified = True
            except WebhookVerificationError:
                verified = False
        with self.lock:
            step = self.plan.pop(0) if self.plan else self.then
        if step == "slow":
            await asyncio.sleep(self.slow_seconds)
        status = {"fail": 500, "gone": 410}.get(step, 200)
        if not verified:
            status = 400
        with self.lock:
            self.got.append(
                Received(
                    request.headers.get("webhook-id", ""),
                    verified,
                    json.loads(raw or b"{}"),
                    status,
                    time.monotonic(),
                )
            )
        return PlainTextResponse(self.answer_text, status_code=status)

    # --- what it got -----------------------------------------------------------------
    def taken(self) -> list[Received]:
        """The deliveries it answered 2xx, in the order they came."""
        with self.lock:
            return [r for r in self.got if 200 <= r.answered < 300]

    def positions(self) -> set[int]:
        return {r.body["data"]["position"] for r in self.taken()}

    def versions_by_case(self) -> dict[str, list[int]]:
        """Each case's versions in the order they arrived (repeats included)."""
        found: dict[str, list[int]] = {}
        with self.lock:
            for r in self.got:
                data = r.body.get("data", {})
                found.setdefault(data.get("case_id"), []).append(data.get("version"))
        return found


@contextmanager
def running_receiver(**kwargs: Any) -> Iterator[Receiver]:
    receiver = Receiver(**kwargs)
    app = Starlette(routes=[Route("/hook", receiver.handle, methods=["POST"])])
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the receiver did not start")
        time.sleep(0.01)
    receiver.url = f"http://127.0.0.1:{port}/hook"
    try:
        yield receiver
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def in_order(versions: list[int]) -> bool:
    """A case's versions as they arrived: each new one is the next after the last new one
    (a repeat of one already seen is allowed: at least once)."""
    seen: list[int] = []
    for v in versions:
        if v in seen:
            continue
        if seen and v != seen[-1] + 1:
            return False
        seen.append(v)
    return True
