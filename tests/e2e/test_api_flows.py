"""Both seed flows and every case route, through real HTTP, on both stores."""

from __future__ import annotations

from tests.support.api_checks import PROBLEM
from tests.support.api_data import COMMANDS, credit_body, when
from tests.support.seed_flows import temu_credit_flow, tiktok_dispute_flow


def test_temu_credit_seed_flow(api) -> None:
    temu_credit_flow(api["owner"])


def test_tiktok_dispute_seed_flow(api) -> None:
    tiktok_dispute_flow(api["owner"])


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
