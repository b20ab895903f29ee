"""Reading cases through the projections: the list, a timeline, a case's audit entries,
the workspace's audit log and its verification."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field, with_config
from typing_extensions import TypedDict

from api.http import schemas as s
from api.http.deps import Caller, Forbidden, Reclaim
from api.http.middleware import StrictJSONRoute
from api.http.openapi import text_content
from api.http.problems import ProblemError, problem_responses
from api.http.read_errors import invalid_query, owner_scope
from domain.lifecycle import STATES
from domain.money import format_amount
from infrastructure.read import queries

router = APIRouter(prefix="/v1", tags=["reads"], route_class=StrictJSONRoute)
READ_ERRORS = problem_responses(401, 404, 422, 503)

#: the list's orders, each with a name for generated clients ("-opened_at": OPENED_AT_DESC)
SORT_NAMES = {
    f"{sign}{name}": f"{name}_{'desc' if sign else 'asc'}".upper()
    for name in queries.SORTS
    for sign in ("", "-")
}
Sort = Annotated[
    Literal[tuple(SORT_NAMES)],  # type: ignore[valid-type]
    Query(
        title="CaseSort",
        description="A field to sort by; a leading '-' sorts descending",
        json_schema_extra={"x-enum-varnames": list(SORT_NAMES.values())},
    ),
]


class CaseListItem(BaseModel):
    """One row of the case list projection: what the list shows of a case, either kind."""

    id: str
    position: int = Field(description="Where the case's last event is in the log")
    version: int
    kind: Literal["credit", "dispute"]
    platform: str
    state: str
    owner: str
    workspace: str
    currency: str
    amount_claimed: str
    amount_recovered: str
    reason: str = Field(description="A credit's problem or a dispute's reason")
    credit_type: str | None = Field(description="A credit's type; null for a dispute")
    account_reference: str
    charge_reference: str | None = Field(description="A dispute's charge; null for a credit")
    submission_reference: str | None = Field(description="The reference the submission got")
    expires_on: date | None = Field(description="When a credit expires")
    opened_at: datetime
    last_activity_at: datetime
    last_outbound_at: datetime | None = Field(description="The last contact sent to the platform")
    last_outbound_action: str | None = Field(description="What that contact was")
    last_response_at: datetime | None = Field(description="The platform's last answer")
    last_denied_at: datetime | None
    resolved_at: datetime | None
    outcome: str | None
    recovered_form: str | None
    escalation_level: str | None
    escalated: bool
    appealed: bool
    follow_ups: int
    responses: int
    denials: int
    appeals: int
    escalations: int = Field(description="How many escalations (the case body lists them)")
    evidence_count: int
    notes_count: int
    next_deadline: datetime | None = Field(
        description="When the next deadline falls due (start of its day, UTC)"
    )


class CaseList(BaseModel):
    items: list[CaseListItem]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page")


def _money_fields(item: dict[str, Any]) -> dict[str, Any]:
    for name in ("amount_claimed", "amount_recovered"):
        item[name] = format_amount(item[name], item["currency"])
    return item


@router.get(
    "/cases",
    response_model=CaseList,
    responses=READ_ERRORS,
    summary="List cases: filter, sort, page",
)
def list_cases(
    reclaim: Reclaim,
    caller: Caller,
    kind: Literal["credit", "dispute"] | None = None,
    state: Literal[tuple(STATES)] | None = None,  # type: ignore[valid-type]
    platform: Annotated[str | None, Query(max_length=40)] = None,
    opened_after: s.Moment | None = None,
    opened_before: s.Moment | None = None,
    due_before: s.Moment | None = None,
    q: Annotated[str | None, Query(max_length=200, description="Search ids and references")] = None,
    sort: Sort = "-opened_at",
    limit: Annotated[int, Query(ge=1, le=queries.MAX_LIMIT)] = queries.DEFAULT_LIMIT,
    cursor: Annotated[
        str | None,
        Query(
            max_length=500,
            description="A page's `next_cursor`, as given, with the same `sort`. Cursors are "
            "signed: any other value is a 422 naming `cursor`",
        ),
    ] = None,
) -> CaseList:
    try:
        page = queries.list_cases(
            reclaim.database,
            caller.workspace,
            owner_scope(caller),
            kind=kind,
            state=state,
            platform=platform,
            opened_after=opened_after,
            opened_before=opened_before,
            due_before=due_before,
            q=q,
            sort=sort,
            limit=limit,
            cursor=cursor,
        )
    except queries.InvalidQuery as exc:
        raise invalid_query(exc) from None
    return CaseList(
        items=[CaseListItem(**_money_fields(item)) for item in page.items],
        next_cursor=page.next_cursor,
    )


class TimelineEntry(BaseModel):
    position: int
    version: int
    event_type: str
    title: str
    details: str
    occurred_at: datetime
    recorded_at: datetime
    recorded_differs: bool = Field(
        description="Recorded on another day than it happened (back-dated or late)"
    )
    actor: str
    request_id: str


class Timeline(BaseModel):
    case_id: str
    items: list[TimelineEntry]


def _not_found(case_id: UUID) -> ProblemError:
    return ProblemError(404, "Not found", f"no case {case_id}", code="case-not-found")


def _visible(reclaim: Reclaim, caller: Caller, case_id: UUID) -> None:
    if (
        queries.case_row(reclaim.database, str(case_id), caller.workspace, owner_scope(caller))
        is None
    ):
        raise _not_found(case_id)


@router.get(
    "/cases/{case_id}/timeline",
    response_model=Timeline,
    responses=READ_ERRORS,
    summary="A case's events in the order they happened, each with a title and details",
)
def timeline(case_id: UUID, reclaim: Reclaim, caller: Caller) -> Timeline:
    _visible(reclaim, caller, case_id)
    rows = queries.timeline(reclaim.database, str(case_id), caller.workspace, owner_scope(caller))
    return present_timeline(str(case_id), rows)


def present_timeline(case_id: str, rows: list[dict[str, Any]]) -> Timeline:
    """A case's timeline rows (``queries.timeline``) as the API shows them."""
    return Timeline(
        case_id=case_id,
        items=[
            TimelineEntry(
                **{k: r[k] for k in TimelineEntry.model_fields if k in r},
                recorded_differs=abs(r["recorded_at"] - r["occurred_at"]) > timedelta(hours=24),
            )
            for r in rows
        ],
    )


