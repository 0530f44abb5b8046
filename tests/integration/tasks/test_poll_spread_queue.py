"""The mailbox poll queues each connected mailbox's sync once, at its own moment within the poll interval."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from dealpulse.services.mailboxes import add_mailbox
from dealpulse.store import User
from dealpulse.tasks import build_queues
from dealpulse.tasks.sync import poll_mailboxes


def test_a_poll_queues_every_mailbox_once_spread_over_the_interval(db, world, settings, process_runtime) -> None:
    queues = build_queues(settings)  # the SQLite broker under the test's var folder
    with db.uow() as uow:
        owners = list(uow.s.scalars(select(User.email).where(User.org_id == world.org_id)))
        ids = [add_mailbox(uow, settings, provider="gmail", address=f"box{i}@seller.example", refresh_token="token",
                           user_email=owners[i % len(owners)]) for i in range(12)]
    before = datetime.now(timezone.utc).replace(tzinfo=None)

    assert poll_mailboxes.call_local() == len(ids)

    queued = queues.default.pending()  # a worker puts the ones with an eta on the schedule when it takes them
    now_ids = [task.args[0] for task in queued if task.eta is None]
    later = {task.args[0]: task.eta for task in queued if task.eta is not None}
    assert sorted(now_ids + list(later)) == sorted(ids)  # each once
    assert len(later) >= len(ids) - 1  # spread, not one burst
    interval = timedelta(minutes=settings.poll_interval_minutes)
    assert all(before <= eta < before + interval + timedelta(seconds=5) for eta in later.values())
    assert len(set(later.values())) == len(later)  # no two at the same moment
