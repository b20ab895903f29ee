"""Reading through the projections over HTTP: list, timeline, audit, verify, reports."""

from __future__ import annotations

import base64
import csv
import io

from tests.support.api_data import COMMANDS, credit_body, dispute_body, upload, when


def _open_credit(client, **overrides) -> str:
    response = client.post("/v1/credits", json=credit_body(**overrides))
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_list_reads_its_own_writes_and_is_scoped(api) -> None:
    alice, bob = api["owner"], api["other_member"]
    mine = [_open_credit(alice) for _ in range(3)]
    theirs = _open_credit(bob, platform="shein")
    foreign = _open_credit(api["foreign_member"])

    listed = alice.get("/v1/cases").json()["items"]
    assert sorted(i["id"] for i in listed) == sorted(mine)  # no wait: read-your-writes
    everyone = api["auditor"].get("/v1/cases").json()["items"]
    assert sorted(i["id"] for i in everyone) == sorted([*mine, theirs])
    assert foreign not in {i["id"] for i in everyone}
    assert [i["id"] for i in api["foreign_auditor"].get("/v1/cases").json()["items"]] == [foreign]
    assert api["anonymous"].get("/v1/cases").status_code == 401
    row = listed[0]
    assert row["amount_claimed"] == "25.00" and row["amount_recovered"] == "0.00"


