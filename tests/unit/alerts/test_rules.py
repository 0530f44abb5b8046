"""Every early-warning rule on plain snapshots, with the clock frozen (time-machine)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta, timezone

import pytest
import time_machine
from hypothesis import given
from hypothesis import strategies as st

from dealpulse.domain.alert_rules import (
    DealSnapshot,
    InboundScore,
    Thresholds,
    close_date,
    completed_stays,
    evaluate,
    exit_questions_unanswered,
    falling_tone,
    gone_dark,
    negative_email,
    percentile,
    single_threaded,
    skipped_rules,
    stage_percentiles,
    stalled,
)
from dealpulse.store.base import utcnow

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=timezone.utc)
T = Thresholds()


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


def days_ago(n: float) -> datetime:
    return utcnow() - timedelta(days=n)


def deal(**overrides) -> DealSnapshot:
    base = DealSnapshot(
        opportunity_id=1, name="Acme platform", stage_key="demo", stage_name="Demo", stage_probability=40,
        is_closed=False, probability=40, amount=50000.0, close_date=date(2026, 4, 30), close_date_pushes=0,
        stage_entered_at=days_ago(3), created_at=days_ago(40), last_inbound_at=days_ago(2), engaged_contacts=2,
    )
    return replace(base, **overrides)


def score(n_days_ago: float, value: float, label: str | None = None, *, activity_id: int = 1, confidence: float = 0.5,
          private: bool = False, highlights=()) -> InboundScore:
    label = label or ("negative" if value < -0.3 else "positive" if value > 0.3 else "neutral")
    return InboundScore(activity_id, days_ago(n_days_ago), value, label, confidence, private, tuple(highlights))


# ---------------------------------------------------------------- gone dark


def test_gone_dark_when_the_rep_only_writes_outbound():
    quiet = deal(last_inbound_at=days_ago(25), outbound_since_last_inbound=4)

    finding = gone_dark(quiet, T, utcnow())

    assert finding is not None and finding.rule == "gone_dark"
    assert "25 days" in finding.reason and "4 email(s) sent since" in finding.reason
    assert finding.evidence["last_inbound_at"] == days_ago(25).isoformat()
    assert finding.evidence["outbound_since"] == 4


def test_outbound_mail_never_resets_gone_dark_but_an_inbound_reply_clears_it():
    chasing = deal(last_inbound_at=days_ago(30), outbound_since_last_inbound=9)
    assert gone_dark(chasing, T, utcnow()) is not None
    replied = replace(chasing, last_inbound_at=days_ago(0.1), outbound_since_last_inbound=0)
    assert gone_dark(replied, T, utcnow()) is None


def test_gone_dark_uses_the_team_setting_within_14_to_42_days():
    twenty = deal(last_inbound_at=days_ago(20))
    assert gone_dark(twenty, T, utcnow()) is None
    assert gone_dark(twenty, Thresholds.from_team(14, {}), utcnow()) is not None
    assert Thresholds.from_team(3, {}).gone_dark_days == 14
    assert Thresholds.from_team(90, {}).gone_dark_days == 42


def test_a_deal_that_never_heard_back_counts_from_its_creation():
    finding = gone_dark(deal(last_inbound_at=None, created_at=days_ago(22), outbound_since_last_inbound=2), T, utcnow())
    assert finding is not None and "no reply from the buyer" in finding.reason


# ---------------------------------------------------------------- tone


def test_falling_tone_below_the_floor():
    trend = deal(inbound_scores=(score(20, 0.2), score(10, -0.3), score(5, -0.5), score(1, -0.6)))
    finding = falling_tone(trend, T, utcnow())
    assert finding is not None and finding.evidence["weighted_mean"] < T.tone_floor


def test_falling_tone_on_a_sharp_drop_from_the_previous_window():
    history = tuple(score(60 - i, 0.8) for i in range(5)) + tuple(score(10 - i, 0.05) for i in range(5))
    finding = falling_tone(deal(inbound_scores=history), T, utcnow())
    assert finding is not None and "dropped from +0.80" in finding.reason


def test_steady_or_single_scores_are_not_falling_tone():
    assert falling_tone(deal(inbound_scores=(score(3, -0.9),)), T, utcnow()) is None
    steady = tuple(score(10 - i, 0.4) for i in range(8))
    assert falling_tone(deal(inbound_scores=steady), T, utcnow()) is None


def test_negative_email_quotes_the_driving_sentence():
    highlights = [{"text": "Thanks for the call.", "label": "neutral", "score": 0.0},
                  {"text": "We have decided to go with another provider.", "label": "negative", "score": -0.92}]
    bad = deal(inbound_scores=(score(8, 0.5), score(0.01, -0.85, activity_id=7, highlights=highlights)))

    finding = negative_email(bad, T, utcnow())

    assert finding is not None and finding.severity == "critical"
    assert '"We have decided to go with another provider."' in finding.reason
    assert finding.evidence["activity_id"] == 7


def test_negative_email_never_quotes_a_private_email():
    private = deal(inbound_scores=(score(0.01, -0.9, private=True, highlights=[{"text": "secret merger", "label": "negative", "score": -1}]),))
    finding = negative_email(private, T, utcnow())
    assert finding is not None and "secret merger" not in finding.reason and finding.evidence["sentence"] is None
    assert "content hidden" in finding.reason


def test_negative_label_with_high_confidence_counts_and_a_better_reply_clears_it():
    confident = score(1, -0.4, "negative", confidence=0.9)
    assert negative_email(deal(inbound_scores=(confident,)), T, utcnow()) is not None
    unsure = score(1, -0.4, "negative", confidence=0.6)
    assert negative_email(deal(inbound_scores=(unsure,)), T, utcnow()) is None
    later = score(0.5, 0.6)
    assert negative_email(deal(inbound_scores=(confident, later)), T, utcnow()) is None


def test_an_old_negative_email_no_longer_alerts():
    assert negative_email(deal(inbound_scores=(score(T.negative_days + 1, -0.95),)), T, utcnow()) is None


# ---------------------------------------------------------------- stage rules


def test_exit_questions_unanswered_after_m_days_in_stage():
    fresh = deal(unanswered_questions=("Has our champion seen the demo?",), stage_entered_at=days_ago(5))
    assert exit_questions_unanswered(fresh, T, utcnow()) is None
    old = replace(fresh, stage_entered_at=days_ago(20))
    finding = exit_questions_unanswered(old, T, utcnow())
    assert finding is not None and "Has our champion seen the demo?" in finding.reason and "20 days" in finding.reason
    assert exit_questions_unanswered(replace(old, unanswered_questions=()), T, utcnow()) is None


def test_single_threaded_only_at_a_late_stage():
    early = deal(engaged_contacts=1)
    assert single_threaded(early, T, utcnow()) is None
    late = replace(early, stage_key="proposal", stage_name="Proposal", stage_probability=60, probability=60)
    finding = single_threaded(late, T, utcnow())
    assert finding is not None and "only one buyer contact" in finding.reason
    assert single_threaded(replace(late, engaged_contacts=2), T, utcnow()) is None
    by_probability = replace(early, stage_key="custom", probability=70)
    assert single_threaded(by_probability, T, utcnow()) is not None


def test_close_date_passed_or_pushed_twice():
    passed = close_date(deal(close_date=date(2026, 3, 1)), T, utcnow())
    assert passed is not None and "passed 9 day(s) ago" in passed.reason
    pushed = close_date(deal(close_date_pushes=2), T, utcnow())
    assert pushed is not None and "pushed out 2 times" in pushed.reason
    assert close_date(deal(close_date_pushes=1), T, utcnow()) is None
    assert close_date(deal(close_date=date(2026, 3, 10)), T, utcnow()) is None


def test_stalled_against_the_team_percentile():
    slow = deal(stage_entered_at=days_ago(40), stage_percentile_days=25.0, stage_percentile_basis="team")
    finding = stalled(slow, T, utcnow())
    assert finding is not None and "40 days in Demo" in finding.reason and "the team" in finding.reason
    assert stalled(replace(slow, stage_entered_at=days_ago(10)), T, utcnow()) is None


def test_stalled_is_skipped_with_a_reason_without_enough_history():
    unknown = deal(stage_entered_at=days_ago(400), stage_percentile_days=None,
                   stage_percentile_basis="not evaluated: 2 completed stay(s) in this stage, 5 needed")
    assert stalled(unknown, T, utcnow()) is None
    assert skipped_rules(unknown)["stalled"] == "not evaluated: 2 completed stay(s) in this stage, 5 needed"


def test_falling_tone_is_skipped_with_a_reason_until_two_buyer_emails_are_scored():
    assert skipped_rules(deal())["falling_tone"] == "not evaluated: 0 scored email(s) from the buyer, 2 needed"


def test_percentiles_per_team_fall_back_to_the_organisation():
    stays = [(1, 10, float(d)) for d in (1, 2, 3, 4, 5, 6, 7, 8)] + [(2, 10, 100.0)] * 2
    p = stage_percentiles(stays, 75, 5)
    assert p.for_deal(1, 10) == (percentile([1, 2, 3, 4, 5, 6, 7, 8], 75), "team")
    assert p.for_deal(2, 10)[1] == "organisation"
    days, why = p.for_deal(1, 99)
    assert days is None and "0 completed stay(s)" in why


def test_completed_stays_ignore_the_current_stage():
    t0 = days_ago(30)
    rows = [(1, 10, t0), (1, 11, t0 + timedelta(days=12)), (1, 12, t0 + timedelta(days=20)), (2, 10, t0)]
    assert completed_stays(rows) == [(1, 10, 12.0), (1, 11, 8.0)]


def test_percentile_matches_numpy():
    import numpy

    values = [3.0, 1.0, 9.5, 4.0, 7.25, 2.0]
    assert percentile(values, 75) == pytest.approx(float(numpy.percentile(values, 75)))


def test_closed_deals_raise_nothing():
    closed = deal(is_closed=True, last_inbound_at=days_ago(300), close_date=date(2025, 1, 1))
    assert all(f is None for f in evaluate(closed, T, utcnow()).values())


def test_team_settings_override_defaults_and_bad_values_are_ignored():
    t = Thresholds.from_team(30, {"tone_floor": "-0.5", "exit_question_days": 7, "late_stages": ["legal"],
                                  "rearm_hours": "soon", "unknown": 1})
    assert (t.gone_dark_days, t.tone_floor, t.exit_question_days, t.late_stages, t.rearm_hours) == (30, -0.5, 7, ("legal",), 72)


@given(silent_days=st.floats(min_value=0, max_value=200), outbound=st.integers(min_value=0, max_value=500),
       setting=st.integers(min_value=0, max_value=100))
def test_gone_dark_depends_only_on_inbound_silence_never_on_outbound(silent_days, outbound, setting):
    t = Thresholds.from_team(setting, {})
    now = NOW
    quiet = deal(last_inbound_at=now - timedelta(days=silent_days), outbound_since_last_inbound=outbound)
    fired = gone_dark(quiet, t, now) is not None
    assert fired == (int(silent_days) >= t.gone_dark_days)
    assert fired == (gone_dark(replace(quiet, outbound_since_last_inbound=0), t, now) is not None)


@given(st.lists(st.sampled_from(["negative_email", "gone_dark", "falling_tone", "close_date", "stalled",
                                 "single_threaded", "exit_questions_unanswered"]), max_size=7),
       st.sampled_from(["info", "warning", "critical"]))
def test_health_stays_in_range_and_another_signal_never_improves_it(rules, severity):
    from dealpulse.domain.health import Signal, health

    signals = [Signal(r, severity, r) for r in rules]
    before = health(signals)
    after = health(signals + [Signal("gone_dark", "critical", "x")])
    assert 0 <= after.score <= before.score <= 100


def test_negative_email_reason_reads_as_sentences():
    quoted = negative_email(deal(inbound_scores=(score(0.1, -0.9, highlights=[{"text": "We are out.", "label": "negative", "score": -0.9}]),)), T, utcnow())
    assert quoted.reason.endswith('(tone -0.90): "We are out." Call the buyer today.')
    bare = negative_email(deal(inbound_scores=(score(0.1, -0.9, highlights=[]),)), T, utcnow())
    assert bare.reason.endswith("(tone -0.90). Call the buyer today.")
