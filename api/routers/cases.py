"""Cases: open, read (now, at a version, as of a time) and every lifecycle command."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from api import schemas as s
from api.commands import CommandRun, case_headers
from api.deps import Caller, Reclaim, check_read
from api.middleware import StrictJSONRoute
from api.presenters import present_case
from api.problems import ProblemError, invalid, problem_responses

router = APIRouter(prefix="/v1", tags=["cases"], route_class=StrictJSONRoute)

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
    headers = case_headers(request, case)
    headers.pop("Location")
    return Response(body, media_type="application/json", headers=headers)


#: the lifecycle commands: path, action, body, summary. One route each, made alike.
COMMANDS: list[tuple[str, str, type[s.Strict], str]] = [
    ("submit", "submit", s.Submit, "Submit the claim to the platform"),
    ("follow-up", "follow_up", s.FollowUp, "Follow up on an unanswered contact"),
    ("responses", "record_response", s.ResponseIn, "Record a platform reply that decides nothing"),
    ("deny", "deny", s.Deny, "Record the platform's denial"),
    ("appeal", "appeal", s.Appeal, "Appeal a denial"),
    ("escalate", "escalate", s.Escalate, "Escalate to a named level"),
    ("resolve", "resolve", s.Resolve, "Resolve the case with its outcome"),
    ("notes", "add_note", s.NoteIn, "Add a note"),
]


def _command_route(path: str, action: str, body_model: type[s.Strict], summary: str) -> None:
    def command(
        case_id: UUID, body: s.Strict, request: Request, reclaim: Reclaim, caller: Caller
    ) -> Response:
        arguments = body.model_dump()
        run = CommandRun(request, reclaim, caller, {"case": str(case_id), **arguments})
        return run.execute(case_id, action, **arguments)

    # FastAPI reads the body's model from the annotation: give each route its own
    command.__annotations__ = {**command.__annotations__, "body": body_model}
    command.__name__ = command.__qualname__ = action
    router.post(
        f"/cases/{{case_id}}/{path}",
        response_model=s.CaseOut,
        responses={200: CASE_RESPONSE, **COMMAND_ERRORS},
        summary=summary,
        name=action,
    )(command)


for _path, _action, _model, _summary in COMMANDS:
    _command_route(_path, _action, _model, _summary)
