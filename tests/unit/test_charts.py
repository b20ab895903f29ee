"""SVG charts: parsed back as XML, every bar's number is where a reader and a test can find it."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest

from api.render.charts import Chart, Series, bar_chart, column_chart

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 - our own output


def bars(root: ET.Element) -> list[tuple[str, str, str, float]]:
    return [
        (r.get("data-label"), r.get("data-series"), r.get("data-value"), float(r.get("width")))
        for r in root.iter(f"{SVG}rect")
        if r.get("class") == "bar"
    ]


def texts(root: ET.Element, css_class: str) -> list[str]:
    return [t.text or "" for t in root.iter(f"{SVG}text") if t.get("class") == css_class]


MONEY = Chart(
    id="recovery-by-platform",
    title="Claimed and recovered by platform",
    description="Per platform and currency: what was claimed and what came back.",
    categories=["temu (USD)", "tiktok (USD)"],
    series=[
        Series("claimed", [Decimal("125.00"), Decimal("300.00")]),
        Series("recovered", [Decimal("25.00"), Decimal("0.00")]),
    ],
)


def test_a_grouped_bar_chart_draws_every_number_as_data_and_as_text() -> None:
    root = parse(bar_chart(MONEY))
    assert root.get("id") == "recovery-by-platform"
    assert root.get("role") == "img"
    assert root.find(f"{SVG}title").text == "Claimed and recovered by platform"
    assert root.find(f"{SVG}desc").text.startswith("Per platform")
    assert root.get("aria-labelledby") == "recovery-by-platform-title recovery-by-platform-desc"
    drawn = bars(root)
    assert [(label, series, value) for label, series, value, _ in drawn] == [
        ("temu (USD)", "claimed", "125.00"),
        ("temu (USD)", "recovered", "25.00"),
        ("tiktok (USD)", "claimed", "300.00"),
        ("tiktok (USD)", "recovered", "0.00"),
    ]
    assert texts(root, "value") == ["125.00", "25.00", "300.00", "0.00"]
    assert texts(root, "legend") == ["claimed", "recovered"]
    assert texts(root, "category") == ["temu (USD)", "tiktok (USD)"]


def test_bar_lengths_are_proportional_to_their_values() -> None:
    widths = {(label, series): width for label, series, _, width in bars(parse(bar_chart(MONEY)))}
    assert widths[("tiktok (USD)", "claimed")] == pytest.approx(420)
    assert widths[("temu (USD)", "claimed")] == pytest.approx(420 * 125 / 300, abs=0.1)
    assert widths[("tiktok (USD)", "recovered")] == 0


def test_a_column_chart_puts_months_along_the_bottom() -> None:
    chart = Chart(
        id="cases-by-month",
        title="Opened and resolved per month",
        description="Cases opened and resolved in each calendar month.",
        categories=["2026-01", "2026-02", "2026-03"],
        series=[Series("opened", [3, 1, 4]), Series("resolved", [0, 2, 1])],
    )
    root = parse(column_chart(chart))
    heights = {
        (r.get("data-label"), r.get("data-series")): float(r.get("height"))
        for r in root.iter(f"{SVG}rect")
        if r.get("class") == "bar"
    }
    assert heights[("2026-03", "opened")] == pytest.approx(180)
    assert heights[("2026-02", "resolved")] == pytest.approx(90)
    assert texts(root, "value") == ["3", "0", "1", "2", "4", "1"]
    assert texts(root, "category") == ["2026-01", "2026-02", "2026-03"]


def test_all_text_is_escaped() -> None:
    chart = Chart(
        id="evil",
        title='<script>alert("t")</script>',
        description="a & b < c",
        categories=['<img src=x onerror="alert(1)">'],
        series=[Series('"><script>', [1])],
    )
    svg = bar_chart(chart)
    assert "<script>" not in svg and "<img" not in svg
    root = parse(svg)
    assert root.find(f"{SVG}title").text == '<script>alert("t")</script>'
    assert bars(root)[0][:2] == ('<img src=x onerror="alert(1)">', '"><script>')


def test_an_empty_chart_says_so_and_keeps_its_title() -> None:
    chart = Chart(
        id="none",
        title="Nothing",
        description="No cases.",
        categories=[],
        series=[Series("cases", [])],
    )
    root = parse(column_chart(chart))
    assert root.get("id") == "none"
    assert texts(root, "empty") == ["No data yet"]
    assert bars(root) == []


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"id": "Bad Id"}, "chart id"),
        ({"series": []}, "at least one series"),
        ({"series": [Series("a", [1, 2])]}, "2 values for 1 categories"),
        ({"series": [Series("a", [-1])]}, "zero or more"),
        ({"series": [Series("a", [float("nan")])]}, "finite"),
        ({"series": [Series("a", [Decimal("NaN")])]}, "finite"),
        ({"series": [Series("a", ["3"])]}, "not a number"),
        ({"series": [Series("a", [True])]}, "not a number"),
        ({"series": [Series("a", [1], color="red")]}, "#rrggbb"),
    ],
)
def test_bad_chart_data_is_refused_with_a_reason(changes: dict, message: str) -> None:
    fields = {"id": "ok", "title": "t", "description": "d", "categories": ["x"]}
    fields.setdefault("series", [Series("a", [1])])
    with pytest.raises(ValueError, match=message):
        Chart(**{**fields, **changes})
