"""Drafted messages over HTTP, on both stores: the case's facts, a workspace's own
templates (admins only), the TikTok flow. The drafts themselves: tests/unit/test_drafts.py."""

from __future__ import annotations

import hashlib

from tests.support.api_data import PNG, credit_body, dispute_body, upload, when
from tests.support.drafts import SUBJECT_BODY


# --- through HTTP, on both stores ------------------------------------------------------------
def test_drafts_over_http_carry_the_case_facts(api) -> None:
    alice = api["owner"]
    cid = alice.post("/v1/credits", json=credit_body()).json()["id"]
    assert upload(alice, cid).status_code == 201
    alice.post(f"/v1/cases/{cid}/notes", json={"text": "Abroad {{ 7*7 }}"})
    answer = alice.get(f"/v1/cases/{cid}/drafts")
    assert answer.status_code == 200, answer.text
    items = answer.json()["items"]
    assert [i["step"] for i in items] == ["submit"]
    body = items[0]["body"]
    assert "25.00 USD" in body and "temu-4411" in body and "Abroad {{ 7*7 }}" in body
    assert hashlib.sha256(PNG).hexdigest() in body
    assert api["auditor"].get(f"/v1/cases/{cid}/drafts").status_code == 200
    assert api["other_member"].get(f"/v1/cases/{cid}/drafts").status_code == 404
    assert api["foreign_member"].get(f"/v1/cases/{cid}/drafts").status_code == 404
    assert api["anonymous"].get(f"/v1/cases/{cid}/drafts").status_code == 401


def test_an_admin_replaces_a_template_for_the_workspace_only(api) -> None:
    admin, alice = api["admin"], api["owner"]
    cid = alice.post("/v1/credits", json=credit_body()).json()["id"]
    path = "/v1/draft-templates/submit.credit.temu.expired.j2"
    source = SUBJECT_BODY.replace("B", "Dear team, {{ amount }} please. {{ account_reference }}")

    assert alice.put(path, json={"source": source}).status_code == 403
    assert api["auditor"].get(path).status_code == 403
    assert alice.get("/v1/draft-templates").status_code == 403

    default = admin.get(path)
    assert default.status_code == 200 and not default.json()["workspace_template"]
    bad = admin.put(path, json={"source": "{% block subject %}{% if %}{% endblock %}"})
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
    assert admin.put("/v1/draft-templates/nope.j2", json={"source": source}).status_code == 422

    kept = admin.put(path, json={"source": source})
    assert kept.status_code == 200, kept.text
    assert kept.json()["workspace_template"] and kept.json()["updated_by"] == "dana"
    draft = alice.get(f"/v1/cases/{cid}/drafts").json()["items"][0]
    assert draft["body"] == "Dear team, 25.00 USD please. temu-4411"
    assert draft["workspace_template"] is True

    foreign = api["foreign_member"]
    other = foreign.post("/v1/credits", json=credit_body()).json()["id"]
    assert "Dear team" not in foreign.get(f"/v1/cases/{other}/drafts").json()["items"][0]["body"]

    assert admin.delete(path).status_code == 204
    assert admin.delete(path).status_code == 404
    draft = alice.get(f"/v1/cases/{cid}/drafts").json()["items"][0]
    assert not draft["workspace_template"] and "reinstate" in draft["body"]


def test_drafts_follow_the_tiktok_flow_over_http(api) -> None:
    alice = api["owner"]
    cid = alice.post("/v1/disputes", json=dispute_body()).json()["id"]
    upload(alice, cid, filename="delivery.png")
    first = alice.get(f"/v1/cases/{cid}/drafts").json()["items"][0]
    assert "Campaign: CAMPAIGN-042" in first["body"] and first["channel"] == "ads_manager"
    submitted = alice.post(
        f"/v1/cases/{cid}/submit",
        json={
            "channel": first["channel"],
            "reference": "TT-1",
            "message": first["body"],
            "occurred_at": when(13),
        },
    )
    assert submitted.status_code == 200, submitted.text
    steps = [(i["step"], i["level"]) for i in alice.get(f"/v1/cases/{cid}/drafts").json()["items"]]
    assert steps == [
        ("follow_up", None),
        ("escalate", "supervisor"),
        ("escalate", "social_media"),
        ("escalate", "consumer_agency"),
        ("escalate", "payment_provider"),
    ]
