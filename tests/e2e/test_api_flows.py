"""Both seed flows and every case route, through real HTTP, on both stores."""

from __future__ import annotations

import hashlib

from tests.support.api_data import COMMANDS, PNG, credit_body, dispute_body, upload, when

PROBLEM = "application/problem+json"


def test_temu_credit_seed_flow(api) -> None:
    alice = api["owner"]
    opened = alice.post("/v1/credits", json=credit_body())
    assert opened.status_code == 201, opened.text
    case = opened.json()
    cid = case["id"]
    assert opened.headers["Location"] == f"/v1/cases/{cid}"
    assert opened.headers["ETag"] == '"1"'
    assert case["state"] == "opened" and case["owner"] == "alice" and case["workspace"] == "home"
    assert case["amount_claimed"] == "25.00" and case["amount_recovered"] == "0.00"

    steps = [
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
    for version, (path, body, state) in enumerate(steps, start=2):
        response = alice.post(
            f"/v1/cases/{cid}/{path}", json=body, headers={"X-Request-ID": f"temu-{version}"}
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


def test_tiktok_dispute_seed_flow(api) -> None:
    alice = api["owner"]
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

    for path, body, state in [
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
    ]:
        response = alice.post(f"/v1/cases/{cid}/{path}", json=body)
        assert response.status_code == 200, response.text
        assert response.json()["state"] == state

    final = alice.get(f"/v1/cases/{cid}").json()
    assert final["outcome"] == "partial" and final["amount_recovered"] == "60.00"
    assert final["responses"] == 1
    download = alice.get(f"/v1/cases/{cid}/evidence/{evidence['id']}")
    assert download.status_code == 200
    assert download.content == PNG
    assert download.headers["content-type"] == "image/png"


def test_get_case_at_a_version_and_as_of_a_time(api) -> None:
    alice = api["owner"]
    cid = alice.post("/v1/credits", json=credit_body()).json()["id"]
    alice.post(f"/v1/cases/{cid}/submit", json=COMMANDS["submit"][1])
    middle = alice.get(f"/v1/cases/{cid}").json()
    between = alice.get("/healthz").headers["date"]
    alice.post(f"/v1/cases/{cid}/deny", json=COMMANDS["deny"][1])

    v1 = alice.get(f"/v1/cases/{cid}", params={"version": 1})
    assert v1.status_code == 200 and v1.json()["state"] == "opened"
    assert v1.headers["ETag"] == '"1"'
    assert alice.get(f"/v1/cases/{cid}", params={"version": 2}).json() == middle
    assert alice.get(f"/v1/cases/{cid}", params={"version": 9}).status_code == 404
    assert alice.get(f"/v1/cases/{cid}", params={"version": 0}).status_code == 422

    now = alice.get(f"/v1/cases/{cid}", params={"as_of": "2100-01-01T00:00:00Z"}).json()
    assert now["state"] == "denied"
    early = alice.get(f"/v1/cases/{cid}", params={"as_of": "2000-01-01T00:00:00Z"})
    assert early.status_code == 404
    naive = alice.get(f"/v1/cases/{cid}", params={"as_of": "2026-01-01T00:00:00"})
    assert naive.status_code == 422
    assert between  # the server's clock answered


def test_every_command_route_and_its_409(api) -> None:
    alice = api["owner"]
    cid = alice.post("/v1/credits", json=credit_body()).json()["id"]
    # on a new case, everything but submit/resolve/notes/evidence is refused with the list
    for action in ("follow_up", "record_response", "deny", "appeal", "escalate"):
        path, body = COMMANDS[action]
        refused = alice.post(f"/v1/cases/{cid}/{path}", json=body)
        assert refused.status_code == 409, (action, refused.text)
        problem = refused.json()
        assert problem["allowed_actions"] == ["submit", "resolve", "attach_evidence", "add_note"]
        assert problem["status"] == 409 and problem["type"].endswith("action-not-allowed")
    note = alice.post(f"/v1/cases/{cid}/notes", json={"text": "Called"})
    assert note.status_code == 200 and note.json()["notes_count"] == 1
    assert alice.get(f"/v1/cases/{cid}").json()["version"] == 2


def test_workflow_and_health(api) -> None:
    assert api["anonymous"].get("/healthz").json() == {"status": "ok"}
    # like every /v1 route, the lifecycle needs a key (any role)
    assert api["anonymous"].get("/v1/workflow").status_code == 401
    flow = api["auditor"].get("/v1/workflow").json()
    assert flow["states"][0] == "opened" and "stateDiagram-v2" in flow["mermaid"]


def test_unknown_routes_and_methods_are_problems(api) -> None:
    client = api["owner"]
    missing = client.get("/v1/nothing-here")
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM
    wrong = client.delete("/v1/credits")
    assert wrong.status_code == 405 and wrong.headers["content-type"] == PROBLEM
    no_case = client.get("/v1/cases/00000000-0000-0000-0000-000000000000")
    assert no_case.status_code == 404 and no_case.json()["status"] == 404
    bad_id = client.get("/v1/cases/not-a-uuid")
    assert bad_id.status_code == 422


def test_case_body_shows_derived_deadlines(api) -> None:
    alice = api["owner"]
    cid = alice.post("/v1/credits", json=credit_body(expires_on="2026-03-20")).json()["id"]
    case = alice.get(f"/v1/cases/{cid}").json()
    assert case["deadlines"]["expires_on"] == "2026-03-20"
    assert case["deadlines"]["follow_up_due"] is None
    submitted = alice.post(f"/v1/cases/{cid}/submit", json=COMMANDS["submit"][1]).json()
    assert submitted["deadlines"]["follow_up_due"] == "2026-03-16"  # temu: 3 days after the 13th
    answered = alice.post(
        f"/v1/cases/{cid}/responses", json={"message": "Looking into it", "occurred_at": when(14)}
    ).json()
    assert answered["deadlines"]["follow_up_due"] is None
    kinds = {item["kind"] for item in answered["deadlines"]["items"]}
    assert "expiry" in kinds
