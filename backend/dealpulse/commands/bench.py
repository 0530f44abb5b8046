"""The `bench` group's alert benchmark (`dealpulse bench alerts`); other areas add their own subcommands."""

from __future__ import annotations

import click

from .core import bench_group, bench_settings, load_bench


@click.command("alerts")
@click.option("--opportunities", default=10_000, show_default=True, type=int)
@click.option("--activities", default=200_000, show_default=True, type=int)
@click.option("--requests", "page_requests", default=200, show_default=True, type=int, help="pipeline page requests under load")
@click.option("--concurrency", default=4, show_default=True, type=int)
@click.option("--database-url", default=None, help="default: a fresh SQLite file under var/bench/")
def bench_alerts(opportunities: int, activities: int, page_requests: int, concurrency: int, database_url: str | None) -> None:
    """Full alert evaluation, incremental update after one email, naive per-deal baseline, pipeline page p95."""
    settings = bench_settings()
    load_bench("alerts").main(settings, opportunities=opportunities, activities=activities, page_requests=page_requests,
                               concurrency=concurrency, database_url=database_url)


def register(group: click.Group) -> None:
    """Add `alerts` to the `bench` group (creating the group when no other area has yet)."""
    bench = bench_group(group)
    bench.add_command(bench_alerts)
