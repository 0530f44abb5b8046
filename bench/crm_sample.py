"""Maven Analytics' "CRM + Sales Opportunities" sample -> DealPulse CSV handles, and an independent pandas check.

The sample (sales_pipeline.csv: opportunity_id, sales_agent, product, account, deal_stage Prospecting / Engaging /
Won / Lost, engage_date, close_date, close_value; sales_teams.csv: sales_agent, manager, regional_office) is not
in this repository: download it from Maven Analytics' Data Playground and point this script at the files.

    python bench/crm_sample.py convert sales_pipeline.csv --teams sales_teams.csv --out DIR
        writes DIR/users.csv, DIR/accounts.csv, DIR/opportunities_engaged.csv, DIR/opportunities.csv
    python bench/crm_sample.py run sales_pipeline.csv --teams sales_teams.csv --out DIR
        the above, then a fresh SQLite database in DIR with the sample's stages, the four files imported through
        `dealpulse users import` / `dealpulse import accounts|opportunities`, `dealpulse metrics --json`, and the
        pandas figures computed straight from sales_pipeline.csv side by side (DIR/comparison.json)

Mapping: every agent is a rep (email first.last@crm-sample.example) in their manager's team; the managers are
managers. A deal's external_id is its opportunity_id; created_at is engage_date; closed_at (and close_date) is
close_date; amount is close_value in USD (the sample records 0 for every lost deal). Prospecting maps to the first
open stage, Engaging to the second. Closed deals are imported twice: first as Engaging on their engage date (the
sample says they were engaged), then closed: re-importing by external_id records the Engaging -> Won/Lost transition,
so the funnel knows every closed deal reached Engaging.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

EMAIL_DOMAIN = "crm-sample.example"
NO_ACCOUNT = "(no account)"
OPP_HEADER = ["external_id", "name", "account", "owner_email", "stage", "amount", "currency", "created_at", "closed_at",
              "close_date"]
STAGES = {"Prospecting": "prospecting", "Engaging": "engaging", "Won": "closed_won", "Lost": "closed_lost"}


def agent_email(name: str) -> str:
    """The address a sales agent gets: first.last@crm-sample.example (letters and dots only)."""
    return re.sub(r"[^a-z.]", "", ".".join(name.lower().split())) + "@" + EMAIL_DOMAIN


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def _write(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def convert(pipeline: Path, teams: Path | None, out: Path, prospecting: str = "prospecting",
            engaging: str = "engaging") -> dict[str, int]:
    """Write the four import files for `pipeline` (and `teams`) under `out`; returns row counts."""
    out.mkdir(parents=True, exist_ok=True)
    deals = _read(pipeline)
    stage_key = {**STAGES, "Prospecting": prospecting, "Engaging": engaging}
    manager_of = {r["sales_agent"]: r["manager"] for r in _read(teams)} if teams else {}
    users: dict[str, list[str]] = {}
    for manager in sorted(set(manager_of.values())):
        users[manager] = [agent_email(manager), manager, "manager", f"{manager} team", ""]
    for agent in sorted({d["sales_agent"] for d in deals} | set(manager_of)):
        manager = manager_of.get(agent)
        users[agent] = [agent_email(agent), agent, "rep", f"{manager} team" if manager else "",
                        agent_email(manager) if manager else ""]
    _write(out / "users.csv", ["email", "name", "role", "team", "manager_email"], list(users.values()))
    accounts = sorted({d["account"] or NO_ACCOUNT for d in deals})
    _write(out / "accounts.csv", ["name", "domains", "industry"], [[a, "", ""] for a in accounts])
    final, engaged = [], []
    for d in deals:
        closed = d["deal_stage"] in ("Won", "Lost")
        row = [d["opportunity_id"], f"{d['product']} for {d['account'] or 'unknown account'}"[:200], d["account"] or NO_ACCOUNT,
               agent_email(d["sales_agent"]), stage_key[d["deal_stage"]], d["close_value"] or "0", "USD",
               d["engage_date"], d["close_date"] if closed else "", d["close_date"]]
        final.append(row)
        engaged.append(row[:4] + [engaging] + row[5:8] + ["", ""] if closed else row)
    _write(out / "opportunities_engaged.csv", OPP_HEADER, engaged)
    _write(out / "opportunities.csv", OPP_HEADER, final)
    return {"users": len(users), "accounts": len(accounts), "opportunities": len(final)}


def pandas_reference(pipeline: Path, start: str | None = None, end: str | None = None) -> dict[str, Any]:
    """The metrics straight from sales_pipeline.csv with pandas (no DealPulse code): closed deals in the window."""
    import pandas as pd

    df = pd.read_csv(pipeline, dtype={"close_value": "float64"}, parse_dates=["engage_date", "close_date"])
    closed = df[df["deal_stage"].isin(["Won", "Lost"])]
    if start:
        closed = closed[closed["close_date"] >= pd.Timestamp(start)]
    if end:
        closed = closed[closed["close_date"] <= pd.Timestamp(end)]

    def figures(frame: Any) -> dict[str, Any]:
        won = frame[frame["deal_stage"] == "Won"]
        lost = frame[frame["deal_stage"] == "Lost"]
        cycle = (won["close_date"] - won["engage_date"]).dt.days
        total_value = frame["close_value"].fillna(0).sum()
        return {
            "won": int(len(won)), "lost": int(len(lost)),
            "win_rate": len(won) / len(frame) if len(frame) else None,
            "win_rate_by_amount": float(won["close_value"].sum() / total_value) if total_value else None,
            "avg_won_amount": float(won["close_value"].mean()) if len(won) else None,
            "cycle_days_median": float(cycle.median()) if len(won) else None,
            "cycle_days_mean": float(cycle.mean()) if len(won) else None,
        }

    out = figures(closed)
    out["by_owner"] = {agent_email(agent): figures(group) for agent, group in closed.groupby("sales_agent")}
    engaged = closed["engage_date"].notna()
    lost = closed["deal_stage"] == "Lost"
    out["stages"] = [
        {"reached": int(len(closed)), "lost_at": int((lost & ~engaged).sum())},
        {"reached": int(engaged.sum()), "lost_at": int((lost & engaged).sum())},
    ]
    return out


def compare(ours: dict[str, Any], reference: dict[str, Any], currency: str = "USD") -> list[dict[str, Any]]:
    """Side by side: each figure from `dealpulse metrics --json` and pandas, with the relative difference."""
    rows = []

    def add(name: str, mine: Any, theirs: Any) -> None:
        diff = None
        if mine is not None and theirs not in (None, 0):
            diff = abs(float(mine) - float(theirs)) / abs(float(theirs))
        rows.append({"figure": name, "dealpulse": mine, "pandas": theirs, "relative_difference": diff})

    for key in ("won", "lost", "win_rate", "cycle_days_median", "cycle_days_mean"):
        add(key, ours[key], reference[key])
    add("win_rate_by_amount", ours["win_rate_by_amount"].get(currency), reference["win_rate_by_amount"])
    mine_avg = ours["avg_won_amount"].get(currency)
    add("avg_won_amount", Decimal(mine_avg) if mine_avg else None, reference["avg_won_amount"])
    for i, stage in enumerate(ours["stages"][:2]):
        add(f"stages.{stage['key']}.reached", stage["reached"], reference["stages"][i]["reached"])
        add(f"stages.{stage['key']}.lost_at", stage["lost_at"], reference["stages"][i]["lost_at"])
    return rows


def org_document(prospecting: str = "prospecting", engaging: str = "engaging") -> dict[str, Any]:
    """An organisation with the sample's four stages (probabilities 10 % and 40 % for the open ones)."""
    stage = lambda key, name, order, p, closed, won: {  # noqa: E731
        "key": key, "name": name, "order": order, "probability": p, "is_closed": closed, "is_won": won, "exit_questions": []}
    return {
        "organisation": {"name": "CRM sample", "domains": [EMAIL_DOMAIN]},
        "stages": [stage(prospecting, "Prospecting", 1, 10, False, False), stage(engaging, "Engaging", 2, 40, False, False),
                   stage("closed_won", "Won", 3, 100, True, True), stage("closed_lost", "Lost", 4, 0, True, False)],
    }


