"""Forecast data in the background: the daily pipeline snapshot and the win-probability model's training.

`snapshot_pipelines` runs at 00:05 UTC (claimed once per deployment like every periodic task) and stores each
organisation's pipeline as it stood at the start of the day. `retrain_win_models` checks once a day, after it,
which organisations have enough closed deals and new ones since their model, and trains those on the training queue.
"""

from __future__ import annotations

from sqlalchemy import select

from ..runtime import get_database, get_settings
from ..services.deal_history import write_snapshot
from ..services.win_model import needs_training, train_win_model
from ..store import Organisation, utcnow
from .queue import Cron, TRAINING, periodic_task, task


@periodic_task(Cron(minute="5", hour="0"))
def snapshot_pipelines() -> int:
    """Store today's pipeline snapshot of every organisation; returns the deals stored."""
    db = get_database()
    today = utcnow().date()
    with db.uow() as uow:
        org_ids = list(uow.s.scalars(select(Organisation.id).order_by(Organisation.id)))
    stored = 0
    for org_id in org_ids:
        with db.uow() as uow:
            stored += write_snapshot(uow, org_id, today)
    return stored


@task(TRAINING)
def train_win_model_for(org_id: int) -> dict:
    """Train the organisation's win-probability model (or say why not); returns the outcome."""
    settings = get_settings()
    with get_database().uow() as uow:
        return train_win_model(uow, settings.model_dir, org_id, settings.win_model_min_closed).as_dict()


@periodic_task(Cron(minute="35", hour="0"))
def retrain_win_models() -> list[int]:
    """Queue a training run for every organisation whose closed deals grew past its model; returns their ids."""
    settings = get_settings()
    with get_database().uow() as uow:
        org_ids = list(uow.s.scalars(select(Organisation.id).order_by(Organisation.id)))
        due = [org for org in org_ids if needs_training(uow.s, org, settings.win_model_min_closed)]
    for org_id in due:
        train_win_model_for(org_id)
    return due
