"""Operations and the published workflow."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from api.http import schemas as s
from api.http.deps import Caller, Reclaim
from api.http.metrics import CONTENT_TYPE
from api.http.openapi import RETRY_AFTER, text_content
from api.http.problems import problem_responses
from domain import lifecycle
from infrastructure.mail.intake import reading_state
from infrastructure.mail.prefs import sending_state
from infrastructure.webhooks.dispatcher import lag as dispatcher_lag

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=s.Health, summary="The process is up")
def healthz() -> s.Health:
    return s.Health(status="ok")


@router.get(
    "/v1/workflow",
    response_model=s.Workflow,
    responses=problem_responses(401),
    tags=["cases"],
    summary="The lifecycle",
)
def workflow(caller: Caller) -> s.Workflow:
    """Like every ``/v1`` route, it needs a key (any role)."""
    return s.Workflow(
        states=lifecycle.STATES,
        actions=lifecycle.ACTIONS,
        transitions=[
            s.Transition(action=action, sources=sources, to=dest)
            for action, sources, dest in lifecycle.TRANSITIONS
        ],
        mermaid=lifecycle.mermaid_diagram(),
    )


@router.get(
    "/readyz",
    response_model=s.Readiness,
    responses={
        503: {
            "model": s.Readiness,
            "description": "Not ready: see checks",
            "headers": {"Retry-After": RETRY_AFTER},
        }
    },
    summary="The store is reachable and projections are caught up within a bound",
)
def readyz(reclaim: Reclaim) -> Response:
    checks: s.ReadinessChecks = {}
    try:
        reclaim.database.fetchone("SELECT 1 AS ok")
        checks["store"] = "ok"
    except Exception as exc:  # noqa: BLE001 - reported, not raised: this is the check
        checks["store"] = f"unreachable: {type(exc).__name__}"
    bound = reclaim.settings.ready_max_lag
    if checks["store"] == "ok":
        # written inline with the events, projections lag only while one added later
        # is being caught up (reclaim project) or the tables were dropped
        lag = reclaim.projection_lag()
        checks["projections"] = lag
        checks["projections_ok"] = all(behind <= bound for behind in lag.values())
        checks["webhook_dispatcher_lag"] = dispatcher_lag(reclaim.database, reclaim.webhooks)
    # who writes: this process, or the writer it forwards its saves to
    checks["writer"] = "this process" if reclaim.forwarder is None else "another process"
    if checks["store"] == "ok":  # (mail down does not make the API unready: it is retried)
        checks["mail"] = sending_state(reclaim)[1]
        checks["imap"] = reading_state(reclaim)[1]
    ready = checks["store"] == "ok" and checks.get("projections_ok", True)
    body = s.Readiness(status="ready" if ready else "not ready", max_lag=bound, checks=checks)
    headers = {} if ready else {"Retry-After": "2"}
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503, headers=headers)


@router.get(
    "/metrics",
    response_class=Response,
    responses={
        200: {"content": text_content(CONTENT_TYPE), "description": "Prometheus text format"},
        **problem_responses(503),
    },
    summary="Prometheus metrics",
)
def metrics(request: Request) -> Response:
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE)
