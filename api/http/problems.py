"""RFC 9457 problem details: every error Reclaim answers, in one shape.

Each exception type maps to one status here, so routers only raise; nothing
below builds a response by hand.
"""

from __future__ import annotations

import logging
from typing import Any

from eventsourcing.persistence import DataError as StoreDataError
from eventsourcing.persistence import InterfaceError as StoreInterfaceError
from eventsourcing.persistence import OperationalError as StoreOperationalError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.http.openapi import RETRY_AFTER, STALE_ETAG
from api.render.dossier import FontMissing
from domain import errors as domain_errors
from infrastructure.service.access import Forbidden
from infrastructure.service.commands import IdempotencyKeyReused
from infrastructure.store.application import CaseNotFound, VersionMismatch
from infrastructure.store.blobs import TooLarge, UnsupportedMedia
from infrastructure.store.forward import WriterUnavailable
from infrastructure.store.personal import SubjectErased

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://reclaim.example/problems/"
log = logging.getLogger("reclaim.api")


class FieldProblem(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """An RFC 9457 problem details object."""

    type: str = Field(examples=[TYPE_BASE + "action-not-allowed"])
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldProblem] | None = None
    allowed_actions: list[str] | None = None
    missing: list[str] | None = None


class ProblemError(Exception):
    """Raise to answer with a problem; routers use this for HTTP-only conditions."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.code = code or title.lower().replace(" ", "-")
        self.headers = headers or {}
        self.extra = extra


def invalid(field: str, message: str, detail: str | None = None) -> ProblemError:
    """A 422 about one input field."""
    return ProblemError(
        422,
        "Invalid request",
        detail or f"{field}: {message}",
        code="invalid-request",
        errors=[{"field": field, "message": message}],
    )


def problem_response(
    request: Request | None,
    status: int,
    title: str,
    detail: str,
    *,
    code: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": TYPE_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
    }
    if request is not None:
        body["instance"] = request.url.path
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


# The HTTP answers to the domain's refusals live here: the domain knows none of them.
#: domain error -> (status, title); any other rule broken is a 422 "Rule broken"
_DOMAIN_STATUS: dict[type[domain_errors.DomainError], tuple[int, str]] = {
    domain_errors.ActionNotAllowed: (409, "Action not allowed"),
    domain_errors.MissingForSubmit: (409, "Not ready to submit"),
    domain_errors.EscalationNotHigher: (409, "Escalation not higher"),
    domain_errors.CaseErased: (409, "Owner erased"),
    domain_errors.InvalidValue: (422, "Invalid value"),
}
#: the refusals a case book page answers with 409; the page shows every other one, an
#: escalation that is not higher included, beside its field: 422, the form's input
_PAGE_CONFLICTS = (
    domain_errors.ActionNotAllowed,
    domain_errors.MissingForSubmit,
    domain_errors.CaseErased,
)


def domain_status(exc: domain_errors.DomainError) -> tuple[int, str]:
    """The status and title of the API's problem for a domain error."""
    return next(
        (v for cls, v in _DOMAIN_STATUS.items() if isinstance(exc, cls)),
        (422, "Rule broken"),
    )


def page_status(exc: domain_errors.DomainError) -> int:
    """The status of a case book page that shows a refused form again."""
    return 409 if isinstance(exc, _PAGE_CONFLICTS) else 422


def _domain_error(request: Request, exc: domain_errors.DomainError) -> JSONResponse:
    status, title = domain_status(exc)
    extra: dict[str, Any] = {}
    if isinstance(exc, domain_errors.ActionNotAllowed):
        extra["allowed_actions"] = exc.allowed_actions
    if isinstance(exc, domain_errors.MissingForSubmit):
        extra["missing"] = exc.missing
    if exc.field is not None:
        extra["errors"] = [{"field": exc.field, "message": exc.message}]
    return problem_response(request, status, title, exc.message, code=exc.code, **extra)


def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    problems = []
    for error in exc.errors():
        location = [str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path")]
        field = ".".join(location) or str(error.get("loc", ["body"])[0])
        message = str(error.get("msg", "invalid"))
        if error.get("type") == "json_invalid":
            field, message = "body", "malformed JSON: " + str(error.get("ctx", {}).get("error", ""))
        problems.append({"field": field, "message": message})
    detail = "; ".join(f"{p['field']}: {p['message']}" for p in problems[:5])
    return problem_response(
        request, 422, "Invalid request", detail, code="invalid-request", errors=problems
    )


_HTTP_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    413: "Content too large",
    415: "Unsupported media type",
}


def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    title = _HTTP_TITLES.get(exc.status_code, "Error")
    detail = exc.detail if isinstance(exc.detail, str) else title
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no route {request.method} {request.url.path}"
    if exc.status_code == 405:
        detail = f"{request.method} is not allowed on {request.url.path}"
    return problem_response(
        request,
        exc.status_code,
        title,
        detail,
        code=title.lower().replace(" ", "-"),
        headers=dict(exc.headers or {}),
    )


def _store_unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning("store unavailable: %s: %s", type(exc).__name__, exc)
    metrics = getattr(request.app.state, "metrics", None)
    if metrics is not None:
        metrics.store_errors.inc()
    breaker = getattr(request.app.state, "breaker", None)
    if breaker is not None:
        breaker.trip()
    return problem_response(
        request,
        503,
        "Service unavailable",
        "the event store is unavailable or busy; retry shortly",
        code="store-unavailable",
        headers={"Retry-After": "2"},
    )


