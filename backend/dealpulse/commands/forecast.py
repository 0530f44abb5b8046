"""`dealpulse metrics` (win rates, deal size, cycle, funnel, quota attainment) and `dealpulse quotas import`."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Any

import click

from .. import runtime
from ..services.csv_io import CsvImportError
from ..services.errors import InvalidField, PermissionDenied
from ..services.metrics import MetricsFilter, pipeline_metrics
from ..services.org_setup import resolve_organisation
from ..services.quotas import import_quotas
from .core import fail, load_settings, principal_for_cli


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _per_currency(values: dict[str, Any] | None, fmt: Any = str) -> str:
    return ", ".join(f"{fmt(v)} {c}" for c, v in (values or {}).items()) or "-"


def print_metrics_table(m: dict[str, Any]) -> None:
    """The metrics as aligned text tables (overview, stages, owners)."""
    days = lambda v: "-" if v is None else f"{v:.1f}"  # noqa: E731 - a one-line formatter
    click.echo(f"won {m['won']}  lost {m['lost']}  win rate {_rate(m['win_rate'])}  "
               f"by amount {_per_currency(m['win_rate_by_amount'], _rate)}")
    click.echo(f"average won deal {_per_currency(m['avg_won_amount'])}  "
               f"cycle days median {days(m['cycle_days_median'])} mean {days(m['cycle_days_mean'])}")
    click.echo("")
    click.echo(f"{'stage':24} {'reached':>8} {'lost at':>8} {'conversion':>11}")
    for s in m["stages"]:
        click.echo(f"{s['name'][:24]:24} {s['reached']:>8} {s['lost_at']:>8} {_rate(s['conversion']):>11}")
    click.echo("")
    click.echo(f"{'owner':32} {'won':>5} {'lost':>5} {'win rate':>9} {'median d':>9} {'mean d':>8}  avg won / quota attainment")
    for o in m["by_owner"]:
        click.echo(f"{(o['owner_email'] or '')[:32]:32} {o['won']:>5} {o['lost']:>5} {_rate(o['win_rate']):>9} "
                   f"{days(o['cycle_days_median']):>9} {days(o['cycle_days_mean']):>8}  "
                   f"{_per_currency(o['avg_won_amount'])} / {_per_currency(o['quota_attainment'], _rate)}")


@click.command("metrics")
@click.option("--org", default=None, help="organisation id or name (default: the only one)")
@click.option("--team", default=None, help="team id or name")
@click.option("--owner", "owner_email", default=None, help="one owner's address")
@click.option("--from", "start", type=click.DateTime(["%Y-%m-%d"]), default=None, help="first closing day (YYYY-MM-DD)")
@click.option("--to", "end", type=click.DateTime(["%Y-%m-%d"]), default=None, help="last closing day, inclusive")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object instead of the table")
def metrics_command(org: str | None, team: str | None, owner_email: str | None, start: datetime | None,
                    end: datetime | None, as_json: bool) -> None:
    """Win rate, average won deal, sales cycle, stage conversion and per-owner figures of the deals closed in the
    window (every closed deal without one)."""
    db = runtime.get_database(load_settings(require_secret=False))
    flt = MetricsFilter(team=team, owner_email=owner_email, start=_day(start), end=_day(end))
    with db.uow() as uow:
        try:
            result = pipeline_metrics(uow, principal_for_cli(uow, resolve_organisation(uow, org)), flt)
        except (InvalidField, PermissionDenied, ValueError) as exc:
            fail(str(exc))
    if as_json:
        click.echo(json.dumps(result, sort_keys=False))
    else:
        print_metrics_table(result)


def _day(value: datetime | None) -> date | None:
    return value.date() if value else None


@click.group("quotas")
def quotas_group() -> None:
    """Sales quotas per rep and period."""


@quotas_group.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--org", default=None, help="organisation id or name (default: the only one)")
def quotas_import(path: Path, org: str | None) -> None:
    """Import `owner_email,period,amount,currency` rows (period 2027-Q1 or 2027-03); a bad row writes nothing."""
    db = runtime.get_database(load_settings())
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        fail(f"{path} is not UTF-8 text")
    with db.uow() as uow:
        try:
            summary = import_quotas(uow, principal_for_cli(uow, resolve_organisation(uow, org)), text)
        except CsvImportError as exc:
            for line, message in exc.problems:
                click.echo(f"{path}:{line}: {message}", err=True)
            fail(f"{len(exc.problems)} problem(s); nothing was imported")
        except (PermissionDenied, ValueError) as exc:
            fail(str(exc))
    click.echo(f"quotas: {summary.created} created, {summary.updated} updated, {summary.unchanged} unchanged")


def register(group: click.Group) -> None:
    """Add `metrics` and `quotas` to the root group."""
    group.add_command(metrics_command)
    group.add_command(quotas_group)
