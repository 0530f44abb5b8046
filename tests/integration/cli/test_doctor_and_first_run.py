"""Issue #16: `dealpulse doctor` says what to fix and exits non-zero; `serve` on an empty database prints a setup link."""

from __future__ import annotations

import dataclasses
import threading

import pytest
from click.testing import CliRunner
from werkzeug.serving import make_server

from dealpulse.cli import build_cli
from dealpulse.commands import doctor
from dealpulse.commands.core import setup_link
from dealpulse.services.first_run import setup_token_valid
from tests.builders import build_world

SECRET = "x" * 48
OFFLINE_CHECKS = tuple(c for c in doctor.CHECKS if c is not doctor.check_addin_urls)  # no off-box requests in tests


@pytest.fixture
def ready(settings):
    """Settings a real deployment would have (the add-in URLs are checked separately)."""
    return dataclasses.replace(settings, env="production", secret_key=SECRET, google_client_id="cid", google_client_secret="cs",
                               base_url="https://dealpulse.seller.example")


def test_a_ready_configuration_passes_every_check_but_reachability(ready):
    findings = {f.check: f for f in doctor.run_checks(ready, OFFLINE_CHECKS)}
    assert all(f.ok for f in findings.values()), findings


@pytest.mark.parametrize(("change", "check", "says"), [
    ({"env": "test"}, "secret", "public demo/test key"),
    ({"secret_key": "short"}, "secret", "5 characters"),
    ({"google_client_secret": ""}, "oauth", "not both"),
    ({"google_client_id": "", "google_client_secret": ""}, "oauth", "no sign-in provider"),
    ({"base_url": "http://dealpulse.seller.example"}, "base_url", "is not https"),
    ({"broker_url": "redis://127.0.0.1:1/0"}, "broker", "not reachable"),
    ({"database_url": "postgresql+psycopg://nobody@127.0.0.1:1/none"}, "database", "not reachable"),
])
def test_each_problem_is_named_with_a_fix(ready, change, check, says):
    found = next(f for f in doctor.run_checks(dataclasses.replace(ready, **change), OFFLINE_CHECKS) if f.check == check)
    assert not found.ok and says in found.detail and found.fix


def test_an_unmigrated_database_is_reported(ready, tmp_path):
    found = doctor.check_database(dataclasses.replace(ready, database_url=f"sqlite:///{tmp_path / 'empty.db'}"))
    assert not found.ok and "dealpulse db upgrade" in found.fix


def test_add_in_urls_are_fetched_from_the_base_url(app, settings):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        up = doctor.check_addin_urls(dataclasses.replace(settings, base_url=f"http://127.0.0.1:{server.server_port}"))
    finally:
        server.shutdown()
        thread.join(timeout=10)
    down = doctor.check_addin_urls(dataclasses.replace(settings, base_url=f"http://127.0.0.1:{server.server_port}"))
    assert up.ok, up
    assert not down.ok and "not reachable" in down.detail


def test_the_doctor_command_exits_1_and_lists_what_to_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("DEALPULSE_ENV", "test")
    monkeypatch.setenv("DEALPULSE_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("DEALPULSE_DATABASE_URL", f"sqlite:///{tmp_path / 'none.db'}")
    result = CliRunner().invoke(build_cli(), ["doctor"])
    assert result.exit_code == 1
    assert "PROBLEM database" in result.output and "fix: run `dealpulse db upgrade`" in result.output
    assert "ok      broker" in result.output


def test_serve_prints_a_one_time_setup_link_only_on_an_empty_database(settings, db, process_runtime):
    link = setup_link(settings)
    assert link is not None and link.startswith(settings.base_url + "/setup?token=")
    token = link.split("token=")[1]
    assert setup_token_valid(settings.var_dir, token)
    again = setup_link(settings)
    assert not setup_token_valid(settings.var_dir, token)  # a new start replaces the link
    assert setup_token_valid(settings.var_dir, again.split("token=")[1])
    build_world(db)
    assert setup_link(settings) is None
