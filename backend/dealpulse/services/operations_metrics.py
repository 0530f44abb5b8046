"""The stored numbers an operator scrapes from /metrics: sync lag per mailbox, scoring latency, alert counts by rule
and state, the active tone model per organisation. Queue depths come from the task queues (see web.metrics)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select

from ..domain.prometheus import MetricFamily, histogram
from ..store import Activity, Alert, Mailbox, ModelVersion, SentimentScore
from ..store.uow import UnitOfWork

LATENCY_WINDOW = timedelta(hours=1)
LATENCY_BUCKETS = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 21600.0)


def sync_lag(uow: UnitOfWork, now: datetime) -> MetricFamily:
    """Seconds since each mailbox last synced (since it was connected, when it never has)."""
    family = MetricFamily("dealpulse_mailbox_sync_lag_seconds", "gauge",
                          "Seconds since the mailbox last synced successfully (since it was connected if never)")
    for box in uow.s.scalars(select(Mailbox).order_by(Mailbox.id)):
        since = box.last_synced_at or box.created_at
        family.add(max((now - since).total_seconds(), 0.0), org_id=box.org_id, mailbox_id=box.id,
                   provider=box.provider, state=box.sync_state)
    return family


def scoring_latency(uow: UnitOfWork, now: datetime) -> MetricFamily:
    """Seconds from an email being stored to its tone being scored, for the scores written in the last hour."""
    rows = uow.s.execute(
        select(SentimentScore.scored_at, Activity.created_at)
        .join(Activity, Activity.id == SentimentScore.activity_id)
        .where(SentimentScore.scored_at >= now - LATENCY_WINDOW)
    ).all()
    delays = [max((scored - stored).total_seconds(), 0.0) for scored, stored in rows]
    return histogram("dealpulse_scoring_latency_seconds",
                     "Seconds from an email being stored to its tone score, scores written in the last hour",
                     delays, LATENCY_BUCKETS)


def alert_counts(uow: UnitOfWork) -> MetricFamily:
    """Alerts per organisation, rule and state."""
    family = MetricFamily("dealpulse_alerts", "gauge", "Alerts by organisation, rule and state")
    rows = uow.s.execute(select(Alert.org_id, Alert.rule, Alert.state, func.count())
                         .group_by(Alert.org_id, Alert.rule, Alert.state)
                         .order_by(Alert.org_id, Alert.rule, Alert.state)).all()
    for org_id, rule, state, count in rows:
        family.add(count, org_id=org_id, rule=rule, state=state)
    return family


def active_models(uow: UnitOfWork) -> MetricFamily:
    """1 per active tone model version, labelled with its organisation (`global` for the shared one)."""
    family = MetricFamily("dealpulse_model_active_info", "gauge",
                          "The active tone model version (value 1) per organisation; org_id=global is the shared one")
    rows = uow.s.execute(select(ModelVersion.org_id, ModelVersion.version, ModelVersion.method)
                         .where(ModelVersion.status == "active").order_by(ModelVersion.org_id, ModelVersion.id)).all()
    for org_id, version, method in rows:
        family.add(1, org_id="global" if org_id is None else org_id, version=version, method=method)
    return family


def stored_metrics(uow: UnitOfWork, now: datetime) -> list[MetricFamily]:
    """Every metric family read from the database."""
    return [sync_lag(uow, now), scoring_latency(uow, now), alert_counts(uow), active_models(uow)]
