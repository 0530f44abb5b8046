"""Background work on Huey: SQLite storage under var/ by default, Redis when DEALPULSE_BROKER_URL says so.

Two queues: `huey` (sync, scoring, alerts — latency-sensitive) and `training_huey` (model training, so a long
training run never holds up scoring). Task modules are thin wrappers over services and register themselves on
import; `load_task_modules()` imports them all (the worker does this).
"""

from __future__ import annotations

import importlib
from pathlib import Path

from huey import Huey, RedisHuey, SqliteHuey

from ..config import Settings
from ..runtime import get_settings

TASK_MODULES: list[str] = [
    # each area adds its module here, e.g. "dealpulse.tasks.sync"
    "dealpulse.tasks.scoring",
    "dealpulse.tasks.sync",
    "dealpulse.tasks.alerts",
    "dealpulse.tasks.training",
]


def make_huey(settings: Settings, name: str) -> Huey:
    """A Huey instance named `name` on the configured broker."""
    if settings.broker_url.startswith(("redis://", "rediss://", "unix://")):
        return RedisHuey(name, url=settings.broker_url, results=True, utc=True)
    if settings.broker_url and not settings.broker_url.startswith("sqlite"):
        raise ValueError(f"DEALPULSE_BROKER_URL={settings.broker_url!r}: use redis://... or leave it unset for SQLite")
    filename = settings.broker_url.removeprefix("sqlite:///") if settings.broker_url else ""
    path = Path(filename) if filename else Path(settings.var_dir) / f"{name}.tasks.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    return SqliteHuey(name, filename=str(path), results=True, utc=True)


huey = make_huey(get_settings(), "dealpulse")
training_huey = make_huey(get_settings(), "dealpulse-training")


def load_task_modules() -> None:
    """Import every task module so its tasks are registered with the consumers."""
    for module in TASK_MODULES:
        importlib.import_module(module)
