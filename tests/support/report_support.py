"""Helpers for the reminders, calendar, dossier and reports page tests through HTTP."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from tests.support.api_data import credit_body, dispute_body


def days_ago(days: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="seconds")


def today() -> date:
    return datetime.now(UTC).date()


def ok(response: Any) -> Any:
    assert response.status_code < 300, response.text
    return response.json()


def open_credit(client: Any, *, opened_days_ago: float, **overrides: Any) -> dict[str, Any]:
    body = credit_body(occurred_at=days_ago(opened_days_ago), **overrides)
    return ok(client.post("/v1/credits", json=body))


def open_dispute(client: Any, *, opened_days_ago: float, **overrides: Any) -> dict[str, Any]:
    body = dispute_body(occurred_at=days_ago(opened_days_ago), **overrides)
    return ok(client.post("/v1/disputes", json=body))


def act(client: Any, case_id: str, path: str, days: float, **body: Any) -> dict[str, Any]:
    return ok(
        client.post(f"/v1/cases/{case_id}/{path}", json={**body, "occurred_at": days_ago(days)})
    )


def submit(client: Any, case_id: str, days: float) -> dict[str, Any]:
    return act(client, case_id, "submit", days, channel="email", reference="T-1", message="Hi")
