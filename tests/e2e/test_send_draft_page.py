"""Sending a draft from the case book, in a real browser (the system Chromium) checked by
axe, against a real SMTP server (``aiosmtpd``): each draft is a form with labelled fields
(To prefilled with the platform's address, Subject, Message, Reference for a submission)
and a button that says what it does; a bad address is refused beside its field and a
CR/LF posted in any field sends nothing; a server refusing the login is shown on the page
(never its password), and the mail goes once when it is back. Without a mail server the
page says so and offers no send. SQLite: the store underneath is tested on both by
``test_send_draft.py``."""

from __future__ import annotations

import time

import pytest

from tests.support.api_data import credit_body
from tests.support.browser import browser
from tests.support.casebook import act, check_accessible, shot, sign_in
from tests.support.live import Principals, api_keys, live_server, wait_for
from tests.support.smtp import PASSWORD, smtp_server

__all__ = ["browser"]  # the fixture

PLATFORM = "support@temu.com"


@pytest.mark.parametrize("store", ["sqlite"])
def test_a_draft_is_sent_from_the_case_book(store, settings_for, tmp_path, browser, capsys) -> None:
    with smtp_server(tmp_path / "smtp", mode="refuse-login") as server:
        settings = settings_for(
            store,
            **server.settings(),
            platform_mail={"temu": PLATFORM},
            mail_poll_seconds=0.2,
            mail_retry_seconds=[0.2] * 100,
        )
        keys = api_keys(settings)
        with live_server(settings) as base:
            api = Principals(base, keys)
            alice = api["owner"]
            case_id = alice.post("/v1/credits", json=credit_body()).json()["id"]
            page = browser.new_page(viewport={"width": 1280, "height": 1400})
            sign_in(page, base, keys["owner"])
            page.goto(f"{base}/app/cases/{case_id}")
            assert "A mail server is configured" in page.locator("#mail-state").inner_text()
            form = page.get_by_role("form", name="Submit: the message", exact=True)
            assert form.get_by_label("To (e-mail address)").input_value() == PLATFORM
            assert "Hello TEMU" in form.get_by_label("Message").input_value()
            button = "Send this submission by e-mail"
            assert form.get_by_role("button", name=button, exact=True).is_visible()
            check_accessible(page, "the case page with drafts to send")

            # a bad address: refused beside its field, nothing sent
            answer = act(
                page,
                "Submit: the message",
                {"To (e-mail address)": "Eve <eve@example.org>"},
                button=button,
            )
            assert answer.status == 422
            assert page.get_by_text("must be one e-mail address").is_visible()
            check_accessible(page, "the case page with a send refused")

            # CR/LF posted in any field (a browser strips them from a one-line field, so
            # straight to the form's address, with the page's CSRF token): nothing sent
            token = page.locator("input[name=csrf_token]").first.get_attribute("value")
            good = {"csrf_token": token, "version": "1", "to": PLATFORM, "subject": "Hi"}
            good["body"] = "Hello"
            for name, bad in (
                ("to", PLATFORM + "\r\nBcc: eve@example.org"),
                ("subject", "Hi\r\nBcc: eve@example.org"),
                ("reference", "T-1\r\nBcc: eve@example.org"),
                ("level", "supervisor\r\nBcc: eve@example.org"),
            ):
                posted = page.request.post(
                    f"{base}/app/cases/{case_id}/drafts/submit/send",
                    form={**good, name: bad},
                    max_redirects=0,
                )
                assert posted.status in (409, 422), (name, posted.status)
            assert alice.get(f"/v1/cases/{case_id}").json()["version"] == 1

            # sent (edited first); the server refuses the login: the page says so
            page.goto(f"{base}/app/cases/{case_id}")
            answer = act(
                page,
                "Submit: the message",
                {"Subject": "My expired credit", "Reference": "T-1001"},
                button=button,
            )
            assert answer.status == 200, page.content()
            assert "Sent by e-mail and recorded" in page.get_by_role("status").first.inner_text()
            case = alice.get(f"/v1/cases/{case_id}").json()
            assert case["state"] == "submitted" and case["submission"]["channel"] == "email"
            wait_for(
                lambda: (
                    "refused the login"
                    in (alice.get(f"/v1/cases/{case_id}/drafts/sent").json()["items"][0]["detail"])
                ),
                what="the refusal",
            )
            page.goto(f"{base}/app/cases/{case_id}")
            assert "refused the login" in page.locator("#mail-state").inner_text()
            assert PASSWORD not in page.content()
            assert "Pending" in page.get_by_role("table", name="Sent by e-mail").inner_text()
            check_accessible(page, "the case page with mail waiting")

            server.handler.mode = "ok"
            (mail,) = server.wait_for(1)
            assert mail["Subject"].startswith("My expired credit [Reclaim ")
            wait_for(
                lambda: (
                    alice.get(f"/v1/cases/{case_id}/drafts/sent").json()["items"][0]["status"]
                    == "sent"
                ),
                what="sent",
            )
            page.goto(f"{base}/app/cases/{case_id}")
            assert "took the last mail" in page.locator("#mail-state").inner_text()
            assert "Sent" in page.get_by_role("table", name="Sent by e-mail").inner_text()
            shot(page, "send-draft", settings, capsys)
            time.sleep(0.5)
            assert len(server.handler.got) == 1
            page.close()
            api.close()


@pytest.mark.parametrize("store", ["sqlite"])
def test_without_a_mail_server_the_case_book_offers_no_send(api, browser) -> None:
    case_id = api["owner"].post("/v1/credits", json=credit_body()).json()["id"]
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    sign_in(page, api.base_url, api.keys["owner"])
    page.goto(f"{api.base_url}/app/cases/{case_id}")
    assert "No mail server is configured" in page.locator("#mail-state").inner_text()
    assert page.get_by_role("button", name="Send this submission by e-mail").count() == 0
    check_accessible(page, "the case page without a mail server")
    page.close()
