"""The managers' alert digest by email (SMTP).

Every attempt is an `AlertDelivery` row: a digest claims one `pending` row per (alert, manager) before it sends,
then marks it `sent` or `failed`; an alert is due again when it re-opens (its `opened_at` moves past the row's
`created_at`) or when its last attempt failed.
"""

from __future__ import annotations

import logging
import re
import smtplib
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from html import escape
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import exists, select, update

from ..config import Settings
from ..store import Alert, AlertDelivery, Opportunity, Team, User, utcnow
from ..store.database import Database
from .action_items import open_items_for_teams, overdue_for_teams
from .alert_feed import SEVERITY_MARK

log = logging.getLogger(__name__)

DIGEST_CLAIM_TIMEOUT = timedelta(minutes=10)  # far beyond one SMTP hand-over (10 s socket timeout)
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")


def plain_text_value(text: str) -> str:
    """A user-typed value on one line of a plain-text email: line breaks and control characters become spaces
    (no forged digest lines) and angle brackets become look-alikes (no <https://...> links in mail clients)."""
    return _CONTROL.sub(" ", text).replace("<", "\u2039").replace(">", "\u203a")


@dataclass(frozen=True)
class DigestItem:
    """One alert line of a digest."""

    alert_id: int
    deal: str
    owner: str
    severity: str
    reason: str
    link: str


def smtp_endpoint(url: str) -> tuple[str, int]:
    """(host, port) from smtp://host:port (port 25 by default); ValueError for anything else."""
    parts = urlsplit(url)
    if parts.scheme != "smtp" or not parts.hostname:
        raise ValueError(f"DEALPULSE_SMTP_URL={url!r}: use smtp://host:port")
    return parts.hostname, parts.port or 25


@dataclass(frozen=True)
class OverdueLine:
    """One overdue action item of a digest."""

    deal: str
    obstacle: str
    owner: str
    due_date: str
    link: str


def digest_message(sender: str, recipient: str, name: str, items: list[DigestItem],
                   overdue: list[OverdueLine] | None = None) -> EmailMessage:
    """A plain-text and HTML digest (every value escaped in the HTML part); overdue action items come first."""
    overdue = overdue or []
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    subject = f"DealPulse: {len(items)} new alert(s) on your team's deals"
    message["Subject"] = subject + (f", {len(overdue)} overdue action item(s)" if overdue else "")
    lines = [f"Hello {plain_text_value(name)},", ""]
    if overdue:
        lines += ["Overdue action items:", ""]
        for line in overdue:
            deal, obstacle, owner = (plain_text_value(v) for v in (line.deal, line.obstacle, line.owner))
            lines += [f"[overdue] {deal}: {obstacle}", f"  {owner}, due {line.due_date}", f"  {line.link}", ""]
    lines += ["New early warnings since your last digest:", ""]
    for item in items:
        deal, owner, reason = (plain_text_value(v) for v in (item.deal, item.owner, item.reason))
        lines += [f"{SEVERITY_MARK.get(item.severity, '')} {deal} ({owner})", f"  {reason}", f"  {item.link}", ""]
    message.set_content("\n".join(lines))
    late = "".join(
        f"<li><strong>{escape(line.deal)}</strong>: {escape(line.obstacle)}<br>{escape(line.owner)}, due "
        f"{escape(line.due_date)}<br><a href=\"{escape(line.link)}\">Open the deal</a></li>"
        for line in overdue
    )
    rows = "".join(
        f"<li><strong>{escape(item.deal)}</strong> ({escape(item.owner)}) &mdash; {escape(item.severity)}<br>"
        f"{escape(item.reason)}<br><a href=\"{escape(item.link)}\">Open the deal</a></li>"
        for item in items
    )
    overdue_html = f"<p>Overdue action items:</p><ul>{late}</ul>" if overdue else ""
    message.add_alternative(f"<p>Hello {escape(name)},</p>{overdue_html}<p>New early warnings since your last digest:</p>"
                            f"<ul>{rows}</ul>", subtype="html")
    return message


