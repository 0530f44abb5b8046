"""Training runs as rows: queueing one, marking it running, tracking its progress for the admin page, listing
recent runs, and the automatic trigger (enough new ratings, at most nightly)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import func, select

from ..store import Rating, TrainingRun, utcnow
from ..store.database import Database
from ..store.uow import UnitOfWork

AUTO_RETRAIN_INTERVAL = timedelta(hours=24)

Progress = Callable[[str, float], None]  # (message, fraction 0..1)


def start_run(db: Database, org_id: int, trigger: str, run_id: int | None) -> int:
    """Mark the queued run `run_id` (or a new one) as running; returns its id."""
    with db.uow() as uow:
        run = uow.s.get(TrainingRun, run_id) if run_id is not None else None
        if run is None:
            run = TrainingRun(org_id=org_id, trigger=trigger)
            uow.s.add(run)
        run.status, run.started_at, run.progress, run.message = "running", utcnow(), 0.0, "starting"
        uow.commit()
        return run.id


class RunTracker:
    """Progress to the caller (CLI bar) and, at most every two seconds, to the TrainingRun row (admin page)."""

    def __init__(self, db: Database, run_id: int, progress: Progress | None):
        self.db, self.run_id, self.progress, self._saved = db, run_id, progress, 0.0

    def __call__(self, message: str, fraction: float) -> None:
        if self.progress:
            self.progress(message, fraction)
        now = time.monotonic()
        if now - self._saved >= 2.0:
            self._saved = now
            self._update(progress=round(fraction, 3), message=message[:500])

    def finish(self, report: dict) -> None:
        """The run is done: `report` is the TrainingReport as a dict (version, promoted, reason ...)."""
        self._update(status="done", progress=1.0, message=report["reason"][:500], candidate_version=report["version"],
                     promoted=report["promoted"], report=report, finished_at=utcnow())

    def fail(self, exc: Exception) -> None:
        """The run failed with `exc`."""
        self._update(status="failed", message=f"{exc.__class__.__name__}: {exc}"[:500], finished_at=utcnow())

    def _update(self, **values: object) -> None:
        with self.db.uow() as uow:
            run = uow.s.get(TrainingRun, self.run_id)
            for name, value in values.items():
                setattr(run, name, value)
            uow.commit()


def queue_run(uow: UnitOfWork, org_id: int, trigger: str) -> TrainingRun:
    """A queued TrainingRun row (the task picks it up); the caller commits."""
    run = TrainingRun(org_id=org_id, trigger=trigger, status="queued", message="queued")
    uow.s.add(run)
    uow.s.flush()
    return run


def new_ratings_since_last_run(uow: UnitOfWork, org_id: int) -> tuple[int, datetime | None]:
    """Ratings created or changed since the organisation's last training run started, and when that was."""
    last = uow.s.scalar(select(func.max(TrainingRun.created_at)).where(TrainingRun.org_id == org_id))
    query = select(func.count(Rating.id)).where(Rating.org_id == org_id)
    if last is not None:
        query = query.where(Rating.updated_at > last)
    return int(uow.s.scalar(query) or 0), last


def should_retrain(uow: UnitOfWork, org_id: int, threshold: int, now: datetime | None = None) -> bool:
    """Enough new ratings (`threshold`, > 0) and no run in the last day: the automatic trigger, at most nightly."""
    if threshold <= 0:
        return False
    count, last = new_ratings_since_last_run(uow, org_id)
    if count < threshold:
        return False
    now = now or utcnow()
    return last is None or now - _naive(last) >= AUTO_RETRAIN_INTERVAL - timedelta(minutes=5)


def _naive(value: datetime) -> datetime:
    return value.replace(tzinfo=None) if value.tzinfo is not None and utcnow().tzinfo is None else value


def training_runs(uow: UnitOfWork, org_id: int, limit: int = 20) -> list[dict]:
    """The organisation's recent training runs, newest first."""
    query = select(TrainingRun).where(TrainingRun.org_id == org_id).order_by(TrainingRun.id.desc()).limit(limit)
    return [run_as_dict(run) for run in uow.s.scalars(query)]


def run_as_dict(run: TrainingRun) -> dict:
    """A training run as the API returns it."""
    return {"id": run.id, "status": run.status, "trigger": run.trigger, "progress": run.progress, "message": run.message,
            "candidate_version": run.candidate_version, "promoted": run.promoted,
            "created_at": run.created_at.isoformat(), "finished_at": run.finished_at.isoformat() if run.finished_at else None}
