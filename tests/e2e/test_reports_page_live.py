"""The reports page served by Reclaim itself, signed into in a real headless Chromium.

Cases are recorded through the API on fixed past dates, so every number on the page is
known here: the test signs in, checks each chart's bars against them, and saves a
screenshot. Then it checks the session rules: the key never in a URL, an HttpOnly
SameSite=Strict cookie, a member seeing only their own cases, sign-out, revocation.
"""

from __future__ import annotations

from datetime import date, timedelta

from domain.cases import OUTCOMES
from domain.lifecycle import STATES
from infrastructure.store.application import ReclaimApplication
from tests.support.api_data import PNG, upload
from tests.support.browser import browser, check_charts_drawn, save_screenshot
from tests.support.live import Client
from tests.support.report_support import ok, today

__all__ = ["browser"]  # the fixture


def at(day: str) -> str:
    return f"{day}T10:00:00+00:00"


def record_history(api, settings) -> dict[str, str]:
    alice, bob, erin = api["owner"], api["other_member"], api["foreign_member"]
    a = ok(alice.post("/v1/credits", json=_credit(at("2026-08-12"))))["id"]
    _act(alice, a, "submit", "2026-08-14", channel="email", reference="T-1", message="Hi")
    _act(
        alice,
        a,
        "resolve",
        "2026-09-03",
        outcome="granted",
        recovered_amount="25.00",
        recovered_form="credit_reinstated",
    )
    b = ok(alice.post("/v1/disputes", json=_dispute(at("2026-09-20"))))["id"]
    ok(upload(alice, b, PNG))
    _act(alice, b, "submit", "2026-10-01", channel="ads_manager", reference="", message="Refund")
    expires = (today() + timedelta(days=3)).isoformat()
    c = ok(
        bob.post(
            "/v1/credits",
            json=_credit(
                at("2026-10-15"),
                platform="shein",
                amount="40.00",
                currency="EUR",
                expires_on=expires,
            ),
        )
    )["id"]
    ok(erin.post("/v1/credits", json=_credit(at("2026-10-16"))))
    return {"a": a, "b": b, "c": c}


def _credit(occurred_at: str, **overrides):
    from tests.support.api_data import credit_body

    return credit_body(occurred_at=occurred_at, **overrides)


def _dispute(occurred_at: str):
    from tests.support.api_data import dispute_body

    return dispute_body(occurred_at=occurred_at)


def _act(client, case_id: str, path: str, day: str, **body) -> None:
    ok(client.post(f"/v1/cases/{case_id}/{path}", json={**body, "occurred_at": at(day)}))


def expected_bars(states: dict[str, int], months, recovery, overdue):
    # only case a has ended (granted, never appealed or escalated); empty groups are left out
    return {
        "chart-recovery": [
            (label, series, value)
            for label, claimed, recovered in recovery
            for series, value in (("claimed", claimed), ("recovered", recovered))
        ],
        "chart-states": [(s, "cases", str(states.get(s, 0))) for s in STATES],
        "chart-outcomes": [("neither", o, "1" if o == "granted" else "0") for o in OUTCOMES],
        "chart-months": [
            (m, series, str(n))
            for m, opened, resolved in months
            for series, n in (("opened", opened), ("resolved", resolved))
        ],
        "chart-overdue": overdue,
    }


def sign_in(page, base: str, key: str):
    page.goto(f"{base}/reports")
    page.fill("#api_key", key)
    with page.expect_navigation():
        page.click("form.sign-in button")


def test_sign_in_and_see_every_chart_with_the_right_numbers(api, settings, browser, capsys) -> None:
    ids = record_history(api, settings)
    base = api.base_url
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))

    page.goto(f"{base}/reports")
    assert page.locator("form.sign-in").is_visible()
    assert page.locator("svg.chart").count() == 0

    sign_in(page, base, "rk_not-a-key")
    assert page.get_by_text("That key is unknown or revoked.").is_visible()

    sign_in(page, base, api.keys["auditor"])
    assert page.url == f"{base}/reports"
    assert page.get_by_text("Signed in as carol (auditor in home)").is_visible()
    overdue_days = (today() - date(2026, 10, 6)).days  # tiktok: 5 days after 1 Oct
    check_charts_drawn(
        page,
        expected_bars(
            states={"opened": 1, "submitted": 1, "resolved": 1},
            months=[("2026-08", 1, 0), ("2026-09", 1, 1), ("2026-10", 1, 0)],
            recovery=[("temu (USD)", "25.00", "25.00")],
            overdue=[(f"tiktok dispute {ids['b'][:8]}", "days overdue", str(overdue_days))],
        ),
    )
    assert page.locator("#expiring tbody tr").count() == 1
    assert ids["c"] in page.locator("#expiring").inner_text()
    store = "postgres" if settings.uses_postgres else "sqlite"
    save_screenshot(page, f"reports-page-signed-in-{store}.png", capsys)

    (cookie,) = context.cookies()
    assert cookie["name"] == "reclaim_session"
    # one sign-in for the whole site (the case book and the reports), never the key itself
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/"
    assert api.keys["auditor"] not in cookie["value"]
    assert not any(api.keys["auditor"] in url for url in requested)
    assert all(url.startswith(f"{base}/reports") for url in requested)  # nothing from elsewhere

    with page.expect_navigation():
        page.click("form.sign-out button")
    assert page.locator("form.sign-in").is_visible()
    assert context.cookies() == []
    context.close()


def test_a_member_sees_only_their_cases_and_a_revoked_key_ends_the_session(
    api, settings, browser
) -> None:
    ids = record_history(api, settings)
    base = api.base_url
    context = browser.new_context()
    page = context.new_page()
    sign_in(page, base, api.keys["owner"])
    states = page.evaluate(
        "() => [...document.querySelectorAll('#chart-states rect.bar')]"
        ".map(r => [r.dataset.label, r.dataset.value])"
    )
    assert dict(states) == {s: {"submitted": "1", "resolved": "1"}.get(s, "0") for s in STATES}
    assert page.locator("#expiring tbody tr").count() == 0  # bob's credit is not alice's
    assert ids["c"] not in page.content()

    setup = ReclaimApplication(settings)
    try:
        key_id = next(k.key_id for k in setup.keys.list() if k.user_id == "alice")
        setup.keys.revoke(key_id)
    finally:
        setup.close()
    page.reload()
    assert page.get_by_text("Your session has ended.").is_visible()
    assert page.locator("svg.chart").count() == 0
    context.close()


def test_a_sign_in_posted_from_another_site_is_refused(api, settings) -> None:
    response = api["anonymous"].post(
        "/reports/sign-in",
        data={"api_key": api.keys["owner"]},
        headers={"Origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert "set-cookie" not in response.headers
    signed_in = api["anonymous"].post(
        "/reports/sign-in", data={"api_key": api.keys["owner"]}, follow_redirects=False
    )
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/reports"
    cookie = signed_in.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/;" in cookie
    assert api.keys["owner"] not in cookie
    session = cookie.split(";")[0].split("=", 1)[1]
    with Client(api.base_url, None) as holder:
        holder.cookies.set("reclaim_session", session)
        signed_out = holder.post(
            "/reports/sign-out",
            headers={"Origin": "https://evil.example"},
            follow_redirects=False,
        )
    assert signed_out.status_code == 403  # a sign-out posted from another site is refused too
    assert "set-cookie" not in signed_out.headers
