"""The feed, its stream and webhooks over real HTTP, on both stores: a real receiver
(``tests/support/receiver.py``) that verifies signatures with ``standardwebhooks``, fails
the first attempts, answers slowly, then 410; and another workspace that never sees any
of it."""

from __future__ import annotations

import json
import threading
import time

import httpx
import pytest

from infrastructure.settings import Settings
from infrastructure.store.application import ReclaimApplication
from tests.support.api_data import credit_body, when
from tests.support.live import PRINCIPALS, Principals, live_server
from tests.support.receiver import in_order, running_receiver, wait_for

#: fast retries, a quick dispatcher, and the receiver's loopback address allowed
FAST = {
    "webhooks_allow_private": True,
    "webhook_retry_seconds": [0.2, 0.4, 0.8, 1, 1, 1],
    "webhook_poll_seconds": 0.05,
    "webhook_failing_after": 2,
    "webhook_timeout_seconds": 5,
    "events_stream_seconds": 5,
}


def principals_on(settings: Settings):
    setup = ReclaimApplication(settings)
    keys = {}
    for name, (user, workspace, role) in PRINCIPALS.items():
        keys[name], _ = setup.keys.create(user, workspace, role)
    keys["foreign_admin"], _ = setup.keys.create("fred", "agency", "admin")
    setup.close()
    return keys


@pytest.fixture
def hooks(store: str, settings_for):
    settings = settings_for(store, **FAST)
    keys = principals_on(settings)
    with live_server(settings) as base_url:
        principals = Principals(base_url, keys)
        try:
            yield principals
        finally:
            principals.close()


def open_case(client: httpx.Client, **overrides) -> str:
    answer = client.post("/v1/credits", json=credit_body(**overrides))
    assert answer.status_code == 201, answer.text
    return answer.json()["id"]


def act(client: httpx.Client, case_id: str, action: str, body: dict) -> None:
    answer = client.post(f"/v1/cases/{case_id}/{action}", json=body)
    assert answer.status_code in (200, 201), answer.text


def story(client: httpx.Client, case_id: str) -> None:
    act(
        client, case_id, "submit", {"channel": "email", "reference": "T-1", "occurred_at": when(13)}
    )
    act(client, case_id, "notes", {"text": "called them"})
    act(client, case_id, "deny", {"reason": "too late", "occurred_at": when(14)})


def feed_of(client: httpx.Client, after: int = 0) -> list[dict]:
    items: list[dict] = []
    while True:
        page = client.get("/v1/events", params={"after": after, "limit": 3})
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        if len(page.json()["items"]) < 3:
            return items
        after = page.json()["next_after"]


def test_the_feed_pages_by_position_within_the_callers_reach(hooks) -> None:
    alice, bob = hooks["owner"], hooks["other_member"]
    mine, theirs = open_case(alice), open_case(bob, platform="shein")
    story(alice, mine)
    foreign = open_case(hooks["foreign_member"])

    own = feed_of(alice)
    assert [(e["case_id"], e["version"]) for e in own] == [(mine, v) for v in range(1, 5)]
    assert [e["type"] for e in own] == ["opened", "submitted", "note_added", "denied"]
    assert [e["case"]["state"] for e in own] == ["opened", "submitted", "submitted", "denied"]
    assert own[0]["case"] == {
        "kind": "credit",
        "platform": "temu",
        "state": "opened",
        "outcome": None,
        "currency": "USD",
        "amount_claimed": "25.00",
        "amount_recovered": "0.00",
    }
    # nothing personal: no reference, note text or reason anywhere in the feed
    text = json.dumps(own)
    assert "temu-4411" not in text and "called them" not in text and "too late" not in text
    positions = [e["position"] for e in own]
    assert positions == sorted(positions)
    # resuming after a position gives what follows it
    assert feed_of(alice, positions[1]) == own[2:]
    whole = feed_of(hooks["auditor"])
    assert {e["case_id"] for e in whole} == {mine, theirs}
    assert foreign not in {e["case_id"] for e in feed_of(hooks["admin"])}
    # another workspace: none of these events, and a 404 for one of its cases
    assert {e["case_id"] for e in feed_of(hooks["foreign_auditor"])} == {foreign}
    assert hooks["foreign_auditor"].get("/v1/events", params={"case_id": mine}).status_code == 404
    assert hooks["other_member"].get("/v1/events", params={"case_id": mine}).status_code == 404
    assert (
        hooks["foreign_auditor"].get("/v1/events/stream", params={"case_id": mine}).status_code
        == 404
    )
    assert hooks["anonymous"].get("/v1/events").status_code == 401


