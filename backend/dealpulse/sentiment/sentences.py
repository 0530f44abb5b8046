"""Split email prose into sentences with their character spans (line breaks, terminal punctuation, abbreviations)."""

from __future__ import annotations

import re
from typing import NamedTuple

_ABBREVIATIONS = frozenset(
    """mr mrs ms dr prof sr jr st vs etc e.g i.e eg ie approx dept inc ltd co corp no nr fig est jan feb mar apr jun
    jul aug sep sept oct nov dec mon tue wed thu fri sat sun p.s ps cf al a.m p.m am pm u.s u.k""".split()
)
# A sentence ends after . ! ? or an ellipsis (optionally followed by closing quotes/brackets) before whitespace.
_BOUNDARY = re.compile(r"(?:[.!?]+|…)[\"'”’)\]]*(?=\s+)")
_LINE_BREAK = re.compile(r"\n\s*\n|\n(?=\s*(?:[-*•]|\d+[.)])\s)|\n")
_WORD_BEFORE = re.compile(r"([\w.]+)$")


class Sentence(NamedTuple):
    """A sentence's text (stripped) and its [start, end) span in the input."""

    text: str
    start: int
    end: int


def split_sentences(text: str) -> list[Sentence]:
    """Sentences of `text` in order; every non-space character of the input is in exactly one sentence."""
    sentences: list[Sentence] = []
    for block_start, block_end in _blocks(text):
        cursor = block_start
        block = text[block_start:block_end]
        for match in _BOUNDARY.finditer(block):
            end = block_start + match.end()
            if _is_abbreviation(text, cursor, block_start + match.start(), match.group()):
                continue
            _append(sentences, text, cursor, end)
            cursor = end
        _append(sentences, text, cursor, block_end)
    return sentences


def _blocks(text: str) -> list[tuple[int, int]]:
    """Spans between line breaks: email prose puts a new thought on a new line."""
    spans, start = [], 0
    for match in _LINE_BREAK.finditer(text):
        spans.append((start, match.start()))
        start = match.end()
    spans.append((start, len(text)))
    return spans


def _is_abbreviation(text: str, sentence_start: int, punct_start: int, punct: str) -> bool:
    if not punct.startswith(".") or punct.startswith(".."):
        return False
    match = _WORD_BEFORE.search(text[sentence_start:punct_start])
    if match is None:
        return False
    word = match.group(1).lower()
    if word in _ABBREVIATIONS or word.rstrip(".") in _ABBREVIATIONS:
        return True
    # Initials ("J. Smith") and decimals are not sentence ends.
    return len(word) == 1 and word.isalpha()


def _append(sentences: list[Sentence], text: str, start: int, end: int) -> None:
    piece = text[start:end]
    stripped = piece.strip()
    if not stripped:
        return
    leading = len(piece) - len(piece.lstrip())
    real_start = start + leading
    sentences.append(Sentence(stripped, real_start, real_start + len(stripped)))
