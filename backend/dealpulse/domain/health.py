"""Deal health 0-100: 100 minus a penalty per early-warning signal, with the reasons listed worst first."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Hashable, Iterable, Mapping, TypeVar

DealKey = TypeVar("DealKey", bound=Hashable)

# How much each rule costs a deal's health at "warning" severity.
RULE_WEIGHTS: dict[str, float] = {
    "negative_email": 35,
    "gone_dark": 30,
    "falling_tone": 20,
    "close_date": 15,
    "stalled": 15,
    "single_threaded": 10,
    "exit_questions_unanswered": 8,
    "unlike_won_deals": 8,
}
SEVERITY_FACTORS: dict[str, float] = {"info": 0.5, "warning": 1.0, "critical": 1.4}


@dataclass(frozen=True)
class Signal:
    """One active early warning on a deal (a finding or an unresolved alert)."""

    rule: str
    severity: str
    reason: str


@dataclass(frozen=True)
class Health:
    """A deal's health score and the reasons it is not 100, worst first."""

    score: int
    reasons: tuple[Signal, ...]

    @property
    def risk(self) -> int:
        """100 - score: how much is wrong."""
        return 100 - self.score

    @property
    def top_reason(self) -> str:
        """The worst reason, or "" for a healthy deal."""
        return self.reasons[0].reason if self.reasons else ""

    @property
    def band(self) -> str:
        """good (>= 70), watch (>= 40) or at_risk."""
        return "good" if self.score >= 70 else "watch" if self.score >= 40 else "at_risk"


def penalty(signal: Signal) -> float:
    """What one signal costs (unknown rules cost 10 at warning)."""
    return RULE_WEIGHTS.get(signal.rule, 10) * SEVERITY_FACTORS.get(signal.severity, 1.0)


def health(signals: Iterable[Signal]) -> Health:
    """Health of a deal with these active signals (one per rule counts)."""
    by_rule: dict[str, Signal] = {}
    for signal in signals:
        kept = by_rule.get(signal.rule)
        if kept is None or penalty(signal) > penalty(kept):
            by_rule[signal.rule] = signal
    ordered = sorted(by_rule.values(), key=lambda s: (-penalty(s), s.rule))
    score = 100 - sum(penalty(s) for s in ordered)
    return Health(score=max(0, min(100, round(score))), reasons=tuple(ordered))


def agenda_priority(h: Health, size: float) -> float:
    """Risk times size (see `relative_sizes`): what a one-to-one should discuss first."""
    return h.risk * max(0.0, float(size))


def relative_sizes(deals: Mapping[DealKey, tuple[str, float]]) -> dict[DealKey, float]:
    """Each deal's amount over the mean amount of the given deals in the same currency (0 when that mean is 0).

    Amounts in different currencies are never compared, so no exchange rate is needed: 9,000,000 JPY is not
    "more" than 120,000 EUR. A deal alone in its currency has size 1.
    """
    by_currency: dict[str, list[float]] = defaultdict(list)
    for currency, amount in deals.values():
        by_currency[currency].append(max(0.0, float(amount)))
    mean = {currency: sum(amounts) / len(amounts) for currency, amounts in by_currency.items()}
    return {key: max(0.0, float(amount)) / mean[currency] if mean[currency] else 0.0
            for key, (currency, amount) in deals.items()}
