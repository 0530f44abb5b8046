"""When in its poll interval each mailbox is synced: a fixed per-mailbox offset, so polls are spread, not one burst.

The poll fires every interval and queues each due mailbox's sync at `start + poll_offset(id, interval)`. Offsets come
from the mailbox id by the golden-ratio sequence: consecutive ids land far apart, any N mailboxes fill the interval
evenly (no two within interval/N of each other by more than a factor of about 2.6), and a mailbox keeps its slot from
one poll to the next, so each is polled once per interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

GOLDEN = (5**0.5 - 1) / 2  # 0.618...: the fractional parts of k * GOLDEN are as evenly spread as a sequence can be


def poll_offset(mailbox_id: int, interval_seconds: float) -> float:
    """Seconds after the start of each poll interval at which this mailbox is synced (0 <= offset < interval)."""
    return (mailbox_id * GOLDEN) % 1.0 * interval_seconds


@dataclass(frozen=True)
class PollSlot:
    """One mailbox's sync in this poll: now (`at` None) or at `at`."""

    mailbox_id: int
    at: datetime | None


def spread_polls(mailbox_ids: list[int], start: datetime, interval_seconds: float) -> list[PollSlot]:
    """Each mailbox's slot in the interval beginning at `start` (offsets under a second run at once), earliest first."""
    slots = []
    for mailbox_id in mailbox_ids:
        offset = poll_offset(mailbox_id, interval_seconds)
        slots.append(PollSlot(mailbox_id, None if offset < 1 else start + timedelta(seconds=offset)))
    return sorted(slots, key=lambda slot: (slot.at or start, slot.mailbox_id))
