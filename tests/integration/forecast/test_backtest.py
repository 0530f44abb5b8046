"""The backtest on a small hand-built history whose forecasts, errors and Brier scores are worked out by hand."""

from datetime import date, datetime, timezone

import pytest
from sqlalchemy import select

from dealpulse.domain.periods import parse_period
from dealpulse.services.backtest import backtest
from dealpulse.services.deal_history import DealHistory, day_start, write_snapshot
from dealpulse.store import PipelineSnapshot

from .helpers import add_deal, audit, first_user


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


@pytest.fixture
def history_2025(db, world):
    """Q1 2025 as seen on 1 January: A (proposal, commit) and B (demo) close in the quarter, C (negotiation) after it;
    A is won in the quarter, B lost, C won in April; D is created and won during the quarter."""
    org = world.org_id
    with db.uow() as uow:
        rep = first_user(uow, org)
        acct = world.accounts["acme"]
        ids = {
            "A": add_deal(uow, org, acct, rep, [("qualification", utc(2024, 11, 1)), ("proposal", utc(2024, 12, 10))],
                          amount=100_000, close_date=date(2025, 2, 15), category="commit",
                          closed=("closed_won", utc(2025, 3, 1))),
            "B": add_deal(uow, org, acct, rep, [("demo", utc(2024, 12, 1))], amount=50_000, close_date=date(2025, 6, 30),
                          closed=("closed_lost", utc(2025, 3, 15))),
            "C": add_deal(uow, org, acct, rep, [("qualification", utc(2024, 10, 1)), ("negotiation", utc(2024, 12, 20))],
                          amount=200_000, close_date=date(2025, 5, 10), category="best_case",
                          closed=("closed_won", utc(2025, 4, 20))),
            "D": add_deal(uow, org, acct, rep, [("qualification", utc(2025, 2, 1))], amount=30_000,
                          close_date=date(2025, 3, 30), closed=("closed_won", utc(2025, 3, 25))),
        }
        # B's close date was 20 March on 1 January; it was pushed to 30 June in February (the audit log says so).
        audit(uow, org, ids["B"], utc(2025, 2, 10), {"close_date": (date(2025, 3, 20), date(2025, 6, 30))})
        uow.commit()
    return ids


def test_each_method_forecast_at_the_quarter_start_against_what_was_won(db, world, history_2025):
    with db.uow() as uow:
        result = backtest(uow.s, world.org_id, [parse_period("2025-Q1")], min_closed=30, currency="USD")
    period = result["periods"][0]
    assert (period["open_deals"], period["won_deals"]) == (3, 2)
    assert period["actual_won"] == 130_000.0 and period["actual_won_from_open"] == 100_000.0
    stage, commit, predicted = (period["methods"][m] for m in ("stage_weighted", "rep_commit", "predicted"))
    # Stage-weighted: 60 % of A + 40 % of B (its close date was still in March) + nothing of C (closes in May).
    assert stage["forecast"] == 80_000.0 and stage["error_pct"] == -38.46
    assert stage["brier"] == round((0.4 ** 2 + 0.4 ** 2 + 0.0) / 3, 4)
    assert commit["forecast"] == 100_000.0 and commit["error_pct"] == -23.08 and commit["brier"] == 0.0
    # Four closed deals are far from 30 won + 30 lost: the predicted column falls back to stage probabilities.
    assert predicted["method"] == "stage" and predicted["forecast"] == 80_000.0
    assert predicted["note"].startswith("not enough history: 0 won and 0 lost")
    assert result["summary"]["stage_weighted"]["deals"] == 3


def test_a_stored_snapshot_is_what_the_backtest_reads(db, world, history_2025):
    with db.uow() as uow:
        assert write_snapshot(uow, world.org_id, date(2025, 1, 1)) == 3
        assert write_snapshot(uow, world.org_id, date(2025, 1, 1)) == 3  # the day's rows are replaced, not doubled
        rows = uow.s.scalars(select(PipelineSnapshot).where(PipelineSnapshot.day == date(2025, 1, 1))).all()
        assert len(rows) == 3
        by_opp = {r.opportunity_id: r for r in rows}
        assert by_opp[history_2025["B"]].close_date == date(2025, 3, 20)
        by_opp[history_2025["A"]].forecast_category = "pipeline"  # what the rep had called that morning
        uow.commit()
    with db.uow() as uow:
        result = backtest(uow.s, world.org_id, [parse_period("2025-Q1")], min_closed=30, currency="USD")
    assert result["periods"][0]["methods"]["rep_commit"]["forecast"] == 0.0


def test_the_state_on_a_past_day_ignores_later_changes(db, world, history_2025):
    with db.uow() as uow:
        history = DealHistory.load(uow.s, world.org_id)
    b = history.state_at(history_2025["B"], day_start(date(2025, 1, 1)))
    assert b.close_date == date(2025, 3, 20) and b.stage.key == "demo" and b.close_date_pushes == 0
    b_later = history.state_at(history_2025["B"], day_start(date(2025, 3, 1)))
    assert b_later.close_date == date(2025, 6, 30) and b_later.close_date_pushes == 1
    assert history.state_at(history_2025["A"], day_start(date(2025, 3, 2))) is None  # closed by then
    assert history.state_at(history_2025["D"], day_start(date(2025, 1, 1))) is None  # not created yet