def test_list_filters_sorts_and_pages(api) -> None:
    alice = api["owner"]
    ids = [_open_credit(alice, amount=f"{n}.00", occurred_at=when(1 + n)) for n in range(1, 8)]
    dispute = alice.post("/v1/disputes", json=dispute_body()).json()["id"]
    alice.post(f"/v1/cases/{ids[0]}/submit", json=COMMANDS["submit"][1])

    def ids_of(**params):
        response = alice.get("/v1/cases", params=params)
        assert response.status_code == 200, response.text
        return [i["id"] for i in response.json()["items"]]

    assert ids_of(kind="dispute") == [dispute]
    assert ids_of(state="submitted") == [ids[0]]
    assert ids_of(platform="tiktok") == [dispute]
    assert ids_of(sort="amount_claimed", kind="credit") == ids
    assert ids_of(sort="-amount_claimed", kind="credit") == ids[::-1]
    # ids[n] happened on the (n + 2)th: from the 3rd up to (not including) the 6th
    assert ids_of(opened_after=when(3), opened_before=when(6), sort="opened_at") == ids[1:4]
    assert ids_of(q="CAMPAIGN-042") == [dispute]

    seen, cursor = [], None
    while True:
        params = {"limit": 3, "sort": "opened_at", "kind": "credit"}
        if cursor:
            params["cursor"] = cursor
        page = alice.get("/v1/cases", params=params).json()
        seen += [i["id"] for i in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids

    for bad in (
        {"sort": "size"},
        {"limit": 0},
        {"limit": 501},
        {"cursor": "garbage"},
        {"state": "lost"},
        {"due_before": "tomorrow"},
    ):
        response = alice.get("/v1/cases", params=bad)
        assert response.status_code == 422, (bad, response.text)
        assert response.headers["content-type"] == "application/problem+json"


def test_timeline_reads_like_a_story(api) -> None:
    alice = api["owner"]
    cid = _open_credit(alice)
    alice.post(f"/v1/cases/{cid}/submit", json=COMMANDS["submit"][1])
    alice.post(f"/v1/cases/{cid}/follow-up", json=COMMANDS["follow_up"][1])
    alice.post(f"/v1/cases/{cid}/deny", json=COMMANDS["deny"][1])
    alice.post(
        f"/v1/cases/{cid}/escalate",
        json={
            "level": "consumer_agency",
            "contact": "state attorney general",
            "occurred_at": when(21),
        },
    )
    # recorded after the escalation but happened before it: the timeline puts it first
    alice.post(
        f"/v1/cases/{cid}/responses", json={"message": "We are looking", "occurred_at": when(17)}
    )
    items = alice.get(f"/v1/cases/{cid}/timeline").json()["items"]
    titles = [i["title"] for i in items]
    assert titles[1] == "Submitted via support ticket T-1001"
    assert titles[2] == "Followed up by email"
    assert "Escalated to consumer agency (state attorney general)" in titles[-1]
    assert [i["event_type"] for i in items] == [
        "opened",
        "submitted",
        "followed_up",
        "response_received",
        "denied",
        "escalated",
    ]
    assert all(i["recorded_differs"] for i in items[1:])  # all back-dated to March
    assert api["other_member"].get(f"/v1/cases/{cid}/timeline").status_code == 404
    assert api["auditor"].get(f"/v1/cases/{cid}/timeline").status_code == 200


def test_case_audit_json_and_csv(api) -> None:
    alice = api["owner"]
    cid = _open_credit(alice)
    alice.post(f"/v1/cases/{cid}/notes", json={"text": "called"}, headers={"X-Request-ID": "r-9"})
    audit = alice.get(f"/v1/cases/{cid}/audit").json()
    entries = audit["items"]
    assert [e["version"] for e in entries] == [1, 2]
    assert entries[1]["request_id"] == "r-9" and entries[1]["actor"] == "alice"
    assert entries[1]["payload"]["text"] == "called"
    assert audit["head"]["position"] >= entries[-1]["position"]
    assert len(base64.b64decode(audit["head"]["signature"])) == 64  # Ed25519
    as_csv = alice.get(f"/v1/cases/{cid}/audit", params={"format": "csv"})
    assert as_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [r["hash"] for r in rows] == [e["hash"] for e in entries]
    assert api["foreign_auditor"].get(f"/v1/cases/{cid}/audit").status_code == 404


def test_audit_events_and_verify(api) -> None:
    alice = api["owner"]
    cid = _open_credit(alice)
    _open_credit(api["other_member"])
    _open_credit(api["foreign_member"])
    mine = alice.get("/v1/audit/events").json()["items"]
    assert {e["case_id"] for e in mine} == {cid}
    workspace = api["auditor"].get("/v1/audit/events").json()["items"]
    assert len(workspace) == 2
    positions = [e["position"] for e in workspace]
    assert positions == sorted(positions)
    after = api["auditor"].get("/v1/audit/events", params={"after": positions[0]}).json()
    assert [e["position"] for e in after["items"]] == positions[1:]
    assert (
        api["auditor"].get("/v1/audit/events", params={"actor": "bob"}).json()["items"][0]["actor"]
        == "bob"
    )

    verdict = api["auditor"].get("/v1/audit/verify")
    assert verdict.status_code == 200, verdict.text
    assert verdict.json()["ok"] is True and verdict.json()["events_checked"] == 3
    assert alice.get("/v1/audit/verify").status_code == 403


def test_reports_match_numbers_computed_by_hand(api) -> None:
    alice = api["owner"]
    # temu credit 25.00: granted 25.00 after an appeal
    a = _open_credit(alice)
    for action in ("submit", "deny", "appeal"):
        alice.post(f"/v1/cases/{a}/{COMMANDS[action][0]}", json=COMMANDS[action][1])
    alice.post(f"/v1/cases/{a}/resolve", json=COMMANDS["resolve"][1])
    # tiktok dispute 120.00: partial 60.00 after escalation to a supervisor
    b = alice.post("/v1/disputes", json=dispute_body()).json()["id"]
    upload(alice, b)
    alice.post(f"/v1/cases/{b}/submit", json=COMMANDS["submit"][1])
    alice.post(f"/v1/cases/{b}/escalate", json=COMMANDS["escalate"][1])
    alice.post(
        f"/v1/cases/{b}/resolve",
        json={
            "outcome": "partial",
            "recovered_amount": "60.00",
            "recovered_form": "refund",
            "occurred_at": when(25),
        },
    )
    # temu credit 10.00, still open
    _open_credit(alice, amount="10.00")

    summary = alice.get("/v1/reports/summary").json()
    assert summary["cases"] == 3
    assert summary["by_state"]["resolved"] == 2 and summary["by_state"]["opened"] == 1
    assert summary["by_kind"] == {"credit": 2, "dispute": 1}
    assert summary["by_platform"] == {"temu": 2, "tiktok": 1}
    usd = summary["money"][0]
    # claimed by every case: 25 + 120 + 10; recovered 85 of the 145 claimed by resolved cases
    assert (usd["claimed"], usd["recovered"]) == ("155.00", "85.00")
    assert abs(usd["rate"] - 85 / 145) < 1e-4

    recovery = alice.get("/v1/reports/recovery", params={"group_by": "platform"}).json()
    by = {g["group"]: g for g in recovery["groups"]}
    assert (by["temu"]["claimed"], by["temu"]["recovered"]) == ("25.00", "25.00")
    assert (by["tiktok"]["claimed"], by["tiktok"]["recovered"]) == ("120.00", "60.00")
    assert alice.get("/v1/reports/recovery", params={"group_by": "colour"}).status_code == 422

    outcomes = alice.get("/v1/reports/outcomes").json()
    assert outcomes["appealed"]["granted"] == 1 and outcomes["appealed"]["cases"] == 1
    assert outcomes["escalated"]["supervisor"]["partial"] == 1
    assert outcomes["neither"] == {
        "cases": 1,
        "granted": 0,
        "partial": 0,
        "rejected": 0,
        "withdrawn": 0,
        "open": 1,
    }

    timeliness = {p["platform"]: p for p in alice.get("/v1/reports/timeliness").json()["platforms"]}
    temu = timeliness["temu"]
    # credit a: submitted on the 13th, denied on the 18th (5 days; temu allows 3);
    # appealed on the 19th, resolved on the 25th (6 days)
    assert temu["after"]["submission"] == {
        "contacts": 1,
        "answered": 1,
        "answer_rate": 1.0,
        "median_days_to_answer": 5.0,
        "share_answered_within_interval": 0.0,
    }
    assert temu["after"]["appeal"]["median_days_to_answer"] == 6.0
    tiktok = timeliness["tiktok"]
    # dispute b: submitted on the 13th, escalated on the 20th without an answer; resolved
    # on the 25th (5 days after the escalation; tiktok allows 5)
    assert tiktok["after"]["submission"]["answered"] == 0
    assert tiktok["after"]["escalation"]["share_answered_within_interval"] == 1.0

    others = api["other_member"].get("/v1/reports/summary").json()
    assert others["cases"] == 0 and others["money"] == []


def test_a_read_right_after_a_command_sees_it(api) -> None:
    """Projections commit with the events: no position to wait for, no lag."""
    alice = api["owner"]
    for _ in range(5):
        created = alice.post("/v1/credits", json=credit_body())
        case_id = created.json()["id"]
        assert "Reclaim-Position" in created.headers
        listed = alice.get("/v1/cases", params={"limit": 500}).json()["items"]
        assert case_id in {item["id"] for item in listed}
        assert len(alice.get(f"/v1/cases/{case_id}/timeline").json()["items"]) == 1
    assert alice.get("/v1/reports/summary").json()["cases"] == 5
    assert alice.get("/v1/cases", params={"min_position": 1}).status_code == 200  # ignored


def test_deadlines_in_the_list_and_the_summary(api) -> None:
    from datetime import UTC, datetime, timedelta

    def ago(days: float) -> str:
        return (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="seconds")

    def ahead(days: int) -> str:
        return (datetime.now(UTC) + timedelta(days=days)).date().isoformat()

    alice = api["owner"]
    late = _open_credit(alice, earned_on=None, expires_on=None, occurred_at=ago(20))
    alice.post(f"/v1/cases/{late}/submit", json={**COMMANDS["submit"][1], "occurred_at": ago(10)})
    expiring = _open_credit(alice, earned_on=None, expires_on=ahead(3), occurred_at=ago(1))
    calm = _open_credit(alice, earned_on=None, expires_on=ahead(90), occurred_at=ago(1))

    rows = {i["id"]: i for i in alice.get("/v1/cases").json()["items"]}
    assert rows[late]["next_deadline"].startswith(
        (datetime.now(UTC) - timedelta(days=7)).date().isoformat()
    )  # temu: 3 days after
    due_soon = alice.get("/v1/cases", params={"due_before": ago(-8)}).json()["items"]
    assert {i["id"] for i in due_soon} == {late, expiring}
    assert calm not in {i["id"] for i in due_soon}

    summary = alice.get("/v1/reports/summary").json()
    assert [o["case_id"] for o in summary["overdue_follow_ups"]] == [late]
    assert summary["overdue_follow_ups"][0]["days_overdue"] == 7
    assert [e["case_id"] for e in summary["credits_expiring_soon"]] == [expiring]


def test_the_summary_reads_only_the_most_urgent_deadlines(api, monkeypatch) -> None:
    """However many cases are overdue, the summary reads a bounded number of them (most
    overdue first) and says when its lists are not complete; reminders list them all."""
    from datetime import UTC, datetime, timedelta

    from api.http.routers import reports

    def ago(days: float) -> str:
        return (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="seconds")

    monkeypatch.setattr(reports, "SUMMARY_DEADLINE_CASES", 2)
    alice = api["owner"]
    late = []
    for days in (30, 20, 10):
        case = _open_credit(alice, earned_on=None, expires_on=None, occurred_at=ago(days + 1))
        submit = {**COMMANDS["submit"][1], "occurred_at": ago(days)}
        assert alice.post(f"/v1/cases/{case}/submit", json=submit).status_code == 200
        late.append(case)
    summary = alice.get("/v1/reports/summary").json()
    assert [o["case_id"] for o in summary["overdue_follow_ups"]] == late[:2]
    assert summary["deadlines_complete"] is False
    reminders = alice.get("/v1/reminders").json()
    assert set(late) <= {r["case_id"] for r in reminders["items"]}
    monkeypatch.setattr(reports, "SUMMARY_DEADLINE_CASES", 20)
    assert alice.get("/v1/reports/summary").json()["deadlines_complete"] is True
