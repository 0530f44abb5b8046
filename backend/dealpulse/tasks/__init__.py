"""Background work on Huey: SQLite storage under var/ by default, Redis when DEALPULSE_BROKER_URL says so.

Three queues: the default one (sync, alerts, webhooks, sweeps — latency-sensitive, no model), the scoring one (only its
workers load the tone model) and the training one (model training, so a long training run never holds up scoring). Task modules are thin wrappers over services; importing this package
declares every task, and `build_queues(settings)` builds the queues and registers them (see `queue`).
"""

from __future__ import annotations

from . import alerts, forecasting, privacy, scoring, sync, training
from .queue import Queues, QueuesNotBuilt, build_queues, current_queues, forget_queues, queues_for

__all__ = ["Queues", "QueuesNotBuilt", "alerts", "build_queues", "current_queues", "forecasting", "forget_queues", "privacy", "queues_for",
           "scoring", "sync", "training"]
