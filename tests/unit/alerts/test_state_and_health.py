"""The alert state machine and deal health, as pure functions."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from dealpulse.domain.alert_state import AlertFacts, TransitionError, acknowledge, decide, resolve
from dealpulse.domain.health import Signal, agenda_priority, health, relative_sizes

NOW = datetime(2026, 3, 10, 9, 0, tzinfo=timezone.utc)
DAY = timedelta(days=1)


def test_a_holding_condition_opens_once_then_updates():
    assert decide(None, None, True, NOW).action == "open"
    assert decide(AlertFacts("open"), None, True, NOW).action == "update"


def test_a_cleared_condition_resolves_automatically():
    assert decide(AlertFacts("open"), None, False, NOW).action == "resolve"
    assert decide(AlertFacts("acknowledged", NOW + DAY), None, False, NOW).action == "resolve"
    assert decide(None, None, False, NOW).action == "none"


def test_acknowledged_alerts_reopen_after_their_rearm_time():
    acked = AlertFacts("acknowledged", rearm_at=NOW + DAY)
    assert decide(acked, None, True, NOW).action == "update"
    assert decide(acked, None, True, NOW + 2 * DAY).action == "reopen"


def test_a_manual_resolution_keeps_quiet_until_rearmed():
    manual = AlertFacts("resolved", rearm_at=NOW + DAY, resolution="manual")
    assert decide(None, manual, True, NOW).action == "none"
    assert decide(None, manual, True, NOW + 2 * DAY).action == "open"


def test_people_can_only_acknowledge_open_alerts_and_resolve_unresolved_ones():
    assert acknowledge(AlertFacts("open"), NOW, DAY).rearm_at == NOW + DAY
    with pytest.raises(TransitionError):
        acknowledge(AlertFacts("acknowledged"), NOW, DAY)
    assert resolve(AlertFacts("acknowledged"), NOW, DAY).action == "resolve"
    with pytest.raises(TransitionError):
        resolve(AlertFacts("resolved"), NOW, DAY)


def test_health_combines_signals_worst_first():
    h = health([Signal("single_threaded", "warning", "one contact"), Signal("negative_email", "critical", "competitor")])
    assert h.score == 100 - 10 - 49
    assert [s.rule for s in h.reasons] == ["negative_email", "single_threaded"]
    assert h.top_reason == "competitor" and h.band == "watch"


def test_health_is_bounded_and_healthy_without_signals():
    assert health([]).score == 100 and health([]).top_reason == ""
    everything = [Signal(r, "critical", r) for r in ("negative_email", "gone_dark", "falling_tone", "close_date", "stalled")]
    assert health(everything).score == 0


def test_agenda_priority_is_risk_times_amount():
    risky_small = health([Signal("gone_dark", "warning", "")])
    mild_big = health([Signal("single_threaded", "warning", "")])
    assert agenda_priority(mild_big, 500000) > agenda_priority(risky_small, 10000)


def test_relative_size_compares_an_amount_only_with_amounts_in_the_same_currency():
    deals = {1: ("USD", 50_000), 2: ("USD", 150_000), 3: ("JPY", 9_000_000), 4: ("EUR", 0), 5: ("EUR", 0)}
    sizes = relative_sizes(deals)
    assert sizes == {1: 0.5, 2: 1.5, 3: 1.0, 4: 0.0, 5: 0.0}
    in_sen = {**deals, 3: ("JPY", 900_000_000)}
    assert relative_sizes(in_sen) == sizes  # re-denominating one currency changes no deal's size
