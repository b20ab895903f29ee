"""Every action on a case, declared once.

One row per action gives its name, the event it records, the moves it makes in the
lifecycle, how its timeline entry is titled, whether it is an outbound contact (which
starts the follow-up clock and is counted in timeliness) or an answer from the
platform (which stops it), and how the HTTP API names it. Everything that used to
list the actions again derives from ``ACTIONS`` through ``Declared``:

- the lifecycle machine, ``allowed_actions`` and the 409 answer (``lifecycle``);
- the Mermaid diagram (``lifecycle.mermaid_diagram``);
- which action recorded an event (``EVENT_ACTIONS``), timeline titles (``TITLES``);
- deadlines: which contacts start a follow-up clock, the steps for an expiring credit;
- timeliness and the report counters: outbound contacts and the events that answer;
- the command routes' paths and summaries (and so the OpenAPI document).

Adding an action is one ``Action`` here, its method on ``Case``, its route, template
and tests: ``tests`` builds the derived tables from a declaration with a tenth action.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from domain.money import format_money

STATES = ["opened", "submitted", "followed_up", "denied", "appealed", "escalated", "resolved"]
OPEN_STATES = [s for s in STATES if s != "resolved"]
#: where the platform has the claim: what it may answer
ANSWERABLE = ["submitted", "followed_up", "denied", "appealed", "escalated"]

#: an event's attributes and the case's currency -> the timeline's title and details
Title = Callable[[Any, str], tuple[str, str]]


@dataclass(frozen=True)
class Move:
    """From any of ``sources`` to ``dest``; ``dest=None`` stays put (the action is only
    recorded: an internal transition of the machine)."""

    sources: tuple[str, ...]
    dest: str | None


def move(sources: Sequence[str], dest: str | None) -> Move:
    return Move(tuple(sources), dest)


@dataclass(frozen=True)
class Action:
    #: the command's name: the ``Case`` method, the trigger of the machine
    name: str
    #: the class name of the event it records (``Case.Submitted`` ...)
    event: str
    moves: tuple[Move, ...]
    title: Title
    #: the last segment of ``POST /v1/cases/{id}/...``
    path: str
    #: one line for the OpenAPI document
    summary: str
    #: an outbound contact of this kind (``submission``, ``follow_up`` ...): it starts the
    #: follow-up clock and timeliness waits for its answer
    contact: str | None = None
    #: the platform's answer: it stops the clock of the contact before it
    answers: bool = False

    @property
    def event_type(self) -> str:
        """The event's name as the read tables keep it (``response_received``)."""
        return snake(self.event)

    @property
    def changes_state(self) -> bool:
        return any(m.dest is not None for m in self.moves)

    @property
    def only_records(self) -> bool:
        """Moves nothing, contacts nobody, answers nothing: a note or a file."""
        return not (self.changes_state or self.contact or self.answers)


_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def snake(name: str) -> str:
    return _CAMEL.sub("_", name).lower()


# --- how the timeline reads ---------------------------------------------------------------
#: how a message went out, as it reads after the verb ("Submitted via live chat")
CHANNEL_PHRASES = {
    "support_ticket": "via support ticket",
    "email": "by email",
    "live_chat": "via live chat",
    "phone": "by phone",
    "ads_manager": "via Ads Manager",
    "social_media": "via social media",
    "other": "",
}
LEVEL_NAMES = {
    "supervisor": "a supervisor",
    "social_media": "social media",
    "consumer_agency": "consumer agency",
    "payment_provider": "payment provider",
}


def words(value: str | None) -> str:
    return (value or "").replace("_", " ")


def join(*parts: str | None) -> str:
    return " ".join(p for p in parts if p)


def _with(title: str, detail: str | None) -> str:
    return f"{title}: {detail}" if detail else title


def erased_title(event: Any, currency: str) -> tuple[str, str]:
    """The erasure of the case owner's personal data: recorded by whoever erased it (the
    event's ``actor``), with nothing personal in it."""
    return (
        "Personal data erased",
        "the owner's data key was destroyed; personal fields read as erased.",
    )


def opened_title(event: Any, currency: str) -> tuple[str, str]:
    if hasattr(event, "credit_type"):
        title = (
            f"Opened: {format_money(event.amount, currency)} {words(event.credit_type)} credit "
            f"on {event.platform} ({words(event.problem)})"
        )
        details = join(
            f"remedy sought: {words(event.remedy)}.",
            f"account {event.account_reference}." if event.account_reference else None,
        )
        return title, details
    title = (
        f"Opened: dispute of {format_money(event.refund_amount, currency)} "
        f"{join('charge', event.charge_reference)} on {event.platform} ({words(event.reason)})"
    )
    details = join(
        f"charged {format_money(event.charged_amount, currency)}.",
        f"account {event.account_reference}." if event.account_reference else None,
    )
    return title, details


def _submitted(event: Any, currency: str) -> tuple[str, str]:
    return join("Submitted", CHANNEL_PHRASES[event.channel], event.reference), event.message


def _followed_up(event: Any, currency: str) -> tuple[str, str]:
    return join("Followed up", CHANNEL_PHRASES[event.channel]), event.message


def _response(event: Any, currency: str) -> tuple[str, str]:
    return "Platform responded", event.message


def _denied(event: Any, currency: str) -> tuple[str, str]:
    return _with("Denied", event.reason), ""


