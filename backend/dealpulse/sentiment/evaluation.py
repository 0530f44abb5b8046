"""Classification metrics on labelled passages: macro-F1, per-class F1 and the confusion matrix."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Sequence

from sklearn.metrics import confusion_matrix, f1_score

from ..domain.tone_labels import LABELS


@dataclass(frozen=True)
class ClassificationMetrics:
    """How well predicted labels match gold labels; confusion rows are gold, columns predicted (LABELS order)."""

    macro_f1: float
    per_class_f1: dict[str, float]
    accuracy: float
    confusion: list[list[int]]
    count: int

    def as_dict(self) -> dict:
        """A JSON-ready dict."""
        return asdict(self)


def classification_metrics(gold: Sequence[str], predicted: Sequence[str]) -> ClassificationMetrics:
    """Compare gold and predicted labels (both drawn from LABELS)."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold labels but {len(predicted)} predictions")
    if not gold:
        return ClassificationMetrics(0.0, {label: 0.0 for label in LABELS}, 0.0, [[0] * 3 for _ in LABELS], 0)
    labels = list(LABELS)
    per_class = f1_score(gold, predicted, labels=labels, average=None, zero_division=0)
    matrix = confusion_matrix(gold, predicted, labels=labels)
    correct = sum(1 for g, p in zip(gold, predicted) if g == p)
    return ClassificationMetrics(
        macro_f1=round(float(per_class.mean()), 4),
        per_class_f1={label: round(float(value), 4) for label, value in zip(labels, per_class)},
        accuracy=round(correct / len(gold), 4),
        confusion=[[int(v) for v in row] for row in matrix],
        count=len(gold),
    )


POLAR = ("negative", "positive")


def is_opposite_polarity(gold: str, predicted: str) -> bool:
    """A positive passage read negative or the reverse: the errors that fire false alarms and hide lost deals."""
    return gold in POLAR and predicted in POLAR and gold != predicted
