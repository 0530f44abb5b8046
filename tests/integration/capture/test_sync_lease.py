"""The sync lease: short, renewed while working, taken over once a dead worker's lapses, forced from the CLI."""

from __future__ import annotations

import dataclasses
import threading
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import pytest
from click.testing import CliRunner

from dealpulse import runtime
from dealpulse.cli import build_cli
from dealpulse.services.sync import sync_mailbox
from dealpulse.services.sync_access import default_connectors
from dealpulse.store import Mailbox
from dealpulse.tasks.sync import sync_mailbox_task

from .conftest import FAST_RETRIES, activity_count, connect, dedupe_keys, raw_mail, run_sync

REP = "rep.a1@seller.example"
BUYER = "buyer@acme.test.example"
MESSAGES = 30


class Killed(BaseException):
    """The worker process dying (SIGKILL) as seen from inside it: nothing after this point runs, not even cleanup."""


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _wrapped(around: Callable[[int, Any], None]) -> Callable[..., dict[str, Any]]:
    """Real Gmail connectors whose mail stream calls `around(index, batch)` before yielding each batch."""

    def factory(settings: Any, access: Any) -> dict[str, Any]:
        mail = default_connectors(settings, access, retry_policy=FAST_RETRIES)["mail_cursor"]

        class Watched:
            def changes(self, cursor: str | None):
                for index, batch in enumerate(mail.changes(cursor)):
                    around(index, batch)
                    yield batch

            def load_content(self, mails):
                return mail.load_content(mails)

        return {"mail_cursor": Watched()}

    return factory


def _die_at(index: int) -> Callable[[int, Any], None]:
    def around(i: int, batch: Any) -> None:
        if i == index:
            raise Killed()
    return around


def _mailbox_with_mail(db, settings, google) -> int:
    box = connect(db, settings, google, REP)
    for i in range(MESSAGES):
        google.add_message(REP, raw_mail(BUYER, [REP], subject=f"Lease {i}", message_id=f"lease-{i}@acme.test.example"))
    return box


def _lease_expiry(db, box: int) -> datetime | None:
    with db.uow() as uow:
        return uow.s.get(Mailbox, box).paused_until


@pytest.fixture
def small_batches(capture_settings):
    return dataclasses.replace(capture_settings, sync_batch_size=10, sync_lease_seconds=90)


def test_a_dead_workers_lease_blocks_only_until_its_short_expiry_then_is_taken_over(db, world, small_batches, google):
    box = _mailbox_with_mail(db, small_batches, google)
    t0 = datetime.now(timezone.utc)
    with pytest.raises(Killed):
        sync_mailbox(db, small_batches, box, connector_factory=_wrapped(_die_at(1)), clock=lambda: t0)
    assert activity_count(db) == 10  # the first batch was committed before the worker died

    waiting = run_sync(db, small_batches, box, clock=lambda: t0 + timedelta(seconds=89))
    taken_over = run_sync(db, small_batches, box, clock=lambda: t0 + timedelta(seconds=91))

    assert not waiting.ran and waiting.lease_held
    assert " pid " in waiting.held_by and waiting.lease_expires_at == t0 + timedelta(seconds=90)
    assert taken_over.ran and taken_over.state == "idle", taken_over.detail
    keys = dedupe_keys(db)
    assert len(keys) == len(set(keys)) == MESSAGES
    with db.uow() as uow:
        mailbox = uow.s.get(Mailbox, box)
        assert (mailbox.sync_state, mailbox.lease_holder, mailbox.paused_until) == ("idle", None, None)


def test_a_live_sync_stalled_longer_than_the_lease_keeps_it_through_the_heartbeat(db, world, small_batches, google):
    box = _mailbox_with_mail(db, small_batches, google)
    clock = Clock(datetime.now(timezone.utc))
    rival: list[Any] = []

    def stall(index: int, batch: Any) -> None:
        if index != 1:
            return
        clock.now += timedelta(seconds=300)  # the provider kept us waiting more than three leases long
        renewed = threading.Event()
        for _ in range(3000):  # until the heartbeat has renewed the lease at the new time (bounded)
            expiry = _lease_expiry(db, box)
            if expiry is not None and expiry > clock.now:
                renewed.set()
                break
            renewed.wait(0.01)
        assert renewed.is_set(), "the heartbeat never renewed the lease"
        rival.append(run_sync(db, small_batches, box, clock=clock))  # another worker tries meanwhile

    result = sync_mailbox(db, small_batches, box, connector_factory=_wrapped(stall), clock=clock, heartbeat_seconds=0.02)

    assert result.state == "idle", result.detail
    assert not rival[0].ran and rival[0].lease_held
    keys = dedupe_keys(db)
    assert len(keys) == len(set(keys)) == MESSAGES


def _env(settings, google) -> dict[str, str]:
    env = {"DEALPULSE_ENV": "test", "DEALPULSE_VAR_DIR": str(settings.var_dir), "DEALPULSE_DATABASE_URL": settings.database_url}
    env.update({"DEALPULSE_" + k.upper(): str(v) for k, v in google.settings_overrides().items()})
    return env


def test_cli_sync_meeting_a_held_lease_exits_non_zero_naming_the_holder_and_force_takes_it(db, world, small_batches, google):
    box = _mailbox_with_mail(db, small_batches, google)
    with pytest.raises(Killed):
        sync_mailbox(db, small_batches, box, connector_factory=_wrapped(_die_at(1)))  # real clock: held for 90 s
    with db.uow() as uow:
        holder = uow.s.get(Mailbox, box).lease_holder
    runner, cli, env = CliRunner(), build_cli(), _env(small_batches, google)

    refused = runner.invoke(cli, ["sync", "--mailbox", REP], env=env)
    stored_while_refused = activity_count(db)
    forced = runner.invoke(cli, ["sync", "--mailbox", REP, "--force"], env=env)

    assert refused.exit_code == 1
    lines = refused.output.strip().splitlines()
    assert len(lines) == 1 and holder in lines[0] and "UTC" in lines[0] and "--force" in lines[0]
    assert stored_while_refused == 10
    assert forced.exit_code == 0, forced.output
    assert "warning" in forced.output and holder in forced.output
    assert activity_count(db) == MESSAGES


def test_a_queued_sync_that_meets_a_held_lease_is_deferred_to_its_expiry_not_dropped(db, world, small_batches, google, task_queue):
    box = _mailbox_with_mail(db, small_batches, google)
    with pytest.raises(Killed):
        sync_mailbox(db, small_batches, box, connector_factory=_wrapped(_die_at(1)))
    expiry = _lease_expiry(db, box)
    runtime.reset(keep=db)
    runtime.configure(small_batches, db)
    try:
        sync_mailbox_task(box)  # e.g. a push arriving now
        states = task_queue.run_syncs()
    finally:
        runtime.reset(keep=db)

    assert states == ["syncing", None]  # the second is the deferred sync, which the worker puts on its schedule
    scheduled = task_queue.huey.scheduled()
    assert [(t.name.rsplit(".", 1)[-1], t.args) for t in scheduled] == [("sync_mailbox_task", (box,))]
    assert abs((scheduled[0].eta.replace(tzinfo=timezone.utc) - expiry).total_seconds()) < 1
