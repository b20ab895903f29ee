"""What the case book's browser tests share: signing in, filling a form by its labels and
pressing its button, the accessibility check, screenshots. No tests of its own.

Everything is found as a user finds it: by role and accessible name, or by label.
"""

from __future__ import annotations

import re
from typing import Any

from tests.support.browser import save_screenshot

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(64))


def store_name(settings) -> str:
    return "postgres" if settings.uses_postgres else "sqlite"


def sign_in(page, base: str, key: str) -> None:
    page.goto(f"{base}/")
    assert page.url == f"{base}/app/sign-in"
    page.get_by_label("API key", exact=True).fill(key)
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    assert page.url == f"{base}/app/cases", page.content()


def fill(form, values: dict[str, Any]) -> None:
    """Fill a form's fields by their labels: a select takes the option's visible text."""
    for label, value in values.items():
        field = form.get_by_label(label)
        tag = field.evaluate("e => e.tagName.toLowerCase() + ':' + (e.type || '')")
        if tag.startswith("select"):
            field.select_option(label=value)
        elif tag == "input:checkbox":
            field.set_checked(bool(value))
        elif tag == "input:file":
            field.set_input_files(value)
        else:
            field.fill(value)


def act(page, name: str, values: dict[str, Any] | None = None, *, button: str | None = None):
    """Fill the form named ``name`` and press its button (named the same unless told);
    returns the response to the post."""
    form = page.get_by_role("form", name=name, exact=True)
    fill(form, values or {})
    with page.expect_navigation() as navigation:
        form.get_by_role("button", name=button or name, exact=True).click()
    return navigation.value


def shows_state(page, state: str) -> bool:
    return page.get_by_text(f"State: {state}", exact=True).is_visible()


def timeline_titles(page) -> list[str]:
    """Each timeline entry's title, top to bottom (the first line of each item)."""
    section = page.get_by_role("region", name="Timeline")
    return [
        item.inner_text().split("\n")[0].strip() for item in section.get_by_role("listitem").all()
    ]


def action_forms(page) -> list[str]:
    """The names of the forms on the page that record something."""
    names = []
    for form in page.get_by_role("form").all():
        name = form.evaluate(
            "f => { const id = f.getAttribute('aria-labelledby');"
            " return id ? document.getElementById(id).textContent.trim() : ''; }"
        )
        names.append(name)
    return [n for n in names if n not in ("Find cases", "")]


def check_accessible(page, where: str) -> None:
    """axe-core finds nothing on the page, at any impact."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    violations = results.response["violations"]
    assert not violations, (
        where,
        [
            (v["id"], v["impact"], v["help"], [n["html"][:160] for n in v["nodes"][:3]])
            for v in violations
        ],
    )


def shot(page, name: str, settings, capsys) -> None:
    save_screenshot(page, f"casebook-{name}-{store_name(settings)}.png", capsys)


def case_id_from(url: str) -> str:
    found = re.search(r"/app/cases/([0-9a-f-]{36})", url)
    assert found, url
    return found.group(1)
