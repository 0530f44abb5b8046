"""Long-running commands (serve, demo, worker): their logs, and a prompt, graceful stop on Ctrl+C (SIGINT) or SIGTERM.

The web server runs in the main thread; both signals raise KeyboardInterrupt there, which ends werkzeug's
`serve_forever`; then the in-process task consumers (demo) are stopped: the tasks in hand get a short grace period
and those still running are put back on their queue. The worker's main thread waits for a signal and does the same.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from types import FrameType
from typing import Callable

import click
from flask import Flask
from werkzeug.serving import make_server

from ..log_format import make_formatter
from ..tasks.consumers import ConsumerGroup

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
HEALTH_CHECK_SECONDS = 10.0
log = logging.getLogger("dealpulse.serve")


def configure_logging(log_format: str, *, verbose: bool) -> None:
    """Log to stderr as text or JSON; per-request lines (werkzeug) only with `verbose`."""
    root = logging.getLogger()
    if not any(getattr(handler, "dealpulse_serving", False) for handler in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(make_formatter(log_format, TEXT_FORMAT))
        handler.dealpulse_serving = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.getLogger("werkzeug").setLevel(logging.INFO if verbose else logging.WARNING)
    logging.getLogger("huey").setLevel(logging.WARNING)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def serve_until_stopped(app: Flask, host: str, port: int, consumers: ConsumerGroup | None = None,
                        on_stop: Callable[[], None] | None = None) -> None:
    """Serve `app` (and run `consumers`) until SIGINT or SIGTERM; then stop the consumers and call `on_stop`."""
    server = make_server(host, port, app, threaded=True)
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        if consumers is not None:
            consumers.start()
        click.echo(f"Serving on http://{host}:{server.server_port}/ - press Ctrl+C to stop.")
        server.serve_forever()  # returns on KeyboardInterrupt (either signal) and closes the socket
    except KeyboardInterrupt:  # a signal before the server loop started
        server.server_close()
    finally:
        started = time.monotonic()
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl+C must not interrupt the clean-up
        try:
            put_back = consumers.stop() if consumers is not None else 0
            if on_stop is not None:
                on_stop()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        log.info("Stopped in %.1fs; %d unfinished task(s) put back on the queue.", time.monotonic() - started, put_back)


def work_until_stopped(consumers: ConsumerGroup) -> int:
    """Run `consumers` until SIGINT or SIGTERM, replacing dead threads; then stop them; how many tasks were put back."""
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        consumers.start()
        logging.getLogger("dealpulse.worker").info("worker started; Ctrl+C or SIGTERM stops it")
        while not stop.wait(HEALTH_CHECK_SECONDS):
            consumers.check_health()
        started = time.monotonic()
        put_back = consumers.stop()
        logging.getLogger("dealpulse.worker").info("worker stopped in %.1fs; %d unfinished task(s) put back on the queue",
                                                   time.monotonic() - started, put_back)
        return put_back
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def exit_now(code: int = 0) -> None:
    """End the process once everything is stopped and flushed, skipping the interpreter's slow teardown.

    With the tone model's libraries loaded (torch, onnxruntime), finalising the interpreter took 5-7 s after the
    server and consumers had already stopped; every task is finished or back on its queue, every transaction is
    committed, and the logs and standard streams are flushed here first.
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
