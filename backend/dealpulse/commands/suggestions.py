"""`dealpulse evaluate-suggestions`: precision and recall of the suggested updates read from buyers' emails, per
field, on the labelled set's dev and test splits, with the threshold chosen on dev (issue #18)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..domain.buyer_statements import ExitQuestionRef
from ..domain.suggestion_eval import TARGET_PRECISION, LabelledEmail, Report, choose_threshold, evaluate, parse_row
from .core import fail, load_settings

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_SET = REPO_ROOT / "models" / "suggestions" / "eval" / "buyer-statements.jsonl"
DEMO_ORG = REPO_ROOT / "backend" / "dealpulse" / "demo" / "data" / "org.json"


def demo_exit_questions() -> list[ExitQuestionRef]:
    """Every exit question of the demo organisation's stages (the set is scored against all of them)."""
    org = json.loads(DEMO_ORG.read_text(encoding="utf-8"))
    return [ExitQuestionRef(q["key"], q["text"]) for stage in org["stages"] for q in stage.get("exit_questions", [])]


def load_set(path: Path) -> list[LabelledEmail]:
    """The labelled emails of a JSONL set; a bad line stops with its number."""
    emails = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}")
    for number, line in enumerate(lines, start=1):
        if line.strip():
            try:
                emails.append(parse_row(json.loads(line)))
            except (ValueError, KeyError, TypeError) as exc:
                fail(f"{path}:{number}: not a labelled email ({exc})")
    return emails


def _fmt(value: float | None) -> str:
    return "  -  " if value is None else f"{value:.3f}"


def _print_report(name: str, report: Report, count: int) -> None:
    click.echo(f"{name} split ({count} emails) at threshold {report.threshold:.2f}:")
    click.echo(f"  {'field':<12} {'tp':>4} {'fp':>4} {'fn':>4}  precision  recall")
    for field_name, counts in sorted(report.fields.items()) + [("all", report.overall())]:
        click.echo(f"  {field_name:<12} {counts.tp:>4} {counts.fp:>4} {counts.fn:>4}  {_fmt(counts.precision()):>9}  {_fmt(counts.recall())}")


@click.command("evaluate-suggestions")
@click.option("--set", "set_path", type=click.Path(path_type=Path, dir_okay=False), default=DEFAULT_SET, show_default=True,
              help="labelled JSONL set ({id, text, sent, split, expected})")
@click.option("--mistakes/--no-mistakes", default=True, help="list the test split's wrong cases")
def evaluate_suggestions_command(set_path: Path, mistakes: bool) -> None:
    """Precision/recall per field of the suggested updates; the threshold is chosen on dev, reported on test."""
    settings = load_settings(require_secret=False)
    emails = load_set(set_path)
    questions = demo_exit_questions()
    dev = [e for e in emails if e.split == "dev"]
    test = [e for e in emails if e.split == "test"]
    chosen = choose_threshold(dev, questions, TARGET_PRECISION)
    click.echo(f"threshold chosen on dev (lowest keeping precision >= {TARGET_PRECISION}): {chosen:.2f}; "
               f"configured (DEALPULSE_SUGGESTION_THRESHOLD): {settings.suggestion_threshold:.2f}")
    _print_report("dev", evaluate(dev, questions, chosen), len(dev))
    test_report = evaluate(test, questions, settings.suggestion_threshold)
    _print_report("test", test_report, len(test))
    if mistakes:
        for m in test_report.mistakes:
            click.echo(f"  test {m['kind']}: {m['id']} {m['field']}={m['value']} :: {m['evidence']}")


def register(group: click.Group) -> None:
    """Add `evaluate-suggestions` to the root group."""
    group.add_command(evaluate_suggestions_command)
