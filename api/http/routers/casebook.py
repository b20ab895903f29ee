"""The case book: a claimant's cases as server-rendered pages under ``/app``.

This module: My cases (with the download of one's own data), opening a case, the
workflow; ``casebook_case.py``: a case's own page, its actions and files;
``casebook_session.py``: sign-in and sign-out.

Pages call the application service directly (the same ``ReclaimApplication`` the JSON
API runs), never Reclaim's own HTTP API. Forms are checked by the API's request models
and refused by the same domain rules (``casebook_forms.py``). Every action form carries
the case version it was drawn from: if the case has moved on meanwhile, nothing is
recorded and the page says so, showing the case as it is now. Everything works without
JavaScript; the pages load nothing but their own stylesheet.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, date, datetime, time
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from api.http.commands import counted
from api.http.deps import Commands, Reclaim
from api.http.presenters import present_case
from api.http.routers import casebook_forms as forms
from api.http.routers.casebook_case import case_title
from api.http.routers.casebook_pages import (
    case_for,
    forbidden_page,
    form_str,
    not_found_page,
    read_only,
    render,
    request_id,
)
from api.http.routers.casebook_session import (
    SIGN_IN,
    current_session,
    posted_form,
    redirect,
)
from api.http.routers.casebook_svg import lifecycle_svg, transition_rows
from api.http.routers.me import my_data_response
from domain import cases as c
from domain.deadlines import DeadlineFacts, next_deadline
from domain.errors import DomainError
from domain.lifecycle import STATES
from infrastructure.read import deadline_text, queries
from infrastructure.read.reminders import reminders
from infrastructure.read.report_sources import case_rows, owner_scope
from infrastructure.service.commands import (
    AlreadyAnswered,
    Call,
    CaseCommands,
    Idempotency,
    Reply,
)
from infrastructure.store.application import ReclaimApplication
from infrastructure.store.sessions import Session

router = APIRouter(prefix="/app", tags=["case book"], include_in_schema=False)

PAGE_SIZE = 25
_FORM_ID = re.compile(r"[A-Za-z0-9_-]{16,64}")
SORTS = [
    ("-opened_at", "Newest first"),
    ("opened_at", "Oldest first"),
    ("-last_activity_at", "Latest activity first"),
    ("-amount_claimed", "Largest claim first"),
    ("amount_claimed", "Smallest claim first"),
]


# --- my cases ---------------------------------------------------------------------------------
@router.get("/cases")
def my_cases(request: Request, reclaim: Reclaim) -> Response:
    session = current_session(request, reclaim)
    if session is None:
        return redirect(SIGN_IN)
    principal = session.principal
    params = request.query_params
    filters = {k: (params.get(k) or "").strip() for k in ("kind", "state", "platform", "q")}
    filters["due_before"] = (params.get("due_before") or "").strip()
    sort = params.get("sort") or "-opened_at"
    cursor = params.get("cursor") or None
    errors: dict[str, str] = {}
    if filters["kind"] and filters["kind"] not in ("credit", "dispute"):
        errors["kind"] = "choose credit or dispute"
    if filters["state"] and filters["state"] not in STATES:
        errors["state"] = "choose one of the states"
    for name, limit in (("platform", 40), ("q", 200)):
        if len(filters[name]) > limit:
            errors[name] = f"is longer than {limit} characters"
        elif c.find_unstorable(filters[name]):
            errors[name] = "contains a character that cannot be searched for"
    due_before = None
    if filters["due_before"]:
        try:
            day = date.fromisoformat(filters["due_before"])
            if not c.EARLIEST_FACT_DATE <= day <= c.LATEST_FACT_DATE:
                raise ValueError
            due_before = datetime.combine(day, time.min, tzinfo=UTC)
        except ValueError:
            errors["due_before"] = "must be a date, such as 2026-03-13"
    if sort not in dict(SORTS):
        errors["sort"] = "choose one of the orders"
        sort = "-opened_at"
    page = None
    if not errors:
        try:
            page = queries.list_cases(
                reclaim.database,
                principal.workspace,
                owner_scope(principal),
                kind=filters["kind"] or None,
                state=filters["state"] or None,
                platform=filters["platform"] or None,
                due_before=due_before,
                q=filters["q"] or None,
                sort=sort,
                limit=PAGE_SIZE,
                cursor=cursor,
            )
        except queries.InvalidQuery:
            errors["cursor"] = "That page of the list is no longer valid: start from the first."
    today = datetime.now(UTC).date()
    policy = reclaim.settings.deadline_policy()
    rows = []
    for item in page.items if page else []:
        # the same deadline the list stores, with what it asks for
        upcoming = next_deadline(DeadlineFacts.from_mapping(item), policy)
        rows.append(
            {
                **item,
                "due": upcoming.due if upcoming else None,
                "due_title": deadline_text.title(upcoming) if upcoming else "",
                "overdue": bool(upcoming and upcoming.due < today),
            }
        )
    kept = {k: v for k, v in {**filters, "sort": sort}.items() if v}
    next_url = None
    if page and page.next_cursor:
        next_url = "/app/cases?" + urlencode({**kept, "cursor": page.next_cursor})
    due_soon = reminders(
        case_rows(reclaim.database, principal.workspace, owner_scope(principal)),
        policy,
        today,
        7,
    )
    return render(
        request,
        "cases.html",
        {
            "session": session,
            "title": "My cases",
            "rows": rows,
            "filters": filters,
            "sort": sort,
            "sorts": SORTS,
            "errors": errors,
            "states": forms.choices(STATES),
            "next_url": next_url,
            "first_url": ("/app/cases?" + urlencode(kept)) if cursor else None,
            "due_soon": due_soon,
            "today": today,
            "can_open": principal.can_write,
        },
        422 if errors and "cursor" not in errors else 200,
        current="/app/cases",
    )


@router.get("/my-data")
def my_data(request: Request, reclaim: Reclaim) -> Response:
    """The signed-in person's own data: the same ZIP as ``GET /v1/me/export``."""
    session = current_session(request, reclaim)
    if session is None:
        return redirect(SIGN_IN)
    return my_data_response(reclaim, session.principal)


