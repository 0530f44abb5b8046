"""Worker logs: a line when each task starts and finishes (name, id, arguments, duration), errors with their task.

Every line a task's code logs while it runs carries the same `task=… id=… mailbox_id=…` context, so "mailbox 7: …"
lines and tracebacks say which task and which mailbox they belong to.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, TextIO

from ..log_format import make_formatter
from .queue import task_signature

if TYPE_CHECKING:
    from huey import Huey

log = logging.getLogger("dealpulse.worker")
FORMAT = "%(asctime)s %(levelname)s %(name)s %(task_context)s%(message)s"
_running = threading.local()  # the task this worker thread is executing: its context and when it started


class TaskContext(logging.Filter):
    """Adds the running task's context (or nothing outside a task) to every record as `task_context`."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Always keeps the record."""
        context = getattr(_running, "context", "")
        record.task_context = f"[{context}] " if context else ""
        return True


def describe(task: Any) -> str:
    """`task=<name> id=<id>` and its arguments by parameter name (long lists shortened to their size)."""
    parts = [f"task={task.name}", f"id={task.id}"]
    args, kwargs = task.args, task.kwargs
    signature = task_signature(task.name)
    try:
        bound = signature.bind_partial(*args, **kwargs).arguments if signature else dict(enumerate(args), **kwargs)
    except TypeError:
        bound = dict(enumerate(args), **kwargs)
    for name, value in bound.items():
        shown = f"[{len(value)} items]" if isinstance(value, (list, tuple)) and len(value) > 5 else repr(value)
        parts.append(f"{name}={shown}")
    return " ".join(parts)


def configure_worker_logging(huey: Huey, level: int = logging.INFO, stream: TextIO | None = None, log_format: str = "text") -> None:
    """Log to stderr (or `stream`) with the task context, and log each task's start, finish (with duration), failure.

    `log_format` is DEALPULSE_LOG_FORMAT: `json` writes one JSON object per line.
    """
    from huey import signals  # noqa: PLC0415 - huey loads redis and psycopg: only in the worker

    root = logging.getLogger()
    if not any(getattr(h, "dealpulse_worker", False) and getattr(h, "stream", None) is (stream or sys.stderr) for h in root.handlers):
        handler = logging.StreamHandler(stream or sys.stderr)  # one handler however many queues the process works
        handler.setFormatter(make_formatter(log_format, FORMAT))
        handler.addFilter(TaskContext())
        handler.dealpulse_worker = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("huey").setLevel(logging.WARNING)  # its own per-task lines would repeat ours without context
    logging.getLogger("huey.consumer").setLevel(level)

    not_an_end = {signals.SIGNAL_ENQUEUED, signals.SIGNAL_SCHEDULED}

    @huey.signal()
    def on_signal(signal: str, task: Any, *args: Any) -> None:
        if signal == signals.SIGNAL_EXECUTING:
            _running.context, _running.task_id, _running.started = describe(task), task.id, time.monotonic()
            log.info("started")
            return
        if signal in not_an_end or getattr(_running, "task_id", None) != task.id:
            return  # e.g. a sync task the poll enqueues while it runs
        seconds = time.monotonic() - _running.started
        if signal == signals.SIGNAL_COMPLETE:
            log.info("finished in %.3fs", seconds)
        elif signal == signals.SIGNAL_ERROR:
            log.error("failed after %.3fs: %s: %s", seconds, type(args[0]).__name__ if args else "error", args[0] if args else "")
        else:
            log.warning("%s after %.3fs", signal, seconds)
        _running.context, _running.task_id = "", None
