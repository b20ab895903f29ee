"""The deadline policy, on aggregates built in memory, with dates worked out by hand.

The factories' credit was earned on 10 Jan 2026 and its case opened on 11 Mar 2026
(``at(60)``); ``at(n)`` is n days after 10 Jan 2026, at midnight UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from domain.cases import Credit, Dispute
from domain.deadlines import (
    APPEAL,
    EXPIRY,
    EXPIRY_WARNING,
    FOLLOW_UP,
    DeadlineFacts,
    DeadlinePolicy,
    case_deadlines,
    deadlines_for,
    due_within,
    next_deadline,
)
from infrastructure.read.deadline_text import description, title
from infrastructure.settings import Settings
from tests.support.factories import NOW, action_args, at, credit_facts, dispute_facts

POLICY = DeadlinePolicy()  # temu 3, tiktok 5, others 5, warnings 30/7/1, no appeal windows


def credit(**overrides: object) -> Credit:
    return Credit.open(**credit_facts(**overrides), now=NOW)


def act(case, action: str, day: float, **overrides: object):
    getattr(case, action)(**action_args(action, at(day), **overrides))
    return case


def kinds_and_dues(case, policy: DeadlinePolicy = POLICY) -> list[tuple[str, date]]:
    return [(d.kind, d.due) for d in deadlines_for(DeadlineFacts.of(case), policy)]


def test_a_new_unsubmitted_case_has_nothing_due() -> None:
    assert kinds_and_dues(credit()) == []


def test_temu_follow_up_is_due_three_days_after_the_submission() -> None:
    case = act(credit(), "submit", 61)  # 12 Mar 2026
    assert kinds_and_dues(case) == [(FOLLOW_UP, date(2026, 3, 15))]
    (deadline,) = deadlines_for(DeadlineFacts.of(case), POLICY)
    assert deadline.action == "follow_up"
    assert "submission of 12 Mar 2026" in description(deadline)
    assert "15 Mar 2026" in description(deadline)


def test_tiktok_waits_five_days_and_an_unlisted_platform_the_default() -> None:
    dispute = Dispute.open(**dispute_facts(), now=NOW)
    act(dispute, "attach_evidence", 0)
    act(dispute, "submit", 61)  # 12 Mar 2026
    assert kinds_and_dues(dispute) == [(FOLLOW_UP, date(2026, 3, 17))]

    shein = act(credit(platform="shein"), "submit", 61)
    assert kinds_and_dues(shein) == [(FOLLOW_UP, date(2026, 3, 17))]
    slow = DeadlinePolicy(follow_up_days_default=9)
    assert kinds_and_dues(shein, slow) == [(FOLLOW_UP, date(2026, 3, 21))]


def test_the_due_day_is_counted_from_the_contacts_utc_date() -> None:
    # 01:00 on 13 Mar at UTC+2 is 23:00 on 12 Mar UTC
    when = datetime(2026, 3, 13, 1, 0, tzinfo=timezone(timedelta(hours=2)))
    case = credit()
    case.submit(**action_args("submit", when))
    assert kinds_and_dues(case) == [(FOLLOW_UP, date(2026, 3, 15))]


def test_a_response_answers_the_contact_and_the_next_follow_up_restarts_the_clock() -> None:
    case = act(credit(), "submit", 61)
    act(case, "record_response", 62)
    assert kinds_and_dues(case) == []
    act(case, "follow_up", 70)  # 21 Mar 2026
    assert kinds_and_dues(case) == [(FOLLOW_UP, date(2026, 3, 24))]


def test_a_response_recorded_later_but_dated_before_the_contact_does_not_answer_it() -> None:
    case = act(credit(), "submit", 61)
    act(case, "follow_up", 65)  # 16 Mar
    act(case, "record_response", 63)  # answered the submission, not the follow-up
    assert kinds_and_dues(case) == [(FOLLOW_UP, date(2026, 3, 19))]


def test_a_denial_answers_and_opens_the_appeal_window_where_one_is_set() -> None:
    case = act(act(credit(), "submit", 61), "deny", 64)  # denied 15 Mar 2026
    assert kinds_and_dues(case) == []
    windowed = DeadlinePolicy(appeal_window_days={"temu": 14})
    assert kinds_and_dues(case, windowed) == [(APPEAL, date(2026, 3, 29))]

    act(case, "appeal", 66)  # 17 Mar: the window is met, the appeal awaits an answer
    assert kinds_and_dues(case, windowed) == [(FOLLOW_UP, date(2026, 3, 20))]


def test_an_escalation_is_a_contact_that_wants_an_answer() -> None:
    case = act(act(credit(), "submit", 61), "escalate", 63)  # 14 Mar
    assert kinds_and_dues(case) == [(FOLLOW_UP, date(2026, 3, 17))]
    (deadline,) = deadlines_for(DeadlineFacts.of(case), POLICY)
    assert "escalation of 14 Mar 2026" in description(deadline)


def test_a_resolved_case_has_no_deadlines() -> None:
    case = credit(expires_on=date(2026, 12, 31))
    act(act(case, "submit", 61), "resolve", 62)
    assert kinds_and_dues(case) == []
    assert next_deadline(DeadlineFacts.of(case), POLICY) is None


def test_a_live_credit_warns_30_7_and_1_days_before_it_expires() -> None:
    case = credit(expires_on=date(2026, 6, 30))
    assert kinds_and_dues(case) == [
        (EXPIRY_WARNING, date(2026, 5, 31)),
        (EXPIRY_WARNING, date(2026, 6, 23)),
        (EXPIRY_WARNING, date(2026, 6, 29)),
        (EXPIRY, date(2026, 6, 30)),
    ]
    found = deadlines_for(DeadlineFacts.of(case), POLICY)
    assert title(found[0]) == "temu credit expires in 30 days"
    assert title(found[2]) == "temu credit expires in 1 day"
    assert {d.action for d in found} == {"submit"}  # what an opened case should do next


def test_warnings_due_before_the_case_was_opened_are_left_out() -> None:
    # opened 11 Mar, expires 20 Mar: the 30-day warning (18 Feb) predates the case
    case = credit(expires_on=date(2026, 3, 20))
    assert kinds_and_dues(case) == [
        (EXPIRY_WARNING, date(2026, 3, 13)),
        (EXPIRY_WARNING, date(2026, 3, 19)),
        (EXPIRY, date(2026, 3, 20)),
    ]


def test_a_credit_already_expired_when_the_case_opened_has_no_expiry_deadlines() -> None:
    assert kinds_and_dues(credit(expires_on=date(2026, 3, 10))) == []


def test_next_deadline_is_the_earliest_that_stays_due_never_a_warning() -> None:
    case = act(credit(expires_on=date(2026, 4, 1)), "submit", 61)  # follow-up 15 Mar
    facts = DeadlineFacts.of(case)
    first = next_deadline(facts, POLICY)
    assert first is not None and (first.kind, first.due) == (FOLLOW_UP, date(2026, 3, 15))
    act(case, "record_response", 62)
    later = next_deadline(DeadlineFacts.of(case), POLICY)
    # the 7- and 1-day warnings (25 and 31 Mar) come first but are only reminders
    assert later is not None and (later.kind, later.due) == (EXPIRY, date(2026, 4, 1))
    assert later.action == "follow_up"


def test_ids_are_stable_across_recomputation_and_change_with_what_set_them() -> None:
    case = act(credit(expires_on=date(2026, 6, 30)), "submit", 61)
    first = deadlines_for(DeadlineFacts.of(case), POLICY)
    again = deadlines_for(DeadlineFacts.of(case), DeadlinePolicy(follow_up_days={"temu": 4}))
    assert [d.id for d in first] == [d.id for d in again]
    assert len({d.id for d in first}) == len(first) == 5

    act(case, "follow_up", 66)
    after = {d.kind: d.id for d in deadlines_for(DeadlineFacts.of(case), POLICY)}
    before = {d.kind: d.id for d in first}
    assert after[FOLLOW_UP] != before[FOLLOW_UP]
    assert after[EXPIRY] == before[EXPIRY]

    other = act(credit(expires_on=date(2026, 6, 30)), "submit", 61)
    assert not {d.id for d in deadlines_for(DeadlineFacts.of(other), POLICY)} & set(before.values())


def test_due_within_keeps_overdue_deadlines_but_drops_past_warnings() -> None:
    case = act(credit(expires_on=date(2026, 4, 1)), "submit", 61)
    found = deadlines_for(DeadlineFacts.of(case), POLICY)
    today = date(2026, 3, 26)  # the follow-up (15 Mar) is overdue; the 7-day warning was 25 Mar
    due = due_within(found, today, 7)
    assert [(d.kind, d.due) for d in due] == [
        (FOLLOW_UP, date(2026, 3, 15)),
        (EXPIRY_WARNING, date(2026, 3, 31)),
        (EXPIRY, date(2026, 4, 1)),
    ]
    assert [d.is_overdue(today) for d in due] == [True, False, False]
    assert [(d.kind, d.due) for d in due_within(found, today, 0)] == [
        (FOLLOW_UP, date(2026, 3, 15))
    ]
    with pytest.raises(ValueError, match="within_days"):
        due_within(found, today, -1)


def test_facts_from_a_projection_row_give_the_same_deadlines() -> None:
    case = act(credit(expires_on=date(2026, 6, 30)), "submit", 61)
    row = {
        "id": str(case.id),
        "kind": "credit",
        "platform": "temu",
        "state": "submitted",
        "opened_at": case.opened_at.isoformat(),
        "last_outbound_at": case.last_outbound_at.isoformat(),
        "last_outbound_action": "submit",
        "last_response_at": None,
        "last_denied_at": None,
        "expires_on": "2026-06-30",
        "something_else": 1,
    }
    assert DeadlineFacts.from_mapping(row) == DeadlineFacts.of(case)
    with pytest.raises(ValueError, match="missing platform"):
        DeadlineFacts.from_mapping({**row, "platform": None})
    with pytest.raises(ValueError, match="UTC offset"):
        DeadlineFacts.from_mapping({**row, "opened_at": "2026-03-11T00:00:00"})
    with pytest.raises(ValueError, match="state"):
        DeadlineFacts.from_mapping({**row, "state": "lost"})


def test_case_deadlines_is_the_case_bodys_summary() -> None:
    case = act(credit(expires_on=date(2026, 6, 30)), "submit", 61)
    body = case_deadlines(case, POLICY)
    assert body["follow_up_due"] == "2026-03-15"
    assert body["expires_on"] == "2026-06-30"
    assert body["appeal_by"] is None
    assert body["next"]["kind"] == FOLLOW_UP
    assert [i["due"] for i in body["items"]] == [
        "2026-03-15",
        "2026-05-31",
        "2026-06-23",
        "2026-06-29",
        "2026-06-30",
    ]


@pytest.mark.parametrize(
    "bad",
    [
        {"follow_up_days": {"temu": 0}},
        {"follow_up_days_default": -1},
        {"appeal_window_days": {"temu": 1.5}},
        {"expiry_warning_days": (30, 0)},
        {"follow_up_days": {"temu": 10**9}},
    ],
)
def test_a_policy_with_impossible_numbers_is_refused(bad: dict) -> None:
    with pytest.raises(ValueError, match="whole number of days from 1 to 3660"):
        DeadlinePolicy(**bad)


def test_settings_build_the_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RECLAIM_FOLLOW_UP_DAYS", '{"temu": 2}')
    monkeypatch.setenv("RECLAIM_APPEAL_WINDOW_DAYS", '{"tiktok": 10}')
    monkeypatch.setenv("RECLAIM_EXPIRY_WARNING_DAYS", "[7, 14]")
    policy = Settings().deadline_policy()
    assert policy.follow_up_interval("temu") == 2
    assert policy.follow_up_interval("tiktok") == 5
    assert policy.appeal_window("tiktok") == 10
    assert policy.appeal_window("temu") is None
    assert policy.expiry_warning_days == (14, 7)


def test_deadlines_are_utc_dates() -> None:
    case = act(credit(), "submit", 61)
    (deadline,) = deadlines_for(DeadlineFacts.of(case), POLICY)
    assert case.last_outbound_at == datetime(2026, 3, 12, tzinfo=UTC)
    assert deadline.to_dict()["due"] == "2026-03-15"


def test_deadlines_worked_out_once_are_the_same_and_cannot_be_changed_from_outside() -> None:
    """A policy remembers the deadlines of facts it has seen (one command asks twice): the
    second answer equals a fresh policy's, and changing a returned list changes nothing."""
    case = act(credit(), "submit", 61)
    facts = DeadlineFacts.of(case)
    policy = DeadlinePolicy()
    first = deadlines_for(facts, policy)
    first.clear()
    assert deadlines_for(facts, policy) == deadlines_for(facts, DeadlinePolicy())
    assert deadlines_for(facts, policy)


def test_the_same_deadline_settings_give_the_same_policy_and_new_ones_a_new_one() -> None:
    settings = Settings(follow_up_days={"temu": 3})
    assert settings.deadline_policy() is Settings(follow_up_days={"temu": 3}).deadline_policy()
    changed = Settings(follow_up_days={"temu": 4}).deadline_policy()
    assert changed.follow_up_interval("temu") == 4
    with pytest.raises(ValueError):
        Settings(follow_up_days={"temu": 0}).deadline_policy()
