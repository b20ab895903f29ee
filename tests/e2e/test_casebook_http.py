"""The case book over plain HTTP, as a browser with no JavaScript sends it: form posts,
CSRF refusals, bad input answered beside its field with nothing recorded, nothing recorded
twice, uploads of several files, who may post what. Both stores."""

from __future__ import annotations

import hashlib
import io
import json
import re
import zipfile
from html import unescape

import httpx
import pytest

from tests.support.api_data import PNG, credit_body
from tests.support.report_support import ok

CREDIT_FORM = {
    "platform": "temu",
    "account_reference": "temu-4411",
    "credit_type": "store",
    "amount": "25.00",
    "currency": "USD",
    "problem": "expired",
    "remedy": "reinstate",
    "earned_on": "2026-01-10",
    "expires_on": "2026-03-10",
    "occurred_at": "2026-03-12T09:00",
}


class Browser:
    """A browser without JavaScript: a cookie jar, forms posted from this site's pages."""

    def __init__(self, base_url: str, key: str | None) -> None:
        self.client = httpx.Client(base_url=base_url, follow_redirects=False, timeout=30)
        self.origin = {"Origin": base_url}
        if key is not None:
            signed_in = self.client.post("/app/sign-in", data={"api_key": key}, headers=self.origin)
            assert signed_in.status_code == 303, signed_in.text

    def get(self, path: str) -> httpx.Response:
        return self.client.get(path)

    def token(self, path: str = "/app/cases") -> str:
        return _field(self.get(path).text, "csrf_token")

    def post(self, path: str, data: dict, **kwargs) -> httpx.Response:
        headers = {**self.origin, **kwargs.pop("headers", {})}
        return self.client.post(path, data=data, headers=headers, **kwargs)

    def close(self) -> None:
        self.client.close()


