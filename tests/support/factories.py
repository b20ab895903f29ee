"""Valid inputs for every command, so tests say only what differs."""

from __future__ import annotations

from collections import deque
from datetime import UTC, date, datetime, timedelta
from typing import Any

from domain import lifecycle
from domain.cases import Case, Credit, Dispute

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
EARNED = date(2026, 1, 10)
ACTOR = {"actor": "user-1", "request_id": "req-1"}


def at(days: float) -> datetime:
    """A moment ``days`` after the credit was earned."""
    return datetime.combine(EARNED, datetime.min.time(), tzinfo=UTC) + timedelta(days=days)


def credit_facts(**overrides: Any) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "owner": "user-1",
        "workspace": "ws-1",
        "platform": "temu",
        "account_reference": "temu-account-4411",
        "credit_type": "store",
        "amount": "25.00",
        "currency": "USD",
        "problem": "expired",
        "remedy": "reinstate",
        "earned_on": EARNED,
        "expires_on": date(2026, 3, 10),
        "restrictions": {"minimum_purchase": "10.00", "single_use": False},
        "occurred_at": at(60),
        **ACTOR,
    }
    facts.update(overrides)
    return facts


def dispute_facts(**overrides: Any) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "owner": "user-1",
        "workspace": "ws-1",
        "platform": "tiktok",
        "account_reference": "tt-ads-7788",
        "charge_reference": "CAMPAIGN-2026-042",
        "charged_amount": "120.00",
        "refund_amount": "120.00",
        "currency": "USD",
        "reason": "non_performance",
        "charged_on": EARNED,
        "occurred_at": at(3),
        **ACTOR,
    }
    facts.update(overrides)
    return facts


def action_args(action: str, when: datetime | None = None, **overrides: Any) -> dict[str, Any]:
    when = when or at(70)
    args: dict[str, dict[str, Any]] = {
        "submit": {
            "channel": "support_ticket",
            "reference": "T-1001",
            "message": "Please help",
            "occurred_at": when,
        },
        "follow_up": {"channel": "email", "message": "Any news?", "occurred_at": when},
        "record_response": {"message": "We need a screenshot", "occurred_at": when},
        "deny": {"reason": "Credit had expired", "occurred_at": when},
        "appeal": {"grounds": "Expiry was never shown", "occurred_at": when},
        "escalate": {
            "level": "supervisor",
            "contact": "support lead",
            "message": "Please review",
            "occurred_at": when,
        },
        "resolve": {
            "outcome": "granted",
            "recovered_amount": "25.00",
            "recovered_form": "credit_reinstated",
            "note": "",
            "occurred_at": when,
        },
        "add_note": {"text": "Called them"},
        "attach_evidence": {
            "evidence_id": "ev-1",
            "kind": "screenshot",
            "sha256": "a" * 64,
            "size": 10,
            "media_type": "image/png",
            "filename": "shot.png",
            "description": "wallet page",
        },
    }
    result = {**args[action], **ACTOR, **overrides}
    if action in (
        "submit",
        "follow_up",
        "record_response",
        "deny",
        "appeal",
        "escalate",
        "resolve",
    ):
        result.setdefault("now", NOW)
    return result


def path_to(state: str) -> list[str]:
    """The shortest list of actions that takes a new case to ``state``, found on the machine."""
    queue: deque[tuple[str, list[str]]] = deque([("opened", [])])
    seen = {"opened"}
    while queue:
        current, path = queue.popleft()
        if current == state:
            return path
        for action in lifecycle.allowed_actions(current):
            following = lifecycle.next_state(current, action)
            if following not in seen:
                seen.add(following)
                queue.append((following, [*path, action]))
    raise AssertionError(f"{state} is unreachable")


def case_in(state: str, kind: str = "credit") -> Case:
    case: Case = (
        Credit.open(**credit_facts(), now=NOW)
        if kind == "credit"
        else Dispute.open(**dispute_facts(), now=NOW)
    )
    if kind == "dispute":
        case.attach_evidence(**action_args("attach_evidence"))
    for step, action in enumerate(path_to(state)):
        getattr(case, action)(**action_args(action, at(61 + step)))
    return case
