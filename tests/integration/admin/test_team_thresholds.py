"""Team thresholds set through the admin API and CLI change alert evaluation for that team's deals only."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from dealpulse.cli import build_cli
from dealpulse.services.alert_engine import run_alerts
from dealpulse.services.alert_snapshots import forget_percentiles
from dealpulse.store import Team
from tests.integration.alerts.conftest import Deals


@pytest.fixture
def deals(db, world) -> Deals:
    """Activity builder over the test organisation (as in the alert tests)."""
    forget_percentiles()
    return Deals(db, world)


def team(db, org_id: int, name: str) -> Team:
    """A team row, detached."""
    with db.uow() as uow:
        row = uow.s.scalar(select(Team).where(Team.org_id == org_id, Team.name == name))
        uow.s.expunge(row)
        return row


def test_gone_dark_threshold_of_one_team_leaves_the_other_alone(client, db, settings, world, deals):
    # Team A (rep.a1) and team B (rep.b1): both buyers last wrote 25 days ago; both deals are gone dark.
    deals.activity("a1_acme", days_ago=25)
    deals.activity("b1_acme", days_ago=25, owner="rep.b1")
    run_alerts(db, settings, world.org_id)
    assert deals.unresolved("a1_acme", "gone_dark") is not None
    assert deals.unresolved("b1_acme", "gone_dark") is not None

    team_a = team(db, world.org_id, "Test Team A")
    answer = client.patch(f"/api/v1/admin/teams/{team_a.id}", headers=world.auth("admin"),
                          json={"version": team_a.version, "thresholds": {"gone_dark_days": 28}})
    assert answer.status_code == 200 and answer.json["thresholds"]["gone_dark_days"] == 28
    run_alerts(db, settings, world.org_id)

    assert deals.unresolved("a1_acme", "gone_dark") is None  # 25 days is not dark for team A any more
    b_alert = deals.unresolved("b1_acme", "gone_dark")
    assert b_alert is not None and b_alert.evidence["threshold_days"] == 14
    assert team(db, world.other_org_id, "Other Team A").gone_dark_after_days == 21


def test_teams_set_on_the_command_line_changes_the_next_evaluation(db, settings, world, deals, var_dir, monkeypatch,
                                                                   process_runtime):
    deals.activity("b1_acme", days_ago=16, owner="rep.b1")
    run_alerts(db, settings, world.org_id)
    assert deals.unresolved("b1_acme", "gone_dark") is not None
    monkeypatch.setenv("DEALPULSE_DATABASE_URL", db.url)
    monkeypatch.setenv("DEALPULSE_VAR_DIR", str(var_dir))
    result = CliRunner().invoke(build_cli(), ["teams", "set", "Test Team B", "gone_dark_days=20", "--org", str(world.org_id)])
    assert result.exit_code == 0, result.output
    run_alerts(db, settings, world.org_id)
    assert deals.unresolved("b1_acme", "gone_dark") is None
