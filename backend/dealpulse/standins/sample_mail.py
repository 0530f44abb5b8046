"""Small builder of RFC 822 messages for loading the stand-ins in tests and benchmarks."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Iterable, Mapping


def rfc822(
    *,
    sender: str,
    to: Iterable[str],
    subject: str,
    body: str,
    message_id: str,
    sent_at: datetime | None = None,
    cc: Iterable[str] = (),
    in_reply_to: str = "",
    html: str = "",
    attachments: Iterable[tuple[str, str, bytes]] = (),
    headers: Mapping[str, str] | None = None,
) -> bytes:
    """RFC 822 bytes; `message_id` without angle brackets; attachments as (filename, content type, data);
    `headers` adds more (e.g. Auto-Submitted, List-Id)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(to)
    if cc:
        message["Cc"] = ", ".join(cc)
    message["Subject"] = subject
    message["Date"] = email.utils.format_datetime((sent_at or datetime.now(UTC)).astimezone(UTC))
    message["Message-ID"] = f"<{message_id}>"
    if in_reply_to:
        message["In-Reply-To"] = f"<{in_reply_to}>"
        message["References"] = f"<{in_reply_to}>"
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(body)
    if html:
        message.add_alternative(html, subtype="html")
    for filename, content_type, data in attachments:
        maintype, _, subtype = content_type.partition("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return message.as_bytes()


def numbered(index: int, *, owner: str, customer: str = "buyer@customer.example", start: datetime | None = None) -> bytes:
    """The `index`-th message of a simple customer conversation (inbound on even, outbound on odd indexes)."""
    start = start or datetime(2026, 9, 1, 9, 0, tzinfo=UTC)
    inbound = index % 2 == 0
    return rfc822(
        sender=customer if inbound else owner,
        to=[owner] if inbound else [customer],
        subject=f"Proposal follow-up #{index}",
        body=f"Message number {index} about the proposal.\n",
        message_id=f"msg-{index}@{(customer if inbound else owner).split('@')[1]}",
        sent_at=start + timedelta(minutes=index),
    )
