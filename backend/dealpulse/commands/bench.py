"""The `bench` group's alert and forecast benchmarks (`dealpulse bench alerts|forecast`); other areas add their own."""

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


@click.command("forecast")
@click.option("--opportunities", default=100_000, show_default=True, type=int)
@click.option("--activities", default=2_000_000, show_default=True, type=int)
@click.option("--database-url", default=None, help="default: a fresh SQLite file under var/bench/")
@click.option("--backtest-quarters", default=8, show_default=True, type=click.IntRange(0, 16),
              help="quarters of the demo history to backtest the win-probability model on (0: skip)")
def bench_forecast(opportunities: int, activities: int, database_url: str | None, backtest_quarters: int) -> None:
    """Pipeline metrics and the forecast roll-up over N deals / M activities vs a Python-loop baseline; then the
    win-probability model's backtest on the demo history vs stage-weighted and rep commit."""
    settings = bench_settings()
    load_bench("forecast").main(settings, opportunities=opportunities, activities=activities, database_url=database_url)
    if backtest_quarters:
        load_bench("forecast_backtest").main(settings, quarters=backtest_quarters)


def register(group: click.Group) -> None:
    """Add `alerts` and `forecast` to the `bench` group (creating the group when no other area has yet)."""
    bench = bench_group(group)
    bench.add_command(bench_alerts)
    bench.add_command(bench_forecast)
