"""Turn one connector batch into stored, linked, private-safe activities inside the caller's transaction."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Iterable

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..mail.linking import (
    CustomerMatches,
    LinkDecision,
    accounts_of,
    decide_link,
    load_customer_matches,
    load_link_index,
)
from ..mail.privacy import exclusion_reason
from ..mail.types import ChangeBatch, FetchedMail
from ..store import Activity, ActivityContact, ActivitySource, utcnow
from .capture_candidates import (
    Candidate,
    CaptureScope,
    content_of,
    contact_exclusion_for,
    direction_for,
    event_candidate,
    mail_candidate,
)

log = logging.getLogger(__name__)

@dataclass
class BatchOutcome:
    """What one batch did: new activity ids, stored meetings it changed, sources added to existing ones, exclusions by
    reason, deletions and the deals that lost activities to them."""

    new_activity_ids: list[int] = field(default_factory=list)
    changed_activity_ids: list[int] = field(default_factory=list)  # stored meetings moved, declined or re-accepted
    deals_losing_activities: list[int] = field(default_factory=list)  # opportunity ids (a cancelled meeting, a deleted mail)
    shared_sources: int = 0
    unchanged: int = 0
    excluded: dict[str, int] = field(default_factory=dict)
    deleted_sources: int = 0
    deleted_activities: int = 0

    def merge(self, other: "BatchOutcome") -> None:
        """Add another batch's counts to this one."""
        self.new_activity_ids += other.new_activity_ids
        self.changed_activity_ids += other.changed_activity_ids
        self.deals_losing_activities += other.deals_losing_activities
        self.shared_sources += other.shared_sources
        self.unchanged += other.unchanged
        self.deleted_sources += other.deleted_sources
        self.deleted_activities += other.deleted_activities
        for reason, n in other.excluded.items():
            self.excluded[reason] = self.excluded.get(reason, 0) + n

    def changes_signals(self) -> bool:
        """True when the batch added, changed or removed activities: the alert rules must look again."""
        return bool(self.new_activity_ids or self.changed_activity_ids or self.deals_losing_activities)


def store_batch(session: Session, scope: CaptureScope, batch: ChangeBatch) -> BatchOutcome:
    """Apply one batch: privacy first, then upsert on (mailbox, provider id) and Message-ID/iCalUID, then deletions.

    Runs inside the caller's transaction and does not commit. Concurrent writers of the same activity are
    handled with savepoints on the unique constraints.
    """
    outcome = BatchOutcome()
    cancelled = [e.provider_id for e in batch.events if e.cancelled]
    candidates = [mail_candidate(scope, m) for m in batch.mails if m.provider_id]
    candidates += [event_candidate(scope, e) for e in batch.events if e.provider_id and not e.cancelled]
    if candidates:
        _store_candidates(session, scope, candidates, outcome)
    removed = list(dict.fromkeys([*batch.deleted_ids, *cancelled]))
    if removed:
        _delete_sources(session, scope.mailbox_id, removed, outcome)
    return outcome


@dataclass
class ContentPlan:
    """Which mails of a metadata-only batch need their content: the rest are excluded or already stored here."""

    wanted: set[str] = field(default_factory=set)  # provider ids
    excluded: dict[str, int] = field(default_factory=dict)
    known: int = 0


def plan_content(session: Session, scope: CaptureScope, mails: list[FetchedMail]) -> ContentPlan:
    """Decide from headers and labels alone which mails privacy rules let us store and this mailbox lacks."""
    plan = ContentPlan()
    candidates = [mail_candidate(scope, m) for m in mails if m.provider_id]
    customers = load_customer_matches(session, scope.org_id, {a for c in candidates for a in c.addresses})
    kept = []
    for c in candidates:
        reason = exclusion_reason(c.addresses, c.labels, scope.directory, customers, scope.never_log, scope.rules)
        if reason:
            plan.excluded[reason] = plan.excluded.get(reason, 0) + 1
        else:
            kept.append(c.provider_id)
    known = _existing_sources(session, scope.mailbox_id, kept)
    plan.known = len(known)
    plan.wanted = {provider_id for provider_id in kept if provider_id not in known}
    return plan


