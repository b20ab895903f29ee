"""What is due: reminders as JSON, and the same deadlines as an iCalendar feed."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from api.http.deps import Caller, Reclaim
from api.http.middleware import StrictJSONRoute
from api.http.openapi import text_content
from api.http.problems import ProblemError, problem_responses
from api.render.calendar import MEDIA_TYPE, calendar_feed
from infrastructure.read.reminders import open_deadlines, reminders
from infrastructure.read.report_sources import case_rows, owner_scope

router = APIRouter(prefix="/v1", tags=["reminders"], route_class=StrictJSONRoute)


class ReminderCase(BaseModel):
    id: str
    kind: str
    platform: str
    state: str
    amount_claimed: str
    currency: str
    account_reference: str | None = None


class Reminder(BaseModel):
    id: str = Field(description="Stable across recomputation; the calendar event's UID")
    case_id: str
    kind: str = Field(description="follow_up, appeal, expiry or expiry_warning")
    due: date
    action: str = Field(description="The lifecycle action that meets it")
    title: str
    description: str
    overdue: bool
    days_left: int = Field(description="Days from today to the due date (negative: overdue)")
    case: ReminderCase


class Reminders(BaseModel):
    today: date
    within_days: int
    items: list[Reminder]


@router.get(
    "/reminders",
    response_model=Reminders,
    responses=problem_responses(401, 422, 503),
    summary="What is due or overdue within a number of days",
)
def get_reminders(
    reclaim: Reclaim,
    caller: Caller,
    within_days: Annotated[int, Query(ge=0, le=366, description="Days ahead to look")] = 7,
) -> Reminders:
    today = datetime.now(UTC).date()
    rows = case_rows(reclaim.database, caller.workspace, owner_scope(caller))
    found = reminders(rows, reclaim.settings.deadline_policy(), today, within_days)
    return Reminders(
        today=today,
        within_days=within_days,
        items=[Reminder.model_validate(item) for item in found],
    )


@router.get(
    "/calendar.ics",
    response_class=Response,
    responses={
        200: {"description": "An iCalendar feed (RFC 5545)", "content": text_content(MEDIA_TYPE)},
        **problem_responses(401, 422, 503),
    },
    summary="Every open deadline as an iCalendar feed, for calendar apps",
)
def get_calendar(
    reclaim: Reclaim,
    token: Annotated[
        str | None,
        Query(max_length=200, description="The calendar token from 'reclaim keys calendar-token'"),
    ] = None,
) -> Response:
    principal = reclaim.keys.authenticate(token or "", kind="calendar")
    if principal is None:
        raise ProblemError(
            401,
            "Unauthorized",
            "the calendar token is missing, unknown or revoked",
            code="unauthorized",
            headers={"WWW-Authenticate": 'Bearer realm="calendar"'},
        )
    rows = case_rows(reclaim.database, principal.workspace, owner_scope(principal))
    deadlines, cases = open_deadlines(rows, reclaim.settings.deadline_policy())
    body = calendar_feed(deadlines, cases, name=f"Reclaim: {principal.user_id}")
    return Response(
        body,
        media_type=MEDIA_TYPE,
        headers={"Cache-Control": "private, max-age=300", "Referrer-Policy": "no-referrer"},
    )
