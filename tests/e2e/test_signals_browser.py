"""Signals in Chromium (#14): change deal / not a deal, the buying team, fresh alerts after an edit and "needs a deal"
in the Outlook pane; the buying team, unevaluated rules and "change deal" on the dashboard's deal page."""

from __future__ import annotations

import dataclasses

import pytest

from tests.e2e.conftest import open_pane
from tests.e2e.test_outlook_pane import item_for, open_editor, wait_loaded
from tests.integration.alerts.conftest import Deals

LAPTOP = {"width": 1366, "height": 800}


@pytest.fixture
def settings(settings):
    """The demo is running: the dashboard's sign-in picker exists."""
    return dataclasses.replace(settings, demo=True)


def test_the_pane_changes_the_deal_and_marks_not_a_deal(page, live_server, world, inbox, active_tone):
    stored = inbox.email(label="neutral")
    open_pane(page, live_server, item_for(stored), world.tokens["rep.a1"])
    wait_loaded(page)
    page.click("#relink summary")
    page.select_option("#move-to", str(world.opportunities["a1_globex"]))
    page.click("#move")
    page.wait_for_selector("#deal-name:text('Test Globex expansion')")
    page.click("#relink summary")
    page.select_option("#move-to", "none")
    page.click("#move")
    page.wait_for_selector("#not-a-deal-card")
    assert page.locator("#deal-name").count() == 0


def test_the_pane_lists_the_buying_team_and_adds_someone_from_the_email(page, live_server, world, inbox, active_tone):
    stored = inbox.email(label="neutral", to=("rep.a1@seller.example", "priya@acme.test.example"))
    open_pane(page, live_server, item_for(stored), world.tokens["rep.a1"])
    wait_loaded(page)
    team = page.text_content("#buying-team")
    assert "Ann Buyer" in team and "Not engaged yet" in team
    assert page.input_value("#team-add-email") == "priya@acme.test.example"  # the email's other customer
    open_editor(page, "team-editor")
    page.select_option("#team-add-role", "technical_evaluator")
    page.click("#team-add-button")
    page.wait_for_selector("#buying-team li:has-text('priya@acme.test.example')")
    assert page.input_value("#buying-team li:has-text('priya@acme.test.example') select") == "technical_evaluator"
    page.fill("#team-add-email", "rep.a2@seller.example")
    page.click("#team-add-button")
    page.wait_for_selector("#team-status:has-text('colleague')")


def test_alerts_in_the_pane_are_fresh_right_after_a_stage_change(page, live_server, world, inbox, active_tone):
    stored = inbox.email(label="neutral")
    open_pane(page, live_server, item_for(stored), world.tokens["rep.a1"])
    wait_loaded(page)
    assert page.locator("#alerts").count() == 0
    open_editor(page)
    page.select_option("#f-stage", "proposal")
    page.click("#save-deal")
    page.wait_for_selector("#deal-status:text('Saved.')")
    assert "Single-threaded" in page.text_content("#alerts")


def test_the_pane_lists_emails_that_need_a_deal_and_the_rep_chooses(page, live_server, world, inbox, active_tone):
    shown = inbox.email(label="neutral")
    inbox.email(opportunity=None, needs_link_choice=True, candidates=("a1_acme", "a1_globex"), subject="Which one?")
    open_pane(page, live_server, item_for(shown), world.tokens["rep.a1"])
    wait_loaded(page)
    page.wait_for_selector("#needs-deal summary:text('Needs a deal (1)')")
    assert "Which one?" in page.text_content("#needs-deal")
    page.click("#needs-deal button:text('Test Globex expansion')")
    page.wait_for_selector("#needs-deal summary:text('Needs a deal (0)')")


def test_the_dashboard_deal_page_shows_the_team_and_rules_not_evaluated_and_changes_deal(page, live_server, db, world):
    deals = Deals(db, world)
    deals.activity("a1_acme", days_ago=3, score=0.4)
    page.set_viewport_size(LAPTOP)
    page.goto(live_server + "/dashboard/")
    page.click("text=Demo: choose a user")
    page.click("button:has-text('Test Rep A1')")
    page.wait_for_selector("h1:has-text('Pipeline')")
    page.click("text=Test Acme platform")
    page.wait_for_selector("h1:has-text('Test Acme platform')")
    assert "5 needed" in page.text_content("#not-evaluated")
    assert "Ann Buyer" in page.text_content("#buying-team")
    page.fill("#add-email", "nora@acme.test.example")
    page.fill("#add-name", "Nora New")
    page.select_option("#add-role", "champion")
    page.click("text=Add to the buying team")
    page.wait_for_selector("#buying-team:has-text('Nora New')")

    form = page.locator("form.relink").first
    form.locator("select").select_option(str(world.opportunities["a1_globex"]))
    form.locator("button").click()
    page.wait_for_selector("ol.timeline li:has-text('No emails or meetings captured yet.')")  # back on the Acme page
    page.goto(live_server + f"/dashboard/deals/{world.opportunities['a1_globex']}")
    assert page.locator("ol.timeline li.inbound").count() == 1
