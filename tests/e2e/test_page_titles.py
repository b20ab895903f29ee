"""Every page names itself: each case book and reports page, fetched over HTTP as a
browser would (signed out, signed in, and the pages that refuse or find nothing), has a
``<title>`` that says which page it is, before the site's name."""

from __future__ import annotations

import re
import uuid
from html import unescape

import httpx
import pytest

from api.http.routers.casebook_pages import TEMPLATE_DIR
from tests.e2e.test_casebook_http import CREDIT_FORM, Browser
from tests.support.api_data import credit_body
from tests.support.report_support import ok

#: templates that are never a page of their own
NOT_PAGES = {"base.html", "macros.html"}
SITE_NAMES = {"Reclaim", "Reclaim reports"}
#: what each page is called (by what draws it): the same page on either half of the
#: site, the same name
EXPECTED = {
    "sign_in.html": "Sign in · Reclaim",
    "reports sign-in": "Sign in · Reclaim",
    "cases.html": "My cases · Reclaim",
    "new_case.html": "Open a case · Reclaim",
    "workflow.html": "Workflow · Reclaim",
    "mail.html": "Mail · Reclaim",
    "unsubscribe.html": "Stop reminder e-mails · Reclaim",
    "reports page": "Reports · Reclaim",
    "reports refused": "Not done · Reclaim",
    "webhooks.html": "Webhooks · Reclaim",
}


def page_title(response: httpx.Response) -> str:
    assert response.headers["content-type"].startswith("text/html"), response.headers
    head = re.search(r"<head>(.*?)</head>", response.text, re.S)
    assert head, response.text[:300]
    titles = re.findall(r"<title>(.*?)</title>", head.group(1), re.S)  # (charts have theirs)
    assert len(titles) == 1, response.text[:300]
    return unescape(titles[0]).strip()


def names_itself(title: str) -> bool:
    """Something before the site's name: ``My cases · Reclaim``, not `` · Reclaim``."""
    own, _, _ = title.rpartition(" · ")
    return bool(own.strip()) and not own.strip().startswith("·") and title not in SITE_NAMES


@pytest.fixture
def browsers(api):
    signed_out = Browser(api.base_url, None)
    alice = Browser(api.base_url, api.keys["owner"])
    yield signed_out, alice
    signed_out.close()
    alice.close()


def test_every_page_names_itself(api, browsers) -> None:
    signed_out, alice = browsers
    case_id = str(ok(api["owner"].post("/v1/credits", json=credit_body()))["id"])
    other_site = {"Origin": "https://elsewhere.example"}
    # (the template that draws it, or the reports page's own renderer; the response)
    pages: list[tuple[str, httpx.Response]] = [
        ("sign_in.html", signed_out.get("/app/sign-in")),
        ("sign_in.html", signed_out.post("/app/sign-in", {"api_key": "rk_wrong"})),
        ("sign_in.html", signed_out.post("/app/sign-in", {"api_key": "x"}, headers=other_site)),
        ("cases.html", alice.get("/app/cases")),
        ("cases.html", alice.get("/app/cases?sort=bogus")),
        ("new_case.html", alice.get("/app/cases/new")),
        (
            "new_case.html",
            alice.post(
                "/app/cases/new/credit",
                {**CREDIT_FORM, "amount": "lots", "csrf_token": alice.token()},
            ),
        ),
        ("case.html", alice.get(f"/app/cases/{case_id}")),
        ("message.html", alice.get(f"/app/cases/{uuid.uuid4()}")),  # not found
        ("message.html", alice.post(f"/app/cases/{case_id}/actions/add_note", {"text": "x"})),
        ("workflow.html", alice.get("/app/workflow")),
        ("workflow.html", alice.get(f"/app/workflow?case={case_id}")),
        ("reports sign-in", signed_out.get("/reports")),
        ("reports sign-in", signed_out.post("/reports/sign-in", {"api_key": "rk_wrong"})),
        ("reports page", alice.get("/reports")),
        ("reports refused", alice.post("/reports/sign-out", {"csrf_token": "wrong"})),
        ("mail.html", alice.get("/app/mail")),
        ("unsubscribe.html", signed_out.get("/mail/unsubscribe/some-token")),
        ("message.html", signed_out.post("/mail/unsubscribe/some-token", {})),  # not known
        ("message.html", alice.get("/app/webhooks")),  # an admin's only
        ("message.html", alice.get("/app/inbox")),  # an admin's and auditor's only
    ]
    admin = Browser(api.base_url, api.keys["admin"])
    try:
        pages.append(("webhooks.html", admin.get("/app/webhooks")))
        pages.append(("message.html", admin.get(f"/app/webhooks/{uuid.uuid4()}")))  # not found
        pages.append(("inbox.html", admin.get("/app/inbox")))
        token = {"csrf_token": admin.token()}
        pages.append(("message.html", admin.post("/app/inbox/in_nothing/dismiss", token)))
    finally:
        admin.close()
    unnamed = []
    for drawn_by, response in pages:
        assert response.status_code < 500, (drawn_by, response.status_code)
        assert response.status_code not in (301, 302, 303), (drawn_by, response.headers)
        title = page_title(response)
        assert title == EXPECTED.get(drawn_by, title), (drawn_by, title)
        if not names_itself(title):
            unnamed.append(
                f"{response.request.method} {response.request.url.path} "
                f"({drawn_by}, {response.status_code}): {title!r}"
            )
    assert unnamed == []
    # every case book template that is a page was fetched above
    templates = {p.name for p in TEMPLATE_DIR.glob("*.html")} - NOT_PAGES
    assert templates <= {drawn_by for drawn_by, _ in pages}, templates
