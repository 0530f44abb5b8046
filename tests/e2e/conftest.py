"""Browser-test fixtures (Playwright for Python driving Debian's Chromium), shared by every e2e test.

Fixtures:
- `db`: SQLite only (browser tests exercise the UI; the API suites cover PostgreSQL).
- `live_server`: the test `app` served by werkzeug on 127.0.0.1 in a background thread; yields its base URL.
- `browser` (session): Chromium at /usr/bin/chromium with the flags below; skips with the reason when missing.
- `browser_context`: a fresh 320x900 context where the Office.js CDN URL is answered by
  `addin/outlook/office-standin.js` (Office.onReady resolves after DOMContentLoaded) and every request that
  is not to 127.0.0.1/localhost is aborted (`blocked_requests` lists them).
- `page`: a page in that context; `page_errors` collects uncaught errors and console errors (CSP violations
  show up there), and the test fails at teardown if any occurred.
- `open_pane(page, base_url, item, token, path=...)`: makes the stand-in open `item` signed in with `token`
  (window.__DEALPULSE_STANDIN__), then loads the task pane.
- `screenshot_path(name)`: a path under test-output/ (git-ignored) for screenshots.
Also re-exported for browser tests: `tiny_model_dir`, `active_tone`, `inbox` (tests/integration/sidebar/support.py).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import urlsplit

import pytest
from werkzeug.serving import make_server

from dealpulse.config import PROJECT_ROOT
from tests.integration.sidebar.support import active_tone, inbox, tiny_model_dir

__all__ = ["active_tone", "inbox", "tiny_model_dir"]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"]
OFFICE_JS = "https://appsforoffice.microsoft.com/lib/1/hosted/office.js"
OFFICE_STANDIN = PROJECT_ROOT / "addin" / "outlook" / "office-standin.js"
TEST_OUTPUT = PROJECT_ROOT / "test-output"
PANE_PATH = "/addin/outlook/taskpane.html"


@pytest.fixture
def db(sqlite_db):
    """Browser tests run on SQLite only."""
    return sqlite_db


@pytest.fixture
def live_server(app) -> Iterator[str]:
    """The app on a real socket for the browser: http://127.0.0.1:PORT."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="e2e-live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, headless (never a downloaded browser)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium (make chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        yield launched
        launched.close()


def _is_local(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True
    return parts.hostname in ("127.0.0.1", "localhost")


@pytest.fixture
def blocked_requests() -> list[str]:
    """Off-box requests the page tried (all aborted)."""
    return []


@pytest.fixture
def color_scheme() -> str:
    """The colour scheme the browser context prefers (override in a test module for dark mode)."""
    return "light"


@pytest.fixture
def browser_context(browser, blocked_requests, color_scheme):
    """A 320-px context: Office.js routed to the local stand-in, every off-box request aborted."""
    context = browser.new_context(viewport={"width": 320, "height": 900}, color_scheme=color_scheme)
    standin = OFFICE_STANDIN.read_text(encoding="utf-8")

    def route(request_route: Any) -> None:
        url = request_route.request.url
        if url == OFFICE_JS:
            request_route.fulfill(status=200, content_type="text/javascript", body=standin)
        elif _is_local(url):
            request_route.continue_()
        else:
            blocked_requests.append(url)
            request_route.abort()

    context.route("**/*", route)
    yield context
    context.close()


@pytest.fixture
def page_errors() -> list[str]:
    """Uncaught page errors and console errors seen during the test."""
    return []


@pytest.fixture
def page(browser_context, page_errors):
    """A page; the test fails if the page threw or logged an error (CSP violations included)."""
    new_page = browser_context.new_page()
    new_page.set_default_timeout(15_000)
    new_page.on("pageerror", lambda error: page_errors.append(f"pageerror: {error}"))
    new_page.on("console", lambda message: page_errors.append(f"console: {message.text}") if message.type == "error" else None)
    yield new_page
    expected_failures = [e for e in page_errors if "the server responded with a status of" in e]
    unexpected = [e for e in page_errors if e not in expected_failures]
    assert not unexpected, f"errors in the page: {unexpected}"


def open_pane(page: Any, base_url: str, item: dict[str, Any] | None, token: str | None, path: str = PANE_PATH) -> None:
    """Open the task pane with the stand-in showing `item`, signed in with `token` (None = not signed in)."""
    page.add_init_script("window.__DEALPULSE_STANDIN__ = " + json.dumps({"item": item, "token": token}) + ";")
    page.goto(base_url + path)


@pytest.fixture
def screenshot_path() -> Callable[[str], Path]:
    """`screenshot_path("pane.png")` → test-output/pane.png (the folder is created, and git-ignored)."""

    def make(name: str) -> Path:
        TEST_OUTPUT.mkdir(exist_ok=True)
        return TEST_OUTPUT / name

    return make
