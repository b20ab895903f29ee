"""Reminders by e-mail: the caller's own address and daily digest time (``/v1/me/mail``),
and the one-click unsubscribe link every digest carries (RFC 8058), which needs no key:
its token is the secret."""

from __future__ import annotations

from datetime import date
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from api.http.deps import Caller, Reclaim
from api.http.middleware import StrictJSONRoute
from api.http.problems import ProblemError, problem_responses
from api.http.routers.casebook_pages import render
from infrastructure.mail import prefs as mail_prefs
from infrastructure.store.application import ReclaimApplication

router = APIRouter(prefix="/v1", tags=["mail"], route_class=StrictJSONRoute)
unsubscribe_router = APIRouter(tags=["mail"], include_in_schema=False)


class MailSettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    address: str = Field(max_length=254, description="Where the digest goes (one address)")
    digest_time: str = Field(
        default="08:00", max_length=5, description="When it goes each day, HH:MM in time_zone"
    )
    time_zone: str = Field(default="UTC", max_length=64, description="An IANA time zone name")
    digests: bool = Field(default=True, description="false: keep the address, send nothing")


class LastDigest(BaseModel):
    day: date
    status: Literal["pending", "sending", "sent", "failed", "uncertain", "nothing_due", "skipped"]
    sent_at: str | None = None
    detail: str | None = Field(default=None, description="Why it was not sent, if it was not")


class MailSettingsOut(BaseModel):
    address: str | None = Field(description="null: no address set, nothing is sent")
    digest_time: str
    time_zone: str
    digests: bool = Field(description="Whether a daily digest is sent")
    sending: bool = Field(description="Whether this Reclaim has a mail server to send with")
    sending_detail: str = Field(description="What the mail server did last, in a sentence")
    last_digest: LastDigest | None


def _out(reclaim: ReclaimApplication, workspace: str, user_id: str) -> MailSettingsOut:
    return MailSettingsOut.model_validate(mail_prefs.overview(reclaim, workspace, user_id))


@router.get(
    "/me/mail",
    response_model=MailSettingsOut,
    responses=problem_responses(401, 503),
    summary="The caller's reminders by e-mail: address, daily digest time, last digest",
)
def get_mail(reclaim: Reclaim, caller: Caller) -> MailSettingsOut:
    return _out(reclaim, caller.workspace, caller.user_id)


@router.put(
    "/me/mail",
    response_model=MailSettingsOut,
    responses=problem_responses(401, 413, 415, 422, 503),
    summary="Set the caller's address and daily digest time (the address is personal data)",
)
def put_mail(body: MailSettingsIn, reclaim: Reclaim, caller: Caller) -> MailSettingsOut:
    address = body.address.strip()
    found = mail_prefs.problems(address, body.digest_time, body.time_zone)
    if found:
        raise ProblemError(
            422,
            "Invalid request",
            "; ".join(f"{k}: {v}" for k, v in found.items()),
            code="invalid-request",
            errors=[{"field": k, "message": v} for k, v in found.items()],
        )
    reclaim.mail.set_prefs(
        caller.workspace,
        caller.user_id,
        caller.role,
        address=address,
        digest_time=body.digest_time,
        time_zone=body.time_zone,
        digests=body.digests,
    )
    return _out(reclaim, caller.workspace, caller.user_id)


@router.delete(
    "/me/mail",
    status_code=204,
    responses=problem_responses(401, 503),
    summary="Stop reminders by e-mail and forget the caller's address",
)
def delete_mail(reclaim: Reclaim, caller: Caller) -> Response:
    with reclaim.database.transaction() as cursor:
        reclaim.mail.forget(cursor, caller.workspace, caller.user_id)
    return Response(status_code=204)


# --- the link in each digest ------------------------------------------------------------------
def _page(request: Request, title: str, message: str, status: int = 200) -> Response:
    return render(
        request, "message.html", {"session": None, "title": title, "message": message}, status
    )


@unsubscribe_router.get("/mail/unsubscribe/{token}")
def unsubscribe_page(token: str, request: Request) -> Response:
    """A page with one button: following a link must not unsubscribe by itself (mail
    scanners follow links); the button, or a mail client's one-click POST, does."""
    return render(
        request,
        "unsubscribe.html",
        {"session": None, "title": "Stop reminder e-mails", "token": token},
    )


@unsubscribe_router.post("/mail/unsubscribe/{token}")
async def unsubscribe(token: str, request: Request, reclaim: Reclaim) -> Response:
    """RFC 8058: the mail client POSTs ``List-Unsubscribe=One-Click``; the page's button
    posts the same."""
    whose = await run_in_threadpool(reclaim.mail.unsubscribe, token[:200])
    if whose is None:
        return _page(
            request,
            "Link not known",
            "This unsubscribe link is not known: it may be from an address that was changed "
            "or removed since. No reminder e-mails go to a removed address.",
            404,
        )
    return _page(
        request,
        "Unsubscribed",
        "No more reminder e-mails will be sent to this address. You can turn them on again "
        "in the case book, under Mail.",
    )
