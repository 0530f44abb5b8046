"""The three Huey queues, built from settings by `build_queues`, and the task declarations that go on them.

Task modules declare their functions with `@task()` / `@periodic_task(Cron(...))`; nothing touches a broker at
import, and Huey itself (which loads the redis and psycopg clients) is imported only when the queues are built.
`build_queues(settings)` makes the Huey instances on the configured broker, registers every declared task on them
and makes them the process's queues; calling a declared task then enqueues it there. The worker calls it; the web
app and the CLI commands that enqueue call `queues_for(settings)` (build unless built); tests build immediate ones.
"""

from __future__ import annotations

import inspect
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import update_wrapper
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Generic, ParamSpec, TypeVar

from ..config import Settings
from .inflight import AcknowledgingHuey, RedisInFlight, SqliteInFlight

if TYPE_CHECKING:
    from huey import Huey
    from huey.api import Result, TaskWrapper

P = ParamSpec("P")
R = TypeVar("R")

DEFAULT = "dealpulse"  # sync, alerts, webhooks, the periodic sweeps: latency-sensitive and light (no model)
SCORING = "dealpulse-scoring"  # tone scoring: only its workers load the model
TRAINING = "dealpulse-training"  # model training, so a long run never holds up scoring
QUEUE_NAMES = {"default": DEFAULT, "scoring": SCORING, "training": TRAINING}  # `dealpulse worker --queue` names


@dataclass(frozen=True)
class Cron:
    """When a periodic task runs (UTC), in crontab fields: Cron(minute="*/15"), Cron(minute="0", hour="7")."""

    minute: str = "*"
    hour: str = "*"


@dataclass(frozen=True)
class ScheduleFromSettings:
    """A periodic schedule that depends on the settings (e.g. the polling interval), made when the queues are."""

    make: Callable[[Settings], Cron]


Schedule = Cron | ScheduleFromSettings


class QueuesNotBuilt(RuntimeError):
    """A task was enqueued before `build_queues` ran in this process."""


