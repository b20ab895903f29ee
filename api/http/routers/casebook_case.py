"""A case's own page under ``/app/cases/<id>``: its facts, timeline, evidence and notes,
and a form for each action its state allows, each carrying the version it was drawn from
(a case that moved on meanwhile records nothing and says so). Evidence downloads and the
dossier go through the same access checks as the API's."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response, StreamingResponse
from starlette.datastructures import UploadFile

from api.http.commands import counted
from api.http.deps import Commands, Reclaim
from api.http.presenters import present_case
from api.http.problems import page_status
from api.http.routers import casebook_forms as forms
from api.http.routers.casebook_forms import words
from api.http.routers.casebook_pages import (
    case_for,
    forbidden_page,
    form_str,
    may_write,
    not_found_page,
    render,
    request_id,
)
from api.http.routers.casebook_session import (
    SIGN_IN,
    csrf_ok,
    current_session,
    posted_form,
    redirect,
)
from api.http.routers.dossier import dossier_response
from api.http.routers.drafts import wake_outbox
from api.http.routers.events import event_stream, resume_from, sse_response
from domain import cases as c
from domain.errors import DomainError
from infrastructure.drafts import platform_name
from infrastructure.mail.prefs import sending_state
from infrastructure.read import feed, queries
from infrastructure.read.report_sources import owner_scope
from infrastructure.service import send
from infrastructure.service.access import Forbidden
from infrastructure.service.commands import Call, CaseCommands, Done
from infrastructure.service.drafts import drafts_for
from infrastructure.store.application import CaseNotFound, ReclaimApplication, VersionMismatch
from infrastructure.store.blobs import TooLarge, UnsupportedMedia
from infrastructure.store.keys import Principal
from infrastructure.store.sessions import Session

log = logging.getLogger("reclaim.casebook")
router = APIRouter(prefix="/app", tags=["case book"], include_in_schema=False)

MAX_FILES = 20
#: a form's fields and parts besides the files
FORM_OVERHEAD = 64 * 1024


# --- the case page ----------------------------------------------------------------------------
DONE = {
    "open": "The case is open.",
    "sent": "Sent by e-mail and recorded: the mail is queued and goes out next (see Sent by "
    "e-mail below).",
    **{a: f"Recorded: {f.title}." for a, f in forms.ACTION_FORMS.items()},
}


def _case_page(
    request: Request,
    reclaim: ReclaimApplication,
    session: Session,
    case: c.Case,
    *,
    errors: dict[str, dict[str, str]] | None = None,
    values: dict[str, dict[str, str]] | None = None,
    stale: dict[str, int] | None = None,
    notice: str | None = None,
    status: int = 200,
    send_errors: dict[str, dict[str, str]] | None = None,
    send_values: dict[str, dict[str, str]] | None = None,
) -> Response:
    principal = session.principal
    body = present_case(case, reclaim.settings).model_dump(mode="json")
    timeline = [
        # back-dated or late, as the API's recorded_differs says: both times are shown
        {**t, "recorded_late": abs(t["recorded_at"] - t["occurred_at"]) > timedelta(hours=24)}
        for t in queries.timeline(
            reclaim.database, str(case.id), case.workspace, owner_scope(principal)
        )
    ]
    writable = may_write(principal, case)
    allowed = case.allowed_actions if writable else []
    lifecycle_forms = [forms.ACTION_FORMS[a] for a in forms.LIFECYCLE_FORMS if a in allowed]
    levels = list(c.ESCALATION_LEVELS)
    if case.escalation_level is not None:
        levels = levels[levels.index(case.escalation_level) + 1 :]
    if not levels:
        lifecycle_forms = [f for f in lifecycle_forms if f.action != "escalate"]
    today = datetime.now(UTC).date()
    deadlines = [
        {**d, "overdue": date.fromisoformat(d["due"]) < today}
        for d in body["deadlines"].get("items", [])
    ]
    shown = {f.action for f in lifecycle_forms} | {"add_note", "attach_evidence"} & set(allowed)
    # a problem with a form the page no longer shows is said at the top instead
    elsewhere = [
        f"{forms.ACTION_FORMS[a].title if a in forms.ACTION_FORMS else a}: {message}"
        for a, problems in (errors or {}).items()
        if a not in shown
        for message in problems.values()
    ]
    default = {"occurred_at": forms.now_default()}
    form_values = {a: {**default, **((values or {}).get(a) or {})} for a in forms.ACTION_FORMS}
    return render(
        request,
        "case.html",
        {
            "session": session,
            "title": case_title(body),
            "case": body,
            "facts": _facts(body),
            "progress": _progress(body),
            "timeline": timeline,
            "notes": [t for t in timeline if t["event_type"] == "note_added"],
            "deadlines": deadlines,
            "writable": writable,
            "lifecycle_forms": lifecycle_forms,
            "note_form": forms.ACTION_FORMS["add_note"] if "add_note" in allowed else None,
            "evidence_form": (
                forms.ACTION_FORMS["attach_evidence"] if "attach_evidence" in allowed else None
            ),
            "escalation_levels": forms.choices(levels),
            "errors": errors or {},
            "values": form_values,
            "stale": stale,
            "notice": notice,
            "elsewhere": elsewhere,
            "read_only_reason": None if writable else _why_read_only(principal, case),
            "max_upload_mb": reclaim.settings.max_upload_bytes / (1024 * 1024),
            "drafts": _drafts(reclaim, case) if writable else None,
            **_mail_context(reclaim, case, writable, send_errors, send_values),
            "changes_url": _changes_url(reclaim, case),
        },
        status,
    )


def _changes_url(reclaim: ReclaimApplication, case: c.Case) -> str:
    """Where the page's script hears of the case's next events: the case's stream from the
    event that made the version shown (from its first, when the feed does not hold it
    yet: the script only speaks of versions after the one shown)."""
    after = feed.position_of(reclaim.database, str(case.id), case.version) or 0
    return f"/app/cases/{case.id}/changes?after={after}"


def _drafts(reclaim: ReclaimApplication, case: c.Case) -> list[Any] | None:
    """The drafted messages for the case's next steps (``infrastructure/drafts``). A
    draft that fails to render never costs the page."""
    try:
        return list(drafts_for(reclaim, case, case.workspace))
    except Exception:  # noqa: BLE001 - logged; the rest of the page still serves
        log.exception("drafts failed for case %s", case.id)
        return []


def send_key(step: str, level: str | None) -> str:
    """The name a draft's send form goes by, for its problems and values."""
    return f"send_{step}" + (f"_{level}" if level else "")


