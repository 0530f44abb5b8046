"""`dealpulse winmodel train` and `dealpulse snapshots backfill`: the win-probability model and pipeline history."""

from __future__ import annotations

import json
from datetime import datetime

import click

from .. import runtime
from ..services.deal_history import backfill_snapshots
from ..services.org_setup import resolve_organisation
from ..services.win_model import train_win_model
from ..store import utcnow
from ..store.uow import UnitOfWork
from .core import fail, load_settings


def _org_id(uow: UnitOfWork, org: str | None) -> int:
    try:
        return resolve_organisation(uow, org)
    except ValueError as exc:
        fail(str(exc))
        raise


@click.group("winmodel")
def winmodel_group() -> None:
    """The win-probability model behind the forecast's `predicted` column."""


@winmodel_group.command("train")
@click.option("--org", default=None, help="organisation id or name (default: the only one)")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object")
def winmodel_train(org: str | None, as_json: bool) -> None:
    """Train a new version on the organisation's closed deals now (or say why there is not enough history)."""
    settings = load_settings(require_secret=False)
    db = runtime.get_database(settings)
    with db.uow() as uow:
        outcome = train_win_model(uow, settings.model_dir, _org_id(uow, org), settings.win_model_min_closed)
    if as_json:
        click.echo(json.dumps(outcome.as_dict(), sort_keys=True))
    else:
        click.echo(f"{outcome.version or 'no new version'}: {outcome.note}")


@click.group("snapshots")
def snapshots_group() -> None:
    """Daily pipeline snapshots (each open deal's state per day)."""


@snapshots_group.command("backfill")
@click.option("--org", default=None, help="organisation id or name (default: the only one)")
@click.option("--from", "start", type=click.DateTime(["%Y-%m-%d"]), required=True, help="first day (YYYY-MM-DD)")
@click.option("--to", "end", type=click.DateTime(["%Y-%m-%d"]), default=None, help="last day, inclusive (default today)")
@click.option("--overwrite", is_flag=True, help="rebuild days already stored")
def snapshots_backfill(org: str | None, start: datetime, end: datetime | None, overwrite: bool) -> None:
    """Rebuild the snapshots of past days from the stage history and the audit log."""
    last = end.date() if end else utcnow().date()
    if start.date() > last:
        fail("--from is after --to")
    db = runtime.get_database(load_settings(require_secret=False))
    with db.uow() as uow:
        written = backfill_snapshots(uow, _org_id(uow, org), start.date(), last, overwrite=overwrite)
    click.echo(f"{written} deal-days written")


def register(group: click.Group) -> None:
    """Add `winmodel` and `snapshots` to the root group."""
    group.add_command(winmodel_group)
    group.add_command(snapshots_group)
