"""Alert webhooks: a signed, Slack-compatible post per newly opened or re-opened alert.

Every attempt is an `AlertDelivery` row. Webhooks start `pending` and are retried with exponential backoff (due at
created_at + base * (2**attempts - 1)) until `MAX_WEBHOOK_ATTEMPTS`, then `failed`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from datetime import datetime, timedelta
from typing import Any, Callable

import requests
from sqlalchemy import select, update

from ..config import Settings
from ..store import Alert, AlertDelivery, Opportunity, User, utcnow
from ..store.database import Database
from ..store.uow import UnitOfWork
from .alert_feed import SEVERITY_MARK

log = logging.getLogger(__name__)

MAX_WEBHOOK_ATTEMPTS = 5
WEBHOOK_BASE_DELAY = timedelta(seconds=30)
WEBHOOK_TIMEOUT_SECONDS = 5.0
SIGNATURE_HEADER = "X-DealPulse-Signature"


def slack_escape(text: str) -> str:
    """Text safe inside Slack `text`/mrkdwn: &, < and > escaped as Slack requires (no <!channel>, no forged links)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def sign(body: bytes, secret: str) -> str:
    """The signature header value: sha256=<hex HMAC-SHA256 of the body>."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, secret: str, header: str) -> bool:
    """True if `header` is the signature of `body` (constant-time); for receivers and tests."""
    return hmac.compare_digest(sign(body, secret), header or "")


def webhook_payload(alert: Alert, deal: str, owner: str, base_url: str) -> dict[str, Any]:
    """Slack-compatible JSON: `text` for any receiver, `blocks` for Slack, `dealpulse` with the raw facts.

    Every text Slack renders is escaped (`slack_escape`): a deal named `<!channel>` or `<https://evil|...>` shows as
    typed instead of pinging the channel or forging a link. `dealpulse` keeps the raw values for machines.
    """
    link = f"{base_url.rstrip('/')}/dashboard/deals/{alert.opportunity_id}"
    deal, owner, reason = (slack_escape(v) for v in (deal, owner, alert.reason))
    rule, severity = slack_escape(alert.rule), slack_escape(alert.severity)
    text = f"{SEVERITY_MARK.get(alert.severity, '')} {deal} ({owner}): {reason}"
    return {
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": f"*{deal}* ({owner})\n{reason}"}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": f"{rule} · {severity} · <{slack_escape(link)}|open the deal>"}]},
        ],
        "dealpulse": {"alert_id": alert.id, "opportunity_id": alert.opportunity_id, "rule": alert.rule,
                      "severity": alert.severity, "state": alert.state, "opened_at": alert.opened_at.isoformat(), "link": link},
    }


def next_attempt_at(delivery: AlertDelivery) -> datetime:
    """When a pending webhook delivery is due: immediately, then after 30 s, 90 s, 210 s, ... from its creation."""
    return delivery.created_at + WEBHOOK_BASE_DELAY * (2 ** delivery.attempts - 1)


Poster = Callable[[str, bytes, dict[str, str]], int]


def _claim(uow: UnitOfWork, delivery: AlertDelivery) -> bool:
    """Count this attempt with a conditional UPDATE; False when another worker already took it (no double post).

    The claimed attempt is not due again before the next backoff step (30 s or more), far beyond the 5 s request
    timeout, so a delivery in flight is never taken twice; one whose worker died is retried at that step.
    """
    claimed = uow.s.execute(
        update(AlertDelivery)
        .where(AlertDelivery.id == delivery.id, AlertDelivery.status == "pending", AlertDelivery.attempts == delivery.attempts)
        .values(attempts=delivery.attempts + 1)
        .execution_options(synchronize_session=False)
    ).rowcount == 1
    uow.commit()
    if claimed:
        delivery.attempts += 1
    return claimed


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    with requests.Session() as session:
        session.trust_env = False
        return session.post(url, data=body, headers=headers, timeout=WEBHOOK_TIMEOUT_SECONDS).status_code


def deliver_webhooks(db: Database, settings: Settings, now: datetime | None = None, *, post: Poster = _post) -> dict[str, int]:
    """Try every due pending webhook delivery once; returns counts of sent, retrying and failed."""
    counts = {"sent": 0, "retrying": 0, "failed": 0}
    if not settings.webhook_url:
        return counts
    now = now or utcnow()
    with db.uow() as uow:
        pending = uow.s.execute(
            select(AlertDelivery, Alert, Opportunity.name, User.name)
            .join(Alert, Alert.id == AlertDelivery.alert_id)
            .join(Opportunity, Opportunity.id == Alert.opportunity_id)
            .join(User, User.id == Opportunity.owner_id)
            .where(AlertDelivery.channel == "webhook", AlertDelivery.status == "pending")
            .order_by(AlertDelivery.id)
        ).all()
        for delivery, alert, deal, owner in pending:
            if next_attempt_at(delivery) > now or not _claim(uow, delivery):
                continue
            body = json.dumps(webhook_payload(alert, deal, owner, settings.base_url), separators=(",", ":")).encode()
            headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(body, settings.webhook_secret or "")}
            try:
                status = post(settings.webhook_url, body, headers)
                error = "" if 200 <= status < 300 else f"HTTP {status}"
            except requests.RequestException as exc:
                error = f"{exc.__class__.__name__}: {exc}"[:500]
            delivery.recipient = settings.webhook_url[:500]
            if not error:
                delivery.status, delivery.delivered_at, delivery.last_error = "sent", now, ""
                counts["sent"] += 1
            else:
                delivery.last_error = error
                if delivery.attempts >= MAX_WEBHOOK_ATTEMPTS:
                    delivery.status = "failed"
                    counts["failed"] += 1
                else:
                    counts["retrying"] += 1
            uow.commit()
    return counts
