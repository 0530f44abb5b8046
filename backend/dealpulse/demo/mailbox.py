"""The demo mailbox: every demo user's mail (RFC 822 bytes with Gmail labels) and meetings, dated relative to `now`."""

from __future__ import annotations

import base64
import email.policy
import email.utils
import hashlib
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from email.message import EmailMessage

from dealpulse.demo.compose import OUTLOOK_CLIENTS, Body, Quoted, compose, subject_prefix
from dealpulse.demo.orgdata import load_org
from dealpulse.demo.people import Directory, Person
from dealpulse.demo.threads import MeetingSpec, MessageSpec, Script, ThreadFile, ThreadSpec, load_script

UNREAD_WITHIN = timedelta(days=2)
RECENT_DAYS = 3
SCRIPT_DAY = date(2000, 1, 1)  # an arbitrary "today" to check the script's order of messages against
PRIMARY_INBOX = ["INBOX", "CATEGORY_PERSONAL"]


@dataclass(frozen=True)
class DemoMail:
    """One message as delivered into one mailbox (a message shared by two reps appears twice, same bytes)."""

    owner: str  # the mailbox owner's primary address
    raw: bytes  # RFC 822
    label_ids: list[str]
    internal_date: datetime  # aware UTC


@dataclass(frozen=True)
class DemoEvent:
    """One meeting in the owner's calendar."""

    owner: str
    ical_uid: str
    summary: str
    description: str
    start: datetime  # aware UTC
    end: datetime
    organizer_email: str
    attendees: list[tuple[str, str, str]]  # (email, name, Google responseStatus)
    status: str  # "confirmed" | "cancelled"


@dataclass(frozen=True)
class _Sent:
    """A message already rendered in its thread, for the replies that follow."""

    sender: str
    to: list[str]
    cc: list[str]
    subject: str
    sent_at: datetime  # in the Date header: moved off the weekend
    written: datetime  # on the script's fixed calendar (see _script_moment)
    message_id: str
    body: Body


def _token(*parts: object) -> str:
    return hashlib.sha256("/".join(str(p) for p in parts).encode()).hexdigest()


