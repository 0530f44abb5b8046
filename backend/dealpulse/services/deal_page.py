"""One deal's dashboard page: header facts, health and alerts, the timeline with tone, ratings and notes (private
content only for the reps whose mailbox captured it), charts, dynamics and the audit history with alert events."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any, Sequence

from sqlalchemy import select

from ..domain.alert_rules import Thresholds
from ..domain.access import Principal, can_read_content
from ..domain.alert_rules import skipped_rules
from ..domain.change_labels import describe_change
from ..domain.tone_reading import read_tone
from ..store import (
    Account,
    Activity,
    ActivityNote,
    Alert,
    AuditEntry,
    Rating,
    Stage,
    User,
    utcnow,
)
from ..store.crm import BUYING_ROLES, FORECAST_CATEGORIES
from ..store.activities import mailbox_owners
from ..store.sentiment import current_scores
from ..store.uow import UnitOfWork
from .alert_feed import alert_view, health_by_opportunity
from .alert_snapshots import load_contexts
from .audit import history
from .dynamics import DealStats, deal_stats
from .access import load_visible
from .opportunity_views import buying_team, exit_checklist
from .sidebar_match import deal_options

def deal_page(
    uow: UnitOfWork, principal: Principal, opportunity_id: int, *, alert_defaults: Thresholds, now: datetime | None = None,
    limit: int = 200,
) -> dict[str, Any]:
    """One deal: header facts, health and alerts, timeline with tone, ratings and notes, charts, audit history."""
    now = now or utcnow()
    s = uow.s
    opp = load_visible(s, principal, opportunity_id)
    stage = s.get(Stage, opp.stage_id)
    owner = s.get(User, opp.owner_id)
    account = s.get(Account, opp.account_id)
    alerts = s.scalars(select(Alert).where(Alert.opportunity_id == opp.id).order_by(Alert.opened_at.desc()).limit(50)).all()
    health = health_by_opportunity(s, [opp.id])[opp.id]
    activities = s.scalars(
        select(Activity).where(Activity.opportunity_id == opp.id).order_by(Activity.occurred_at.desc(), Activity.id.desc()).limit(limit)
    ).all()
    ids = [a.id for a in activities]
    owners = mailbox_owners(s, ids)
    scores = current_scores(s, ids)
    ratings: dict[int, list[dict[str, Any]]] = defaultdict(list)
    notes: dict[int, list[dict[str, Any]]] = defaultdict(list)
    if ids:
        for rating in s.scalars(select(Rating).where(Rating.activity_id.in_(ids)).order_by(Rating.updated_at)):
            ratings[rating.activity_id].append({"label": rating.label, "note": rating.note})
        for note, name in s.execute(select(ActivityNote, User.name).join(User, User.id == ActivityNote.author_id)
                                    .where(ActivityNote.activity_id.in_(ids)).order_by(ActivityNote.created_at)):
            notes[note.activity_id].append({"author": name, "text": note.text, "at": note.created_at})
    timeline = []
    for a in activities:
        readable = can_read_content(principal, a.is_private, owners.get(a.id, set()))
        mine = principal.user_id in owners.get(a.id, set())
        score = scores.get(a.id)
        timeline.append({
            "id": a.id, "kind": a.kind, "direction": a.direction, "occurred_at": a.occurred_at, "private": a.is_private,
            "contact_exclusion": a.contact_exclusion, "upcoming": a.occurred_at > now, "thread_key": a.thread_key,
            "mine": mine,
            "readable": readable, "subject": a.subject if readable else "", "text": a.new_text if readable else "",
            "sender": a.sender_email if readable else "",
            # The buyer's tone only: the rep's own outbound mail shows none.
            "tone": None if score is None or a.direction != "inbound" else {
                "label": score.label, "score": float(score.score),
                "reading": read_tone(score.label, score.confidence, score.probabilities).as_dict()},
            "ratings": ratings.get(a.id, []) if readable else [], "notes": notes.get(a.id, []) if readable else [],
        })
    snapshot = load_contexts(s, opp.org_id, now, [opp.id], alert_defaults=alert_defaults)[0]
    stats = deal_stats(s, [opp.id], now).get(opp.id, DealStats())
    return {
        "dynamics": stats,
        "not_evaluated": skipped_rules(snapshot.snapshot, snapshot.thresholds),
        "buying_team": buying_team(s, opp, now),
        "deal_options": deal_options(s, principal, opp.account_id, opp.id),
        "buying_roles": list(BUYING_ROLES),
        "deal": {"id": opp.id, "name": opp.name, "account": account.name if account else "", "owner": owner.name if owner else "",
                 "stage": stage.name, "amount": float(opp.amount), "currency": opp.currency, "close_date": opp.close_date,
                 "probability": opp.probability, "next_step": opp.next_step, "stage_entered_at": opp.stage_entered_at,
                 "close_date_pushes": opp.close_date_pushes, "version": opp.version,
                 "forecast_category": opp.forecast_category, "is_closed": stage.is_closed},
        "forecast_categories": list(FORECAST_CATEGORIES),
        "health": health, "alerts": [alert_view(a, opp.name) for a in alerts], "timeline": timeline,
        "exit_questions": exit_checklist(s, opp),
        "tone": [(a["occurred_at"], a["tone"]["score"]) for a in reversed(timeline)
                 if a["tone"] and a["kind"] == "email" and a["direction"] == "inbound" and not a["contact_exclusion"]],
        "weekly": weekly_counts(timeline, now),
        "history": _described(s, opp.org_id, _with_alert_history(s, opp.org_id, history(s, opp.org_id, "opportunity", opp.id), alerts)[:50]),
    }


def _described(s: Any, org_id: int, entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each audit entry with its change in words (stage keys, owners and accounts by name)."""
    names: dict[tuple[str, Any], str] = {}
    names.update({("stage", k): n for k, n in s.execute(select(Stage.key, Stage.name).where(Stage.org_id == org_id))})
    wanted = {kind: {v for e in entries if e["field"] == field for v in (e["old"], e["new"]) if isinstance(v, int)}
              for kind, field in (("user", "owner_id"), ("account", "account_id"))}
    if wanted["user"]:
        names.update({("user", i): n for i, n in s.execute(select(User.id, User.name).where(User.id.in_(wanted["user"])))})
    if wanted["account"]:
        names.update({("account", i): n for i, n in s.execute(select(Account.id, Account.name).where(Account.id.in_(wanted["account"])))})
    return [{**e, "change": describe_change(e, names)} for e in entries]


