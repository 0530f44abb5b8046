"""Sidebar actions: rate (changeable, with history and the model's label), notes, edits with versions, new deals."""

from __future__ import annotations

from sqlalchemy import select

from dealpulse.store import Rater, Rating, RatingChange, ThreadLink

ACME_BUYER = "buyer@acme.test.example"


def test_rating_is_stored_with_the_model_label_and_can_be_changed_with_history(client, world, inbox, db, active_tone):
    stored = inbox.email(label="negative", text="We will not proceed with the purchase.")
    url = f"/api/v1/activities/{stored.activity_id}/rating"
    first = client.put(url, json={"label": "neutral", "note": "they always say that"}, headers=world.auth("rep.a1"))
    assert first.status_code == 200, first.get_json()
    body = first.get_json()
    assert (body["label"], body["model_label"], body["agrees_with_model"]) == ("neutral", "negative", False)
    client.put(url, json={"label": "neutral", "note": "they always say that"}, headers=world.auth("rep.a1"))  # no-op
    second = client.put(url, json={"label": "negative"}, headers=world.auth("rep.a1")).get_json()
    assert second["id"] == body["id"] and second["agrees_with_model"] is True
    with db.uow() as uow:
        ratings = uow.s.scalars(select(Rating)).all()
        assert len(ratings) == 1
        assert ratings[0].text == "We will not proceed with the purchase."
        assert ratings[0].model_version == active_tone
        changes = uow.s.scalars(select(RatingChange).order_by(RatingChange.id)).all()
        assert [(c.label, c.note) for c in changes] == [("neutral", "they always say that"), ("negative", "")]
        rater = uow.s.get(Rater, ratings[0].rater_id)
        assert (rater.key, rater.user_id) == ("rep.a1@seller.example", world.users["rep.a1"])
    shown = client.post("/api/v1/context", json={"message_id": stored.message_id}, headers=world.auth("rep.a1"))
    assert shown.get_json()["email"]["my_rating"]["label"] == "negative"


def test_each_rater_has_their_own_current_rating(client, world, inbox, db, active_tone):
    stored = inbox.email(label="positive")
    url = f"/api/v1/activities/{stored.activity_id}/rating"
    assert client.put(url, json={"label": "positive"}, headers=world.auth("rep.a1")).status_code == 200
    assert client.put(url, json={"label": "neutral"}, headers=world.auth("manager.a")).status_code == 200
    with db.uow() as uow:
        assert sorted(r.label for r in uow.s.scalars(select(Rating))) == ["neutral", "positive"]
    mine = client.post("/api/v1/context", json={"message_id": stored.message_id}, headers=world.auth("rep.a1"))
    assert mine.get_json()["email"]["my_rating"]["label"] == "positive"


def test_bad_ratings_change_nothing(client, world, inbox, db, active_tone):
    stored = inbox.email(label="positive")
    url = f"/api/v1/activities/{stored.activity_id}/rating"
    response = client.put(url, json={"label": "great"}, headers=world.auth("rep.a1"))
    assert response.status_code == 422 and response.get_json()["errors"][0]["field"] == "label"
    assert client.put("/api/v1/activities/999999/rating", json={"label": "positive"},
                      headers=world.auth("rep.a1")).status_code == 404
    assert client.put(url, json={"label": "positive"}, headers=world.auth("rep.a2")).status_code == 404
    assert client.put(url, json={"label": "positive"}, headers=world.auth("other.admin")).status_code == 404
    with db.uow() as uow:
        assert uow.s.scalars(select(Rating)).all() == []


def test_notes_are_added_and_shown(client, world, inbox, active_tone):
    stored = inbox.email(label="neutral")
    response = client.post(f"/api/v1/activities/{stored.activity_id}/notes", json={"text": "  Call Ann on Monday "},
                           headers=world.auth("rep.a1"))
    assert response.status_code == 201 and response.get_json()["text"] == "Call Ann on Monday"
    assert client.post(f"/api/v1/activities/{stored.activity_id}/notes", json={"text": "   "},
                       headers=world.auth("rep.a1")).status_code == 422
    data = client.post("/api/v1/context", json={"message_id": stored.message_id}, headers=world.auth("rep.a1")).get_json()
    assert [n["text"] for n in data["email"]["notes"]] == ["Call Ann on Monday"]