@with_config(ConfigDict(extra="allow"))
class EventPayload(TypedDict, total=False):
    """An event's attributes as recorded, but for its case, version and time (the
    entry's own fields). Which attributes follows from `event_type`: the facts a case was
    opened with (`opened`), or the fields of the command that recorded it (`submitted`:
    `channel`, `reference`, `message`; `evidence_attached`: `evidence_id`, `kind`,
    `sha256`, `size`, `media_type`, `filename`, `description`; and so on). Every event
    records who and which request; a note or a file attached before Reclaim asked when
    it happened has no `occurred_at`."""

    actor: str
    request_id: str
    # as recorded, with its offset: not parsed, so that the text is the event's own
    occurred_at: Annotated[str, Field(json_schema_extra={"format": "date-time"})]


class AuditEntry(BaseModel):
    position: int
    case_id: str
    version: int
    event_type: str
    topic: str
    actor: str
    request_id: str
    recorded_at: datetime
    occurred_at: datetime | None = None
    payload: EventPayload
    prev_hash: str
    hash: str
    leaf: int = Field(description="Its leaf index in the audit log's Merkle tree (RFC 9162)")


class SignedHead(BaseModel):
    """The audit log's signed tree head (see GET /v1/audit/key for the public key)."""

    events: int = Field(description="The tree's size: how many events the log holds")
    root: str = Field(description="The Merkle tree's root hash (RFC 9162), hex")
    signed_at: str = Field(
        description="When the last event it covers was recorded: the text signed, as signed",
        json_schema_extra={"format": "date-time"},
    )
    key_id: str = Field(description="The signing key's id: SHA-256 of its public key, 16 hex")
    position: int = Field(description="The log position of the last event it covers")
    hash: str = Field(description="The hash chain's last link, hex")
    signature: str = Field(
        description="Ed25519 over the lines 'reclaim-tree-head-v1', events, root, signed_at, "
        "key_id, position, hash (joined by newlines), base64"
    )


