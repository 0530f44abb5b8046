"""The team's tone corpus loads, is balanced, and keeps its eval split and held-out domains apart."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dealpulse.sentiment.corpus import (
    LABELS,
    CorpusError,
    default_data_dir,
    domain_names,
    load_domain_corpus,
    load_seed_corpus,
    normalise_text,
)
from dealpulse.sentiment.eval_sets import corpus_eval


@pytest.fixture(scope="module")
def seed():
    return load_seed_corpus()


def _line(**overrides) -> str:
    record = {"id": "x-0001", "text": "Sounds good, send it over.", "label": "positive", "industry": "software", "tags": []}
    record.update(overrides)
    return json.dumps(record)


def _write(directory: Path, name: str, lines: list[str]) -> Path:
    path = directory / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_default_data_dir_is_the_repository_corpus():
    assert default_data_dir().is_dir()
    assert sorted(default_data_dir().glob("seed-*.jsonl"))


def test_seed_corpus_is_large_enough(seed):
    assert len(seed.all) >= 1500


def test_labels_are_roughly_balanced(seed):
    counts = Counter(p.label for p in seed.all)
    assert set(counts) == set(LABELS)
    for label in LABELS:
        assert 0.28 <= counts[label] / len(seed.all) <= 0.40, counts


def test_eval_split_has_enough_of_each_label(seed):
    counts = Counter(p.label for p in seed.eval)
    assert all(counts[label] >= 90 for label in LABELS), counts


def test_eval_never_overlaps_train_by_id_or_text(seed):
    assert not {p.id for p in seed.train} & {p.id for p in seed.eval}
    assert not {normalise_text(p.text) for p in seed.train} & {normalise_text(p.text) for p in seed.eval}


def test_no_passage_is_written_twice(seed):
    texts = [normalise_text(p.text) for p in seed.all]
    assert len(texts) == len(set(texts))


def test_split_and_hash_are_deterministic(seed):
    again = load_seed_corpus()
    assert [p.id for p in again.eval] == [p.id for p in seed.eval]
    assert again.sha256 == seed.sha256 and len(seed.sha256) == 64


def test_every_seed_file_loads_on_its_own(tmp_path):
    for path in sorted(default_data_dir().glob("seed-*.jsonl")):
        target = tmp_path / path.stem
        target.mkdir()
        (target / path.name).write_bytes(path.read_bytes())
        corpus = load_seed_corpus(target)
        assert corpus.all, path.name


def test_passages_look_like_email_text(seed):
    word_counts = [len(p.text.split()) for p in seed.all]
    assert min(word_counts) >= 1
    within = sum(1 for n in word_counts if 4 <= n <= 120)
    assert within / len(word_counts) >= 0.9
    assert not any(p.text.lstrip().startswith(">") for p in seed.all)


def test_domains_are_separate_from_the_seed_corpus(seed):
    names = domain_names()
    assert names
    seed_ids = {p.id for p in seed.all}
    seed_texts = {normalise_text(p.text) for p in seed.all}
    for name in names:
        domain = load_domain_corpus(name)
        assert len(domain) >= 300
        assert not {p.id for p in domain} & seed_ids
        assert not {normalise_text(p.text) for p in domain} & seed_texts
        counts = Counter(p.label for p in domain)
        assert all(counts[label] >= len(domain) // 4 for label in LABELS), counts


def test_seed_hash_changes_when_a_file_changes(tmp_path):
    path = _write(tmp_path, "seed-a.jsonl", [_line()])
    before = load_seed_corpus(tmp_path).sha256
    path.write_text(_line(text="Not for us, thanks.", label="negative") + "\n", encoding="utf-8")
    assert load_seed_corpus(tmp_path).sha256 != before


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        (_line(label="happy"), "unknown label 'happy'"),
        (_line(text="   "), "'text' must be a non-empty string"),
        (_line(industry=None), "'industry' must be a non-empty string"),
        (_line(tags="sarcasm"), "'tags' must be a list"),
        ('{"id": "x-0002", "text": ', "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
    ],
)
def test_bad_line_names_file_and_line_number(tmp_path, bad_line, message):
    good = _line(id="x-0000", text="Please send the agenda for Thursday.", label="neutral")
    _write(tmp_path, "seed-bad.jsonl", [good, bad_line])
    with pytest.raises(CorpusError, match=r"seed-bad\.jsonl:2: ") as raised:
        load_seed_corpus(tmp_path)
    assert message in str(raised.value)


def test_duplicate_id_across_files_is_rejected(tmp_path):
    _write(tmp_path, "seed-a.jsonl", [_line()])
    _write(tmp_path, "seed-b.jsonl", [_line(text="Not for us, thanks.", label="negative")])
    with pytest.raises(CorpusError, match=r"seed-b\.jsonl:1: duplicate id 'x-0001' \(first at seed-a\.jsonl:1\)"):
        load_seed_corpus(tmp_path)


def test_duplicate_text_differing_only_in_case_and_punctuation_is_rejected(tmp_path):
    _write(tmp_path, "seed-a.jsonl", [_line(), _line(id="x-0002", text="sounds good -- send it over")])
    with pytest.raises(CorpusError, match=r"seed-a\.jsonl:2: duplicate text of seed-a\.jsonl:1"):
        load_seed_corpus(tmp_path)


def test_empty_folder_and_unknown_domain_are_clear_errors(tmp_path):
    with pytest.raises(CorpusError, match="no seed-"):
        load_seed_corpus(tmp_path)
    with pytest.raises(CorpusError, match="unknown domain 'nope'"):
        load_domain_corpus("nope", tmp_path)


def test_domain_lines_must_name_their_domain(tmp_path):
    _write(tmp_path, "domain-chips.jsonl", [_line(domain="chips"), _line(id="x-0002", text="PO parked.", domain="cro")])
    assert domain_names(tmp_path) == ["chips"]
    with pytest.raises(CorpusError, match=r"domain-chips\.jsonl:2: field 'domain' must be 'chips'"):
        load_domain_corpus("chips", tmp_path)


@settings(max_examples=50, deadline=None)
@given(label=st.text(min_size=1).filter(lambda s: s not in LABELS and s.strip()), line_number=st.integers(1, 5))
def test_any_unknown_label_is_reported_at_its_line(tmp_path_factory, label, line_number):
    directory = tmp_path_factory.mktemp("corpus")
    lines = [_line(id=f"x-{i}", text=f"Agenda item {i} for Thursday.", label="neutral") for i in range(1, 6)]
    lines[line_number - 1] = _line(id=f"x-{line_number}", text="Whatever.", label=label)
    _write(directory, "seed-h.jsonl", lines)
    with pytest.raises(CorpusError, match=rf"seed-h\.jsonl:{line_number}: unknown label"):
        load_seed_corpus(directory)


def test_new_voices_files_leave_the_original_407_eval_passages_where_they_were() -> None:
    original, everything = corpus_eval(original_only=True), corpus_eval()
    assert len(original) == 407
    assert {p.id for p in original} < {p.id for p in everything}
    assert all(p.source.startswith("seed-") and p.source.endswith(".jsonl") for p in everything)


def test_real_writing_training_files_only_ever_train_and_count_in_the_hash(tmp_path):
    seed_lines = [_line(id=f"s-{i:04d}", text=f"Agenda item {i} for Thursday.", label="neutral") for i in range(60)]
    _write(tmp_path, "seed-a.jsonl", seed_lines)
    before = load_seed_corpus(tmp_path)
    real_lines = [_line(id=f"r-{i:04d}", text=f"Thanks so much for fixing number {i}!", label="positive") for i in range(60)]
    _write(tmp_path, "real-b.jsonl", real_lines)
    after = load_seed_corpus(tmp_path)
    assert [p.id for p in after.eval] == [p.id for p in before.eval]
    assert {f"r-{i:04d}" for i in range(60)} <= {p.id for p in after.train}
    assert after.sha256 != before.sha256


def test_real_writing_training_text_may_not_repeat_a_seed_passage(tmp_path):
    _write(tmp_path, "seed-a.jsonl", [_line()])
    _write(tmp_path, "real-b.jsonl", [_line(id="r-0001", text="sounds good, send it over!")])
    with pytest.raises(CorpusError, match=r"real-b\.jsonl:1: duplicate text of seed-a\.jsonl:1"):
        load_seed_corpus(tmp_path)



def _rows_of(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def test_the_goemotions_passages_are_balanced_clean_documented_and_not_yet_trained_on(seed):
    """Staged for the seed (models/sentiment/data/GOEMOTIONS.md): renaming it to real-goemotions.jsonl trains on it."""
    path = default_data_dir() / "staged-real-goemotions.jsonl"
    rows = _rows_of(path)
    assert len(rows) >= 1000 and len({r["id"] for r in rows}) == len(rows)
    counts = Counter(r["label"] for r in rows)
    assert set(counts) == set(LABELS) and max(counts.values()) - min(counts.values()) <= len(rows) // 10, counts
    assert all(len(r["text"].split()) >= 6 and "[NAME]" not in r["text"] and r["origin"] for r in rows)
    assert not {r["id"] for r in rows} & {p.id for p in seed.all}
    assert not {normalise_text(r["text"]) for r in rows} & {normalise_text(p.text) for p in seed.all}
    notes = (default_data_dir() / "GOEMOTIONS.md").read_text(encoding="utf-8")
    assert "Apache" in notes and "train.tsv" in notes
