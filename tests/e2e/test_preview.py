"""The demo sidebar preview at /: pick an email, the real pane (on the Office.js stand-in) shows its deal."""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select

from dealpulse.store import Rating


@pytest.fixture
def settings(settings):
    """The demo is running."""
    return dataclasses.replace(settings, demo=True)


def test_a_newcomer_clicks_through_emails_edits_a_deal_and_rates_tone(page, live_server, world, inbox, db, active_tone,
                                                                       screenshot_path):
    page.set_viewport_size({"width": 1000, "height": 900})
    first = inbox.email(subject="Pricing question", label="neutral", days_ago=2)
    second = inbox.email(subject="Globex rollout", sender="cio@globex.test.example", opportunity="a1_globex",
                         label="positive", days_ago=1)
    page.goto(live_server + "/")
    page.select_option("#as-user", "rep.a1@seller.example")
    page.wait_for_selector("#emails button")
    assert page.locator("#emails .subject").all_text_contents() == ["Globex rollout", "Pricing question"]
    page.click("#emails li:nth-child(2) button")
    pane = page.frame_locator("#pane")
    pane.locator("#deal-name").wait_for()
    assert pane.locator("#deal-name").text_content() == "Test Acme platform"
    pane.locator("#deal-editor > summary").click()  # the editors are collapsed under the verdict
    pane.locator("#f-stage").select_option("demo")
    pane.locator("#save-deal").click()
    pane.locator("#deal-status", has_text="Saved.").wait_for()
    pane.locator("#rate-positive").click()
    pane.locator("#rate-positive[aria-pressed='true']").wait_for()
    page.click("#emails li:nth-child(1) button")  # the pinned pane follows the selection
    pane.locator("#deal-name", has_text="Test Globex expansion").wait_for()
    page.screenshot(path=str(screenshot_path("sidebar-preview.png")))
    with db.uow() as uow:
        rating = uow.s.scalars(select(Rating)).one()
        assert (rating.activity_id, rating.label) == (first.activity_id, "positive")
    assert second.activity_id != first.activity_id
