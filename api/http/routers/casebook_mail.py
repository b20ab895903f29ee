"""The case book's Mail page: the signed-in person's address and daily digest time, what
the last digest came to, and whether this Reclaim can send mail at all."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from api.http.deps import Reclaim
from api.http.routers.casebook_forms import Field
from api.http.routers.casebook_pages import form_str, render
from api.http.routers.casebook_session import (
    SIGN_IN,
    current_session,
    posted_form,
    redirect,
)
from infrastructure.mail import prefs as mail_prefs
from infrastructure.store.sessions import Session

router = APIRouter(prefix="/app", tags=["case book"], include_in_schema=False)

FIELDS = [
    Field("address", "E-mail address", required=True, hint="Where your daily digest goes."),
    Field("digest_time", "Daily digest time", required=True, hint="HH:MM, such as 08:00."),
    Field("time_zone", "Time zone", required=True, hint="A time zone name, such as Europe/Berlin."),
    Field("digests", "Send me a daily digest of what is due", kind="checkbox"),
]
DONE = {"saved": "Saved.", "stopped": "Reminder e-mails stopped and your address forgotten."}


def _page(
    request: Request,
    reclaim: Any,
    session: Session,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    principal = session.principal
    overview = mail_prefs.overview(reclaim, principal.workspace, principal.user_id)
    if values is None:
        values = {
            "address": overview["address"] or "",
            "digest_time": overview["digest_time"],
            "time_zone": overview["time_zone"],
            "digests": overview["digests"] or overview["address"] is None,
        }
    return render(
        request,
        "mail.html",
        {
            "session": session,
            "title": "Mail",
            "fields": FIELDS,
            "values": values,
            "errors": errors or {},
            "overview": overview,
            "notice": DONE.get(request.query_params.get("done") or ""),
        },
        status,
        current="/app/mail",
    )


@router.get("/mail")
def mail_page(request: Request, reclaim: Reclaim) -> Response:
    session = current_session(request, reclaim)
    if session is None:
        return redirect(SIGN_IN)
    return _page(request, reclaim, session)


@router.post("/mail")
async def save_mail(request: Request, reclaim: Reclaim) -> Response:
    posted = await posted_form(request, reclaim, max_fields=20)
    if isinstance(posted, Response):
        return posted
    session, form = posted
    values = {f.name: (form_str(form.get(f.name)) or "").strip() for f in FIELDS}
    values["digests"] = values["digests"] == "yes"
    errors = mail_prefs.problems(values["address"], values["digest_time"], values["time_zone"])
    if errors:
        return _page(request, reclaim, session, values=values, errors=errors, status=422)
    p = session.principal
    await run_in_threadpool(
        lambda: reclaim.mail.set_prefs(
            p.workspace,
            p.user_id,
            p.role,
            address=values["address"],
            digest_time=values["digest_time"],
            time_zone=values["time_zone"],
            digests=values["digests"],
        )
    )
    return redirect("/app/mail?done=saved")


@router.post("/mail/stop")
async def stop_mail(request: Request, reclaim: Reclaim) -> Response:
    posted = await posted_form(request, reclaim, max_fields=5)
    if isinstance(posted, Response):
        return posted
    session, form = posted
    p = session.principal

    def forget() -> None:
        with reclaim.database.transaction() as cursor:
            reclaim.mail.forget(cursor, p.workspace, p.user_id)

    await run_in_threadpool(forget)
    return redirect("/app/mail?done=stopped")
