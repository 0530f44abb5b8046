"""Action items agreed in a pipeline review: what blocks a deal, who removes the obstacle by when, and its priority.

Whoever may see a deal may read and change its items (a rep their own deals', a manager their teams'); every
creation and change is audited (entity "action_item"). "Overdue" is one definition for every surface:
`is_overdue` (open and due before today).
"""

from __future__ import annotations

from datetime import date
from typing import Any, Sequence

from sqlalchemy import Select, select
from sqlalchemy.orm import aliased

from ..domain.access import Principal
from ..store import ACTION_OWNER_KINDS, ACTION_PRIORITIES, ACTION_STATUSES, ActionItem, Opportunity, Review, Team, User
from ..store.uow import UnitOfWork
from .audit import record_changes
from .errors import InvalidField, NotFoundError
from .access import load_visible, visibility_clause

PRIORITY_ORDER = {p: i for i, p in enumerate(ACTION_PRIORITIES)}
EDITABLE = ("obstacle", "owner_kind", "owner_name", "due_date", "priority", "status")


def is_overdue(status: str, due_date: date, today: date) -> bool:
    """An item is overdue while it is open and its due date has passed."""
    return status == "open" and due_date < today


def _owner_label(item: ActionItem, rep: str, manager: str) -> str:
    if item.owner_kind == "executive":
        return item.owner_name or "Executive"
    if item.owner_kind == "manager":
        return f"Manager ({manager})" if manager else "Manager"
    return f"Rep ({rep})" if rep else "Rep"


def _base_query() -> Select[Any]:
    boss = aliased(User)
    manager = (select(boss.name).join(Team, Team.manager_id == boss.id).where(Team.id == User.team_id)
               .correlate(User).scalar_subquery())
    return (
        select(ActionItem, Opportunity.name, Opportunity.owner_id, User.name, manager)
        .join(Opportunity, Opportunity.id == ActionItem.opportunity_id)
        .join(User, User.id == Opportunity.owner_id)
    )


def _view(row: Any, today: date) -> dict[str, Any]:
    item, deal, owner_id, rep, manager = row
    return {
        "id": item.id, "opportunity_id": item.opportunity_id, "opportunity": deal, "rep_id": owner_id,
        "review_id": item.review_id, "obstacle": item.obstacle, "owner_kind": item.owner_kind,
        "owner_name": item.owner_name, "owner": _owner_label(item, rep or "", manager or ""),
        "due_date": item.due_date.isoformat(), "priority": item.priority, "status": item.status,
        "overdue": is_overdue(item.status, item.due_date, today),
        "created_at": item.created_at.isoformat(), "updated_at": item.updated_at.isoformat(),
    }


def _sorted(rows: Sequence[Any], today: date) -> list[dict[str, Any]]:
    views = [_view(r, today) for r in rows]
    return sorted(views, key=lambda v: (not v["overdue"], v["status"] != "open", PRIORITY_ORDER.get(v["priority"], 9),
                                        v["due_date"], v["id"]))


def _check(values: dict[str, Any]) -> None:
    errors = []
    if "owner_kind" in values and values["owner_kind"] not in ACTION_OWNER_KINDS:
        errors.append({"field": "owner_kind", "message": f"one of {', '.join(ACTION_OWNER_KINDS)}", "type": "enum"})
    if "priority" in values and values["priority"] not in ACTION_PRIORITIES:
        errors.append({"field": "priority", "message": f"one of {', '.join(ACTION_PRIORITIES)}", "type": "enum"})
    if "status" in values and values["status"] not in ACTION_STATUSES:
        errors.append({"field": "status", "message": f"one of {', '.join(ACTION_STATUSES)}", "type": "enum"})
    if "obstacle" in values and not str(values["obstacle"]).strip():
        errors.append({"field": "obstacle", "message": "say what blocks the deal", "type": "missing"})
    if errors:
        raise InvalidField(errors)


