"""Model training on its own queue (`dealpulse worker --queue training`), so scoring keeps serving meanwhile.

`train_organisation` runs one queued TrainingRun; `retrain_when_ratings_accumulate` checks every hour whether an
organisation has gathered `DEALPULSE_RETRAIN_AFTER_RATINGS` new ratings since its last run, at most once a day. That
check is cheap and runs where periodic tasks are scheduled (the default queue); the runs it queues go to the training
queue.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from ..runtime import get_database, get_settings
from ..services.training import TrainingError, train_org_version
from ..services.training_runs import queue_run, should_retrain
from ..store import Rating
from .queue import Cron, TRAINING, periodic_task, task
from .scoring import queue_rescore

log = logging.getLogger(__name__)


@task(TRAINING)
def train_organisation(org_id: int, run_id: int, trigger: str = "api") -> dict:
    """Train a candidate for the organisation and decide on it; returns the report (or the reason it could not)."""
    try:
        return train_org_version(get_settings(), get_database(), org_id, trigger=trigger, run_id=run_id,
                                 rescore=queue_rescore).as_dict()
    except TrainingError as exc:
        log.info("training run %s for organisation %s did not start: %s", run_id, org_id, exc)
        return {"run_id": run_id, "error": str(exc)}


def queue_training(org_id: int, trigger: str) -> int:
    """Record a queued run and hand it to the training queue; returns the run id."""
    db = get_database()
    with db.uow() as uow:
        run = queue_run(uow, org_id, trigger)
        uow.commit()
        run_id = run.id
    train_organisation(org_id, run_id, trigger)
    return run_id


@periodic_task(Cron(minute="17"))
def retrain_when_ratings_accumulate() -> list[int]:
    """Queue a run for every organisation with enough new ratings and no run in the last day; returns their ids."""
    settings = get_settings()
    db = get_database()
    with db.uow() as uow:
        org_ids = list(uow.s.scalars(select(Rating.org_id).distinct()))
        due = [org for org in org_ids if should_retrain(uow, org, settings.retrain_after_ratings)]
    for org_id in due:
        queue_training(org_id, "auto")
    return due
