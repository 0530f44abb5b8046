"""The fleet run, short: gunicorn, two default workers and a scoring worker on Redis and PostgreSQL, three mailboxes
receiving mail for a minute, one worker SIGKILLed half way. Every message is stored exactly once and scored, and each
deal whose latest buyer email is strongly negative shows its alert through the API; never a timing assertion."""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import sys
from pathlib import Path
from types import ModuleType
from typing import Iterator

import pytest
import redis

from dealpulse.config import PROJECT_ROOT, Settings
from tests.fixtures.tiny_model.fixtures import seed_model_dir  # noqa: F401 - fixture

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.slow]

REDIS_URL = os.environ.get("DEALPULSE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def load_fleet_bench() -> ModuleType:
    """bench/bench_fleet.py, loaded as `dealpulse bench fleet` loads it."""
    path = PROJECT_ROOT / "bench" / "bench_fleet.py"
    spec = importlib.util.spec_from_file_location("bench_fleet", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()


@pytest.fixture
def fleet_settings(tmp_path: Path, seed_model_dir: Path) -> Settings:  # noqa: F811
    """Throwaway settings whose model folder holds a copy of the seed version (no lock shared with other runs)."""
    models = tmp_path / "models"
    shutil.copytree(seed_model_dir, models / seed_model_dir.name)
    return Settings(env="test", var_dir=tmp_path, model_dir=models).resolved()


def test_a_short_fleet_run_with_a_killed_worker_stores_each_message_once_and_shows_every_alert(
    fleet_settings, postgres_db, redis_client,
) -> None:
    result = load_fleet_bench().main(fleet_settings, database_url=postgres_db.url, broker_url=REDIS_URL, mailboxes=3,
                                     rate=4, workers=2, minutes=1, port=free_port(), kill_worker=True, settle_minutes=5,
                                     quiet=True)

    assert [event["event"] for event in result["events"]] == ["SIGKILL default-0"]
    assert result["messages"] == 12
    assert result["lost"] == 0, result["lost_ids"]
    assert result["duplicated"] == 0
    assert result["unscored"] == 0
    assert result["arrival_to_stored"]["count"] == 12 - result["kinds"]["noise"] + result["noise_stored"]
    assert result["alerts_expected"] >= 1  # each mailbox's last message is strongly negative
    assert result["alerts_never_seen"] == 0
