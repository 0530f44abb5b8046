"""What a new version learned: the phrases whose influence on the tone moved most between two versions.

Influence is measured by occlusion: a word's influence on a text is how much the tone score (P(positive) −
P(negative)) falls when that word is removed. Averaged over every occurrence in the rated emails, once per
version; the phrases with the largest difference are "what the model learned from your team".
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Sequence

import torch

from ..domain.tone_labels import LABELS

WORD = re.compile(r"[A-Za-z][A-Za-z0-9'’\-]*")
STOPWORDS = frozenset(
    "a an the and or but of to in on at for with by from as is are was were be been it its this that these those "
    "we you i our your us me my he she they them their his her will would can could should shall may might do does "
    "did have has had not no so if then than there here just also".split()
)
MAX_TEXTS = 60
MIN_SHIFT = 0.005  # smaller moves are noise, not learning
MAX_WORDS_PER_TEXT = 40
MIN_OCCURRENCES = 2
BATCH = 64


@dataclass(frozen=True)
class PhraseShift:
    """One phrase: its mean influence under the old and the new version (+ pushes toward positive)."""

    phrase: str
    before: float
    after: float
    shift: float
    occurrences: int

    def as_dict(self) -> dict:
        """A JSON-ready dict."""
        return asdict(self)


@torch.inference_mode()
def _tone_scores(model: torch.nn.Module, tokenizer, texts: Sequence[str], max_length: int = 128) -> list[float]:
    """P(positive) − P(negative) per text, with a torch sequence classifier."""
    model.eval()
    scores: list[float] = []
    for start in range(0, len(texts), BATCH):
        batch = tokenizer(list(texts[start : start + BATCH]), truncation=True, max_length=max_length, padding=True,
                          return_tensors="pt")
        probabilities = torch.softmax(model(**batch).logits.float(), dim=-1)
        scores.extend((probabilities[:, LABELS.index("positive")] - probabilities[:, LABELS.index("negative")]).tolist())
    return scores


def occlusion_variants(text: str) -> list[tuple[str, str]]:
    """(word, text without that word) for each content word of `text` (first MAX_WORDS_PER_TEXT)."""
    variants = []
    for match in list(WORD.finditer(text))[:MAX_WORDS_PER_TEXT]:
        word = match.group(0).casefold()
        if word in STOPWORDS or len(word) < 3:
            continue
        variants.append((word, (text[: match.start()] + text[match.end() :]).replace("  ", " ")))
    return variants


def word_influence(model: torch.nn.Module, tokenizer, texts: Sequence[str]) -> dict[str, list[float]]:
    """Every occurrence's influence (score with the word − score without it), grouped by word."""
    plans = [(text, occlusion_variants(text)) for text in texts]
    sequences: list[str] = []
    for text, variants in plans:
        sequences.append(text)
        sequences.extend(variant for _, variant in variants)
    scores = _tone_scores(model, tokenizer, sequences)
    influence: dict[str, list[float]] = defaultdict(list)
    position = 0
    for _, variants in plans:
        whole = scores[position]
        for offset, (word, _) in enumerate(variants, start=1):
            influence[word].append(whole - scores[position + offset])
        position += 1 + len(variants)
    return influence


def phrase_shifts(
    before: tuple[torch.nn.Module, object],
    after: tuple[torch.nn.Module, object],
    texts: Sequence[str],
    top: int = 12,
) -> list[PhraseShift]:
    """The `top` phrases whose mean influence moved most from `before` to `after` on `texts`."""
    sample = list(dict.fromkeys(t for t in texts if t.strip()))[:MAX_TEXTS]
    if not sample:
        return []
    old = word_influence(*before, sample)
    new = word_influence(*after, sample)
    shifts = []
    for word, values in new.items():
        if len(values) < MIN_OCCURRENCES:
            continue
        if abs(sum(values) / len(values) - sum(old[word]) / len(old[word])) < MIN_SHIFT:
            continue
        mean_before = sum(old[word]) / len(old[word])
        mean_after = sum(values) / len(values)
        shifts.append(PhraseShift(word, round(mean_before, 4), round(mean_after, 4), round(mean_after - mean_before, 4), len(values)))
    shifts.sort(key=lambda s: (-abs(s.shift), s.phrase))
    return shifts[:top]
