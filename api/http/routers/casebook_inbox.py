"""The case book's Inbox page: mail the IMAP intake read but could not file on a case,
for the workspace's admins to record on a case or dismiss (its auditors read it), and
how reading the mailbox went last. Plain forms, no script; the same service as
``/v1/inbox`` (``infrastructure/service/inbox.py``)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from api.http.deps import Reclaim
from api.http.routers.casebook_pages import forbidden_page, form_str, render
from api.http.routers.casebook_session import (
    SIGN_IN,
    current_session,
    posted_form,
    redirect,
)
from domain.errors import DomainError
from infrastructure.mail.intake import reading_state
from infrastructure.projections.cases import CaseList
from infrastructure.service import inbox as service
from infrastructure.service.mail import MailError
from infrastructure.store.sessions import Session

router = APIRouter(prefix="/app", tags=["case book"], include_in_schema=False)

PAGE_SIZE = 50
#: the cases offered to assign a message to: the workspace's latest active ones
CASES_OFFERED = 200
DONE = {"assigned": "Recorded on the case.", "dismissed": "Dismissed: its copy is deleted."}


def _readers_only(request: Request, session: Session) -> Response | None:
    if session.principal.role not in ("admin", "auditor"):
        return forbidden_page(
            request,
            session,
            "The inbox is the workspace's admins' and auditors': your key's role "
            f"'{session.principal.role}' may not see it.",
        )
    return None


def _cases(reclaim: Any, workspace: str) -> list[dict[str, Any]]:
    return reclaim.database.fetchall(
        f"SELECT case_id, platform, kind, state, submission_reference "
        f"FROM {CaseList.table.name} WHERE workspace = %s "
        f"ORDER BY (state = 'resolved'), last_activity_at DESC LIMIT {CASES_OFFERED}",
        (workspace,),
    )


def _page(
    request: Request,
    reclaim: Any,
    session: Session,
    *,
    problem: str | None = None,
    status: int = 200,
) -> Response:
    workspace = session.principal.workspace
    after = request.query_params.get("after")
    position = None
    if after and "|" in after:
        received_at, item_id = after.split("|", 1)
        position = (received_at[:40], item_id[:40])
    items = reclaim.inbox.list(workspace, "unmatched", PAGE_SIZE + 1, position)
    more = len(items) > PAGE_SIZE
    items = items[:PAGE_SIZE]
    reading, detail = reading_state(reclaim)
    admin = session.principal.role == "admin"
    return render(
        request,
        "inbox.html",
        {
            "session": session,
            "title": "Inbox",
            "items": items,
            "next": f"{items[-1]['received_at']}|{items[-1]['id']}" if more else None,
            "reading": reading,
            "reading_detail": detail,
            "counts": reclaim.inbox.counts(workspace),
            "cases": _cases(reclaim, workspace) if admin and items else [],
            "admin": admin,
            "problem": problem,
            "notice": DONE.get(request.query_params.get("done") or ""),
        },
        status,
        current="/app/inbox",
    )


def _no_such_message(request: Request, session: Session) -> Response:
    return render(
        request,
        "message.html",
        {
            "session": session,
            "title": "No such message",
            "message": "There is no message at this address in your workspace's inbox.",
        },
        404,
    )


@router.get("/inbox")
def inbox_page(request: Request, reclaim: Reclaim) -> Response:
    session = current_session(request, reclaim)
    if session is None:
        return redirect(SIGN_IN)
    return _readers_only(request, session) or _page(request, reclaim, session)


@router.post("/inbox/{item_id}/assign")
async def assign(item_id: str, request: Request, reclaim: Reclaim) -> Response:
    posted = await posted_form(request, reclaim, max_fields=5)
    if isinstance(posted, Response):
        return posted
    session, form = posted
    if session.principal.role != "admin":
        return forbidden_page(request, session, "Only the workspace's admins assign its mail.")
    try:
        case_id = UUID((form_str(form.get("case_id")) or "").strip())
    except ValueError:
        return _page(request, reclaim, session, problem="Choose a case.", status=422)
    try:
        await run_in_threadpool(
            service.assign,
            reclaim,
            session.principal,
            item_id,
            case_id,
            request.state.request_id,
        )
    except service.NotInInbox:
        return _no_such_message(request, session)
    except service.CaseNotInWorkspace:
        problem = "There is no such case in your workspace: nothing was recorded."
        return _page(request, reclaim, session, problem=problem, status=422)
    except service.AlreadySettled as settled:
        return _page(request, reclaim, session, problem=f"Not done: {settled}.", status=409)
    except MailError as error:
        problem = f"Not recorded: {error.detail}."
        return _page(request, reclaim, session, problem=problem, status=422)
    except DomainError as error:
        problem = f"The case does not take it now: {error}. Nothing was recorded."
        return _page(request, reclaim, session, problem=problem, status=409)
    return redirect("/app/inbox?done=assigned")


@router.post("/inbox/{item_id}/dismiss")
async def dismiss(item_id: str, request: Request, reclaim: Reclaim) -> Response:
    posted = await posted_form(request, reclaim, max_fields=5)
    if isinstance(posted, Response):
        return posted
    session, form = posted
    if session.principal.role != "admin":
        return forbidden_page(request, session, "Only the workspace's admins dismiss its mail.")
    try:
        await run_in_threadpool(service.dismiss, reclaim, session.principal, item_id)
    except service.NotInInbox:
        return _no_such_message(request, session)
    except service.AlreadySettled as settled:
        return _page(request, reclaim, session, problem=f"Not done: {settled}.", status=409)
    return redirect("/app/inbox?done=dismissed")
