"""The sync loop: lease a mailbox, pull changes from its connectors, store each batch with its cursor, map failures.

Every batch is one transaction: the activities, the deletions and the cursor that covers them commit together,
so a worker killed at any point loses nothing and duplicates nothing — the next run resumes from the last
committed cursor and upserts what it sees again. A per-mailbox lease (a conditional UPDATE on Mailbox.version;
`paused_until` holds the lease's expiry while `sync_state` is "syncing") keeps two workers off one mailbox, and
the unique constraints keep two mailboxes sharing a thread from storing it twice.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable, Iterator, Mapping

from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError, OperationalError

from ..config import Settings
from ..crypto import SecretBox, SecretDecryptionError
from ..mail.gmail import GmailConnector
from ..mail.google_auth import google_credentials
from ..mail.google_calendar import GoogleCalendarConnector
from ..mail.graph import GraphConnector, dump_cursor, parse_cursor
from ..mail.linking import load_org_directory, normalize_address
from ..mail.ms_auth import MsalTokenProvider, build_msal_app
from ..mail.privacy import load_never_log
from ..mail.retry import RetryPolicy
from ..mail.types import (
    AuthRevokedError,
    ChangeBatch,
    CursorExpiredError,
    MailConnector,
    ProviderUnavailableError,
    SyncError,
    ThrottledError,
)
from ..store import Mailbox, User, utcnow
from ..store.database import Database
from ..store.uow import UnitOfWork
from .alert_hooks import on_activities_stored
from .capture import BatchOutcome, CaptureScope, store_batch

log = logging.getLogger(__name__)

LEASE_SECONDS = 300
DEFAULT_THROTTLE_SECONDS = 60
MAX_BACKOFF_SECONDS = 3600
CURSOR_FIELDS = ("mail_cursor", "calendar_cursor")
MAX_RESYNCS = 4  # per stream and run: Graph's inbox, sent items and calendar may each expire


@dataclass(frozen=True)
class MailboxAccess:
    """What a connector needs to reach one mailbox: provider, address, owner's addresses and decrypted credentials."""

    mailbox_id: int
    provider: str
    address: str
    owner_addresses: frozenset[str]
    credentials: Mapping[str, object]
    store_refresh_token: Callable[[str], None] = lambda token: None  # a provider rotated it: keep the new one


#: Queues tone scoring of newly stored activities (the task layer's enqueue; None: the periodic sweep scores them).
QueueScoring = Callable[[list[int]], None]

#: Builds the connectors of a mailbox, keyed by the Mailbox cursor column each one advances.
ConnectorFactory = Callable[[Settings, MailboxAccess], Mapping[str, MailConnector]]


def default_connectors(settings: Settings, access: MailboxAccess, *, retry_policy: RetryPolicy = RetryPolicy()) -> dict[str, MailConnector]:
    """The real connectors: Gmail + Google Calendar (two cursors) or Microsoft Graph (mail and calendar, one cursor)."""
    refresh_token = str(access.credentials.get("refresh_token") or "")
    if access.provider == "gmail":
        credentials = google_credentials(settings, refresh_token)
        return {
            "mail_cursor": GmailConnector(settings, credentials, set(access.owner_addresses), retry_policy=retry_policy),
            "calendar_cursor": GoogleCalendarConnector(settings, credentials, retry_policy=retry_policy),
        }
    if access.provider == "microsoft":
        tokens = MsalTokenProvider(build_msal_app(settings), refresh_token, on_refresh_token=access.store_refresh_token)
        return {"mail_cursor": GraphConnector(settings, tokens, set(access.owner_addresses), retry_policy=retry_policy)}
    raise SyncError(f"mailbox {access.mailbox_id} has an unknown provider {access.provider!r}")


def _rotated_token_keeper(db: Database, settings: Settings, mailbox_id: int, credentials: Mapping[str, object]) -> Callable[[str], None]:
    """Seal and store a rotated refresh token at once (Entra may stop honouring the old one)."""

    def keep(refresh_token: str) -> None:
        sealed = SecretBox(settings).seal({**credentials, "refresh_token": refresh_token})
        with db.uow() as uow:
            uow.s.execute(update(Mailbox).where(Mailbox.id == mailbox_id).values(encrypted_credentials=sealed)
                          .execution_options(synchronize_session=False))
            uow.commit()

    return keep


@dataclass
class SyncResult:
    """How a sync run ended: the mailbox state, what was stored, and whether it ran at all."""

    mailbox_id: int
    ran: bool
    state: str
    detail: str = ""
    batches: int = 0
    outcome: BatchOutcome = field(default_factory=BatchOutcome)

    @property
    def stored(self) -> int:
        """Activities created by this run."""
        return len(self.outcome.new_activity_ids)


class LeaseLost(Exception):
    """Another worker took the mailbox over (our lease expired); stop without touching it."""


