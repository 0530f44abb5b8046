"""The sentences that carry an email's stance: leave-one-out on the scorer, never a pleasantry on its own.

A sentence's influence is how far the log-odds of the email's label fall when that sentence is removed (log-odds,
so that a drop from 0.99 to 0.90 counts as much as one from 0.73 to 0.23: saturated readings still rank); a
sentence whose removal flips the label carries the decision. Greetings, apologies, thanks and other
pleasantries are never quoted on their own ("Sam, I'm really sorry." is not why a deal is lost). This costs one
batched scorer pass per email (its sentences removed one at a time), so it runs only where evidence is shown:
the open email in the sidebar and the few emails that raise an alert; results are cached per version and text.
"""

from __future__ import annotations

import math
import re
import threading
from typing import Protocol, Sequence

from cachetools import LRUCache

from .preprocess import prepare_text
from .sentences import Sentence

MAX_EVIDENCE = 3
CACHE_SIZE = 512
# A sentence whose removal lowers its email's label log-odds by less than this is not evidence by itself.
MIN_INFLUENCE = 0.05
_EPSILON = 1e-4

_VOCATIVE = re.compile(r"^\s*[A-Z][\w.'’-]*(?:\s+[A-Z][\w.'’-]*)?\s*[,:–—-]\s*")
_PLEASANTRY = re.compile(
    r"\b(?:"
    r"(?:i'?m|i am|we'?re|we are)?\s*(?:(?:so|really|very|truly|terribly|deeply|awfully)\s+)*sorry"
    r"(?:\s+(?:about|for)\s+(?:that|this|the delay|the wait|the (?:slow|late) (?:reply|response))"
    r"|\s+to (?:bring|share|deliver|send|pass on|be the bearer of|give you)"
    r"(?:\s+(?:some|the|this|such|disappointing|bad|sad|difficult|unwelcome))*\s+news)?"
    r"|(?:my|our)\s+(?:sincere\s+)?apologies|apologi[sz]e"
    r"|(?:many\s+)?thanks?(?:\s+(?:you|again|so much|a lot|for (?:your|the) (?:time|help|patience|email|note|call|update)))*"
    r"|(?:i\s+|we\s+)?(?:really\s+)?appreciate (?:it|that|your (?:time|help|patience|effort|work))"
    r"|(?:i\s+)?hope (?:you'?re|you are|this finds you|all is|you had|you have)(?:\s+\w+){0,4}"
    r"|(?:best|kind|warm)?\s*(?:regards|wishes)|cheers|take care|have a (?:good|great|nice) (?:day|week|weekend)"
    r"|(?:hi|hello|hey|dear|good (?:morning|afternoon|evening))"
    r"|(?:no worries|no problem|of course|sure thing|(?:there'?s )?no need to worry|(?:please )?don'?t worry)"
    r"|(?:to be honest|honestly|frankly|unfortunately|sadly|happy to help)"
    r")\b",
    re.IGNORECASE,
)
_WORD = re.compile(r"[A-Za-z][A-Za-z'’]*")


class TextScorer(Protocol):
    """What evidence needs of a scorer: `ToneScorer.score_texts` and its version."""

    version: str

    def score_texts(self, texts: Sequence[str], *, split_quotes: bool = True) -> list:  # list[ToneResult]
        """Score whole texts."""
        ...


def is_pleasantry(sentence: str) -> bool:
    """Whether a sentence only greets, thanks, apologises or softens ("Sam, I'm really sorry.", "Thanks again!")."""
    addressed = _VOCATIVE.sub("", sentence, count=1)
    if not _WORD.search(addressed):
        return True  # a name alone ("Hi Sam," reads as a vocative)
    rest = _PLEASANTRY.sub(" ", addressed)
    if rest == addressed:
        return False
    # What is left after the pleasantries may only be names ("Sorry Sam.", "Thanks, Dana!").
    return all(_is_name(word) for word in _WORD.findall(rest))


