"""The timeline: one row per event of a case, titled so that it reads like a story."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from domain.money import format_money
from infrastructure.database import Cursor
from infrastructure.projections.base import Column, ReclaimProjection, Table
from infrastructure.projections.events import Batch, Recorded

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


def _words(value: str | None) -> str:
    return (value or "").replace("_", " ")


def _join(*parts: str | None) -> str:
    return " ".join(p for p in parts if p)


def _with(title: str, detail: str | None) -> str:
    return f"{title}: {detail}" if detail else title


def _opened(event: Any, currency: str) -> tuple[str, str]:
    if hasattr(event, "credit_type"):
        title = (
            f"Opened: {format_money(event.amount, currency)} {_words(event.credit_type)} credit "
            f"on {event.platform} ({_words(event.problem)})"
        )
        details = _join(
            f"remedy sought: {_words(event.remedy)}.",
            f"account {event.account_reference}." if event.account_reference else None,
        )
        return title, details
    title = (
        f"Opened: dispute of {format_money(event.refund_amount, currency)} "
        f"{_join('charge', event.charge_reference)} on {event.platform} ({_words(event.reason)})"
    )
    details = _join(
        f"charged {format_money(event.charged_amount, currency)}.",
        f"account {event.account_reference}." if event.account_reference else None,
    )
    return title, details


def _submitted(event: Any, currency: str) -> tuple[str, str]:
    return _join("Submitted", CHANNEL_PHRASES[event.channel], event.reference), event.message


def _followed_up(event: Any, currency: str) -> tuple[str, str]:
    return _join("Followed up", CHANNEL_PHRASES[event.channel]), event.message


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
        title += f", {recovered} recovered as {_words(event.recovered_form)}"
    return title, event.note


def _note(event: Any, currency: str) -> tuple[str, str]:
    return "Note added", event.text


def _evidence(event: Any, currency: str) -> tuple[str, str]:
    title = f"Evidence attached: {_words(event.kind)}"
    if event.filename:
        title += f" ({event.filename})"
    return title, _join(event.description, f"SHA-256 {event.sha256}, {event.size} bytes.")


TITLES: dict[str, Callable[[Any, str], tuple[str, str]]] = {
    "Opened": _opened,
    "Submitted": _submitted,
    "FollowedUp": _followed_up,
    "ResponseReceived": _response,
    "Denied": _denied,
    "Appealed": _appealed,
    "Escalated": _escalated,
    "Resolved": _resolved,
    "NoteAdded": _note,
    "EvidenceAttached": _evidence,
}


def title_and_details(recorded: Recorded, currency: str) -> tuple[str, str]:
    title, details = TITLES[recorded.name](recorded.event, currency)
    return title, details or ""


class Timeline(ReclaimProjection):
    name = "timeline"
    table = Table(
        "reclaim_timeline",
        (
            Column("position", "BIGINT", null=False),
            Column("case_id", "TEXT", null=False),
            Column("version", "INTEGER", null=False),
            Column("workspace", "TEXT", null=False),
            Column("owner", "TEXT", null=False),
            Column("event_type", "TEXT", null=False),
            Column("occurred_at", "TEXT", null=False),
            Column("recorded_at", "TEXT", null=False),
            Column("actor", "TEXT", null=False),
            Column("request_id", "TEXT", null=False),
            Column("title", "TEXT", null=False),
            Column("details", "TEXT", null=False),
        ),
        primary_key="position",
        order_by="position",
        unique=("case_id, version",),
        indexes=("case_id, occurred_at, version",),
    )

    tables = (table,)

    def apply(self, cursor: Cursor, batch: Batch) -> None:
        self.table.write(cursor, [self.row(r, batch.cases[r.case_id]) for r in batch.events])

    def row(self, recorded: Recorded, case: Any) -> dict[str, Any]:
        title, details = title_and_details(recorded, case.currency)
        return {
            "position": recorded.position,
            "case_id": recorded.case_id,
            "version": recorded.version,
            "workspace": case.workspace,
            "owner": case.owner,
            "event_type": recorded.event_type,
            "occurred_at": recorded.occurred_at,
            "recorded_at": recorded.recorded_at,
            "actor": recorded.actor,
            "request_id": recorded.request_id,
            "title": title,
            "details": details,
        }