#: what each step's send button calls it
SEND_NOUNS = {
    "submit": "submission",
    "follow_up": "follow-up",
    "appeal": "appeal",
    "escalate": "escalation",
}


def _mail_context(
    reclaim: ReclaimApplication,
    case: c.Case,
    writable: bool,
    errors: dict[str, dict[str, str]] | None,
    values: dict[str, dict[str, str]] | None,
) -> dict[str, Any]:
    """What the drafts panel says of sending by e-mail: whether mail goes out and how the
    server answered last (never its address or credentials), a default address per
    draft, and the case's sent drafts with their state."""
    sending, detail = sending_state(reclaim)
    settings = reclaim.settings
    return {
        "mail_sending": writable and sending,
        "mail_detail": detail,
        "sent_mail": send.sent_mail(reclaim, case.id),
        "send_errors": errors or {},
        "send_values": values or {},
        "send_key": send_key,
        "send_nouns": SEND_NOUNS,
        "default_to": lambda d: send.default_address(settings, case, d.step, d.level) or "",
    }


def _why_read_only(principal: Principal, case: c.Case) -> str:
    if not principal.can_write:
        return f"You are signed in as an {principal.role}: you can read this case, not change it."
    return f"This case belongs to {case.owner}: you can read it, not change it."


def case_title(body: dict[str, Any]) -> str:
    what = f"{words(body['credit_type'])} credit" if body["kind"] == "credit" else "Charge dispute"
    claimed = f"{body['amount_claimed']} {body['currency']}"
    return f"{platform_name(body['platform'])} {what.lower()}: {claimed}"


