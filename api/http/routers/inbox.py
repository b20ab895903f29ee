"""The workspace's inbox: mail the IMAP intake read but could not file on a case
(``GET /v1/inbox``), assigned to a case or dismissed by a workspace admin; also what
became of every other message read (``?state=``), with its reason."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Literal
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from api.http.deps import Caller, Reclaim
from api.http.middleware import StrictJSONRoute
from api.http.openapi import command_parameters
from api.http.problems import ProblemError, invalid, problem_responses
from domain.errors import DomainError
from infrastructure.mail.intake import reading_state
from infrastructure.service import inbox as service
from infrastructure.service.mail import MailError

router = APIRouter(prefix="/v1", tags=["mail"], route_class=StrictJSONRoute)

State = Literal["recorded", "unmatched", "refused", "dismissed"]


class InboxItem(BaseModel):
    id: str
    state: State
    reason: str = Field(description="What matched, or why nothing did, or why it was refused")
    received_at: str = Field(description="When Reclaim read it from the mailbox")
    updated_at: str
    case_id: str | None = Field(description="The case it was recorded on, if it was")
    matched_by: Literal["reply", "tag", "reference", "assigned"] | None = Field(
        description="How its case was found: a reply to Reclaim's mail, the subject's case "
        "tag, the platform's ticket reference, or a person's assignment"
    )
    sender: str | None = Field(description="Its From address (unmatched mail only)")
    subject: str | None = Field(description="Its subject (unmatched mail only)")
    date: str | None = Field(description="Its Date (unmatched mail only)")
    snippet: str | None = Field(description="The start of its text (unmatched mail only)")


class InboxPage(BaseModel):
    items: list[InboxItem]
    next_cursor: str | None
    reading: bool = Field(description="Whether this Reclaim reads a mailbox")
    reading_detail: str = Field(description="How reading the mailbox went last, in a sentence")
    counts: dict[State, int] = Field(description="How many messages are in each state")


class AssignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    case_id: UUID = Field(description="The workspace's case to record the message on")


def _cursor(item: dict[str, str]) -> str:
    text = json.dumps([item["received_at"], item["id"]])
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _after(cursor: str | None) -> tuple[str, str] | None:
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        received_at, item_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return str(received_at), str(item_id)
    except (ValueError, TypeError, binascii.Error):
        raise invalid("cursor", "not a cursor this list gave") from None


def _not_found() -> ProblemError:
    return ProblemError(
        404, "Not found", "no such message in your workspace's inbox", code="not-found"
    )


@router.get(
    "/inbox",
    response_model=InboxPage,
    responses=problem_responses(401, 403, 422, 503),
    summary="The workspace's mail read from the mailbox: unmatched by default (admin, auditor)",
)
def list_inbox(
    reclaim: Reclaim,
    caller: Caller,
    state: State = Query("unmatched", description="Which messages to list"),
    limit: int = Query(50, ge=1, le=500),
    cursor: str | None = Query(None, max_length=400),
) -> InboxPage:
    service.check_can_read(caller)
    items = reclaim.inbox.list(caller.workspace, state, limit + 1, _after(cursor))
    more = len(items) > limit
    items = items[:limit]
    reading, detail = reading_state(reclaim)
    return InboxPage(
        items=[InboxItem.model_validate(i) for i in items],
        next_cursor=_cursor(items[-1]) if more else None,
        reading=reading,
        reading_detail=detail,
        counts=reclaim.inbox.counts(caller.workspace),
    )


@router.get(
    "/inbox/{item_id}",
    response_model=InboxItem,
    responses=problem_responses(401, 403, 404, 422, 503),
    summary="One message read from the mailbox (admin, auditor)",
)
def get_inbox_item(item_id: str, reclaim: Reclaim, caller: Caller) -> InboxItem:
    try:
        return InboxItem.model_validate(service.get_item(reclaim, caller, item_id))
    except service.NotInInbox:
        raise _not_found() from None


@router.post(
    "/inbox/{item_id}/assign",
    response_model=InboxItem,
    responses=problem_responses(401, 403, 404, 409, 413, 415, 422, 503),
    openapi_extra=command_parameters(on_a_case=False),
    summary="Record an unmatched message on a case of the workspace (admin); again: the same",
)
async def assign_inbox_item(
    item_id: str, body: AssignIn, request: Request, reclaim: Reclaim, caller: Caller
) -> InboxItem:
    try:
        item, _ = await run_in_threadpool(
            service.assign, reclaim, caller, item_id, body.case_id, request.state.request_id
        )
    except service.NotInInbox:
        raise _not_found() from None
    except service.CaseNotInWorkspace:
        raise invalid("case_id", "no such case in your workspace") from None
    except service.AlreadySettled as settled:
        raise ProblemError(
            409, "Conflict", str(settled), code="inbox-already-settled", item=settled.item
        ) from None
    except MailError as error:
        raise ProblemError(
            422, "E-mail not taken in", f"{error.detail}; nothing was recorded", code=error.code
        ) from None
    except DomainError:
        raise  # the case's state does not take it: the usual 409
    return InboxItem.model_validate(item)


@router.post(
    "/inbox/{item_id}/dismiss",
    response_model=InboxItem,
    responses=problem_responses(401, 403, 404, 409, 422, 503),
    openapi_extra=command_parameters(on_a_case=False),
    summary="Set an unmatched message aside; its copy is deleted (admin); again: the same",
)
def dismiss_inbox_item(item_id: str, reclaim: Reclaim, caller: Caller) -> InboxItem:
    try:
        return InboxItem.model_validate(service.dismiss(reclaim, caller, item_id))
    except service.NotInInbox:
        raise _not_found() from None
    except service.AlreadySettled as settled:
        raise ProblemError(
            409, "Conflict", str(settled), code="inbox-already-settled", item=settled.item
        ) from None
