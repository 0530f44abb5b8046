"""Issue #16: the one-time setup page on an empty database (token, CSRF, validation, then closed)."""

from __future__ import annotations

from sqlalchemy import func, select

from dealpulse.services.first_run import issue_setup_token
from dealpulse.store import Organisation, User
from tests.integration.admin.pages_support import CSRF

FIELDS = {"name": "Northwind Sales", "domains": "northwind-sales.example", "admin_email": "Olivia@Northwind-Sales.example",
          "admin_name": "Olivia Admin"}


def _organisations(db) -> int:
    with db.uow() as uow:
        return uow.s.scalar(select(func.count()).select_from(Organisation))


def _open(client, settings) -> str:
    token = issue_setup_token(settings.var_dir)
    answer = client.get(f"/setup?token={token}")
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/setup")
    return CSRF.search(client.get("/setup").get_data(as_text=True)).group(1)


def test_without_the_printed_link_the_setup_page_opens_nothing(client, settings, db):
    issue_setup_token(settings.var_dir)
    assert client.get("/setup").status_code == 403
    assert client.get("/setup?token=guessed").status_code == 403
    assert _organisations(db) == 0


def test_setup_creates_the_organisation_and_first_admin_once(client, settings, db):
    csrf = _open(client, settings)
    assert client.post("/setup", data=FIELDS).status_code == 400  # no CSRF token
    bad = client.post("/setup", data={**FIELDS, "csrf_token": csrf, "domains": "gmail.com"})
    assert bad.status_code == 422 and "free-mail domain" in bad.get_data(as_text=True)
    assert _organisations(db) == 0

    done = client.post("/setup", data={**FIELDS, "csrf_token": csrf})
    text = done.get_data(as_text=True)
    assert done.status_code == 201 and "olivia@northwind-sales.example" in text and "Invite your team" in text
    with db.uow() as uow:
        admin = uow.s.scalar(select(User))
        assert (admin.email, admin.role, admin.is_active) == ("olivia@northwind-sales.example", "admin", True)
        assert uow.s.get(Organisation, admin.org_id).domains == ["northwind-sales.example"]
    assert client.get("/setup").status_code == 404
    assert client.post("/setup", data={**FIELDS, "csrf_token": csrf, "name": "Second"}).status_code == 404
    assert _organisations(db) == 1
