"""Background scoring: new activities as soon as capture stores them, and a sweep every five minutes."""

from __future__ import annotations

from huey import crontab

from ..runtime import get_database
from ..services.scoring import SWEEP_LIMIT, rescore_after_promotion, score_activities, score_pending
from . import huey

BATCH = 64


@huey.task()
def score_new_activities(activity_ids: list[int]) -> int:
    """Score freshly captured activities (capture enqueues this); returns how many got a new score."""
    ids = list(activity_ids)
    scored = 0
    for start in range(0, len(ids), BATCH):
        with get_database().uow() as uow:
            scored += score_activities(uow, ids[start : start + BATCH]).scored
    return scored


@huey.periodic_task(crontab(minute="*/5"))
def sweep_unscored_activities() -> int:
    """Score anything missing a score from its organisation's active version (after promotions, missed tasks)."""
    with get_database().uow() as uow:
        return score_pending(uow, limit=SWEEP_LIMIT).scored


@huey.task()
def rescore_for_org(org_id: int | None) -> int:
    """After a promotion or rollback: score every email of the organisation (all, for None) with the new version."""
    with get_database().uow() as uow:
        return rescore_after_promotion(uow, org_id)
