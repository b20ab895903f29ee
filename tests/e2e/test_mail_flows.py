"""Both seed flows run with mail alone (issue 30, done when), against a real SMTP server
(``aiosmtpd``) and a real IMAP server (``pymap``) and a live Reclaim on both stores.

The claimant submits by sending the draft; the daily digest brings the follow-up
reminder; the platform's reply to the submission arrives in the mailbox and files
itself on the case; the claimant records the denial the reply carried (the one step that is a
judgement, not a message) and sends the appeal from the case. Every message the
platform would have got is in the SMTP server, in order, each threaded on the last.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

import pytest

from tests.support.api_data import credit_body, dispute_body, upload
from tests.support.imap import imap_server
from tests.support.live import Principals, api_keys, live_server, wait_for
from tests.support.smtp import smtp_server

SENDER = "reclaim@mail.reclaim.test"
ALICE = "alice@example.org"
PUBLIC = "https://reclaim.example.org"

FLOWS = {
    # the TEMU guide: an expired store credit, denied as final, appealed
    "temu-credit": {
        "open": ("/v1/credits", credit_body),
        "platform": "temu",
        "address": "support@temu.com",
        "evidence": False,
        "denial": "Expired credits are final.",
    },
    # the TikTok guide: an ad campaign charged but not delivered, refused, appealed
    "tiktok-dispute": {
        "open": ("/v1/disputes", dispute_body),
        "platform": "tiktok",
        "address": "ads-support@tiktok.com",
        "evidence": True,
        "denial": "The campaign ran as configured.",
    },
}


def _reply(to_mail: EmailMessage, sender: str, text: str) -> bytes:
    """The platform's answer, as its mail system writes one: threaded on our mail."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = SENDER
    message["Subject"] = f"Re: {to_mail['Subject']}"
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = make_msgid(domain="mx.platform.test")
    message["In-Reply-To"] = to_mail["Message-ID"]
    message["References"] = to_mail["Message-ID"]
    message.set_content(text)
    return message.as_bytes(policy=policy.SMTP.clone(max_line_length=998))


def _timeline(client, case_id: str) -> list[dict]:
    answer = client.get(f"/v1/cases/{case_id}/timeline")
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


@pytest.mark.parametrize("flow", sorted(FLOWS))
def test_a_seed_flow_runs_with_mail_alone(flow, store, settings_for, tmp_path) -> None:
    seed = FLOWS[flow]
    with smtp_server(tmp_path / "smtp") as smtp, imap_server(tmp_path / "imap") as imap:
        settings = settings_for(
            store,
            **smtp.settings(SENDER),
            **imap.settings(),
            platform_mail={seed["platform"]: seed["address"]},
            mail_poll_seconds=0.2,
            imap_poll_seconds=0.2,
            # a server slow under load is tried again soon, not after the default 30 s
            mail_retry_seconds=[0.5] * 20,
            public_url=PUBLIC,
        )
        keys = api_keys(settings)
        with live_server(settings) as base:
            api = Principals(base, keys)
            alice = api["owner"]
            path, body = seed["open"]
            case_id = alice.post(path, json=body()).json()["id"]
            if seed["evidence"]:
                assert upload(alice, case_id).status_code == 201

            # 1. submit by sending the draft
            sent = alice.post(
                f"/v1/cases/{case_id}/drafts/submit/send", json={"reference": "T-4242"}
            )
            assert sent.status_code == 202, sent.text
            (submission,) = smtp.wait_for(1, timeout=60)
            assert submission["To"] == seed["address"]
            case = alice.get(f"/v1/cases/{case_id}").json()
            assert case["state"] == "submitted"
            assert case["submission"]["channel"] == "email"

            # 2. the follow-up reminder arrives by mail (due in the platform's interval)
            prefs = alice.put("/v1/me/mail", json={"address": ALICE, "digest_time": "00:00"})
            assert prefs.status_code == 200, prefs.text
            _, digest = smtp.wait_for(2, timeout=60)
            assert digest["To"] == ALICE and digest["Auto-Submitted"] == "auto-generated"
            text = digest.get_body(("plain",)).get_content()
            assert f"{PUBLIC}/app/cases/{case_id}" in text
            assert "Follow up" in digest.get_body(("html",)).get_content()

            # 3. the platform's reply arrives in the mailbox and files itself
            imap.deliver(_reply(submission, seed["address"], seed["denial"]))
            wait_for(
                lambda: any(
                    seed["denial"] in (e.get("details") or "") for e in _timeline(alice, case_id)
                ),
                what="the reply on the case's timeline",
            )
            recorded = alice.get("/v1/inbox", params={"state": "recorded"})
            assert recorded.status_code == 403  # (a member: the inbox is an admin's)
            inbox = api["admin"].get("/v1/inbox", params={"state": "recorded"}).json()["items"]
            assert [(m["case_id"], m["matched_by"]) for m in inbox] == [(case_id, "reply")]

            # 4. the claimant records what the reply said, and the appeal goes from the case
            denied = alice.post(f"/v1/cases/{case_id}/deny", json={"reason": seed["denial"]})
            assert denied.status_code == 200, denied.text
            appeal = alice.post(f"/v1/cases/{case_id}/drafts/appeal/send", json={})
            assert appeal.status_code == 202, appeal.text
            _, _, appealed = smtp.wait_for(3, timeout=60)
            assert appealed["To"] == seed["address"]
            assert submission["Message-ID"] != appealed["Message-ID"]
            case = alice.get(f"/v1/cases/{case_id}").json()
            assert case["state"] == "appealed"
            kinds = [e["event_type"] for e in _timeline(alice, case_id)]
            assert kinds.index("submitted") < kinds.index("denied") < kinds.index("appealed")
            # every mail kept as evidence: the two sent and the reply
            assert sum(e["kind"] == "email" for e in case["evidence"]) == 3
            api.close()
