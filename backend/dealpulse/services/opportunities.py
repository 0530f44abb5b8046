"""Use cases on opportunities: list, read, create, update (version-guarded), history. Exit answers and the buying
team are `deal_qualification`; the API shape is `opportunity_views`."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ..domain.alert_rules import Thresholds
from ..domain.access import Principal, can_see_deal
from ..store import (
    Account,
    Opportunity,
    Stage,
    StageTransition,
    User,
    utcnow,
)
from ..store.crm import FORECAST_CATEGORIES
from ..store.uow import UnitOfWork
from .alert_hooks import on_deals_changed
from .audit import history, record_changes
from .errors import InvalidField, StaleVersion
from .access import load_visible, visibility_clause
from .opportunity_views import serialize

EDITABLE_FIELDS = (
    "name", "stage", "amount", "currency", "close_date", "next_step", "probability", "owner_id", "account_id",
    "forecast_category",
)


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
        closed_at=now if stage.is_closed else None,
        forecast_category=_category(values.get("forecast_category") or "pipeline"),
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


def _category(value: str) -> str:
    if value not in FORECAST_CATEGORIES:
        raise InvalidField([{"field": "forecast_category", "message": f"must be one of {', '.join(FORECAST_CATEGORIES)}"}])
    return value


def _current_value(session: Session, opp: Opportunity, field_name: str) -> Any:
    if field_name == "stage":
        return session.get(Stage, opp.stage_id).key
    return getattr(opp, field_name)


def stale_version(session: Session, principal: Principal, opportunity_id: int, expected: int) -> StaleVersion:
    """A StaleVersion error (after rolling back) carrying the current state and what changed since `expected`."""
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
        raise stale_version(session, principal, opp.id, expected_version)
    return new_version


def load_for_edit(s: Session, principal: Principal, opportunity_id: int, expected_version: int) -> Opportunity:
    """The opportunity the caller may edit, if `expected_version` is still current (else StaleVersion)."""
    opp = load_visible(s, principal, opportunity_id, for_edit=True)
    if opp.version != expected_version:
        raise stale_version(s, principal, opportunity_id, expected_version)
    return opp


def update_opportunity(
    uow: UnitOfWork, principal: Principal, opportunity_id: int, expected_version: int, changes: dict[str, Any], *,
    alert_defaults: Thresholds,
) -> dict[str, Any]:
    """Change fields of an opportunity if `expected_version` is current; audit every changed field."""
    s = uow.s
    opp = load_for_edit(s, principal, opportunity_id, expected_version)
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
            # Closing stamps closed_at; reopening clears it (metrics count a deal by its latest close).
            values["closed_at"] = now if stage.is_closed else None
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
        elif field_name == "forecast_category":
            values["forecast_category"] = _category(new)
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


def opportunity_history(uow: UnitOfWork, principal: Principal, opportunity_id: int) -> list[dict[str, Any]]:
    """The audit history of an opportunity, newest first."""
    opp = load_visible(uow.s, principal, opportunity_id)
    return history(uow.s, opp.org_id, "opportunity", opp.id)