def _require_aware(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware (e.g. datetime.now(timezone.utc))")
    return now


def _local_moment(now: datetime, person: Person, days_ago: int, hour: int, minute: int) -> datetime:
    """`days_ago` whole days before today on the person's clock, at their local hour:minute."""
    local_today = now.astimezone(person.tz()).date()
    return datetime.combine(local_today - timedelta(days=days_ago), time(hour, minute), tzinfo=person.tz())


def _script_moment(person: Person, days_ago: int, hour: int, minute: int) -> datetime:
    """When the script says a message was written, on a fixed calendar: its order never depends on `now`."""
    return datetime.combine(SCRIPT_DAY - timedelta(days=days_ago), time(hour, minute), tzinfo=person.tz())


def _off_weekend(moment: datetime) -> datetime:
    """A Saturday or Sunday moment moves to the Friday before, same local time (people rarely mail on Sundays)."""
    weekday = moment.weekday()
    return moment - timedelta(days=weekday - 4) if weekday >= 5 else moment


def _meeting_day(start: datetime, now: datetime) -> datetime:
    """A weekend meeting moves to the Friday before (past) or the Monday after (future)."""
    weekday = start.weekday()
    if weekday < 5:
        return start
    return start + timedelta(days=7 - weekday) if start > now else start - timedelta(days=weekday - 4)


def _message_id(writer: Person, token: str) -> str:
    """A Message-ID shaped like the writer's mail service makes them (short enough never to be folded)."""
    if writer.client in OUTLOOK_CLIENTS:
        return f"<{token[:28].upper()}@{writer.email.split('@')[1].split('.')[0][:12].upper()}.mail.example>"
    if writer.client == "iphone":
        t = token.upper()
        return f"<{t[:8]}-{t[8:12]}-{t[12:16]}-{t[16:20]}-{t[20:32]}@mail.gmail.com>"
    if writer.client == "newsletter":
        return f"<{token[:20]}@mailer.{writer.email.split('@')[1]}>"
    return f"<CA{base64.urlsafe_b64encode(bytes.fromhex(token[:36])).decode()}@mail.gmail.com>"


def _pdf(title: str) -> bytes:
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


def _html_document(writer: Person, inner: str) -> str:
    if writer.client in OUTLOOK_CLIENTS:
        return ('<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8">'
                '<style type="text/css" style="display:none;"> P {margin-top:0;margin-bottom:0;} </style>'
                f'</head><body dir="ltr">{inner}</body></html>')
    if writer.client == "newsletter":
        return f'<!DOCTYPE html><html><head><meta charset="utf-8"></head><body style="margin:0">{inner}</body></html>'
    return inner


class _ThreadRenderer:
    """Renders one thread file's mail and meetings for one `now`."""

    def __init__(self, name: str, spec: ThreadFile, owners: dict[str, str], now: datetime):
        self.name = name
        self.spec = spec
        self.now = now
        self.people = Directory({email: person.model_dump() for email, person in spec.people.items()})
        if spec.mailbox:
            self.owner = spec.mailbox
        elif spec.opportunity in owners:
            self.owner = owners[spec.opportunity]
        else:
            raise ValueError(f"demo thread file {name}: needs a known opportunity or a mailbox")

    def mail(self) -> list[DemoMail]:
        """Every message of every thread, once per mailbox it was delivered to."""
        out: list[DemoMail] = []
        for index, thread in enumerate(self.spec.threads):
            out.extend(self._thread(index, thread))
        return out

    def _thread(self, thread_index: int, thread: ThreadSpec) -> list[DemoMail]:
        mailboxes = thread.mailboxes or [self.owner]
        delivered: list[DemoMail] = []
        previous: _Sent | None = None
        references: list[str] = []
        for index, message in enumerate(thread.messages):
            where = f"demo thread file {self.name}, thread {thread_index + 1} ({thread.subject!r}), message {index + 1}"
            sent = self._render(message, previous, thread.subject, _token(self.name, thread_index, index), where)
            raw = self._mime(message, sent, previous, references, thread.subject)
            for owner in mailboxes:
                involved = {self.people.mailbox_of(a) for a in [sent.sender, *sent.to, *sent.cc] if a in self.people}
                if owner not in involved:
                    raise ValueError(f"{where}: {owner} is not a participant, so it cannot be in their mailbox")
                delivered.append(DemoMail(owner, raw, self._labels(owner, sent, thread), sent.sent_at.astimezone(timezone.utc)))
            references.append(sent.message_id)
            previous = sent
        return delivered

    def _addressees(self, message: MessageSpec, previous: _Sent | None, where: str) -> tuple[list[str], list[str]]:
        if message.to is not None:
            return message.to, message.cc or []
        if previous is None or message.forward:
            raise ValueError(f"{where}: the first message of a thread and a forward need an explicit `to`")
        writer = self.people.mailbox_of(message.sender)
        if message.auto_reply:
            return [previous.sender], []
        if self.people.mailbox_of(previous.sender) == writer:
            return previous.to, message.cc if message.cc is not None else previous.cc
        others = [a for a in previous.to + previous.cc if self.people.mailbox_of(a) != writer and a != previous.sender]
        return [previous.sender], message.cc if message.cc is not None else others

    def _render(self, message: MessageSpec, previous: _Sent | None, subject: str, token: str, where: str) -> _Sent:
        writer = self.people[message.sender]
        to, cc = self._addressees(message, previous, where)
        for address in [*to, *cc]:
            self.people[address]  # noqa: B018 - every addressee must be known, to name them in headers and quotes
        minute = message.minute if message.minute is not None else int(token[:4], 16) % 60
        written = _script_moment(writer, message.days_ago, message.hour, minute)
        if previous is not None and written <= previous.written:
            raise ValueError(f"{where}: written at {written}, not after the message it follows ({previous.written})")
        sent_at = _local_moment(self.now, writer, message.days_ago, message.hour, minute)
        if message.days_ago >= RECENT_DAYS:  # recent mail keeps its day, so the demo always has fresh news
            sent_at = _off_weekend(sent_at)
        if previous is not None and sent_at <= previous.sent_at:  # time zones and weekends must not reorder a thread
            sent_at = min(previous.sent_at + timedelta(minutes=9 + minute % 17), self.now - timedelta(seconds=1))
            sent_at = sent_at.astimezone(writer.tz()).replace(microsecond=0)
        if message.auto_reply:
            subject = ("Automatic reply: " if writer.client in OUTLOOK_CLIENTS else "Out of Office: ") + subject
        elif previous is not None:
            subject = subject_prefix(writer.client, message.forward) + subject
        quoted = None
        if previous is not None and message.quote and not message.auto_reply:
            display = self.people.display
            quoted = Quoted(display(previous.sender), [display(a) for a in previous.to], [display(a) for a in previous.cc],
                            previous.subject, previous.sent_at, previous.body.text, previous.body.html)
        body = compose(writer, message.text, quoted, forward=message.forward)
        return _Sent(message.sender.lower(), [a.lower() for a in to], [a.lower() for a in cc], subject, sent_at,
                     written, _message_id(writer, token), body)

    def _mime(self, message: MessageSpec, sent: _Sent, previous: _Sent | None, references: list[str], topic: str) -> bytes:
        writer = self.people[sent.sender]
        mime = EmailMessage()
        mime["Date"] = email.utils.format_datetime(sent.sent_at)
        mime["Message-ID"] = sent.message_id
        if previous is not None:
            mime["In-Reply-To"] = previous.message_id
            mime["References"] = " ".join(references)
        mime["Subject"] = sent.subject
        mime["From"] = self.people.display(sent.sender)
        mime["To"] = ", ".join(self.people.display(a) for a in sent.to)
        if sent.cc:
            mime["Cc"] = ", ".join(self.people.display(a) for a in sent.cc)
        self._client_headers(mime, writer, message, topic)
        html = _html_document(writer, sent.body.html)
        if message.html_only or writer.client == "newsletter":
            mime.set_content(html, subtype="html", cte="quoted-printable")
        elif writer.client == "iphone":  # phone mail: plain text only
            mime.set_content(sent.body.text, cte="quoted-printable")
        else:
            mime.set_content(sent.body.text, cte="quoted-printable")
            mime.add_alternative(html, subtype="html", cte="quoted-printable")
        if message.attachment:
            title = message.attachment.rsplit(".", 1)[0].replace("_", " ")
            mime.add_attachment(_pdf(title), maintype="application", subtype="pdf", filename=message.attachment)
        for part in mime.iter_parts():
            del part["MIME-Version"]  # the stdlib repeats it on converted parts; mail programs do not
        token = _token(sent.message_id)
        for number, part in enumerate(p for p in mime.walk() if p.is_multipart()):
            boundary = f"_00{number}_{token[:24].upper()}_" if writer.client in OUTLOOK_CLIENTS else f"000000000000{token[number * 6:number * 6 + 16]}"
            part.set_boundary(boundary)
        return mime.as_bytes(policy=email.policy.SMTP)

    @staticmethod
    def _client_headers(mime: EmailMessage, writer: Person, message: MessageSpec, topic: str) -> None:
        domain = writer.email.split("@")[1]
        if writer.client in OUTLOOK_CLIENTS:
            mime["Thread-Topic"] = topic
            mime["Content-Language"] = "de-DE" if writer.client == "outlook_de" else "en-US"
            mime["X-MS-Has-Attach"] = "yes" if message.attachment else ""
        elif writer.client == "iphone":
            mime["X-Mailer"] = "iPhone Mail (22B91)"
        elif writer.client == "newsletter":
            mime["List-Unsubscribe"] = f"<https://{domain}/unsubscribe>, <mailto:unsubscribe@{domain}>"
            mime["List-Id"] = f"{writer.company} <news.{domain}>"
            mime["Precedence"] = "bulk"
        if message.auto_reply:
            mime["Auto-Submitted"] = "auto-replied"
            mime["X-Auto-Response-Suppress"] = "All"

    def _labels(self, owner: str, sent: _Sent, thread: ThreadSpec) -> list[str]:
        if self.people.mailbox_of(sent.sender) == owner:
            return ["SENT"]
        labels = list(thread.labels or PRIMARY_INBOX)
        if sent.sent_at > self.now - UNREAD_WITHIN and "INBOX" in labels:
            labels.insert(labels.index("INBOX") + 1, "UNREAD")
        return labels

    def events(self) -> list[DemoEvent]:
        """The file's meetings in the owner's calendar."""
        return [self._event(index, meeting) for index, meeting in enumerate(self.spec.meetings)]

    def _event(self, index: int, meeting: MeetingSpec) -> DemoEvent:
        where = f"demo thread file {self.name}, meeting {index + 1} ({meeting.summary!r})"
        owner = (meeting.calendar or self.owner).lower()
        organizer = (meeting.organizer or owner).lower()
        organizer_person = self.people[organizer]
        invitees = [a.lower() for a in meeting.attendees if a.lower() != organizer]
        unknown = {a.lower() for a in meeting.declined + meeting.tentative + meeting.pending} - set(invitees)
        if unknown:
            raise ValueError(f"{where}: answers from people not invited: {sorted(unknown)}")
        if owner != organizer and owner not in invitees:
            raise ValueError(f"{where}: the calendar owner {owner} is neither organizer nor attendee")

        def response(address: str) -> str:
            for answers, status in ((meeting.declined, "declined"), (meeting.tentative, "tentative"), (meeting.pending, "needsAction")):
                if address in {a.lower() for a in answers}:
                    return status
            return "accepted"

        attendees = [(organizer, organizer_person.name, "accepted")] + [(a, self.people[a].name, response(a)) for a in invitees]
        start = _local_moment(self.now, organizer_person, meeting.days_ago, meeting.hour, meeting.minute)
        start = _meeting_day(start, self.now).astimezone(timezone.utc)
        token = _token(self.name, "meeting", index)
        if organizer_person.client in OUTLOOK_CLIENTS:
            ical_uid = "040000008200E00074C5B7101A82E00800000000" + token[:32].upper()
        else:
            ical_uid = f"{token[:26]}@google.com"
        return DemoEvent(owner, ical_uid, meeting.summary, meeting.description.strip(), start,
                         start + timedelta(minutes=meeting.duration), organizer, attendees, meeting.status)


def _renderers(now: datetime, script: Script | None) -> list[_ThreadRenderer]:
    _require_aware(now)
    owners = {opp["key"]: opp["owner"] for opp in load_org()["opportunities"]}
    files = (script or load_script()).files
    return [_ThreadRenderer(name, spec, owners, now) for name, spec in files.items()]


def demo_mail(now: datetime, script: Script | None = None) -> list[DemoMail]:
    """Every demo mailbox's messages, dated relative to `now`, oldest first (same `now`, same bytes).

    `script` replaces the packaged data/threads (tests); a script that contradicts itself raises ValueError.
    """
    mail = [m for renderer in _renderers(now, script) for m in renderer.mail()]
    return sorted(mail, key=lambda m: (m.internal_date, m.owner, m.raw))


def demo_events(now: datetime, script: Script | None = None) -> list[DemoEvent]:
    """Every demo calendar's meetings, dated relative to `now`, in start order."""
    events = [e for renderer in _renderers(now, script) for e in renderer.events()]
    return sorted(events, key=lambda e: (e.start, e.owner, e.ical_uid))
