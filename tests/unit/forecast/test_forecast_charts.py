"""The Forecast page's chart days and the geometry of its line and funnel charts."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from dealpulse.services.forecast_trend import chart_days
from dealpulse.web.forecast_charts import funnel_chart, trend_chart

Q1 = (date(2025, 1, 1), date(2025, 4, 1))


def test_a_past_quarter_has_weekly_days_and_the_day_after_it():
    days = chart_days(*Q1, today=date(2026, 1, 1))
    assert days[:3] == [date(2025, 1, 1), date(2025, 1, 8), date(2025, 1, 15)]
    assert days[-2:] == [date(2025, 3, 26), date(2025, 4, 1)] and len(days) == 14


def test_a_running_quarter_stops_at_today_and_a_future_one_is_empty():
    assert chart_days(*Q1, today=date(2025, 1, 20)) == [date(2025, 1, 1), date(2025, 1, 8), date(2025, 1, 15)]
    assert chart_days(*Q1, today=date(2024, 12, 31)) == []


@given(st.dates(date(2000, 1, 1), date(2100, 1, 1)), st.integers(1, 120), st.integers(-30, 200))
def test_chart_days_are_inside_the_period_or_its_end_and_never_after_today(start, length, offset):
    end, today = start + timedelta(days=length), start + timedelta(days=offset)
    days = chart_days(start, end, today)
    assert days == sorted(set(days))
    assert all(start <= d < end or d == end for d in days) and all(d <= today for d in days)
    assert (end in days) == (end <= today)


amounts = st.one_of(st.none(), st.decimals(0, 10**9, places=2, allow_nan=False, allow_infinity=False).map(str))


@given(st.lists(st.tuples(amounts, amounts, amounts, amounts), min_size=1, max_size=20))
def test_every_point_of_the_trend_chart_lies_in_its_box_and_the_top_tick_covers_the_largest(values):
    points = [{"day": (date(2025, 1, 1) + timedelta(days=7 * i)).isoformat(), "closed_won": v[0] or "0.00",
               "commit": v[1], "best_case": v[2], "weighted": v[3]} for i, v in enumerate(values)]
    chart = trend_chart(points)
    for line in chart["lines"]:
        for dot in line["dots"]:
            assert chart["left"] <= dot["x"] <= chart["right"] and 0 <= dot["y"] <= chart["base"]
    top = max(Decimal(p[k]) for p in points for k in ("closed_won", "commit", "best_case", "weighted") if p[k] is not None)
    assert min(t["y"] for t in chart["y_ticks"]) <= min(d["y"] for line in chart["lines"] for d in line["dots"])
    assert chart["y_ticks"][0]["label"] == "0" and (top == 0 or chart["lines"])
    xs = [t["x"] for t in chart["x_ticks"]]
    assert xs == sorted(xs) and all(b - a >= 30 for a, b in zip(xs, xs[1:]))  # dates never overlap


def test_the_funnel_draws_what_was_lost_inside_what_reached_the_stage():
    stages = [{"key": "q", "name": "Qualification", "reached": 10, "lost_at": 4, "conversion": 0.6},
              {"key": "p", "name": "Proposal", "reached": 6, "lost_at": 0, "conversion": 1.0}]
    rows = funnel_chart(stages)["rows"]
    assert rows[0]["reached_w"] > rows[1]["reached_w"] > 0 and rows[1]["lost_w"] == 0
    assert rows[0]["lost_w"] == round(rows[0]["reached_w"] * 0.4, 1)
    assert rows[0]["lost_x"] + rows[0]["lost_w"] == rows[0]["reached_w"] + 130
