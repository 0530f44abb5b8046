"""The retention purge: once a day, captured mail older than each organisation's retention period is deleted."""

from __future__ import annotations

from ..runtime import get_database
from ..services.privacy_settings import purge_expired
from .queue import Cron, periodic_task


@periodic_task(Cron(minute="30", hour="3"))
def purge_past_retention() -> int:
    """Delete activities past their organisation's retention period (03:30 UTC); returns how many."""
    return sum(purge_expired(get_database()).values())
