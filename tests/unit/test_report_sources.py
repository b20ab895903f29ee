"""Turning the projections' answers into the reports page's data (pure parts)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from domain.deadlines import DeadlinePolicy
from infrastructure.read.report_sources import monthly_counts, outcome_rows, overdue_and_expiring


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_months_run_from_the_first_to_the_last_with_empty_ones_kept() -> None:
    rows = [
        {"opened_at": moment("2025-11-30T23:00"), "resolved_at": moment("2026-02-01T00:30")},
        {"opened_at": moment("2025-12-05T10:00"), "resolved_at": None},
        {"opened_at": moment("2026-02-10T10:00"), "resolved_at": None},
    ]
    assert monthly_counts(rows) == [
        {"month": "2025-11", "opened": 1, "resolved": 0},
        {"month": "2025-12", "opened": 1, "resolved": 0},
        {"month": "2026-01", "opened": 0, "resolved": 0},
        {"month": "2026-02", "opened": 1, "resolved": 1},
    ]
    assert monthly_counts([]) == []


def test_outcome_tallies_become_rows_neither_appealed_then_each_level() -> None:
    tally = {"cases": 0, "granted": 0, "partial": 0, "rejected": 0, "withdrawn": 0, "open": 0}
    outcomes = {
        "neither": {**tally, "granted": 2, "open": 4},
        "appealed": {**tally, "rejected": 1},
        "escalated": {
            level: {**tally, "partial": 1 if level == "supervisor" else 0}
            for level in ("supervisor", "social_media", "consumer_agency", "payment_provider")
        },
    }
    rows = outcome_rows(outcomes)
    assert [r["group"] for r in rows] == [
        "neither",
        "appealed",
        "supervisor",
        "social_media",
        "consumer_agency",
        "payment_provider",
    ]
    assert rows[0] == {
        "group": "neither",
        "granted": 2,
        "partial": 0,
        "rejected": 0,
        "withdrawn": 0,
    }
    assert rows[2]["partial"] == 1


def test_overdue_follow_ups_and_credits_expiring_within_a_week() -> None:
    base = {
        "kind": "credit",
        "platform": "temu",
        "state": "submitted",
        "amount_claimed": Decimal("25.00"),
        "currency": "USD",
        "opened_at": moment("2026-03-01T10:00"),
        "last_outbound_at": moment("2026-03-02T10:00"),  # follow-up due 5 Mar
        "last_outbound_action": "submit",
        "last_response_at": None,
        "last_denied_at": None,
        "expires_on": None,
    }
    rows = [
        {**base, "id": "late"},
        {
            **base,
            "id": "soon",
            "last_response_at": moment("2026-03-03T10:00"),
            "expires_on": date(2026, 3, 17),
        },
        {
            **base,
            "id": "later",
            "last_response_at": moment("2026-03-03T10:00"),
            "expires_on": date(2026, 3, 18),
        },
    ]
    overdue, expiring = overdue_and_expiring(rows, DeadlinePolicy(), date(2026, 3, 10))
    assert overdue == [
        {
            "case_id": "late",
            "platform": "temu",
            "kind": "credit",
            "due": "2026-03-05",
            "days_overdue": 5,
            "title": "Follow up with temu",
        }
    ]
    assert expiring == [
        {
            "case_id": "soon",
            "platform": "temu",
            "expires_on": "2026-03-17",
            "amount": "25.00",
            "currency": "USD",
        }
    ]
