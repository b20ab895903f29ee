"""The case book's forms: what each asks, and how a posted form becomes a command.

A posted form is turned into the same request model the JSON API validates
(``api/http/schemas.py``), then run by the same application method, so a form and an API
call are refused for the same reasons. Each problem is put beside its field.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from api.http import schemas as s
from domain import cases as c
from domain.errors import DomainError, EscalationNotHigher, MissingForSubmit

FORM = "_form"


def words(name: str) -> str:
    """A value as people read it: ``followed_up`` -> ``Followed up``."""
    return name.replace("_", " ").capitalize()


def choices(values: tuple[str, ...] | list[str]) -> list[tuple[str, str]]:
    return [(v, words(v)) for v in values]


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: str = "text"  # text, textarea, select, date, datetime, checkbox, file
    options: list[tuple[str, str]] = field(default_factory=list)
    required: bool = False
    hint: str | None = None
    #: the text of the empty first option of an optional select
    blank: str | None = None


def occurred_at_field() -> Field:
    return Field(
        "occurred_at",
        "When it happened (UTC)",
        "datetime",
        hint="Defaults to now. Change it if it happened earlier.",
    )


@dataclass(frozen=True)
class ActionForm:
    action: str
    #: the form's heading, its accessible name, and its button
    title: str
    fields: list[Field]
    model: type[BaseModel] | None
    intro: str = ""


ACTION_FORMS: dict[str, ActionForm] = {
    form.action: form
    for form in [
        ActionForm(
            "submit",
            "Submit",
            [
                Field("channel", "Channel", "select", choices(c.CHANNELS), required=True),
                Field("reference", "Ticket or reference number"),
                Field("message", "What you sent", "textarea"),
                occurred_at_field(),
            ],
            s.Submit,
            "Record that you sent the claim to the platform.",
        ),
        ActionForm(
            "follow_up",
            "Follow up",
            [
                Field("channel", "Channel", "select", choices(c.CHANNELS), required=True),
                Field("message", "What you sent", "textarea"),
                occurred_at_field(),
            ],
            s.FollowUp,
            "Record a reminder you sent because the platform has not answered.",
        ),
        ActionForm(
            "record_response",
            "Record response",
            [
                Field("message", "What the platform said", "textarea", required=True),
                occurred_at_field(),
            ],
            s.ResponseIn,
            "A reply that neither grants nor denies, such as a request for more information.",
        ),
        ActionForm(
            "deny",
            "Deny",
            [Field("reason", "The platform's reason", "textarea"), occurred_at_field()],
            s.Deny,
            "Record that the platform refused the claim.",
        ),
        ActionForm(
            "appeal",
            "Appeal",
            [Field("grounds", "Grounds", "textarea", required=True), occurred_at_field()],
            s.Appeal,
            "Record that you appealed the denial.",
        ),
        ActionForm(
            "escalate",
            "Escalate",
            [
                Field("level", "Level", "select", choices(c.ESCALATION_LEVELS), required=True),
                Field("contact", "Who you contacted"),
                Field("message", "What you sent", "textarea"),
                occurred_at_field(),
            ],
            s.Escalate,
            "Take the claim higher: a supervisor, social media, a consumer agency, "
            "then the payment provider.",
        ),
        ActionForm(
            "resolve",
            "Resolve",
            [
                Field("outcome", "Outcome", "select", choices(c.OUTCOMES), required=True),
                Field(
                    "recovered_amount",
                    "Amount recovered",
                    hint="For a granted or partial outcome, e.g. 25.00.",
                ),
                Field(
                    "recovered_form",
                    "Recovered as",
                    "select",
                    choices(c.RECOVERED_FORMS),
                    blank="Nothing recovered",
                ),
                Field("note", "Note", "textarea"),
                occurred_at_field(),
            ],
            s.Resolve,
            "Close the case with how it ended.",
        ),
        ActionForm(
            "add_note",
            "Add note",
            [Field("text", "Note", "textarea", required=True), occurred_at_field()],
            s.NoteIn,
        ),
        ActionForm(
            "attach_evidence",
            "Attach evidence",
            [
                Field(
                    "file",
                    "Files",
                    "file",
                    required=True,
                    hint="One or more: PNG, JPEG, WebP, PDF, text, CSV, e-mail (.eml) or JSON.",
                ),
                Field("kind", "Kind of evidence", "select", choices(c.EVIDENCE_KINDS), True),
                Field("description", "Description"),
                Field(
                    "occurred_at",
                    "When it was taken or received (UTC)",
                    "datetime",
                    hint="Defaults to now. A screenshot taken earlier: say when.",
                ),
            ],
            None,
        ),
    ]
}
#: the lifecycle actions, in the order their forms appear
LIFECYCLE_FORMS = [a for a in ACTION_FORMS if a not in ("add_note", "attach_evidence")]

CREDIT_FIELDS = [
    Field("platform", "Platform", required=True, hint="Lower case, e.g. temu."),
    Field("account_reference", "Account reference", hint="Your account's id or e-mail there."),
    Field("credit_type", "Credit type", "select", choices(c.CREDIT_TYPES), required=True),
    Field("amount", "Amount", required=True, hint="e.g. 25.00"),
    Field("currency", "Currency", required=True, hint="Three letters, e.g. USD."),
    Field("problem", "Problem", "select", choices(c.CREDIT_PROBLEMS), required=True),
    Field("remedy", "Remedy sought", "select", choices(c.REMEDIES), required=True),
    Field("earned_on", "Earned on", "date"),
    Field("expires_on", "Expires on", "date"),
    Field("minimum_purchase", "Minimum purchase (restriction)", hint="e.g. 10.00"),
    Field(
        "excluded_categories",
        "Excluded categories (restriction)",
        hint="Separated by commas.",
    ),
    Field("single_use", "Single use only (restriction)", "checkbox"),
    Field(
        "occurred_at",
        "Opened at (UTC)",
        "datetime",
        hint="When you noticed the problem. Defaults to now.",
    ),
]
DISPUTE_FIELDS = [
    Field("platform", "Platform", required=True, hint="Lower case, e.g. tiktok."),
    Field("account_reference", "Account reference", hint="Your account's id there."),
    Field("charge_reference", "Charge reference", hint="The order, campaign or invoice id."),
    Field("charged_amount", "Amount charged", required=True, hint="e.g. 120.00"),
    Field("refund_amount", "Refund sought", hint="At most the charge; left empty, all of it."),
    Field("currency", "Currency", required=True, hint="Three letters, e.g. USD."),
    Field("reason", "Reason", "select", choices(c.DISPUTE_REASONS), required=True),
    Field("charged_on", "Charged on", "date"),
    Field(
        "occurred_at",
        "Opened at (UTC)",
        "datetime",
        hint="When you noticed the problem. Defaults to now.",
    ),
]

_FRIENDLY = {
    "platform": "must be a lower-case name such as temu or tiktok",
    "currency": "must be a three-letter ISO 4217 code such as USD",
}
_AMOUNTS = {
    "amount",
    "charged_amount",
    "refund_amount",
    "recovered_amount",
    "minimum_purchase",
}


class FormInvalid(Exception):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def now_default() -> str:
    """Now, rounded up to the whole second, as a datetime-local value: never before a case
    opened a moment ago."""
    now = datetime.now(UTC)
    return datetime.fromtimestamp(math.ceil(now.timestamp()), UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _moment(text: str) -> datetime | str | None:
    text = text.strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text  # the model says what is wrong with it
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def moment(text: str) -> datetime | None:
    """A datetime-local value (UTC) as an aware time; empty is None (now)."""
    value = _moment(text)
    if isinstance(value, str):
        raise FormInvalid({"occurred_at": "must be a date and time, such as 2026-03-13T10:00"})
    return value


def _field_name(location: tuple[Any, ...]) -> str:
    names = [str(p) for p in location if not isinstance(p, int)]
    return names[-1] if names else FORM


def _message(name: str, error: Mapping[str, Any]) -> str:
    kind = error.get("type", "")
    if kind == "missing" or error.get("input") == "":
        return "is required"
    if kind == "string_pattern_mismatch":
        if name in _AMOUNTS:
            return "must be an amount such as 25.00"
        return _FRIENDLY.get(name, str(error.get("msg")))
    if kind == "literal_error":
        return "choose one of the options"
    if kind in ("datetime_from_date_parsing", "datetime_parsing", "datetime_type"):
        return "must be a date and time, such as 2026-03-13T10:00"
    if kind in ("date_from_datetime_parsing", "date_parsing", "date_type"):
        return "must be a date, such as 2026-03-13"
    message = str(error.get("msg", "is not valid"))
    return message.removeprefix("Value error, ")


def validated(model: type[BaseModel], data: dict[str, Any]) -> BaseModel:
    """The API's own request model from the form, or FormInvalid with a problem per field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for error in exc.errors():
            name = _field_name(tuple(error.get("loc", ())))
            errors.setdefault(name, _message(name, error))
        raise FormInvalid(errors) from None


