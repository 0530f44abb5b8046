"""Whether a trained candidate replaces an organisation's active tone model: the organisation's own held-out
ratings decide, the team's corpus eval only guards against collapse.

A candidate is promoted when it reads the organisation's held-out ratings better than the active version (macro-F1
strictly higher, on at least `min_holdout_items` rated emails) and the corpus eval drops by at most
`max_corpus_drop_points` macro-F1 points. Everything else is kept as a rejected candidate with the reason; an
admin may still promote it ("promote anyway"), which is recorded with who and why.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_MAX_CORPUS_DROP_POINTS = 3.0
MIN_HOLDOUT_ITEMS = 5
# Held-out macro-F1 rises smaller than this are floating-point noise, not an improvement.
EPSILON = 1e-9


@dataclass(frozen=True)
class PromotionPolicy:
    """The guard-rails: how far the corpus eval may drop, and how many held-out ratings make a verdict."""

    max_corpus_drop_points: float = DEFAULT_MAX_CORPUS_DROP_POINTS
    min_holdout_items: int = MIN_HOLDOUT_ITEMS


@dataclass(frozen=True)
class Evaluation:
    """Macro-F1 of the active version (`before`) and the candidate (`after`) on one evaluation set."""

    before: float | None
    after: float | None

    @property
    def change_points(self) -> float | None:
        """after − before in macro-F1 points (None when either is missing)."""
        if self.before is None or self.after is None:
            return None
        return (self.after - self.before) * 100


@dataclass(frozen=True)
class PromotionDecision:
    """The verdict: promote or not, which rule decided (`check`), and a sentence an admin can read."""

    promote: bool
    check: str  # "improves" | "too_few_holdout" | "holdout_not_better" | "corpus_eval_collapse"
    reason: str


def decide_promotion(
    holdout: Evaluation, corpus: Evaluation, holdout_items: int, policy: PromotionPolicy = PromotionPolicy()
) -> PromotionDecision:
    """Promote when the held-out ratings improve and the corpus eval drops at most the policy's points."""
    if holdout.before is None or holdout.after is None or holdout_items < policy.min_holdout_items:
        return PromotionDecision(False, "too_few_holdout", (
            f"only {holdout_items} held-out rated emails (need {policy.min_holdout_items}) to show an improvement"))
    if holdout.after <= holdout.before + EPSILON:
        return PromotionDecision(False, "holdout_not_better", (
            f"held-out-ratings macro-F1 not better than the active version ({holdout.after:.4f} vs {holdout.before:.4f})"))
    corpus_text = _corpus_text(corpus)
    drop = -(corpus.change_points or 0.0)
    if drop > policy.max_corpus_drop_points + EPSILON:
        return PromotionDecision(False, "corpus_eval_collapse", (
            f"held-out-ratings macro-F1 {holdout.before:.4f} -> {holdout.after:.4f}, but the corpus eval drops "
            f"{drop:.1f} points ({corpus_text}; at most {policy.max_corpus_drop_points:g} allowed)"))
    return PromotionDecision(True, "improves", (
        f"held-out-ratings macro-F1 {holdout.before:.4f} -> {holdout.after:.4f}; corpus eval {corpus_text} "
        f"(within {policy.max_corpus_drop_points:g} points)"))


def _corpus_text(corpus: Evaluation) -> str:
    if corpus.before is None or corpus.after is None:
        return "not measured"
    return f"{corpus.before:.4f} -> {corpus.after:.4f}"


class PromotionRefused(ValueError):
    """A rejected candidate cannot be promoted by hand without a reason."""


def manual_promotion_decision(status: str, rejection: str | None, who: str, reason: str) -> str:
    """The decision recorded when `who` promotes a version by hand: a rejected candidate needs a reason ("promote
    anyway", kept with the rejection), any other version may carry one."""
    if status == "rejected" and not reason:
        raise PromotionRefused(f"was rejected ({rejection}); say why to promote it anyway")
    if status == "rejected":
        return f"promoted anyway by {who}: {reason} (rejected: {rejection})"
    return f"promoted by {who}" + (f": {reason}" if reason else "")
