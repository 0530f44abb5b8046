"""Fine-tune the base encoder into a three-label tone classifier: deterministic, weighted, full or LoRA."""

from __future__ import annotations

import hashlib
import json
import math
import random
import time
import warnings
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import torch
from torch.nn.utils import clip_grad_norm_
from transformers import get_linear_schedule_with_warmup

from .base_model import LABEL2ID, base_model_path, choose_threads
from .calibration import calibration_summary, fit_temperature, write_calibration
from ..domain.tone_labels import LABELS
from .evaluation import ClassificationMetrics, classification_metrics
from .modeling import POOLINGS, new_tone_classifier

METHODS = ("full", "lora")


@dataclass(frozen=True)
class TrainingExample:
    """One passage to learn from; `weight` scales its loss (rater reliability in issue 6, 1.0 for the corpus)."""

    text: str
    label: str
    weight: float = 1.0


class EarlyStopping:
    """The early-stopping bookkeeping of the fine-tuning loops (`train_classifier`, `continued.train_top_layers`):
    the best epoch so far by held-out macro-F1 and a copy of its weights, and when to stop (after `patience` epochs
    without a better score)."""

    def __init__(self, patience: int, best_f1: float = -1.0, best_state: dict | None = None):
        self.patience, self.best_f1, self.best_state, self.best_epoch, self.stale = patience, best_f1, best_state, 0, 0

    @staticmethod
    def weights_of(model: torch.nn.Module) -> dict:
        """A detached copy of the model's weights."""
        return {k: v.detach().clone() for k, v in model.state_dict().items()}

    def should_stop(self, model: torch.nn.Module, epoch: int, f1: float) -> bool:
        """Record the epoch's score (keeping the weights when it is the best); True once `patience` epochs in a row
        did not improve."""
        if f1 > self.best_f1:
            self.best_f1, self.best_epoch, self.stale = f1, epoch, 0
            self.best_state = self.weights_of(model)
            return False
        self.stale += 1
        return self.stale >= self.patience

    def restore_best(self, model: torch.nn.Module) -> None:
        """Load the best epoch's weights back (nothing when no epoch was scored)."""
        if self.best_state is not None:
            model.load_state_dict(self.best_state)


@dataclass(frozen=True)
class TrainConfig:
    """The training recipe; every field is recorded in the version's training.json."""

    seed: int = 13
    method: str = "full"
    max_epochs: int = 4
    batch_size: int = 16
    learning_rate: float = 8e-5
    lora_learning_rate: float = 8e-4
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_length: int = 128
    validation_fraction: float = 0.12
    patience: int = 2
    lora_rank: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.1
    # What the head reads: the [CLS] pooler ("cls", BertForSequenceClassification) or the mean of the token states.
    pooling: str = "cls"
    # L2-SP (Li et al., 2018): pull the encoder toward the base weights, loss += l2sp * ||theta - theta_base||^2.
    l2sp: float = 0.0
    # WiSE-FT (Wortsman et al., 2022): encoder = alpha * fine-tuned + (1 - alpha) * base after training (1 = off).
    wise_alpha: float = 1.0
    label_smoothing: float = 0.0
    threads: int = 0

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, not {self.method!r}")
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, not {self.pooling!r}")
        if not 0.0 < self.wise_alpha <= 1.0:
            raise ValueError("wise_alpha must be in (0, 1]")
        if self.l2sp < 0 or not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError("l2sp must be >= 0 and label_smoothing in [0, 1)")


def recipe_hash(config: TrainConfig) -> str:
    """A stable SHA-256 of everything in the recipe that changes the weights (the thread count does not)."""
    fields = {k: v for k, v in asdict(config).items() if k != "threads"}
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class TrainingProgress:
    """A progress report: called after every optimiser step and after each epoch's validation."""

    epoch: int
    step: int
    total_steps: int
    loss: float
    validation_f1: float | None = None

    @property
    def fraction(self) -> float:
        """Share of the planned steps done, 0..1."""
        return min(1.0, self.step / self.total_steps) if self.total_steps else 1.0


