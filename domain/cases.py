"""Credit and Dispute: two aggregates sharing one lifecycle.

Each public command method checks the lifecycle machine and the rules first and
only then calls a private, ``@event``-decorated method that records what
happened in the past tense. A refused command raises a named ``DomainError``
and records nothing.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, ClassVar

from eventsourcing.domain import Aggregate, event

from domain import lifecycle
from domain.errors import (
    CaseErased,
    DatesOutOfOrder,
    EscalationNotHigher,
    InvalidValue,
    MissingForSubmit,
    OccurredBeforeCase,
    OccurredInFuture,
    PartialNotLess,
    RecoveryNotAllowed,
    RecoveryRequired,
    RefundExceedsCharge,
)
from domain.money import validate_amount, validate_currency

CREDIT_TYPES = ("store", "promotional", "refund")
CREDIT_PROBLEMS = (
    "expired",
    "disappeared",
    "misapplied",
    "restricted",
    "uncredited",
    "invalid",
    "unauthorized_use",
)
REMEDIES = ("reinstate", "extend", "correct", "compensate")
DISPUTE_REASONS = (
    "technical_issue",
    "incorrect_charge",
    "non_performance",
    "accidental_charge",
    "unauthorized_use",
    "other",
)
CHANNELS = (
    "support_ticket",
    "email",
    "live_chat",
    "phone",
    "ads_manager",
    "social_media",
    "other",
)
#: in order: a repeat escalation must go to a later one
ESCALATION_LEVELS = ("supervisor", "social_media", "consumer_agency", "payment_provider")
OUTCOMES = ("granted", "partial", "rejected", "withdrawn")
RECOVERED_FORMS = ("credit_reinstated", "credit_extended", "refund", "voucher", "other")
EVIDENCE_KINDS = (
    "screenshot",
    "email",
    "receipt",
    "transaction_record",
    "chat_transcript",
    "other",
)

#: how far ahead of the server's clock an ``occurred_at`` may be (clients' clocks drift)
CLOCK_SKEW = timedelta(minutes=5)
MAX_TEXT = 10_000
#: a platform's slug ("temu", "tiktok"): the one pattern the domain and the API check
PLATFORM_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,39}$"
#: a SHA-256 digest as lower-case hex: how evidence, blobs and the dossier name a file
SHA256_PATTERN = r"^[0-9a-f]{64}$"
_SLUG = re.compile(PLATFORM_PATTERN)
SHA256_HEX = re.compile(SHA256_PATTERN)
#: characters no store can keep: NUL (PostgreSQL text refuses it) and lone UTF-16 surrogates
#: (not encodable as UTF-8). Refused in every text, so one request can never write an event
#: that a store or a projection then fails on.
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def find_unstorable(text: str) -> re.Match[str] | None:
    """The first character of ``text`` no store can keep (``UNSTORABLE``), or None.
    ASCII text (nearly every text) holds no surrogate, so it is only searched for NUL:
    two scans in C instead of the expression's (0.14 against 4.2 us for a row's
    300 characters, measured; every row a command writes is checked)."""
    if text.isascii() and "\x00" not in text:
        return None
    return UNSTORABLE.search(text)


#: every time, like every fact date, must fall in this range: outside it is a typing mistake,
#: what a personal field reads as once its owner's data key is destroyed
ERASED = "[erased]"

#: The personal fields of each event (by class name), declared here because what is
#: personal is the domain's to say: the store encrypts exactly these under the case
#: owner's data key (``infrastructure/store/personal.py``). Everything else (amounts,
#: currencies, platforms, states, times, choices from fixed lists, user ids) stays in
#: clear, so reports and deadlines work without any key.
PERSONAL_FIELDS: dict[str, tuple[str, ...]] = {
    "Opened": ("account_reference", "charge_reference"),
    "Submitted": ("reference", "message"),
    "FollowedUp": ("message",),
    "ResponseReceived": ("message",),
    "Denied": ("reason",),
    "Appealed": ("grounds",),
    "Escalated": ("contact", "message"),
    "Resolved": ("note",),
    "NoteAdded": ("text",),
    "EvidenceAttached": ("filename", "description"),
}
#: the personal attributes of a case itself (what a snapshot of it holds)
PERSONAL_STATE = ("account_reference", "charge_reference", "submission", "evidence")


def erase_state(state: dict[str, Any]) -> None:
    """A case's attributes with every personal value replaced by ``ERASED``: what the
    fold of its events gives once the owner's key is gone, and what erasing it in
    memory leaves (so a cached copy and a replay agree)."""
    for name in ("account_reference", "charge_reference"):
        if state.get(name) is not None:
            state[name] = ERASED
    submission = state.get("submission")
    if submission and submission.get("reference") is not None:
        state["submission"] = {**submission, "reference": ERASED}
    state["evidence"] = [
        {
            **item,
            "filename": None if item.get("filename") is None else ERASED,
            "description": None if item.get("description") is None else ERASED,
        }
        for item in state.get("evidence") or []
    ]


#: skews statistics for good, and overflows date arithmetic
EARLIEST_TIME = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(2200, 12, 31, 23, 59, 59, tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _choice(value: object, choices: tuple[str, ...], field: str) -> str:
    if value not in choices:
        raise InvalidValue(field, f"{value!r} is not one of {', '.join(choices)}")
    assert isinstance(value, str)
    return value


def _text(value: object, field: str, *, required: bool = False, limit: int = MAX_TEXT) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise InvalidValue(field, "must be text")
    check_storable(value, field)
    value = value.strip()
    if required and not value:
        raise InvalidValue(field, "is required")
    if len(value) > limit:
        raise InvalidValue(field, f"is longer than {limit} characters")
    return value


def _platform(value: object) -> str:
    if not isinstance(value, str) or not _SLUG.match(value):
        raise InvalidValue("platform", "must be a lower-case slug such as 'temu' or 'tiktok'")
    return value


#: bidirectional-text controls: in a filename they make "photo\u202egnp.exe" show as
#: "photoexe.png", so they are taken out of every filename
BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def clean_filename(name: str) -> str:
    """A filename as it may be shown and downloaded: no bidi controls."""
    return BIDI_CONTROLS.sub("", name).strip()


def check_storable(value: str, field: str) -> str:
    """Refuse text that holds a character no store can keep (see ``UNSTORABLE``)."""
    found = find_unstorable(value)
    if found:
        raise InvalidValue(
            field, f"contains a character that cannot be stored (U+{ord(found.group()):04X})"
        )
    return value


def aware_time(value: object, field: str) -> datetime:
    """A date-time with a UTC offset, in UTC, between 1970 and 2200."""
    if not isinstance(value, datetime):
        raise InvalidValue(field, "must be a date-time")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidValue(field, "must carry a UTC offset")
    try:
        when = value.astimezone(UTC)
    except OverflowError:  # year 1 at +14:00, or year 9999 at -14:00
        raise _out_of_range(field) from None
    if not EARLIEST_TIME <= when <= LATEST_TIME:
        raise _out_of_range(field)
    return when


def _out_of_range(field: str) -> InvalidValue:
    # (made only when it is raised: every command checks a few times)
    return InvalidValue(field, f"must be between {EARLIEST_TIME.date()} and {LATEST_TIME.date()}")


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


class Case(Aggregate):
    """What Credit and Dispute share: the lifecycle, the records, the rules."""

    kind: ClassVar[str]

    # No instance annotations here: the library would read them as fields of the
    # Opened event. Each kind's Opened event sets the common facts via _init_common.

    def _init_common(
        self,
        *,
        owner: str,
        workspace: str,
        platform: str,
        account_reference: str,
        currency: str,
        occurred_at: datetime,
        actor: str,
        request_id: str,
    ) -> None:
        self.owner = owner
        self.workspace = workspace
        self.platform = platform
        self.account_reference = account_reference
        self.currency = currency
        self.opened_at = occurred_at
        self.opened_by = actor
        self.state = "opened"
        self.evidence: list[dict[str, Any]] = []
        # a count, not the texts: a case's state stays the same size however many notes it
        # gets, so loading and saving it costs the same at 10 events and at 10,000
        self.notes_count = 0
        self.submission: dict[str, Any] | None = None
        self.follow_ups = 0
        self.responses = 0
        self.appeals = 0
        self.escalation_level: str | None = None
        self.escalations: list[str] = []
        self.denials = 0
        self.last_outbound_at: datetime | None = None
        self.last_outbound_action: str | None = None
        self.last_response_at: datetime | None = None
        self.last_denied_at: datetime | None = None
        self.outcome: str | None = None
        self.amount_recovered = Decimal("0")
        self.recovered_form: str | None = None
        self.resolved_at: datetime | None = None
        self.last_activity_at = occurred_at

    #: the only attributes changed in place (appended to); every other one is replaced
    #: whole or is immutable (text, numbers, Decimal, datetime, UUID)
    _GROWING = ("_pending_events", "evidence", "escalations")

    def __deepcopy__(self, memo: dict[int, Any]) -> Case:
        """A copy as independent as a deep copy, at a fraction of its cost: the
        repository's cache copies the case for every command."""
        clone = object.__new__(type(self))
        state = dict(self.__dict__)
        for name in self._GROWING:
            if name in state:
                state[name] = list(state[name])
        clone.__dict__.update(state)
        return clone

    # --- what each kind says about itself -------------------------------------------
    @property
    def amount_claimed(self) -> Decimal:
        raise NotImplementedError

    def _missing_kind_facts(self) -> list[str]:
        return []

    # --- derived -----------------------------------------------------------------------
    @property
    def allowed_actions(self) -> list[str]:
        return lifecycle.allowed_actions(self.state)

    @property
    def missing_for_submit(self) -> list[str]:
        missing = []
        if not self.account_reference:
            missing.append("account_reference")
        missing.extend(self._missing_kind_facts())
        return missing

    def check_can(self, action: str) -> None:
        if self.erased:
            raise CaseErased()
        lifecycle.check_can(self.state, action)

    @property
    def erased(self) -> bool:
        """Whether its owner's personal data was erased (``erase_personal_data``)."""
        return bool(self.__dict__.get("personal_data_erased"))

    def erase_personal_data(self, *, actor: str, request_id: str) -> None:
        """Record that the owner's personal data was erased (their data key destroyed):
        the case keeps its amounts, states and times, takes no more steps, and every
        personal field it holds reads as ``ERASED``. Erasing twice records nothing."""
        if self.erased:
            return
        self._personal_data_erased(actor=actor, request_id=request_id)

    @event("PersonalDataErased")
    def _personal_data_erased(self, actor: str, request_id: str) -> None:
        erase_state(self.__dict__)
        self.personal_data_erased = True

    def check_occurred_at(
        self, occurred_at: datetime | None, now: datetime | None = None
    ) -> datetime:
        """When it happened: as given, or now when left out; never in the future and
        never before the case was opened (a timeline reads in causal order)."""
        now = now or utcnow()
        when = now if occurred_at is None else aware_time(occurred_at, "occurred_at")
        if when > now + CLOCK_SKEW:
            raise OccurredInFuture(f"occurred_at {when.isoformat()} is in the future")
        if when < self.opened_at:
            raise OccurredBeforeCase(
                f"occurred_at {when.isoformat()} is before the case was opened "
                f"({self.opened_at.isoformat()}); record when it happened, after the opening"
            )
        return when

    # --- commands ------------------------------------------------------------------------
    def submit(
        self,
        *,
        channel: str,
        reference: str | None,
        message: str | None,
        occurred_at: datetime | None = None,
        actor: str,
        request_id: str,
        now: datetime | None = None,
    ) -> None:
        self.check_can("submit")
        channel = _choice(channel, CHANNELS, "channel")
        reference = _text(reference, "reference", limit=200)
        message = _text(message, "message")
        when = self.check_occurred_at(occurred_at, now)
        missing = self.missing_for_submit
        if missing:
            raise MissingForSubmit(missing)
        self._submitted(
            channel=channel,
            reference=reference,
            message=message,
            occurred_at=when,
            actor=actor,
            request_id=request_id,
        )

    @event("Submitted")
    def _submitted(
        self,
        channel: str,
        reference: str,
        message: str,
        occurred_at: datetime,
        actor: str,
        request_id: str,
    ) -> None:
        self.state = lifecycle.next_state(self.state, "submit")
        self.submission = {"channel": channel, "reference": reference, "at": occurred_at}
        self._outbound(occurred_at, "submit")

    def follow_up(
        self,
        *,
        channel: str,
        message: str | None,
        occurred_at: datetime | None = None,
        actor: str,
        request_id: str,
        now: datetime | None = None,
    ) -> None:
        self.check_can("follow_up")
        channel = _choice(channel, CHANNELS, "channel")
        message = _text(message, "message")
        when = self.check_occurred_at(occurred_at, now)
        self._followed_up(
            channel=channel, message=message, occurred_at=when, actor=actor, request_id=request_id
        )

    @event("FollowedUp")
    def _followed_up(
        self, channel: str, message: str, occurred_at: datetime, actor: str, request_id: str
    ) -> None:
        self.state = lifecycle.next_state(self.state, "follow_up")
        self.follow_ups += 1
        self._outbound(occurred_at, "follow_up")

    def record_response(
        self,
        *,
        message: str,
        occurred_at: datetime | None = None,
        actor: str,
        request_id: str,
        now: datetime | None = None,
    ) -> None:
        self.check_can("record_response")
        message = _text(message, "message", required=True)
        when = self.check_occurred_at(occurred_at, now)
        self._response_received(
            message=message, occurred_at=when, actor=actor, request_id=request_id
        )

    @event("ResponseReceived")
    def _response_received(
        self, message: str, occurred_at: datetime, actor: str, request_id: str
    ) -> None:
        self.responses += 1
        self._inbound(occurred_at)

    def deny(
        self,
        *,
        reason: str | None,
        occurred_at: datetime | None = None,
        actor: str,
        request_id: str,
        now: datetime | None = None,
    ) -> None:
        self.check_can("deny")
        reason = _text(reason, "reason")
        when = self.check_occurred_at(occurred_at, now)
        self._denied(reason=reason, occurred_at=when, actor=actor, request_id=request_id)

    @event("Denied")
    def _denied(self, reason: str, occurred_at: datetime, actor: str, request_id: str) -> None:
        self.state = lifecycle.next_state(self.state, "deny")
        self.denials += 1
        self.last_denied_at = occurred_at
        self._inbound(occurred_at)

    def appeal(
        self,
        *,
        grounds: str,
        occurred_at: datetime | None = None,
        actor: str,
        request_id: str,
        now: datetime | None = None,
    ) -> None:
        self.check_can("appeal")
        grounds = _text(grounds, "grounds", required=True)
        when = self.check_occurred_at(occurred_at, now)
        self._appealed(grounds=grounds, occurred_at=when, actor=actor, request_id=request_id)

    @event("Appealed")
    def _appealed(self, grounds: str, occurred_at: datetime, actor: str, request_id: str) -> None:
        self.state = lifecycle.next_state(self.state, "appeal")
        self.appeals += 1
        self._outbound(occurred_at, "appeal")

    def escalate(
        self,
        *,
        level: str,
        contact: str | None,
        message: str | None,
        occurred_at: datetime | None = None,
        actor: str,
        request_id: str,
        now: datetime | None = None,
    ) -> None:
        self.check_can("escalate")
        level = _choice(level, ESCALATION_LEVELS, "level")
        self.check_escalation_is_higher(level)
        contact = _text(contact, "contact", limit=500)
        message = _text(message, "message")
        when = self.check_occurred_at(occurred_at, now)
        self._escalated(
            level=level,
            contact=contact,
            message=message,
            occurred_at=when,
            actor=actor,
            request_id=request_id,
        )

    def check_escalation_is_higher(self, level: str) -> None:
        current = self.escalation_level
        if current is not None and ESCALATION_LEVELS.index(level) <= ESCALATION_LEVELS.index(
            current
        ):
            raise EscalationNotHigher(level, current)

    @event("Escalated")
    def _escalated(
        self,
        level: str,
        contact: str,
        message: str,
        occurred_at: datetime,
        actor: str,
        request_id: str,
    ) -> None:
        self.state = lifecycle.next_state(self.state, "escalate")
        self.escalation_level = level
        self.escalations.append(level)
        self._outbound(occurred_at, "escalate")

    def resolve(
        self,
        *,
        outcome: str,
        recovered_amount: object = None,
        recovered_form: str | None = None,
        note: str | None = None,
        occurred_at: datetime | None = None,
        actor: str,
        request_id: str,
        now: datetime | None = None,
    ) -> None:
        self.check_can("resolve")
        outcome = _choice(outcome, OUTCOMES, "outcome")
        note = _text(note, "note")
        amount, form = self.check_recovery(outcome, recovered_amount, recovered_form)
        when = self.check_occurred_at(occurred_at, now)
        self._resolved(
            outcome=outcome,
            recovered_amount=amount,
            recovered_form=form,
            note=note,
            occurred_at=when,
            actor=actor,
            request_id=request_id,
        )

    def check_recovery(
        self, outcome: str, recovered_amount: object, recovered_form: object
    ) -> tuple[Decimal, str | None]:
        if outcome in ("rejected", "withdrawn"):
            if recovered_amount not in (None, "", 0) and Decimal(str(recovered_amount)) != 0:
                raise RecoveryNotAllowed(f"a {outcome} case recovers nothing")
            if recovered_form is not None:
                raise RecoveryNotAllowed(f"a {outcome} case has no recovered form")
            return Decimal("0"), None
        if recovered_amount in (None, "") or recovered_form is None:
            raise RecoveryRequired(f"a {outcome} outcome needs recovered_amount and recovered_form")
        amount = validate_amount(recovered_amount, self.currency, "recovered_amount")
        form = _choice(recovered_form, RECOVERED_FORMS, "recovered_form")
        if outcome == "partial" and amount >= self.amount_claimed:
            raise PartialNotLess(
                f"a partial recovery must be less than the {self.amount_claimed} "
                f"{self.currency} claimed, got {amount}"
            )
        return amount, form

    @event("Resolved")
    def _resolved(
        self,
        outcome: str,
        recovered_amount: Decimal,
        recovered_form: str | None,
        note: str,
        occurred_at: datetime,
        actor: str,
        request_id: str,
    ) -> None:
        self.state = lifecycle.next_state(self.state, "resolve")
        self.outcome = outcome
        self.amount_recovered = recovered_amount
        self.recovered_form = recovered_form
        self.resolved_at = occurred_at
        self._touch(occurred_at)

    def add_note(
        self,
        *,
        text: str,
        occurred_at: datetime | None = None,
        actor: str,
        request_id: str,
        now: datetime | None = None,
    ) -> None:
        self.check_can("add_note")
        text = _text(text, "text", required=True)
        when = self.check_occurred_at(occurred_at, now)
        self._note_added(text=text, occurred_at=when, actor=actor, request_id=request_id)

    # occurred_at: when what the note tells happened (a phone call, say); notes recorded
    # before it was asked for have none, and their timeline row is dated when recorded
    @event("NoteAdded")
    def _note_added(
        self, text: str, actor: str, request_id: str, occurred_at: datetime | None = None
    ) -> None:
        self.notes_count += 1

    def attach_evidence(
        self,
        *,
        evidence_id: str,
        kind: str,
        sha256: str,
        size: int,
        media_type: str,
        filename: str | None,
        description: str | None,
        occurred_at: datetime | None = None,
        actor: str,
        request_id: str,
        now: datetime | None = None,
    ) -> None:
        self.check_can("attach_evidence")
        when = self.check_occurred_at(occurred_at, now)
        kind = _choice(kind, EVIDENCE_KINDS, "kind")
        if not isinstance(sha256, str) or not SHA256_HEX.match(sha256):
            raise InvalidValue("sha256", "must be 64 lower-case hex digits")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise InvalidValue("size", "must be a whole number of bytes")
        if size == 0:
            raise InvalidValue("file", "is empty: an empty file proves nothing")
        if any(e["id"] == evidence_id for e in self.evidence):
            raise InvalidValue("evidence_id", f"{evidence_id} is already attached")
        self._evidence_attached(
            evidence_id=_text(evidence_id, "evidence_id", required=True, limit=100),
            kind=kind,
            sha256=sha256,
            size=size,
            media_type=_text(media_type, "media_type", required=True, limit=100),
            filename=clean_filename(_text(filename, "filename", limit=255)),
            description=_text(description, "description", limit=2000),
            occurred_at=when,
            actor=actor,
            request_id=request_id,
        )

    # occurred_at: when the file was made or received (a screenshot taken in February);
    # evidence attached before it was asked for has none (dated when recorded)
    @event("EvidenceAttached")
    def _evidence_attached(
        self,
        evidence_id: str,
        kind: str,
        sha256: str,
        size: int,
        media_type: str,
        filename: str,
        description: str,
        actor: str,
        request_id: str,
        occurred_at: datetime | None = None,
    ) -> None:
        self.evidence.append(
            {
                "id": evidence_id,
                "kind": kind,
                "sha256": sha256,
                "size": size,
                "media_type": media_type,
                "filename": filename,
                "description": description,
            }
        )

    # --- bookkeeping shared by the event methods ------------------------------------------
    def _outbound(self, occurred_at: datetime, action: str) -> None:
        self.last_outbound_at = occurred_at
        self.last_outbound_action = action
        self._touch(occurred_at)

    def _inbound(self, occurred_at: datetime) -> None:
        self.last_response_at = occurred_at
        self._touch(occurred_at)

    def _touch(self, occurred_at: datetime) -> None:
        self.last_activity_at = max(self.last_activity_at, occurred_at)