def domain_problem(exc: DomainError) -> dict[str, str]:
    """A refused command's message, beside its field where it has one."""
    name = exc.field.split(".")[-1] if exc.field else None
    message = exc.message
    if name and message.startswith(f"{exc.field}: "):
        message = message[len(exc.field or "") + 2 :]
    if isinstance(exc, EscalationNotHigher):
        name = "level"
    if isinstance(exc, MissingForSubmit):
        missing = ", ".join(words(m).lower() for m in exc.missing)
        return {FORM: f"Not ready to submit: still missing {missing}."}
    return {name or FORM: message}


def _text(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name, "")
    return value if isinstance(value, str) else ""


def _optional(form: Mapping[str, Any], name: str) -> str | None:
    value = _text(form, name).strip()
    return value or None


def action_arguments(spec: ActionForm, form: Mapping[str, Any]) -> dict[str, Any]:
    """The command's arguments from a posted action form, checked by the API's model."""
    assert spec.model is not None
    data: dict[str, Any] = {}
    for f in spec.fields:
        if f.name == "occurred_at":
            data["occurred_at"] = _moment(_text(form, "occurred_at"))
        elif f.required:
            data[f.name] = _text(form, f.name).strip()
        else:
            data[f.name] = _optional(form, f.name)
    return validated(spec.model, data).model_dump()