def overdue_lines(db: Database, manager: "DigestRecipient", base_url: str, now: datetime) -> list[OverdueLine]:
    """The open action items past their due date on the manager's teams' deals."""
    with db.uow() as uow:
        items = overdue_for_teams(uow, manager.org_id, manager.team_ids, now.date())
    link = f"{base_url.rstrip('/')}/dashboard/deals/"
    return [OverdueLine(i["opportunity"], i["obstacle"], i["owner"], i["due_date"], f"{link}{i['opportunity_id']}")
            for i in items]


@dataclass(frozen=True)
class DigestRecipient:
    """A manager who gets a digest, with the teams whose deals it covers."""

    user_id: int
    org_id: int
    email: str
    name: str
    team_ids: tuple[int, ...]


def digest_recipients(db: Database) -> list[DigestRecipient]:
    """Every active manager of a team."""
    with db.uow() as uow:
        rows = uow.s.execute(
            select(User.id, User.org_id, User.email, User.name, Team.id)
            .join(Team, Team.manager_id == User.id)
            .where(User.is_active.is_(True))
            .order_by(User.id, Team.id)
        ).all()
    teams: dict[tuple[int, int, str, str], list[int]] = {}
    for user_id, org_id, email, name, team_id in rows:
        teams.setdefault((user_id, org_id, email, name), []).append(team_id)
    return [DigestRecipient(u, o, e, n, tuple(t)) for (u, o, e, n), t in teams.items()]


def _mailed_this_open_period(recipient: str) -> Any:
    """A digest to `recipient` claimed or sent since the alert last (re-)opened, which resets `opened_at`."""
    return exists().where(
        AlertDelivery.alert_id == Alert.id, AlertDelivery.channel == "email", AlertDelivery.recipient == recipient,
        AlertDelivery.status.in_(("pending", "sent")), AlertDelivery.created_at >= Alert.opened_at,
    )


def _due_for(manager: DigestRecipient) -> Any:
    """Open alerts on the manager's teams' deals that no digest has covered in their current open period."""
    return (
        select(Alert.id, Alert.opened_at, Alert.opportunity_id, Alert.severity, Alert.reason, Opportunity.name,
               User.name)
        .join(Opportunity, Opportunity.id == Alert.opportunity_id)
        .join(User, User.id == Opportunity.owner_id)
        .where(Alert.org_id == manager.org_id, Alert.state == "open", User.team_id.in_(manager.team_ids),
               ~_mailed_this_open_period(manager.email))
    )


def claim_digest(db: Database, manager: DigestRecipient, base_url: str, now: datetime) -> list[tuple[int, DigestItem]]:
    """Record a pending email delivery for each alert due in the manager's digest; returns (delivery id, item) pairs.

    Claiming before sending is what keeps two overlapping digest runs from mailing an alert twice: the second run
    finds the first one's pending claims and leaves those alerts out. A claim still pending after
    `DIGEST_CLAIM_TIMEOUT` belongs to a run that died before sending, and is given up so that a later run mails it.
    """
    with db.uow() as uow:
        s = uow.s
        # Writing first takes SQLite's write lock, so no other run can claim between our read and our insert.
        s.execute(
            update(AlertDelivery)
            .where(AlertDelivery.channel == "email", AlertDelivery.recipient == manager.email,
                   AlertDelivery.status == "pending", AlertDelivery.created_at < now - DIGEST_CLAIM_TIMEOUT)
            .values(status="failed", last_error="abandoned: the digest run that claimed it did not finish")
            .execution_options(synchronize_session=False)
        )
        # On PostgreSQL a concurrent run waits on these row locks until our claims are committed, then sees them.
        s.execute(_due_for(manager).order_by(Alert.id).with_for_update(of=Alert)).all()
        rows = s.execute(_due_for(manager).order_by(Alert.opened_at, Alert.id)).all()
        # Never dated before the opening it covers, even if this worker's clock is behind the evaluating worker's.
        claims = [AlertDelivery(alert_id=alert_id, channel="email", recipient=manager.email, status="pending",
                                attempts=1, created_at=max(now, opened_at)) for alert_id, opened_at, *_ in rows]
        s.add_all(claims)
        uow.commit()
    link = f"{base_url.rstrip('/')}/dashboard/deals/"
    return [
        (claim.id, DigestItem(alert_id, deal, owner, severity, reason, f"{link}{opportunity_id}"))
        for claim, (alert_id, _, opportunity_id, severity, reason, deal, owner) in zip(claims, rows)
    ]


