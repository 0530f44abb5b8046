"""Provider-neutral shapes that connectors produce and the sync loop consumes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Iterator, Protocol


@dataclass(frozen=True)
class Address:
    """One participant: lower-cased address and display name."""

    email: str
    name: str = ""


@dataclass(frozen=True)
class Attachment:
    """An attachment is listed, never stored."""

    filename: str
    content_type: str
    size: int


@dataclass
class FetchedMail:
    """One email as a connector fetched it, before linking and privacy filters."""

    provider_id: str
    thread_id: str
    message_id: str  # RFC 822 Message-ID without angle brackets; "" when the mail has none
    subject: str
    sender: Address | None
    to: list[Address]
    cc: list[Address]
    sent_at: datetime  # timezone-aware UTC
    body_text: str  # plain text of the whole body (quotes and signature included)
    body_html: str = ""  # raw HTML as received (sanitise before display)
    in_reply_to: str = ""
    references: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)  # Gmail label ids, or Graph folder names ("inbox", "sentitems")
    attachments: list[Attachment] = field(default_factory=list)
    is_sent: bool = False  # the provider says the mailbox owner sent it (Gmail SENT, Graph sentitems)
    bcc: list[Address] = field(default_factory=list)
    content_loaded: bool = True  # False: headers and labels only (metadata first); bodies come from load_content
    automation_headers: dict[str, str] = field(default_factory=dict)  # see mail.automated.AUTOMATION_HEADERS


@dataclass
class FetchedEvent:
    """One calendar event (becomes a meeting activity)."""

    provider_id: str
    ical_uid: str
    subject: str
    start: datetime
    end: datetime
    organizer: Address | None
    attendees: list[Address]
    description: str = ""
    cancelled: bool = False
    location: str = ""
    declined: frozenset[str] = frozenset()  # addresses of attendees who declined


@dataclass
class ChangeBatch:
    """A page of changes; `cursor` is safe to store once this batch (and all before it) is committed."""

    mails: list[FetchedMail] = field(default_factory=list)
    events: list[FetchedEvent] = field(default_factory=list)
    deleted_ids: list[str] = field(default_factory=list)
    cursor: str | None = None  # None: keep the previous cursor until a later batch carries one (or a checkpoint)
    full_resync: bool = False  # True on the first batch of a full (re)sync


class SyncError(Exception):
    """Base class of provider failures the sync loop maps to a mailbox state."""

    state = "error"


class ThrottledError(SyncError):
    """The provider asked us to slow down; retry after `retry_after` seconds."""

    state = "throttled"

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class AuthRevokedError(SyncError):
    """Consent was revoked or the refresh token expired: the rep must reconnect."""

    state = "needs_reconnect"


class CursorExpiredError(SyncError):
    """The stored cursor (history id, delta link, sync token) is no longer valid: full resync."""

    state = "resyncing"

    def __init__(self, message: str, restart_url: str | None = None):
        super().__init__(message)
        self.restart_url = restart_url


class ProviderUnavailableError(SyncError):
    """Retries were exhausted on 5xx or network errors; try again on the next poll."""

    state = "provider_error"


class MailConnector(Protocol):
    """What every mail/calendar connector offers the sync loop."""

    def changes(self, cursor: str | None) -> Iterator[ChangeBatch]:
        """Yield batches since `cursor` (None = full sync); raise a SyncError subclass on failure."""
        ...


class ContentLoader(Protocol):
    """A mail connector that yields headers first (`content_loaded=False`) and downloads bodies on request."""

    def load_content(self, mails: list[FetchedMail]) -> list[FetchedMail]:
        """The same mails with their content (mails deleted meanwhile are left out); raise a SyncError on failure."""
        ...
