"""The three tone labels, in the one order every model output, table, rating and evaluation uses."""

from __future__ import annotations

from typing import Literal

LABELS = ("negative", "neutral", "positive")
ToneLabel = Literal["negative", "neutral", "positive"]
