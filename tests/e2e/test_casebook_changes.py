"""An open case page says when the case changes elsewhere, in a real Chromium: the page's
own script (``/static/casebook.js``) follows the case's stream
(``/app/cases/<id>/changes``, authorised by the session as the page is) and reveals a
``role="status"`` notice with a link to reload. Without JavaScript the page is as it was.
The stream is another session's or workspace's case: the same 404 page. Both stores."""

from __future__ import annotations

import json
import re
import threading
import time

import httpx

from tests.support.api_data import credit_body
from tests.support.browser import browser
from tests.support.casebook import check_accessible, shot, shows_state, sign_in
from tests.support.report_support import act as api_act
from tests.support.report_support import days_ago, ok

__all__ = ["browser"]  # the fixture

CHANGED = "This case has changed since the page was drawn"


def _opened(api, who: str = "owner") -> str:
    body = credit_body(occurred_at=days_ago(10))
    return str(ok(api[who].post("/v1/credits", json=body))["id"])


def _stream_of(case_id: str):
    return lambda response: f"/app/cases/{case_id}/changes?after=" in response.url


def _notice(page):
    return page.get_by_role("status").filter(has_text=CHANGED)


def test_an_open_case_page_says_when_the_case_changed_elsewhere(
    api, settings, browser, capsys
) -> None:
    from playwright.sync_api import expect  # (the browser fixture skips without it)

    case_id = _opened(api)
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    try:
        sign_in(page, api.base_url, api.keys["owner"])
        with page.expect_response(_stream_of(case_id)) as streamed:
            page.goto(f"{api.base_url}/app/cases/{case_id}")
        # the page's own script follows the case's stream, from the version it shows
        assert streamed.value.status == 200
        assert streamed.value.headers["content-type"].startswith("text/event-stream")
        assert shows_state(page, "Opened")
        assert not _notice(page).is_visible()

        # meanwhile, through the API (another tab, a script, a colleague's tool)
        api_act(api["owner"], case_id, "submit", 2, channel="email", reference="T-9")

        notice = _notice(page)
        notice.wait_for(state="visible", timeout=15_000)
        expect(notice).to_contain_text("it is now at version 2")
        # nothing else moved: the page still shows the case as it was drawn
        assert shows_state(page, "Opened")
        check_accessible(page, "the case page with its changed notice")
        shot(page, "case-changed", settings, capsys)

        with page.expect_navigation():
            notice.get_by_role("link", name="Reload the page").click()
        assert shows_state(page, "Submitted")
        assert not _notice(page).is_visible()
    finally:
        page.close()


def test_an_auditor_reading_the_case_is_told_too(api, browser) -> None:
    case_id = _opened(api)
    page = browser.new_page()
    try:
        sign_in(page, api.base_url, api.keys["auditor"])
        with page.expect_response(_stream_of(case_id)):
            page.goto(f"{api.base_url}/app/cases/{case_id}")
        ok(api["owner"].post(f"/v1/cases/{case_id}/notes", json={"text": "called them"}))
        _notice(page).wait_for(state="visible", timeout=15_000)
    finally:
        page.close()


def test_without_javascript_the_case_page_is_as_before(api, browser) -> None:
    case_id = _opened(api)
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    try:
        sign_in(page, api.base_url, api.keys["owner"])
        page.goto(f"{api.base_url}/app/cases/{case_id}")
        assert shows_state(page, "Opened")
        api_act(api["owner"], case_id, "submit", 2, channel="email", reference="T-9")
        page.wait_for_timeout(1500)
        # no script: the notice stays hidden, no stream is asked for, the page is as before
        assert not _notice(page).is_visible()
        assert not [url for url in asked if "/changes" in url]
        page.reload()
        assert shows_state(page, "Submitted")
    finally:
        context.close()


