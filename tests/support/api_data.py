"""Request bodies for the HTTP tests."""

from __future__ import annotations

from typing import Any

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64))


def credit_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "platform": "temu",
        "account_reference": "temu-4411",
        "credit_type": "store",
        "amount": "25.00",
        "currency": "USD",
        "problem": "expired",
        "remedy": "reinstate",
        "earned_on": "2026-01-10",
        "expires_on": "2026-03-10",
        "occurred_at": "2026-03-12T09:00:00+00:00",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def dispute_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "platform": "tiktok",
        "account_reference": "tt-ads-7788",
        "charge_reference": "CAMPAIGN-042",
        "charged_amount": "120.00",
        "refund_amount": "120.00",
        "currency": "USD",
        "reason": "non_performance",
        "charged_on": "2026-02-01",
        "occurred_at": "2026-02-03T10:00:00+00:00",
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def when(day: int, hour: int = 12) -> str:
    """A time in March 2026, after every fact in the bodies above."""
    return f"2026-03-{day:02d}T{hour:02d}:00:00+00:00"


COMMANDS: dict[str, tuple[str, dict[str, Any]]] = {
    "submit": (
        "submit",
        {
            "channel": "support_ticket",
            "reference": "T-1001",
            "message": "Please reinstate",
            "occurred_at": when(13),
        },
    ),
    "follow_up": (
        "follow-up",
        {"channel": "email", "message": "Any news?", "occurred_at": when(16)},
    ),
    "record_response": ("responses", {"message": "Need a screenshot", "occurred_at": when(17)}),
    "deny": ("deny", {"reason": "Expired credits are final", "occurred_at": when(18)}),
    "appeal": ("appeal", {"grounds": "Expiry was never shown", "occurred_at": when(19)}),
    "escalate": (
        "escalate",
        {
            "level": "supervisor",
            "contact": "support lead",
            "message": "Please review",
            "occurred_at": when(20),
        },
    ),
    "resolve": (
        "resolve",
        {
            "outcome": "granted",
            "recovered_amount": "25.00",
            "recovered_form": "credit_reinstated",
            "occurred_at": when(25),
        },
    ),
    "add_note": ("notes", {"text": "Called the hotline"}),
}


def upload(
    client,
    case_id: str,
    data: bytes = PNG,
    media_type: str = "image/png",
    filename: str = "wallet.png",
    kind: str = "screenshot",
    **kwargs: Any,
):
    return client.post(
        f"/v1/cases/{case_id}/evidence",
        files={"file": (filename, data, media_type)},
        data={"kind": kind, "description": "wallet page"},
        **kwargs,
    )
