"""Fixed report data for the reports page tests, and the bars it must draw."""

from __future__ import annotations

from typing import Any

REPORT_DATA: dict[str, Any] = {
    "generated_at": "2026-03-26T09:00:00+00:00",
    "scope": "all cases of workspace ws-1",
    "by_state": {
        "opened": 2,
        "submitted": 3,
        "followed_up": 1,
        "denied": 1,
        "appealed": 0,
        "escalated": 2,
        "resolved": 5,
    },
    "recovery": [
        {"platform": "temu", "currency": "USD", "claimed": "125.00", "recovered": "60.00"},
        {"platform": "tiktok", "currency": "USD", "claimed": "480.00", "recovered": "120.00"},
        {"platform": "shein", "currency": "EUR", "claimed": "40.00", "recovered": "0.00"},
    ],
    "outcomes": [
        {"group": "neither", "granted": 2, "partial": 0, "rejected": 1, "withdrawn": 0},
        {"group": "appealed", "granted": 1, "partial": 0, "rejected": 0, "withdrawn": 0},
        {"group": "supervisor", "granted": 0, "partial": 1, "rejected": 0, "withdrawn": 0},
        {"group": "consumer_agency", "granted": 0, "partial": 0, "rejected": 0, "withdrawn": 0},
    ],
    "by_month": [
        {"month": "2026-01", "opened": 4, "resolved": 1},
        {"month": "2026-02", "opened": 6, "resolved": 2},
        {"month": "2026-03", "opened": 4, "resolved": 2},
    ],
    "overdue_follow_ups": [
        {
            "case_id": "3f1c2a9e-0000-4000-8000-000000000001",
            "platform": "temu",
            "kind": "credit",
            "due": "2026-03-15",
            "days_overdue": 11,
            "title": "Follow up with temu",
        },
        {
            "case_id": "7b2d4c1a-0000-4000-8000-000000000002",
            "platform": "tiktok",
            "kind": "dispute",
            "due": "2026-03-23",
            "days_overdue": 3,
            "title": "Follow up with tiktok",
        },
    ],
    "expiring_soon": [
        {
            "case_id": "9a8b7c6d-0000-4000-8000-000000000003",
            "platform": "temu",
            "expires_on": "2026-03-31",
            "amount": "25.00",
            "currency": "USD",
        }
    ],
}

#: chart id -> every bar as (data-label, data-series, data-value), in drawing order
EXPECTED_BARS: dict[str, list[tuple[str, str, str]]] = {
    "chart-recovery": [
        ("temu (USD)", "claimed", "125.00"),
        ("temu (USD)", "recovered", "60.00"),
        ("tiktok (USD)", "claimed", "480.00"),
        ("tiktok (USD)", "recovered", "120.00"),
        ("shein (EUR)", "claimed", "40.00"),
        ("shein (EUR)", "recovered", "0.00"),
    ],
    "chart-states": [
        ("opened", "cases", "2"),
        ("submitted", "cases", "3"),
        ("followed_up", "cases", "1"),
        ("denied", "cases", "1"),
        ("appealed", "cases", "0"),
        ("escalated", "cases", "2"),
        ("resolved", "cases", "5"),
    ],
    "chart-outcomes": [
        (group, outcome, str(count))
        for group, counts in [
            ("neither", (2, 0, 1, 0)),
            ("appealed", (1, 0, 0, 0)),
            ("supervisor", (0, 1, 0, 0)),
        ]  # consumer_agency: none ended, left out
        for outcome, count in zip(
            ("granted", "partial", "rejected", "withdrawn"), counts, strict=True
        )
    ],
    "chart-months": [
        ("2026-01", "opened", "4"),
        ("2026-01", "resolved", "1"),
        ("2026-02", "opened", "6"),
        ("2026-02", "resolved", "2"),
        ("2026-03", "opened", "4"),
        ("2026-03", "resolved", "2"),
    ],
    "chart-overdue": [
        ("temu credit 3f1c2a9e", "days overdue", "11"),
        ("tiktok dispute 7b2d4c1a", "days overdue", "3"),
    ],
}
