"""Compared with the deals we won: per open deal, what most won deals had at its stage and it lacks.

Observations come from the organisation's closed deals: for every open stage a deal went through, the exit answers
("yes") and buying-team roles it had when it left that stage (see `win_features.DealItems`). The domain module
`won_comparison` counts them and words the gaps. Statistics are cached per process for ten minutes.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..domain.access import Principal
from ..domain.won_comparison import Gap, Observation, StageStats, gaps_for, tally
from ..store import ExitQuestion, Stage, utcnow
from ..store.crm import BUYING_ROLES
from ..store.uow import UnitOfWork
from .deal_history import DealHistory
from .visibility import load_visible
from .win_features import load_items

CACHE_SECONDS = 600.0
_cache: dict[tuple[str, int], tuple[float, dict[str, StageStats], int]] = {}
_lock = threading.Lock()


def org_won_stats(session: Session, org_id: int, *, fresh: bool = False) -> tuple[dict[str, StageStats], int]:
    """(per stage item counts, closed deals observed) from the organisation's closed deals."""
    key = (str(session.get_bind().url), org_id)
    with _lock:
        cached = _cache.get(key)
    if cached is not None and not fresh and time.monotonic() - cached[0] < CACHE_SECONDS:
        return cached[1], cached[2]
    history = DealHistory.load(session, org_id)
    outcomes = history.outcomes()
    items = load_items(session, sorted(outcomes))
    questions: dict[int, list[str]] = {}
    for stage_id, qkey in session.execute(select(ExitQuestion.stage_id, ExitQuestion.key)
                                          .join(Stage, Stage.id == ExitQuestion.stage_id).where(Stage.org_id == org_id)):
        questions.setdefault(stage_id, []).append(qkey)
    observations = []
    for opp_id, outcome in outcomes.items():
        for stage_id in {sid for _, sid in history.transitions.get(opp_id, [])}:
            stage = history.stages[stage_id]
            if stage.is_closed:
                continue
            end = history.stay_end(opp_id, stage_id) or outcome.closed_at
            possible = frozenset([f"question:{k}" for k in questions.get(stage_id, [])] + [f"role:{r}" for r in BUYING_ROLES])
            observations.append(Observation(stage.key, outcome.won, items[opp_id].present_at(stage_id, end), possible))
    stats = tally(observations)
    with _lock:
        _cache[key] = (time.monotonic(), stats, len(outcomes))
    return stats, len(outcomes)


def forget_won_stats() -> None:
    """Drop cached statistics (tests, after imports)."""
    with _lock:
        _cache.clear()


def deal_gaps(session: Session, org_id: int, opportunity_ids: list[int], now: datetime, *,
              fresh: bool = False) -> dict[int, list[Gap]]:
    """The gaps of each open deal at its current stage (deals without any are left out)."""
    stats, _ = org_won_stats(session, org_id, fresh=fresh)
    if not stats or not opportunity_ids:
        return {}
    history = DealHistory.load(session, org_id, opportunity_ids)
    items = load_items(session, opportunity_ids)
    texts: dict[int, dict[str, str]] = {}
    out = {}
    for opp_id in opportunity_ids:
        state = history.state_at(opp_id, now)
        if state is None:
            continue
        stage = state.stage
        if stage.id not in texts:
            texts[stage.id] = {k: t for k, t in session.execute(select(ExitQuestion.key, ExitQuestion.text)
                                                                .where(ExitQuestion.stage_id == stage.id))}
        possible = [f"question:{k}" for k in texts[stage.id]] + [f"role:{r}" for r in BUYING_ROLES]
        found = gaps_for(stats, stage.key, stage.name, items[opp_id].present_at(stage.id, now), possible, texts[stage.id])
        if found:
            out[opp_id] = found
    return out


def compared_with_won(uow: UnitOfWork, principal: Principal, opportunity_id: int, now: datetime | None = None) -> dict[str, Any]:
    """The deal page's "compared with the deals we won": its gaps at its stage with both win rates."""
    now = now or utcnow()
    opp = load_visible(uow.s, principal, opportunity_id)
    stats, closed = org_won_stats(uow.s, opp.org_id)
    gaps = deal_gaps(uow.s, opp.org_id, [opp.id], now).get(opp.id, [])
    stage_key = uow.s.scalar(select(Stage.key).where(Stage.id == opp.stage_id))
    note = "" if stats else "no closed deals with stage history yet: nothing to compare with"
    return {"opportunity_id": opp.id, "stage": stage_key, "closed_deals": closed,
            "gaps": [g.as_dict() for g in gaps], "note": note}
