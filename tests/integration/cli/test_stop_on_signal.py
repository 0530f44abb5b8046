"""`dealpulse demo`, `serve` and `worker` run as real processes stop on Ctrl+C (SIGINT) and on SIGTERM: exit code 0,
no process left behind. The deadlines are failure bounds only (the measured stop times are in the helper report),
never an assertion on speed."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

from dealpulse.config import PROJECT_ROOT
from dealpulse.sentiment.seed import current_seed_version

STOP_DEADLINE = 10  # seconds a stopped process may take before the test fails
START_DEADLINE = 600  # the demo seeds two years of history first; shared cores are slow
SIGNALS = [signal.SIGINT, signal.SIGTERM]
SERVING = re.compile(r"Serving on (http://127\.0\.0\.1:\d+)/")


@pytest.fixture
def db(sqlite_db):
    return sqlite_db


def environment(var_dir: Path, **extra: str) -> dict[str, str]:
    """The process's environment: this test's var folder, no inherited DEALPULSE_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEALPULSE_")}
    env.update(DEALPULSE_VAR_DIR=str(var_dir), HF_HUB_OFFLINE="1", **extra)
    return env


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """`dealpulse ARGS` with stdout and stderr in `log`."""
    with open(log, "wb") as out:
        return subprocess.Popen([sys.executable, "-m", "dealpulse.cli", *args], env=env, stdout=out, stderr=subprocess.STDOUT)


def wait_for_line(process: subprocess.Popen, log: Path, pattern: re.Pattern[str] | str) -> re.Match[str]:
    """Poll the log until `pattern` appears (fail if the process exits or the start deadline passes)."""
    deadline = time.monotonic() + START_DEADLINE
    regex = re.compile(pattern) if isinstance(pattern, str) else pattern
    while True:
        match = regex.search(log.read_text(errors="replace"))
        if match:
            return match
        assert process.poll() is None, f"exited early with {process.returncode}:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"never printed {regex.pattern!r}:\n{log.read_text()[-3000:]}"
        time.sleep(0.2)


def healthy(base: str) -> bool:
    """GET /healthz answers 200."""
    with urllib.request.urlopen(f"{base}/healthz", timeout=30) as response:
        return response.status == 200


def stop(process: subprocess.Popen, signum: int, log: Path) -> None:
    """Send `signum`; the process and every process it started must be gone within the deadline, exit code 0."""
    children = psutil.Process(process.pid).children(recursive=True)
    process.send_signal(signum)
    try:
        code = process.wait(timeout=STOP_DEADLINE)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        pytest.fail(f"still running {STOP_DEADLINE}s after {signal.Signals(signum).name}:\n{log.read_text()[-3000:]}")
    assert code == 0, log.read_text()[-3000:]
    _, alive = psutil.wait_procs(children, timeout=STOP_DEADLINE)
    assert alive == []


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_serve_stops_on_signal(settings, signum, tmp_path) -> None:
    env = environment(settings.var_dir, DEALPULSE_ENV="test", DEALPULSE_DATABASE_URL=settings.database_url)
    log = tmp_path / "serve.log"
    process = start(["serve", "--port", "0"], env, log)
    try:
        base = wait_for_line(process, log, SERVING).group(1)
        assert healthy(base)
        stop(process, signum, log)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert "Stopped in" in log.read_text()


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_worker_stops_on_signal(settings, signum, tmp_path) -> None:
    env = environment(settings.var_dir, DEALPULSE_ENV="test", DEALPULSE_DATABASE_URL=settings.database_url)
    log = tmp_path / "worker.log"
    process = start(["worker", "--queue", "default", "--workers", "1"], env, log)
    try:
        wait_for_line(process, log, "worker started")
        stop(process, signum, log)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert "worker stopped" in log.read_text()


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_demo_stops_on_signal(signum, tmp_path) -> None:
    cached = PROJECT_ROOT / "var" / "models" / current_seed_version()
    if not (cached / "training.json").exists():
        pytest.skip(f"the cached seed model {cached} is missing: run `make demo` once")
    models = tmp_path / "models"
    models.mkdir()
    (models / cached.name).symlink_to(cached.resolve())  # the demo reuses the cached seed model, never trains here
    env = environment(tmp_path, DEALPULSE_MODEL_DIR=str(models))
    log = tmp_path / "demo.log"
    process = start(["demo", "--port", "0"], env, log)
    try:
        base = wait_for_line(process, log, SERVING).group(1)
        assert healthy(base)
        stop(process, signum, log)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    text = log.read_text()
    assert "Who is who" in text and "admin    Priya Raman" in text
    assert "GET /healthz" not in text  # a quiet log: no per-request lines without --verbose


def test_serve_writes_json_log_lines_when_asked(settings, tmp_path) -> None:
    env = environment(settings.var_dir, DEALPULSE_ENV="test", DEALPULSE_DATABASE_URL=settings.database_url,
                      DEALPULSE_LOG_FORMAT="json")
    out, err = tmp_path / "serve.out", tmp_path / "serve.err"
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "dealpulse.cli", "serve", "--port", "0", "--verbose"],
                                   env=env, stdout=stdout, stderr=stderr)
    try:
        base = wait_for_line(process, out, SERVING).group(1)
        assert healthy(base)
        stop(process, signal.SIGTERM, err)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    entries = [json.loads(line) for line in err.read_text().splitlines()]  # every stderr line is one JSON object
    assert all({"time", "level", "logger", "message"} <= set(entry) for entry in entries)
    assert any(entry["logger"] == "werkzeug" and "GET /healthz" in entry["message"] for entry in entries)  # --verbose
    assert any(entry["message"].startswith("Stopped in") for entry in entries)
