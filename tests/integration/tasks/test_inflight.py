"""A task taken from the queue stays visible in flight until it is done; a dead worker's tasks are re-queued once."""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import redis

from dealpulse.config import Settings
from dealpulse.tasks import build_queues

REDIS_URL = os.environ.get("DEALPULSE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
LEASE = 3  # the shortest lease the settings allow: a stopped worker's tasks come back within seconds
DEADLINE = 90  # generous: the machine may be busy; nothing below asserts on how long anything took


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
        return Settings(env="test", var_dir=tmp_path, broker_url=REDIS_URL, task_lease_seconds=LEASE).resolved()
    return Settings(env="test", var_dir=tmp_path, broker_url=f"sqlite:///{tmp_path / 'shared.tasks.db'}",
                    task_lease_seconds=LEASE).resolved()


class Worker:
    """One worker process's view of the default queue, with a `note` task that records what it ran."""

    def __init__(self, settings: Settings, done: list[str]):
        self.huey = build_queues(settings).default
        self.done = done

        def note(text: str) -> None:
            if text.startswith("fail"):
                raise ValueError(text)
            done.append(text)

        self.note = self.huey.task(name="note")(note)

    def take(self):
        return self.huey.dequeue()

    def run(self, task) -> None:
        self.huey.execute(task)

    def in_flight(self) -> list[bytes]:
        return self.huey.storage.in_flight()


def reap_until(worker: Worker, expected: int) -> int:
    """Run the worker's reaper (as its scheduler loop does) until `expected` tasks came back or the deadline passed."""
    moved, deadline = 0, time.monotonic() + DEADLINE
    while moved < expected and time.monotonic() < deadline:
        moved += worker.huey.storage.requeue_lapsed()
        time.sleep(0.2)
    return moved


def test_a_task_is_in_flight_from_when_it_is_taken_until_it_is_done_or_failed(broker_settings) -> None:
    done: list[str] = []
    worker = Worker(broker_settings, done)
    worker.note("hello")
    worker.note("fail on purpose")
    task = worker.take()
    assert worker.huey.pending_count() == 1 and len(worker.in_flight()) == 1  # taken, not lost
    worker.run(task)
    assert done == ["hello"] and worker.in_flight() == []
    worker.run(worker.take())  # the task raises: Huey logs it; it is done with, not redelivered
    assert worker.in_flight() == [] and worker.huey.pending_count() == 0
    assert worker.huey.storage.requeue_lapsed() == 0


def test_a_dead_workers_task_is_requeued_and_run_once_by_another_worker(broker_settings) -> None:
    done: list[str] = []
    doomed, survivor = Worker(broker_settings, done), Worker(broker_settings, done)
    doomed.note("the buyer wrote back")
    taken = doomed.take()
    assert survivor.huey.storage.requeue_lapsed() == 0  # its lease is held: nothing to re-queue
    assert survivor.take() is None
    doomed.huey.storage.stop_heartbeat()  # the process dies here: no acknowledgement, no more renewals

    assert reap_until(survivor, 1) == 1
    again = survivor.take()
    assert again.id == taken.id
    survivor.run(again)
    assert done == ["the buyer wrote back"]
    assert survivor.in_flight() == [] and survivor.huey.pending_count() == 0
    assert survivor.huey.storage.requeue_lapsed() == 0


def test_reapers_racing_requeue_each_orphan_exactly_once(broker_settings) -> None:
    done: list[str] = []
    doomed = Worker(broker_settings, done)
    reapers = [Worker(broker_settings, done) for _ in range(3)]
    for i in range(20):
        doomed.note(f"message {i}")
    taken = [doomed.take() for _ in range(20)]
    doomed.huey.storage.stop_heartbeat()

    moved = Counter()
    lock = threading.Lock()

    def reap(worker: Worker) -> None:
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            count = worker.huey.storage.requeue_lapsed()
            with lock:
                moved[id(worker)] += count
                if sum(moved.values()) >= 20:
                    return
            time.sleep(0.05)

    threads = [threading.Thread(target=reap, args=(worker,)) for worker in reapers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(moved.values()) == 20
    queued = [task.id for task in reapers[0].huey.pending()]
    assert sorted(queued) == sorted(task.id for task in taken)  # each once, none lost
    assert reapers[0].in_flight() == []
