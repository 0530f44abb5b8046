"""Issue #18 in Chromium at 320 px: the verdict above the fold (light and dark), a keyboard-only select edit saves
once, a fast switch between emails never shows the previous email's deal, an action item agreed in the manager's
review shows in the rep's pane, and a meeting's outcome is recorded from the appointment."""

from __future__ import annotations

import dataclasses
import json
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from dealpulse.store import (
    ActionItem,
    Activity,
    ActivitySource,
    Alert,
    AuditEntry,
    ExitAnswer,
    ExitQuestion,
    MeetingOutcome,
    utcnow,
)
from tests.e2e.conftest import open_pane
from tests.e2e.test_outlook_pane import ACME_BUYER, item_for, wait_loaded
from tests.e2e.test_outlook_pane_dark import _luminance

FOLD = {"width": 320, "height": 700}
VERDICT = "We picked a competitor after the final review."


@pytest.fixture
def settings(settings):
    """The demo sign-in picker exists (the manager signs in to the dashboard with it)."""
    return dataclasses.replace(settings, demo=True)


def _bottom(page: Any, selector: str) -> float:
    return page.evaluate(f"document.querySelector(\"{selector}\").getBoundingClientRect().bottom")


@pytest.mark.parametrize("color_scheme", ["light", "dark"])
def test_the_verdict_is_above_the_fold(page, live_server, world, inbox, db, screenshot_path, color_scheme, active_tone):
    stored = inbox.email(label="negative", text=VERDICT)
    with db.uow() as uow:
        uow.s.add(Alert(org_id=world.org_id, opportunity_id=world.opportunities["a1_acme"], rule="gone_dark",
                        severity="critical", reason="No reply from the buyer in 21 days."))
        uow.s.add(ActionItem(org_id=world.org_id, opportunity_id=world.opportunities["a1_acme"], obstacle="Legal has the contract",
                             owner_kind="executive", owner_name="Our CFO", due_date=date.today() - timedelta(days=1),
                             priority="high", status="open"))
        uow.commit()
    page.set_viewport_size(FOLD)
    open_pane(page, live_server, item_for(stored), world.tokens["rep.a1"])
    wait_loaded(page)
    assert page.text_content("#tone-badge") == "Negative"
    assert VERDICT in page.text_content(".highlights li")
    facts = page.text_content("#deal-facts")
    assert "Qualification" in facts and "closes" in facts and "Health" in facts
    assert "No reply from the buyer" in page.text_content("#alerts")
    assert "Legal has the contract" in page.text_content("#action-items") and "Overdue" in page.text_content("#action-items")
    for selector in ("#tone-badge", "#tone-confidence", ".highlights li", "#deal-name", "#deal-facts", "#alerts li",
                     "#action-items li"):
        assert _bottom(page, selector) <= FOLD["height"], f"{selector} is below the fold"
    assert page.evaluate("document.querySelectorAll('details.editor[open]').length") == 0  # editors collapsed
    assert not page.is_visible("#f-stage")
    assert page.evaluate("document.documentElement.scrollWidth") <= FOLD["width"]
    background = _luminance(page.evaluate("getComputedStyle(document.body).backgroundColor"))
    assert (background < 0.05) if color_scheme == "dark" else (background > 0.9)
    page.screenshot(path=str(screenshot_path(f"pane-verdict-320x700-{color_scheme}.png")))


def test_keyboard_only_edit_of_a_select_saves_once(page, live_server, world, inbox, db, active_tone):
    stored = inbox.email(label="neutral")
    saves: list[str] = []
    page.on("request", lambda r: saves.append(r.post_data or "") if r.method == "PUT" and "exit-answers" in r.url else None)
    open_pane(page, live_server, item_for(stored), world.tokens["rep.a1"])
    wait_loaded(page)
    page.focus("body")
    for _ in range(40):  # keyboard only: Tab to the exit questions' summary and open it
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.parentElement && document.activeElement.parentElement.id") == "exit-editor":
            break
    page.keyboard.press("Enter")
    while page.evaluate("document.activeElement.id") != "q-within_budget":
        page.keyboard.press("Tab")
    page.keyboard.press("ArrowDown")  # Not answered -> Yes
    page.keyboard.press("ArrowDown")  # Yes -> No: stepping saves nothing
    assert saves == []
    page.keyboard.press("Enter")  # commit
    page.wait_for_selector("#exit-status:has-text('Saved: ')")
    assert "No" in page.text_content("#exit-status")
    page.wait_for_selector("#live:has-text('Saved: ')")  # announced to screen readers too
    assert page.evaluate("document.activeElement.id") == "q-within_budget"
    page.keyboard.press("Tab")  # leaving the field: the value is already saved, nothing is sent again
    page.wait_for_load_state("networkidle")
    assert [json.loads(body)["answers"] for body in saves] == [{"within_budget": False}]
    assert "changed this deal meanwhile" not in page.text_content("#content")
    with db.uow() as uow:
        answer = uow.s.scalar(select(ExitAnswer.answer).join(ExitQuestion, ExitQuestion.id == ExitAnswer.question_id)
                              .where(ExitQuestion.key == "within_budget",
                                     ExitAnswer.opportunity_id == world.opportunities["a1_acme"]))
        audited = uow.s.scalars(select(AuditEntry.new_value).where(AuditEntry.field == "exit.within_budget")).all()
    assert answer is False and audited == ["false"]


