"""Core subcommands (db upgrade, serve, worker, token create, import/export, config) and the helpers every
command module shares (settings, one-line failures, the database, --org, progress bars, benchmarks)."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import click
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from tqdm import tqdm

from .. import runtime
from ..app import create_app
from ..config import PROJECT_ROOT, ConfigError, Settings, documented_settings
from ..domain.access import Principal
from ..services.csv_io import CsvImportError, export_csv, import_csv
from ..services.first_run import issue_setup_token, needs_setup
from ..services.org_setup import create_personal_token, list_personal_tokens, resolve_organisation, revoke_personal_token
from ..store import Organisation, User
from ..store.database import Database
from ..store.uow import UnitOfWork
from ..tasks import build_queues
from ..tasks.queue import QUEUE_NAMES
from ..tasks.consumers import ConsumerGroup
from ..tasks.worker_logs import configure_worker_logging
from .serving import configure_logging, exit_now, serve_until_stopped, work_until_stopped


def fail(message: str) -> None:
    """Exit non-zero with one line saying what to fix."""
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


def load_settings(*, require_secret: bool = True, **overrides: object) -> Settings:
    """Process settings from the environment (a clear one-line error when they are invalid).

    Commands that never sign, encrypt or verify pass `require_secret=False`; everything else refuses to start
    without DEALPULSE_SECRET_KEY outside DEALPULSE_ENV=demo/test.
    """
    try:
        settings = Settings.from_env(require_secret=require_secret, **overrides)
    except ConfigError as exc:
        fail(str(exc))
        raise
    runtime.configure(settings)
    return settings


def bench_settings() -> Settings:
    """Settings for a benchmark: its data is throwaway, so DEALPULSE_ENV defaults to `test` (public key) here."""
    return load_settings(env=os.environ.get("DEALPULSE_ENV") or "test")


def principal_for_cli(uow: UnitOfWork, org_id: int) -> Principal:
    """An admin principal acting from the command line (first admin of the org, else a system actor)."""
    admin = uow.s.scalar(select(User).where(User.org_id == org_id, User.role == "admin").order_by(User.id))
    if admin is not None:
        return Principal(user_id=admin.id, org_id=org_id, role="admin", email=admin.email, surface="cli")
    return Principal(user_id=0, org_id=org_id, role="admin", email="cli@localhost", surface="cli")


def ready_database(settings: Settings) -> Database:
    """The configured database; an SQLite file is migrated on the spot so first use just works."""
    db = runtime.get_database(settings)
    if settings.is_sqlite:
        db.upgrade()
    return db


def resolve_org(db: Database, org: str | None) -> int | None:
    """The organisation id named by --org (an id or an exact name), or None."""
    if org is None:
        return None
    try:
        with db.uow() as uow:
            query = select(Organisation.id).where(
                Organisation.id == int(org) if org.isdigit() else Organisation.name == org
            )
            found = uow.s.scalar(query)
    except SQLAlchemyError as exc:
        fail(f"cannot read organisations ({exc.__class__.__name__}); run `dealpulse db upgrade`")
    if found is None:
        fail(f"--org {org!r}: no such organisation (give its id or exact name)")
    return found


def progress_bar(total: int, description: str, unit: str) -> tqdm:
    """A progress bar on stderr, silent when stderr is not a terminal."""
    return tqdm(total=total, desc=description, unit=unit, disable=not sys.stderr.isatty(), file=sys.stderr)


def load_bench(name: str) -> ModuleType:
    """The benchmark script bench/bench_NAME.py of a source checkout, loaded as a module."""
    path = PROJECT_ROOT / "bench" / f"bench_{name}.py"
    if not path.is_file():
        fail(f"{path} is missing (benchmarks run from a source checkout)")
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    sys.modules[spec.name] = module  # dataclasses (and pickling) look their module up there
    spec.loader.exec_module(module)
    return module


@click.group("db")
def db_group() -> None:
    """Database maintenance."""


@db_group.command("upgrade")
def db_upgrade() -> None:
    """Migrate the database named by DEALPULSE_DATABASE_URL to the latest schema."""
    settings = load_settings()
    db = runtime.get_database(settings)
    try:
        db.upgrade()
    except Exception as exc:
        fail(f"cannot migrate {settings.database_url.split('@')[-1]}: {exc.__class__.__name__}: {str(exc).splitlines()[0]}")
    click.echo("database is up to date")


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--verbose", is_flag=True, help="log every request")
def serve(host: str, port: int, verbose: bool) -> None:
    """Serve the web app and API (development server; use gunicorn 'dealpulse.wsgi:app' in production)."""
    settings = load_settings()
    configure_logging(settings.log_format, verbose=verbose)
    app = create_app(settings)
    link = setup_link(settings)
    if link:
        click.echo(f"First run: open {link} to create your organisation and its first admin (the link works once).")
    serve_until_stopped(app, host, port)
    exit_now(0)


def setup_link(settings: Settings) -> str | None:
    """On a database without organisations, a fresh one-time setup link; None once set up (or not migrated)."""
    try:
        with runtime.get_database(settings).uow() as uow:
            if not needs_setup(uow):
                return None
    except SQLAlchemyError:
        click.echo("The database is not ready: run `dealpulse db upgrade` (or `dealpulse doctor`).", err=True)
        return None
    return f"{settings.base_url.rstrip('/')}/setup?token={issue_setup_token(settings.var_dir)}"


@click.command("worker")
@click.option("--queue", "queue_names", type=click.Choice(sorted(QUEUE_NAMES)), multiple=True,
              help="queue to work (repeatable): default = sync, alerts, sweeps (no model); scoring = tone scoring "
                   "(loads the model); training = model training. Without --queue: default and scoring.")
@click.option("--workers", default=2, show_default=True, type=int, help="worker threads per queue")
def worker(queue_names: tuple[str, ...], workers: int) -> None:
    """Run background tasks: sync, alerts and scoring (or only the queues named with --queue)."""
    settings = load_settings()
    queues = build_queues(settings)
    names = list(dict.fromkeys(queue_names or ("default", "scoring")))
    plan = []
    for name in names:
        instance = queues.huey(QUEUE_NAMES[name])
        configure_worker_logging(instance, log_format=settings.log_format)
        plan.append((instance, workers, name != "training"))
    work_until_stopped(ConsumerGroup(plan))
    exit_now(0)


@click.group("token")
def token_group() -> None:
    """Personal API tokens."""


@token_group.command("create")
@click.option("--user", "email", required=True, help="the user's address")
@click.option("--label", default="cli", show_default=True)
@click.option("--expires-in-days", type=int, default=None, help="the token stops working after this many days (default: never)")
def token_create(email: str, label: str, expires_in_days: int | None) -> None:
    """Create a personal API token and print it (it is shown only once)."""
    db = runtime.get_database(load_settings())
    with db.uow() as uow:
        try:
            click.echo(create_personal_token(uow, email, label, expires_in_days))
        except ValueError as exc:
            fail(str(exc))


@token_group.command("list")
@click.option("--user", "email", default=None, help="only this user's tokens")
def token_list(email: str | None) -> None:
    """List personal API tokens with their owner, last use, expiry and status (never the tokens themselves)."""
    db = runtime.get_database(load_settings())
    with db.uow() as uow:
        tokens = list_personal_tokens(uow, email)

    def when(moment) -> str:
        return moment.strftime("%Y-%m-%d %H:%M") if moment else "-"

    click.echo(f"{'id':>5}  {'user':32} {'label':16} {'created':16}  {'last used':16}  {'expires':16}  status")
    for t in tokens:
        click.echo(f"{t.id:>5}  {t.user:32} {t.label[:16]:16} {when(t.created_at):16}  {when(t.last_used_at):16}  "
                   f"{when(t.expires_at):16}  {t.status}")


@token_group.command("revoke")
@click.argument("token")
def token_revoke(token: str) -> None:
    """Revoke a personal API token by its id (from `token list`) or by the token itself; it stops working at once."""
    db = runtime.get_database(load_settings())
    with db.uow() as uow:
        try:
            token_id, revoked = revoke_personal_token(uow, token)
        except ValueError as exc:
            fail(str(exc))
    click.echo(f"token {token_id} revoked" if revoked else f"token {token_id} was already revoked")


@click.command("import")
@click.argument("kind", type=click.Choice(["accounts", "contacts", "opportunities"]))
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--org", default=None, help="organisation id or name (default: the only one)")
def import_command(kind: str, path: Path, org: str | None) -> None:
    """Import a CSV of accounts, contacts or opportunities; a bad row is reported and nothing is written."""
    db = runtime.get_database(load_settings())
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        fail(f"{path} is not UTF-8 text")
    with db.uow() as uow:
        try:
            org_id = resolve_organisation(uow, org)
            summary = import_csv(uow, principal_for_cli(uow, org_id), kind, text)
        except CsvImportError as exc:
            for line, message in exc.problems:
                click.echo(f"{path}:{line}: {message}", err=True)
            fail(f"{len(exc.problems)} problem(s); nothing was imported")
        except ValueError as exc:
            fail(str(exc))
    click.echo(f"{kind}: {summary.created} created, {summary.updated} updated, {summary.unchanged} unchanged")


@click.command("export")
@click.argument("kind", type=click.Choice(["accounts", "contacts", "opportunities"]))
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None)
@click.option("--org", default=None, help="organisation id or name (default: the only one)")
def export_command(kind: str, output: Path | None, org: str | None) -> None:
    """Export accounts, contacts or opportunities as CSV (stdout or --output)."""
    db = runtime.get_database(load_settings())
    with db.uow() as uow:
        try:
            text = export_csv(uow, resolve_organisation(uow, org), kind)
        except ValueError as exc:
            fail(str(exc))
    if output:
        output.write_text(text, encoding="utf-8")
    else:
        click.echo(text, nl=False)


@click.command("config")
def config_command() -> None:
    """List every DEALPULSE_* setting with its default and meaning."""
    for env, default, doc in documented_settings():
        click.echo(f"{env:42} {default!s:45} {doc}")


def register(group: click.Group) -> None:
    """Add the core subcommands to the root group."""
    for command in (db_group, serve, worker, token_group, import_command, export_command, config_command):
        group.add_command(command)


def bench_group(root: click.Group) -> click.Group:
    """The `bench` group under `root`, created by whichever area registers a benchmark first."""
    bench = root.commands.get("bench")
    if bench is None:

        @click.group("bench")
        def bench() -> None:
            """Benchmarks that print a table and write JSON under var/bench/."""

        root.add_command(bench)
    return bench
