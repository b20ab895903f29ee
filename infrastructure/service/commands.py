"""Every command on a case as one typed method, each owning its unit of work.

A method loads the case, checks the caller's access (``access``), checks the version
``If-Match`` named, acts on the case, and saves the case's new events together with
the command's idempotency record in one transaction. When another writer saved the
case first and no version was named, it does it all again on the fresh case, so
nothing is lost; with a version named, the conflict is a ``VersionMismatch``.

An adapter (the HTTP API, the case book, e-mail intake) says how it answers a command
(``answer``): the answer is made once, from the changed case, and kept with the
Idempotency-Key so that a retry is answered the same, byte for byte.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from domain.cases import Case, Credit, Dispute
from domain.errors import DomainError
from infrastructure.service.access import check_write, require_writer
from infrastructure.store.application import CommandResult, ReclaimApplication, VersionMismatch
from infrastructure.store.forward import pause
from infrastructure.store.idempotency import IdempotencyRecord
from infrastructure.store.keys import Principal

T = TypeVar("T")

#: how often a command without If-Match is retried when another writer saved first
CONFLICT_RETRIES = 20
#: a follower's pause before its next retry grows by up to this much each time
FORWARDED_BACKOFF_SECONDS = 0.002


@dataclass(frozen=True)
class Reply:
    """A command's answer as an adapter gives it: kept with its Idempotency-Key."""

    status: int
    body: str
    headers: Mapping[str, str] = field(default_factory=dict)


#: given the command's result (the changed case, or what an act returned), its answer
Answer = Callable[[Any], Reply]


@dataclass(frozen=True)
class Idempotency:
    """An Idempotency-Key and the fingerprint of the request it came with."""

    key: str
    request_hash: str


@dataclass(frozen=True)
class Call:
    """Who sends a command, and how: the caller's key, the request id, the version
    ``If-Match`` names (None: any), the Idempotency-Key, how to answer, and the clock
    (``now``, for tests and imports; None: the time of the call)."""

    by: Principal
    request_id: str
    expected_version: int | None = None
    idempotency: Idempotency | None = None
    answer: Answer | None = None
    now: datetime | None = None


class AlreadyAnswered(Exception):
    """The same request was already answered: answer it the same way again."""

    def __init__(self, record: IdempotencyRecord) -> None:
        super().__init__(record.key)
        self.record = record


class IdempotencyKeyReused(Exception):
    """The key was already used with a different request."""

    def __init__(self) -> None:
        super().__init__("this Idempotency-Key was already used with a different request")


@dataclass(frozen=True)
class Done:
    """A command's outcome: the case after it, where its last event is in the log (None
    when it recorded nothing), the answer it was given, and what its act returned."""

    case: Case
    position: int | None
    reply: Reply | None = None
    value: Any = None


