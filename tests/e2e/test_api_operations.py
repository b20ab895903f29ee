"""/healthz, /readyz and /metrics."""

from __future__ import annotations

from tests.support.api_data import credit_body


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
