"""A worker's log: each task's start and finish with its name, id, arguments and duration; errors in context."""

from __future__ import annotations

import io
import logging
import re

import pytest

from dealpulse.tasks import build_queues
from dealpulse.tasks.alerts import evaluate_alerts
from dealpulse.tasks.sync import sync_mailbox_task
from dealpulse.tasks.worker_logs import configure_worker_logging


@pytest.fixture
def log() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
def worker(log, settings, process_runtime, restore_root_logging):
    """The default queue on the SQLite broker under the test's var folder, logging as `dealpulse worker` does."""
    queues = build_queues(settings)
    configure_worker_logging(queues.default, stream=log)
    return queues.default


@pytest.fixture
def restore_root_logging():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def run_next(huey) -> str:
    task = huey.dequeue()
    huey.execute(task)
    return task.id


def test_a_task_run_logs_its_start_and_its_finish_with_the_duration(worker, log) -> None:
    evaluate_alerts(None)
    task_id = run_next(worker)
    lines = log.getvalue().splitlines()
    context = f"[task=evaluate_alerts id={task_id} org_id=None]"
    assert any(context in line and line.endswith("started") for line in lines), lines
    assert any(context in line and re.search(r"finished in \d+\.\d{3}s$", line) for line in lines), lines


def test_a_failing_task_logs_the_error_with_its_task_and_mailbox(worker, log) -> None:
    sync_mailbox_task(424242)
    task_id = run_next(worker)
    lines = log.getvalue().splitlines()
    context = f"[task=sync_mailbox_task id={task_id} mailbox_id=424242]"
    assert any(context in line and "ERROR" in line and "LookupError: mailbox 424242 does not exist" in line for line in lines), lines
    assert any(context in line and "Traceback" not in line and "Unhandled exception" in line for line in lines), lines
