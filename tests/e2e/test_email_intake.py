"""E-mail intake: saved messages become the platform's answer (or the user's own mail)
at the time they were sent, kept whole as evidence with their attachments; both seed
flows driven with drafted messages and forwarded replies, on both stores.
Reading mail without a store: tests/unit/test_mail_reading.py; the command line:
tests/integration/test_email_cli.py."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

from tests.support.api_data import PNG, credit_body, dispute_body, upload, when
from tests.support.mail import eml

PROBLEM = "application/problem+json"


def send(client, case_id: str, name: str, raw: bytes | None = None, **fields: str):
    return client.post(
        f"/v1/cases/{case_id}/emails",
        files={"file": (name, raw if raw is not None else eml(name), "message/rfc822")},
        data=fields,
    )


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def submitted_credit(alice) -> str:
    cid = alice.post("/v1/credits", json=credit_body()).json()["id"]
    body = {"channel": "email", "reference": "T-1001", "message": "Hi", "occurred_at": when(13)}
    assert alice.post(f"/v1/cases/{cid}/submit", json=body).status_code == 200
    return cid


def submitted_dispute(alice) -> str:
    cid = alice.post("/v1/disputes", json=dispute_body()).json()["id"]
    upload(alice, cid)
    body = {"channel": "ads_manager", "reference": "TT-1", "message": "Hi", "occurred_at": when(13)}
    assert alice.post(f"/v1/cases/{cid}/submit", json=body).status_code == 200
    return cid


# --- over HTTP -------------------------------------------------------------------------------
def test_a_reply_with_a_pdf_is_the_platforms_answer_at_its_date(api) -> None:
    alice = api["owner"]
    cid = submitted_credit(alice)
    raw = eml("temu_reply_alternative_pdf.eml")
    answer = send(alice, cid, "temu_reply_alternative_pdf.eml")
    assert answer.status_code == 201, answer.text
    got = answer.json()
    assert got["recorded"] and got["direction"] == "from_platform"
    assert got["action"] == "record_response" and not got["forwarded"]
    assert utc(got["occurred_at"]) == datetime(2026, 3, 17, 10, 12, 4, tzinfo=UTC)
    assert got["message_id"] == "<20260317101204.7f3a.T-1001@mail.temu.com>"
    assert len(got["evidence_ids"]) == 2

    case = alice.get(f"/v1/cases/{cid}").json()
    evidence = {e["id"]: e for e in case["evidence"]}
    message, pdf = (evidence[i] for i in got["evidence_ids"])
    assert message["sha256"] == hashlib.sha256(raw).hexdigest()
    assert message["media_type"] == "message/rfc822" and message["kind"] == "email"
    assert "Message-ID <20260317101204.7f3a.T-1001@mail.temu.com>" in message["description"]
    assert pdf["filename"] == "credit-statement.pdf" and pdf["media_type"] == "application/pdf"
    kept = alice.get(f"/v1/cases/{cid}/evidence/{pdf['id']}").content
    assert kept.startswith(b"%PDF-") and hashlib.sha256(kept).hexdigest() == pdf["sha256"]
    assert alice.get(f"/v1/cases/{cid}/evidence/{message['id']}").content == raw

    timeline = alice.get(f"/v1/cases/{cid}/timeline").json()["items"]
    reply = next(i for i in timeline if i["event_type"] == "response_received")
    assert reply["title"] == "Platform responded"
    assert utc(reply["occurred_at"]) == datetime(2026, 3, 17, 10, 12, 4, tzinfo=UTC)
    assert reply["details"].startswith("E-mail: Re: [Ticket T-1001] Expired store credit\n\n")
    assert "we can extend the credit by 30 days" in reply["details"]

    again = send(alice, cid, "temu_reply_alternative_pdf.eml")
    assert again.status_code == 200 and again.json()["recorded"] is False
    assert "nothing new" in again.json()["detail"]
    assert alice.get(f"/v1/cases/{cid}").json()["version"] == case["version"]


def test_a_forwarded_reply_counts_as_the_platforms_at_the_time_it_sent_it(api) -> None:
    alice = api["owner"]
    cid = submitted_dispute(alice)
    answer = send(alice, cid, "tiktok_forwarded_thread.eml")
    assert answer.status_code == 201, answer.text
    got = answer.json()
    assert got["forwarded"] and got["direction"] == "from_platform"
    assert utc(got["occurred_at"]) == datetime(2026, 3, 20, 23, 5, tzinfo=UTC)
    assert got["subject"] == "Your refund request for campaign CAMPAIGN-042"
    timeline = alice.get(f"/v1/cases/{cid}/timeline").json()["items"]
    reply = next(i for i in timeline if i["event_type"] == "response_received")
    assert "serving fault on our side" in reply["details"]
    assert "Keeping this for the dispute" not in reply["details"]


def test_latin1_mail_and_the_same_mail_forwarded_as_an_attachment(api) -> None:
    alice = api["owner"]
    cid = submitted_credit(alice)
    first = send(alice, cid, "temu_latin1.eml")
    assert first.status_code == 201, first.text
    timeline = alice.get(f"/v1/cases/{cid}/timeline").json()["items"]
    reply = next(i for i in timeline if i["event_type"] == "response_received")
    assert "Réponse à votre demande de crédit" in reply["details"]
    assert "votre crédit expiré" in reply["details"]
    stored = alice.get(f"/v1/cases/{cid}/evidence/{first.json()['evidence_ids'][0]}")
    assert stored.content == eml("temu_latin1.eml")

    forwarded = send(alice, cid, "temu_forwarded_as_attachment.eml")
    assert forwarded.status_code == 200 and forwarded.json()["recorded"] is False
    assert forwarded.json()["message_id"] == "<fr-5521@service.temu.com>"


def test_the_users_own_mail_is_an_outbound_follow_up(api) -> None:
    alice = api["owner"]
    cid = submitted_credit(alice)
    answer = send(alice, cid, "temu_sent_follow_up.eml")
    assert answer.status_code == 201, answer.text
    assert answer.json()["direction"] == "to_platform" and answer.json()["action"] == "follow_up"
    case = alice.get(f"/v1/cases/{cid}").json()
    assert case["state"] == "followed_up"
    timeline = alice.get(f"/v1/cases/{cid}/timeline").json()["items"]
    sent = next(i for i in timeline if i["event_type"] == "followed_up")
    assert sent["title"] == "Followed up by email"
    assert "{{ 7*7 }}" in sent["details"] and "49" not in sent["details"]
    assert utc(sent["occurred_at"]) == datetime(2026, 3, 16, 9, tzinfo=UTC)


def test_direction_from_the_form_and_when_it_cannot_be_guessed(api) -> None:
    alice = api["owner"]
    cid = submitted_credit(alice)
    raw = eml("temu_latin1.eml").replace(b"service@temu.com", b"helpdesk@outsourced.example")
    unknown = send(alice, cid, "x.eml", raw)
    assert unknown.status_code == 422 and unknown.headers["content-type"] == PROBLEM
    assert "direction" in unknown.json()["detail"]
    told = send(alice, cid, "x.eml", raw, direction="from_platform")
    assert told.status_code == 201 and told.json()["action"] == "record_response"
    assert send(alice, cid, "x.eml", raw, direction="sideways").status_code == 422


@pytest.mark.parametrize(
    ("name", "raw", "status", "words"),
    [
        ("missing_date.eml", None, 422, "no Date header"),
        ("malformed.eml", None, 422, "not an e-mail"),
        ("empty.eml", b"", 422, "empty"),
        ("bad-date.eml", b"From: a@temu.com\r\nDate: someday\r\n\r\nhi\r\n", 422, "not a date"),
    ],
)
def test_bad_mail_is_refused_and_records_nothing(api, name, raw, status, words) -> None:
    alice = api["owner"]
    cid = submitted_credit(alice)
    version = alice.get(f"/v1/cases/{cid}").json()["version"]
    answer = send(alice, cid, name, raw)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == PROBLEM
    assert words in answer.json()["detail"] and "nothing was recorded" in answer.json()["detail"]
    assert alice.get(f"/v1/cases/{cid}").json()["version"] == version


def test_the_platforms_mail_before_the_submission_is_kept_but_answers_nothing(api) -> None:
    alice = api["owner"]
    cid = alice.post("/v1/credits", json=credit_body()).json()["id"]
    # TEMU's notice that the credit expires: sent on 2 March, before the case was opened
    notice = send(alice, cid, "temu_notice_before_claim.eml")
    assert notice.status_code == 201, notice.text
    kept = notice.json()
    assert kept["direction"] == "from_platform" and kept["action"] == "add_note"
    assert utc(kept["occurred_at"]) == datetime(2026, 3, 2, 8, tzinfo=UTC)
    assert "before the claim was submitted" in kept["detail"]
    assert "not counted as the platform's answer" in kept["detail"]
    case = alice.get(f"/v1/cases/{cid}").json()
    assert case["state"] == "opened" and case["responses"] == 0 and case["notes_count"] == 1
    assert case["deadlines"]["follow_up_due"] is None
    (evidence,) = case["evidence"]
    assert evidence["id"] == kept["evidence_ids"][0] and evidence["kind"] == "email"
    assert evidence["sha256"] == hashlib.sha256(eml("temu_notice_before_claim.eml")).hexdigest()
    assert evidence["description"].startswith("E-mail (before the claim was submitted) from")
    # older than the case: on the timeline when it was taken in, its own Date in the note
    timeline = alice.get(f"/v1/cases/{cid}/timeline").json()["items"]
    note = next(i for i in timeline if i["event_type"] == "note_added")
    assert utc(note["occurred_at"]) > utc(case["opened_at"])
    assert "sent 2026-03-02T08:00:00+00:00, before the claim was submitted" in note["details"]
    assert "expires on 10 March 2026" in note["details"]

    # a reply after the opening but before the submission: kept at its own Date
    later = eml("temu_reply_html_only.eml").replace(b"Tue, 17 Mar 2026", b"Thu, 12 Mar 2026")
    reply = send(alice, cid, "later.eml", later)
    assert reply.status_code == 201 and reply.json()["action"] == "add_note", reply.text
    assert utc(reply.json()["occurred_at"]) == datetime(2026, 3, 12, 10, 12, 4, tzinfo=UTC)
    assert send(alice, cid, "later.eml", later).status_code == 200  # the same Message-ID
    case = alice.get(f"/v1/cases/{cid}").json()
    assert case["state"] == "opened" and case["responses"] == 0 and len(case["evidence"]) == 2
    assert "submit" in case["allowed_actions"]

    # submitted: the platform's mail is its answer again, and none may predate the case
    body = {"channel": "email", "reference": "T-1", "message": "x", "occurred_at": when(13)}
    assert alice.post(f"/v1/cases/{cid}/submit", json=body).status_code == 200
    answer = send(alice, cid, "temu_reply_alternative_pdf.eml")
    assert answer.status_code == 201 and answer.json()["action"] == "record_response"
    raw = eml("temu_latin1.eml").replace(b"Wed, 18 Mar 2026", b"Wed, 18 Mar 2020")
    early = send(alice, cid, "early.eml", raw)
    assert early.status_code == 422 and "before the case was opened" in early.json()["detail"]
    case = alice.get(f"/v1/cases/{cid}").json()
    assert case["responses"] == 1 and len(case["evidence"]) == 4  # the reply and its PDF


def test_only_the_owner_may_send_mail_to_a_case(api) -> None:
    cid = submitted_credit(api["owner"])
    assert send(api["auditor"], cid, "temu_latin1.eml").status_code == 403
    assert send(api["other_member"], cid, "temu_latin1.eml").status_code == 404
    assert send(api["foreign_member"], cid, "temu_latin1.eml").status_code == 404
    assert send(api["anonymous"], cid, "temu_latin1.eml").status_code == 401


@pytest.fixture
def small_api(store, settings_for):
    from infrastructure.store.application import ReclaimApplication
    from tests.support.live import Principals, live_server

    settings = settings_for(store, max_upload_bytes=2000)
    setup = ReclaimApplication(settings)
    key, _ = setup.keys.create("alice", "home", "member")
    setup.close()
    with live_server(settings) as base_url:
        principals = Principals(base_url, {"owner": key})
        try:
            yield principals
        finally:
            principals.close()


def test_oversize_mail_is_413_and_records_nothing(small_api) -> None:
    alice = small_api["owner"]
    cid = submitted_credit(alice)
    big = eml("temu_latin1.eml") + b"x" * 3000 + b"\r\n"
    answer = send(alice, cid, "big.eml", big)
    assert answer.status_code == 413 and answer.headers["content-type"] == PROBLEM
    huge = send(alice, cid, "huge.eml", eml("temu_latin1.eml") + b"y" * 200_000)
    assert huge.status_code == 413
    assert alice.get(f"/v1/cases/{cid}").json()["version"] == 2


# --- both seed flows, driven by drafts and mail ----------------------------------------------
def _draft(client, cid: str, step: str, level: str | None = None) -> dict:
    items = client.get(f"/v1/cases/{cid}/drafts").json()["items"]
    return next(i for i in items if i["step"] == step and i["level"] == level)


def test_temu_seed_flow_with_drafts_and_mail(api) -> None:
    alice = api["owner"]
    cid = alice.post("/v1/credits", json=credit_body()).json()["id"]
    upload(alice, cid)
    alice.post(f"/v1/cases/{cid}/notes", json={"text": "I was in hospital until 9 March"})
    first = _draft(alice, cid, "submit")
    sent = alice.post(
        f"/v1/cases/{cid}/submit",
        json={
            "channel": first["channel"],
            "reference": "T-1001",
            "message": first["body"],
            "occurred_at": when(13),
        },
    )
    assert sent.status_code == 200
    assert send(alice, cid, "temu_reply_alternative_pdf.eml").status_code == 201
    follow_up = _draft(alice, cid, "follow_up")
    assert "Thank you for your reply of 17 March 2026" in follow_up["body"]
    assert send(alice, cid, "temu_sent_follow_up.eml").status_code == 201
    assert send(alice, cid, "temu_latin1.eml").status_code == 201
    alice.post(
        f"/v1/cases/{cid}/deny",
        json={"reason": "Expired credits are final", "occurred_at": when(20)},
    )
    appeal = _draft(alice, cid, "appeal")
    assert "> Expired credits are final" in appeal["body"]
    appealed = alice.post(
        f"/v1/cases/{cid}/appeal", json={"grounds": appeal["body"], "occurred_at": when(21)}
    )
    assert appealed.status_code == 200
    supervisor = _draft(alice, cid, "escalate", "supervisor")
    assert "I appealed on 21 March 2026" in supervisor["body"]

    timeline = alice.get(f"/v1/cases/{cid}/timeline").json()["items"]
    story = [
        (i["event_type"], utc(i["occurred_at"]))
        for i in timeline
        if i["event_type"] not in ("evidence_attached", "note_added")
    ]
    assert story == [
        ("opened", datetime(2026, 3, 12, 9, tzinfo=UTC)),
        ("submitted", datetime(2026, 3, 13, 12, tzinfo=UTC)),
        ("followed_up", datetime(2026, 3, 16, 9, tzinfo=UTC)),
        ("response_received", datetime(2026, 3, 17, 10, 12, 4, tzinfo=UTC)),
        ("response_received", datetime(2026, 3, 18, 8, 45, tzinfo=UTC)),
        ("denied", datetime(2026, 3, 20, 12, tzinfo=UTC)),
        ("appealed", datetime(2026, 3, 21, 12, tzinfo=UTC)),
    ]


def test_tiktok_seed_flow_with_drafts_and_a_forwarded_reply(api) -> None:
    alice = api["owner"]
    cid = alice.post("/v1/disputes", json=dispute_body()).json()["id"]
    upload(alice, cid, PNG, filename="ads-manager-delivery.png")
    first = _draft(alice, cid, "submit")
    assert "Campaign: CAMPAIGN-042" in first["body"]
    alice.post(
        f"/v1/cases/{cid}/submit",
        json={
            "channel": "ads_manager",
            "reference": "TT-88812",
            "message": first["body"],
            "occurred_at": when(13),
        },
    )
    forwarded = send(alice, cid, "tiktok_forwarded_thread.eml")
    assert forwarded.status_code == 201 and forwarded.json()["forwarded"]
    chargeback = _draft(alice, cid, "escalate", "payment_provider")
    assert "20 March 2026: TikTok replied" in chargeback["body"]
    assert "Merchant's reference for the charge: CAMPAIGN-042" in chargeback["body"]
    escalated = alice.post(
        f"/v1/cases/{cid}/escalate",
        json={
            "level": "payment_provider",
            "contact": "card issuer",
            "message": chargeback["body"],
            "occurred_at": when(24),
        },
    )
    assert escalated.status_code == 200
    timeline = alice.get(f"/v1/cases/{cid}/timeline").json()["items"]
    kinds = [i["event_type"] for i in timeline if i["event_type"] != "evidence_attached"]
    assert kinds == ["opened", "submitted", "response_received", "escalated"]


NASTY = [
    b"From: a@temu.com\r\nDate: Tue, 17 Mar 2026 10:00:00 +0000\r\nSubject: \xff\xfe\x00bad\r\n"
    b"Message-ID: <\xe9\xff@x>\r\n\r\nbody \x00 with a NUL\r\n",
    b"From: a@temu.com\r\nDate: Tue, 17 Mar 2026 10:00:00 +0000\r\n"
    b"Subject: =?x-unknown?q?hi?=\r\nContent-Type: text/plain; charset=x-unknown\r\n\r\nhi\r\n",
    b"From: a@temu.com\r\nDate: Tue, 17 Mar 2026 10:00:00 +0000\r\n"
    b'Content-Type: multipart/mixed; boundary="q"\r\n\r\n--q\r\nContent-Type: text/plain\r\n\r\n'
    b"x\r\n--q\r\nContent-Type: application/zip\r\nContent-Disposition: attachment; "
    b'filename="a\xff.zip"\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!notbase64\r\n',
    b"From: a@temu.com\r\nDate: Tue, 99 Foo 2026 99:99:99 +9999\r\n\r\nx\r\n",
    b"From:\r\nDate: Tue, 17 Mar 2026 10:00:00 +0000\r\n\r\nx\r\n",
    b"From: a@temu.com\r\nDate: Tue, 17 Mar 2026 10:00:00 +0000\r\n"
    b"Content-Type: multipart/alternative\r\n\r\nno boundary at all\r\n",
    b"\x89PNG\r\n\x1a\n" + bytes(range(256)),
]


def test_nasty_messages_never_make_a_server_error(api) -> None:
    alice = api["owner"]
    cid = submitted_credit(alice)
    for number, raw in enumerate(NASTY):
        answer = send(alice, cid, f"nasty-{number}.eml", raw)
        assert answer.status_code < 500, (number, answer.text)
    for name in ("x%00.j2", "..%2F..%2Fx.j2", "%C3%A9.j2", "appeal.j2%2F..%2Fx"):
        for method in ("get", "delete"):
            answer = getattr(api["admin"], method)(f"/v1/draft-templates/{name}")
            assert answer.status_code in (404, 422), (name, answer.text)


def test_an_idempotency_key_replays_the_first_answer(api) -> None:
    alice = api["owner"]
    cid = submitted_credit(alice)
    key = {"Idempotency-Key": "mail-1"}
    url = f"/v1/cases/{cid}/emails"
    files = {"file": ("r.eml", eml("temu_latin1.eml"), "message/rfc822")}
    first = alice.post(url, files=files, headers=key)
    assert first.status_code == 201, first.text
    again = alice.post(url, files=files, headers=key)
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    other = {"file": ("s.eml", eml("temu_sent_follow_up.eml"), "message/rfc822")}
    reused = alice.post(url, files=other, headers=key)
    assert reused.status_code == 422 and reused.json()["type"].endswith("idempotency-key-reused")


def test_if_match_names_the_version_the_mail_was_meant_for(api) -> None:
    alice = api["owner"]
    cid = submitted_credit(alice)
    stale = alice.post(
        f"/v1/cases/{cid}/emails",
        files={"file": ("r.eml", eml("temu_latin1.eml"), "message/rfc822")},
        headers={"If-Match": '"1"'},
    )
    assert stale.status_code == 412 and stale.headers["content-type"] == PROBLEM
    fresh = alice.post(
        f"/v1/cases/{cid}/emails",
        files={"file": ("r.eml", eml("temu_latin1.eml"), "message/rfc822")},
        headers={"If-Match": '"2"'},
    )
    assert fresh.status_code == 201, fresh.text
    assert fresh.headers["ETag"] == f'"{fresh.json()["case_version"]}"'


def test_the_users_first_mail_with_its_evidence_submits_a_dispute(api) -> None:
    alice = api["owner"]
    cid = alice.post("/v1/disputes", json=dispute_body()).json()["id"]
    reply = eml("temu_reply_alternative_pdf.eml")
    raw = (
        reply.replace(b"From: Temu Customer Service <support@temu.com>", b"From: alice@example.org")
        .replace(b"To: Alice Shopper <alice@example.org>", b"To: ads-support@tiktok.com")
        .replace(b"T-1001@mail.temu.com", b"first@example.org")
        .replace(b"Tue, 17 Mar 2026", b"Tue, 10 Mar 2026")
    )
    answer = send(alice, cid, "first.eml", raw, reference="TT-5")
    assert answer.status_code == 201, answer.text
    assert answer.json()["action"] == "submit" and answer.json()["direction"] == "to_platform"
    case = alice.get(f"/v1/cases/{cid}").json()
    assert case["state"] == "submitted" and len(case["evidence"]) == 2
