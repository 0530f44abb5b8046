"""People of an organisation: adding users, changing their role and team, deactivating them (admin).

A user's manager is the manager of their team (`Team.manager_id`): change it on the team, or move the user. A
deactivated user cannot sign in or use their tokens from the next request on (every credential path loads only
active users, and their tokens are revoked); their deals stay with them and are listed for reassignment.
"""

from __future__ import annotations

from typing import Any, Iterable

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ..domain.access import Principal
from ..store import ApiToken, Opportunity, Stage, Team, User, UserAlias, user_ids_with_address, utcnow
from ..store.orgs import ROLES
from ..store.uow import UnitOfWork
from .admin_common import actor, claim_version, require_admin
from .audit import record_changes
from .errors import ConflictError, InvalidField, NotFoundError

MANAGING_ROLES = ("manager", "admin")


def normalise_email(raw: str, field: str = "email") -> str:
    """A lower-case mailbox address, or InvalidField naming `field` (syntax only; nothing is looked up)."""
    try:
        return validate_email(raw.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise InvalidField([{"field": field, "message": f"{raw!r} is not an email address ({exc})"}]) from None


def check_role(role: str, field: str = "role") -> str:
    """`role` if it is rep, manager or admin."""
    if role not in ROLES:
        raise InvalidField([{"field": field, "message": f"{role!r} is not a role (use {', '.join(ROLES)})"}])
    return role


def check_name(name: str, field: str = "name") -> str:
    """A stripped name of 1-200 characters."""
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise InvalidField([{"field": field, "message": "give a name of 1-200 characters"}])
    return name


def address_taken(s: Session, address: str) -> bool:
    """True if a user of any organisation has `address` as primary address or alias (addresses are global)."""
    return s.scalar(select(func.count()).select_from(user_ids_with_address(address).subquery())) > 0


def new_user(
    s: Session, org_id: int, email: str, name: str, role: str, team_id: int | None = None, aliases: Iterable[str] = ()
) -> User:
    """Add a validated user (not committed); every way of creating users goes through here."""
    address = normalise_email(email)
    if address_taken(s, address):
        raise InvalidField([{"field": "email", "message": f"{address} is already a DealPulse user"}])
    user = User(org_id=org_id, team_id=team_id, email=address, name=check_name(name), role=check_role(role))
    user.aliases = [UserAlias(email=normalise_email(a, "aliases")) for a in aliases]
    s.add(user)
    s.flush()
    return user


def org_team(s: Session, org_id: int, team_id: int | None, field: str = "team_id") -> Team | None:
    """The team `team_id` of the organisation (None for None), or InvalidField."""
    if team_id is None:
        return None
    team = s.get(Team, team_id)
    if team is None or team.org_id != org_id:
        raise InvalidField([{"field": field, "message": "no such team in your organisation"}])
    return team


def open_deal_counts(s: Session, org_id: int, user_ids: Iterable[int] | None = None) -> dict[int, int]:
    """Open deals per owner (only owners that have some)."""
    query = (
        select(Opportunity.owner_id, func.count())
        .join(Stage, Stage.id == Opportunity.stage_id)
        .where(Opportunity.org_id == org_id, Stage.is_closed.is_(False))
        .group_by(Opportunity.owner_id)
    )
    if user_ids is not None:
        query = query.where(Opportunity.owner_id.in_(list(user_ids)))
    return dict(s.execute(query).all())


def deals_to_reassign(s: Session, org_id: int, user_id: int) -> list[dict[str, Any]]:
    """The open deals of a (deactivated) user: what an admin must give to someone else."""
    rows = s.execute(
        select(Opportunity.id, Opportunity.name, Stage.key, Opportunity.amount, Opportunity.currency)
        .join(Stage, Stage.id == Opportunity.stage_id)
        .where(Opportunity.org_id == org_id, Opportunity.owner_id == user_id, Stage.is_closed.is_(False))
        .order_by(Opportunity.id)
    ).all()
    return [{"id": i, "name": n, "stage": k, "amount": str(a), "currency": c} for i, n, k, a, c in rows]


def serialize_user(user: User, team: Team | None, open_deals: int) -> dict[str, Any]:
    """The admin view of a user; `needs_reassignment` flags a deactivated user who still owns open deals."""
    return {
        "id": user.id,
        "email": user.email,
        "name": user.name,
        "role": user.role,
        "team_id": user.team_id,
        "team": team.name if team else None,
        "manager_id": team.manager_id if team else None,
        "is_active": user.is_active,
        "deactivated_at": user.deactivated_at.isoformat() if user.deactivated_at else None,
        "open_deals": open_deals,
        "needs_reassignment": (not user.is_active) and open_deals > 0,
        "version": user.version,
    }


def _view(s: Session, user: User) -> dict[str, Any]:
    team = s.get(Team, user.team_id) if user.team_id else None
    return serialize_user(user, team, open_deal_counts(s, user.org_id, [user.id]).get(user.id, 0))


def list_users(uow: UnitOfWork, principal: Principal, active: bool | None = None) -> list[dict[str, Any]]:
    """The organisation's users by name (optionally only active or only deactivated ones)."""
    require_admin(principal, "list users")
    s = uow.s
    query = select(User).where(User.org_id == principal.org_id).order_by(User.name, User.id)
    if active is not None:
        query = query.where(User.is_active.is_(active))
    users = list(s.scalars(query))
    teams = {t.id: t for t in s.scalars(select(Team).where(Team.org_id == principal.org_id))}
    counts = open_deal_counts(s, principal.org_id)
    return [serialize_user(u, teams.get(u.team_id), counts.get(u.id, 0)) for u in users]


def _org_user(s: Session, principal: Principal, user_id: int) -> User:
    user = s.get(User, user_id)
    if user is None or user.org_id != principal.org_id:
        raise NotFoundError("no such user")
    return user


def user_id_by_email(uow: UnitOfWork, principal: Principal, email: str) -> int:
    """The id of the organisation's user with this primary address."""
    user = uow.s.scalar(select(User).where(User.org_id == principal.org_id, User.email == email.strip().lower()))
    if user is None:
        raise NotFoundError(f"no user {email.strip().lower()} in this organisation")
    return user.id


def get_user(uow: UnitOfWork, principal: Principal, user_id: int) -> dict[str, Any]:
    """One user of the organisation, with the open deals to reassign when deactivated."""
    require_admin(principal, "see users")
    user = _org_user(uow.s, principal, user_id)
    view = _view(uow.s, user)
    view["deals_to_reassign"] = deals_to_reassign(uow.s, principal.org_id, user.id) if not user.is_active else []
    return view


def add_user(
    uow: UnitOfWork, principal: Principal, email: str, name: str, role: str, team_id: int | None = None
) -> dict[str, Any]:
    """Create an active user in the caller's organisation (admin)."""
    require_admin(principal, "add users")
    s = uow.s
    org_team(s, principal.org_id, team_id)
    user = new_user(s, principal.org_id, email, name, role, team_id)
    record_changes(s, actor(principal), "user", user.id, principal.org_id,
                   {"created": (None, {"email": user.email, "role": user.role, "team_id": team_id})}, version=1,
                   surface=principal.surface)
    uow.commit()
    return _view(s, user)


def _active_admins(s: Session, org_id: int) -> int:
    return s.scalar(select(func.count()).where(User.org_id == org_id, User.role == "admin", User.is_active.is_(True)))


def _check_demotion(s: Session, user: User, new_role: str) -> None:
    if user.role == "admin" and new_role != "admin" and user.is_active and _active_admins(s, user.org_id) <= 1:
        raise ConflictError("this is the organisation's last active admin: make someone else admin first")
    if new_role not in MANAGING_ROLES:
        managed = s.scalars(select(Team.name).where(Team.manager_id == user.id).order_by(Team.name)).all()
        if managed:
            raise InvalidField([{"field": "role", "message": f"manages team {managed[0]!r}: give it another manager first"}])


def update_user(uow: UnitOfWork, principal: Principal, user_id: int, version: int, changes: dict[str, Any]) -> dict[str, Any]:
    """Change a user's name, role or team if `version` is current (admin); takes effect on their next request."""
    require_admin(principal, "change users")
    s = uow.s
    user = _org_user(s, principal, user_id)
    before = _view(s, user)
    claim_version(s, user, version, "user", principal.org_id, lambda u: _view(s, u))
    if "name" in changes:
        user.name = check_name(changes["name"])
    if "role" in changes:
        role = check_role(changes["role"])
        _check_demotion(s, user, role)
        user.role = role
    if "team_id" in changes:
        user.team_id = org_team(s, principal.org_id, changes["team_id"]).id if changes["team_id"] is not None else None
    s.flush()
    after = _view(s, user)
    diff = {k: (before[k], after[k]) for k in ("name", "role", "team_id") if before[k] != after[k]}
    if diff:
        record_changes(s, actor(principal), "user", user.id, principal.org_id, diff, version=user.version,
                       surface=principal.surface)
    uow.commit()
    return after


def deactivate_user(uow: UnitOfWork, principal: Principal, user_id: int) -> dict[str, Any]:
    """Deactivate a user at once (sign-in refused, tokens revoked); their open deals are listed for reassignment.

    Teams they managed lose their manager (named in `teams_without_manager`). Deactivating twice changes nothing.
    """
    require_admin(principal, "deactivate users")
    s = uow.s
    user = _org_user(s, principal, user_id)
    teams_left: list[str] = []
    revoked = 0
    if user.is_active:
        if user.role == "admin" and _active_admins(s, user.org_id) <= 1:
            raise ConflictError("this is the organisation's last active admin: make someone else admin first")
        now = utcnow()
        user.is_active = False
        user.deactivated_at = now
        user.version += 1
        revoked = s.execute(
            update(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None)).values(revoked_at=now)
        ).rowcount
        for team in s.scalars(select(Team).where(Team.manager_id == user.id).order_by(Team.name)):
            team.manager_id = None
            team.version += 1
            teams_left.append(team.name)
        s.flush()
        record_changes(s, actor(principal), "user", user.id, principal.org_id,
                       {"is_active": (True, False), "tokens_revoked": (None, revoked)}, version=user.version,
                       surface=principal.surface)
        uow.commit()
    view = _view(s, user)
    view["deals_to_reassign"] = deals_to_reassign(s, principal.org_id, user.id)
    view["teams_without_manager"] = teams_left
    view["tokens_revoked"] = revoked
    return view
