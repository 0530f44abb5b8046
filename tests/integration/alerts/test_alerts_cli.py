"""`dealpulse alerts run [--org]` and friends, in-process against the test database."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from dealpulse.cli import build_cli


@pytest.fixture
def run_cli(db, var_dir, monkeypatch, process_runtime):
    monkeypatch.setenv("DEALPULSE_DATABASE_URL", db.url)
    monkeypatch.setenv("DEALPULSE_VAR_DIR", str(var_dir))
    runner = CliRunner()
    return lambda *args: runner.invoke(build_cli(), list(args), catch_exceptions=False)


def test_alerts_run_for_one_organisation_then_all(run_cli, world, deals):
    deals.activity("a1_acme", days_ago=30)

    first = run_cli("alerts", "run", "--org", "Test Org")
    assert first.exit_code == 0, first.output
    assert "evaluated 4 deal(s)" in first.output and "alert(s) opened" in first.output
    assert deals.unresolved("a1_acme", "gone_dark") is not None

    again = run_cli("alerts", "run")
    assert again.exit_code == 0 and "evaluated 8 deal(s)" in again.output  # both organisations' open deals


def test_unknown_organisation_and_missing_smtp_are_clear_errors(run_cli, world):
    unknown = run_cli("alerts", "run", "--org", "Nope Inc")
    assert unknown.exit_code != 0 and "Nope Inc" in unknown.output
    digest = run_cli("alerts", "digest")
    assert digest.exit_code != 0 and "DEALPULSE_SMTP_URL" in digest.output


def test_bench_alerts_is_registered(run_cli):
    result = run_cli("bench", "alerts", "--help")
    assert result.exit_code == 0 and "--opportunities" in result.output


def test_the_periodic_sweep_task_evaluates_every_organisation(app, world, deals):
    from dealpulse.tasks.alerts import deliver_alert_webhooks, send_alert_digests, sweep_alerts

    deals.activity("a1_acme", days_ago=30)

    assert sweep_alerts.call_local() > 0
    assert deals.unresolved("a1_acme", "gone_dark") is not None
    assert sweep_alerts.call_local() == 0  # nothing new the second time
    assert send_alert_digests.call_local() == 0 and deliver_alert_webhooks.call_local() == 0  # neither is configured
