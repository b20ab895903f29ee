"""How promptly each platform answers: after a submission, a follow-up, an appeal and
an escalation, how often an answer came, how many days it took, and the share that
came within the platform's follow-up interval.

An outbound contact is answered by the first response, denial or resolution that
happened after it and before the next contact; a contact followed by another contact
with nothing in between was not answered. Times are when things happened
(``occurred_at``).

``timeliness`` works the report out in Python from timeline entries: the reference
the reports projection's counters are tested against. The API reads the same report
from the counters (``queries.timeliness``), at a cost that does not grow with the log.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from domain.actions import DECLARED
from domain.deadlines import DeadlinePolicy

OUTBOUND = DECLARED.outbound
INBOUND = DECLARED.inbound
CONTACTS = DECLARED.contacts


def _blank() -> dict[str, list[Any]]:
    return {"contacts": [], "days": []}


def timeliness(rows: Iterable[Mapping[str, Any]], policy: DeadlinePolicy) -> list[dict[str, Any]]:
    """``rows``: timeline entries with ``platform``, in case, ``occurred_at``, version order."""
    tallies: dict[str, dict[str, dict[str, list[Any]]]] = {}
    waiting: dict[str, tuple[str, str, datetime]] = {}  # case -> (platform, contact, since)
    for row in rows:
        case, kind, when = row["case_id"], row["event_type"], row["occurred_at"]
        platform = row["platform"]
        if kind in OUTBOUND or kind in INBOUND:
            earlier = waiting.pop(case, None)
            if earlier is not None:
                answered = kind in INBOUND
                days = (when - earlier[2]).total_seconds() / 86400 if answered else None
                tally = tallies.setdefault(earlier[0], {c: _blank() for c in CONTACTS})
                tally[earlier[1]]["contacts"].append(days)
        if kind in OUTBOUND:
            waiting[case] = (platform, OUTBOUND[kind], when)
    for platform, contact, _since in waiting.values():  # still waiting: not answered (yet)
        tallies.setdefault(platform, {c: _blank() for c in CONTACTS})[contact]["contacts"].append(
            None
        )
    return [_summarise(platform, tallies[platform], policy) for platform in sorted(tallies)]


def _summarise(
    platform: str, tally: dict[str, dict[str, list[Any]]], policy: DeadlinePolicy
) -> dict[str, Any]:
    interval = policy.follow_up_interval(platform)
    after: dict[str, Any] = {}
    every: list[float | None] = []
    for contact in CONTACTS:
        delays = tally[contact]["contacts"]
        every += delays
        after[contact] = _figures(delays, interval)
    return platform_figures(platform, interval, after, _figures(every, interval))


def platform_figures(
    platform: str, interval: int, after: dict[str, Any], overall: dict[str, Any]
) -> dict[str, Any]:
    """One platform's entry of the report."""
    return {
        "platform": platform,
        "follow_up_interval_days": interval,
        "after": after,
        "overall": overall,
    }


def _figures(delays: list[float | None], interval: int) -> dict[str, Any]:
    answered = [d for d in delays if d is not None]
    return figures(
        contacts=len(delays),
        answered=len(answered),
        within=sum(1 for d in answered if d <= interval),
        median_days=statistics.median(answered) if answered else None,
    )


def figures(
    *, contacts: int, answered: int, within: int, median_days: float | None
) -> dict[str, Any]:
    """One contact kind's figures: how many, how many answered, the rates, the median."""
    return {
        "contacts": contacts,
        "answered": answered,
        "answer_rate": round(answered / contacts, 4) if contacts else None,
        "median_days_to_answer": None if median_days is None else round(median_days, 2),
        "share_answered_within_interval": round(within / contacts, 4) if contacts else None,
    }
