"""`dealpulse alerts run [--org]`: evaluate every open deal now; `alerts digest` and `alerts webhooks` deliver."""

from __future__ import annotations

import click

from ..services.alert_engine import evaluate_all
from ..services.alert_digest import send_digests
from ..services.alert_webhooks import deliver_webhooks
from .core import load_settings, ready_database, resolve_org


@click.group("alerts")
def alerts_group() -> None:
    """Early warnings on deals."""


@alerts_group.command("run")
@click.option("--org", default=None, help="organisation id or exact name (default: every organisation)")
def alerts_run(org: str | None) -> None:
    """Evaluate every rule on every open deal and print what changed."""
    settings = load_settings()
    db = ready_database(settings)
    summary = evaluate_all(db, settings, resolve_org(db, org))
    click.echo(
        f"evaluated {summary.evaluated} deal(s): {summary.opened} alert(s) opened, {summary.reopened} re-opened, "
        f"{summary.updated} updated, {summary.resolved} resolved"
    )


@alerts_group.command("digest")
def alerts_digest() -> None:
    """Email each manager their digest now (needs DEALPULSE_SMTP_URL)."""
    settings = load_settings()
    if not settings.smtp_url:
        raise click.UsageError("set DEALPULSE_SMTP_URL=smtp://host:port to send digests")
    click.echo(f"{send_digests(ready_database(settings), settings)} digest(s) sent")


@alerts_group.command("webhooks")
def alerts_webhooks() -> None:
    """Post due webhook deliveries now (needs DEALPULSE_WEBHOOK_URL)."""
    settings = load_settings()
    counts = deliver_webhooks(ready_database(settings), settings)
    click.echo(", ".join(f"{v} {k}" for k, v in counts.items()))


def register(group: click.Group) -> None:
    """Add `alerts` to the root group."""
    group.add_command(alerts_group)
