"""Scoring activities: stored once per version, swept after a promotion, restored on rollback."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from dealpulse.sentiment.active import ActiveScorers
from dealpulse.sentiment.registry import promote, rollback
from dealpulse.services.scoring import pending_activity_ids, rescore_after_promotion, score_activities, score_pending
from dealpulse.store.sentiment import current_scores
from dealpulse.store import Activity, SentimentScore, utcnow

TEXTS = [
    "We have decided to go with another provider.",
    "Great news, the board approved the budget. We will sign this week.",
    "Can we move Thursday's call to 3pm?",
    "",
]


@pytest.fixture
def activity_ids(db, world) -> list[int]:
    """Three emails and a meeting of the test organisation, and one email of the other organisation."""
    now = utcnow()
    rows = [
        Activity(org_id=world.org_id, kind="email", direction="inbound", dedupe_key=f"mid:{i}@x", occurred_at=now - timedelta(hours=i), new_text=text)
        for i, text in enumerate(TEXTS)
    ]
    rows.append(Activity(org_id=world.org_id, kind="meeting", direction="inbound", dedupe_key="ical:1", occurred_at=now))
    rows.append(Activity(org_id=world.other_org_id, kind="email", direction="inbound", dedupe_key="mid:o@x", occurred_at=now, new_text=TEXTS[0]))
    with db.uow() as uow:
        uow.s.add_all(rows)
        uow.commit()
        return [row.id for row in rows]


@pytest.fixture
def scorers(tiny_registry, db) -> ActiveScorers:
    return ActiveScorers(tiny_registry, db, check_seconds=0.0)


def score_rows(db) -> list[tuple[int, str, bool]]:
    with db.uow() as uow:
        rows = uow.s.scalars(select(SentimentScore).order_by(SentimentScore.activity_id, SentimentScore.model_version))
        return [(r.activity_id, r.model_version, r.is_current) for r in rows]


def test_emails_are_scored_once_per_version_and_meetings_never(db, scorers, activity_ids) -> None:
    emails, meeting = activity_ids[:4], activity_ids[4]
    with db.uow() as uow:
        first = score_activities(uow, activity_ids, scorers=scorers)
        again = score_activities(uow, activity_ids, scorers=scorers)
    assert first.scored == 5 and first.versions == ("tiny-a",)
    assert again.scored == 0
    rows = score_rows(db)
    assert {r[0] for r in rows} == set(emails) | {activity_ids[5]}
    assert meeting not in {r[0] for r in rows}
    with db.uow() as uow:
        stored = current_scores(uow.s, emails)
        empty = stored[emails[3]]
        assert (empty.label, empty.confidence) == ("neutral", 0.0)
        assert all(s.label in ("negative", "neutral", "positive") and -1 <= s.score <= 1 for s in stored.values())


def test_the_sweep_finds_unscored_and_outdated_emails(tiny_registry, db, scorers, activity_ids) -> None:
    with db.uow() as uow:
        assert len(pending_activity_ids(uow, scorers=scorers)) == 5
        assert score_pending(uow, limit=2, scorers=scorers).scored == 2
        assert score_pending(uow, scorers=scorers).scored == 3
        assert pending_activity_ids(uow, scorers=scorers) == []
        promote(uow, tiny_registry.model_dir, None, "tiny-b")
        uow.commit()
        assert len(pending_activity_ids(uow, scorers=scorers)) == 5


def test_promotion_rescore_then_rollback_restores_the_old_scores_as_current(tiny_registry, db, scorers, activity_ids) -> None:
    with db.uow() as uow:
        score_activities(uow, activity_ids, scorers=scorers)
        promote(uow, tiny_registry.model_dir, None, "tiny-b")
        uow.commit()
        assert rescore_after_promotion(uow, scorers=scorers) == 5
    assert {(v, c) for _, v, c in score_rows(db)} == {("tiny-a", False), ("tiny-b", True)}
    with db.uow() as uow:
        rollback(uow, None)
        uow.commit()
        assert rescore_after_promotion(uow, scorers=scorers) == 0
    assert {(v, c) for _, v, c in score_rows(db)} == {("tiny-a", True), ("tiny-b", False)}


def test_the_capture_task_and_the_periodic_sweep_score_in_the_background(tiny_registry, db, activity_ids, monkeypatch) -> None:
    from dealpulse import runtime
    from dealpulse.tasks import build_queues
    from dealpulse.tasks.scoring import score_new_activities, sweep_unscored_activities

    runtime.reset()
    runtime.configure(tiny_registry, db)
    build_queues(tiny_registry, immediate=True)
    try:
        assert score_new_activities(activity_ids[:2])() == 2
        assert sweep_unscored_activities.call_local() == 3
        assert score_new_activities(activity_ids)() == 0
    finally:
        runtime.reset(keep=db)


class ScorersThatLetAnotherSweepFinishFirst:
    """The real scorers, but while this sweep scores, a second sweep runs to the end on its own session."""

    def __init__(self, real: ActiveScorers, other_sweep) -> None:
        self.real, self.settings, self.other_sweep = real, real.settings, other_sweep

    def for_org(self, org_id: int):
        scorer = self.real.for_org(org_id)
        other_sweep = self.other_sweep

        class Racing:
            version = scorer.version

            def score_prepared(self, texts):
                other_sweep()
                return scorer.score_prepared(texts)

        return Racing()


def test_two_sweeps_scoring_the_same_emails_together_store_each_score_once(db, scorers, activity_ids) -> None:
    def other_sweep() -> None:
        with db.uow() as other:
            assert score_pending(other, limit=500, scorers=scorers).scored == 5

    with db.uow() as uow:
        outcome = score_activities(uow, activity_ids[:4], scorers=ScorersThatLetAnotherSweepFinishFirst(scorers, other_sweep))
    assert outcome.scored == 0  # the other sweep stored them; this one neither fails nor counts them again
    rows = score_rows(db)
    assert len(rows) == len({(r[0], r[1]) for r in rows}) == 5
    assert all(current for _, _, current in rows)
