"""Training recipes: the mean-pooling head, WiSE-FT interpolation, and version ids that follow the recipe."""

import dataclasses
from pathlib import Path

import pytest
import torch

from dealpulse.sentiment.modeling import MeanPoolBertForSequenceClassification, load_tone_classifier, mean_pool
from dealpulse.sentiment.onnx_export import ensure_onnx_int8
from dealpulse.sentiment.registry import write_version
from dealpulse.sentiment.scorer import ToneScorer
from dealpulse.sentiment.seed import RECIPES, SEED_CONFIG, current_seed_version
from dealpulse.sentiment.trainer import TrainConfig, load_base_classifier, recipe_hash, train_classifier
from tests.fixtures.tiny_model.build import TINY_TRAIN, tiny_examples

QUICK = TrainConfig(**{**TINY_TRAIN.__dict__, "max_epochs": 2})
EMAILS = ["We will proceed with the order.", "We have decided to go with another provider.", "What time is the call?"]


def test_the_seed_version_id_changes_with_the_recipe_but_not_with_the_thread_count() -> None:
    assert recipe_hash(SEED_CONFIG) == recipe_hash(dataclasses.replace(SEED_CONFIG, threads=7))
    hashes = {recipe_hash(config) for config in RECIPES.values()}
    assert len(hashes) == len(RECIPES)
    assert current_seed_version().endswith("-" + recipe_hash(SEED_CONFIG)[:6])


def test_mean_pooling_reads_only_real_tokens() -> None:
    hidden = torch.tensor([[[1.0, 1.0], [3.0, 5.0], [100.0, 100.0]]])
    assert mean_pool(hidden, torch.tensor([[1, 1, 0]])).tolist() == [[2.0, 3.0]]


@pytest.fixture(scope="module")
def mean_version(tiny_base: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    trained = train_classifier(tiny_examples(), dataclasses.replace(QUICK, pooling="mean"), base_path=tiny_base)
    return write_version(tmp_path_factory.mktemp("models"), "tiny-mean", trained, {"method": "full"}, {})


def test_a_mean_pooling_version_loads_back_with_its_head_on_every_runtime(mean_version: Path) -> None:
    model, tokenizer = load_tone_classifier(mean_version)
    assert isinstance(model, MeanPoolBertForSequenceClassification)
    fp32 = ToneScorer(mean_version, runtime="fp32").score_texts(EMAILS, split_quotes=False)
    batch = tokenizer(EMAILS, padding=True, return_tensors="pt")
    with torch.inference_mode():
        direct = torch.softmax(model.eval()(**batch).logits / ToneScorer(mean_version, runtime="fp32").temperature, dim=-1)
    assert [r.probabilities["positive"] for r in fp32] == pytest.approx(direct[:, 2].tolist(), abs=1e-3)
    assert ensure_onnx_int8(mean_version).is_file()
    int8 = ToneScorer(mean_version, runtime="onnx-int8").score_texts(EMAILS, split_quotes=False)
    assert [r.score for r in int8] == pytest.approx([r.score for r in fp32], abs=0.1)


def test_wise_ft_puts_the_encoder_between_the_base_and_the_fine_tuned_weights(tiny_base: Path) -> None:
    base, _ = load_base_classifier(tiny_base)
    tuned = train_classifier(tiny_examples(), QUICK, base_path=tiny_base).model
    halfway = train_classifier(tiny_examples(), dataclasses.replace(QUICK, wise_alpha=0.5), base_path=tiny_base).model
    name = "bert.encoder.layer.0.attention.self.query.weight"
    expected = (base.state_dict()[name] + tuned.state_dict()[name]) / 2
    assert torch.allclose(halfway.state_dict()[name], expected, atol=1e-6)
    assert torch.equal(halfway.state_dict()["classifier.weight"], tuned.state_dict()["classifier.weight"])


def test_l2sp_keeps_the_encoder_closer_to_the_base(tiny_base: Path) -> None:
    base, _ = load_base_classifier(tiny_base)
    free = train_classifier(tiny_examples(), QUICK, base_path=tiny_base).model
    anchored = train_classifier(tiny_examples(), dataclasses.replace(QUICK, l2sp=5.0), base_path=tiny_base).model

    def drift(model: torch.nn.Module) -> float:
        state = model.state_dict()
        return sum(float(((state[n] - p) ** 2).sum()) for n, p in base.state_dict().items() if n.startswith("bert.encoder"))

    assert drift(anchored) < drift(free)


@pytest.mark.parametrize("bad", [{"pooling": "max"}, {"wise_alpha": 0.0}, {"l2sp": -1.0}])
def test_an_impossible_recipe_is_refused(bad: dict) -> None:
    with pytest.raises(ValueError):
        TrainConfig(**bad)