def _unstorable(request: Request, exc: Exception) -> JSONResponse:
    """The store refused one request's data (a NUL in a text, say): that request's own
    4xx. It says nothing about the store's health, so the breaker stays shut."""
    log.warning("store refused a request's data: %s", type(exc).__name__)
    return problem_response(
        request,
        422,
        "Invalid request",
        "the request holds a value the store cannot keep",
        code="invalid-request",
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(ProblemError)
    def _problem(request: Request, exc: ProblemError) -> JSONResponse:
        return problem_response(
            request,
            exc.status,
            exc.title,
            exc.detail,
            code=exc.code,
            headers=exc.headers,
            **exc.extra,
        )

    app.add_exception_handler(domain_errors.DomainError, _domain_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]

    @app.exception_handler(CaseNotFound)
    def _not_found(request: Request, exc: CaseNotFound) -> JSONResponse:
        return problem_response(
            request, 404, "Not found", f"no case {exc.case_id}", code="case-not-found"
        )

    @app.exception_handler(Forbidden)
    def _forbidden(request: Request, exc: Forbidden) -> JSONResponse:
        return problem_response(request, 403, "Forbidden", str(exc), code="forbidden")

    @app.exception_handler(IdempotencyKeyReused)
    def _key_reused(request: Request, exc: IdempotencyKeyReused) -> JSONResponse:
        return problem_response(
            request, 422, "Idempotency key reused", str(exc), code="idempotency-key-reused"
        )

    @app.exception_handler(VersionMismatch)
    def _mismatch(request: Request, exc: VersionMismatch) -> JSONResponse:
        return problem_response(
            request,
            412,
            "Precondition failed",
            f"If-Match named version {exc.expected}, but the case has moved on",
            code="version-mismatch",
            headers={"ETag": f'"{exc.actual}"'},
        )

    @app.exception_handler(TooLarge)
    def _too_large(request: Request, exc: TooLarge) -> JSONResponse:
        return problem_response(
            request,
            413,
            "Content too large",
            str(exc),
            code="content-too-large",
            headers={"Connection": "close"},
        )

    @app.exception_handler(UnsupportedMedia)
    def _unsupported(request: Request, exc: UnsupportedMedia) -> JSONResponse:
        return problem_response(
            request, 415, "Unsupported media type", str(exc), code="unsupported-media-type"
        )

    @app.exception_handler(SubjectErased)
    def _erased(request: Request, exc: SubjectErased) -> JSONResponse:
        # a file for a case whose owner was erased: refused before any command runs
        return _domain_error(request, domain_errors.CaseErased())

    @app.exception_handler(WriterUnavailable)
    def _no_writer(request: Request, exc: WriterUnavailable) -> JSONResponse:
        # the store's writer is changing hands: not a store outage, so the breaker stays
        # shut; a retry under the same Idempotency-Key is recorded once
        log.warning("writer unavailable: %s", exc)
        return problem_response(
            request,
            503,
            "Service unavailable",
            "the store's writer is changing hands; retry shortly with the same Idempotency-Key",
            code="writer-unavailable",
            headers={"Retry-After": "1"},
        )

    @app.exception_handler(FontMissing)
    def _fonts_missing(request: Request, exc: FontMissing) -> JSONResponse:
        # the server's set-up, not the request: say what to install
        log.error("%s", exc)
        return problem_response(
            request, 503, "Dossier unavailable", str(exc), code="dossier-fonts-missing"
        )

    # Only a store that cannot be reached or is too busy opens the breaker: a data error
    # caused by one request is that request's 4xx, and any other database error is a bug
    # (500), neither of which says the store is down for everyone else.
    app.add_exception_handler(StoreDataError, _unstorable)  # type: ignore[arg-type]
    app.add_exception_handler(StoreOperationalError, _store_unavailable)  # type: ignore[arg-type]
    app.add_exception_handler(StoreInterfaceError, _store_unavailable)  # type: ignore[arg-type]

    @app.exception_handler(Exception)
    def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        if _is_data_error(exc):
            return _unstorable(request, exc)
        if _is_store_error(exc):
            return _store_unavailable(request, exc)
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return problem_response(
            request,
            500,
            "Internal server error",
            "an unexpected error occurred",
            code="internal-error",
        )


def _is_store_error(exc: BaseException) -> bool:
    import sqlite3

    import psycopg
    import psycopg_pool

    return isinstance(
        exc, sqlite3.OperationalError | psycopg.OperationalError | psycopg_pool.PoolTimeout
    )


def _is_data_error(exc: BaseException) -> bool:
    import psycopg

    return isinstance(exc, psycopg.DataError | UnicodeEncodeError)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` for the problems a route can answer."""
    described = {
        401: "Missing, unknown or revoked API key",
        403: "The key's role does not allow this",
        404: "No such case, or not within the caller's reach",
        409: "The case's state does not allow this action, or a rule is broken",
        412: "If-Match names a version the case has moved on from",
        413: "Body too large",
        415: "Media type not accepted",
        422: "Invalid input",
        503: "Store unavailable; retry after Retry-After seconds",
    }
    headers = {412: {"ETag": STALE_ETAG}, 503: {"Retry-After": RETRY_AFTER}}
    return {
        status: {
            "model": Problem,
            "description": described.get(status, "Problem"),
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
            **({"headers": headers[status]} if status in headers else {}),
        }
        for status in statuses
    }
