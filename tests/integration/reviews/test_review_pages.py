"""The review on the dashboard: start it from the agenda, agree items, see them in the history and on the deal;
deal history in words; pages answer errors as HTML."""

from __future__ import annotations

import dataclasses
import html
import re
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from dealpulse.store import ActionItem, Review
from tests.integration.alerts.test_dashboard_pages import sign_in


@pytest.fixture
def settings(settings):
    """Demo mode on: the sign-in picker exists."""
    return dataclasses.replace(settings, demo=True)


def text_of(response) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))))


def test_a_manager_runs_a_review_and_the_rep_sees_what_was_agreed(client, db, world):
    csrf = sign_in(client, world, "manager.a")
    rep = world.users["rep.a1"]
    started = client.post("/dashboard/reviews", data={"csrf_token": csrf, "rep_id": rep})
    assert started.status_code == 303
    review_url = started.headers["Location"]
    due = (date.today() + timedelta(days=4)).isoformat()
    added = client.post("/dashboard/action-items", data={
        "csrf_token": csrf, "next": review_url, "review_id": review_url.rsplit("/", 1)[1],
        "opportunity_id": world.opportunities["a1_globex"], "obstacle": "No executive sponsor <yet>",
        "owner_kind": "executive", "owner_name": "Our CRO", "due_date": due, "priority": "high"})
    assert added.status_code == 303 and added.headers["Location"].endswith(review_url)
    page = text_of(client.get(review_url))
    assert "Action items agreed in this review (1)" in page and "No executive sponsor <yet>" in page
    assert "Our CRO" in page and f"due {due}" in page
    history = text_of(client.get(f"/dashboard/reviews?rep={rep}"))
    assert "0 of 1 done" in history

    client.post("/signout", data={"csrf_token": csrf})
    csrf = sign_in(client, world, "rep.a1")
    deal = text_of(client.get(f"/dashboard/deals/{world.opportunities['a1_globex']}"))
    assert "No executive sponsor <yet>" in deal
    with db.uow() as uow:
        item_id = uow.s.scalars(select(ActionItem.id)).one()
    done = client.post(f"/dashboard/action-items/{item_id}/status", data={"csrf_token": csrf, "status": "done",
                                                                        "next": "/dashboard/agenda"})
    assert done.status_code == 303
    assert "1 of 1 done" in text_of(client.get(f"/dashboard/reviews?rep={rep}"))
    assert client.post("/dashboard/reviews", data={"csrf_token": csrf, "rep_id": rep}).status_code == 403  # reps don't
    with db.uow() as uow:
        assert len(uow.s.scalars(select(Review)).all()) == 1


def test_overdue_items_lead_the_next_agenda(client, db, world):
    with db.uow() as uow:
        uow.s.add(ActionItem(org_id=world.org_id, opportunity_id=world.opportunities["a1_acme"], obstacle="Security review",
                             owner_kind="rep", owner_name="", due_date=date.today() - timedelta(days=1), priority="low",
                             status="open"))
        uow.commit()
    sign_in(client, world, "manager.a")
    page = text_of(client.get(f"/dashboard/agenda?rep={world.users['rep.a1']}"))
    assert "Overdue action items (1)" in page
    assert page.index("Security review") < page.index("The deals to discuss")


def test_bad_item_forms_are_refused_and_other_teams_cannot_add(client, db, world):
    csrf = sign_in(client, world, "manager.b")
    base = {"csrf_token": csrf, "opportunity_id": world.opportunities["a1_acme"], "obstacle": "x", "owner_kind": "rep",
            "due_date": date.today().isoformat(), "priority": "low"}
    assert client.post("/dashboard/action-items", data=base).status_code == 404  # team A's deal
    mine = {**base, "opportunity_id": world.opportunities["b1_acme"]}
    assert client.post("/dashboard/action-items", data={**mine, "due_date": "tomorrow"}).status_code == 422
    assert client.post("/dashboard/action-items", data={**mine, "owner_kind": "executive"}).status_code == 422
    assert client.post("/dashboard/action-items", data={**mine, "priority": "urgent"}).status_code == 422
    with db.uow() as uow:
        assert uow.s.scalars(select(ActionItem)).all() == []


def test_deal_history_reads_in_words(client, world):
    opp = world.opportunities["a1_acme"]
    answered = client.put(f"/api/v1/opportunities/{opp}/exit-answers", json={"version": 1, "answers": {"within_budget": True}},
                          headers=world.auth("rep.a1"))
    assert answered.status_code == 200, answered.json
    client.put(f"/api/v1/opportunities/{opp}/exit-answers", json={"version": 2, "answers": {"within_budget": None}},
               headers=world.auth("rep.a1"))
    client.patch(f"/api/v1/opportunities/{opp}", json={"version": 3, "stage": "demo"}, headers=world.auth("rep.a1"))
    sign_in(client, world, "rep.a1")
    page = text_of(client.get(f"/dashboard/deals/{opp}"))
    assert "Within budget: yes → unknown" in page and "Within budget: unknown → yes" in page
    assert "Stage: Qualification → Demo" in page
    assert "exit.within_budget" not in page and "True" not in page


def test_pages_for_people_answer_errors_as_html(client, world):
    sign_in(client, world, "rep.a1")
    for url, status in (("/admin/models", 403), ("/dashboard/no-such-page", 404), ("/dashboard/alerts/1/zap", 405)):
        answer = client.get(url)
        assert answer.status_code == status and answer.mimetype == "text/html", url
        assert "<h1>" in answer.get_data(as_text=True)
    assert client.get("/api/v1/no-such-thing", headers=world.auth("rep.a1")).mimetype == "application/problem+json"