def _facts(body: dict[str, Any]) -> list[tuple[str, str]]:
    cur = body["currency"]
    facts = [("Kind", words(body["kind"])), ("Platform", body["platform"])]
    facts.append(("Account reference", body["account_reference"] or "—"))
    if body["kind"] == "credit":
        restrictions = body.get("restrictions") or {}
        parts = []
        if restrictions.get("minimum_purchase"):
            parts.append(f"minimum purchase {restrictions['minimum_purchase']} {cur}")
        if restrictions.get("excluded_categories"):
            parts.append("excludes " + ", ".join(restrictions["excluded_categories"]))
        if restrictions.get("single_use"):
            parts.append("single use")
        facts += [
            ("Credit type", words(body["credit_type"])),
            ("Amount", f"{body['amount']} {cur}"),
            ("Problem", words(body["problem"])),
            ("Remedy sought", words(body["remedy"])),
            ("Earned on", body.get("earned_on") or "—"),
            ("Expires on", body.get("expires_on") or "—"),
            ("Restrictions", "; ".join(parts) or "none"),
        ]
    else:
        facts += [
            ("Charge reference", body["charge_reference"] or "—"),
            ("Amount charged", f"{body['charged_amount']} {cur}"),
            ("Refund sought", f"{body['refund_amount']} {cur}"),
            ("Reason", words(body["reason"])),
            ("Charged on", body.get("charged_on") or "—"),
        ]
    facts += [("Opened", body["opened_at"]), ("Owner", body["owner"])]
    return facts


def _progress(body: dict[str, Any]) -> list[tuple[str, str]]:
    cur = body["currency"]
    rows = [("Claimed", f"{body['amount_claimed']} {cur}")]
    submission = body.get("submission")
    if submission:
        ref = f", reference {submission['reference']}" if submission["reference"] else ""
        rows.append(("Submitted", f"by {words(submission['channel']).lower()}{ref}"))
    for key, label in (
        ("follow_ups", "Follow-ups"),
        ("responses", "Platform replies"),
        ("denials", "Denials"),
        ("appeals", "Appeals"),
    ):
        rows.append((label, str(body[key])))
    if body.get("escalations"):
        rows.append(("Escalated to", ", then ".join(words(e).lower() for e in body["escalations"])))
    if body.get("outcome"):
        rows.append(("Outcome", words(body["outcome"])))
        recovered = f"{body['amount_recovered']} {cur}"
        if body.get("recovered_form"):
            recovered += f" as {words(body['recovered_form']).lower()}"
        rows.append(("Recovered", recovered))
    rows.append(("Version", str(body["version"])))
    return rows


@router.get("/cases/{case_id}")
def case_page(case_id: str, request: Request, reclaim: Reclaim) -> Response:
    session = current_session(request, reclaim)
    if session is None:
        return redirect(SIGN_IN)
    case = case_for(reclaim, session, case_id)
    if case is None:
        return not_found_page(request, session)
    notice = DONE.get(request.query_params.get("done") or "")
    return _case_page(request, reclaim, session, case, notice=notice)


#: how often an open case page's stream looks for the case's new events (seconds)
CHANGES_POLL_SECONDS = 1.0


@router.get("/cases/{case_id}/changes")
async def case_changes(case_id: str, request: Request, reclaim: Reclaim) -> Response:
    """The case's new events as Server-Sent Events, for the page's "this case changed"
    notice (``/static/casebook.js``): the feed's stream (``routers/events.py``) narrowed to
    one case and authorised by the session, as the page is. A case the session may not
    read is the same 404 page; the stream ends when the session does."""
    session = await run_in_threadpool(current_session, request, reclaim)
    if session is None:
        return redirect(SIGN_IN)
    case = await run_in_threadpool(case_for, reclaim, session, case_id)
    if case is None:
        return not_found_page(request, session)
    given = request.query_params.get("after") or ""
    after = int(given) if given.isdigit() and len(given) < 19 else None
    last_seen = request.headers.get("last-event-id")
    start = await run_in_threadpool(resume_from, (last_seen or "")[:20] or None, after, reclaim)

    def still_allowed() -> bool:
        now = current_session(request, reclaim)
        return now is not None and case_for(reclaim, now, case_id) is not None

    frames = event_stream(
        request,
        reclaim,
        case.workspace,
        owner_scope(session.principal),
        start,
        case_id=str(case.id),
        poll_seconds=max(CHANGES_POLL_SECONDS, reclaim.settings.webhook_poll_seconds),
        still_allowed=still_allowed,
    )
    return sse_response(frames)


