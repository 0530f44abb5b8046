"""Background sync: one mailbox on push or on demand, every mailbox on a timer, push subscriptions kept alive."""

from __future__ import annotations

import logging

from ..config import Settings
from ..runtime import get_database, get_settings
from ..services.polling import spread_polls
from ..services.subscriptions import renew_expiring
from ..services.sync import due_mailbox_ids, sync_mailbox
from ..store import utcnow
from .queue import Cron, ScheduleFromSettings, periodic_task, task
from .scoring import queue_scoring

log = logging.getLogger(__name__)


def _poll_minutes(settings: Settings) -> int:
    return max(1, min(59, settings.poll_interval_minutes))


def _poll_schedule(settings: Settings) -> Cron:
    return Cron(minute=f"*/{_poll_minutes(settings)}")


@task()
def sync_mailbox_task(mailbox_id: int) -> str:
    """Sync one mailbox now (push notifications and new connections enqueue this); returns its state."""
    settings = get_settings()
    result = sync_mailbox(get_database(settings), settings, mailbox_id, queue_scoring=queue_scoring)
    log.info("mailbox %s: %s (%d new) %s", mailbox_id, result.state, result.stored, result.detail)
    if result.lease_held and result.lease_expires_at is not None:
        # Deferred, not dropped: a push that meets a running (or dead) sync may bring mail that sync has passed.
        sync_mailbox_task.call_at(result.lease_expires_at, mailbox_id)
        log.info("mailbox %s: held by %s; sync deferred to %s", mailbox_id, result.held_by, result.lease_expires_at)
    return result.state


def enqueue_sync(mailbox_id: int) -> None:
    """Queue a sync of one mailbox (the push endpoints and connect flows call this)."""
    sync_mailbox_task(mailbox_id)


@periodic_task(ScheduleFromSettings(_poll_schedule))
def poll_mailboxes() -> int:
    """The safety net: queue a sync of every connected mailbox that is not paused, each at its own offset in the poll
    interval (spread, not one burst); returns how many."""
    settings = get_settings()
    ids = due_mailbox_ids(get_database(settings))
    for slot in spread_polls(ids, utcnow(), _poll_minutes(settings) * 60):
        if slot.at is None:
            sync_mailbox_task(slot.mailbox_id)
        else:
            sync_mailbox_task.call_at(slot.at, slot.mailbox_id)
    return len(ids)


@periodic_task(Cron(minute="23"))
def renew_push_subscriptions() -> int:
    """Renew Gmail watches and Graph subscriptions that expire within a day; returns how many were renewed."""
    settings = get_settings()
    return renew_expiring(get_database(settings), settings)
