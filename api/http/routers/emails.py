"""E-mail intake: a message saved from a mail client, recorded on the case at its Date."""

from __future__ import annotations

import hashlib
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile
from starlette.formparsers import MultiPartException, MultiPartParser

from api.http import schemas as s
from api.http.commands import call_for
from api.http.deps import Caller, Commands, Reclaim, check_write
from api.http.middleware import StrictJSONRoute
from api.http.openapi import answer_headers, command_parameters
from api.http.problems import ProblemError, invalid, problem_responses
from infrastructure.service.commands import Reply
from infrastructure.service.mail import (
    DIRECTIONS,
    OUTBOUND_ACTIONS,
    MailError,
    MailOutcome,
    MailTooLarge,
    record_mail,
)

router = APIRouter(prefix="/v1", tags=["evidence"], route_class=StrictJSONRoute)

#: room for the form's other fields and the multipart framing around the message
MULTIPART_OVERHEAD = 64 * 1024

EMAIL_BODY: dict[str, Any] = {
    **command_parameters(),
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "The message as saved from a mail client (.eml)",
                        },
                        "direction": {
                            "type": "string",
                            "enum": list(DIRECTIONS),
                            "description": "Left out: guessed from the addresses (the "
                            "platform's mail domain, or user_address)",
                        },
                        "user_address": {
                            "type": "string",
                            "description": "Your own address, to tell your mail from theirs",
                        },
                        "action": {
                            "type": "string",
                            "enum": list(OUTBOUND_ACTIONS),
                            "description": "For your own mail: what it was (left out: submit "
                            "when the case is not submitted yet, else a follow-up)",
                        },
                        "reference": {
                            "type": "string",
                            "description": "For a submission: the ticket number it got",
                        },
                    },
                }
            }
        },
    },
}


def _problem(error: MailError) -> ProblemError:
    too_large = isinstance(error, MailTooLarge)
    return ProblemError(
        413 if too_large else 422,
        "Payload too large" if too_large else "E-mail not taken in",
        f"{error.detail}; nothing was recorded",
        code=error.code,
        errors=[{"field": "file", "message": error.detail}],
    )


async def _read_form(request: Request, limit: int) -> dict[str, Any]:
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise ProblemError(
            415,
            "Unsupported media type",
            "send the message as multipart/form-data with a part named 'file'",
            code="unsupported-media-type",
        )
    declared = request.headers.get("content-length", "")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit + MULTIPART_OVERHEAD or (
            declared.isdigit() and int(declared) > limit + MULTIPART_OVERHEAD
        ):
            raise ProblemError(
                413,
                "Payload too large",
                f"the message is larger than the {limit} byte limit; nothing was recorded",
                code="email-too-large",
            )

    async def stream():  # type: ignore[no-untyped-def]
        yield bytes(body)
        yield b""

    try:
        form = await MultiPartParser(request.headers, stream(), max_files=1, max_fields=10).parse()
    except MultiPartException as exc:
        raise invalid("body", f"malformed multipart body: {exc.message}") from None
    fields: dict[str, Any] = {}
    for name, value in form.multi_items():
        if isinstance(value, UploadFile):
            if name != "file":
                raise invalid(name, "only the part named 'file' may be a file")
            fields["file"] = await value.read()
        else:
            fields[name] = value.strip() or None
    if "file" not in fields:
        raise invalid("file", "a file part named 'file' is required")
    return fields


def _count(request: Request, action: str, outcome: str) -> None:
    """Counted in reclaim_commands_total like every other command."""
    metrics = getattr(request.app.state, "metrics", None)
    if metrics is not None:
        metrics.commands.labels(action, outcome).inc()


def present(outcome: MailOutcome) -> s.EmailRecorded:
    return s.EmailRecorded(
        recorded=outcome.recorded,
        message_id=outcome.message_id,
        direction=outcome.direction,  # type: ignore[arg-type]
        action=outcome.action,
        occurred_at=outcome.occurred_at,
        subject=outcome.subject,
        forwarded=outcome.forwarded,
        evidence_ids=outcome.evidence_ids,
        not_kept_separately=outcome.not_kept_separately,
        case_version=outcome.case.version,
        detail=outcome.detail,
    )


@router.post(
    "/cases/{case_id}/emails",
    status_code=201,
    response_model=s.EmailRecorded,
    responses={
        201: {"description": "The e-mail recorded", "headers": answer_headers()},
        200: {
            "model": s.EmailRecorded,
            "description": "This Message-ID is already on the case: nothing new recorded",
            "headers": answer_headers(),
        },
        **problem_responses(401, 403, 404, 409, 412, 413, 415, 422, 503),
    },
    openapi_extra=EMAIL_BODY,
    summary="Record a saved e-mail (.eml): the reply or sent mail at its Date, kept as evidence",
)
async def take_in_email(
    case_id: UUID, request: Request, reclaim: Reclaim, commands: Commands, caller: Caller
) -> JSONResponse:
    case = await run_in_threadpool(reclaim.get_case, case_id)
    check_write(caller, case)
    fields = await _read_form(request, reclaim.settings.max_upload_bytes)
    for name in ("direction", "action"):
        allowed = DIRECTIONS if name == "direction" else OUTBOUND_ACTIONS
        if fields.get(name) is not None and fields[name] not in allowed:
            raise invalid(name, f"must be one of {', '.join(allowed)}")
    raw: bytes = fields["file"]
    payload = {
        "case": str(case_id),
        "sha256": hashlib.sha256(raw).hexdigest(),
        **{k: v for k, v in fields.items() if k != "file"},
    }

    def answer(outcome: MailOutcome) -> Reply:
        return Reply(201, present(outcome).model_dump_json(), {"ETag": f'"{outcome.case.version}"'})

    call = call_for(request, caller, payload, answer=answer)
    commands.check_replay(call)

    try:
        outcome = await run_in_threadpool(
            record_mail,
            commands,
            case_id,
            fields["file"],
            call,
            direction=fields.get("direction"),
            user_address=fields.get("user_address"),
            action=fields.get("action"),
            reference=fields.get("reference"),
        )
    except MailError as error:
        _count(request, "email", type(error).__name__)
        raise _problem(error) from None
    except Exception as error:
        _count(request, "email", type(error).__name__)
        raise
    _count(request, "email", "ok" if outcome.recorded else "replayed")
    headers = {"ETag": f'"{outcome.case.version}"'}
    if outcome.position is not None:
        headers["Reclaim-Position"] = str(outcome.position)
    return JSONResponse(
        present(outcome).model_dump(mode="json"),
        status_code=201 if outcome.recorded else 200,
        headers=headers,
    )
