"""The Forecast and Metrics pages in Chromium at 1280 and 390 px, light and dark: charts are images with a name and
a description, carry axes, and have a table as their text alternative; the page never scrolls sideways."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest

from dealpulse.services.deal_history import backfill_snapshots
from tests.integration.forecast.history import admin_principal, load_history

PAGES = {
    "/dashboard/forecast?period=2025-Q1": ("Forecast", "figure.trend-figure"),
    "/dashboard/metrics?from=2025-01-01&to=2025-03-31": ("Metrics", "figure#funnel-figure"),
}
WIDTHS = (1280, 390)

# The page itself never scrolls sideways (wide tables scroll inside their own `.table-scroll` box).
OVERFLOW = """() => {
  const root = document.documentElement;
  if (root.scrollWidth <= root.clientWidth) return [];
  const inScroller = (el) => el.parentElement && el.parentElement.closest('.table-scroll');
  return [root.scrollWidth + ' > ' + root.clientWidth].concat(Array.from(document.querySelectorAll('body *'))
    .filter((el) => !inScroller(el) && el.getBoundingClientRect().right > root.clientWidth + 1)
    .map((el) => el.tagName + '.' + el.className + ': ' + (el.textContent || '').trim().slice(0, 40)));
}"""
# Every chart: role=img, a name from its caption, a description, axis text, and a data table next to it.
CHARTS = """(selector) => Array.from(document.querySelectorAll(selector)).map((figure) => {
  const svg = figure.querySelector('svg');
  const ref = (attr) => (svg.getAttribute(attr) || '').split(' ').map((id) => document.getElementById(id))
    .filter(Boolean).map((el) => el.textContent.trim()).join(' ');
  return {role: svg.getAttribute('role'), name: ref('aria-labelledby'), description: ref('aria-describedby'),
          axis: svg.querySelectorAll('text.axis').length, rows: figure.querySelectorAll('table.chart-data tbody tr').length,
          width: svg.getBoundingClientRect().width};
})"""
LUMINANCE = """() => {
  const rgb = (value) => value.match(/\\d+/g).slice(0, 3).map(Number);
  const lum = ([r, g, b]) => (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
  const style = getComputedStyle(document.body);
  return [lum(rgb(style.backgroundColor)), lum(rgb(style.color))];
}"""


@pytest.fixture
def settings(settings):
    """The demo picker signs the test users in."""
    return dataclasses.replace(settings, demo=True)


@pytest.fixture
def history(db, world):
    """The hand-built 2025-Q1 history with its daily pipeline snapshots."""
    load_history(db, world)
    with db.uow() as uow:
        backfill_snapshots(uow, admin_principal(db, world).org_id, date(2025, 1, 1), date(2025, 4, 1))
    return world


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", WIDTHS)
def test_the_forecast_and_metrics_pages_render_with_accessible_charts(browser, live_server, history, blocked_requests,
                                                                      screenshot_path, width, scheme):
    context = browser.new_context(viewport={"width": width, "height": 900}, color_scheme=scheme)
    context.route("**/*", lambda route: route.continue_() if "127.0.0.1" in route.request.url else (
        blocked_requests.append(route.request.url), route.abort()))
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    try:
        page.goto(live_server + "/signin/demo")
        page.click("button:has-text('Test Admin')")
        page.wait_for_load_state()
        for path, (title, figures) in PAGES.items():
            answer = page.goto(live_server + path)
            assert answer.status == 200, path
            assert page.locator("h1").first.text_content().startswith(title)
            assert page.locator(f"nav a[aria-current=page]:has-text('{title}')").count() == 1
            charts = page.evaluate(CHARTS, figures)
            assert charts, f"{path} has no chart"
            for chart in charts:
                assert chart["role"] == "img" and chart["name"] and chart["description"], (path, chart)
                assert chart["axis"] >= 3 and chart["rows"] >= 3, (path, chart)
                assert 0 < chart["width"] <= width, (path, chart)
            summary = page.locator(f"{figures} details summary").first
            summary.click()
            assert page.locator(f"{figures} details table.chart-data").first.is_visible()
            overflow = page.evaluate(OVERFLOW)
            assert overflow == [], f"{path} runs off a {width}px screen: {overflow}"
            background, text = page.evaluate(LUMINANCE)
            assert (background < 0.25 and text > 0.7) if scheme == "dark" else (background > 0.8 and text < 0.3), path
            name = path.split("?")[0].strip("/").replace("/", "-")
            page.screenshot(path=str(screenshot_path(f"{name}-{width}-{scheme}.png")), full_page=True)
    finally:
        context.close()
    assert errors == [] and blocked_requests == []


def test_a_manager_reads_the_accuracy_page_and_the_agendas_numbers_on_a_phone(page, live_server, history, screenshot_path):
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(live_server + "/signin/demo")
    page.click("button:has-text('Test Manager A')")
    page.wait_for_load_state()
    page.click("nav a:has-text('Forecast accuracy')")
    page.wait_for_selector("h1:has-text('How accurate is our forecast')")
    assert page.locator("#accuracy-periods tbody tr[data-method]").count() == 8 * 3  # 8 quarters x 3 methods
    assert "Honest notes" in page.text_content("main")
    overflow = page.evaluate(OVERFLOW)
    assert overflow == [], overflow
    page.screenshot(path=str(screenshot_path("dashboard-accuracy-390.png")), full_page=True)
    page.click("nav a:has-text('Review agenda')")
    page.wait_for_selector("#rep-numbers")
    assert "Win rate of the deals closed this quarter" in page.text_content("#rep-numbers")
    overflow = page.evaluate(OVERFLOW)
    assert overflow == [], overflow
