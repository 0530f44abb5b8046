"""What a rep does to an email from the sidebar besides rating it: notes, private threads, thread links, new deals.

Also the access rules for activities: who may see one (the reps whose mailbox captured it, and whoever may see
its opportunity) and who may read its content (private activities: only the reps whose mailbox captured them).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session, lazyload

from ..domain.access import Principal, can_read_content, can_see_deal
from ..store import Activity, ActivityNote, ActivitySource, Mailbox, Opportunity, ThreadLink, User, utcnow
from ..store.uow import UnitOfWork
from . import opportunities as opp_service
from .audit import record_changes
from .errors import InvalidField, NotFoundError, PermissionDenied

MAX_NOTE_CHARS = 5000


# -- access ---------------------------------------------------------------------------------------------------
def mailbox_owner_ids(session: Session, activity_id: int) -> set[int]:
    """Users whose mailbox captured the activity."""
    rows = session.scalars(
        select(Mailbox.user_id).join(ActivitySource, ActivitySource.mailbox_id == Mailbox.id).where(
            ActivitySource.activity_id == activity_id
        )
    )
    return set(rows)


def deal_visible(session: Session, principal: Principal, opportunity_id: int | None) -> bool:
    """True if the opportunity exists and the principal may see it."""
    if opportunity_id is None:
        return False
    row = session.execute(
        select(Opportunity.org_id, Opportunity.owner_id, User.team_id)
        .join(User, User.id == Opportunity.owner_id)
        .where(Opportunity.id == opportunity_id)
    ).first()
    return row is not None and can_see_deal(principal, row[0], row[1], row[2])


def can_see_activity(session: Session, principal: Principal, activity: Activity, owners: set[int] | None = None) -> bool:
    """Captured by the principal's mailbox, or linked to a deal the principal may see."""
    if activity.org_id != principal.org_id:
        return False
    owners = mailbox_owner_ids(session, activity.id) if owners is None else owners
    return principal.user_id in owners or principal.is_admin or deal_visible(session, principal, activity.opportunity_id)


def visible_activity(session: Session, principal: Principal, activity_id: int) -> tuple[Activity, set[int]]:
    """The activity and its mailbox owners if the principal may see it; NotFoundError otherwise (no leak)."""
    activity = session.get(Activity, activity_id)
    if activity is None:
        raise NotFoundError(f"activity {activity_id} not found")
    owners = mailbox_owner_ids(session, activity.id)
    if not can_see_activity(session, principal, activity, owners):
        raise NotFoundError(f"activity {activity_id} not found")
    return activity, owners


def content_readable(principal: Principal, activity: Activity, owners: set[int]) -> bool:
    """True if the principal may read the activity's content (not just its metadata)."""
    return can_read_content(principal, activity.is_private, owners)


# -- notes ----------------------------------------------------------------------------------------------------
def serialize_note(session: Session, note: ActivityNote, author: User | None = None) -> dict[str, Any]:
    """A note as the API returns it (`author` when already loaded)."""
    author = author or session.get(User, note.author_id)
    return {
        "id": note.id,
        "text": note.text,
        "author": {"id": author.id, "name": author.name} if author else None,
        "created_at": note.created_at.isoformat(),
    }


_NOTES_WITH_AUTHORS = (  # built once: the sidebar asks for every email it shows
    select(ActivityNote, User)
    .outerjoin(User, User.id == ActivityNote.author_id)
    .where(ActivityNote.activity_id == bindparam("activity_id"))
    .order_by(ActivityNote.created_at, ActivityNote.id)
    .options(lazyload(User.aliases))
)


def notes_of(session: Session, activity_id: int) -> list[dict[str, Any]]:
    """Notes on an activity with their authors, oldest first, in one query."""
    rows = session.execute(_NOTES_WITH_AUTHORS, {"activity_id": activity_id})
    return [serialize_note(session, note, author) for note, author in rows]


def add_note(uow: UnitOfWork, principal: Principal, activity_id: int, text: str) -> dict[str, Any]:
    """Add the principal's note to an activity whose content they may read."""
    text = (text or "").strip()
    if not text:
        raise InvalidField([{"field": "text", "message": "write something"}])
    if len(text) > MAX_NOTE_CHARS:
        raise InvalidField([{"field": "text", "message": f"at most {MAX_NOTE_CHARS} characters"}])
    activity, owners = visible_activity(uow.s, principal, activity_id)
    if not content_readable(principal, activity, owners):
        raise PermissionDenied("this email is private to the reps who received it")
    note = ActivityNote(activity_id=activity.id, author_id=principal.user_id, text=text, created_at=utcnow())
    uow.s.add(note)
    uow.commit()
    return serialize_note(uow.s, note)


