"""Sidebar commands: `manifest` (the Outlook manifest for a server URL) and `bench api` (the context endpoint's latency)."""

from __future__ import annotations

from pathlib import Path

import click

from ..config import PROJECT_ROOT
from ..web.outlook import ManifestError, render_manifest
from .core import bench_group, fail, load_settings
from .sentiment import _load_bench as load_bench


@click.command("manifest")
@click.option("--base-url", required=True, help="public https URL of this server, e.g. https://dealpulse.example.com")
@click.option("--client-id", default=None, help="Entra application (client) id; default DEALPULSE_MS_CLIENT_ID")
@click.option("--output", type=click.Path(path_type=Path, dir_okay=False), default=PROJECT_ROOT / "manifest.xml",
              show_default=True, help="where to write it; '-' prints it")
def manifest_command(base_url: str, client_id: str | None, output: Path) -> None:
    """Write the Outlook add-in manifest whose task pane and icons live at BASE_URL."""
    settings = load_settings()
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


@click.command("api")
@click.option("--database-url", default=None, help="SQLAlchemy URL to benchmark on (default: a fresh SQLite file)")
@click.option("--opportunities", default=10_000, show_default=True, type=int)
@click.option("--activities", default=200_000, show_default=True, type=int)
@click.option("--requests", "request_count", default=400, show_default=True, type=int, help="timed requests per case")
@click.option("--concurrency", default=8, show_default=True, type=int, help="client threads")
def bench_api(database_url: str | None, opportunities: int, activities: int, request_count: int, concurrency: int) -> None:
    """`POST /api/v1/context` under concurrent load: p50/p95 for captured and scored-on-the-fly emails."""
    settings = load_settings()
    load_bench("api").main(settings, database_url=database_url, opportunities=opportunities, activities=activities,
                           requests=request_count, concurrency=concurrency)


def register(group: click.Group) -> None:
    """Add `manifest` to the root group and `api` to the `bench` group (creating it if needed)."""
    group.add_command(manifest_command)
    bench = bench_group(group)
    bench.add_command(bench_api)  # type: ignore[attr-defined]
