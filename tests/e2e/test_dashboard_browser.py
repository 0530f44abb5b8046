"""The manager dashboard in Chromium: demo sign-in, only the team's deals, a deal page, acknowledging by keyboard."""

from __future__ import annotations

import dataclasses

import pytest

from dealpulse.services.alert_engine import run_alerts
from tests.integration.alerts.conftest import Deals

LAPTOP = {"width": 1366, "height": 800}


@pytest.fixture
def settings(settings):
    """The demo is running: the sign-in picker exists."""
    return dataclasses.replace(settings, demo=True)


@pytest.fixture
def alerted(db, settings, world) -> Deals:
    """Team A's Acme deal went dark; its Globex deal got a strongly negative email."""
    deals = Deals(db, world)
    deals.activity("a1_acme", days_ago=30, score=0.3)
    for days in (20, 9, 2):
        deals.activity("a1_acme", direction="outbound", days_ago=days)
    deals.activity("a1_globex", days_ago=0.1, score=-0.9, contacts=("cio@globex.test.example",),
                   highlights=[{"text": "We have decided to pause the project.", "label": "negative", "score": -0.9}])
    deals.activity("b1_acme", days_ago=40, owner="rep.b1")
    run_alerts(db, settings, world.org_id)
    return deals


def test_manager_signs_in_sees_their_team_opens_a_deal_and_acknowledges(page, live_server, world, alerted, screenshot_path):
    page.set_viewport_size(LAPTOP)
    page.goto(live_server + "/dashboard/")
    assert "/signin" in page.url
    page.click("text=Demo: choose a user")
    page.click("button:has-text('Test Manager A')")
    page.wait_for_selector("h1:has-text('Pipeline')")

    names = page.locator("tr.deal-row th a").all_text_contents()
    assert set(names) == {"Test Acme platform", "Test Globex expansion", "Test Initech pilot"}  # team A only
    assert page.locator("tr.deal-row svg.spark").count() == 3
    assert "We have decided to pause the project." in page.text_content("table.deals")
    page.screenshot(path=str(screenshot_path("dashboard-pipeline.png")), full_page=True)

    page.click("text=Test Acme platform")
    page.wait_for_selector("h1:has-text('Test Acme platform')")
    alert = page.locator("li.alert:has-text('gone dark')")
    assert "3 email(s) sent since" in alert.text_content()
    page.screenshot(path=str(screenshot_path("dashboard-deal.png")), full_page=True)

    # Keyboard only: Tab to the alert's Acknowledge button and press Enter.
    target = "Acknowledge: gone dark on Test Acme platform"
    for _ in range(60):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement && document.activeElement.getAttribute('aria-label')") == target:
            break
    else:
        pytest.fail("the Acknowledge button is not reachable with the keyboard")
    page.keyboard.press("Enter")
    page.wait_for_selector("li.alert:has-text('gone dark') .state:text-is('acknowledged')")
    assert page.locator(f"[aria-label='{target}']").count() == 0

    page.click("nav >> text=Alerts")
    page.wait_for_selector("h1:has-text('Alerts')")
    feed = page.text_content("ul.feed")
    assert "Test Acme analytics" not in feed and "Test Globex expansion" in feed
    page.screenshot(path=str(screenshot_path("dashboard-alerts.png")), full_page=True)


def test_a_rep_sees_only_their_own_deals_and_the_agenda(page, live_server, world, alerted, screenshot_path):
    page.set_viewport_size(LAPTOP)
    page.goto(live_server + "/signin/demo")
    page.click("button:has-text('Test Rep A2')")
    page.wait_for_selector("h1:has-text('Pipeline')")
    assert page.locator("tr.deal-row th a").all_text_contents() == ["Test Initech pilot"]

    page.goto(live_server + "/signin/demo")
    page.click("button:has-text('Test Manager A')")
    page.goto(live_server + f"/dashboard/agenda?rep={world.users['rep.a1']}")
    items = page.locator("ol.agenda > li h2").all_text_contents()
    assert items[0] == "Test Globex expansion"
    page.screenshot(path=str(screenshot_path("dashboard-agenda.png")), full_page=True)