def _check_opening(
    platform: object, currency: object, occurred_at: object, now: datetime | None
) -> tuple[str, str, datetime]:
    platform = _platform(platform)
    currency = validate_currency(currency)
    when = aware_time(occurred_at, "occurred_at")
    if when > (now or utcnow()) + CLOCK_SKEW:
        raise OccurredInFuture(f"occurred_at {when.isoformat()} is in the future")
    return platform, currency, when


#: fact dates outside this range are typing mistakes, and would overflow date arithmetic
EARLIEST_FACT_DATE = date(1970, 1, 1)
LATEST_FACT_DATE = date(2200, 12, 31)


def _fact_date(day: object, field: str) -> date:
    if isinstance(day, datetime) or not isinstance(day, date):
        raise InvalidValue(field, "must be a date")
    if not EARLIEST_FACT_DATE <= day <= LATEST_FACT_DATE:
        raise InvalidValue(field, f"must be between {EARLIEST_FACT_DATE} and {LATEST_FACT_DATE}")
    return day


def _check_fact_date(day: object, field: str, now: datetime | None) -> date | None:
    if day is None:
        return None
    day = _fact_date(day, field)
    if _start_of(day) > (now or utcnow()) + CLOCK_SKEW:
        raise OccurredInFuture(f"{field} {day.isoformat()} is in the future")
    return day


