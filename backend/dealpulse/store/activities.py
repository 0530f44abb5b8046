"""Mailboxes, captured activities (emails and meetings), their sources, links, notes and thread choices."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, UniqueConstraint, false, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from .base import Base, IdMixin, utcnow

SYNC_STATES = ("idle", "syncing", "throttled", "needs_reconnect", "provider_error", "resyncing", "disconnected")


class Mailbox(IdMixin, Base):
    """A connected Gmail or Microsoft mailbox with its encrypted credentials and sync cursors."""

    __tablename__ = "mailboxes"
    __table_args__ = (UniqueConstraint("provider", "address"),)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(16))  # gmail | microsoft
    address: Mapped[str] = mapped_column(String(320))
    encrypted_credentials: Mapped[str] = mapped_column(Text, default="")  # Fernet token of a JSON document
    mail_cursor: Mapped[str | None] = mapped_column(Text)  # Gmail historyId or Graph delta links (JSON)
    calendar_cursor: Mapped[str | None] = mapped_column(Text)  # Calendar syncToken or Graph calendar delta link
    sync_state: Mapped[str] = mapped_column(String(20), default="idle")
    state_detail: Mapped[str] = mapped_column(String(500), default="")
    paused_until: Mapped[datetime | None]
    last_synced_at: Mapped[datetime | None]
    last_error_at: Mapped[datetime | None]
    consecutive_failures: Mapped[int] = mapped_column(default=0)
    lease_holder: Mapped[str | None] = mapped_column(String(200))  # the sync run holding the lease (host, pid, run)
    subscription_id: Mapped[str | None] = mapped_column(String(200))
    subscription_expires_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    version: Mapped[int] = mapped_column(default=1)


class Activity(IdMixin, Base):
    """An email or meeting stored once per organisation (deduplicated on `dedupe_key`)."""

    __tablename__ = "activities"
    __table_args__ = (UniqueConstraint("org_id", "dedupe_key"),)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10))  # email | meeting
    direction: Mapped[str] = mapped_column(String(10))  # inbound | outbound
    dedupe_key: Mapped[str] = mapped_column(String(600))  # "mid:<Message-ID>", "ical:<uid>" or "src:<mailbox>:<id>"
    message_id: Mapped[str | None] = mapped_column(String(500))  # RFC 822 Message-ID, no angle brackets
    thread_key: Mapped[str] = mapped_column(String(600), default="")  # root Message-ID of the conversation
    subject: Mapped[str] = mapped_column(String(1000), default="")
    occurred_at: Mapped[datetime]
    ends_at: Mapped[datetime | None]  # meetings
    sender_email: Mapped[str] = mapped_column(String(320), default="")
    participants: Mapped[list[Any]] = mapped_column(default=list)  # [{"email", "name", "role": from|to|cc|attendee}]
    new_text: Mapped[str] = mapped_column(Text, default="")
    quoted_text: Mapped[str] = mapped_column(Text, default="")
    signature_text: Mapped[str] = mapped_column(Text, default="")
    body_html: Mapped[str] = mapped_column(Text, default="")  # sanitised for display
    attachments: Mapped[list[Any]] = mapped_column(default=list)  # [{"filename", "content_type", "size"}]
    is_private: Mapped[bool] = mapped_column(Boolean, default=False)
    opportunity_id: Mapped[int | None] = mapped_column(ForeignKey("opportunities.id", ondelete="SET NULL"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"), index=True)
    link_method: Mapped[str] = mapped_column(String(20), default="")  # thread | contact | account | rep | none
    needs_link_choice: Mapped[bool] = mapped_column(Boolean, default=False)
    link_candidates: Mapped[list[Any]] = mapped_column(default=list)  # opportunity ids the rep may choose from
    # Why this activity is not contact from the buyer although it may be inbound: "" (it is), out_of_office,
    # delivery_receipt, auto_reply, mailing_list (automated mail) or declined (every buyer declined the meeting).
    contact_exclusion: Mapped[str] = mapped_column(String(20), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


Index("ix_activities_opp_time", Activity.opportunity_id, Activity.occurred_at)
Index("ix_activities_org_thread", Activity.org_id, Activity.thread_key)
Index("ix_activities_org_message_id", Activity.org_id, Activity.message_id)


class ActivitySource(IdMixin, Base):
    """Where an activity was seen: one row per (mailbox, provider id); the sync upserts on it."""

    __tablename__ = "activity_sources"
    __table_args__ = (UniqueConstraint("mailbox_id", "provider_id"),)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activities.id", ondelete="CASCADE"), index=True)
    mailbox_id: Mapped[int] = mapped_column(ForeignKey("mailboxes.id", ondelete="CASCADE"))
    provider_id: Mapped[str] = mapped_column(String(500))
    provider_thread_id: Mapped[str] = mapped_column(String(500), default="")
    labels: Mapped[list[Any]] = mapped_column(default=list)
    seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class ActivityContact(IdMixin, Base):
    """A known contact who took part in an activity (engaged buying-team members)."""

    __tablename__ = "activity_contacts"
    __table_args__ = (UniqueConstraint("activity_id", "contact_id"),)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activities.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(10), default="to")  # from | to | cc | attendee


class ThreadLink(IdMixin, Base):
    """One rep's choices for a conversation (deal, "not a deal", private); later mail in their mailbox follows them.

    Each rep has their own row: a choice moves and hides only that rep's captured copies, never a colleague's.
    """

    __tablename__ = "thread_links"
    __table_args__ = (UniqueConstraint("org_id", "thread_key", "chosen_by_id"),)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    thread_key: Mapped[str] = mapped_column(String(600))
    opportunity_id: Mapped[int | None] = mapped_column(ForeignKey("opportunities.id", ondelete="CASCADE"))
    no_deal: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())  # the rep said "not a deal"
    is_private: Mapped[bool] = mapped_column(Boolean, default=False)
    chosen_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))  # whose choice
    chosen_at: Mapped[datetime] = mapped_column(default=utcnow)


class ActivityNote(IdMixin, Base):
    """A rep's note on an activity."""

    __tablename__ = "activity_notes"
    activity_id: Mapped[int] = mapped_column(ForeignKey("activities.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


def mailbox_owners(session: Session, activity_ids: Iterable[int]) -> dict[int, set[int]]:
    """Activity id -> the users whose mailboxes captured it (every id given; an empty set when none did)."""
    ids = sorted(set(activity_ids))
    out: dict[int, set[int]] = {i: set() for i in ids}
    for start in range(0, len(ids), 500):
        rows = session.execute(
            select(ActivitySource.activity_id, Mailbox.user_id)
            .join(Mailbox, Mailbox.id == ActivitySource.mailbox_id)
            .where(ActivitySource.activity_id.in_(ids[start : start + 500]))
        )
        for activity_id, user_id in rows:
            out[activity_id].add(user_id)
    return out
