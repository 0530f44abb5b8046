"""A sync's hold on one mailbox: the lease (a conditional UPDATE on Mailbox.version, named by host, pid and run,
expiring at `paused_until` while the state is "syncing"/"resyncing"), its heartbeat while the provider is slow, and
the retried commits that renew it with every batch."""

from __future__ import annotations

import logging
import os
import random
import secrets
import socket
import threading
import time
from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import update
from sqlalchemy.exc import DBAPIError, OperationalError

from ..store import Mailbox
from ..store.database import Database
from ..store.uow import UnitOfWork
from .capture import BatchOutcome

log = logging.getLogger(__name__)

LEASE_SECONDS = 90  # default of Settings.sync_lease_seconds
LEASED_STATES = ("syncing", "resyncing")


class LeaseLost(Exception):
    """Another worker took the mailbox over (our lease expired); stop without touching it."""


def lease_holder_name() -> str:
    """Who a new lease is held by: host, process and a run id (two threads of one process differ)."""
    return f"{socket.gethostname()[:80]} pid {os.getpid()} run {secrets.token_hex(4)}"


class Lease:
    """A sync run's hold on one mailbox: renewed with every batch commit and by the heartbeat."""

    def __init__(self, mailbox_id: int, holder: str, clock: Callable[[], datetime], seconds: float):
        self.mailbox_id = mailbox_id
        self.holder = holder
        self.clock = clock
        self.seconds = seconds

    def renew(self, uow: UnitOfWork, **values: object) -> None:
        """Extend the lease (first statement of the transaction, so it takes the write lock) or raise LeaseLost."""
        fields: dict[str, object] = {"version": Mailbox.version + 1, "paused_until": self.clock() + timedelta(seconds=self.seconds)}
        fields.update(values)
        result = uow.s.execute(
            update(Mailbox)
            .where(Mailbox.id == self.mailbox_id, Mailbox.lease_holder == self.holder, Mailbox.sync_state.in_(LEASED_STATES))
            .values(**fields)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            raise LeaseLost(f"mailbox {self.mailbox_id}: another worker holds it now")


class Heartbeat:
    """Renews a lease every `interval` seconds while a sync waits on its provider (retries may sleep for minutes)."""

    def __init__(self, db: Database, lease: Lease, interval: float):
        self.db, self.lease, self.interval = db, lease, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-heartbeat-{lease.mailbox_id}", daemon=True)

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                commit_with_retry(self.db, self.lease.renew)
            except LeaseLost:
                return  # the sync finds out at its next commit
            except Exception:  # a busy database: the next beat (or batch commit) renews it
                log.warning("mailbox %s: lease heartbeat failed", self.lease.mailbox_id, exc_info=True)


def commit_with_retry(
    db: Database,
    work: Callable[[UnitOfWork], object],
    after_commit: Callable[[UnitOfWork, BatchOutcome], None] | None = None,
    attempts: int = 6,
):
    """Run `work` in one transaction and commit; retry when the database reports a lock or serialization conflict.

    `after_commit` gets a committed capture batch's outcome when it added, changed or removed activities."""
    for attempt in range(1, attempts + 1):
        with db.uow() as uow:
            try:
                outcome = work(uow)
                uow.commit()
            except (OperationalError, DBAPIError) as exc:
                if attempt == attempts or not is_transient(exc):
                    raise
                uow.rollback()
                time.sleep(random.uniform(0, 0.05 * 2**attempt))
                continue
            if after_commit is not None and isinstance(outcome, BatchOutcome) and outcome.changes_signals():
                after_commit(uow, outcome)
            return outcome
    raise AssertionError("unreachable")


def is_transient(exc: DBAPIError) -> bool:
    """A lock or serialization conflict worth retrying (SQLite busy, PostgreSQL 40001/40P01)."""
    text = str(exc.orig).lower() if exc.orig is not None else str(exc).lower()
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return "database is locked" in text or "database is busy" in text or code in ("40001", "40P01")
