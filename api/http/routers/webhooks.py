"""Webhook endpoints of a workspace (its admin's), their delivery log, and redelivery.

The dispatcher that sends them is ``infrastructure/webhooks/dispatcher.py``; what may be
sent to is ``infrastructure/webhooks/safety.py``. Another workspace's endpoint answers
404, as one that does not exist."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from api.http.commands import idempotency, replayed
from api.http.deps import Caller, Forbidden, Reclaim
from api.http.middleware import StrictJSONRoute
from api.http.openapi import IDEMPOTENCY_KEY, IDEMPOTENT_REPLAYED
from api.http.problems import ProblemError, invalid, problem_responses
from infrastructure.read import feed
from infrastructure.store.application import ReclaimApplication
from infrastructure.store.idempotency import IDEMPOTENCY_INSERT, IdempotencyRecord
from infrastructure.store.keys import Principal
from infrastructure.webhooks import safety

router = APIRouter(prefix="/v1", tags=["webhooks"], route_class=StrictJSONRoute)
POST_EXTRA: dict[str, Any] = {"parameters": [IDEMPOTENCY_KEY]}
REPLAY_HEADERS = {"Idempotent-Replayed": IDEMPOTENT_REPLAYED}

EventType = Literal[feed.EVENT_TYPES]  # type: ignore[valid-type]


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2000, description="Where to POST: an http(s) URL")
    event_types: list[EventType] = Field(  # type: ignore[valid-type]
        default_factory=list, max_length=20, description="The event types wanted; empty: all"
    )
    description: str = Field(default="", max_length=200)


class WebhookOut(BaseModel):
    id: UUID
    url: str
    event_types: list[str] = Field(description="The event types sent; empty: all")
    description: str
    status: Literal["active", "failing", "disabled"] = Field(
        description="failing: its last attempts failed (its backlog is kept and retried); "
        "disabled: removed, or the receiver answered 410 Gone (its history is kept)"
    )
    status_reason: str | None
    created_at: datetime
    created_by: str
    failing_since: datetime | None
    disabled_at: datetime | None
    after_position: int = Field(description="Events after this log position are sent to it")


class WebhookCreated(WebhookOut):
    secret: str | None = Field(
        description="The signing secret (whsec_...), given only in this answer: null when "
        "the answer is replayed under its Idempotency-Key"
    )


class WebhookList(BaseModel):
    items: list[WebhookOut]
    next_cursor: str | None = Field(description="Always null: a workspace's endpoints fit a page")


class AttemptOut(BaseModel):
    attempt: int
    at: datetime
    status_code: int | None = Field(description="The receiver's status; null: no answer")
    latency_ms: int
    error: str | None = Field(description="Why there was no answer (timeout, refused ...)")
    response: str = Field(description="The start of the receiver's answer, as text")


class DeliveryOut(BaseModel):
    id: str = Field(description="The webhook-id every attempt of it sends")
    position: int
    case_id: UUID
    event_type: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: datetime | None = Field(description="When it is tried next, if pending")
    created_at: datetime
    delivered_at: datetime | None
    last_status: int | None
    last_latency_ms: int | None
    last_error: str | None
    last_response: str | None
    attempt_log: list[AttemptOut]


class DeliveryList(BaseModel):
    items: list[DeliveryOut]
    next_before: int | None = Field(description="Pass as `before` for older deliveries")


def require_admin(caller: Principal) -> None:
    if caller.role != "admin":
        raise Forbidden(caller, "manage webhooks (an admin of the workspace may)")


def not_found(endpoint_id: object) -> ProblemError:
    return ProblemError(404, "Not found", f"webhook {endpoint_id} not found", code="not-found")


def endpoint_out(row: dict[str, Any]) -> dict[str, Any]:
    return {name: row.get(name) for name in WebhookOut.model_fields}


def delivery_out(row: dict[str, Any]) -> DeliveryOut:
    pending = row["status"] == "pending"
    next_at = (
        datetime.fromtimestamp(row["next_attempt_ms"] / 1000).astimezone() if pending else None
    )
    return DeliveryOut(
        **{
            k: row[k]
            for k in DeliveryOut.model_fields
            if k not in ("next_attempt_at", "attempt_log")
        },
        next_attempt_at=next_at,
        attempt_log=[
            AttemptOut(**{k: a[k] for k in AttemptOut.model_fields}) for a in row["attempt_log"]
        ],
    )


def _find(reclaim: ReclaimApplication, caller: Principal, endpoint_id: UUID) -> dict[str, Any]:
    found = reclaim.webhooks.get(caller.workspace, str(endpoint_id))
    if found is None:
        raise not_found(endpoint_id)
    return found


def _scope(caller: Principal) -> str:
    return f"webhooks:{caller.workspace}:{caller.user_id}"


@router.post(
    "/webhooks",
    status_code=201,
    response_model=WebhookCreated,
    responses={
        201: {"headers": {"Location": {"schema": {"type": "string"}}, **REPLAY_HEADERS}},
        **problem_responses(401, 403, 422, 503),
    },
    openapi_extra=POST_EXTRA,
    summary="Register a webhook endpoint (admin): its secret is shown once",
)
def add_webhook(
    body: WebhookIn, request: Request, reclaim: Reclaim, caller: Caller
) -> Response | WebhookCreated:
    """The endpoint is sent every event of the workspace recorded from now on (of the
    types named), signed per Standard Webhooks with the secret in this answer. A URL on
    a loopback, private or link-local address is refused unless the deployment allows
    them (`RECLAIM_WEBHOOKS_ALLOW_PRIVATE`)."""
    require_admin(caller)
    key = idempotency(request, body.model_dump())
    if key is not None:
        earlier = reclaim.idempotency.find(_scope(caller), key.key)
        if earlier is not None:
            if earlier.request_hash != key.request_hash:
                raise invalid("Idempotency-Key", "was used with another body")
            return replayed(earlier)
    try:
        safety.check_url(body.url, allow_private=reclaim.settings.webhooks_allow_private)
    except safety.UnsafeURL as exc:
        raise invalid("url", str(exc), f"url {exc}") from None
    endpoint, secret = reclaim.webhooks.add(
        caller.workspace,
        body.url,
        list(body.event_types),
        body.description,
        by=caller.user_id,
        after_position=feed.last_position(reclaim.database),
    )
    answer = WebhookCreated(**endpoint_out(endpoint), secret=secret)
    location = f"/v1/webhooks/{endpoint['id']}"
    if key is not None:
        kept = answer.model_copy(update={"secret": None}).model_dump_json()
        record = IdempotencyRecord(
            _scope(caller), key.key, key.request_hash, 201, kept, {"Location": location}
        )
        reclaim.database.execute(IDEMPOTENCY_INSERT, record.as_row())
    return Response(
        answer.model_dump_json(),
        status_code=201,
        media_type="application/json",
        headers={"Location": location},
    )


@router.get(
    "/webhooks",
    response_model=WebhookList,
    responses=problem_responses(401, 403, 503),
    summary="The workspace's webhook endpoints (admin), disabled ones included",
)
def list_webhooks(reclaim: Reclaim, caller: Caller) -> WebhookList:
    require_admin(caller)
    rows = reclaim.webhooks.list(caller.workspace)
    return WebhookList(items=[WebhookOut(**endpoint_out(r)) for r in rows], next_cursor=None)


@router.get(
    "/webhooks/{endpoint_id}",
    response_model=WebhookOut,
    responses=problem_responses(401, 403, 404, 422, 503),
    summary="One webhook endpoint (admin)",
)
def get_webhook(endpoint_id: UUID, reclaim: Reclaim, caller: Caller) -> WebhookOut:
    require_admin(caller)
    return WebhookOut(**endpoint_out(_find(reclaim, caller, endpoint_id)))


@router.delete(
    "/webhooks/{endpoint_id}",
    status_code=204,
    response_class=Response,
    responses=problem_responses(401, 403, 404, 422, 503),
    summary="Disable a webhook endpoint (admin): nothing more is sent, its history is kept",
)
def remove_webhook(endpoint_id: UUID, reclaim: Reclaim, caller: Caller) -> Response:
    require_admin(caller)
    if not reclaim.webhooks.disable(
        caller.workspace, str(endpoint_id), f"removed by {caller.user_id}"
    ):
        raise not_found(endpoint_id)
    return Response(status_code=204)


@router.get(
    "/webhooks/{endpoint_id}/deliveries",
    response_model=DeliveryList,
    responses=problem_responses(401, 403, 404, 422, 503),
    summary="The endpoint's delivery log, newest first: attempts, status, latency, answer",
)
def list_deliveries(
    endpoint_id: UUID,
    reclaim: Reclaim,
    caller: Caller,
    before: Annotated[
        int | None, Query(ge=1, le=2**62, description="Older than this position")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> DeliveryList:
    require_admin(caller)
    _find(reclaim, caller, endpoint_id)
    rows = reclaim.webhooks.deliveries(
        caller.workspace, str(endpoint_id), before=before, limit=limit
    )
    return DeliveryList(
        items=[delivery_out(r) for r in rows],
        next_before=rows[-1]["position"] if len(rows) == limit else None,
    )


@router.post(
    "/webhooks/{endpoint_id}/deliveries/{delivery_id}/redeliver",
    status_code=202,
    response_model=DeliveryOut,
    responses=problem_responses(401, 403, 404, 409, 422, 503),
    openapi_extra=POST_EXTRA,
    summary="Send a delivery again, now (after its case's earlier undelivered events)",
)
def redeliver(
    endpoint_id: UUID,
    delivery_id: Annotated[str, Path(max_length=80)],
    request: Request,
    reclaim: Reclaim,
    caller: Caller,
) -> DeliveryOut:
    """Sent again with the same webhook-id, whatever became of it before. A retry under the
    same Idempotency-Key sends it again too (a receiver deduplicates by webhook-id)."""
    require_admin(caller)
    idempotency(request, {"delivery": delivery_id})
    endpoint = _find(reclaim, caller, endpoint_id)
    if endpoint["status"] == "disabled":
        raise ProblemError(
            409, "Endpoint disabled", "a disabled endpoint is sent nothing", code="webhook-disabled"
        )
    row = reclaim.webhooks.redeliver(caller.workspace, str(endpoint_id), delivery_id)
    if row is None:
        raise ProblemError(404, "Not found", f"delivery {delivery_id} not found", code="not-found")
    node = request.app.state.node
    dispatcher = getattr(node, "dispatcher", None)
    if dispatcher is not None:
        dispatcher.wake()
    return delivery_out(row)
