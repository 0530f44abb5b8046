"""Validating a team's alert-threshold settings: the keys of `Thresholds`, each with its type, range and meaning.

The ranges are the values `Thresholds.from_team` uses unchanged (it clamps a few keys), so whatever passes here is
what the rules will evaluate with. The CLI sends text (`gone_dark_days=28`, `late_stages=proposal,negotiation`),
the API JSON values; both go through `parse_threshold_values`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Any, Mapping

from .alert_rules import Thresholds

STAGE_KEY = re.compile(r"[a-z][a-z0-9_]{0,63}")
RESET_WORD = "default"  # `KEY=default` on the command line (null in the API) goes back to the default


@dataclass(frozen=True)
class ThresholdSpec:
    """One threshold key: its type (int, float or a list of stage keys), inclusive range and meaning."""

    key: str
    kind: type
    minimum: float | None
    maximum: float | None
    description: str

    @property
    def default(self) -> Any:
        """The value a team gets when it does not set this key."""
        value = getattr(Thresholds, self.key)
        return list(value) if isinstance(value, tuple) else value


THRESHOLD_SPECS: dict[str, ThresholdSpec] = {
    spec.key: spec
    for spec in (
        ThresholdSpec("gone_dark_days", int, 14, 42, "days without inbound email or meeting before a deal is gone dark"),
        ThresholdSpec("tone_window", int, 2, 50, "inbound emails in the tone trend"),
        ThresholdSpec("tone_alpha", float, 0.05, 1.0, "weight of the newest email in the weighted tone mean"),
        ThresholdSpec("tone_floor", float, -1.0, 1.0, "a weighted tone mean below this is a falling tone"),
        ThresholdSpec("tone_drop", float, 0.0, 2.0, "a drop of the weighted mean this large is a sharp drop"),
        ThresholdSpec("negative_score", float, -1.0, 0.0, "an inbound email at or below this score is strongly negative"),
        ThresholdSpec("negative_confidence", float, 0.0, 1.0, "...or labelled negative with at least this confidence"),
        ThresholdSpec("negative_days", int, 1, 365, "days a strongly negative email keeps its alert"),
        ThresholdSpec("exit_question_days", int, 0, 365, "days in a stage before unanswered exit questions warn"),
        ThresholdSpec("single_threaded_days", int, 1, 365, "window (days) for engaged buyer contacts"),
        ThresholdSpec("single_threaded_probability", int, 0, 100, "a stage with this probability or more is late"),
        ThresholdSpec("late_stages", list, None, None, "stage keys that count as late whatever their probability"),
        ThresholdSpec("close_date_pushes", int, 1, 50, "pushes of the close date that warn"),
        ThresholdSpec("stalled_percentile", int, 50, 99, "time in stage above this percentile of history is stalled"),
        ThresholdSpec("stalled_min_sample", int, 1, 10000, "completed stays needed before a percentile is used"),
        ThresholdSpec("rearm_hours", int, 1, 8760, "hours an acknowledgement silences an alert"),
    )
}
assert set(THRESHOLD_SPECS) == {f.name for f in fields(Thresholds)}, "every threshold key needs a spec"


def _number(spec: ThresholdSpec, raw: Any) -> int | float:
    if isinstance(raw, bool):
        raise ValueError("must be a number")
    if isinstance(raw, str):
        text = raw.strip()
        try:
            raw = int(text) if spec.kind is int else float(text)
        except ValueError:
            raise ValueError("must be a whole number" if spec.kind is int else "must be a number") from None
    if spec.kind is int:
        if isinstance(raw, float) and raw.is_integer():
            raw = int(raw)
        if not isinstance(raw, int):
            raise ValueError("must be a whole number")
    elif not isinstance(raw, (int, float)) or raw != raw or raw in (float("inf"), float("-inf")):
        raise ValueError("must be a number")
    else:
        raw = float(raw)
    if (spec.minimum is not None and raw < spec.minimum) or (spec.maximum is not None and raw > spec.maximum):
        raise ValueError(f"must be between {spec.minimum:g} and {spec.maximum:g}")
    return raw


def _stage_keys(raw: Any) -> list[str]:
    items = [part.strip() for part in raw.split(",")] if isinstance(raw, str) else raw
    if not isinstance(items, (list, tuple)) or not all(isinstance(k, str) for k in items):
        raise ValueError("must be a list of stage keys")
    keys = [k for k in items if k]
    bad = [k for k in keys if not STAGE_KEY.fullmatch(k)]
    if bad:
        raise ValueError(f"{bad[0]!r} is not a stage key (lower-case letters, digits and underscores)")
    return list(dict.fromkeys(keys))


def parse_threshold_values(raw: Mapping[str, Any]) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """Typed values for the given keys (None = back to the default) and a list of {field, message} errors."""
    values: dict[str, Any] = {}
    errors: list[dict[str, str]] = []
    for key, value in raw.items():
        spec = THRESHOLD_SPECS.get(key)
        if spec is None:
            errors.append({"field": key, "message": f"unknown threshold (known: {', '.join(THRESHOLD_SPECS)})"})
            continue
        if value is None or (isinstance(value, str) and value.strip().lower() == RESET_WORD):
            values[key] = None
            continue
        try:
            values[key] = _stage_keys(value) if spec.kind is list else _number(spec, value)
        except ValueError as exc:
            errors.append({"field": key, "message": str(exc)})
    return values, errors


def parse_assignments(pairs: list[str]) -> tuple[dict[str, str], list[dict[str, str]]]:
    """`KEY=VALUE` words of the command line as a mapping, with an error for each word without `=`."""
    out: dict[str, str] = {}
    errors = []
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            errors.append({"field": pair, "message": "write KEY=VALUE"})
        else:
            out[key.strip()] = value
    return out, errors


def effective_thresholds(gone_dark_after_days: int | None, settings: Mapping[str, Any] | None) -> dict[str, Any]:
    """Every threshold key with the value the alert rules use for a team with these stored settings."""
    t = Thresholds.from_team(gone_dark_after_days, settings)
    return {key: (list(v) if isinstance(v, tuple) else v) for key in THRESHOLD_SPECS for v in [getattr(t, key)]}
