"""Teams of an organisation: creating and renaming them, their manager, and their alert thresholds (admin).

Thresholds are stored where the alert rules read them (`Team.gone_dark_after_days` and `Team.settings`) and are
validated by `domain.threshold_settings`, so the CLI, the API and the rules agree on keys, types and ranges.
"""

from __future__ import annotations

from typing import Any, Mapping

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..domain.alert_rules import Thresholds
from ..domain.access import Principal
from ..domain.threshold_settings import THRESHOLD_SPECS, effective_thresholds, parse_threshold_values
from ..store import Stage, Team, User
from ..store.uow import UnitOfWork
from .admin_common import actor, claim_version, require_admin
from .audit import record_changes
from .errors import InvalidField, NotFoundError
from .people import MANAGING_ROLES, check_name

DEFAULT_GONE_DARK_DAYS = Thresholds.gone_dark_days


def team_named(s: Session, org_id: int, name: str) -> Team | None:
    """The organisation's team called `name` (ignoring case and surrounding spaces), if any.

    Compared in Python: SQLite's lower() folds only ASCII letters, and an organisation has few teams.
    """
    wanted = name.strip().casefold()
    return next((t for t in s.scalars(select(Team).where(Team.org_id == org_id)) if t.name.casefold() == wanted), None)


def new_team(s: Session, org_id: int, name: str, gone_dark_after_days: int = DEFAULT_GONE_DARK_DAYS) -> Team:
    """Add a team with a name no other team of the organisation has (not committed)."""
    name = check_name(name)
    if team_named(s, org_id, name) is not None:
        raise InvalidField([{"field": "name", "message": f"a team named {name!r} exists"}])
    team = Team(org_id=org_id, name=name, gone_dark_after_days=gone_dark_after_days, settings={})
    s.add(team)
    s.flush()
    return team


def check_manager(s: Session, org_id: int, manager_id: int | None, field: str = "manager_id") -> int | None:
    """`manager_id` if it is an active manager or admin of the organisation (None clears the manager)."""
    if manager_id is None:
        return None
    user = s.get(User, manager_id)
    if user is None or user.org_id != org_id:
        raise InvalidField([{"field": field, "message": "no such user in your organisation"}])
    if not user.is_active or user.role not in MANAGING_ROLES:
        raise InvalidField([{"field": field, "message": f"{user.email} is not an active manager or admin"}])
    return user.id


def custom_thresholds(team: Team) -> dict[str, Any]:
    """The thresholds this team sets itself (everything else is the default)."""
    out = {k: v for k, v in (team.settings or {}).items() if k in THRESHOLD_SPECS and v is not None}
    if team.gone_dark_after_days != DEFAULT_GONE_DARK_DAYS:
        out["gone_dark_days"] = team.gone_dark_after_days
    return out


def serialize_team(team: Team, manager: User | None, members: int) -> dict[str, Any]:
    """The admin view of a team: manager, member count, every threshold in effect and which ones are its own."""
    return {
        "id": team.id,
        "name": team.name,
        "manager_id": team.manager_id,
        "manager": {"id": manager.id, "name": manager.name, "email": manager.email} if manager else None,
        "members": members,
        "thresholds": effective_thresholds(team.gone_dark_after_days, team.settings),
        "custom_thresholds": custom_thresholds(team),
        "version": team.version,
    }


def _view(s: Session, team: Team) -> dict[str, Any]:
    members = s.scalar(select(func.count()).where(User.team_id == team.id, User.is_active.is_(True)))
    return serialize_team(team, s.get(User, team.manager_id) if team.manager_id else None, members)


