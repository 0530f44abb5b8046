"""Suggested updates from the buyer's words in the sidebar, and accepting one (issue #18)."""

from __future__ import annotations

from datetime import date

from dealpulse.store import utcnow

ACME_BUYER = "buyer@acme.test.example"


def open_email(client, world, body, who="rep.a1", sender=ACME_BUYER):
    response = client.post("/api/v1/context", json={
        "message_id": "<sugg-1@acme.test.example>", "to": ["rep.a1@seller.example"], "subject": "Next steps",
        "body": body, "from": f"Ann Buyer <{sender}>"}, headers=world.auth(who))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_an_inbound_email_offers_its_close_date_and_budget_answer_with_the_sentence(client, world):
    year = utcnow().year + 1
    data = open_email(client, world, f"Thanks for the demo.\nWe aim to sign by 31 March {year}. The budget is approved.\n\nAnn")
    assert data["opportunity"]["id"] == world.opportunities["a1_acme"]
    offered = {s["field"]: s for s in data["suggestions"]}
    assert offered["close_date"]["value"] == f"{year}-03-31"
    assert offered["close_date"]["evidence"] == f"We aim to sign by 31 March {year}."
    assert offered["exit.within_budget"]["value"] is True
    assert offered["exit.within_budget"]["current"] is None


def test_negated_and_hedged_words_offer_nothing(client, world):
    data = open_email(client, world, "We won't sign before June. The budget is not approved yet. Maybe we can close in Q3.")
    assert data["suggestions"] == []


def test_the_reps_own_email_offers_nothing(client, world):
    data = open_email(client, world, "We aim to sign by 31 March.", sender="rep.a1@seller.example")
    assert data["suggestions"] == []


def test_accepting_a_suggestion_applies_it_version_guarded_and_audits_it(client, world):
    url = f"/api/v1/opportunities/{world.opportunities['a1_acme']}"
    year = utcnow().year + 1
    body = {"version": 1, "field": "close_date", "value": f"{year}-03-31", "evidence": f"We aim to sign by 31 March {year}."}
    response = client.post(url + "/suggestions/accept", json=body, headers=world.auth("rep.a1"))
    assert response.status_code == 200, response.get_json()
    assert response.json["close_date"] == f"{year}-03-31" and response.json["version"] == 2
    history = client.get(url + "/history", headers=world.auth("rep.a1")).json["items"]
    accepted = [h for h in history if h["field"] == "suggestion.accepted"]
    assert len(accepted) == 1 and accepted[0]["version"] == 2
    assert accepted[0]["new"] == {"field": "close_date", "value": f"{year}-03-31", "evidence": body["evidence"]}
    assert any(h["field"] == "close_date" and h["new"] == f"{year}-03-31" for h in history)
    # The same suggestion against the version read before: stale, nothing changes.
    stale = client.post(url + "/suggestions/accept", json={**body, "value": f"{year}-04-30"}, headers=world.auth("rep.a1"))
    assert stale.status_code == 409
    assert client.get(url, headers=world.auth("rep.a1")).json["close_date"] == f"{year}-03-31"


def test_accepting_an_exit_answer_sets_it_yes(client, world):
    url = f"/api/v1/opportunities/{world.opportunities['a1_acme']}"
    body = {"version": 1, "field": "exit.within_budget", "value": True, "evidence": "The budget is approved."}
    response = client.post(url + "/suggestions/accept", json=body, headers=world.auth("rep.a1"))
    assert response.status_code == 200, response.get_json()
    assert {q["key"]: q["answer"] for q in response.json["exit_questions"]}["within_budget"] is True


def test_an_amount_with_its_currency(client, world):
    url = f"/api/v1/opportunities/{world.opportunities['a1_acme']}"
    body = {"version": 1, "field": "amount", "value": "54000.00", "currency": "EUR", "evidence": "The contract total is EUR 54,000."}
    response = client.post(url + "/suggestions/accept", json=body, headers=world.auth("rep.a1"))
    assert response.status_code == 200, response.get_json()
    assert (response.json["amount"], response.json["currency"]) == ("54000.00", "EUR")


def test_a_rep_cannot_accept_on_another_reps_deal(client, world):
    url = f"/api/v1/opportunities/{world.opportunities['b1_acme']}"
    body = {"version": 1, "field": "close_date", "value": date(utcnow().year + 1, 3, 31).isoformat(), "evidence": "We sign."}
    response = client.post(url + "/suggestions/accept", json=body, headers=world.auth("rep.a1"))
    assert response.status_code in (403, 404)
    assert client.get(url, headers=world.auth("rep.b1")).json["version"] == 1


def test_bad_suggestions_are_refused_and_change_nothing(client, world):
    url = f"/api/v1/opportunities/{world.opportunities['a1_acme']}"
    for body in (
        {"version": 1, "field": "probability", "value": "90", "evidence": "x"},
        {"version": 1, "field": "close_date", "value": "31 March", "evidence": "x"},
        {"version": 1, "field": "amount", "value": "-5", "evidence": "x"},
        {"version": 1, "field": "exit.within_budget", "value": False, "evidence": "x"},
        {"version": 1, "field": "exit.not_a_question", "value": True, "evidence": "x"},
        {"version": 1, "field": "close_date", "value": "2030-01-01", "evidence": ""},
    ):
        response = client.post(url + "/suggestions/accept", json=body, headers=world.auth("rep.a1"))
        assert response.status_code == 422, (body, response.get_json())
    assert client.get(url, headers=world.auth("rep.a1")).json["version"] == 1


def test_a_seat_count_is_offered_and_applied_to_the_deals_seats(client, world):
    data = open_email(client, world, "We want to order 120 seats for the first wave.")
    assert {s["field"]: s["value"] for s in data["suggestions"]}["seats"] == 120
    url = f"/api/v1/opportunities/{world.opportunities['a1_acme']}"
    body = {"version": 1, "field": "seats", "value": 120, "evidence": "We want to order 120 seats for the first wave."}
    response = client.post(url + "/suggestions/accept", json=body, headers=world.auth("rep.a1"))
    assert response.status_code == 200, response.get_json()
    assert response.json["seats"] == 120
    again = open_email(client, world, "We want to order 120 seats for the first wave.")
    assert "seats" not in {s["field"] for s in again["suggestions"]}  # already what the deal says
