"""Opportunity import with external_id / created_at / closed_at / forecast_category, and quota import: bad rows are
reported by line and nothing is written; re-imports update the same rows."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given, strategies as st
from sqlalchemy import func, select

from dealpulse.domain.periods import parse_period
from dealpulse.services.csv_io import CsvImportError, import_csv
from dealpulse.services.errors import PermissionDenied
from dealpulse.services.quotas import import_quotas
from dealpulse.store import Opportunity, Quota, Stage, StageTransition

from .history import HEADER, admin_principal, principal_of


def _import(db, world, text, kind="opportunities"):
    with db.uow() as uow:
        return import_csv(uow, admin_principal(db, world), kind, text)


def _count(db, model):
    with db.uow() as uow:
        return uow.s.scalar(select(func.count()).select_from(model))


def test_a_closed_deal_imports_with_its_dates_and_two_transitions(db, world):
    _import(db, world, HEADER + "X1,Deal,Test Acme,rep.a1@seller.example,closed_won,500,EUR,2025-01-01,2025-02-15,,\n")
    with db.uow() as uow:
        opp = uow.s.scalar(select(Opportunity).where(Opportunity.external_id == "X1"))
        assert opp.created_at == datetime(2025, 1, 1, tzinfo=timezone.utc)
        assert opp.closed_at == opp.stage_entered_at == datetime(2025, 2, 15, tzinfo=timezone.utc)
        path = [(t.from_stage_id, uow.s.get(Stage, t.to_stage_id).key, t.at.date().isoformat())
                for t in uow.s.scalars(select(StageTransition).where(StageTransition.opportunity_id == opp.id).order_by(StageTransition.at))]
    assert [p[1:] for p in path] == [("qualification", "2025-01-01"), ("closed_won", "2025-02-15")]


def test_reimport_by_external_id_updates_the_same_deal_and_is_idempotent(db, world):
    first = HEADER + "X1,Deal,Test Acme,rep.a1@seller.example,demo,500,EUR,2025-01-01,,commit,2025-03-01\n"
    renamed = HEADER + "X1,Deal renamed,Test Acme,rep.a1@seller.example,closed_lost,700,EUR,2025-01-01,2025-02-01,,2025-03-01\n"
    before = _count(db, Opportunity)
    assert _import(db, world, first).created == 1
    assert _import(db, world, first).unchanged == 1
    summary = _import(db, world, renamed)
    assert (summary.created, summary.updated) == (0, 1)
    assert _import(db, world, renamed).unchanged == 1
    assert _count(db, Opportunity) == before + 1
    with db.uow() as uow:
        opp = uow.s.scalar(select(Opportunity).where(Opportunity.external_id == "X1"))
        assert (opp.name, str(opp.amount), opp.forecast_category) == ("Deal renamed", "700.00", "commit")
        assert opp.closed_at == datetime(2025, 2, 1, tzinfo=timezone.utc)
        transitions = uow.s.scalar(select(func.count()).where(StageTransition.opportunity_id == opp.id))
    assert transitions == 2  # creation, then demo -> closed_lost; the idempotent re-imports added none


def test_bad_rows_are_reported_by_line_and_nothing_is_written(db, world):
    before = _count(db, Opportunity)
    text = HEADER + (
        "A1,Good,Test Acme,rep.a1@seller.example,demo,1,USD,2025-01-01,,,\n"
        "A2,Closed no date,Test Acme,rep.a1@seller.example,closed_won,1,USD,2025-01-01,,,\n"
        "A3,Open with date,Test Acme,rep.a1@seller.example,demo,1,USD,2025-01-01,2025-02-01,,\n"
        "A4,Backwards,Test Acme,rep.a1@seller.example,closed_lost,1,USD,2025-03-01,2025-02-01,,\n"
        "A5,Bad category,Test Acme,rep.a1@seller.example,demo,1,USD,2025-01-01,,likely,\n"
        "A6,Bad date,Test Acme,rep.a1@seller.example,demo,1,USD,2025-02-30,,,\n"
        "A1,Duplicate id,Test Acme,rep.a1@seller.example,demo,1,USD,,,,\n"
    )
    with pytest.raises(CsvImportError) as caught:
        _import(db, world, text)
    problems = dict(caught.value.problems)
    assert "closed_at is required" in problems[3]
    assert "closed_at is given but stage 'demo' is open" in problems[4]
    assert "closed_at is before created_at" in problems[5]
    assert "forecast_category 'likely'" in problems[6]
    assert "created_at '2025-02-30'" in problems[7]
    assert "also on line 2" in problems[8]
    assert 2 not in problems
    assert _count(db, Opportunity) == before


QUOTA_HEADER = "owner_email,period,amount,currency\n"


def test_quota_import_creates_then_replaces(db, world):
    admin = admin_principal(db, world)
    with db.uow() as uow:
        summary = import_quotas(uow, admin, QUOTA_HEADER + "REP.A1@seller.example,2027-q1,1000,usd\nrep.a2@seller.example,2027-03,50.5,EUR\n")
    assert summary.created == 2
    with db.uow() as uow:
        summary = import_quotas(uow, admin, QUOTA_HEADER + "rep.a1@seller.example,2027-Q1,1500,USD\nrep.a2@seller.example,2027-03,50.50,EUR\n")
    assert (summary.created, summary.updated, summary.unchanged) == (0, 1, 1)
    with db.uow() as uow:
        rows = {(q.period, q.currency): str(q.amount) for q in uow.s.scalars(select(Quota))}
    assert rows == {("2027-Q1", "USD"): "1500.00", ("2027-03", "EUR"): "50.50"}


def test_quota_errors_name_their_lines_and_write_nothing(db, world):
    text = QUOTA_HEADER + (
        "rep.a1@seller.example,2027-Q1,1000,USD\n"
        "ghost@seller.example,2027-Q1,1000,USD\n"
        "rep.a1@seller.example,2027-Q5,1000,USD\n"
        "rep.a1@seller.example,2027-02,-3,USD\n"
        "rep.a1@seller.example,2027-02,3,US\n"
        "rep.a1@seller.example,2027-Q1,9,USD\n"
        "other.rep.a1@other-seller.example,2027-Q1,9,USD\n"
    )
    with db.uow() as uow, pytest.raises(CsvImportError) as caught:
        import_quotas(uow, admin_principal(db, world), text)
    problems = dict(caught.value.problems)
    assert sorted(problems) == [3, 4, 5, 6, 7, 8]
    assert "unknown owner" in problems[3] and "2027-Q5" in problems[4] and "amount '-3'" in problems[5]
    assert "currency 'US'" in problems[6] and "line 2" in problems[7] and "unknown owner" in problems[8]
    assert _count(db, Quota) == 0
    with db.uow() as uow, pytest.raises(CsvImportError) as header:
        import_quotas(uow, admin_principal(db, world), "owner_email,period,amount\n")
    assert "missing required column 'currency'" in header.value.problems[0][1]


def test_only_an_admin_imports_quotas(db, world):
    with db.uow() as uow, pytest.raises(PermissionDenied):
        import_quotas(uow, principal_of(db, world, "manager.a"), QUOTA_HEADER + "rep.a1@seller.example,2027-Q1,1,USD\n")


@given(st.integers(1900, 2200), st.integers(1, 4))
def test_a_quarter_is_its_three_months(year, quarter):
    period = parse_period(f"{year}-Q{quarter}")
    months = period.months()
    assert [m.key for m in months] == [f"{year}-{3 * quarter - 2 + i:02d}" for i in range(3)]
    assert months[0].start == period.start and months[-1].end == period.end


@given(st.text(max_size=12))
def test_anything_else_is_not_a_period(text):
    try:
        period = parse_period(text)
    except ValueError:
        return
    assert period.key in (text.strip().upper(),) and period.start < period.end
