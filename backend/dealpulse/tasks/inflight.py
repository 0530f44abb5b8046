"""Tasks that survive a worker crash: a task taken from the queue stays in a visible in-flight record until it is done.

Huey's Redis queue hands a task out with BRPOP (and its SQLite queue deletes the row): a worker killed between taking
a task and finishing it loses the task. Here taking a task moves it, in one atomic step, into the worker process's
in-flight record (the Redis list `huey.inflight.<queue>.<holder>`, or `inflight:<holder>:<row>` rows of the SQLite
broker's kv table), and the worker acknowledges it (removes it) only once Huey is done with it: run, failed, retried
or put on the schedule for later. Each worker process holds a lease (`huey.alive.<queue>.<holder>` / `alive:<holder>`)
that a heartbeat thread renews every third of `DEALPULSE_TASK_LEASE_SECONDS`; every worker's scheduler loop re-queues,
at the head of the queue, the in-flight tasks of holders whose lease lapsed (a process that crashed or was killed).
The Redis re-queue is one Lua script per holder and the SQLite one one exclusive transaction, so two reapers never
re-queue a task twice.

This makes delivery at-least-once: a task runs again when its worker died mid-way (or stalled past its lease), so the
tasks are idempotent: a sync upserts by dedupe key under the mailbox lease, scores and alerts insert on conflict do
nothing, periodic sweeps are claimed once per minute and re-check what is due.

Huey itself is imported only where the queues are built (`queue.make_huey`), which mixes these classes into its
storage and Huey classes.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_LEASE_SECONDS = 60  # Settings.task_lease_seconds

# Move every task of a holder whose lease lapsed back to the consumer end of the queue; 0 while the lease is held.
REQUEUE_LAPSED_LUA = """
if redis.call('exists', KEYS[2]) == 1 then return 0 end
local moved = 0
while true do
  local item = redis.call('rpop', KEYS[1])
  if not item then break end
  redis.call('rpush', KEYS[3], item)
  moved = moved + 1
end
return moved
"""

# Put every task of this holder's in-flight list back at the consumer end of the queue and drop its lease.
RELEASE_LUA = """
local moved = 0
while true do
  local item = redis.call('rpop', KEYS[1])
  if not item then break end
  redis.call('rpush', KEYS[3], item)
  moved = moved + 1
end
redis.call('del', KEYS[2])
return moved
"""


def new_holder() -> str:
    """A name for this worker process's lease: host, process id and a random part (a restarted process differs)."""
    return f"{socket.gethostname().replace(':', '-')}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


class InFlightStorage:
    """Storage mixin: dequeue into an in-flight record, `acknowledge` when done, a leased heartbeat, the reaper."""

    def __init__(self, *args: Any, lease_seconds: float = DEFAULT_LEASE_SECONDS, **kwargs: Any):
        self.lease_seconds = float(lease_seconds)
        self.holder = new_holder()
        self._heartbeat: threading.Thread | None = None
        self._heartbeat_lock = threading.Lock()
        self._stopping = threading.Event()
        super().__init__(*args, **kwargs)

    def take(self) -> bytes | None:
        """Move the next task into this holder's in-flight record and return it (None when the queue is empty)."""
        raise NotImplementedError

    def acknowledge(self, data: bytes) -> None:
        """Huey is done with the task `data`: drop it from this holder's in-flight record."""
        raise NotImplementedError

    def renew(self) -> None:
        """Extend this holder's lease by `lease_seconds` from now."""
        raise NotImplementedError

    def requeue_lapsed(self) -> int:
        """Put the in-flight tasks of every holder whose lease lapsed back on the queue; returns how many."""
        raise NotImplementedError

    def in_flight(self) -> list[bytes]:
        """Every task taken and not yet acknowledged, of every holder (what an operator or a test can see)."""
        raise NotImplementedError

    def put_back(self) -> int:
        """Graceful stop: this holder's in-flight tasks go back on the queue at once and its lease ends; how many."""
        raise NotImplementedError

    def release(self) -> int:
        """Stop renewing the lease and put this holder's unfinished tasks back (nothing to do if it never took one)."""
        self._stopping.set()
        with self._heartbeat_lock:
            if self._heartbeat is None:
                return 0
        return self.put_back()

    def dequeue(self) -> bytes | None:
        """Huey's dequeue: the lease is held before the first task is taken, then the task goes in flight."""
        self.start_heartbeat()
        return self.take()

    def start_heartbeat(self) -> None:
        """Take the lease and renew it every third of `lease_seconds` in a daemon thread (once per process)."""
        with self._heartbeat_lock:
            if self._heartbeat is not None:
                return
            self.renew()
            self._heartbeat = threading.Thread(target=self._beat, name=f"task-lease-{self.holder}", daemon=True)
            self._heartbeat.start()

    def stop_heartbeat(self) -> None:
        """Stop renewing (tests; a stopped worker's tasks are re-queued once its lease lapses)."""
        self._stopping.set()

    def _beat(self) -> None:
        while not self._stopping.wait(self.lease_seconds / 3):
            try:
                self.renew()
            except Exception:  # the broker is down: keep trying; the lease may lapse and the tasks run elsewhere
                log.warning("task lease %s: renewal failed", self.holder, exc_info=True)