class Credit(Case):
    """A claim to get a platform credit back."""

    kind = "credit"

    @classmethod
    def open(
        cls,
        *,
        owner: str,
        workspace: str,
        platform: str,
        account_reference: str | None = None,
        credit_type: str,
        amount: object,
        currency: str,
        problem: str,
        remedy: str,
        earned_on: date | None = None,
        expires_on: date | None = None,
        restrictions: dict[str, Any] | None = None,
        occurred_at: datetime | None = None,
        actor: str,
        request_id: str,
        now: datetime | None = None,
    ) -> Credit:
        platform, currency, when = _check_opening(
            platform, currency, occurred_at or now or utcnow(), now
        )
        earned_on = _check_fact_date(earned_on, "earned_on", now)
        if expires_on is not None:
            expires_on = _fact_date(expires_on, "expires_on")
        if earned_on and expires_on and expires_on < earned_on:
            raise DatesOutOfOrder("expires_on is before earned_on")
        if earned_on and when < _start_of(earned_on):
            raise OccurredBeforeCase("occurred_at is before the credit was earned")
        return cls(
            owner=owner,
            workspace=workspace,
            platform=platform,
            account_reference=_text(account_reference, "account_reference", limit=200),
            credit_type=_choice(credit_type, CREDIT_TYPES, "credit_type"),
            amount=validate_amount(amount, currency, "amount"),
            currency=currency,
            problem=_choice(problem, CREDIT_PROBLEMS, "problem"),
            remedy=_choice(remedy, REMEDIES, "remedy"),
            earned_on=earned_on,
            expires_on=expires_on,
            restrictions=_restrictions(restrictions, currency),
            occurred_at=when,
            actor=actor,
            request_id=request_id,
        )

    @event("Opened")
    def __init__(
        self,
        owner: str,
        workspace: str,
        platform: str,
        account_reference: str,
        credit_type: str,
        amount: Decimal,
        currency: str,
        problem: str,
        remedy: str,
        earned_on: date | None,
        expires_on: date | None,
        restrictions: dict[str, Any],
        occurred_at: datetime,
        actor: str,
        request_id: str,
    ) -> None:
        self._init_common(
            owner=owner,
            workspace=workspace,
            platform=platform,
            account_reference=account_reference,
            currency=currency,
            occurred_at=occurred_at,
            actor=actor,
            request_id=request_id,
        )
        self.credit_type = credit_type
        self.amount = amount
        self.problem = problem
        self.remedy = remedy
        self.earned_on = earned_on
        self.expires_on = expires_on
        self.restrictions = restrictions

    @property
    def amount_claimed(self) -> Decimal:
        return self.amount


