"""`dealpulse bench alerts`: full evaluation over N deals / M activities, incremental update after one email,
a naive per-deal baseline in the same process, and the dashboard pipeline page's p95 under concurrent load.

Writes a table to stdout and JSON to var/bench/alerts.json. The database is a fresh SQLite file under var/bench/
unless --database-url names another (it is then emptied of nothing: use a scratch database).
"""

from __future__ import annotations

import json
import platform
import random
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select
from werkzeug.serving import WSGIRequestHandler

from dealpulse.domain.alert_rules import Thresholds
from dealpulse import runtime
from dealpulse.services.alert_hooks import on_scores_stored
from dealpulse.services.alert_engine import evaluate_opportunities
from dealpulse.services.alert_snapshots import forget_percentiles
from dealpulse.store import (
    Account,
    Activity,
    ActivityContact,
    Alert,
    Contact,
    ExitQuestion,
    Opportunity,
    Organisation,
    SentimentScore,
    Stage,
    StageTransition,
    Team,
    User,
    utcnow,
)
from dealpulse.store.database import Database

STAGES = [
    ("qualification", "Qualification", 20, False, False, ["A clear use case?", "Within budget?"]),
    ("demo", "Demo", 40, False, False, ["Has our champion seen the demo?", "Are success criteria agreed?"]),
    ("proposal", "Proposal", 60, False, False, ["Has the economic buyer received the proposal?"]),
    ("negotiation", "Negotiation", 80, False, False, ["Has legal review started?", "Do we know who signs?"]),
    ("closed_won", "Closed won", 100, True, True, []),
    ("closed_lost", "Closed lost", 0, True, False, []),
]
TEAMS, REPS_PER_TEAM = 5, 10


