"""The timeline: one row per event of a case, titled so that it reads like a story."""

from __future__ import annotations

from typing import Any

from domain.actions import DECLARED
from infrastructure.projections.base import Column, EventRows, Table
from infrastructure.projections.events import Batch, Recorded
from infrastructure.store.database import Cursor

#: each event's class name -> its title and details (declared with the actions)
TITLES = DECLARED.titles


def title_and_details(recorded: Recorded, currency: str) -> tuple[str, str]:
    title, details = TITLES[recorded.name](recorded.event, currency)
    return title, details or ""


class Timeline(EventRows):
    name = "timeline"
    #: 2: amounts in titles are written with the currency's decimals ("25.00 USD")
    version = 2
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

    def rewrite(self, cursor: Cursor, batch: Batch) -> None:
        cases = sorted(batch.cases)
        marks = ", ".join(["%s"] * len(cases))
        cursor.execute(f"DELETE FROM {self.table.name} WHERE case_id IN ({marks})", cases)
        self.apply(cursor, batch)

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