class _Lease:
    """A worker's hold on one mailbox, renewed with every batch commit."""

    def __init__(self, mailbox_id: int, version: int, clock: Callable[[], datetime], seconds: float):
        self.mailbox_id = mailbox_id
        self.version = version
        self.clock = clock
        self.seconds = seconds

    def renew(self, uow: UnitOfWork, **values: object) -> None:
        """Bump the version (first statement of the transaction, so it takes the write lock) or raise LeaseLost."""
        fields: dict[str, object] = {"version": self.version + 1, "paused_until": self.clock() + timedelta(seconds=self.seconds)}
        fields.update(values)
        result = uow.s.execute(
            update(Mailbox)
            .where(Mailbox.id == self.mailbox_id, Mailbox.version == self.version)
            .values(**fields)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            raise LeaseLost(f"mailbox {self.mailbox_id}: another worker holds it now")
        self.version += 1


def sync_mailbox(
    db: Database,
    settings: Settings,
    mailbox_id: int,
    *,
    connector_factory: ConnectorFactory = default_connectors,
    clock: Callable[[], datetime] = utcnow,
    lease_seconds: float = LEASE_SECONDS,
    queue_scoring: QueueScoring | None = None,
    after_commit: Callable[[UnitOfWork, list[int]], None] | None = None,
) -> SyncResult:
    """Sync one mailbox if it is due; returns what happened (ran=False when skipped: paused, leased, reconnect).

    After each batch commit the new activity ids go to `queue_scoring` and the alert hook (`run_capture_hooks`);
    `after_commit` replaces both (benchmarks time the sync alone).
    """
    lease, skip = _acquire(db, mailbox_id, clock, lease_seconds)
    if lease is None:
        return skip  # type: ignore[return-value]
    result = SyncResult(mailbox_id, ran=True, state="syncing")

    def capture_hooks(uow: UnitOfWork, activity_ids: list[int]) -> None:
        run_capture_hooks(uow, activity_ids, queue_scoring=queue_scoring, webhook=bool(settings.webhook_url))

    try:
        scope, access, cursors = _load(db, settings, mailbox_id)
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


def _acquire(db: Database, mailbox_id: int, clock: Callable[[], datetime], seconds: float) -> tuple[_Lease | None, SyncResult | None]:
    with db.uow() as uow:
        box = uow.s.get(Mailbox, mailbox_id)
        if box is None:
            raise LookupError(f"mailbox {mailbox_id} does not exist")
        now = clock()
        if box.sync_state in ("needs_reconnect", "disconnected"):
            return None, SyncResult(mailbox_id, ran=False, state=box.sync_state, detail=box.state_detail)
        if box.paused_until is not None and box.paused_until > now:
            return None, SyncResult(mailbox_id, ran=False, state=box.sync_state, detail=f"paused until {box.paused_until.isoformat()}")
        result = uow.s.execute(
            update(Mailbox)
            .where(Mailbox.id == mailbox_id, Mailbox.version == box.version)
            .values(version=box.version + 1, sync_state="syncing", state_detail="Syncing now.",
                    paused_until=now + timedelta(seconds=seconds))
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            uow.rollback()
            return None, SyncResult(mailbox_id, ran=False, state="syncing", detail="another worker is syncing this mailbox")
        uow.commit()
        return _Lease(mailbox_id, box.version + 1, clock, seconds), None


def _load(db: Database, settings: Settings, mailbox_id: int) -> tuple[CaptureScope, MailboxAccess, dict[str, str | None]]:
    with db.uow() as uow:
        box = uow.s.get(Mailbox, mailbox_id)
        owner = uow.s.get(User, box.user_id)
        owner_addresses = frozenset(normalize_address(a) for a in owner.addresses) | {normalize_address(box.address)}
        scope = CaptureScope(
            mailbox_id=box.id,
            org_id=box.org_id,
            owner_id=owner.id,
            owner_addresses=frozenset(a for a in owner_addresses if a),
            directory=load_org_directory(uow.s, box.org_id),
            never_log=load_never_log(uow.s, owner.id),
        )
        credentials = SecretBox(settings).open(box.encrypted_credentials)
        access = MailboxAccess(box.id, box.provider, box.address, scope.owner_addresses, credentials,
                               _rotated_token_keeper(db, settings, box.id, credentials))
        return scope, access, {"mail_cursor": box.mail_cursor, "calendar_cursor": box.calendar_cursor}


def _run_stream(
    db: Database,
    lease: _Lease,
    scope: CaptureScope,
    connector: MailConnector,
    cursor_field: str,
    cursor: str | None,
    result: SyncResult,
    after_commit: Callable[[UnitOfWork, list[int]], None],
) -> None:
    """Consume one connector from `cursor`; an expired cursor restarts as a full resync (the upserts dedupe).

    Graph cursors hold one link per stream: each expired stream restarts on its own, so several may expire in turn.
    """
    committed = [cursor]
    start = cursor
    for attempt in range(MAX_RESYNCS + 1):
        try:
            _consume(db, lease, scope, connector.changes(start), cursor_field, result, after_commit, committed)
            return
        except CursorExpiredError as exc:
            if attempt == MAX_RESYNCS:
                raise
            log.info("mailbox %s: %s expired (%s); resync", scope.mailbox_id, cursor_field, exc)
            start = _restart_cursor(committed[0], exc)
            committed[0] = start
            _commit_with_retry(db, lambda uow: lease.renew(
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
    lease: _Lease,
    scope: CaptureScope,
    batches: Iterator[ChangeBatch],
    cursor_field: str,
    result: SyncResult,
    after_commit: Callable[[UnitOfWork, list[int]], None],
    committed: list[str | None],
) -> None:
    for batch in batches:
        def apply(uow: UnitOfWork, batch: ChangeBatch = batch) -> BatchOutcome:
            values = {cursor_field: batch.cursor} if batch.cursor is not None else {}
            lease.renew(uow, **values)
            return store_batch(uow.s, scope, batch)

        outcome = _commit_with_retry(db, apply, after_commit)
        if batch.cursor is not None:
            committed[0] = batch.cursor
        result.batches += 1
        result.outcome.merge(outcome)


def _commit_with_retry(
    db: Database,
    work: Callable[[UnitOfWork], object],
    after_commit: Callable[[UnitOfWork, list[int]], None] | None = None,
    attempts: int = 6,
):
    """Run `work` in one transaction and commit; retry when the database reports a lock or serialization conflict."""
    for attempt in range(1, attempts + 1):
        with db.uow() as uow:
            try:
                outcome = work(uow)
                uow.commit()
            except (OperationalError, DBAPIError) as exc:
                if attempt == attempts or not _is_transient(exc):
                    raise
                uow.rollback()
                time.sleep(random.uniform(0, 0.05 * 2**attempt))
                continue
            if after_commit is not None and isinstance(outcome, BatchOutcome) and outcome.new_activity_ids:
                after_commit(uow, outcome.new_activity_ids)
            return outcome
    raise AssertionError("unreachable")


def _is_transient(exc: DBAPIError) -> bool:
    text = str(exc.orig).lower() if exc.orig is not None else str(exc).lower()
    code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return "database is locked" in text or "database is busy" in text or code in ("40001", "40P01")


def _finish(db: Database, lease: _Lease, result: SyncResult, state: str, detail: str, **values: object) -> None:
    def write(uow: UnitOfWork) -> None:
        lease.renew(uow, sync_state=state, state_detail=detail[:500], **values)

    try:
        _commit_with_retry(db, write)
    except LeaseLost as exc:
        log.warning("%s", exc)
    result.state, result.detail = state, detail


def _fail(db: Database, lease: _Lease, result: SyncResult, clock: Callable[[], datetime], detail: str) -> None:
    with db.uow() as uow:
        failures = (uow.s.scalar(select(Mailbox.consecutive_failures).where(Mailbox.id == lease.mailbox_id)) or 0) + 1
    backoff = min(MAX_BACKOFF_SECONDS, 30 * 2 ** min(failures, 12))
    until = clock() + timedelta(seconds=backoff)
    _finish(db, lease, result, "provider_error", f"{detail} Next try after {until:%H:%M:%S} UTC.",
            paused_until=until, last_error_at=clock(), consecutive_failures=failures)


def run_capture_hooks(
    uow: UnitOfWork, activity_ids: list[int], *, queue_scoring: QueueScoring | None = None, webhook: bool = False
) -> None:
    """After a batch commit: hand the new activities to `queue_scoring` (the caller's queue) and let the alert
    rules see them at once."""
    if queue_scoring is not None:
        try:
            queue_scoring(list(activity_ids))
        except Exception:  # the sweep scores what a failed enqueue missed
            log.exception("could not queue scoring of %d activities", len(activity_ids))
    try:
        on_activities_stored(uow, list(activity_ids), webhook=webhook)
    except Exception:  # the periodic alert sweep catches up
        log.exception("alert hook failed for %d activities", len(activity_ids))
        uow.rollback()


def due_mailbox_ids(db: Database, now: datetime | None = None) -> list[int]:
    """Mailboxes a poll should sync now: connected, not waiting for reconnection, not paused."""
    now = now or utcnow()
    with db.uow() as uow:
        rows = uow.s.execute(
            select(Mailbox.id, Mailbox.paused_until).where(Mailbox.sync_state.not_in(("needs_reconnect", "disconnected")))
        ).all()
    return [i for i, paused in rows if paused is None or paused <= now]
