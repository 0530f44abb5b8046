"""Model versions: folders under <model_dir>/<version>/, rows in model_versions, the active one per organisation.

An organisation uses its own active version, or else the global (org_id NULL) active version, which is the seed
model built from the team's corpus. Promotion retires the previous active version; rollback rejects the current
one and restores the version that was active before it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from ..store import ModelVersion, utcnow
from .base_model import quiet_transformers
from ..store.uow import UnitOfWork

REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer.json", "training.json")


class RegistryError(ValueError):
    """A version is unknown, incomplete, or the requested change is impossible; the message says which."""


class ToneModelNotReady(RuntimeError):
    """No tone model version is built yet, and the caller cannot wait minutes for one (a web request)."""


def version_dir(model_dir: Path, version: str) -> Path:
    """The folder of `version` in the registry at `model_dir`."""
    if not version or "/" in version or version.startswith("."):
        raise RegistryError(f"invalid version id {version!r}")
    return Path(model_dir) / version


def is_complete(path: Path) -> bool:
    """Whether a version folder holds everything the scorer needs."""
    return all((Path(path) / name).is_file() for name in REQUIRED_FILES)


def seed_version_id(data_hash: str, recipe_hash: str) -> str:
    """The version id of the seed model built from corpus files and a training recipe with these hashes."""
    return f"seed-{data_hash[:8]}-{recipe_hash[:6]}"


def new_version_id(org_id: int, data_hash: str, now: datetime | None = None) -> str:
    """A version id for an organisation's trained model: org<id>-<YYYYmmddHHMMSS>-<hash8>."""
    stamp = (now or utcnow()).strftime("%Y%m%d%H%M%S")
    return f"org{org_id}-{stamp}-{data_hash[:8]}"


def hash_examples(rows: list[tuple[str, str, float]]) -> str:
    """A stable SHA-256 of training examples (text, label, weight), for versions trained on ratings."""
    digest = hashlib.sha256()
    for text, label, weight in rows:
        digest.update(json.dumps([text, label, round(float(weight), 6)]).encode("utf-8") + b"\n")
    return digest.hexdigest()


def write_version(model_dir: Path, version: str, trained: Any, training_info: dict, metrics: dict) -> Path:
    """Save a trained classifier with its metrics.json and training.json, atomically (temp folder, then rename)."""
    target = version_dir(model_dir, version)
    Path(model_dir).mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{version}.", dir=model_dir))
    try:
        staging.chmod(0o755)  # mkdtemp makes it private; web and worker processes must read it
        with quiet_transformers():
            trained.save(staging)
        for file in staging.iterdir():
            file.chmod(0o644)
        (staging / "metrics.json").write_text(json.dumps(metrics, indent=2, sort_keys=True), encoding="utf-8")
        info = {**training_info, "version": version}
        (staging / "training.json").write_text(json.dumps(info, indent=2, sort_keys=True), encoding="utf-8")
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def read_json(path: Path, name: str) -> dict:
    """metrics.json or training.json of a version folder ({} when absent)."""
    file = Path(path) / name
    return json.loads(file.read_text(encoding="utf-8")) if file.is_file() else {}


def find_version(uow: UnitOfWork, org_id: int | None, version: str) -> ModelVersion | None:
    """The row of `version` for the organisation (org_id None = the global versions)."""
    query = select(ModelVersion).where(ModelVersion.version == version)
    query = query.where(ModelVersion.org_id.is_(None) if org_id is None else ModelVersion.org_id == org_id)
    return uow.s.scalar(query)


def register_version(
    uow: UnitOfWork,
    *,
    org_id: int | None,
    version: str,
    method: str,
    data_hash: str,
    metrics: dict,
    training_summary: dict,
    parent_version: str | None = None,
    status: str = "candidate",
    decision_reason: str = "",
) -> ModelVersion:
    """Add (or refresh) the row of a version written with `write_version`; the caller commits."""
    row = find_version(uow, org_id, version)
    if row is None:
        row = ModelVersion(org_id=org_id, version=version)
        uow.s.add(row)
    row.method, row.data_hash, row.metrics = method, data_hash, metrics
    row.training_summary, row.parent_version = training_summary, parent_version
    row.decision_reason = decision_reason or row.decision_reason
    if row.status != "active":
        row.status = status
    uow.s.flush()
    return row


def active_row(uow: UnitOfWork, org_id: int | None) -> ModelVersion | None:
    """The organisation's own active version (org_id None: the global one), without fallback."""
    query = select(ModelVersion).where(ModelVersion.status == "active")
    query = query.where(ModelVersion.org_id.is_(None) if org_id is None else ModelVersion.org_id == org_id)
    return uow.s.scalars(query.order_by(ModelVersion.promoted_at.desc(), ModelVersion.id.desc())).first()


def active_version(uow: UnitOfWork, org_id: int | None) -> ModelVersion | None:
    """The version that scores this organisation's mail: its own active one, else the global active one."""
    if org_id is not None:
        own = active_row(uow, org_id)
        if own is not None:
            return own
    return active_row(uow, None)


def list_versions(uow: UnitOfWork, org_id: int | None) -> list[ModelVersion]:
    """The organisation's versions and the global ones, newest first."""
    query = select(ModelVersion)
    if org_id is None:
        query = query.where(ModelVersion.org_id.is_(None))
    else:
        query = query.where((ModelVersion.org_id == org_id) | ModelVersion.org_id.is_(None))
    return list(uow.s.scalars(query.order_by(ModelVersion.created_at.desc(), ModelVersion.id.desc())))


def promote(uow: UnitOfWork, model_dir: Path, org_id: int | None, version: str, reason: str = "") -> ModelVersion:
    """Make `version` the organisation's active version (its files must exist); the previous one is retired."""
    row = find_version(uow, org_id, version)
    if row is None:
        scope = "the global versions" if org_id is None else f"organisation {org_id}"
        raise RegistryError(f"unknown version {version!r} for {scope}: see `dealpulse models list`")
    if not is_complete(version_dir(model_dir, version)):
        raise RegistryError(f"version {version!r} has no complete folder under {model_dir}")
    current = active_row(uow, org_id)
    if current is not None and current.id == row.id:
        return row
    if current is not None:
        current.status = "retired"
    row.status = "active"
    row.promoted_at = utcnow()
    row.decision_reason = reason or row.decision_reason or "promoted"
    uow.s.flush()
    return row


def rollback(uow: UnitOfWork, org_id: int | None) -> ModelVersion | None:
    """Reject the active version and restore the one active before it; returns the version now in use."""
    current = active_row(uow, org_id)
    if current is None:
        raise RegistryError("there is no active version to roll back")
    query = select(ModelVersion).where(ModelVersion.status == "retired", ModelVersion.promoted_at.is_not(None))
    query = query.where(ModelVersion.org_id.is_(None) if org_id is None else ModelVersion.org_id == org_id)
    previous = uow.s.scalars(query.order_by(ModelVersion.promoted_at.desc(), ModelVersion.id.desc())).first()
    if previous is None and org_id is None:
        raise RegistryError(f"{current.version} is the only global version that was ever active: nothing to restore")
    current.status = "rejected"
    current.decision_reason = f"rolled back at {utcnow().isoformat(timespec='seconds')}"
    if previous is not None:
        previous.status = "active"
        previous.promoted_at = utcnow()
        previous.decision_reason = f"restored by rollback of {current.version}"
    uow.s.flush()
    return active_version(uow, org_id)
