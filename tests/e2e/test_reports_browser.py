"""The reports page in a real headless Chromium, from fixed report data."""

from __future__ import annotations

from api.render.pages import render_reports_page
from tests.support.browser import browser, check_charts_drawn, save_screenshot, serve
from tests.support.report_data import EXPECTED_BARS, REPORT_DATA

__all__ = ["browser"]  # the fixture


def test_the_reports_page_draws_every_chart_with_the_right_numbers(browser, capsys) -> None:
    html = render_reports_page(REPORT_DATA, signed_in_as="auditor-1 (ws-1)").encode()

    def respond(method: str, path: str, body: bytes):
        if path == "/reports":
            return 200, {"Content-Type": "text/html; charset=utf-8"}, html
        return 404, {"Content-Type": "text/plain"}, b"not here"

    with serve(respond) as base:
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        response = page.goto(f"{base}/reports")
        assert response is not None and response.status == 200
        assert page.title() == "Reports · Reclaim"
        check_charts_drawn(page, EXPECTED_BARS)
        assert page.locator("#overdue tbody tr").count() == 2
        assert page.locator("#expiring tbody tr").count() == 1
        assert page.get_by_text("Signed in as auditor-1 (ws-1)").is_visible()
        assert requested == [f"{base}/reports"]  # nothing else fetched: no CDN, no script
        save_screenshot(page, "reports-page.png", capsys)
        page.close()
