"""Sidebar commands: `manifest` and `gmail-deployment` (the add-ins' descriptors for a server URL) and `bench api`."""

from __future__ import annotations

from pathlib import Path

import click

from ..config import PROJECT_ROOT
from ..web.gmail_deployment import ADDON_URL_PREFIX, render_deployment
from ..web.outlook import ManifestError, check_base_url, render_manifest
from .core import bench_group, bench_settings, fail, load_bench, load_settings


@click.command("manifest")
@click.option("--base-url", required=True, help="public https URL of this server, e.g. https://dealpulse.example.com")
@click.option("--client-id", default=None, help="Entra application (client) id; default DEALPULSE_MS_CLIENT_ID")
@click.option("--output", type=click.Path(path_type=Path, dir_okay=False), default=PROJECT_ROOT / "manifest.xml",
              show_default=True, help="where to write it; '-' prints it")
def manifest_command(base_url: str, client_id: str | None, output: Path) -> None:
    """Write the Outlook add-in manifest whose task pane and icons live at BASE_URL."""
    settings = load_settings(require_secret=False)
    try:
        xml = render_manifest(base_url, client_id if client_id is not None else settings.ms_client_id)
    except ManifestError as exc:
        fail(str(exc))
        return
    if str(output) == "-":
        click.echo(xml, nl=False)
        return
    output.write_text(xml, encoding="utf-8")
    click.echo(f"wrote {output} (task pane {base_url.rstrip('/')}/addin/outlook/taskpane.html)")


@click.command("gmail-deployment")
@click.option("--base-url", required=True, help="public https URL of this server, e.g. https://dealpulse.example.com")
@click.option("--output", type=click.Path(path_type=Path, dir_okay=False),
              default=PROJECT_ROOT / "addin" / "gmail" / "deployment.json", show_default=True,
              help="where to write it; '-' prints it")
def gmail_deployment_command(base_url: str, output: Path) -> None:
    """Write the Gmail add-on's deployment descriptor whose triggers and logo live at BASE_URL."""
    settings = load_settings(require_secret=False)
    try:
        text = render_deployment(base_url)
    except ManifestError as exc:
        fail(str(exc))
        return
    base = check_base_url(base_url)
    if str(output) == "-":
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output} (triggers under {base}{ADDON_URL_PREFIX}/)")
    if base != settings.base_url.rstrip("/"):
        # Google signs for the trigger URL; the backend expects DEALPULSE_BASE_URL + path, so they must match.
        click.echo(f"note: DEALPULSE_BASE_URL here is {settings.base_url}; the server that answers this add-on "
                   f"must run with DEALPULSE_BASE_URL={base} or it refuses Google's tokens", err=True)


@click.command("api")
@click.option("--database-url", default=None, help="SQLAlchemy URL to benchmark on (default: a fresh SQLite file)")
@click.option("--opportunities", default=10_000, show_default=True, type=int)
@click.option("--activities", default=200_000, show_default=True, type=int)
@click.option("--requests", "request_count", default=400, show_default=True, type=int, help="timed requests per case")
@click.option("--concurrency", default=8, show_default=True, type=int, help="client threads")
def bench_api(database_url: str | None, opportunities: int, activities: int, request_count: int, concurrency: int) -> None:
    """`POST /api/v1/context` under concurrent load: p50/p95 for captured and scored-on-the-fly emails."""
    settings = bench_settings()
    load_bench("api").main(settings, database_url=database_url, opportunities=opportunities, activities=activities,
                           requests=request_count, concurrency=concurrency)


def register(group: click.Group) -> None:
    """Add `manifest` and `gmail-deployment` to the root group and `api` to the `bench` group (creating it if needed)."""
    group.add_command(manifest_command)
    group.add_command(gmail_deployment_command)
    bench = bench_group(group)
    bench.add_command(bench_api)  # type: ignore[attr-defined]
