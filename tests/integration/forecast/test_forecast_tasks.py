"""The daily snapshot and win-model training tasks: scheduled once a day, and what they store."""

from datetime import datetime

from sqlalchemy import func, select

from dealpulse.store import PipelineSnapshot, WinModel, utcnow
from dealpulse.tasks import build_queues, forecasting


def test_the_snapshot_and_training_checks_run_once_a_day_after_midnight(settings):
    queues = build_queues(settings, immediate=True)

    def due(hour: int, minute: int) -> set[str]:
        return {t.name for t in queues.default.read_periodic(datetime(2026, 1, 1, hour, minute))}

    assert "snapshot_pipelines" in due(0, 5) and "retrain_win_models" in due(0, 35)
    assert not {"snapshot_pipelines", "retrain_win_models"} & (due(0, 6) | due(12, 5) | due(12, 35))


def test_the_daily_snapshot_stores_todays_open_pipeline_and_training_waits_for_history(db, world, process_runtime, inline_queues):
    assert forecasting.snapshot_pipelines.call_local() >= 8  # both organisations' open deals (4 each)
    assert forecasting.snapshot_pipelines.call_local() >= 8  # run again: the day's rows are replaced
    with db.uow() as uow:
        rows = uow.s.execute(select(PipelineSnapshot.opportunity_id, PipelineSnapshot.day, PipelineSnapshot.amount)
                             .where(PipelineSnapshot.org_id == world.org_id)).all()
    assert {r.day for r in rows} == {utcnow().date()}
    assert {r.opportunity_id for r in rows} == {world.opportunities[k] for k in ("a1_acme", "a1_globex", "a2_initech", "b1_acme")}
    assert forecasting.retrain_win_models.call_local() == []  # one closed deal each: nothing to learn from
    with db.uow() as uow:
        assert uow.s.scalar(select(func.count()).select_from(WinModel)) == 0
