"""The two guides' flows, start to finish, through the case book's pages in a real Chromium,
then read back through the HTTP API to show the pages recorded exactly that. Both stores.

Every step is found as a user finds it: the form named by its action, fields by their
labels, the button named by the action.
"""

from __future__ import annotations

import hashlib

from tests.support.browser import browser
from tests.support.casebook import (
    PNG,
    act,
    action_forms,
    case_id_from,
    check_accessible,
    shot,
    shows_state,
    sign_in,
    timeline_titles,
)
from tests.support.report_support import ok

__all__ = ["browser"]  # the fixture


def _api_timeline(api, case_id: str) -> list[str]:
    return [e["title"] for e in ok(api["owner"].get(f"/v1/cases/{case_id}/timeline"))["items"]]


def test_a_temu_store_credit_that_expired_from_opening_to_reinstated(
    api, settings, browser, capsys
) -> None:
    base = api.base_url
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    sign_in(page, base, api.keys["owner"])

    page.get_by_role("link", name="Open a case").first.click()
    page.wait_for_url(f"{base}/app/cases/new")
    act(
        page,
        "Open a credit case",
        {
            "Platform": "temu",
            "Account reference": "temu-4411",
            "Credit type": "Store",
            "Amount": "25.00",
            "Currency": "USD",
            "Problem": "Expired",
            "Remedy sought": "Reinstate",
            "Earned on": "2026-01-10",
            "Expires on": "2026-03-10",
            "Opened at (UTC)": "2026-03-12T09:00",
        },
    )
    case_id = case_id_from(page.url)
    assert page.get_by_role("status").inner_text() == "The case is open."
    assert shows_state(page, "Opened")
    assert action_forms(page) == ["Submit", "Resolve", "Attach evidence", "Add note"]

    steps = [
        (
            "Submit",
            {
                "Channel": "Support ticket",
                "Ticket or reference number": "T-1001",
                "What you sent": "My 25 USD store credit expired; please reinstate it.",
                "When it happened (UTC)": "2026-03-13T10:00",
            },
            "Submitted",
        ),
        (
            "Follow up",
            {
                "Channel": "Email",
                "What you sent": "Any news on T-1001?",
                "When it happened (UTC)": "2026-03-16T10:00",
            },
            "Followed up",
        ),
        (
            "Follow up",
            {
                "Channel": "Live chat",
                "What you sent": "Second reminder",
                "When it happened (UTC)": "2026-03-19T10:00",
            },
            "Followed up",
        ),
        (
            "Deny",
            {
                "The platform's reason": "Expired credits are final",
                "When it happened (UTC)": "2026-03-20T10:00",
            },
            "Denied",
        ),
        (
            "Appeal",
            {
                "Grounds": "The expiry date was never shown in the wallet",
                "When it happened (UTC)": "2026-03-21T10:00",
            },
            "Appealed",
        ),
        (
            "Escalate",
            {
                "Level": "Supervisor",
                "Who you contacted": "support lead",
                "What you sent": "Please review the appeal",
                "When it happened (UTC)": "2026-03-23T10:00",
            },
            "Escalated",
        ),
        (
            "Escalate",
            {
                "Level": "Consumer agency",
                "Who you contacted": "consumer protection office",
                "When it happened (UTC)": "2026-03-26T10:00",
            },
            "Escalated",
        ),
        (
            "Resolve",
            {
                "Outcome": "Granted",
                "Amount recovered": "25.00",
                "Recovered as": "Credit reinstated",
                "Note": "Reinstated after the agency complaint",
                "When it happened (UTC)": "2026-04-02T10:00",
            },
            "Resolved",
        ),
    ]
    for action, values, state in steps:
        response = act(page, action, values)
        assert response.status == 200 and case_id_from(page.url) == case_id, action
        assert page.get_by_role("status").inner_text() == f"Recorded: {action}."
        assert shows_state(page, state), action
        if action == "Escalate" and values["Level"] == "Supervisor":
            # a repeat escalation can only go higher: the select offers only those levels
            levels = page.get_by_role("form", name="Escalate").get_by_label("Level")
            assert "Supervisor" not in levels.inner_text()
            assert "Consumer agency" in levels.inner_text()
    assert action_forms(page) == ["Attach evidence", "Add note"]  # nothing left to do but record
    act(
        page,
        "Add note",
        {
            "Note": "Credit visible in the wallet again",
            "When it happened (UTC)": "2026-04-03T08:00",
        },
    )
    notes = page.get_by_role("region", name="Notes").get_by_role("listitem")
    assert notes.count() == 1
    assert notes.first.inner_text().startswith("Credit visible in the wallet again")
    check_accessible(page, "the resolved credit")
    shot(page, "temu-credit-resolved", settings, capsys)

    shown = timeline_titles(page)
    assert shown == _api_timeline(api, case_id)
    assert shown[0].startswith("Opened") and shown[-1] == "Note added"
    # back-dated steps show when they were recorded too, as the audit needs
    opened = page.get_by_role("region", name="Timeline").get_by_role("listitem").first
    assert "2026-03-12 09:00 UTC · alice · recorded " in opened.inner_text()
    body = ok(api["owner"].get(f"/v1/cases/{case_id}"))
    assert body["state"] == "resolved" and body["version"] == 10
    assert (body["platform"], body["kind"], body["credit_type"]) == ("temu", "credit", "store")
    assert (body["problem"], body["remedy"], body["amount"]) == ("expired", "reinstate", "25.00")
    assert (body["earned_on"], body["expires_on"]) == ("2026-01-10", "2026-03-10")
    assert body["opened_at"] == "2026-03-12T09:00:00Z"
    assert body["submission"]["reference"] == "T-1001"
    assert (body["follow_ups"], body["denials"], body["appeals"]) == (2, 1, 1)
    assert body["escalations"] == ["supervisor", "consumer_agency"]
    assert (body["outcome"], body["amount_recovered"], body["recovered_form"]) == (
        "granted",
        "25.00",
        "credit_reinstated",
    )
    assert body["resolved_at"] == "2026-04-02T10:00:00Z"
    assert all(url.startswith(base) for url in requested)  # nothing from another host
    context.close()


