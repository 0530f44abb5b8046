"""`dealpulse bench forecast`: pipeline metrics and the forecast roll-up over N deals / M activities (SQLite by
default), against a baseline in the same process that loads every deal and computes the same figures in Python.

Writes a table to stdout and JSON to var/bench/forecast.json. The dataset: 5 teams of 10 reps, two years of history
(about 45 % of deals closed, won or lost, with creation and close transitions), forecast categories on open deals,
quarterly quotas, and M activities (emails and meetings) on the deals. The win-probability model's backtest is
winmodel's part of this command and is not measured here.
"""

from __future__ import annotations

import json
import platform
import random
import statistics
import time
from collections import defaultdict
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from dealpulse import runtime
from dealpulse.domain.access import Principal
from dealpulse.domain.periods import period_of
from dealpulse.services.forecast import forecast_rollup
from dealpulse.services.metrics import MetricsFilter, pipeline_metrics
from dealpulse.store import Activity, Opportunity, Organisation, Quota, Stage, StageTransition, Team, User, utcnow
from dealpulse.store import Account
from dealpulse.store.database import Database

STAGES = [("qualification", 20, False, False), ("demo", 40, False, False), ("proposal", 60, False, False),
          ("negotiation", 80, False, False), ("closed_won", 100, True, True), ("closed_lost", 0, True, False)]
TEAMS, REPS_PER_TEAM, CHUNK = 5, 10, 50_000
CATEGORIES = ["pipeline", "pipeline", "best_case", "commit", "omitted"]


