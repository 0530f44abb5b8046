"""`dealpulse demo`: set up the seeded demo end to end and serve it with an in-process task consumer."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import click
from sqlalchemy import select
from tqdm import tqdm

from .. import runtime
from ..app import create_app
from ..demo.setup import DemoSetup, prepare_demo
from ..store import Team, User
from ..store.database import Database
from ..tasks import current_queues
from ..tasks.consumers import ConsumerGroup
from .core import load_settings
from .serving import configure_logging, exit_now, serve_until_stopped

if TYPE_CHECKING:
    from ..sentiment.trainer import TrainingProgress


# What each demo role should try first (the demo users come from demo/data/org.json).
FIRST_STEPS = {
    "rep": "open the sidebar preview as this rep: click an email, read the verdict, rate the tone, edit the deal",
    "manager": "sign in to the dashboard as this manager: the team's deals at risk, open alerts, the forecast",
    "admin": "sign in to the dashboard as the admin: Admin > People and teams, thresholds, privacy, mailboxes",
}


@click.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--no-serve", is_flag=True, help="set everything up, print the tokens, and exit")
@click.option("--verbose", is_flag=True, help="log every request and the task workers' lines")
def demo(host: str, port: int, no_serve: bool, verbose: bool) -> None:
    """Migrate, seed the demo organisation, build the tone model, sync the demo mailbox, score, alert, serve."""
    settings = load_settings(env=os.environ.get("DEALPULSE_ENV") or "demo", demo=True)
    configure_logging(settings.log_format, verbose=verbose)
    db = runtime.get_database(settings)
    progress = ModelBuildProgress()
    try:
        setup = prepare_demo(settings, db, say=click.echo, model_progress=progress)
    finally:
        progress.close()
    base = f"http://{host}:{port}"
    click.echo("")
    click.echo(f"DealPulse demo is {'set up' if no_serve else 'ready'} at {base}/" + (" (once served, see below)" if no_serve else ""))
    click.echo(f"  sidebar preview (click an email, edit the deal, rate the tone): {base}/")
    click.echo(f"  manager dashboard (demo sign-in picker):                        {base}/dashboard/")
    click.echo(f"  API (send 'Authorization: Bearer <token>'):                     {base}/api/v1/opportunities")
    click.echo("")
    click.echo("Who is who (pick them in the sign-in picker or the preview), and what to try first:")
    for person in demo_people(db, setup.org_id):
        click.echo(f"  {person.role:8} {person.name:18} {person.team:16} {person.email}")
    for role in ("rep", "manager", "admin"):
        click.echo(f"  - a {role}: {FIRST_STEPS[role]}")
    click.echo("")
    click.echo("Personal API tokens of the demo users:")
    for email, token in setup.tokens.items():
        click.echo(f"    {email:40} {token}")
    if no_serve:
        setup.stop()
        _separate_processes(settings.database_url, host, port)
        return
    _serve(setup, host, port)


@dataclass(frozen=True)
class DemoPerson:
    """One demo user as the start-up guide lists them."""

    role: str
    name: str
    team: str
    email: str


def demo_people(db: Database, org_id: int) -> list[DemoPerson]:
    """The demo organisation's active users, reps first, then managers and admins."""
    order = {"rep": 0, "manager": 1, "admin": 2}
    with db.uow() as uow:
        rows = uow.s.execute(select(User, Team.name).outerjoin(Team, Team.id == User.team_id)
                             .where(User.org_id == org_id, User.is_active.is_(True))).all()
        people = [DemoPerson(user.role, user.name, team or "(no team)", user.email) for user, team in rows]
    return sorted(people, key=lambda p: (order.get(p.role, 3), p.team, p.email))


class ModelBuildProgress:
    """The seed model build's progress: a bar with the time left on a terminal, a line every 10% otherwise."""

    def __init__(self) -> None:
        self.bar: tqdm | None = None
        self.interactive = sys.stderr.isatty()
        self.started = 0.0
        self.next_line = 0.1

    def __call__(self, report: TrainingProgress) -> None:
        """Called by the trainer after each optimiser step and each epoch's validation."""
        if self.started == 0.0:
            self.started = time.monotonic()
            if self.interactive:
                self.bar = tqdm(total=report.total_steps, desc="building the tone model", unit="step", leave=False)
        if self.bar is not None:
            self.bar.n = min(report.step, report.total_steps)
            self.bar.set_postfix(epoch=report.epoch, loss=f"{report.loss:.3f}", refresh=True)
            return
        if report.fraction >= self.next_line:
            self.next_line = (int(report.fraction * 10) + 1) / 10
            click.echo(f"  tone model: {report.fraction:.0%} ({report.step}/{report.total_steps} steps), "
                       f"about {self.remaining(report.fraction)} left", err=True)

    def remaining(self, fraction: float) -> str:
        """The time left at the pace so far, in words."""
        if fraction <= 0:
            return "an unknown time"
        seconds = (time.monotonic() - self.started) * (1 - fraction) / fraction
        return f"{seconds / 60:.0f} min" if seconds >= 90 else f"{seconds:.0f} s"

    def close(self) -> None:
        """Remove the bar (the caller then says which model is active)."""
        if self.bar is not None:
            self.bar.close()


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
    """Serve the demo with its task consumers in this process until Ctrl+C or SIGTERM, then stop the stand-ins."""
    app = create_app(setup.settings)  # builds the process's queues from the demo's settings
    queues = current_queues()
    consumers = ConsumerGroup([(queues.default, 2, True), (queues.scoring, 1, True), (queues.training, 1, False)])
    serve_until_stopped(app, host, port, consumers=consumers, on_stop=setup.stop)
    exit_now(0)


def register(group: click.Group) -> None:
    """Add `demo` to the root group."""
    group.add_command(demo)
