"""Two `dealpulse worker` processes on one Redis queue and PostgreSQL: one is SIGKILLed mid-sync, the other finishes
the task it had taken (re-queued once the dead worker's lease lapsed), after the mailbox's sync lease lapsed too.
Nothing is lost, nothing is stored twice; the assertions read the stored data, never the clock."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from typing import Callable, Iterator

import pytest
import redis
from sqlalchemy import select

from dealpulse.standins.faults import FaultPlan
from dealpulse.standins.google import GoogleStandIn
from dealpulse.store import Activity, Mailbox
from dealpulse.tasks import build_queues
from dealpulse.tasks.sync import sync_mailbox_task
from tests.integration.capture.conftest import activity_count, connect, raw_mail, source_count

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

REDIS_URL = os.environ.get("DEALPULSE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
REP = "rep.a1@seller.example"
BUYER = "buyer@acme.test.example"
TOTAL = 200
DEADLINE = 300  # generous: eight test runs may share two cores; nothing asserts how long recovery took


@pytest.fixture
def db(postgres_db):
    """PostgreSQL only: the workers are separate processes sharing it."""
    return postgres_db


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield client
    client.flushdb()


@pytest.fixture
def google() -> Iterator[GoogleStandIn]:
    with GoogleStandIn() as standin:
        yield standin


@pytest.fixture
def fleet_settings(settings, google, redis_client):
    """The deployment's settings: PostgreSQL, Huey on Redis, the Google stand-in; short leases so recovery is quick."""
    return dataclasses.replace(settings, **google.settings_overrides(), broker_url=REDIS_URL, task_lease_seconds=3,
                               sync_lease_seconds=6, sync_batch_size=10)


def environment(settings) -> dict[str, str]:
    """The environment a `dealpulse worker` process of this deployment runs with."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEALPULSE_")}
    env.update({f.metadata["env"]: str(getattr(settings, f.name)) for f in dataclasses.fields(settings)
                if getattr(settings, f.name) not in ("", None)})
    env["DEALPULSE_DEMO"] = "false"
    return env


def start_worker(settings) -> subprocess.Popen:
    """A default-queue worker process (sync, alerts; no model) with one worker thread."""
    return subprocess.Popen([sys.executable, "-m", "dealpulse.cli", "worker", "--queue", "default", "--workers", "1"],
                            env=environment(settings), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_for(condition: Callable[[], bool], what: str, *workers: subprocess.Popen) -> None:
    """Poll `condition` until it holds; fail (with the workers' logs) if the deadline passes or a worker exits."""
    deadline = time.monotonic() + DEADLINE
    while not condition():
        for worker in workers:
            assert worker.poll() is None, f"a worker exited while waiting for {what}: {worker.stderr.read().decode()}"
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.1)


def test_a_worker_killed_mid_sync_loses_nothing_and_the_other_worker_finishes_it(db, world, fleet_settings, google) -> None:
    box = connect(db, fleet_settings, google, REP)
    expected = set()
    for i in range(TOTAL):
        message_id = f"kill-{i}@acme.test.example"
        google.add_message(REP, raw_mail(BUYER, [REP], subject=f"Update {i}", message_id=message_id))
        expected.add(f"mid:{message_id}")
    google.faults = FaultPlan(1.0, kinds=("slow",), slow_delay=0.25)  # every request slow: time to kill mid-sync
    queue = build_queues(fleet_settings).default

    doomed = start_worker(fleet_settings)
    survivor = None
    try:
        sync_mailbox_task(box)
        wait_for(lambda: activity_count(db) >= 30, "the first worker to store part of the mailbox", doomed)
        assert len(queue.storage.in_flight()) == 1  # the sync task: taken and visible, not popped away
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(timeout=60)
        stored_at_kill = activity_count(db)
        assert stored_at_kill < TOTAL, "the sync finished before the kill: nothing was tested"
        with db.uow() as uow:
            assert uow.s.get(Mailbox, box).sync_state == "syncing"  # the dead worker's mailbox lease is still there

        google.faults = FaultPlan()
        survivor = start_worker(fleet_settings)

        def mailbox_done() -> bool:
            with db.uow() as uow:
                idle = uow.s.get(Mailbox, box).sync_state == "idle"
            return idle and activity_count(db) == TOTAL and not queue.storage.in_flight() and queue.pending_count() == 0

        wait_for(mailbox_done, "the surviving worker to finish the mailbox", survivor)
    finally:
        for worker in (doomed, survivor):
            if worker is not None:
                if worker.poll() is None:
                    worker.kill()
                worker.wait(timeout=60)
                worker.stderr.close()

    with db.uow() as uow:
        keys = list(uow.s.scalars(select(Activity.dedupe_key)))
    assert len(keys) == len(set(keys)) == TOTAL  # nothing stored twice
    assert set(keys) == expected  # nothing lost
    assert source_count(db, box) == TOTAL