def _field(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, name
    return found.group(1)


def html_text(response: httpx.Response) -> str:
    return unescape(response.text)


def _problem_beside(html: str, field_id: str) -> str:
    """The problem shown beside a field: the text its aria-describedby names."""
    tag = re.search(rf'<(?:input|select|textarea) id="{field_id}"[^>]*>', html)
    assert tag, field_id
    assert 'aria-invalid="true"' in tag.group(0), field_id
    error_id = f"{field_id}-error"
    assert error_id in tag.group(0)
    text = re.search(rf'id="{error_id}">(.*?)</p>', html, re.S)
    assert text, error_id
    return re.sub(r"<[^>]+>", "", text.group(1)).replace("Problem: ", "").strip()


@pytest.fixture
def alice(api):
    browser = Browser(api.base_url, api.keys["owner"])
    yield browser
    browser.close()


def _open(alice: Browser, **changes) -> str:
    response = alice.post(
        "/app/cases/new/credit", {**CREDIT_FORM, **changes, "csrf_token": alice.token()}
    )
    assert response.status_code == 303, response.text
    return re.search(r"/app/cases/([0-9a-f-]{36})", response.headers["location"]).group(1)


def _version(api, case_id: str) -> int:
    return int(ok(api["owner"].get(f"/v1/cases/{case_id}"))["version"])


def test_the_open_form_forgives_the_case_of_a_currency_or_platform(api, alice) -> None:
    """People type "usd" and "TikTok"; the form keeps them as "USD" and "tiktok"."""
    case_id = _open(alice, currency="usd", platform=" TEMU ")
    body = ok(api["owner"].get(f"/v1/cases/{case_id}"))
    assert (body["currency"], body["platform"]) == ("USD", "temu")
    assert body["amount_claimed"] == "25.00"


def test_no_javascript_needed_open_act_and_read_back(api, alice) -> None:
    case_id = _open(alice)
    page = alice.get(f"/app/cases/{case_id}?done=open")
    assert page.status_code == 200
    assert page.headers["content-security-policy"].startswith("default-src 'none'")
    # the one script is Reclaim's own (copy buttons); every form here is posted without it
    assert re.findall(r"<script[^>]*>", page.text) == ['<script src="/static/casebook.js" defer>']
    response = alice.post(
        f"/app/cases/{case_id}/actions/submit",
        {
            "csrf_token": _field(page.text, "csrf_token"),
            "version": _field(page.text, "version"),
            "channel": "email",
            "reference": "T-1",
            "message": "",
            "occurred_at": "",  # left empty: now
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/app/cases/{case_id}?done=submit"
    body = ok(api["owner"].get(f"/v1/cases/{case_id}"))
    assert body["state"] == "submitted" and body["submission"]["reference"] == "T-1"
    assert "Recorded: Submit." in alice.get(response.headers["location"]).text
    # counted like the API's commands
    metrics = alice.get("/metrics").text
    assert 'reclaim_commands_total{action="submit",outcome="ok"} 1.0' in metrics
    assert 'reclaim_commands_total{action="open_credit",outcome="ok"} 1.0' in metrics


def test_a_post_without_its_csrf_token_is_refused_and_records_nothing(api, alice) -> None:
    case_id = _open(alice)
    other = Browser(api.base_url, api.keys["owner"])  # alice again, in another browser
    form = {"version": "1", "channel": "email", "reference": "T-1"}
    path = f"/app/cases/{case_id}/actions/submit"
    try:
        for refused in (
            alice.post(path, form),
            alice.post(path, {**form, "csrf_token": "forged"}),
            alice.post(path, {**form, "csrf_token": other.token()}),  # another session's
            alice.post(
                path,
                {**form, "csrf_token": alice.token()},
                headers={"Origin": "https://evil.example"},
            ),
        ):
            assert refused.status_code == 403
            assert "Nothing was recorded" in refused.text
        opened = alice.post("/app/cases/new/credit", {**CREDIT_FORM, "csrf_token": other.token()})
        assert opened.status_code == 403
        upload = alice.client.post(
            f"/app/cases/{case_id}/evidence",
            data={"version": "1", "kind": "screenshot"},
            files={"file": ("a.png", PNG, "image/png")},
            headers=alice.origin,
        )
        assert upload.status_code == 403
    finally:
        other.close()
    assert _version(api, case_id) == 1
    assert len(ok(api["owner"].get("/v1/cases"))["items"]) == 1


def test_bad_input_is_answered_beside_its_field_and_records_nothing(api, alice) -> None:
    opened = alice.post(
        "/app/cases/new/credit",
        {
            **CREDIT_FORM,
            "amount": "-5",
            "currency": "US$",
            "credit_type": "gold",
            "earned_on": "yesterday",
            "occurred_at": "soon",
            "csrf_token": alice.token(),
        },
    )
    assert opened.status_code == 422
    html = opened.text
    assert _problem_beside(html, "credit-amount") == "must be an amount such as 25.00"
    assert _problem_beside(html, "credit-currency").startswith("must be a three-letter")
    assert _problem_beside(html, "credit-credit_type") == "choose one of the options"
    assert _problem_beside(html, "credit-earned_on") == "must be a date, such as 2026-03-13"
    assert _problem_beside(html, "credit-occurred_at").startswith("must be a date and time")
    assert 'id="credit-platform" name="platform"' in html and 'value="temu"' in html
    nul = alice.post(
        "/app/cases/new/credit",
        {**CREDIT_FORM, "account_reference": "nul\x00byte", "csrf_token": alice.token()},
    )
    assert nul.status_code == 422
    assert "cannot be stored" in _problem_beside(nul.text, "credit-account_reference")
    assert ok(api["owner"].get("/v1/cases"))["items"] == []

    case_id = _open(alice)
    token = alice.token()
    path = f"/app/cases/{case_id}/actions"
    future = alice.post(
        f"{path}/submit",
        {
            "csrf_token": token,
            "version": "1",
            "channel": "email",
            "occurred_at": "2199-01-01T00:00",
        },
    )
    assert future.status_code == 422
    assert "in the future" in _problem_beside(future.text, "submit-occurred_at")
    before = alice.post(
        f"{path}/submit",
        {
            "csrf_token": token,
            "version": "1",
            "channel": "email",
            "occurred_at": "2026-03-01T00:00",
        },
    )
    assert "before the case was opened" in _problem_beside(before.text, "submit-occurred_at")
    no_channel = alice.post(f"{path}/submit", {"csrf_token": token, "version": "1"})
    assert _problem_beside(no_channel.text, "submit-channel") == "is required"
    not_allowed = alice.post(
        f"{path}/appeal", {"csrf_token": token, "version": "1", "grounds": "x"}
    )
    assert not_allowed.status_code == 409
    assert "'appeal' is not allowed while the case is opened" in html_text(not_allowed)
    empty_note = alice.post(f"{path}/add_note", {"csrf_token": token, "version": "1", "text": " "})
    assert _problem_beside(empty_note.text, "add_note-text") == "is required"
    partial = alice.post(
        f"{path}/resolve",
        {
            "csrf_token": token,
            "version": "1",
            "outcome": "partial",
            "recovered_amount": "25.00",
            "recovered_form": "voucher",
        },
    )
    assert "less than the 25.00 USD claimed" in _problem_beside(
        partial.text, "resolve-recovered_amount"
    )
    unknown = alice.post(f"{path}/teleport", {"csrf_token": token, "version": "1"})
    assert unknown.status_code == 404
    assert _version(api, case_id) == 1


def test_the_same_form_sent_twice_is_recorded_once(api, alice) -> None:
    case_id = _open(alice)
    form = {"csrf_token": alice.token(), "version": "1", "text": "Called the hotline"}
    first = alice.post(f"/app/cases/{case_id}/actions/add_note", form)
    second = alice.post(f"/app/cases/{case_id}/actions/add_note", form)
    assert first.status_code == 303
    assert second.status_code == 409
    assert "This case changed while you were looking at it" in second.text
    assert "Nothing was recorded." in second.text
    timeline = ok(api["owner"].get(f"/v1/cases/{case_id}/timeline"))["items"]
    assert [e["title"] for e in timeline].count("Note added") == 1


def test_an_opening_form_sent_twice_opens_one_case(api, alice) -> None:
    page = alice.get("/app/cases/new").text
    form_id = re.search(
        r'action="/app/cases/new/credit".*?name="form_id" value="([^"]+)"', page, re.S
    )
    form = {**CREDIT_FORM, "csrf_token": alice.token(), "form_id": form_id.group(1)}
    first = alice.post("/app/cases/new/credit", form)
    second = alice.post("/app/cases/new/credit", form)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    assert len(ok(api["owner"].get("/v1/cases"))["items"]) == 1
    # a form drawn again is a new case
    again = alice.get("/app/cases/new").text
    assert form_id.group(1) not in again
    assert _open(alice) != case_id_of(first)
    assert len(ok(api["owner"].get("/v1/cases"))["items"]) == 2


def case_id_of(response: httpx.Response) -> str:
    return re.search(r"/app/cases/([0-9a-f-]{36})", response.headers["location"]).group(1)


def test_several_files_in_one_upload_each_become_evidence(api, alice) -> None:
    case_id = _open(alice)
    text = b"Order 1234: credit 25.00 USD expired on 2026-03-10\n"
    upload = alice.client.post(
        f"/app/cases/{case_id}/evidence",
        data={
            "csrf_token": alice.token(),
            "version": "1",
            "kind": "screenshot",
            "occurred_at": "2026-03-12T10:30",
        },
        files=[
            ("file", ("wallet.png", PNG, "image/png")),
            ("file", ("chat.txt", text, "text/plain")),
        ],
        headers=alice.origin,
    )
    assert upload.status_code == 303, upload.text
    evidence = ok(api["owner"].get(f"/v1/cases/{case_id}"))["evidence"]
    assert [(e["filename"], e["sha256"]) for e in evidence] == [
        ("wallet.png", hashlib.sha256(PNG).hexdigest()),
        ("chat.txt", hashlib.sha256(text).hexdigest()),
    ]
    timeline = ok(api["owner"].get(f"/v1/cases/{case_id}/timeline"))["items"]
    dated = [e["occurred_at"] for e in timeline if e["event_type"] == "evidence_attached"]
    assert dated == ["2026-03-12T10:30:00Z"] * 2  # when the screenshot was taken
    page = alice.get(f"/app/cases/{case_id}").text
    for item in evidence:
        assert item["sha256"] in page
        download = alice.get(f"/app/cases/{case_id}/evidence/{item['id']}")
        assert download.status_code == 200
        assert download.content == (PNG if item["filename"] == "wallet.png" else text)
        assert "attachment" in download.headers["content-disposition"]
    dossier = alice.get(f"/app/cases/{case_id}/dossier")
    assert dossier.status_code == 200 and dossier.content[:2] == b"PK"


@pytest.mark.parametrize(
    ("files", "problem"),
    [
        ([], "choose at least one file"),
        ([("file", ("a.exe", b"MZ\x90\x00", "application/octet-stream"))], "is not accepted"),
        ([("file", ("fake.png", b"not a png", "image/png"))], "content is not image/png"),
        ([("file", ("empty.txt", b"", "text/plain"))], "is empty"),
        (
            [("file", ("ok.png", PNG, "image/png")), ("file", ("bad.png", b"nope", "image/png"))],
            "bad.png",
        ),
    ],
)
def test_a_bad_file_records_nothing(api, alice, files, problem) -> None:
    case_id = _open(alice)
    response = alice.client.post(
        f"/app/cases/{case_id}/evidence",
        data={"csrf_token": alice.token(), "version": "1", "kind": "screenshot"},
        files=files or [("file", ("", b"", "application/octet-stream"))],
        headers=alice.origin,
    )
    assert response.status_code == 422
    assert problem in _problem_beside(response.text, "attach_evidence-file")
    assert _version(api, case_id) == 1


def test_a_bad_time_on_an_upload_records_nothing(api, alice) -> None:
    case_id = _open(alice)
    for when, problem in (
        ("whenever", "must be a date and time"),
        ("2026-03-01T00:00", "before the case was opened"),
    ):
        response = alice.client.post(
            f"/app/cases/{case_id}/evidence",
            data={
                "csrf_token": alice.token(),
                "version": "1",
                "kind": "screenshot",
                "occurred_at": when,
            },
            files={"file": ("wallet.png", PNG, "image/png")},
            headers=alice.origin,
        )
        assert response.status_code == 422
        assert problem in _problem_beside(response.text, "attach_evidence-occurred_at")
    assert _version(api, case_id) == 1


def test_an_upload_over_the_limit_is_refused_unread(api_small) -> None:
    api, limit = api_small
    alice = Browser(api.base_url, api.keys["owner"])
    try:
        case_id = _open(alice)
        response = alice.client.post(
            f"/app/cases/{case_id}/evidence",
            data={"csrf_token": alice.token(), "version": "1", "kind": "screenshot"},
            files={"file": ("big.txt", b"x" * (limit + 70_000), "text/plain")},
            headers=alice.origin,
        )
        assert response.status_code == 413
        assert "larger than" in _problem_beside(response.text, "attach_evidence-file")
        assert _version(api, case_id) == 1
    finally:
        alice.close()


@pytest.fixture
def api_small(settings_for, store):
    """A live server whose uploads may be at most 100 kB."""
    from infrastructure.store.application import ReclaimApplication
    from tests.support.live import Principals, live_server

    limit = 100_000
    small = settings_for(store, max_upload_bytes=limit)
    setup = ReclaimApplication(small)
    key, _ = setup.keys.create("alice", "home", "member")
    setup.close()
    with live_server(small) as base_url:
        principals = Principals(base_url, {"owner": key})
        try:
            yield principals, limit
        finally:
            principals.close()


def test_who_may_post_what(api, alice) -> None:
    case_id = _open(alice)
    auditor = Browser(api.base_url, api.keys["auditor"])
    bob = Browser(api.base_url, api.keys["other_member"])
    erin = Browser(api.base_url, api.keys["foreign_member"])
    try:
        note = {"version": "1", "text": "mine now"}
        by_auditor = auditor.post(
            f"/app/cases/{case_id}/actions/add_note", {**note, "csrf_token": auditor.token()}
        )
        assert by_auditor.status_code == 403
        assert "read this case, not change it" in by_auditor.text
        assert auditor.get("/app/cases/new").status_code == 403
        opened = auditor.post(
            "/app/cases/new/credit", {**CREDIT_FORM, "csrf_token": auditor.token()}
        )
        assert opened.status_code == 403
        for other in (bob, erin):
            assert other.get(f"/app/cases/{case_id}").status_code == 404
            posted = other.post(
                f"/app/cases/{case_id}/actions/add_note", {**note, "csrf_token": other.token()}
            )
            assert posted.status_code == 404
            assert "No such case" in posted.text
        assert erin.get(f"/app/cases/{case_id}/dossier").status_code == 404
        unknown = erin.get("/app/no/such/page")
        assert unknown.status_code == 404 and unknown.headers["content-type"].startswith(
            "text/html"
        )
    finally:
        for browser in (auditor, bob, erin):
            browser.close()
    assert _version(api, case_id) == 1


def test_signed_out_pages_lead_to_sign_in(api) -> None:
    anonymous = Browser(api.base_url, None)
    try:
        assert anonymous.get("/").headers["location"] == "/app/sign-in"
        for path in ("/app/cases", "/app/cases/new", "/app/workflow"):
            assert anonymous.get(path).headers["location"] == "/app/sign-in", path
        case_id = str(ok(api["owner"].post("/v1/credits", json=credit_body()))["id"])
        posted = anonymous.post(f"/app/cases/{case_id}/actions/add_note", {"text": "hi"})
        assert posted.status_code == 303 and posted.headers["location"] == "/app/sign-in"
        assert anonymous.get(f"/app/cases/{case_id}").headers["location"] == "/app/sign-in"
        css = anonymous.get("/static/casebook.css")
        assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    finally:
        anonymous.close()


def test_what_users_typed_is_shown_as_text_never_as_markup(api, alice) -> None:
    attack = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
    case_id = _open(alice, account_reference=attack)
    token = alice.token()
    noted = alice.post(
        f"/app/cases/{case_id}/actions/add_note",
        {"csrf_token": token, "version": "1", "text": attack},
    )
    assert noted.status_code == 303
    for page in (alice.get(f"/app/cases/{case_id}").text, alice.get("/app/cases").text):
        assert "<script>" not in page and "<img" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    refused = alice.post(
        "/app/cases/new/credit", {**CREDIT_FORM, "amount": attack, "csrf_token": token}
    )
    assert refused.status_code == 422 and "<script>" not in refused.text


@pytest.mark.parametrize(
    ("params", "field_id", "message"),
    [
        ({"sort": "bogus"}, "f-sort", "choose one of the orders"),
        ({"kind": "loan"}, "f-kind", "choose credit or dispute"),
        ({"state": "lost"}, "f-state", "choose one of the states"),
        ({"platform": "x" * 41}, "f-platform", "is longer than 40 characters"),
        ({"due_before": "someday"}, "f-due_before", "must be a date, such as 2026-03-13"),
    ],
)
def test_a_bad_filter_on_my_cases_is_shown_beside_its_field(
    api, alice, params, field_id, message
) -> None:
    _open(alice)
    page = alice.client.get("/app/cases", params=params)
    assert page.status_code == 422
    assert _problem_beside(page.text, field_id) == message
    assert '<td><a href="/app/cases/' not in page.text  # nothing listed, and it says why
    if "sort" in params:  # the order falls back to the first, and the page says so
        chosen = re.search(r'<option value="([^"]*)" selected>', page.text.split('id="f-sort"')[1])
        assert chosen and chosen.group(1) == "-opened_at"


def test_download_my_data_is_a_link_on_my_cases_to_my_own_zip(api, alice) -> None:
    """The same ZIP as ``GET /v1/me/export``, for whoever is signed in; no script, no form."""
    case_id = _open(alice)
    other = credit_body(account_reference="bob-ref-31337")
    bobs = str(ok(api["other_member"].post("/v1/credits", json=other))["id"])
    page = alice.get("/app/cases")
    link = re.search(r'<a [^>]*href="(/app/my-data)"[^>]*>Download my data', page.text)
    assert link, "the link on My cases"
    download = alice.get(link.group(1))
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/zip"
    assert download.headers["content-disposition"].startswith("attachment;")
    archive = zipfile.ZipFile(io.BytesIO(download.content))
    manifest = json.loads(archive.read("manifest.json"))
    assert (manifest["user_id"], manifest["cases"]) == ("alice", [case_id])
    assert json.loads(archive.read("account.json"))["browser_sessions"] == 1
    for content in map(archive.read, archive.namelist()):
        assert bobs.encode() not in content and b"bob-ref-31337" not in content
    from_api = zipfile.ZipFile(io.BytesIO(api["owner"].get("/v1/me/export").content))
    assert sorted(from_api.namelist()) == sorted(archive.namelist())

    anonymous = Browser(api.base_url, None)
    try:
        signed_out = anonymous.get("/app/my-data")
        assert signed_out.status_code == 303 and signed_out.headers["location"] == "/app/sign-in"
    finally:
        anonymous.close()
