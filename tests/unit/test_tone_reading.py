"""The words a person is shown for a tone: plain when the calibrated confidence is high, "leaning" or "mixed" below."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dealpulse.config import ConfigError, Settings
from dealpulse.domain.tone_reading import CONFIDENT_AT, read_tone


@pytest.mark.parametrize(
    ("label", "probabilities", "wording", "confident"),
    [
        ("negative", {"negative": 0.91, "neutral": 0.06, "positive": 0.03}, "Negative", True),
        ("negative", {"negative": 0.58, "neutral": 0.32, "positive": 0.10}, "Leaning negative", False),
        ("positive", {"negative": 0.05, "neutral": 0.40, "positive": 0.55}, "Leaning positive", False),
        ("negative", {"negative": 0.45, "neutral": 0.15, "positive": 0.40}, "Mixed", False),
        ("neutral", {"negative": 0.30, "neutral": 0.40, "positive": 0.30}, "Mixed", False),
        ("neutral", {"negative": 0.10, "neutral": 0.60, "positive": 0.30}, "Leaning neutral", False),
        ("positive", {"negative": 0.01, "neutral": 0.02, "positive": 0.97}, "Positive", True),
    ],
)
def test_below_the_threshold_the_reading_leans_instead_of_claiming(label, probabilities, wording, confident) -> None:
    reading = read_tone(label, probabilities[label], probabilities)
    assert (reading.wording, reading.confident) == (wording, confident)
    assert reading.summary == f"{wording} · {probabilities[label]:.0%} confidence"


def test_a_stored_score_without_probabilities_still_reads() -> None:
    assert read_tone("negative", 0.9, {}).wording == "Negative"
    assert read_tone("negative", 0.5, None).wording == "Leaning negative"


@given(st.sampled_from(["negative", "neutral", "positive"]), st.floats(0, 1))
def test_only_a_confident_reading_names_the_label_plainly(label: str, confidence: float) -> None:
    reading = read_tone(label, confidence, {label: confidence})
    assert reading.confident == (confidence >= CONFIDENT_AT)
    assert (reading.wording == label.capitalize()) == reading.confident


@pytest.mark.parametrize("raw", ["0.4", "1", "nan", "high"])
def test_the_alert_probability_setting_is_validated(raw: str) -> None:
    with pytest.raises(ConfigError, match="DEALPULSE_NEGATIVE_ALERT_PROBABILITY"):
        Settings.from_env({"DEALPULSE_ENV": "test", "DEALPULSE_NEGATIVE_ALERT_PROBABILITY": raw})
    assert Settings.from_env({"DEALPULSE_ENV": "test", "DEALPULSE_NEGATIVE_ALERT_PROBABILITY": "0.9"}).negative_alert_probability == 0.9
