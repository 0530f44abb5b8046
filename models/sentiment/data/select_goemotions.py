"""Select the GoEmotions training passages (`staged-real-goemotions.jsonl`) from GoEmotions' `train.tsv`.

Usage: python models/sentiment/data/select_goemotions.py PATH/TO/goemotions/data/train.tsv > staged-real-goemotions.jsonl

Deterministic: the same train.tsv gives the same file. Rules (models/sentiment/data/GOEMOTIONS.md):
- positive: every emotion of the comment is one of POSITIVE (approval, praise, thanks, enthusiasm, relief);
- negative: every emotion is one of NEGATIVE (dissatisfaction, disapproval, anger, disappointment, disgust);
- neutral: the comment's only label is `neutral`;
- everything else (ambiguous, mixed, sympathy/sadness/fear, amusement, curiosity) is dropped;
- 6 to 60 words, no masked token ([NAME], [RELIGION]), no Reddit quote or markup (>, *, ~~, ^), no link, no profanity or slur, no "/s" sarcasm tag,
  not equal to (and, from six words, not inside) any real-writing evaluation passage or everyday probe;
- PER_LABEL passages of each label, taken in the order of a SHA-1 of the comment id.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import sys
from pathlib import Path

EMOTIONS = (
    "admiration amusement anger annoyance approval caring confusion curiosity desire disappointment disapproval "
    "disgust embarrassment excitement fear gratitude grief joy love nervousness optimism pride realization relief "
    "remorse sadness surprise neutral"
).split()
POSITIVE = {"admiration", "approval", "gratitude", "excitement", "joy", "optimism", "relief", "love"}
NEGATIVE = {"anger", "annoyance", "disapproval", "disappointment", "disgust"}
PER_LABEL = 500
MIN_WORDS, MAX_WORDS = 6, 60
_BLOCKED = re.compile(
    r"\b(fuck\w*|shit\w*|bitch\w*|cunt\w*|dick\w*|cock\w*|puss(y|ies)|twat\w*|wank\w*|bastard\w*|slut\w*|whore\w*|"
    r"retard\w*|fag\w*|nigg\w*|ass|asses|asshole\w*|arse\w*|damn\w*|goddamn\w*|piss\w*|crap\w*|porn\w*|sex\w*|"
    r"rape\w*|condom\w*|penis\w*|vagina\w*|boobs?|tits|naked|nude\w*|abus\w*|weed|blood\w*|guns?|shoot\w*|nazi\w*|hitler|suicid\w*|kill\w*|murder\w*|dead|die|died|dying|cancer|drunk|drugs?|gay|lesbian|"
    r"trans|muslim\w*|jew\w*|christian\w*|god|jesus|trump\w*|liberal\w*|conservative\w*|democrat\w*|republican\w*)\b",
    re.IGNORECASE,
)
_NON_WORD = re.compile(r"[\W_]+")
EVAL_DIR = Path(__file__).resolve().parents[1] / "eval"


def _normalise(text: str) -> str:
    return " ".join(_NON_WORD.sub(" ", text.casefold()).split())


def _eval_texts() -> list[str]:
    texts = []
    for name in ("real-writing.passages.jsonl", "everyday-probes.jsonl"):
        with (EVAL_DIR / name).open(encoding="utf-8") as handle:
            texts += [json.loads(line)["text"] for line in handle if line.strip()]
    return texts


def label_of(emotions: list[str]) -> str | None:
    """The tone label a comment's emotions map to, or None when they do not map cleanly."""
    kinds = set(emotions)
    if kinds == {"neutral"}:
        return "neutral"
    if kinds <= POSITIVE:
        return "positive"
    if kinds <= NEGATIVE:
        return "negative"
    return None


def acceptable(text: str) -> bool:
    """Long enough, not too long, unmasked, link-free, clean language, no sarcasm tag."""
    words = text.split()
    return (
        MIN_WORDS <= len(words) <= MAX_WORDS
        and "[" not in text
        and not any(mark in text for mark in (">", "*", "~~", "^"))
        and "http" not in text.lower()
        and "/s" not in text
        and not _BLOCKED.search(text)
    )


def select(tsv_path: Path) -> list[dict]:
    """The chosen passages, PER_LABEL of each label, as corpus records."""
    eval_texts = _eval_texts()
    eval_exact = {_normalise(t) for t in eval_texts}
    eval_long = [" ".join(t.lower().split()) for t in eval_texts if len(t.split()) >= 6]
    candidates: dict[str, list[tuple[str, dict]]] = {"negative": [], "neutral": [], "positive": []}
    seen: set[str] = set()
    with tsv_path.open(encoding="utf-8", newline="") as handle:
        for line_number, (raw, ids, comment_id) in enumerate(csv.reader(handle, delimiter="\t"), start=1):
            text = " ".join(raw.split())
            emotions = [EMOTIONS[int(i)] for i in ids.split(",")]
            label = label_of(emotions)
            key = _normalise(text)
            if label is None or not acceptable(text) or key in seen or key in eval_exact:
                continue
            folded = " ".join(text.lower().split())
            if any(e in folded for e in eval_long):
                continue
            seen.add(key)
            record = {
                "id": f"goemo-{comment_id}",
                "text": text,
                "label": label,
                "industry": "reddit",
                "tags": ["reddit", *emotions],
                "origin": f"goemotions/data/train.tsv:{line_number}",
            }
            order = hashlib.sha1(comment_id.encode("utf-8")).hexdigest()
            candidates[label].append((order, record))
    chosen = []
    for label in ("negative", "neutral", "positive"):
        chosen += [record for _, record in sorted(candidates[label], key=lambda pair: pair[0])[:PER_LABEL]]
    return sorted(chosen, key=lambda r: r["id"])


if __name__ == "__main__":
    for row in select(Path(sys.argv[1])):
        sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
