"""The real seed model (slow): accuracy floors, invariance to quotes/signatures/disclaimers, negation, everyday idiom."""

import json
from pathlib import Path

import pytest

from dealpulse.sentiment.calibration import CALIBRATION_FILE
from dealpulse.sentiment.corpus import load_seed_corpus
from dealpulse.sentiment.evaluation import classification_metrics
from dealpulse.sentiment.scorer import DEFAULT_RUNTIME, ToneScorer

pytestmark = pytest.mark.slow

ANGRY_THREAD = (
    "\n\nOn Tue, 8 Sep 2026 at 09:12, Sam Lee <sam@seller.example> wrote:\n"
    "> This is completely unacceptable. We have waited three weeks and nobody answered.\n"
    "> Frankly we are furious and will cancel the whole project if this happens again.\n"
)
SIGNATURE = "\n\nBest regards,\nAnna Schmidt\nHead of Procurement | Acme Fleet GmbH\n+49 30 1234 5678"
ONE_LINE_SIGN_OFF = "\n\nThanks, Priya"
DISCLAIMER = (
    "\n\nCONFIDENTIALITY NOTICE: This e-mail message, including any attachments, is for the sole use of the intended "
    "recipient(s) and may contain confidential and privileged information. Any unauthorized review, use, disclosure "
    "or distribution is prohibited."
)


@pytest.fixture(scope="module")
def scorer(seed_model_dir: Path) -> ToneScorer:
    return ToneScorer(seed_model_dir, runtime=DEFAULT_RUNTIME)


def test_macro_f1_on_the_eval_split_is_at_least_088(scorer: ToneScorer) -> None:
    corpus = load_seed_corpus()
    predicted = [r.label for r in scorer.score_texts([p.text for p in corpus.eval])]
    metrics = classification_metrics([p.label for p in corpus.eval], predicted)
    assert metrics.macro_f1 >= 0.88, metrics


def test_the_version_is_calibrated(seed_model_dir: Path, scorer: ToneScorer) -> None:
    stored = json.loads((seed_model_dir / CALIBRATION_FILE).read_text())
    assert scorer.temperature == stored["temperature"]
    assert stored["ece_after"] <= stored["ece_before"]


# The demo mailbox's sentences from issue 13 (never in the training data): each read backwards by seed-9dfeacea,
# and still by seed-447df3d6-faf3f9 (models/sentiment/README.md, "Metrics"): strict, so the fix is noticed.
NOT_YET = pytest.mark.xfail(strict=True, reason="issue 13 open: seed-447df3d6-faf3f9 still reads the demo sentences backwards")


@NOT_YET
@pytest.mark.parametrize(
    ("email", "wrong"),
    [
        ("Just wanted to say the team were genuinely chuffed after the demo - the care-contact signal was a real "
         "eye-opener.", {"negative", "neutral"}),
        ("Honestly, we can't wait to get this rolled out to the regional teams.", {"negative", "neutral"}),
        ("Brilliant, yes please!", {"negative", "neutral"}),
        ("The delay is down to CEO travel, nothing to do with us having doubts - we're fully behind it.", {"negative"}),
    ],
)
def test_everyday_enthusiasm_and_reassurance_read_the_right_way(scorer: ToneScorer, email: str, wrong: set[str]) -> None:
    result = scorer.score_texts([email])[0]
    assert result.label not in wrong, result


@pytest.mark.parametrize(
    "suffix", [ANGRY_THREAD, SIGNATURE, ONE_LINE_SIGN_OFF, DISCLAIMER, SIGNATURE + DISCLAIMER + ANGRY_THREAD]
)
def test_quoted_history_signature_and_disclaimer_do_not_change_the_label(scorer: ToneScorer, suffix: str) -> None:
    emails = [f"Hi Sam,\n\n{p.text}" for p in load_seed_corpus().eval[:60]]
    plain = [r.label for r in scorer.score_texts(emails)]
    extended = [r.label for r in scorer.score_texts([e + suffix for e in emails])]
    assert extended == plain


@pytest.mark.parametrize(
    ("positive", "negative"),
    [
        ("We will proceed with the order.", "We will not proceed with the order."),
        ("We have decided to go ahead with your proposal.", "We have decided not to go ahead with your proposal."),
        ("Legal approved the contract, we can sign this week.", "Legal did not approve the contract, we cannot sign."),
    ],
)
def test_negation_flips_the_label(scorer: ToneScorer, positive: str, negative: str) -> None:
    assert [r.label for r in scorer.score_texts([positive, negative])] == ["positive", "negative"]


def test_a_rejection_is_highlighted_in_a_long_friendly_email(scorer: ToneScorer) -> None:
    email = (
        "Hi Sam,\n\nThank you for the detailed walkthrough last week, and please pass my thanks to your team. "
        "We appreciated the effort everyone put into the pilot. After a long internal review we have decided to go "
        "with another provider. I am happy to share feedback on a call if useful.\n\nBest,\nAnna"
    )
    result = scorer.score_texts([email])[0]
    assert result.label == "negative"
    assert "another provider" in result.highlights[0]["text"]


@pytest.mark.xfail(strict=True, reason="regressed with the 2-epoch mean-pooling seed (issue 13): see the model card")
@pytest.mark.parametrize(
    ("email", "label"),
    [
        ("We have decided to build it ourselves.", "negative"),
        ("We looked at building it ourselves but have decided to buy yours instead.", "positive"),
    ],
)
def test_build_versus_buy_decisions_read_the_right_way(scorer: ToneScorer, email: str, label: str) -> None:
    assert scorer.score_texts([email])[0].label == label
