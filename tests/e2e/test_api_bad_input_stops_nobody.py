"""Bad input that once stopped everyone, and the contract fixes found by trying Reclaim as a
new user would: each answered with its own 4xx, nothing recorded, nobody else affected.

Every test runs on both stores (the ``api`` fixture is parametrised by store)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from uuid import UUID

import pytest

from domain.cases import Case
from infrastructure.store.application import ReclaimApplication
from tests.support.api_checks import assert_problem, stored_events
from tests.support.api_data import PNG, credit_body, dispute_body, upload, when

NUL = "nul\x00byte"
SURROGATE_JSON = b'"lone \\ud800 surrogate"'


def _json_with(body: dict, field: str, raw_value: bytes) -> bytes:
    """A JSON body whose ``field`` holds ``raw_value`` as written (json.dumps cannot write a
    lone surrogate escape the way an attacker can)."""
    encoded = json.dumps({**body, field: "PLACEHOLDER"}).encode()
    return encoded.replace(b'"PLACEHOLDER"', raw_value)


def _list_ids(client) -> list[str]:
    return [item["id"] for item in client.get("/v1/cases").json()["items"]]


# --- 1. text no store can keep ---------------------------------------------------------------
@pytest.mark.parametrize("raw", [json.dumps(NUL).encode(), SURROGATE_JSON])
def test_unstorable_text_in_an_opening_is_refused_and_nothing_opened(api, raw) -> None:
    owner = api["owner"]
    for path, body in (("/v1/credits", credit_body()), ("/v1/disputes", dispute_body())):
        response = owner.post(
            path,
            content=_json_with(body, "account_reference", raw),
            headers={"content-type": "application/json"},
        )
        assert_problem(response, 422, "account_reference")
    assert _list_ids(owner) == []


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("notes", {"text": NUL}, "text"),
        ("submit", {"channel": "email", "reference": NUL}, "reference"),
        ("submit", {"channel": "email", "message": NUL}, "message"),
        ("deny", {"reason": NUL}, "reason"),
    ],
)
def test_unstorable_text_in_a_command_is_refused(api, settings, path, body, field) -> None:
    owner = api["owner"]
    cid = owner.post("/v1/credits", json=credit_body()).json()["id"]
    if path == "deny":
        owner.post(f"/v1/cases/{cid}/submit", json={"channel": "email", "occurred_at": when(13)})
    before = len(stored_events(settings, cid))
    assert_problem(owner.post(f"/v1/cases/{cid}/{path}", json=body), 422, field)
    assert len(stored_events(settings, cid)) == before


def test_unstorable_text_in_an_evidence_upload_is_refused(api, settings) -> None:
    owner = api["owner"]
    cid = owner.post("/v1/disputes", json=dispute_body()).json()["id"]
    described = owner.post(
        f"/v1/cases/{cid}/evidence",
        files={"file": ("report.png", PNG, "image/png")},
        data={"kind": "screenshot", "description": NUL},
    )
    assert_problem(described, 422, "description")
    # written by hand: httpx would percent-encode the NUL in a filename
    boundary = "reclaim-test-boundary"
    raw = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="kind"\r\n\r\nscreenshot\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{NUL}.png"'
            f"\r\nContent-Type: image/png\r\n\r\n"
        ).encode()
        + PNG
        + f"\r\n--{boundary}--\r\n".encode()
    )
    named = owner.post(
        f"/v1/cases/{cid}/evidence",
        content=raw,
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert_problem(named, 422, "filename")
    assert len(stored_events(settings, cid)) == 1


def test_one_users_bad_text_never_reaches_another_users_list(api) -> None:
    """The PostgreSQL outage this came from: a NUL in one workspace's case stalled the
    projections, so the next case of another workspace never showed in its list."""
    api["owner"].post("/v1/credits", json=credit_body(account_reference=NUL))
    foreign = api["foreign_member"]
    cid = foreign.post("/v1/credits", json=credit_body()).json()["id"]
    assert _list_ids(foreign) == [cid]
    ready = api["anonymous"].get("/readyz")
    assert ready.status_code == 200, ready.text


def test_an_old_event_holding_a_nul_does_not_stall_projections(api, settings) -> None:
    """A log written before NUL was refused may hold one: the projections show it as U+FFFD
    and go on, and a case opened after it is listed."""
    app = ReclaimApplication(settings)
    try:
        owner_key = api.keys["owner"]
        principal = app.keys.authenticate(owner_key)
        assert principal is not None
        cid = api["owner"].post("/v1/credits", json=credit_body()).json()["id"]
        case: Case = app.get_case(UUID(cid))
        # the event method itself, past the command's checks, as old code would have recorded it
        case._note_added(text="old\x00note", actor=principal.user_id, request_id="legacy")
        app.save(case)
    finally:
        app.close()
    later = api["owner"].post("/v1/credits", json=credit_body()).json()["id"]
    assert later in _list_ids(api["owner"])
    timeline = api["owner"].get(f"/v1/cases/{cid}/timeline").json()["items"]
    assert any("old\ufffdnote" in json.dumps(e, ensure_ascii=False) for e in timeline)
    assert api["anonymous"].get("/readyz").status_code == 200


# --- 2. one bad GET never trips the breaker for everyone ----------------------------------------
@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/v1/cases?q=a%00b", "q"),
        ("/v1/cases?platform=te%00mu", "platform"),
        ("/v1/audit/events?actor=al%00ice", "actor"),
    ],
)
def test_a_nul_in_a_query_is_a_4xx_and_the_breaker_stays_shut(api, path, field) -> None:
    caller = api["auditor"] if "audit" in path else api["owner"]
    assert_problem(caller.get(path), 422, field)
    # at once, from another workspace: not turned away by a tripped breaker
    other = api["foreign_member"].get("/v1/cases")
    assert other.status_code == 200, other.text


# --- 5. times that overflow in UTC ------------------------------------------------------------
OVERFLOWING = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"]


@pytest.mark.parametrize("moment", [*OVERFLOWING, "1969-07-20T20:17:00+00:00"])
def test_times_outside_1970_to_2200_are_422_everywhere(api, settings, moment) -> None:
    owner = api["owner"]
    assert_problem(
        owner.post("/v1/credits", json=credit_body(occurred_at=moment, earned_on=None)),
        422,
        "occurred_at",
    )
    cid = owner.post("/v1/credits", json=credit_body()).json()["id"]
    assert_problem(
        owner.post(f"/v1/cases/{cid}/submit", json={"channel": "email", "occurred_at": moment}),
        422,
        "occurred_at",
    )
    for name in ("opened_after", "opened_before", "due_before"):
        assert_problem(owner.get("/v1/cases", params={name: moment}), 422, name)
    assert_problem(owner.get(f"/v1/cases/{cid}", params={"as_of": moment}), 422, "as_of")
    assert len(stored_events(settings, cid)) == 1


# --- 6. the small ones ------------------------------------------------------------------------
def test_an_overlong_multipart_boundary_is_a_4xx(api) -> None:
    owner = api["owner"]
    cid = owner.post("/v1/disputes", json=dispute_body()).json()["id"]
    boundary = "b" * 300
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="kind"\r\n\r\nscreenshot\r\n'
        f"--{boundary}--\r\n"
    ).encode()
    response = owner.post(
        f"/v1/cases/{cid}/evidence",
        content=body,
        headers={"content-type": f"multipart/form-data; boundary={boundary}"},
    )
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("media_type", ["text/plain", "text/csv"])
def test_an_empty_file_is_refused_and_proves_nothing(api, settings, media_type) -> None:
    owner = api["owner"]
    cid = owner.post("/v1/disputes", json=dispute_body()).json()["id"]
    problem = assert_problem(
        upload(owner, cid, data=b"", media_type=media_type, filename="empty.txt"), 422, "file"
    )
    assert "empty" in problem["detail"]
    submit = owner.post(f"/v1/cases/{cid}/submit", json={"channel": "ads_manager"})
    assert submit.status_code == 409 and submit.json()["missing"] == ["evidence"]
    assert len(stored_events(settings, cid)) == 1


def test_a_key_named_twice_in_json_is_refused(api) -> None:
    raw = (
        b'{"platform":"temu","credit_type":"store","amount":"25.00","currency":"USD",'
        b'"problem":"expired","remedy":"reinstate","amount":"99999.00"}'
    )
    response = api["owner"].post(
        "/v1/credits", content=raw, headers={"content-type": "application/json"}
    )
    problem = assert_problem(response, 422)
    assert "duplicate key 'amount'" in problem["detail"]
    assert _list_ids(api["owner"]) == []


def test_reusing_an_idempotency_key_on_a_foreign_case_says_nothing_about_it(api) -> None:
    owner, intruder = api["owner"], api["foreign_member"]
    cid = owner.post("/v1/credits", json=credit_body()).json()["id"]
    mine = intruder.post("/v1/credits", json=credit_body()).json()["id"]
    key = {"Idempotency-Key": "k-1"}
    assert intruder.post(f"/v1/cases/{mine}/notes", json={"text": "a"}, headers=key).is_success
    on_foreign = intruder.post(f"/v1/cases/{cid}/notes", json={"text": "a"}, headers=key)
    on_nothing = intruder.post(
        "/v1/cases/00000000-0000-4000-8000-000000000000/notes", json={"text": "a"}, headers=key
    )
    assert on_foreign.status_code == on_nothing.status_code == 404
    assert on_foreign.json()["type"] == on_nothing.json()["type"]


def test_verify_says_it_checks_the_whole_log(api) -> None:
    api["foreign_member"].post("/v1/credits", json=credit_body())
    result = api["auditor"].get("/v1/audit/verify").json()
    assert result["ok"] is True
    assert result["scope"] == "whole_log"
    assert result["events_checked"] == 1  # the other workspace's event, counted as said


def test_the_workflow_needs_a_key_like_every_v1_route(api) -> None:
    assert api["anonymous"].get("/v1/workflow").status_code == 401
    assert api["revoked"].get("/v1/workflow").status_code == 401
    assert api["auditor"].get("/v1/workflow").json()["states"][0] == "opened"


def test_bidi_controls_are_taken_out_of_filenames(api) -> None:
    owner = api["owner"]
    cid = owner.post("/v1/disputes", json=dispute_body()).json()["id"]
    created = upload(owner, cid, filename="invoice\u202egnp.exe").json()
    assert created["filename"] == "invoicegnp.exe"
    download = owner.get(f"/v1/cases/{cid}/evidence/{created['id']}")
    assert "%E2%80%AE" not in download.headers["content-disposition"]


# --- 7. occurred_at is optional on every command ----------------------------------------------
def test_occurred_at_left_out_is_the_time_it_is_recorded(api) -> None:
    owner = api["owner"]
    cid = owner.post("/v1/credits", json=credit_body(occurred_at=None, earned_on=None)).json()["id"]
    before = datetime.now(UTC)
    for path, body in (
        ("submit", {"channel": "support_ticket"}),
        ("follow-up", {"channel": "email"}),
        ("responses", {"message": "We are looking into it"}),
        ("deny", {"reason": "Expired"}),
        ("appeal", {"grounds": "Never shown"}),
        ("escalate", {"level": "supervisor"}),
        ("resolve", {"outcome": "withdrawn"}),
    ):
        response = owner.post(f"/v1/cases/{cid}/{path}", json=body)
        assert response.status_code == 200, (path, response.text)
    entries = owner.get(f"/v1/cases/{cid}/timeline").json()["items"]
    assert len(entries) == 8
    for entry in entries:
        occurred = datetime.fromisoformat(entry["occurred_at"])
        assert occurred >= before.replace(microsecond=0) or entry["event_type"] == "opened"


def test_notes_and_evidence_take_when_they_happened(api) -> None:
    """A note of a phone call, or a screenshot taken weeks ago, dates itself on the timeline;
    left out, it is dated when recorded."""
    owner = api["owner"]
    cid = owner.post("/v1/disputes", json=dispute_body(occurred_at=when(3))).json()["id"]
    noted = owner.post(
        f"/v1/cases/{cid}/notes", json={"text": "Phoned support", "occurred_at": when(5)}
    )
    assert noted.status_code == 200, noted.text
    screenshot = owner.post(
        f"/v1/cases/{cid}/evidence",
        files={"file": ("ads.png", PNG, "image/png")},
        data={"kind": "screenshot", "occurred_at": when(4)},
    )
    assert screenshot.status_code == 201, screenshot.text
    owner.post(f"/v1/cases/{cid}/notes", json={"text": "written today"})
    entries = owner.get(f"/v1/cases/{cid}/timeline").json()["items"]
    assert [e["event_type"] for e in entries] == [
        "opened",
        "evidence_attached",
        "note_added",
        "note_added",
    ]
    assert [e["occurred_at"][:10] for e in entries[:3]] == [
        "2026-03-03",
        "2026-03-04",
        "2026-03-05",
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [("yesterday", "date"), ("2026-03-04T10:00:00", "timezone"), ("2026-03-01T00:00:00Z", "")],
)
def test_an_evidence_time_that_cannot_be_is_refused(api, value: str, message: str) -> None:
    owner = api["owner"]
    cid = owner.post("/v1/disputes", json=dispute_body(occurred_at=when(3))).json()["id"]
    refused = owner.post(
        f"/v1/cases/{cid}/evidence",
        files={"file": ("ads.png", PNG, "image/png")},
        data={"kind": "screenshot", "occurred_at": value},
    )
    assert refused.status_code == 422, refused.text
    assert "occurred_at" in refused.text and message in refused.text.lower()
    assert owner.get(f"/v1/cases/{cid}").json()["evidence"] == []


# --- 8. nothing happens before the case was opened -------------------------------------------
def test_a_step_before_the_opening_is_refused_naming_the_opening(api, settings) -> None:
    owner = api["owner"]
    opened = "2026-03-12T09:00:00+00:00"
    cid = owner.post("/v1/credits", json=credit_body(occurred_at=opened)).json()["id"]
    response = owner.post(
        f"/v1/cases/{cid}/submit",
        json={"channel": "email", "occurred_at": "2026-03-11T09:00:00+00:00"},
    )
    problem = assert_problem(response, 422)
    assert problem["type"].endswith("occurred-before-case")
    assert "2026-03-12T09:00:00+00:00" in problem["detail"]
    assert len(stored_events(settings, cid)) == 1


def test_the_timeline_reads_in_causal_order(api) -> None:
    owner = api["owner"]
    cid = owner.post("/v1/credits", json=credit_body()).json()["id"]
    owner.post(f"/v1/cases/{cid}/submit", json={"channel": "email", "occurred_at": when(13)})
    owner.post(
        f"/v1/cases/{cid}/resolve",
        json={"outcome": "rejected", "occurred_at": when(20)},
    )
    titles = [e["event_type"] for e in owner.get(f"/v1/cases/{cid}/timeline").json()["items"]]
    assert titles == ["opened", "submitted", "resolved"]


def test_the_month_chart_counts_openings_and_resolutions_on_one_time_axis(api, settings) -> None:
    """Both columns count when things happened (occurred_at), so nothing is resolved in a
    month before it was opened."""
    from infrastructure.read.report_sources import load_report_data

    owner = api["owner"]
    body = credit_body(occurred_at="2026-03-12T09:00:00Z")
    cid = owner.post("/v1/credits", json=body).json()["id"]
    owner.post(f"/v1/cases/{cid}/submit", json={"occurred_at": "2026-03-13T09:00:00Z"})
    resolved = owner.post(
        f"/v1/cases/{cid}/resolve",
        json={"outcome": "rejected", "occurred_at": "2026-05-02T09:00:00Z"},
    )
    assert resolved.status_code == 200, resolved.text
    reclaim = ReclaimApplication(settings)
    try:
        months = load_report_data(reclaim, "home", "alice")["by_month"]
    finally:
        reclaim.close()
    assert months == [
        {"month": "2026-03", "opened": 1, "resolved": 0},
        {"month": "2026-04", "opened": 0, "resolved": 0},
        {"month": "2026-05", "opened": 0, "resolved": 1},
    ]


# --- 9. a case body fits its kind ---------------------------------------------------------------
CREDIT_ONLY = {"credit_type", "amount", "problem", "remedy", "earned_on", "expires_on"}
DISPUTE_ONLY = {"charge_reference", "charged_amount", "refund_amount", "reason", "charged_on"}


def test_a_case_body_carries_only_its_own_kinds_facts(api) -> None:
    owner = api["owner"]
    credit = owner.post("/v1/credits", json=credit_body()).json()
    dispute = owner.post("/v1/disputes", json=dispute_body()).json()
    assert set(credit) >= CREDIT_ONLY and not DISPUTE_ONLY & set(credit)
    assert set(dispute) >= DISPUTE_ONLY and not CREDIT_ONLY & set(dispute)
    again = owner.get(f"/v1/cases/{credit['id']}").json()
    assert not DISPUTE_ONLY & set(again)
    schema = owner.get("/openapi.json").json()
    answer = schema["paths"]["/v1/cases/{case_id}"]["get"]["responses"]["200"]
    shape = answer["content"]["application/json"]["schema"]
    assert shape["discriminator"]["propertyName"] == "kind"
    assert set(shape["discriminator"]["mapping"]) == {"credit", "dispute"}


def test_a_projection_that_cannot_take_an_event_records_nothing(api, monkeypatch) -> None:
    """Inline, a command and its read rows commit together: when a projection fails, the
    command fails whole (a problem, nothing recorded), and the next one works."""
    from infrastructure.projections.timeline import Timeline

    owner = api["owner"]
    before = owner.get("/v1/cases").json()["items"]
    original = Timeline.apply

    def broken(self, cursor, batch):
        raise RuntimeError("timeline cannot take this event")

    monkeypatch.setattr(Timeline, "apply", broken)
    # uvicorn closes a connection whose request raised: do not reuse it
    response = owner.post("/v1/credits", json=credit_body(), headers={"Connection": "close"})
    assert response.status_code >= 500
    assert response.headers["content-type"].startswith("application/problem+json")
    assert owner.get("/v1/cases").json()["items"] == before
    monkeypatch.setattr(Timeline, "apply", original)
    assert owner.post("/v1/credits", json=credit_body()).status_code == 201
    assert api["anonymous"].get("/readyz").status_code == 200
