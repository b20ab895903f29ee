"""The workspace's inbox of mail the IMAP intake could not file: who may see it, and the
two things a person does with a message there, for the API and the case book alike.

Only the workspace the mailbox files into has an inbox. Its admins list, assign and
dismiss; its auditors list (read only); members get 403. A message of another
workspace is not there (404). Assigning records the message on the chosen case through
the e-mail intake (``record_mail``, as the platform's answer, in the name of the case's
owner, since only they write to their case), then the message's sealed copy in the
inbox is deleted: it lives on as the case's evidence.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from infrastructure.mail.intake import WorkspaceCases, owner_call
from infrastructure.service.access import Forbidden
from infrastructure.service.commands import CaseCommands
from infrastructure.service.mail import FROM_PLATFORM, MailOutcome, record_mail
from infrastructure.store.keys import Principal


class NotInInbox(LookupError):
    """No such message in the caller's inbox (another workspace's is the same)."""


class CaseNotInWorkspace(ValueError):
    """The case to assign to is not one of the workspace's."""


class AlreadySettled(Exception):
    """The message was assigned or dismissed already (to something else)."""

    def __init__(self, item: dict[str, Any]) -> None:
        super().__init__(f"this message was already {item['state']}")
        self.item = item


def check_can_read(principal: Principal) -> None:
    if principal.role not in ("admin", "auditor"):
        raise Forbidden(principal, "read the workspace's inbox")


def check_can_settle(principal: Principal) -> None:
    if principal.role != "admin":
        raise Forbidden(principal, "assign or dismiss the workspace's mail")


def get_item(store: Any, principal: Principal, item_id: str) -> dict[str, Any]:
    check_can_read(principal)
    item = store.inbox.get(principal.workspace, item_id[:40])
    if item is None:
        raise NotInInbox(item_id)
    return item


def assign(
    store: Any, principal: Principal, item_id: str, case_id: UUID, request_id: str
) -> tuple[dict[str, Any], MailOutcome | None]:
    """Record an unmatched message on a case of the workspace. Assigning again to the
    same case answers the same and records nothing."""
    check_can_settle(principal)
    item = store.inbox.get(principal.workspace, item_id[:40], raw=True)
    if item is None:
        raise NotInInbox(item_id)
    if item["state"] != "unmatched":
        if item["state"] == "recorded" and item["case_id"] == str(case_id):
            return _public(item), None
        raise AlreadySettled(_public(item))
    case = WorkspaceCases(store.database, principal.workspace).get(case_id)
    if case is None:
        raise CaseNotInWorkspace(str(case_id))
    outcome = record_mail(
        CaseCommands(store),
        case_id,
        item["raw"],
        owner_call(case, principal.workspace, request_id),
        direction=FROM_PLATFORM,
    )
    detail = outcome.detail if outcome.recorded else "already on the case"
    store.inbox.settle(
        principal.workspace,
        item["id"],
        "recorded",
        f"assigned by {principal.user_id}: {detail}",
        str(case_id),
        "assigned",
    )
    return get_item(store, principal, item["id"]), outcome


def dismiss(store: Any, principal: Principal, item_id: str) -> dict[str, Any]:
    """Set an unmatched message aside for good; its sealed copy is deleted. Dismissing
    again answers the same."""
    check_can_settle(principal)
    item = get_item(store, principal, item_id)
    if item["state"] == "dismissed":
        return item
    if item["state"] != "unmatched":
        raise AlreadySettled(item)
    store.inbox.settle(
        principal.workspace, item["id"], "dismissed", f"dismissed by {principal.user_id}"
    )
    return get_item(store, principal, item["id"])


def _public(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k != "raw"}
