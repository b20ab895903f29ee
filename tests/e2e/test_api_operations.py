"""/healthz, /readyz and /metrics (the webhook dispatcher's lag among them)."""

from __future__ import annotations

import httpx

from infrastructure.store.application import ReclaimApplication
from tests.support.api_data import credit_body
from tests.support.live import live_server
from tests.support.receiver import running_receiver, wait_for


def test_readyz_reports_the_store_and_projections(api) -> None:
    ready = api["anonymous"].get("/readyz")
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["status"] == "ready" and body["checks"]["store"] == "ok"


def test_metrics_count_requests_and_commands(api) -> None:
    owner = api["owner"]
    cid = owner.post("/v1/credits", json=credit_body()).json()["id"]
    owner.post(f"/v1/cases/{cid}/notes", json={"text": "x"})
    owner.post(f"/v1/cases/{cid}/deny", json={"reason": "", "occurred_at": "2026-03-20T00:00:00Z"})
    text = api["anonymous"].get("/metrics").text
    assert 'reclaim_http_requests_total{method="POST",route="/v1/credits",status="201"} 1.0' in text
    assert (
        'reclaim_http_requests_total{method="POST",route="/v1/cases/{case_id}/notes",status="200"}'
        in text
    )
    assert 'reclaim_commands_total{action="add_note",outcome="ok"} 1.0' in text
    assert 'reclaim_commands_total{action="deny",outcome="ActionNotAllowed"} 1.0' in text
    assert "reclaim_http_request_duration_seconds_bucket" in text
    assert "reclaim_group_commit_commands_total" in text
    assert "reclaim_projection_lag_events" in text
    assert "rk_" not in text  # no key material in metrics


def _lag_in_metrics(text: str) -> float:
    name = "reclaim_webhook_dispatcher_lag_events "
    line = next(line for line in text.splitlines() if line.startswith(name))
    return float(line.split()[1])


def test_the_webhook_dispatchers_lag_reaches_zero(store: str, settings_for) -> None:
    """With an endpoint registered, the writer starts the dispatcher's process, and the
    lag and the pending deliveries /readyz and /metrics report go back to nothing."""
    settings = settings_for(store, webhooks_allow_private=True, webhook_poll_seconds=0.05)
    setup = ReclaimApplication(settings)
    key, _ = setup.keys.create("alice", "home", "member")
    setup.close()
    with (
        running_receiver() as receiver,
        live_server(settings) as base_url,
        httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}) as alice,
    ):
        app = ReclaimApplication(settings.model_copy(update={"create_tables": False}))
        _, receiver.secret = app.webhooks.add(
            "home", receiver.url, [], "", by="dana", after_position=0
        )
        app.close()
        cid = alice.post("/v1/credits", json=credit_body()).json()["id"]
        alice.post(f"/v1/cases/{cid}/notes", json={"text": "x"})
        wait_for(lambda: len(receiver.got) == 2, 30, "both events delivered")
        wait_for(
            lambda: alice.get("/readyz").json()["checks"]["webhook_dispatcher_lag"] == 0,
            20,
            "the dispatcher to catch up",
        )
        wait_for(
            lambda: "reclaim_webhook_deliveries_pending 0.0" in alice.get("/metrics").text,
            10,
            "the outcomes written",
        )
        assert _lag_in_metrics(alice.get("/metrics").text) == 0
        assert all(r.verified for r in receiver.got)


def test_a_dispatcher_that_is_not_running_shows_its_lag_and_the_node_stays_ready(
    store: str, settings_for
) -> None:
    """Delivery is off the write path: its lag is reported, never a reason to be unready.
    (Lag counts once an endpoint wants events: with none, nothing is behind.)"""
    settings = settings_for(store, webhooks_dispatch=False)
    setup = ReclaimApplication(settings)
    key, _ = setup.keys.create("alice", "home", "member")
    setup.webhooks.add("home", "https://hooks.example.org/in", [], "", by="dana", after_position=0)
    setup.close()
    with (
        live_server(settings) as base_url,
        httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}) as alice,
    ):
        cid = alice.post("/v1/credits", json=credit_body()).json()["id"]
        assert alice.post(f"/v1/cases/{cid}/notes", json={"text": "x"}).status_code == 200
        ready = alice.get("/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
        assert ready.json()["checks"]["webhook_dispatcher_lag"] == 2
        assert _lag_in_metrics(alice.get("/metrics").text) == 2
