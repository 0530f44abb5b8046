"""Rater reliability: honest raters keep their weight, one-label and rosy raters are flagged and count for nothing."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from dealpulse.domain.rater_reliability import LABELS, PRIOR_WEIGHT, RatingObservation, estimate_reliability


def _team(seed: int = 1, items: int = 400):
    """Truth per item, a model that is right 85% of the time, and an honest rater right 90% of the time."""
    rng = random.Random(seed)
    truth = {f"item{i}": rng.choice(LABELS) for i in range(items)}
    model = {k: (t if rng.random() < 0.85 else rng.choice(LABELS)) for k, t in truth.items()}
    honest = [RatingObservation("honest@acme.test", k, t if rng.random() < 0.9 else rng.choice(LABELS))
              for k, t in list(truth.items())[:250]]
    return rng, truth, model, honest


def test_a_rater_who_rates_everything_positive_is_flagged_and_weighs_nothing() -> None:
    _, truth, model, honest = _team()
    happy = [RatingObservation("happy@acme.test", k, "positive") for k in list(truth)[100:400]]
    estimate = estimate_reliability(honest + happy, model)
    rater = estimate.raters["happy@acme.test"]
    assert rater.flagged and "positive" in rater.flag_reason
    assert rater.weight == 0.0
    assert rater.bias > 0.3
    assert estimate.raters["honest@acme.test"].weight > 0.9
    assert not estimate.raters["honest@acme.test"].flagged


def test_a_rater_who_leans_negative_is_flagged_as_more_negative_than_the_team() -> None:
    rng, truth, model, honest = _team(seed=2)
    gloomy = []
    for key, true in list(truth.items())[150:350]:
        label = {"positive": "neutral", "neutral": "negative"}.get(true, true) if rng.random() < 0.8 else true
        gloomy.append(RatingObservation("gloomy@acme.test", key, label))
    rater = estimate_reliability(honest + gloomy, model).raters["gloomy@acme.test"]
    assert rater.flagged and "more negative" in rater.flag_reason
    assert rater.bias < -0.35


def test_a_rater_who_disagrees_with_the_model_on_their_jargon_still_counts() -> None:
    """Domain experts disagree with a model that does not know their market; they are not biased, just right."""
    rng = random.Random(3)
    truth = {f"item{i}": rng.choice(LABELS) for i in range(200)}
    model = {k: (t if rng.random() < 0.6 else rng.choice(LABELS)) for k, t in truth.items()}
    expert = [RatingObservation("expert@acme.test", k, t) for k, t in truth.items()]
    rater = estimate_reliability(expert, model).raters["expert@acme.test"]
    assert not rater.flagged
    assert rater.weight >= 0.7


def test_few_ratings_are_never_flagged_and_stay_near_the_prior_weight() -> None:
    observations = [RatingObservation("new@acme.test", f"i{i}", "positive") for i in range(5)]
    rater = estimate_reliability(observations, {f"i{i}": "negative" for i in range(5)}).raters["new@acme.test"]
    assert not rater.flagged
    assert abs(rater.weight - PRIOR_WEIGHT) < 0.3


def test_peer_agreement_comes_from_overlapping_items() -> None:
    observations = [RatingObservation("a@x", "i1", "positive"), RatingObservation("b@x", "i1", "positive"),
                    RatingObservation("a@x", "i2", "negative"), RatingObservation("b@x", "i2", "neutral")]
    estimate = estimate_reliability(observations)
    assert estimate.raters["a@x"].peer_agreement == 0.5
    assert estimate.raters["a@x"].model_agreement is None


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(0, 30), st.sampled_from(LABELS)), max_size=120),
       st.dictionaries(st.integers(0, 30).map(lambda i: f"i{i}"), st.sampled_from(LABELS + ("bogus",))))
def test_estimates_stay_in_range_for_any_ratings(rows, model) -> None:
    observations = [RatingObservation(r, f"i{i}", label) for r, i, label in rows]
    estimate = estimate_reliability(observations, model)
    for rater in estimate.raters.values():
        assert 0.0 <= rater.weight <= 1.0
        assert -2.0 <= rater.bias <= 2.0
        assert 0.0 <= rater.agreement <= 1.0
        for row in rater.confusion:
            assert abs(sum(row) - 1.0) < 1e-3
    for posterior in estimate.item_posterior.values():
        assert abs(sum(posterior.values()) - 1.0) < 1e-3
