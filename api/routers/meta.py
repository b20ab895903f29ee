"""Operations and the published workflow."""

from __future__ import annotations

from fastapi import APIRouter

from api import schemas as s
from domain import lifecycle

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=s.Health, summary="The process is up")
def healthz() -> s.Health:
    return s.Health(status="ok")


@router.get("/v1/workflow", response_model=s.Workflow, tags=["cases"], summary="The lifecycle")
def workflow() -> s.Workflow:
    return s.Workflow(
        states=lifecycle.STATES,
        actions=lifecycle.ACTIONS,
        transitions=[
            {"action": action, "from": sources, "to": dest}
            for action, sources, dest in lifecycle.TRANSITIONS
        ],
        mermaid=lifecycle.mermaid_diagram(),
    )
