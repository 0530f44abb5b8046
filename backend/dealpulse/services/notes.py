"""What a rep does to an email from the sidebar besides rating it and choosing its deal (services.threads): notes.

Who may see an activity and read its content is decided in `services.access`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, lazyload

from ..domain.access import Principal
from ..store import ActivityNote, User, utcnow
from ..store.uow import UnitOfWork
from .access import content_readable, visible_activity
from .errors import InvalidField, PermissionDenied

MAX_NOTE_CHARS = 5000


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