def test_a_tiktok_promotion_dispute_from_refused_submit_to_partial_refund(
    api, settings, browser, capsys
) -> None:
    base = api.base_url
    context = browser.new_context(viewport={"width": 1280, "height": 1000}, accept_downloads=True)
    page = context.new_page()
    sign_in(page, base, api.keys["owner"])
    page.goto(f"{base}/app/cases/new")
    act(
        page,
        "Open a dispute case",
        {
            "Platform": "tiktok",
            "Account reference": "tt-ads-7788",
            "Charge reference": "CAMPAIGN-042",
            "Amount charged": "120.00",
            "Refund sought": "120.00",
            "Currency": "USD",
            "Reason": "Non performance",
            "Charged on": "2026-02-01",
            "Opened at (UTC)": "2026-02-03T10:00",
        },
    )
    case_id = case_id_from(page.url)
    needed = page.get_by_role("region", name="Progress").get_by_role("listitem")
    assert needed.all_inner_texts() == ["Evidence"]

    refused = act(
        page,
        "Submit",
        {"Channel": "Ads manager", "When it happened (UTC)": "2026-02-04T09:00"},
    )
    assert refused.status == 409
    submit = page.get_by_role("form", name="Submit")
    assert (
        submit.get_by_role("alert").inner_text() == "Not ready to submit: still missing evidence."
    )
    assert shows_state(page, "Opened")
    check_accessible(page, "a refused submit")
    shot(page, "tiktok-submit-refused", settings, capsys)

    act(
        page,
        "Attach evidence",
        {
            "Files": {"name": "campaign-stats.png", "mimeType": "image/png", "buffer": PNG},
            "Kind of evidence": "Screenshot",
            "Description": "Ads Manager: 0 impressions delivered",
            "When it was taken or received (UTC)": "2026-02-03T12:00",
        },
    )
    evidence = page.get_by_role("region", name="Evidence")
    sha256 = hashlib.sha256(PNG).hexdigest()
    assert sha256 in evidence.get_by_role("table").inner_text()
    with page.expect_download() as download:
        evidence.get_by_role("link", name="Download campaign-stats.png").click()
    assert download.value.suggested_filename == "campaign-stats.png"
    with open(download.value.path(), "rb") as handle:
        assert handle.read() == PNG
    assert page.get_by_role("region", name="Progress").get_by_role("listitem").count() == 0

    steps = [
        (
            "Submit",
            {
                "Channel": "Ads manager",
                "Ticket or reference number": "ADS-5521",
                "What you sent": "Campaign CAMPAIGN-042 was charged but never delivered.",
                "When it happened (UTC)": "2026-02-04T09:00",
            },
            "Submitted",
        ),
        (
            "Record response",
            {
                "What the platform said": "Please send the campaign statistics",
                "When it happened (UTC)": "2026-02-07T09:00",
            },
            "Submitted",
        ),
        (
            "Deny",
            {
                "The platform's reason": "Delivery was within policy",
                "When it happened (UTC)": "2026-02-10T09:00",
            },
            "Denied",
        ),
        (
            "Appeal",
            {
                "Grounds": "The screenshot shows zero impressions",
                "When it happened (UTC)": "2026-02-11T09:00",
            },
            "Appealed",
        ),
        (
            "Resolve",
            {
                "Outcome": "Partial",
                "Amount recovered": "60.00",
                "Recovered as": "Refund",
                "When it happened (UTC)": "2026-02-20T09:00",
            },
            "Resolved",
        ),
    ]
    for action, values, state in steps:
        act(page, action, values)
        assert page.get_by_role("status").inner_text() == f"Recorded: {action}.", action
        assert shows_state(page, state), action
    check_accessible(page, "the resolved dispute")
    shot(page, "tiktok-dispute-resolved", settings, capsys)

    shown = timeline_titles(page)
    assert shown == _api_timeline(api, case_id)
    body = ok(api["owner"].get(f"/v1/cases/{case_id}"))
    assert body["state"] == "resolved" and body["version"] == 7  # the refused submit: nothing
    assert (body["charge_reference"], body["charged_amount"], body["refund_amount"]) == (
        "CAMPAIGN-042",
        "120.00",
        "120.00",
    )
    assert body["reason"] == "non_performance" and body["responses"] == 1
    assert (body["denials"], body["appeals"], body["escalations"]) == (1, 1, [])
    assert (body["outcome"], body["amount_recovered"], body["recovered_form"]) == (
        "partial",
        "60.00",
        "refund",
    )
    (item,) = body["evidence"]
    assert (item["sha256"], item["filename"], item["kind"]) == (
        sha256,
        "campaign-stats.png",
        "screenshot",
    )
    assert api["owner"].get(f"/v1/cases/{case_id}/evidence/{item['id']}").content == PNG
    context.close()
