"""Rating an email's tone: one current rating per rater per activity, changeable, with its history.

Each rating keeps the rated new text (training reads it without joins) and what the model said at the time
(`model_label`, `model_version`), so disagreement between reps and the model stays visible.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..domain.access import Principal
from ..store import Activity, Rater, Rating, RatingChange, SentimentScore, utcnow
from ..domain.tone_labels import LABELS
from ..store.sentiment import current_scores
from ..store.uow import UnitOfWork
from .errors import InvalidField, PermissionDenied
from ..sentiment.holdout import is_holdout_text
from .access import content_readable, visible_activity

MAX_NOTE_CHARS = 2000
NOT_RATABLE_OUTBOUND = "the rep's own outbound email: only the buyer's emails are rated"


def is_ratable(activity: Activity) -> bool:
    """Whether reps may rate the buyer's tone in this activity: an inbound email (never the rep's own mail)."""
    return activity.kind == "email" and activity.direction == "inbound"


def activity_item_key(activity_id: int) -> str:
    """The rating item key of an activity."""
    return f"a:{activity_id}"


def rater_for_user(session: Session, principal: Principal) -> Rater:
    """The principal's rater row (created on first use), keyed by their primary address."""
    key = principal.email.lower()
    rater = session.scalar(select(Rater).where(Rater.org_id == principal.org_id, Rater.key == key))
    if rater is None:
        rater = Rater(org_id=principal.org_id, key=key, user_id=principal.user_id, is_imported=False)
        session.add(rater)
        session.flush()
    elif rater.user_id is None:
        rater.user_id = principal.user_id
    return rater


def serialize_rating(rating: Rating) -> dict[str, Any]:
    """A rating as the API returns it."""
    return {
        "id": rating.id,
        "activity_id": rating.activity_id,
        "label": rating.label,
        "note": rating.note,
        "model_label": rating.model_label,
        "model_version": rating.model_version,
        "agrees_with_model": None if rating.model_label is None else rating.model_label == rating.label,
        "created_at": rating.created_at.isoformat(),
        "updated_at": rating.updated_at.isoformat(),
    }


_MY_RATING = (  # built once: the sidebar asks for every email it shows
    select(Rating)
    .join(Rater, Rater.id == Rating.rater_id)
    .where(Rater.org_id == bindparam("org_id"), Rater.user_id == bindparam("user_id"),
           Rating.item_key == bindparam("item_key"))
)


def my_rating(session: Session, principal: Principal, activity_id: int) -> dict[str, Any] | None:
    """The principal's current rating of an activity, if any."""
    rating = session.scalar(_MY_RATING, {"org_id": principal.org_id, "user_id": principal.user_id,
                                         "item_key": activity_item_key(activity_id)})
    return serialize_rating(rating) if rating else None


def rating_history(session: Session, rating_id: int) -> list[dict[str, Any]]:
    """Every label a rating has had, oldest first."""
    rows = session.scalars(select(RatingChange).where(RatingChange.rating_id == rating_id).order_by(RatingChange.id))
    return [{"label": r.label, "note": r.note, "changed_at": r.changed_at.isoformat()} for r in rows]


def _validated(label: str, note: str | None) -> tuple[str, str]:
    if label not in LABELS:
        raise InvalidField([{"field": "label", "message": f"must be one of {', '.join(LABELS)}"}])
    note = (note or "").strip()
    if len(note) > MAX_NOTE_CHARS:
        raise InvalidField([{"field": "note", "message": f"at most {MAX_NOTE_CHARS} characters"}])
    return label, note


def rate_activity(
    uow: UnitOfWork, principal: Principal, activity_id: int, label: str, note: str | None = None, source: str = "sidebar"
) -> dict[str, Any]:
    """Set the principal's tone rating of an email (negative / neutral / positive, optional note); commits.

    Rating again replaces the current label and appends to the history; an unchanged label and note change nothing.
    Two clicks racing to create the same rating (or rater) end as one rating: the loser retries as an update.
    """
    label, note = _validated(label, note)
    try:
        return _rate(uow, principal, activity_id, label, note, source)
    except IntegrityError:
        uow.rollback()
        return _rate(uow, principal, activity_id, label, note, source)


def _rate(uow: UnitOfWork, principal: Principal, activity_id: int, label: str, note: str, source: str) -> dict[str, Any]:
    s = uow.s
    activity, owners = visible_activity(s, principal, activity_id)
    if activity.kind != "email":
        raise InvalidField([{"field": "activity_id", "message": "only emails are rated"}])
    if not is_ratable(activity):
        raise InvalidField([{"field": "activity_id", "message": f"this is {NOT_RATABLE_OUTBOUND}"}])
    if not content_readable(principal, activity, owners):
        raise PermissionDenied("this email is private to the reps who received it")
    rater = rater_for_user(s, principal)
    score = current_scores(s, [activity.id]).get(activity.id)
    rating, outcome = apply_rating(s, rater, activity_item_key(activity.id), activity.new_text or "", label, note,
                                   activity_id=activity.id, score=score, source=source)
    if outcome != "unchanged":
        uow.commit()
    return serialize_rating(rating)


def apply_rating(
    s: Session, rater: Rater, item_key: str, text: str, label: str, note: str, *, activity_id: int | None,
    score: SentimentScore | None, source: str, now: datetime | None = None, held_out: bool | None = None,
) -> tuple[Rating, str]:
    """Write `rater`'s current rating of an item (the sidebar and the import both come here; the caller commits).

    One current rating per rater per item: a new label or note replaces it and appends to the history, with the
    rated text, its side of the held-out split (`held_out`, computed when not given) and what the model said
    (`score`). Returns the rating and "created", "changed" or "unchanged" (same label and note: nothing written).
    """
    rating = s.scalar(select(Rating).where(Rating.rater_id == rater.id, Rating.item_key == item_key))
    if rating is not None and rating.label == label and rating.note == note:
        return rating, "unchanged"
    now = now or utcnow()
    outcome = "changed"
    if rating is None:
        rating = Rating(org_id=rater.org_id, rater_id=rater.id, activity_id=activity_id, item_key=item_key,
                        created_at=now, source=source)
        s.add(rating)
        outcome = "created"
    rating.text = text
    rating.is_holdout = is_holdout_text(text) if held_out is None else held_out
    rating.label, rating.note, rating.updated_at = label, note, now
    rating.model_label = score.label if score else None
    rating.model_version = score.model_version if score else None
    s.flush()
    s.add(RatingChange(rating_id=rating.id, label=label, note=note, changed_at=now))
    return rating, outcome
