"""Hooks capture, scoring and deal edits call after they commit: re-evaluate the affected deals at once (not at the
next sweep), so the sidebar and the dashboard show fresh alerts right after the change."""

from __future__ import annotations

import logging
from typing import Sequence

from ..domain.alert_rules import Thresholds
from ..store.uow import UnitOfWork
from .alert_engine import EvaluationSummary, evaluate_activities, evaluate_opportunities

log = logging.getLogger(__name__)


def _evaluate(
    uow: UnitOfWork, activity_ids: Sequence[int], alert_defaults: Thresholds, webhook: bool, deal_ids: Sequence[int] = ()
) -> EvaluationSummary:
    """Evaluate the affected deals; a failure is logged and rolled back, never raised into capture or scoring
    (their work is already committed, and the periodic sweep evaluates every deal again)."""
    try:
        return evaluate_activities(uow, activity_ids, alert_defaults=alert_defaults, webhook=webhook, deal_ids=deal_ids)
    except Exception:
        log.exception("alert evaluation failed for %d activities; the sweep will catch up", len(activity_ids))
        uow.rollback()
        return EvaluationSummary()


def on_activities_stored(
    uow: UnitOfWork, activity_ids: Sequence[int], *, alert_defaults: Thresholds, webhook: bool = False,
    deal_ids: Sequence[int] = (),
) -> EvaluationSummary:
    """New or changed activities (capture): an inbound email resolves gone-dark, outbound mail counts as chasing, a
    meeting moved into the past counts once held; `deal_ids` lost activities (a cancelled meeting) and are evaluated too.

    `alert_defaults`: the configured thresholds (`alert_snapshots.default_thresholds(settings)`); `webhook`: a
    webhook is configured (DEALPULSE_WEBHOOK_URL), so opened alerts also queue a delivery.
    """
    summary = _evaluate(uow, activity_ids, alert_defaults, webhook, deal_ids)
    if summary.opened or summary.resolved:
        log.info("alerts after capture: %d opened, %d resolved", summary.opened, summary.resolved)
    return summary


def on_scores_stored(
    uow: UnitOfWork, activity_ids: Sequence[int], *, alert_defaults: Thresholds, webhook: bool = False
) -> EvaluationSummary:
    """New tone scores (the scoring task): a strongly negative inbound email raises its alert in the same run."""
    summary = _evaluate(uow, activity_ids, alert_defaults, webhook)
    if summary.opened:
        log.info("alerts after scoring: %d opened", summary.opened)
    return summary


def on_deals_changed(
    uow: UnitOfWork, org_id: int, opportunity_ids: Sequence[int], *, alert_defaults: Thresholds, webhook: bool = False
) -> EvaluationSummary:
    """A rep changed deals (stage, close date, exit answers, buying team, moved emails): evaluate them now.

    Call after the change is committed; like the capture hook, a failure is logged and left to the sweep.
    `webhook`: a webhook is configured, so opened alerts also queue a delivery.
    """
    ids = sorted({int(i) for i in opportunity_ids if i is not None})
    if not ids:
        return EvaluationSummary()
    try:
        return evaluate_opportunities(uow, org_id, ids, alert_defaults=alert_defaults, webhook=webhook)
    except Exception:
        log.exception("alert evaluation failed for deals %s; the sweep will catch up", ids)
        uow.rollback()
        return EvaluationSummary()
