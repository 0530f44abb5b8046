"""`dealpulse winmodel train` and `dealpulse snapshots backfill` from the command line."""

import json
from datetime import timedelta

from click.testing import CliRunner
from sqlalchemy import func, select

from dealpulse.cli import build_cli
from dealpulse.store import PipelineSnapshot, utcnow


def test_training_without_history_says_why_and_backfill_writes_each_day(db, world, settings, monkeypatch):
    monkeypatch.setenv("DEALPULSE_ENV", "test")
    monkeypatch.setenv("DEALPULSE_DATABASE_URL", db.url)
    monkeypatch.setenv("DEALPULSE_VAR_DIR", str(settings.var_dir))
    runner = CliRunner()
    trained = runner.invoke(build_cli(), ["winmodel", "train", "--org", str(world.org_id), "--json"])
    assert trained.exit_code == 0, trained.output
    body = json.loads(trained.output)
    assert body["trained"] is False and body["note"].startswith("not enough history: 1 won and 0 lost")
    start = utcnow().date() - timedelta(days=3)
    filled = runner.invoke(build_cli(), ["snapshots", "backfill", "--org", str(world.org_id), "--from", start.isoformat()])
    assert filled.exit_code == 0, filled.output
    with db.uow() as uow:
        days = uow.s.scalar(select(func.count(func.distinct(PipelineSnapshot.day))).where(PipelineSnapshot.org_id == world.org_id))
    assert days == 4 and filled.output.strip().endswith("deal-days written")
    bad = runner.invoke(build_cli(), ["snapshots", "backfill", "--from", "2030-01-02", "--to", "2030-01-01", "--org", str(world.org_id)])
    assert bad.exit_code == 2 and "--from is after --to" in bad.output
