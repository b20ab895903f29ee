"""Who may reach which case: the access rules, in one place.

A key reads the cases of its own workspace: a member or reader only their own, an
auditor or admin all of them. Only members and admins write, and only to their own
cases. A case outside a caller's reach is answered as if it did not exist.
"""

from __future__ import annotations

from domain.cases import Case
from infrastructure.store.application import CaseNotFound
from infrastructure.store.keys import Principal


class Forbidden(Exception):
    """The caller's key may see this, but its role may not do it."""

    def __init__(self, principal: Principal, what: str) -> None:
        super().__init__(f"a key with role '{principal.role}' may not {what}")
        self.role = principal.role
        self.what = what


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
        raise Forbidden(principal, "change this case")


def require_writer(principal: Principal) -> None:
    if not principal.can_write:
        raise Forbidden(principal, "open or change cases")


def acting_as_owner(case: Case) -> Principal:
    """Whoever runs ``reclaim`` on the store's own machine acts as the case's owner."""
    return Principal(key_id="local", user_id=case.owner, workspace=case.workspace, role="member")
