"""The default model version: fine-tuned from the base package on the team's seed corpus, built once and cached."""

from __future__ import annotations

import fcntl
from contextlib import contextmanager
from dataclasses import asdict, dataclass
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
from .trainer import ProgressCallback, TrainConfig, TrainingExample, evaluate_classifier, train_classifier

SEED_CONFIG = TrainConfig()


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
    version = seed_version_id(corpus.sha256)
    model_dir = Path(settings.model_dir)
    path = version_dir(model_dir, version)
    with _build_lock(model_dir):
        trained = not is_complete(path)
        if trained:
            examples = [TrainingExample(p.text, p.label) for p in corpus.train]
            result = train_classifier(examples, config, progress=progress, base_path=base_path)
            metrics = {"seed_eval": evaluate_classifier(result.model, result.tokenizer, corpus.eval, config.max_length).as_dict()}
            info = {
                "method": config.method,
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
    if not build and not is_complete(version_dir(settings.model_dir, seed_version_id(load_seed_corpus().sha256))):
        raise ToneModelNotReady("the tone model is not built yet; a worker or `dealpulse train --from-seed` builds it")
    built = build_seed_version(settings, db, progress=progress)
    with db.uow() as uow:
        row = active_row(uow, None)
        if row is None or not is_complete(version_dir(settings.model_dir, row.version)):
            promote(uow, settings.model_dir, None, built.version, reason="active seed folder missing; rebuilt")
            uow.commit()
            return built.version
        return row.version


def seed_config_dict() -> dict:
    """The seed recipe as a dict (model card, `dealpulse train` output)."""
    return asdict(SEED_CONFIG)