#: the service method each action's form runs
COMMANDS: dict[str, Callable[..., Done]] = {
    "submit": CaseCommands.submit,
    "follow_up": CaseCommands.follow_up,
    "record_response": CaseCommands.record_response,
    "deny": CaseCommands.deny,
    "appeal": CaseCommands.appeal,
    "escalate": CaseCommands.escalate,
    "resolve": CaseCommands.resolve,
    "add_note": CaseCommands.add_note,
}


@router.post("/cases/{case_id}/actions/{action}")
async def act(
    case_id: str, action: str, request: Request, reclaim: Reclaim, commands: Commands
) -> Response:
    posted = await posted_form(request, reclaim, max_fields=30)
    if isinstance(posted, Response):
        return posted
    session, form = posted
    return await run_in_threadpool(_act, request, reclaim, commands, session, case_id, action, form)


def _checked_case(
    request: Request, reclaim: ReclaimApplication, session: Session, case_id: str
) -> c.Case | Response:
    case = case_for(reclaim, session, case_id)
    if case is None:
        return not_found_page(request, session)
    if not may_write(session.principal, case):
        return forbidden_page(request, session, _why_read_only(session.principal, case))
    return case


def _version(form: Any) -> int | None:
    text = form_str(form.get("version")) or ""
    return int(text) if text.isdigit() and len(text) < 18 else None


def _act(
    request: Request,
    reclaim: ReclaimApplication,
    commands: CaseCommands,
    session: Session,
    case_id: str,
    action: str,
    form: Any,
) -> Response:
    spec = forms.ACTION_FORMS.get(action)
    case = _checked_case(request, reclaim, session, case_id)
    if isinstance(case, Response):
        return case
    if spec is None or spec.model is None:
        return not_found_page(request, session)
    version = _version(form)
    values = {action: forms.form_values(form)}
    if version is None:
        return _case_page(
            request,
            reclaim,
            session,
            case,
            errors={action: {forms.FORM: "This form has no case version: reload the page."}},
            status=400,
        )
    try:
        arguments = forms.action_arguments(spec, form)
        with counted(request, action):
            COMMANDS[action](
                commands,
                case.id,
                Call(session.principal, request_id(request), expected_version=version),
                **arguments,
            )
    except forms.FormInvalid as exc:
        return _case_page(
            request, reclaim, session, case, errors={action: exc.errors}, values=values, status=422
        )
    except VersionMismatch:
        return _stale(request, reclaim, session, case.id, action, version, values)
    except DomainError as exc:
        return _refused(request, reclaim, session, case.id, action, exc, values)
    except (CaseNotFound, Forbidden):
        return not_found_page(request, session)
    return redirect(f"/app/cases/{case.id}?done={action}")


def _refused(
    request: Request,
    reclaim: ReclaimApplication,
    session: Session,
    case_id: UUID,
    action: str,
    exc: DomainError,
    values: dict[str, dict[str, str]],
) -> Response:
    """The case as it is now, with the rule the action broke beside its form."""
    return _case_page(
        request,
        reclaim,
        session,
        reclaim.get_case(case_id),
        errors={action: forms.domain_problem(exc)},
        values=values,
        status=page_status(exc),
    )


def _stale(
    request: Request,
    reclaim: ReclaimApplication,
    session: Session,
    case_id: UUID,
    action: str,
    version: int,
    values: dict[str, dict[str, str]],
) -> Response:
    now = reclaim.get_case(case_id)
    return _case_page(
        request,
        reclaim,
        session,
        now,
        stale={"seen": version, "now": now.version, "action": action},
        values=values,
        status=409,
    )


# --- a draft sent by e-mail --------------------------------------------------------------------
@router.post("/cases/{case_id}/drafts/{step}/send")
async def send_draft_by_mail(
    case_id: str, step: str, request: Request, reclaim: Reclaim, commands: Commands
) -> Response:
    posted = await posted_form(request, reclaim, max_fields=20)
    if isinstance(posted, Response):
        return posted
    session, form = posted
    page = await run_in_threadpool(
        _send_draft, request, reclaim, commands, session, case_id, step, form
    )
    if page.status_code == 303:
        wake_outbox(request)
    return page


