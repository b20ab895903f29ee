"""The event feed: one row per event, in log order, with the case's public fields as
that event left it. ``GET /v1/events``, its stream and the webhook dispatcher read it.

Nothing personal is kept here: no free text, no references, no file names (the fields
of ``domain.cases.PERSONAL_FIELDS``), only what a case's kind, platform, state, outcome,
amounts and currency say, so an erasure leaves these rows as they are.

The case's fields are the ones just after the event. A rebuild's fold hands them over
per event (``Recorded.facts_after``, set by ``Folder``); a command's save hands over the
case as the command left it, which is the same because a command records at most one
event that changes them, first (a mail's evidence comes after its response or step).
"""

from __future__ import annotations

from typing import Any

from infrastructure.projections.base import Column, EventRows, Table
from infrastructure.projections.events import Recorded

#: the case's fields every feed item and webhook carries (none of them personal)
PUBLIC_FIELDS = (
    "kind",
    "platform",
    "state",
    "outcome",
    "currency",
    "amount_claimed",
    "amount_recovered",
)


def public_facts(case: Any) -> dict[str, Any]:
    """What anyone following the log may know of a case at one moment."""
    return {
        "kind": case.kind,
        "platform": case.platform,
        "state": case.state,
        "outcome": case.outcome,
        "currency": case.currency,
        "amount_claimed": str(case.amount_claimed),
        "amount_recovered": str(case.amount_recovered),
    }


class Feed(EventRows):
    name = "feed"
    table = Table(
        "reclaim_feed",
        (
            Column("position", "BIGINT", null=False),
            Column("case_id", "TEXT", null=False),
            Column("version", "INTEGER", null=False),
            Column("workspace", "TEXT", null=False),
            Column("owner", "TEXT", null=False),
            Column("event_type", "TEXT", null=False),
            Column("recorded_at", "TEXT", null=False),
            Column("occurred_at", "TEXT", null=False),
            Column("kind", "TEXT", null=False),
            Column("platform", "TEXT", null=False),
            Column("state", "TEXT", null=False),
            Column("outcome", "TEXT"),
            Column("currency", "TEXT", null=False),
            Column("amount_claimed", "TEXT", null=False),
            Column("amount_recovered", "TEXT", null=False),
        ),
        primary_key="position",
        order_by="position",
        unique=("case_id, version",),
        # a page is one index range whatever the log's size: a workspace's events, a
        # member's own, one case's (the case book's notice)
        indexes=("workspace, position", "workspace, owner, position", "case_id, position"),
    )
    tables = (table,)

    def row(self, recorded: Recorded, case: Any) -> dict[str, Any]:
        facts = recorded.facts_after or public_facts(case)
        return {
            "position": recorded.position,
            "case_id": recorded.case_id,
            "version": recorded.version,
            "workspace": case.workspace,
            "owner": case.owner,
            "event_type": recorded.event_type,
            "recorded_at": recorded.recorded_at,
            "occurred_at": recorded.occurred_at,
            **facts,
        }
