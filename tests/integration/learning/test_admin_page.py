"""The admin model page: managers see raters, admins also versions and forms; strict CSP; forms need CSRF."""

from __future__ import annotations

import json
import re

from dealpulse.services.ratings_import import import_ratings
from dealpulse.web.signin import session_values


def _sign_in(client, user_id: int) -> str:
    with client.session_transaction() as session:
        session.update(session_values(user_id, 0), csrf="test-csrf-token")
    return "test-csrf-token"


def _ratings(db, org_id: int) -> None:
    lines = [json.dumps({"text": f"We signed order {i} today.", "label": "positive", "rater": "happy@seller.example"})
             for i in range(3)]
    with db.uow() as uow:
        import_ratings(uow, org_id, lines)


def test_admins_see_raters_versions_and_forms_without_inline_script_or_style(client, db, world, tiny_registry) -> None:
    _ratings(db, world.org_id)
    _sign_in(client, world.users["admin"])
    page = client.get("/admin/models")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "happy@seller.example" in html and "tiny-a" in html and "Roll back" in html
    assert "<script" not in html and "style=" not in html and "<style" not in html
    assert "'unsafe-inline'" not in page.headers["Content-Security-Policy"]
    assert len(re.findall(r'name="csrf_token" value="test-csrf-token"', html)) >= 2


def test_managers_see_raters_but_no_model_controls_and_reps_are_refused(client, db, world) -> None:
    _ratings(db, world.org_id)
    _sign_in(client, world.users["manager.a"])
    html = client.get("/admin/models").get_data(as_text=True)
    assert "happy@seller.example" in html and "Roll back" not in html
    assert client.post("/admin/models/rollback", data={"csrf_token": "test-csrf-token"}).status_code == 403
    _sign_in(client, world.users["rep.a1"])
    assert client.get("/admin/models").status_code == 403


def test_forms_without_the_csrf_token_change_nothing(client, db, world, tiny_registry) -> None:
    _sign_in(client, world.users["admin"])
    assert client.post("/admin/models/promote", data={"version": "tiny-b"}).status_code == 400
    assert client.post("/admin/models/rollback", data={"csrf_token": "wrong"}).status_code == 400
    assert client.get("/admin/models").status_code == 200


def test_signed_out_visitors_are_sent_to_sign_in(client) -> None:
    response = client.get("/admin/models")
    assert response.status_code == 302 and "/signin" in response.headers["Location"]
