"""`dealpulse doctor`: check the configuration a real deployment needs and say what to fix (exit 1 on problems).

Checks the secret key, the database (reachable and migrated), the task broker, the OAuth apps, an https base URL,
and that the add-in URLs (task pane, manifest) answer at the base URL.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Callable

import click
import requests

from ..config import THROWAWAY_ENVS, ConfigError, Settings
from ..store.database import Database
from ..tasks.queue import make_huey
from ..web.outlook import ManifestError, check_base_url, render_manifest

MIN_SECRET_CHARS = 32


@dataclass(frozen=True)
class Finding:
    """One check's outcome: passed or not, what was found, and what to do about it."""

    check: str
    ok: bool
    detail: str
    fix: str = ""


def check_secret(settings: Settings) -> Finding:
    """A long random DEALPULSE_SECRET_KEY outside demo/test."""
    if settings.env in THROWAWAY_ENVS:
        return Finding("secret", False, f"DEALPULSE_ENV={settings.env} uses the public demo/test key",
                       "set DEALPULSE_ENV=production and a DEALPULSE_SECRET_KEY of your own")
    if len(settings.secret_key) < MIN_SECRET_CHARS:
        return Finding("secret", False, f"DEALPULSE_SECRET_KEY has {len(settings.secret_key)} characters",
                       "use at least 32 random characters: python -c 'import secrets; print(secrets.token_urlsafe(48))'")
    return Finding("secret", True, "DEALPULSE_SECRET_KEY is set")


def check_database(settings: Settings) -> Finding:
    """The database answers and is at the latest migration."""
    where = settings.database_url.split("@")[-1]
    db = Database.connect(settings.database_url)
    try:
        current, heads = db.schema_revisions()
    except Exception as exc:  # any driver error means "not reachable"; the message names it
        return Finding("database", False, f"{where} is not reachable ({exc.__class__.__name__}: {str(exc).splitlines()[0]})",
                       "check DEALPULSE_DATABASE_URL and that the database server runs")
    finally:
        db.dispose()
    if current != heads:
        return Finding("database", False, f"{where} is at {sorted(current) or 'no schema'}, the code needs {sorted(heads)}",
                       "run `dealpulse db upgrade`")
    return Finding("database", True, f"{where} is reachable and migrated")


def check_broker(settings: Settings) -> Finding:
    """The task broker answers (Redis, or the SQLite file under var/)."""
    where = settings.broker_url.split("@")[-1] or "SQLite under DEALPULSE_VAR_DIR"
    try:
        pending = make_huey(settings, "default").pending_count()
    except Exception as exc:  # connection, permission or URL errors alike
        return Finding("broker", False, f"{where} is not reachable ({exc.__class__.__name__})",
                       "check DEALPULSE_BROKER_URL (redis://host:port/db) and that Redis runs")
    return Finding("broker", True, f"{where} answers ({pending} task(s) waiting)")


def check_oauth(settings: Settings) -> Finding:
    """At least one sign-in provider, each with both its client id and secret."""
    problems = []
    for label, client_id, secret in (("Google", settings.google_client_id, settings.google_client_secret),
                                     ("Microsoft", settings.ms_client_id, settings.ms_client_secret)):
        if bool(client_id) != bool(secret):
            problems.append(f"{label} has a client id or a secret but not both")
    if not (settings.google_client_id or settings.ms_client_id):
        problems.append("no sign-in provider is configured")
    if problems:
        return Finding("oauth", False, "; ".join(problems),
                       "set DEALPULSE_GOOGLE_CLIENT_ID/SECRET and/or DEALPULSE_MS_CLIENT_ID/SECRET (README: OAuth apps)")
    return Finding("oauth", True, "sign-in with " + " and ".join(
        n for n, v in (("Google", settings.google_client_id), ("Microsoft", settings.ms_client_id)) if v))


def check_base_url_https(settings: Settings) -> Finding:
    """DEALPULSE_BASE_URL is https (secure cookies, OAuth redirects, add-ins)."""
    if not settings.served_over_https:
        return Finding("base_url", False, f"DEALPULSE_BASE_URL={settings.base_url} is not https",
                       "serve DealPulse behind TLS and set DEALPULSE_BASE_URL=https://your-host")
    return Finding("base_url", True, f"{settings.base_url} is https")


def check_addin_urls(settings: Settings, get: Callable[..., requests.Response] | None = None) -> Finding:
    """The manifest renders for the base URL, and the task pane and manifest answer there."""
    try:
        base = check_base_url(settings.base_url)
        render_manifest(base, settings.ms_client_id)
    except ManifestError as exc:
        return Finding("addins", False, str(exc), "set DEALPULSE_BASE_URL to this server's public https address")
    http = requests.Session()
    http.trust_env = False
    fetch = get or http.get
    for path in ("/addin/outlook/taskpane.html", "/manifest.xml"):
        try:
            answer = fetch(base + path, timeout=10, allow_redirects=False)
        except (requests.RequestException, OSError) as exc:
            return Finding("addins", False, f"{base}{path} is not reachable ({exc.__class__.__name__})",
                           "start `dealpulse serve` (or your WSGI server) and make the base URL reach it")
        if answer.status_code != 200:
            return Finding("addins", False, f"{base}{path} answered {answer.status_code}",
                           "make DEALPULSE_BASE_URL point at this DealPulse server")
    return Finding("addins", True, f"task pane and manifest answer at {base}")


CHECKS = (check_secret, check_database, check_broker, check_oauth, check_base_url_https, check_addin_urls)


def run_checks(settings: Settings, checks: tuple[Callable[[Settings], Finding], ...] = CHECKS) -> list[Finding]:
    """Each check's finding, in order."""
    return [check(settings) for check in checks]


@click.command("doctor")
def doctor() -> None:
    """Check the configuration (secret, database, broker, OAuth, https, add-in URLs) and say what to fix."""
    try:
        settings = Settings.from_env(require_secret=False)
    except ConfigError as exc:
        click.echo(f"PROBLEM settings: {exc}")
        sys.exit(1)
    findings = run_checks(settings)
    for f in findings:
        click.echo(f"{'ok     ' if f.ok else 'PROBLEM'} {f.check}: {f.detail}" + ("" if f.ok else f"\n        fix: {f.fix}"))
    problems = sum(not f.ok for f in findings)
    click.echo(f"{problems} problem(s)" if problems else "everything checked is ready")
    sys.exit(1 if problems else 0)


def register(group: click.Group) -> None:
    """Add `doctor` to the root group."""
    group.add_command(doctor)