def apply_thresholds(s: Session, team: Team, raw: Mapping[str, Any]) -> None:
    """Validate and store threshold values on `team` (None or 'default' restores a key's default)."""
    values, errors = parse_threshold_values(raw)
    stages = set(s.scalars(select(Stage.key).where(Stage.org_id == team.org_id)))
    for key in values.get("late_stages") or []:
        if key not in stages:
            errors.append({"field": "late_stages", "message": f"no stage {key!r} in your organisation"})
    if errors:
        raise InvalidField([{**e, "field": f"thresholds.{e['field']}"} for e in errors])
    settings = dict(team.settings or {})
    for key, value in values.items():
        if key == "gone_dark_days":
            team.gone_dark_after_days = DEFAULT_GONE_DARK_DAYS if value is None else value
        elif value is None:
            settings.pop(key, None)
        else:
            settings[key] = value
    team.settings = settings


def list_teams(uow: UnitOfWork, principal: Principal) -> list[dict[str, Any]]:
    """The organisation's teams by name."""
    require_admin(principal, "list teams")
    s = uow.s
    return [_view(s, t) for t in s.scalars(select(Team).where(Team.org_id == principal.org_id).order_by(Team.name))]


def _org_team(s: Session, principal: Principal, team_id: int) -> Team:
    team = s.get(Team, team_id)
    if team is None or team.org_id != principal.org_id:
        raise NotFoundError("no such team")
    return team


def team_id_by_name(uow: UnitOfWork, principal: Principal, name: str) -> int:
    """The id of the organisation's team called `name`."""
    team = team_named(uow.s, principal.org_id, name)
    if team is None:
        raise NotFoundError(f"no team {name.strip()!r} in this organisation (see `dealpulse teams list`)")
    return team.id


def get_team(uow: UnitOfWork, principal: Principal, team_id: int) -> dict[str, Any]:
    """One team of the organisation."""
    require_admin(principal, "see teams")
    return _view(uow.s, _org_team(uow.s, principal, team_id))


def create_team(
    uow: UnitOfWork, principal: Principal, name: str, manager_id: int | None = None,
    thresholds: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Create a team, optionally with its manager and thresholds (admin)."""
    require_admin(principal, "create teams")
    s = uow.s
    team = new_team(s, principal.org_id, name)
    team.manager_id = check_manager(s, principal.org_id, manager_id)
    apply_thresholds(s, team, thresholds or {})
    s.flush()
    view = _view(s, team)
    record_changes(s, actor(principal), "team", team.id, principal.org_id,
                   {"created": (None, {"name": team.name, "manager_id": team.manager_id,
                                       "thresholds": view["custom_thresholds"]})},
                   version=1, surface=principal.surface)
    uow.commit()
    return view


def update_team(uow: UnitOfWork, principal: Principal, team_id: int, version: int, changes: dict[str, Any]) -> dict[str, Any]:
    """Rename a team, change its manager or thresholds if `version` is current (admin)."""
    require_admin(principal, "change teams")
    s = uow.s
    team = _org_team(s, principal, team_id)
    before = _view(s, team)
    claim_version(s, team, version, "team", principal.org_id, lambda t: _view(s, t))
    if "name" in changes:
        clash = team_named(s, principal.org_id, changes["name"])
        if clash is not None and clash.id != team.id:
            raise InvalidField([{"field": "name", "message": f"a team named {changes['name'].strip()!r} exists"}])
        team.name = check_name(changes["name"])
    if "manager_id" in changes:
        team.manager_id = check_manager(s, principal.org_id, changes["manager_id"])
    if changes.get("thresholds"):
        apply_thresholds(s, team, changes["thresholds"])
    s.flush()
    after = _view(s, team)
    diff = {k: (before[k], after[k]) for k in ("name", "manager_id", "custom_thresholds") if before[k] != after[k]}
    if diff:
        record_changes(s, actor(principal), "team", team.id, principal.org_id, diff, version=team.version,
                       surface=principal.surface)
    uow.commit()
    return after


def set_thresholds(uow: UnitOfWork, principal: Principal, team_name: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    """The command line's `teams set TEAM KEY=VALUE ...`: change thresholds of the team called `team_name`."""
    require_admin(principal, "change teams")
    team_id = team_id_by_name(uow, principal, team_name)
    version = uow.s.get(Team, team_id).version
    return update_team(uow, principal, team_id, version, {"thresholds": dict(raw)})