def opening_facts(kind: str, form: Mapping[str, Any]) -> dict[str, Any]:
    """An opening's facts from the credit or dispute form, checked by the API's model."""
    fields = CREDIT_FIELDS if kind == "credit" else DISPUTE_FIELDS
    data: dict[str, Any] = {}
    for f in fields:
        if f.name in ("minimum_purchase", "excluded_categories", "single_use"):
            continue
        if f.name == "occurred_at":
            data["occurred_at"] = _moment(_text(form, "occurred_at"))
        elif f.required:
            data[f.name] = _text(form, f.name).strip()
        else:
            data[f.name] = _optional(form, f.name)
    # what people type: "usd", "TikTok" (the API keeps its exact codes; a form forgives case)
    if data.get("currency"):
        data["currency"] = data["currency"].upper()
    if data.get("platform"):
        data["platform"] = data["platform"].lower()
    if kind == "credit":
        restrictions: dict[str, Any] = {}
        if _optional(form, "minimum_purchase"):
            restrictions["minimum_purchase"] = _optional(form, "minimum_purchase")
        categories = [p.strip() for p in _text(form, "excluded_categories").split(",")]
        if any(categories):
            restrictions["excluded_categories"] = [p for p in categories if p]
        if _text(form, "single_use"):
            restrictions["single_use"] = True
        data["restrictions"] = restrictions or None
        model: type[BaseModel] = s.OpenCredit
    else:
        model = s.OpenDispute
    return validated(model, data).model_dump(exclude_none=True)


def form_values(form: Mapping[str, Any]) -> dict[str, str]:
    """What was typed, to show again beside the problems (never the CSRF token)."""
    return {
        k: v for k, v in form.items() if isinstance(v, str) and k not in ("csrf_token", "version")
    }
