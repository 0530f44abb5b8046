"""Learning-from-reps fixtures: the CLI on the test database, tiny and real tone models."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from dealpulse.cli import build_cli
from tests.fixtures.tiny_model.fixtures import seed_model_dir, tiny_base, tiny_registry, tiny_versions  # noqa: F401


@pytest.fixture
def cli(settings, db, monkeypatch, process_runtime, inline_queues):
    """Invoke `dealpulse` with the test's settings in the environment (tasks run inline)."""
    monkeypatch.setenv("DEALPULSE_ENV", "test")
    monkeypatch.setenv("DEALPULSE_VAR_DIR", str(settings.var_dir))
    monkeypatch.setenv("DEALPULSE_DATABASE_URL", db.url)
    monkeypatch.setenv("DEALPULSE_MODEL_DIR", str(settings.model_dir))

    def invoke(*args: str):
        return CliRunner().invoke(build_cli(), list(args), catch_exceptions=False)

    return invoke
