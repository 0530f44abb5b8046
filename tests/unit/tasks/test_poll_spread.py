"""Mailbox polls are spread over the poll interval: one fixed slot per mailbox, the slots evenly filling the interval."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from dealpulse.services.polling import poll_offset, spread_polls

START = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


@given(st.integers(min_value=1, max_value=10**9), st.sampled_from([60, 300, 900, 3540]))
def test_every_mailbox_has_a_slot_inside_the_interval_and_keeps_it(mailbox_id: int, interval: int) -> None:
    offset = poll_offset(mailbox_id, interval)
    assert 0 <= offset < interval
    assert poll_offset(mailbox_id, interval) == offset


@given(st.integers(min_value=1, max_value=10**6), st.integers(min_value=2, max_value=2000), st.sampled_from([60, 300, 900]))
def test_a_run_of_mailboxes_fills_the_interval_evenly(first_id: int, count: int, interval: int) -> None:
    offsets = sorted(poll_offset(i, interval) for i in range(first_id, first_id + count))
    gaps = [b - a for a, b in zip(offsets, offsets[1:])] + [interval - offsets[-1] + offsets[0]]
    assert max(gaps) < 3 * interval / count  # an even spread would be interval / count: no burst, no long hole


def test_a_poll_queues_each_mailbox_once_in_its_slot_in_order() -> None:
    slots = spread_polls(list(range(1, 201)), START, 300)
    assert sorted(slot.mailbox_id for slot in slots) == list(range(1, 201))
    times = [slot.at or START for slot in slots]
    assert times == sorted(times) and START <= times[0] and times[-1] < START + timedelta(seconds=300)
    per_minute = [sum(1 for t in times if START + timedelta(minutes=m) <= t < START + timedelta(minutes=m + 1)) for m in range(5)]
    assert min(per_minute) >= 30 and max(per_minute) <= 50  # 40 a minute, not 200 at once
