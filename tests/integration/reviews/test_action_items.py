"""Action items and pipeline reviews through the API: create, change, overdue first, access rules, audit, history."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from dealpulse.store import ActionItem, AuditEntry

TODAY = date.today()


def _item(client, world, who="manager.a", deal="a1_acme", **extra):
    body = {"opportunity_id": world.opportunities[deal], "obstacle": "Legal has not seen the contract",
            "owner_kind": "executive", "owner_name": "Our CFO", "due_date": (TODAY + timedelta(days=3)).isoformat(),
            "priority": "high", **extra}
    return client.post("/api/v1/action-items", json=body, headers=world.auth(who))


def test_a_manager_agrees_an_item_in_a_review_and_the_rep_sees_it(client, world, db):
    review = client.post("/api/v1/reviews", json={"rep_id": world.users["rep.a1"]}, headers=world.auth("manager.a"))
    assert review.status_code == 201, review.json
    created = _item(client, world, review_id=review.json["id"])
    assert created.status_code == 201, created.json
    assert created.json["owner"] == "Our CFO" and created.json["status"] == "open" and not created.json["overdue"]
    mine = client.get("/api/v1/action-items", headers=world.auth("rep.a1")).json["items"]
    assert [(i["obstacle"], i["opportunity"]) for i in mine] == [("Legal has not seen the contract", "Test Acme platform")]
    history = client.get(f"/api/v1/reviews?rep_id={world.users['rep.a1']}", headers=world.auth("rep.a1")).json["items"]
    assert [r["id"] for r in history] == [review.json["id"]]
    assert [i["obstacle"] for i in history[0]["action_items"]] == ["Legal has not seen the contract"]
    assert "deals" in history[0]["agenda"] and history[0]["held_by"]["name"] == "Test Manager A"
    with db.uow() as uow:
        fields = set(uow.s.scalars(select(AuditEntry.field).where(AuditEntry.entity_type == "action_item")))
    assert {"obstacle", "owner_kind", "owner_name", "due_date", "priority", "status"} <= fields


def test_closing_an_item_is_audited_with_who_and_what(client, world, db):
    item_id = _item(client, world).json["id"]
    done = client.patch(f"/api/v1/action-items/{item_id}", json={"status": "done"}, headers=world.auth("rep.a1"))
    assert done.status_code == 200 and done.json["status"] == "done"
    with db.uow() as uow:
        entry = uow.s.scalars(select(AuditEntry).where(AuditEntry.entity_type == "action_item",
                                                        AuditEntry.field == "status", AuditEntry.old_value.is_not(None))).one()
    assert (entry.old_value, entry.new_value, entry.actor_id) == ('"open"', '"done"', world.users["rep.a1"])


def test_overdue_items_come_first(client, world, db):
    _item(client, world, obstacle="Later one", priority="high")
    late = _item(client, world, obstacle="Pricing sign-off", priority="low").json["id"]
    with db.uow() as uow:
        uow.s.get(ActionItem, late).due_date = TODAY - timedelta(days=2)
        uow.commit()
    items = client.get("/api/v1/action-items?status=open", headers=world.auth("manager.a")).json["items"]
    assert [(i["obstacle"], i["overdue"]) for i in items] == [("Pricing sign-off", True), ("Later one", False)]
    review = client.post("/api/v1/reviews", json={"rep_id": world.users["rep.a1"]}, headers=world.auth("manager.a")).json
    assert [i["obstacle"] for i in review["agenda"]["overdue"]] == ["Pricing sign-off"]


def test_reps_and_other_teams_see_nothing_of_deals_not_theirs(client, world):
    item_id = _item(client, world).json["id"]
    for who in ("rep.a2", "manager.b", "rep.b1"):
        assert client.get("/api/v1/action-items", headers=world.auth(who)).json["items"] == []
        assert client.get(f"/api/v1/action-items/{item_id}", headers=world.auth(who)).status_code == 404
        changed = client.patch(f"/api/v1/action-items/{item_id}", json={"status": "dropped"}, headers=world.auth(who))
        assert changed.status_code == 404
    assert _item(client, world, who="rep.a2").status_code == 404  # a colleague's deal
    assert client.get(f"/api/v1/reviews?rep_id={world.users['rep.a1']}", headers=world.auth("manager.b")).status_code == 404
    assert client.post("/api/v1/reviews", json={"rep_id": world.users["rep.a1"]}, headers=world.auth("rep.a1")).status_code == 403
    assert client.get(f"/api/v1/action-items/{item_id}", headers=world.auth("rep.a1")).json["status"] == "open"


def test_bad_items_get_a_clear_422_and_change_nothing(client, world, db):
    assert _item(client, world, owner_name="").status_code == 422  # an executive must be named
    assert _item(client, world, owner_kind="vp").status_code == 422
    assert _item(client, world, obstacle="   ").status_code == 422
    assert _item(client, world, due_date="31/03/2027").status_code == 422
    assert _item(client, world, review_id=2**31 - 1).status_code == 422
    with db.uow() as uow:
        assert uow.s.scalars(select(ActionItem)).all() == []
    item_id = _item(client, world).json["id"]
    assert client.patch(f"/api/v1/action-items/{item_id}", json={"status": "closed"}, headers=world.auth("rep.a1")).status_code == 422
    assert client.patch(f"/api/v1/action-items/{item_id}", json={"owner_name": ""}, headers=world.auth("rep.a1")).status_code == 422