def _timed(fn: Any, repeat: int = 3) -> tuple[float, Any]:
    """Median milliseconds of `repeat` runs, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), result


def build_dataset(db: Database, n_opps: int, n_activities: int, seed: int = 23) -> dict[str, Any]:
    """The organisation, its deals with history and quotas, and the activities (inserted in chunks)."""
    rng = random.Random(seed)
    now = utcnow()
    with db.engine.begin() as conn:
        org_id = conn.execute(insert(Organisation).values(name="Forecast bench", domains=["bench.example"], settings={},
                                                          created_at=now).returning(Organisation.id)).scalar_one()
        admin = conn.execute(insert(User).values(org_id=org_id, email="admin@bench.example", name="Admin", role="admin",
                                                 is_active=True, created_at=now).returning(User.id)).scalar_one()
        teams, reps, managers = [], [], []
        for t in range(TEAMS):
            team_id = conn.execute(insert(Team).values(org_id=org_id, name=f"Team {t}", gone_dark_after_days=21, settings={})
                                   .returning(Team.id)).scalar_one()
            managers.append(conn.execute(insert(User).values(org_id=org_id, team_id=team_id, email=f"manager{t}@bench.example",
                                                             name=f"Manager {t}", role="manager", is_active=True, created_at=now)
                                         .returning(User.id)).scalar_one())
            conn.execute(Team.__table__.update().where(Team.id == team_id).values(manager_id=managers[-1]))
            teams.append(team_id)
            for r in range(REPS_PER_TEAM):
                reps.append(conn.execute(insert(User).values(org_id=org_id, team_id=team_id, email=f"rep{t}.{r}@bench.example",
                                                             name=f"Rep {t}.{r}", role="rep", is_active=True, created_at=now)
                                         .returning(User.id)).scalar_one())
        stage_ids = {key: conn.execute(insert(Stage).values(org_id=org_id, key=key, name=key.title(), position=pos, probability=p,
                                                            is_closed=closed, is_won=won).returning(Stage.id)).scalar_one()
                     for pos, (key, p, closed, won) in enumerate(STAGES)}
        n_accounts = max(1, n_opps // 5)
        conn.execute(insert(Account), [{"org_id": org_id, "name": f"Account {i}", "industry": "", "created_at": now}
                                       for i in range(n_accounts)])
        account_ids = list(conn.execute(select(Account.id).where(Account.org_id == org_id).order_by(Account.id)).scalars())
        rows, history = [], []
        for i in range(n_opps):
            created = now - timedelta(days=rng.uniform(5, 730))
            closed = rng.random() < 0.45 and created < now - timedelta(days=3)
            key = ("closed_won" if rng.random() < 0.4 else "closed_lost") if closed else rng.choice(STAGES[:4])[0]
            closed_at = created + timedelta(days=rng.uniform(1, min(200, (now - created).days))) if closed else None
            furthest = rng.randrange(4)
            history.append((key, furthest, created, closed_at))
            rows.append({
                "org_id": org_id, "account_id": account_ids[i % n_accounts], "owner_id": reps[i % len(reps)],
                "stage_id": stage_ids[key], "name": f"Deal {i}", "amount": Decimal(rng.randrange(5, 500) * 1000),
                "currency": "USD" if rng.random() < 0.8 else "EUR",
                "close_date": (closed_at or now + timedelta(days=rng.randint(-20, 200))).date(), "next_step": "", "probability": 0,
                "stage_entered_at": closed_at or created, "close_date_pushes": 0, "created_at": created, "updated_at": now,
                "version": 1, "closed_at": closed_at, "forecast_category": rng.choice(CATEGORIES), "external_id": f"B{i}",
            })
        for start in range(0, len(rows), CHUNK):
            conn.execute(insert(Opportunity), rows[start:start + CHUNK])
        opp_ids = list(conn.execute(select(Opportunity.id).where(Opportunity.org_id == org_id).order_by(Opportunity.id)).scalars())
        open_keys = [k for k, _p, c, _w in STAGES if not c]
        transitions = []
        for opp_id, (key, furthest, created, closed_at) in zip(opp_ids, history):
            last = open_keys[furthest] if closed_at else key
            transitions.append({"opportunity_id": opp_id, "from_stage_id": None, "to_stage_id": stage_ids[last], "at": created})
            if closed_at:
                transitions.append({"opportunity_id": opp_id, "from_stage_id": stage_ids[last], "to_stage_id": stage_ids[key],
                                    "at": closed_at})
        for start in range(0, len(transitions), CHUNK):
            conn.execute(insert(StageTransition), transitions[start:start + CHUNK])
        quarters = {period_of((now - timedelta(days=d)).date()).key for d in range(-90, 730, 30)}
        conn.execute(insert(Quota), [{"org_id": org_id, "user_id": rep, "period": q, "amount": Decimal(rng.randrange(200, 900) * 1000),
                                      "currency": "USD", "created_at": now, "updated_at": now} for rep in reps for q in sorted(quarters)])
        for start in range(0, n_activities, CHUNK):
            conn.execute(insert(Activity), [{
                "org_id": org_id, "kind": "meeting" if rng.random() < 0.05 else "email",
                "direction": "inbound" if rng.random() < 0.45 else "outbound", "dedupe_key": f"mid:f{i}@bench", "message_id": f"f{i}@bench",
                "thread_key": f"f{i // 4}@bench", "subject": "Re: deal", "occurred_at": now - timedelta(days=rng.uniform(0, 730)),
                "sender_email": "", "participants": [], "new_text": "Thanks, talk soon.", "quoted_text": "", "signature_text": "",
                "body_html": "", "attachments": [], "is_private": False, "opportunity_id": opp_ids[rng.randrange(len(opp_ids))],
                "account_id": None, "link_method": "contact", "needs_link_choice": False, "link_candidates": [],
                "created_at": now, "updated_at": now,
            } for i in range(start, min(n_activities, start + CHUNK))])
    admin_principal = Principal(user_id=admin, org_id=org_id, role="admin", email="admin@bench.example", surface="cli")
    manager_principal = Principal(user_id=managers[0], org_id=org_id, role="manager", email="manager0@bench.example",
                                  team_id=teams[0], managed_team_ids=frozenset({teams[0]}), surface="cli")
    return {"org_id": org_id, "admin": admin_principal, "manager": manager_principal, "stage_ids": stage_ids}


def baseline_metrics(db: Database, org_id: int) -> dict[str, Any]:
    """The same headline figures the way an app without SQL aggregation would: load every deal, loop in Python."""
    with db.uow() as uow:
        stages = {s.id: s for s in uow.s.scalars(select(Stage).where(Stage.org_id == org_id))}
        won = lost = 0
        won_cents: dict[str, int] = defaultdict(int)
        won_count: dict[str, int] = defaultdict(int)
        cycles: list[float] = []
        for opp in uow.s.scalars(select(Opportunity).where(Opportunity.org_id == org_id)):
            stage = stages[opp.stage_id]
            if not stage.is_closed:
                continue
            if stage.is_won:
                won += 1
                won_cents[opp.currency] += int(opp.amount * 100)
                won_count[opp.currency] += 1
                cycles.append((opp.closed_at - opp.created_at).total_seconds() / 86400)
            else:
                lost += 1
        uow.s.expunge_all()
    return {"won": won, "lost": lost, "cycle_days_median": round(statistics.median(cycles), 2) if cycles else None,
            "avg_won_amount": {c: str((Decimal(won_cents[c]) / 100 / n).quantize(Decimal("0.01"))) for c, n in sorted(won_count.items())}}


def baseline_forecast(db: Database, org_id: int, first: Any, after: Any) -> dict[str, Decimal]:
    """Commit / best case / pipeline / stage-weighted of the period by looping over every open deal in Python."""
    with db.uow() as uow:
        stages = {s.id: s for s in uow.s.scalars(select(Stage).where(Stage.org_id == org_id))}
        totals: dict[str, Decimal] = defaultdict(Decimal)
        for opp in uow.s.scalars(select(Opportunity).where(Opportunity.org_id == org_id)):
            stage = stages[opp.stage_id]
            if stage.is_closed or opp.close_date is None or not first <= opp.close_date < after:
                continue
            totals[f"{opp.currency}.{opp.forecast_category}"] += opp.amount
            totals[f"{opp.currency}.stage_weighted"] += opp.amount * stage.probability / 100
        uow.s.expunge_all()
    return dict(totals)


def main(settings: Any, *, opportunities: int, activities: int, database_url: str | None) -> dict[str, Any]:
    """Run the benchmark and write var/bench/forecast.json."""
    out_dir = Path(settings.var_dir) / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    if database_url is None:
        path = out_dir / "forecast.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        database_url = f"sqlite:///{path}"
    db = Database.connect(database_url)
    db.upgrade()
    runtime.configure(replace(settings, database_url=db.url), db)
    start = time.perf_counter()
    data = build_dataset(db, opportunities, activities)
    build_ms = (time.perf_counter() - start) * 1000
    org_id, admin, manager = data["org_id"], data["admin"], data["manager"]
    period = period_of(utcnow().date())

    def metrics(principal: Principal, flt: MetricsFilter) -> Any:
        with db.uow() as uow:
            return pipeline_metrics(uow, principal, flt)

    def forecast(principal: Principal) -> Any:
        with db.uow() as uow:
            return forecast_rollup(uow, principal, period.key)

    cases = {
        "metrics_org_all_closed": lambda: metrics(admin, MetricsFilter()),
        "metrics_org_one_quarter": lambda: metrics(admin, MetricsFilter(start=period.start - timedelta(days=90), end=period.start)),
        "metrics_manager_team": lambda: metrics(manager, MetricsFilter()),
        "forecast_org_quarter": lambda: forecast(admin),
        "forecast_manager_quarter": lambda: forecast(manager),
    }
    timings, results = {}, {}
    for name, fn in cases.items():
        timings[name], results[name] = _timed(fn)
    base_metrics_ms, base_metrics = _timed(lambda: baseline_metrics(db, org_id))
    base_forecast_ms, base_forecast = _timed(lambda: baseline_forecast(db, org_id, period.start, period.end))
    ours = results["metrics_org_all_closed"]
    agrees = (ours["won"], ours["lost"], ours["avg_won_amount"], ours["cycle_days_median"]) == (
        base_metrics["won"], base_metrics["lost"], base_metrics["avg_won_amount"], base_metrics["cycle_days_median"])
    usd = results["forecast_org_quarter"]["total"].get("USD", {})
    forecast_agrees = usd.get("commit") == str(base_forecast.get("USD.commit", Decimal(0)).quantize(Decimal("0.01")))
    result = {
        "database": db.engine.dialect.name, "opportunities": opportunities, "activities": activities,
        "closed": ours["won"] + ours["lost"], "python": platform.python_version(), "build_dataset_ms": round(build_ms),
        "period": period.key, "timings_ms": {k: round(v, 1) for k, v in timings.items()},
        "baseline_python_metrics_ms": round(base_metrics_ms, 1), "baseline_python_forecast_ms": round(base_forecast_ms, 1),
        "speedup_metrics_vs_baseline": round(base_metrics_ms / timings["metrics_org_all_closed"], 1),
        "speedup_forecast_vs_baseline": round(base_forecast_ms / timings["forecast_org_quarter"], 1),
        "baseline_agrees": {"metrics": agrees, "forecast_commit_usd": forecast_agrees},
        "targets": {"metrics_ms": 2000},
    }
    (out_dir / "forecast.json").write_text(json.dumps(result, indent=2))
    print(f"dataset: {opportunities} deals ({result['closed']} closed), {activities} activities, {result['database']}; "
          f"built in {build_ms / 1000:.1f} s")
    print(f"{'case':34} {'median ms':>10}")
    for name, ms in timings.items():
        print(f"{name:34} {ms:>10.1f}")
    print(f"{'baseline: Python over all deals':34} {base_metrics_ms:>10.1f}  (metrics; same figures: {agrees})")
    print(f"{'baseline: Python forecast':34} {base_forecast_ms:>10.1f}  (forecast; commit agrees: {forecast_agrees})")
    print(f"speedup vs baseline: metrics x{result['speedup_metrics_vs_baseline']}, forecast x{result['speedup_forecast_vs_baseline']}"
          f"; target: metrics <= 2000 ms")
    print(f"JSON: {out_dir / 'forecast.json'}")
    return result
