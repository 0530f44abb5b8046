"""`dealpulse demo`: set up the seeded demo end to end and serve it with an in-process task consumer."""

from __future__ import annotations

import os

import click
from tqdm import tqdm

from .. import runtime
from ..app import create_app
from ..demo.setup import DemoSetup, prepare_demo
from ..tasks import current_queues
from .core import load_settings


@click.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--no-serve", is_flag=True, help="set everything up, print the tokens, and exit")
def demo(host: str, port: int, no_serve: bool) -> None:
    """Migrate, seed the demo organisation, build the tone model, sync the demo mailbox, score, alert, serve."""
    settings = load_settings(env=os.environ.get("DEALPULSE_ENV") or "demo", demo=True)
    db = runtime.get_database(settings)
    bar = tqdm(total=100, desc="training the seed tone model", unit="%", disable=None, leave=False)

    def progress(report) -> None:
        bar.n = round(report.fraction * 100)
        bar.set_postfix(epoch=report.epoch, loss=f"{report.loss:.3f}", refresh=True)

    setup = prepare_demo(settings, db, say=click.echo, model_progress=progress)
    bar.close()
    base = f"http://{host}:{port}"
    click.echo("")
    click.echo(f"DealPulse demo is {'set up' if no_serve else 'ready'} at {base}/" + (" (once served, see below)" if no_serve else ""))
    click.echo(f"  sidebar preview (click an email, edit the deal, rate the tone): {base}/")
    click.echo(f"  manager dashboard (demo sign-in picker):                        {base}/dashboard/")
    click.echo(f"  API (send 'Authorization: Bearer <token>'):                     {base}/api/v1/opportunities")
    click.echo("  personal API tokens of the demo users:")
    for email, token in setup.tokens.items():
        click.echo(f"    {email:40} {token}")
    if no_serve:
        setup.stop()
        _separate_processes(settings.database_url, host, port)
        return
    _serve(setup, host, port)


def _separate_processes(database_url: str, host: str, port: int) -> None:
    """How to serve the demo just set up as separate processes (its mail stand-in stopped with this command)."""
    click.echo("")
    click.echo("To serve it as separate processes (the demo mailboxes then live in a stand-in of their own):")
    click.echo("  dealpulse standins serve --demo --port 8801     # prints the DEALPULSE_* variables to export")
    click.echo(f"  export DEALPULSE_ENV=demo DEALPULSE_DEMO=true DEALPULSE_DATABASE_URL={database_url}")
    click.echo("  # DEALPULSE_DEMO=true: without it the sign-in picker and the sidebar preview answer 404")
    click.echo(f"  gunicorn -w 2 -b {host}:{port} 'dealpulse.wsgi:app'")
    click.echo("  dealpulse worker                                # sync, alerts and scoring; `dealpulse sync --all` syncs now")


def _serve(setup: DemoSetup, host: str, port: int) -> None:
    from huey.consumer import Consumer  # noqa: PLC0415 - huey (redis, psycopg) loads only when serving the demo

    app = create_app(setup.settings)  # builds the process's queues from the demo's settings
    queues = current_queues()
    consumers = [Consumer(queues.default, workers=2, worker_type="thread", periodic=True),
                 Consumer(queues.scoring, workers=1, worker_type="thread", periodic=True),
                 Consumer(queues.training, workers=1, worker_type="thread", periodic=False)]
    for consumer in consumers:
        consumer.start()  # threads; the web server owns the main thread
    try:
        app.run(host=host, port=port, threaded=True, use_reloader=False)
    finally:
        for consumer in consumers:
            consumer.stop(graceful=False)
        setup.stop()


def register(group: click.Group) -> None:
    """Add `demo` to the root group."""
    group.add_command(demo)
