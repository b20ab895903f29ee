"""The case book's Inbox page in a real browser (the system Chromium), checked by axe,
fed by a real IMAP server (``pymap``): mail that matched no case waits there with its
sender, subject, date and the start of its text (shown as text: markup in a stranger's
mail makes no element); an admin records one on a case by a labelled select and
dismisses another; an auditor reads it without forms; a member is not shown it."""

from __future__ import annotations

import pytest

from tests.e2e.test_imap_intake import _mail, _open_submitted, _responses, _setup
from tests.support.browser import browser
from tests.support.casebook import check_accessible, fill, shot, sign_in
from tests.support.imap import imap_server
from tests.support.live import Principals, live_server, wait_for

__all__ = ["browser"]  # the fixture

MARKUP = "<script>alert(1)</script><img src=x onerror=alert(1)>"


@pytest.mark.parametrize("store", ["sqlite"])
def test_the_inbox_page_assigns_and_dismisses_unmatched_mail(
    store, settings_for, tmp_path, browser, capsys
) -> None:
    with imap_server(tmp_path / "imap") as server:
        settings = settings_for(store, **server.settings(), imap_poll_seconds=0.2)
        keys, _ = _setup(settings)
        with live_server(settings) as base:
            api = Principals(base, keys)
            case_id = _open_submitted(api["owner"], "T-5005")
            server.deliver(
                _mail("Your refund", "Which case is this about?"),
                _mail(f"Hello {MARKUP}", f"Text {MARKUP}"),
            )
            wait_for(
                lambda: api["admin"].get("/v1/inbox").json()["counts"]["unmatched"] == 2,
                what="two unmatched messages",
                timeout=60,
            )
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            dialogs: list[str] = []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
            sign_in(page, base, keys["admin"])
            with page.expect_navigation():
                page.get_by_role("link", name="Inbox", exact=True).click()
            assert page.url.endswith("/app/inbox")
            assert page.title() == "Inbox · Reclaim"
            main = page.inner_text("main")
            assert "The mailbox was read at" in main
            assert f"Hello {MARKUP}" in main and f"Text {MARKUP}" in main
            assert page.locator("main script, main img").count() == 0 and dialogs == []
            check_accessible(page, "the inbox page")
            shot(page, "inbox", settings, capsys)

            form = page.get_by_role("form", name="Record on a case: Your refund", exact=True)
            choice = f"temu credit, submitted, ticket T-5005 ({case_id[:8]})"
            fill(form, {"Case to record it on": choice})
            with page.expect_navigation():
                form.get_by_role("button", name="Record on this case").click()
            assert page.url.endswith("/app/inbox?done=assigned")
            assert page.get_by_role("status").inner_text() == "Recorded on the case."
            (answer,) = _responses(api["owner"], case_id)
            assert "Which case is this about?" in answer

            form = page.get_by_role("form", name=f"Dismiss: Hello {MARKUP}", exact=True)
            with page.expect_navigation():
                form.get_by_role("button", name="Dismiss this message").click()
            assert page.get_by_role("status").inner_text() == "Dismissed: its copy is deleted."
            assert "Nothing waits here." in page.inner_text("main")
            check_accessible(page, "the inbox page, emptied")

            # an auditor reads, with no forms; a member is not shown the inbox
            server.deliver(_mail("Another one", "Still no case."))
            wait_for(
                lambda: api["admin"].get("/v1/inbox").json()["items"], what="a third", timeout=60
            )
            auditor = browser.new_page()
            sign_in(auditor, base, keys["auditor"])
            auditor.goto(f"{base}/app/inbox")
            assert "Another one" in auditor.inner_text("main")
            assert auditor.get_by_role("form", name="Record on a case: Another one").count() == 0
            check_accessible(auditor, "the inbox page, read only")
            member = browser.new_page()
            sign_in(member, base, keys["owner"])
            assert member.get_by_role("link", name="Inbox", exact=True).count() == 0
            assert member.goto(f"{base}/app/inbox").status == 403
            for p in (page, auditor, member):
                p.close()
