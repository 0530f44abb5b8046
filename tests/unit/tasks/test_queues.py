"""The task queues: built from the settings given (not the environment at import), one process-wide set."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from dealpulse.config import Settings
from dealpulse.tasks import QueuesNotBuilt, build_queues, current_queues, forget_queues, queues_for
from dealpulse.tasks.scoring import score_new_activities
from dealpulse.tasks.sync import poll_mailboxes


def settings_in(path: Path, **overrides: object) -> Settings:
    return Settings(env="test", var_dir=path, **overrides).resolved()


def test_importing_the_tasks_touches_no_broker_and_loads_no_huey(tmp_path: Path) -> None:
    probe = "import sys, dealpulse.tasks, dealpulse.app; print('huey' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(sys.path), "DEALPULSE_VAR_DIR": str(tmp_path)})
    assert done.stdout.strip() == "False", done.stderr
    assert not list(tmp_path.glob("*.tasks.db"))


def test_enqueueing_before_the_queues_are_built_says_what_to_do() -> None:
    forget_queues()
    with pytest.raises(QueuesNotBuilt, match="build_queues"):
        score_new_activities([1])


def test_queues_live_in_the_settings_var_folder_and_the_last_build_serves_the_process(tmp_path: Path) -> None:
    first = build_queues(settings_in(tmp_path / "one"))
    assert (tmp_path / "one" / "dealpulse.tasks.db").exists() and (tmp_path / "one" / "dealpulse-training.tasks.db").exists()
    assert queues_for(settings_in(tmp_path / "two")) is first  # built once per process
    second = build_queues(settings_in(tmp_path / "two"))
    assert current_queues() is second is not first


def test_the_poll_schedule_comes_from_the_settings_given(tmp_path: Path) -> None:
    queues = build_queues(settings_in(tmp_path, poll_interval_minutes=20))

    def due_at(minute: int) -> set[str]:
        return {task.name for task in queues.default.read_periodic(datetime(2026, 1, 1, 9, minute))}

    assert "poll_mailboxes" in due_at(40) and "poll_mailboxes" not in due_at(45)
    assert "sweep_alerts" in due_at(45)  # every 15 minutes, whatever the settings
    assert queues.wrapper(poll_mailboxes).name == "poll_mailboxes"


def test_an_immediate_queue_runs_the_task_at_once(tmp_path: Path) -> None:
    build_queues(settings_in(tmp_path), immediate=True)
    assert score_new_activities([])() == 0  # nothing to score, but it ran here and returned its result