class RedisInFlight(InFlightStorage):
    """In-flight lists and leases on Redis (mixed into Huey's Redis storage: `conn`, `queue_key`, `name`)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._requeue_script = self.conn.register_script(REQUEUE_LAPSED_LUA)  # type: ignore[attr-defined]
        self._release_script = self.conn.register_script(RELEASE_LUA)  # type: ignore[attr-defined]

    @property
    def inflight_prefix(self) -> str:
        """Key prefix of the in-flight lists of this queue."""
        return f"huey.inflight.{self.name}."  # type: ignore[attr-defined]

    @property
    def alive_prefix(self) -> str:
        """Key prefix of the leases of this queue's holders."""
        return f"huey.alive.{self.name}."  # type: ignore[attr-defined]

    def take(self) -> bytes | None:
        """BLMOVE from the consumer end of the queue into this holder's list (waits up to the read timeout)."""
        conn, source, target = self.conn, self.queue_key, self.inflight_prefix + self.holder  # type: ignore[attr-defined]
        if self.blocking:  # type: ignore[attr-defined]
            return conn.blmove(source, target, self.read_timeout, "RIGHT", "LEFT")  # type: ignore[attr-defined]
        return conn.lmove(source, target, "RIGHT", "LEFT")

    def acknowledge(self, data: bytes) -> None:
        """LREM the task from this holder's list."""
        self.conn.lrem(self.inflight_prefix + self.holder, 1, data)  # type: ignore[attr-defined]

    def renew(self) -> None:
        """SET the holder's lease key with an expiry."""
        self.conn.set(self.alive_prefix + self.holder, b"1", px=int(self.lease_seconds * 1000))  # type: ignore[attr-defined]

    def requeue_lapsed(self) -> int:
        """Run the re-queue script on every in-flight list of this queue (it does nothing while the lease is held)."""
        moved = 0
        for key in self.conn.scan_iter(match=self.inflight_prefix + "*", count=500):  # type: ignore[attr-defined]
            holder = key.decode()[len(self.inflight_prefix):]
            moved += int(self._requeue_script(keys=[key, self.alive_prefix + holder, self.queue_key]))  # type: ignore[attr-defined]
        return moved

    def in_flight(self) -> list[bytes]:
        """Every in-flight list's tasks."""
        conn = self.conn  # type: ignore[attr-defined]
        return [item for key in conn.scan_iter(match=self.inflight_prefix + "*") for item in conn.lrange(key, 0, -1)]

    def put_back(self) -> int:
        """One script: this holder's list back onto the queue, its lease key deleted."""
        keys = [self.inflight_prefix + self.holder, self.alive_prefix + self.holder, self.queue_key]  # type: ignore[attr-defined]
        return int(self._release_script(keys=keys))


