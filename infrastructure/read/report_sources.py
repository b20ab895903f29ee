"""Where the reports page, the reminders, the calendar and the dossier get their data:
the projections' queries, scoped like every query (``workspace``, and ``owner`` unless
the caller reads the whole workspace), shaped into what ``api/render/pages.py``,
``infrastructure/read/reminders.py`` and ``api/render/dossier.py`` take.

``assemble_report_data`` is pure (query results in, page data out); the ``load_*``
functions run the queries.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from domain.cases import ESCALATION_LEVELS, OUTCOMES, Case
from domain.deadlines import EXPIRY, FOLLOW_UP, DeadlinePolicy
from domain.money import format_amount
from infrastructure.projections.audit import public_pem
from infrastructure.read import proofs, queries
from infrastructure.read.deadline_text import title
from infrastructure.read.dossier_input import DossierInput, DossierProof
from infrastructure.read.reminders import open_deadlines
from infrastructure.store.application import ReclaimApplication
from infrastructure.store.database import Database
from infrastructure.store.keys import Principal
from infrastructure.store.witness import FIELDS as WITNESSED

#: credits expiring within this many days are on the reports page
EXPIRING_SOON_DAYS = 7
#: the audit columns a dossier leaves out: the same for every entry of the case
_AUDIT_OMIT = ("case_id", "workspace", "owner", "leaf")


def owner_scope(principal: Principal) -> str | None:
    """The ``owner`` a principal's queries take: None reads the whole workspace."""
    return None if principal.reads_workspace else principal.user_id


