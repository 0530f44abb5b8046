"""The labelled sets a tone version is measured on: the corpus eval split, real writing, everyday probes."""

from __future__ import annotations

from pathlib import Path

from dealpulse.config import PROJECT_ROOT

from ..domain.tone_labels import LABELS
from .corpus import CorpusError, LabelledText, load_seed_corpus, parse_json_object

EVAL_DIR = PROJECT_ROOT / "models" / "sentiment" / "eval"
SET_FILES = {"real": "real-writing.jsonl", "probes": "everyday-probes.jsonl"}
SET_NAMES = ("corpus", "real", "probes")
# Corpus files added by issue 13; the eval passages of the other files are the 407 every earlier version was
# measured on, reported separately so old and new versions stay comparable.
NEW_VOICES_PREFIX = "seed-voices-"


def default_set_path(name: str) -> Path:
    """Where the named external set lives in the repository (models/sentiment/eval/)."""
    return EVAL_DIR / SET_FILES[name]


def load_labelled_jsonl(path: Path) -> list[LabelledText]:
    """Passages with gold labels from a JSONL file ({"id", "text", "label"} a line; other fields are kept out)."""
    path = Path(path)
    if not path.is_file():
        raise CorpusError(f"{path}: no such file")
    passages: list[LabelledText] = []
    seen: set[str] = set()
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path.name}:{number}"
            record = parse_json_object(line, where)
            text, label, item_id = record.get("text"), record.get("label"), record.get("id", f"line-{number}")
            if not isinstance(text, str) or not text.strip():
                raise CorpusError(f"{where}: field 'text' must be a non-empty string")
            if label not in LABELS:
                raise CorpusError(f"{where}: label {label!r} is not one of {', '.join(LABELS)} (is the set labelled yet?)")
            if str(item_id) in seen:
                raise CorpusError(f"{where}: duplicate id {item_id!r}")
            seen.add(str(item_id))
            source = record.get("source") if isinstance(record.get("source"), str) else ""
            passages.append(LabelledText(id=str(item_id), text=text, label=label, industry=source or "-"))
    return passages


def corpus_eval(original_only: bool = False) -> list[LabelledText]:
    """The seed corpus's fixed eval split; `original_only` keeps the passages of the files before issue 13."""
    corpus = load_seed_corpus()
    if not original_only:
        return corpus.eval
    return [p for p in corpus.eval if p.source and not p.source.startswith(NEW_VOICES_PREFIX)]
