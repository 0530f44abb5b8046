"""The mailbox CLI: add with a refresh token, status in words, sync, and clear errors for bad input."""

from __future__ import annotations

import json

from click.testing import CliRunner

from dealpulse.cli import build_cli
from dealpulse.standins.google import GoogleStandIn

from .conftest import activity_count, raw_mail

REP = "rep.a1@seller.example"
BUYER = "buyer@acme.test.example"


def _env(settings, google: GoogleStandIn) -> dict[str, str]:
    env = {"DEALPULSE_ENV": "test", "DEALPULSE_VAR_DIR": str(settings.var_dir), "DEALPULSE_DATABASE_URL": settings.database_url}
    env.update({"DEALPULSE_" + k.upper(): str(v) for k, v in google.settings_overrides().items()})
    return env


def test_add_status_and_sync_from_the_command_line(db, world, settings, google):
    token = google.add_user(REP)
    google.add_message(REP, raw_mail(BUYER, [REP], subject="From the CLI"))
    runner, cli, env = CliRunner(), build_cli(), _env(settings, google)

    added = runner.invoke(cli, ["mailbox", "add", "--provider", "gmail", "--address", REP.upper(), "--refresh-token", token], env=env)
    synced = runner.invoke(cli, ["sync", "--mailbox", REP], env=env)
    status = runner.invoke(cli, ["mailbox", "status", "--json"], env=env)

    assert added.exit_code == 0, added.output
    assert synced.exit_code == 0 and "idle; 1 new" in synced.output, synced.output
    (row,) = json.loads(status.output)
    assert row["address"] == REP and row["state"] == "idle" and row["last_synced_at"]
    assert activity_count(db) == 1
    assert token not in status.output


def test_bad_input_gets_one_clear_line_and_changes_nothing(db, world, settings, google):
    runner, cli, env = CliRunner(), build_cli(), _env(settings, google)

    unknown_user = runner.invoke(cli, ["mailbox", "add", "--provider", "gmail", "--address", "nobody@x.example", "--refresh-token", "t"], env=env)
    bad_address = runner.invoke(cli, ["mailbox", "add", "--provider", "gmail", "--address", "not-an-address", "--refresh-token", "t"], env=env)
    no_target = runner.invoke(cli, ["sync"], env=env)
    unknown_box = runner.invoke(cli, ["sync", "--mailbox", "999"], env=env)

    for result in (unknown_user, bad_address, no_target, unknown_box):
        assert result.exit_code != 0
        assert "Traceback" not in result.output and "error" in result.output.lower()
    assert "no DealPulse user" in unknown_user.output
    assert "not an email address" in bad_address.output
    empty = runner.invoke(cli, ["mailbox", "status"], env=env)
    assert "no mailboxes connected" in empty.output
