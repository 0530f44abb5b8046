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
from .access import load_visible
from .win_features import load_items

CACHE_SECONDS = 600.0
_cache: dict[tuple[str, int], tuple[float, dict[str, StageStats], int]] = {}
_lock = threading.Lock()


def earlier_stages(history: DealHistory, stage_id: int) -> list[int]:
    """The open stages before `stage_id` in pipeline order (their exit questions should be answered by then)."""
    position = history.stages[stage_id].position
    return [sid for sid, st in history.stages.items() if not st.is_closed and st.position < position]


def possible_items(history: DealHistory, questions: dict[int, list[str]], stage_id: int) -> list[str]:
    """What a deal can have when it reaches `stage_id`: yes-answers of earlier stages' exit questions, and roles."""
    keys = [k for sid in earlier_stages(history, stage_id) for k in questions.get(sid, [])]
    return [f"question:{k}" for k in keys] + [f"role:{r}" for r in BUYING_ROLES]


def _questions(session: Session, org_id: int) -> tuple[dict[int, list[str]], dict[str, str]]:
    keys: dict[int, list[str]] = {}
    texts: dict[str, str] = {}
    for stage_id, qkey, text in session.execute(
        select(ExitQuestion.stage_id, ExitQuestion.key, ExitQuestion.text)
        .join(Stage, Stage.id == ExitQuestion.stage_id).where(Stage.org_id == org_id).order_by(ExitQuestion.position)
    ):
        keys.setdefault(stage_id, []).append(qkey)
        texts[qkey] = text
    return keys, texts


def org_won_stats(session: Session, org_id: int, *, fresh: bool = False) -> tuple[dict[str, StageStats], int]:
    """(per stage item counts, closed deals observed): what each closed deal had when it reached each open stage."""
    key = (str(session.get_bind().url), org_id)
    with _lock:
        cached = _cache.get(key)
    if cached is not None and not fresh and time.monotonic() - cached[0] < CACHE_SECONDS:
        return cached[1], cached[2]
    history = DealHistory.load(session, org_id)
    outcomes = history.outcomes()
    items = load_items(session, sorted(outcomes))
    questions, _ = _questions(session, org_id)
    observations = []
    for opp_id, outcome in outcomes.items():
        reached: dict[int, datetime] = {}
        for at, stage_id in history.transitions.get(opp_id, []):
            reached.setdefault(stage_id, at)
        for stage_id, at in reached.items():
            stage = history.stages[stage_id]
            if stage.is_closed:
                continue
            present = items[opp_id].present_at(earlier_stages(history, stage_id), at)
            observations.append(Observation(stage.key, outcome.won, present, frozenset(possible_items(history, questions, stage_id))))
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
    questions, texts = _questions(session, org_id)
    out = {}
    for opp_id in opportunity_ids:
        state = history.state_at(opp_id, now)
        if state is None:
            continue
        stage = state.stage
        present = items[opp_id].present_at(earlier_stages(history, stage.id), now)
        found = gaps_for(stats, stage.key, stage.name, present, possible_items(history, questions, stage.id), texts)
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
