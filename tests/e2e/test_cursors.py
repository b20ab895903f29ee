"""Paging cursors as a client sends them back, over HTTP on both stores: the API refuses a
bad one with a 422 naming ``cursor``, the case book says so on the page, and nothing a
client can put in a cursor (forged, tampered, random JSON or random bytes) gives a 5xx."""

from __future__ import annotations

import base64
import json
from html import unescape

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tests.e2e.test_casebook_http import Browser
from tests.support.api_data import credit_body, when
from tests.support.report_support import ok

PAGE_GONE = "That page of the list is no longer valid: start from the first."
#: how a case's row in the case book's table begins
ROW_LINK = '<td><a href="/app/cases/'
#: the orders both the API and the case book offer
SORTS = ["-opened_at", "opened_at", "-last_activity_at", "-amount_claimed", "amount_claimed"]


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def as_cursor(value: object) -> str:
    return b64(json.dumps(value, separators=(",", ":")).encode())


@pytest.fixture
def alice(api):
    browser = Browser(api.base_url, api.keys["owner"])
    yield browser
    browser.close()


@pytest.fixture
def three_cases(api) -> list[str]:
    ids = []
    for n in range(3):
        body = credit_body(amount=f"{n + 1}.00", occurred_at=when(2 + n))
        ids.append(ok(api["owner"].post("/v1/credits", json=body))["id"])
    return ids


def refused_as_cursor(response) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"].endswith("/invalid-request")
    assert [e["field"] for e in problem["errors"]] == ["cursor"], problem


def page_says_start_again(response) -> None:
    assert response.status_code < 500, response.text
    assert PAGE_GONE in unescape(response.text)
    assert 'href="/app/cases">First page</a>' in response.text


def test_a_crafted_cursor_is_refused_as_the_cursor_never_a_server_error(
    api, alice, three_cases
) -> None:
    alice_api = api["owner"]
    first = ok(alice_api.get("/v1/cases", params={"sort": "-opened_at", "limit": 1}))
    real = first["next_cursor"]
    assert real is not None
    [newest] = [i["id"] for i in first["items"]]
    crafted = [
        ("-opened_at", as_cursor(["-opened_at", [1, 2], "x"])),  # the issue's: a list in the SQL
        ("-opened_at", as_cursor({"a": 1})),
        ("-opened_at", as_cursor(10**30)),
        ("-opened_at", as_cursor(["-opened_at", 10**30, "x"])),
        ("-opened_at", as_cursor(["-opened_at", {"a": 1}, "x"])),
        ("-amount_claimed", as_cursor(["-amount_claimed", 10**30, newest])),
        ("-amount_claimed", as_cursor(["-amount_claimed", "1000", newest])),
        ("-opened_at", as_cursor(["-opened_at", None, newest])),
        # well-formed, but not one the list gave out
        ("-opened_at", as_cursor(["-opened_at", "2026-03-14T09:00:00.000000+00:00", newest])),
        ("-opened_at", as_cursor(["-opened_at", "2026-03-14T09:00:00.000000+00:00", newest, 1])),
        ("-opened_at", real[:-2] + ("AA" if real[-2:] != "AA" else "BB")),  # tampered with
        ("-opened_at", real + "x"),
        ("opened_at", real),  # another order's
        ("-opened_at", "garbage"),
        ("-opened_at", "%%%"),
    ]
    for sort, cursor in crafted:
        params = {"sort": sort, "cursor": cursor}
        refused_as_cursor(alice_api.get("/v1/cases", params=params))
        page_says_start_again(alice.client.get("/app/cases", params=params))

    # the cursor the list gave out still leads on, through the API and on the page
    rest = ok(alice_api.get("/v1/cases", params={"sort": "-opened_at", "cursor": real}))
    assert newest not in [i["id"] for i in rest["items"]] and len(rest["items"]) == 2
    page = alice.client.get("/app/cases", params={"sort": "-opened_at", "cursor": real})
    assert page.status_code == 200 and PAGE_GONE not in unescape(page.text)
    assert page.text.count(ROW_LINK) == 2 and newest not in page.text.split("<table")[1]


def test_a_cursor_from_the_case_book_leads_on_and_a_forged_one_does_not(
    api, alice, three_cases
) -> None:
    # 25 a page: two more than that gives the page a next link
    for n in range(23):
        ok(api["owner"].post("/v1/credits", json=credit_body(occurred_at=when(10, hour=n))))
    first = alice.get("/app/cases")
    assert first.status_code == 200
    next_url = unescape(first.text.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0])
    second = alice.get(next_url)
    assert second.status_code == 200 and PAGE_GONE not in unescape(second.text)
    assert second.text.count(ROW_LINK) == 1
    forged = alice.client.get(
        "/app/cases",
        params={"cursor": as_cursor(["-opened_at", "2026-03-14T09:00:00.000000+00:00", "z"])},
    )
    page_says_start_again(forged)
    assert ROW_LINK not in forged.text


def test_the_audit_logs_position_to_read_after_is_checked_too(api, three_cases) -> None:
    """The audit events list pages by ``after``, a log position (a number anyone may
    know, no secret): anything but a whole number from 0 to 2**62 is a 422 naming it."""
    auditor = api["auditor"]
    first = ok(auditor.get("/v1/audit/events", params={"limit": 1}))
    rest = ok(auditor.get("/v1/audit/events", params={"after": first["next_after"]}))
    assert rest["items"][0]["position"] > first["items"][0]["position"]
    for bad in ("-1", str(2**62 + 1), str(2**63), "1.5", "x", "", "[1]", "1e3", "\x00"):
        response = auditor.get("/v1/audit/events", params={"after": bad})
        assert response.status_code == 422, (bad, response.text)
        assert [e["field"] for e in response.json()["errors"]] == ["after"], bad


# --- the property: whatever is inside the base64, no 5xx ----------------------------------
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def _cursors(draw) -> tuple[str, str]:
    sort = draw(st.sampled_from(SORTS))
    # the shape a cursor has: its order, the last row's value, the last row's case id
    case_ids = st.uuids().map(str) | st.text(max_size=40) | _json
    shaped = st.tuples(st.just(sort), _json, case_ids).map(list)
    signed_looking = st.tuples(shaped.map(as_cursor), st.binary(max_size=40).map(b64))
    raw = draw(
        st.one_of(
            _json.map(as_cursor),
            shaped.map(as_cursor),
            shaped.map(as_cursor),
            st.binary(max_size=200).map(b64),
            signed_looking.map(".".join),
            st.text(max_size=60),
        )
    )
    return sort, raw


def test_no_cursor_gives_a_server_error(api, alice, three_cases) -> None:
    alice_api = api["owner"]
    failures: list[str] = []

    @given(drawn=_cursors())
    @hypothesis_settings(
        max_examples=120,
        deadline=None,
        database=None,
        derandomize=True,  # the same examples every run: CI must not flake
        suppress_health_check=list(HealthCheck),
    )
    def exercise(drawn: tuple[str, str]) -> None:
        sort, cursor = drawn
        params = {"sort": sort, "cursor": cursor}
        response = alice_api.get("/v1/cases", params=params)
        if response.status_code >= 500:
            failures.append(f"/v1/cases {cursor!r}: {response.status_code} {response.text[:200]}")
        else:  # no cursor drawn here is one the list gave out
            refused_as_cursor(response)
        page = alice.client.get("/app/cases", params=params)
        if page.status_code >= 500:
            failures.append(f"/app/cases {cursor!r}: {page.status_code}")
        elif cursor:
            assert ROW_LINK not in page.text and PAGE_GONE in unescape(page.text), cursor

    exercise()
    assert failures == []
