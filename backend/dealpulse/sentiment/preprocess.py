"""Turn whatever text arrives into what the model should read: the new text, bounded, cleaned, in sentences."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from ..mail.reply_split import split_reply
from .sentences import Sentence, split_sentences

MAX_RAW_CHARS = 200_000  # cut before reply splitting: a 5 MB paste must not cost seconds
MAX_NEW_TEXT_CHARS = 8_000  # the new text of a real email is far shorter; more is pasted documents
MAX_SENTENCES = 48
MIN_LETTERS = 2

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]")
_SPACES = re.compile(r"[ \t\u00a0]+")
_WORD = re.compile(r"[A-Za-z']+")
# An opening line that only greets ("Hi Sam,", "Dear Ms. Okafor,", "Good morning all", "Morning team:") never
# drives the tone.
_SALUTATION = re.compile(
    r"^(?P<greeting>hi|hello|hey|dear|greetings|good (?:morning|afternoon|evening)|morning|afternoon|evening)\b"
    r"(?P<names>(?:[\s,]+[\w.'’-]+){0,4})\s*(?P<end>[,:!]?)$",
    re.IGNORECASE,
)
_BARE_TIME_OF_DAY = ("morning", "afternoon", "evening")  # greet only when punctuated: "Morning works for us" does not
_ENGLISH_FUNCTION_WORDS = frozenset(
    """the a an and or but to of in on for with at by from is are was were be been will would can could should
    we you i it this that they our your us me my not no do does did have has had if as so please thanks thank
    let know just about any all there here what when how who which than then also its it's we're i'm we'll i'll
    don't can't won't""".split()
)

NO_TEXT = "no_text"
UNSUPPORTED_LANGUAGE = "unsupported_language"


@dataclass(frozen=True)
class PreparedText:
    """The text to score and its sentences, or `skip_reason` when there is nothing the model can read."""

    text: str
    sentences: list[Sentence]  # the sentences that can carry tone: an opening salutation is left out
    skip_reason: str | None = None
    truncated: bool = False


def clean_text(text: str) -> str:
    """Normalise Unicode (NFKC), drop control characters and binary debris, collapse runs of spaces."""
    text = unicodedata.normalize("NFKC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _CONTROL.sub(" ", text)
    return "\n".join(_SPACES.sub(" ", line).strip() for line in text.split("\n")).strip()


def looks_english(text: str) -> bool:
    """Whether the text reads as English: short texts pass; longer ones need some common English function words."""
    words = [w.lower() for w in _WORD.findall(text)]
    letters = sum(1 for ch in text if ch.isalpha())
    latin = sum(1 for ch in text if "a" <= ch.lower() <= "z")
    if letters and latin / letters < 0.6:
        return False
    if len(words) < 6:
        return True
    function_words = sum(1 for w in words if w in _ENGLISH_FUNCTION_WORDS)
    return function_words / len(words) >= 0.12


def is_salutation(sentence: str) -> bool:
    """Whether a sentence only greets: a greeting word and at most four name-like words, not a statement."""
    match = _SALUTATION.match(sentence)
    if match is None or match.group("names").rstrip().endswith("."):
        return False
    if match.group("greeting").lower() in _BARE_TIME_OF_DAY and not match.group("end"):
        return False
    return match.group("end") != "!" or len(match.group("names").split()) <= 2


def without_salutation(sentences: list[Sentence]) -> list[Sentence]:
    """`sentences` without an opening one that only greets (kept when it is all there is)."""
    return sentences[1:] if len(sentences) > 1 and is_salutation(sentences[0].text) else sentences


def prepare_text(text: str, *, split_quotes: bool = True) -> PreparedText:
    """Bound and clean `text`; keep only the new text (when `split_quotes`); split it into sentences."""
    truncated = len(text) > MAX_RAW_CHARS
    raw = text[:MAX_RAW_CHARS]
    if split_quotes:
        raw = split_reply(raw).new_text or ""
    cleaned = clean_text(raw)
    if len(cleaned) > MAX_NEW_TEXT_CHARS:
        cleaned, truncated = cleaned[:MAX_NEW_TEXT_CHARS], True
    if sum(1 for ch in cleaned if ch.isalpha()) < MIN_LETTERS:
        return PreparedText("", [], NO_TEXT, truncated)
    if not looks_english(cleaned):
        return PreparedText(cleaned, [], UNSUPPORTED_LANGUAGE, truncated)
    sentences = without_salutation([s for s in split_sentences(cleaned) if any(ch.isalpha() for ch in s.text)])
    sentences = sentences[:MAX_SENTENCES]
    return PreparedText(cleaned, sentences, None, truncated)
