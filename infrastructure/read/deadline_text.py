"""What a deadline says to a person: its title and its sentence, in English.

``domain.deadlines`` works out the facts (kind, due day, the action that meets it, the
platform, what set it); this module writes them as the reminders, the calendar feed,
the case body, the case book and the reports page show them.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from typing import Any

from domain.actions import DECLARED
from domain.cases import Case
from domain.deadlines import (
    APPEAL,
    EXPIRY,
    EXPIRY_WARNING,
    FOLLOW_UP,
    Deadline,
    DeadlineFacts,
    DeadlinePolicy,
    deadline_summary,
    deadlines_for,
)

#: how a follow-up names the contact it waits on an answer to
CONTACT_NOUNS = {
    a.name: a.contact.replace("_", "-") for a in DECLARED.actions if a.contact is not None
}


@lru_cache(maxsize=4096)
def day_text(day: date) -> str:
    """A deadline's day as its sentences write it: 15 Mar 2026 (``strftime`` is slow for
    what it does, and every case answer writes a few of these)."""
    return f"{day.day} {day:%b %Y}"


def _plural(days: int | None) -> str:
    return "day" if days == 1 else "days"


def _since(deadline: Deadline) -> date:
    assert deadline.since is not None, deadline
    return deadline.since


def _expires(deadline: Deadline) -> date:
    assert deadline.expires_on is not None, deadline
    return deadline.expires_on


def title(deadline: Deadline) -> str:
    platform = deadline.platform
    if deadline.kind == FOLLOW_UP:
        return f"Follow up with {platform}"
    if deadline.kind == APPEAL:
        return f"Appeal the {platform} denial"
    if deadline.kind == EXPIRY:
        return f"{platform} credit expires"
    if deadline.kind == EXPIRY_WARNING:
        return f"{platform} credit expires in {deadline.days} {_plural(deadline.days)}"
    raise ValueError(f"no title for a deadline of kind {deadline.kind!r}")


def description(deadline: Deadline) -> str:
    platform, due = deadline.platform, deadline.due
    if deadline.kind == FOLLOW_UP:
        noun = CONTACT_NOUNS.get(deadline.contact or "", "last contact")
        return (
            f"{platform} has not answered your {noun} of {day_text(_since(deadline))}. "
            f"If there is still no answer by {day_text(due)} ({deadline.days} days), follow up."
        )
    if deadline.kind == APPEAL:
        return (
            f"{platform} denied the claim on {day_text(_since(deadline))}; its appeal "
            f"window of {deadline.days} days closes on {day_text(due)}. Appeal before then."
        )
    if deadline.kind == EXPIRY:
        return (
            f"The {platform} credit expires on {day_text(_expires(deadline))}: get it "
            "reinstated, extended or used before then."
        )
    if deadline.kind == EXPIRY_WARNING:
        return (
            f"The {platform} credit expires on {day_text(_expires(deadline))}, "
            f"{deadline.days} {_plural(deadline.days)} from {day_text(due)}."
        )
    raise ValueError(f"no description for a deadline of kind {deadline.kind!r}")


def deadline_dict(deadline: Deadline) -> dict[str, str]:
    """The deadline as the API and the case book show it: its facts, title and sentence."""
    return {**deadline.to_dict(), "title": title(deadline), "description": description(deadline)}


def case_deadlines(case: Case, policy: DeadlinePolicy) -> dict[str, Any]:
    """What a case response shows as ``deadlines``: the summary, each item in words."""
    return deadline_summary(deadlines_for(DeadlineFacts.of(case), policy), deadline_dict)
