"""The promotion guard-rails and the automatic retrain trigger's arithmetic."""

from __future__ import annotations

import pytest

from dealpulse.services.training import choose_method, decide


@pytest.mark.parametrize(
    ("candidate_seed", "active_seed", "candidate_holdout", "active_holdout", "items", "promoted", "why"),
    [
        (0.92, 0.925, 0.90, 0.85, 40, True, "held-out-ratings macro-F1 0.8500 -> 0.9000"),
        (0.914, 0.925, 0.95, 0.85, 40, False, "drops 1.1 points"),
        (0.93, 0.925, 0.85, 0.85, 40, False, "not better"),
        (0.93, 0.925, 0.80, 0.85, 40, False, "not better"),
        (0.93, 0.925, None, None, 0, False, "only 0 held-out"),
        (0.93, 0.925, 0.9, 0.8, 3, False, "only 3 held-out"),
    ],
)
def test_promotion_needs_seed_eval_within_one_point_and_better_held_out_ratings(
    candidate_seed, active_seed, candidate_holdout, active_holdout, items, promoted, why
) -> None:
    decision, reason = decide(candidate_seed, active_seed, candidate_holdout, active_holdout, items)
    assert decision is promoted
    assert why in reason


def test_the_method_follows_the_amount_of_rated_data() -> None:
    assert choose_method(16) == "setfit"
    assert choose_method(99) == "setfit"
    assert choose_method(100) == "top-layers"
    assert choose_method(5000) == "top-layers"
