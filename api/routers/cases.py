"""Cases: open, read (now, at a version, as of a time) and every lifecycle command."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import AwareDatetime

from api import schemas as s
from api.commands import CommandRun, case_headers
from api.deps import Caller, Reclaim, check_read
from api.presenters import present_case
from api.problems import ProblemError, problem_responses

router = APIRouter(prefix="/v1", tags=["cases"])

READ_ERRORS = problem_responses(401, 404, 422, 503)
OPEN_ERRORS = problem_responses(401, 403, 409, 413, 422, 503)
COMMAND_ERRORS = problem_responses(401, 403, 404, 409, 412, 413, 422, 503)
CASE_RESPONSE = {"model": s.CaseOut, "description": "The case after the command"}


@router.post(
    "/credits",
    status_code=201,
    response_model=s.CaseOut,
    responses={201: {"description": "The case opened"}, **OPEN_ERRORS},
    summary="Open a credit case",
)
def open_credit(body: s.OpenCredit, request: Request, reclaim: Reclaim, caller: Caller) -> Response:
    facts = body.model_dump(exclude_none=True)
    return CommandRun(request, reclaim, caller, facts).open(reclaim.open_credit, **facts)


@router.post(
    "/disputes",
    status_code=201,
    response_model=s.CaseOut,
    responses={201: {"description": "The case opened"}, **OPEN_ERRORS},
    summary="Open a dispute case",
)
def open_dispute(
    body: s.OpenDispute, request: Request, reclaim: Reclaim, caller: Caller
) -> Response:
    facts = body.model_dump(exclude_none=True)
    return CommandRun(request, reclaim, caller, facts).open(reclaim.open_dispute, **facts)


@router.get(
    "/cases/{case_id}",
    response_model=s.CaseOut,
    responses=READ_ERRORS,
    summary="A case now, at a past version, or as of a past time",
)
def get_case(
    case_id: UUID,
    request: Request,
    reclaim: Reclaim,
    caller: Caller,
    version: Annotated[
        int | None, Query(ge=1, le=10**9, description="The case at this version")
    ] = None,
    as_of: Annotated[
        AwareDatetime | None, Query(description="The case as Reclaim knew it at this time")
    ] = None,
) -> Response:
    if version is not None and as_of is not None:
        raise ProblemError(
            422,
            "Invalid request",
            "ask for version or as_of, not both",
            code="invalid-request",
            errors=[{"field": "as_of", "message": "not with version"}],
        )
    current = reclaim.get_case(case_id)
    check_read(caller, current)
    case = current
    if version is not None:
        if version > current.version:
            raise ProblemError(
                404, "Not found", f"the case has no version {version}", code="version-not-found"
            )
        case = reclaim.get_case(case_id, version=version)
    elif as_of is not None:
        case = reclaim.get_case(case_id, as_of=as_of)
    body = present_case(case, reclaim.settings).model_dump_json()
    headers = case_headers(request, case)
    headers.pop("Location")
    return Response(body, media_type="application/json", headers=headers)


def _command(path: str, summary: str, action: str):
    """Declare one lifecycle command route: POST /v1/cases/{id}/<path>."""

    def register(func):
        return router.post(
            f"/cases/{{case_id}}/{path}",
            response_model=s.CaseOut,
            responses={200: CASE_RESPONSE, **COMMAND_ERRORS},
            summary=summary,
            name=action,
        )(func)

    return register


@_command("submit", "Submit the claim to the platform", "submit")
def submit(
    case_id: UUID, body: s.Submit, request: Request, reclaim: Reclaim, caller: Caller
) -> Response:
    return _run(case_id, "submit", body, request, reclaim, caller)


@_command("follow-up", "Follow up on an unanswered contact", "follow_up")
def follow_up(
    case_id: UUID, body: s.FollowUp, request: Request, reclaim: Reclaim, caller: Caller
) -> Response:
    return _run(case_id, "follow_up", body, request, reclaim, caller)


@_command("responses", "Record a platform reply that decides nothing", "record_response")
def record_response(
    case_id: UUID, body: s.ResponseIn, request: Request, reclaim: Reclaim, caller: Caller
) -> Response:
    return _run(case_id, "record_response", body, request, reclaim, caller)


@_command("deny", "Record the platform's denial", "deny")
def deny(
    case_id: UUID, body: s.Deny, request: Request, reclaim: Reclaim, caller: Caller
) -> Response:
    return _run(case_id, "deny", body, request, reclaim, caller)


@_command("appeal", "Appeal a denial", "appeal")
def appeal(
    case_id: UUID, body: s.Appeal, request: Request, reclaim: Reclaim, caller: Caller
) -> Response:
    return _run(case_id, "appeal", body, request, reclaim, caller)


@_command("escalate", "Escalate to a named level", "escalate")
def escalate(
    case_id: UUID, body: s.Escalate, request: Request, reclaim: Reclaim, caller: Caller
) -> Response:
    return _run(case_id, "escalate", body, request, reclaim, caller)


@_command("resolve", "Resolve the case with its outcome", "resolve")
def resolve(
    case_id: UUID, body: s.Resolve, request: Request, reclaim: Reclaim, caller: Caller
) -> Response:
    return _run(case_id, "resolve", body, request, reclaim, caller)


@_command("notes", "Add a note", "add_note")
def add_note(
    case_id: UUID, body: s.NoteIn, request: Request, reclaim: Reclaim, caller: Caller
) -> Response:
    return _run(case_id, "add_note", body, request, reclaim, caller)


def _run(
    case_id: UUID,
    action: str,
    body: s.Strict,
    request: Request,
    reclaim: Reclaim,
    caller: Caller,
    *,
    status: int | None = None,
) -> Response:
    arguments = body.model_dump()
    run = CommandRun(request, reclaim, caller, {"case": str(case_id), **arguments})
    return run.execute(case_id, action, status=status, **arguments)
