"""Pipeline reviews: a manager's one-to-one with a rep, recorded with the agenda as it stood, and the review history.

A review's snapshot keeps the agenda (the problem deals with their reasons and the totals per currency) and the
items that were overdue when it started, so "did we do what we said" is one look at a past review: its snapshot
beside the current status of the action items agreed in it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select

from ..domain.access import Principal, can_see_deal
from ..store import Opportunity, Review, Stage, User
from ..store.uow import UnitOfWork
from .action_items import list_action_items
from .review_agenda import review_agenda
from .errors import NotFoundError, PermissionDenied
from .access import visibility_clause


def _visible_rep(uow: UnitOfWork, principal: Principal, rep_id: int) -> User:
    rep = uow.s.get(User, rep_id)
    if rep is None or not can_see_deal(principal, rep.org_id, rep.id, rep.team_id):
        raise NotFoundError(f"rep {rep_id} not found")
    return rep


def review_view(uow: UnitOfWork, principal: Principal, review: Review, now: datetime) -> dict[str, Any]:
    """A review with its snapshot and the action items agreed in it (as they stand now)."""
    held_by = uow.s.get(User, review.held_by_id) if review.held_by_id else None
    rep = uow.s.get(User, review.rep_id)
    return {
        "id": review.id, "rep": {"id": review.rep_id, "name": rep.name if rep else ""},
        "held_by": {"id": held_by.id, "name": held_by.name} if held_by else None,
        "held_at": review.held_at.isoformat(), "agenda": review.agenda,
        "action_items": list_action_items(uow, principal, now.date(), review_id=review.id),
    }


def start_review(uow: UnitOfWork, principal: Principal, rep_id: int, now: datetime) -> dict[str, Any]:
    """Record a review of `rep_id` held now by a manager (or admin), snapshotting the agenda and overdue items."""
    if not principal.is_manager:
        raise PermissionDenied("only a manager holds a pipeline review")
    rep = _visible_rep(uow, principal, rep_id)
    agenda = review_agenda(uow, principal, rep.id)
    overdue = [i for i in list_action_items(uow, principal, now.date(), rep_id=rep.id, status="open") if i["overdue"]]
    review = Review(org_id=rep.org_id, rep_id=rep.id, held_by_id=principal.user_id, held_at=now,
                    agenda={**agenda, "overdue": overdue})
    uow.s.add(review)
    uow.commit()
    return review_view(uow, principal, review, now)


def load_review(uow: UnitOfWork, principal: Principal, review_id: int, now: datetime) -> dict[str, Any]:
    """One review of a rep the principal may see (NotFoundError otherwise)."""
    review = uow.s.get(Review, review_id)
    if review is None or review.org_id != principal.org_id:
        raise NotFoundError(f"review {review_id} not found")
    try:
        _visible_rep(uow, principal, review.rep_id)
    except NotFoundError:
        raise NotFoundError(f"review {review_id} not found") from None
    return review_view(uow, principal, review, now)


def review_history(uow: UnitOfWork, principal: Principal, rep_id: int, now: datetime, limit: int = 50) -> list[dict[str, Any]]:
    """Past reviews of a rep, newest first, each with its snapshot and action items."""
    rep = _visible_rep(uow, principal, rep_id)
    reviews = uow.s.scalars(select(Review).where(Review.org_id == rep.org_id, Review.rep_id == rep.id)
                            .order_by(Review.held_at.desc(), Review.id.desc()).limit(limit)).all()
    return [review_view(uow, principal, r, now) for r in reviews]


def rep_open_deals(uow: UnitOfWork, principal: Principal, rep_id: int) -> list[dict[str, Any]]:
    """The rep's open deals the principal may see (the deals an action item can be about), by name."""
    rows = uow.s.execute(
        select(Opportunity.id, Opportunity.name).join(Stage, Stage.id == Opportunity.stage_id)
        .where(Opportunity.owner_id == rep_id, Stage.is_closed.is_(False), visibility_clause(principal))
        .order_by(Opportunity.name, Opportunity.id)
    ).all()
    return [{"id": i, "name": n} for i, n in rows]
