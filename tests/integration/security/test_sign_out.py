"""Audit finding 5: signing out ends the session everywhere; sessions expire when idle and after a fixed lifetime."""

from __future__ import annotations

import dataclasses
import re
import time

import pytest

from dealpulse.store import User

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def settings(settings):
    """Demo mode on: the sign-in picker exists."""
    return dataclasses.replace(settings, demo=True)


def _sign_in(client, user_id: int) -> str:
    page = client.get("/signin/demo")
    token = CSRF.search(page.get_data(as_text=True)).group(1)
    assert client.post("/signin/demo", data={"csrf_token": token, "user_id": user_id}).status_code == 302
    return CSRF.search(client.get("/dashboard/alerts").get_data(as_text=True)).group(1)


def _with_cookie(app, value: str):
    """A second browser that holds a copy of the session cookie."""
    other = app.test_client()
    other.set_cookie("session", value)
    return other


def test_a_cookie_copied_before_sign_out_cannot_read_or_post_afterwards(app, client, world, db):
    csrf = _sign_in(client, world.users["admin"])
    stolen = client.get_cookie("session").value
    assert _with_cookie(app, stolen).get("/dashboard/").status_code == 200
    assert client.post("/signout", data={"csrf_token": csrf}).status_code == 302

    thief = _with_cookie(app, stolen)
    page = thief.get("/dashboard/")
    assert page.status_code == 302 and "/signin" in page.headers["Location"]
    posted = _with_cookie(app, stolen).post("/admin/models/rollback", data={"csrf_token": csrf})
    assert posted.status_code == 302 and "/signin" in posted.headers["Location"]
    assert client.get("/dashboard/").status_code == 302  # the browser that signed out is signed out too
    with db.uow() as uow:
        assert uow.s.get(User, world.users["admin"]).session_version == 1


def test_signing_in_again_after_sign_out_works(client, world):
    csrf = _sign_in(client, world.users["manager.a"])
    client.post("/signout", data={"csrf_token": csrf})
    _sign_in(client, world.users["manager.a"])
    assert client.get("/dashboard/").status_code == 200


@pytest.mark.parametrize(("issued_hours_ago", "seen_hours_ago", "signed_in"), [
    (1, 0, True),
    (13, 13, False),           # idle for longer than 12 h
    (24 * 7 + 1, 0, False),    # used a minute ago, but issued more than 7 days ago
    (24 * 6, 11, True),
])
def test_sessions_end_after_12_hours_idle_or_7_days(app, client, world, issued_hours_ago, seen_hours_ago, signed_in):
    _sign_in(client, world.users["manager.a"])
    now = time.time()
    with client.session_transaction() as session:
        session["iat"] = int(now - issued_hours_ago * 3600)
        session["seen"] = int(now - seen_hours_ago * 3600)
    assert (client.get("/dashboard/").status_code == 200) is signed_in


def test_a_session_cookie_without_issue_time_or_version_is_not_a_session(client, world):
    with client.session_transaction() as session:
        session["uid"] = world.users["admin"]  # what a pre-upgrade cookie held
        session["csrf"] = "x"
    assert client.get("/dashboard/").status_code == 302


@pytest.mark.parametrize(("base_url", "secure"), [("https://dealpulse.example.com", True),
                                                   ("HTTPS://dealpulse.example.com", True),
                                                   ("http://127.0.0.1:5000", False)])
def test_session_cookies_are_secure_under_an_https_base_url(settings, db, world, base_url, secure):
    from dealpulse import runtime
    from dealpulse.app import create_app

    runtime._databases[db.url] = db
    app = create_app(dataclasses.replace(settings, base_url=base_url))
    client = app.test_client()
    client.get("/signin/demo")
    cookie = client.get_cookie("session")
    assert cookie.secure is secure and cookie.http_only
    runtime._databases.pop(db.url, None)