class DeclaredTask(Generic[P, R]):
    """A task function and the queue it runs on; calling it enqueues it on the process's queues."""

    def __init__(self, fn: Callable[P, R], queue: str, schedule: Schedule | None = None):
        self.fn = fn
        self.queue = queue
        self.schedule = schedule
        update_wrapper(self, fn)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Result | None:
        """Enqueue the task (run at once when the queue is immediate); returns Huey's result handle."""
        return current_queues().wrapper(self)(*args, **kwargs)

    def call_at(self, eta: datetime, *args: P.args, **kwargs: P.kwargs) -> Result | None:
        """Enqueue the task to run at `eta` (the consumer keeps it on its schedule until then)."""
        return current_queues().wrapper(self).schedule(args, kwargs, eta=eta)

    def call_local(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run the task in this process, now."""
        return self.fn(*args, **kwargs)


_declared: list[DeclaredTask] = []


def task(queue: str = DEFAULT) -> Callable[[Callable[P, R]], DeclaredTask[P, R]]:
    """Declare a task on `queue` (DEFAULT, SCORING or TRAINING)."""

    def declare(fn: Callable[P, R]) -> DeclaredTask[P, R]:
        declared = DeclaredTask(fn, queue)
        _declared.append(declared)
        return declared

    return declare


def periodic_task(schedule: Schedule, queue: str = DEFAULT) -> Callable[[Callable[P, R]], DeclaredTask[P, R]]:
    """Declare a task that `queue`'s scheduler runs on `schedule` (DEFAULT or SCORING: training workers schedule nothing).

    Work that belongs on the training queue is scheduled on the default queue and enqueues its training task there.
    """

    def declare(fn: Callable[P, R]) -> DeclaredTask[P, R]:
        declared = DeclaredTask(fn, queue, schedule)
        _declared.append(declared)
        return declared

    return declare


def task_signature(name: str) -> inspect.Signature | None:
    """The parameters of the declared task called `name` (None if there is none), for the worker's log lines."""
    for declared in _declared:
        if declared.__name__ == name:
            return inspect.signature(declared.fn)
    return None


@dataclass
class Queues:
    """The process's Huey instances (`default`, `scoring`, `training`) with every declared task registered on them."""

    default: Huey
    scoring: Huey
    training: Huey
    _wrappers: dict[int, TaskWrapper] = field(default_factory=dict)

    def huey(self, queue: str) -> Huey:
        """The Huey instance named `queue`."""
        return {TRAINING: self.training, SCORING: self.scoring}.get(queue, self.default)

    def wrapper(self, declared: DeclaredTask) -> TaskWrapper:
        """Huey's handle of a declared task."""
        return self._wrappers[id(declared)]


CLAIM_SECONDS = 3600  # a periodic run's claim outlives its minute by far, then Redis drops it
PRUNE_AFTER = timedelta(hours=1)  # SQLite keeps claims as rows: older ones are deleted as new ones are made


class OncePerPeriod:
    """Huey mixin: each periodic task is enqueued once per scheduled minute however many workers run the scheduler.

    Every worker's scheduler checks the periodic tasks each minute; the first to claim `periodic:<minute>:<task>` in
    the broker enqueues it, the others skip it. Results are never stored (nothing reads them), so none pile up.
    """

    def read_periodic(self, timestamp: datetime | None) -> list:
        """The periodic tasks due at `timestamp` that this scheduler claimed for that minute."""
        timestamp = timestamp or self._get_timestamp()  # type: ignore[attr-defined]
        due = super().read_periodic(timestamp)  # type: ignore[misc]
        return [task for task in due if self.claim(timestamp.replace(second=0, microsecond=0), task.name)]

    def claim(self, minute: datetime, name: str) -> bool:
        """True for the first scheduler to ask for `name` at `minute`."""
        raise NotImplementedError


class RedisClaims(OncePerPeriod):
    """Claims as Redis keys that expire (SET NX EX)."""

    def claim(self, minute: datetime, name: str) -> bool:
        """True for the first scheduler to ask for `name` at `minute`."""
        return bool(self.storage.put_if_empty(f"periodic:{minute:%Y-%m-%dT%H:%M}:{name}", b"1", ttl=CLAIM_SECONDS))  # type: ignore[attr-defined]


class SqliteClaims(OncePerPeriod):
    """Claims as rows of the SQLite broker's key-value table, pruned after an hour."""

    def claim(self, minute: datetime, name: str) -> bool:
        """True for the first scheduler to ask for `name` at `minute`."""
        storage = self.storage  # type: ignore[attr-defined]
        claimed = bool(storage.put_if_empty(f"periodic:{minute:%Y-%m-%dT%H:%M}:{name}", b"1"))
        if claimed:
            storage.sql("delete from kv where queue = ? and key like 'periodic:%' and key < ?",
                        (storage.name, f"periodic:{minute - PRUNE_AFTER:%Y-%m-%dT%H:%M}"), commit=True)
        return claimed


def make_huey(settings: Settings, name: str, *, immediate: bool = False) -> Huey:
    """A Huey instance named `name` on the configured broker (`immediate`: run tasks at once, in memory)."""
    from huey import Huey, RedisExpireHuey, SqliteHuey  # noqa: PLC0415 - huey loads redis and psycopg: only with the queues
    from huey.storage import RedisExpireStorage, SqliteStorage  # noqa: PLC0415 - as above

    if immediate:
        return Huey(name, results=True, utc=True, immediate=True)
    lease = settings.task_lease_seconds
    if settings.broker_url.startswith(("redis://", "rediss://", "unix://")):
        # RedisExpireHuey: its atomic put-if-empty takes an expiry on any Redis (the plain one needs 7.4 for that).
        storage = type("DealPulseRedisStorage", (RedisInFlight, RedisExpireStorage), {})
        redis_huey = type("DealPulseRedisHuey", (AcknowledgingHuey, RedisClaims, RedisExpireHuey), {"storage_class": storage})
        return redis_huey(name, url=settings.broker_url, results=False, utc=True, lease_seconds=lease)
    if settings.broker_url and not settings.broker_url.startswith("sqlite"):
        raise ValueError(f"DEALPULSE_BROKER_URL={settings.broker_url!r}: use redis://... or leave it unset for SQLite")
    filename = settings.broker_url.removeprefix("sqlite:///") if settings.broker_url else ""
    path = Path(filename) if filename else Path(settings.var_dir) / f"{name}.tasks.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    storage = type("DealPulseSqliteStorage", (SqliteInFlight, SqliteStorage), {})
    sqlite_huey = type("DealPulseSqliteHuey", (AcknowledgingHuey, SqliteClaims, SqliteHuey), {"storage_class": storage})
    return sqlite_huey(name, filename=str(path), results=False, utc=True, lease_seconds=lease)


_lock = threading.Lock()
_current: Queues | None = None


def build_queues(settings: Settings, *, immediate: bool = False) -> Queues:
    """The three queues for `settings`, every declared task registered; they become the process's queues."""
    from huey import crontab  # noqa: PLC0415 - see make_huey

    global _current
    queues = Queues(*(make_huey(settings, name, immediate=immediate) for name in (DEFAULT, SCORING, TRAINING)))
    for declared in _declared:
        huey = queues.huey(declared.queue)
        if declared.schedule is None:
            wrapper = huey.task(name=declared.__name__)(declared.fn)
        else:
            schedule = declared.schedule
            if isinstance(schedule, ScheduleFromSettings):
                schedule = schedule.make(settings)
            when = crontab(minute=schedule.minute, hour=schedule.hour)
            wrapper = huey.periodic_task(when, name=declared.__name__)(declared.fn)
        queues._wrappers[id(declared)] = wrapper
    with _lock:
        _current = queues
    return queues


def queues_for(settings: Settings) -> Queues:
    """The process's queues, built from `settings` if this process has none yet (the app and enqueuing commands)."""
    with _lock:
        if _current is not None:
            return _current
    return build_queues(settings)


def current_queues() -> Queues:
    """The queues the last `build_queues` made (QueuesNotBuilt before any)."""
    with _lock:
        if _current is None:
            raise QueuesNotBuilt("the task queues are not built: the entry point must call build_queues(settings)")
        return _current


def forget_queues() -> None:
    """Drop the process's queues (tests)."""
    global _current
    with _lock:
        _current = None