def case_rows(db: Database, workspace: str, owner: str | None) -> Iterator[dict[str, Any]]:
    """Every case the scope may see, from the case list, page by page."""
    cursor: str | None = None
    while True:
        page = queries.list_cases(
            db, workspace, owner, sort="opened_at", limit=queries.MAX_LIMIT, cursor=cursor
        )
        yield from page.items
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def _month(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m")


def monthly_counts(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Cases opened and resolved in each month (UTC), every month from the first to the last."""
    opened: dict[str, int] = {}
    resolved: dict[str, int] = {}
    for row in rows:
        for tally, moment in ((opened, row.get("opened_at")), (resolved, row.get("resolved_at"))):
            month = _month(moment)
            if month is not None:
                tally[month] = tally.get(month, 0) + 1
    months = sorted({*opened, *resolved})
    if not months:
        return []
    return [
        {"month": m, "opened": opened.get(m, 0), "resolved": resolved.get(m, 0)}
        for m in _month_range(months[0], months[-1])
    ]


def _month_range(first: str, last: str) -> list[str]:
    year, month = map(int, first.split("-"))
    found = []
    while f"{year:04d}-{month:02d}" <= last:
        found.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return found


def outcome_rows(outcomes: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The outcomes query's tallies as the page's rows: neither, appealed, then each level."""
    groups = [("neither", outcomes["neither"]), ("appealed", outcomes["appealed"])]
    groups += [(level, outcomes["escalated"][level]) for level in ESCALATION_LEVELS]
    return [{"group": name, **{o: tally.get(o, 0) for o in OUTCOMES}} for name, tally in groups]


def overdue_and_expiring(
    rows: Iterable[Mapping[str, Any]], policy: DeadlinePolicy, today: date
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Overdue follow-ups, and credits expiring within ``EXPIRING_SOON_DAYS``."""
    by_id = {str(r["id"]): r for r in rows}
    deadlines, _ = open_deadlines(by_id.values(), policy)
    overdue, expiring = [], []
    for d in deadlines:
        case = by_id[d.case_id]
        if d.kind == FOLLOW_UP and d.is_overdue(today):
            overdue.append(
                {
                    "case_id": d.case_id,
                    "platform": case["platform"],
                    "kind": case["kind"],
                    "due": d.due.isoformat(),
                    "days_overdue": (today - d.due).days,
                    "title": title(d),
                }
            )
        elif d.kind == EXPIRY and today <= d.due <= today + timedelta(days=EXPIRING_SOON_DAYS):
            expiring.append(
                {
                    "case_id": d.case_id,
                    "platform": case["platform"],
                    "expires_on": d.due.isoformat(),
                    "amount": format_amount(case["amount_claimed"], case["currency"]),
                    "currency": case["currency"],
                }
            )
    return overdue, expiring


def assemble_report_data(
    *,
    summary: Mapping[str, Any],
    recovery_by_platform: Iterable[Mapping[str, Any]],
    outcomes: Mapping[str, Any],
    rows: list[Mapping[str, Any]],
    policy: DeadlinePolicy,
    now: datetime,
    scope: str,
) -> dict[str, Any]:
    """The reports page's data (see ``api/render/pages.py``) from the queries' answers."""
    overdue, expiring = overdue_and_expiring(rows, policy, now.astimezone(UTC).date())
    return {
        "generated_at": now.astimezone(UTC).isoformat(timespec="seconds"),
        "scope": scope,
        "by_state": dict(summary["by_state"]),
        "recovery": [
            {
                "platform": r["group"],
                "currency": r["currency"],
                "claimed": r["claimed"],
                "recovered": r["recovered"],
            }
            for r in recovery_by_platform
        ],
        "outcomes": outcome_rows(outcomes),
        "by_month": monthly_counts(rows),
        "overdue_follow_ups": overdue,
        "expiring_soon": expiring,
    }


def describe_scope(workspace: str, owner: str | None) -> str:
    return (
        f"all cases of workspace {workspace}"
        if owner is None
        else f"{owner}'s cases in {workspace}"
    )


def load_report_data(
    reclaim: ReclaimApplication, workspace: str, owner: str | None, *, now: datetime | None = None
) -> dict[str, Any]:
    db = reclaim.database
    return assemble_report_data(
        summary=queries.summary(db, workspace, owner),
        recovery_by_platform=queries.recovery(db, workspace, owner, "platform"),
        outcomes=queries.outcomes(db, workspace, owner),
        rows=list(case_rows(db, workspace, owner)),
        policy=reclaim.settings.deadline_policy(),
        now=now or datetime.now(UTC),
        scope=describe_scope(workspace, owner),
    )


def load_dossier_input(
    reclaim: ReclaimApplication,
    case: Case,
    facts: Mapping[str, Any],
    owner: str | None,
    *,
    now: datetime | None = None,
) -> DossierInput:
    """A case's dossier input: ``facts`` as shown (the case body), its timeline and audit
    entries from the projections, its evidence from the blob store, the signed head."""
    db = reclaim.database
    case_id = str(case.id)
    head = queries.audit_head(db)  # first: what is read after is proved against it
    size = head["events"] if head else 0
    entries = [
        e for e in queries.case_audit(db, case_id, case.workspace, owner) if e["leaf"] < size
    ]
    versions = {e["version"] for e in entries}
    audit = [{k: v for k, v in entry.items() if k not in _AUDIT_OMIT} for entry in entries]
    return DossierInput(
        case={k: v for k, v in facts.items() if not isinstance(v, list | dict)},
        timeline=[
            t
            for t in queries.timeline(db, case_id, case.workspace, owner)
            if t["version"] in versions
        ],
        evidence=list(case.evidence),
        read_evidence=reclaim.files_of(case).read,
        audit=audit,
        signed_head=head,
        generated_at=now or datetime.now(UTC),
        proof=None if head is None else dossier_proof(reclaim, case, entries, head),
    )


def dossier_proof(
    reclaim: ReclaimApplication,
    case: Case,
    entries: Sequence[Mapping[str, Any]],
    head: Mapping[str, Any],
) -> DossierProof:
    """The case's events as stored, each with its inclusion proof against ``head``."""
    db = reclaim.database
    stored = {s.originator_version: s for s in reclaim.recorder.select_events(case.id)}
    events = []
    for entry in entries:
        leaf = proofs.Leaf(
            entry["position"], entry["leaf"], case.workspace, case.owner, str(case.id)
        )
        proof = proofs.inclusion(db, leaf, head["events"])
        record = stored[entry["version"]]
        events.append(
            {
                "position": entry["position"],
                "leaf_index": entry["leaf"],
                "originator_id": str(case.id),
                "originator_version": record.originator_version,
                "topic": record.topic,
                "state": base64.b64encode(bytes(record.state)).decode(),
                "proof": proof["proof"],
            }
        )
    key = reclaim.projections.context.signing_key
    return DossierProof(
        head={k: head[k] for k in WITNESSED}, public_key_pem=public_pem(key), events=events
    )
