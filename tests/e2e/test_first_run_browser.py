"""Issue #16, the first run in Chromium: empty database → setup link → organisation and first admin → the admin
signs in (Google stand-in) and invites a rep → the rep opens the invitation, signs in, and sees an empty pipeline,
no mailbox yet, and an empty task pane."""

from __future__ import annotations

import dataclasses
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from dealpulse.commands.core import setup_link
from dealpulse.services.org_setup import create_personal_token
from dealpulse.standins.google import GoogleStandIn
from dealpulse.store import User
from tests.e2e.conftest import OFFICE_JS, OFFICE_STANDIN, open_pane

ADMIN = "olivia@northwind-sales.example"
REP = "ravi@northwind-sales.example"


@pytest.fixture
def google():
    with GoogleStandIn() as standin:
        yield standin


@pytest.fixture
def settings(settings, google):
    """Sign-in with the Google stand-in; not the demo (no user picker)."""
    return dataclasses.replace(settings, **google.settings_overrides())


def _local_only(context):
    """Abort every request that leaves this machine (the app and the Google stand-in are on 127.0.0.1)."""
    context.route("**/*", lambda route: route.continue_() if urlsplit(route.request.url).hostname in ("127.0.0.1", "localhost")
                  else route.abort())
    return context


def test_first_run_from_an_empty_database_to_a_signed_in_rep(browser, live_server, settings, db, google, screenshot_path):
    link = setup_link(settings)
    assert link is not None
    path = link.split(settings.base_url.rstrip("/"), 1)[1]

    admin_context = _local_only(browser.new_context(viewport={"width": 1280, "height": 900}))
    admin = admin_context.new_page()
    admin.goto(live_server + path)
    assert admin.url.endswith("/setup")  # the token left the address bar
    admin.fill("input[name=name]", "Northwind Sales")
    admin.fill("input[name=domains]", "northwind-sales.example")
    admin.fill("input[name=admin_email]", ADMIN)
    admin.fill("input[name=admin_name]", "Olivia Admin")
    admin.click("button:has-text('Create the organisation')")
    admin.wait_for_selector("h1:has-text('Your organisation is ready')")
    assert "Invite your team" in admin.text_content("ol.checklist")
    admin.screenshot(path=str(screenshot_path("first-run-setup-done.png")), full_page=True)
    assert admin_context.new_page().goto(live_server + path).status == 404  # the link opens nothing now

    google.add_user(ADMIN)
    google.auth_user = ADMIN
    admin.click("a:has-text('Sign in')")
    admin.click("a:has-text('Sign in with Google')")
    admin.wait_for_selector("h1:has-text('Set up Northwind Sales')")
    admin.click("nav[aria-label=Admin] a:has-text('People and teams')")
    admin.fill("input[name=email]", REP)
    admin.fill("section[aria-labelledby=invite-h] input[name=name]", "Ravi Rep")
    admin.click("button:has-text('Send invitation')")
    invitation = admin.input_value("#invite-link")
    assert "/invite/" in invitation
    admin_context.close()

    google.add_user(REP)
    google.auth_user = REP
    rep_context = _local_only(browser.new_context(viewport={"width": 390, "height": 844}))
    rep = rep_context.new_page()
    rep.goto(live_server + "/invite/" + invitation.split("/invite/", 1)[1])
    assert "Join Northwind Sales on DealPulse" in rep.text_content("h1")
    rep.click("a:has-text('Sign in with Google')")
    rep.wait_for_selector("h1:has-text('Pipeline')")
    assert REP in rep.text_content("header")
    rep.goto(live_server + "/settings/")
    assert "No mailbox is connected" in rep.text_content("main")
    rep.screenshot(path=str(screenshot_path("first-run-rep-settings.png")), full_page=True)
    rep_context.close()

    with db.uow() as uow:
        user = uow.s.scalar(select(User).where(User.email == REP))
        assert (user.role, user.team_id, user.google_subject is not None) == ("rep", None, True)
        token = create_personal_token(uow, REP)
    pane_context = browser.new_context(viewport={"width": 320, "height": 900})
    pane_context.route(OFFICE_JS, lambda route: route.fulfill(status=200, content_type="text/javascript",
                                                              body=OFFICE_STANDIN.read_text(encoding="utf-8")))
    pane = pane_context.new_page()
    open_pane(pane, live_server, {"internetMessageId": "<hello-1@customer.example>", "itemId": "i1", "conversationId": "c1",
                                  "subject": "Hello", "from": {"displayName": "Cara", "emailAddress": "cara@customer.example"},
                                  "to": [{"displayName": "Ravi", "emailAddress": REP}], "cc": [], "body": "Hi Ravi"}, token)
    pane.wait_for_selector("#pane[aria-busy='false']")
    pane.wait_for_selector("text=No known customer in this email")
    assert "Needs a deal (0)" in pane.inner_text("body")
    assert pane.get_attribute("#my-settings", "href") == "/settings/"  # the pane links the rep's own settings
    pane.screenshot(path=str(screenshot_path("first-run-rep-pane.png")), full_page=True)
    pane_context.close()