def _with_alert_history(s: Any, org_id: int, entries: list[dict[str, Any]], alerts: Sequence[Alert]) -> list[dict[str, Any]]:
    """The deal's audit entries plus who acknowledged or resolved its alerts, newest first."""
    rules = {a.id: a.rule for a in alerts}
    if rules:
        rows = s.execute(
            select(AuditEntry, User.name, User.email).outerjoin(User, User.id == AuditEntry.actor_id)
            .where(AuditEntry.org_id == org_id, AuditEntry.entity_type == "alert", AuditEntry.entity_id.in_(list(rules)))
        ).all()
        for entry, name, email in rows:
            entries.append({
                "field": f"alert: {rules[entry.entity_id].replace('_', ' ')}",
                "old": json.loads(entry.old_value) if entry.old_value else None,
                "new": json.loads(entry.new_value) if entry.new_value else None,
                "actor": {"id": entry.actor_id, "name": name, "email": email} if entry.actor_id else None,
                "surface": entry.surface, "version": None, "change_id": entry.change_id, "changed_at": entry.changed_at.isoformat(),
            })
    return sorted(entries, key=lambda e: e["changed_at"], reverse=True)


def weekly_counts(timeline: Sequence[dict[str, Any]], now: datetime, weeks: int = 12) -> list[dict[str, Any]]:
    """Inbound and outbound activities per week for the last `weeks` weeks, oldest first."""
    start = (now - timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(weeks=weeks - 1)
    buckets = [{"week": start + timedelta(weeks=i), "inbound": 0, "outbound": 0} for i in range(weeks)]
    for item in timeline:
        index = int((item["occurred_at"] - start).total_seconds() // (7 * 86400))
        if 0 <= index < weeks and item["direction"] in ("inbound", "outbound"):
            buckets[index][item["direction"]] += 1
    return buckets
