"""Tone commands: `score`, `train --from-seed`, `evaluate`, `models list|promote|rollback`, `bench scoring`."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

import click

from ..sentiment.active import active_scorers
from ..sentiment.corpus import CorpusError
from ..sentiment.eval_sets import corpus_eval, default_set_path, load_labelled_jsonl
from ..sentiment.registry import RegistryError, active_row, active_version, is_complete, list_versions, read_json, version_dir
from ..services.model_versions import promote_version, switch_version
from ..services.training import TrainingError
from ..tasks import queues_for
from ..tasks.scoring import queue_rescore
from .core import bench_group, bench_settings, fail, load_bench, load_settings, progress_bar, ready_database, resolve_org
from .learning import train_organisation

SCORE_CHUNK = 64
org_option = click.option("--org", "org", default=None, help="organisation id or exact name (default: the global seed version)")


# ---------------------------------------------------------------- score


def read_score_input(path: Path) -> list[tuple[Any, str]]:
    """Every `{"id", "text"}` line of a JSONL file; a bad line stops everything with its line number."""
    items: list[tuple[Any, str]] = []
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}")
    with handle:
        try:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                items.append(_parse_score_line(line, path, number))
        except UnicodeDecodeError:
            fail(f"{path}: not UTF-8 text")
    return items


def _parse_score_line(line: str, path: Path, number: int) -> tuple[Any, str]:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        fail(f"{path}:{number}: not valid JSON ({exc.msg})")
    if not isinstance(record, dict):
        fail(f"{path}:{number}: expected a JSON object with \"id\" and \"text\"")
    if "id" not in record or isinstance(record["id"], (dict, list)) or record["id"] is None:
        fail(f"{path}:{number}: \"id\" must be a string or a number")
    if not isinstance(record.get("text"), str):
        fail(f"{path}:{number}: \"text\" must be a string")
    return record["id"], record["text"]


def _chunks(items: list, size: int) -> Iterator[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@click.command("score")
@click.option("--input", "input_path", required=True, type=click.Path(path_type=Path, dir_okay=False))
@click.option("--output", "output_path", required=True, type=click.Path(path_type=Path, dir_okay=False))
@org_option
def score_command(input_path: Path, output_path: Path, org: str | None) -> None:
    """Score emails: each input line {"id", "text"} gives {"id", "label", "score", "confidence", "model_version"}."""
    items = read_score_input(input_path)
    settings = load_settings(require_secret=False)
    db = ready_database(settings)
    scorer = active_scorers(settings, db).for_org(resolve_org(db, org))
    output_path.parent.mkdir(parents=True, exist_ok=True)
    handle = tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=output_path.parent, delete=False, suffix=".part")
    try:
        with handle, progress_bar(len(items), "scoring", "email") as bar:
            for chunk in _chunks(items, SCORE_CHUNK):
                for (item_id, _), result in zip(chunk, scorer.score_texts([text for _, text in chunk])):
                    record = {"id": item_id, "label": result.label, "score": result.score, "confidence": result.confidence,
                              "model_version": result.model_version}
                    handle.write(json.dumps(record, ensure_ascii=False) + "\n")
                bar.update(len(chunk))
        os.replace(handle.name, output_path)
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    click.echo(f"scored {len(items)} emails with {scorer.version} -> {output_path}", err=True)


# ---------------------------------------------------------------- train


def metrics_table(metrics: dict) -> str:
    """A plain-text table of eval metrics (macro-F1, per-class F1, accuracy, confusion matrix)."""
    lines = [f"{'metric':<22}{'value':>8}", f"{'macro-F1':<22}{metrics['macro_f1']:>8.4f}", f"{'accuracy':<22}{metrics['accuracy']:>8.4f}"]
    lines += [f"{'F1 ' + label:<22}{value:>8.4f}" for label, value in metrics["per_class_f1"].items()]
    lines.append("confusion (rows gold, columns predicted: negative neutral positive)")
    lines += ["  " + " ".join(f"{v:>5}" for v in row) for row in metrics["confusion"]]
    return "\n".join(lines)


@click.command("train")
@click.option("--from-seed", "from_seed", is_flag=True, help="build the default version from the base package and the seed corpus")
@click.option("--org", "org", default=None, help="without --from-seed: the organisation whose ratings to train on (default: the only one)")
@click.option("--method", type=click.Choice(["setfit", "top-layers", "full"]), default=None, help="without --from-seed: override the method chosen by rating count")
@click.option("--recipe", default=None, help="with --from-seed: build another recipe of the model card's comparison as a candidate")
def train_command(from_seed: bool, org: str | None, method: str | None, recipe: str | None) -> None:
    """Train a tone model version: on the organisation's ratings (with guard-rails), or `--from-seed` the default one."""
    if recipe is not None and not from_seed:
        fail("--recipe goes with --from-seed")
    if not from_seed:
        return train_organisation(org, method)
    from ..sentiment.seed import DEFAULT_RECIPE, RECIPES, build_seed_version  # noqa: PLC0415 - the transformer stack, only when training

    if recipe is not None and recipe not in RECIPES:
        fail(f"--recipe {recipe!r}: choose from {', '.join(RECIPES)}")
    settings = load_settings()
    db = ready_database(settings)
    bar = progress_bar(0, "training", "step")

    def report(progress) -> None:
        bar.total = progress.total_steps
        bar.n = progress.step
        postfix = {"epoch": progress.epoch, "loss": f"{progress.loss:.3f}"}
        if progress.validation_f1 is not None:
            postfix["val_f1"] = f"{progress.validation_f1:.3f}"
            if bar.disable:  # no terminal: one line per epoch for logs
                click.echo(f"epoch {progress.epoch}: loss {progress.loss:.4f}, validation macro-F1 {progress.validation_f1:.4f}", err=True)
        bar.set_postfix(postfix)
        bar.refresh()

    with bar:
        build = build_seed_version(settings, db, config=RECIPES[recipe or DEFAULT_RECIPE], progress=report)
    seconds = read_json(build.path, "training.json").get("summary", {}).get("seconds")
    click.echo(f"version  {build.version}  ({'trained in ' + str(seconds) + ' s' if build.trained else 'already built, reused'})")
    click.echo(f"folder   {build.path}")
    click.echo(metrics_table(build.metrics["seed_eval"]))
    with db.uow() as uow:
        active = active_row(uow, None)
        active_name = active.version if active else None
    if active_name == build.version:
        click.echo(f"status   active{' (first seed version)' if build.activated else ''}")
    else:
        click.echo(f"status   candidate; {active_name} stays active (`dealpulse models promote {build.version}` to switch)")


