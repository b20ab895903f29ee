"""The case book's webhooks page in a real Chromium, on both stores: a workspace's admin sees
its endpoints and their deliveries, and a receiver's hostile answer shows as the text it
is (escaped in the HTML, nothing run); axe finds nothing. Members and auditors are not
shown it; another workspace's admin sees none of it."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.test_webhooks import FAST, open_case, principals_on, register, story
from tests.support.browser import browser
from tests.support.casebook import check_accessible, shot, sign_in
from tests.support.live import Principals, live_server
from tests.support.receiver import running_receiver, wait_for

__all__ = ["browser"]  # the fixture

HOSTILE = "<script>alert(1)</script><img src=x onerror=alert(1)>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;"


@pytest.fixture
def hooks(store: str, settings_for):
    settings = settings_for(store, **FAST)
    keys = principals_on(settings)
    with live_server(settings) as base_url:
        principals = Principals(base_url, keys)
        try:
            yield principals, settings
        finally:
            principals.close()


def _page_html(base_url: str, key: str, path: str) -> httpx.Response:
    """The page as the server sends it (before any browser parses it)."""
    with httpx.Client(base_url=base_url, follow_redirects=False, timeout=30) as client:
        signed_in = client.post("/app/sign-in", data={"api_key": key}, headers={"Origin": base_url})
        assert signed_in.status_code == 303
        return client.get(path)


def test_a_receivers_answer_shows_as_text_on_the_admins_webhooks_page(
    hooks, browser, capsys
) -> None:
    api, settings = hooks
    admin = api["admin"]
    with running_receiver(plan=["fail"], answer_text=HOSTILE) as receiver:
        made = register(admin, receiver.url, description="<b>crm</b>")
        receiver.secret = made["secret"]
        case_id = open_case(api["owner"])
        story(api["owner"], case_id)
        log_path = f"/v1/webhooks/{made['id']}/deliveries"
        wait_for(
            lambda: [d["status"] for d in admin.get(log_path).json()["items"]] == ["delivered"] * 4,
            30,
            "every delivery taken",
        )

    # the HTML as sent: the answer escaped, never as markup
    sent = _page_html(api.base_url, api.keys["admin"], "/app/webhooks")
    assert sent.status_code == 200
    assert HOSTILE not in sent.text and ESCAPED in sent.text
    assert "<b>crm</b>" not in sent.text and "&lt;b&gt;crm&lt;/b&gt;" in sent.text

    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    try:
        sign_in(page, api.base_url, api.keys["admin"])
        page.get_by_role("navigation", name="Reclaim").get_by_role("link", name="Webhooks").click()
        page.wait_for_url(f"{api.base_url}/app/webhooks")
        assert page.get_by_role("heading", level=1).inner_text() == "Webhooks"
        section = page.get_by_role("region", name=receiver.url)
        assert "Active" in section.inner_text() and "<b>crm</b>" in section.inner_text()
        table = section.get_by_role("table")
        headers = table.get_by_role("columnheader").all_inner_texts()
        assert headers == [
            "Event",
            "Delivery status",
            "Attempts",
            "Last status code",
            "Latency",
            "Error",
            "The receiver's answer (start)",
        ]
        rows = table.locator("tbody tr")
        assert rows.count() == 4
        first_sent = rows.last  # newest first: the opening was the first sent
        cells = first_sent.get_by_role("cell").all_inner_texts()
        assert cells[0].startswith("Opened")
        assert cells[1].startswith("Delivered") and cells[2] == "2" and cells[3] == "200"
        assert cells[4].endswith(" ms")
        # the answer is the text the receiver sent, shown; nothing of it became an element
        assert cells[6] == HOSTILE
        assert page.locator("main img, main script").count() == 0
        page.wait_for_timeout(300)
        assert dialogs == []
        check_accessible(page, "the webhooks page")
        shot(page, "webhooks", settings, capsys)

        # one endpoint's whole log
        section.get_by_role("link", name="Every delivery to this endpoint").click()
        page.wait_for_url(f"{api.base_url}/app/webhooks/{made['id']}")
        assert page.locator("tbody tr").count() == 4
        assert page.get_by_text(HOSTILE, exact=True).first.is_visible()
        check_accessible(page, "one endpoint's deliveries")
        assert dialogs == []
    finally:
        page.close()


def test_only_the_workspaces_admin_sees_its_webhooks_page(hooks, browser) -> None:
    api, _ = hooks
    made = register(api["admin"], "http://127.0.0.1:9/hook", description="the crm")
    paths = ["/app/webhooks", f"/app/webhooks/{made['id']}"]
    for who in ("owner", "auditor"):
        page = browser.new_page()
        try:
            sign_in(page, api.base_url, api.keys[who])
            nav = page.get_by_role("navigation", name="Reclaim")
            assert "Webhooks" not in nav.get_by_role("link").all_inner_texts()
            for path in paths:
                answer = page.goto(f"{api.base_url}{path}")
                assert answer is not None and answer.status == 403, (who, path)
                assert page.get_by_role("heading", level=1).inner_text() == "Not done"
                assert "127.0.0.1:9" not in page.content() and "the crm" not in page.content()
        finally:
            page.close()
    # another workspace's admin: none of it listed, the endpoint's page not there
    foreign = api.keys["foreign_admin"]
    listed = _page_html(api.base_url, foreign, "/app/webhooks")
    assert listed.status_code == 200 and "No endpoints are registered." in listed.text
    assert "127.0.0.1:9" not in listed.text
    one = _page_html(api.base_url, foreign, paths[1])
    assert one.status_code == 404 and "127.0.0.1:9" not in one.text
    assert _page_html(api.base_url, foreign, "/app/webhooks/not-an-id").status_code == 404
    with httpx.Client(base_url=api.base_url, follow_redirects=False) as nobody:
        assert nobody.get(paths[0]).headers["location"] == "/app/sign-in"
