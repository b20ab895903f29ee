"""Reminders by e-mail (issue 30, part 1), against a real SMTP server (``aiosmtpd``,
STARTTLS and a login required) and a live Reclaim on both stores: the digest arrives
once a day with its headers, plain and HTML parts and links; a re-run and a restart
(a new writer) send nothing new; a server that is down or refuses the login is tried
again, one cut off mid-send never; nothing is sent without a server, and the page and
``/readyz`` say so; the address is personal data, gone with an erasure."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
import pytest

from infrastructure.mail.outbox import MailOutbox
from infrastructure.store.application import ReclaimApplication
from tests.support.api_data import COMMANDS, credit_body
from tests.support.live import Principals, api_keys, live_server, wait_for
from tests.support.smtp import USER, smtp_server

ADDRESS = "alice@example.org"
PUBLIC = "https://reclaim.example.org"


def _case_with_overdue_follow_up(alice) -> str:
    case_id = alice.post("/v1/credits", json=credit_body()).json()["id"]
    path, body = COMMANDS["submit"]
    assert alice.post(f"/v1/cases/{case_id}/{path}", json=body).status_code == 200
    return case_id


def test_the_digest_arrives_once_a_day_with_its_links_and_unsubscribe(
    store, settings_for, tmp_path
) -> None:
    with smtp_server(tmp_path / "smtp") as server:
        settings = settings_for(
            store, **server.settings(), mail_poll_seconds=0.1, public_url=PUBLIC
        )
        keys = api_keys(settings)
        with live_server(settings) as base:
            api = Principals(base, keys)
            alice = api["owner"]
            case_id = _case_with_overdue_follow_up(alice)
            # a CR/LF in any field is refused: no header can be smuggled in
            for bad in (
                {"address": "alice@example.org\r\nBcc: eve@example.org"},
                {"address": ADDRESS, "digest_time": "08:00\r\nX: y"},
                {"address": ADDRESS, "time_zone": "UTC\nX: y"},
                {"address": "Alice <alice@example.org>"},
            ):
                assert alice.put("/v1/me/mail", json=bad).status_code == 422, bad
            assert not server.handler.got
            # due now: 00:00 in UTC has always come
            answer = alice.put("/v1/me/mail", json={"address": ADDRESS, "digest_time": "00:00"})
            assert answer.status_code == 200, answer.text
            assert answer.json()["sending"] is True
            (digest,) = server.wait_for(1)
            received = server.handler.got[0]
            assert received.tls and received.login == USER
            assert received.recipients == [ADDRESS]
            assert digest["To"] == ADDRESS
            assert digest["From"].addresses[0].addr_spec == "reclaim@mail.reclaim.test"
            assert digest["Auto-Submitted"] == "auto-generated"
            assert digest["Message-ID"].endswith("@mail.reclaim.test>")
            unsubscribe = str(digest["List-Unsubscribe"]).strip("<>")
            assert unsubscribe.startswith(f"{PUBLIC}/mail/unsubscribe/")
            assert digest["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
            text = digest.get_body(("plain",)).get_content()
            html = digest.get_body(("html",)).get_content()
            link = f"{PUBLIC}/app/cases/{case_id}"
            assert "Overdue (1)" in text and link in text and "temu credit" in text
            assert f'href="{link}"' in html and "Follow up" in html
            wait_for(
                lambda: alice.get("/v1/me/mail").json()["last_digest"]["status"] == "sent",
                timeout=20,
            )
            # re-runs: many polls later, and a second follower on the same store
            time.sleep(0.6)
            other = ReclaimApplication(settings)
            try:
                assert MailOutbox(other).run_once() == 0
            finally:
                other.close()
        # a restart: a new writer, a new follower; today's digest is not sent again
        with live_server(settings) as base:
            api = Principals(base, keys)
            time.sleep(0.6)
            assert len(server.handler.got) == 1
            ready = httpx.get(f"{base}/readyz").json()
            assert ready["checks"]["mail"].startswith("The mail server took the last mail")
            # RFC 8058: the mail client POSTs, with no key; following the link alone does not
            token_path = unsubscribe.removeprefix(PUBLIC)
            page = httpx.get(base + token_path)
            assert page.status_code == 200 and "Unsubscribe" in page.text
            assert api["owner"].get("/v1/me/mail").json()["digests"] is True
            done = httpx.post(base + token_path, data={"List-Unsubscribe": "One-Click"})
            assert done.status_code == 200, done.text
            assert api["owner"].get("/v1/me/mail").json()["digests"] is False
            assert httpx.post(base + "/mail/unsubscribe/nope").status_code == 404
            api.close()


def test_a_server_down_or_refusing_is_retried_and_a_cut_off_send_never(
    store, settings_for, tmp_path
) -> None:
    with smtp_server(tmp_path / "smtp", mode="refuse-login") as server:
        settings = settings_for(
            store, **server.settings(), mail_retry_seconds=[0, 0, 0], mail_poll_seconds=3600
        )
        keys = api_keys(settings)
        with live_server(settings) as base:  # (its follower looks once, before any address)
            api = Principals(base, keys)
            _case_with_overdue_follow_up(api["owner"])
            answer = api["owner"].put(
                "/v1/me/mail", json={"address": ADDRESS, "digest_time": "00:00"}
            )
            assert answer.status_code == 200
            api.close()
        app = ReclaimApplication(settings)
        try:
            outbox = MailOutbox(app)
            assert outbox.run_once() == 0
            row = app.mail.latest("home", "alice", "digest")
            assert row["status"] == "pending" and "refused the login" in row["detail"]
            assert "s3cret" not in row["detail"]
            state = app.mail.health()["smtp"]
            assert not state["ok"] and "s3cret" not in state["detail"]
            server.handler.mode = "busy"
            assert outbox.run_once() == 0
            assert app.mail.latest("home", "alice", "digest")["status"] == "pending"
            # the data cut off on its way: it may have arrived, so it is never sent again
            server.handler.mode = "drop-at-data"
            assert outbox.run_once() == 0
            assert app.mail.latest("home", "alice", "digest")["status"] == "uncertain"
            server.handler.mode = "ok"
            assert MailOutbox(app).run_once() == 0
            assert not server.handler.messages()
            # a follower killed between "sending" and the server's answer: the same
            with app.database.transaction() as cursor:
                cursor.execute("UPDATE reclaim_mail_sends SET status = 'sending'")
            assert MailOutbox(app).run_once() == 0
            assert app.mail.latest("home", "alice", "digest")["status"] == "uncertain"
            assert not server.handler.messages()
            # the next day's digest goes
            tomorrow = datetime(2100, 1, 2, 9, tzinfo=UTC)
            assert MailOutbox(app).run_once(tomorrow) == 1
        finally:
            app.close()
    # the server gone altogether: kept, tried again, not lost
    app = ReclaimApplication(settings)
    try:
        assert MailOutbox(app).run_once(datetime(2100, 1, 3, 9, tzinfo=UTC)) == 0
        row = app.mail.latest("home", "alice", "digest")
        assert row["day"] == "2100-01-03" and row["status"] == "pending"
        assert "cannot reach" in row["detail"]
    finally:
        app.close()


def test_without_a_mail_server_nothing_is_sent_and_readyz_says_so(settings) -> None:
    keys = api_keys(settings)
    with live_server(settings) as base:
        api = Principals(base, keys)
        alice = api["owner"]
        _case_with_overdue_follow_up(alice)
        answer = alice.put("/v1/me/mail", json={"address": ADDRESS, "digest_time": "00:00"})
        assert answer.status_code == 200
        body = answer.json()
        assert body["sending"] is False and "RECLAIM_SMTP_URL" in body["sending_detail"]
        assert "RECLAIM_SMTP_URL" in httpx.get(f"{base}/readyz").json()["checks"]["mail"]
        assert alice.get("/v1/me/mail").json()["last_digest"] is None
        api.close()


def test_the_address_is_personal_data_erased_with_its_owner(settings) -> None:
    keys = api_keys(settings)
    with live_server(settings) as base:
        api = Principals(base, keys)
        assert api["owner"].put("/v1/me/mail", json={"address": ADDRESS}).status_code == 200
        app = ReclaimApplication(settings)
        try:
            (row,) = app.database.fetchall("SELECT * FROM reclaim_mail_prefs")
            assert ADDRESS not in str(row)  # sealed under alice's data key
        finally:
            app.close()
        assert api["admin"].delete("/v1/users/alice").status_code in (200, 202, 204)
        app = ReclaimApplication(settings)
        try:
            assert app.database.fetchall("SELECT * FROM reclaim_mail_prefs") == []
        finally:
            app.close()
        api.close()


@pytest.mark.parametrize("store", ["sqlite"])
def test_delete_forgets_the_address(settings) -> None:
    keys = api_keys(settings)
    with live_server(settings) as base:
        api = Principals(base, keys)
        alice = api["owner"]
        assert alice.put("/v1/me/mail", json={"address": ADDRESS}).status_code == 200
        assert alice.delete("/v1/me/mail").status_code == 204
        assert alice.get("/v1/me/mail").json()["address"] is None
        api.close()


@pytest.mark.slow
def test_kill_9_of_the_writer_sends_no_digest_twice(store, settings_for, tmp_path) -> None:
    """Two ``reclaim serve`` processes on one store: the outbox runs beside the writer;
    killed outright after the digest went, the next writer's outbox sends nothing new."""
    from tests.support.processes import ServerProcess

    with smtp_server(tmp_path / "smtp") as server:
        settings = settings_for(store)
        keys = api_keys(settings)
        env = {**server.env(), "RECLAIM_MAIL_POLL_SECONDS": "0.1"}
        first = ServerProcess(settings, **env).start()
        second = ServerProcess(settings, **env).start()
        try:
            with httpx.Client(headers={"Authorization": f"Bearer {keys['owner']}"}) as alice:
                alice.base_url = httpx.URL(second.url)
                _case_with_overdue_follow_up(alice)
                prefs = {"address": ADDRESS, "digest_time": "00:00"}
                assert alice.put("/v1/me/mail", json=prefs).status_code == 200
                server.wait_for(1)
                first.kill()
                wait_for(
                    lambda: (
                        httpx.get(f"{second.url}/readyz").json()["checks"]["writer"]
                        == "this process"
                    ),
                    30,
                    "the second process to take over",
                )
                time.sleep(1.0)  # many rounds of the new writer's outbox
                assert len(server.handler.got) == 1
                assert alice.get("/v1/me/mail").json()["last_digest"]["status"] == "sent"
        finally:
            first.stop()
            second.stop()
