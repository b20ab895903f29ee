"""The iCalendar feed, parsed back with the icalendar library."""

from __future__ import annotations

from datetime import UTC, date, datetime

from icalendar import Calendar

from api.render.calendar import calendar_feed, event_uid
from domain.cases import Credit, Dispute
from domain.deadlines import DeadlineFacts, DeadlinePolicy, deadlines_for
from infrastructure.read import deadline_text
from tests.support.factories import NOW, action_args, at, credit_facts, dispute_facts

POLICY = DeadlinePolicy(appeal_window_days={"tiktok": 10})
STAMP = datetime(2026, 3, 20, 9, 30, tzinfo=UTC)


def two_cases():
    credit = Credit.open(**credit_facts(expires_on=date(2026, 6, 30)), now=NOW)
    credit.submit(**action_args("submit", at(61)))  # follow-up due 15 Mar (overdue on 20 Mar)
    dispute = Dispute.open(**dispute_facts(), now=NOW)
    dispute.attach_evidence(**action_args("attach_evidence"))
    dispute.submit(**action_args("submit", at(61)))
    dispute.deny(**action_args("deny", at(65)))  # 16 Mar: appeal by 26 Mar
    return credit, dispute


def facts_of(*cases):
    return {
        str(c.id): {
            "kind": c.kind,
            "platform": c.platform,
            "amount_claimed": str(c.amount_claimed),
            "currency": c.currency,
            "state": c.state,
        }
        for c in cases
    }


def feed_for(*cases, now=STAMP, **options):
    deadlines = [d for c in cases for d in deadlines_for(DeadlineFacts.of(c), POLICY)]
    return deadlines, calendar_feed(deadlines, facts_of(*cases), now=now, **options)


def test_one_event_per_deadline_with_its_date_uid_and_what_to_do() -> None:
    credit, dispute = two_cases()
    deadlines, raw = feed_for(credit, dispute)
    assert len(deadlines) == 6  # credit: follow-up, 3 warnings, expiry; dispute: appeal
    calendar = Calendar.from_ical(raw)
    assert str(calendar["version"]) == "2.0"
    assert "Reclaim" in str(calendar["prodid"])
    events = {str(e["uid"]): e for e in calendar.walk("VEVENT")}
    assert set(events) == {event_uid(d) for d in deadlines}
    for deadline in deadlines:
        event = events[event_uid(deadline)]
        assert event.decoded("dtstart") == deadline.due
        assert (event.decoded("dtend") - deadline.due).days == 1
        assert event.decoded("dtstamp") == STAMP
        assert deadline_text.title(deadline) in str(event["summary"])
        description = str(event["description"])
        assert deadline_text.description(deadline) in description
        assert f"Case id: {deadline.case_id}" in description

    appeal = next(d for d in deadlines if d.kind == "appeal")
    event = events[event_uid(appeal)]
    assert event.decoded("dtstart") == date(2026, 3, 26)
    assert "dispute on tiktok, 120.00 USD claimed, now denied" in str(event["description"])


def test_an_overdue_deadline_says_so() -> None:
    credit, _ = two_cases()
    _, raw = feed_for(credit)
    summaries = [str(e["summary"]) for e in Calendar.from_ical(raw).walk("VEVENT")]
    assert "Overdue: Follow up with temu" in summaries
    assert sum(s.startswith("Overdue") for s in summaries) == 1


def test_uids_stay_the_same_when_the_feed_is_fetched_again() -> None:
    credit, dispute = two_cases()
    _, first = feed_for(credit, dispute)
    _, later = feed_for(credit, dispute, now=datetime(2026, 3, 21, tzinfo=UTC))

    def uids(raw: bytes) -> list[str]:
        return sorted(str(e["uid"]) for e in Calendar.from_ical(raw).walk("VEVENT"))

    assert uids(first) == uids(later)
    assert len(set(uids(first))) == 6


def test_the_feed_is_rfc_5545_text_with_case_links() -> None:
    credit, _ = two_cases()
    _, raw = feed_for(credit, case_url="https://reclaim.example/v1/cases/{case_id}")
    lines = raw.split(b"\r\n")
    assert lines[0] == b"BEGIN:VCALENDAR"
    assert all(len(line) <= 75 for line in lines)
    event = Calendar.from_ical(raw).walk("VEVENT")[0]
    assert str(event["url"]) == f"https://reclaim.example/v1/cases/{credit.id}"


def test_an_empty_feed_is_still_a_calendar() -> None:
    calendar = Calendar.from_ical(calendar_feed([], {}, now=STAMP))
    assert calendar.walk("VEVENT") == []
    assert str(calendar["x-wr-calname"]) == "Reclaim deadlines"
