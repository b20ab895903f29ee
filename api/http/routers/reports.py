"""Reports over the projections: summary, recovery, outcomes, timeliness."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from api.http.deps import Caller, Reclaim
from api.http.middleware import StrictJSONRoute
from api.http.problems import problem_responses
from api.http.read_errors import owner_scope
from domain.money import format_amount
from infrastructure.read import queries
from infrastructure.read.report_sources import EXPIRING_SOON_DAYS, overdue_and_expiring

router = APIRouter(prefix="/v1/reports", tags=["reports"], route_class=StrictJSONRoute)
ERRORS = problem_responses(401, 422, 503)


class Money(BaseModel):
    currency: str
    claimed: str
    recovered: str
    rate: float | None = Field(description="Recovered / claimed over resolved cases")


def _money(entry: dict[str, Any]) -> dict[str, Any]:
    currency = entry["currency"]
    rate = entry.get("rate")
    return {
        **entry,
        "claimed": format_amount(Decimal(entry["claimed"]), currency),
        "recovered": format_amount(Decimal(entry["recovered"]), currency),
        "rate": None if rate is None else float(rate),
    }


#: the most urgent cases the summary reads for its deadline lists (all: /v1/reminders)
SUMMARY_DEADLINE_CASES = 20


class OverdueFollowUp(BaseModel):
    case_id: str
    platform: str
    kind: Literal["credit", "dispute"]
    due: date
    days_overdue: int
    title: str


class ExpiringCredit(BaseModel):
    case_id: str
    platform: str
    expires_on: date
    amount: str
    currency: str


class Summary(BaseModel):
    cases: int
    by_state: dict[str, int]
    by_kind: dict[str, int]
    by_platform: dict[str, int]
    money: list[Money]
    median_days_to_resolution: float | None
    overdue_follow_ups: list[OverdueFollowUp]
    credits_expiring_soon: list[ExpiringCredit] = Field(
        description=f"Credits expiring within {EXPIRING_SOON_DAYS} days"
    )
    deadlines_complete: bool = Field(
        description=f"False when more than {SUMMARY_DEADLINE_CASES} cases have a deadline "
        "in the window: the two lists then hold the most urgent of them "
        "(GET /v1/reminders lists every one)"
    )
    today: date


@router.get(
    "/summary", response_model=Summary, responses=ERRORS, summary="Counts, money, deadlines"
)
def summary(reclaim: Reclaim, caller: Caller) -> Summary:
    owner = owner_scope(caller)
    figures = queries.summary(reclaim.database, caller.workspace, owner)
    today = datetime.now(UTC).date()
    # only a case whose next deadline falls before the window's end can have an overdue
    # follow-up or a credit expiring in it; the most urgent first, a bounded number
    horizon = datetime.combine(today + timedelta(days=EXPIRING_SOON_DAYS + 1), time.min, UTC)
    rows = queries.due_soon(
        reclaim.database, caller.workspace, owner, horizon, SUMMARY_DEADLINE_CASES + 1
    )
    overdue, expiring = overdue_and_expiring(
        rows[:SUMMARY_DEADLINE_CASES], reclaim.settings.deadline_policy(), today
    )
    return Summary(
        **{**figures, "money": [_money(m) for m in figures["money"]]},
        overdue_follow_ups=overdue,
        credits_expiring_soon=expiring,
        deadlines_complete=len(rows) <= SUMMARY_DEADLINE_CASES,
        today=today,
    )


class RecoveryGroup(Money):
    model_config = ConfigDict(extra="allow")
    group: str | None
    cases: int


class Recovery(BaseModel):
    group_by: str
    groups: list[RecoveryGroup]


@router.get(
    "/recovery",
    response_model=Recovery,
    responses=ERRORS,
    summary="Resolved cases' claimed and recovered amounts, grouped",
)
def recovery(
    reclaim: Reclaim,
    caller: Caller,
    group_by: Literal["platform", "kind", "reason", "month"] = "platform",
) -> Recovery:
    groups = queries.recovery(reclaim.database, caller.workspace, owner_scope(caller), group_by)
    return Recovery(group_by=group_by, groups=[RecoveryGroup(**_money(g)) for g in groups])


class Tally(BaseModel):
    cases: int
    granted: int
    partial: int
    rejected: int
    withdrawn: int
    open: int


class Outcomes(BaseModel):
    appealed: Tally
    escalated: dict[str, Tally] = Field(description="By the highest level each case reached")
    neither: Tally


@router.get(
    "/outcomes",
    response_model=Outcomes,
    responses=ERRORS,
    summary="How cases ended: appealed, escalated (by level), neither",
)
def outcomes(reclaim: Reclaim, caller: Caller) -> Outcomes:
    return Outcomes(**queries.outcomes(reclaim.database, caller.workspace, owner_scope(caller)))


class ContactFigures(BaseModel):
    contacts: int
    answered: int
    answer_rate: float | None
    median_days_to_answer: float | None
    share_answered_within_interval: float | None


class PlatformTimeliness(BaseModel):
    platform: str
    follow_up_interval_days: int
    after: dict[str, ContactFigures] = Field(
        description="By contact: submission, follow_up, appeal, escalation"
    )
    overall: ContactFigures


class Timeliness(BaseModel):
    platforms: list[PlatformTimeliness]


@router.get(
    "/timeliness",
    response_model=Timeliness,
    responses=ERRORS,
    summary="Per platform: how often and how fast it answered each kind of contact",
)
def get_timeliness(reclaim: Reclaim, caller: Caller) -> Timeliness:
    return Timeliness(
        platforms=queries.timeliness(
            reclaim.database,
            caller.workspace,
            owner_scope(caller),
            reclaim.settings.deadline_policy(),
        )
    )
