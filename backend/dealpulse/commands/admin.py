"""Setting up an organisation from the command line: `org create|list`, `users import|add|list|deactivate`,
`teams list|set` (the same use cases as /api/v1/admin/)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import click
from sqlalchemy.exc import SQLAlchemyError

from .. import runtime
from ..domain.access import Principal
from ..domain.threshold_settings import THRESHOLD_SPECS, parse_assignments
from ..services import people, teams
from ..services.csv_io import CsvImportError
from ..services.errors import ConflictError, InvalidField, NotFoundError, PermissionDenied
from ..services.organisations import chosen_organisation, create_organisation, list_organisations
from ..services.users_import import import_users
from ..store.uow import UnitOfWork
from .core import fail, load_settings, principal_for_cli

ORG_OPTION = click.option("--org", default=None, help="organisation id or exact name (default: the only one)")


def _run(action: Callable[[UnitOfWork], Any]) -> Any:
    """Run `action` in a unit of work; service errors become one line and exit status 2."""
    db = runtime.get_database(load_settings())
    try:
        with db.uow() as uow:
            return action(uow)
    except InvalidField as exc:
        fail("; ".join(f"{e['field']}: {e['message']}" for e in exc.errors))
    except (ValueError, NotFoundError, ConflictError, PermissionDenied) as exc:
        fail(str(exc))
    except SQLAlchemyError as exc:
        fail(f"database error ({exc.__class__.__name__}); is the database migrated? run `dealpulse db upgrade`")
    return None


def _admin(uow: UnitOfWork, org: str | None) -> Principal:
    return principal_for_cli(uow, chosen_organisation(uow, org))


def _table(rows: list[list[Any]]) -> None:
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(str(cell).ljust(w) for cell, w in zip(row, widths)).rstrip())


# ---------------------------------------------------------------- org


@click.group("org")
def org_group() -> None:
    """Organisations (one per customer; nothing crosses between them)."""


@org_group.command("create")
@click.argument("name")
@click.option("--domain", "domains", multiple=True, required=True, help="a mail domain of the organisation (repeat)")
def org_create(name: str, domains: tuple[str, ...]) -> None:
    """Create an organisation and print its id."""
    click.echo(_run(lambda uow: create_organisation(uow, name, list(domains))))


@org_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="one JSON array instead of a table")
def org_list(as_json: bool) -> None:
    """Every organisation with its domains, active users and teams."""
    orgs = _run(list_organisations)
    if as_json:
        click.echo(json.dumps(orgs, indent=2))
    elif orgs:
        _table([["id", "name", "domains", "users", "teams"]]
               + [[o["id"], o["name"], ",".join(o["domains"]), o["active_users"], o["teams"]] for o in orgs])


# ---------------------------------------------------------------- users


@click.group("users")
def users_group() -> None:
    """People of an organisation: import, add, list, deactivate."""


@users_group.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@ORG_OPTION
def users_import(path: Path, org: str | None) -> None:
    """Import people from a CSV (email,name,role,team,manager_email); a bad row is reported and nothing is written."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        fail(f"{path} is not UTF-8 text")

    def action(uow: UnitOfWork) -> Any:
        try:
            return import_users(uow, _admin(uow, org), text)
        except CsvImportError as exc:
            for line, message in exc.problems:
                click.echo(f"{path}:{line}: {message}", err=True)
            fail(f"{len(exc.problems)} problem(s); nothing was imported")

    summary = _run(action)
    click.echo(f"users: {summary.created} created, {summary.updated} updated, {summary.unchanged} unchanged; "
               f"teams: {summary.teams_created} created")


@users_group.command("add")
@click.argument("email")
@click.option("--name", required=True)
@click.option("--role", required=True, type=click.Choice(["rep", "manager", "admin"]))
@click.option("--team", default=None, help="team name (created when new)")
@ORG_OPTION
def users_add(email: str, name: str, role: str, team: str | None, org: str | None) -> None:
    """Add one user and print their id."""

    def action(uow: UnitOfWork) -> int:
        principal = _admin(uow, org)
        team_id = None
        if team:
            found = teams.team_named(uow.s, principal.org_id, team)
            team_id = found.id if found else teams.new_team(uow.s, principal.org_id, team).id
        return people.add_user(uow, principal, email, name, role, team_id)["id"]

    click.echo(_run(action))