# -- threads --------------------------------------------------------------------------------------------------
def _thread_activities(session: Session, org_id: int, thread_key: str) -> list[Activity]:
    return list(session.scalars(select(Activity).where(Activity.org_id == org_id, Activity.thread_key == thread_key)))


def _check_thread_access(session: Session, principal: Principal, activities: list[Activity], *, need_owner: bool) -> None:
    """Somebody else's captured thread is invisible; making one private needs the principal's own mailbox."""
    if not activities:
        return
    owned = [a for a in activities if principal.user_id in mailbox_owner_ids(session, a.id)]
    if need_owner and not owned:
        if any(can_see_activity(session, principal, a) for a in activities):
            raise PermissionDenied("only the reps who received this thread may mark it private")
        raise NotFoundError("thread not found")
    if not owned and not any(can_see_activity(session, principal, a) for a in activities):
        raise NotFoundError("thread not found")


def _thread_link(session: Session, org_id: int, thread_key: str) -> ThreadLink | None:
    return session.scalar(select(ThreadLink).where(ThreadLink.org_id == org_id, ThreadLink.thread_key == thread_key))


def _require_thread_key(thread_key: str) -> str:
    thread_key = (thread_key or "").strip().strip("<>")
    if not thread_key:
        raise InvalidField([{"field": "thread_key", "message": "required"}])
    return thread_key


def set_thread_private(uow: UnitOfWork, principal: Principal, thread_key: str, is_private: bool) -> dict[str, Any]:
    """Mark a conversation private (content hidden from managers) or public again; later mail follows it."""
    s = uow.s
    thread_key = _require_thread_key(thread_key)
    activities = _thread_activities(s, principal.org_id, thread_key)
    _check_thread_access(s, principal, activities, need_owner=True)
    link = _thread_link(s, principal.org_id, thread_key)
    if link is None:
        link = ThreadLink(org_id=principal.org_id, thread_key=thread_key, opportunity_id=None, chosen_by_id=principal.user_id)
        s.add(link)
    link.is_private = is_private
    link.chosen_at = utcnow()
    s.execute(
        update(Activity)
        .where(Activity.org_id == principal.org_id, Activity.thread_key == thread_key)
        .values(is_private=is_private, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    uow.commit()
    return {"thread_key": thread_key, "is_private": is_private, "activities": len(activities)}


def link_thread(uow: UnitOfWork, principal: Principal, thread_key: str, opportunity_id: int) -> dict[str, Any]:
    """Remember the rep's choice of opportunity for a conversation and move its captured emails there."""
    s = uow.s
    thread_key = _require_thread_key(thread_key)
    opp = opp_service.load_visible(s, principal, opportunity_id, for_edit=True)
    activities = _thread_activities(s, principal.org_id, thread_key)
    _check_thread_access(s, principal, activities, need_owner=False)
    link = _thread_link(s, principal.org_id, thread_key)
    previous = link.opportunity_id if link else None
    if link is None:
        link = ThreadLink(org_id=principal.org_id, thread_key=thread_key, is_private=False)
        s.add(link)
    link.opportunity_id = opp.id
    link.chosen_by_id = principal.user_id
    link.chosen_at = utcnow()
    s.execute(
        update(Activity)
        .where(Activity.org_id == principal.org_id, Activity.thread_key == thread_key)
        .values(opportunity_id=opp.id, account_id=opp.account_id, link_method="thread", needs_link_choice=False,
                link_candidates=[], updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if previous != opp.id:
        record_changes(s, principal, "opportunity", opp.id, principal.org_id, {"linked_thread": (None, thread_key)})
    uow.commit()
    return {"thread_key": thread_key, "opportunity_id": opp.id, "activities": len(activities)}


def create_opportunity_from_email(
    uow: UnitOfWork, principal: Principal, thread_key: str, values: dict[str, Any], contact_id: int | None = None,
    role: str | None = None,
) -> dict[str, Any]:
    """Create a deal for the email's conversation, link the thread to it, and optionally add the sender's role."""
    thread_key = _require_thread_key(thread_key)
    activities = _thread_activities(uow.s, principal.org_id, thread_key)
    _check_thread_access(uow.s, principal, activities, need_owner=False)
    created = opp_service.create_opportunity(uow, principal, values)
    link_thread(uow, principal, thread_key, created["id"])
    if contact_id is not None and role is not None:
        return opp_service.set_buying_role(uow, principal, created["id"], created["version"], contact_id, role)
    return opp_service.get_opportunity(uow, principal, created["id"])
