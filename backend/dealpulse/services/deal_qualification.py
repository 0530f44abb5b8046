"""What a rep records about a deal beyond its fields: answers to the stage's exit questions and the buying team
(roles, and people added by address). Every write is version-guarded, audited and re-evaluates the deal's alerts."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from ..domain.alert_rules import Thresholds
from ..domain.access import Principal
from ..mail.linking import load_org_directory, normalize_address
from ..store import (
    BuyingTeamMember,
    Contact,
    ExitAnswer,
    ExitQuestion,
    utcnow,
)
from ..store.crm import BUYING_ROLES
from ..store.uow import UnitOfWork
from .access import load_visible
from .opportunities import guarded_bump, load_for_edit
from .opportunity_views import serialize
from .alert_hooks import on_deals_changed
from .audit import record_changes
from .errors import InvalidField

def answer_exit_questions(
    uow: UnitOfWork, principal: Principal, opportunity_id: int, expected_version: int, answers: dict[str, bool | None], *,
    alert_defaults: Thresholds,
) -> dict[str, Any]:
    """Record yes/no answers to the current stage's exit questions (never blocks a stage change)."""
    s = uow.s
    opp = load_for_edit(s, principal, opportunity_id, expected_version)
    questions = {q.key: q for q in s.scalars(select(ExitQuestion).where(ExitQuestion.stage_id == opp.stage_id))}
    unknown = [k for k in answers if k not in questions]
    if unknown:
        raise InvalidField([{"field": f"answers.{k}", "message": "not an exit question of the current stage"} for k in unknown])
    existing = {
        a.question_id: a
        for a in s.scalars(select(ExitAnswer).where(ExitAnswer.opportunity_id == opp.id))
    }
    audit: dict[str, tuple[Any, Any]] = {}
    for key, value in answers.items():
        q = questions[key]
        row = existing.get(q.id)
        old = row.answer if row else None
        if row is not None and old == value:
            continue
        if row is None and value is None:
            continue
        audit[f"exit.{key}"] = (old, value)
    if not audit:
        return serialize(s, opp, detail=True)
    new_version = guarded_bump(s, principal, opp, expected_version, {})
    for key, value in answers.items():
        q = questions[key]
        row = existing.get(q.id)
        if row is None:
            s.add(ExitAnswer(opportunity_id=opp.id, question_id=q.id, answer=value, answered_by_id=principal.user_id))
        else:
            row.answer = value
            row.answered_by_id = principal.user_id
            row.answered_at = utcnow()
    record_changes(s, principal, "opportunity", opp.id, opp.org_id, audit, version=new_version)
    uow.commit()
    on_deals_changed(uow, opp.org_id, [opp.id], alert_defaults=alert_defaults)
    s.refresh(opp)
    return serialize(s, opp, detail=True)


def set_buying_role(
    uow: UnitOfWork, principal: Principal, opportunity_id: int, expected_version: int, contact_id: int, role: str | None, *,
    alert_defaults: Thresholds,
) -> dict[str, Any]:
    """Put a contact on the buying team with `role`, change their role, or remove them (role None)."""
    s = uow.s
    opp = load_for_edit(s, principal, opportunity_id, expected_version)
    contact = s.get(Contact, contact_id)
    if contact is None or contact.org_id != principal.org_id:
        raise InvalidField([{"field": "contact_id", "message": "unknown contact"}])
    if role is not None and role not in BUYING_ROLES:
        raise InvalidField([{"field": "role", "message": f"must be one of {', '.join(BUYING_ROLES)}"}])
    member = s.scalar(
        select(BuyingTeamMember).where(BuyingTeamMember.opportunity_id == opp.id, BuyingTeamMember.contact_id == contact_id)
    )
    old = member.role if member else None
    if old == role:
        return serialize(s, opp, detail=True)
    new_version = guarded_bump(s, principal, opp, expected_version, {})
    if role is None:
        s.delete(member)
    elif member is None:
        s.add(BuyingTeamMember(opportunity_id=opp.id, contact_id=contact_id, role=role, added_at=utcnow()))
    else:
        member.role, member.added_at = role, utcnow()
    record_changes(s, principal, "opportunity", opp.id, opp.org_id, {f"buying_team.{contact.email}": (old, role)}, version=new_version)
    uow.commit()
    on_deals_changed(uow, opp.org_id, [opp.id], alert_defaults=alert_defaults)
    s.refresh(opp)
    return serialize(s, opp, detail=True)


def add_to_buying_team(
    uow: UnitOfWork, principal: Principal, opportunity_id: int, expected_version: int, email: str, name: str, role: str,
    *, alert_defaults: Thresholds,
) -> dict[str, Any]:
    """Put a person on the buying team by address (an email's participant, or typed): an unknown address becomes a
    contact of the deal's account. Colleagues' addresses are refused."""
    s = uow.s
    opp = load_visible(s, principal, opportunity_id, for_edit=True)
    address = normalize_address(email)
    if not address:
        raise InvalidField([{"field": "email", "message": "not an email address"}])
    if load_org_directory(s, principal.org_id).is_internal(address):
        raise InvalidField([{"field": "email", "message": "a colleague cannot be on the buyer's team"}])
    contact = s.scalar(select(Contact).where(Contact.org_id == principal.org_id, func.lower(Contact.email) == address))
    if contact is None:
        contact = Contact(org_id=principal.org_id, account_id=opp.account_id, email=address, name=(name or "").strip()[:200])
        s.add(contact)
        s.flush()
        record_changes(s, principal, "contact", contact.id, principal.org_id, {"email": (None, address), "account_id": (None, opp.account_id)})
    return set_buying_role(uow, principal, opp.id, expected_version, contact.id, role, alert_defaults=alert_defaults)