def _is_name(word: str) -> bool:
    return len(word) > 1 and word[0].isupper() and word[1:].islower()


_cache: LRUCache = LRUCache(maxsize=CACHE_SIZE)
_cache_lock = threading.Lock()


def stance_evidence(scorer: TextScorer, text: str, *, split_quotes: bool = True, limit: int = MAX_EVIDENCE) -> list[dict]:
    """The sentences behind the email's label, most decisive first (cached per version, text and quote handling).

    Each is {"text", "label" (the email's), "score" (the sentence's own tone), "start", "end", "strength" (the
    sentence's own probability of the label), "influence" (how far removing it lowers the log-odds of the email's
    label), "flips" (removing it changes the label)}.
    """
    key = (scorer.version, split_quotes, limit, text)
    with _cache_lock:
        cached = _cache.get(key)
    if cached is None:
        cached = tuple(_leave_one_out(scorer, text, split_quotes, limit))
        with _cache_lock:
            _cache[key] = cached
    return [dict(h) for h in cached]


def scored_with_evidence(scorer: TextScorer, text: str, *, split_quotes: bool = True) -> dict:
    """One text's `ToneResult.as_dict()` whose highlights are its stance evidence (for where one email is shown)."""
    result = scorer.score_texts([text], split_quotes=split_quotes)[0].as_dict()
    if result.get("reason") is None:
        result["highlights"] = stance_evidence(scorer, text, split_quotes=split_quotes)
    return result


def forget_evidence() -> None:
    """Drop cached evidence (tests)."""
    with _cache_lock:
        _cache.clear()


def _leave_one_out(scorer: TextScorer, text: str, split_quotes: bool, limit: int) -> list[dict]:
    prepared = prepare_text(text, split_quotes=split_quotes)
    sentences = prepared.sentences
    if prepared.skip_reason is not None or not sentences:
        return []
    whole_text = prepared.text
    if len(sentences) == 1:
        whole = scorer.score_texts([whole_text], split_quotes=False)[0]
        only = _highlight(sentences[0], whole.label, whole, influence=1.0, flips=True)
        del only["own_label"]
        return [only]
    without = [(whole_text[: s.start] + " " + whole_text[s.end :]).strip() for s in sentences]
    results = scorer.score_texts([whole_text, *without, *(s.text for s in sentences)], split_quotes=False)
    whole, removed, alone = results[0], results[1 : 1 + len(sentences)], results[1 + len(sentences) :]
    label = whole.label
    whole_odds = _log_odds(whole.probabilities[label])
    candidates = []
    for sentence, gone, own in zip(sentences, removed, alone):
        if is_pleasantry(sentence.text):
            continue
        influence = whole_odds - _log_odds(gone.probabilities[label])
        flips = gone.label != label
        candidates.append(_highlight(sentence, label, own, influence=influence, flips=flips))
    decisive = [h for h in candidates if h["flips"] or h["influence"] >= MIN_INFLUENCE]
    if not decisive:
        # Every sentence says the same thing (removing any one changes little): the ones that say it most on their own.
        decisive = [h for h in candidates if h["own_label"] == label]
        decisive.sort(key=lambda h: -h["strength"])
    else:
        decisive.sort(key=lambda h: (not h["flips"], -h["influence"], -h["strength"]))
    for h in decisive:
        del h["own_label"]
    return decisive[:limit]


def _log_odds(p: float) -> float:
    p = min(1 - _EPSILON, max(_EPSILON, float(p)))
    return math.log(p / (1 - p))


def _highlight(sentence: Sentence, label: str, own, *, influence: float, flips: bool) -> dict:
    return {
        "text": sentence.text, "label": label, "score": own.score, "start": sentence.start, "end": sentence.end,
        "strength": round(float(own.probabilities[label]), 4), "influence": round(float(influence), 4),
        "flips": bool(flips), "own_label": own.label,
    }
