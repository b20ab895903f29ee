"""The service layer driven the way application-level tests speak: with the arguments
the domain takes (``owner``, ``workspace`` and ``actor`` as text), each command run by
a member key of that user. Every call goes through ``CaseCommands``, access checks
and unit of work included."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from infrastructure.service.commands import Call, CaseCommands, Done
from infrastructure.store.application import ReclaimApplication
from infrastructure.store.keys import Principal


def member(user: str, workspace: str) -> Principal:
    return Principal(key_id=f"test-{user}", user_id=user, workspace=workspace, role="member")


#: each case's owner and workspace, as opened here (so a command needs no extra read)
_OWNERS: dict[UUID, tuple[str, str]] = {}


class AsUsers:
    def __init__(self, store: ReclaimApplication) -> None:
        self.store = store
        self.commands = CaseCommands(store)

    def _by(self, case_id: UUID, actor: str) -> Principal:
        """The case's owner's key: only an owner may change a case, so the actor a test
        names is kept only when it is the owner (as it always is over HTTP)."""
        if case_id not in _OWNERS:
            case = self.store.get_case(case_id)
            _OWNERS[case_id] = (case.owner, case.workspace)
        return member(*_OWNERS[case_id])

    @staticmethod
    def _call(by: Principal, kwargs: dict[str, Any]) -> Call:
        """The service's Call from a test's keyword arguments (the rest are the command's)."""
        return Call(
            by,
            kwargs.pop("request_id"),
            expected_version=kwargs.pop("expected_version", None),
            idempotency=kwargs.pop("idempotency", None),
            answer=kwargs.pop("answer", None),
            now=kwargs.pop("now", None),
        )

    def _opened(self, done: Done) -> Done:
        _OWNERS[done.case.id] = (done.case.owner, done.case.workspace)
        return done

    # a case is opened by its owner's key: the service records the owner as the actor
    def open_credit(self, *, owner: str, workspace: str, actor: str, **facts: Any) -> Done:
        call = self._call(member(owner, workspace), facts)
        return self._opened(self.commands.open_credit(call, **facts))

    def open_dispute(self, *, owner: str, workspace: str, actor: str, **facts: Any) -> Done:
        call = self._call(member(owner, workspace), facts)
        return self._opened(self.commands.open_dispute(call, **facts))

    def submit(self, case_id: UUID, *, actor: str, **kwargs: Any) -> Done:
        return self.commands.submit(case_id, self._call(self._by(case_id, actor), kwargs), **kwargs)

    def follow_up(self, case_id: UUID, *, actor: str, **kwargs: Any) -> Done:
        return self.commands.follow_up(
            case_id, self._call(self._by(case_id, actor), kwargs), **kwargs
        )

    def record_response(self, case_id: UUID, *, actor: str, **kwargs: Any) -> Done:
        return self.commands.record_response(
            case_id, self._call(self._by(case_id, actor), kwargs), **kwargs
        )

    def deny(self, case_id: UUID, *, actor: str, **kwargs: Any) -> Done:
        return self.commands.deny(case_id, self._call(self._by(case_id, actor), kwargs), **kwargs)

    def appeal(self, case_id: UUID, *, actor: str, **kwargs: Any) -> Done:
        return self.commands.appeal(case_id, self._call(self._by(case_id, actor), kwargs), **kwargs)

    def escalate(self, case_id: UUID, *, actor: str, **kwargs: Any) -> Done:
        return self.commands.escalate(
            case_id, self._call(self._by(case_id, actor), kwargs), **kwargs
        )

    def resolve(self, case_id: UUID, *, actor: str, **kwargs: Any) -> Done:
        return self.commands.resolve(
            case_id, self._call(self._by(case_id, actor), kwargs), **kwargs
        )

    def add_note(self, case_id: UUID, *, actor: str, **kwargs: Any) -> Done:
        return self.commands.add_note(
            case_id, self._call(self._by(case_id, actor), kwargs), **kwargs
        )

    def attach_evidence(self, case_id: UUID, *, actor: str, **kwargs: Any) -> Done:
        return self.commands.attach_evidence(
            case_id, self._call(self._by(case_id, actor), kwargs), **kwargs
        )


def as_users(store: ReclaimApplication) -> AsUsers:
    return AsUsers(store)
