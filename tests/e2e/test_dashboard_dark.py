"""The dashboard in dark mode like the pane (#18), with charts that carry axes, dates and a text alternative."""

from __future__ import annotations

import dataclasses

import pytest

from tests.e2e.test_outlook_pane_dark import _luminance
from tests.integration.alerts.conftest import Deals


@pytest.fixture
def settings(settings):
    """The demo sign-in picker exists."""
    return dataclasses.replace(settings, demo=True)


@pytest.fixture
def color_scheme() -> str:
    """This module's browser prefers dark mode."""
    return "dark"


def _contrast(page, selector: str) -> float:
    color = page.evaluate(f"getComputedStyle(document.querySelector(\"{selector}\")).color")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    light, dark = sorted((_luminance(color), _luminance(background)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_the_deal_page_is_dark_and_its_charts_read_without_the_picture(page, live_server, db, world, screenshot_path):
    deals = Deals(db, world)
    for days, score in ((20, 0.5), (9, -0.2), (2, -0.7)):
        deals.activity("a1_acme", days_ago=days, score=score)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(live_server + "/signin/demo")
    page.click("button:has-text('Test Rep A1')")
    page.goto(live_server + f"/dashboard/deals/{world.opportunities['a1_acme']}")
    page.wait_for_selector("h1:has-text('Test Acme platform')")
    assert _luminance(page.evaluate("getComputedStyle(document.body).backgroundColor")) < 0.05
    for selector in ("body", "h1", "#history-h", "#tone-caption", "nav a"):
        assert _contrast(page, selector) >= 4.5, selector
    axis = page.locator("#tone-figure svg text.axis").all_text_contents()
    assert {"+1", "0", "−1"} <= set(axis) and any(label[0].isdigit() and " " in label for label in axis)  # dates
    assert page.locator("#weekly-figure svg text.axis").count() >= 6  # 0, the top value and the week dates
    page.click("#tone-figure summary")
    rows = page.locator("#tone-figure table.chart-data tbody tr").all_text_contents()
    assert len(rows) == 3 and "-0.70" in rows[-1]
    assert "3 inbound emails from" in page.text_content("#tone-summary")
    page.screenshot(path=str(screenshot_path("dashboard-deal-dark.png")), full_page=True)
