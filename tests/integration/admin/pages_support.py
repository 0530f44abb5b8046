"""Signing in to the server-rendered pages in tests (demo picker) and reading their CSRF token."""

from __future__ import annotations

import re

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')

#: Every admin page (GET) and a form each one posts (path, fields without the CSRF token).
ADMIN_PAGES = ("/admin/", "/admin/people", "/admin/stages", "/admin/thresholds", "/admin/privacy", "/admin/mailboxes",
               "/admin/addins", "/admin/addins/manifest.xml", "/admin/addins/deployment.json")


def sign_in(client, user_id: int) -> str:
    """Sign `user_id` in through the demo picker; returns the session's CSRF token."""
    page = client.get("/signin/demo")
    token = CSRF.search(page.get_data(as_text=True)).group(1)
    answer = client.post("/signin/demo", data={"csrf_token": token, "user_id": user_id})
    assert answer.status_code == 302, answer.get_data(as_text=True)
    return csrf_of(client)


def csrf_of(client) -> str:
    """The CSRF token of the client's current session."""
    with client.session_transaction() as session:
        return session["csrf"]
