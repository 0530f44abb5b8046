"""Compared with the deals we won: which exit answers and buying-team roles most won deals had at a stage.

An item is an exit question answered "yes" (`question:<key>`) or a buying-team role filled (`role:<role>`). For each
stage, closed deals that reached it are observations: was the item present when the deal reached that stage (the
service offers earlier stages' questions and the roles), and was the deal won. An open deal at that stage lacking an
item most won deals had by then gets a gap with both win rates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Mapping

ROLE_LABELS = {
    "economic_buyer": "Economic buyer", "champion": "Champion", "technical_evaluator": "Technical evaluator",
    "decision_maker": "Decision maker", "influencer": "Influencer", "blocker": "Blocker",
    "procurement": "Procurement contact", "legal": "Legal contact", "user": "User",
}


@dataclass(frozen=True)
class Observation:
    """A closed deal at one stage: the items it had there, the items it could have had, and whether it was won."""

    stage_key: str
    won: bool
    present: frozenset[str]
    possible: frozenset[str]


@dataclass
class ItemCounts:
    """Won and lost closed deals with and without one item at one stage."""

    won_with: int = 0
    won_without: int = 0
    lost_with: int = 0
    lost_without: int = 0

    @property
    def won(self) -> int:
        """Won deals observed at the stage."""
        return self.won_with + self.won_without

    @property
    def share_of_won(self) -> float | None:
        """Share of the won deals that had the item."""
        return self.won_with / self.won if self.won else None

    @property
    def win_rate_with(self) -> float | None:
        """Win rate of deals that had the item."""
        n = self.won_with + self.lost_with
        return self.won_with / n if n else None

    @property
    def win_rate_without(self) -> float | None:
        """Win rate of deals that lacked the item."""
        n = self.won_without + self.lost_without
        return self.won_without / n if n else None


@dataclass
class StageStats:
    """Per item counts at one stage."""

    items: dict[str, ItemCounts] = field(default_factory=dict)


def tally(observations: Iterable[Observation]) -> dict[str, StageStats]:
    """Counts per stage and item from closed deals' observations."""
    out: dict[str, StageStats] = {}
    for ob in observations:
        stage = out.setdefault(ob.stage_key, StageStats())
        for item in ob.possible:
            counts = stage.items.setdefault(item, ItemCounts())
            has = item in ob.present
            if ob.won and has:
                counts.won_with += 1
            elif ob.won:
                counts.won_without += 1
            elif has:
                counts.lost_with += 1
            else:
                counts.lost_without += 1
    return out


@dataclass(frozen=True)
class Gap:
    """An item most won deals had at this stage that this deal lacks, with the win rates behind that."""

    item: str
    label: str
    stage_key: str
    share_of_won: float
    win_rate_without: float
    win_rate_with: float
    deals_without: int
    deals_with: int
    reason: str

    def as_dict(self) -> dict[str, object]:
        """The gap as plain JSON values."""
        return dict(self.__dict__)


def _pct(value: float) -> str:
    return f"{round(value * 100)} %"


def item_label(item: str, question_texts: Mapping[str, str]) -> tuple[str, str, str]:
    """(label, missing phrase, present phrase) of an item, e.g. ("Economic buyer", "unknown", "known")."""
    kind, _, key = item.partition(":")
    if kind == "role":
        return ROLE_LABELS.get(key, key.replace("_", " ").capitalize()), "unknown", "known"
    text = question_texts.get(key, key.replace("_", " "))
    return f"\u201c{text}\u201d", "not answered yes", "answered yes"


def gaps_for(
    stats: Mapping[str, StageStats], stage_key: str, stage_name: str, present: Iterable[str], possible: Iterable[str],
    question_texts: Mapping[str, str], *, min_won: int = 5, min_each_side: int = 3, share: float = 0.5,
) -> list[Gap]:
    """Items of `possible` this deal lacks that more than `share` of the won deals at the stage had and whose absence
    came with a lower win rate; biggest drop first. Needs `min_won` won deals and `min_each_side` deals each way."""
    stage = stats.get(stage_key)
    if stage is None:
        return []
    have = set(present)
    out = []
    for item in sorted(set(possible) - have):
        c = stage.items.get(item)
        if c is None or c.won < min_won:
            continue
        n_with, n_without = c.won_with + c.lost_with, c.won_without + c.lost_without
        if n_with < min_each_side or n_without < min_each_side:
            continue
        share_won, with_rate, without_rate = c.share_of_won, c.win_rate_with, c.win_rate_without
        if share_won is None or share_won <= share or with_rate is None or without_rate is None or without_rate >= with_rate:
            continue
        label, missing, known = item_label(item, question_texts)
        reason = (f"{label} {missing} at {stage_name}: {_pct(without_rate)} of such deals were won, "
                  f"vs {_pct(with_rate)} when {known} ({n_without} vs {n_with} closed deals)")
        out.append(Gap(item, label, stage_key, round(share_won, 3), round(without_rate, 3), round(with_rate, 3),
                       n_without, n_with, reason))
    out.sort(key=lambda g: (g.win_rate_without - g.win_rate_with, g.item))
    return out
