"""A graceful stop of in-process consumers: a task that finishes within the grace period is done, one still running
is put back on its queue (not left in flight until a lease lapses), on the SQLite and the Redis broker."""

from __future__ import annotations

import dataclasses
import os
import threading
from typing import Iterator

import pytest
import redis

from dealpulse.tasks.consumers import ConsumerGroup
from dealpulse.tasks.queue import make_huey

REDIS_URL = os.environ.get("DEALPULSE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
WAIT = 60  # failure bound only: nothing here asserts how long anything took


@pytest.fixture
def db(sqlite_db):
    return sqlite_db


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.redis)])
def huey(request, settings) -> Iterator:
    """A real Huey queue with in-flight tracking, on the SQLite broker or on Redis."""
    if request.param == "redis":
        client = redis.Redis.from_url(REDIS_URL)
        client.flushdb()
        settings = dataclasses.replace(settings, broker_url=REDIS_URL)
    queue = make_huey(settings, "graceful-stop-test")
    yield queue
    if request.param == "redis":
        queue.storage.conn.connection_pool.disconnect()
        client.flushdb()
        client.close()


def test_a_task_still_running_at_stop_goes_back_on_the_queue(huey) -> None:
    started, release = threading.Event(), threading.Event()

    @huey.task()
    def slow() -> None:
        started.set()
        release.wait(WAIT)

    group = ConsumerGroup([(huey, 1, False)])
    slow()
    group.start()
    try:
        assert started.wait(WAIT), "the worker never took the task"
        assert len(huey.storage.in_flight()) == 1
        put_back = group.stop(grace_seconds=0.2)
    finally:
        release.set()
    assert put_back == 1
    assert huey.storage.in_flight() == []
    assert huey.pending_count() == 1  # another worker (or this one, restarted) runs it again


def test_a_task_that_finishes_within_the_grace_period_is_done_not_put_back(huey) -> None:
    started, release, finished = threading.Event(), threading.Event(), threading.Event()

    @huey.task()
    def quick() -> None:
        started.set()
        release.wait(WAIT)
        finished.set()

    group = ConsumerGroup([(huey, 1, False)])
    quick()
    group.start()
    assert started.wait(WAIT), "the worker never took the task"
    release.set()  # lets it finish while the group waits for it
    put_back = group.stop(grace_seconds=WAIT)
    assert finished.is_set()
    assert put_back == 0
    assert huey.storage.in_flight() == [] and huey.pending_count() == 0