class SqliteInFlight(InFlightStorage):
    """In-flight rows and leases in the SQLite broker's kv table (mixed into Huey's SQLite storage)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._keys: dict[bytes, str] = {}
        self._keys_lock = threading.Lock()

    def take(self) -> bytes | None:
        """Delete the next task row and insert it as this holder's in-flight row, in one exclusive transaction."""
        sql, db, name = self.sql, self.db, self.name  # type: ignore[attr-defined]
        if not sql("select 1 from task where queue = ? limit 1", (name,), results=True):
            return None
        with db(commit=True) as curs:
            curs.execute("select id, data from task where queue = ? order by priority desc, id limit 1", (name,))
            row = curs.fetchone()
            if row is None:
                return None
            row_id, data = row
            key = f"inflight:{self.holder}:{row_id}"
            curs.execute("delete from task where id = ?", (row_id,))
            curs.execute("insert or replace into kv (queue, key, value) values (?, ?, ?)", (name, key, data))
        data = bytes(data)
        with self._keys_lock:
            self._keys[data] = key
        return data

    def acknowledge(self, data: bytes) -> None:
        """Delete the task's in-flight row."""
        with self._keys_lock:
            key = self._keys.pop(bytes(data), None)
        if key is not None:
            self.sql("delete from kv where queue = ? and key = ?", (self.name, key), commit=True)  # type: ignore[attr-defined]

    def renew(self) -> None:
        """Write the holder's lease row: its expiry as a Unix time."""
        expires = str(time.time() + self.lease_seconds).encode()
        self.sql("insert or replace into kv (queue, key, value) values (?, ?, ?)",  # type: ignore[attr-defined]
                 (self.name, f"alive:{self.holder}", expires), commit=True)  # type: ignore[attr-defined]

    def requeue_lapsed(self) -> int:
        """Move in-flight rows of holders without a live lease back to the head of the queue; drop lapsed leases."""
        now = time.time()
        with self.db(commit=True) as curs:  # type: ignore[attr-defined]
            curs.execute("select key, value from kv where queue = ? and key like 'alive:%'", (self.name,))  # type: ignore[attr-defined]
            leases = {key.removeprefix("alive:"): float(bytes(value).decode()) for key, value in curs.fetchall()}
            live = {holder for holder, expires in leases.items() if expires > now}
            curs.execute("select key, value from kv where queue = ? and key like 'inflight:%'", (self.name,))  # type: ignore[attr-defined]
            orphans = [(key, value) for key, value in curs.fetchall() if key.removeprefix("inflight:").rsplit(":", 1)[0] not in live]
            for key, value in orphans:
                curs.execute("insert into task (queue, data, priority) values (?, ?, ?)", (self.name, value, 1.0))  # type: ignore[attr-defined]
                curs.execute("delete from kv where queue = ? and key = ?", (self.name, key))  # type: ignore[attr-defined]
            for holder in set(leases) - live:
                curs.execute("delete from kv where queue = ? and key = ?", (self.name, f"alive:{holder}"))  # type: ignore[attr-defined]
        return len(orphans)

    def in_flight(self) -> list[bytes]:
        """Every in-flight row's task."""
        rows = self.sql("select value from kv where queue = ? and key like 'inflight:%'", (self.name,), results=True)  # type: ignore[attr-defined]
        return [bytes(value) for (value,) in rows]

    def put_back(self) -> int:
        """One exclusive transaction: this holder's in-flight rows back onto the queue, its lease row deleted."""
        with self.db(commit=True) as curs:  # type: ignore[attr-defined]
            prefix = f"inflight:{self.holder}:"  # compared exactly: a host name may hold LIKE's wildcards
            curs.execute("select key, value from kv where queue = ? and substr(key, 1, ?) = ?",  # type: ignore[attr-defined]
                         (self.name, len(prefix), prefix))  # type: ignore[attr-defined]
            rows = curs.fetchall()
            for key, value in rows:
                curs.execute("insert into task (queue, data, priority) values (?, ?, ?)", (self.name, value, 1.0))  # type: ignore[attr-defined]
                curs.execute("delete from kv where queue = ? and key = ?", (self.name, key))  # type: ignore[attr-defined]
            curs.execute("delete from kv where queue = ? and key = ?", (self.name, f"alive:{self.holder}"))  # type: ignore[attr-defined]
        with self._keys_lock:
            self._keys.clear()
        return len(rows)


class AcknowledgingHuey:
    """Huey mixin: a task is acknowledged after `execute`, and the scheduler loop re-queues lapsed holders' tasks."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._taken: dict[str, bytes] = {}
        self._taken_lock = threading.Lock()
        self._next_reap = 0.0

    def _tracks_in_flight(self) -> bool:
        return isinstance(self.storage, InFlightStorage)  # type: ignore[attr-defined]

    def dequeue(self) -> Any:
        """The next task, remembered so `execute` can acknowledge it (a task that cannot be read is dropped, logged)."""
        data = self.storage.dequeue()  # type: ignore[attr-defined]
        if data is None:
            return None
        try:
            task = self.deserialize_task(data)  # type: ignore[attr-defined]
        except Exception:
            log.exception("dropping a task that cannot be read")
            if self._tracks_in_flight():
                self.storage.acknowledge(data)  # type: ignore[attr-defined]
            raise
        if self._tracks_in_flight():
            with self._taken_lock:
                self._taken[task.id] = data
        return task

    def execute(self, task: Any, timestamp: Any = None) -> Any:
        """Run (or schedule) the task as Huey does, then acknowledge it, whatever the outcome."""
        try:
            return super().execute(task, timestamp)  # type: ignore[misc]
        finally:
            with self._taken_lock:
                data = self._taken.pop(task.id, None)
            if data is not None:
                self.storage.acknowledge(data)  # type: ignore[attr-defined]

    def read_schedule(self, timestamp: Any = None) -> list:
        """Huey's scheduler step; first, at most every third of the lease, re-queue the tasks of lapsed holders."""
        if self._tracks_in_flight() and time.monotonic() >= self._next_reap:
            self._next_reap = time.monotonic() + self.storage.lease_seconds / 3  # type: ignore[attr-defined]
            try:
                moved = self.storage.requeue_lapsed()  # type: ignore[attr-defined]
            except Exception:
                log.warning("re-queueing the tasks of lapsed workers failed", exc_info=True)
            else:
                if moved:
                    log.warning("re-queued %d task(s) of a worker whose lease lapsed", moved)
        return super().read_schedule(timestamp)  # type: ignore[misc]