def _send_draft(
    request: Request,
    reclaim: ReclaimApplication,
    commands: CaseCommands,
    session: Session,
    case_id: str,
    step: str,
    form: Any,
) -> Response:
    case = _checked_case(request, reclaim, session, case_id)
    if isinstance(case, Response):
        return case
    if step not in send.STEPS:
        return not_found_page(request, session)
    level = form_str(form.get("level")) or None
    key = send_key(step, level)
    fields = ("to", "subject", "body", "reference")
    given = {name: form_str(form.get(name)) or "" for name in fields}
    values = {key: given}
    version = _version(form)

    def again(problems: dict[str, str], status: int, now: c.Case | None = None) -> Response:
        return _case_page(
            request,
            reclaim,
            session,
            now or case,
            send_errors={key: problems},
            send_values=values,
            status=status,
        )

    if version is None:
        return again({forms.FORM: "This form has no case version: reload the page."}, 400)
    wanted = send.SendRequest(
        step=step,
        level=level,
        # a field left empty: the platform's address, no reference; the subject and the
        # message are prefilled, so an empty one is a problem, not the draft's
        to=given["to"].strip() or None,
        subject=given["subject"],
        body=given["body"],
        reference=given["reference"].strip() or None,
    )
    call = Call(session.principal, request_id(request), expected_version=version)
    try:
        with counted(request, f"send_{step}"):
            send.send_draft(commands, case.id, call, wanted)
    except send.MailNotConfigured:
        return again(
            {
                forms.FORM: "Not sent: no mail server is configured here (RECLAIM_SMTP_URL, "
                "RECLAIM_MAIL_FROM). Nothing was recorded."
            },
            409,
        )
    except send.SendInvalid as exc:
        return again(exc.errors, 422)
    except VersionMismatch:
        now = reclaim.get_case(case.id)
        stale: dict[str, Any] = {"seen": version, "now": now.version, "action": key}
        return _case_page(
            request, reclaim, session, now, stale=stale, send_values=values, status=409
        )
    except DomainError as exc:
        return again(forms.domain_problem(exc), page_status(exc), reclaim.get_case(case.id))
    except (CaseNotFound, Forbidden):
        return not_found_page(request, session)
    return redirect(f"/app/cases/{case.id}?done=sent")


# --- evidence ---------------------------------------------------------------------------------
@router.post("/cases/{case_id}/evidence")
async def attach_evidence(
    case_id: str, request: Request, reclaim: Reclaim, commands: Commands
) -> Response:
    session = current_session(request, reclaim)
    if session is None:
        return redirect(SIGN_IN)
    limit = reclaim.settings.max_upload_bytes
    declared = request.headers.get("content-length") or ""
    too_large = not declared.isdigit() or int(declared) > limit + FORM_OVERHEAD
    if too_large:
        # not read at all: no session's token is checked against a body never looked at
        case = await run_in_threadpool(case_for, reclaim, session, case_id)
        if case is None:
            return not_found_page(request, session)
        problem = f"The files are larger than {limit // (1024 * 1024)} MB in all."
        if not declared.isdigit():
            problem = "The upload did not say how large it is; send it from the form."
        return await run_in_threadpool(
            lambda: _case_page(
                request,
                reclaim,
                session,
                case,
                errors={"attach_evidence": {"file": problem}},
                status=413,
            )
        )
    form = await request.form(max_files=MAX_FILES, max_fields=10)
    try:
        if not csrf_ok(request, session, form_str(form.get("csrf_token"))):
            return forbidden_page(request, session)
        return await run_in_threadpool(_attach, request, reclaim, commands, session, case_id, form)
    finally:
        await form.close()


