"""What one fetched mail or calendar event becomes on its way to the store: the mailbox scope it came from, its
keys and participants, which way it went, whether it counts as contact from the buyer, and its split content."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Iterable

from ..mail.automated import automated_kind
from ..mail.html_text import sanitize_email_html
from ..mail.linking import (
    CustomerMatches,
    OrgDirectory,
    normalize_address,
    participants_of,
    thread_key_for,
)
from ..mail.privacy import NeverLogList, PrivacyRules
from ..mail.reply_split import split_reply
from ..mail.types import FetchedEvent, FetchedMail

#: The longest Message-ID / iCalUID we key on (the dedupe_key column holds 600 characters).
_MAX_KEY = 560


@dataclass(frozen=True)
class CaptureScope:
    """The mailbox a batch came from and what privacy and linking need to know about its owner."""

    mailbox_id: int
    org_id: int
    owner_id: int
    owner_addresses: frozenset[str]
    directory: OrgDirectory
    never_log: NeverLogList
    rules: PrivacyRules = PrivacyRules()  # the organisation's capture rules and the owner's private default


@dataclass
class Candidate:
    """One mail or meeting on its way to the store."""

    kind: str
    provider_id: str
    provider_thread_id: str
    labels: list[str]
    dedupe_key: str
    message_id: str | None
    thread_key: str
    subject: str
    occurred_at: datetime
    ends_at: datetime | None
    sender: str
    participants: list[dict[str, str]]
    is_sent: bool
    source: FetchedMail | FetchedEvent
    automated: str = ""  # mail.automated kind ("" when a person wrote it)

    @property
    def addresses(self) -> list[str]:
        return [p["email"] for p in self.participants]


def _key(value: str) -> str:
    return value.strip().strip("<>")[:_MAX_KEY]


def mail_candidate(scope: CaptureScope, mail: FetchedMail) -> Candidate:
    """A fetched mail as a candidate: keys, thread, participants, automated kind."""
    message_id = _key(mail.message_id)
    fallback = f"src:{scope.mailbox_id}:{mail.provider_id}"
    return Candidate(
        kind="email",
        provider_id=mail.provider_id,
        provider_thread_id=mail.thread_id,
        labels=list(mail.labels),
        dedupe_key=f"mid:{message_id}" if message_id else fallback,
        message_id=message_id or None,
        thread_key=_key(thread_key_for(message_id, mail.in_reply_to, mail.references, f"thr:{scope.mailbox_id}:{mail.thread_id or mail.provider_id}")),
        subject=(mail.subject or "")[:1000],
        occurred_at=mail.sent_at,
        ends_at=None,
        sender=normalize_address(mail.sender.email) if mail.sender else "",
        participants=participants_of(mail.sender, mail.to, mail.cc, mail.bcc),
        is_sent=mail.is_sent,
        source=mail,
        automated=automated_kind(
            mail.automation_headers, normalize_address(mail.sender.email) if mail.sender else "", mail.subject or "",
            mail.body_text or "",
        ),
    )


def event_candidate(scope: CaptureScope, event: FetchedEvent) -> Candidate:
    """A fetched calendar event as a candidate (a meeting)."""
    uid = _key(event.ical_uid)
    participants: list[dict[str, str]] = []
    seen: set[str] = set()
    for role, people in (("organizer", [event.organizer] if event.organizer else []), ("attendee", event.attendees)):
        for person in people:
            email = normalize_address(person.email)
            if email and email not in seen:
                seen.add(email)
                participants.append({"email": email, "name": person.name or "", "role": role})
    return Candidate(
        kind="meeting",
        provider_id=event.provider_id,
        provider_thread_id="",
        labels=[],
        dedupe_key=f"ical:{uid}" if uid else f"src:{scope.mailbox_id}:{event.provider_id}",
        message_id=None,
        thread_key=f"ical:{uid}" if uid else f"evt:{scope.mailbox_id}:{event.provider_id}",
        subject=(event.subject or "")[:1000],
        occurred_at=event.start,
        ends_at=event.end,
        sender=participants[0]["email"] if participants else "",
        participants=participants,
        is_sent=False,
        source=event,
    )


def direction_for(candidate: Candidate, scope: CaptureScope, customers: CustomerMatches) -> str:
    """Which way an activity went, the same for every mailbox that sees it.

    Email: outbound when the mailbox owner (address or any alias) or any colleague sent it, or the provider filed
    it as sent; inbound when a customer did. Meeting: inbound when a customer contact or account takes part — a
    meeting with the buyer is engagement from their side — else outbound. (Connectors report attendees without
    their responses; the dynamics count a meeting only once it has started.)
    """
    if candidate.kind == "meeting":
        external = [a for a in candidate.addresses if not scope.directory.is_internal(a)]
        engaged = any(customers.contact(a) or customers.account_for(a) is not None for a in external)
        return "inbound" if engaged else "outbound"
    if candidate.is_sent or candidate.sender in scope.owner_addresses or scope.directory.is_internal(candidate.sender):
        return "outbound"
    return "inbound"


def contact_exclusion_for(candidate: Candidate, scope: CaptureScope, customers: CustomerMatches) -> str:
    """Why the activity is not contact from the buyer ("" when it is): automated mail, or a meeting every buyer declined."""
    source = candidate.source
    if isinstance(source, FetchedEvent):
        buyers = [a for a in candidate.addresses if not scope.directory.is_internal(a)
                  and (customers.contact(a) or customers.account_for(a) is not None)]
        declined = {normalize_address(a) for a in source.declined}
        return "declined" if buyers and all(b in declined for b in buyers) else ""
    return candidate.automated


def content_of(candidate: Candidate, earlier: Iterable[str] = ()) -> dict[str, Any]:
    """Text split into new / quoted / signature, sanitised HTML and the attachment list.

    `earlier` is what earlier mail of the thread said: a ">" block repeating it is quoted history.
    """
    source = candidate.source
    if isinstance(source, FetchedEvent):
        return {"new_text": source.description or "", "quoted_text": "", "signature_text": "", "body_html": "", "attachments": []}
    parts = split_reply(source.body_text or "", earlier)
    return {
        "new_text": parts.new_text,
        "quoted_text": parts.quoted_text,
        "signature_text": "\n\n".join(p for p in (parts.signature, parts.disclaimer) if p),
        "body_html": sanitize_email_html(source.body_html) if source.body_html else "",
        "attachments": [{"filename": a.filename, "content_type": a.content_type, "size": a.size} for a in source.attachments],
    }
