"""Push subscriptions: Gmail watches (Pub/Sub) and Graph change-notification subscriptions, renewed before expiry."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import or_, select

from ..config import Settings
from ..crypto import SecretBox, graph_client_state
from ..mail.google_api import GoogleApiCaller, build_service
from ..mail.google_auth import google_credentials
from ..mail.ms_auth import MsalTokenProvider, build_msal_app, microsoft_session
from ..mail.types import SyncError
from ..store import Mailbox, utcnow
from ..store.database import Database
from .mailboxes import store_subscription

log = logging.getLogger(__name__)

RENEW_BEFORE = timedelta(hours=24)
GRAPH_LIFETIME = timedelta(minutes=4200)  # Graph allows at most 10,080 minutes (7 days) for Outlook messages
GRAPH_RESOURCE = "me/messages"
GMAIL_WATCHED_LABELS = ["INBOX", "SENT"]


def ensure_subscription(db: Database, settings: Settings, mailbox_id: int) -> datetime | None:
    """Create or renew the mailbox's push subscription; returns its expiry (None when push is not configured)."""
    with db.uow() as uow:
        box = uow.s.get(Mailbox, mailbox_id)
        provider, subscription_id = box.provider, box.subscription_id
        credentials = SecretBox(settings).open(box.encrypted_credentials)
    refresh_token = str(credentials.get("refresh_token") or "")
    if provider == "gmail":
        if not settings.gmail_pubsub_topic:
            return None
        new_id, expires_at = _gmail_watch(settings, refresh_token)
    else:
        new_id, expires_at = _graph_subscription(settings, refresh_token, subscription_id)
    with db.uow() as uow:
        store_subscription(uow, mailbox_id, new_id, expires_at)
    return expires_at


def renew_expiring(db: Database, settings: Settings, now: datetime | None = None) -> int:
    """Renew every connected mailbox's subscription that is missing or expires within a day; returns how many."""
    now = now or utcnow()
    with db.uow() as uow:
        ids = list(uow.s.scalars(
            select(Mailbox.id).where(
                Mailbox.sync_state.not_in(("needs_reconnect", "disconnected")),
                or_(Mailbox.subscription_expires_at.is_(None), Mailbox.subscription_expires_at < now + RENEW_BEFORE),
            )
        ))
    renewed = 0
    for mailbox_id in ids:
        try:
            if ensure_subscription(db, settings, mailbox_id) is not None:
                renewed += 1
        except (SyncError, OSError, ValueError) as exc:  # polling still covers this mailbox
            log.warning("mailbox %s: push subscription not renewed: %s", mailbox_id, exc)
    return renewed


def _gmail_watch(settings: Settings, refresh_token: str) -> tuple[str, datetime]:
    credentials = google_credentials(settings, refresh_token)
    service = build_service("gmail", "v1", credentials, settings.gmail_api_url.rstrip("/") + "/", 30.0)
    body = {"topicName": settings.gmail_pubsub_topic, "labelIds": GMAIL_WATCHED_LABELS, "labelFilterBehavior": "include"}
    answer = GoogleApiCaller(credentials).execute(service.users().watch(userId="me", body=body))
    expires_at = datetime.fromtimestamp(int(answer["expiration"]) / 1000, timezone.utc)
    return f"gmail-watch:{settings.gmail_pubsub_topic}", expires_at


def _graph_subscription(settings: Settings, refresh_token: str, subscription_id: str | None) -> tuple[str, datetime]:
    session = microsoft_session(settings)
    token = MsalTokenProvider(build_msal_app(settings, session), refresh_token)()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    expires_at = utcnow() + GRAPH_LIFETIME
    expiry = expires_at.isoformat().replace("+00:00", "Z")
    root = settings.graph_api_url.rstrip("/") + "/subscriptions"
    if subscription_id:
        response = session.patch(f"{root}/{subscription_id}", json={"expirationDateTime": expiry}, headers=headers, timeout=30)
        if response.ok:
            return subscription_id, _expiry(response.json(), expires_at)
        if response.status_code != 404:
            raise SyncError(f"Graph refused to renew subscription {subscription_id}: {response.status_code} {response.text[:200]}")
    body = {
        "changeType": "created,updated,deleted",
        "notificationUrl": settings.base_url.rstrip("/") + "/push/graph",
        "resource": GRAPH_RESOURCE,
        "expirationDateTime": expiry,
        "clientState": graph_client_state(settings)[:128],
    }
    response = session.post(root, json=body, headers=headers, timeout=60)
    if not response.ok:
        raise SyncError(f"Graph refused the subscription: {response.status_code} {response.text[:200]}")
    data = response.json()
    return str(data["id"]), _expiry(data, expires_at)


def _expiry(data: dict[str, Any], default: datetime) -> datetime:
    try:
        return datetime.fromisoformat(str(data["expirationDateTime"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return default
