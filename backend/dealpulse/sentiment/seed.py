"""The default model version: fine-tuned from the base package on the team's seed corpus, built once and cached."""

from __future__ import annotations

import fcntl
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

from ..config import Settings
from ..store.database import Database
from .corpus import SeedCorpus, load_seed_corpus
from .onnx_export import ensure_onnx_int8
from .registry import (
    ToneModelNotReady,
    active_row,
    is_complete,
    promote,
    read_json,
    register_version,
    seed_version_id,
    version_dir,
    write_version,
)
from .modeling import load_tone_classifier
from .trainer import (
    ProgressCallback,
    TrainConfig,
    TrainedClassifier,
    TrainingExample,
    evaluate_classifier,
    interpolate_trained,
    recipe_hash,
    train_classifier,
)

# The recipes compared in models/sentiment/README.md ("Choosing the recipe"); `dealpulse train --from-seed
# --recipe NAME` builds any of them as a candidate version. DEFAULT_RECIPE is the seed every install builds.
RECIPES: dict[str, TrainConfig] = {
    "v1-cls-8e-5": TrainConfig(),
    "cls-3e-5-3ep": TrainConfig(learning_rate=3e-5, max_epochs=3),
    "mean-5e-5": TrainConfig(pooling="mean", learning_rate=5e-5),
    "cls-l2sp": TrainConfig(l2sp=0.01),
    "lora": TrainConfig(method="lora"),
    "cls-8e-5-2ep": TrainConfig(max_epochs=2),
    "mean-8e-5-2ep": TrainConfig(pooling="mean", max_epochs=2),
    "v1-wise-0.5": TrainConfig(wise_alpha=0.5),
    "v1-wise-0.7": TrainConfig(wise_alpha=0.7),
    "v1-wise-0.85": TrainConfig(wise_alpha=0.85),
    "mean-8e-5-2ep-wise-0.8": TrainConfig(pooling="mean", max_epochs=2, wise_alpha=0.8),
    "mean-8e-5-2ep-wise-0.6": TrainConfig(pooling="mean", max_epochs=2, wise_alpha=0.6),
    "mean-8e-5-3ep": TrainConfig(pooling="mean", max_epochs=3),
}
# Chosen in models/sentiment/README.md ("Choosing the recipe"): best on the real-writing eval and on the corpus eval.
DEFAULT_RECIPE = "mean-8e-5-2ep"
SEED_CONFIG = RECIPES[DEFAULT_RECIPE]


@dataclass(frozen=True)
class SeedBuild:
    """What `build_seed_version` did: the version, its folder, eval metrics, and whether it trained or reused."""

    version: str
    path: Path
    metrics: dict
    trained: bool
    activated: bool


@contextmanager
def _build_lock(model_dir: Path) -> Iterator[None]:
    """One seed build at a time across processes (a web worker and the CLI may both need it)."""
    model_dir.mkdir(parents=True, exist_ok=True)
    with open(model_dir / ".seed-build.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_seed_version(
    settings: Settings,
    db: Database,
    *,
    corpus: SeedCorpus | None = None,
    config: TrainConfig = SEED_CONFIG,
    progress: ProgressCallback | None = None,
    base_path: Path | None = None,
) -> SeedBuild:
    """Train (or reuse, when its folder is complete) the seed version of the current corpus; register it globally.

    It becomes the global active version when there is none.
    """
    corpus = corpus or load_seed_corpus()
    if config.threads == 0 and settings.torch_threads:
        # DEALPULSE_TORCH_THREADS: on shared cores one thread per process wastes far less time waiting on the other.
        config = replace(config, threads=settings.torch_threads)
    version = seed_version_id(corpus.sha256, recipe_hash(config))
    model_dir = Path(settings.model_dir)
    path = version_dir(model_dir, version)
    with _build_lock(model_dir):
        trained = not is_complete(path)
        if trained:
            examples = [TrainingExample(p.text, p.label) for p in corpus.train]
            result = _from_uninterpolated(model_dir, corpus, examples, config, base_path) or train_classifier(
                examples, config, progress=progress, base_path=base_path
            )
            metrics = {"seed_eval": evaluate_classifier(result.model, result.tokenizer, corpus.eval, config.max_length).as_dict()}
            info = {
                "method": config.method,
                "recipe": recipe_name(config),
                "recipe_hash": recipe_hash(config),
                "data_hash": corpus.sha256,
                "seed": config.seed,
                "corpus": {"train": len(corpus.train), "eval": len(corpus.eval)},
                "summary": result.summary,
            }
            write_version(model_dir, version, result, info, metrics)
            ensure_onnx_int8(path)
        metrics, info = read_json(path, "metrics.json"), read_json(path, "training.json")
    with db.uow() as uow:
        register_version(
            uow,
            org_id=None,
            version=version,
            method="seed" if info.get("method") == "full" else f"seed-{info.get('method', 'full')}",
            data_hash=info.get("data_hash", corpus.sha256),
            metrics=metrics,
            training_summary=info.get("summary", {}),
        )
        activated = active_row(uow, None) is None
        if activated:
            promote(uow, model_dir, None, version, reason="first seed version")
        uow.commit()
    return SeedBuild(version=version, path=path, metrics=metrics, trained=trained, activated=activated)


def ensure_seed_model(
    settings: Settings, db: Database, progress: ProgressCallback | None = None, *, build: bool = True
) -> str:
    """The global active version, building the seed version first when there is none (or its folder is gone).

    With `build` False, a seed that would have to be trained raises ToneModelNotReady instead.
    """
    with db.uow() as uow:
        row = active_row(uow, None)
        if row is not None and is_complete(version_dir(settings.model_dir, row.version)):
            return row.version
    if not build and not is_complete(version_dir(settings.model_dir, current_seed_version())):
        raise ToneModelNotReady("the tone model is not built yet; a worker or `dealpulse train --from-seed` builds it")
    built = build_seed_version(settings, db, progress=progress)
    with db.uow() as uow:
        row = active_row(uow, None)
        if row is None or not is_complete(version_dir(settings.model_dir, row.version)):
            promote(uow, settings.model_dir, None, built.version, reason="active seed folder missing; rebuilt")
            uow.commit()
            return built.version
        return row.version


def _from_uninterpolated(
    model_dir: Path, corpus: SeedCorpus, examples: list[TrainingExample], config: TrainConfig, base_path: Path | None
) -> TrainedClassifier | None:
    """A WiSE-FT recipe's model from its already built alpha-1 twin (minutes of training saved), else None."""
    if config.wise_alpha >= 1.0:
        return None
    twin = version_dir(model_dir, seed_version_id(corpus.sha256, recipe_hash(replace(config, wise_alpha=1.0))))
    if not is_complete(twin):
        return None
    summary = {**read_json(twin, "training.json").get("summary", {}), "interpolated_from": twin.name}
    return interpolate_trained(load_tone_classifier(twin), examples, config, summary=summary, base_path=base_path)


def recipe_name(config: TrainConfig) -> str:
    """The name of a recipe in RECIPES ("custom" for any other config)."""
    return next((name for name, known in RECIPES.items() if recipe_hash(known) == recipe_hash(config)), "custom")


def current_seed_version(corpus: SeedCorpus | None = None) -> str:
    """The version id the default recipe builds from the current corpus."""
    return seed_version_id((corpus or load_seed_corpus()).sha256, recipe_hash(SEED_CONFIG))
