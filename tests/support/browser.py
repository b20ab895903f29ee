"""A real headless Chromium for tests: Debian's /usr/bin/chromium driven by Playwright.

Playwright's own browser download cannot work on these machines, so it is never
used: ``python3 dev.py test`` installs Debian's ``chromium`` when missing (as root),
and a test that needs the browser is skipped with the reason when it is not there.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.support import ROOT

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "test-artifacts"


def chromium_path() -> Path:
    found = CHROMIUM if CHROMIUM.exists() else None
    found = found or (Path(p) if (p := shutil.which("chromium")) else None)
    if found is None:
        pytest.skip("no Chromium here: install Debian's 'chromium' (python3 dev.py test does)")
    return found


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    playwright_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is in the test extra: pip install -e .[test]"
    )
    executable = chromium_path()
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@contextmanager
def serve(respond: Callable[[str, str, bytes], tuple[int, dict[str, str], bytes]]) -> Iterator[str]:
    """A tiny real HTTP server on 127.0.0.1 answering with ``respond(method, path, body)``;
    yields its base URL and stops when done."""

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            status, headers, body = respond(self.command, self.path, self.rfile.read(length))
            self.send_response(status)
            for name, value in {**headers, "Content-Length": str(len(body))}.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer  # noqa: N815 - the names http.server calls

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def save_screenshot(page: Any, name: str, capsys: pytest.CaptureFixture[str]) -> Path:
    """Save a full-page screenshot under test-artifacts/ and print its path in the test
    output (past pytest's capture, so a plain run shows it)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    with capsys.disabled():
        print(f"\nscreenshot: {path}")
    return path


#: every drawn bar of every chart on the page, read in the browser
READ_BARS_JS = """
() => Object.fromEntries([...document.querySelectorAll('svg.chart')].map(svg => [
  svg.id,
  [...svg.querySelectorAll('rect.bar')].map(rect => {
    const box = rect.getBoundingClientRect();
    return {
      label: rect.dataset.label, series: rect.dataset.series, value: rect.dataset.value,
      length: svg.dataset.orientation === 'vertical' ? box.height : box.width,
    };
  }),
]))
"""
READ_VALUE_TEXTS_JS = """
() => Object.fromEntries([...document.querySelectorAll('svg.chart')].map(svg => [
  svg.id, [...svg.querySelectorAll('text.value')].map(t => t.textContent),
]))
"""


def check_charts_drawn(page: Any, expected: dict[str, list[tuple[str, str, str]]]) -> None:
    """Each chart is on screen with exactly the expected bars, each as long as its number says
    (relative to the chart's longest) and with its number written beside it."""
    drawn = page.evaluate(READ_BARS_JS)
    texts = page.evaluate(READ_VALUE_TEXTS_JS)
    assert set(drawn) == set(expected)
    for chart_id, bars in expected.items():
        assert page.locator(f"#{chart_id}").is_visible(), chart_id
        assert [(b["label"], b["series"], b["value"]) for b in drawn[chart_id]] == bars
        assert texts[chart_id] == [value for _, _, value in bars]
        longest = max(drawn[chart_id], key=lambda b: float(b["value"]), default=None)
        if longest is None or float(longest["value"]) == 0:
            continue
        per_unit = longest["length"] / float(longest["value"])
        assert per_unit > 0, chart_id
        for bar in drawn[chart_id]:
            assert abs(bar["length"] - float(bar["value"]) * per_unit) < 1, (chart_id, bar)