def _store_candidates(session: Session, scope: CaptureScope, candidates: list[Candidate], outcome: BatchOutcome) -> None:
    customers = load_customer_matches(session, scope.org_id, {a for c in candidates for a in c.addresses})
    kept: list[Candidate] = []
    for c in candidates:
        reason = exclusion_reason(c.addresses, c.labels, scope.directory, customers, scope.never_log, scope.rules)
        if reason:
            outcome.excluded[reason] = outcome.excluded.get(reason, 0) + 1
        else:
            kept.append(c)
    if not kept:
        return
    known_sources = _existing_sources(session, scope.mailbox_id, [c.provider_id for c in kept])
    fresh = []
    for c in kept:
        if c.provider_id in known_sources:
            outcome.unchanged += 1
        else:
            fresh.append(c)
    outcome.changed_activity_ids += _refresh_meetings(
        session, scope, [c for c in kept if c.kind == "meeting" and c.provider_id in known_sources], customers)
    if not fresh:
        return
    existing = _existing_activities(session, scope.org_id, [c.dedupe_key for c in fresh])
    per_candidate: list[tuple[Candidate, list[int], list[int]]] = []
    for c in fresh:
        contact_ids, account_ids = accounts_of(c.addresses, customers, scope.directory)
        per_candidate.append((c, contact_ids, account_ids))
    to_create = [(c, cids, aids) for c, cids, aids in per_candidate if c.dedupe_key not in existing]
    index = load_link_index(
        session,
        scope.org_id,
        [c.thread_key for c, _, _ in to_create],
        [i for _, cids, _ in to_create for i in cids],
        [i for _, _, aids in to_create for i in aids],
        user_id=scope.owner_id,
    )
    history = _thread_history(session, scope.org_id, [c for c, _, _ in to_create])
    now = utcnow()
    new_rows: dict[str, tuple[Activity, list[int], Candidate]] = {}
    sources: list[tuple[str, Candidate]] = []
    for c, contact_ids, account_ids in per_candidate:
        sources.append((c.dedupe_key, c))
        if c.dedupe_key in existing or c.dedupe_key in new_rows:
            continue
        decision = decide_link(c.thread_key, contact_ids, account_ids, index)
        row = _new_activity(scope, c, decision, direction_for(c, scope, customers), now, _earlier(history, c))
        row.contact_exclusion = contact_exclusion_for(c, scope, customers)
        new_rows[c.dedupe_key] = (row, contact_ids, c)
    _insert_activities(session, scope, new_rows, existing)
    created = {key: row.id for key, (row, _, _) in new_rows.items()}
    created_ids = set(created.values())
    _insert_sources(session, scope, sources, {**existing, **created}, outcome, created_ids)
    contacts = [
        ActivityContact(activity_id=row.id, contact_id=cid, role=_contact_role(c, cid, customers))
        for row, cids, c in new_rows.values()
        if row.id in created_ids
        for cid in cids
    ]
    if contacts:
        session.add_all(contacts)
        session.flush()
    outcome.new_activity_ids += sorted(created_ids)


def _refresh_meetings(session: Session, scope: CaptureScope, meetings: list[Candidate], customers: CustomerMatches) -> list[int]:
    """A known meeting that moved or was declined since it was stored: update its time and whether it is buyer contact.

    Returns the ids of the activities refreshed (the alert hook re-evaluates their deals)."""
    if not meetings:
        return []
    keys = [c.dedupe_key for c in meetings]
    ids = sorted({i for chunk in _chunks(keys) for i in session.scalars(
        select(Activity.id).where(Activity.org_id == scope.org_id, Activity.dedupe_key.in_(chunk)))})
    for c in meetings:
        session.execute(
            update(Activity)
            .where(Activity.org_id == scope.org_id, Activity.dedupe_key == c.dedupe_key)
            .values(occurred_at=c.occurred_at, ends_at=c.ends_at, contact_exclusion=contact_exclusion_for(c, scope, customers))
            .execution_options(synchronize_session=False)
        )
    return ids