def read_stream(client: httpx.Client, frames: int, **kwargs) -> list[dict]:
    got: list[dict] = []
    with client.stream("GET", "/v1/events/stream", **kwargs) as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/event-stream")
        event: dict = {}
        for line in answer.iter_lines():
            if line.startswith("id: "):
                event["id"] = int(line[4:])
            elif line.startswith("data: "):
                event["data"] = json.loads(line[6:])
            elif line == "" and event:
                got.append(event)
                event = {}
                if len(got) >= frames:
                    break
    return got


def test_the_stream_resumes_after_last_event_id(hooks) -> None:
    alice = hooks["owner"]
    case_id = open_case(alice)
    story(alice, case_id)
    all_of_it = read_stream(alice, 4, params={"after": 0})
    assert [f["data"]["version"] for f in all_of_it] == [1, 2, 3, 4]
    assert [f["id"] for f in all_of_it] == [f["data"]["position"] for f in all_of_it]
    resumed = read_stream(alice, 2, headers={"Last-Event-ID": str(all_of_it[1]["id"])})
    assert [f["data"]["version"] for f in resumed] == [3, 4]

    # from now on: a new event arrives while the stream is open
    def later() -> None:
        time.sleep(0.5)
        act(alice, case_id, "appeal", {"grounds": "the rules say 90 days", "occurred_at": when(15)})

    threading.Thread(target=later).start()
    live = read_stream(alice, 1)
    assert live[0]["data"]["type"] == "appealed"
    # another workspace's stream never carries these
    foreign = hooks["foreign_member"]
    open_case(foreign)
    theirs = read_stream(foreign, 1, params={"after": 0})
    assert theirs[0]["data"]["case_id"] != case_id


def register(admin: httpx.Client, url: str, **body) -> dict:
    answer = admin.post("/v1/webhooks", json={"url": url, **body})
    assert answer.status_code == 201, answer.text
    assert answer.json()["secret"].startswith("whsec_")
    return answer.json()


def test_webhooks_are_signed_retried_in_order_and_stop_at_410(hooks) -> None:
    admin, alice = hooks["admin"], hooks["owner"]
    with running_receiver(plan=["fail", "fail", "slow"], slow_seconds=1.0) as receiver:
        made = register(admin, receiver.url, description="crm")
        receiver.secret = made["secret"]
        listed = admin.get("/v1/webhooks").json()["items"]
        assert [w["id"] for w in listed] == [made["id"]] and "secret" not in listed[0]
        cases = [open_case(alice), open_case(alice, platform="shein")]
        for case_id in cases:
            story(alice, case_id)
        foreign_case = open_case(hooks["foreign_member"])
        expected = {e["position"] for e in feed_of(admin)}

        wait_for(lambda: receiver.positions() >= expected, 60, "every event delivered")
        assert all(r.verified for r in receiver.got), "every delivery verifies"
        for case_id in cases:
            assert in_order(receiver.versions_by_case()[case_id]), receiver.versions_by_case()
        assert foreign_case not in receiver.versions_by_case()
        first = receiver.got[0]
        assert first.body["type"] == "case.opened"

        # the delivery log: the first delivery to arrive (one case's opening: the two
        # cases' lanes go side by side) failed twice, then was taken (outcomes are
        # written a tenth of a second or so after they come in)
        def delivery_log() -> dict:
            return admin.get(f"/v1/webhooks/{made['id']}/deliveries", params={"limit": 200}).json()

        wait_for(
            lambda: {d["status"] for d in delivery_log()["items"]} == {"delivered"},
            10,
            "every outcome written",
        )
        log = delivery_log()
        by_position = {d["position"]: d for d in log["items"]}
        assert set(by_position) == expected
        opened = {d["id"]: d for d in log["items"]}[first.webhook_id]
        assert opened["status"] == "delivered"
        codes = [a["status_code"] for a in opened["attempt_log"]]
        assert codes[0] == 500 and codes[-1] == 200, codes
        assert opened["attempt_log"][0]["response"] == "thanks"
        attempts = [a for d in log["items"] for a in d["attempt_log"]]
        assert [a["status_code"] for a in attempts].count(500) == 2
        assert max(a["latency_ms"] for a in attempts) >= 900  # (one answered slowly)

        # redelivery sends the same webhook-id again
        count = len(receiver.got)
        again = admin.post(f"/v1/webhooks/{made['id']}/deliveries/{opened['id']}/redeliver")
        assert again.status_code == 202, again.text
        wait_for(lambda: len(receiver.got) > count, 10, "the redelivery")
        assert receiver.got[-1].webhook_id == opened["id"]
        # its log keeps every attempt, the first time's taken one included
        wait_for(
            lambda: (
                {d["id"]: d for d in delivery_log()["items"]}[opened["id"]]["attempts"]
                == len(codes) + 1
            ),
            10,
            "the redelivery's outcome written",
        )
        again_log = {d["id"]: d for d in delivery_log()["items"]}[opened["id"]]
        assert again_log["status"] == "delivered"
        assert [a["status_code"] for a in again_log["attempt_log"]] == [*codes, 200]
        assert [a["attempt"] for a in again_log["attempt_log"]] == list(range(1, len(codes) + 2))

        # 410: the endpoint is disabled, its backlog and history kept, nothing more sent
        receiver.then = "gone"
        act(alice, cases[0], "appeal", {"grounds": "x", "occurred_at": when(15)})
        wait_for(
            lambda: admin.get(f"/v1/webhooks/{made['id']}").json()["status"] == "disabled",
            20,
            "the endpoint disabled",
        )
        count = len(receiver.got)
        act(alice, cases[1], "appeal", {"grounds": "y", "occurred_at": when(15)})
        time.sleep(1.0)
        assert len(receiver.got) == count
        # the one answered 410 is kept pending (with the rest of a backlog, were there one);
        # events after the endpoint was disabled are not queued for it
        log = admin.get(f"/v1/webhooks/{made['id']}/deliveries").json()["items"]
        assert log[0]["status"] == "pending" and log[0]["last_status"] == 410, log[:2]
        assert log[0]["case_id"] == cases[0]