class CaseCommands:
    """The commands, for one application (the event store)."""

    def __init__(self, store: ReclaimApplication) -> None:
        self.store = store

    # --- opening -----------------------------------------------------------------------
    def open_credit(
        self,
        call: Call,
        *,
        platform: str,
        credit_type: str,
        amount: object,
        currency: str,
        problem: str,
        remedy: str,
        account_reference: str | None = None,
        earned_on: date | None = None,
        expires_on: date | None = None,
        restrictions: dict[str, Any] | None = None,
        occurred_at: datetime | None = None,
    ) -> Done:
        return self._open(
            lambda: Credit.open(
                owner=call.by.user_id,
                workspace=call.by.workspace,
                platform=platform,
                account_reference=account_reference,
                credit_type=credit_type,
                amount=amount,
                currency=currency,
                problem=problem,
                remedy=remedy,
                earned_on=earned_on,
                expires_on=expires_on,
                restrictions=restrictions,
                occurred_at=occurred_at,
                actor=call.by.user_id,
                request_id=call.request_id,
                now=call.now,
            ),
            call,
        )

    def open_dispute(
        self,
        call: Call,
        *,
        platform: str,
        charged_amount: object,
        currency: str,
        reason: str,
        account_reference: str | None = None,
        charge_reference: str | None = None,
        refund_amount: object | None = None,
        charged_on: date | None = None,
        occurred_at: datetime | None = None,
    ) -> Done:
        return self._open(
            lambda: Dispute.open(
                owner=call.by.user_id,
                workspace=call.by.workspace,
                platform=platform,
                account_reference=account_reference,
                charge_reference=charge_reference,
                charged_amount=charged_amount,
                refund_amount=refund_amount,
                currency=currency,
                reason=reason,
                charged_on=charged_on,
                occurred_at=occurred_at,
                actor=call.by.user_id,
                request_id=call.request_id,
                now=call.now,
            ),
            call,
        )

    # --- the lifecycle -------------------------------------------------------------------
    def submit(
        self,
        case_id: UUID,
        call: Call,
        *,
        channel: str,
        reference: str | None = None,
        message: str | None = None,
        occurred_at: datetime | None = None,
    ) -> Done:
        def act(case: Case) -> None:
            case.submit(
                channel=channel,
                reference=reference,
                message=message,
                occurred_at=occurred_at,
                actor=call.by.user_id,
                request_id=call.request_id,
                now=call.now,
            )

        return self.change(case_id, call, act)

    def follow_up(
        self,
        case_id: UUID,
        call: Call,
        *,
        channel: str,
        message: str | None = None,
        occurred_at: datetime | None = None,
    ) -> Done:
        def act(case: Case) -> None:
            case.follow_up(
                channel=channel,
                message=message,
                occurred_at=occurred_at,
                actor=call.by.user_id,
                request_id=call.request_id,
                now=call.now,
            )

        return self.change(case_id, call, act)

    def record_response(
        self,
        case_id: UUID,
        call: Call,
        *,
        message: str,
        occurred_at: datetime | None = None,
    ) -> Done:
        def act(case: Case) -> None:
            case.record_response(
                message=message,
                occurred_at=occurred_at,
                actor=call.by.user_id,
                request_id=call.request_id,
                now=call.now,
            )

        return self.change(case_id, call, act)

    def deny(
        self,
        case_id: UUID,
        call: Call,
        *,
        reason: str | None = None,
        occurred_at: datetime | None = None,
    ) -> Done:
        def act(case: Case) -> None:
            case.deny(
                reason=reason,
                occurred_at=occurred_at,
                actor=call.by.user_id,
                request_id=call.request_id,
                now=call.now,
            )

        return self.change(case_id, call, act)

    def appeal(
        self,
        case_id: UUID,
        call: Call,
        *,
        grounds: str,
        occurred_at: datetime | None = None,
    ) -> Done:
        def act(case: Case) -> None:
            case.appeal(
                grounds=grounds,
                occurred_at=occurred_at,
                actor=call.by.user_id,
                request_id=call.request_id,
                now=call.now,
            )

        return self.change(case_id, call, act)

    def escalate(
        self,
        case_id: UUID,
        call: Call,
        *,
        level: str,
        contact: str | None = None,
        message: str | None = None,
        occurred_at: datetime | None = None,
    ) -> Done:
        def act(case: Case) -> None:
            case.escalate(
                level=level,
                contact=contact,
                message=message,
                occurred_at=occurred_at,
                actor=call.by.user_id,
                request_id=call.request_id,
                now=call.now,
            )

        return self.change(case_id, call, act)

    def resolve(
        self,
        case_id: UUID,
        call: Call,
        *,
        outcome: str,
        recovered_amount: object = None,
        recovered_form: str | None = None,
        note: str | None = None,
        occurred_at: datetime | None = None,
    ) -> Done:
        def act(case: Case) -> None:
            case.resolve(
                outcome=outcome,
                recovered_amount=recovered_amount,
                recovered_form=recovered_form,
                note=note,
                occurred_at=occurred_at,
                actor=call.by.user_id,
                request_id=call.request_id,
                now=call.now,
            )

        return self.change(case_id, call, act)

    def add_note(
        self,
        case_id: UUID,
        call: Call,
        *,
        text: str,
        occurred_at: datetime | None = None,
    ) -> Done:
        def act(case: Case) -> None:
            case.add_note(
                text=text,
                occurred_at=occurred_at,
                actor=call.by.user_id,
                request_id=call.request_id,
                now=call.now,
            )

        return self.change(case_id, call, act)

    def attach_evidence(
        self,
        case_id: UUID,
        call: Call,
        *,
        evidence_id: str,
        kind: str,
        sha256: str,
        size: int,
        media_type: str,
        filename: str | None = None,
        description: str | None = None,
        occurred_at: datetime | None = None,
    ) -> Done:
        def act(case: Case) -> None:
            case.attach_evidence(
                evidence_id=evidence_id,
                kind=kind,
                sha256=sha256,
                size=size,
                media_type=media_type,
                filename=filename,
                description=description,
                occurred_at=occurred_at,
                actor=call.by.user_id,
                request_id=call.request_id,
                now=call.now,
            )

        return self.change(case_id, call, act)

    # --- the unit of work ----------------------------------------------------------------
    def check_replay(self, call: Call) -> None:
        """Raise AlreadyAnswered when this request was already recorded with this key."""
        if call.idempotency is None:
            return
        record = self.store.idempotency.find(call.by.scope, call.idempotency.key)
        if record is None:
            return
        if record.request_hash != call.idempotency.request_hash:
            raise IdempotencyKeyReused()
        raise AlreadyAnswered(record)

    def _open(self, make: Callable[[], Case], call: Call) -> Done:
        require_writer(call.by)
        try:
            case = make()
        except DomainError:
            self.check_replay(call)
            raise
        try:
            return self._save(case, None, call)
        except IntegrityError:
            self.check_replay(call)
            raise

    def change(self, case_id: UUID, call: Call, act: Callable[[Case], T]) -> Done:
        """Load the case, check access and version, ``act`` on it, save what it recorded.

        ``act`` may record several events (e-mail intake records a message and its
        files in one save) or none (then nothing is saved and ``Done.position`` is
        None). The call's ``answer`` is given what ``act`` returned, or the case when it
        returned None.

        A request whose Idempotency-Key is already recorded is not looked up first: its
        save would fail on the key (the record is written in the events' transaction),
        so nothing can be recorded twice, and every way the command can fail (a refusal,
        a version, a conflict at the save) looks the key up before it answers. A retry
        of an answered request gets that answer, not the refusal its own first try now
        causes (a second ``submit``, say). That saves a read on every command with a key.
        """
        for attempt in range(CONFLICT_RETRIES + 1):
            case = self.store.case_for_command(case_id)
            # access first: a key reused on a case outside the caller's reach must get the
            # same 404 as a case that does not exist, not say that it does
            check_write(call.by, case)
            expected = call.expected_version
            try:
                if expected is not None and case.version != expected:
                    raise VersionMismatch(expected, case.version)
                value = act(case)
            except (DomainError, VersionMismatch):
                # a refusal must hold for the case as it is, not as this process cached it
                # (another worker may have changed it since): a stale copy is read again
                if attempt < CONFLICT_RETRIES and self.store.is_stale(case):
                    self.store.forget(case_id)
                    continue
                self.check_replay(call)
                raise
            if not case.pending_events:
                self.check_replay(call)
                return Done(case, None, self._answer(call, case, value), value)
            try:
                return self._save(case, value, call)
            except IntegrityError:
                self.store.forget(case_id)
                check_write(call.by, self.store.get_case(case_id))
                self.check_replay(call)
                if expected is not None:
                    raise VersionMismatch(expected, expected + 1) from None
                if attempt == CONFLICT_RETRIES:
                    raise
                if self.store.forwarder is not None:
                    # a follower's save travels to the writer and back: a case that the
                    # writer's own commands keep changing would win every race against
                    # an immediate retry, so it waits a random, growing moment first
                    pause(random.uniform(0, FORWARDED_BACKOFF_SECONDS * (attempt + 1)))
        raise AssertionError("unreachable")

    @staticmethod
    def _answer(call: Call, case: Case, value: Any) -> Reply | None:
        if call.answer is None:
            return None
        return call.answer(case if value is None else value)

    def _save(self, case: Case, value: Any, call: Call) -> Done:
        reply = self._answer(call, case, value)
        record = None
        if call.idempotency is not None:
            if reply is None:
                raise ValueError("a command with an Idempotency-Key needs an answer to keep")
            record = IdempotencyRecord(
                scope=call.by.scope,
                key=call.idempotency.key,
                request_hash=call.idempotency.request_hash,
                status=reply.status,
                body=reply.body,
                headers=dict(reply.headers),
            )
        result: CommandResult = self.store.save_case(case, idempotency=record)
        return Done(result.case, result.position, reply, value)
