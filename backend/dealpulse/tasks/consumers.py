"""In-process Huey consumers that stop when told: the worker command and the demo run them, and own the signals.

Huey's `Consumer.start()` installs SIGINT/SIGTERM/SIGHUP handlers that only record the signal for its own
`Consumer.run()` loop to act on. A process that starts consumers as threads and keeps its main thread for something
else (the demo's web server, a second queue of the worker) therefore ignored Ctrl+C and SIGTERM. Here the consumers
never touch the signal handlers: the entry point handles the signals and calls `ConsumerGroup.stop`, which stops
every consumer, lets the tasks in hand finish for a short grace period, and puts those still running back on their
queue (`InFlightStorage.release`), so another worker (or this one, restarted) runs them again.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from .inflight import InFlightStorage

if TYPE_CHECKING:
    from huey import Huey

log = logging.getLogger(__name__)

DEFAULT_GRACE_SECONDS = 2.0  # how long the tasks in hand may take to finish before they are put back


def _quiet_consumer(huey: Huey, workers: int, periodic: bool) -> Any:
    """A threaded Huey consumer that leaves the process's signal handlers alone."""
    from huey.consumer import Consumer  # noqa: PLC0415 - huey loads redis and psycopg: only where consumers run

    class SignalFreeConsumer(Consumer):
        def _set_signal_handlers(self) -> None:
            """The entry point owns SIGINT and SIGTERM (see the module docstring)."""

    return SignalFreeConsumer(huey, workers=workers, worker_type="thread", periodic=periodic)


class ConsumerGroup:
    """Threaded consumers of several queues in this process: start, keep healthy, stop gracefully."""

    def __init__(self, queues: list[tuple[Huey, int, bool]]):
        """`queues`: (Huey instance, worker threads, run its periodic tasks) per queue."""
        self.consumers = [_quiet_consumer(huey, workers, periodic) for huey, workers, periodic in queues]

    def start(self) -> None:
        """Start every consumer's scheduler and worker threads."""
        for consumer in self.consumers:
            consumer.start()

    def check_health(self) -> None:
        """Replace worker or scheduler threads that died."""
        for consumer in self.consumers:
            consumer.check_worker_health()

    def busy_threads(self) -> int:
        """Worker and scheduler threads still running."""
        return sum(thread.is_alive() for consumer in self.consumers for thread in self._threads(consumer))

    def stop(self, grace_seconds: float = DEFAULT_GRACE_SECONDS) -> int:
        """Stop taking tasks, wait up to `grace_seconds` for those in hand, put back the rest; how many were put back."""
        for consumer in self.consumers:
            consumer.stop_flag.set()
        deadline = time.monotonic() + grace_seconds
        for consumer in self.consumers:
            for thread in self._threads(consumer):
                thread.join(max(deadline - time.monotonic(), 0))
        put_back = 0
        for consumer in self.consumers:
            storage = consumer.huey.storage
            if isinstance(storage, InFlightStorage):
                try:
                    put_back += storage.release()
                except Exception:  # the broker is gone: the lease lapses and another worker's reaper re-queues them
                    log.warning("could not put the tasks in hand back on %s", consumer.huey.name, exc_info=True)
        if put_back:
            log.warning("put %d unfinished task(s) back on the queue", put_back)
        return put_back

    @staticmethod
    def _threads(consumer: Any) -> list:
        return [thread for _, thread in consumer.worker_threads] + [consumer.scheduler]
