"""The scorer on the tiny model: result shape, highlights, batching, bad input, one load per version."""

from pathlib import Path

import pytest

from dealpulse.domain.tone_labels import LABELS
from dealpulse.sentiment.preprocess import NO_TEXT, UNSUPPORTED_LANGUAGE
from dealpulse.sentiment.scorer import ToneScorer, clear_loaded_scorers, load_scorer

LONG_EMAIL = (
    "Hi Sam,\n\nThanks for the call yesterday. We have decided to go with another provider. "
    "The pricing was far too high for us. Please send the invite to Lars anyway.\n\nBest,\nMaria"
)


@pytest.fixture(scope="module")
def scorer(tiny_versions: dict[str, Path]) -> ToneScorer:
    return ToneScorer(tiny_versions["tiny-a"], runtime="fp32")


def test_result_is_a_label_a_score_and_probabilities(scorer: ToneScorer) -> None:
    result = scorer.score_texts(["Great news, we are ready to sign the contract this week."])[0]
    assert result.label in LABELS
    assert result.model_version == "tiny-a"
    assert sum(result.probabilities.values()) == pytest.approx(1.0, abs=1e-3)
    assert result.score == pytest.approx(result.probabilities["positive"] - result.probabilities["negative"], abs=1e-3)
    assert result.confidence == pytest.approx(max(result.probabilities.values()), abs=1e-3)
    assert result.probabilities[result.label] == max(result.probabilities.values())
    assert result.reason is None


def test_highlights_are_sentences_of_the_new_text_that_agree_with_the_label(scorer: ToneScorer) -> None:
    quoted = LONG_EMAIL + "\n\nOn Mon, 3 Mar 2025, Sam <sam@seller.example> wrote:\n> Shall we sign today?"
    result = scorer.score_texts([quoted])[0]
    assert 1 <= len(result.highlights) <= 3 or result.highlights == []
    for highlight in result.highlights:
        assert highlight["label"] == result.label
        assert highlight["text"] in LONG_EMAIL
        assert "sign today" not in highlight["text"]
        assert -1.0 <= highlight["score"] <= 1.0
    strengths = [h["strength"] for h in result.highlights]
    assert strengths == sorted(strengths, reverse=True)


def test_a_batch_scores_each_email_as_if_alone(scorer: ToneScorer) -> None:
    emails = ["We will not proceed.", LONG_EMAIL, "Can we move Thursday's call to 3pm?", "", "Purchase order attached."]
    together = scorer.score_texts(emails)
    alone = [scorer.score_texts([e])[0] for e in emails]
    for a, b in zip(together, alone):
        assert a.label == b.label
        assert a.score == pytest.approx(b.score, abs=2e-3)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", NO_TEXT),
        ("\x00\x01\x02\x7f" * 1000, NO_TEXT),
        ("\x00\xff\xfe\x01" * 1000, UNSUPPORTED_LANGUAGE),
        ("我们决定不继续这个项目，谢谢", UNSUPPORTED_LANGUAGE),
        ("Nous avons décidé de ne pas poursuivre le projet cette année, merci pour votre temps.", UNSUPPORTED_LANGUAGE),
    ],
)
def test_nothing_to_score_is_neutral_with_zero_confidence(scorer: ToneScorer, text: str, reason: str) -> None:
    result = scorer.score_texts([text])[0]
    assert (result.label, result.score, result.confidence, result.reason) == ("neutral", 0.0, 0.0, reason)
    assert result.model_version == "tiny-a"


def test_five_megabytes_and_bytes_are_answered(scorer: ToneScorer) -> None:
    huge, raw = "We are unhappy with the delays. " * 160_000, "We will sign today.".encode()
    results = scorer.score_texts([huge, raw])
    assert [r.reason for r in results] == [None, None]
    assert all(r.label in LABELS for r in results)


def test_non_text_is_refused(scorer: ToneScorer) -> None:
    with pytest.raises(TypeError):
        scorer.score_texts([None])  # type: ignore[list-item]


@pytest.mark.parametrize("runtime", ["onnx-int8", "int8"])
def test_quantised_runtimes_agree_with_fp32_on_the_tiny_model(scorer: ToneScorer, tiny_versions: dict[str, Path], runtime: str) -> None:
    quantised = ToneScorer(tiny_versions["tiny-a"], runtime=runtime)
    emails = ["We will not proceed.", LONG_EMAIL, "Great, we are ready to sign.", ""]
    for a, b in zip(scorer.score_texts(emails), quantised.score_texts(emails)):
        assert a.score == pytest.approx(b.score, abs=0.1)
        assert len(a.highlights) == len(b.highlights) or a.label != b.label


def test_many_emails_scored_across_cores_match_one_core(tiny_versions: dict[str, Path]) -> None:
    emails = [f"Hi Sam,\n\nEmail {i}: " + " ".join(["We will sign the order this week."] * (1 + i % 7)) for i in range(150)]
    emails += ["We will not proceed. " * 30, LONG_EMAIL, ""]
    one_core = ToneScorer(tiny_versions["tiny-a"], runtime="onnx-int8", threads=1)
    two_cores = ToneScorer(tiny_versions["tiny-a"], runtime="onnx-int8", threads=2)
    assert [r.as_dict() for r in two_cores.score_texts(emails)] == [r.as_dict() for r in one_core.score_texts(emails)]


def test_a_version_is_loaded_once_per_process(tiny_versions: dict[str, Path]) -> None:
    clear_loaded_scorers()
    first = load_scorer(tiny_versions["tiny-a"])
    assert load_scorer(tiny_versions["tiny-a"]) is first
    assert load_scorer(tiny_versions["tiny-b"]).version == "tiny-b"
    clear_loaded_scorers()
