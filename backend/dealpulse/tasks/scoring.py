"""Background scoring on its own queue (so only scoring workers load the model): new activities as capture stores
them, and a sweep every five minutes."""

from __future__ import annotations

from ..runtime import get_database, get_scorers
from ..services.scoring import SWEEP_LIMIT, rescore_after_promotion, score_activities, score_pending
from .queue import SCORING, Cron, periodic_task, task

BATCH = 64


@task(SCORING)
def score_new_activities(activity_ids: list[int]) -> int:
    """Score freshly captured activities (capture enqueues this); returns how many got a new score."""
    ids = list(activity_ids)
    scorers = get_scorers()
    scored = 0
    for start in range(0, len(ids), BATCH):
        with get_database().uow() as uow:
            scored += score_activities(uow, ids[start : start + BATCH], scorers=scorers).scored
    return scored


@periodic_task(Cron(minute="*/5"), SCORING)
def sweep_unscored_activities() -> int:
    """Score anything missing a score from its organisation's active version (after promotions, missed tasks)."""
    with get_database().uow() as uow:
        return score_pending(uow, limit=SWEEP_LIMIT, scorers=get_scorers()).scored


@task(SCORING)
def rescore_for_org(org_id: int | None) -> int:
    """After a promotion or rollback: score every email of the organisation (all, for None) with the new version."""
    with get_database().uow() as uow:
        return rescore_after_promotion(uow, org_id, scorers=get_scorers())


def queue_scoring(activity_ids: list[int]) -> None:
    """Queue scoring of newly stored activities (what sync hands its `queue_scoring`)."""
    score_new_activities(list(activity_ids))


def queue_rescore(org_id: int | None) -> None:
    """Queue the re-score sweep after a promotion or rollback (what training hands its `rescore`)."""
    rescore_for_org(org_id)
