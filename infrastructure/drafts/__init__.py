"""Drafted messages: one ready-to-send message for each next step a case allows.

``drafts_for(reclaim, case, workspace)`` (``infrastructure.service.drafts``) is the one
entry point (the API and the case book both call it). Every fact in a draft is read from
the case's events by ``facts_of``; the words are Jinja2 templates in ``templates/``,
chosen by step, kind, platform and problem or reason, most specific first. A workspace
admin may replace any of them (``infrastructure.store.templates``).

Templates run in a sandbox with ``StrictUndefined``; what users typed (messages,
grounds, a denial reason) is only ever passed to them as data, so ``{{ 7*7 }}`` in a
note stays ``{{ 7*7 }}``. A fact that is missing is never a blank: a template leaves
its sentence out, or says what to add (``missing`` lists those).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from jinja2 import (
    ChoiceLoader,
    DictLoader,
    FileSystemLoader,
    StrictUndefined,
    Template,
    TemplateError,
    TemplateNotFound,
)
from jinja2.sandbox import SandboxedEnvironment

from domain.cases import ESCALATION_LEVELS, Case
from domain.money import format_money

TEMPLATE_DIR = Path(__file__).parent / "templates"
SUFFIX = ".j2"

#: how a platform's name is written in a message; others are title-cased from the slug
PLATFORM_NAMES = {"temu": "TEMU", "tiktok": "TikTok"}
#: who each step is addressed to, and the channel it fits
LEVEL_CHANNELS = {
    "supervisor": "support_ticket",
    "social_media": "social_media",
    "consumer_agency": "other",
    "payment_provider": "other",
}
LEVEL_RECIPIENTS = {
    "supervisor": "a supervisor at {platform} customer support",
    "social_media": "{platform}'s public support account on social media",
    "consumer_agency": "your consumer protection agency",
    "payment_provider": "the bank or card issuer that took the payment",
}
PROBLEM_WORDS = {
    "expired": "expired",
    "disappeared": "disappeared from my account",
    "misapplied": "was not applied correctly at checkout",
    "restricted": "is blocked by restrictions that were not made clear",
    "uncredited": "was never credited",
    "invalid": "was rejected as invalid at checkout",
    "unauthorized_use": "was used without my authorisation",
}
REASON_WORDS = {
    "technical_issue": "a technical problem on the platform's side stopped it from being delivered",
    "incorrect_charge": "I was charged more than the agreed amount",
    "non_performance": "the promotion did not deliver what was promised",
    "accidental_charge": "the charge was made by accident",
    "unauthorized_use": "I did not authorise the charge",
    "other": "the charge should not stand",
}
REMEDY_WORDS = {
    "reinstate": "reinstate the credit",
    "extend": "extend the credit's expiry date",
    "correct": "correct the credit balance",
    "compensate": "offer equivalent compensation",
}
CREDIT_TYPE_WORDS = {
    "store": "store credit",
    "promotional": "promotional credit",
    "refund": "refund credit",
}
EVIDENCE_KIND_WORDS = {
    "screenshot": "screenshot",
    "email": "e-mail",
    "receipt": "receipt",
    "transaction_record": "transaction record",
    "chat_transcript": "chat transcript",
    "other": "file",
}
CHANNEL_WORDS = {
    "support_ticket": "support ticket",
    "email": "e-mail",
    "live_chat": "live chat",
    "phone": "phone",
    "ads_manager": "Ads Manager",
    "social_media": "social media",
    "other": "another channel",
}


@dataclass(frozen=True)
class Draft:
    """One message ready to send: what it is for, where it goes, and its words."""

    step: str
    level: str | None
    channel: str
    to: str
    subject: str
    body: str
    template: str
    #: the template came from the workspace (an admin's replacement), not the package
    workspace_template: bool = False
    #: facts the sender should add before sending (each also named in the body)
    missing: list[str] = field(default_factory=list)


# --- facts ---------------------------------------------------------------------------------
def day_text(day: date | datetime | None) -> str | None:
    """A date as a letter writes it: 13 March 2026."""
    if day is None:
        return None
    if isinstance(day, datetime):
        day = day.astimezone(UTC).date()
    return f"{day.day} {day:%B %Y}"


def money_text(amount: Decimal | None, currency: str) -> str | None:
    if amount is None:
        return None
    return format_money(amount, currency)


def platform_name(slug: str) -> str:
    return PLATFORM_NAMES.get(slug, slug.replace("_", " ").replace("-", " ").title())


def _event_name(event: Any) -> str:
    return type(event).__name__


def facts_of(
    events: list[Any], case: Case, *, follow_up_days: int, now: datetime
) -> dict[str, Any]:
    """Everything a template may say, from the case's events; ``None`` where unknown."""
    currency = case.currency
    platform = platform_name(case.platform)
    facts: dict[str, Any] = {
        "kind": case.kind,
        "platform": platform,
        "platform_slug": case.platform,
        "state": case.state,
        "account_reference": case.account_reference or None,
        "opened_on": day_text(case.opened_at),
        "currency": currency,
        "amount_claimed": money_text(case.amount_claimed, currency),
        "follow_up_days": follow_up_days,
        "today": day_text(now),
    }
    if case.kind == "credit":
        facts.update(
            credit_type=CREDIT_TYPE_WORDS.get(case.credit_type, case.credit_type),  # type: ignore[attr-defined]
            amount=money_text(case.amount, currency),  # type: ignore[attr-defined]
            problem=case.problem,  # type: ignore[attr-defined]
            problem_words=PROBLEM_WORDS.get(case.problem, case.problem),  # type: ignore[attr-defined]
            remedy=case.remedy,  # type: ignore[attr-defined]
            remedy_words=REMEDY_WORDS.get(case.remedy, case.remedy),  # type: ignore[attr-defined]
            earned_on=day_text(case.earned_on),  # type: ignore[attr-defined]
            expires_on=day_text(case.expires_on),  # type: ignore[attr-defined]
            restrictions=_restriction_lines(case.restrictions, currency),  # type: ignore[attr-defined]
        )
    else:
        facts.update(
            charge_reference=case.charge_reference or None,  # type: ignore[attr-defined]
            charged_amount=money_text(case.charged_amount, currency),  # type: ignore[attr-defined]
            refund_amount=money_text(case.refund_amount, currency),  # type: ignore[attr-defined]
            partial_refund=case.refund_amount < case.charged_amount,  # type: ignore[attr-defined]
            reason=case.reason,  # type: ignore[attr-defined]
            reason_words=REASON_WORDS.get(case.reason, case.reason),  # type: ignore[attr-defined]
            charged_on=day_text(case.charged_on),  # type: ignore[attr-defined]
        )

    evidence: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    contacts: list[dict[str, Any]] = []
    responses: list[dict[str, Any]] = []
    chronology: list[dict[str, Any]] = []
    submission = denial = appeal = None
    escalations: list[dict[str, Any]] = []
    for event in events:
        name = _event_name(event)
        when = getattr(event, "occurred_at", None) or event.timestamp
        on = day_text(when)
        if name == "Opened":
            chronology.append({"on": on, "at": when, "what": "Case opened with Reclaim"})
        elif name == "Submitted":
            submission = {
                "on": on,
                "channel": CHANNEL_WORDS.get(event.channel, event.channel),
                "reference": event.reference or None,
                "message": event.message or None,
            }
            contacts.append({"on": on, "at": when, "what": "my request"})
            chronology.append(
                {
                    "on": on,
                    "at": when,
                    "what": f"Request submitted to {platform} by {submission['channel']}"
                    + (f" (reference {event.reference})" if event.reference else ""),
                }
            )
        elif name == "FollowedUp":
            contacts.append({"on": on, "at": when, "what": "my follow-up"})
            chronology.append(
                {
                    "on": on,
                    "at": when,
                    "what": f"Followed up by {CHANNEL_WORDS.get(event.channel, event.channel)}",
                }
            )
        elif name == "ResponseReceived":
            responses.append({"on": on, "at": when, "message": event.message})
            chronology.append({"on": on, "at": when, "what": f"{platform} replied"})
        elif name == "Denied":
            denial = {"on": on, "at": when, "reason": event.reason or None}
            chronology.append({"on": on, "at": when, "what": f"{platform} denied the request"})
        elif name == "Appealed":
            appeal = {"on": on, "at": when, "grounds": event.grounds}
            contacts.append({"on": on, "at": when, "what": "my appeal"})
            chronology.append({"on": on, "at": when, "what": "Appealed the denial"})
        elif name == "Escalated":
            escalations.append({"on": on, "level": event.level, "contact": event.contact or None})
            contacts.append({"on": on, "at": when, "what": "my escalation"})
            chronology.append(
                {
                    "on": on,
                    "at": when,
                    "what": "Escalated to "
                    + LEVEL_RECIPIENTS[event.level].format(platform=platform),
                }
            )
        elif name == "EvidenceAttached":
            evidence.append(
                {
                    "name": event.filename or event.evidence_id,
                    "kind": EVIDENCE_KIND_WORDS.get(event.kind, event.kind),
                    "sha256": event.sha256,
                    "description": event.description or None,
                }
            )
        elif name == "NoteAdded":
            notes.append({"on": on, "text": event.text})
        elif name == "Resolved":
            chronology.append({"on": on, "at": when, "what": f"Resolved: {event.outcome}"})
    chronology.sort(key=lambda item: item["at"])

    last_contact = case.last_outbound_at
    answered = (
        last_contact is not None
        and case.last_response_at is not None
        and case.last_response_at >= last_contact
    )
    facts.update(
        submission=submission,
        denial=denial,
        appeal=appeal,
        escalations=escalations,
        evidence=evidence,
        notes=notes,
        responses=responses,
        last_response=responses[-1] if responses else None,
        chronology=[{"on": c["on"], "what": c["what"]} for c in chronology],
        contacts_count=len(contacts),
        follow_ups_count=case.follow_ups,
        last_contact_on=day_text(last_contact),
        last_contact_what=contacts[-1]["what"] if contacts else None,
        days_since_contact=(now.date() - last_contact.astimezone(UTC).date()).days
        if last_contact
        else None,
        days_since_opened=(now.date() - case.opened_at.astimezone(UTC).date()).days,
        answered_since_contact=answered,
        escalation_level=case.escalation_level,
    )
    return facts


