"""Deadlines: what is due on a case and by when, derived from its facts, never stored.

Four kinds, all computed from the same few facts (``DeadlineFacts``), which the
aggregate has and the case list projection keeps on its row:

- ``follow_up``: the platform has not answered the last outbound contact (a
  submission, follow-up, appeal or escalation); a follow-up is due a per-platform
  number of days after it. A later response or denial answers it.
- ``appeal``: after a denial, the platform's appeal window (where one is set) closes.
- ``expiry``: a credit still live when its case was opened expires.
- ``expiry_warning``: reminders 30, 7 and 1 days (configurable) ahead of that expiry.
  A warning is a reminder *on* a day, so it never becomes overdue.

A resolved case has none. Each deadline has an id that is the same every time it
is computed (case, kind, and what set it), so a calendar app updates rather than
duplicates it, and a new contact replaces the old follow-up with a new one.

A deadline is facts only (its kind, day, the action that meets it and what set it);
the sentences a person reads are written by ``infrastructure.read.deadline_text``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from domain import lifecycle
from domain.actions import DECLARED
from domain.cases import Case

FOLLOW_UP = "follow_up"
APPEAL = "appeal"
EXPIRY = "expiry"
EXPIRY_WARNING = "expiry_warning"
#: in this order when two fall due on the same day
KINDS = (FOLLOW_UP, APPEAL, EXPIRY, EXPIRY_WARNING)

#: the namespace of deadline ids (uuid5); changing it would change every calendar UID
_ID_NAMESPACE = uuid.UUID("0f6b2c9e-5d7a-4e0b-9a53-7f2d1c8e4b61")

#: the outbound contacts a follow-up waits on an answer to
_CONTACTS = DECLARED.outbound_actions
#: what to do about an expiring credit, the first the case's state allows
_EXPIRY_STEPS = DECLARED.outbound_actions


#: the defaults of the deadline settings (``Settings`` starts from these too)
FOLLOW_UP_DAYS = {"temu": 3, "tiktok": 5}
FOLLOW_UP_DAYS_DEFAULT = 5
EXPIRY_WARNING_DAYS = (30, 7, 1)

#: longer than any platform's window; keeps date arithmetic far from its limits
MAX_DAYS = 3660


def _positive_days(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_DAYS:
        raise ValueError(
            f"{name} must be a whole number of days from 1 to {MAX_DAYS}, got {value!r}"
        )
    return value


@dataclass(frozen=True)
class DeadlinePolicy:
    """How many days each deadline allows; built from settings outside the domain."""

    follow_up_days: Mapping[str, int] = field(default_factory=lambda: dict(FOLLOW_UP_DAYS))
    follow_up_days_default: int = FOLLOW_UP_DAYS_DEFAULT
    appeal_window_days: Mapping[str, int] = field(default_factory=dict)
    expiry_warning_days: tuple[int, ...] = EXPIRY_WARNING_DAYS
    #: deadlines worked out under this policy, by the facts they came from: one command
    #: asks twice for the same ones (its answer and its case-list row)
    _known: dict[DeadlineFacts, tuple[Deadline, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        for platform, days in self.follow_up_days.items():
            _positive_days(days, f"follow_up_days[{platform!r}]")
        for platform, days in self.appeal_window_days.items():
            _positive_days(days, f"appeal_window_days[{platform!r}]")
        _positive_days(self.follow_up_days_default, "follow_up_days_default")
        warnings = tuple(self.expiry_warning_days)
        for days in warnings:
            _positive_days(days, "expiry_warning_days")
        object.__setattr__(self, "follow_up_days", dict(self.follow_up_days))
        object.__setattr__(self, "appeal_window_days", dict(self.appeal_window_days))
        object.__setattr__(self, "expiry_warning_days", tuple(sorted(set(warnings), reverse=True)))

    def follow_up_interval(self, platform: str) -> int:
        return self.follow_up_days.get(platform, self.follow_up_days_default)

    def appeal_window(self, platform: str) -> int | None:
        return self.appeal_window_days.get(platform)


def _utc(value: datetime | str | None, name: str) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise ValueError(f"{name} must be a date-time with a UTC offset, got {value!r}")
    return value.astimezone(UTC)


def _day(value: date | str | None, name: str) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = date.fromisoformat(value)
    if isinstance(value, datetime) or not isinstance(value, date):
        raise ValueError(f"{name} must be a date, got {value!r}")
    return value


@dataclass(frozen=True)
class DeadlineFacts:
    """The facts every deadline is computed from.

    ``DeadlineFacts.of(case)`` takes them from an aggregate; ``from_mapping(row)`` from
    a projection row (ISO strings are accepted for the times and the date).
    """

    case_id: str
    case_kind: str
    platform: str
    state: str
    opened_at: datetime
    last_outbound_at: datetime | None = None
    last_outbound_action: str | None = None
    last_response_at: datetime | None = None
    last_denied_at: datetime | None = None
    expires_on: date | None = None

    FIELDS = (
        "case_id",
        "case_kind",
        "platform",
        "state",
        "opened_at",
        "last_outbound_at",
        "last_outbound_action",
        "last_response_at",
        "last_denied_at",
        "expires_on",
    )

    def __post_init__(self) -> None:
        if self.state not in lifecycle.STATES:
            raise ValueError(f"state {self.state!r} is not one of {', '.join(lifecycle.STATES)}")
        if self.last_outbound_action not in (None, *_CONTACTS):
            raise ValueError(f"last_outbound_action {self.last_outbound_action!r} is not a contact")
        object.__setattr__(self, "case_id", str(self.case_id))
        for name in ("opened_at", "last_outbound_at", "last_response_at", "last_denied_at"):
            object.__setattr__(self, name, _utc(getattr(self, name), name))
        if self.opened_at is None:
            raise ValueError("opened_at is required")
        object.__setattr__(self, "expires_on", _day(self.expires_on, "expires_on"))

    @classmethod
    def of(cls, case: Case) -> DeadlineFacts:
        return cls(
            case_id=str(case.id),
            case_kind=case.kind,
            platform=case.platform,
            state=case.state,
            opened_at=case.opened_at,
            last_outbound_at=case.last_outbound_at,
            last_outbound_action=case.last_outbound_action,
            last_response_at=case.last_response_at,
            last_denied_at=case.last_denied_at,
            expires_on=getattr(case, "expires_on", None),
        )

    @classmethod
    def from_mapping(cls, row: Mapping[str, Any]) -> DeadlineFacts:
        """From a row that has these fields (``case_id`` may also be called ``id``,
        ``case_kind`` may be called ``kind``)."""
        values: dict[str, Any] = dict(row)
        values.setdefault("case_id", values.get("id"))
        values.setdefault("case_kind", values.get("kind"))
        missing = [f for f in ("case_id", "case_kind", "platform", "state") if not values.get(f)]
        if missing:
            raise ValueError(f"deadline facts are missing {', '.join(missing)}")
        facts: dict[str, Any] = {name: values.get(name) for name in cls.FIELDS}
        return cls(**facts)


@dataclass(frozen=True)
class Deadline:
    id: str
    case_id: str
    kind: str
    due: date
    #: the lifecycle action that meets it (``follow_up``, ``appeal``, ...)
    action: str
    platform: str
    #: the days it allows: the follow-up interval, the appeal window, or how many days
    #: ahead of the expiry a warning is
    days: int | None = None
    #: the day that set it: the last contact's (follow_up) or the denial's (appeal)
    since: date | None = None
    #: the outbound contact a follow-up waits on an answer to (``submit``, ...), if known
    contact: str | None = None
    #: the day the credit expires (expiry and expiry_warning)
    expires_on: date | None = None

    @property
    def lapses(self) -> bool:
        """A warning is for its day only; the other kinds stay due until met."""
        return self.kind == EXPIRY_WARNING

    def is_overdue(self, today: date) -> bool:
        return not self.lapses and today > self.due

    def sort_key(self) -> tuple[date, int, str]:
        return (self.due, KINDS.index(self.kind), self.id)

    def to_dict(self) -> dict[str, str]:
        return {
            "id": self.id,
            "case_id": self.case_id,
            "kind": self.kind,
            "due": self.due.isoformat(),
            "action": self.action,
        }


def _deadline(
    facts: DeadlineFacts, kind: str, trigger: str, due: date, action: str, **what: Any
) -> Deadline:
    key = f"{facts.case_id}|{kind}|{trigger}"
    return Deadline(
        id=str(uuid.uuid5(_ID_NAMESPACE, key)),
        case_id=facts.case_id,
        kind=kind,
        due=due,
        action=action,
        platform=facts.platform,
        **what,
    )


def _follow_up(facts: DeadlineFacts, policy: DeadlinePolicy) -> Deadline | None:
    sent = facts.last_outbound_at
    if sent is None or FOLLOW_UP not in lifecycle.allowed_actions(facts.state):
        return None
    if facts.last_response_at is not None and facts.last_response_at >= sent:
        return None
    days = policy.follow_up_interval(facts.platform)
    due = sent.date() + timedelta(days=days)
    return _deadline(
        facts,
        FOLLOW_UP,
        sent.isoformat(),
        due,
        "follow_up",
        days=days,
        since=sent.date(),
        contact=facts.last_outbound_action,
    )


def _appeal(facts: DeadlineFacts, policy: DeadlinePolicy) -> Deadline | None:
    denied = facts.last_denied_at
    window = policy.appeal_window(facts.platform)
    if denied is None or window is None or APPEAL not in lifecycle.allowed_actions(facts.state):
        return None
    due = denied.date() + timedelta(days=window)
    return _deadline(
        facts, APPEAL, denied.isoformat(), due, "appeal", days=window, since=denied.date()
    )


def _expiry(facts: DeadlineFacts, policy: DeadlinePolicy) -> list[Deadline]:
    expires = facts.expires_on
    opened = facts.opened_at.date()
    # a credit already expired when the case was opened is what the case is about
    if expires is None or expires <= opened:
        return []
    allowed = lifecycle.allowed_actions(facts.state)
    step = next((a for a in _EXPIRY_STEPS if a in allowed), "follow_up")
    found = [_deadline(facts, EXPIRY, expires.isoformat(), expires, step, expires_on=expires)]
    for days in policy.expiry_warning_days:
        warn_on = expires - timedelta(days=days)
        if warn_on < opened:
            continue
        found.append(
            _deadline(
                facts,
                EXPIRY_WARNING,
                f"{expires.isoformat()}|{days}",
                warn_on,
                step,
                days=days,
                expires_on=expires,
            )
        )
    return found


#: how many facts a policy remembers the deadlines of (then it starts again)
_KNOWN_MAX = 4096


def deadlines_for(facts: DeadlineFacts, policy: DeadlinePolicy) -> list[Deadline]:
    """Every deadline of the case, earliest first; none once it is resolved."""
    known = policy._known  # noqa: SLF001 - the policy's own memo
    found = known.get(facts)
    if found is None:
        found = _work_out(facts, policy)
        if len(known) >= _KNOWN_MAX:
            known.clear()
        known[facts] = found
    return list(found)


def _work_out(facts: DeadlineFacts, policy: DeadlinePolicy) -> tuple[Deadline, ...]:
    if facts.state == "resolved":
        return ()
    found = [d for d in (_follow_up(facts, policy), _appeal(facts, policy)) if d is not None]
    found.extend(_expiry(facts, policy))
    return tuple(sorted(found, key=Deadline.sort_key))


def next_deadline(facts: DeadlineFacts, policy: DeadlinePolicy) -> Deadline | None:
    """The earliest deadline that stays due until met (warnings are not deadlines of their own:
    the expiry they warn of is). What the case list shows, sorts and filters ``due_before`` on."""
    return next((d for d in deadlines_for(facts, policy) if not d.lapses), None)


def due_within(deadlines: Iterable[Deadline], today: date, within_days: int) -> list[Deadline]:
    """What is due or overdue by ``today + within_days``: overdue deadlines stay until met,
    a warning shows from ``within_days`` before its day until its day."""
    if isinstance(within_days, bool) or not isinstance(within_days, int) or within_days < 0:
        raise ValueError("within_days must be a whole number of days, zero or more")
    horizon = today + timedelta(days=within_days)
    return sorted(
        (d for d in deadlines if d.due <= horizon and not (d.lapses and d.due < today)),
        key=Deadline.sort_key,
    )


def deadline_summary(
    deadlines: Iterable[Deadline], as_dict: Callable[[Deadline], dict[str, str]] = Deadline.to_dict
) -> dict[str, Any]:
    """The case body's ``deadlines``: the dates at a glance, the next one, and every item
    (each as ``as_dict`` writes it: its facts, unless the caller adds the words)."""
    items = sorted(deadlines, key=Deadline.sort_key)

    def first(kind: str) -> str | None:
        return next((d.due.isoformat() for d in items if d.kind == kind), None)

    upcoming = next((d for d in items if not d.lapses), None)
    return {
        "follow_up_due": first(FOLLOW_UP),
        "appeal_by": first(APPEAL),
        "expires_on": first(EXPIRY),
        "next": as_dict(upcoming) if upcoming else None,
        "items": [as_dict(d) for d in items],
    }


def case_deadlines(case: Case, policy: DeadlinePolicy) -> dict[str, Any]:
    """``deadline_summary`` for an aggregate: what a case response shows as ``deadlines``."""
    return deadline_summary(deadlines_for(DeadlineFacts.of(case), policy))
