"""Metric families and their Prometheus text exposition (format 0.0.4), written here because prometheus_client is
not a dependency: HELP and TYPE lines, escaped label values, histogram buckets ending in le="+Inf"."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
KINDS = ("gauge", "counter", "histogram")


@dataclass(frozen=True)
class Sample:
    """One line: the family name plus `suffix` (`_bucket`, `_sum`, `_count` or ""), its labels and value."""

    labels: dict[str, str]
    value: float
    suffix: str = ""


@dataclass
class MetricFamily:
    """A named metric with its help text, type and samples."""

    name: str
    kind: str
    help: str
    samples: list[Sample] = field(default_factory=list)

    def add(self, value: float, suffix: str = "", **labels: object) -> None:
        """Append a sample (label values are turned into text)."""
        self.samples.append(Sample({key: str(val) for key, val in labels.items()}, float(value), suffix))


def histogram(name: str, help_text: str, values: list[float], buckets: tuple[float, ...]) -> MetricFamily:
    """A histogram family of `values`: cumulative `_bucket` counts per upper bound, `+Inf`, `_sum` and `_count`."""
    family = MetricFamily(name, "histogram", help_text)
    for bound in sorted(buckets):
        family.add(sum(1 for value in values if value <= bound), "_bucket", le=format_value(bound))
    family.add(len(values), "_bucket", le="+Inf")
    family.add(sum(values), "_sum")
    family.add(len(values), "_count")
    return family


def format_value(value: float) -> str:
    """A sample value as Prometheus writes it: integers without a decimal point, +Inf, -Inf, NaN."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def escape_label(value: str) -> str:
    """A label value with backslash, double quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_help(text: str) -> str:
    """HELP text with backslash and newline escaped."""
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def exposition(families: list[MetricFamily]) -> str:
    """The text format of `families`, one HELP and TYPE block each, ending with a newline."""
    lines = []
    for family in families:
        if family.kind not in KINDS:
            raise ValueError(f"{family.name}: unknown metric type {family.kind!r}")
        lines.append(f"# HELP {family.name} {escape_help(family.help)}")
        lines.append(f"# TYPE {family.name} {family.kind}")
        for sample in family.samples:
            labels = ",".join(f'{key}="{escape_label(value)}"' for key, value in sample.labels.items())
            lines.append(f"{family.name}{sample.suffix}{{{labels}}} {format_value(sample.value)}" if labels
                         else f"{family.name}{sample.suffix} {format_value(sample.value)}")
    return "\n".join(lines) + "\n"