def send_digests(db: Database, settings: Settings, now: datetime | None = None, sender: str = "dealpulse@localhost") -> int:
    """Email each manager the alerts (re-)opened on their teams' deals since the last digest; returns emails sent."""
    if not settings.smtp_url:
        return 0
    host, port = smtp_endpoint(settings.smtp_url)
    now = now or utcnow()
    sent = 0
    for manager in digest_recipients(db):
        claimed = claim_digest(db, manager, settings.base_url, now)
        if not claimed:
            continue
        message = digest_message(sender, manager.email, manager.name, [item for _, item in claimed],
                                 overdue_lines(db, manager, settings.base_url, now))
        try:
            with smtplib.SMTP(host, port, timeout=10) as smtp:
                smtp.send_message(message)
            status, error = "sent", ""
        except (OSError, smtplib.SMTPException) as exc:
            status, error = "failed", f"{exc.__class__.__name__}: {exc}"[:500]
            log.warning("digest to %s failed: %s", manager.email, error)
        with db.uow() as uow:
            uow.s.execute(
                update(AlertDelivery)
                .where(AlertDelivery.id.in_([delivery_id for delivery_id, _ in claimed]))
                .values(status=status, last_error=error, delivered_at=now if status == "sent" else None)
                .execution_options(synchronize_session=False)
            )
            uow.commit()
        sent += status == "sent"
    return sent


# ---------------------------------------------------------------- weekly action-item reminder

REMINDER_WEEKDAY = 3  # Thursday: the manager can still follow up before the week ends


def week_end(today: date) -> date:
    """The Sunday that ends `today`'s week."""
    return today + timedelta(days=6 - today.weekday())


def reminder_message(sender: str, recipient: str, name: str, lines: list[OverdueLine], until: date) -> EmailMessage:
    """The plain-text reminder of the action items due by the end of the week (values on one line each)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = f"DealPulse: {len(lines)} action item(s) due by {until.isoformat()}: follow up before the week ends"
    body = [f"Hello {plain_text_value(name)},", "", f"Action items on your team's deals due by {until.isoformat()}:", ""]
    for line in lines:
        deal, obstacle, owner = (plain_text_value(v) for v in (line.deal, line.obstacle, line.owner))
        body += [f"{deal}: {obstacle}", f"  {owner}, due {line.due_date}", f"  {line.link}", ""]
    message.set_content("\n".join(body))
    return message


def send_action_item_reminders(db: Database, settings: Settings, now: datetime | None = None,
                               sender: str = "dealpulse@localhost") -> int:
    """On Thursdays, email each manager the open action items on their teams' deals due by Sunday (overdue ones
    included); returns emails sent. Other days send nothing."""
    now = now or utcnow()
    if not settings.smtp_url or now.weekday() != REMINDER_WEEKDAY:
        return 0
    host, port = smtp_endpoint(settings.smtp_url)
    until = week_end(now.date())
    link = f"{settings.base_url.rstrip('/')}/dashboard/deals/"
    sent = 0
    for manager in digest_recipients(db):
        with db.uow() as uow:
            items = open_items_for_teams(uow, manager.org_id, manager.team_ids, now.date(), due_before=until + timedelta(days=1))
        if not items:
            continue
        lines = [OverdueLine(i["opportunity"], i["obstacle"], i["owner"], i["due_date"], f"{link}{i['opportunity_id']}")
                 for i in items]
        try:
            with smtplib.SMTP(host, port, timeout=10) as smtp:
                smtp.send_message(reminder_message(sender, manager.email, manager.name, lines, until))
            sent += 1
        except (OSError, smtplib.SMTPException) as exc:
            log.warning("action-item reminder to %s failed: %s", manager.email, exc)
    return sent
