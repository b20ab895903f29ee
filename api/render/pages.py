"""The reports page: one self-contained HTML document (inline CSS, inline SVG charts).

``render_reports_page`` draws it from a report-data mapping; ``GET /reports`` serves
it and ``reclaim report`` writes it to a file to send by mail. Nothing on it is
fetched from anywhere: its own Content-Security-Policy forbids that.

The report data (every key optional; amounts are decimal strings or Decimals)::

    generated_at        ISO time the numbers are from
    scope               who they cover, e.g. "all cases of workspace ws-1"
    by_state            {state: count}
    recovery            [{platform, currency, claimed, recovered}]
    outcomes            [{group, granted, partial, rejected, withdrawn}], group being
                        "neither", "appealed" or an escalation level
    by_month            [{month: "2026-03", opened, resolved}]
    overdue_follow_ups  [{case_id, platform, kind, due, days_overdue, title}]
    expiring_soon       [{case_id, platform, expires_on, amount, currency}]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from html import escape
from typing import Any

from api.render.charts import Chart, Series, bar_chart, column_chart
from domain.cases import OUTCOMES
from domain.lifecycle import STATES
from domain.money import format_amount, format_money

CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'"
OUTCOME_COLORS = {
    "granted": "#16a34a",
    "partial": "#f59e0b",
    "rejected": "#dc2626",
    "withdrawn": "#64748b",
}
SIGN_IN_PATH = "/reports/sign-in"
SIGN_OUT_PATH = "/reports/sign-out"
#: the site's one navigation, shared with the case book (api/templates/casebook/base.html)
NAV = [
    ("/app/cases", "My cases"),
    ("/app/cases/new", "Open a case"),
    ("/app/workflow", "Workflow"),
    ("/app/mail", "Mail"),
    ("/reports", "Reports"),
]

STYLE = """
:root { color-scheme: light; --ink: #0f172a; --muted: #475569; --line: #e2e8f0; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: var(--ink); background: #f8fafc; }
header { display: flex; align-items: center; justify-content: space-between; gap: 1rem;
  padding: 1rem 1.5rem; background: #0f172a; color: #f8fafc; }
header h1 { margin: 0; font-size: 1.25rem; }
header p { margin: 0; color: #cbd5e1; font-size: .85rem; }
main { max-width: 1100px; margin: 0 auto; padding: 1.5rem; }
.tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(170px, 1fr));
  gap: .75rem; margin-bottom: 1.5rem; }
.tile { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: .75rem 1rem; }
.tile b { display: block; font-size: 1.5rem; }
.tile span { color: var(--muted); font-size: .85rem; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px;
  padding: 1rem 1.25rem; margin-bottom: 1.25rem; overflow-x: auto; }
section h2 { margin: 0 0 .25rem; font-size: 1.05rem; }
section p.note { margin: 0 0 .75rem; color: var(--muted); font-size: .85rem; }
svg.chart { max-width: 100%; height: auto; }
svg.chart text { fill: #1e293b; }
svg.chart text.value { font-weight: 600; }
table { border-collapse: collapse; width: 100%; margin-top: .75rem; font-size: .9rem; }
th, td { text-align: left; padding: .35rem .5rem; border-bottom: 1px solid var(--line); }
th { color: var(--muted); font-weight: 600; }
form.sign-out button, form.sign-in button { font: inherit; padding: .4rem .9rem;
  border-radius: 6px; border: 1px solid #94a3b8; background: #fff; cursor: pointer; }
form.sign-in { display: grid; gap: .75rem; max-width: 420px; }
form.sign-in input { font: inherit; padding: .5rem; border: 1px solid #94a3b8; border-radius: 6px; }
nav.site ul { display: flex; flex-wrap: wrap; gap: 1rem; list-style: none; margin: .25rem 0 0;
  padding: 0; }
nav.site a { color: #f8fafc; }
nav.site a[aria-current] { font-weight: 700; }
.error { color: #b91c1c; }
"""


class ReportDataError(ValueError):
    """The report data is not what the page can draw; the message says which part."""


def _amount(value: object, where: str) -> Decimal:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ReportDataError(f"{where}: {value!r} is not an amount") from None
    if not amount.is_finite() or amount < 0:
        raise ReportDataError(f"{where}: {value!r} is not an amount")
    return amount


def _count(value: object, where: str) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ReportDataError(f"{where}: {value!r} is not a count")
    return value


def _rows(data: Mapping[str, Any], key: str, needs: Sequence[str]) -> list[Mapping[str, Any]]:
    rows = data.get(key) or []
    if not isinstance(rows, list) or not all(isinstance(r, Mapping) for r in rows):
        raise ReportDataError(f"{key} must be a list of objects")
    for index, row in enumerate(rows):
        missing = [n for n in needs if row.get(n) in (None, "")]
        if missing:
            raise ReportDataError(f"{key}[{index}] has no {', '.join(missing)}")
    return rows


def _by_state(data: Mapping[str, Any]) -> dict[str, int]:
    counts = data.get("by_state") or {}
    if not isinstance(counts, Mapping):
        raise ReportDataError("by_state must be an object of state: count")
    unknown = set(counts) - set(STATES)
    if unknown:
        raise ReportDataError(f"by_state has unknown state(s): {', '.join(sorted(unknown))}")
    return {s: _count(counts.get(s), f"by_state.{s}") for s in STATES}


def _money_value(row: Mapping[str, Any], key: str, where: str) -> Decimal:
    """An amount of the row's currency, with its decimal places, as a chart shows it."""
    return Decimal(format_amount(_amount(row.get(key, 0), where), row["currency"]))


def recovery_chart(data: Mapping[str, Any]) -> Chart:
    rows = _rows(data, "recovery", ("platform", "currency"))
    where = "recovery"
    return Chart(
        id="chart-recovery",
        title="Claimed and recovered by platform",
        description="Resolved cases on each platform, per currency: the amount they claimed "
        "and the amount recovered.",
        categories=[f"{r['platform']} ({r['currency']})" for r in rows],
        series=[
            Series("claimed", [_money_value(r, "claimed", where) for r in rows], "#2563eb"),
            Series("recovered", [_money_value(r, "recovered", where) for r in rows], "#16a34a"),
        ],
    )


def state_chart(data: Mapping[str, Any]) -> Chart:
    counts = _by_state(data)
    return Chart(
        id="chart-states",
        title="Cases by state",
        description="How many cases are in each state of the lifecycle now.",
        categories=list(counts),
        series=[Series("cases", list(counts.values()), "#0891b2")],
    )


def outcome_chart(data: Mapping[str, Any]) -> Chart:
    rows = [
        r
        for r in _rows(data, "outcomes", ("group",))
        if any(_count(r.get(o), f"outcomes.{o}") for o in OUTCOMES)
    ]
    return Chart(
        id="chart-outcomes",
        title="Outcomes by appeal and escalation",
        description="How resolved cases ended, for cases never appealed or escalated, cases "
        "appealed, and cases escalated to each level (left out where none has ended).",
        categories=[str(r["group"]).replace("_", " ") for r in rows],
        series=[
            Series(o, [_count(r.get(o), f"outcomes.{o}") for r in rows], OUTCOME_COLORS[o])
            for o in OUTCOMES
        ],
    )


def month_chart(data: Mapping[str, Any]) -> Chart:
    rows = _rows(data, "by_month", ("month",))
    return Chart(
        id="chart-months",
        title="Cases opened and resolved per month",
        description="For each calendar month, how many cases were opened and how many resolved.",
        categories=[str(r["month"]) for r in rows],
        series=[
            Series("opened", [_count(r.get("opened"), "by_month.opened") for r in rows]),
            Series("resolved", [_count(r.get("resolved"), "by_month.resolved") for r in rows]),
        ],
    )


def overdue_chart(data: Mapping[str, Any]) -> Chart:
    rows = _rows(data, "overdue_follow_ups", ("case_id", "platform", "due"))
    return Chart(
        id="chart-overdue",
        title="Overdue follow-ups",
        description="Cases whose platform has not answered and whose follow-up is past due, "
        "with how many days overdue each is.",
        categories=[_case_label(r) for r in rows],
        series=[
            Series(
                "days overdue",
                [_count(r.get("days_overdue"), "overdue_follow_ups.days_overdue") for r in rows],
                "#dc2626",
            )
        ],
    )


def _case_label(row: Mapping[str, Any]) -> str:
    return f"{row['platform']} {row.get('kind') or 'case'} {str(row['case_id'])[:8]}"


def _tiles(data: Mapping[str, Any]) -> str:
    counts = _by_state(data)
    total = sum(counts.values())
    tiles = [
        (str(total), "cases"),
        (str(total - counts["resolved"]), "open"),
        (str(counts["resolved"]), "resolved"),
    ]
    for currency, (claimed, recovered) in _totals_by_currency(data).items():
        rate = f"{recovered / claimed:.0%}" if claimed else "–"
        tiles.append(
            (
                format_money(recovered, currency),
                f"recovered of {format_amount(claimed, currency)} claimed when resolved ({rate})",
            )
        )
    tiles.append((str(len(data.get("overdue_follow_ups") or [])), "overdue follow-ups"))
    tiles.append((str(len(data.get("expiring_soon") or [])), "credits expiring soon"))
    return (
        '<div class="tiles">'
        + "".join(
            f'<div class="tile" data-tile="{escape(label)}"><b>{escape(value)}</b>'
            f"<span>{escape(label)}</span></div>"
            for value, label in tiles
        )
        + "</div>"
    )


def _totals_by_currency(data: Mapping[str, Any]) -> dict[str, tuple[Decimal, Decimal]]:
    totals: dict[str, tuple[Decimal, Decimal]] = {}
    for row in _rows(data, "recovery", ("platform", "currency")):
        claimed, recovered = totals.get(row["currency"], (Decimal(0), Decimal(0)))
        totals[row["currency"]] = (
            claimed + _amount(row.get("claimed", 0), "recovery"),
            recovered + _amount(row.get("recovered", 0), "recovery"),
        )
    return totals


def _section(chart: Chart, svg: str, extra: str = "") -> str:
    return (
        f'<section aria-labelledby="{chart.id}-heading"><h2 id="{chart.id}-heading">'
        f'{escape(chart.title)}</h2><p class="note">{escape(chart.description)}</p>'
        f"{svg}{extra}</section>"
    )


def _table(headings: Sequence[str], rows: Sequence[Sequence[object]], table_id: str) -> str:
    if not rows:
        return ""
    head = "".join(f"<th>{escape(h)}</th>" for h in headings)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(cell))}</td>" for cell in row) + "</tr>" for row in rows
    )
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _overdue_section(data: Mapping[str, Any]) -> str:
    chart = overdue_chart(data)
    rows = [
        (r["case_id"], r["platform"], r["due"], r.get("days_overdue", ""), r.get("title", ""))
        for r in _rows(data, "overdue_follow_ups", ())
    ]
    table = _table(("case", "platform", "was due", "days overdue", "what to do"), rows, "overdue")
    return _section(chart, bar_chart(chart), table)


def _money(row: Mapping[str, Any], where: str) -> str:
    amount, currency = row.get("amount"), row.get("currency")
    if amount in (None, "") or not currency:
        return f"{row.get('amount', '')} {row.get('currency', '')}"
    return format_money(_amount(amount, where), currency)


def _expiring_section(data: Mapping[str, Any]) -> str:
    rows = [
        (
            r["case_id"],
            r["platform"],
            r["expires_on"],
            _money(r, "expiring_soon"),
        )
        for r in _rows(data, "expiring_soon", ("case_id", "platform", "expires_on"))
    ]
    table = _table(("case", "platform", "expires on", "amount"), rows, "expiring")
    return (
        '<section aria-labelledby="expiring-heading"><h2 id="expiring-heading">Credits expiring '
        f"soon</h2>{table or '<p class=note>None.</p>'}</section>"
    )


def _document(page: str, header_extra: str, body: str) -> str:
    """A whole page of the reports: titled "<page> · Reclaim", like the case book's."""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="referrer" content="same-origin"><title>{escape(page)} · Reclaim</title>'
        f"<style>{STYLE}</style></head><body><header><div><h1>Reclaim reports</h1>"
        f"{header_extra}</div></header><main>{body}</main></body></html>"
    )


def site_nav(current: str) -> str:
    """The site's navigation, ``current`` marked for assistive technology."""
    items = "".join(
        f'<li><a href="{href}"{" aria-current=page" if href == current else ""}>'
        f"{escape(label)}</a></li>"
        for href, label in NAV
    )
    return f'<nav class="site" aria-label="Reclaim"><ul>{items}</ul></nav>'


def render_reports_page(
    data: Mapping[str, Any], *, signed_in_as: str | None = None, csrf_token: str | None = None
) -> str:
    """The whole page. ``signed_in_as`` adds the site's navigation and a sign-out button
    (the served page; ``csrf_token`` goes in its form); without it the page stands alone
    (the file ``reclaim report`` writes)."""
    if not isinstance(data, Mapping):
        raise ReportDataError("the report data must be an object")
    about = f"{data.get('scope') or 'Reclaim'} · as of {data.get('generated_at') or 'now'}"
    header = f"<p>{escape(about)}</p>"
    if signed_in_as:
        header += site_nav("/reports") + (
            f'<form class="sign-out" method="post" action="{SIGN_OUT_PATH}">'
            f'<input type="hidden" name="csrf_token" value="{escape(csrf_token or "")}">'
            f"<p>Signed in as {escape(signed_in_as)} <button type=submit>Sign out</button></p>"
            "</form>"
        )
    charts = [
        (recovery_chart(data), bar_chart),
        (state_chart(data), bar_chart),
        (outcome_chart(data), bar_chart),
        (month_chart(data), column_chart),
    ]
    body = _tiles(data) + "".join(_section(chart, draw(chart)) for chart, draw in charts)
    body += _overdue_section(data) + _expiring_section(data)
    return _document("Reports", header, body)


def render_sign_in_page(error: str | None = None) -> str:
    """The form that posts an API key (never in the URL) to be kept in a session cookie."""
    message = f'<p class="error" role="alert">{escape(error)}</p>' if error else ""
    body = (
        "<section><h2>Sign in</h2><p class=note>Paste an API key. It opens a session for "
        "this browser (the reports and the case book); the key itself is never kept in the "
        "browser or put in a URL.</p>"
        f'{message}<form class="sign-in" method="post" action="{SIGN_IN_PATH}">'
        '<label for="api_key">API key</label><input id="api_key" name="api_key" type="password" '
        'autocomplete="off" required spellcheck="false"><button type="submit">Sign in</button>'
        "</form></section>"
    )
    return _document("Sign in", "<p>Sign in to see your reports.</p>", body)


def render_refused_page(message: str) -> str:
    """A form refused (a sign-out posted from elsewhere, say): what happened, and the way back."""
    body = (
        f'<section><h2>Not done</h2><p class="error" role="alert">{escape(message)}</p>'
        '<p><a href="/reports">Back to the reports</a></p></section>'
    )
    return _document("Not done", "<p>Nothing was changed.</p>", body)
