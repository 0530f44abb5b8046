"""Calibrated confidence: the fitted temperature, ECE and reliability bins, and the scorer applying calibration.json."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dealpulse.sentiment.calibration import (
    CALIBRATION_FILE,
    expected_calibration_error,
    fit_temperature,
    read_temperature,
    reliability_bins,
    softmax,
)
from dealpulse.sentiment.scorer import ToneScorer

EMAILS = [
    "Great news, we are ready to sign the contract this week.",
    "We have decided to go with another provider.",
    "Can we move Thursday's call to 3pm?",
]


def test_the_fitted_temperature_recovers_how_overconfident_the_logits_are() -> None:
    rng = np.random.default_rng(3)
    logits = rng.normal(0, 4, size=(6000, 3))
    truth = softmax(logits, temperature=2.5)
    labels = [rng.choice(3, p=row) for row in truth]
    assert fit_temperature(logits, labels) == pytest.approx(2.5, rel=0.12)
    raw, fitted = softmax(logits), softmax(logits, fit_temperature(logits, labels))
    correct = raw.argmax(axis=1) == np.asarray(labels)
    assert expected_calibration_error(fitted.max(axis=1), correct) < expected_calibration_error(raw.max(axis=1), correct) / 3


def test_ece_is_the_weighted_gap_between_confidence_and_accuracy() -> None:
    # 10 predictions at 0.95 confidence, half right: gap 0.45; 10 at 0.55, all right: gap 0.45.
    confidences = [0.95] * 10 + [0.55] * 10
    correct = [True, False] * 5 + [True] * 10
    assert expected_calibration_error(confidences, correct) == pytest.approx(0.45)
    bins = [b for b in reliability_bins(confidences, correct) if b.count]
    assert [(b.low, b.high, b.count, b.accuracy) for b in bins] == [(0.5, 0.6, 10, 1.0), (0.9, 1.0, 10, 0.5)]
    assert expected_calibration_error([], []) == 0.0


@given(st.lists(st.tuples(st.floats(0, 1), st.booleans()), min_size=1, max_size=200))
def test_every_prediction_lands_in_exactly_one_bin_and_ece_is_a_fraction(pairs) -> None:
    confidences, correct = zip(*pairs)
    assert sum(b.count for b in reliability_bins(confidences, correct)) == len(pairs)
    assert 0.0 <= expected_calibration_error(confidences, correct) <= 1.0


def test_the_scorer_applies_the_versions_temperature_without_changing_labels(tiny_versions: dict[str, Path], tmp_path: Path) -> None:
    folder = shutil.copytree(tiny_versions["tiny-a"], tmp_path / "tiny-a")
    (folder / CALIBRATION_FILE).write_text(json.dumps({"temperature": 1.0}))
    raw = ToneScorer(folder, runtime="fp32").score_texts(EMAILS)
    (folder / CALIBRATION_FILE).write_text(json.dumps({"temperature": 4.0}))
    for runtime in ("fp32", "onnx-int8"):
        softened = ToneScorer(folder, runtime=runtime).score_texts(EMAILS)
        assert [r.label for r in softened] == [r.label for r in raw]
        for before, after in zip(raw, softened):
            assert after.confidence < before.confidence or before.confidence < 0.34
            assert abs(after.score) <= abs(before.score) + 1e-3


def test_a_version_without_calibration_reads_raw_and_a_broken_one_is_refused(tmp_path: Path) -> None:
    assert read_temperature(tmp_path) == 1.0
    (tmp_path / CALIBRATION_FILE).write_text(json.dumps({"temperature": 0}))
    with pytest.raises(ValueError, match="temperature"):
        read_temperature(tmp_path)


def test_a_trained_version_stores_a_fitted_temperature(tiny_versions: dict[str, Path]) -> None:
    stored = json.loads((tiny_versions["tiny-a"] / CALIBRATION_FILE).read_text())
    assert stored["fitted_on"] == "validation" and stored["count"] > 0
    assert 0.05 <= stored["temperature"] <= 20
    assert stored["nll_after"] <= stored["nll_before"] + 1e-6
