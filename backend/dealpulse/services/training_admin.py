"""What the admin models page reads: ratings per week, the raters and their reliability, the model versions with
the before/after table behind each promotion decision."""

from __future__ import annotations

from sqlalchemy import func, select

from ..domain.tone_labels import LABELS
from ..sentiment.registry import active_version, list_versions
from ..store import Rater, Rating
from ..store.uow import UnitOfWork


def ratings_over_time(uow: UnitOfWork, org_id: int) -> list[dict]:
    """Per ISO week: ratings made, by label, and how many agreed with the model's label at the time."""
    weeks: dict[str, dict] = {}
    query = select(Rating.created_at, Rating.label, Rating.model_label).where(Rating.org_id == org_id)
    for created_at, label, model_label in uow.s.execute(query):
        year, week, _ = created_at.isocalendar()
        key = f"{year}-W{week:02d}"
        row = weeks.setdefault(key, {"week": key, "ratings": 0, "negative": 0, "neutral": 0, "positive": 0,
                                     "with_model_label": 0, "agree_with_model": 0})
        row["ratings"] += 1
        row[label] = row.get(label, 0) + 1
        if model_label:
            row["with_model_label"] += 1
            row["agree_with_model"] += int(model_label == label)
    return [weeks[k] for k in sorted(weeks)]


def rater_table(uow: UnitOfWork, org_id: int) -> list[dict]:
    """Every rater with their latest reliability estimate, flagged ones first."""
    counts = dict(uow.s.execute(
        select(Rating.rater_id, func.count(Rating.id)).where(Rating.org_id == org_id).group_by(Rating.rater_id)
    ).all())
    raters = uow.s.scalars(select(Rater).where(Rater.org_id == org_id).order_by(Rater.key))
    rows = [
        {"rater": r.key, "imported": r.is_imported, "ratings": int(counts.get(r.id, 0)), "weight": r.weight,
         "agreement": r.agreement, "bias": r.bias, "flagged": r.flagged, "flag_reason": r.flag_reason,
         "leaning": _leaning(r.bias), "label_share": (r.stats or {}).get("label_share"),
         "model_agreement": (r.stats or {}).get("model_agreement")}
        for r in raters
    ]
    return sorted(rows, key=lambda row: (not row["flagged"], row["rater"]))


def _leaning(bias: float | None) -> str:
    if bias is None:
        return "not estimated yet"
    if bias >= 0.15:
        return "more positive than the team"
    if bias <= -0.15:
        return "more negative than the team"
    return "in line with the team"


def version_table(uow: UnitOfWork, org_id: int) -> list[dict]:
    """The organisation's versions and the global ones, newest first, with metrics, the decision and its table."""
    in_use = active_version(uow, org_id)
    rows = []
    for v in list_versions(uow, org_id):
        metrics = v.metrics or {}
        holdout = metrics.get("holdout_ratings") or {}
        rows.append({
            "version": v.version, "scope": "global" if v.org_id is None else "organisation", "status": v.status,
            "in_use": in_use is not None and in_use.id == v.id, "method": v.method, "parent_version": v.parent_version,
            "seed_eval_f1": (metrics.get("seed_eval") or {}).get("macro_f1"), "holdout_f1": holdout.get("macro_f1"),
            "parent_metrics": metrics.get("parent"), "decision_reason": v.decision_reason,
            "comparison": comparison_table(metrics),
            "data": (v.training_summary or {}).get("data"),
            "what_changed": (v.training_summary or {}).get("what_changed", []),
            "created_at": v.created_at.isoformat(), "promoted_at": v.promoted_at.isoformat() if v.promoted_at else None,
        })
    return rows


def comparison_table(metrics: dict) -> list[dict]:
    """Before (the parent version) and after (this candidate), in macro-F1 and per class, on the organisation's
    held-out ratings and on the corpus eval: the table an admin reads before promoting a rejected candidate."""
    parent = metrics.get("parent") or {}
    sets = (("Held-out ratings", parent.get("holdout_ratings"), metrics.get("holdout_ratings"), parent.get("holdout_f1")),
            ("Corpus eval", parent.get("seed_eval"), metrics.get("seed_eval"), parent.get("seed_eval_f1")))
    rows = []
    for name, before, after, before_f1 in sets:
        if not after:
            continue
        before = before or {}
        rows.append(_comparison_row(name, "macro-F1", before.get("macro_f1", before_f1), after.get("macro_f1"),
                                    after.get("count")))
        for label in LABELS:
            rows.append(_comparison_row(name, f"{label} F1", (before.get("per_class_f1") or {}).get(label),
                                        (after.get("per_class_f1") or {}).get(label), None))
    return rows


def _comparison_row(evaluation: str, measure: str, before: float | None, after: float | None, count: int | None) -> dict:
    change = None if before is None or after is None else round((after - before) * 100, 1)
    return {"evaluation": evaluation, "measure": measure, "before": before, "after": after, "change_points": change,
            "count": count}
