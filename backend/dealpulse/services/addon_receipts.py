"""Idempotency of Gmail add-on button presses: each rendered button carries a key that can be used once."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError

from ..store import AddonActionReceipt, utcnow
from ..store.uow import UnitOfWork

RECEIPT_LIFETIME = timedelta(days=2)  # longer than a card's state is valid (24 h), so no replay outlives its receipt


def claim_action(uow: UnitOfWork, user_id: int, key: str) -> bool:
    """Record that `user_id` pressed the button with `key`, in the caller's transaction; False if it was already
    pressed (a replay: the caller must change nothing). Commit together with the action's own changes."""
    now = utcnow()
    uow.s.execute(delete(AddonActionReceipt).where(AddonActionReceipt.user_id == user_id,
                                                   AddonActionReceipt.created_at < now - RECEIPT_LIFETIME))
    uow.s.add(AddonActionReceipt(user_id=user_id, action_key=key[:64], created_at=now))
    try:
        uow.s.flush()
    except IntegrityError:
        uow.rollback()
        return False
    return True
