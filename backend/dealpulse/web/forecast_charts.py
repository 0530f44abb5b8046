"""Chart geometry of the Forecast and Metrics pages (templates draw the SVG; figures come from the services)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, Sequence

LINES = (("closed_won", "Closed won"), ("commit", "Closed + commit"), ("best_case", "Closed + commit + best case"),
         ("weighted", "Closed + probability-weighted"))


def _nice_top(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 × 10^n at or above `value` (a round top for the y axis)."""
    if value <= 0:
        return 1.0
    scale = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if step * scale >= value:
            return float(step * scale)
    return float(10 * scale)


def _short(value: float) -> str:
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:g}{suffix}"
    return f"{value:g}"


def trend_chart(points: Sequence[dict[str, Any]], width: int = 560, height: int = 220) -> dict[str, Any]:
    """Lines of one currency's forecast points (day, closed_won, commit, best_case, weighted as decimal strings or
    None) over the days of the period: a y axis from 0 to a round top with a middle tick, a date under every point."""
    left, right, top, bottom = 56, 16, 12, 30
    values = [float(Decimal(p[k])) for p in points for k, _ in LINES if p.get(k) is not None]
    ceiling = _nice_top(max(values, default=0.0))
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(i: int) -> float:
        return round(left + (i / max(1, len(points) - 1)) * plot_w, 1)

    def y(v: float) -> float:
        return round(top + (1 - v / ceiling) * plot_h, 1)

    lines = []
    for key, label in LINES:
        dots = [{"x": x(i), "y": y(float(Decimal(p[key]))), "value": p[key], "day": p["day"]}
                for i, p in enumerate(points) if p.get(key) is not None]
        if dots:
            lines.append({"key": key, "label": label, "dots": dots, "points": " ".join(f"{d['x']},{d['y']}" for d in dots)})
    every, last = max(1, len(points) // 6), len(points) - 1
    x_ticks = [{"x": x(i), "label": _day(p["day"])} for i, p in enumerate(points)
               if i == last or (i % every == 0 and last - i >= 2)]  # never two dates on top of each other
    y_ticks = [{"y": y(v), "label": _short(v)} for v in (0.0, ceiling / 2, ceiling)]
    return {"width": width, "height": height, "left": left, "right": width - right, "base": height - bottom,
            "lines": lines, "x_ticks": x_ticks, "y_ticks": y_ticks}


def funnel_chart(stages: Sequence[dict[str, Any]], width: int = 640, row: int = 30) -> dict[str, Any]:
    """Horizontal bars per open stage: deals that reached it (full bar) and the part lost at it; labels carry the
    counts and the conversion to the next stage."""
    label_w, value_w = 130, 260
    widest = max([1] + [s["reached"] for s in stages])
    plot = width - label_w - value_w
    rows = []
    for i, s in enumerate(stages):
        reached_w = round(s["reached"] / widest * plot, 1)
        lost_w = round(s["lost_at"] / widest * plot, 1)
        rows.append({**s, "y": i * row + 4, "reached_w": reached_w, "lost_x": round(label_w + reached_w - lost_w, 1),
                     "lost_w": lost_w, "text_x": round(label_w + reached_w + 6, 1)})
    return {"rows": rows, "width": width, "height": max(row, len(rows) * row + 8), "label_w": label_w}


def _day(iso: str) -> str:
    value = date.fromisoformat(iso)
    return f"{value.day} {value:%b}"
