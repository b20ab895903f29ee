"""What a projection sees of one recorded event, and the small conversions they share.

Read tables hold only TEXT and integers, so that a row reads back the same from
SQLite and PostgreSQL (and from a scratch rebuild): times are fixed-width ISO 8601
text in UTC, which sorts as the times do; amounts are decimal text (exact) beside a
whole number of thousandths (for sorting and summing; no currency has more than
three decimals).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from domain.actions import DECLARED, snake
from domain.money import minor_units

#: each recorded event's name -> the lifecycle action that recorded it
EVENT_ACTIONS = DECLARED.event_actions


def iso(moment: datetime) -> str:
    """Fixed-width UTC text, e.g. 2026-03-11T00:00:00.000000+00:00."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def optional_iso(moment: datetime | None) -> str | None:
    return None if moment is None else iso(moment)


def parse_iso(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def iso_date(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


def milli(amount: Decimal) -> int:
    """An amount in thousandths, exactly."""
    scaled = amount.scaleb(3)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{amount} has more than three decimals")
    return int(scaled)


def from_milli(thousandths: int, currency: str) -> Decimal:
    """Thousandths back to an amount with the currency's decimals."""
    return Decimal(thousandths).scaleb(-3).quantize(Decimal(1).scaleb(-minor_units(currency)))


def as_text(value: Any) -> str:
    """For ``json.dumps(default=...)``: decimals, times, dates and ids as text."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


class Recorded:
    """One event at its position in the log; ``stored`` when the raw record is at hand.

    What every projection reads of the event is worked out once, here.
    """

    __slots__ = (
        "position",
        "event",
        "stored",
        "name",
        "event_type",
        "case_id",
        "version",
        "recorded_at",
        "stated_occurred_at",
        "occurred_at",
        "actor",
        "request_id",
        "facts_after",
    )

    def __init__(self, position: int, event: Any, stored: StoredEvent | None = None) -> None:
        self.position = position
        self.event = event
        self.stored = stored
        self.name = type(event).__name__
        self.event_type = snake(self.name)
        self.case_id = str(event.originator_id)
        self.version = int(event.originator_version)
        self.recorded_at = iso(event.timestamp)
        self.stated_occurred_at = optional_iso(getattr(event, "occurred_at", None))
        # notes and evidence say nothing of when: they happened when they were recorded
        self.occurred_at = self.stated_occurred_at or self.recorded_at
        self.actor = str(getattr(event, "actor", "") or "")
        self.request_id = str(getattr(event, "request_id", "") or "")
        #: the case's public fields just after this event, where a fold knew them
        #: (``projector.Folder``); None: the batch's case is as the event left it
        self.facts_after: dict[str, Any] | None = None


class Batch:
    """What one transaction gives the projections: its events in log order, and every
    case they touch as the domain's own fold leaves it after the batch's last event.

    Inline (a command's save) the cases are the aggregates the commands changed; in a
    rebuild they are folded from the log by the same event classes. Either way a
    projection reads a case's facts from the aggregate and never re-applies the
    lifecycle rules itself.
    """

    __slots__ = ("events", "cases", "prepared")

    def __init__(self, events: Sequence[Recorded], cases: Mapping[str, Any]) -> None:
        self.events = events
        self.cases = cases
        #: each projection's ``prepare`` for this batch, by projection name
        self.prepared: dict[str, Any] = {}

    @property
    def last_position(self) -> int:
        return self.events[-1].position

    def __len__(self) -> int:
        return len(self.events)
