"""Capture fixtures: the Google stand-in, settings pointing at it, connected mailboxes and a fast-retrying sync."""

from __future__ import annotations

import dataclasses
import functools
import itertools
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

import pytest
from sqlalchemy import func, select

from dealpulse.mail.retry import RetryPolicy
from dealpulse.services.mailboxes import add_mailbox
from dealpulse.services.sync import SyncResult, sync_mailbox
from dealpulse.services.sync_access import default_connectors
from dealpulse.standins.google import GoogleStandIn
from dealpulse.standins.sample_mail import rfc822
from dealpulse.store import Activity, ActivitySource

FAST_RETRIES = RetryPolicy(attempts=8, base_delay=0.001, max_delay=0.01, max_wait=5)
_counter = itertools.count(1)


@pytest.fixture
def google() -> Iterator[GoogleStandIn]:
    """A running Google stand-in (Gmail, Calendar, OAuth, certificates)."""
    with GoogleStandIn() as standin:
        yield standin


@pytest.fixture
def settings(settings, google):
    """The test settings pointed at the Google stand-in (the `app` fixture uses these too)."""
    return dataclasses.replace(settings, **google.settings_overrides())


@pytest.fixture
def capture_settings(settings):
    """The settings capture tests sync with (pointing at the Google stand-in)."""
    return settings


class TaskQueue:
    """The Huey queue held in memory; `run_syncs()` works off the queued syncs as a worker would."""

    def __init__(self, huey: Any):
        self.huey = huey

    def run_syncs(self) -> list[str]:
        """Execute every queued mailbox sync (other queued work, e.g. scoring, is left out); returns their states."""
        states = []
        while (task := self.huey.dequeue()) is not None:
            if task.name.endswith("sync_mailbox_task"):
                states.append(self.huey.execute(task))
        return states


@pytest.fixture(autouse=True)
def task_queue(tmp_path) -> TaskQueue:
    """Queue Huey tasks in memory for every capture test (nothing reaches a shared task database)."""
    from huey.storage import MemoryStorage

    from dealpulse.config import Settings
    from dealpulse.tasks import build_queues

    huey = build_queues(Settings(env="test", var_dir=tmp_path / "queues").resolved()).default
    huey.storage = MemoryStorage(huey.name)
    return TaskQueue(huey)


def connect(db: Any, settings: Any, google: GoogleStandIn, address: str) -> int:
    """Create the stand-in user and connect its mailbox in DealPulse; returns the mailbox id."""
    token = google.add_user(address)
    with db.uow() as uow:
        return add_mailbox(uow, settings, provider="gmail", address=address, refresh_token=token)


def run_sync(db: Any, settings: Any, mailbox_id: int, **options: Any) -> SyncResult:
    """Sync through the real Gmail and Calendar connectors, retrying fast."""
    factory = functools.partial(default_connectors, retry_policy=FAST_RETRIES)
    return sync_mailbox(db, settings, mailbox_id, connector_factory=factory, **options)


def sync_until_idle(db: Any, settings: Any, mailbox_id: int, rounds: int = 20) -> list[SyncResult]:
    """Run syncs (jumping the clock past any pause) until the mailbox ends a run idle."""
    results = []
    offset = timedelta(0)
    for _ in range(rounds):
        start = datetime.now(timezone.utc) + offset
        result = run_sync(db, settings, mailbox_id, clock=lambda start=start: start)
        results.append(result)
        if result.state == "idle":
            return results
        offset += timedelta(hours=2)
    raise AssertionError(f"mailbox {mailbox_id} never became idle: {[(r.state, r.detail) for r in results]}")


def raw_mail(
    sender: str,
    to: list[str],
    subject: str = "Hello",
    body: str = "Hi,\n\nA question about the proposal.\n\nThanks",
    *,
    cc: list[str] | None = None,
    when: datetime | None = None,
    message_id: str | None = None,
    in_reply_to: str = "",
    html: str = "",
    headers: dict[str, str] | None = None,
) -> bytes:
    """RFC 822 bytes of a message (Message-IDs without angle brackets; a fresh one by default)."""
    return rfc822(
        sender=sender, to=to, cc=cc or (), subject=subject, body=body, html=html, in_reply_to=in_reply_to, headers=headers,
        message_id=message_id or f"m{next(_counter)}.{uuid.uuid4().hex[:8]}@mail.test",
        sent_at=when or datetime.now(timezone.utc) - timedelta(hours=next(_counter) % 48 + 1),
    )


def activity_count(db: Any) -> int:
    """Activities stored."""
    with db.uow() as uow:
        return uow.s.scalar(select(func.count()).select_from(Activity)) or 0


def source_count(db: Any, mailbox_id: int | None = None) -> int:
    """Mailbox copies stored (of one mailbox, or all)."""
    query = select(func.count()).select_from(ActivitySource)
    if mailbox_id is not None:
        query = query.where(ActivitySource.mailbox_id == mailbox_id)
    with db.uow() as uow:
        return uow.s.scalar(query) or 0


def dedupe_keys(db: Any) -> list[str]:
    """Every stored activity's dedupe key (duplicates would show twice)."""
    with db.uow() as uow:
        return list(uow.s.scalars(select(Activity.dedupe_key)))


def stored_activity(db: Any, message_id: str) -> Activity:
    """The stored activity of a Message-ID, detached with its columns loaded."""
    with db.uow() as uow:
        activity = uow.s.scalar(select(Activity).where(Activity.message_id == message_id))
        assert activity is not None, f"{message_id} was not stored"
        uow.s.expunge(activity)
        return activity
