"""Features as of a date ignore everything after it; the model trains on enough closed history and otherwise
falls back to stage probabilities with a visible note."""

import math
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import select

from dealpulse.demo.history import generate_history
from dealpulse.demo.orgdata import load_org
from dealpulse.domain.periods import period_of
from dealpulse.services.deal_history import DealHistory
from dealpulse.services.org_setup import load_organisation
from dealpulse.services.win_features import features_as_of
from dealpulse.services.win_model import train_win_model, win_probabilities
from dealpulse.store import Activity, ActivityContact, BuyingTeamMember, WinModel, utcnow

D = datetime(2026, 6, 15, 12, 0, tzinfo=timezone.utc)



def _add(uow, org_id, opp_id, rows):
    for kind, direction, at, key, contact_id in rows:
        activity = Activity(org_id=org_id, opportunity_id=opp_id, kind=kind, direction=direction, dedupe_key=key,
                            occurred_at=at, subject="s", new_text="t")
        uow.s.add(activity)
        uow.s.flush()
        if contact_id is not None:
            uow.s.add(ActivityContact(activity_id=activity.id, contact_id=contact_id, role="from" if kind == "email" else "attendee"))
    uow.commit()


def _features_at_d(db, world, opp_id):
    with db.uow() as uow:
        history = DealHistory.load(uow.s, world.org_id, [opp_id])
        # The deal's recorded history starts later than D in the fixture: take its state now, as of D's moment.
        state = history.state_at(opp_id, utcnow())
        return features_as_of(uow.s, [state], D, period_of(D.date()).end)[opp_id]


def test_a_feature_computed_as_of_d_ignores_later_activity_roles_and_answers(db, world):
    opp = world.opportunities["a1_acme"]
    buyer = world.contacts["buyer@acme.test.example"]
    tech = world.contacts["tech@acme.test.example"]
    with db.uow() as uow:
        _add(uow, world.org_id, opp, [
            ("email", "inbound", D - timedelta(days=5), "k1", buyer),
            ("email", "outbound", D - timedelta(days=3), "k2", None),
            ("meeting", "inbound", D - timedelta(days=7), "k3", buyer),
        ])
    before = _features_at_d(db, world, opp)
    assert before["log_inbound"] == _log1p(1) and before["log_outbound"] == _log1p(1)
    assert before["log_meetings"] == _log1p(1) and before["outbound_since_inbound"] == 1.0
    assert abs(before["days_since_inbound"] - 5 / 30) < 1e-9
    assert before["has_champion"] == 0.0
    with db.uow() as uow:
        _add(uow, world.org_id, opp, [
            ("email", "inbound", D + timedelta(days=1), "k4", tech),
            ("email", "outbound", D + timedelta(hours=1), "k5", None),
            ("meeting", "inbound", D + timedelta(days=2), "k6", tech),
        ])
        uow.s.add(BuyingTeamMember(opportunity_id=opp, contact_id=tech, role="champion", added_at=D + timedelta(days=1)))
        uow.commit()
    after = _features_at_d(db, world, opp)
    assert after == before


def _log1p(x):
    return math.log1p(x)


def test_the_model_trains_on_enough_closed_deals_and_falls_back_with_a_note_otherwise(db, var_dir: Path):
    now = utcnow()
    with db.uow() as uow:
        org = load_organisation(uow, load_org(), now=now)
    with db.uow() as uow:
        made = generate_history(uow, org, now, deals=90, days=500)
    assert made.won >= 30 and made.lost >= 30
    model_dir = var_dir / "models"
    quarter = period_of(now.date())
    with db.uow() as uow:
        fallback = win_probabilities(uow.s, model_dir, org, quarter, min_closed=30)
        assert fallback.method == "stage"
        assert fallback.note == "the win-probability model has not been trained yet; showing stage probabilities"
        short = train_win_model(uow, model_dir, org, min_closed=1000, now=now)
        assert not short.trained and short.won >= made.won and short.lost >= made.lost
        assert short.note == (f"not enough history: {short.won} won and {short.lost} lost closed deals, 1000 of each "
                              "needed; showing stage probabilities")
        assert win_probabilities(uow.s, model_dir, org, quarter, min_closed=1000).note == short.note
    with db.uow() as uow:
        trained = train_win_model(uow, model_dir, org, min_closed=30, now=now)
    assert trained.trained and (model_dir / "winprob" / trained.version / "model.json").is_file()
    assert (model_dir / "winprob" / trained.version / "training.json").is_file()
    assert 0.0 <= trained.metrics["brier_cv"] < 0.25  # better than a coin flip on held-out folds
    with db.uow() as uow:
        model = win_probabilities(uow.s, model_dir, org, quarter, min_closed=30)
        assert model.method == "model" and model.version == trained.version
        assert model.by_deal and all(0.0 < p < 1.0 for p in model.by_deal.values())
        expected = sum(model.by_deal[s.opportunity_id] * s.amount for s in model.states if s.currency == "USD")
        assert abs(model.predicted()["USD"] - expected) < 1e-6
    with db.uow() as uow:
        again = train_win_model(uow, model_dir, org, min_closed=30, now=now + timedelta(seconds=1))
        statuses = dict(uow.s.execute(select(WinModel.version, WinModel.status).where(WinModel.org_id == org)).all())
    assert statuses == {trained.version: "retired", again.version: "active"}
