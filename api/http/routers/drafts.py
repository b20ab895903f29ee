"""Drafted messages for a case, sending one by e-mail, and the workspace's own draft
templates (admins only)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Literal
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from api.http import schemas as s
from api.http.commands import call_for, counted
from api.http.deps import Caller, Commands, Forbidden, Reclaim, check_read
from api.http.middleware import StrictJSONRoute
from api.http.openapi import answer_headers, command_parameters
from api.http.problems import ProblemError, invalid, problem_responses
from infrastructure.drafts import TEMPLATE_DIR, package_template_names
from infrastructure.drafts.overrides import TemplateInvalid, known_name
from infrastructure.service.commands import Reply
from infrastructure.service.drafts import drafts_for
from infrastructure.service.send import (
    MailNotConfigured,
    SendInvalid,
    SendRequest,
    Sent,
    send_draft,
    sent_mail,
)
from infrastructure.store.keys import Principal
from infrastructure.store.templates import StoredTemplate, TemplateStore

router = APIRouter(prefix="/v1", tags=["drafts"], route_class=StrictJSONRoute)


@router.get(
    "/cases/{case_id}/drafts",
    response_model=s.DraftList,
    responses=problem_responses(401, 404, 422, 503),
    summary="A ready-to-send message for each next step the case allows",
)
def get_drafts(case_id: UUID, reclaim: Reclaim, caller: Caller) -> s.DraftList:
    case = reclaim.get_case(case_id)
    check_read(caller, case)
    drafts = drafts_for(reclaim, case, caller.workspace)
    return s.DraftList(
        case_id=str(case.id),
        case_version=case.version,
        items=[s.DraftOut(**asdict(d)) for d in drafts],
    )


STEP = Literal["submit", "follow_up", "appeal", "escalate"]


def _sent_path(case_id: UUID) -> str:
    return f"/v1/cases/{case_id}/drafts/sent"


def _present(sent: Sent, request_step: str, level: str | None) -> s.DraftSent:
    outcome = sent.outcome
    return s.DraftSent(
        case_id=str(outcome.case.id),
        case_version=outcome.case.version,
        step=request_step,  # type: ignore[arg-type]
        level=level,
        occurred_at=outcome.occurred_at,
        to=sent.to,
        subject=sent.subject,
        message_id=sent.message_id,
        evidence_id=outcome.evidence_ids[0],
        sha256=sent.sha256,
        mail_status="queued",
        status_url=_sent_path(outcome.case.id),
        detail=f"{outcome.detail}; the mail is queued and goes out next",
    )


def not_configured() -> ProblemError:
    return ProblemError(
        409,
        "Mail not configured",
        "no mail server or sender is configured here (RECLAIM_SMTP_URL, RECLAIM_MAIL_FROM): "
        "nothing was sent or recorded",
        code="mail-not-configured",
    )


def send_invalid(error: SendInvalid) -> ProblemError:
    return ProblemError(
        422,
        "Invalid request",
        f"{error}; nothing was sent or recorded",
        code="invalid-request",
        errors=[{"field": k, "message": v} for k, v in error.errors.items()],
    )


def wake_outbox(request: Request) -> None:
    """The outbox runs beside the writer: on this process, it looks now; elsewhere it
    finds the mail at its next poll (``RECLAIM_MAIL_POLL_SECONDS``)."""
    node = getattr(request.app.state, "node", None)
    outbox = getattr(node, "outbox", None)
    if outbox is not None:
        outbox.wake()


@router.post(
    "/cases/{case_id}/drafts/{step}/send",
    status_code=202,
    response_model=s.DraftSent,
    responses={
        202: {
            "description": "Recorded as the step, at the time it was sent, with the .eml as "
            "evidence; the mail is queued and the outbox sends it (again after a failure)",
            "headers": answer_headers(),
        },
        **problem_responses(401, 403, 404, 409, 412, 413, 415, 422, 503),
    },
    openapi_extra=command_parameters(),
    summary="Send a drafted message by e-mail and record the step it is",
)
async def send_draft_by_mail(
    case_id: UUID,
    step: STEP,
    body: s.DraftSendIn,
    request: Request,
    reclaim: Reclaim,
    commands: Commands,
    caller: Caller,
) -> Response:
    wanted = body.model_dump(mode="json", exclude_none=True)
    payload = {"case": str(case_id), "step": step, **wanted}

    def answer(sent: Sent) -> Reply:
        return Reply(
            202,
            _present(sent, step, body.level).model_dump_json(),
            {"ETag": f'"{sent.outcome.case.version}"'},
        )

    call = call_for(request, caller, payload, answer=answer)
    try:
        with counted(request, f"send_{step}"):
            sent = await run_in_threadpool(
                send_draft,
                commands,
                case_id,
                call,
                SendRequest(step=step, **wanted),
            )
    except MailNotConfigured:
        raise not_configured() from None
    except SendInvalid as error:
        raise send_invalid(error) from None
    wake_outbox(request)
    headers = {"ETag": f'"{sent.outcome.case.version}"'}
    if sent.outcome.position is not None:
        headers["Reclaim-Position"] = str(sent.outcome.position)
    return JSONResponse(
        _present(sent, step, body.level).model_dump(mode="json"), status_code=202, headers=headers
    )


@router.get(
    "/cases/{case_id}/drafts/sent",
    response_model=s.SentMailList,
    responses=problem_responses(401, 404, 422, 503),
    summary="The drafts sent from the case by e-mail, newest first, and how their mail went",
)
def list_sent_drafts(case_id: UUID, reclaim: Reclaim, caller: Caller) -> s.SentMailList:
    case = reclaim.get_case(case_id)
    check_read(caller, case)
    return s.SentMailList(items=[s.SentMail(**row) for row in sent_mail(reclaim, case.id)])


def _admin(caller: Principal) -> None:
    if caller.role != "admin":
        raise Forbidden(caller, "manage the workspace's draft templates (admins may)")


def _not_found(name: str) -> ProblemError:
    return ProblemError(
        404, "Not found", f"no draft template {name!r}", code="draft-template-not-found"
    )


def _kept_out(kept: StoredTemplate) -> s.DraftTemplateOut:
    return s.DraftTemplateOut(
        name=kept.name,
        source=kept.source,
        workspace_template=True,
        updated_by=kept.updated_by,
        updated_at=kept.updated_at,
    )


def _out(store: TemplateStore, workspace: str, name: str) -> s.DraftTemplateOut:
    if not known_name(name):
        raise _not_found(name)
    kept = store.get(workspace, name)
    if kept is not None:
        return _kept_out(kept)
    if name not in package_template_names():
        raise _not_found(name)
    return s.DraftTemplateOut(
        name=name, source=(TEMPLATE_DIR / name).read_text(), workspace_template=False
    )


@router.get(
    "/draft-templates",
    response_model=s.DraftTemplateList,
    responses=problem_responses(401, 403, 503),
    summary="The draft templates in use in the caller's workspace (admins)",
)
def list_templates(reclaim: Reclaim, caller: Caller) -> s.DraftTemplateList:
    _admin(caller)
    store = reclaim.templates
    names = sorted({*package_template_names(), *(t.name for t in store.list(caller.workspace))})
    return s.DraftTemplateList(items=[_out(store, caller.workspace, n) for n in names])


@router.get(
    "/draft-templates/{name}",
    response_model=s.DraftTemplateOut,
    responses=problem_responses(401, 403, 404, 422, 503),
    summary="One draft template: the workspace's own, or the package default (admins)",
)
def get_template(name: str, reclaim: Reclaim, caller: Caller) -> s.DraftTemplateOut:
    _admin(caller)
    return _out(reclaim.templates, caller.workspace, name)


@router.put(
    "/draft-templates/{name}",
    response_model=s.DraftTemplateOut,
    responses=problem_responses(401, 403, 422, 503),
    summary="Replace a draft template for the caller's workspace (admins); checked in the sandbox",
)
async def put_template(
    name: str, body: s.DraftTemplateIn, reclaim: Reclaim, caller: Caller
) -> s.DraftTemplateOut:
    _admin(caller)
    if not known_name(name):
        raise invalid(
            "name", f"{name!r} is not a draft template name (see GET /v1/draft-templates)"
        )
    store = reclaim.templates
    try:
        kept = await run_in_threadpool(
            store.put, caller.workspace, name, body.source, caller.user_id
        )
    except TemplateInvalid as exc:
        raise invalid("source", str(exc), f"the template was not kept: {exc}") from None
    return _kept_out(kept)


@router.delete(
    "/draft-templates/{name}",
    status_code=204,
    responses=problem_responses(401, 403, 404, 422, 503),
    summary="Go back to the package's template (admins)",
)
def delete_template(name: str, reclaim: Reclaim, caller: Caller) -> Response:
    _admin(caller)
    if not known_name(name) or not reclaim.templates.delete(caller.workspace, name):
        raise _not_found(name)
    return Response(status_code=204)