class CaseAudit(BaseModel):
    case_id: str
    items: list[AuditEntry]
    head: SignedHead | None


AUDIT_CSV_COLUMNS = [
    "position",
    "case_id",
    "version",
    "event_type",
    "actor",
    "request_id",
    "recorded_at",
    "occurred_at",
    "prev_hash",
    "hash",
    "payload",
]


def _csv(entries: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(AUDIT_CSV_COLUMNS)
    for e in entries:
        row = {**e, "payload": json.dumps(e["payload"], sort_keys=True)}
        for key in ("recorded_at", "occurred_at"):
            row[key] = e[key].isoformat() if e.get(key) else ""
        writer.writerow([row.get(col, "") for col in AUDIT_CSV_COLUMNS])
    return out.getvalue()


@router.get(
    "/cases/{case_id}/audit",
    response_model=CaseAudit,
    responses={200: {"content": text_content("text/csv")}, **READ_ERRORS},
    summary="Every event of the case with both times, its payload and its chain hash",
)
def case_audit(
    case_id: UUID,
    reclaim: Reclaim,
    caller: Caller,
    format: Literal["json", "csv"] = "json",  # noqa: A002 - the API's parameter name
) -> Any:
    _visible(reclaim, caller, case_id)
    entries = queries.case_audit(
        reclaim.database, str(case_id), caller.workspace, owner_scope(caller)
    )
    if format == "csv":
        return Response(
            _csv(entries),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="audit-{case_id}.csv"'},
        )
    head = queries.audit_head(reclaim.database)
    return CaseAudit(
        case_id=str(case_id),
        items=[AuditEntry(**{k: e.get(k) for k in AuditEntry.model_fields}) for e in entries],
        head=SignedHead(**head) if head else None,
    )


class AuditEvents(BaseModel):
    items: list[AuditEntry]
    next_after: str | None = Field(description="Pass as `after` for the next page")


@router.get(
    "/audit/events",
    response_model=AuditEvents,
    responses=problem_responses(401, 422, 503),
    summary="The workspace's log in order (a member sees their own cases' events)",
)
def audit_events(
    reclaim: Reclaim,
    caller: Caller,
    after: Annotated[int | None, Query(ge=0, le=2**62)] = None,
    limit: Annotated[int, Query(ge=1, le=queries.MAX_LIMIT)] = 100,
    actor: Annotated[str | None, Query(max_length=100)] = None,
    case_id: UUID | None = None,
) -> AuditEvents:
    page = queries.audit_events(
        reclaim.database,
        caller.workspace,
        owner_scope(caller),
        after=after,
        limit=limit,
        actor=actor,
        case_id=None if case_id is None else str(case_id),
    )
    return AuditEvents(
        items=[AuditEntry(**{k: e.get(k) for k in AuditEntry.model_fields}) for e in page.items],
        next_after=page.next_cursor,
    )


class VerifyProblem(BaseModel):
    check: str = Field(description='What found it: "chain", "head" or a projection\'s name')
    position: int | None = Field(description="Where in the log; null: the log as a whole")
    detail: str


class VerifyResult(BaseModel):
    ok: bool
    scope: Literal["whole_log"] = Field(
        description="What was checked: the whole log, every workspace's events. The hash "
        "chain links each event to the one before it, whoever's it is, so no part of it can "
        "be checked alone; the counts below are the whole log's"
    )
    events_checked: int = Field(description="Events of every workspace whose links were checked")
    first_problem: VerifyProblem | None
    problems: int


@router.get(
    "/audit/verify",
    response_model=VerifyResult,
    responses=problem_responses(401, 403, 503),
    summary="Check the hash chain from the stored events, and every projection against a replay",
)
async def audit_verify(reclaim: Reclaim, caller: Caller) -> VerifyResult:
    if not caller.reads_workspace:
        raise Forbidden(caller, "verify the audit log (auditors and admins may)")
    from infrastructure.projections.verify import verify

    report = await run_in_threadpool(verify, reclaim)
    summary = report.as_dict()
    first = summary.get("first_problem")
    return VerifyResult(
        ok=report.ok,
        scope="whole_log",
        events_checked=int(summary.get("events_checked", 0)),
        first_problem=first,
        problems=len(summary.get("problems", [])),
    )
