"""The reports page as HTML: every chart with the right numbers, nothing fetched from anywhere."""

from __future__ import annotations

import copy

import pytest

from api.render.pages import ReportDataError, render_reports_page, render_sign_in_page
from tests.support.pages import read
from tests.support.report_data import EXPECTED_BARS, REPORT_DATA


def test_the_page_draws_every_chart_with_the_reports_numbers() -> None:
    page = read(render_reports_page(REPORT_DATA))
    assert page.bars == EXPECTED_BARS


def test_the_page_is_self_contained() -> None:
    html = render_reports_page(REPORT_DATA)
    page = read(html)
    assert html.startswith("<!doctype html>")
    assert not page.tags & {"script", "link", "img", "iframe", "object"}
    assert page.urls == []  # the standalone page has no form and no link
    assert "default-src 'none'" in html
    assert "url(" not in html and "@import" not in html


def test_the_served_page_has_the_sites_navigation_and_a_sign_out_form() -> None:
    html = render_reports_page(REPORT_DATA, signed_in_as="auditor-1 (ws-1)", csrf_token="t0k")
    page = read(html)
    assert page.urls == [
        "/app/cases",
        "/app/cases/new",
        "/app/workflow",
        "/app/mail",
        "/reports",
        "/reports/sign-out",
    ]
    assert '<a href="/reports" aria-current=page>' in html
    assert '<input type="hidden" name="csrf_token" value="t0k">' in html


def test_the_tiles_sum_up_the_cases_and_recovery_per_currency() -> None:
    html = render_reports_page(REPORT_DATA)
    assert "<b>14</b><span>cases</span>" in html
    assert "<b>9</b><span>open</span>" in html
    assert "<b>180.00 USD</b><span>recovered of 605.00 claimed when resolved (30%)</span>" in html
    assert "<b>0.00 EUR</b><span>recovered of 40.00 claimed when resolved (0%)</span>" in html
    assert "<b>2</b><span>overdue follow-ups</span>" in html


def test_text_from_the_data_is_escaped() -> None:
    data = copy.deepcopy(REPORT_DATA)
    data["scope"] = "<script>alert(1)</script>"
    data["overdue_follow_ups"][0]["title"] = '"><img src=x onerror=alert(1)>'
    html = render_reports_page(data)
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;" in html


def test_empty_data_draws_empty_charts() -> None:
    page = read(render_reports_page({}))
    assert set(page.bars) == set(EXPECTED_BARS)
    assert page.bars["chart-states"] == [
        (s, "cases", "0") for s, _, _ in EXPECTED_BARS["chart-states"]
    ]
    assert page.bars["chart-recovery"] == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"by_state": {"lost": 1}}, "unknown state"),
        ({"by_state": {"opened": -1}}, "not a count"),
        ({"recovery": [{"platform": "temu", "currency": "USD", "claimed": "lots"}]}, "amount"),
        ({"recovery": [{"platform": "temu"}]}, r"recovery\[0\] has no currency"),
        ({"outcomes": "many"}, "outcomes must be a list"),
        ({"by_month": [{"opened": 1}]}, "has no month"),
    ],
)
def test_bad_report_data_is_refused_with_a_reason(change: dict, message: str) -> None:
    with pytest.raises(ReportDataError, match=message):
        render_reports_page({**REPORT_DATA, **change})


def test_the_sign_in_form_posts_the_key_in_the_body() -> None:
    html = render_sign_in_page(error="That key is unknown or revoked.")
    page = read(html)
    assert page.urls == ["/reports/sign-in"]
    assert 'method="post"' in html
    assert 'name="api_key" type="password"' in html
    assert "That key is unknown or revoked." in html