# --- open a case ------------------------------------------------------------------------------
def _new_case_page(
    request: Request,
    session: Session,
    *,
    errors: dict[str, dict[str, str]] | None = None,
    values: dict[str, dict[str, str]] | None = None,
    status: int = 200,
) -> Response:
    values = values or {}

    def fresh() -> dict[str, str]:
        # each rendered form has its own id: posted twice, it opens one case
        return {"occurred_at": forms.now_default(), "form_id": secrets.token_urlsafe(16)}

    return render(
        request,
        "new_case.html",
        {
            "session": session,
            "title": "Open a case",
            "credit_fields": forms.CREDIT_FIELDS,
            "dispute_fields": forms.DISPUTE_FIELDS,
            "errors": errors or {},
            "values": {
                "credit": values.get("credit") or fresh(),
                "dispute": values.get("dispute") or fresh(),
            },
        },
        status,
        current="/app/cases/new",
    )


@router.get("/cases/new")
def new_case(request: Request, reclaim: Reclaim) -> Response:
    session = current_session(request, reclaim)
    if session is None:
        return redirect(SIGN_IN)
    if not session.principal.can_write:
        return forbidden_page(request, session, read_only(session.principal))
    return _new_case_page(request, session)


@router.post("/cases/new/{kind}")
async def open_case(kind: str, request: Request, reclaim: Reclaim, commands: Commands) -> Response:
    posted = await posted_form(request, reclaim, max_fields=50)
    if isinstance(posted, Response):
        return posted
    session, form = posted
    if kind not in ("credit", "dispute"):
        return not_found_page(request, session)
    if not session.principal.can_write:
        return forbidden_page(request, session, read_only(session.principal))
    return await run_in_threadpool(_open_case, request, reclaim, commands, session, kind, form)


def _open_case(
    request: Request,
    reclaim: ReclaimApplication,
    commands: CaseCommands,
    session: Session,
    kind: str,
    form: Any,
) -> Response:
    principal = session.principal
    values = {kind: forms.form_values(form)}
    form_id = form_str(form.get("form_id")) or ""
    key = f"casebook-open:{form_id}" if _FORM_ID.fullmatch(form_id) else None
    if key is not None and (done := reclaim.idempotency.find(principal.scope, key)):
        return redirect(done.body)  # this very form was posted before: that case

    try:
        facts = forms.opening_facts(kind, form)
        opener = commands.open_credit if kind == "credit" else commands.open_dispute
        with counted(request, opener.__name__):
            call = Call(
                by=principal,
                request_id=request_id(request),
                idempotency=None if key is None else Idempotency(key, key),
                answer=lambda case: Reply(303, f"/app/cases/{case.id}?done=open"),
            )
            result = opener(call, **facts)
    except AlreadyAnswered as done:
        # the same form, posted twice at once: the other post opened the case
        return redirect(done.record.body)
    except forms.FormInvalid as exc:
        return _new_case_page(
            request, session, errors={kind: exc.errors}, values=values, status=422
        )
    except DomainError as exc:
        return _new_case_page(
            request, session, errors={kind: forms.domain_problem(exc)}, values=values, status=422
        )
    return redirect(f"/app/cases/{result.case.id}?done=open")


# --- the workflow ----------------------------------------------------------------------------
@router.get("/workflow")
def workflow(request: Request, reclaim: Reclaim) -> Response:
    session = current_session(request, reclaim)
    if session is None:
        return redirect(SIGN_IN)
    case_id = request.query_params.get("case")
    case = None
    if case_id:
        case = case_for(reclaim, session, case_id)
        if case is None:
            return not_found_page(request, session)
    current = case.state if case else None
    body = present_case(case, reclaim.settings).model_dump(mode="json") if case else None
    return render(
        request,
        "workflow.html",
        {
            "session": session,
            "title": "Workflow",
            "svg": lifecycle_svg(current),
            "rows": transition_rows(),
            "case": body,
            "case_title": case_title(body) if body else None,
        },
        current="/app/workflow",
    )
