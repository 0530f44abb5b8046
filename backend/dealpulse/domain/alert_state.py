"""The alert state machine per (opportunity, rule): open -> acknowledged -> resolved, with re-arming.

Pure decisions: the alerts service reads the facts, asks `decide`/`acknowledge`/`resolve`, and writes the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

Action = Literal["none", "open", "update", "reopen", "resolve"]
UNRESOLVED = ("open", "acknowledged")  # the states of an alert that still asks for attention


class TransitionError(ValueError):
    """A person asked for a transition the alert's state does not allow."""


@dataclass(frozen=True)
class AlertFacts:
    """What the state machine needs of an alert row."""

    state: str  # open | acknowledged | resolved
    rearm_at: datetime | None = None
    resolution: str = ""  # auto | manual


@dataclass(frozen=True)
class Decision:
    """What to do with the (opportunity, rule) pair after an evaluation."""

    action: Action
    rearm_at: datetime | None = None


def decide(current: AlertFacts | None, last_resolved: AlertFacts | None, holds: bool, now: datetime) -> Decision:
    """The next step given the unresolved alert (if any), the latest resolved one, and whether the condition holds.

    - condition holds, no unresolved alert: open one, unless a person resolved the last one and it is not re-armed yet;
    - condition holds, acknowledged and its re-arm time passed: re-open; otherwise refresh the reason and evidence;
    - condition cleared with an unresolved alert: resolve automatically.
    """
    if current is not None and current.state == "resolved":
        raise ValueError("`current` must be the unresolved alert")
    if not holds:
        return Decision("resolve") if current is not None else Decision("none")
    if current is None:
        if last_resolved is not None and last_resolved.resolution == "manual" and last_resolved.rearm_at and now < last_resolved.rearm_at:
            return Decision("none")
        return Decision("open")
    if current.state == "acknowledged" and current.rearm_at is not None and now >= current.rearm_at:
        return Decision("reopen")
    return Decision("update")


def acknowledge(current: AlertFacts, now: datetime, rearm_after: timedelta) -> Decision:
    """A person acknowledges an open alert: it stays quiet until `now + rearm_after` if the condition still holds."""
    if current.state != "open":
        raise TransitionError(f"only an open alert can be acknowledged (this one is {current.state})")
    return Decision("update", rearm_at=now + rearm_after)


def resolve(current: AlertFacts, now: datetime, rearm_after: timedelta) -> Decision:
    """A person resolves an unresolved alert; a condition that still holds raises a new one after `rearm_after`."""
    if current.state == "resolved":
        raise TransitionError("this alert is already resolved")
    return Decision("resolve", rearm_at=now + rearm_after)
