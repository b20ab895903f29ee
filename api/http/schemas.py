"""Request and response schemas: the HTTP contract, separate from the domain."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints
from typing_extensions import TypedDict

from domain import cases as c
from domain.cases import Case
from domain.money import format_amount


def _storable(value: str) -> str:
    found = c.find_unstorable(value)
    if found:
        raise ValueError(f"contains a character that cannot be stored (U+{ord(found.group()):04X})")
    return value


def _in_range(value: datetime) -> datetime:
    try:
        return c.aware_time(value, "time")
    except c.InvalidValue as exc:
        raise ValueError(exc.message) from None


Storable = AfterValidator(_storable)
#: a date-time with an offset, between 1970 and 2200 (the domain's bound for every time)
Moment = Annotated[AwareDatetime, AfterValidator(_in_range)]
Text = Annotated[str, StringConstraints(max_length=10_000), Storable]
ShortText = Annotated[str, StringConstraints(max_length=200), Storable]
OccurredAt = Annotated[
    Moment | None,
    Field(
        default=None,
        description="When it happened in the world, between 1970 and 2200; "
        "left out, the time it is recorded",
    ),
]
DecimalString = Annotated[
    str,
    StringConstraints(pattern=r"^\d{1,13}(\.\d{1,4})?$"),
    Field(
        description='A non-negative decimal amount as a string, e.g. "25.00"', examples=["25.00"]
    ),
]
Currency = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z]{3}$"),
    Field(description="ISO 4217 currency code", examples=["USD"]),
]
Platform = Annotated[
    str,
    StringConstraints(pattern=c.PLATFORM_PATTERN),
    Field(description="Lower-case platform slug", examples=["temu"]),
]

Channel = Literal[c.CHANNELS]  # type: ignore[valid-type]
EscalationLevel = Literal[c.ESCALATION_LEVELS]  # type: ignore[valid-type]
Outcome = Literal[c.OUTCOMES]  # type: ignore[valid-type]
RecoveredForm = Literal[c.RECOVERED_FORMS]  # type: ignore[valid-type]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Restrictions(Strict):
    minimum_purchase: DecimalString | None = None
    excluded_categories: list[ShortText] | None = Field(default=None, max_length=50)
    single_use: bool | None = None


class OpenCredit(Strict):
    platform: Platform
    account_reference: ShortText | None = None
    credit_type: Literal[c.CREDIT_TYPES]  # type: ignore[valid-type]
    amount: DecimalString
    currency: Currency
    problem: Literal[c.CREDIT_PROBLEMS]  # type: ignore[valid-type]
    remedy: Literal[c.REMEDIES]  # type: ignore[valid-type]
    earned_on: date | None = None
    expires_on: date | None = None
    restrictions: Restrictions | None = None
    occurred_at: OccurredAt = None


class OpenDispute(Strict):
    platform: Platform
    account_reference: ShortText | None = None
    charge_reference: ShortText | None = Field(
        default=None, description="Order, campaign or invoice id"
    )
    charged_amount: DecimalString
    refund_amount: DecimalString | None = Field(
        default=None, description="Refund sought, at most the charge; defaults to the charge"
    )
    currency: Currency
    reason: Literal[c.DISPUTE_REASONS]  # type: ignore[valid-type]
    charged_on: date | None = None
    occurred_at: OccurredAt = None


class Submit(Strict):
    channel: Channel
    reference: ShortText | None = None
    message: Text | None = None
    occurred_at: OccurredAt = None


class FollowUp(Strict):
    channel: Channel
    message: Text | None = None
    occurred_at: OccurredAt = None


class ResponseIn(Strict):
    message: Annotated[Text, StringConstraints(min_length=1)]
    occurred_at: OccurredAt = None


class Deny(Strict):
    reason: Text | None = None
    occurred_at: OccurredAt = None


class Appeal(Strict):
    grounds: Annotated[Text, StringConstraints(min_length=1)]
    occurred_at: OccurredAt = None


class Escalate(Strict):
    level: EscalationLevel
    contact: ShortText | None = None
    message: Text | None = None
    occurred_at: OccurredAt = None


class Resolve(Strict):
    outcome: Outcome
    recovered_amount: DecimalString | None = None
    recovered_form: RecoveredForm | None = None
    note: Text | None = None
    occurred_at: OccurredAt = None


class NoteIn(Strict):
    text: Annotated[Text, StringConstraints(min_length=1)]
    occurred_at: OccurredAt = None


class EvidenceOut(BaseModel):
    id: str
    kind: str
    sha256: str
    size: int
    media_type: str
    filename: str
    description: str


class Submission(BaseModel):
    channel: str
    reference: str
    at: datetime


class DeadlineOut(BaseModel):
    id: str = Field(description="Stable across recomputation (the calendar UID)")
    case_id: str
    kind: Literal["follow_up", "appeal", "expiry", "expiry_warning"]
    due: date
    action: str = Field(description="The lifecycle action that meets it")
    title: str
    description: str


class Deadlines(BaseModel):
    """Derived from the case's events by the deadline policy; never stored."""

    follow_up_due: date | None = None
    appeal_by: date | None = None
    expires_on: date | None = None
    next: DeadlineOut | None = None
    items: list[DeadlineOut] = Field(default_factory=list)


