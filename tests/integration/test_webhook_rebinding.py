"""DNS rebinding gains nothing (``infrastructure/webhooks/safety.py``): a host name that
resolved to a public address when its endpoint was registered, and resolves to a
loopback address when the dispatcher connects, is refused at that connection. The
attempt is recorded as failed with the reason, and nothing reaches the receiver.

The resolver is faked at the seam safety.py uses: ``loop.getaddrinfo`` of a plain
asyncio loop calls ``socket.getaddrinfo``, which the test replaces in this process for
one made-up name only (every other name still goes to the real resolver). The
dispatcher runs here, on such a loop, against a real store (both kinds) and a real
receiver listening on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest

from infrastructure.bootstrap import bootstrap
from infrastructure.read import feed
from infrastructure.settings import Settings
from infrastructure.webhooks import safety
from infrastructure.webhooks.dispatcher import Dispatcher
from tests.support.commands import as_users
from tests.support.factories import NOW, credit_facts
from tests.support.receiver import running_receiver

#: a name no real resolver knows: only the fake below answers it
HOST = "hooks.rebinding.test"
#: a global address (documentation ranges are not global: this one is example.com's)
PUBLIC = "93.184.215.14"


class Rebinding:
    """``socket.getaddrinfo`` that answers ``HOST`` with ``answer`` (the addresses, in
    order) and passes every other name to the real one."""

    def __init__(self, real: Callable[..., Any]) -> None:
        self.real = real
        self.answer = [PUBLIC]
        self.asked = 0

    def __call__(self, host: Any, port: Any, family: int = 0, type: int = 0, *rest: Any) -> Any:  # noqa: A002
        if host != HOST:
            return self.real(host, port, family, type, *rest)
        self.asked += 1
        return [
            (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, int(port)))
            for address in self.answer
        ]


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> Rebinding:
    fake = Rebinding(socket.getaddrinfo)
    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return fake


def deliver_once(settings: Settings, resolver: Rebinding, at_delivery: list[str]):
    """Register an endpoint on ``HOST`` (resolving to the public address), record an event,
    let the name resolve to ``at_delivery``, and run the dispatcher until its first
    attempt is recorded. Returns the delivery, its attempts and the receiver."""
    with running_receiver() as receiver, bootstrap(settings) as services:
        store = services.store
        url = f"http://{HOST}:{urlsplit(receiver.url).port}/hook"
        # registration: the name resolves to a public address, so it is accepted
        safety.check_url(url, allow_private=settings.webhooks_allow_private)
        endpoint, receiver.secret = store.webhooks.add(
            "ws-1", url, [], "", by="admin", after_position=feed.last_position(store.database)
        )
        as_users(store).open_credit(**credit_facts(), now=NOW)
        asked_at_registration = resolver.asked

        resolver.answer = at_delivery  # the name's owner points it elsewhere

        async def until_attempted() -> list[dict[str, Any]]:
            dispatcher = Dispatcher(store.database, store.webhooks, settings)
            dispatcher.start()
            try:
                deadline = time.monotonic() + 20
                while time.monotonic() < deadline:
                    found = await asyncio.to_thread(
                        store.webhooks.deliveries, "ws-1", endpoint["id"]
                    )
                    if found and found[0]["attempt_log"]:
                        return found
                    await asyncio.sleep(0.05)
                raise AssertionError("no attempt was recorded in 20 s")
            finally:
                await dispatcher.aclose()

        deliveries = asyncio.run(until_attempted())
        assert resolver.asked > asked_at_registration, "resolved again to connect"
        time.sleep(0.3)  # (anything on its way to the receiver has arrived)
        return deliveries, list(receiver.got)


@pytest.mark.parametrize(
    "at_delivery",
    [["127.0.0.1"], [PUBLIC, "127.0.0.1"], ["::ffff:127.0.0.1"], ["169.254.169.254"]],
    ids=["loopback", "one-of-them-loopback", "ipv4-mapped-loopback", "link-local"],
)
def test_a_name_rebound_to_an_inner_address_is_refused_at_connect_time(
    store: str, settings_for, resolver: Rebinding, at_delivery: list[str]
) -> None:
    settings = settings_for(store, webhook_poll_seconds=0.05, webhook_timeout_seconds=3)
    assert not settings.webhooks_allow_private  # (the default)
    deliveries, got = deliver_once(settings, resolver, at_delivery)

    [delivery] = deliveries
    [attempt] = delivery["attempt_log"]
    inner = at_delivery[-1].removeprefix("::ffff:")
    assert attempt["status_code"] is None and attempt["response"] == ""
    assert attempt["error"].startswith(f"refused: the URL resolves to {inner}, "), attempt
    assert "RECLAIM_WEBHOOKS_ALLOW_PRIVATE" in attempt["error"]
    # a failed attempt: kept pending for its next try, as any failure is
    assert delivery["status"] == "pending" and delivery["attempts"] == 1
    assert delivery["last_status"] is None and delivery["last_error"] == attempt["error"]
    assert got == [], "nothing reached the receiver"


def test_the_connection_goes_to_the_address_that_was_checked(
    store: str, settings_for, resolver: Rebinding
) -> None:
    """The control: where private addresses are allowed, the same name resolving to
    127.0.0.1 is delivered to, over a connection to that very address (no real resolver
    knows the name), with the signature intact."""
    settings = settings_for(
        store, webhook_poll_seconds=0.05, webhook_timeout_seconds=3, webhooks_allow_private=True
    )
    deliveries, got = deliver_once(settings, resolver, ["127.0.0.1"])
    [delivery] = deliveries
    assert delivery["attempt_log"][0]["status_code"] == 200, delivery["attempt_log"]
    assert [(r.webhook_id, r.verified) for r in got] == [(delivery["id"], True)]
