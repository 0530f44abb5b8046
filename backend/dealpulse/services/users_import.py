"""`dealpulse users import`: a CSV of people (email,name,role,team,manager_email), all rows or none.

Every row is checked before anything is written; a bad row is reported by its line number. A new team is created;
`manager_email` (someone in the file or already in the organisation, a manager or admin) becomes the manager of the
row's team; an empty `team` cell takes the user out of their team. Importing the same file again changes nothing.
Deactivated users stay deactivated.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from ..domain.access import Principal
from ..store import Team, User
from ..store.uow import UnitOfWork
from .admin_common import actor, require_admin
from .audit import record_changes
from .csv_io import CsvImportError
from .errors import InvalidField
from .people import MANAGING_ROLES, address_taken, check_name, check_role, new_user, normalise_email
from .teams import new_team, team_named

COLUMNS = ["email", "name", "role", "team", "manager_email"]
REQUIRED = {"email", "name", "role"}


@dataclass
class UsersImportSummary:
    """What an import did."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    teams_created: int = 0


@dataclass
class _Row:
    line: int
    email: str
    name: str
    role: str
    team: str | None  # None: no team column in the file (leave the team as it is)
    manager_email: str


def _read(text: str) -> list[_Row]:
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None:
        raise CsvImportError([(1, "the file is empty: expected a header row")])
    header = [h.strip() for h in reader.fieldnames]
    problems = [(1, f"unknown column {h!r} (expected {', '.join(COLUMNS)})") for h in header if h not in COLUMNS]
    problems += [(1, f"missing required column {h!r}") for h in COLUMNS if h in REQUIRED and h not in header]
    if len(set(header)) != len(header):
        problems.append((1, "a column appears twice"))
    if problems:
        raise CsvImportError(problems)
    rows = []
    for raw in reader:
        if None in raw:
            raise CsvImportError([(reader.line_num, "more values than columns")])
        cells = {k.strip(): (v or "").strip() for k, v in raw.items()}
        rows.append(_Row(reader.line_num, cells["email"], cells["name"], cells["role"].lower(),
                         cells.get("team") if "team" in header else None, cells.get("manager_email", "")))
    return rows


def _problem(line: int, exc: InvalidField) -> tuple[int, str]:
    return line, "; ".join(e["message"] for e in exc.errors)


def _check(uow: UnitOfWork, org_id: int, rows: list[_Row]) -> list[tuple[int, str]]:
    """Every problem of the file, by line; normalises addresses in place."""
    s = uow.s
    problems: list[tuple[int, str]] = []
    seen: dict[str, int] = {}
    for row in rows:
        found = len(problems)
        for check in (lambda: check_name(row.name), lambda: check_role(row.role),
                      lambda: row.manager_email and normalise_email(row.manager_email, "manager_email")):
            try:
                check()
            except InvalidField as exc:
                problems.append(_problem(row.line, exc))
        try:
            row.email = normalise_email(row.email)
        except InvalidField as exc:
            problems.append(_problem(row.line, exc))
        if len(problems) > found:
            continue
        row.manager_email = normalise_email(row.manager_email, "manager_email") if row.manager_email else ""
        if row.email in seen:
            problems.append((row.line, f"{row.email} is also on line {seen[row.email]}"))
            continue
        seen[row.email] = row.line
        existing = s.scalar(select(User).where(User.email == row.email))
        if existing is None and address_taken(s, row.email):
            problems.append((row.line, f"{row.email} is another user's alias"))
        elif existing is not None and existing.org_id != org_id:
            problems.append((row.line, f"{row.email} is already a DealPulse user"))
        if row.manager_email and not row.team:
            problems.append((row.line, "manager_email needs a team (the manager is the team's manager)"))
    file_roles = {r.email: r.role for r in rows}
    managers: dict[str, tuple[str, int]] = {}
    for row in rows:
        if not row.manager_email or not row.team:
            continue
        role = file_roles.get(row.manager_email)
        if role is None:
            user = s.scalar(select(User).where(User.org_id == org_id, User.email == row.manager_email))
            role = user.role if user is not None and user.is_active else None
            if role is None:
                problems.append((row.line, f"manager {row.manager_email} is not in the file or the organisation"))
                continue
        if role not in MANAGING_ROLES:
            problems.append((row.line, f"manager {row.manager_email} is a {role}, not a manager or admin"))
        team_key = row.team.lower()
        first = managers.setdefault(team_key, (row.manager_email, row.line))
        if first[0] != row.manager_email:
            problems.append((row.line, f"team {row.team!r} is given manager {first[0]} on line {first[1]}"))
    for row in rows:
        existing = s.scalar(select(User).where(User.email == row.email, User.org_id == org_id))
        if existing is None or existing.role not in MANAGING_ROLES or file_roles[row.email] in MANAGING_ROLES:
            continue
        managed = s.scalars(select(Team.name).where(Team.manager_id == existing.id)).all()
        still = [t for t in managed if managers.get(t.lower(), (existing.email,))[0] == existing.email]
        if still:
            problems.append((row.line, f"{row.email} manages team {still[0]!r}: give it another manager first"))
    admins = set(s.scalars(select(User.email).where(User.org_id == org_id, User.role == "admin", User.is_active.is_(True))))
    demoted = {r.email: r.line for r in rows if r.email in admins and r.role != "admin"}
    if admins and admins <= set(demoted) and not any(r.role == "admin" for r in rows):
        problems.append((max(demoted.values()), "this would leave the organisation without an active admin"))
    return sorted(problems)