def test_stage_change_from_the_sidebar_is_audited_and_a_stale_edit_says_who_changed_what(client, world, inbox, active_tone):
    stored = inbox.email(label="neutral")
    sidebar = {**world.auth("rep.a1"), "X-DealPulse-Surface": "outlook"}  # ignored: the surface is how one signed in
    opp = client.post("/api/v1/context", json={"message_id": stored.message_id}, headers=sidebar).get_json()["opportunity"]
    url = f"/api/v1/opportunities/{opp['id']}"
    manager = client.patch(url, json={"version": opp["version"], "next_step": "Exec call"}, headers=world.auth("manager.a"))
    assert manager.status_code == 200
    stale = client.patch(url, json={"version": opp["version"], "stage": "demo"}, headers=sidebar)
    assert stale.status_code == 409
    problem = stale.get_json()
    assert problem["current"]["next_step"] == "Exec call"
    assert problem["changes_since"][0]["actor"]["email"] == "manager.a@seller.example"
    saved = client.patch(url, json={"version": problem["current"]["version"], "stage": "demo"}, headers=sidebar)
    assert saved.status_code == 200 and saved.get_json()["stage"]["key"] == "demo"
    history = client.get(f"{url}/history", headers=sidebar).get_json()["items"]
    stage_change = next(h for h in history if h["field"] == "stage")
    assert (stage_change["old"], stage_change["new"], stage_change["surface"]) == ("qualification", "demo", "api")


def test_create_an_opportunity_from_an_uncaptured_email_links_its_thread(client, world, db, active_tone):
    body = {"message_id": "<rfp@globex.test.example>", "from": "cio@globex.test.example"}
    first = client.post("/api/v1/context", json=body, headers=world.auth("rep.a2")).get_json()
    assert first["status"] == "no_deal" and first["account"]["name"] == "Test Globex"
    response = client.post("/api/v1/threads/opportunity", headers=world.auth("rep.a2"), json={
        "thread_key": first["thread_key"], "name": "Globex analytics", "account_id": first["account"]["id"],
        "stage": "qualification", "amount": "30000", "contact_id": first["contact"]["id"], "contact_role": "champion",
    })
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    assert created["owner"]["email"] == "rep.a2@seller.example"
    assert created["buying_team"][0]["role"] == "champion"
    again = client.post("/api/v1/context", json=body, headers=world.auth("rep.a2")).get_json()
    assert again["status"] == "matched" and again["opportunity"]["id"] == created["id"]
    assert again["contact"]["role"] == "champion"
    with db.uow() as uow:
        link = uow.s.scalar(select(ThreadLink).where(ThreadLink.thread_key == "rfp@globex.test.example"))
        assert link.opportunity_id == created["id"]


def test_creating_with_bad_fields_creates_nothing(client, world, active_tone):
    response = client.post("/api/v1/threads/opportunity", headers=world.auth("rep.a2"), json={
        "thread_key": "x@y", "name": "Bad", "account_id": world.accounts["globex"], "stage": "nope"})
    assert response.status_code == 422
    listed = client.get("/api/v1/opportunities", headers=world.auth("rep.a2")).get_json()
    assert "Bad" not in [o["name"] for o in listed["items"]]


def test_racing_ratings_of_one_rater_end_as_one_current_rating(app, world, inbox, db, active_tone):
    import threading

    stored = inbox.email(label="neutral")
    barrier = threading.Barrier(4)
    statuses: list[int] = []

    def click(label: str) -> None:
        client = app.test_client()
        barrier.wait()
        response = client.put(f"/api/v1/activities/{stored.activity_id}/rating", json={"label": label},
                              headers=world.auth("rep.a1"))
        statuses.append(response.status_code)

    threads = [threading.Thread(target=click, args=(label,)) for label in ("positive", "negative", "neutral", "positive")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert statuses == [200, 200, 200, 200]
    with db.uow() as uow:
        ratings = uow.s.scalars(select(Rating)).all()
        assert len(ratings) == 1
        assert len(uow.s.scalars(select(RatingChange)).all()) >= 1
