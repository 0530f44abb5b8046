"""RFC 822 bytes for a composed demo message: headers, MIME structure and identifiers as mail programs make them."""

from __future__ import annotations

import base64
import email.policy
import email.utils
import hashlib
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage

from dealpulse.demo.compose import OUTLOOK_CLIENTS, Body
from dealpulse.demo.people import Person


def token(*parts: object) -> str:
    """A stable hex digest of `parts`: seeds Message-IDs, boundaries and minutes."""
    return hashlib.sha256("/".join(str(p) for p in parts).encode()).hexdigest()


def message_id(writer: Person, seed: str) -> str:
    """A Message-ID shaped like the writer's mail service makes them (short enough never to be folded)."""
    domain = writer.email.split("@")[1]
    if writer.client in OUTLOOK_CLIENTS:
        return f"<{seed[:28].upper()}@{domain.split('.')[0][:12].upper()}.mail.example>"
    if writer.client == "iphone":
        t = seed.upper()
        return f"<{t[:8]}-{t[8:12]}-{t[12:16]}-{t[16:20]}-{t[20:32]}@mail.gmail.com>"
    if writer.client == "newsletter":
        return f"<{seed[:20]}@mailer.{domain}>"
    return f"<CA{base64.urlsafe_b64encode(bytes.fromhex(seed[:36])).decode()}@mail.gmail.com>"


def small_pdf(title: str) -> bytes:
    """A small, valid one-page PDF (the demo lists attachments, nobody stores them)."""
    content = f"BT /F1 18 Tf 72 720 Td ({title}) Tj ET".encode("latin-1", "replace")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


@dataclass(frozen=True)
class Envelope:
    """Everything about one message except its body."""

    writer: Person
    sender: str  # `Name <address>` as written in From
    to: list[str]
    cc: list[str]
    subject: str
    topic: str  # the thread's subject without prefixes (Outlook's Thread-Topic)
    sent_at: datetime
    message_id: str
    references: list[str]  # earlier Message-IDs of the thread, oldest first; the last is In-Reply-To
    html_only: bool = False
    attachment: str | None = None
    auto_reply: bool = False


def _html_document(writer: Person, inner: str) -> str:
    if writer.client in OUTLOOK_CLIENTS:
        return ('<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8">'
                '<style type="text/css" style="display:none;"> P {margin-top:0;margin-bottom:0;} </style>'
                f'</head><body dir="ltr">{inner}</body></html>')
    if writer.client == "newsletter":
        return f'<!DOCTYPE html><html><head><meta charset="utf-8"></head><body style="margin:0">{inner}</body></html>'
    return inner


def _client_headers(mime: EmailMessage, envelope: Envelope) -> None:
    writer = envelope.writer
    domain = writer.email.split("@")[1]
    if writer.client in OUTLOOK_CLIENTS:
        mime["Thread-Topic"] = envelope.topic
        mime["Content-Language"] = "de-DE" if writer.client == "outlook_de" else "en-US"
        mime["X-MS-Has-Attach"] = "yes" if envelope.attachment else ""
    elif writer.client == "iphone":
        mime["X-Mailer"] = "iPhone Mail (22B91)"
    elif writer.client == "newsletter":
        mime["List-Unsubscribe"] = f"<https://{domain}/unsubscribe>, <mailto:unsubscribe@{domain}>"
        mime["List-Id"] = f"{writer.company} <news.{domain}>"
        mime["Precedence"] = "bulk"
    if envelope.auto_reply:
        mime["Auto-Submitted"] = "auto-replied"
        mime["X-Auto-Response-Suppress"] = "All"


def _set_boundaries(mime: EmailMessage, envelope: Envelope) -> None:
    """Deterministic boundaries in the writer's program's style (the stdlib would pick random ones)."""
    seed = token(envelope.message_id)
    for number, part in enumerate(p for p in mime.walk() if p.is_multipart()):
        if envelope.writer.client in OUTLOOK_CLIENTS:
            part.set_boundary(f"_00{number}_{seed[:24].upper()}_")
        else:
            part.set_boundary("000000000000" + seed[number * 6:number * 6 + 16])


def to_rfc822(envelope: Envelope, body: Body) -> bytes:
    """The message as CRLF-terminated RFC 822 bytes."""
    writer = envelope.writer
    mime = EmailMessage()
    mime["Date"] = email.utils.format_datetime(envelope.sent_at)
    mime["Message-ID"] = envelope.message_id
    if envelope.references:
        mime["In-Reply-To"] = envelope.references[-1]
        mime["References"] = " ".join(envelope.references)
    mime["Subject"] = envelope.subject
    mime["From"] = envelope.sender
    mime["To"] = ", ".join(envelope.to)
    if envelope.cc:
        mime["Cc"] = ", ".join(envelope.cc)
    _client_headers(mime, envelope)
    html = _html_document(writer, body.html)
    if envelope.html_only or writer.client == "newsletter":
        mime.set_content(html, subtype="html", cte="quoted-printable")
    elif writer.client == "iphone":  # phone mail: plain text only
        mime.set_content(body.text, cte="quoted-printable")
    else:
        mime.set_content(body.text, cte="quoted-printable")
        mime.add_alternative(html, subtype="html", cte="quoted-printable")
    if envelope.attachment:
        title = envelope.attachment.rsplit(".", 1)[0].replace("_", " ")
        mime.add_attachment(small_pdf(title), maintype="application", subtype="pdf", filename=envelope.attachment)
    for part in mime.iter_parts():
        del part["MIME-Version"]  # the stdlib repeats it on converted parts; mail programs do not
    _set_boundaries(mime, envelope)
    return mime.as_bytes(policy=email.policy.SMTP)
