"""The case book's Mail page in a real browser (the system Chromium), checked by axe: a
person sets their address and digest time by the labelled fields, a bad address is
refused beside its field, the page says when no mail server is configured, and stopping
forgets the address."""

from __future__ import annotations

import pytest

from tests.support.browser import browser
from tests.support.casebook import act, check_accessible, shot, sign_in

__all__ = ["browser"]  # the fixture


@pytest.mark.parametrize("store", ["sqlite"])
def test_mail_settings_in_the_case_book(api, settings, browser, capsys) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    sign_in(page, api.base_url, api.keys["owner"])
    with page.expect_navigation():
        page.get_by_role("link", name="Mail", exact=True).click()
    assert page.url.endswith("/app/mail")
    assert "No mail server is configured (RECLAIM_SMTP_URL)" in page.inner_text("main")
    check_accessible(page, "the mail page")

    answer = act(
        page,
        "Save mail settings",
        {
            "E-mail address": "alice@example.org\r\nBcc: eve@example.org",
            "Daily digest time": "25:00",
            "Time zone": "Europe/Berlin",
        },
    )
    assert answer.status == 422
    assert page.get_by_text("must be one e-mail address").is_visible()
    assert page.get_by_text("must be a time of day as HH:MM").is_visible()
    check_accessible(page, "the mail page with problems")

    answer = act(
        page,
        "Save mail settings",
        {"E-mail address": "alice@example.org", "Daily digest time": "07:30"},
    )
    assert answer.status == 200 and page.url.endswith("/app/mail?done=saved")
    assert page.get_by_role("status").inner_text() == "Saved."
    assert page.get_by_label("E-mail address").input_value() == "alice@example.org"
    assert page.get_by_label("Time zone").input_value() == "Europe/Berlin"
    shot(page, "mail", settings, capsys)
    got = api["owner"].get("/v1/me/mail").json()
    assert got["address"] == "alice@example.org" and got["digest_time"] == "07:30"
    assert got["time_zone"] == "Europe/Berlin" and got["digests"] is True

    act(page, "Stop reminder e-mails")
    assert api["owner"].get("/v1/me/mail").json()["address"] is None
    check_accessible(page, "the mail page, stopped")
    page.close()