def import_users(uow: UnitOfWork, principal: Principal, text: str) -> UsersImportSummary:
    """Validate every row, then create or update the users and teams in one transaction (or write nothing)."""
    require_admin(principal, "import users")
    rows = _read(text)
    org_id = principal.org_id
    problems = _check(uow, org_id, rows)
    if problems:
        raise CsvImportError(problems)
    s = uow.s
    summary = UsersImportSummary()
    teams: dict[str, Team] = {}
    for row in rows:
        if row.team and row.team.lower() not in teams:
            team = team_named(s, org_id, row.team)
            if team is None:
                team = new_team(s, org_id, row.team)
                record_changes(s, actor(principal), "team", team.id, org_id, {"created": (None, team.name)},
                               version=1, surface="import")
                summary.teams_created += 1
            teams[row.team.lower()] = team
    users: dict[str, User] = {}
    for row in rows:
        team = teams[row.team.lower()] if row.team else None
        user = s.scalar(select(User).where(User.email == row.email))
        if user is None:
            user = new_user(s, org_id, row.email, row.name, row.role, team.id if team else None)
            record_changes(s, actor(principal), "user", user.id, org_id,
                           {"created": (None, {"email": user.email, "role": user.role, "team_id": user.team_id})},
                           version=1, surface="import")
            summary.created += 1
        else:
            wanted: dict[str, Any] = {"name": check_name(row.name), "role": row.role}
            if row.team is not None:
                wanted["team_id"] = team.id if team else None
            diff = {k: (getattr(user, k), v) for k, v in wanted.items() if getattr(user, k) != v}
            if diff:
                for key, (_old, new) in diff.items():
                    setattr(user, key, new)
                user.version += 1
                record_changes(s, actor(principal), "user", user.id, org_id, diff, version=user.version, surface="import")
                summary.updated += 1
            else:
                summary.unchanged += 1
        users[row.email] = user
    s.flush()
    for row in rows:
        if not row.manager_email or not row.team:
            continue
        team = teams[row.team.lower()]
        manager = users.get(row.manager_email) or s.scalar(select(User).where(User.email == row.manager_email))
        if team.manager_id != manager.id:
            record_changes(s, actor(principal), "team", team.id, org_id, {"manager_id": (team.manager_id, manager.id)},
                           version=team.version + 1, surface="import")
            team.manager_id = manager.id
            team.version += 1
    uow.commit()
    return summary
