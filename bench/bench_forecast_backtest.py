"""The win-probability model's backtest on the demo history (the backtest part of `dealpulse bench forecast`).

Seeds the demo organisation and its two years of closed history (backend/dealpulse/demo/history.py) into a fresh
SQLite file, scores the emails with the active tone model (the seed model, built once and cached), back-fills the
daily snapshots, and backtests the last N quarters: per method (stage-weighted, rep commit, predicted) the forecast
error in percent against what was won and the Brier score of the per-deal probabilities, the predicted column from a
model trained only on deals closed before each quarter. Prints a table and writes var/bench/forecast_backtest.json.
`main(settings, quarters=8, score_tone=True)` is what the bench command calls.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from dealpulse.demo.history import HISTORY_DAYS, generate_history
from dealpulse.demo.orgdata import load_org
from dealpulse.services.backtest import backtest, past_quarters
from dealpulse.services.deal_history import backfill_snapshots
from dealpulse.services.org_setup import load_organisation
from dealpulse.services.win_model import train_win_model
from dealpulse.store import utcnow
from dealpulse.store.database import Database


def _score(settings: Any, db: Database, org_id: int) -> int:
    from dealpulse.sentiment.active import active_scorers
    from dealpulse.sentiment.seed import ensure_seed_model
    from dealpulse.services.scoring import score_pending

    ensure_seed_model(settings, db)
    scored = 0
    while True:
        with db.uow() as uow:
            outcome = score_pending(uow, org_id, scorers=active_scorers(settings, db))
        if not outcome.scored:
            return scored
        scored += outcome.scored


def main(settings: Any, *, quarters: int = 8, score_tone: bool = True) -> dict[str, Any]:
    """Run the backtest on a fresh copy of the demo history; returns (and writes) the report."""
    out_dir = Path(settings.var_dir) / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "forecast_backtest.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    db = Database.connect(f"sqlite:///{path}")
    db.upgrade()
    now = utcnow()
    timings: dict[str, float] = {}
    start = time.perf_counter()
    with db.uow() as uow:
        org_id = load_organisation(uow, load_org(), now=now)
    with db.uow() as uow:
        made = generate_history(uow, org_id, now)
    with db.uow() as uow:
        snapshots = backfill_snapshots(uow, org_id, (now - timedelta(days=HISTORY_DAYS)).date(), now.date())
    timings["seed_s"] = round(time.perf_counter() - start, 2)
    start = time.perf_counter()
    scored = _score(settings, db, org_id) if score_tone else 0
    timings["score_s"] = round(time.perf_counter() - start, 2)
    start = time.perf_counter()
    with db.uow() as uow:
        report = backtest(uow.s, org_id, past_quarters(now.date(), quarters), settings.win_model_min_closed)
    timings["backtest_s"] = round(time.perf_counter() - start, 2)
    with db.uow() as uow:
        trained = train_win_model(uow, out_dir / "models", org_id, settings.win_model_min_closed, now)
    report.update({"history": {"won": made.won, "lost": made.lost, "activities": made.activities,
                               "snapshots": snapshots, "scored_emails": scored},
                   "model_on_all_history": trained.as_dict(), "timings": timings})
    (out_dir / "forecast_backtest.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    print(f"demo history: {made.won} won, {made.lost} lost, {made.activities} activities, {scored} emails scored")
    print(f"{'quarter':8} {'open':>4} {'won':>10}  " + "  ".join(f"{m:>26}" for m in ("stage_weighted", "rep_commit", "predicted")))
    for row in report["periods"]:
        cells = []
        for method in ("stage_weighted", "rep_commit", "predicted"):
            r = row["methods"][method]
            err = "n/a" if r["error_pct"] is None else f"{r['error_pct']:+.1f}%"
            tag = f" [{r['method']}]" if method == "predicted" else ""
            cells.append(f"{r['forecast']:>10,.0f} {err:>7} B={r['brier'] if r['brier'] is not None else 'n/a'}{tag}".rjust(26))
        print(f"{row['period']:8} {row['open_deals']:>4} {row['actual_won']:>10,.0f}  " + "  ".join(cells))
    for method, s in report["summary"].items():
        print(f"{method:15} mean |error| {s['mean_abs_error_pct']}%  Brier {s['brier']} over {s['deals']} deal-quarters")
    print(f"model on all history: {trained.note}; cross-validated Brier {trained.metrics.get('brier_cv')}")
    return report
