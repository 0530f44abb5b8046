"""SetFit-style training for small rating sets: contrastive tuning of the encoder, then a weighted head.

With a few dozen ratings a full fine-tune swings from seed to seed; SetFit (Tunstall et al., 2022) is steadier:
1. contrastive phase: pairs of examples (same label → cosine target 1, different → 0) pull the sentence
   embeddings of one tone together. The embedding is what the classification head reads (the [CLS] pooler or the mean of the token states),
   so the result stays a plain sequence-classification model the scorer loads like any other version;
2. head phase: the encoder is frozen and the three-label linear head is fitted by weighted logistic regression on
   the embeddings (rater weights become sample weights). The new version keeps its parent's temperature
   (calibration.json): a few dozen ratings are too few to fit one.

It starts from a trained version (the organisation's active one), so the seed corpus replay passed in with the
ratings keeps what that version already knew.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from .base_model import LABEL2ID
from .calibration import CALIBRATION_FILE
from ..domain.tone_labels import LABELS
from .modeling import load_tone_classifier, sentence_features
from .trainer import ProgressCallback, TrainedClassifier, TrainingExample, TrainingProgress, deterministic_torch


@dataclass(frozen=True)
class FewShotConfig:
    """The SetFit recipe; recorded in the version's training.json."""

    seed: int = 13
    pairs_per_example: int = 4  # half same-label, half different-label partners per anchor
    batch_size: int = 16
    learning_rate: float = 2e-5
    epochs: int = 1
    max_length: int = 128
    head_c: float = 1.0  # inverse regularisation of the logistic-regression head
    threads: int = 0


def load_classifier(path: Path) -> tuple[torch.nn.Module, object]:
    """A trained version's classifier and tokenizer, from local files."""
    return load_tone_classifier(path)


def parent_calibration(path: Path) -> dict | None:
    """The calibration of the version a new one starts from, carried over ({"temperature": T, ...}), or None."""
    file = Path(path) / CALIBRATION_FILE
    if not file.is_file():
        return None
    return {**json.loads(file.read_text(encoding="utf-8")), "fitted_on": f"inherited from {Path(path).name}"}


def pooled(model: torch.nn.Module, tokenizer, texts: Sequence[str], max_length: int) -> torch.Tensor:
    """The embedding the classification head reads, for each text (keeps gradients)."""
    device = next(model.parameters()).device
    batch = tokenizer(list(texts), truncation=True, max_length=max_length, padding=True, return_tensors="pt")
    return sentence_features(model, {k: v.to(device) for k, v in batch.items()})


def contrastive_pairs(examples: Sequence[TrainingExample], per_example: int, rng: random.Random) -> list[tuple[int, int, float]]:
    """(anchor, partner, target) index pairs: per anchor, half same-label (1.0) and half other-label (0.0) partners."""
    by_label: dict[str, list[int]] = {label: [] for label in LABELS}
    for index, example in enumerate(examples):
        by_label[example.label].append(index)
    pairs: list[tuple[int, int, float]] = []
    for index, example in enumerate(examples):
        same = [i for i in by_label[example.label] if i != index]
        other = [i for label, group in by_label.items() if label != example.label for i in group]
        for k in range(per_example):
            pool, target = (same, 1.0) if k % 2 == 0 else (other, 0.0)
            if pool:
                pairs.append((index, rng.choice(pool), target))
    rng.shuffle(pairs)
    return pairs


