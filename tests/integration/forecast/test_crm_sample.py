"""A generated CRM file in the public sample's shape, converted by bench/crm_sample.py and imported through the CLI
handles: `dealpulse metrics --json` matches pandas on the raw file (counts and rates exactly, amounts and cycle days
within 0.5 %), and importing the same file again changes nothing."""

from __future__ import annotations

import csv
import importlib.util
import json
import random
from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from dealpulse.cli import build_cli
from dealpulse.services.org_setup import load_organisation

pytest.importorskip("pandas", reason="the independent check needs pandas (pyproject: the test extra)")

ROOT = Path(__file__).resolve().parents[3]


def _sample_module():
    spec = importlib.util.spec_from_file_location("crm_sample", ROOT / "bench" / "crm_sample.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _generate(path: Path, teams: Path, deals: int = 400, seed: int = 17) -> None:
    rng = random.Random(seed)
    agents = ["Ada Quinn", "Bo Reyes", "Cy Ortiz", "Di Park", "Ed Moss"]
    with teams.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sales_agent", "manager", "regional_office"])
        for i, agent in enumerate(agents):
            writer.writerow([agent, "Mia Hart" if i < 3 else "Max Vale", "Central" if i < 3 else "West"])
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["opportunity_id", "sales_agent", "product", "account", "deal_stage", "engage_date", "close_date", "close_value"])
        for i in range(deals):
            stage = rng.choices(["Won", "Lost", "Engaging", "Prospecting"], weights=[45, 30, 15, 10])[0]
            engaged = date(2024, 1, 1) + timedelta(days=rng.randrange(365))
            closed = engaged + timedelta(days=rng.randrange(1, 240))
            value = rng.randrange(40, 30000) if stage in ("Won", "Lost") else ""
            writer.writerow([f"OPP{i:05d}", rng.choice(agents), rng.choice(["GTX Basic", "MG Special", "GTK 500"]),
                             rng.choice(["Cancity", "Hatfan", "Zoomit", ""]) if stage != "Won" else rng.choice(["Cancity", "Hatfan"]),
                             stage, "" if stage == "Prospecting" else engaged.isoformat(),
                             closed.isoformat() if stage in ("Won", "Lost") else "", value])


@pytest.fixture
def sample(db, tmp_path, monkeypatch, var_dir, process_runtime):
    module = _sample_module()
    pipeline, teams = tmp_path / "sales_pipeline.csv", tmp_path / "sales_teams.csv"
    _generate(pipeline, teams)
    counts = module.convert(pipeline, teams, tmp_path / "out")
    with db.uow() as uow:
        org_id = load_organisation(uow, module.org_document())
    monkeypatch.setenv("DEALPULSE_DATABASE_URL", db.url)
    monkeypatch.setenv("DEALPULSE_VAR_DIR", str(var_dir))
    return module, pipeline, tmp_path / "out", str(org_id), counts


def _cli(*args: str) -> str:
    result = CliRunner().invoke(build_cli(), list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_metrics_of_an_imported_crm_file_match_pandas(sample):
    module, pipeline, out, org, counts = sample
    _cli("users", "import", str(out / "users.csv"), "--org", org)
    _cli("import", "accounts", str(out / "accounts.csv"), "--org", org)
    assert f"{counts['opportunities']} created" in _cli("import", "opportunities", str(out / "opportunities_engaged.csv"), "--org", org)
    _cli("import", "opportunities", str(out / "opportunities.csv"), "--org", org)
    again = _cli("import", "opportunities", str(out / "opportunities.csv"), "--org", org)
    assert f"0 created, 0 updated, {counts['opportunities']} unchanged" in again  # re-import by external_id: idempotent

    ours = json.loads(_cli("metrics", "--json", "--org", org))
    reference = module.pandas_reference(pipeline)
    assert (ours["won"], ours["lost"]) == (reference["won"], reference["lost"])
    assert ours["win_rate"] == reference["win_rate"]
    assert ours["win_rate_by_amount"]["USD"] == reference["win_rate_by_amount"]
    assert float(ours["avg_won_amount"]["USD"]) == pytest.approx(reference["avg_won_amount"], rel=0.005)
    assert ours["cycle_days_median"] == pytest.approx(reference["cycle_days_median"], rel=0.005)
    assert ours["cycle_days_mean"] == pytest.approx(reference["cycle_days_mean"], rel=0.005)
    assert [(s["reached"], s["lost_at"]) for s in ours["stages"]] == [(s["reached"], s["lost_at"]) for s in reference["stages"]]
    owners = {o["owner_email"]: o for o in ours["by_owner"]}
    assert set(owners) == set(reference["by_owner"])
    for email, theirs in reference["by_owner"].items():
        mine = owners[email]
        assert (mine["won"], mine["lost"], mine["win_rate"]) == (theirs["won"], theirs["lost"], theirs["win_rate"])
        assert mine["cycle_days_median"] == pytest.approx(theirs["cycle_days_median"], rel=0.005)
        assert float(mine["avg_won_amount"]["USD"]) == pytest.approx(theirs["avg_won_amount"], rel=0.005)


def test_a_window_keeps_the_match(sample):
    module, pipeline, out, org, _counts = sample
    for args in (["users", "import", str(out / "users.csv")], ["import", "accounts", str(out / "accounts.csv")],
                 ["import", "opportunities", str(out / "opportunities_engaged.csv")],
                 ["import", "opportunities", str(out / "opportunities.csv")]):
        _cli(*args, "--org", org)
    ours = json.loads(_cli("metrics", "--json", "--org", org, "--from", "2024-06-01", "--to", "2024-09-30"))
    reference = module.pandas_reference(pipeline, "2024-06-01", "2024-09-30")
    assert (ours["won"], ours["lost"], ours["win_rate"]) == (reference["won"], reference["lost"], reference["win_rate"])
    assert ours["cycle_days_mean"] == pytest.approx(reference["cycle_days_mean"], rel=0.005)
    table = _cli("metrics", "--org", org, "--from", "2024-06-01", "--to", "2024-09-30")
    assert f"won {reference['won']}  lost {reference['lost']}" in table
