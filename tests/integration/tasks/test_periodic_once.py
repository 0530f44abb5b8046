"""Several workers on one broker: each periodic task is enqueued once per scheduled minute; results are not kept."""

from __future__ import annotations

import os
import threading
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest
import redis
from huey.consumer import Scheduler

from dealpulse.config import Settings
from dealpulse.tasks import Queues, build_queues

REDIS_URL = os.environ.get("DEALPULSE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def redis_client() -> redis.Redis:
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()


@pytest.fixture(params=["redis", "sqlite"])
def broker_settings(request, tmp_path: Path) -> Settings:
    """Settings of a deployment whose queues live on Redis, or on one SQLite file shared by its workers."""
    if request.param == "redis":
        request.applymarker(pytest.mark.redis)
        request.getfixturevalue("redis_client")
        return Settings(env="test", var_dir=tmp_path, broker_url=REDIS_URL).resolved()
    return Settings(env="test", var_dir=tmp_path, broker_url=f"sqlite:///{tmp_path / 'shared.tasks.db'}").resolved()


def schedule_in_two_workers_at(settings: Settings, minute: datetime) -> Queues:
    """Two worker processes' schedulers (default and scoring queues) check the periodic tasks for one minute at once."""
    workers = [build_queues(settings) for _ in range(2)]
    start = threading.Barrier(4)

    def tick(huey) -> None:
        start.wait()
        Scheduler(huey, None, 1, True).enqueue_periodic_tasks(minute)

    threads = [threading.Thread(target=tick, args=(huey,)) for queues in workers for huey in (queues.default, queues.scoring)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return workers[0]


def enqueued(queues: Queues) -> Counter:
    return Counter(task.name for huey in (queues.default, queues.scoring, queues.training) for task in huey.pending())


def test_two_workers_enqueue_each_periodic_task_once_per_minute(broker_settings) -> None:
    nine = datetime(2026, 3, 2, 9, 0)
    queue = schedule_in_two_workers_at(broker_settings, nine)
    once = {"poll_mailboxes": 1, "sweep_unscored_activities": 1, "sweep_alerts": 1, "deliver_alert_webhooks": 1}
    assert enqueued(queue) == once
    schedule_in_two_workers_at(broker_settings, nine.replace(second=40))  # a late tick of the same minute
    assert enqueued(queue) == once
    schedule_in_two_workers_at(broker_settings, nine.replace(minute=1))
    assert enqueued(queue) == once | {"deliver_alert_webhooks": 2}


def test_automatic_retraining_is_scheduled_where_periodic_tasks_run(broker_settings) -> None:
    queue = schedule_in_two_workers_at(broker_settings, datetime(2026, 3, 2, 9, 17))
    assert enqueued(queue)["retrain_when_ratings_accumulate"] == 1
    assert "retrain_when_ratings_accumulate" in {task.name for task in queue.default.pending()}  # scheduled here


@pytest.mark.redis
def test_running_a_task_leaves_no_result_in_redis(redis_client, tmp_path: Path) -> None:
    queue = build_queues(Settings(env="test", var_dir=tmp_path, broker_url=REDIS_URL).resolved()).default
    answer = queue.task(name="answer")(lambda: 42)
    for _ in range(3):
        answer()
        queue.execute(queue.dequeue())
    assert queue.pending_count() == 0
    left = sorted(key.decode() for key in redis_client.keys("*"))
    assert not [key for key in left if "result" in key or key.startswith("huey.r.")], left
