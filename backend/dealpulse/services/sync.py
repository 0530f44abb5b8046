"""The sync loop: lease a mailbox, pull changes from its connectors, store each batch with its cursor, map failures.

Every batch is one transaction: the activities, the deletions and the cursor that covers them commit together,
so a worker killed at any point loses nothing and duplicates nothing — the next run resumes from the last
committed cursor (a full sync's cursor is a checkpoint) and upserts what it sees again. A per-mailbox lease keeps
two workers off one mailbox: taken with a conditional UPDATE on Mailbox.version, held by a named run
(`lease_holder`), expiring at `paused_until` while `sync_state` is "syncing"/"resyncing". It is short (90 s) and
renewed by every batch commit and by a heartbeat thread while the provider is slow, so a killed worker's lease
lapses within that time and the next sync takes it over (`sync_lease`). The unique constraints keep two mailboxes
sharing a thread from storing it twice. How a mailbox is reached (scope, credentials, connectors) is `sync_access`.

Metadata first: a batch of headers-only mails is checked against the privacy rules and the store before any
content is downloaded; only mail that will be stored is fetched in full.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Callable, Iterator, cast

from sqlalchemy import select, update

from ..domain.alert_rules import Thresholds
from ..config import Settings
from ..crypto import SecretDecryptionError
from ..mail.graph import dump_cursor, parse_cursor
from ..mail.types import (
    AuthRevokedError,
    ChangeBatch,
    ContentLoader,
    CursorExpiredError,
    MailConnector,
    ProviderUnavailableError,
    SyncError,
    ThrottledError,
)
from ..store import Mailbox, utcnow
from ..store.database import Database
from ..store.uow import UnitOfWork
from .alert_hooks import on_activities_stored
from .alert_snapshots import default_thresholds
from .capture import BatchOutcome, plan_content, store_batch
from .capture_candidates import CaptureScope
from .sync_access import ConnectorFactory, default_connectors, load_mailbox
from .sync_lease import LEASED_STATES, Heartbeat, Lease, LeaseLost, commit_with_retry, lease_holder_name

log = logging.getLogger(__name__)

DEFAULT_THROTTLE_SECONDS = 60
MAX_BACKOFF_SECONDS = 3600
CURSOR_FIELDS = ("mail_cursor", "calendar_cursor")
MAX_RESYNCS = 4  # per stream and run: Graph's inbox, sent items and calendar may each expire


#: Queues tone scoring of newly stored activities (the task layer's enqueue; None: the periodic sweep scores them).
QueueScoring = Callable[[list[int]], None]


@dataclass
class SyncResult:
    """How a sync run ended: the mailbox state, what was stored, and whether it ran at all."""

    mailbox_id: int
    ran: bool
    state: str
    detail: str = ""
    batches: int = 0
    outcome: BatchOutcome = field(default_factory=BatchOutcome)
    held_by: str = ""  # ran=False because this run holds the mailbox's lease ...
    lease_expires_at: datetime | None = None  # ... until then
    took_over: str = ""  # --force: the lease or pause this run overrode

    @property
    def lease_held(self) -> bool:
        """Skipped because another sync holds the mailbox."""
        return bool(self.held_by)

    @property
    def stored(self) -> int:
        """Activities created by this run."""
        return len(self.outcome.new_activity_ids)


def sync_mailbox(
    db: Database,
    settings: Settings,
    mailbox_id: int,
    *,
    connector_factory: ConnectorFactory = default_connectors,
    clock: Callable[[], datetime] = utcnow,
    lease_seconds: float | None = None,
    heartbeat_seconds: float | None = None,
    force: bool = False,
    queue_scoring: QueueScoring | None = None,
    after_commit: Callable[[UnitOfWork, BatchOutcome], None] | None = None,
) -> SyncResult:
    """Sync one mailbox if it is due; returns what happened (ran=False when skipped: paused, leased, reconnect).

    `force` takes the lease even from a live holder and ignores a provider pause (the caller warns about it).
    After each batch commit the new activity ids go to `queue_scoring`, and the alert hook (`run_capture_hooks`)
    re-evaluates the deals of new and changed activities and of those the batch deleted;
    `after_commit` replaces both (benchmarks time the sync alone).
    """
    seconds = lease_seconds if lease_seconds is not None else settings.sync_lease_seconds
    lease, skip = _acquire(db, mailbox_id, clock, seconds, force)
    if lease is None:
        return skip  # type: ignore[return-value]
    result = SyncResult(mailbox_id, ran=True, state="syncing", took_over=skip.took_over if skip else "")

    def capture_hooks(uow: UnitOfWork, outcome: BatchOutcome) -> None:
        run_capture_hooks(uow, outcome, alert_defaults=default_thresholds(settings), queue_scoring=queue_scoring,
                          webhook=bool(settings.webhook_url))

    try:
        with Heartbeat(db, lease, heartbeat_seconds if heartbeat_seconds is not None else seconds / 3):
            scope, access, cursors = load_mailbox(db, settings, mailbox_id)
            connectors = connector_factory(settings, access)
            for cursor_field, connector in connectors.items():
                if cursor_field not in CURSOR_FIELDS:
                    raise ValueError(f"unknown cursor column {cursor_field!r}; use one of {CURSOR_FIELDS}")
                _run_stream(db, lease, scope, connector, cursor_field, cursors.get(cursor_field), result, after_commit or capture_hooks)
    except LeaseLost as exc:
        log.warning("%s", exc)
        result.state, result.detail = "syncing", str(exc)
        return result
    except ThrottledError as exc:
        wait = exc.retry_after if exc.retry_after is not None else DEFAULT_THROTTLE_SECONDS
        until = clock() + timedelta(seconds=wait)
        _finish(db, lease, result, "throttled", f"The provider asked us to slow down; next try after {until:%H:%M:%S} UTC.",
                paused_until=until, last_error_at=clock())
        return result
    except (AuthRevokedError, SecretDecryptionError) as exc:
        _finish(db, lease, result, "needs_reconnect",
                f"Access to this mailbox was revoked or has expired; reconnect it ({exc}).",
                paused_until=None, last_error_at=clock(), subscription_id=None, subscription_expires_at=None)
        return result
    except ProviderUnavailableError as exc:
        _fail(db, lease, result, clock, f"The provider is unavailable ({exc}); retrying later.")
        return result
    except SyncError as exc:
        _fail(db, lease, result, clock, f"Sync failed: {exc}")
        return result
    except Exception as exc:
        _fail(db, lease, result, clock, f"Unexpected error: {type(exc).__name__}: {exc}")
        raise
    _finish(db, lease, result, "idle", "Up to date.", paused_until=None, last_synced_at=clock(), consecutive_failures=0)
    return result


def _acquire(
    db: Database, mailbox_id: int, clock: Callable[[], datetime], seconds: float, force: bool
) -> tuple[Lease | None, SyncResult | None]:
    """Take the mailbox's lease, or say why not. With a lease, the SyncResult (if any) only records a takeover."""
    with db.uow() as uow:
        box = uow.s.get(Mailbox, mailbox_id)
        if box is None:
            raise LookupError(f"mailbox {mailbox_id} does not exist")
        now = clock()
        if box.sync_state in ("needs_reconnect", "disconnected"):
            return None, SyncResult(mailbox_id, ran=False, state=box.sync_state, detail=box.state_detail)
        took_over = ""
        if box.paused_until is not None and box.paused_until > now:
            if box.sync_state in LEASED_STATES:
                holder = box.lease_holder or "a worker that does not name itself"
                took_over = f"took the lease held by {holder} until {box.paused_until:%H:%M:%S} UTC"
                if not force:
                    return None, SyncResult(
                        mailbox_id, ran=False, state=box.sync_state, held_by=holder, lease_expires_at=box.paused_until,
                        detail=f"another sync holds this mailbox ({holder}); its lease expires at {box.paused_until:%H:%M:%S} UTC",
                    )
            else:
                took_over = f"ignored the pause until {box.paused_until:%H:%M:%S} UTC ({box.sync_state})"
                if not force:
                    return None, SyncResult(mailbox_id, ran=False, state=box.sync_state, detail=f"paused until {box.paused_until.isoformat()}")
            log.warning("mailbox %s: forced sync %s", mailbox_id, took_over)
        elif box.sync_state in LEASED_STATES and box.lease_holder:
            log.info("mailbox %s: the lease of %s lapsed; taking it over", mailbox_id, box.lease_holder)
        holder = lease_holder_name()
        result = uow.s.execute(
            update(Mailbox)
            .where(Mailbox.id == mailbox_id, Mailbox.version == box.version)
            .values(version=box.version + 1, sync_state="syncing", state_detail="Syncing now.", lease_holder=holder,
                    paused_until=now + timedelta(seconds=seconds))
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            uow.rollback()
            return None, SyncResult(mailbox_id, ran=False, state="syncing", held_by="another worker",
                                    detail="another worker took this mailbox's lease at the same moment")
        uow.commit()
        return Lease(mailbox_id, holder, clock, seconds), SyncResult(mailbox_id, ran=True, state="syncing", took_over=took_over)


def _run_stream(
    db: Database,
    lease: Lease,
    scope: CaptureScope,
    connector: MailConnector,
    cursor_field: str,
    cursor: str | None,
    result: SyncResult,
    after_commit: Callable[[UnitOfWork, BatchOutcome], None],
) -> None:
    """Consume one connector from `cursor`; an expired cursor restarts as a full resync (the upserts dedupe).

    Graph cursors hold one link per stream: each expired stream restarts on its own, so several may expire in turn.
    """
    committed = [cursor]
    start = cursor
    for attempt in range(MAX_RESYNCS + 1):
        try:
            _consume(db, lease, scope, connector, connector.changes(start), cursor_field, result, after_commit, committed)
            return
        except CursorExpiredError as exc:
            if attempt == MAX_RESYNCS:
                raise
            log.info("mailbox %s: %s expired (%s); resync", scope.mailbox_id, cursor_field, exc)
            start = _restart_cursor(committed[0], exc)
            committed[0] = start
            commit_with_retry(db, lambda uow: lease.renew(
                uow, sync_state="resyncing", state_detail="The provider forgot our place; re-reading the mailbox."))


def _restart_cursor(cursor: str | None, exc: CursorExpiredError) -> str | None:
    """Where a resync starts: Graph restarts only the expired stream; everything else starts from scratch."""
    stream = getattr(exc, "stream", None)
    if stream and cursor:
        try:
            links = parse_cursor(cursor)
        except (ValueError, SyncError):
            return None
        links[stream] = None
        return dump_cursor(links)
    return None


def _consume(
    db: Database,
    lease: Lease,
    scope: CaptureScope,
    connector: MailConnector,
    batches: Iterator[ChangeBatch],
    cursor_field: str,
    result: SyncResult,
    after_commit: Callable[[UnitOfWork, BatchOutcome], None],
    committed: list[str | None],
) -> None:
    for batch in batches:
        batch, planned = _with_content(db, scope, connector, batch)
        result.outcome.merge(planned)

        def apply(uow: UnitOfWork, batch: ChangeBatch = batch) -> BatchOutcome:
            values = {cursor_field: batch.cursor} if batch.cursor is not None else {}
            lease.renew(uow, **values)
            return store_batch(uow.s, scope, batch)

        outcome = commit_with_retry(db, apply, after_commit)
        if batch.cursor is not None:
            committed[0] = batch.cursor
        result.batches += 1
        result.outcome.merge(outcome)


def _with_content(db: Database, scope: CaptureScope, connector: MailConnector, batch: ChangeBatch) -> tuple[ChangeBatch, BatchOutcome]:
    """Download the content of the headers-only mails that will be stored; the others leave the batch, counted."""
    pending = [m for m in batch.mails if not m.content_loaded]
    if not pending:
        return batch, BatchOutcome()
    with db.uow() as uow:
        plan = plan_content(uow.s, scope, pending)
    wanted = [m for m in pending if m.provider_id in plan.wanted]
    if wanted and not hasattr(connector, "load_content"):
        raise SyncError(f"{type(connector).__name__} sent headers only but cannot load content")
    loaded = cast(ContentLoader, connector).load_content(wanted) if wanted else []
    mails = [m for m in batch.mails if m.content_loaded] + loaded
    return replace(batch, mails=mails), BatchOutcome(excluded=dict(plan.excluded), unchanged=plan.known)


def _finish(db: Database, lease: Lease, result: SyncResult, state: str, detail: str, **values: object) -> None:
    def write(uow: UnitOfWork) -> None:
        lease.renew(uow, sync_state=state, state_detail=detail[:500], lease_holder=None, **values)

    try:
        commit_with_retry(db, write)
    except LeaseLost as exc:
        log.warning("%s", exc)
    result.state, result.detail = state, detail


def _fail(db: Database, lease: Lease, result: SyncResult, clock: Callable[[], datetime], detail: str) -> None:
    with db.uow() as uow:
        failures = (uow.s.scalar(select(Mailbox.consecutive_failures).where(Mailbox.id == lease.mailbox_id)) or 0) + 1
    backoff = min(MAX_BACKOFF_SECONDS, 30 * 2 ** min(failures, 12))
    until = clock() + timedelta(seconds=backoff)
    _finish(db, lease, result, "provider_error", f"{detail} Next try after {until:%H:%M:%S} UTC.",
            paused_until=until, last_error_at=clock(), consecutive_failures=failures)


def run_capture_hooks(
    uow: UnitOfWork, outcome: BatchOutcome, *, alert_defaults: Thresholds, queue_scoring: QueueScoring | None = None,
    webhook: bool = False,
) -> None:
    """After a batch commit: hand the new activities to `queue_scoring` (the caller's queue) and let the alert
    rules see new and changed activities (a meeting moved or declined) and deals that lost one (cancelled) at once."""
    if queue_scoring is not None and outcome.new_activity_ids:
        try:
            queue_scoring(list(outcome.new_activity_ids))
        except Exception:  # the sweep scores what a failed enqueue missed
            log.exception("could not queue scoring of %d activities", len(outcome.new_activity_ids))
    try:
        on_activities_stored(uow, [*outcome.new_activity_ids, *outcome.changed_activity_ids], alert_defaults=alert_defaults,
                             webhook=webhook, deal_ids=outcome.deals_losing_activities)
    except Exception:  # the periodic alert sweep catches up
        log.exception("alert hook failed for %d activities", len(outcome.new_activity_ids) + len(outcome.changed_activity_ids))
        uow.rollback()


def due_mailbox_ids(db: Database, now: datetime | None = None, *, include_paused: bool = False) -> list[int]:
    """Mailboxes a poll should sync now: connected, not waiting for reconnection, not paused (or leased)."""
    now = now or utcnow()
    with db.uow() as uow:
        rows = uow.s.execute(
            select(Mailbox.id, Mailbox.paused_until).where(Mailbox.sync_state.not_in(("needs_reconnect", "disconnected")))
        ).all()
    return [i for i, paused in rows if include_paused or paused is None or paused <= now]