def _contact_role(c: Candidate, contact_id: int, customers: CustomerMatches) -> str:
    for p in c.participants:
        known = customers.contact(p["email"])
        if known and known[0] == contact_id:
            return {"organizer": "from", "attendee": "attendee", "bcc": "cc"}.get(p["role"], p["role"])
    return "to"


def _thread_history(session: Session, org_id: int, candidates: list[Candidate]) -> dict[str, list[tuple[datetime, str]]]:
    """What the threads of `candidates` said, with when: stored new text and this batch's bodies, per thread key."""
    keys = sorted({c.thread_key for c in candidates if c.thread_key and c.kind == "email"})
    history: dict[str, list[tuple[datetime, str]]] = {}
    for chunk in _chunks(keys):
        rows = session.execute(
            select(Activity.thread_key, Activity.occurred_at, Activity.new_text).where(
                Activity.org_id == org_id, Activity.thread_key.in_(chunk), Activity.new_text != ""
            )
        )
        for thread_key, occurred_at, new_text in rows:
            history.setdefault(thread_key, []).append((_as_utc(occurred_at), new_text))
    for c in candidates:
        body = getattr(c.source, "body_text", "") if c.thread_key in keys else ""
        if body:
            history.setdefault(c.thread_key, []).append((_as_utc(c.occurred_at), body))
    return history


def _earlier(history: dict[str, list[tuple[datetime, str]]], c: Candidate) -> list[str]:
    """The texts of `c`'s thread written before it (never its own body, never replies to it)."""
    moment = _as_utc(c.occurred_at)
    return [text for at, text in history.get(c.thread_key, ()) if at < moment]


def _as_utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _new_activity(
    scope: CaptureScope, c: Candidate, decision: LinkDecision, direction: str, now: datetime, earlier: Iterable[str] = ()
) -> Activity:
    return Activity(
        org_id=scope.org_id,
        kind=c.kind,
        direction=direction,
        dedupe_key=c.dedupe_key,
        message_id=c.message_id,
        thread_key=c.thread_key,
        subject=c.subject,
        occurred_at=c.occurred_at,
        ends_at=c.ends_at,
        sender_email=c.sender,
        participants=c.participants,
        is_private=decision.is_private or scope.rules.private_by_default,
        opportunity_id=decision.opportunity_id,
        account_id=decision.account_id,
        link_method=decision.link_method,
        needs_link_choice=decision.needs_link_choice,
        link_candidates=list(decision.candidates),
        created_at=now,
        updated_at=now,
        **content_of(c, earlier),
    )


def _existing_sources(session: Session, mailbox_id: int, provider_ids: list[str]) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks(provider_ids):
        found.update(
            session.scalars(
                select(ActivitySource.provider_id).where(ActivitySource.mailbox_id == mailbox_id, ActivitySource.provider_id.in_(chunk))
            )
        )
    return found


