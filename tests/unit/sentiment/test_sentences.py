"""Sentence splitting of email prose: spans, abbreviations, line breaks."""

from hypothesis import given
from hypothesis import strategies as st

from dealpulse.sentiment.sentences import split_sentences


def texts(text: str) -> list[str]:
    return [s.text for s in split_sentences(text)]


def test_splits_on_terminal_punctuation_and_line_breaks() -> None:
    email = "Hi Anna,\n\nThanks for the demo. We loved it! Can we talk price?\nBest"
    assert texts(email) == ["Hi Anna,", "Thanks for the demo.", "We loved it!", "Can we talk price?", "Best"]


def test_keeps_abbreviations_initials_and_decimals_inside_a_sentence() -> None:
    email = "Dr. Smith and J. Doe agreed, e.g. on the 3.5k price. Next step is the PO."
    assert texts(email) == ["Dr. Smith and J. Doe agreed, e.g. on the 3.5k price.", "Next step is the PO."]


def test_bullets_are_their_own_sentences() -> None:
    assert texts("Open points:\n- pricing\n- security review") == ["Open points:", "- pricing", "- security review"]


def test_nothing_to_split() -> None:
    assert split_sentences("") == []
    assert split_sentences(" \n\n\t ") == []


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=300))
def test_every_visible_character_lands_in_exactly_one_sentence_at_its_span(text: str) -> None:
    sentences = split_sentences(text)
    covered = [False] * len(text)
    for sentence in sentences:
        assert sentence.text and sentence.text == sentence.text.strip()
        assert text[sentence.start : sentence.end] == sentence.text
        for i in range(sentence.start, sentence.end):
            assert not covered[i]
            covered[i] = True
    assert all(covered[i] for i, ch in enumerate(text) if not ch.isspace())