def _restrictions(value: dict[str, Any] | None, currency: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidValue("restrictions", "must be an object")
    unknown = set(value) - {"minimum_purchase", "excluded_categories", "single_use"}
    if unknown:
        raise InvalidValue("restrictions", f"unknown restriction(s): {', '.join(sorted(unknown))}")
    result: dict[str, Any] = {}
    if value.get("minimum_purchase") is not None:
        result["minimum_purchase"] = validate_amount(
            value["minimum_purchase"], currency, "restrictions.minimum_purchase"
        )
    categories = value.get("excluded_categories") or []
    if not isinstance(categories, list) or not all(isinstance(c, str) for c in categories):
        raise InvalidValue("restrictions.excluded_categories", "must be a list of text")
    if categories:
        result["excluded_categories"] = [
            _text(c, "excluded_categories", limit=100) for c in categories
        ]
    if value.get("single_use") is not None:
        if not isinstance(value["single_use"], bool):
            raise InvalidValue("restrictions.single_use", "must be true or false")
        result["single_use"] = value["single_use"]
    return result


class Dispute(Case):
    """A claim to get a charge refunded."""

    kind = "dispute"

    @classmethod
    def open(
        cls,
        *,
        owner: str,
        workspace: str,
        platform: str,
        account_reference: str | None = None,
        charge_reference: str | None = None,
        charged_amount: object,
        refund_amount: object | None = None,
        currency: str,
        reason: str,
        charged_on: date | None = None,
        occurred_at: datetime | None = None,
        actor: str,
        request_id: str,
        now: datetime | None = None,
    ) -> Dispute:
        platform, currency, when = _check_opening(
            platform, currency, occurred_at or now or utcnow(), now
        )
        charged_on = _check_fact_date(charged_on, "charged_on", now)
        charged = validate_amount(charged_amount, currency, "charged_amount")
        refund = (
            charged
            if refund_amount is None
            else validate_amount(refund_amount, currency, "refund_amount")
        )
        if refund > charged:
            raise RefundExceedsCharge(
                f"refund_amount {refund} is more than the {charged} {currency} charged"
            )
        if charged_on and when < _start_of(charged_on):
            raise OccurredBeforeCase("occurred_at is before the charge")
        return cls(
            owner=owner,
            workspace=workspace,
            platform=platform,
            account_reference=_text(account_reference, "account_reference", limit=200),
            charge_reference=_text(charge_reference, "charge_reference", limit=200),
            charged_amount=charged,
            refund_amount=refund,
            currency=currency,
            reason=_choice(reason, DISPUTE_REASONS, "reason"),
            charged_on=charged_on,
            occurred_at=when,
            actor=actor,
            request_id=request_id,
        )

    @event("Opened")
    def __init__(
        self,
        owner: str,
        workspace: str,
        platform: str,
        account_reference: str,
        charge_reference: str,
        charged_amount: Decimal,
        refund_amount: Decimal,
        currency: str,
        reason: str,
        charged_on: date | None,
        occurred_at: datetime,
        actor: str,
        request_id: str,
    ) -> None:
        self._init_common(
            owner=owner,
            workspace=workspace,
            platform=platform,
            account_reference=account_reference,
            currency=currency,
            occurred_at=occurred_at,
            actor=actor,
            request_id=request_id,
        )
        self.charge_reference = charge_reference
        self.charged_amount = charged_amount
        self.refund_amount = refund_amount
        self.reason = reason
        self.charged_on = charged_on

    @property
    def amount_claimed(self) -> Decimal:
        return self.refund_amount

    def _missing_kind_facts(self) -> list[str]:
        missing = []
        if not self.charge_reference:
            missing.append("charge_reference")
        if not self.evidence:
            missing.append("evidence")
        return missing
