"""Threshold validation agrees with the alert rules: what it accepts is what the rules evaluate with."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from dealpulse.domain.alert_rules import Thresholds
from dealpulse.domain.threshold_settings import THRESHOLD_SPECS, parse_assignments, parse_threshold_values

NUMERIC = [s for s in THRESHOLD_SPECS.values() if s.kind is not list]


def in_range(spec):
    """Values of `spec` inside its range."""
    if spec.kind is int:
        return st.integers(int(spec.minimum), int(spec.maximum))
    return st.floats(spec.minimum, spec.maximum, allow_nan=False)


@given(st.data())
def test_every_accepted_value_reaches_the_rules_unchanged(data):
    spec = data.draw(st.sampled_from(NUMERIC))
    value = data.draw(in_range(spec))
    as_text = data.draw(st.booleans())
    values, errors = parse_threshold_values({spec.key: str(value) if as_text else value})
    assert errors == []
    stored = {k: v for k, v in values.items() if k != "gone_dark_days"}
    days = values.get("gone_dark_days")
    assert getattr(Thresholds.from_team(days, stored), spec.key) == values[spec.key] == value


@given(st.data())
def test_values_outside_the_range_or_of_the_wrong_type_are_refused(data):
    spec = data.draw(st.sampled_from(NUMERIC))
    bad = data.draw(st.one_of(
        st.integers(int(spec.maximum) + 1, 10**9).map(lambda v: v + (0.5 if spec.kind is float else 0)),
        st.integers(-10**9, int(spec.minimum) - 1),
        st.booleans(),
        st.text(alphabet="abcxyz ", min_size=1),
        st.just("nan"),
        st.just("inf"),
    ))
    values, errors = parse_threshold_values({spec.key: bad})
    assert [e["field"] for e in errors] == [spec.key] and spec.key not in values


def test_whole_numbers_only_where_the_rules_count_in_whole_units():
    assert parse_threshold_values({"gone_dark_days": 28.0}) == ({"gone_dark_days": 28}, [])
    assert parse_threshold_values({"gone_dark_days": "28.5"})[1][0]["message"] == "must be a whole number"


def test_stage_lists_reset_words_and_unknown_keys():
    values, errors = parse_threshold_values({"late_stages": "proposal, negotiation,proposal", "tone_floor": "default",
                                             "colour": "red", "rearm_hours": None})
    assert values == {"late_stages": ["proposal", "negotiation"], "tone_floor": None, "rearm_hours": None}
    assert [e["field"] for e in errors] == ["colour"]
    assert parse_threshold_values({"late_stages": ["Proposal!"]})[1][0]["field"] == "late_stages"


def test_command_line_assignments():
    assert parse_assignments(["a=1", "b=x=y", "c="]) == ({"a": "1", "b": "x=y", "c": ""}, [])
    assert parse_assignments(["novalue", "=1"])[1] == [{"field": "novalue", "message": "write KEY=VALUE"},
                                                       {"field": "=1", "message": "write KEY=VALUE"}]
