"""What a rep does to an email from the sidebar besides rating it and choosing its deal (services.threads): notes.

Also the access rules for activities: who may see one (the reps whose mailbox captured it, and whoever may see
its opportunity) and who may read its content (private activities: only the reps whose mailbox captured them).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, lazyload

from ..domain.access import Principal, can_read_content, can_see_deal
from ..store import Activity, ActivityNote, Opportunity, User, utcnow
from ..store.activities import mailbox_owners
from ..store.uow import UnitOfWork
from .errors import InvalidField, NotFoundError, PermissionDenied

MAX_NOTE_CHARS = 5000


# -- access ---------------------------------------------------------------------------------------------------
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
    owners = mailbox_owners(session, [activity.id])[activity.id] if owners is None else owners
    return principal.user_id in owners or principal.is_admin or deal_visible(session, principal, activity.opportunity_id)


def visible_activity(session: Session, principal: Principal, activity_id: int) -> tuple[Activity, set[int]]:
    """The activity and its mailbox owners if the principal may see it; NotFoundError otherwise (no leak)."""
    activity = session.get(Activity, activity_id)
    if activity is None:
        raise NotFoundError(f"activity {activity_id} not found")
    owners = mailbox_owners(session, [activity.id])[activity.id]
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