def _session(base_url: str, key: str) -> httpx.Client:
    client = httpx.Client(base_url=base_url, follow_redirects=False, timeout=30)
    signed_in = client.post("/app/sign-in", data={"api_key": key}, headers={"Origin": base_url})
    assert signed_in.status_code == 303, signed_in.text
    return client


def _events(client: httpx.Client, path: str, count: int, **kwargs) -> list[dict]:
    """The first ``count`` events of a stream (it stays open: read no further)."""
    got: list[dict] = []
    with client.stream("GET", path, **kwargs) as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("text/event-stream")
        for line in answer.iter_lines():
            if line.startswith("data: "):
                got.append(json.loads(line[6:]))
                if len(got) == count:
                    break
    return got


def test_the_changes_stream_carries_the_case_and_resumes(api) -> None:
    case_id = _opened(api)
    other_case = _opened(api)
    path = f"/app/cases/{case_id}/changes"
    owner = _session(api.base_url, api.keys["owner"])
    try:
        [first] = _events(owner, f"{path}?after=0", 1)
        assert first["case_id"] == case_id and first["version"] == 1
        assert first["type"] == "opened"
        # resuming after the last event seen (a browser reconnecting): the case's next
        # event, not the other case's recorded in between
        ok(api["owner"].post(f"/v1/cases/{other_case}/notes", json={"text": "x"}))
        ok(api["owner"].post(f"/v1/cases/{case_id}/notes", json={"text": "rang support"}))
        [resumed] = _events(owner, path, 1, headers={"Last-Event-ID": str(first["position"])})
        assert (resumed["case_id"], resumed["version"]) == (case_id, 2)
        assert resumed["type"] == "note_added" and "rang support" not in json.dumps(resumed)
    finally:
        owner.close()


def test_another_users_or_workspaces_case_stream_is_a_404(api) -> None:
    case_id = _opened(api)
    path = f"/app/cases/{case_id}/changes?after=0"
    for who in ("other_member", "foreign_auditor", "foreign_member"):
        client = _session(api.base_url, api.keys[who])
        try:
            answer = client.get(path)
            assert answer.status_code == 404, (who, answer.text[:200])
            assert "No such case" in answer.text
            assert case_id[:8] not in answer.text
        finally:
            client.close()
    with httpx.Client(base_url=api.base_url, follow_redirects=False) as nobody:
        answer = nobody.get(path)
        assert answer.status_code == 303 and answer.headers["location"] == "/app/sign-in"
        # an API key is not a session: the case book's routes do not take it
        keyed = nobody.get(path, headers={"Authorization": f"Bearer {api.keys['owner']}"})
        assert keyed.status_code == 303
    owner = _session(api.base_url, api.keys["owner"])
    try:
        assert owner.get("/app/cases/not-a-case/changes").status_code == 404
    finally:
        owner.close()


def test_the_stream_ends_when_the_session_does(api, monkeypatch) -> None:
    from api.http.routers import events

    monkeypatch.setattr(events, "KEEPALIVE_SECONDS", 0.5)  # (how often it asks; 15 s)
    case_id = _opened(api)
    owner = _session(api.base_url, api.keys["owner"])
    try:
        page = owner.get(f"/app/cases/{case_id}")
        token = re.search(r'name="csrf_token" value="([^"]*)"', page.text)
        assert token
        ended = threading.Event()

        def follow() -> None:
            with owner.stream("GET", f"/app/cases/{case_id}/changes") as answer:
                assert answer.status_code == 200
                for _ in answer.iter_lines():
                    pass
            ended.set()

        reader = threading.Thread(target=follow, daemon=True)
        reader.start()
        time.sleep(1.0)
        assert not ended.is_set()  # open while the session is
        signed_out = httpx.post(
            f"{api.base_url}/app/sign-out",
            data={"csrf_token": token.group(1)},
            cookies=dict(owner.cookies),
            headers={"Origin": api.base_url},
        )
        assert signed_out.status_code == 303
        assert ended.wait(10), "the stream went on after sign-out"
    finally:
        owner.close()
