"""Forecast error, Brier score, calibration and the compared-with-won statistics on numbers worked out by hand."""

from hypothesis import given, settings
from hypothesis import strategies as st

from dealpulse.domain.forecast_scoring import brier_score, calibration, forecast_error_pct, mean_absolute_error_pct
from dealpulse.domain.won_comparison import Observation, gaps_for, tally


def test_forecast_error_is_relative_to_what_closed_and_undefined_when_nothing_did():
    assert forecast_error_pct(120.0, 100.0) == 20.0
    assert forecast_error_pct(50.0, 100.0) == -50.0
    assert forecast_error_pct(10.0, 0.0) is None
    assert mean_absolute_error_pct([20.0, -50.0, None]) == 35.0


def test_brier_score_of_known_pairs():
    assert brier_score([(1.0, True), (0.0, False)]) == 0.0
    assert brier_score([(0.5, True), (0.5, False)]) == 0.25
    assert abs(brier_score([(0.8, True), (0.3, False), (0.6, False)]) - (0.04 + 0.09 + 0.36) / 3) < 1e-12
    assert brier_score([]) is None


def test_calibration_bins_report_the_observed_win_share():
    bins = calibration([(0.1, False), (0.15, True), (0.9, True), (1.0, True)], bins=5)
    assert [b.deals for b in bins] == [2, 0, 0, 0, 2]
    assert bins[0].won_share == 0.5 and abs(bins[0].mean_probability - 0.125) < 1e-12
    assert bins[4].won_share == 1.0 and bins[1].won_share is None


@settings(deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1), st.booleans()), max_size=50))
def test_brier_is_between_0_and_1_and_every_pair_lands_in_one_bin(pairs):
    score = brier_score(pairs)
    assert score is None or 0.0 <= score <= 1.0
    assert sum(b.deals for b in calibration(pairs)) == len(pairs)


def _obs(won: bool, present: set[str]) -> Observation:
    return Observation("proposal", won, frozenset(present), frozenset({"role:economic_buyer", "question:plan"}))


def test_a_missing_economic_buyer_is_flagged_with_both_win_rates():
    # 11 won deals: 9 knew the economic buyer; 10 lost: 2 knew it. Without: 2 of 10 won (20 %); with: 9 of 11 (82 %).
    observations = ([_obs(True, {"role:economic_buyer"})] * 9 + [_obs(True, set())] * 2
                    + [_obs(False, {"role:economic_buyer"})] * 2 + [_obs(False, set())] * 8)
    stats = tally(observations)
    gaps = gaps_for(stats, "proposal", "Proposal", present=set(), possible={"role:economic_buyer"}, question_texts={})
    assert len(gaps) == 1
    gap = gaps[0]
    assert (gap.win_rate_without, gap.win_rate_with, gap.deals_without, gap.deals_with) == (0.2, 0.818, 10, 11)
    assert gap.reason.startswith("Economic buyer unknown at Proposal: 20 % of such deals were won, vs 82 % when known")
    # A deal that has the economic buyer has no gap; an item few won deals had is not a gap either.
    assert gaps_for(stats, "proposal", "Proposal", {"role:economic_buyer"}, {"role:economic_buyer"}, {}) == []
    assert gaps_for(stats, "proposal", "Proposal", set(), {"question:plan"}, {"plan": "Is a plan agreed?"}) == []


def test_too_few_closed_deals_give_no_gap():
    observations = [_obs(True, {"role:economic_buyer"})] * 3 + [_obs(False, set())] * 3
    assert gaps_for(tally(observations), "proposal", "Proposal", set(), {"role:economic_buyer"}, {}) == []
