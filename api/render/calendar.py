"""Deadlines as an iCalendar feed (RFC 5545), for calendar apps to subscribe to.

One all-day VEVENT per deadline. Its UID is the deadline's stable id, so when the
feed is fetched again a calendar app updates the event rather than adding a copy,
and drops it once the deadline is met (it is no longer in the feed).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from icalendar import Calendar, Event

from domain.deadlines import Deadline
from domain.money import format_money
from infrastructure.read.deadline_text import description, title

MEDIA_TYPE = "text/calendar; charset=utf-8"
PRODID = "-//Reclaim//Reclaim deadlines//EN"
UID_DOMAIN = "reclaim"


def event_uid(deadline: Deadline) -> str:
    return f"{deadline.id}@{UID_DOMAIN}"


def case_line(case: Mapping[str, Any]) -> str:
    """One line about a case: ``credit on temu, 25.00 USD claimed, now submitted``."""
    parts = [f"{case.get('kind') or 'case'} on {case.get('platform') or 'an unknown platform'}"]
    amount, currency = case.get("amount_claimed"), case.get("currency")
    if amount is not None:
        parts.append(f"{format_money(amount, currency) if currency else amount} claimed")
    if case.get("state"):
        parts.append(f"now {case['state']}")
    return ", ".join(parts)


def _event(
    deadline: Deadline,
    case: Mapping[str, Any],
    *,
    stamp: datetime,
    today: date,
    case_url: str | None,
) -> Event:
    event = Event()
    event.add("uid", event_uid(deadline))
    event.add("dtstamp", stamp)
    event.add("dtstart", deadline.due)
    event.add("dtend", deadline.due + timedelta(days=1))
    overdue = "Overdue: " if deadline.is_overdue(today) else ""
    event.add("summary", f"{overdue}{title(deadline)}")
    lines = [
        f"What to do: {description(deadline)}",
        f"Next action: {deadline.action.replace('_', ' ')}",
        f"Case: {case_line(case)}",
        f"Case id: {deadline.case_id}",
    ]
    if case_url:
        lines.append(case_url)
        event.add("url", case_url)
    event.add("description", "\n".join(lines))
    event.add("categories", [deadline.kind])
    event.add("transp", "TRANSPARENT")
    return event


def calendar_feed(
    deadlines: Iterable[Deadline],
    cases: Mapping[str, Mapping[str, Any]],
    *,
    now: datetime | None = None,
    name: str = "Reclaim deadlines",
    case_url: str | None = None,
) -> bytes:
    """The feed as bytes. ``cases`` maps each deadline's case id to a few of its facts
    (``kind``, ``platform``, ``amount_claimed``, ``currency``, ``state``); ``case_url``, if
    given, is a template such as ``https://host/v1/cases/{case_id}``."""
    stamp = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", name)
    calendar.add("x-published-ttl", "PT1H")
    for deadline in deadlines:
        calendar.add_component(
            _event(
                deadline,
                cases.get(deadline.case_id, {}),
                stamp=stamp,
                today=stamp.date(),
                case_url=case_url.format(case_id=deadline.case_id) if case_url else None,
            )
        )
    return calendar.to_ical()
