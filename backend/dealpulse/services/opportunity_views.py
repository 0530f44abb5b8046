"""An opportunity as the API, the sidebar and the cards show it, with the current stage's exit checklist and the
buying team (statements built once: every detailed view, the sidebar's on each email, runs them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, select
from sqlalchemy.orm import Session

from ..store import (
    Account,
    BuyingTeamMember,
    Contact,
    ExitAnswer,
    ExitQuestion,
    Opportunity,
    Stage,
    User,
    utcnow,
)
from .dynamics import engaged_contacts

def serialize(session: Session, opp: Opportunity, *, detail: bool = False) -> dict[str, Any]:
    """The API representation of an opportunity (with exit questions and buying team when `detail`)."""
    stage = session.get(Stage, opp.stage_id)
    account = session.get(Account, opp.account_id)
    owner = session.get(User, opp.owner_id)
    data: dict[str, Any] = {
        "id": opp.id,
        "name": opp.name,
        "account": {"id": account.id, "name": account.name} if account else None,
        "owner": {"id": owner.id, "name": owner.name, "email": owner.email} if owner else None,
        "stage": {"key": stage.key, "name": stage.name, "is_closed": stage.is_closed, "is_won": stage.is_won},
        "amount": str(opp.amount),
        "currency": opp.currency,
        "close_date": opp.close_date.isoformat() if opp.close_date else None,
        "seats": opp.seats,
        "next_step": opp.next_step,
        "probability": opp.probability,
        "stage_entered_at": opp.stage_entered_at.isoformat(),
        "close_date_pushes": opp.close_date_pushes,
        "forecast_category": opp.forecast_category,
        "closed_at": opp.closed_at.isoformat() if opp.closed_at else None,
        "external_id": opp.external_id,
        "updated_at": opp.updated_at.isoformat(),
        "version": opp.version,
    }
    if detail:
        data["exit_questions"] = exit_checklist(session, opp)
        data["buying_team"] = buying_team(session, opp)
    return data


# Built once: every detailed view (the sidebar's on each email) runs them.
_EXIT_CHECKLIST = (
    select(ExitQuestion, ExitAnswer)
    .outerjoin(ExitAnswer, and_(ExitAnswer.question_id == ExitQuestion.id,
                                ExitAnswer.opportunity_id == bindparam("opportunity_id")))
    .where(ExitQuestion.stage_id == bindparam("stage_id"))
    .order_by(ExitQuestion.position)
)
_BUYING_TEAM = (
    select(BuyingTeamMember, Contact)
    .join(Contact, Contact.id == BuyingTeamMember.contact_id)
    .where(BuyingTeamMember.opportunity_id == bindparam("opportunity_id"))
    .order_by(Contact.name)
)


def exit_checklist(session: Session, opp: Opportunity) -> list[dict[str, Any]]:
    """The current stage's exit questions with this opportunity's answers (None = unanswered)."""
    rows = session.execute(_EXIT_CHECKLIST, {"opportunity_id": opp.id, "stage_id": opp.stage_id}).all()
    return [
        {
            "key": q.key,
            "text": q.text,
            "answer": a.answer if a else None,
            "answered_at": a.answered_at.isoformat() if a else None,
        }
        for q, a in rows
    ]


def buying_team(session: Session, opp: Opportunity, now: datetime | None = None) -> list[dict[str, Any]]:
    """Contacts on the opportunity's buying team with their roles and when each last wrote or met us on this deal."""
    rows = session.execute(_BUYING_TEAM, {"opportunity_id": opp.id}).all()
    last = {cid: at for cid, _, _, at in engaged_contacts(session, opp.id, now or utcnow(), contact_ids=[c.id for _, c in rows])} if rows else {}
    return [
        {"contact_id": c.id, "name": c.name, "email": c.email, "title": c.title, "role": m.role,
         "last_engaged_at": last[c.id].isoformat() if c.id in last else None}
        for m, c in rows
    ]