# ---------------------------------------------------------------- evaluate

EVAL_SET_CHOICES = ("corpus", "real", "probes", "all")


def _eval_targets(set_name: str, path: Path | None) -> list[tuple[str, Any]]:
    """(row name, passages) for each set asked for; a missing external file is skipped under `all`, else fails."""
    if path is not None and set_name not in ("real", "probes"):
        fail("--path goes with --set real or --set probes")
    targets: list[tuple[str, Any]] = []
    if set_name in ("corpus", "all"):
        targets += [("corpus", corpus_eval()), ("corpus-original", corpus_eval(original_only=True))]
    for name in ("real", "probes"):
        if set_name not in (name, "all"):
            continue
        file = path or default_set_path(name)
        if set_name == "all" and not Path(file).is_file():
            click.echo(f"note: {file} is missing; set {name!r} skipped", err=True)
            continue
        try:
            targets.append((name, load_labelled_jsonl(Path(file))))
        except CorpusError as exc:
            fail(str(exc))
    return targets


def evaluation_table(version: str, runtime_name: str, temperature: float, rows: dict[str, dict]) -> str:
    """The model card's evaluation table (one row per set), then each set's reliability table and opposite errors."""
    lines = [
        f"version {version}, runtime {runtime_name}, temperature {temperature}",
        "",
        "| set | passages | macro-F1 | F1 neg | F1 neu | F1 pos | opposite polarity | near misses | ECE (10 bins) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in rows.items():
        f1 = r["metrics"]["per_class_f1"]
        lines.append(
            f"| {name} | {r['count']} | {r['metrics']['macro_f1']:.4f} | {f1['negative']:.4f} | {f1['neutral']:.4f} | "
            f"{f1['positive']:.4f} | {r['opposite_polarity']} ({r['opposite_polarity_percent']:.1f} %) | "
            f"{r['near_misses']} | {r['ece']:.4f} |"
        )
    for name, r in rows.items():
        lines += ["", f"reliability ({name}): confidence bin, passages, mean confidence, accuracy"]
        lines += [
            f"  {b['low']:.1f}-{b['high']:.1f}  {b['count']:>5}  {b['confidence']:.3f}  {b['accuracy']:.3f}"
            for b in r["reliability"] if b["count"]
        ]
        if r["opposite_polarity_errors"]:
            lines += ["", f"opposite-polarity errors ({name}): gold -> predicted (score) text"]
            lines += [
                f"  {e['gold']} -> {e['predicted']} ({e['score']:+.2f}) [{e['id']}] {' '.join(e['text'].split())[:160]}"
                for e in r["opposite_polarity_errors"]
            ]
    return "\n".join(lines)


@click.command("evaluate")
@click.option("--set", "set_name", type=click.Choice(EVAL_SET_CHOICES), default="all", show_default=True,
              help="corpus eval split, real-writing eval, everyday probes, or all")
@click.option("--version", "version", default=None, help="a version folder under the model dir (default: the global active one)")
@click.option("--runtime", "runtime_name", type=click.Choice(["onnx-int8", "fp32"]), default="onnx-int8", show_default=True)
@click.option("--path", "path", default=None, type=click.Path(path_type=Path, dir_okay=False),
              help="with --set real or probes: another labelled JSONL file ({id, text, label} a line)")
@click.option("--json", "as_json", is_flag=True, help="print the full results as JSON (every error listed)")
def evaluate_command(set_name: str, version: str | None, runtime_name: str, path: Path | None, as_json: bool) -> None:
    """Measure a tone version: macro-F1, per-class F1, opposite-polarity errors, ECE and reliability per set."""
    from ..sentiment.measure import measure_scorer  # noqa: PLC0415 - the transformer stack, only when measuring
    from ..sentiment.scorer import ToneScorer  # noqa: PLC0415 - the transformer stack
    from ..sentiment.seed import ensure_seed_model  # noqa: PLC0415 - the transformer stack

    targets = _eval_targets(set_name, path)
    settings = load_settings(require_secret=False)
    if version is None:
        version = ensure_seed_model(settings, ready_database(settings))
    try:
        folder = version_dir(settings.model_dir, version)
    except RegistryError as exc:
        fail(str(exc))
    if not is_complete(folder):
        fail(f"version {version!r} has no complete folder under {settings.model_dir}")
    scorer = ToneScorer(folder, runtime=runtime_name, threads=settings.torch_threads)
    rows = {name: measure_scorer(scorer, passages) for name, passages in targets}
    if as_json:
        payload = {"version": version, "runtime": runtime_name, "temperature": scorer.temperature, "sets": rows}
        click.echo(json.dumps(payload, indent=2, ensure_ascii=False))
    else:
        click.echo(evaluation_table(version, runtime_name, scorer.temperature, rows))


# ---------------------------------------------------------------- models


@click.group("models")
def models_group() -> None:
    """Tone model versions: list, promote, roll back."""


@models_group.command("list")
@org_option
def models_list(org: str | None) -> None:
    """List versions (the organisation's and the global ones), newest first."""
    settings = load_settings()
    db = ready_database(settings)
    org_id = resolve_org(db, org)
    with db.uow() as uow:
        rows = list_versions(uow, org_id)
        in_use = active_version(uow, org_id)
        click.echo(f"{'':2}{'version':<36}{'scope':<8}{'status':<10}{'method':<14}{'seed-F1':>8}  created")
        for row in rows:
            f1 = (row.metrics or {}).get("seed_eval", {}).get("macro_f1")
            marker = "* " if in_use is not None and row.id == in_use.id else "  "
            scope = "global" if row.org_id is None else f"org {row.org_id}"
            f1_text = f"{f1:.4f}" if isinstance(f1, (int, float)) else "-"
            click.echo(f"{marker}{row.version:<36}{scope:<8}{row.status:<10}{row.method:<14}{f1_text:>8}  {row.created_at:%Y-%m-%d %H:%M}")
        if not rows:
            click.echo("no versions yet: `dealpulse train --from-seed` builds the default one")


def _switch(version: str | None, org: str | None, reason: str) -> None:
    """Promote `version` (None: roll back) through the same service the admin page uses, then queue the re-score."""
    settings = load_settings()
    db = ready_database(settings)
    org_id = resolve_org(db, org)
    queues_for(settings)
    try:
        if version is None:
            now_active = switch_version(settings, db, org_id, None, reason, rescore=queue_rescore)
        else:
            now_active = promote_version(settings, db, org_id, version, actor=None, reason=reason, surface="cli",
                                         rescore=queue_rescore)
    except TrainingError as exc:
        fail(str(exc))
        raise
    click.echo(f"active: {now_active or 'none'}")
    click.echo("re-score sweep queued; running processes switch within seconds")


@models_group.command("promote")
@click.argument("version")
@org_option
@click.option("--reason", default="", help="why (required to promote a candidate the guard-rails rejected)")
def models_promote(version: str, org: str | None, reason: str) -> None:
    """Make VERSION the active version (of --org, or the global default); a rejected candidate needs --reason."""
    _switch(version, org, reason)


@models_group.command("rollback")
@org_option
def models_rollback(org: str | None) -> None:
    """Reject the active version and restore the one active before it."""
    _switch(None, org, "")


# ---------------------------------------------------------------- bench


@click.command("scoring")
@click.option("--emails", default=2000, show_default=True, type=int, help="realistic emails to score")
@click.option("--baseline-emails", default=2000, show_default=True, type=int, help="emails timed through the naive pipeline")
@click.option("--runtime", "runtimes", multiple=True, help="scorer runtime to time: onnx-int8, int8, fp32 (repeatable; default all)")
def bench_scoring(emails: int, baseline_emails: int, runtimes: tuple[str, ...]) -> None:
    """Naive transformers pipeline vs our scorer: throughput, single-email latency, macro-F1."""
    from ..sentiment.scorer import RUNTIMES  # noqa: PLC0415 - the transformer stack, only when benchmarking

    unknown = sorted(set(runtimes) - set(RUNTIMES))
    if unknown:
        fail(f"--runtime {', '.join(unknown)}: choose from {', '.join(RUNTIMES)}")
    settings = bench_settings()
    bench = load_bench("scoring")
    bench.main(settings, ready_database(settings), emails=emails, baseline_emails=baseline_emails, runtimes=runtimes or RUNTIMES)


def register(group: click.Group) -> None:
    """Add the tone subcommands to the root group (and `scoring` to the `bench` group, creating it if needed)."""
    for command in (score_command, train_command, evaluate_command, models_group):
        group.add_command(command)
    bench = bench_group(group)
    bench.add_command(bench_scoring)