def _attach(
    request: Request,
    reclaim: ReclaimApplication,
    commands: CaseCommands,
    session: Session,
    case_id: str,
    form: Any,
) -> Response:
    case = _checked_case(request, reclaim, session, case_id)
    if isinstance(case, Response):
        return case
    action = "attach_evidence"
    values = {action: forms.form_values(form)}
    version = _version(form)
    files = [f for f in form.getlist("file") if isinstance(f, UploadFile) and f.filename]
    kind = form_str(form.get("kind")) or ""
    description = (form_str(form.get("description")) or "").strip()
    errors: dict[str, str] = {}
    if not files:
        errors["file"] = "choose at least one file"
    if kind not in c.EVIDENCE_KINDS:
        errors["kind"] = "choose one of the options"
    if len(description) > 2000:
        errors["description"] = "is longer than 2000 characters"
    elif c.find_unstorable(description):
        errors["description"] = "contains a character that cannot be stored"
    if version is None:
        errors[forms.FORM] = "This form has no case version: reload the page."
    occurred_at = None
    try:
        occurred_at = forms.moment(form_str(form.get("occurred_at")) or "")
    except forms.FormInvalid as exc:
        errors.update(exc.errors)
    if errors:
        return _case_page(
            request, reclaim, session, case, errors={action: errors}, values=values, status=422
        )
    assert version is not None
    # every file is stored and checked first: one bad file and nothing is recorded
    blobs = []
    for upload in files:
        try:
            writer = reclaim.files_of(case).writer(
                (upload.content_type or "").split(";")[0].strip().lower(),
                reclaim.settings.max_upload_bytes,
            )
            while chunk := upload.file.read(64 * 1024):
                writer.write(chunk)
            blob = writer.finish()
        except (UnsupportedMedia, TooLarge) as exc:
            errors["file"] = f"{upload.filename}: {exc}"
            break
        if blob.size == 0:
            errors["file"] = f"{upload.filename}: is empty; an empty file proves nothing"
            break
        blobs.append((upload.filename or "", blob))
    if errors:
        return _case_page(
            request, reclaim, session, case, errors={action: errors}, values=values, status=422
        )
    expected = version
    result = None
    try:
        for filename, blob in blobs:
            with counted(request, action):
                result = commands.attach_evidence(
                    case.id,
                    Call(session.principal, request_id(request), expected_version=expected),
                    evidence_id="ev_" + secrets.token_hex(8),
                    kind=kind,
                    sha256=blob.sha256,
                    size=blob.size,
                    media_type=blob.media_type,
                    filename=filename,
                    description=description,
                    occurred_at=occurred_at,
                )
            expected = result.case.version
    except VersionMismatch:
        return _stale(request, reclaim, session, case.id, action, version, values)
    except DomainError as exc:
        return _refused(request, reclaim, session, case.id, action, exc, values)
    except (CaseNotFound, Forbidden):
        return not_found_page(request, session)
    return redirect(f"/app/cases/{case.id}?done={action}")


@router.get("/cases/{case_id}/evidence/{evidence_id}")
def download_evidence(
    case_id: str, evidence_id: str, request: Request, reclaim: Reclaim
) -> Response:
    session = current_session(request, reclaim)
    if session is None:
        return redirect(SIGN_IN)
    case = case_for(reclaim, session, case_id)
    item = (
        None if case is None else next((e for e in case.evidence if e["id"] == evidence_id), None)
    )
    blob = None if item is None else reclaim.files_of(case).find(item["sha256"])
    if item is None or blob is None:
        return not_found_page(request, session)
    name = c.clean_filename(item["filename"]) or evidence_id
    return StreamingResponse(
        blob.iter_bytes(),
        media_type=item["media_type"],
        headers={
            "Content-Length": str(blob.size),
            "ETag": f'"{item["sha256"]}"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name, safe='')}",
        },
    )


@router.get("/cases/{case_id}/dossier")
def dossier(case_id: str, request: Request, reclaim: Reclaim) -> Response:
    session = current_session(request, reclaim)
    if session is None:
        return redirect(SIGN_IN)
    case = case_for(reclaim, session, case_id)
    if case is None:
        return not_found_page(request, session)
    return dossier_response(reclaim, case, session.principal)


@router.get("/{anything:path}")
def not_found(anything: str, request: Request, reclaim: Reclaim) -> Response:
    """Any other address under /app: the same page as a case that is not there."""
    session = current_session(request, reclaim)
    if session is None:
        return redirect(SIGN_IN)
    return not_found_page(request, session)
