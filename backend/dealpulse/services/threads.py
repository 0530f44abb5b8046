"""A rep's choices for a conversation: its deal ("change deal"), "not a deal", private; and what still needs a deal.

A choice covers only the caller's own captured copies (activities one of their mailboxes captured) and is
remembered per rep, so later mail in their mailbox follows it; a colleague's copies of a shared thread stay where
they are and are never made readable or private by someone else. Moving activities re-evaluates the alerts of
every deal they left or joined, and the choice is audited.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..domain.alert_rules import Thresholds
from ..domain.access import Principal, can_read_content
from ..store import (
    Account,
    Activity,
    ActivitySource,
    Mailbox,
    Opportunity,
    ThreadLink,
    User,
    utcnow,
)
from ..store.activities import mailbox_owners
from ..store.uow import UnitOfWork
from . import opportunities as opp_service
from .deal_qualification import set_buying_role
from .alert_hooks import on_deals_changed
from .audit import record_changes
from .errors import InvalidField, NotFoundError
from .access import can_see_activity, load_visible, visibility_clause

NEEDS_DEAL_LIMIT = 100


def _require_thread_key(thread_key: str) -> str:
    thread_key = (thread_key or "").strip().strip("<>")
    if not thread_key:
        raise InvalidField([{"field": "thread_key", "message": "required"}])
    return thread_key


def own_thread_activities(session: Session, principal: Principal, thread_key: str) -> list[Activity]:
    """The thread's activities one of the principal's mailboxes captured."""
    rows = session.scalars(
        select(Activity).join(ActivitySource, ActivitySource.activity_id == Activity.id)
        .join(Mailbox, Mailbox.id == ActivitySource.mailbox_id)
        .where(Activity.org_id == principal.org_id, Activity.thread_key == thread_key, Mailbox.user_id == principal.user_id)
    )
    return list({a.id: a for a in rows}.values())  # once, even when two of their mailboxes captured it


def _shared_with_others(session: Session, activity_ids: list[int], user_id: int) -> set[int]:
    """Those of `activity_ids` that another user's mailbox captured too."""
    if not activity_ids:
        return set()
    return set(session.scalars(
        select(ActivitySource.activity_id).join(Mailbox, Mailbox.id == ActivitySource.mailbox_id)
        .where(ActivitySource.activity_id.in_(activity_ids), Mailbox.user_id != user_id)
    ))


def _my_link(session: Session, principal: Principal, thread_key: str) -> ThreadLink:
    """The principal's choices for the thread (a new, unsaved-to-disk row when they never chose)."""
    link = session.scalar(select(ThreadLink).where(
        ThreadLink.org_id == principal.org_id, ThreadLink.thread_key == thread_key, ThreadLink.chosen_by_id == principal.user_id
    ))
    if link is None:
        link = ThreadLink(org_id=principal.org_id, thread_key=thread_key, opportunity_id=None, no_deal=False,
                          is_private=False, chosen_by_id=principal.user_id, chosen_at=utcnow())
        session.add(link)
        session.flush()
    return link


def set_thread_private(uow: UnitOfWork, principal: Principal, thread_key: str, is_private: bool) -> dict[str, Any]:
    """Mark the caller's own copies of a conversation private (content hidden from managers) or public again.

    Copies another rep also captured are left as they are (their managers keep reading them); later mail in the
    caller's mailbox follows the choice. A thread with no email the caller captured is 404.
    """
    s = uow.s
    thread_key = _require_thread_key(thread_key)
    own = own_thread_activities(s, principal, thread_key)
    if not own:
        raise NotFoundError("thread not found")
    shared = _shared_with_others(s, [a.id for a in own], principal.user_id)
    mine = [a.id for a in own if a.id not in shared]
    link = _my_link(s, principal, thread_key)
    before = link.is_private
    link.is_private = is_private
    link.chosen_at = utcnow()
    if mine:
        s.execute(update(Activity).where(Activity.id.in_(mine)).values(is_private=is_private, updated_at=utcnow())
                  .execution_options(synchronize_session=False))
    if before != is_private:
        record_changes(s, principal, "thread_link", link.id, principal.org_id, {"is_private": (before, is_private)})
    uow.commit()
    return {"thread_key": thread_key, "is_private": is_private, "activities": len(mine), "shared_unchanged": len(shared)}