def test_a_failing_endpoint_is_marked_and_removal_keeps_history(hooks) -> None:
    admin, alice = hooks["admin"], hooks["owner"]
    with running_receiver(then="fail", answer_text="<script>alert(1)</script>") as receiver:
        made = register(admin, receiver.url, event_types=["denied"])
        receiver.secret = made["secret"]
        case_id = open_case(alice)
        story(alice, case_id)
        wait_for(
            lambda: admin.get(f"/v1/webhooks/{made['id']}").json()["status"] == "failing",
            20,
            "the endpoint marked failing",
        )
        assert {r.body["type"] for r in receiver.got} == {"case.denied"}
        assert admin.delete(f"/v1/webhooks/{made['id']}").status_code == 204
        kept = admin.get(f"/v1/webhooks/{made['id']}").json()
        assert kept["status"] == "disabled"
        log = admin.get(f"/v1/webhooks/{made['id']}/deliveries").json()["items"]
        assert log and log[0]["attempt_log"][0]["response"] == "<script>alert(1)</script>"


def test_webhook_routes_are_an_admins_of_their_own_workspace(hooks) -> None:
    admin = hooks["admin"]
    made = register(admin, "http://127.0.0.1:9/hook")
    base = f"/v1/webhooks/{made['id']}"
    foreign = hooks["foreign_admin"]
    assert foreign.get(base).status_code == 404
    assert foreign.get(f"{base}/deliveries").status_code == 404
    assert foreign.post(f"{base}/deliveries/msg_x_1/redeliver").status_code == 404
    assert foreign.delete(base).status_code == 404
    assert foreign.get("/v1/webhooks").json()["items"] == []
    for name in ("owner", "auditor"):
        assert hooks[name].get("/v1/webhooks").status_code == 403
        assert (
            hooks[name].post("/v1/webhooks", json={"url": "http://127.0.0.1:9/"}).status_code == 403
        )
    assert hooks["anonymous"].get("/v1/webhooks").status_code == 401
    assert admin.get(base).json()["status"] == "active"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://0.0.0.0/hook",
        "file:///etc/passwd",
        "http://user:pw@example.com/hook",
    ],
)
def test_endpoints_inside_the_network_are_refused(settings_for, url: str) -> None:
    settings = settings_for("sqlite")
    keys = principals_on(settings)
    with (
        live_server(settings) as base_url,
        httpx.Client(
            base_url=base_url, headers={"Authorization": f"Bearer {keys['admin']}"}
        ) as admin,
    ):
        answer = admin.post("/v1/webhooks", json={"url": url})
        assert answer.status_code == 422, answer.text
        assert answer.json()["errors"][0]["field"] == "url"
        assert admin.get("/v1/webhooks").json()["items"] == []
