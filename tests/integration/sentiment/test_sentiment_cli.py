"""`dealpulse score`, `dealpulse models list|promote|rollback` against a tiny registry."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from dealpulse import runtime
from dealpulse.cli import build_cli
from dealpulse.store import SentimentScore


@pytest.fixture
def run(tiny_registry, db, monkeypatch):
    """Invoke the CLI with the test's settings in the environment (tasks run inline)."""
    from dealpulse.tasks import build_queues

    monkeypatch.setenv("DEALPULSE_ENV", "test")
    monkeypatch.setenv("DEALPULSE_VAR_DIR", str(tiny_registry.var_dir))
    monkeypatch.setenv("DEALPULSE_DATABASE_URL", db.url)
    monkeypatch.setenv("DEALPULSE_MODEL_DIR", str(tiny_registry.model_dir))
    runtime.reset()
    runtime.configure(tiny_registry, db)
    build_queues(tiny_registry, immediate=True)

    def invoke(*args: str):
        return CliRunner().invoke(build_cli(), list(args), catch_exceptions=False)

    yield invoke
    runtime.reset(keep=db)


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_score_writes_one_line_per_input_line(run, tmp_path: Path) -> None:
    source = write_lines(tmp_path / "in.jsonl", [
        json.dumps({"id": "a", "text": "We have decided to go with another provider."}),
        "",
        json.dumps({"id": 2, "text": "Thanks!\n\n-- \nAnna Smith\nCFO"}),
        json.dumps({"id": "c", "text": ""}),
    ])
    result = run("score", "--input", str(source), "--output", str(tmp_path / "out.jsonl"))
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [line["id"] for line in lines] == ["a", 2, "c"]
    for line in lines:
        assert set(line) == {"id", "label", "score", "confidence", "model_version"}
        assert 0.0 <= line["confidence"] <= 1.0
        assert line["label"] in ("negative", "neutral", "positive")
        assert line["model_version"] == "tiny-a"
    assert lines[2]["label"] == "neutral" and lines[2]["score"] == 0.0


@pytest.mark.parametrize(
    ("bad", "message"),
    [("{not json", "not valid JSON"), ('["a"]', "JSON object"), ('{"text": "x"}', '"id"'), ('{"id": 1, "text": 3}', '"text"')],
)
def test_a_bad_line_is_named_and_nothing_is_written(run, tmp_path: Path, bad: str, message: str) -> None:
    folder = tmp_path / "io"
    folder.mkdir()
    source = write_lines(folder / "in.jsonl", [json.dumps({"id": 1, "text": "fine"}), bad])
    output = folder / "out.jsonl"
    result = run("score", "--input", str(source), "--output", str(output))
    assert result.exit_code != 0
    assert "in.jsonl:2:" in result.output and message in result.output
    assert not output.exists()
    assert list(folder.iterdir()) == [source]


def test_models_list_promote_and_rollback(run, db, world) -> None:
    from dealpulse.store import Activity, utcnow

    with db.uow() as uow:
        uow.s.add(Activity(org_id=world.org_id, kind="email", direction="inbound", dedupe_key="mid:1", occurred_at=utcnow(), new_text="We will sign."))
        uow.commit()
    listed = run("models", "list")
    assert listed.exit_code == 0
    assert "* tiny-a" in listed.output and "tiny-b" in listed.output
    promoted = run("models", "promote", "tiny-b")
    assert promoted.exit_code == 0 and "active: tiny-b" in promoted.output
    assert "* tiny-b" in run("models", "list").output
    with db.uow() as uow:
        assert {(s.model_version, s.is_current) for s in uow.s.query(SentimentScore)} == {("tiny-b", True)}
    rolled = run("models", "rollback")
    assert rolled.exit_code == 0 and "active: tiny-a" in rolled.output
    with db.uow() as uow:
        assert {(s.model_version, s.is_current) for s in uow.s.query(SentimentScore)} == {("tiny-a", True), ("tiny-b", False)}


def test_models_refuse_unknown_versions_and_organisations(run) -> None:
    assert "unknown version" in run("models", "promote", "nope").output
    result = run("models", "list", "--org", "No Such Org")
    assert result.exit_code != 0 and "no such organisation" in result.output


def test_evaluate_reports_f1_opposite_polarity_and_calibration_for_a_labelled_file(run, tmp_path: Path) -> None:
    source = write_lines(tmp_path / "real.jsonl", [
        json.dumps({"id": "r1", "text": "We have decided to go with another provider.", "label": "negative", "source": "x"}),
        json.dumps({"id": "r2", "text": "Great news, we are ready to sign the contract this week.", "label": "positive"}),
        json.dumps({"id": "r3", "text": "Can we move Thursday's call to 3pm?", "label": "neutral"}),
    ])
    result = run("evaluate", "--set", "real", "--path", str(source), "--runtime", "fp32", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["version"] == "tiny-a" and report["runtime"] == "fp32"
    real = report["sets"]["real"]
    assert real["count"] == 3 and 0.0 <= real["metrics"]["macro_f1"] <= 1.0
    assert real["opposite_polarity"] == len(real["opposite_polarity_errors"])
    assert 0.0 <= real["ece"] <= 1.0
    table = run("evaluate", "--set", "real", "--path", str(source), "--version", "tiny-b")
    assert table.exit_code == 0 and "| real | 3 |" in table.output and "version tiny-b" in table.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "real", "--path", "missing.jsonl"], "no such file"),
        (["--set", "corpus", "--path", "x.jsonl"], "--path goes with"),
        (["--set", "real", "--path", "UNLABELLED", "--version", "tiny-a"], "is the set labelled yet"),
        (["--set", "corpus", "--version", "no-such-version"], "no complete folder"),
    ],
)
def test_evaluate_refuses_bad_input_with_one_line(run, tmp_path: Path, args: list[str], message: str) -> None:
    unlabelled = write_lines(tmp_path / "passages.jsonl", [json.dumps({"id": "a", "text": "We are in."})])
    args = [str(unlabelled) if a == "UNLABELLED" else a for a in args]
    result = run("evaluate", *args)
    assert result.exit_code == 2
    assert message in result.output and len(result.output.strip().splitlines()) == 1