ProgressCallback = Callable[[TrainingProgress], None]


@dataclass
class TrainedClassifier:
    """A trained model (plain, LoRA merged in), its tokenizer, and what happened during training."""

    model: torch.nn.Module
    tokenizer: object
    summary: dict = field(default_factory=dict)
    calibration: dict | None = None  # {"temperature": T, ...}; None: the version has none (raw softmax)

    def save(self, directory: Path) -> None:
        """Write weights (model.safetensors), config with label maps, the tokenizer and calibration.json."""
        self.model.save_pretrained(directory, safe_serialization=True)
        self.tokenizer.save_pretrained(directory)
        if self.calibration is not None:
            write_calibration(directory, self.calibration)


def split_validation(
    examples: Sequence[TrainingExample], fraction: float, seed: int
) -> tuple[list[TrainingExample], list[TrainingExample]]:
    """Carve a stratified validation slice out of the training examples (deterministic for a seed)."""
    rng = random.Random(seed)
    train: list[TrainingExample] = []
    validation: list[TrainingExample] = []
    for label in LABELS:
        group = [e for e in examples if e.label == label]
        rng.shuffle(group)
        cut = int(round(len(group) * fraction)) if len(group) >= 5 else 0
        validation.extend(group[:cut])
        train.extend(group[cut:])
    return train, validation


