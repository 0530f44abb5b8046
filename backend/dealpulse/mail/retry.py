"""Retry with exponential backoff and full jitter, honouring a provider's Retry-After."""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, TypeVar

T = TypeVar("T")


class RetryableError(Exception):
    """Raised by an attempt that may succeed later; `retry_after` is the provider's hint in seconds."""

    def __init__(self, message: str, retry_after: float | None = None, status: int | None = None):
        super().__init__(message)
        self.retry_after = retry_after
        self.status = status


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    return max(0.0, (when - now).total_seconds())


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry; `max_wait` caps any single sleep (longer hints pause the mailbox)."""

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_wait: float = 60.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Sleep before retry number `attempt` (1-based): the hint if given, else full-jitter backoff."""
        if retry_after is not None:
            return retry_after
        return rng.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))


def call_with_retries(
    attempt_fn: Callable[[], T],
    policy: RetryPolicy = RetryPolicy(),
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> T:
    """Call `attempt_fn` until it returns; retry RetryableError per `policy`, then re-raise the last one.

    A Retry-After longer than `policy.max_wait` is not slept through: the error is re-raised at once so the
    caller can pause the mailbox until then instead of holding a worker.
    """
    rng = rng or random.Random()
    for attempt in range(1, policy.attempts + 1):
        try:
            return attempt_fn()
        except RetryableError as exc:
            if attempt == policy.attempts:
                raise
            if exc.retry_after is not None and exc.retry_after > policy.max_wait:
                raise
            sleep(policy.delay(attempt, exc.retry_after, rng))
    raise AssertionError("unreachable")
