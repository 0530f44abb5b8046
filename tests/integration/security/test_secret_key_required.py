"""Audit finding 1: no built-in secret outside an explicit demo/test environment (a public key forges everything)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from dealpulse.config import ConfigError, Settings
from dealpulse.crypto import SecretBox, derive_secret


def _env_without_secret(tmp_path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEALPULSE_")}
    env.update({"DEALPULSE_VAR_DIR": str(tmp_path), "DEALPULSE_DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}"}, **extra)
    return env


@pytest.mark.parametrize("environ", [{}, {"DEALPULSE_ENV": "development"}, {"DEALPULSE_ENV": "production"},
                                     {"DEALPULSE_DEMO": "1"}, {"DEALPULSE_ENV": "staging"}])
def test_settings_without_a_secret_are_refused_outside_demo_and_test(environ):
    with pytest.raises(ConfigError, match="DEALPULSE_SECRET_KEY"):
        Settings.from_env(environ)


@pytest.mark.parametrize("env", ["demo", "test"])
def test_demo_and_test_run_without_configuration(env):
    assert Settings.from_env({"DEALPULSE_ENV": env}).secret_key


def test_a_configured_secret_is_used_as_given():
    assert Settings.from_env({"DEALPULSE_SECRET_KEY": "s3cret-from-the-operator"}).secret_key == "s3cret-from-the-operator"


def test_secrets_are_never_derived_from_an_empty_key():
    settings = Settings.from_env({}, require_secret=False)
    assert settings.secret_key == ""
    with pytest.raises(ConfigError):
        SecretBox(settings)
    with pytest.raises(ConfigError):
        derive_secret(settings, "graph-client-state")


def test_the_app_factory_refuses_settings_without_a_secret():
    from dealpulse.app import create_app

    with pytest.raises(ConfigError):
        create_app(Settings.from_env({}, require_secret=False))


@pytest.mark.parametrize(
    "command",
    [
        [sys.executable, "-m", "dealpulse.cli", "serve", "--port", "1"],
        [sys.executable, "-m", "dealpulse.cli", "worker"],
        [sys.executable, "-m", "dealpulse.cli", "token", "create", "--user", "a@b.example"],
        [sys.executable, "-m", "dealpulse.cli", "sync", "--all"],
        [sys.executable, "-c", "import dealpulse.wsgi"],
    ],
    ids=["serve", "worker", "token", "sync", "wsgi"],
)
def test_entry_points_without_a_secret_exit_with_one_clear_line(tmp_path, command):
    result = subprocess.run(command, env=_env_without_secret(tmp_path), capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: DEALPULSE_SECRET_KEY is not set")


def test_wsgi_starts_in_the_test_environment_without_configuration(tmp_path):
    result = subprocess.run([sys.executable, "-c", "import dealpulse.wsgi"], env=_env_without_secret(tmp_path, DEALPULSE_ENV="test"),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_commands_that_never_touch_secrets_still_run(tmp_path):
    result = subprocess.run([sys.executable, "-m", "dealpulse.cli", "config"], env=_env_without_secret(tmp_path),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "DEALPULSE_SECRET_KEY" in result.stdout
