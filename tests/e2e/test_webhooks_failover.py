"""The webhook dispatcher killed outright mid-delivery. It runs in a process of its own,
started by the store's writer: ``kill -9`` of the writer's process takes the dispatcher
along and the next writer's sends what was not acknowledged; ``kill -9`` of the
dispatcher alone, and its writer starts another. Either way every event arrives at
least once, in order per case, and a repeat carries the same ``webhook-id``. Two
``reclaim serve`` processes on one store, on both stores."""

from __future__ import annotations

import os
import signal
import time

import httpx
import pytest

from infrastructure.store.application import ReclaimApplication
from tests.support.api_data import credit_body, when
from tests.support.processes import ServerProcess, alive
from tests.support.receiver import in_order, running_receiver, wait_for

pytestmark = pytest.mark.slow

ENV = {
    "RECLAIM_WEBHOOKS_ALLOW_PRIVATE": "true",
    "RECLAIM_WEBHOOK_RETRY_SECONDS": "[0.2, 0.4, 0.8, 1, 1, 1, 1, 1]",
    "RECLAIM_WEBHOOK_POLL_SECONDS": "0.05",
}


DISPATCHER = "infrastructure.webhooks.process"


@pytest.mark.parametrize("killed", ["writer", "dispatcher"])
def test_kill_9_of_the_dispatcher_loses_nothing(settings, killed: str) -> None:
    app = ReclaimApplication(settings)
    member, _ = app.keys.create("alice", "home", "member")
    admin_key, _ = app.keys.create("dana", "home", "admin")
    app.close()
    first = ServerProcess(settings, **ENV).start()
    second = ServerProcess(settings, **ENV).start()
    try:
        with (
            running_receiver(then="slow", slow_seconds=0.3) as receiver,
            httpx.Client(headers={"Authorization": f"Bearer {admin_key}"}, timeout=30) as admin,
            httpx.Client(headers={"Authorization": f"Bearer {member}"}, timeout=30) as alice,
        ):
            made = admin.post(f"{first.url}/v1/webhooks", json={"url": receiver.url})
            assert made.status_code == 201, made.text
            receiver.secret = made.json()["secret"]
            cases = []
            for n in range(3):
                opened = alice.post(
                    f"{second.url}/v1/credits", json=credit_body(amount=f"{n + 1}.00")
                )
                assert opened.status_code == 201, opened.text
                cases.append(opened.json()["id"])
            for case_id in cases:
                for action, body in (
                    ("submit", {"channel": "email", "occurred_at": when(13)}),
                    ("notes", {"text": "waiting"}),
                    ("deny", {"reason": "no", "occurred_at": when(14)}),
                    ("appeal", {"grounds": "yes", "occurred_at": when(15)}),
                ):
                    answer = alice.post(f"{second.url}/v1/cases/{case_id}/{action}", json=body)
                    assert answer.status_code in (200, 201), answer.text
            expected = {
                e["position"]
                for e in admin.get(f"{second.url}/v1/events", params={"limit": 500}).json()["items"]
            }
            assert len(expected) == 15
            # the dispatcher (started by the first process, the writer) is mid-way: kill it
            # outright, or the writer it runs beside
            wait_for(lambda: len(receiver.got) >= 3, 30, "the first deliveries")
            (dispatcher,) = first.children(DISPATCHER)
            assert not second.children(DISPATCHER)  # (one per store: the writer's)
            # it takes only the cores nothing else wants (RECLAIM_WEBHOOK_IDLE, the default)
            assert os.sched_getscheduler(dispatcher) == os.SCHED_IDLE
            assert os.getpriority(os.PRIO_PROCESS, dispatcher) == 19
            if killed == "writer":
                first.kill_alone()
            else:
                os.kill(dispatcher, signal.SIGKILL)
            killed_at = time.monotonic()
            # (the writer's dispatcher does not outlive it)
            wait_for(lambda: not alive(dispatcher), 10, "the killed dispatcher gone")
            wait_for(lambda: receiver.positions() >= expected, 90, "every event, after the kill")
            assert all(r.verified for r in receiver.got)
            # the rest came from the dispatcher that took over (on the second process)
            assert any(r.at > killed_at for r in receiver.taken())
            taken_over = second if killed == "writer" else first
            assert taken_over.children(DISPATCHER)
            by_case = receiver.versions_by_case()
            for case_id in cases:
                assert in_order(by_case[case_id]), by_case
                assert sorted(set(by_case[case_id])) == [1, 2, 3, 4, 5]
            # a repeat is the same delivery: one webhook-id per event, whoever sent it
            ids: dict[int, set[str]] = {}
            for r in receiver.got:
                ids.setdefault(r.body["data"]["position"], set()).add(r.webhook_id)
            assert all(len(found) == 1 for found in ids.values())
            # and the log says so, once the last outcomes are written
            wait_for(
                lambda: (
                    {
                        d["status"]
                        for d in admin.get(
                            f"{second.url}/v1/webhooks/{made.json()['id']}/deliveries",
                            params={"limit": 200},
                        ).json()["items"]
                    }
                    == {"delivered"}
                ),
                10,
                "every delivery recorded delivered",
            )
    finally:
        first.stop()
        second.stop()