def _restriction_lines(restrictions: Mapping[str, Any], currency: str) -> list[str]:
    lines = []
    if restrictions.get("minimum_purchase") is not None:
        minimum = format_money(restrictions["minimum_purchase"], currency)
        lines.append(f"a minimum purchase of {minimum}")
    if restrictions.get("excluded_categories"):
        lines.append("excluded categories: " + ", ".join(restrictions["excluded_categories"]))
    if restrictions.get("single_use"):
        lines.append("single use only")
    return lines


# --- which steps, which templates ----------------------------------------------------------
@dataclass(frozen=True)
class Step:
    step: str
    level: str | None
    channel: str
    to: str


def steps_for(case: Case) -> list[Step]:
    """One step per next move the case allows (domain ``allowed_actions``)."""
    allowed = case.allowed_actions
    platform = platform_name(case.platform)
    support = f"{platform} customer support"
    first_channel = "ads_manager" if case.kind == "dispute" else "support_ticket"
    steps = []
    if "submit" in allowed:
        steps.append(Step("submit", None, first_channel, support))
    if "follow_up" in allowed and case.last_outbound_at is not None:
        channel = (case.submission or {}).get("channel") or first_channel
        steps.append(Step("follow_up", None, channel, support))
    if "appeal" in allowed:
        steps.append(Step("appeal", None, first_channel, support))
    if "escalate" in allowed:
        current = case.escalation_level
        start = 0 if current is None else ESCALATION_LEVELS.index(current) + 1
        for level in ESCALATION_LEVELS[start:]:
            steps.append(
                Step(
                    "escalate",
                    level,
                    LEVEL_CHANNELS[level],
                    LEVEL_RECIPIENTS[level].format(platform=platform),
                )
            )
    return steps


