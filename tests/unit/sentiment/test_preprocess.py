"""What the model reads: only the new text, bounded, and a reason when there is nothing to read."""

from dealpulse.sentiment.preprocess import (
    MAX_NEW_TEXT_CHARS,
    MAX_SENTENCES,
    NO_TEXT,
    UNSUPPORTED_LANGUAGE,
    prepare_text,
)

REPLY = """Hi Tom,

We will proceed with the order. Thanks!

Best,
Anna

On Mon, 3 Mar 2025 at 10:00, Tom <tom@seller.example> wrote:
> Any update? We are very disappointed by the silence.
"""


def test_keeps_only_the_new_text_of_a_reply() -> None:
    prepared = prepare_text(REPLY)
    assert prepared.skip_reason is None
    assert "disappointed" not in prepared.text
    assert prepared.text.startswith("Hi Tom,")
    assert [s.text for s in prepared.sentences] == ["We will proceed with the order.", "Thanks!"]


def test_an_opening_salutation_is_not_a_sentence_that_can_carry_tone() -> None:
    for greeting in ("Hi Tom,", "Dear Ms. Okafor,", "Good morning all", "Hello team:", "Hey Sam!", "Morning,", "Afternoon all:"):
        prepared = prepare_text(f"{greeting}\nWe have chosen another vendor. Thanks for your time.")
        assert [s.text for s in prepared.sentences] == ["We have chosen another vendor.", "Thanks for your time."], greeting


def test_an_opening_statement_is_kept_even_when_it_starts_with_a_greeting_word() -> None:
    for opening in ("Hi, we're out.", "Hello, we have decided to go with another provider.", "Hi Sam, we signed!",
                    "Morning works for us"):
        prepared = prepare_text(f"{opening}\nMore soon.")
        assert [s.text for s in prepared.sentences] == [opening, "More soon."], opening


def test_a_lone_greeting_is_still_the_text_to_score() -> None:
    assert [s.text for s in prepare_text("Hi Tom,").sentences] == ["Hi Tom,"]


def test_split_quotes_off_scores_the_text_as_given() -> None:
    assert "disappointed" in prepare_text(REPLY, split_quotes=False).text


def test_empty_and_junk_have_nothing_to_score() -> None:
    for text in ("", "   \n\t", "\x00\x01\x02\x7f" * 50, "12345 67 !!! ??", "> quoted only\n> more quoted"):
        assert prepare_text(text).skip_reason == NO_TEXT, repr(text)


def test_other_languages_and_binary_debris_are_not_guessed_at() -> None:
    for text in (
        "Nous avons décidé de ne pas poursuivre le projet cette année, merci pour votre temps.",
        "Wir haben uns leider für einen anderen Anbieter entschieden und werden das Projekt nicht fortsetzen.",
        "我们决定不继续这个项目，谢谢",
        "Мы решили не продолжать проект",
        bytes(range(128, 256)).decode("latin-1") * 20,
    ):
        assert prepare_text(text).skip_reason == UNSUPPORTED_LANGUAGE, text[:30]


def test_short_english_passes() -> None:
    assert prepare_text("Sounds good.").skip_reason is None
    assert prepare_text("OK").skip_reason is None


def test_five_megabytes_are_cut_to_a_bounded_text() -> None:
    huge = "We are happy with the pilot and the team likes it. " * 100_000
    prepared = prepare_text(huge)
    assert prepared.truncated
    assert len(prepared.text) <= MAX_NEW_TEXT_CHARS
    assert len(prepared.sentences) == MAX_SENTENCES


def test_control_characters_are_dropped() -> None:
    assert prepare_text("We will\x00 sign\x07 today.").text == "We will sign today."
