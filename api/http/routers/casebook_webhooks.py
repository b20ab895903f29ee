"""The case book's webhooks page for a workspace's admin: its endpoints and their latest
deliveries (status, attempts, the receiver's last status code, latency and the start of
its answer), read from the same store as ``GET /v1/webhooks`` and its delivery log.

A receiver's answer is whatever a stranger's server sent: it is shown as text, escaped
like every value on these pages, inside a page whose Content-Security-Policy runs no
script but Reclaim's own. Registering and removing endpoints stays with the API and the
command line (the secret is shown once, to whoever asked for it). Members and auditors
are not shown the page; another workspace's endpoint is not there at all.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.http.deps import Reclaim
from api.http.routers.casebook_pages import forbidden_page, render
from api.http.routers.casebook_session import SIGN_IN, current_session, redirect
from infrastructure.store.application import ReclaimApplication
from infrastructure.store.sessions import Session

router = APIRouter(prefix="/app", tags=["case book"], include_in_schema=False)

#: deliveries shown per endpoint on the overview, and per page of one endpoint's log
LATEST = 10
PAGE_SIZE = 50


def _admin_only(request: Request, session: Session) -> Response | None:
    if session.principal.role != "admin":
        return forbidden_page(
            request,
            session,
            "Webhooks are an admin's: your key's role "
            f"'{session.principal.role}' may not see them.",
        )
    return None


def _delivery(row: dict[str, Any]) -> dict[str, Any]:
    next_at = None
    if row["status"] == "pending":
        next_at = datetime.fromtimestamp(row["next_attempt_ms"] / 1000, UTC)
    return {**row, "next_attempt_at": next_at}


def _endpoint(
    reclaim: ReclaimApplication,
    workspace: str,
    row: dict[str, Any],
    *,
    limit: int,
    before: int | None = None,
) -> dict[str, Any]:
    """The endpoint with its deliveries (newest first) and where older ones start."""
    deliveries = reclaim.webhooks.deliveries(workspace, row["id"], before=before, limit=limit)
    return {
        **row,
        "deliveries": [_delivery(d) for d in deliveries],
        "older": deliveries[-1]["position"] if len(deliveries) == limit else None,
    }


@router.get("/webhooks")
def webhooks_page(request: Request, reclaim: Reclaim) -> Response:
    session = current_session(request, reclaim)
    if session is None:
        return redirect(SIGN_IN)
    if (refused := _admin_only(request, session)) is not None:
        return refused
    workspace = session.principal.workspace
    endpoints = [
        _endpoint(reclaim, workspace, row, limit=LATEST) for row in reclaim.webhooks.list(workspace)
    ]
    return render(
        request,
        "webhooks.html",
        {"session": session, "title": "Webhooks", "endpoints": endpoints, "one": False},
        current="/app/webhooks",
    )


@router.get("/webhooks/{endpoint_id}")
def webhook_page(endpoint_id: str, request: Request, reclaim: Reclaim) -> Response:
    """One endpoint's delivery log, newest first, ``PAGE_SIZE`` at a time (``before``)."""
    session = current_session(request, reclaim)
    if session is None:
        return redirect(SIGN_IN)
    if (refused := _admin_only(request, session)) is not None:
        return refused
    workspace = session.principal.workspace
    try:
        row = reclaim.webhooks.get(workspace, str(UUID(endpoint_id)))
    except ValueError:
        row = None
    if row is None:
        return render(
            request,
            "message.html",
            {
                "session": session,
                "title": "No such webhook",
                "message": "There is no webhook endpoint of your workspace at this address.",
            },
            404,
        )
    given = request.query_params.get("before") or ""
    before = int(given) if given.isdigit() and len(given) < 19 else None
    endpoint = _endpoint(reclaim, workspace, row, limit=PAGE_SIZE, before=before)
    return render(
        request,
        "webhooks.html",
        {
            "session": session,
            "title": "Webhook deliveries",
            "endpoints": [endpoint],
            "one": True,
            "paged": before is not None,
        },
        current="/app/webhooks",
    )