def template_base(step: Step) -> str:
    return f"escalate_{step.level}" if step.step == "escalate" else step.step


def candidate_names(step: Step, case: Case) -> list[str]:
    """Template names to try, most specific first: step.kind.platform.problem, ..."""
    base = template_base(step)
    detail = getattr(case, "problem", None) or getattr(case, "reason", None)
    names = [
        f"{base}.{case.kind}.{case.platform}.{detail}",
        f"{base}.{case.kind}.{detail}",
        f"{base}.{case.kind}.{case.platform}",
        f"{base}.{case.kind}",
        base,
    ]
    return [name + SUFFIX for name in names]


def package_template_names() -> list[str]:
    return sorted(p.name for p in TEMPLATE_DIR.glob("*" + SUFFIX) if not p.name.startswith("_"))


def environment(overrides: Mapping[str, str] | None = None) -> SandboxedEnvironment:
    """A sandbox for text (no autoescape), strict about undefined names."""
    loaders: list[Any] = []
    if overrides:
        loaders.append(DictLoader(dict(overrides)))
    loaders.append(FileSystemLoader(str(TEMPLATE_DIR)))
    env = SandboxedEnvironment(
        loader=ChoiceLoader(loaders),
        autoescape=False,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    return env


_PACKAGE_ENV = environment()


def _render_block(template: Template, block: str, context: dict[str, Any]) -> str:
    if block not in template.blocks:
        raise TemplateError(f"the template has no '{block}' block")
    return "".join(template.blocks[block](template.new_context(context)))


def tidy(text: str) -> str:
    """No trailing spaces, at most one blank line in a row, no blank start or end."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    out: list[str] = []
    for line in lines:
        if not line and out and not out[-1]:
            continue
        out.append(line)
    return "\n".join(out)


#: what a draft asks the sender to add where a fact is missing: "[add the campaign ID]"
PLACEHOLDER = re.compile(r"\[[Aa]dd ([^\]]+)\]")
#: the macros of ``_facts.j2`` every template may call (case_facts, evidence_list, ...)
SHARED = "_facts.j2"


def render(template: Template, context: dict[str, Any]) -> tuple[str, str, list[str]]:
    """Subject, body and the facts to add, from a template with those blocks."""
    shared = template.environment.get_template(SHARED).module
    context = {
        **{name: getattr(shared, name) for name in dir(shared) if not name.startswith("_")},
        **context,
    }
    subject = " ".join(_render_block(template, "subject", context).split())
    body = tidy(_render_block(template, "body", context))
    missing = [m.rstrip(". ") for m in PLACEHOLDER.findall(body)]
    if "missing" in template.blocks:  # a template may name more than its placeholders show
        missing += [
            line.strip("- ").strip()
            for line in _render_block(template, "missing", context).splitlines()
            if line.strip("- ").strip()
        ]
    missing = list(dict.fromkeys(missing))
    return subject, body, missing


def draft_for_step(
    step: Step,
    case: Case,
    facts: dict[str, Any],
    overrides: Mapping[str, str] | None = None,
) -> Draft:
    context = {**facts, "c": facts, "step": step.step, "level": step.level, "to": step.to}
    names = candidate_names(step, case)
    if overrides:
        for name in names:
            if name not in overrides:
                continue
            try:
                template = environment({name: overrides[name]}).get_template(name)
                subject, body, missing = render(template, context)
            except TemplateError:
                break  # a workspace template that cannot render: the package's one instead
            return Draft(
                step.step, step.level, step.channel, step.to, subject, body, name, True, missing
            )
    for name in names:
        try:
            template = _PACKAGE_ENV.get_template(name)
        except TemplateNotFound:
            continue
        subject, body, missing = render(template, context)
        return Draft(
            step.step, step.level, step.channel, step.to, subject, body, name, False, missing
        )
    raise LookupError(f"no template for {names[-1]}")
