"""Charts as inline SVG, drawn on the server: no script, no font or file from elsewhere.

Two layouts cover the reports page: ``bar_chart`` (horizontal bars, one row per
category, one bar per series) and ``column_chart`` (vertical columns along a
time axis). Every bar shows its number as text and carries ``data-label`` (its
category), ``data-series`` and ``data-value`` so a test can read what was drawn;
every chart has an ``id``, a ``<title>`` and a ``<desc>`` for screen readers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from html import escape

Number = int | float | Decimal

PALETTE = ("#2563eb", "#f59e0b", "#16a34a", "#dc2626", "#7c3aed", "#0891b2", "#64748b")
_ID = re.compile(r"^[a-z][a-z0-9-]{0,63}$")
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"
CHAR_WIDTH = 7.0  # a rough width of one 12px character, for laying out labels
MAX_LABEL = 32


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[Number]
    color: str | None = None


@dataclass(frozen=True)
class Chart:
    id: str
    title: str
    description: str
    categories: Sequence[str]
    series: Sequence[Series]

    def __post_init__(self) -> None:
        if not _ID.match(self.id):
            raise ValueError(f"chart id {self.id!r} must be lower-case letters, digits and -")
        if not self.series:
            raise ValueError(f"chart {self.id}: needs at least one series")
        for series in self.series:
            if len(series.values) != len(self.categories):
                raise ValueError(
                    f"chart {self.id}: series {series.name!r} has {len(series.values)} values "
                    f"for {len(self.categories)} categories"
                )
            for value in series.values:
                _check_value(value, f"chart {self.id}, series {series.name!r}")
            if series.color is not None and not _COLOR.match(series.color):
                raise ValueError(f"chart {self.id}: color {series.color!r} is not #rrggbb")

    @property
    def largest(self) -> Number:
        return max((v for s in self.series for v in s.values), default=0)

    def color(self, index: int) -> str:
        return self.series[index].color or PALETTE[index % len(PALETTE)]


def _check_value(value: object, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError(f"{where}: {value!r} is not a number")
    finite = value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)
    if not finite or value < 0:
        raise ValueError(f"{where}: {value!r} must be a finite number, zero or more")


def format_value(value: Number) -> str:
    """How a number is shown and put in ``data-value``: Decimals keep their places."""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _text_width(text: str) -> float:
    return len(text) * CHAR_WIDTH


def _short(label: str) -> str:
    return label if len(label) <= MAX_LABEL else label[: MAX_LABEL - 1] + "…"


def _bar(chart: Chart, index: int, category: str, value: Number, box: str) -> str:
    series = chart.series[index]
    shown = format_value(value)
    return (
        f'<rect class="bar" {box} fill="{chart.color(index)}" '
        f'data-label="{escape(category)}" data-series="{escape(series.name)}" '
        f'data-value="{escape(shown)}"><title>{escape(category)}, {escape(series.name)}: '
        f"{escape(shown)}</title></rect>"
    )


def _legend_width(chart: Chart) -> float:
    if len(chart.series) < 2:
        return 0.0
    return sum(16 + _text_width(s.name) + 18 for s in chart.series)


def _legend(chart: Chart, x: float, y: float) -> list[str]:
    if len(chart.series) < 2:
        return []
    parts = []
    for index, series in enumerate(chart.series):
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="12" height="12" fill="{chart.color(index)}"/>'
            f'<text class="legend" x="{x + 16:.1f}" y="{y + 10:.1f}">{escape(series.name)}</text>'
        )
        x += 16 + _text_width(series.name) + 18
    return parts


def _svg(chart: Chart, width: float, height: float, body: list[str], orient: str) -> str:
    cid = chart.id
    return "".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" id="{cid}" class="chart" role="img" '
            f'data-orientation="{orient}" '
            f'aria-labelledby="{cid}-title {cid}-desc" viewBox="0 0 {width:.0f} {height:.0f}" '
            f'width="{width:.0f}" height="{height:.0f}" font-family="{FONT}" font-size="12">',
            f'<title id="{cid}-title">{escape(chart.title)}</title>',
            f'<desc id="{cid}-desc">{escape(chart.description)}</desc>',
            *body,
            "</svg>",
        ]
    )


def _empty(chart: Chart) -> str:
    return _svg(
        chart,
        360,
        48,
        ['<text class="empty" x="8" y="28" fill="#475569">No data yet</text>'],
        "none",
    )


def bar_chart(chart: Chart) -> str:
    """Horizontal bars: a row per category (labels on the left), a bar per series."""
    if not chart.categories:
        return _empty(chart)
    bar_h, gap, group_gap, plot_w = 18.0, 3.0, 14.0, 420.0
    label_w = min(max(_text_width(_short(c)) for c in chart.categories), 240) + 12
    value_w = max(_text_width(format_value(v)) for s in chart.series for v in s.values) + 12
    top = 28.0 if len(chart.series) > 1 else 6.0
    group_h = len(chart.series) * (bar_h + gap) - gap
    scale = plot_w / float(chart.largest or 1)
    body = _legend(chart, label_w, 6)
    y = top
    for row, category in enumerate(chart.categories):
        body.append(
            f'<text class="category" x="{label_w - 8:.1f}" y="{y + group_h / 2 + 4:.1f}" '
            f'text-anchor="end">{escape(_short(category))}</text>'
        )
        for index, series in enumerate(chart.series):
            value = series.values[row]
            length = float(value) * scale
            box = f'x="{label_w:.1f}" y="{y:.1f}" width="{length:.1f}" height="{bar_h:.0f}"'
            body.append(_bar(chart, index, category, value, box))
            body.append(
                f'<text class="value" x="{label_w + length + 4:.1f}" y="{y + bar_h - 5:.1f}">'
                f"{escape(format_value(value))}</text>"
            )
            y += bar_h + gap
        y += group_gap - gap
    height = y - group_gap + 8
    body.append(
        f'<line x1="{label_w:.1f}" y1="{top - 2:.1f}" x2="{label_w:.1f}" y2="{height - 6:.1f}" '
        'stroke="#94a3b8"/>'
    )
    width = max(label_w + plot_w + value_w, label_w + _legend_width(chart))
    return _svg(chart, width, height, body, "horizontal")


def column_chart(chart: Chart) -> str:
    """Vertical columns along the categories (months, say), a column per series."""
    if not chart.categories:
        return _empty(chart)
    plot_h, left, group_gap = 180.0, 12.0, 18.0
    widest_value = max(_text_width(format_value(v)) for s in chart.series for v in s.values)
    col_w = max(22.0, widest_value + 4)
    group_w = max(len(chart.series) * col_w, max(_text_width(c) for c in chart.categories))
    top = (28.0 if len(chart.series) > 1 else 6.0) + 18
    base = top + plot_h
    scale = plot_h / float(chart.largest or 1)
    body = _legend(chart, left, 6)
    x = left
    for column, category in enumerate(chart.categories):
        bars_x = x + (group_w - len(chart.series) * col_w) / 2
        for index, series in enumerate(chart.series):
            value = series.values[column]
            height = float(value) * scale
            box = (
                f'x="{bars_x:.1f}" y="{base - height:.1f}" width="{col_w - 2:.1f}" '
                f'height="{height:.1f}"'
            )
            body.append(_bar(chart, index, category, value, box))
            body.append(
                f'<text class="value" x="{bars_x + (col_w - 2) / 2:.1f}" '
                f'y="{base - height - 4:.1f}" text-anchor="middle">'
                f"{escape(format_value(value))}</text>"
            )
            bars_x += col_w
        body.append(
            f'<text class="category" x="{x + group_w / 2:.1f}" y="{base + 16:.1f}" '
            f'text-anchor="middle">{escape(category)}</text>'
        )
        x += group_w + group_gap
    width = x - group_gap + left
    body.append(
        f'<line x1="{left - 4:.1f}" y1="{base:.1f}" x2="{width - 4:.1f}" y2="{base:.1f}" '
        'stroke="#94a3b8"/>'
    )
    return _svg(chart, max(width, 200, left + _legend_width(chart)), base + 26, body, "vertical")
