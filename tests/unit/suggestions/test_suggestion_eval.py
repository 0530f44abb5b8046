"""Measuring the suggestions: counts per field, the threshold chosen on dev, and the command's report."""

from __future__ import annotations

from datetime import date

from click.testing import CliRunner

from dealpulse.cli import build_cli
from dealpulse.commands.suggestions import DEFAULT_SET, demo_exit_questions, load_set
from dealpulse.domain.buyer_statements import DEFAULT_SUGGESTION_THRESHOLD, ExitQuestionRef
from dealpulse.domain.suggestion_eval import LabelledEmail, choose_threshold, evaluate

QUESTIONS = [ExitQuestionRef("within_budget", "Within budget?")]


def email(i: str, text: str, *expected: tuple[str, str]) -> LabelledEmail:
    return LabelledEmail(i, text, date(2026, 1, 14), "dev", frozenset(expected))


def test_counts_a_right_a_wrong_and_a_missed_suggestion():
    emails = [
        email("a", "We will sign the agreement on 2 March 2026.", ("close_date", "2026-03-02")),
        email("b", "We will sign the agreement on 9 March 2026."),  # labelled: nothing to suggest
        email("c", "Our CFO signed off the spend.", ("exit.within_budget", "true")),  # the rules miss this wording
    ]
    report = evaluate(emails, QUESTIONS, 0.5)
    assert (report.fields["close_date"].tp, report.fields["close_date"].fp) == (1, 1)
    assert report.fields["exit"].fn == 1
    assert report.overall().precision() == 0.5
    assert {(m["id"], m["kind"]) for m in report.mistakes} == {("b", "false positive"), ("c", "missed")}


def test_the_threshold_is_the_lowest_that_keeps_precision():
    emails = [email("a", "We will sign the agreement on 2 March 2026.", ("close_date", "2026-03-02")),
              email("b", "The contract value is $500 in total.")]  # an amount suggested at lower confidence
    assert evaluate(emails, QUESTIONS, 0.1).overall().precision() < 0.9
    chosen = choose_threshold(emails, QUESTIONS, 0.9)
    assert evaluate(emails, QUESTIONS, chosen).overall().precision() >= 0.9
    assert evaluate(emails, QUESTIONS, round(chosen - 0.05, 2)).overall().precision() < 0.9


def test_the_labelled_set_has_200_emails_split_dev_and_test_and_the_default_is_chosen_on_dev():
    emails = load_set(DEFAULT_SET)
    assert len(emails) >= 200 and len({e.id for e in emails}) == len(emails)
    dev = [e for e in emails if e.split == "dev"]
    assert dev and len(dev) < len(emails)
    assert choose_threshold(dev, demo_exit_questions()) == DEFAULT_SUGGESTION_THRESHOLD


def test_the_command_prints_precision_and_recall_per_field_and_the_threshold():
    result = CliRunner().invoke(build_cli(), ["evaluate-suggestions", "--no-mistakes"], env={"DEALPULSE_ENV": "test"})
    assert result.exit_code == 0, result.output
    assert f"threshold chosen on dev (lowest keeping precision >= 0.9): {DEFAULT_SUGGESTION_THRESHOLD:.2f}" in result.output
    assert "test split (" in result.output and "precision  recall" in result.output
    assert any(line.strip().startswith("all ") for line in result.output.splitlines())
