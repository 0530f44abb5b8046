"""How a tone score is put into words for a person: the one place that decides "Negative" vs "Leaning negative".

The model's calibrated confidence (the probability of its label) decides: at CONFIDENT_AT or above the label is
said plainly; below it the sidebar says "Leaning negative" / "Leaning positive" (or "Leaning neutral"), and
"Mixed" when the email pulls both ways (negative and positive each at least MIXED_AT). A saturated raw score such
as -0.98 is never what a person is shown as certainty.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Mapping

CONFIDENT_AT = 0.70
MIXED_AT = 0.25
LABEL_NAMES = {"negative": "Negative", "neutral": "Neutral", "positive": "Positive"}


@dataclass(frozen=True)
class ToneReading:
    """The words for a tone: `wording` ("Negative", "Leaning negative", "Mixed", ...), whether it is confident."""

    label: str
    wording: str
    confident: bool
    confidence: float
    summary: str  # "Leaning negative · 62% confidence"

    def as_dict(self) -> dict:
        """A JSON-ready dict."""
        return asdict(self)


def read_tone(label: str, confidence: float, probabilities: Mapping[str, float] | None = None) -> ToneReading:
    """The reading of a (calibrated) label, its confidence and probabilities (missing ones count as 0)."""
    probabilities = probabilities or {}
    confidence = float(confidence or 0.0)
    name = LABEL_NAMES.get(label, label.capitalize())
    if confidence >= CONFIDENT_AT:
        wording, confident = name, True
    elif min(float(probabilities.get("negative", 0.0)), float(probabilities.get("positive", 0.0))) >= MIXED_AT:
        wording, confident = "Mixed", False
    else:
        wording, confident = f"Leaning {name.lower()}", False
    return ToneReading(label, wording, confident, round(confidence, 4), f"{wording} · {confidence:.0%} confidence")
