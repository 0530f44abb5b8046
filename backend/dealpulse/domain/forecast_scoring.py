"""How good a forecast was: forecast error in percent, Brier score and calibration of per-deal probabilities.

Plain arithmetic over (probability, outcome) pairs and (forecast, actual) amounts; the backtest service feeds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence


def forecast_error_pct(forecast: float, actual: float) -> float | None:
    """(forecast - actual) / actual in percent; None when nothing closed (the error has no scale then)."""
    if actual == 0:
        return None
    return (forecast - actual) / actual * 100.0


def mean_absolute_error_pct(errors: Iterable[float | None]) -> float | None:
    """The mean of |error %| over the periods where it is defined (None when none is)."""
    known = [abs(e) for e in errors if e is not None]
    return sum(known) / len(known) if known else None


def brier_score(pairs: Sequence[tuple[float, bool]]) -> float | None:
    """Mean squared difference between probability and outcome (0 perfect, 0.25 a coin flip); None for no pairs."""
    if not pairs:
        return None
    return sum((p - (1.0 if won else 0.0)) ** 2 for p, won in pairs) / len(pairs)


@dataclass(frozen=True)
class CalibrationBin:
    """Deals whose probability fell in [low, high): how many, the mean probability, and the share that won."""

    low: float
    high: float
    deals: int
    mean_probability: float | None
    won_share: float | None

    def as_dict(self) -> dict[str, float | int | None]:
        """The bin as plain JSON values."""
        return {"low": self.low, "high": self.high, "deals": self.deals,
                "mean_probability": self.mean_probability, "won_share": self.won_share}


def calibration(pairs: Sequence[tuple[float, bool]], bins: int = 5) -> list[CalibrationBin]:
    """Equal-width probability bins (the last one includes 1.0) with the observed win share in each."""
    edges = [i / bins for i in range(bins + 1)]
    out = []
    for i in range(bins):
        low, high = edges[i], edges[i + 1]
        inside = [(p, won) for p, won in pairs if low <= p < high or (i == bins - 1 and p == high)]
        out.append(CalibrationBin(
            low, high, len(inside),
            sum(p for p, _ in inside) / len(inside) if inside else None,
            sum(1 for _, won in inside if won) / len(inside) if inside else None,
        ))
    return out
