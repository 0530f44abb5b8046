"""The strongly-negative-email alert in the database: calibrated P(negative) against the configured threshold,
never on a coin flip, never on the rep's own outbound mail."""

from __future__ import annotations

from dataclasses import replace

import pytest
import time_machine
from sqlalchemy import update

from dealpulse.services.alert_engine import run_alerts
from dealpulse.store import SentimentScore, utcnow


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(utcnow(), tick=False):
        yield


def _calibrated(db, activity_id: int, p_negative: float) -> None:
    rest = (1 - p_negative) / 2
    with db.uow() as uow:
        uow.s.execute(update(SentimentScore).where(SentimentScore.activity_id == activity_id).values(
            label="negative" if p_negative > rest else "neutral", score=-0.98, confidence=max(p_negative, rest),
            probabilities={"negative": p_negative, "neutral": rest, "positive": rest}))
        uow.commit()


def test_a_saturated_score_with_a_coin_flip_probability_raises_no_alert(db, settings, world, deals) -> None:
    wobble = deals.activity("a1_acme", days_ago=0.5, score=-0.98, label="negative", confidence=0.97,
                            text="Hmm, not sure about the new pricing.")
    _calibrated(db, wobble, 0.55)
    run_alerts(db, settings, world.org_id)
    assert deals.unresolved("a1_acme", "negative_email") is None

    _calibrated(db, wobble, 0.91)
    run_alerts(db, settings, world.org_id)
    alert = deals.unresolved("a1_acme", "negative_email")
    assert alert is not None and alert.evidence["p_negative"] == 0.91 and "91% likely negative" in alert.reason


def test_the_threshold_comes_from_the_setting(db, settings, world, deals) -> None:
    email = deals.activity("a1_acme", days_ago=0.5, score=-0.9, label="negative", text="We are going another way.")
    _calibrated(db, email, 0.9)
    run_alerts(db, replace(settings, negative_alert_probability=0.95), world.org_id)
    assert deals.unresolved("a1_acme", "negative_email") is None
    run_alerts(db, settings, world.org_id)
    assert deals.unresolved("a1_acme", "negative_email") is not None


def test_the_reps_own_outbound_mail_never_raises_a_tone_alert(db, settings, world, deals) -> None:
    deals.activity("a1_acme", days_ago=3, score=0.6, text="Looks good to us.")
    for days in (2, 1, 0.5):
        sent = deals.activity("a1_acme", direction="outbound", days_ago=days, score=-0.95, label="negative",
                              text="Sorry to chase again: no answer is a problem for our quarter.")
        _calibrated(db, sent, 0.97)
    run_alerts(db, settings, world.org_id)
    assert deals.unresolved("a1_acme", "negative_email") is None
    assert deals.unresolved("a1_acme", "falling_tone") is None
