"""The real-writing evaluation and the everyday-idiom probes are well-formed, documented, and can never leak into training."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from dealpulse.domain.tone_labels import LABELS
from dealpulse.sentiment.corpus import default_data_dir, normalise_text

EVAL_DIR = Path(__file__).resolve().parents[3] / "models" / "sentiment" / "eval"
DISJOINT_TRAIN = EVAL_DIR.parent / "eval-disjoint-train" / "real-train.jsonl"


def _rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _folded(text: str) -> str:
    """Lower case, whitespace folded: how the brief compares eval text with training text."""
    return " ".join(text.lower().split())


@pytest.fixture(scope="module")
def passages() -> list[dict]:
    return _rows(EVAL_DIR / "real-writing.passages.jsonl")


@pytest.fixture(scope="module")
def final() -> list[dict]:
    return _rows(EVAL_DIR / "real-writing.jsonl")


@pytest.fixture(scope="module")
def probes() -> list[dict]:
    return _rows(EVAL_DIR / "everyday-probes.jsonl")


@pytest.fixture(scope="module")
def training_texts() -> list[str]:
    texts = [row["text"] for path in sorted(default_data_dir().glob("*.jsonl")) for row in _rows(path)]
    assert len(texts) > 1000, "the training corpus was not found"
    return texts


def test_real_writing_has_at_least_500_passages_from_three_sources_none_over_60_percent(passages):
    ids = [row["id"] for row in passages]
    assert len(ids) == len(set(ids))
    assert all(set(row) == {"id", "text", "source"} for row in passages)
    assert all(re.fullmatch(r"rw-\d{4}", pid) for pid in ids)
    assert all(row["text"].strip() and len(row["text"].split()) <= 120 for row in passages)
    assert len(passages) >= 500
    per_source = Counter(row["source"] for row in passages)
    assert len(per_source) >= 3
    assert max(per_source.values()) <= 0.6 * len(passages)


def test_every_source_is_documented_with_its_licence(passages):
    """SOURCES.md has a table row `| `name` | ... | licence | why allowed |` for every source used."""
    sources_md = (EVAL_DIR / "SOURCES.md").read_text(encoding="utf-8")
    rows = {
        match.group(1): [cell.strip() for cell in match.group(2).split("|")]
        for match in re.finditer(r"^\| `([a-z0-9-]+)` \|(.*)\|\s*$", sources_md, re.MULTILINE)
    }
    for source in {row["source"] for row in passages}:
        assert source in rows, f"{source} is not documented in SOURCES.md"
        cells = rows[source]
        assert len(cells) >= 4 and all(cells), f"{source}: every cell (what, where, licence, why) must be filled"


def test_final_file_keeps_the_labelled_passages_word_for_word(passages, final):
    by_id = {row["id"]: row for row in passages}
    assert len(final) >= 500
    assert len({row["id"] for row in final}) == len(final)
    for row in final:
        original = by_id[row["id"]]
        assert row["text"] == original["text"] and row["source"] == original["source"]
        assert row["label"] in LABELS and row["label_a"] in LABELS
        assert row["label_b"] in (*LABELS, None)
        assert isinstance(row["adjudicated"], bool)
        assert row["adjudicated"] == (row["label_b"] is not None and row["label_a"] != row["label_b"])
        if row["adjudicated"]:
            assert row.get("note", "").strip(), f"{row['id']}: an adjudicated disagreement needs its reason"
        else:
            assert row["label"] == row["label_a"]


def test_final_labels_cover_each_class_and_spread_over_sources(final):
    per_label = Counter(row["label"] for row in final)
    assert set(per_label) == set(LABELS)
    assert min(per_label.values()) >= 100
    assert len({row["source"] for row in final}) >= 3


def test_labeller_files_label_only_known_passages(passages):
    ids = {row["id"] for row in passages}
    for name in ("real-writing.labels-a.jsonl", "real-writing.labels-b.jsonl"):
        path = EVAL_DIR / name
        if not path.exists():
            continue
        labels = _rows(path)
        assert {row["id"] for row in labels} <= ids
        assert all(row["label"] in LABELS for row in labels)


def test_probes_are_well_formed_and_balanced(probes):
    ids = [row["id"] for row in probes]
    assert len(probes) >= 150 and len(ids) == len(set(ids))
    assert all(set(row) == {"id", "text", "label", "category"} for row in probes)
    assert all(row["label"] in LABELS and row["text"].strip() and row["category"] for row in probes)
    per_label = Counter(row["label"] for row in probes)
    assert min(per_label.values()) >= 0.3 * len(probes)
    texts = [normalise_text(row["text"]) for row in probes]
    assert len(texts) == len(set(texts))


def _eval_texts(passages, probes) -> list[tuple[str, str]]:
    return [(row["id"], row["text"]) for row in passages + probes]


def test_no_eval_or_probe_text_appears_in_any_training_file(passages, probes, training_texts):
    """Equal after the corpus loader's normalisation, or (six words and up) contained in a training passage."""
    exact = {normalise_text(text) for text in training_texts}
    folded_corpus = "\n".join(_folded(text) for text in training_texts)
    leaks = [
        pid
        for pid, text in _eval_texts(passages, probes)
        if normalise_text(text) in exact or (len(text.split()) >= 6 and _folded(text) in folded_corpus)
    ]
    assert leaks == []


def test_leak_check_catches_a_copied_passage(passages, training_texts):
    """The check above is not vacuous: a passage pasted into a training text is found."""
    copied = passages[0]["text"]
    polluted = [*training_texts, "Hi Sam,  " + copied.upper() + "  Thanks"]
    folded_corpus = "\n".join(_folded(text) for text in polluted)
    assert _folded(copied) in folded_corpus


@pytest.mark.skipif(not DISJOINT_TRAIN.exists(), reason="no real-text training pool yet")
def test_real_training_pool_never_overlaps_the_evaluation(passages, probes):
    pool = _rows(DISJOINT_TRAIN)
    assert all(row["label"] in LABELS and row["source"] and row["text"].strip() for row in pool)
    pool_texts = {normalise_text(row["text"]) for row in pool}
    assert not pool_texts & {normalise_text(text) for _, text in _eval_texts(passages, probes)}
