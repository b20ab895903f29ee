"""Shared dependencies: the application, the caller, and who may reach which case."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.problems import ProblemError
from domain.cases import Case
from infrastructure.application import CaseNotFound, ReclaimApplication
from infrastructure.keys import Principal
from infrastructure.settings import Settings

bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer rk_...`")


def get_reclaim(request: Request) -> ReclaimApplication:
    return request.app.state.reclaim  # type: ignore[no-any-return]


def get_settings(request: Request) -> Settings:
    return request.app.state.reclaim.settings  # type: ignore[no-any-return]


Reclaim = Annotated[ReclaimApplication, Depends(get_reclaim)]


def unauthorized(detail: str) -> ProblemError:
    return ProblemError(
        401, "Unauthorized", detail, code="unauthorized", headers={"WWW-Authenticate": "Bearer"}
    )


def current_principal(
    request: Request,
    reclaim: Reclaim,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if credentials is None:
        raise unauthorized("send an API key as 'Authorization: Bearer <key>'")
    principal = reclaim.keys.authenticate(credentials.credentials)
    if principal is None:
        raise unauthorized("the API key is unknown or revoked")
    request.state.principal = principal
    return principal


Caller = Annotated[Principal, Depends(current_principal)]


def can_read(principal: Principal, case: Case) -> bool:
    if case.workspace != principal.workspace:
        return False
    return principal.reads_workspace or case.owner == principal.user_id


def check_read(principal: Principal, case: Case) -> None:
    """Outside the caller's reach is the same answer as not there at all."""
    if not can_read(principal, case):
        raise CaseNotFound(case.id)


def check_write(principal: Principal, case: Case) -> None:
    check_read(principal, case)
    if not principal.can_write or case.owner != principal.user_id:
        raise forbidden(principal, "change this case")


def forbidden(principal: Principal, what: str) -> ProblemError:
    return ProblemError(
        403, "Forbidden", f"a key with role '{principal.role}' may not {what}", code="forbidden"
    )


def require_writer(principal: Principal) -> None:
    if not principal.can_write:
        raise forbidden(principal, "open or change cases")


_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")


def valid_request_id(value: str | None) -> bool:
    return bool(value) and bool(_REQUEST_ID.match(value or ""))


def request_id(request: Request) -> str:
    return str(request.state.request_id)
