"""`dealpulse standins serve`: the local Google stand-in as a process of its own, with mail injectable at run time.

Separate DealPulse processes (gunicorn, workers on other queues, the fleet benchmark) reach it on a fixed port; mail
arrives through `POST /_standin/messages` or files dropped into `--inbox-dir` (see `standins.inject`).
"""

from __future__ import annotations

import threading
from pathlib import Path

import click

from ..demo.live import demo_refresh_token, demo_reps, load_demo_corpus
from ..standins.google import GoogleStandIn
from ..standins.inject import MESSAGES_PATH, USERS_PATH, InboxFolder, inject_blueprint
from ..store import utcnow


@click.group("standins")
def standins_group() -> None:
    """Local stand-ins of the mail providers (development, demos, benchmarks)."""


@standins_group.command("serve")
@click.option("--demo", "with_demo", is_flag=True, help="load the demo reps' mailboxes and calendars (the demo corpus)")
@click.option("--user", "users", multiple=True, help="an empty mailbox for this address (repeatable)")
@click.option("--port", default=8801, show_default=True, type=int, help="port on 127.0.0.1 (0 = any free port)")
@click.option("--inbox-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="deliver DIR/<address>/*.eml files dropped here while running")
@click.option("--push-endpoint", default="", help="DealPulse's Gmail push URL (e.g. http://127.0.0.1:5000/push/gmail): "
              "each injected message is pushed there")
@click.option("--push-audience", default="", help="audience of the push JWT (DEALPULSE_GOOGLE_PUBSUB_AUDIENCE; default: the endpoint)")
def serve(with_demo: bool, users: tuple[str, ...], port: int, inbox_dir: Path | None, push_endpoint: str, push_audience: str) -> None:
    """Serve the Google stand-in (Gmail, Calendar, OAuth) until interrupted and print how to point DealPulse at it."""
    standin = GoogleStandIn(port=port)
    if with_demo:
        load_demo_corpus(standin, demo_reps(), utcnow())
    for address in users:
        standin.add_user(address, demo_refresh_token(address))
    standin.app.register_blueprint(inject_blueprint(standin))
    standin.push_endpoint, standin.push_audience = push_endpoint or None, push_audience or push_endpoint or None
    try:
        standin.start()
    except OSError as exc:
        raise click.ClickException(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from exc
    inbox = InboxFolder(standin, inbox_dir).start() if inbox_dir else None
    base = standin.base_url.rstrip("/")
    click.echo(f"Google stand-in on {base}/ ({len(standin.users())} mailboxes). Point every DealPulse process at it:")
    for name, value in standin.settings_overrides().items():
        click.echo(f"  export DEALPULSE_{name.upper()}={value}")
    click.echo("Connect its mailboxes (run against the same DEALPULSE_DATABASE_URL, after `dealpulse db upgrade` and")
    click.echo("creating the users, e.g. with `dealpulse demo --no-serve` for the demo reps):")
    for address in standin.users():
        click.echo(f"  dealpulse mailbox add --provider gmail --address {address} --refresh-token {standin.refresh_tokens(address)[0]}")
    example = standin.users()[0] if standin.users() else "rep@example.com"
    click.echo("Add mail while it runs:")
    click.echo(f"  curl -s -X POST {base}{MESSAGES_PATH} -H 'Content-Type: application/json' \\")
    click.echo(f"       -d '{{\"user\": \"{example}\", \"from\": \"buyer@customer.example\", \"subject\": \"Decision\", "
               f"\"body\": \"We have decided to go with another vendor.\"}}'")
    click.echo(f"  curl -s {base}{USERS_PATH}    # every mailbox and its refresh tokens")
    if inbox:
        click.echo(f"  or drop RFC 822 files into {inbox.path}/<address>/NAME.eml")
    if push_endpoint:
        click.echo(f"Each injected message is pushed to {push_endpoint}; otherwise DealPulse sees it at its next poll "
                   "(DEALPULSE_POLL_INTERVAL_MINUTES).")
    else:
        click.echo("No --push-endpoint: DealPulse sees new mail at its next poll (DEALPULSE_POLL_INTERVAL_MINUTES) "
                   "or on `dealpulse sync --all`.")
    click.echo("Ctrl-C stops it.", nl=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        if inbox:
            inbox.stop()
        standin.stop()


def register(group: click.Group) -> None:
    """Add `standins` to the root group."""
    group.add_command(standins_group)
