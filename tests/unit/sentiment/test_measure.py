"""One evaluation of a scorer: opposite-polarity errors counted apart from near misses, with the passages listed."""

from dealpulse.sentiment.corpus import LabelledText
from dealpulse.sentiment.evaluation import is_opposite_polarity
from dealpulse.sentiment.measure import measure_scorer
from dealpulse.sentiment.scorer import ToneResult


class FixedReadings:
    """Stands in for the model: answers each text with the label written after its '->'."""

    def score_texts(self, texts, *, split_quotes=True):
        results = []
        for text in texts:
            label = text.split("->")[1].strip()
            probabilities = {name: (0.8 if name == label else 0.1) for name in ("negative", "neutral", "positive")}
            results.append(ToneResult(label, probabilities["positive"] - probabilities["negative"], 0.8, probabilities))
        return results


def passage(number: int, gold: str, read_as: str) -> LabelledText:
    return LabelledText(id=f"p{number}", text=f"passage {number} -> {read_as}", label=gold, industry="-")


def test_opposite_polarity_is_positive_read_negative_or_the_reverse_only() -> None:
    assert is_opposite_polarity("positive", "negative") and is_opposite_polarity("negative", "positive")
    assert not any(is_opposite_polarity(g, p) for g, p in [("positive", "neutral"), ("neutral", "negative"), ("negative", "negative")])


def test_measure_counts_backwards_readings_apart_from_near_misses_and_lists_them() -> None:
    passages = [
        passage(1, "positive", "negative"),
        passage(2, "negative", "positive"),
        passage(3, "positive", "neutral"),
        passage(4, "neutral", "negative"),
        passage(5, "neutral", "neutral"),
        passage(6, "positive", "positive"),
        passage(7, "negative", "negative"),
        passage(8, "negative", "negative"),
    ]
    report = measure_scorer(FixedReadings(), passages)
    assert report["count"] == 8
    assert report["opposite_polarity"] == 2 and report["opposite_polarity_percent"] == 25.0
    assert report["near_misses"] == 2
    assert [(e["id"], e["gold"], e["predicted"]) for e in report["opposite_polarity_errors"]] == [
        ("p1", "positive", "negative"), ("p2", "negative", "positive")]
    # every reading is 0.8 sure and 4 of 8 are right: the gap is 0.3 in the one occupied bin
    assert report["ece"] == 0.3
    assert sum(b["count"] for b in report["reliability"]) == 8
