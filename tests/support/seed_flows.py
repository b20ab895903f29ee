"""The two seed flows, driven through the API as a user would: a TEMU store credit that
expired and a TikTok promotion charge that delivered nothing. ``tests/e2e/test_api_flows.py``
tells them as stories; ``tests/e2e/test_openapi_contract.py`` checks every answer they get
against the OpenAPI document."""

from __future__ import annotations

import hashlib

from tests.support.api_checks import PROBLEM
from tests.support.api_data import COMMANDS, PNG, credit_body, dispute_body, upload, when

TEMU_STEPS = [
    (
        "submit",
        {
            "channel": "support_ticket",
            "reference": "T-1001",
            "message": "My store credit expired without notice",
            "occurred_at": when(13),
        },
        "submitted",
    ),
    (
        "follow-up",
        {"channel": "live_chat", "message": "No answer", "occurred_at": when(16)},
        "followed_up",
    ),
    (
        "follow-up",
        {"channel": "email", "message": "Second reminder", "occurred_at": when(19)},
        "followed_up",
    ),
    ("deny", {"reason": "Credits expire after 60 days", "occurred_at": when(20)}, "denied"),
    (
        "appeal",
        {"grounds": "The expiry date was never shown", "occurred_at": when(21)},
        "appealed",
    ),
    (
        "escalate",
        {"level": "supervisor", "contact": "TEMU support supervisor", "occurred_at": when(23)},
        "escalated",
    ),
    (
        "escalate",
        {
            "level": "consumer_agency",
            "contact": "state attorney general",
            "message": "Complaint filed",
            "occurred_at": when(26),
        },
        "escalated",
    ),
    (
        "resolve",
        {
            "outcome": "granted",
            "recovered_amount": "25.00",
            "recovered_form": "credit_reinstated",
            "note": "Reinstated",
            "occurred_at": when(30),
        },
        "resolved",
    ),
]

TIKTOK_STEPS = [
    (
        "submit",
        {
            "channel": "ads_manager",
            "reference": "TT-55",
            "message": "Charged, zero impressions",
            "occurred_at": when(5),
        },
        "submitted",
    ),
    (
        "responses",
        {"message": "Please send the campaign report", "occurred_at": when(7)},
        "submitted",
    ),
    ("deny", {"reason": "Delivery within policy", "occurred_at": when(9)}, "denied"),
    (
        "appeal",
        {"grounds": "The report shows no delivery", "occurred_at": when(10)},
        "appealed",
    ),
    (
        "resolve",
        {
            "outcome": "partial",
            "recovered_amount": "60.00",
            "recovered_form": "refund",
            "occurred_at": when(14),
        },
        "resolved",
    ),
]


def temu_credit_flow(alice) -> str:
    """Opened, submitted, followed up twice, denied, appealed, escalated to a supervisor
    then a consumer agency, reinstated; each step sent with If-Match and its own
    request id. Returns the case id."""
    opened = alice.post("/v1/credits", json=credit_body())
    assert opened.status_code == 201, opened.text
    case = opened.json()
    cid = case["id"]
    assert opened.headers["Location"] == f"/v1/cases/{cid}"
    assert opened.headers["ETag"] == '"1"'
    assert case["state"] == "opened" and case["owner"] == "alice" and case["workspace"] == "home"
    assert case["amount_claimed"] == "25.00" and case["amount_recovered"] == "0.00"

    for version, (path, body, state) in enumerate(TEMU_STEPS, start=2):
        response = alice.post(
            f"/v1/cases/{cid}/{path}",
            json=body,
            headers={"X-Request-ID": f"temu-{version}", "If-Match": f'"{version - 1}"'},
        )
        assert response.status_code == 200, response.text
        assert response.json()["state"] == state
        assert response.headers["ETag"] == f'"{version}"'
        assert response.headers["X-Request-ID"] == f"temu-{version}"

    final = alice.get(f"/v1/cases/{cid}").json()
    assert final["outcome"] == "granted" and final["amount_recovered"] == "25.00"
    assert final["recovered_form"] == "credit_reinstated"
    assert final["escalations"] == ["supervisor", "consumer_agency"]
    assert final["follow_ups"] == 2
    assert final["allowed_actions"] == ["attach_evidence", "add_note"]
    return cid


def tiktok_dispute_flow(alice) -> tuple[str, str]:
    """Opened, refused a submission until it has evidence, a screenshot attached,
    submitted, a reply, denied, appealed, partly refunded; each step sent with an
    Idempotency-Key. Returns the case id and the screenshot's evidence id."""
    cid = alice.post("/v1/disputes", json=dispute_body()).json()["id"]
    refused = alice.post(f"/v1/cases/{cid}/submit", json=COMMANDS["submit"][1])
    assert refused.status_code == 409
    assert refused.headers["content-type"] == PROBLEM
    assert refused.json()["missing"] == ["evidence"]

    attached = upload(alice, cid)
    assert attached.status_code == 201, attached.text
    evidence = attached.json()
    assert evidence["sha256"] == hashlib.sha256(PNG).hexdigest()
    assert evidence["size"] == len(PNG) and evidence["media_type"] == "image/png"

    for number, (path, body, state) in enumerate(TIKTOK_STEPS):
        response = alice.post(
            f"/v1/cases/{cid}/{path}", json=body, headers={"Idempotency-Key": f"tt-{number}"}
        )
        assert response.status_code == 200, response.text
        assert response.json()["state"] == state

    final = alice.get(f"/v1/cases/{cid}").json()
    assert final["outcome"] == "partial" and final["amount_recovered"] == "60.00"
    assert final["responses"] == 1
    download = alice.get(f"/v1/cases/{cid}/evidence/{evidence['id']}")
    assert download.status_code == 200
    assert download.content == PNG
    assert download.headers["content-type"] == "image/png"
    return cid, evidence["id"]
