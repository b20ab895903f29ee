"""Shared dependencies: the application, the commands, the caller (access rules are
``infrastructure.service.access``)."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.http.problems import ProblemError
from infrastructure.service.access import Forbidden, can_read, check_read, check_write
from infrastructure.service.commands import CaseCommands
from infrastructure.settings import Settings
from infrastructure.store.application import ReclaimApplication
from infrastructure.store.keys import Principal

bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer rk_...`")


# The dependencies are ``async def`` where they do no I/O: FastAPI runs a plain ``def``
# dependency in its thread pool, and each hop there costs more than the work itself
# (four hops a command before; measured in BENCHMARKS.md's http section).
async def get_reclaim(request: Request) -> ReclaimApplication:
    return request.app.state.reclaim  # type: ignore[no-any-return]


async def get_settings(request: Request) -> Settings:
    return request.app.state.reclaim.settings  # type: ignore[no-any-return]


Reclaim = Annotated[ReclaimApplication, Depends(get_reclaim)]


async def get_commands(request: Request) -> CaseCommands:
    return request.app.state.commands  # type: ignore[no-any-return]


Commands = Annotated[CaseCommands, Depends(get_commands)]


def unauthorized(detail: str) -> ProblemError:
    return ProblemError(
        401, "Unauthorized", detail, code="unauthorized", headers={"WWW-Authenticate": "Bearer"}
    )


async def current_principal(
    request: Request,
    reclaim: Reclaim,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """The caller: a key verified within ``key_cache_seconds`` from memory, on the event
    loop; any other key is looked up in the store, off the loop."""
    if credentials is None:
        raise unauthorized("send an API key as 'Authorization: Bearer <key>'")
    key = credentials.credentials
    principal = reclaim.keys.remembered(key)
    if principal is None:
        principal = await run_in_threadpool(reclaim.keys.authenticate, key)
    if principal is None:
        raise unauthorized("the API key is unknown or revoked")
    request.state.principal = principal
    return principal


Caller = Annotated[Principal, Depends(current_principal)]


_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")


def valid_request_id(value: str | None) -> bool:
    return bool(value) and bool(_REQUEST_ID.match(value or ""))


def request_id(request: Request) -> str:
    return str(request.state.request_id)


__all__ = [
    "Caller",
    "Commands",
    "Forbidden",
    "Reclaim",
    "can_read",
    "check_read",
    "check_write",
]