def _timed(fn: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return (time.perf_counter() - start) * 1000, result


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def build_dataset(db: Database, n_opps: int, n_activities: int, seed: int = 11) -> dict[str, Any]:
    """A realistic organisation: 5 teams of 10 reps, stage history, emails and meetings with tone scores."""
    rng = random.Random(seed)
    now = utcnow()
    with db.engine.begin() as conn:
        org_id = conn.execute(insert(Organisation).values(name="Bench Org", domains=["bench.example"], settings={}, created_at=now)
                              .returning(Organisation.id)).scalar_one()
        team_ids = [conn.execute(insert(Team).values(org_id=org_id, name=f"Team {t}", gone_dark_after_days=21, settings={})
                                 .returning(Team.id)).scalar_one() for t in range(TEAMS)]
        managers, reps = [], []
        for t, team_id in enumerate(team_ids):
            managers.append(conn.execute(insert(User).values(org_id=org_id, team_id=team_id, email=f"manager{t}@bench.example",
                                                             name=f"Manager {t}", role="manager", is_active=True, created_at=now)
                                         .returning(User.id)).scalar_one())
            conn.execute(Team.__table__.update().where(Team.id == team_id).values(manager_id=managers[-1]))
            for r in range(REPS_PER_TEAM):
                reps.append(conn.execute(insert(User).values(org_id=org_id, team_id=team_id, email=f"rep{t}.{r}@bench.example",
                                                             name=f"Rep {t}.{r}", role="rep", is_active=True, created_at=now)
                                         .returning(User.id)).scalar_one())
        stage_ids = {}
        for pos, (key, name, prob, closed, won, questions) in enumerate(STAGES):
            stage_ids[key] = conn.execute(insert(Stage).values(org_id=org_id, key=key, name=name, position=pos, probability=prob,
                                                               is_closed=closed, is_won=won).returning(Stage.id)).scalar_one()
            for qpos, text in enumerate(questions):
                conn.execute(insert(ExitQuestion).values(stage_id=stage_ids[key], key=f"q{qpos}", text=text, position=qpos))
        n_accounts = max(1, n_opps // 5)
        conn.execute(insert(Account), [{"org_id": org_id, "name": f"Account {i}", "industry": "", "created_at": now} for i in range(n_accounts)])
        account_ids = list(conn.execute(select(Account.id).where(Account.org_id == org_id).order_by(Account.id)).scalars())
        conn.execute(insert(Contact), [{"org_id": org_id, "account_id": account_ids[i // 3], "email": f"c{i}@acct{i // 3}.example",
                                        "name": f"Contact {i}", "title": "", "created_at": now} for i in range(3 * n_accounts)])
        contact_ids = list(conn.execute(select(Contact.id).where(Contact.org_id == org_id).order_by(Contact.id)).scalars())
        open_keys = ["qualification", "demo", "proposal", "negotiation"]
        opp_rows = []
        for i in range(n_opps):
            closed = rng.random() < 0.2
            key = rng.choice(["closed_won", "closed_lost"]) if closed else rng.choice(open_keys)
            entered = now - timedelta(days=rng.uniform(1, 90))
            opp_rows.append({
                "org_id": org_id, "account_id": account_ids[i % n_accounts], "owner_id": reps[i % len(reps)],
                "stage_id": stage_ids[key], "name": f"Deal {i}", "amount": Decimal(rng.randrange(5, 500) * 1000), "currency": "USD",
                "close_date": (now + timedelta(days=rng.randint(-20, 120))).date(), "next_step": "", "probability": 0,
                "stage_entered_at": entered, "close_date_pushes": rng.choice([0, 0, 0, 1, 2, 3]),
                "created_at": entered - timedelta(days=rng.uniform(5, 60)), "updated_at": entered, "version": 1,
            })
        conn.execute(insert(Opportunity), opp_rows)
        opps = conn.execute(select(Opportunity.id, Opportunity.stage_id, Opportunity.stage_entered_at, Opportunity.account_id)
                            .where(Opportunity.org_id == org_id).order_by(Opportunity.id)).all()
        transitions = []
        for opp_id, stage_id, entered, _ in opps:
            previous = entered - timedelta(days=rng.uniform(3, 40))
            transitions.append({"opportunity_id": opp_id, "from_stage_id": None, "to_stage_id": stage_ids["qualification"], "at": previous})
            transitions.append({"opportunity_id": opp_id, "from_stage_id": stage_ids["qualification"], "to_stage_id": stage_id, "at": entered})
        conn.execute(insert(StageTransition), transitions)
        quiet = {opp_id for opp_id, *_ in opps if rng.random() < 0.1}
        activity_rows = []
        for i in range(n_activities):
            opp_id, _, entered, account_id = opps[rng.randrange(len(opps))]
            direction = "inbound" if rng.random() < 0.45 else "outbound"
            age = rng.uniform(0, 120)
            if opp_id in quiet and direction == "inbound":
                age = max(age, 30 + rng.uniform(0, 60))
            kind = "meeting" if rng.random() < 0.05 else "email"
            activity_rows.append({
                "org_id": org_id, "kind": kind, "direction": direction, "dedupe_key": f"mid:b{i}@bench", "message_id": f"b{i}@bench",
                "thread_key": f"b{i // 4}@bench", "subject": f"Re: deal {opp_id}", "occurred_at": now - timedelta(days=age),
                "sender_email": "", "participants": [], "new_text": "Thanks, talk soon.", "quoted_text": "", "signature_text": "",
                "body_html": "", "attachments": [], "is_private": False, "opportunity_id": opp_id, "account_id": account_id,
                "link_method": "contact", "needs_link_choice": False, "link_candidates": [], "created_at": now, "updated_at": now,
            })
        for start in range(0, len(activity_rows), 20000):
            conn.execute(insert(Activity), activity_rows[start : start + 20000])
        acts = conn.execute(select(Activity.id, Activity.direction, Activity.kind, Activity.account_id)
                            .where(Activity.org_id == org_id).order_by(Activity.id)).all()
        scores, links = [], []
        for activity_id, direction, kind, account_id in acts:
            base = (account_id - account_ids[0]) * 3  # contacts were inserted three per account, in order
            links.append({"activity_id": activity_id, "contact_id": contact_ids[base + rng.randrange(3)], "role": "from"})
            if direction == "inbound" and kind == "email":
                value = max(-1.0, min(1.0, rng.gauss(0.15, 0.45)))
                label = "negative" if value < -0.3 else "positive" if value > 0.3 else "neutral"
                scores.append({"activity_id": activity_id, "model_version": "bench", "label": label, "score": value,
                               "confidence": abs(value), "probabilities": {}, "is_current": True, "scored_at": now,
                               "highlights": [{"text": "We are reconsidering the timeline.", "label": label, "score": value}]})
        for start in range(0, len(scores), 20000):
            conn.execute(insert(SentimentScore), scores[start : start + 20000])
        for start in range(0, len(links), 20000):
            conn.execute(insert(ActivityContact), links[start : start + 20000])
    return {"org_id": org_id, "open_ids": [o for o, s, *_ in opps if s not in (stage_ids["closed_won"], stage_ids["closed_lost"])],
            "managers": managers, "account_ids": account_ids}


def add_negative_email(db: Database, org_id: int, opp_id: int, n: int) -> int:
    """One new strongly negative inbound email with its score, as capture + scoring would store it."""
    now = utcnow()
    with db.uow() as uow:
        activity = Activity(org_id=org_id, kind="email", direction="inbound", dedupe_key=f"mid:new{n}@bench", message_id=f"new{n}@bench",
                            thread_key=f"new{n}@bench", subject="Decision", occurred_at=now, new_text="We chose another vendor.",
                            opportunity_id=opp_id, link_method="contact")
        uow.s.add(activity)
        uow.s.flush()
        uow.s.add(SentimentScore(activity_id=activity.id, model_version="bench", label="negative", score=-0.9, confidence=0.95,
                                 probabilities={}, highlights=[{"text": "We chose another vendor.", "label": "negative", "score": -0.9}]))
        uow.commit()
        return activity.id


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return


def pipeline_load(settings: Any, db: Database, manager_id: int, requests_total: int, concurrency: int) -> dict[str, Any]:
    """p50/p95 of GET /dashboard/ for a signed-in manager, `concurrency` clients at once, through a real HTTP server."""
    import requests
    from werkzeug.serving import make_server

    from dealpulse.app import create_app

    app = create_app(replace(settings, demo=True, database_url=db.url))
    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        def client() -> requests.Session:
            session = requests.Session()
            session.trust_env = False
            page = session.get(f"{base}/signin/demo", timeout=30)
            token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
            session.post(f"{base}/signin/demo", data={"csrf_token": token, "user_id": manager_id}, timeout=30)
            return session

        sessions = [client() for _ in range(concurrency)]
        warm = sessions[0].get(f"{base}/dashboard/", timeout=60)
        rows = warm.text.count('class="deal-row')
        latencies: list[float] = []
        lock = threading.Lock()

        def one(i: int) -> None:
            start = time.perf_counter()
            response = sessions[i % concurrency].get(f"{base}/dashboard/?sort=health", timeout=60)
            elapsed = (time.perf_counter() - start) * 1000
            assert response.status_code == 200, response.status_code
            with lock:
                latencies.append(elapsed)

        for i in range(20):  # one client at a time: the page's own cost
            one(0)
        alone = list(latencies)
        latencies.clear()
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(one, range(requests_total)))
        return {"requests": requests_total, "concurrency": concurrency, "rows_on_page": rows,
                "p50_ms": round(_pct(latencies, 50), 1), "p95_ms": round(_pct(latencies, 95), 1),
                "single_client_p50_ms": round(_pct(alone, 50), 1), "single_client_p95_ms": round(_pct(alone, 95), 1),
                "note": "server threads and load clients share one Python process (one GIL)"}
    finally:
        server.shutdown()


def main(settings: Any, *, opportunities: int, activities: int, page_requests: int, concurrency: int, database_url: str | None) -> dict[str, Any]:
    """Run the benchmark and write var/bench/alerts.json."""
    out_dir = Path(settings.var_dir) / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    if database_url is None:
        path = out_dir / "alerts.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        database_url = f"sqlite:///{path}"
    db = Database.connect(database_url)
    db.upgrade()
    runtime.configure(replace(settings, database_url=db.url), db)  # the app below shares this engine
    build_ms, data = _timed(lambda: build_dataset(db, opportunities, activities))
    org_id = data["org_id"]
    forget_percentiles()

    def full() -> Any:
        with db.uow() as uow:
            return evaluate_opportunities(uow, org_id, None, alert_defaults=Thresholds(), fresh_percentiles=True)

    first_ms, first = _timed(full)
    rerun_ms, _ = _timed(full)
    with db.uow() as uow:
        alerts = uow.s.scalar(select(func.count()).select_from(Alert).where(Alert.state != "resolved"))

    rng = random.Random(3)
    incremental: list[float] = []
    for n in range(30):
        activity_id = add_negative_email(db, org_id, rng.choice(data["open_ids"]), n)
        with db.uow() as uow:
            ms, summary = _timed(lambda: on_scores_stored(uow, [activity_id], alert_defaults=Thresholds()))
        incremental.append(ms)

    sample = rng.sample(data["open_ids"], min(300, len(data["open_ids"])))

    def naive() -> None:
        for opp_id in sample:
            with db.uow() as uow:
                evaluate_opportunities(uow, org_id, [opp_id], alert_defaults=Thresholds())

    naive_ms, _ = _timed(naive)
    naive_full_ms = naive_ms / len(sample) * len(data["open_ids"])
    load = pipeline_load(settings, db, data["managers"][0], page_requests, concurrency) if page_requests else None

    result = {
        "database": db.engine.dialect.name, "opportunities": opportunities, "open_opportunities": len(data["open_ids"]),
        "activities": activities, "python": platform.python_version(), "build_dataset_ms": round(build_ms),
        "full_evaluation_first_ms": round(first_ms), "full_evaluation_rerun_ms": round(rerun_ms),
        "alerts_opened_first_run": first.opened, "unresolved_alerts": alerts,
        "incremental_one_email_ms": {"p50": round(statistics.median(incremental), 1), "p95": round(_pct(incremental, 95), 1),
                                     "max": round(max(incremental), 1), "runs": len(incremental)},
        "naive_per_deal_ms_per_deal": round(naive_ms / len(sample), 2),
        "naive_full_estimate_ms": round(naive_full_ms), "naive_sampled_deals": len(sample),
        "speedup_vs_naive": round(naive_full_ms / rerun_ms, 1),
        "pipeline_page": load,
        "targets": {"full_evaluation_ms": 5000, "incremental_ms": 50},
    }
    (out_dir / "alerts.json").write_text(json.dumps(result, indent=2))
    rows = [
        ("dataset", f"{opportunities} deals ({len(data['open_ids'])} open), {activities} activities, {db.engine.dialect.name}"),
        ("full evaluation, first run", f"{first_ms:.0f} ms ({first.opened} alerts opened)  target <= 5000 ms"),
        ("full evaluation, re-run", f"{rerun_ms:.0f} ms"),
        ("incremental after one email", f"p50 {statistics.median(incremental):.1f} ms, p95 {_pct(incremental, 95):.1f} ms  target <= 50 ms"),
        ("naive per-deal baseline", f"{naive_ms / len(sample):.2f} ms/deal -> {naive_full_ms:.0f} ms for all open deals (sampled {len(sample)})"),
        ("speed-up vs naive", f"{naive_full_ms / rerun_ms:.1f}x"),
    ]
    if load:
        rows.append(("pipeline page, one client", f"p50 {load['single_client_p50_ms']} ms, p95 {load['single_client_p95_ms']} ms "
                     f"({load['rows_on_page']} rows of the manager's deals)"))
        rows.append(("pipeline page under load", f"p50 {load['p50_ms']} ms, p95 {load['p95_ms']} ms "
                     f"({load['requests']} requests, {load['concurrency']} concurrent clients)"))
    width = max(len(r[0]) for r in rows)
    print("\n".join(f"{name.ljust(width)}  {value}" for name, value in rows))
    print(f"JSON: {out_dir / 'alerts.json'}")
    return result