def link_thread(
    uow: UnitOfWork, principal: Principal, thread_key: str, opportunity_id: int | None, *, alert_defaults: Thresholds
) -> dict[str, Any]:
    """Move the caller's own copies of a conversation to a deal (None: "not a deal") and remember it for later mail.

    Another rep's copies stay where they are. The alerts of every deal the copies left or joined are re-evaluated
    at once; the choice is audited on the thread and on those deals.
    """
    s = uow.s
    thread_key = _require_thread_key(thread_key)
    opp = load_visible(s, principal, opportunity_id, for_edit=True) if opportunity_id is not None else None
    own = own_thread_activities(s, principal, thread_key)
    if not own:
        others = list(s.scalars(select(Activity).where(Activity.org_id == principal.org_id, Activity.thread_key == thread_key)))
        if others and not any(can_see_activity(s, principal, a) for a in others):
            raise NotFoundError("thread not found")
    left = sorted({a.opportunity_id for a in own if a.opportunity_id is not None and (opp is None or a.opportunity_id != opp.id)})
    link = _my_link(s, principal, thread_key)
    before = {"opportunity_id": link.opportunity_id, "no_deal": link.no_deal}
    link.opportunity_id = opp.id if opp else None
    link.no_deal = opp is None
    link.chosen_at = utcnow()
    if own:
        s.execute(
            update(Activity).where(Activity.id.in_([a.id for a in own]))
            .values(opportunity_id=opp.id if opp else None, account_id=opp.account_id if opp else Activity.account_id,
                    link_method="thread" if opp else "not_a_deal", needs_link_choice=False, link_candidates=[],
                    updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
    after = {"opportunity_id": link.opportunity_id, "no_deal": link.no_deal}
    changes = {k: (before[k], after[k]) for k in after if before[k] != after[k]}
    if changes:
        record_changes(s, principal, "thread_link", link.id, principal.org_id, changes)
    moved = len(own)
    if opp is not None and (changes or left):
        record_changes(s, principal, "opportunity", opp.id, opp.org_id, {"linked_thread": (None, thread_key)})
    for old in left:
        record_changes(s, principal, "opportunity", old, principal.org_id, {"unlinked_thread": (thread_key, None)})
    uow.commit()
    on_deals_changed(uow, principal.org_id, [*left, *([opp.id] if opp else [])], alert_defaults=alert_defaults)
    return {"thread_key": thread_key, "opportunity_id": opp.id if opp else None, "not_a_deal": opp is None,
            "activities": moved, "moved_from": left}


def create_opportunity_from_email(
    uow: UnitOfWork, principal: Principal, thread_key: str, values: dict[str, Any], contact_id: int | None = None,
    role: str | None = None, *, alert_defaults: Thresholds,
) -> dict[str, Any]:
    """Create a deal for the email's conversation, link the thread to it, and optionally add the sender's role."""
    thread_key = _require_thread_key(thread_key)
    others = list(uow.s.scalars(select(Activity).where(Activity.org_id == principal.org_id, Activity.thread_key == thread_key)))
    if others and not own_thread_activities(uow.s, principal, thread_key) and not any(
        can_see_activity(uow.s, principal, a) for a in others
    ):
        raise NotFoundError("thread not found")
    created = opp_service.create_opportunity(uow, principal, values, alert_defaults=alert_defaults)
    link_thread(uow, principal, thread_key, created["id"], alert_defaults=alert_defaults)
    if contact_id is not None and role is not None:
        return set_buying_role(uow, principal, created["id"], created["version"], contact_id, role,
                                           alert_defaults=alert_defaults)
    return opp_service.get_opportunity(uow, principal, created["id"])


def needs_deal(uow: UnitOfWork, principal: Principal, limit: int = NEEDS_DEAL_LIMIT) -> list[dict[str, Any]]:
    """Captured emails waiting for a rep to choose among several deals, newest first.

    A rep sees their own; a manager also their teams' reps'; an admin the organisation's. Private content shows
    only to the reps who captured it; candidates are the deals the principal may see.
    """
    s = uow.s
    query = select(Activity).where(Activity.org_id == principal.org_id, Activity.needs_link_choice.is_(True),
                                   Activity.opportunity_id.is_(None))
    if not principal.is_admin:
        people = {principal.user_id}
        if principal.is_manager and principal.managed_team_ids:
            people |= set(s.scalars(select(User.id).where(User.team_id.in_(principal.managed_team_ids))))
        query = query.where(Activity.id.in_(
            select(ActivitySource.activity_id).join(Mailbox, Mailbox.id == ActivitySource.mailbox_id)
            .where(Mailbox.user_id.in_(people))
        ))
    rows = list(s.scalars(query.order_by(Activity.occurred_at.desc(), Activity.id.desc()).limit(max(1, min(limit, 500)))))
    wanted = sorted({c for a in rows for c in (a.link_candidates or []) if isinstance(c, int)})
    deals = {
        opp_id: {"id": opp_id, "name": name, "account": account}
        for opp_id, name, account in s.execute(
            select(Opportunity.id, Opportunity.name, Account.name).join(Account, Account.id == Opportunity.account_id)
            .where(Opportunity.id.in_(wanted), visibility_clause(principal))
        )
    } if wanted else {}
    owners_of = mailbox_owners(s, [a.id for a in rows])
    people = sorted({u for o in owners_of.values() for u in o})
    names = {i: n for i, n in s.execute(select(User.id, User.name).where(User.id.in_(people)))} if people else {}
    out = []
    for a in rows:
        owners = owners_of.get(a.id, set())
        readable = can_read_content(principal, a.is_private, owners)
        out.append({
            "activity_id": a.id, "thread_key": a.thread_key, "kind": a.kind, "direction": a.direction,
            "occurred_at": a.occurred_at.isoformat(), "subject": a.subject if readable else "(private)",
            "sender_email": a.sender_email, "content_hidden": not readable, "mine": principal.user_id in owners,
            "captured_by": sorted(names[u] for u in owners if u in names),
            "candidates": [deals[c] for c in (a.link_candidates or []) if c in deals],
        })
    return out
