"""Sending a draft from the case (issue 30, part 2), against a real SMTP server
(``aiosmtpd``, STARTTLS and a login required) and a live Reclaim on both stores.

The submission and the appeal of the TEMU seed flow go out by mail: each arrives with
its headers (To the platform's configured address, From the sender, the subject tagged
and a Message-ID that names the case, a Date) and its text as one plain part, and is
recorded as the step at the time it was sent (to the microsecond: its Date holds whole
seconds), with the very bytes the server received kept as evidence (same SHA-256). The
same Idempotency-Key twice sends once; a server that refuses the login or is gone keeps
the mail queued (``/readyz`` says so) and sends it once when it is back; CR/LF in any
field is refused (or, in the body, stays text) and sends nothing.
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from unittest import mock
from uuid import UUID

import httpx
import pytest

from infrastructure.mail import refs
from infrastructure.mail.outbox import MailOutbox
from infrastructure.service import send
from infrastructure.service.commands import Call, CaseCommands
from infrastructure.store.application import ReclaimApplication
from infrastructure.store.keys import Principal
from tests.support.api_data import credit_body, dispute_body, upload
from tests.support.live import Principals, api_keys, live_server, wait_for
from tests.support.openapi_contract import Contract
from tests.support.processes import ServerProcess
from tests.support.smtp import PASSWORD, USER, smtp_server

PLATFORM = "support@temu.com"
SENDER = "reclaim@mail.reclaim.test"


def _mail_key(settings) -> bytes:
    app = ReclaimApplication(settings)
    try:
        return refs.key_of(app.database)
    finally:
        app.close()


def _send(client, case_id: str, step: str, body: dict | None = None, **kwargs):
    return client.post(f"/v1/cases/{case_id}/drafts/{step}/send", json=body or {}, **kwargs)


def _sent(client, case_id: str) -> list[dict]:
    answer = client.get(f"/v1/cases/{case_id}/drafts/sent")
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


def _text(mail) -> str:
    """The plain text as a reader sees it (the wire's CRLF line ends as newlines)."""
    return mail.get_content().replace("\r\n", "\n")


def _draft(client, case_id: str, step: str) -> dict:
    items = client.get(f"/v1/cases/{case_id}/drafts").json()["items"]
    return next(d for d in items if d["step"] == step)


def test_the_submission_and_the_appeal_go_out_by_mail_and_are_recorded(
    store, settings_for, tmp_path
) -> None:
    with smtp_server(tmp_path / "smtp") as server:
        settings = settings_for(
            store,
            **server.settings(SENDER),
            platform_mail={"temu": PLATFORM},
            mail_poll_seconds=0.2,
        )
        keys = api_keys(settings)
        key = _mail_key(settings)
        with live_server(settings) as base:
            api = Principals(base, keys)
            alice = api["owner"]
            # every answer as the OpenAPI document says
            contract = Contract(api["anonymous"].get("/openapi.json").json())
            for client in api.clients.values():
                client.event_hooks["response"] = [contract.check]
            case_id = alice.post("/v1/credits", json=credit_body()).json()["id"]
            draft = _draft(alice, case_id, "submit")

            # the submission, as drafted, with its ticket reference; sent twice with one key
            once = {"Idempotency-Key": "send-submit-1"}
            before = datetime.now(UTC).replace(microsecond=0)
            first = _send(alice, case_id, "submit", {"reference": "T-1001"}, headers=once)
            assert first.status_code == 202, first.text
            again = _send(alice, case_id, "submit", {"reference": "T-1001"}, headers=once)
            assert again.status_code == 202 and again.headers["Idempotent-Replayed"] == "true"
            assert again.json() == first.json()
            other = _send(alice, case_id, "submit", {"reference": "T-1002"}, headers=once)
            assert other.status_code == 422  # the same key with another request
            sent = first.json()
            assert sent["to"] == PLATFORM and sent["mail_status"] == "queued"
            assert sent["subject"] == refs.tagged(key, draft["subject"], UUID(case_id))

            (mail,) = server.wait_for(1)
            received = server.handler.got[0]
            assert received.tls and received.login == USER
            assert received.recipients == [PLATFORM] and received.sender == SENDER
            assert mail["To"] == PLATFORM
            assert mail["From"].addresses[0].addr_spec == SENDER
            assert mail["Subject"] == sent["subject"]
            assert refs.subject_tag(key, UUID(case_id)) in mail["Subject"]
            assert mail["Message-ID"] == sent["message_id"]
            assert mail["Message-ID"].endswith("@mail.reclaim.test>")
            assert refs.case_of_message_id(key, mail["Message-ID"]) == UUID(case_id)
            assert mail["Auto-Submitted"] is None  # a person's own message
            sent_at = parsedate_to_datetime(mail["Date"])
            assert before <= sent_at <= datetime.now(UTC)  # (whole seconds, as a Date has)
            assert not mail.is_multipart() and mail.get_content_type() == "text/plain"
            assert _text(mail).strip() == draft["body"].strip()
            # the evidence is the very bytes the server received
            assert hashlib.sha256(received.raw).hexdigest() == sent["sha256"]
            kept = alice.get(f"/v1/cases/{case_id}/evidence/{sent['evidence_id']}")
            assert kept.status_code == 200 and kept.content == received.raw

            case = alice.get(f"/v1/cases/{case_id}").json()
            assert case["state"] == "submitted" and case["version"] == sent["case_version"]
            assert case["submission"]["channel"] == "email"
            assert case["submission"]["reference"] == "T-1001"
            evidence = next(e for e in case["evidence"] if e["id"] == sent["evidence_id"])
            assert evidence["kind"] == "email" and evidence["sha256"] == sent["sha256"]
            timeline = alice.get(f"/v1/cases/{case_id}/timeline").json()["items"]
            submitted = next(t for t in timeline if t["event_type"] == "submitted")
            # the step is at the send time itself, which the Date holds to the second
            submitted_at = datetime.fromisoformat(submitted["occurred_at"])
            assert sent_at <= submitted_at < sent_at + timedelta(seconds=1)
            assert datetime.fromisoformat(sent["occurred_at"]) == submitted_at
            wait_for(lambda: _sent(alice, case_id)[0]["status"] == "sent", what="sent", timeout=20)
            time.sleep(0.6)  # several rounds of the outbox: nothing goes twice
            assert len(server.handler.got) == 1

            # denied, then the appeal, edited before it goes
            assert (
                alice.post(
                    f"/v1/cases/{case_id}/deny", json={"reason": "Credits expire after 60 days"}
                ).status_code
                == 200
            )
            # (a step taken within the second the mail went sorts after it)
            kinds = [
                t["event_type"] for t in alice.get(f"/v1/cases/{case_id}/timeline").json()["items"]
            ]
            assert kinds.index("submitted") < kinds.index("denied")
            appeal = {
                "subject": "Appeal: my expired credit",
                "body": "Hello,\n\nThe expiry date was never shown to me.\n\nAlice\n",
            }
            answer = _send(alice, case_id, "appeal", appeal)
            assert answer.status_code == 202, answer.text
            second = answer.json()
            mails = server.wait_for(2)
            assert mails[1]["Subject"] == refs.tagged(key, appeal["subject"], UUID(case_id))
            assert _text(mails[1]) == appeal["body"]
            assert mails[1]["Message-ID"] != mails[0]["Message-ID"]
            assert refs.case_of_message_id(key, mails[1]["Message-ID"]) == UUID(case_id)
            assert hashlib.sha256(server.handler.got[1].raw).hexdigest() == second["sha256"]
            assert alice.get(f"/v1/cases/{case_id}").json()["state"] == "appealed"

            # an escalation names its level; past a supervisor, the sender names the address
            no_level = _send(alice, case_id, "escalate")
            assert no_level.status_code == 422
            assert [e["field"] for e in no_level.json()["errors"]] == ["level"]
            no_to = _send(alice, case_id, "escalate", {"level": "consumer_agency"})
            assert no_to.status_code == 422
            assert [e["field"] for e in no_to.json()["errors"]] == ["to"]
            agency = "complaints@agency.example.org"
            answer = _send(alice, case_id, "escalate", {"level": "consumer_agency", "to": agency})
            assert answer.status_code == 202, answer.text
            mails = server.wait_for(3)
            assert mails[2]["To"] == agency
            case = alice.get(f"/v1/cases/{case_id}").json()
            assert case["state"] == "escalated" and case["escalation_level"] == "consumer_agency"
            # a step the case does not allow any more: refused, nothing sent
            assert _send(alice, case_id, "submit").status_code == 409
            # the others: an auditor reads the sent mail, writes none; another member sees none
            assert _send(api["auditor"], case_id, "follow_up").status_code == 403
            assert len(_sent(api["auditor"], case_id)) == 3
            assert _send(api["other_member"], case_id, "follow_up").status_code == 404
            time.sleep(0.5)
            assert len(server.handler.got) == 3
            ready = httpx.get(f"{base}/readyz").json()
            assert ready["checks"]["mail"].startswith("The mail server took the last mail")
            assert contract.failures == [], "\n".join(contract.failures)
            assert {"202", "403", "404", "409", "422"} <= {
                k.rsplit(" ", 1)[1] for k in contract.checked if "/drafts/" in k
            }
            api.close()


def test_cr_lf_in_any_field_sends_nothing_and_no_header_is_made(
    store, settings_for, tmp_path
) -> None:
    with smtp_server(tmp_path / "smtp") as server:
        settings = settings_for(
            store,
            **server.settings(SENDER),
            platform_mail={"temu": PLATFORM},
            mail_poll_seconds=0.2,
        )
        keys = api_keys(settings)
        with live_server(settings) as base:
            api = Principals(base, keys)
            alice = api["owner"]
            case_id = alice.post("/v1/credits", json=credit_body()).json()["id"]
            smuggled = "\r\nBcc: eve@example.org"
            for field, body in (
                ("to", {"to": PLATFORM + smuggled}),
                ("to", {"to": f"Eve <eve@example.org>{smuggled}"}),
                ("to", {"to": f"{PLATFORM}, eve@example.org"}),
                ("to", {"to": f"Support <{PLATFORM}>"}),
                ("subject", {"subject": "Hello" + smuggled}),
                ("subject", {"subject": "Hello\nBcc: eve@example.org"}),
                ("subject", {"subject": "Hello\rBcc: eve@example.org"}),
                ("reference", {"reference": "T-1" + smuggled}),
                ("body", {"body": "Hello\x00" + smuggled}),
            ):
                answer = _send(alice, case_id, "submit", body)
                assert answer.status_code == 422, (body, answer.text)
                assert field in [e["field"] for e in answer.json()["errors"]], answer.text
            for step, body in (
                ("escalate", {"level": "supervisor" + smuggled}),
                ("appeal", {"level": "supervisor"}),
            ):
                answer = _send(alice, case_id, step, body)
                assert answer.status_code in (409, 422), (body, answer.text)
            # a CR/LF in the path's step or the Idempotency-Key never reaches a header either
            assert (
                alice.post(f"/v1/cases/{case_id}/drafts/submit%0D%0ABcc:x/send", json={})
            ).status_code in (404, 422)
            case = alice.get(f"/v1/cases/{case_id}").json()
            assert case["state"] == "opened" and case["version"] == 1
            assert _sent(alice, case_id) == []

            # in the body, a line break is the message's own: it stays text
            answer = _send(alice, case_id, "submit", {"body": "Hello" + smuggled + "\r\n\r\nX"})
            assert answer.status_code == 202, answer.text
            (mail,) = server.wait_for(1)
            assert server.handler.got[0].recipients == [PLATFORM]
            assert mail["Bcc"] is None
            assert "Hello\nBcc: eve@example.org\n\nX" in _text(mail)
            time.sleep(0.5)
            assert len(server.handler.got) == 1
            api.close()


def test_a_server_refusing_the_login_or_gone_keeps_the_mail_and_sends_it_once(
    store, settings_for, tmp_path, caplog
) -> None:
    with smtp_server(tmp_path / "smtp", mode="refuse-login") as server:
        settings = settings_for(
            store,
            **server.settings(SENDER),
            platform_mail={"temu": PLATFORM},
            mail_poll_seconds=0.2,
            mail_retry_seconds=[0.2] * 50,
        )
        keys = api_keys(settings)
        with live_server(settings) as base:
            api = Principals(base, keys)
            alice = api["owner"]
            case_id = alice.post("/v1/credits", json=credit_body()).json()["id"]
            answer = _send(alice, case_id, "submit")
            assert answer.status_code == 202, answer.text
            # recorded when it was accepted; the mail waits
            assert alice.get(f"/v1/cases/{case_id}").json()["state"] == "submitted"
            wait_for(lambda: server.handler.logins, what="a login", timeout=20)
            wait_for(
                lambda: "refused the login" in (_sent(alice, case_id)[0]["detail"] or ""),
                what="the refusal",
                timeout=20,
            )
            (row,) = _sent(alice, case_id)
            assert row["status"] == "pending"
            ready = httpx.get(f"{base}/readyz")
            assert "refused the login" in ready.json()["checks"]["mail"]
            assert PASSWORD not in ready.text and PASSWORD not in str(row)

            server.handler.mode = "ok"
            (mail,) = server.wait_for(1)
            assert mail["Message-ID"] == answer.json()["message_id"]
            wait_for(lambda: _sent(alice, case_id)[0]["status"] == "sent", what="sent", timeout=20)
            assert "took the last mail" in httpx.get(f"{base}/readyz").json()["checks"]["mail"]

            # the server gone altogether: the follow-up waits, and goes when it is back
            server.stop()
            answer = _send(alice, case_id, "follow_up")
            assert answer.status_code == 202, answer.text
            wait_for(
                lambda: "cannot reach" in (_sent(alice, case_id)[0]["detail"] or ""),
                what="the server to be missed",
                timeout=20,
            )
            assert "cannot reach" in httpx.get(f"{base}/readyz").json()["checks"]["mail"]
            server.start()
            mails = server.wait_for(2)
            assert mails[1]["Message-ID"] == answer.json()["message_id"]
            time.sleep(0.6)
            assert len(server.handler.got) == 2
            assert [r["status"] for r in _sent(alice, case_id)] == ["sent", "sent"]
            assert "refused the login" in caplog.text and PASSWORD not in caplog.text
            api.close()


def test_a_dispute_is_sent_with_its_evidence_or_not_at_all(store, settings_for, tmp_path) -> None:
    """The sent .eml is kept as evidence, but it is no evidence of the charge: a dispute
    missing its evidence is refused as the submit command refuses it, and nothing goes."""
    with smtp_server(tmp_path / "smtp") as server:
        settings = settings_for(
            store,
            **server.settings(SENDER),
            platform_mail={"tiktok": "ads-support@tiktok.com"},
            mail_poll_seconds=0.2,
        )
        keys = api_keys(settings)
        with live_server(settings) as base:
            api = Principals(base, keys)
            alice = api["owner"]
            case_id = alice.post("/v1/disputes", json=dispute_body()).json()["id"]
            refused = _send(alice, case_id, "submit")
            assert refused.status_code == 409, refused.text
            assert refused.json()["missing"] == ["evidence"]
            assert _sent(alice, case_id) == []
            assert upload(alice, case_id).status_code == 201
            answer = _send(alice, case_id, "submit", {"reference": "TT-55"})
            assert answer.status_code == 202, answer.text
            (mail,) = server.wait_for(1)
            assert mail["To"] == "ads-support@tiktok.com"
            case = alice.get(f"/v1/cases/{case_id}").json()
            assert case["state"] == "submitted" and case["submission"]["channel"] == "email"
            assert len(case["evidence"]) == 2  # the file attached, and the mail sent
            api.close()


@pytest.mark.slow
def test_a_draft_sent_through_a_follower_goes_within_seconds(store, settings_for, tmp_path) -> None:
    """Two ``reclaim serve`` processes: the mail of a draft sent through the one that is
    not the writer (which runs the outbox) goes within seconds, not at the next planning
    of the digests (``RECLAIM_MAIL_POLL_SECONDS``, 30 here)."""
    with smtp_server(tmp_path / "smtp") as server:
        settings = settings_for(store, **server.settings(SENDER), platform_mail={"temu": PLATFORM})
        keys = api_keys(settings)
        env = {
            "RECLAIM_SMTP_URL": server.url,
            "RECLAIM_MAIL_FROM": SENDER,
            "RECLAIM_SMTP_CA_FILE": str(server.cert),
            "RECLAIM_PLATFORM_MAIL": json.dumps({"temu": PLATFORM}),
            "RECLAIM_MAIL_POLL_SECONDS": "30",
        }
        writer = ServerProcess(settings, **env).start()
        follower = ServerProcess(settings, **env).start()
        try:
            with httpx.Client(
                base_url=follower.url, headers={"Authorization": f"Bearer {keys['owner']}"}
            ) as alice:
                assert alice.get("/readyz").json()["checks"]["writer"] == "another process"
                case_id = alice.post("/v1/credits", json=credit_body()).json()["id"]
                time.sleep(2)  # (past the writer outbox's first round, at its start)
                answer = _send(alice, case_id, "submit", {"reference": "T-77"})
                assert answer.status_code == 202, answer.text
                (mail,) = server.wait_for(1, timeout=10)
                assert mail["Message-ID"] == answer.json()["message_id"]
        finally:
            follower.stop()
            writer.stop()


def test_without_a_mail_server_nothing_is_sent_or_recorded(settings) -> None:
    keys = api_keys(settings)
    with live_server(settings) as base:
        api = Principals(base, keys)
        alice = api["owner"]
        case_id = alice.post("/v1/credits", json=credit_body()).json()["id"]
        answer = _send(alice, case_id, "submit", {"to": PLATFORM})
        assert answer.status_code == 409
        problem = answer.json()
        assert problem["type"].endswith("mail-not-configured")
        assert "RECLAIM_SMTP_URL" in problem["detail"]
        case = alice.get(f"/v1/cases/{case_id}").json()
        assert case["state"] == "opened" and case["version"] == 1
        assert _sent(alice, case_id) == []
        api.close()


def test_a_request_that_died_midway_is_settled_by_the_outbox(store, settings_for, tmp_path) -> None:
    """The queue's row is held while the step is recorded: a request that died after
    recording it has its mail sent; one that died before has its row dropped. A mail cut
    off while its data went out is never sent again."""
    with smtp_server(tmp_path / "smtp") as server:
        settings = settings_for(store, **server.settings(SENDER), platform_mail={"temu": PLATFORM})
        app = ReclaimApplication(settings)
        try:
            alice = Principal(key_id="test-alice", user_id="alice", workspace="home", role="member")
            commands = CaseCommands(app)
            call = Call(by=alice, request_id="test")
            case = commands.open_credit(
                call,
                platform="temu",
                credit_type="store",
                amount="25.00",
                currency="USD",
                problem="expired",
                remedy="reinstate",
                account_reference="temu-4411",
            ).case
            # died after the step was recorded, before the row was released
            with (
                mock.patch.object(app.mail, "release", side_effect=SystemExit),
                pytest.raises(SystemExit),
            ):
                send.send_draft(commands, case.id, call, send.SendRequest("submit"))
            # died before anything was recorded
            app.mail.add(
                send.mail_id_of(case.id, "<lost@mail.reclaim.test>"),
                send.KIND,
                "home",
                "alice",
                None,
                status="held",
                message_id="<lost@mail.reclaim.test>",
            )
            assert [r["status"] for r in send.sent_mail(app, case.id)] == ["held", "held"]
            outbox = MailOutbox(app)
            assert outbox.run_once() == 0  # too young to judge: the request may be alive
            assert outbox.run_once(datetime.now(UTC) + timedelta(minutes=3)) == 1
            (row,) = send.sent_mail(app, case.id)
            assert row["status"] == "sent"
            (mail,) = server.handler.messages()
            assert mail["Message-ID"] == row["message_id"]
            assert app.get_case(case.id).state == "submitted"

            # cut off while the data went out: it may have arrived, so it never goes again
            server.handler.mode = "drop-at-data"
            send.send_draft(commands, case.id, call, send.SendRequest("follow_up"))
            assert outbox.run_once() == 0
            assert send.sent_mail(app, case.id)[0]["status"] == "uncertain"
            server.handler.mode = "ok"
            assert MailOutbox(app).run_once() == 0
            assert len(server.handler.messages()) == 1
        finally:
            app.close()
