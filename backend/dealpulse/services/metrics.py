"""Pipeline metrics for whoever asks, within what they may see: win rates, deal size, sales cycle, funnel, quota.

One place for these numbers: the CLI (`dealpulse metrics`), the API (`GET /api/v1/metrics`) and the dashboard all
call `pipeline_metrics`. Aggregation runs in SQL (store.metrics); this module turns the grouped rows into rates.
Amounts are never added across currencies: every money figure and amount-based rate is keyed by currency.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, select

from ..domain.access import Principal, can_see_deal
from ..domain.periods import Period, parse_period
from ..store import Opportunity, Stage, Team, User
from ..store import metrics as q
from ..store.uow import UnitOfWork
from .errors import InvalidField, PermissionDenied
from .access import visibility_clause


@dataclass(frozen=True)
class MetricsFilter:
    """Narrowing within what the principal may see: one team, one owner (email), a closed_at date window."""

    team: str | None = None  # team id or exact name
    owner_email: str | None = None
    start: date | None = None  # first closing day counted
    end: date | None = None  # last closing day counted (inclusive)


def _utc_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc)


def _resolve_team(uow: UnitOfWork, principal: Principal, team: str) -> Team:
    query = select(Team).where(Team.org_id == principal.org_id)
    found = uow.s.scalar(query.where(Team.id == int(team)) if team.isdigit() else query.where(Team.name == team))
    if found is None:
        raise InvalidField([{"field": "team", "message": f"unknown team {team!r}"}])
    if not (principal.is_admin or found.id in principal.managed_team_ids):
        raise PermissionDenied("you may see the figures of the teams you manage only")
    return found


def _resolve_owner(uow: UnitOfWork, principal: Principal, email: str) -> User:
    owner = uow.s.scalar(select(User).where(User.org_id == principal.org_id, User.email == email.strip().lower()))
    if owner is None:
        raise InvalidField([{"field": "owner", "message": f"unknown user {email!r}"}])
    if not can_see_deal(principal, principal.org_id, owner.id, owner.team_id):
        raise PermissionDenied("you may not see this person's deals")
    return owner


@dataclass(frozen=True)
class Scope:
    """Which deals count (`deals`, a WHERE clause on opportunities) and whose quotas (`owners`, a select of ids)."""

    deals: Any
    owners: Any


def deal_scope(uow: UnitOfWork, principal: Principal, team: str | None, owner_email: str | None) -> Scope:
    """The access rules (rep: own, manager: own + managed teams, admin: organisation) narrowed by a team and/or an
    owner; asking for a team or person outside them is refused."""
    deals = visibility_clause(principal)
    owners = select(User.id).where(User.org_id == principal.org_id)
    if not principal.is_admin:
        owners = owners.where((User.id == principal.user_id) | User.team_id.in_(sorted(principal.managed_team_ids)))
    if team:
        team_row = _resolve_team(uow, principal, team)
        deals = and_(deals, Opportunity.owner_id.in_(select(User.id).where(User.team_id == team_row.id)))
        owners = owners.where(User.team_id == team_row.id)
    if owner_email:
        owner = _resolve_owner(uow, principal, owner_email)
        deals = and_(deals, Opportunity.owner_id == owner.id)
        owners = owners.where(User.id == owner.id)
    return Scope(deals, owners)


def _money(cents: int) -> str:
    return str((Decimal(cents) / 100).quantize(Decimal("0.01")))


def _rate(part: int | float, whole: int | float) -> float | None:
    return part / whole if whole else None


@dataclass
class _Tally:
    won: int = 0
    lost: int = 0
    won_counts: dict[str, int] = field(default_factory=dict)
    won_cents: dict[str, int] = field(default_factory=dict)
    lost_cents: dict[str, int] = field(default_factory=dict)

    def add(self, currency: str, is_won: bool, count: int, cents: int) -> None:
        if is_won:
            self.won += count
            self.won_counts[currency] = self.won_counts.get(currency, 0) + count
            self.won_cents[currency] = self.won_cents.get(currency, 0) + cents
        else:
            self.lost += count
            self.lost_cents[currency] = self.lost_cents.get(currency, 0) + cents

    def figures(self) -> dict[str, Any]:
        currencies = sorted(set(self.won_cents) | set(self.lost_cents))
        won_cents, lost_cents = self.won_cents, self.lost_cents
        return {
            "won": self.won,
            "lost": self.lost,
            "win_rate": _rate(self.won, self.won + self.lost),
            "win_rate_by_amount": {
                c: _rate(won_cents.get(c, 0), won_cents.get(c, 0) + lost_cents.get(c, 0)) for c in currencies
            },
            "avg_won_amount": {
                c: str((Decimal(won_cents[c]) / 100 / n).quantize(Decimal("0.01"))) for c, n in sorted(self.won_counts.items()) if n
            },
        }


def _medians(middles: list[tuple[int | None, float]]) -> dict[int | None, float]:
    values: dict[int | None, list[float]] = defaultdict(list)
    for owner, days in middles:
        values[owner].append(float(days))
    return {owner: sum(v) / len(v) for owner, v in values.items()}


def _round_days(value: Any) -> float | None:
    return None if value is None else round(float(value), 2)


def _stage_funnel(uow: UnitOfWork, org_id: int, cohort: Any) -> list[dict[str, Any]]:
    stages = list(uow.s.scalars(
        select(Stage).where(Stage.org_id == org_id, Stage.is_closed.is_(False)).order_by(Stage.position, Stage.id)
    ))
    if not stages:
        return []
    first = stages[0].position
    won_total = 0
    lost_at_position: dict[int, int] = defaultdict(int)
    for is_won, furthest, count in q.furthest_open_stage(uow.s, cohort):
        if is_won:
            won_total += count
        else:
            lost_at_position[first if furthest is None else furthest] += count
    out = []
    for stage in stages:
        reached = won_total + sum(n for pos, n in lost_at_position.items() if pos >= stage.position)
        lost_at = lost_at_position.get(stage.position, 0)
        out.append({"key": stage.key, "name": stage.name, "reached": reached, "lost_at": lost_at,
                    "conversion": _rate(reached - lost_at, reached)})
    return out


def counted_quotas(quotas: list[Any], start: date | None, end: date | None) -> list[tuple[Any, Period]]:
    """Quotas whose whole period lies in the window; a month already inside a counted quarter is left out."""
    inside = []
    for quota in quotas:
        period = parse_period(quota.period)
        if (start is None or period.start >= start) and (end is None or period.end - timedelta(days=1) <= end):
            inside.append((quota, period))
    quarters = {(qt.user_id, qt.currency, m.key) for qt, p in inside if p.is_quarter for m in p.months()}
    return [(qt, p) for qt, p in inside if p.is_quarter or (qt.user_id, qt.currency, p.key) not in quarters]


def _quota_attainment(uow: UnitOfWork, principal: Principal, cohort: Any, owners: Any,
                      flt: MetricsFilter) -> dict[int, dict[str, float | None]]:
    counted = counted_quotas(q.quotas_of(uow.s, principal.org_id, owners), flt.start, flt.end)
    if not counted:
        return {}
    months: dict[tuple[int, str], set[str]] = defaultdict(set)
    quota_cents: dict[tuple[int, str], int] = defaultdict(int)
    for quota, period in counted:
        months[(quota.user_id, quota.currency)].update(m.key for m in period.months())
        quota_cents[(quota.user_id, quota.currency)] += int(quota.amount * 100)
    won: dict[tuple[int, str], int] = defaultdict(int)
    for owner_id, currency, month, cents in q.won_by_month(uow.s, cohort, sorted({o for o, _ in quota_cents})):
        if month in months.get((owner_id, currency), ()):
            won[(owner_id, currency)] += int(cents or 0)
    out: dict[int, dict[str, float | None]] = defaultdict(dict)
    for (owner_id, currency), target in sorted(quota_cents.items()):
        out[owner_id][currency] = _rate(won[(owner_id, currency)], target)
    return out


def pipeline_metrics(uow: UnitOfWork, principal: Principal, flt: MetricsFilter) -> dict[str, Any]:
    """The metrics of the deals closed in the window (all closed deals without one) that the principal may see."""
    if flt.start and flt.end and flt.start > flt.end:
        raise InvalidField([{"field": "from", "message": "the window starts after it ends"}])
    scope = deal_scope(uow, principal, flt.team, flt.owner_email)
    cohort = q.closed_cohort(
        scope.deals,
        _utc_midnight(flt.start) if flt.start else None,
        _utc_midnight(flt.end + timedelta(days=1)) if flt.end else None,
    )
    total, per_owner = _Tally(), defaultdict(_Tally)
    for owner_id, currency, is_won, count, cents in q.outcome_totals(uow.s, cohort):
        total.add(currency, bool(is_won), count, int(cents or 0))
        per_owner[owner_id].add(currency, bool(is_won), count, int(cents or 0))
    means, middles = q.cycle_summary(uow.s, cohort)
    mean_of = {owner: avg for owner, avg, _n in means}
    median_of = _medians(middles)
    attainment = _quota_attainment(uow, principal, cohort, scope.owners, flt)
    owner_ids = sorted(set(per_owner) | set(attainment))
    emails = dict(uow.s.execute(select(User.id, User.email).where(User.id.in_(owner_ids))).all()) if owner_ids else {}
    by_owner = []
    for owner_id in sorted(owner_ids, key=lambda o: emails.get(o, "")):
        figures = per_owner[owner_id].figures()
        by_owner.append({
            "owner_email": emails.get(owner_id),
            "won": figures["won"], "lost": figures["lost"], "win_rate": figures["win_rate"],
            "avg_won_amount": figures["avg_won_amount"],
            "cycle_days_median": _round_days(median_of.get(owner_id)),
            "cycle_days_mean": _round_days(mean_of.get(owner_id)),
            "quota_attainment": attainment.get(owner_id) or None,
        })
    figures = total.figures()
    return {
        **figures,
        "cycle_days_median": _round_days(median_of.get(None)),
        "cycle_days_mean": _round_days(mean_of.get(None)),
        "by_owner": by_owner,
        "stages": _stage_funnel(uow, principal.org_id, cohort),
    }


def filter_choices(uow: UnitOfWork, principal: Principal) -> dict[str, list[dict[str, Any]]]:
    """The teams (id, name) and people (email, name) whose figures the principal may ask for: the filters' options."""
    teams = select(Team.id, Team.name).where(Team.org_id == principal.org_id).order_by(Team.name)
    if not principal.is_admin:
        teams = teams.where(Team.id.in_(sorted(principal.managed_team_ids)))
    owners = deal_scope(uow, principal, None, None).owners
    people = select(User.email, User.name).where(User.id.in_(owners)).order_by(User.name)
    return {"teams": [{"id": i, "name": n} for i, n in uow.s.execute(teams)],
            "people": [{"email": e, "name": n} for e, n in uow.s.execute(people)]}
