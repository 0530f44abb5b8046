"""Issue #16: every admin page and My settings in Chromium at 1280 px and 390 px, light and dark; keyboard use.

Checks what a person would notice: the page renders without errors (CSP included), nothing but the wide tables'
own scroll areas runs off the screen, every form control has a label, the dark scheme is dark, and a threshold
can be changed with the keyboard alone.
"""

from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select

from dealpulse.store import Mailbox, Team

PAGES = ("/admin/", "/admin/people", "/admin/stages", "/admin/thresholds", "/admin/privacy", "/admin/mailboxes",
         "/admin/addins", "/settings/")
WIDTHS = (1280, 390)

# The page itself never scrolls sideways (wide tables scroll inside their own `.scroll` box).
OVERFLOW = """() => {
  const root = document.documentElement;
  if (root.scrollWidth <= root.clientWidth) return [];
  const inScroller = (el) => el.parentElement && el.parentElement.closest('.scroll');
  return [root.scrollWidth + ' > ' + root.clientWidth].concat(Array.from(document.querySelectorAll('body *'))
    .filter((el) => !inScroller(el) && el.getBoundingClientRect().right > root.clientWidth + 1)
    .map((el) => el.tagName + '.' + el.className + ': ' + (el.textContent || '').trim().slice(0, 40)));
}"""
UNLABELLED = """() => Array.from(document.querySelectorAll('input:not([type=hidden]), select, textarea'))
  .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
  .map((el) => el.outerHTML.slice(0, 80))"""
LUMINANCE = """(selector) => {
  const rgb = (value) => value.match(/\\d+/g).slice(0, 3).map(Number);
  const lum = ([r, g, b]) => (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255;
  const style = getComputedStyle(document.querySelector(selector));
  return [lum(rgb(style.backgroundColor)), lum(rgb(style.color))];
}"""


@pytest.fixture
def settings(settings):
    """The demo picker signs the test users in."""
    return dataclasses.replace(settings, demo=True)


@pytest.fixture
def mailbox(db, world) -> None:
    """Rep A1's mailbox needs reconnecting (the mailbox page then has a row in every column)."""
    with db.uow() as uow:
        uow.s.add(Mailbox(org_id=world.org_id, user_id=world.users["rep.a1"], provider="gmail", address="rep.a1@seller.example",
                          sync_state="needs_reconnect", state_detail="invalid_grant: Token has been expired or revoked."))
        uow.commit()


def _sign_in(page, live_server: str, name: str) -> None:
    page.goto(live_server + "/signin/demo")
    page.click(f"button:has-text('{name}')")
    page.wait_for_load_state()


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", WIDTHS)
def test_every_admin_page_renders_in_chromium(browser, live_server, world, mailbox, blocked_requests, screenshot_path, width, scheme):
    context = browser.new_context(viewport={"width": width, "height": 900}, color_scheme=scheme)
    context.route("**/*", lambda route: route.continue_() if "127.0.0.1" in route.request.url else (
        blocked_requests.append(route.request.url), route.abort()))
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    try:
        _sign_in(page, live_server, "Test Admin")
        for path in PAGES:
            answer = page.goto(live_server + path)
            assert answer.status == 200, path
            assert page.locator("h1").count() == 1, path
            assert page.evaluate(OVERFLOW) == [], f"{path} runs off a {width}px screen"
            assert page.evaluate(UNLABELLED) == [], f"{path} has form controls without a label"
            background, text = page.evaluate(LUMINANCE, "body")
            assert (background < 0.25 and text > 0.7) if scheme == "dark" else (background > 0.8 and text < 0.3), path
            name = path.strip("/").replace("/", "-") or "admin"
            page.screenshot(path=str(screenshot_path(f"admin-{name}-{width}-{scheme}.png")), full_page=True)
    finally:
        context.close()
    assert errors == [] and blocked_requests == []


def test_a_manager_sees_the_403_page_and_no_admin_link(page, live_server, world):
    page.set_viewport_size({"width": 390, "height": 800})
    _sign_in(page, live_server, "Test Manager A")
    assert page.locator("nav[aria-label=Dashboard] a:has-text('Admin')").count() == 0
    answer = page.goto(live_server + "/admin/people")
    assert answer.status == 403 and "Only admins open this page" in page.text_content("main")


def test_an_admin_changes_a_threshold_with_the_keyboard_alone(page, live_server, world, db):
    page.set_viewport_size({"width": 1280, "height": 900})
    _sign_in(page, live_server, "Test Admin")
    page.goto(live_server + "/admin/thresholds")
    with db.uow() as uow:
        team_id = uow.s.scalar(select(Team.id).where(Team.org_id == world.org_id).order_by(Team.name))
    target = f"t{team_id}-gone_dark_days"
    for _ in range(80):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement && document.activeElement.id") == target:
            break
    else:
        pytest.fail("Tab never reached the gone-dark field")
    page.keyboard.type("30")
    page.keyboard.press("Enter")
    page.wait_for_selector("p.notice")
    assert "saved" in page.text_content("p.notice")
    with db.uow() as uow:
        assert uow.s.get(Team, team_id).gone_dark_after_days == 30
