"""The `dealpulse` command: migrations on a fresh database, tokens, CSV import/export with bad rows."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from dealpulse.cli import build_cli


@pytest.fixture
def run_cli(db, var_dir, monkeypatch, process_runtime):
    """Invoke the CLI in-process against the test database."""
    monkeypatch.setenv("DEALPULSE_DATABASE_URL", db.url)
    monkeypatch.setenv("DEALPULSE_VAR_DIR", str(var_dir))
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(build_cli(), list(args), catch_exceptions=False)

    return invoke


def test_db_upgrade_on_a_fresh_sqlite_file(tmp_path):
    env = {**os.environ, "DEALPULSE_DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.db'}", "DEALPULSE_VAR_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "dealpulse.cli", "db", "upgrade"], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout
    again = subprocess.run([sys.executable, "-m", "dealpulse.cli", "db", "upgrade"], env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0


def test_db_upgrade_reports_an_unreachable_database_in_one_line(tmp_path):
    env = {**os.environ, "DEALPULSE_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none", "DEALPULSE_VAR_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "dealpulse.cli", "db", "upgrade"], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert result.stderr.startswith("error: cannot migrate") and len(result.stderr.strip().splitlines()) == 1


def test_secret_key_required_in_production(tmp_path):
    env = {**os.environ, "DEALPULSE_ENV": "production", "DEALPULSE_DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}"}
    env.pop("DEALPULSE_SECRET_KEY", None)
    result = subprocess.run([sys.executable, "-m", "dealpulse.cli", "db", "upgrade"], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "DEALPULSE_SECRET_KEY" in result.stderr


def test_token_create_prints_a_working_token(run_cli, world, app):
    result = run_cli("token", "create", "--user", "rep.a2@seller.example")
    token = result.output.strip()
    assert token.startswith("dp_")
    response = app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.json["email"] == "rep.a2@seller.example"
    unknown = CliRunner().invoke(build_cli(), ["token", "create", "--user", "ghost@seller.example"])
    assert unknown.exit_code != 0 and "no user" in unknown.output


def test_import_with_a_bad_row_writes_nothing(run_cli, world, tmp_path):
    csv_path = tmp_path / "opps.csv"
    csv_path.write_text(
        "name,account,owner_email,stage,amount,currency,close_date\n"
        "Good deal,Test Acme,rep.a1@seller.example,qualification,1000,USD,2027-01-31\n"
        "Bad deal,Test Acme,rep.a1@seller.example,qualification,-5,USD,2027-02-30\n"
    )
    result = CliRunner().invoke(build_cli(), ["import", "opportunities", str(csv_path), "--org", str(world.org_id)])
    assert result.exit_code != 0
    assert f"{csv_path}:3: amount" in result.output and f"{csv_path}:3: close_date" in result.output
    exported = run_cli("export", "opportunities", "--org", str(world.org_id)).output
    assert "Good deal" not in exported


def test_import_then_export_round_trips(run_cli, world, tmp_path):
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("name,domains,industry\nHooli,hooli.example;hooli-mail.example,Tech\n")
    assert "1 created" in run_cli("import", "accounts", str(accounts), "--org", str(world.org_id)).output
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("email,name,title,account\nGavin@Hooli.example,Gavin B,CEO,Hooli\n")
    assert "1 created" in run_cli("import", "contacts", str(contacts), "--org", str(world.org_id)).output
    opps = tmp_path / "opps.csv"
    opps.write_text("name,account,owner_email,stage,amount,currency,close_date,next_step,probability\n"
                    "Hooli platform,Hooli,rep.a1@seller.example,demo,25000,EUR,2027-03-01,Demo day,35\n")
    assert "1 created" in run_cli("import", "opportunities", str(opps), "--org", str(world.org_id)).output
    assert "1 unchanged" in run_cli("import", "opportunities", str(opps), "--org", str(world.org_id)).output
    out = tmp_path / "out.csv"
    run_cli("export", "opportunities", "--org", str(world.org_id), "-o", str(out))
    assert "Hooli platform,Hooli,rep.a1@seller.example,demo,25000.00,EUR,2027-03-01,Demo day,35" in out.read_text()
    assert "gavin@hooli.example,Gavin B,CEO,Hooli" in run_cli("export", "contacts", "--org", str(world.org_id)).output


def test_free_mail_domain_is_refused_for_an_account(run_cli, world, tmp_path):
    accounts = tmp_path / "accounts.csv"
    accounts.write_text("name,domains,industry\nSome Co,gmail.com,Tech\n")
    result = CliRunner().invoke(build_cli(), ["import", "accounts", str(accounts), "--org", str(world.org_id)])
    assert result.exit_code != 0 and "not a company domain" in result.output


def test_broken_csv_header_is_reported(run_cli, world, tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("nom,compte\nfoo,bar\n")
    result = CliRunner().invoke(build_cli(), ["import", "opportunities", str(path), "--org", str(world.org_id)])
    assert result.exit_code != 0 and "unknown column 'nom'" in result.output
