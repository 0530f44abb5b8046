"""Precision and recall of the buyer-statement suggestions on a labelled set, and the threshold that keeps
precision at or above a target on the dev split (issue #18: precision over recall)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Iterable

from .buyer_statements import ExitQuestionRef, Suggestion, extract_suggestions

TARGET_PRECISION = 0.9
CANDIDATE_THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(2, 20))


@dataclass(frozen=True)
class LabelledEmail:
    """One email of the set: its text, sent date, split and the expected (field, value) pairs."""

    id: str
    text: str
    sent: date
    split: str
    expected: frozenset[tuple[str, str]]


@dataclass
class FieldCounts:
    """True positives, false positives and false negatives of one field."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def precision(self) -> float | None:
        """TP / (TP + FP); None when nothing was suggested."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    def recall(self) -> float | None:
        """TP / (TP + FN); None when nothing was expected."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None


@dataclass
class Report:
    """Counts per field (and "all") at one threshold, plus the emails it got wrong."""

    threshold: float
    fields: dict[str, FieldCounts] = field(default_factory=dict)
    mistakes: list[dict[str, Any]] = field(default_factory=list)

    def overall(self) -> FieldCounts:
        """The counts summed over every field."""
        total = FieldCounts()
        for counts in self.fields.values():
            total.tp, total.fp, total.fn = total.tp + counts.tp, total.fp + counts.fp, total.fn + counts.fn
        return total


def normalise_value(field_name: str, value: Any) -> str:
    """The comparable form of a value: amounts to two decimals, booleans lower-case, others as text."""
    if field_name == "amount":
        return str(Decimal(str(value)).quantize(Decimal("0.01")))
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def parse_row(row: dict[str, Any]) -> LabelledEmail:
    """A JSONL row of the set as a LabelledEmail."""
    expected = frozenset((e["field"], normalise_value(e["field"], e["value"])) for e in row["expected"])
    return LabelledEmail(row["id"], row["text"], date.fromisoformat(row["sent"]), row["split"], expected)


def field_group(field_name: str) -> str:
    """The reporting group of a field: exit answers together as "exit"."""
    return "exit" if field_name.startswith("exit.") else field_name


def evaluate(emails: Iterable[LabelledEmail], questions: list[ExitQuestionRef], threshold: float) -> Report:
    """Compare the suggestions at or above `threshold` with the labels, per field group."""
    report = Report(threshold)
    for email in emails:
        got: dict[tuple[str, str], Suggestion] = {
            (s.field, normalise_value(s.field, s.value)): s
            for s in extract_suggestions(email.text, email.sent, questions) if s.confidence >= threshold
        }
        for key in set(got) | set(email.expected):
            counts = report.fields.setdefault(field_group(key[0]), FieldCounts())
            if key in got and key in email.expected:
                counts.tp += 1
                continue
            if key in got:
                counts.fp += 1
            else:
                counts.fn += 1
            report.mistakes.append({"id": email.id, "kind": "false positive" if key in got else "missed",
                                    "field": key[0], "value": key[1],
                                    "evidence": got[key].evidence if key in got else email.text[:200]})
    return report


def choose_threshold(emails: list[LabelledEmail], questions: list[ExitQuestionRef], target: float = TARGET_PRECISION) -> float:
    """The lowest candidate threshold whose overall precision on `emails` is at least `target` (the highest if none)."""
    for threshold in CANDIDATE_THRESHOLDS:
        precision = evaluate(emails, questions, threshold).overall().precision()
        if precision is not None and precision >= target:
            return threshold
    return CANDIDATE_THRESHOLDS[-1]
