"""The `bench` group's alert, forecast, process-memory and fleet benchmarks (`dealpulse bench alerts|forecast|memory|fleet`)."""

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


@click.command("memory")
@click.option("--database-url", required=True, help="a scratch PostgreSQL database: it is EMPTIED")
@click.option("--broker-url", default="redis://127.0.0.1:6379/0", show_default=True, help="Redis for the task queues (flushed)")
@click.option("--emails", default=300, show_default=True, type=int, help="customer emails synced and scored")
@click.option("--port", default=5099, show_default=True, type=int, help="port gunicorn listens on")
def bench_memory(database_url: str, broker_url: str, emails: int, port: int) -> None:
    """Resident memory of the web process, a default-queue worker and a scoring worker (gunicorn, Redis, PostgreSQL)."""
    settings = bench_settings()
    load_bench("memory").main(settings, database_url=database_url, broker_url=broker_url, emails=emails, port=port)


@click.command("fleet")
@click.option("--mailboxes", default=5, show_default=True, type=int, help="Gmail mailboxes receiving mail")
@click.option("--rate", default=2.0, show_default=True, type=float, help="messages per minute per mailbox")
@click.option("--workers", default=2, show_default=True, type=int, help="default-queue worker processes (plus one scoring worker)")
@click.option("--minutes", default=1.0, show_default=True, type=float, help="how long mail arrives")
@click.option("--database-url", required=True, help="a scratch PostgreSQL database: it is EMPTIED")
@click.option("--broker-url", default="redis://127.0.0.1:6379/0", show_default=True, help="Redis for the task queues (flushed)")
@click.option("--port", default=5098, show_default=True, type=int, help="port gunicorn listens on")
@click.option("--kill-worker", is_flag=True, help="SIGKILL a default worker half way (and start a new one)")
@click.option("--settle-minutes", default=5.0, show_default=True, type=float, help="how long to wait for stragglers after the last message")
def bench_fleet(mailboxes: int, rate: float, workers: int, minutes: float, database_url: str, broker_url: str, port: int,
                kill_worker: bool, settle_minutes: float) -> None:
    """gunicorn, W workers on Redis, PostgreSQL, mail injected: arrival-to-stored/-scored/-alert p50/p95/p99, lost, duplicated."""
    settings = bench_settings()
    load_bench("fleet").main(settings, database_url=database_url, broker_url=broker_url, mailboxes=mailboxes, rate=rate,
                             workers=workers, minutes=minutes, port=port, kill_worker=kill_worker, settle_minutes=settle_minutes)


def register(group: click.Group) -> None:
    """Add `alerts`, `forecast`, `memory` and `fleet` to the `bench` group (creating the group when no other area has yet)."""
    bench = bench_group(group)
    bench.add_command(bench_alerts)
    bench.add_command(bench_forecast)
    bench.add_command(bench_memory)
    bench.add_command(bench_fleet)
