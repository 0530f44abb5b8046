"""Calibrated confidence: one temperature for the logits, fitted on validation data, stored beside the weights.

Temperature scaling (Guo et al., 2017) divides the logits by T before the softmax: it changes no label, only
how sure the probabilities are. T is fitted by minimising the negative log-likelihood on the validation slice
at build time and stored in the version folder as `calibration.json`; every runtime applies it.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
from scipy.optimize import minimize_scalar

CALIBRATION_FILE = "calibration.json"
ECE_BINS = 10
# A temperature outside this range means the validation slice was degenerate (all right, or tiny).
MIN_TEMPERATURE, MAX_TEMPERATURE = 0.05, 20.0


@dataclass(frozen=True)
class ReliabilityBin:
    """One confidence bin: how many predictions fell in it, their mean confidence and their accuracy."""

    low: float
    high: float
    count: int
    confidence: float
    accuracy: float


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise softmax of logits / temperature."""
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    scaled -= scaled.max(axis=1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=1, keepdims=True)


def negative_log_likelihood(logits: np.ndarray, labels: Sequence[int], temperature: float) -> float:
    """Mean NLL of the gold labels under softmax(logits / temperature)."""
    probabilities = softmax(logits, temperature)
    picked = probabilities[np.arange(len(labels)), np.asarray(labels)]
    return float(-np.log(np.clip(picked, 1e-12, 1.0)).mean())


def fit_temperature(logits: np.ndarray, labels: Sequence[int]) -> float:
    """The temperature that minimises the NLL of `labels` (1.0 when there is nothing to fit on)."""
    logits = np.asarray(logits, dtype=np.float64)
    if len(labels) == 0 or logits.size == 0:
        return 1.0
    result = minimize_scalar(
        lambda log_t: negative_log_likelihood(logits, labels, math.exp(log_t)),
        bounds=(math.log(MIN_TEMPERATURE), math.log(MAX_TEMPERATURE)),
        method="bounded",
    )
    return round(float(math.exp(result.x)), 4)


def reliability_bins(confidences: Sequence[float], correct: Sequence[bool], bins: int = ECE_BINS) -> list[ReliabilityBin]:
    """Predictions grouped by confidence into `bins` equal-width bins over [0, 1] (the last bin includes 1.0)."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    conf = np.asarray(confidences, dtype=np.float64)
    hits = np.asarray(correct, dtype=np.float64)
    index = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    table = []
    for b in range(bins):
        members = index == b
        count = int(members.sum())
        table.append(
            ReliabilityBin(
                low=round(float(edges[b]), 2),
                high=round(float(edges[b + 1]), 2),
                count=count,
                confidence=round(float(conf[members].mean()), 4) if count else 0.0,
                accuracy=round(float(hits[members].mean()), 4) if count else 0.0,
            )
        )
    return table


def expected_calibration_error(confidences: Sequence[float], correct: Sequence[bool], bins: int = ECE_BINS) -> float:
    """ECE: the count-weighted mean gap between confidence and accuracy over equal-width confidence bins."""
    total = len(confidences)
    if total == 0:
        return 0.0
    table = reliability_bins(confidences, correct, bins)
    return round(sum(b.count / total * abs(b.confidence - b.accuracy) for b in table), 4)


def bins_as_dicts(table: Sequence[ReliabilityBin]) -> list[dict]:
    """JSON-ready reliability bins."""
    return [asdict(b) for b in table]


def calibration_summary(logits: np.ndarray, labels: Sequence[int], temperature: float) -> dict:
    """ECE and NLL before and after the temperature, on the data it was fitted on."""
    report: dict = {"temperature": temperature, "count": len(labels)}
    for name, t in (("before", 1.0), ("after", temperature)):
        probabilities = softmax(logits, t)
        predicted = probabilities.argmax(axis=1)
        confidences = probabilities.max(axis=1)
        report[f"ece_{name}"] = expected_calibration_error(confidences, predicted == np.asarray(labels))
        report[f"nll_{name}"] = round(negative_log_likelihood(logits, labels, t), 4)
    return report


def write_calibration(directory: Path, report: dict) -> None:
    """Store a version's calibration (at least {"temperature": T}) as calibration.json."""
    (Path(directory) / CALIBRATION_FILE).write_text(json.dumps(report, indent=2, sort_keys=True), encoding="utf-8")


def read_temperature(directory: Path) -> float:
    """The version's fitted temperature (1.0, i.e. raw softmax, for versions built before calibration)."""
    path = Path(directory) / CALIBRATION_FILE
    if not path.is_file():
        return 1.0
    value = float(json.loads(path.read_text(encoding="utf-8")).get("temperature", 1.0))
    if not (MIN_TEMPERATURE <= value <= MAX_TEMPERATURE):
        raise ValueError(f"{path}: temperature {value} is outside [{MIN_TEMPERATURE}, {MAX_TEMPERATURE}]")
    return value