@users_group.command("list")
@ORG_OPTION
@click.option("--json", "as_json", is_flag=True, help="one JSON array instead of a table")
def users_list(org: str | None, as_json: bool) -> None:
    """The organisation's users; deactivated ones that still own open deals say so."""
    users = _run(lambda uow: people.list_users(uow, _admin(uow, org)))
    if as_json:
        click.echo(json.dumps(users, indent=2))
        return
    rows = [["email", "name", "role", "team", "status"]]
    for u in users:
        status = "active" if u["is_active"] else "deactivated"
        if u["needs_reassignment"]:
            status += f" ({u['open_deals']} open deals to reassign)"
        rows.append([u["email"], u["name"], u["role"], u["team"] or "-", status])
    _table(rows)


@users_group.command("deactivate")
@click.argument("email")
@ORG_OPTION
def users_deactivate(email: str, org: str | None) -> None:
    """Deactivate a user at once: no sign-in, tokens revoked; their open deals are listed for reassignment."""

    def action(uow: UnitOfWork) -> dict[str, Any]:
        principal = _admin(uow, org)
        return people.deactivate_user(uow, principal, people.user_id_by_email(uow, principal, email))

    result = _run(action)
    click.echo(f"{result['email']} is deactivated ({result['tokens_revoked']} token(s) revoked)")
    for team in result["teams_without_manager"]:
        click.echo(f"team {team!r} has no manager now")
    deals = result["deals_to_reassign"]
    if deals:
        click.echo(f"{len(deals)} open deal(s) flagged for reassignment:")
        for d in deals:
            click.echo(f"  {d['id']}  {d['name']}  ({d['stage']}, {d['amount']} {d['currency']})")


# ---------------------------------------------------------------- teams


@click.group("teams")
def teams_group() -> None:
    """Teams: their managers and alert thresholds."""


@teams_group.command("list")
@ORG_OPTION
@click.option("--json", "as_json", is_flag=True, help="one JSON array with every threshold in effect")
def teams_list(org: str | None, as_json: bool) -> None:
    """The organisation's teams with manager, members and the thresholds they set themselves."""
    found = _run(lambda uow: teams.list_teams(uow, _admin(uow, org)))
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    rows = [["team", "manager", "members", "own thresholds"]]
    for t in found:
        own = " ".join(f"{k}={','.join(v) if isinstance(v, list) else v}" for k, v in sorted(t["custom_thresholds"].items()))
        rows.append([t["name"], t["manager"]["email"] if t["manager"] else "-", t["members"], own or "(defaults)"])
    _table(rows)


THRESHOLD_HELP = "Set alert thresholds of TEAM: KEY=VALUE ... (KEY=default restores the default).\n\n\b\n" + "\n".join(
    f"{spec.key} ({spec.kind.__name__}"
    + (f", {spec.minimum:g} to {spec.maximum:g}" if spec.minimum is not None else ", comma-separated stage keys")
    + f", default {','.join(spec.default) if isinstance(spec.default, list) else spec.default}): {spec.description}"
    for spec in THRESHOLD_SPECS.values()
)


@teams_group.command("set", help=THRESHOLD_HELP)
@click.argument("team")
@click.argument("assignments", nargs=-1, required=True)
@ORG_OPTION
def teams_set(team: str, assignments: tuple[str, ...], org: str | None) -> None:
    """Set alert thresholds of TEAM (help: THRESHOLD_HELP)."""
    raw, errors = parse_assignments(list(assignments))
    if errors:
        fail("; ".join(f"{e['field']}: {e['message']}" for e in errors))
    result = _run(lambda uow: teams.set_thresholds(uow, _admin(uow, org), team, raw))
    for key in raw:
        value = result["thresholds"][key]
        click.echo(f"{result['name']}: {key} = {','.join(value) if isinstance(value, list) else value}")


def register(group: click.Group) -> None:
    """Add the org, users and teams groups to the root group."""
    for command in (org_group, users_group, teams_group):
        group.add_command(command)