def _appealed(event: Any, currency: str) -> tuple[str, str]:
    return "Appealed", event.grounds


def _escalated(event: Any, currency: str) -> tuple[str, str]:
    title = f"Escalated to {LEVEL_NAMES[event.level]}"
    return (f"{title} ({event.contact})" if event.contact else title), event.message


def _resolved(event: Any, currency: str) -> tuple[str, str]:
    title = f"Resolved: {event.outcome}"
    if event.recovered_form:
        recovered = format_money(event.recovered_amount, currency)
        title += f", {recovered} recovered as {words(event.recovered_form)}"
    return title, event.note


def _note(event: Any, currency: str) -> tuple[str, str]:
    return "Note added", event.text


def _evidence(event: Any, currency: str) -> tuple[str, str]:
    title = f"Evidence attached: {words(event.kind)}"
    if event.filename:
        title += f" ({event.filename})"
    return title, join(event.description, f"SHA-256 {event.sha256}, {event.size} bytes.")


# --- the declaration ---------------------------------------------------------------------
#: in this order everywhere actions are listed (``allowed_actions``, the diagram)
ACTIONS: tuple[Action, ...] = (
    Action(
        "submit",
        "Submitted",
        (move(["opened"], "submitted"),),
        _submitted,
        path="submit",
        summary="Submit the claim to the platform",
        contact="submission",
    ),
    Action(
        "follow_up",
        "FollowedUp",
        (move(["submitted", "followed_up"], "followed_up"), move(["appealed", "escalated"], None)),
        _followed_up,
        path="follow-up",
        summary="Follow up on an unanswered contact",
        contact="follow_up",
    ),
    Action(
        "deny",
        "Denied",
        (move(["submitted", "followed_up", "appealed", "escalated"], "denied"),),
        _denied,
        path="deny",
        summary="Record the platform's denial",
        answers=True,
    ),
    Action(
        "appeal",
        "Appealed",
        (move(["denied"], "appealed"),),
        _appealed,
        path="appeal",
        summary="Appeal a denial",
        contact="appeal",
    ),
    Action(
        "escalate",
        "Escalated",
        (
            move(["submitted", "followed_up", "denied", "appealed"], "escalated"),
            move(["escalated"], None),
        ),
        _escalated,
        path="escalate",
        summary="Escalate to a named level",
        contact="escalation",
    ),
    Action(
        "resolve",
        "Resolved",
        (move(OPEN_STATES, "resolved"),),
        _resolved,
        path="resolve",
        summary="Resolve the case with its outcome",
        answers=True,
    ),
    Action(
        "record_response",
        "ResponseReceived",
        (move(ANSWERABLE, None),),
        _response,
        path="responses",
        summary="Record a platform reply that decides nothing",
        answers=True,
    ),
    Action(
        "attach_evidence",
        "EvidenceAttached",
        (move(STATES, None),),
        _evidence,
        path="evidence",
        summary="Attach a file as evidence",
    ),
    Action(
        "add_note",
        "NoteAdded",
        (move(STATES, None),),
        _note,
        path="notes",
        summary="Add a note",
    ),
)


class Declared:
    """The tables every other module reads, derived from one declaration of actions."""

    def __init__(self, actions: Sequence[Action], states: Sequence[str] = STATES) -> None:
        self.actions = tuple(actions)
        self.states = list(states)
        self.by_name = {a.name: a for a in self.actions}
        if len(self.by_name) != len(self.actions):
            raise ValueError("two actions share a name")
        for action in self.actions:
            for m in action.moves:
                unknown = {*m.sources, m.dest or m.sources[0]} - set(self.states)
                if unknown:
                    raise ValueError(f"{action.name} names unknown states {sorted(unknown)}")
        #: every action's name, in the declared order
        self.names = [a.name for a in self.actions]
        #: the actions that move a case through its lifecycle (as opposed to only recording)
        self.transition_actions = [a.name for a in self.actions if a.changes_state]
        #: (action, sources, destination) in declared order: the machine's transitions
        self.transitions = [
            (a.name, list(m.sources), m.dest) for a in self.actions for m in a.moves
        ]
        #: each recorded event's class name -> the action that recorded it
        self.event_actions = {a.event: a.name for a in self.actions}
        #: each event's class name -> its timeline title
        self.titles: dict[str, Title] = {
            "Opened": opened_title,
            **{a.event: a.title for a in self.actions},
            "PersonalDataErased": erased_title,
        }
        #: outbound events (timeline event types) -> the contact they are
        self.outbound = {a.event_type: a.contact for a in self.actions if a.contact}
        #: the contacts, in declared order
        self.contacts = tuple(self.outbound.values())
        #: the actions that are outbound contacts: what to do next about an expiring credit,
        #: the first the case's state allows
        self.outbound_actions = tuple(a.name for a in self.actions if a.contact)
        #: the events (timeline event types) that answer the contact before them
        self.inbound = frozenset(a.event_type for a in self.actions if a.answers)
        #: events (class names) that change none of a case's report contribution
        self.record_only = frozenset(
            [*(a.event for a in self.actions if a.only_records), "PersonalDataErased"]
        )

    def __getitem__(self, name: str) -> Action:
        return self.by_name[name]


DECLARED = Declared(ACTIONS)
