"""Mailbox subcommands: `dealpulse mailbox add|status|disconnect` and `dealpulse sync [--mailbox ID|--all]`."""

from __future__ import annotations

import json

import click

from .. import runtime
from ..services.errors import InvalidField, NotFoundError
from ..services.mailboxes import add_mailbox, disconnect, find_mailbox, mailbox_status
from ..services.sync import due_mailbox_ids, sync_mailbox
from ..tasks import queues_for
from ..tasks.scoring import queue_scoring
from .core import bench_group, bench_settings, fail, load_bench, load_settings


@click.group("mailbox")
def mailbox_group() -> None:
    """Connected mailboxes (Gmail, Microsoft 365)."""


@mailbox_group.command("add")
@click.option("--provider", type=click.Choice(["gmail", "microsoft"]), required=True)
@click.option("--address", required=True, help="the mailbox's address")
@click.option("--refresh-token", required=True, help="an OAuth refresh token with read access to mail and calendar")
@click.option("--user", "user_email", default=None, help="owner's DealPulse address (default: --address)")
def mailbox_add(provider: str, address: str, refresh_token: str, user_email: str | None) -> None:
    """Connect a mailbox with a refresh token (stored encrypted); the first sync runs with `dealpulse sync`."""
    settings = load_settings()
    db = runtime.get_database(settings)
    try:
        with db.uow() as uow:
            mailbox_id = add_mailbox(uow, settings, provider=provider, address=address, refresh_token=refresh_token, user_email=user_email)
    except InvalidField as exc:
        fail(str(exc))
    click.echo(f"mailbox {mailbox_id} connected: {provider} {address.strip().lower()}")


@mailbox_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of a table")
def mailbox_status_command(as_json: bool) -> None:
    """Every mailbox with its sync state and what it means."""
    settings = load_settings()
    with runtime.get_database(settings).uow() as uow:
        rows = mailbox_status(uow)
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in rows], indent=2))
        return
    if not rows:
        click.echo("no mailboxes connected (add one with `dealpulse mailbox add`)")
        return
    click.echo(f"{'id':>4}  {'provider':<9}  {'address':<36}  {'state':<15}  {'last synced':<20}  detail")
    for r in rows:
        synced = r.last_synced_at.strftime("%Y-%m-%d %H:%M:%S") if r.last_synced_at else "never"
        click.echo(f"{r.id:>4}  {r.provider:<9}  {r.address:<36}  {r.state:<15}  {synced:<20}  {r.detail or r.meaning}")


@mailbox_group.command("disconnect")
@click.argument("mailbox")
@click.option("--purge", is_flag=True, help="also delete captured content no other mailbox saw")
def mailbox_disconnect(mailbox: str, purge: bool) -> None:
    """Stop capturing MAILBOX (id or address) and forget its credentials."""
    settings = load_settings()
    try:
        with runtime.get_database(settings).uow() as uow:
            box = find_mailbox(uow, mailbox)
            counts = disconnect(uow, box.id, purge=purge)
    except NotFoundError as exc:
        fail(str(exc))
    click.echo(f"mailbox {mailbox} disconnected" + (f"; {counts['activities_deleted']} activities purged" if purge else ""))


@click.command("sync")
@click.option("--mailbox", "selector", default=None, help="mailbox id or address")
@click.option("--all", "sync_all", is_flag=True, help="every connected mailbox that is due")
@click.option("--force", is_flag=True, help="take the mailbox's lease even if another sync holds it, and ignore a provider pause")
def sync_command(selector: str | None, sync_all: bool, force: bool) -> None:
    """Sync mailboxes now, in this process (the worker does the same on push and every few minutes)."""
    if bool(selector) == sync_all:
        fail("give either --mailbox ID|ADDRESS or --all")
    settings = load_settings()
    db = runtime.get_database(settings)
    queues_for(settings)  # new mail is scored by the worker
    if sync_all:
        ids = due_mailbox_ids(db, include_paused=force)
    else:
        try:
            with db.uow() as uow:
                ids = [find_mailbox(uow, selector).id]  # type: ignore[arg-type]
        except NotFoundError as exc:
            fail(str(exc))
    failed = False
    for mailbox_id in ids:
        result = sync_mailbox(db, settings, mailbox_id, force=force, queue_scoring=queue_scoring)
        if result.took_over:
            click.echo(f"warning: mailbox {mailbox_id}: --force {result.took_over}; a sync still running there stops "
                       "at its next batch", err=True)
        if result.lease_held:
            click.echo(f"mailbox {mailbox_id}: not synced: another sync holds it ({result.held_by}) until "
                       f"{result.lease_expires_at:%H:%M:%S} UTC; try again then, or use --force", err=True)
            failed = True
            continue
        excluded = sum(result.outcome.excluded.values())
        line = f"mailbox {mailbox_id}: {result.state}"
        if result.ran:
            line += f"; {result.stored} new, {result.outcome.shared_sources} shared, {excluded} not captured, {result.batches} batches"
        if result.detail and result.state != "idle":
            line += f" ({result.detail})"
        click.echo(line)
        failed = failed or result.state in ("needs_reconnect", "provider_error")
    if failed:
        raise SystemExit(1)


@click.command("sync")
@click.option("--messages", default=5000, show_default=True, type=int, help="messages in the full sync")
@click.option("--one-by-one-messages", default=None, type=int, help="messages for the one-by-one run (default: --messages)")
@click.option("--incremental", default=100, show_default=True, type=int, help="new messages for the incremental sync")
@click.option("--database-url", default=None, help="default: fresh SQLite files under var/bench/ (a given database is EMPTIED)")
@click.option("--repeats", default=1, show_default=True, type=int, help="alternate metadata-first and content-first runs this often")
def bench_sync(messages: int, one_by_one_messages: int | None, incremental: int, database_url: str | None, repeats: int) -> None:
    """Full sync from the local Gmail stand-in: metadata first vs content first (batched 50), one by one, incremental."""
    if messages < 1 or incremental < 0 or repeats < 1 or (one_by_one_messages is not None and one_by_one_messages < 1):
        fail("--messages, --one-by-one-messages and --repeats must be at least 1, --incremental at least 0")
    settings = bench_settings()
    load_bench("sync").main(settings, messages=messages, one_by_one_messages=one_by_one_messages,
                            incremental=incremental, database_url=database_url, repeats=repeats)


def register(group: click.Group) -> None:
    """Add the mailbox group and the sync command, and `sync` to the `bench` group (creating it if needed)."""
    group.add_command(mailbox_group)
    group.add_command(sync_command)
    bench = bench_group(group)
    bench.add_command(bench_sync)
