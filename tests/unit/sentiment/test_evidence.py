"""Stance evidence: pleasantries are never evidence on their own; leave-one-out on the tiny model (structure) and
on the real seed model (slow: an apology wrapped around a rejection is quoted by its rejection)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dealpulse.sentiment.evidence import forget_evidence, is_pleasantry, stance_evidence
from dealpulse.sentiment.scorer import ToneScorer

PLEASANTRIES = [
    "Sam, I'm really sorry.", "Honestly, no need to worry!", "Thanks again for your time.", "Hi Sam,", "Best regards,",
    "I'm sorry to bring disappointing news.", "I'm so sorry for the slow reply.", "Thanks!", "Hope you are well.",
    "Dana - thanks.", "Many thanks for your patience.", "Our apologies.", "Have a great weekend!",
]
STANCES = [
    "Nope.", "We're in.", "Declined.", "We have decided not to move forward with your proposal this year.",
    "Sorry, we are going with Acme.", "Thanks, we are happy to move ahead with the order.",
    "Between us, the bundle price made it impossible; it wasn't about the product.", "We signed the order this morning.",
]
APOLOGY_AND_REJECTION = (
    "Hi Dana,\n\nI'm so sorry for the slow reply. We have decided not to move forward with your proposal this year. "
    "Thanks again for all your help.\n\nBest,\nTom"
)
DEMO_LOSS = ("Sam, I'm really sorry. I fought for you until the end. Between us, the bundle price made it impossible; "
             "it wasn't about the product.")


@pytest.mark.parametrize("sentence", PLEASANTRIES)
def test_greetings_apologies_and_thanks_alone_are_pleasantries(sentence: str) -> None:
    assert is_pleasantry(sentence)


@pytest.mark.parametrize("sentence", STANCES)
def test_a_sentence_that_says_something_is_not_a_pleasantry(sentence: str) -> None:
    assert not is_pleasantry(sentence)


@given(st.sampled_from(PLEASANTRIES), st.sampled_from(STANCES))
def test_a_pleasantry_in_front_of_a_stance_does_not_hide_it(pleasantry: str, stance: str) -> None:
    assert not is_pleasantry(f"{pleasantry.rstrip('.!,')}, {stance[0].lower()}{stance[1:]}")


@pytest.fixture(scope="module")
def scorer(tiny_versions: dict[str, Path]) -> ToneScorer:
    return ToneScorer(tiny_versions["tiny-a"], runtime="fp32")


def test_evidence_is_sentences_of_the_email_never_a_pleasantry_most_decisive_first(scorer: ToneScorer) -> None:
    forget_evidence()
    evidence = stance_evidence(scorer, APOLOGY_AND_REJECTION)
    whole = scorer.score_texts([APOLOGY_AND_REJECTION])[0]
    assert 1 <= len(evidence) <= 3
    for h in evidence:
        assert h["label"] == whole.label and not is_pleasantry(h["text"]) and h["text"] in APOLOGY_AND_REJECTION
    keys = [(not h["flips"], -h["influence"]) for h in evidence]
    assert keys == sorted(keys) or all(h["influence"] < 0.05 and not h["flips"] for h in evidence)


def test_a_one_sentence_email_is_its_own_evidence_and_no_text_has_none(scorer: ToneScorer) -> None:
    assert [h["text"] for h in stance_evidence(scorer, "We're in.")] == ["We're in."]
    assert stance_evidence(scorer, "   ") == []


def test_evidence_is_cached_per_version_and_text(scorer: ToneScorer) -> None:
    forget_evidence()
    first = stance_evidence(scorer, DEMO_LOSS)
    first[0]["text"] = "changed by the caller"
    assert stance_evidence(scorer, DEMO_LOSS)[0]["text"] != "changed by the caller"


@pytest.mark.slow
def test_the_real_model_quotes_the_rejection_not_the_apology(seed_model_dir: Path) -> None:
    real = ToneScorer(seed_model_dir)
    forget_evidence()

    evidence = stance_evidence(real, APOLOGY_AND_REJECTION)
    demo = stance_evidence(real, DEMO_LOSS)

    assert evidence[0]["text"] == "We have decided not to move forward with your proposal this year."
    assert evidence[0]["label"] == "negative"
    assert demo[0]["text"] == "Between us, the bundle price made it impossible; it wasn't about the product."
    assert all(h["text"] != "Sam, I'm really sorry." for h in demo)
