"""Reminders from case list rows: what is due within a window, each with its case."""

from __future__ import annotations

from datetime import date

import pytest

from domain.deadlines import DeadlinePolicy
from infrastructure.read.reminders import open_deadlines, reminders

POLICY = DeadlinePolicy()


def row(case_id: str, **facts: object) -> dict:
    base = {
        "case_id": case_id,
        "kind": "credit",
        "platform": "temu",
        "state": "submitted",
        "amount_claimed": "25.00",
        "currency": "USD",
        "account_reference": "acct-1",
        "opened_at": "2026-03-01T10:00:00.000000+00:00",
        "last_outbound_at": "2026-03-02T10:00:00.000000+00:00",
        "last_outbound_action": "submit",
        "last_response_at": None,
        "last_denied_at": None,
        "expires_on": None,
        "search_text": "ignored",
    }
    return {**base, **facts}


ROWS = [
    row("late"),  # follow-up due 5 Mar
    row("answered", last_response_at="2026-03-03T09:00:00+00:00", expires_on="2026-03-20"),
    row("tiktok", platform="tiktok", last_outbound_at="2026-03-08T10:00:00+00:00"),  # 13 Mar
    row("done", state="resolved"),
    row("far", last_outbound_at="2026-03-20T10:00:00+00:00"),  # 23 Mar
]


def test_reminders_within_a_week_overdue_first_with_their_cases() -> None:
    found = reminders(ROWS, POLICY, date(2026, 3, 10), 7)
    assert [(r["case"]["id"], r["kind"], r["due"]) for r in found] == [
        ("late", "follow_up", "2026-03-05"),
        ("tiktok", "follow_up", "2026-03-13"),
        ("answered", "expiry_warning", "2026-03-13"),  # 7 days before 20 Mar
    ]
    assert [(r["overdue"], r["days_left"]) for r in found] == [(True, -5), (False, 3), (False, 3)]
    assert found[0]["case"] == {
        "id": "late",
        "kind": "credit",
        "platform": "temu",
        "state": "submitted",
        "amount_claimed": "25.00",
        "currency": "USD",
        "account_reference": "acct-1",
    }
    assert found[0]["title"] == "Follow up with temu"


def test_the_window_widens_and_resolved_cases_never_appear() -> None:
    found = reminders(ROWS, POLICY, date(2026, 3, 10), 30)
    assert {r["case"]["id"] for r in found} == {"late", "answered", "tiktok", "far"}
    with pytest.raises(ValueError, match="within_days"):
        reminders(ROWS, POLICY, date(2026, 3, 10), -1)


def test_open_deadlines_for_the_calendar_keep_every_deadline() -> None:
    deadlines, cases = open_deadlines(ROWS, POLICY)
    assert set(cases) == {"late", "answered", "tiktok", "far"}
    assert len(deadlines) == 1 + 3 + 1 + 1  # answered: two warnings and the expiry
    assert [d.due for d in deadlines] == sorted(d.due for d in deadlines)


def test_a_reminder_writes_the_amount_with_its_currencys_decimal_places() -> None:
    # a row of a case recorded before amounts were kept with their decimal places says "25"
    found = reminders([row("old", amount_claimed="25")], POLICY, date(2026, 3, 10), 7)
    assert found[0]["case"]["amount_claimed"] == "25.00"
    (yen,) = reminders(
        [row("yen", amount_claimed="1500", currency="JPY")], POLICY, date(2026, 3, 10), 7
    )
    assert yen["case"]["amount_claimed"] == "1500"


def test_the_calendar_line_writes_money_the_one_way() -> None:
    from decimal import Decimal

    from api.render.calendar import case_line
    from domain.money import format_money

    line = case_line(
        {
            "kind": "credit",
            "platform": "temu",
            "amount_claimed": Decimal("25"),
            "currency": "EUR",
            "state": "submitted",
        }
    )
    assert line == "credit on temu, 25.00 EUR claimed, now submitted"
    assert format_money(Decimal("25"), "EUR") == "25.00 EUR"
    assert format_money("1.5", "KWD") == "1.500 KWD"
    assert format_money(Decimal("1500"), "JPY") == "1500 JPY"