def train_few_shot(
    examples: Sequence[TrainingExample],
    start_from: Path,
    config: FewShotConfig = FewShotConfig(),
    *,
    replay: Sequence[TrainingExample] = (),
    progress: ProgressCallback | None = None,
) -> TrainedClassifier:
    """Contrastive phase on pairs of `examples` (plus as many `replay` passages), then a weighted head on all.

    The head is fitted on the examples and the whole replay, so the seed corpus keeps its say in the decision
    boundary while the contrastive phase stays as short as the rating set.
    """
    if not examples:
        raise ValueError("no training examples")
    started = time.perf_counter()
    rng = random.Random(config.seed)
    contrastive = list(examples) + list(replay)[: len(examples)]
    head_examples = list(examples) + list(replay)
    with deterministic_torch(config.seed, config.threads) as device:
        model, tokenizer = load_classifier(start_from)
        model.to(device)
        encoder_parameters = [p for name, p in model.named_parameters() if not name.startswith("classifier")]
        optimizer = torch.optim.AdamW(encoder_parameters, lr=config.learning_rate, weight_decay=0.01)
        pairs = [pair for _ in range(config.epochs) for pair in contrastive_pairs(contrastive, config.pairs_per_example, rng)]
        total_steps = (len(pairs) + config.batch_size - 1) // config.batch_size
        weights = torch.tensor([float(e.weight) for e in contrastive])
        model.train()
        losses: list[float] = []
        for step, start in enumerate(range(0, len(pairs), config.batch_size), start=1):
            chunk = pairs[start : start + config.batch_size]
            left = pooled(model, tokenizer, [contrastive[a].text for a, _, _ in chunk], config.max_length)
            right = pooled(model, tokenizer, [contrastive[b].text for _, b, _ in chunk], config.max_length)
            target = torch.tensor([t for _, _, t in chunk], device=device)
            pair_weight = torch.tensor([float(weights[a] * weights[b]) for a, b, _ in chunk], device=device)
            similarity = torch.nn.functional.cosine_similarity(left, right)
            loss = (pair_weight * (similarity - target) ** 2).sum() / pair_weight.sum().clamp_min(1e-8)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(encoder_parameters, 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            losses.append(loss.item())
            if progress:
                progress(TrainingProgress(1, step, total_steps + 1, loss.item()))
        model.eval()
        with torch.inference_mode():
            features = torch.cat(
                [pooled(model, tokenizer, [e.text for e in head_examples[i : i + 64]], config.max_length).cpu()
                 for i in range(0, len(head_examples), 64)]
            ).numpy()
        head = LogisticRegression(C=config.head_c, max_iter=2000, random_state=config.seed)
        labels = np.array([LABEL2ID[e.label] for e in head_examples])
        head.fit(features, labels, sample_weight=np.array([float(e.weight) for e in head_examples]))
        coefficients, intercepts = _full_head(head, len(LABELS), features.shape[1])
        with torch.no_grad():
            model.classifier.weight.copy_(torch.from_numpy(coefficients).to(model.classifier.weight.dtype))
            model.classifier.bias.copy_(torch.from_numpy(intercepts).to(model.classifier.bias.dtype))
        if progress:
            progress(TrainingProgress(1, total_steps + 1, total_steps + 1, float(np.mean(losses) if losses else 0.0)))
        model.to("cpu").eval()
    summary = {
        "config": asdict(config),
        "method": "setfit",
        "device": device.type,
        "train_examples": len(examples),
        "replay_examples": len(replay),
        "pairs": len(pairs),
        "contrastive_loss": round(float(np.mean(losses)), 4) if losses else None,
        "head_train_accuracy": round(float(head.score(features, labels)), 4),
        "seconds": round(time.perf_counter() - started, 1),
    }
    return TrainedClassifier(model=model, tokenizer=tokenizer, summary=summary, calibration=parent_calibration(start_from))


def _full_head(head: LogisticRegression, n_labels: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients for every label (a label absent from the data gets a strongly negative bias)."""
    coefficients = np.zeros((n_labels, width), dtype=np.float32)
    intercepts = np.full(n_labels, -10.0, dtype=np.float32)
    classes = list(head.classes_)
    if len(classes) == 2:  # sklearn keeps one row for binary problems: split it symmetrically
        coefficients[classes[1]], intercepts[classes[1]] = head.coef_[0] / 2, head.intercept_[0] / 2
        coefficients[classes[0]], intercepts[classes[0]] = -head.coef_[0] / 2, -head.intercept_[0] / 2
        return coefficients, intercepts
    for row, label_id in enumerate(classes):
        coefficients[label_id], intercepts[label_id] = head.coef_[row], head.intercept_[row]
    return coefficients, intercepts
