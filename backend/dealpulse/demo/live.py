"""The live demo mailbox: the demo corpus served by the local Gmail/Calendar stand-in and synced through the real connectors."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, update

from ..config import Settings
from ..services.mailboxes import add_mailbox
from ..services.sync import SyncResult, sync_mailbox
from ..standins.google import GoogleStandIn
from ..standins.google_calendar_server import Attendee
from ..store import Mailbox, User, utcnow
from ..store.database import Database
from .mailbox import demo_events, demo_mail
from .orgdata import load_org

log = logging.getLogger(__name__)


def demo_refresh_token(address: str) -> str:
    """The stand-in refresh token of a demo mailbox (stable, so restarts reconnect the same mailboxes)."""
    return f"demo-refresh-{address.lower()}"


@dataclass
class LiveDemoMail:
    """A running demo mailbox: the stand-in, the settings pointing at it, and what the first sync stored."""

    settings: Settings
    standin: GoogleStandIn
    mailbox_ids: dict[str, int] = field(default_factory=dict)  # owner address -> mailbox id
    results: list[SyncResult] = field(default_factory=list)
    loaded_messages: int = 0
    loaded_events: int = 0

    @property
    def synced(self) -> int:
        """Activities the initial sync stored."""
        return sum(r.stored for r in self.results)

    def stop(self) -> None:
        """Stop serving the demo mailbox."""
        self.standin.stop()


def start_demo_mail(settings: Settings, db: Database, now: datetime | None = None, *, port: int = 0) -> LiveDemoMail:
    """Serve the demo corpus on 127.0.0.1, connect a Gmail mailbox per demo rep, and sync each through GmailConnector.

    Call after the demo organisation is seeded. Returns the handle whose `settings` point at the stand-in;
    polling goes on through the worker's periodic task. Restarting re-reads every mailbox (no duplicates).
    """
    now = now or utcnow()
    standin = GoogleStandIn(port=port)
    owners = _mailbox_owners(db)
    loaded_messages, loaded_events = load_demo_corpus(standin, owners, now)
    standin.start()
    live_settings = dataclasses.replace(settings, **standin.settings_overrides())
    live = LiveDemoMail(live_settings, standin, loaded_messages=loaded_messages, loaded_events=loaded_events)
    try:
        for address in owners:
            with db.uow() as uow:
                mailbox_id = add_mailbox(uow, live_settings, provider="gmail", address=address,
                                         refresh_token=demo_refresh_token(address))
                # A new stand-in knows nothing of the last run's cursors: read everything again (upserts dedupe).
                uow.s.execute(update(Mailbox).where(Mailbox.id == mailbox_id).values(mail_cursor=None, calendar_cursor=None)
                              .execution_options(synchronize_session=False))
                uow.commit()
            live.mailbox_ids[address] = mailbox_id
        for address, mailbox_id in live.mailbox_ids.items():
            result = sync_mailbox(db, live_settings, mailbox_id)
            log.info("demo mailbox %s: %s, %d stored", address, result.state, result.stored)
            live.results.append(result)
    except Exception:
        standin.stop()
        raise
    return live


def load_demo_corpus(standin: GoogleStandIn, owners: list[str], now: datetime) -> tuple[int, int]:
    """Add every demo rep (`owners`, extended with any other corpus owner) with its stable refresh token, the demo
    mail and the demo calendar to `standin`; returns (messages, events)."""
    for address in owners:
        standin.add_user(address, demo_refresh_token(address))
    loaded_messages = 0
    for mail in demo_mail(now):
        if mail.owner.lower() not in owners:
            standin.add_user(mail.owner, demo_refresh_token(mail.owner))
            owners.append(mail.owner.lower())
        standin.add_message(mail.owner, mail.raw, mail.label_ids, mail.internal_date)
        loaded_messages += 1
    loaded_events = 0
    for event in demo_events(now):
        if event.owner.lower() not in owners:
            standin.add_user(event.owner, demo_refresh_token(event.owner))
            owners.append(event.owner.lower())
        event_id = standin.add_event(
            event.owner,
            summary=event.summary,
            start=event.start,
            end=event.end,
            attendees=[Attendee(email, name, response) for email, name, response in event.attendees],
            organizer=event.organizer_email,
            description=event.description,
            ical_uid=event.ical_uid,
        )
        if event.status == "cancelled":
            standin.calendar(event.owner).cancel_event(event_id)
        loaded_events += 1
    return loaded_messages, loaded_events


def demo_reps() -> list[str]:
    """Every demo rep's address, from the demo organisation's data."""
    return [u["email"].lower() for u in load_org()["users"] if u["role"] == "rep"]


def _mailbox_owners(db: Database) -> list[str]:
    """Every demo rep's address (they must exist: the organisation is seeded first)."""
    reps = demo_reps()
    with db.uow() as uow:
        known = set(uow.s.scalars(select(User.email).where(User.email.in_(reps))))
    missing = [r for r in reps if r not in known]
    if missing:
        raise RuntimeError(f"seed the demo organisation before starting its mailbox (missing users: {', '.join(missing)})")
    return reps
