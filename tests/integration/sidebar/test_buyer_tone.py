"""How the buyer sounds, honestly: calibrated confidence in words, evidence that carries the stance, and only the
buyer's mail rated or counted (the rep's own outbound mail never is)."""

from __future__ import annotations

from sqlalchemy import select, update

from dealpulse.store import Rating, SentimentScore

ACME_BUYER = "buyer@acme.test.example"


def context(client, world, who="rep.a1", **body):
    response = client.post("/api/v1/context", json=body, headers=world.auth(who))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def set_score(db, activity_id: int, **values) -> None:
    with db.uow() as uow:
        uow.s.execute(update(SentimentScore).where(SentimentScore.activity_id == activity_id).values(**values))
        uow.commit()


def test_a_confident_score_reads_plainly_and_an_unsure_one_leans(client, world, inbox, db, active_tone):
    sure = inbox.email(label="negative", text="We have signed with another vendor.")
    set_score(db, sure.activity_id, score=-0.9, confidence=0.92, probabilities={"negative": 0.92, "neutral": 0.05, "positive": 0.03})
    unsure = inbox.email(label="negative", text="Not sure the budget holds this year.")
    set_score(db, unsure.activity_id, score=-0.98, confidence=0.56, probabilities={"negative": 0.56, "neutral": 0.4, "positive": 0.04})

    sure_tone = context(client, world, message_id=sure.message_id)["email"]["tone"]
    unsure_tone = context(client, world, message_id=unsure.message_id)["email"]["tone"]

    assert sure_tone["reading"]["wording"] == "Negative" and sure_tone["reading"]["confident"] is True
    assert sure_tone["confidence"] == 0.92 and sure_tone["probabilities"]["negative"] == 0.92
    # A saturated -0.98 with a calibrated confidence of 56% is a lean, not a verdict.
    assert unsure_tone["reading"]["wording"] == "Leaning negative" and unsure_tone["reading"]["confident"] is False
    assert unsure_tone["reading"]["summary"] == "Leaning negative · 56% confidence"


def test_the_open_email_quotes_stored_evidence_and_never_the_pleasantry(client, world, inbox, db, active_tone):
    text = "Sam, I'm really sorry. Between us, the bundle price made it impossible."
    stored = inbox.email(label="negative", text=text)
    decision = {"text": "Between us, the bundle price made it impossible.", "label": "negative", "score": -0.7,
                "start": 23, "end": len(text), "strength": 0.8, "influence": 0.5, "flips": True}
    set_score(db, stored.activity_id, highlights=[{"text": "Sam, I'm really sorry.", "label": "negative", "score": -0.97}],
              evidence=[decision])

    tone = context(client, world, message_id=stored.message_id)["email"]["tone"]

    assert [h["text"] for h in tone["highlights"]] == ["Between us, the bundle price made it impossible."]


def test_without_stored_evidence_the_open_email_gets_leave_one_out_evidence(client, world, inbox, active_tone):
    stored = inbox.email(label="negative", text="Hi Sam, thanks again for your time. We will not renew the contract. Best regards.")

    tone = context(client, world, message_id=stored.message_id)["email"]["tone"]

    assert tone["highlights"], tone
    assert all("influence" in h and "flips" in h for h in tone["highlights"])
    assert all(h["text"] not in ("Hi Sam, thanks again for your time.", "Best regards.") for h in tone["highlights"])


def test_the_reps_own_email_is_not_offered_for_rating_and_a_rating_is_refused(client, world, inbox, db, active_tone):
    mine = inbox.email(direction="outbound", sender="rep.a1@seller.example", to=(ACME_BUYER,), label="negative",
                       text="Sorry for chasing again, any news on the contract?")

    email = context(client, world, message_id=mine.message_id)["email"]

    assert email["direction"] == "outbound" and email["ratable"] is False
    assert "your own email" in email["not_ratable_reason"]
    response = client.put(f"/api/v1/activities/{mine.activity_id}/rating", json={"label": "negative"}, headers=world.auth("rep.a1"))
    assert response.status_code == 422
    assert "only the buyer's emails are rated" in response.get_json()["errors"][0]["message"]
    with db.uow() as uow:
        assert uow.s.scalars(select(Rating)).all() == []


def test_the_buyers_email_is_ratable(client, world, inbox, active_tone):
    email = context(client, world, message_id=inbox.email(label="positive").message_id)["email"]
    assert email["ratable"] is True and email["not_ratable_reason"] is None


def test_an_uncaptured_email_the_rep_sends_is_not_offered_for_rating(client, world, active_tone):
    email = context(client, world, message_id="<out-1@seller.example>", to=[ACME_BUYER], subject="Following up",
                    body="Sorry to chase, any news?", **{"from": "rep.a1@seller.example"})["email"]
    assert email["direction"] == "outbound" and email["ratable"] is False and email["not_ratable_reason"]


def test_the_reps_own_mail_never_enters_the_buyers_tone_trend(client, world, inbox, active_tone):
    inbox.email(days_ago=5, score=0.6)
    outbound = inbox.email(days_ago=3, direction="outbound", sender="rep.a1@seller.example", to=(ACME_BUYER,), score=-0.95)
    latest = inbox.email(days_ago=1, score=0.5)

    timeline = context(client, world, message_id=latest.message_id)["timeline"]

    assert [p["score"] for p in timeline["tone_trend"]] == [0.6, 0.5]
    shown = {item["id"]: item for item in timeline["recent"]}
    assert shown[outbound.activity_id]["tone"] is None and shown[latest.activity_id]["tone"] == "positive"
