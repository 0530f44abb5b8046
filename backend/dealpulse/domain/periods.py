"""Forecast and quota periods: a quarter written `2027-Q1` or a month written `2027-03`."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

_QUARTER = re.compile(r"^(\d{4})-Q([1-4])$", re.ASCII)
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$", re.ASCII)


@dataclass(frozen=True)
class Period:
    """A quarter or month: `start` is its first day, `end` the first day after it."""

    key: str
    start: date
    end: date

    @property
    def is_quarter(self) -> bool:
        """True for a quarter, False for a month."""
        return "Q" in self.key

    def contains(self, day: date) -> bool:
        """True if `day` falls inside the period."""
        return self.start <= day < self.end

    def months(self) -> list["Period"]:
        """The months of the period (itself for a month)."""
        out, first = [], self.start
        while first < self.end:
            out.append(parse_period(f"{first.year:04d}-{first.month:02d}"))
            first = _next_month(first)
        return out


def _next_month(day: date) -> date:
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)


def parse_period(text: str) -> Period:
    """The period written `YYYY-Qn` or `YYYY-MM`; ValueError for anything else."""
    text = text.strip().upper()
    if m := _QUARTER.match(text):
        year, quarter = int(m.group(1)), int(m.group(2))
        start = date(year, 3 * quarter - 2, 1)
        end = date(year + 1, 1, 1) if quarter == 4 else date(year, 3 * quarter + 1, 1)
        return Period(text, start, end)
    if m := _MONTH.match(text):
        start = date(int(m.group(1)), int(m.group(2)), 1)
        return Period(text, start, _next_month(start))
    raise ValueError(f"period {text!r} is not like 2027-Q1 or 2027-03")


def period_of(day: date, quarterly: bool = True) -> Period:
    """The quarter (or month) that contains `day`."""
    if quarterly:
        return parse_period(f"{day.year:04d}-Q{(day.month - 1) // 3 + 1}")
    return parse_period(f"{day.year:04d}-{day.month:02d}")
