"""The team's labelled tone corpus: seed passages with a fixed eval split, and held-out jargon domains."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from dealpulse.config import PROJECT_ROOT

from ..domain.tone_labels import LABELS

EVAL_PERCENT = 20
SEED_GLOB = "seed-*.jsonl"
# Real people's writing relabelled for training (e.g. `real-goemotions.jsonl`): training only, never in the eval
# split, so the corpus eval stays the team's fixed split (issue 13) and stays comparable across versions.
REAL_TRAIN_GLOB = "real-*.jsonl"
DOMAIN_PREFIX = "domain-"

_REQUIRED_FIELDS = ("id", "text", "label", "industry")
_NON_WORD = re.compile(r"[\W_]+")


class CorpusError(ValueError):
    """A corpus file or line is malformed; the message names the file and line number."""


@dataclass(frozen=True)
class LabelledText:
    """One email passage with the buyer's stance toward the deal as its label."""

    id: str
    text: str
    label: str
    industry: str
    tags: tuple[str, ...] = ()
    source: str = ""  # the corpus file it came from


@dataclass(frozen=True)
class SeedCorpus:
    """The seed corpus split into train and a fixed eval set, with a hash of the source files."""

    train: list[LabelledText]
    eval: list[LabelledText]
    sha256: str

    @property
    def all(self) -> list[LabelledText]:
        """Every passage, train first then eval."""
        return self.train + self.eval


def default_data_dir() -> Path:
    """The repository's `models/sentiment/data` folder."""
    return PROJECT_ROOT / "models" / "sentiment" / "data"


def normalise_text(text: str) -> str:
    """Case-folded words only, used to detect the same passage written twice."""
    return " ".join(_NON_WORD.sub(" ", text.casefold()).split())


def is_eval_id(passage_id: str) -> bool:
    """Whether a passage belongs to the fixed eval split (a stable hash of its id, independent of other passages)."""
    digest = hashlib.sha1(passage_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % 100 < EVAL_PERCENT


def load_seed_corpus(data_dir: Path | None = None) -> SeedCorpus:
    """Load and validate every `seed-*.jsonl` file, split it deterministically into train and eval, and add the
    `real-*.jsonl` passages to train only."""
    directory = Path(data_dir) if data_dir is not None else default_data_dir()
    paths = sorted(directory.glob(SEED_GLOB))
    if not paths:
        raise CorpusError(f"{directory}: no {SEED_GLOB} files")
    real_paths = sorted(directory.glob(REAL_TRAIN_GLOB))
    passages = _load_files(paths + real_paths, domain=None)
    real_sources = {p.name for p in real_paths}
    train = [p for p in passages if p.source in real_sources or not is_eval_id(p.id)]
    evaluation = [p for p in passages if p.source not in real_sources and is_eval_id(p.id)]
    return SeedCorpus(train=train, eval=evaluation, sha256=_hash_files(paths + real_paths))


def domain_names(data_dir: Path | None = None) -> list[str]:
    """Names of the held-out domains, from files named `domain-<name>.jsonl`."""
    directory = Path(data_dir) if data_dir is not None else default_data_dir()
    return sorted(p.stem[len(DOMAIN_PREFIX):] for p in directory.glob(f"{DOMAIN_PREFIX}*.jsonl"))


def load_domain_corpus(name: str, data_dir: Path | None = None) -> list[LabelledText]:
    """Load one held-out domain; it is never part of the seed train or eval split."""
    directory = Path(data_dir) if data_dir is not None else default_data_dir()
    path = directory / f"{DOMAIN_PREFIX}{name}.jsonl"
    if not path.is_file():
        known = ", ".join(domain_names(directory)) or "none"
        raise CorpusError(f"unknown domain {name!r} (known: {known})")
    return _load_files([path], domain=name)


def _load_files(paths: list[Path], domain: str | None) -> list[LabelledText]:
    seen_ids: dict[str, str] = {}
    seen_texts: dict[str, str] = {}
    passages: list[LabelledText] = []
    for path in paths:
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                where = f"{path.name}:{number}"
                passage = _parse_line(line, where, domain, path.name)
                if passage.id in seen_ids:
                    raise CorpusError(f"{where}: duplicate id {passage.id!r} (first at {seen_ids[passage.id]})")
                key = normalise_text(passage.text)
                if key in seen_texts:
                    raise CorpusError(f"{where}: duplicate text of {seen_texts[key]}")
                seen_ids[passage.id] = where
                seen_texts[key] = where
                passages.append(passage)
    return passages


def parse_json_object(line: str, where: str) -> dict:
    """One JSONL line as a dict, or a CorpusError naming `where`."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise CorpusError(f"{where}: not valid JSON ({exc.msg})") from None
    if not isinstance(record, dict):
        raise CorpusError(f"{where}: expected a JSON object")
    return record


def _parse_line(line: str, where: str, domain: str | None, source: str = "") -> LabelledText:
    record = parse_json_object(line, where)
    for name in _REQUIRED_FIELDS:
        value = record.get(name)
        if not isinstance(value, str) or not value.strip():
            raise CorpusError(f"{where}: field {name!r} must be a non-empty string")
    if record["label"] not in LABELS:
        raise CorpusError(f"{where}: unknown label {record['label']!r} (expected one of {', '.join(LABELS)})")
    tags = record.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) and t for t in tags):
        raise CorpusError(f"{where}: field 'tags' must be a list of non-empty strings")
    if domain is not None and record.get("domain") != domain:
        raise CorpusError(f"{where}: field 'domain' must be {domain!r}")
    return LabelledText(
        id=record["id"], text=record["text"].strip(), label=record["label"], industry=record["industry"], tags=tuple(tags),
        source=source,
    )


def _hash_files(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(path.name.encode("utf-8") + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()