class CaseCommon(BaseModel):
    """What every case carries, whichever its kind."""

    id: str
    platform: str
    state: str
    version: int
    owner: str
    workspace: str
    opened_at: datetime
    account_reference: str
    currency: str
    amount_claimed: str
    amount_recovered: str
    # progress
    submission: Submission | None = None
    follow_ups: int
    responses: int
    denials: int
    appeals: int
    escalation_level: str | None = None
    escalations: list[str]
    outcome: str | None = None
    recovered_form: str | None = None
    resolved_at: datetime | None = None
    last_activity_at: datetime
    evidence: list[EvidenceOut]
    notes_count: int = Field(description="Notes added; their texts are on the timeline")
    allowed_actions: list[str]
    missing_for_submit: list[str]
    deadlines: Deadlines = Field(default_factory=Deadlines)


class CreditOut(CaseCommon):
    """A credit case as it is now (or at the version or time asked for)."""

    kind: Literal["credit"]
    credit_type: str
    amount: str
    problem: str
    remedy: str
    earned_on: date | None = None
    expires_on: date | None = None
    restrictions: RestrictionsOut


class RestrictionsOut(TypedDict, total=False):
    """A credit's restrictions: only those it was opened with."""

    minimum_purchase: Annotated[str, Field(description="A decimal amount, in the currency")]
    excluded_categories: list[str]
    single_use: bool


class DisputeOut(CaseCommon):
    """A dispute case as it is now (or at the version or time asked for)."""

    kind: Literal["dispute"]
    charge_reference: str
    charged_amount: str
    refund_amount: str
    reason: str
    charged_on: date | None = None


#: a case, shaped by its kind (as Stripe returns one object per type): a credit carries no
#: dispute fields and a dispute no credit fields, not even as nulls
CaseOut = Annotated[CreditOut | DisputeOut, Field(discriminator="kind")]


def case_out(case: Case, deadlines: dict[str, Any] | None = None) -> CreditOut | DisputeOut:
    def money(amount: Any) -> str:
        return format_amount(amount, case.currency)

    common: dict[str, Any] = {
        "id": str(case.id),
        "platform": case.platform,
        "state": case.state,
        "version": case.version,
        "owner": case.owner,
        "workspace": case.workspace,
        "opened_at": case.opened_at,
        "account_reference": case.account_reference,
        "currency": case.currency,
        "amount_claimed": money(case.amount_claimed),
        "amount_recovered": money(case.amount_recovered),
        "submission": Submission(**case.submission) if case.submission else None,
        "follow_ups": case.follow_ups,
        "responses": case.responses,
        "denials": case.denials,
        "appeals": case.appeals,
        "escalation_level": case.escalation_level,
        "escalations": list(case.escalations),
        "outcome": case.outcome,
        "recovered_form": case.recovered_form,
        "resolved_at": case.resolved_at,
        "last_activity_at": case.last_activity_at,
        "evidence": [EvidenceOut(**e) for e in case.evidence],
        "notes_count": case.notes_count,
        "allowed_actions": case.allowed_actions,
        "missing_for_submit": case.missing_for_submit,
        "deadlines": Deadlines(**(deadlines or {})),
    }
    if case.kind == "credit":
        return CreditOut(
            kind="credit",
            credit_type=case.credit_type,
            amount=money(case.amount),
            problem=case.problem,
            remedy=case.remedy,
            earned_on=case.earned_on,
            expires_on=case.expires_on,
            restrictions={
                k: (money(v) if k == "minimum_purchase" else v)
                for k, v in case.restrictions.items()
            },
            **common,
        )
    return DisputeOut(
        kind="dispute",
        charge_reference=case.charge_reference,
        charged_amount=money(case.charged_amount),
        refund_amount=money(case.refund_amount),
        reason=case.reason,
        charged_on=case.charged_on,
        **common,
    )


class Transition(BaseModel):
    """What an action does to a case in one of the states it is allowed in."""

    model_config = ConfigDict(serialize_by_alias=True, validate_by_name=True)

    action: str
    sources: list[str] = Field(alias="from", description="The states it is allowed in")
    to: str | None = Field(description="The state it moves to; null: the case stays where it is")


class Workflow(BaseModel):
    states: list[str]
    actions: list[str]
    transitions: list[Transition]
    mermaid: str


class ErasureOut(BaseModel):
    """What erasing a person did."""

    workspace: str
    user: str
    cases: int = Field(description="Their cases: each now records the erasure")
    keys_revoked: int = Field(description="API keys and calendar tokens revoked")
    files_removed: int = Field(description="Evidence and mail files removed from the store")
    idempotency_answers_removed: int = Field(
        description="Answers kept for Idempotency-Keys that held their data"
    )


