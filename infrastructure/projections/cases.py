"""The per-case projections: the case list, and the reports' facts table.

Both fold a case's events into one row of facts with the same code (``opened`` and
``advance``), taking each next state from the lifecycle machine, the single source
of truth for where an action leads. They differ only in their table and in the
columns they add: the list its search text and next deadline, the reports the
month a case was resolved in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, time
from typing import Any, ClassVar

from eventsourcing.utils import resolve_topic

from domain import lifecycle
from domain.deadlines import DeadlineFacts, DeadlinePolicy, next_deadline
from infrastructure.database import Cursor
from infrastructure.projections.base import Column, ReclaimProjection, Table, load_rows
from infrastructure.projections.events import EVENT_ACTIONS, Recorded, iso, iso_date, milli

Facts = dict[str, Any]

FACT_COLUMNS = (
    Column("case_id", "TEXT", null=False),
    Column("opened_position", "BIGINT", null=False),
    Column("last_position", "BIGINT", null=False),
    Column("version", "INTEGER", null=False),
    Column("workspace", "TEXT", null=False),
    Column("owner", "TEXT", null=False),
    Column("kind", "TEXT", null=False),
    Column("platform", "TEXT", null=False),
    Column("state", "TEXT", null=False),
    Column("currency", "TEXT", null=False),
    Column("amount_claimed", "TEXT", null=False),
    Column("amount_claimed_milli", "BIGINT", null=False),
    Column("amount_recovered", "TEXT", null=False),
    Column("amount_recovered_milli", "BIGINT", null=False),
    # a credit's problem or a dispute's reason
    Column("reason", "TEXT", null=False),
    Column("credit_type", "TEXT"),
    Column("account_reference", "TEXT", null=False),
    Column("charge_reference", "TEXT"),
    Column("submission_reference", "TEXT"),
    Column("expires_on", "TEXT"),
    Column("opened_at", "TEXT", null=False),
    Column("last_activity_at", "TEXT", null=False),
    Column("last_outbound_at", "TEXT"),
    Column("last_outbound_action", "TEXT"),
    Column("last_response_at", "TEXT"),
    Column("last_denied_at", "TEXT"),
    Column("resolved_at", "TEXT"),
    Column("outcome", "TEXT"),
    Column("recovered_form", "TEXT"),
    Column("escalation_level", "TEXT"),
    Column("appealed", "INTEGER", null=False),
    Column("follow_ups", "INTEGER", null=False),
    Column("responses", "INTEGER", null=False),
    Column("denials", "INTEGER", null=False),
    Column("appeals", "INTEGER", null=False),
    Column("escalations", "INTEGER", null=False),
    Column("evidence_count", "INTEGER", null=False),
    Column("notes_count", "INTEGER", null=False),
)


def opened(recorded: Recorded) -> Facts:
    """A case's facts as its Opened event states them."""
    event = recorded.event
    kind = resolve_topic(event.originator_topic).kind
    claimed = event.amount if kind == "credit" else event.refund_amount
    return {
        "case_id": recorded.case_id,
        "opened_position": recorded.position,
        "last_position": recorded.position,
        "version": recorded.version,
        "workspace": event.workspace,
        "owner": event.owner,
        "kind": kind,
        "platform": event.platform,
        "state": "opened",
        "currency": event.currency,
        "amount_claimed": str(claimed),
        "amount_claimed_milli": milli(claimed),
        "amount_recovered": "0",
        "amount_recovered_milli": 0,
        "reason": event.problem if kind == "credit" else event.reason,
        "credit_type": getattr(event, "credit_type", None),
        "account_reference": event.account_reference,
        "charge_reference": getattr(event, "charge_reference", None),
        "submission_reference": None,
        "expires_on": iso_date(getattr(event, "expires_on", None)),
        "opened_at": recorded.occurred_at,
        "last_activity_at": recorded.occurred_at,
        "last_outbound_at": None,
        "last_outbound_action": None,
        "last_response_at": None,
        "last_denied_at": None,
        "resolved_at": None,
        "outcome": None,
        "recovered_form": None,
        "escalation_level": None,
        "appealed": 0,
        "follow_ups": 0,
        "responses": 0,
        "denials": 0,
        "appeals": 0,
        "escalations": 0,
        "evidence_count": 0,
        "notes_count": 0,
    }


def advance(facts: Facts, recorded: Recorded) -> Facts:
    """The facts after one more event of the case (never the Opened one)."""
    action = EVENT_ACTIONS[recorded.name]
    after = dict(facts)
    after["state"] = lifecycle.next_state(facts["state"], action)
    _UPDATES[action](after, recorded.event, recorded.occurred_at)
    after["version"] = recorded.version
    after["last_position"] = recorded.position
    return after


def _touch(facts: Facts, at: str) -> None:
    facts["last_activity_at"] = max(facts["last_activity_at"], at)


def _outbound(facts: Facts, at: str, action: str) -> None:
    facts["last_outbound_at"] = at
    facts["last_outbound_action"] = action
    _touch(facts, at)


def _inbound(facts: Facts, at: str) -> None:
    facts["last_response_at"] = at
    _touch(facts, at)