def _existing_activities(session: Session, org_id: int, keys: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for chunk in _chunks(list(dict.fromkeys(keys))):
        rows = session.execute(select(Activity.dedupe_key, Activity.id).where(Activity.org_id == org_id, Activity.dedupe_key.in_(chunk)))
        found.update({k: i for k, i in rows})
    return found


def _insert_activities(session: Session, scope: CaptureScope, new_rows: dict[str, tuple[Activity, list[int], Candidate]], existing: dict[str, int]) -> None:
    """Insert all new activities in one savepoint; if another worker stored one first, fall back to one by one."""
    if not new_rows:
        return
    try:
        with session.begin_nested():
            session.add_all([row for row, _, _ in new_rows.values()])
            session.flush()
        return
    except IntegrityError:
        log.info("mailbox %s: another worker stored some of these activities first; merging", scope.mailbox_id)
    for key, (row, cids, c) in list(new_rows.items()):
        fresh = _new_activity(scope, c, _decision_of(row), row.direction, row.created_at)
        fresh.contact_exclusion = row.contact_exclusion
        try:
            with session.begin_nested():
                session.add(fresh)
                session.flush()
            new_rows[key] = (fresh, cids, c)
        except IntegrityError:
            winner = session.scalar(select(Activity.id).where(Activity.org_id == scope.org_id, Activity.dedupe_key == key))
            if winner is None:
                raise
            existing[key] = winner
            del new_rows[key]


def _decision_of(row: Activity) -> LinkDecision:
    return LinkDecision(
        row.opportunity_id, row.account_id, row.link_method, row.needs_link_choice, tuple(row.link_candidates or ()), row.is_private
    )


def _insert_sources(
    session: Session,
    scope: CaptureScope,
    sources: list[tuple[str, Candidate]],
    ids: dict[str, int],
    outcome: BatchOutcome,
    created_ids: set[int],
) -> None:
    rows: list[ActivitySource] = []
    seen: set[str] = set()
    for key, c in sources:
        if c.provider_id in seen:
            continue
        seen.add(c.provider_id)
        activity_id = ids[key]
        if activity_id not in created_ids:
            outcome.shared_sources += 1
        rows.append(
            ActivitySource(
                activity_id=activity_id,
                mailbox_id=scope.mailbox_id,
                provider_id=c.provider_id,
                provider_thread_id=c.provider_thread_id or "",
                labels=c.labels,
            )
        )
    try:
        with session.begin_nested():
            session.add_all(rows)
            session.flush()
        return
    except IntegrityError:
        log.info("mailbox %s: some sources were stored concurrently; adding the rest one by one", scope.mailbox_id)
    for row in rows:
        copy = ActivitySource(
            activity_id=row.activity_id, mailbox_id=row.mailbox_id, provider_id=row.provider_id,
            provider_thread_id=row.provider_thread_id, labels=list(row.labels),
        )
        try:
            with session.begin_nested():
                session.add(copy)
                session.flush()
        except IntegrityError:
            outcome.unchanged += 1


def _delete_sources(session: Session, mailbox_id: int, provider_ids: list[str], outcome: BatchOutcome) -> None:
    """Forget where the mailbox saw these items; an activity no mailbox sees any more is deleted."""
    for chunk in _chunks(provider_ids):
        activity_ids = set(
            session.scalars(
                select(ActivitySource.activity_id).where(ActivitySource.mailbox_id == mailbox_id, ActivitySource.provider_id.in_(chunk))
            )
        )
        if not activity_ids:
            continue
        outcome.deals_losing_activities += sorted(set(session.scalars(
            select(Activity.opportunity_id).where(Activity.id.in_(sorted(activity_ids)), Activity.opportunity_id.is_not(None)))))
        result = session.execute(
            delete(ActivitySource).where(ActivitySource.mailbox_id == mailbox_id, ActivitySource.provider_id.in_(chunk))
        )
        outcome.deleted_sources += result.rowcount or 0
        outcome.deleted_activities += delete_orphans(session, activity_ids)


def delete_orphans(session: Session, activity_ids: Iterable[int]) -> int:
    """Delete those of `activity_ids` that no mailbox sees any more; returns how many."""
    ids = sorted(set(activity_ids))
    deleted = 0
    for chunk in _chunks(ids):  # type: ignore[arg-type]
        still_seen = set(session.scalars(select(ActivitySource.activity_id).where(ActivitySource.activity_id.in_(chunk)).group_by(ActivitySource.activity_id)))
        orphans = [i for i in chunk if i not in still_seen]
        if orphans:
            result = session.execute(delete(Activity).where(Activity.id.in_(orphans)).execution_options(synchronize_session=False))
            deleted += result.rowcount or 0
    return deleted


def _chunks(items: list[Any], size: int = 500) -> Iterable[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
