"""Learning-from-reps commands: `ratings import FILE.jsonl`, the organisation path of `train`, `bench train`."""

from __future__ import annotations

from pathlib import Path

import click

from ..services.org_setup import resolve_organisation
from ..services.ratings_import import RatingsImportError, import_ratings_file
from ..services.training import TrainingError, train_org_version
from ..store.database import Database
from ..tasks import queues_for
from ..tasks.scoring import queue_rescore
from .core import bench_group, bench_settings, fail, load_bench, load_settings, progress_bar, ready_database

org_option = click.option("--org", "org", default=None, help="organisation id or exact name (default: the only one)")


def _organisation(db: Database, org: str | None) -> int:
    with db.uow() as uow:
        try:
            return resolve_organisation(uow, org)
        except ValueError as exc:
            fail(str(exc))
            raise


@click.group("ratings")
def ratings_group() -> None:
    """Tone ratings from reps."""


@ratings_group.command("import")
@click.argument("path", type=click.Path(path_type=Path, dir_okay=False))
@org_option
def ratings_import(path: Path, org: str | None) -> None:
    """Import ratings from a JSONL file: {"text"|"activity_id", "label", "rater"} per line; all or nothing."""
    settings = load_settings()
    db = ready_database(settings)
    org_id = _organisation(db, org)
    with db.uow() as uow:
        try:
            summary = import_ratings_file(uow, org_id, path)
        except RatingsImportError as exc:
            for number, reason in exc.problems:
                click.echo(f"{path}:{number}: {reason}" if number else reason, err=True)
            fail(f"{len(exc.problems)} bad line(s); nothing was imported")
    click.echo(
        f"imported {summary.lines} ratings into organisation {org_id}: {summary.created} new, {summary.changed} changed, "
        f"{summary.unchanged} unchanged; {len(summary.raters)} raters ({len(summary.new_raters)} new, imported); "
        f"{summary.held_out} held out for evaluation"
    )


def train_organisation(org: str | None, method: str | None = None) -> None:
    """`dealpulse train` without --from-seed: train a candidate on the organisation's ratings and decide."""
    settings = load_settings()
    queues_for(settings)
    db = ready_database(settings)
    org_id = _organisation(db, org)
    bar = progress_bar(1000, "training", "‰")
    last_message = [""]

    def report(message: str, fraction: float) -> None:
        bar.n = int(fraction * 1000)
        bar.set_description(message.split(" step ")[0][:40])
        bar.refresh()
        stage = message.split(" step ")[0]
        if bar.disable and stage != last_message[0]:  # no terminal: one line per stage for logs
            click.echo(f"[{fraction:4.0%}] {message}", err=True)
        last_message[0] = stage

    try:
        with bar:
            result = train_org_version(settings, db, org_id, trigger="cli", progress=report, method=method,
                                       rescore=queue_rescore)
    except TrainingError as exc:
        fail(str(exc))
        raise
    click.echo(training_table([result.as_dict()]))
    if result.what_changed:
        click.echo("what the model learned (phrases whose pull moved most, + = toward positive):")
        for shift in result.what_changed[:8]:
            click.echo(f"  {shift['phrase']:<24}{shift['before']:+.3f} -> {shift['after']:+.3f}  ({shift['occurrences']}x)")
    flagged = [r for r in result.raters if r["flagged"]]
    for rater in flagged:
        click.echo(f"flagged rater {rater['rater']}: {rater['flag_reason']} (weight 0)")
    verdict = "PROMOTED: now active" if result.promoted else f"NOT promoted: kept as rejected candidate; {result.parent_version} stays active"
    click.echo(f"{verdict} ({result.seconds} s)")


def training_table(reports: list[dict]) -> str:
    """version | data | seed-eval F1 | held-out-ratings F1 | decision | why — one row per report."""
    def f1(value: float | None) -> str:
        return "-" if value is None else f"{value:.4f}"

    header = f"{'version':<34} {'data':<30} {'seed-eval F1':<18} {'held-out F1':<18} {'decision':<9} why"
    lines = [header, "-" * len(header)]
    for r in reports:
        data = f"{r['data']['ratings']} ratings+{r['data']['replay']} seed, {r['method']}"
        seed = f"{f1(r['active_seed_eval_f1'])}->{f1(r['seed_eval_f1'])}"
        held = f"{f1(r['active_holdout_f1'])}->{f1(r['holdout_f1'])}"
        decision = "promoted" if r["promoted"] else "rejected"
        lines.append(f"{r['version']:<34} {data:<30} {seed:<18} {held:<18} {decision:<9} {r['reason']}")
    return "\n".join(lines)


@click.command("train")
@click.option("--ratings", "sizes", default="100,1000,5000", show_default=True, help="rating counts to time")
@click.option("--curve", default="0,50,100,200,500", show_default=True, help="rating counts of the learning curve")
@click.option("--threads", default=2, show_default=True, type=int, help="torch threads (the target is 2 cores)")
def bench_train(sizes: str, curve: str, threads: int) -> None:
    """Training time and peak memory per rating count, and the held-out learning curve."""
    settings = bench_settings()
    try:
        size_list = [int(x) for x in sizes.split(",") if x.strip()]
        curve_list = [int(x) for x in curve.split(",") if x.strip()]
    except ValueError:
        fail("--ratings and --curve take comma-separated integers")
        raise
    load_bench("train").main(settings, sizes=size_list, curve=curve_list, threads=threads)


def register(group: click.Group) -> None:
    """Add `ratings` to the root group and `train` to the `bench` group (creating it if no other area has)."""
    group.add_command(ratings_group)
    bench = bench_group(group)
    bench.add_command(bench_train)
