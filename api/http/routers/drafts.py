"""Drafted messages for a case, and the workspace's own draft templates (admins only)."""

from __future__ import annotations

from dataclasses import asdict
from uuid import UUID

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response

from api.http import schemas as s
from api.http.deps import Caller, Forbidden, Reclaim, check_read
from api.http.middleware import StrictJSONRoute
from api.http.problems import ProblemError, invalid, problem_responses
from infrastructure.drafts import TEMPLATE_DIR, package_template_names
from infrastructure.drafts.overrides import TemplateInvalid, known_name
from infrastructure.service.drafts import drafts_for
from infrastructure.store.keys import Principal
from infrastructure.store.templates import StoredTemplate, TemplateStore

router = APIRouter(prefix="/v1", tags=["drafts"], route_class=StrictJSONRoute)


@router.get(
    "/cases/{case_id}/drafts",
    response_model=s.DraftList,
    responses=problem_responses(401, 404, 422, 503),
    summary="A ready-to-send message for each next step the case allows",
)
def get_drafts(case_id: UUID, reclaim: Reclaim, caller: Caller) -> s.DraftList:
    case = reclaim.get_case(case_id)
    check_read(caller, case)
    drafts = drafts_for(reclaim, case, caller.workspace)
    return s.DraftList(
        case_id=str(case.id),
        case_version=case.version,
        items=[s.DraftOut(**asdict(d)) for d in drafts],
    )


def _admin(caller: Principal) -> None:
    if caller.role != "admin":
        raise Forbidden(caller, "manage the workspace's draft templates (admins may)")


def _not_found(name: str) -> ProblemError:
    return ProblemError(
        404, "Not found", f"no draft template {name!r}", code="draft-template-not-found"
    )


def _kept_out(kept: StoredTemplate) -> s.DraftTemplateOut:
    return s.DraftTemplateOut(
        name=kept.name,
        source=kept.source,
        workspace_template=True,
        updated_by=kept.updated_by,
        updated_at=kept.updated_at,
    )


def _out(store: TemplateStore, workspace: str, name: str) -> s.DraftTemplateOut:
    if not known_name(name):
        raise _not_found(name)
    kept = store.get(workspace, name)
    if kept is not None:
        return _kept_out(kept)
    if name not in package_template_names():
        raise _not_found(name)
    return s.DraftTemplateOut(
        name=name, source=(TEMPLATE_DIR / name).read_text(), workspace_template=False
    )


@router.get(
    "/draft-templates",
    response_model=s.DraftTemplateList,
    responses=problem_responses(401, 403, 503),
    summary="The draft templates in use in the caller's workspace (admins)",
)
def list_templates(reclaim: Reclaim, caller: Caller) -> s.DraftTemplateList:
    _admin(caller)
    store = reclaim.templates
    names = sorted({*package_template_names(), *(t.name for t in store.list(caller.workspace))})
    return s.DraftTemplateList(items=[_out(store, caller.workspace, n) for n in names])


@router.get(
    "/draft-templates/{name}",
    response_model=s.DraftTemplateOut,
    responses=problem_responses(401, 403, 404, 422, 503),
    summary="One draft template: the workspace's own, or the package default (admins)",
)
def get_template(name: str, reclaim: Reclaim, caller: Caller) -> s.DraftTemplateOut:
    _admin(caller)
    return _out(reclaim.templates, caller.workspace, name)


@router.put(
    "/draft-templates/{name}",
    response_model=s.DraftTemplateOut,
    responses=problem_responses(401, 403, 422, 503),
    summary="Replace a draft template for the caller's workspace (admins); checked in the sandbox",
)
async def put_template(
    name: str, body: s.DraftTemplateIn, reclaim: Reclaim, caller: Caller
) -> s.DraftTemplateOut:
    _admin(caller)
    if not known_name(name):
        raise invalid(
            "name", f"{name!r} is not a draft template name (see GET /v1/draft-templates)"
        )
    store = reclaim.templates
    try:
        kept = await run_in_threadpool(
            store.put, caller.workspace, name, body.source, caller.user_id
        )
    except TemplateInvalid as exc:
        raise invalid("source", str(exc), f"the template was not kept: {exc}") from None
    return _kept_out(kept)


@router.delete(
    "/draft-templates/{name}",
    status_code=204,
    responses=problem_responses(401, 403, 404, 422, 503),
    summary="Go back to the package's template (admins)",
)
def delete_template(name: str, reclaim: Reclaim, caller: Caller) -> Response:
    _admin(caller)
    if not known_name(name) or not reclaim.templates.delete(caller.workspace, name):
        raise _not_found(name)
    return Response(status_code=204)
