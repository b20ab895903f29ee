"""What every command route shares: If-Match, Idempotency-Key, the case response.

A route says which action to run with which arguments; ``CommandRun`` does the
rest the same way for all of them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from typing import Any
from uuid import UUID

from eventsourcing.persistence import IntegrityError
from fastapi import Request
from fastapi.responses import Response

from api.deps import check_write, require_writer
from api.problems import ProblemError, invalid
from domain.cases import Case
from infrastructure.application import CommandResult, ReclaimApplication
from infrastructure.idempotency import IdempotencyRecord
from infrastructure.keys import Principal

_IF_MATCH = re.compile(r'^\s*(?:W/)?"?(\d{1,18})"?\s*$')
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
CASE_HEADERS = ("Location", "ETag")


class IdempotentReplay(Exception):
    """The same request was already answered: answer it the same way again."""

    def __init__(self, record: IdempotencyRecord) -> None:
        super().__init__(record.key)
        self.record = record

    def response(self) -> Response:
        return Response(
            self.record.body.encode(),
            status_code=self.record.status,
            media_type="application/json",
            headers={**self.record.headers, "Idempotent-Replayed": "true"},
        )


def parse_if_match(value: str | None) -> int | None:
    if value is None or value.strip() == "*":
        return None
    match = _IF_MATCH.match(value)
    if not match:
        raise ProblemError(
            412,
            "Precondition failed",
            'If-Match must be a case version as an entity tag, e.g. "3"',
            code="version-mismatch",
        )
    return int(match.group(1))


def fingerprint(request: Request, payload: Any) -> str:
    canonical = json.dumps(payload, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(f"{request.method} {request.url.path}\n{canonical}".encode()).hexdigest()


def case_headers(request: Request, case: Case) -> dict[str, str]:
    return {
        "ETag": f'"{case.version}"',
        "Location": str(request.url_for("get_case", case_id=str(case.id)).path),
    }


class CommandRun:
    def __init__(
        self,
        request: Request,
        reclaim: ReclaimApplication,
        principal: Principal,
        payload: Any,
        *,
        render: Callable[[Case], tuple[int, Any]] | None = None,
    ) -> None:
        self.request = request
        self.reclaim = reclaim
        self.principal = principal
        self.key = request.headers.get("Idempotency-Key")
        if self.key is not None and not _IDEMPOTENCY_KEY.match(self.key):
            raise invalid(
                "Idempotency-Key",
                "1-255 printable characters",
                "Idempotency-Key must be 1-255 printable characters",
            )
        self.request_hash = fingerprint(request, payload)
        self.render = render or self._render_case
        self._rendered: tuple[int, bytes, dict[str, str]] | None = None

    # --- idempotency ---------------------------------------------------------------
    def check_replay(self) -> None:
        if self.key is None:
            return
        record = self.reclaim.idempotency.find(self.principal.scope, self.key)
        if record is None:
            return
        if record.request_hash != self.request_hash:
            raise ProblemError(
                422,
                "Idempotency key reused",
                "this Idempotency-Key was already used with a different request",
                code="idempotency-key-reused",
            )
        raise IdempotentReplay(record)

    def _render_case(self, case: Case) -> tuple[int, Any]:
        from api.presenters import present_case

        return 200, present_case(case, self.reclaim.settings)

    def _rendered_for(
        self, case: Case, status: int | None = None
    ) -> tuple[int, bytes, dict[str, str]]:
        if self._rendered is None:
            code, body = self.render(case)
            payload = body.model_dump(mode="json") if hasattr(body, "model_dump") else body
            self._rendered = (
                status or code,
                json.dumps(payload, separators=(",", ":")).encode(),
                case_headers(self.request, case),
            )
        return self._rendered

    def _save_with(self, status: int | None) -> Callable[[Case], dict[str, Any]]:
        def save_with(case: Case) -> dict[str, Any]:
            self._rendered = None
            code, body, headers = self._rendered_for(case, status)
            if self.key is None:
                return {}
            record = IdempotencyRecord(
                scope=self.principal.scope,
                key=self.key,
                request_hash=self.request_hash,
                status=code,
                body=body.decode(),
                headers=headers,
            )
            return {"idempotency": record}

        return save_with

    def _respond(self, result: CommandResult, status: int | None = None) -> Response:
        code, body, headers = self._rendered_for(result.case, status)
        if result.position is not None:
            headers = {**headers, "Reclaim-Position": str(result.position)}
        if code != 201:
            headers = {k: v for k, v in headers.items() if k != "Location"}
        return Response(body, status_code=code, media_type="application/json", headers=headers)

    # --- running ---------------------------------------------------------------------
    def open(self, opener: Callable[..., CommandResult], **facts: Any) -> Response:
        with self._counted(opener.__name__):
            return self._open(opener, **facts)

    def _open(self, opener: Callable[..., CommandResult], **facts: Any) -> Response:
        require_writer(self.principal)
        self.check_replay()
        try:
            result = opener(
                save_with=self._save_with(201),
                owner=self.principal.user_id,
                workspace=self.principal.workspace,
                actor=self.principal.user_id,
                request_id=self.request.state.request_id,
                **facts,
            )
        except IntegrityError:
            self.check_replay()
            raise
        return self._respond(result, 201)

    def execute(
        self, case_id: UUID, action: str, *, status: int | None = None, **kwargs: Any
    ) -> Response:
        with self._counted(action):
            return self._execute(case_id, action, status=status, **kwargs)

    @contextlib.contextmanager
    def _counted(self, action: str) -> Iterator[None]:
        metrics = getattr(self.request.app.state, "metrics", None)
        outcome = "ok"
        try:
            yield
        except IdempotentReplay:
            outcome = "replayed"
            raise
        except Exception as exc:
            outcome = type(exc).__name__
            raise
        finally:
            if metrics is not None:
                metrics.commands.labels(action, outcome).inc()

    def _execute(
        self, case_id: UUID, action: str, *, status: int | None = None, **kwargs: Any
    ) -> Response:
        expected = parse_if_match(self.request.headers.get("If-Match"))

        def guard(case: Case) -> None:
            # access first: a key reused on a case outside the caller's reach must get the
            # same 404 as a case that does not exist, not say that it does
            check_write(self.principal, case)
            self.check_replay()

        result = self.reclaim.execute(
            case_id,
            action,
            guard=guard,
            expected_version=expected,
            save_with=self._save_with(status),
            actor=self.principal.user_id,
            request_id=self.request.state.request_id,
            **kwargs,
        )
        return self._respond(result, status)
