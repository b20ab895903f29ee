"""The case list: one row per case, made from the case the command just changed.

The row's facts are read from the aggregate (``case_facts``), so the lifecycle rules
live in the domain alone; a rebuild folds the log through the domain's own event
classes and makes the same rows. The list adds its search text and next deadline.
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any, ClassVar

from domain.cases import Case, Credit
from domain.deadlines import DeadlineFacts, DeadlinePolicy, next_deadline
from infrastructure.projections.base import Column, ReclaimProjection, Table
from infrastructure.projections.events import Batch, iso, iso_date, milli, optional_iso
from infrastructure.store.database import Cursor

Facts = dict[str, Any]

FACT_COLUMNS = (
    Column("case_id", "TEXT", null=False),
    Column("opened_position", "BIGINT", null=False, fixed=True),
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


def case_facts(case: Case, *, opened_position: int, last_position: int) -> Facts:
    """A case's row of facts, read from the aggregate (the domain's own fold: no second
    copy of the lifecycle rules). ``opened_position`` is only written with the row's
    first version; later writes leave the stored one (a fixed column)."""
    submission = case.submission or {}
    return {
        "case_id": str(case.id),
        "opened_position": opened_position,
        "last_position": last_position,
        "version": case.version,
        "workspace": case.workspace,
        "owner": case.owner,
        "kind": case.kind,
        "platform": case.platform,
        "state": case.state,
        "currency": case.currency,
        "amount_claimed": str(case.amount_claimed),
        "amount_claimed_milli": milli(case.amount_claimed),
        "amount_recovered": str(case.amount_recovered),
        "amount_recovered_milli": milli(case.amount_recovered),
        "reason": case.problem if isinstance(case, Credit) else case.reason,  # type: ignore[attr-defined]
        "credit_type": getattr(case, "credit_type", None),
        "account_reference": case.account_reference,
        "charge_reference": getattr(case, "charge_reference", None),
        "submission_reference": submission.get("reference") or None,
        "expires_on": iso_date(getattr(case, "expires_on", None)),
        "opened_at": iso(case.opened_at),
        "last_activity_at": iso(case.last_activity_at),
        "last_outbound_at": optional_iso(case.last_outbound_at),
        "last_outbound_action": case.last_outbound_action,
        "last_response_at": optional_iso(case.last_response_at),
        "last_denied_at": optional_iso(case.last_denied_at),
        "resolved_at": optional_iso(case.resolved_at),
        "outcome": case.outcome,
        "recovered_form": case.recovered_form,
        "escalation_level": case.escalation_level,
        "appealed": 1 if case.appeals else 0,
        "follow_ups": case.follow_ups,
        "responses": case.responses,
        "denials": case.denials,
        "appeals": case.appeals,
        "escalations": len(case.escalations),
        "evidence_count": len(case.evidence),
        "notes_count": case.notes_count,
    }


def case_positions(batch: Batch) -> dict[str, tuple[int, int]]:
    """Every case the batch touches, in case id order: the position of its opening (0 if
    it was opened before the batch) and of its last event."""
    opened: dict[str, int] = {}
    last: dict[str, int] = {}
    for recorded in batch.events:
        if recorded.name == "Opened":
            opened[recorded.case_id] = recorded.position
        last[recorded.case_id] = recorded.position
    return {case_id: (opened.get(case_id, 0), last[case_id]) for case_id in sorted(last)}


class CaseFactsProjection(ReclaimProjection):
    """Keeps one row of facts per case, plus the columns a subclass derives from them."""

    table: ClassVar[Table]

    def prepare(self, batch: Batch) -> dict[str, Facts]:
        """Each touched case's row, but for its positions."""
        touched = {recorded.case_id for recorded in batch.events}
        return {
            case_id: self.with_derived(
                case_facts(batch.cases[case_id], opened_position=0, last_position=0), batch
            )
            for case_id in touched
        }

    def apply(self, cursor: Cursor, batch: Batch) -> None:
        made: dict[str, Facts] = self.prepared(batch)
        rows = []
        for case_id, (opened, last) in case_positions(batch).items():
            row = made[case_id]
            row["opened_position"], row["last_position"] = opened, last
            rows.append(row)
        self.table.write(cursor, rows, upsert=True)

    def rewrite(self, cursor: Cursor, batch: Batch) -> None:
        self.apply(cursor, batch)  # (an upsert of each case's row)

    def with_derived(self, facts: Facts, batch: Batch) -> Facts:
        """``facts`` with the subclass's own columns (worked out without positions)."""
        return facts


def next_deadline_for(case: Case, policy: DeadlinePolicy) -> str | None:
    """The case's next deadline, as the start of its day in UTC (ISO 8601 text), or None.

    Worked out each time the case changes, from the case and the policy alone, so a
    rebuild gives the same answer. (After the deadline settings change, ``reclaim
    replay`` brings stored values up to date.)
    """
    upcoming = next_deadline(DeadlineFacts.of(case), policy)
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
            "workspace, owner, next_deadline",
        ),
    )
    tables: tuple[Table, ...] = (table,)

    def with_derived(self, facts: Facts, batch: Batch) -> Facts:
        facts["search_text"] = search_text(facts)
        case = batch.cases[facts["case_id"]]
        facts["next_deadline"] = next_deadline_for(case, self.context.deadline_policy)
        return facts