def create_action_item(uow: UnitOfWork, principal: Principal, opportunity_id: int, values: dict[str, Any],
                       review_id: int | None, today: date) -> dict[str, Any]:
    """A new open item on a deal the principal may change (optionally agreed in review `review_id`), audited."""
    session = uow.s
    opp = load_visible(session, principal, opportunity_id, for_edit=True)
    _check(values)
    if values["owner_kind"] == "executive" and not values.get("owner_name", "").strip():
        raise InvalidField([{"field": "owner_name", "message": "name the executive who removes the obstacle", "type": "missing"}])
    if review_id is not None:
        review = session.get(Review, review_id)
        if review is None or review.org_id != principal.org_id or review.rep_id != opp.owner_id:
            raise InvalidField([{"field": "review_id", "message": "not a review of this deal's rep", "type": "value"}])
    item = ActionItem(org_id=opp.org_id, opportunity_id=opp.id, review_id=review_id, obstacle=values["obstacle"].strip(),
                      owner_kind=values["owner_kind"], owner_name=values.get("owner_name", "").strip(),
                      due_date=values["due_date"], priority=values.get("priority", "medium"), status="open",
                      created_by_id=principal.user_id)
    session.add(item)
    session.flush()
    record_changes(session, principal, "action_item", item.id, opp.org_id,
                   {k: (None, getattr(item, k)) for k in EDITABLE if getattr(item, k) not in ("", None)})
    uow.commit()
    return action_item(uow, principal, item.id, today)


def action_item(uow: UnitOfWork, principal: Principal, item_id: int, today: date) -> dict[str, Any]:
    """One item on a deal the principal may see (NotFoundError otherwise)."""
    row = uow.s.execute(_base_query().where(ActionItem.id == item_id, visibility_clause(principal))).first()
    if row is None:
        raise NotFoundError(f"action item {item_id} not found")
    return _view(row, today)


def update_action_item(uow: UnitOfWork, principal: Principal, item_id: int, values: dict[str, Any], today: date) -> dict[str, Any]:
    """Change an item's status, due date, priority, owner or obstacle; audits each changed field."""
    session = uow.s
    item = session.get(ActionItem, item_id)
    if item is None or item.org_id != principal.org_id:
        raise NotFoundError(f"action item {item_id} not found")
    try:
        load_visible(session, principal, item.opportunity_id, for_edit=True)
    except NotFoundError:
        raise NotFoundError(f"action item {item_id} not found") from None
    _check(values)
    changes = {k: (getattr(item, k), v) for k, v in values.items() if k in EDITABLE and getattr(item, k) != v}
    if values.get("owner_kind", item.owner_kind) == "executive" and not values.get("owner_name", item.owner_name).strip():
        raise InvalidField([{"field": "owner_name", "message": "name the executive who removes the obstacle", "type": "missing"}])
    for key, (_, new) in changes.items():
        setattr(item, key, new)
    if changes:
        session.flush()
        record_changes(session, principal, "action_item", item.id, item.org_id, changes)
        uow.commit()
    return action_item(uow, principal, item.id, today)


def list_action_items(uow: UnitOfWork, principal: Principal, today: date, *, opportunity_id: int | None = None,
                      rep_id: int | None = None, status: str | None = None, review_id: int | None = None,
                      limit: int = 500) -> list[dict[str, Any]]:
    """Items on deals the principal may see: overdue first, then open by priority and due date, then closed ones."""
    query = _base_query().where(visibility_clause(principal))
    session = uow.s
    if opportunity_id is not None:
        query = query.where(ActionItem.opportunity_id == opportunity_id)
    if rep_id is not None:
        query = query.where(Opportunity.owner_id == rep_id)
    if status is not None:
        query = query.where(ActionItem.status == status)
    if review_id is not None:
        query = query.where(ActionItem.review_id == review_id)
    rows = session.execute(query.order_by(ActionItem.due_date, ActionItem.id).limit(limit)).all()
    return _sorted(rows, today)


def overdue_for_teams(uow: UnitOfWork, org_id: int, team_ids: Sequence[int], today: date) -> list[dict[str, Any]]:
    """Open items past their due date on the deals of the given teams' reps (the manager's digest)."""
    return open_items_for_teams(uow, org_id, team_ids, today, due_before=today)


def open_items_for_teams(uow: UnitOfWork, org_id: int, team_ids: Sequence[int], today: date, *, due_before: date,
                         due_from: date | None = None) -> list[dict[str, Any]]:
    """Open items due in [due_from, due_before) on the deals of the given teams' reps, overdue first."""
    query = _base_query().where(ActionItem.org_id == org_id, ActionItem.status == "open", ActionItem.due_date < due_before,
                                User.team_id.in_(list(team_ids)))
    if due_from is not None:
        query = query.where(ActionItem.due_date >= due_from)
    return _sorted(uow.s.execute(query.order_by(ActionItem.due_date, ActionItem.id)).all(), today)