def _count(facts: Facts, column: str) -> None:
    facts[column] += 1


def _submitted(facts: Facts, event: Any, at: str) -> None:
    facts["submission_reference"] = event.reference or None
    _outbound(facts, at, "submit")


def _followed_up(facts: Facts, event: Any, at: str) -> None:
    _count(facts, "follow_ups")
    _outbound(facts, at, "follow_up")


def _response(facts: Facts, event: Any, at: str) -> None:
    _count(facts, "responses")
    _inbound(facts, at)


def _denied(facts: Facts, event: Any, at: str) -> None:
    _count(facts, "denials")
    facts["last_denied_at"] = at
    _inbound(facts, at)


def _appealed(facts: Facts, event: Any, at: str) -> None:
    _count(facts, "appeals")
    facts["appealed"] = 1
    _outbound(facts, at, "appeal")


def _escalated(facts: Facts, event: Any, at: str) -> None:
    _count(facts, "escalations")
    facts["escalation_level"] = event.level
    _outbound(facts, at, "escalate")


def _resolved(facts: Facts, event: Any, at: str) -> None:
    facts["outcome"] = event.outcome
    facts["amount_recovered"] = str(event.recovered_amount)
    facts["amount_recovered_milli"] = milli(event.recovered_amount)
    facts["recovered_form"] = event.recovered_form
    facts["resolved_at"] = at
    _touch(facts, at)


def _note(facts: Facts, event: Any, at: str) -> None:
    _count(facts, "notes_count")


def _evidence(facts: Facts, event: Any, at: str) -> None:
    _count(facts, "evidence_count")


_UPDATES: dict[str, Callable[[Facts, Any, str], None]] = {
    "submit": _submitted,
    "follow_up": _followed_up,
    "record_response": _response,
    "deny": _denied,
    "appeal": _appealed,
    "escalate": _escalated,
    "resolve": _resolved,
    "add_note": _note,
    "attach_evidence": _evidence,
}


class CaseFactsProjection(ReclaimProjection):
    """Keeps one row of facts per case, plus the columns a subclass derives from them."""

    table: ClassVar[Table]

    def apply(self, cursor: Cursor, batch: Sequence[Recorded]) -> None:
        known = {r.case_id for r in batch if r.name != "Opened"}
        rows = load_rows(cursor, self.table, sorted(known))
        changed: set[str] = set()
        for recorded in batch:
            case_id = recorded.case_id
            if recorded.name == "Opened":
                rows[case_id] = opened(recorded)
            elif case_id in rows:
                rows[case_id] = advance(rows[case_id], recorded)
            else:
                raise LookupError(f"case {case_id} has events but was never opened")
            changed.add(case_id)
        final = [self.with_derived(rows[c]) for c in sorted(changed)]
        self.table.write(cursor, final, upsert=True)

    def with_derived(self, facts: Facts) -> Facts:
        return facts


def next_deadline_for(row: Facts, policy: DeadlinePolicy) -> str | None:
    """The case's next deadline, as the start of its day in UTC (ISO 8601 text), or None.

    Called with the case list row (every fact column) each time the case changes; it
    depends on the row and the policy alone, so a rebuild gives the same answer. (After
    the deadline settings change, ``reclaim replay`` brings stored values up to date.)
    """
    upcoming = next_deadline(DeadlineFacts.from_mapping(row), policy)
    if upcoming is None:
        return None
    return iso(datetime.combine(upcoming.due, time.min, tzinfo=UTC))


def search_text(row: Facts) -> str:
    """What ``q`` matches, lower-cased: the case's id, platform, kind and references."""
    parts = [
        row["case_id"],
        row["kind"],
        row["platform"],
        row["reason"],
        row["credit_type"],
        row["account_reference"],
        row["charge_reference"],
        row["submission_reference"],
    ]
    return " ".join(p for p in parts if p).lower()


class CaseList(CaseFactsProjection):
    name = "case_list"
    table = Table(
        "reclaim_case_list",
        (*FACT_COLUMNS, Column("next_deadline", "TEXT"), Column("search_text", "TEXT", null=False)),
        primary_key="case_id",
        order_by="opened_position",
        unique=("opened_position",),
        indexes=(
            "workspace, opened_at, case_id",
            "workspace, owner, opened_at, case_id",
            "workspace, last_activity_at, case_id",
            "workspace, next_deadline",
        ),
    )
    tables: tuple[Table, ...] = (table,)

    def with_derived(self, facts: Facts) -> Facts:
        row = {**facts, "search_text": search_text(facts)}
        row["next_deadline"] = next_deadline_for(row, self.context.deadline_policy)
        return row


class Reports(CaseFactsProjection):
    name = "reports"
    table = Table(
        "reclaim_report_cases",
        (*FACT_COLUMNS, Column("resolved_month", "TEXT")),
        primary_key="case_id",
        order_by="opened_position",
        unique=("opened_position",),
        indexes=("workspace, owner", "workspace, resolved_month"),
    )
    tables: tuple[Table, ...] = (table,)

    def with_derived(self, facts: Facts) -> Facts:
        resolved_at = facts["resolved_at"]
        return {**facts, "resolved_month": resolved_at[:7] if resolved_at else None}
