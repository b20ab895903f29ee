"""Reminders: the deadline policy applied to case list rows (or any rows with the same facts).

What ``GET /v1/reminders`` answers and ``GET /v1/calendar.ics`` draws. The rows come
from the case list projection's query, already limited to what the caller may see.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from domain.deadlines import Deadline, DeadlineFacts, DeadlinePolicy, deadlines_for, due_within
from domain.money import format_amount
from infrastructure.read.deadline_text import deadline_dict

#: the case facts a reminder or a calendar event shows beside its deadline
CASE_FIELDS = ("kind", "platform", "state", "amount_claimed", "currency", "account_reference")


def case_summary(row: Mapping[str, Any]) -> dict[str, Any]:
    """The case beside a deadline; its amount written with the currency's decimal places."""
    case_id = str(row.get("case_id") or row.get("id"))
    summary = {"id": case_id, **{name: row.get(name) for name in CASE_FIELDS}}
    if summary["amount_claimed"] is not None and summary["currency"]:
        summary["amount_claimed"] = format_amount(summary["amount_claimed"], summary["currency"])
    return summary


def open_deadlines(
    rows: Iterable[Mapping[str, Any]], policy: DeadlinePolicy
) -> tuple[list[Deadline], dict[str, dict[str, Any]]]:
    """Every deadline of the rows' cases, earliest first, and each case's summary by id."""
    deadlines: list[Deadline] = []
    cases: dict[str, dict[str, Any]] = {}
    for row in rows:
        found = deadlines_for(DeadlineFacts.from_mapping(row), policy)
        if found:
            summary = case_summary(row)
            cases[summary["id"]] = summary
            deadlines.extend(found)
    return sorted(deadlines, key=Deadline.sort_key), cases


def reminders(
    rows: Iterable[Mapping[str, Any]], policy: DeadlinePolicy, today: date, within_days: int
) -> list[dict[str, Any]]:
    """What is due or overdue by ``today + within_days``: each with its case, what to do
    and by when, overdue first."""
    deadlines, cases = open_deadlines(rows, policy)
    return [
        {
            "case": cases[d.case_id],
            **deadline_dict(d),
            "overdue": d.is_overdue(today),
            "days_left": (d.due - today).days,
        }
        for d in due_within(deadlines, today, within_days)
    ]
