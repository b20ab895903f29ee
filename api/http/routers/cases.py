"""Cases: open, read (now, at a version, as of a time) and every lifecycle command."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from api.http import schemas as s
from api.http.commands import call_for, case_headers, counted, on_the_writer, respond
from api.http.deps import Caller, Commands, Reclaim, check_read
from api.http.middleware import StrictJSONRoute
from api.http.openapi import ETAG, answer_headers, command_parameters
from api.http.presenters import present_case
from api.http.problems import ProblemError, invalid, problem_responses
from domain.actions import DECLARED
from infrastructure.service.commands import Call
from infrastructure.store.keys import Principal

router = APIRouter(prefix="/v1", tags=["cases"], route_class=StrictJSONRoute)

READ_ERRORS = problem_responses(401, 404, 422, 503)
OPEN_ERRORS = problem_responses(401, 403, 409, 413, 422, 503)
COMMAND_ERRORS = problem_responses(401, 403, 404, 409, 412, 413, 422, 503)
#: the body is the route's response_model (naming it here as well listed the union twice)
CASE_RESPONSE = {"description": "The case after the command", "headers": answer_headers()}
OPENED = {"description": "The case opened", "headers": answer_headers(created=True)}


@router.post(
    "/credits",
    status_code=201,
    response_model=s.CaseOut,
    responses={201: OPENED, **OPEN_ERRORS},
    openapi_extra=command_parameters(on_a_case=False),
    summary="Open a credit case",
)
@on_the_writer
def open_credit(
    body: s.OpenCredit, request: Request, commands: Commands, caller: Caller
) -> Response:
    facts = body.model_dump(exclude_none=True)
    call = call_for(request, caller, facts, status=201)
    with counted(request, "open_credit"):
        return respond(commands.open_credit(call, **facts))


@router.post(
    "/disputes",
    status_code=201,
    response_model=s.CaseOut,
    responses={201: OPENED, **OPEN_ERRORS},
    openapi_extra=command_parameters(on_a_case=False),
    summary="Open a dispute case",
)
@on_the_writer
def open_dispute(
    body: s.OpenDispute, request: Request, commands: Commands, caller: Caller
) -> Response:
    facts = body.model_dump(exclude_none=True)
    call = call_for(request, caller, facts, status=201)
    with counted(request, "open_dispute"):
        return respond(commands.open_dispute(call, **facts))


@router.get(
    "/cases/{case_id}",
    response_model=s.CaseOut,
    responses={200: {"description": "The case", "headers": {"ETag": ETAG}}, **READ_ERRORS},
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
        s.Moment | None, Query(description="The case as Reclaim knew it at this time")
    ] = None,
) -> Response:
    if version is not None and as_of is not None:
        raise invalid("as_of", "not with version", "ask for version or as_of, not both")
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
    return Response(body, media_type="application/json", headers=case_headers(request, case))


# --- the lifecycle commands: one route each; path and summary as declared ------------------
def _command(action: str) -> dict[str, object]:
    declared = DECLARED[action]
    return {
        "path": f"/cases/{{case_id}}/{declared.path}",
        "response_model": s.CaseOut,
        "responses": {200: CASE_RESPONSE, **COMMAND_ERRORS},
        "openapi_extra": command_parameters(),
        "summary": declared.summary,
        "name": action,
    }


def _call(request: Request, caller: Principal, case_id: UUID, body: s.Strict) -> Call:
    return call_for(request, caller, {"case": str(case_id), **body.model_dump()})


@router.post(**_command("submit"))  # type: ignore[arg-type]
@on_the_writer
def submit(
    case_id: UUID, body: s.Submit, request: Request, commands: Commands, caller: Caller
) -> Response:
    call = _call(request, caller, case_id, body)
    with counted(request, "submit"):
        done = commands.submit(
            case_id,
            call,
            channel=body.channel,
            reference=body.reference,
            message=body.message,
            occurred_at=body.occurred_at,
        )
    return respond(done)


@router.post(**_command("follow_up"))  # type: ignore[arg-type]
@on_the_writer
def follow_up(
    case_id: UUID, body: s.FollowUp, request: Request, commands: Commands, caller: Caller
) -> Response:
    call = _call(request, caller, case_id, body)
    with counted(request, "follow_up"):
        done = commands.follow_up(
            case_id,
            call,
            channel=body.channel,
            message=body.message,
            occurred_at=body.occurred_at,
        )
    return respond(done)


@router.post(**_command("record_response"))  # type: ignore[arg-type]
@on_the_writer
def record_response(
    case_id: UUID, body: s.ResponseIn, request: Request, commands: Commands, caller: Caller
) -> Response:
    call = _call(request, caller, case_id, body)
    with counted(request, "record_response"):
        done = commands.record_response(
            case_id,
            call,
            message=body.message,
            occurred_at=body.occurred_at,
        )
    return respond(done)


@router.post(**_command("deny"))  # type: ignore[arg-type]
@on_the_writer
def deny(
    case_id: UUID, body: s.Deny, request: Request, commands: Commands, caller: Caller
) -> Response:
    call = _call(request, caller, case_id, body)
    with counted(request, "deny"):
        done = commands.deny(
            case_id,
            call,
            reason=body.reason,
            occurred_at=body.occurred_at,
        )
    return respond(done)


@router.post(**_command("appeal"))  # type: ignore[arg-type]
@on_the_writer
def appeal(
    case_id: UUID, body: s.Appeal, request: Request, commands: Commands, caller: Caller
) -> Response:
    call = _call(request, caller, case_id, body)
    with counted(request, "appeal"):
        done = commands.appeal(
            case_id,
            call,
            grounds=body.grounds,
            occurred_at=body.occurred_at,
        )
    return respond(done)


@router.post(**_command("escalate"))  # type: ignore[arg-type]
@on_the_writer
def escalate(
    case_id: UUID, body: s.Escalate, request: Request, commands: Commands, caller: Caller
) -> Response:
    call = _call(request, caller, case_id, body)
    with counted(request, "escalate"):
        done = commands.escalate(
            case_id,
            call,
            level=body.level,
            contact=body.contact,
            message=body.message,
            occurred_at=body.occurred_at,
        )
    return respond(done)


@router.post(**_command("resolve"))  # type: ignore[arg-type]
@on_the_writer
def resolve(
    case_id: UUID, body: s.Resolve, request: Request, commands: Commands, caller: Caller
) -> Response:
    call = _call(request, caller, case_id, body)
    with counted(request, "resolve"):
        done = commands.resolve(
            case_id,
            call,
            outcome=body.outcome,
            recovered_amount=body.recovered_amount,
            recovered_form=body.recovered_form,
            note=body.note,
            occurred_at=body.occurred_at,
        )
    return respond(done)


@router.post(**_command("add_note"))  # type: ignore[arg-type]
@on_the_writer
def add_note(
    case_id: UUID, body: s.NoteIn, request: Request, commands: Commands, caller: Caller
) -> Response:
    call = _call(request, caller, case_id, body)
    with counted(request, "add_note"):
        done = commands.add_note(
            case_id,
            call,
            text=body.text,
            occurred_at=body.occurred_at,
        )
    return respond(done)
