"""Use cases on opportunities: list, read, create, update (version-guarded), exit answers, buying team."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, bindparam, func, select, update
from sqlalchemy.orm import Session

from ..domain.alert_rules import Thresholds
from ..domain.access import Principal, can_see_deal
from ..mail.linking import load_org_directory, normalize_address
from ..store import (
    Account,
    BuyingTeamMember,
    Contact,
    ExitAnswer,
    ExitQuestion,
    Opportunity,
    Stage,
    StageTransition,
    User,
    utcnow,
)
from ..store.crm import BUYING_ROLES
from ..store.uow import UnitOfWork
from .alert_hooks import on_deals_changed
from .audit import history, record_changes
from .dynamics import engaged_contacts
from .errors import InvalidField, StaleVersion
from .access import load_visible, visibility_clause

EDITABLE_FIELDS = ("name", "stage", "amount", "currency", "close_date", "next_step", "probability", "owner_id", "account_id")


@dataclass(frozen=True)
class OpportunityFilters:
    """Filters for listing: scope mine|team|all, plus optional stage/owner/account/text/open filters."""

    scope: str = "mine"
    stage: str | None = None
    owner_id: int | None = None
    account_id: int | None = None
    q: str | None = None
    is_open: bool | None = None
    limit: int = 100
    offset: int = 0


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
        "next_step": opp.next_step,
        "probability": opp.probability,
        "stage_entered_at": opp.stage_entered_at.isoformat(),
        "close_date_pushes": opp.close_date_pushes,
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


def list_opportunities(uow: UnitOfWork, principal: Principal, filters: OpportunityFilters) -> dict[str, Any]:
    """Opportunities visible to the principal, narrowed by `filters`, newest activity first."""
    s = uow.s
    query = select(Opportunity).join(Stage, Stage.id == Opportunity.stage_id).where(visibility_clause(principal))
    if filters.scope == "mine":
        query = query.where(Opportunity.owner_id == principal.user_id)
    elif filters.scope == "team":
        team_ids = set(principal.managed_team_ids) | ({principal.team_id} if principal.team_id else set())
        query = query.where(Opportunity.owner_id.in_(select(User.id).where(User.team_id.in_(team_ids))))
    if filters.stage:
        query = query.where(Stage.key == filters.stage)
    if filters.owner_id is not None:
        query = query.where(Opportunity.owner_id == filters.owner_id)
    if filters.account_id is not None:
        query = query.where(Opportunity.account_id == filters.account_id)
    if filters.is_open is not None:
        query = query.where(Stage.is_closed.is_(not filters.is_open))
    if filters.q:
        query = query.where(func.lower(Opportunity.name).contains(filters.q.lower()))
    total = s.scalar(select(func.count()).select_from(query.subquery()))
    rows = s.scalars(
        query.order_by(Opportunity.updated_at.desc(), Opportunity.id.desc()).limit(filters.limit).offset(filters.offset)
    ).all()
    return {"items": [serialize(s, o) for o in rows], "total": total, "limit": filters.limit, "offset": filters.offset}


def get_opportunity(uow: UnitOfWork, principal: Principal, opportunity_id: int) -> dict[str, Any]:
    """One opportunity with its exit checklist and buying team."""
    opp = load_visible(uow.s, principal, opportunity_id)
    return serialize(uow.s, opp, detail=True)


def _stage_by_key(session: Session, org_id: int, key: str) -> Stage:
    stage = session.scalar(select(Stage).where(Stage.org_id == org_id, Stage.key == key))
    if stage is None:
        raise InvalidField([{"field": "stage", "message": f"unknown stage {key!r}"}])
    return stage


def _check_owner(session: Session, principal: Principal, owner_id: int) -> User:
    owner = session.get(User, owner_id)
    if owner is None or owner.org_id != principal.org_id:
        raise InvalidField([{"field": "owner_id", "message": "unknown user"}])
    if not owner.is_active:
        raise InvalidField([{"field": "owner_id", "message": "this user is deactivated: choose an active owner"}])
    if not can_see_deal(principal, principal.org_id, owner.id, owner.team_id):
        raise InvalidField([{"field": "owner_id", "message": "you may not assign deals to this user"}])
    return owner


def _check_account(session: Session, principal: Principal, account_id: int) -> Account:
    account = session.get(Account, account_id)
    if account is None or account.org_id != principal.org_id:
        raise InvalidField([{"field": "account_id", "message": "unknown account"}])
    return account


def create_opportunity(
    uow: UnitOfWork, principal: Principal, values: dict[str, Any], *, alert_defaults: Thresholds
) -> dict[str, Any]:
    """Create an opportunity (owner defaults to the caller) and audit its initial values."""
    s = uow.s
    owner_id = values.get("owner_id") or principal.user_id
    _check_owner(s, principal, owner_id)
    _check_account(s, principal, values["account_id"])
    stage = _stage_by_key(s, principal.org_id, values["stage"])
    now = utcnow()
    opp = Opportunity(
        org_id=principal.org_id,
        account_id=values["account_id"],
        owner_id=owner_id,
        stage_id=stage.id,
        name=values["name"],
        amount=Decimal(str(values.get("amount") or 0)),
        currency=values.get("currency") or "USD",
        close_date=values.get("close_date"),
        next_step=values.get("next_step") or "",
        probability=values["probability"] if values.get("probability") is not None else stage.probability,
        stage_entered_at=now,
        created_at=now,
        updated_at=now,
        version=1,
    )
    s.add(opp)
    s.flush()
    s.add(StageTransition(opportunity_id=opp.id, from_stage_id=None, to_stage_id=stage.id, at=now))
    initial = {k: (None, v) for k, v in serialize(s, opp).items() if k in EDITABLE_FIELDS and k != "stage"}
    initial["stage"] = (None, stage.key)
    record_changes(s, principal, "opportunity", opp.id, opp.org_id, initial, version=1)
    uow.commit()
    on_deals_changed(uow, opp.org_id, [opp.id], alert_defaults=alert_defaults)
    return serialize(s, opp, detail=True)


def _current_value(session: Session, opp: Opportunity, field_name: str) -> Any:
    if field_name == "stage":
        return session.get(Stage, opp.stage_id).key
    return getattr(opp, field_name)


def _stale(session: Session, principal: Principal, opportunity_id: int, expected: int) -> StaleVersion:
    session.rollback()
    opp = load_visible(session, principal, opportunity_id)
    session.refresh(opp)
    return StaleVersion(
        expected=expected,
        current=serialize(session, opp, detail=True),
        changes_since=history(session, opp.org_id, "opportunity", opp.id, since_version=expected),
    )


def guarded_bump(session: Session, principal: Principal, opp: Opportunity, expected_version: int, values: dict[str, Any]) -> int:
    """Apply `values` and bump the version only if it is still `expected_version` (conditional UPDATE).

    Raises StaleVersion (after rolling back) when someone else wrote first; returns the new version.
    """
    new_version = expected_version + 1
    result = session.execute(
        update(Opportunity)
        .where(Opportunity.id == opp.id, Opportunity.version == expected_version)
        .values(**values, version=new_version, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise _stale(session, principal, opp.id, expected_version)
    return new_version


def update_opportunity(
    uow: UnitOfWork, principal: Principal, opportunity_id: int, expected_version: int, changes: dict[str, Any], *,
    alert_defaults: Thresholds,
) -> dict[str, Any]:
    """Change fields of an opportunity if `expected_version` is current; audit every changed field."""
    s = uow.s
    opp = load_visible(s, principal, opportunity_id, for_edit=True)
    if opp.version != expected_version:
        raise _stale(s, principal, opportunity_id, expected_version)
    values: dict[str, Any] = {}
    audit: dict[str, tuple[Any, Any]] = {}
    now = utcnow()
    for field_name, new in changes.items():
        old = _current_value(s, opp, field_name)
        if field_name == "amount" and new is not None:
            new = Decimal(str(new)).quantize(Decimal("0.01"))
        if old == new:
            continue
        audit[field_name] = (old, new)
        if field_name == "stage":
            stage = _stage_by_key(s, principal.org_id, new)
            values["stage_id"] = stage.id
            values["stage_entered_at"] = now
            if "probability" not in changes:
                values["probability"] = stage.probability
                if stage.probability != opp.probability:
                    audit["probability"] = (opp.probability, stage.probability)
        elif field_name == "owner_id":
            _check_owner(s, principal, new)
            values["owner_id"] = new
        elif field_name == "account_id":
            _check_account(s, principal, new)
            values["account_id"] = new
        else:
            values[field_name] = new
        if field_name == "close_date" and old is not None and new is not None and new > old:
            values["close_date_pushes"] = opp.close_date_pushes + 1
    if not audit:
        return serialize(s, opp, detail=True)
    new_version = guarded_bump(s, principal, opp, expected_version, values)
    if "stage_id" in values:
        s.add(StageTransition(opportunity_id=opp.id, from_stage_id=opp.stage_id, to_stage_id=values["stage_id"], at=now))
    record_changes(s, principal, "opportunity", opp.id, opp.org_id, audit, version=new_version)
    uow.commit()
    on_deals_changed(uow, opp.org_id, [opp.id], alert_defaults=alert_defaults)
    s.refresh(opp)
    return serialize(s, opp, detail=True)


def answer_exit_questions(
    uow: UnitOfWork, principal: Principal, opportunity_id: int, expected_version: int, answers: dict[str, bool | None], *,
    alert_defaults: Thresholds,
) -> dict[str, Any]:
    """Record yes/no answers to the current stage's exit questions (never blocks a stage change)."""
    s = uow.s
    opp = load_visible(s, principal, opportunity_id, for_edit=True)
    if opp.version != expected_version:
        raise _stale(s, principal, opportunity_id, expected_version)
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
    opp = load_visible(s, principal, opportunity_id, for_edit=True)
    if opp.version != expected_version:
        raise _stale(s, principal, opportunity_id, expected_version)
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
        s.add(BuyingTeamMember(opportunity_id=opp.id, contact_id=contact_id, role=role))
    else:
        member.role = role
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


def opportunity_history(uow: UnitOfWork, principal: Principal, opportunity_id: int) -> list[dict[str, Any]]:
    """The audit history of an opportunity, newest first."""
    opp = load_visible(uow.s, principal, opportunity_id)
    return history(uow.s, opp.org_id, "opportunity", opp.id)
