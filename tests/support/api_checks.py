"""Checks the API tests share: a problem answer, and what the store recorded for a case."""

from __future__ import annotations

from uuid import UUID

from infrastructure.store.application import ReclaimApplication

PROBLEM = "application/problem+json"


def stored_events(settings, cid: str) -> list:
    app = ReclaimApplication(settings)
    try:
        return list(app.case_events(UUID(cid)))
    finally:
        app.close()


def assert_problem(response, status: int, field: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["status"] == status and problem["title"] and problem["detail"]
    if field is not None:
        assert field in [e["field"] for e in problem["errors"]], problem
    return problem
