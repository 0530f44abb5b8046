"""The trainer on the tiny base: deterministic for a seed, weighted, stratified validation, LoRA merged away."""

import random
from pathlib import Path

import pytest
import torch

from dealpulse.domain.tone_labels import LABELS
from dealpulse.sentiment.trainer import (
    EarlyStopping,
    TrainConfig,
    TrainingExample,
    length_bucketed_batches,
    split_validation,
    train_classifier,
)
from tests.fixtures.tiny_model.build import TINY_TRAIN, tiny_examples

QUICK = TrainConfig(**{**TINY_TRAIN.__dict__, "max_epochs": 2})


def weights_of(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_same_seed_same_model_and_progress_reported(tiny_base: Path) -> None:
    seen = []
    first = train_classifier(tiny_examples(), QUICK, base_path=tiny_base, progress=seen.append)
    second = train_classifier(tiny_examples(), QUICK, base_path=tiny_base)
    a, b = weights_of(first.model), weights_of(second.model)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert seen[-1].step == seen[-1].total_steps and seen[-1].fraction == 1.0
    assert [p.epoch for p in seen if p.validation_f1 is not None] == [1, 2]
    assert first.model.config.id2label == dict(enumerate(LABELS))


def test_a_different_seed_gives_a_different_model(tiny_base: Path) -> None:
    first = train_classifier(tiny_examples(), QUICK, base_path=tiny_base)
    other = train_classifier(tiny_examples(), TrainConfig(**{**QUICK.__dict__, "seed": 99}), base_path=tiny_base)
    a, b = weights_of(first.model), weights_of(other.model)
    assert any(not torch.equal(a[k], b[k]) for k in a)


def test_zero_weight_examples_teach_nothing(tiny_base: Path) -> None:
    examples = tiny_examples()
    validation = examples[::10]

    def train_with_extra(label_of, weight: float) -> dict[str, torch.Tensor]:
        extra = [TrainingExample(e.text + " indeed", label_of(e), weight) for e in examples]
        return weights_of(train_classifier([*examples, *extra], QUICK, validation=validation, base_path=tiny_base).model)

    def wrong(e: TrainingExample) -> str:
        return LABELS[(LABELS.index(e.label) + 1) % 3]

    right_zero, wrong_zero = train_with_extra(lambda e: e.label, 0.0), train_with_extra(wrong, 0.0)
    assert all(torch.equal(right_zero[k], wrong_zero[k]) for k in right_zero)
    wrong_one = train_with_extra(wrong, 1.0)
    assert any(not torch.equal(right_zero[k], wrong_one[k]) for k in right_zero)


def test_lora_trains_few_parameters_and_saves_a_plain_model(tiny_base: Path, tmp_path: Path) -> None:
    trained = train_classifier(tiny_examples(), TrainConfig(**{**QUICK.__dict__, "method": "lora"}), base_path=tiny_base)
    full_size = sum(p.numel() for p in trained.model.parameters())
    assert 0 < trained.summary["trainable_parameters"] < full_size / 10
    trained.save(tmp_path)
    assert (tmp_path / "model.safetensors").is_file() and not (tmp_path / "adapter_config.json").exists()
    assert not any("lora" in key for key in trained.model.state_dict())


def test_validation_slice_is_stratified_and_disjoint() -> None:
    examples = tiny_examples()
    train, validation = split_validation(examples, 0.2, seed=1)
    assert sorted(e.text for e in train + validation) == sorted(e.text for e in examples)
    assert {e.label for e in validation} == set(LABELS)
    assert all(sum(e.label == label for e in validation) == 4 for label in LABELS)


def test_length_buckets_cover_every_example_once() -> None:
    lengths = [random.Random(3).randint(3, 120) for _ in range(203)]
    batches = length_bucketed_batches(lengths, 16, random.Random(5))
    assert sorted(i for b in batches for i in b) == list(range(203))
    assert max(len(b) for b in batches) == 16


def test_bad_examples_are_refused(tiny_base: Path) -> None:
    with pytest.raises(ValueError, match="unknown label"):
        train_classifier([TrainingExample("x", "angry")], QUICK, base_path=tiny_base)
    with pytest.raises(ValueError, match="weight"):
        train_classifier([TrainingExample("x", "neutral", -1.0)], QUICK, base_path=tiny_base)
    with pytest.raises(ValueError, match="no training examples"):
        train_classifier([], QUICK, base_path=tiny_base)


def test_early_stopping_keeps_the_best_epochs_weights_and_stops_after_patience_epochs_without_gain() -> None:
    model = torch.nn.Linear(2, 1)
    stopping = EarlyStopping(patience=2)
    stops = []
    for epoch, f1 in enumerate([0.5, 0.7, 0.6, 0.65], start=1):
        with torch.no_grad():
            model.weight.fill_(float(epoch))
        stops.append(stopping.should_stop(model, epoch, f1))
    assert stops == [False, False, False, True]
    assert (stopping.best_epoch, stopping.best_f1) == (2, 0.7)
    stopping.restore_best(model)
    assert model.weight.tolist() == [[2.0, 2.0]]


def test_early_stopping_from_a_measured_start_keeps_the_start_when_no_epoch_beats_it() -> None:
    model = torch.nn.Linear(2, 1)
    with torch.no_grad():
        model.weight.fill_(7.0)
    stopping = EarlyStopping(patience=3, best_f1=0.8, best_state=EarlyStopping.weights_of(model))
    with torch.no_grad():
        model.weight.fill_(1.0)
    assert not stopping.should_stop(model, 1, 0.8)  # equal is no gain
    stopping.restore_best(model)
    assert stopping.best_epoch == 0 and model.weight.tolist() == [[7.0, 7.0]]
