"""What the case book's routes share: who may see and change which case, the Jinja2
templates, the site's navigation, and the pages every route may answer with (not found,
not allowed)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from fastapi import Request
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates

from api import render
from api.http.deps import can_read
from api.http.routers.casebook_forms import words
from api.render.pages import NAV
from domain import cases as c
from domain.money import format_money
from infrastructure.store.application import CaseNotFound, ReclaimApplication
from infrastructure.store.keys import Principal
from infrastructure.store.sessions import Session

#: the pages load only their own stylesheet and small script, from nothing but Reclaim; the
#: script connects to nothing but Reclaim (a case's stream of changes)
CSP = (
    "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": CSP,
    # not no-referrer: with it, browsers send "Origin: null" on the page's own forms
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


TEMPLATE_DIR = render.TEMPLATE_DIR / "casebook"
templates = Jinja2Templates(directory=str(TEMPLATE_DIR))


def _when(value: Any) -> str:
    """A time as people read it, in UTC; a date as a date."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _money(value: Any, currency: str) -> str:
    if value is None or value == "":
        return "—"
    return format_money(value, currency)


def _size(n: int) -> str:
    for unit in ("bytes", "KB", "MB"):
        if n < 1024 or unit == "MB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


templates.env.filters["when"] = _when
templates.env.filters["money"] = _money
templates.env.filters["words"] = words
templates.env.filters["size"] = _size


def render(
    request: Request,
    name: str,
    context: dict[str, Any],
    status: int = 200,
    *,
    current: str | None = None,
) -> Response:
    if not str(context.get("title") or "").strip():
        # every page names itself: its <title> is "<title> · Reclaim", never " · Reclaim"
        raise ValueError(f"{name} is rendered without a title")
    session: Session | None = context.get("session")
    who = None
    if session is not None:
        p = session.principal
        who = f"{p.user_id} ({p.role} in {p.workspace})"
    return templates.TemplateResponse(
        request,
        name,
        {"nav": NAV, "current": current, "who": who, **context},
        status_code=status,
        headers=dict(PAGE_HEADERS),
    )


def not_found_page(request: Request, session: Session | None) -> Response:
    return render(
        request,
        "message.html",
        {
            "session": session,
            "title": "No such case",
            "message": "There is no case at this address that you may see. It may belong to "
            "another workspace, or the address may be mistyped.",
        },
        404,
    )


def forbidden_page(
    request: Request, session: Session | None, message: str | None = None
) -> Response:
    return render(
        request,
        "message.html",
        {
            "session": session,
            "title": "Not done",
            "message": message
            or "This form did not come from this site's own pages, or it has expired. "
            "Nothing was recorded. Go back, reload the page and try again.",
        },
        403,
    )


def may_write(principal: Principal, case: c.Case) -> bool:
    return (
        principal.can_write
        and case.workspace == principal.workspace
        and case.owner == principal.user_id
    )


def case_for(reclaim: ReclaimApplication, session: Session, case_id: str) -> c.Case | None:
    try:
        uuid = UUID(case_id)
    except ValueError:
        return None
    try:
        case = reclaim.get_case(uuid)
    except CaseNotFound:
        return None
    return case if can_read(session.principal, case) else None


def request_id(request: Request) -> str:
    return str(request.state.request_id)


def form_str(value: Any) -> str | None:
    """A posted form's text field (a file or nothing is None)."""
    return value if isinstance(value, str) else None


def read_only(principal: Principal) -> str:
    return f"A key with the role '{principal.role}' may read cases but not open or change them."