def test_a_fast_switch_between_emails_never_shows_the_previous_emails_deal(page, live_server, world, inbox, active_tone):
    first = inbox.email(label="negative", text=VERDICT)
    second = inbox.email(label="positive", opportunity="a1_globex", sender="cio@globex.test.example",
                         text="Great, the board approved the expansion.")
    held: list[Any] = []

    def hold_the_first(route: Any) -> None:
        if first.message_id in (route.request.post_data or "") and not held:
            held.append(route)  # the first email's answer is slow
        else:
            route.continue_()

    page.route("**/api/v1/context", hold_the_first)
    with page.expect_request(lambda r: r.url.endswith("/api/v1/context")):  # the first email's request is on its way
        open_pane(page, live_server, item_for(first), world.tokens["rep.a1"])
    second_item = {**item_for(second), "from": {"displayName": "Cio", "emailAddress": "cio@globex.test.example"}}
    page.evaluate("item => window.postMessage({type: 'dealpulse-standin:select', item}, location.origin)", second_item)
    page.wait_for_selector("#deal-name:text-is('Test Globex expansion')")
    assert len(held) == 1
    held[0].continue_()  # now the first email's answer arrives, late
    page.wait_for_selector("#pane[data-stale-dropped='1']")
    assert page.text_content("#deal-name") == "Test Globex expansion"
    assert page.text_content("#tone-badge") == "Positive"
    assert VERDICT not in page.text_content("#content")


def test_an_action_item_agreed_in_the_review_shows_in_the_reps_pane(browser_context, page, live_server, world, inbox, db,
                                                                    active_tone):
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(live_server + "/signin/demo")
    page.click("button:has-text('Test Manager A')")
    page.goto(live_server + f"/dashboard/agenda?rep={world.users['rep.a1']}")
    page.click("#start-review")
    page.wait_for_selector("h1:has-text('Review of Test Rep A1')")
    page.select_option("#item-deal", str(world.opportunities["a1_acme"]))
    page.fill("#item-obstacle", "Security questionnaire unanswered")
    page.select_option("#item-owner", "manager")
    page.fill("#item-due", (date.today() + timedelta(days=5)).isoformat())
    page.select_option("#item-priority", "high")
    page.click("#new-item button[type=submit]")
    page.wait_for_selector("#review-items li.item:has-text('Security questionnaire unanswered')")

    pane = browser_context.new_page()
    stored = inbox.email(label="neutral")
    open_pane(pane, live_server, item_for(stored), world.tokens["rep.a1"])
    wait_loaded(pane)
    items = pane.text_content("#action-items")
    assert "Security questionnaire unanswered" in items and "Manager (Test Manager A)" in items and "High priority" in items
    pane.click("#action-items button:has-text('Done')")
    pane.wait_for_selector("#items-status:has-text('Marked done')")
    assert pane.locator("#action-items li").count() == 0 and "No open action items" in pane.text_content("#action-items")
    with db.uow() as uow:
        assert uow.s.scalars(select(ActionItem.status)).all() == ["done"]


def test_a_meeting_outcome_is_recorded_from_the_appointment(page, live_server, world, inbox, db, active_tone):
    ended = utcnow() - timedelta(hours=2)
    mailbox = inbox.mailbox("rep.a1")
    with db.uow() as uow:
        meeting = Activity(org_id=world.org_id, kind="meeting", direction="outbound", dedupe_key="ical:review-1@acme",
                           thread_key="ical:review-1@acme", subject="Pricing review", occurred_at=ended - timedelta(hours=1),
                           ends_at=ended, sender_email="rep.a1@seller.example", opportunity_id=world.opportunities["a1_acme"],
                           participants=[{"email": "rep.a1@seller.example", "name": "Rep A1", "role": "organizer"},
                                         {"email": ACME_BUYER, "name": "Ann Buyer", "role": "attendee"}],
                           link_method="contact")
        uow.s.add(meeting)
        uow.s.flush()
        uow.s.add(ActivitySource(activity_id=meeting.id, mailbox_id=mailbox, provider_id="cal-evt-1"))
        uow.commit()
        meeting_id = meeting.id
    appointment = {"itemType": "appointment", "itemId": "cal-evt-1", "subject": "Pricing review",
                   "organizer": {"displayName": "Rep A1", "emailAddress": "rep.a1@seller.example"},
                   "requiredAttendees": [{"displayName": "Ann Buyer", "emailAddress": ACME_BUYER}]}
    page.set_viewport_size(FOLD)
    open_pane(page, live_server, appointment, world.tokens["rep.a1"])
    wait_loaded(page)
    assert page.text_content("#deal-name") == "Test Acme platform"
    assert _bottom(page, "#save-outcome") <= FOLD["height"]  # the question comes first on a meeting
    page.click("#outcome-positive")
    page.fill("#outcome-next", "Send the order form")
    page.click("#save-outcome")
    page.wait_for_selector("#outcome-status:has-text('Outcome saved: Went well')")
    assert page.get_attribute("#outcome-positive", "aria-pressed") == "true"
    with db.uow() as uow:
        saved = uow.s.scalars(select(MeetingOutcome)).one()
        assert (saved.activity_id, saved.outcome, saved.next_step) == (meeting_id, "positive", "Send the order form")