def _dealpulse(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "dealpulse.cli", *args], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"dealpulse {' '.join(args)} failed:\n{done.stderr}")
    return done.stdout


def run(pipeline: Path, teams: Path | None, out: Path) -> dict[str, Any]:
    """Convert, load into a fresh SQLite database through the CSV handles, and compare with pandas."""
    from dealpulse.services.org_setup import load_organisation
    from dealpulse.store.database import Database

    counts = convert(pipeline, teams, out)
    db_path = out / "crm_sample.db"
    db_path.unlink(missing_ok=True)
    url = f"sqlite:///{db_path}"
    database = Database.connect(url)
    database.upgrade()
    with database.uow() as uow:
        load_organisation(uow, org_document())
    database.dispose()
    env = {**os.environ, "DEALPULSE_DATABASE_URL": url, "DEALPULSE_VAR_DIR": str(out), "DEALPULSE_ENV": "test"}
    _dealpulse(env, "users", "import", str(out / "users.csv"))
    _dealpulse(env, "import", "accounts", str(out / "accounts.csv"))
    _dealpulse(env, "import", "opportunities", str(out / "opportunities_engaged.csv"))
    _dealpulse(env, "import", "opportunities", str(out / "opportunities.csv"))
    ours = json.loads(_dealpulse(env, "metrics", "--json"))
    rows = compare(ours, pandas_reference(pipeline))
    result = {"counts": counts, "comparison": rows}
    (out / "comparison.json").write_text(json.dumps(result, indent=2, default=str))
    return result


def main(argv: list[str] | None = None) -> None:
    """Command line: convert | run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["convert", "run"])
    parser.add_argument("pipeline", type=Path)
    parser.add_argument("--teams", type=Path, default=None)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.action == "convert":
        print(json.dumps(convert(args.pipeline, args.teams, args.out)))
        return
    result = run(args.pipeline, args.teams, args.out)
    print(f"{'figure':34} {'dealpulse':>14} {'pandas':>14} {'rel. diff':>10}")
    for row in result["comparison"]:
        diff = "-" if row["relative_difference"] is None else f"{100 * row['relative_difference']:.4f}%"
        print(f"{row['figure']:34} {row['dealpulse']!s:>14.14} {row['pandas']!s:>14.14} {diff:>10}")


if __name__ == "__main__":
    main()