def length_bucketed_batches(lengths: Sequence[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Indices grouped into batches of similar length (less padding), in a seeded random order."""
    order = list(range(len(lengths)))
    rng.shuffle(order)
    pool = batch_size * 8
    batches: list[list[int]] = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool], key=lambda i: lengths[i])
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


@contextmanager
def deterministic_torch(seed: int, threads: int) -> Iterator[torch.device]:
    """Seed torch, pin the thread count and (on CPU) require deterministic kernels; restore on exit."""
    previous_threads = torch.get_num_threads()
    previous_deterministic = torch.are_deterministic_algorithms_enabled()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(seed)
    torch.set_num_threads(choose_threads(threads))
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True)
    try:
        yield device
    finally:
        torch.use_deterministic_algorithms(previous_deterministic)
        torch.set_num_threads(previous_threads)


def load_base_classifier(base_path: Path | None = None, pooling: str = "cls") -> tuple[torch.nn.Module, object]:
    """The base encoder with a fresh three-label head, and its tokenizer, from local files only."""
    return new_tone_classifier(base_path or base_model_path(), pooling)


def _encoder_names(model: torch.nn.Module) -> list[str]:
    """Names of the parameters that come from the base encoder (everything but the fresh head)."""
    return [name for name, _ in model.named_parameters() if not name.startswith("classifier")]


def interpolate_toward(model: torch.nn.Module, base_state: dict[str, torch.Tensor], alpha: float) -> None:
    """WiSE-FT: every base-encoder parameter becomes alpha * its fine-tuned value + (1 - alpha) * its base value."""
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name in base_state:
                parameter.mul_(alpha).add_(base_state[name].to(parameter.device), alpha=1.0 - alpha)


def _with_lora(model: torch.nn.Module, config: TrainConfig) -> torch.nn.Module:
    from peft import LoraConfig, TaskType, get_peft_model

    lora = LoraConfig(
        task_type=TaskType.SEQ_CLS,
        r=config.lora_rank,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=["query", "key", "value", "dense"],
    )
    with warnings.catch_warnings():
        # peft 0.21 still calls a transformers 5 alias that warns; nothing for us to change.
        warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)
        return get_peft_model(model, lora)


def _encode(tokenizer, texts: Sequence[str], max_length: int) -> list[list[int]]:
    return tokenizer(list(texts), truncation=True, max_length=max_length)["input_ids"]


def _pad(tokenizer, ids: list[list[int]], device: torch.device) -> dict[str, torch.Tensor]:
    batch = tokenizer.pad({"input_ids": ids}, return_tensors="pt")
    return {k: v.to(device) for k, v in batch.items()}


@torch.inference_mode()
def predict_logits(
    model: torch.nn.Module, tokenizer, texts: Sequence[str], max_length: int = 128, batch_size: int = 64
) -> torch.Tensor:
    """Raw logits [len(texts), 3] for `texts` (length-sorted batches, dynamic padding)."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    encoded = _encode(tokenizer, texts, max_length) if texts else []
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    output = torch.zeros(len(encoded), len(LABELS))
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        output[chunk] = model(**_pad(tokenizer, [encoded[i] for i in chunk], device)).logits.float().cpu()
    model.train(was_training)
    return output


def predict_labels(
    model: torch.nn.Module, tokenizer, texts: Sequence[str], max_length: int = 128, batch_size: int = 64
) -> list[str]:
    """Argmax labels for `texts`; used for validation and eval."""
    logits = predict_logits(model, tokenizer, texts, max_length, batch_size)
    return [LABELS[i] for i in logits.argmax(dim=-1).tolist()]


def fit_calibration(model: torch.nn.Module, tokenizer, examples: Sequence, max_length: int = 128) -> dict | None:
    """Temperature fitted on labelled passages (the validation slice), with ECE/NLL before and after; None if empty."""
    if not examples:
        return None
    logits = predict_logits(model, tokenizer, [e.text for e in examples], max_length).numpy()
    labels = [LABEL2ID[e.label] for e in examples]
    return {**calibration_summary(logits, labels, fit_temperature(logits, labels)), "fitted_on": "validation"}


def evaluate_classifier(model: torch.nn.Module, tokenizer, examples: Sequence, max_length: int = 128) -> ClassificationMetrics:
    """Macro-F1, per-class F1 and confusion matrix of the model on labelled passages (anything with .text/.label)."""
    predicted = predict_labels(model, tokenizer, [e.text for e in examples], max_length)
    return classification_metrics([e.label for e in examples], predicted)


def train_classifier(
    examples: Sequence[TrainingExample],
    config: TrainConfig = TrainConfig(),
    *,
    validation: Sequence[TrainingExample] | None = None,
    progress: ProgressCallback | None = None,
    base_path: Path | None = None,
) -> TrainedClassifier:
    """Fine-tune the base encoder on weighted examples; early-stop on `validation` (default: a slice of them)."""
    _check_examples(examples)
    if validation is None:
        train_set, validation_set = split_validation(examples, config.validation_fraction, config.seed)
    else:
        train_set, validation_set = list(examples), list(validation)
    started = time.perf_counter()
    with deterministic_torch(config.seed, config.threads) as device:
        model, tokenizer = load_base_classifier(base_path, config.pooling)
        anchor_names = set(_encoder_names(model)) if config.l2sp or config.wise_alpha < 1.0 else set()
        base_state = {n: p.detach().clone() for n, p in model.named_parameters() if n in anchor_names}
        if config.method == "lora":
            model = _with_lora(model, config)
        model.to(device)
        trainable = [p for p in model.parameters() if p.requires_grad]
        learning_rate = config.lora_learning_rate if config.method == "lora" else config.learning_rate
        optimizer = torch.optim.AdamW(trainable, lr=learning_rate, weight_decay=config.weight_decay)
        encoded = _encode(tokenizer, [e.text for e in train_set], config.max_length)
        labels = torch.tensor([LABEL2ID[e.label] for e in train_set])
        weights = torch.tensor([float(e.weight) for e in train_set])
        rng = random.Random(config.seed)
        steps_per_epoch = math.ceil(len(train_set) / config.batch_size)
        total_steps = steps_per_epoch * config.max_epochs
        scheduler = get_linear_schedule_with_warmup(optimizer, int(total_steps * config.warmup_ratio), total_steps)
        loss_fn = torch.nn.CrossEntropyLoss(reduction="none", label_smoothing=config.label_smoothing)
        anchored = [(p, base_state[n].to(device)) for n, p in model.named_parameters() if n in base_state] if config.l2sp else []
        stopping, step = EarlyStopping(config.patience), 0
        history: list[dict] = []
        for epoch in range(1, config.max_epochs + 1):
            model.train()
            epoch_loss = 0.0
            for batch in length_bucketed_batches([len(x) for x in encoded], config.batch_size, rng):
                inputs = _pad(tokenizer, [encoded[i] for i in batch], device)
                logits = model(**inputs).logits
                per_example = loss_fn(logits, labels[batch].to(device)) * weights[batch].to(device)
                loss = per_example.sum() / weights[batch].sum().clamp_min(1e-8).to(device)
                if anchored:
                    loss = loss + config.l2sp * sum(((p - p0) ** 2).sum() for p, p0 in anchored)
                loss.backward()
                clip_grad_norm_(trainable, 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                epoch_loss += loss.item()
                if progress:
                    progress(TrainingProgress(epoch, step, total_steps, loss.item()))
            validation_f1 = (
                evaluate_classifier(model, tokenizer, validation_set, config.max_length).macro_f1 if validation_set else 0.0
            )
            history.append({"epoch": epoch, "loss": round(epoch_loss / steps_per_epoch, 4), "validation_f1": validation_f1})
            if progress:
                progress(TrainingProgress(epoch, step, total_steps, epoch_loss / steps_per_epoch, validation_f1))
            if stopping.should_stop(model, epoch, validation_f1):
                break
        stopping.restore_best(model)
        trainable_count = sum(p.numel() for p in trainable)
        if config.method == "lora":
            model = model.merge_and_unload()
        if config.wise_alpha < 1.0:
            interpolate_toward(model, base_state, config.wise_alpha)
        model.to("cpu").eval()
        calibration = fit_calibration(model, tokenizer, validation_set, config.max_length)
    summary = {
        "config": asdict(config),
        "device": device.type,
        "train_examples": len(train_set),
        "validation_examples": len(validation_set),
        "trainable_parameters": trainable_count,
        "epochs_run": len(history),
        "best_epoch": stopping.best_epoch,
        "best_validation_f1": stopping.best_f1,
        "history": history,
        "calibration": calibration,
        "seconds": round(time.perf_counter() - started, 1),
    }
    return TrainedClassifier(model=model, tokenizer=tokenizer, summary=summary, calibration=calibration)


def interpolate_trained(
    fine_tuned: tuple[torch.nn.Module, object],
    examples: Sequence[TrainingExample],
    config: TrainConfig,
    *,
    summary: dict,
    base_path: Path | None = None,
) -> TrainedClassifier:
    """What `train_classifier(examples, config)` returns for a WiSE-FT recipe, from the same recipe's alpha-1 model.

    Training is deterministic and the interpolation only happens after it, so the weights are the same as a
    fresh run's; only the interpolation and the calibration on the same validation slice are redone.
    """
    started = time.perf_counter()
    model, tokenizer = fine_tuned
    base, _ = load_base_classifier(base_path, config.pooling)
    names = set(_encoder_names(base))
    interpolate_toward(model, {n: p.detach() for n, p in base.named_parameters() if n in names}, config.wise_alpha)
    model.eval()
    _, validation_set = split_validation(examples, config.validation_fraction, config.seed)
    calibration = fit_calibration(model, tokenizer, validation_set, config.max_length)
    derived = {**summary, "config": asdict(config), "calibration": calibration,
               "seconds": round(summary.get("seconds", 0.0) + time.perf_counter() - started, 1)}
    return TrainedClassifier(model=model, tokenizer=tokenizer, summary=derived, calibration=calibration)


def _check_examples(examples: Sequence[TrainingExample]) -> None:
    if not examples:
        raise ValueError("no training examples")
    for number, example in enumerate(examples, start=1):
        if example.label not in LABEL2ID:
            raise ValueError(f"example {number}: unknown label {example.label!r}")
        if not (example.weight >= 0 and math.isfinite(example.weight)):
            raise ValueError(f"example {number}: weight must be a finite number >= 0")
