"""Connecting, listing and disconnecting mailboxes; what each sync state means to a person."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update

from ..config import Settings
from ..crypto import SecretBox
from ..mail.linking import normalize_address
from ..store import ActivitySource, Mailbox, User, user_ids_with_address
from ..store.activities import SYNC_STATES
from ..store.uow import UnitOfWork
from .capture import delete_orphans
from .errors import InvalidField, NotFoundError

PROVIDERS = ("gmail", "microsoft")

#: What each sync state tells the rep (the sidebar and `dealpulse mailbox status` show it).
STATE_MEANINGS = {
    "idle": "Connected and up to date.",
    "syncing": "Reading new mail now.",
    "throttled": "The provider asked us to slow down; syncing resumes automatically.",
    "needs_reconnect": "Access was revoked or expired: reconnect this mailbox.",
    "provider_error": "The provider is having trouble; we retry with growing pauses.",
    "resyncing": "Re-reading the whole mailbox because the provider forgot our place.",
    "disconnected": "Disconnected: nothing is being captured.",
}
assert set(STATE_MEANINGS) == set(SYNC_STATES)


@dataclass(frozen=True)
class MailboxStatus:
    """One mailbox as an admin or rep sees it."""

    id: int
    provider: str
    address: str
    user_email: str
    state: str
    meaning: str
    detail: str
    last_synced_at: datetime | None
    paused_until: datetime | None
    consecutive_failures: int
    needs_action: bool

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        return {
            "id": self.id, "provider": self.provider, "address": self.address, "user_email": self.user_email,
            "state": self.state, "meaning": self.meaning, "detail": self.detail,
            "last_synced_at": self.last_synced_at.isoformat() if self.last_synced_at else None,
            "paused_until": self.paused_until.isoformat() if self.paused_until else None,
            "consecutive_failures": self.consecutive_failures, "needs_action": self.needs_action,
        }


def add_mailbox(
    uow: UnitOfWork,
    settings: Settings,
    *,
    provider: str,
    address: str,
    refresh_token: str,
    user_email: str | None = None,
    extra_credentials: dict[str, Any] | None = None,
) -> int:
    """Connect (or reconnect) a mailbox: the refresh token is sealed at rest; returns the mailbox id.

    The owner is the user whose address or alias is `user_email` (default: `address`). Reconnecting an existing
    mailbox replaces its credentials and clears a needs-reconnect state; its cursors are kept.
    """
    errors = []
    if provider not in PROVIDERS:
        errors.append({"field": "provider", "message": f"must be one of {', '.join(PROVIDERS)}"})
    normalized = normalize_address(address)
    if not normalized:
        errors.append({"field": "address", "message": "not an email address"})
    if not refresh_token or not refresh_token.strip():
        errors.append({"field": "refresh_token", "message": "required"})
    if errors:
        raise InvalidField(errors)
    owner = _user_for(uow, normalize_address(user_email) if user_email else normalized)
    if owner is None:
        raise InvalidField([{"field": "user" if user_email else "address", "message": "no DealPulse user has this address or alias"}])
    sealed = SecretBox(settings).seal({"refresh_token": refresh_token.strip(), **(extra_credentials or {})})
    box = uow.s.scalar(select(Mailbox).where(Mailbox.provider == provider, Mailbox.address == normalized))
    if box is not None and box.org_id != owner.org_id:
        raise InvalidField([{"field": "address", "message": "this mailbox is connected in another organisation"}])
    if box is None:
        box = Mailbox(org_id=owner.org_id, user_id=owner.id, provider=provider, address=normalized)
        uow.s.add(box)
    box.user_id = owner.id
    box.encrypted_credentials = sealed
    box.sync_state = "idle"
    box.state_detail = "Connected; the first sync is queued."
    box.paused_until = None
    box.consecutive_failures = 0
    box.version = (box.version or 0) + 1
    uow.s.flush()
    uow.commit()
    return box.id


def _user_for(uow: UnitOfWork, address: str) -> User | None:
    return uow.s.scalar(
        select(User).where(User.is_active.is_(True), User.id.in_(user_ids_with_address(address))).limit(1)
    )


def mailbox_status(uow: UnitOfWork, *, org_id: int | None = None, user_id: int | None = None) -> list[MailboxStatus]:
    """Every mailbox (of an organisation or a user) with its state in words."""
    query = select(Mailbox, User.email).join(User, User.id == Mailbox.user_id).order_by(Mailbox.id)
    if org_id is not None:
        query = query.where(Mailbox.org_id == org_id)
    if user_id is not None:
        query = query.where(Mailbox.user_id == user_id)
    out = []
    for box, user_email in uow.s.execute(query):
        out.append(
            MailboxStatus(
                id=box.id, provider=box.provider, address=box.address, user_email=user_email, state=box.sync_state,
                meaning=STATE_MEANINGS.get(box.sync_state, box.sync_state), detail=box.state_detail,
                last_synced_at=box.last_synced_at, paused_until=box.paused_until,
                consecutive_failures=box.consecutive_failures,
                needs_action=box.sync_state in ("needs_reconnect", "disconnected"),
            )
        )
    return out


def disconnect(uow: UnitOfWork, mailbox_id: int, *, purge: bool = False, org_id: int | None = None) -> dict[str, int]:
    """Stop capturing a mailbox and forget its credentials; `purge` also deletes content only this mailbox saw."""
    box = uow.s.get(Mailbox, mailbox_id)
    if box is None or (org_id is not None and box.org_id != org_id):
        raise NotFoundError(f"mailbox {mailbox_id} not found")
    uow.s.execute(
        update(Mailbox)
        .where(Mailbox.id == mailbox_id)
        .values(
            sync_state="disconnected", state_detail="Disconnected" + (" and its captured content purged." if purge else "."),
            encrypted_credentials="", mail_cursor=None, calendar_cursor=None, paused_until=None,
            subscription_id=None, subscription_expires_at=None, version=Mailbox.version + 1,
        )
        .execution_options(synchronize_session=False)
    )
    counts = {"sources_removed": 0, "activities_deleted": 0}
    if purge:
        activity_ids = set(uow.s.scalars(select(ActivitySource.activity_id).where(ActivitySource.mailbox_id == mailbox_id)))
        result = uow.s.execute(delete(ActivitySource).where(ActivitySource.mailbox_id == mailbox_id))
        counts["sources_removed"] = result.rowcount or 0
        counts["activities_deleted"] = delete_orphans(uow.s, activity_ids)
    uow.commit()
    return counts


def find_mailbox(uow: UnitOfWork, selector: str) -> Mailbox:
    """A mailbox by id or address (for the CLI)."""
    box = None
    if selector.isdigit():
        box = uow.s.get(Mailbox, int(selector))
    if box is None:
        box = uow.s.scalar(select(Mailbox).where(Mailbox.address == normalize_address(selector)).order_by(Mailbox.id))
    if box is None:
        raise NotFoundError(f"no mailbox {selector!r}: give its id or address (see `dealpulse mailbox status`)")
    return box


def store_subscription(uow: UnitOfWork, mailbox_id: int, subscription_id: str | None, expires_at: datetime | None) -> None:
    """Remember a push subscription (Graph subscription id, Gmail watch) and when it expires."""
    uow.s.execute(
        update(Mailbox).where(Mailbox.id == mailbox_id)
        .values(subscription_id=subscription_id, subscription_expires_at=expires_at)
        .execution_options(synchronize_session=False)
    )
    uow.commit()