class Health(BaseModel):
    status: Literal["ok"]


class ReadinessChecks(TypedDict, total=False):
    """What was checked; the projections only when the store answered."""

    store: Annotated[str, Field(description='"ok", or "unreachable: <error>"')]
    projections: Annotated[
        dict[str, int], Field(description="How many events each projection is behind")
    ]
    projections_ok: bool
    webhook_dispatcher_lag: Annotated[
        int,
        Field(
            description="Events the webhook dispatcher has not yet made deliveries of: "
            "reported, not a condition of readiness (delivery is off the write path)"
        ),
    ]
    writer: Literal["this process", "another process"]
    mail: Annotated[str, Field(description="Whether mail goes out, in a sentence")]
    imap: Annotated[
        str, Field(description="Whether a mailbox is read, and how it went last, in a sentence")
    ]


class Readiness(BaseModel):
    status: Literal["ready", "not ready"]
    max_lag: int = Field(description="How many events a projection may be behind and be ready")
    checks: ReadinessChecks


# --- drafted messages and e-mail intake (issue 12) ---------------------------------------
class DraftOut(BaseModel):
    """A message ready to send for one next step of the case."""

    step: Literal["submit", "follow_up", "appeal", "escalate"]
    level: str | None = Field(description="For an escalation: the level it goes to")
    channel: str = Field(description="The channel it fits, one of the submission channels")
    to: str = Field(description="Who it is for, in words")
    subject: str
    body: str
    template: str = Field(description="The template it was written from")
    workspace_template: bool = Field(description="Written from the workspace's own template")
    missing: list[str] = Field(
        description="Facts to add before sending; each is also named in the body"
    )


class DraftList(BaseModel):
    case_id: str
    case_version: int
    items: list[DraftOut]


class DraftSendIn(Strict):
    """A draft to send by e-mail; each field left out is the draft's own."""

    level: EscalationLevel | None = Field(
        default=None, description="For an escalation (required): the level it goes to"
    )
    to: str | None = Field(
        default=None,
        max_length=254,
        description="One plain address (no name); left out: the platform's configured "
        "address (RECLAIM_PLATFORM_MAIL), which an escalation past a supervisor never uses",
        examples=["support@temu.com"],
    )
    subject: str | None = Field(
        default=None, max_length=250, description="One line; the case's tag is added to it"
    )
    body: str | None = Field(default=None, max_length=100_000, description="Plain text")
    reference: str | None = Field(
        default=None, max_length=200, description="For a submission: the ticket number, if any"
    )


class DraftSent(BaseModel):
    """A draft sent: the step recorded on the case, and its mail queued to go out."""

    case_id: str
    case_version: int
    step: Literal["submit", "follow_up", "appeal", "escalate"]
    level: str | None
    occurred_at: datetime = Field(description="When it was sent: the step's time and the Date")
    to: str
    subject: str = Field(description="As sent, with the case's tag")
    message_id: str = Field(description="The mail's Message-ID, which replies name")
    evidence_id: str = Field(description="The sent .eml, kept as evidence")
    sha256: str = Field(description="The SHA-256 of the .eml: the very bytes sent")
    mail_status: Literal["queued"] = Field(
        description="The outbox sends it next, and again after a failure (see status_url)"
    )
    status_url: str = Field(description="Where the case's sent mail and its state are listed")
    detail: str


class SentMail(BaseModel):
    message_id: str
    status: Literal["held", "pending", "sending", "sent", "failed", "uncertain", "skipped"] = Field(
        description="held: being recorded; pending: waiting to go (again); sending: going; "
        "sent: the server took it; failed: refused, or retried too often; uncertain: cut "
        "off while it went out (it may have arrived; never sent again); skipped: no longer "
        "on the case"
    )
    attempts: int
    queued_at: str
    sent_at: str | None
    detail: str | None = Field(description="What the mail server answered last")


class SentMailList(BaseModel):
    items: list[SentMail]


class DraftTemplateIn(BaseModel):
    source: str = Field(
        description="Jinja2 text with subject and body blocks (and optionally missing)"
    )


class DraftTemplateOut(BaseModel):
    name: str
    source: str
    workspace_template: bool = Field(description="The workspace's own; false: the package default")
    updated_by: str | None = None
    updated_at: str | None = None


class DraftTemplateList(BaseModel):
    items: list[DraftTemplateOut]


class EmailRecorded(BaseModel):
    """What an e-mail became on the case."""

    recorded: bool = Field(description="False when this Message-ID was already on the case")
    message_id: str
    direction: Literal["from_platform", "to_platform"]
    action: str = Field(description="The case command it was recorded as")
    occurred_at: datetime
    subject: str
    forwarded: bool = Field(description="Read from a message forwarded inside this one")
    evidence_ids: list[str] = Field(description="The .eml first, then each attachment")
    not_kept_separately: list[str] = Field(
        description="Attachments of a type Reclaim does not keep on their own "
        "(they stay in the .eml)"
    )
    case_version: int
    detail: str
