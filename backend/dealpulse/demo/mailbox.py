"""The demo mailbox: every demo user's mail (RFC 822 bytes with Gmail labels) and meetings, dated relative to `now`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from dealpulse.demo.clock import local_moment, off_weekend, require_aware, script_moment
from dealpulse.demo.compose import OUTLOOK_CLIENTS, Body, Quoted, compose, subject_prefix
from dealpulse.demo.envelope import Envelope, message_id, to_rfc822, token
from dealpulse.demo.meetings import DemoEvent, render_meeting
from dealpulse.demo.orgdata import load_org
from dealpulse.demo.people import Directory
from dealpulse.demo.threads import MessageSpec, Script, ThreadFile, ThreadSpec, load_script

__all__ = ["DemoEvent", "DemoMail", "demo_events", "demo_mail"]

UNREAD_WITHIN = timedelta(days=2)
RECENT_DAYS = 3  # mail this recent keeps its day even on a weekend, so the demo always has fresh news
PRIMARY_INBOX = ["INBOX", "CATEGORY_PERSONAL"]


@dataclass(frozen=True)
class DemoMail:
    """One message as delivered into one mailbox (a message shared by two reps appears twice, same bytes)."""

    owner: str  # the mailbox owner's primary address
    raw: bytes  # RFC 822
    label_ids: list[str]
    internal_date: datetime  # aware UTC


@dataclass(frozen=True)
class _Sent:
    """A message already rendered in its thread, for the replies that follow."""

    sender: str
    to: list[str]
    cc: list[str]
    envelope: Envelope
    written: datetime  # on the script's fixed calendar (see clock.script_moment)
    body: Body


class _ScriptFile:
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
        return [m for index, thread in enumerate(self.spec.threads) for m in self._thread(index, thread)]

    def events(self) -> list[DemoEvent]:
        """The file's meetings in their calendars."""
        return [
            render_meeting(f"demo thread file {self.name}, meeting {index + 1} ({meeting.summary!r})",
                           f"{self.name}/meeting/{index}", meeting, self.owner, self.people, self.now)
            for index, meeting in enumerate(self.spec.meetings)
        ]

    def _thread(self, thread_index: int, thread: ThreadSpec) -> list[DemoMail]:
        mailboxes = thread.mailboxes or [self.owner]
        delivered: list[DemoMail] = []
        previous: _Sent | None = None
        references: list[str] = []
        for index, message in enumerate(thread.messages):
            where = f"demo thread file {self.name}, thread {thread_index + 1} ({thread.subject!r}), message {index + 1}"
            sent = self._render(message, previous, thread.subject, references, token(self.name, thread_index, index), where)
            raw = to_rfc822(sent.envelope, sent.body)
            involved = {self.people.mailbox_of(a) for a in [sent.sender, *sent.to, *sent.cc]}
            for owner in mailboxes:
                if owner not in involved:
                    raise ValueError(f"{where}: {owner} is not a participant, so it cannot be in their mailbox")
                internal_date = sent.envelope.sent_at.astimezone(timezone.utc)
                delivered.append(DemoMail(owner, raw, self._labels(owner, sent, thread), internal_date))
            references = [*references, sent.envelope.message_id]
            previous = sent
        return delivered

    def _addressees(self, message: MessageSpec, previous: _Sent | None, where: str) -> tuple[list[str], list[str]]:
        """Explicit `to`/`cc`, else what a reply (to all) to the previous message would address."""
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

    def _sent_at(self, message: MessageSpec, previous: _Sent | None, minute: int, where: str) -> tuple[datetime, datetime]:
        """(Date header moment, script moment): in thread order whatever `now`, weekends and time zones do."""
        writer = self.people[message.sender]
        written = script_moment(writer, message.days_ago, message.hour, minute)
        if previous is not None and written <= previous.written:
            raise ValueError(f"{where}: written at {written}, not after the message it follows ({previous.written})")
        sent_at = local_moment(self.now, writer, message.days_ago, message.hour, minute)
        if message.days_ago >= RECENT_DAYS:
            sent_at = off_weekend(sent_at)
        if previous is not None and sent_at <= previous.envelope.sent_at:
            sent_at = min(previous.envelope.sent_at + timedelta(minutes=9 + minute % 17), self.now - timedelta(seconds=1))
            sent_at = sent_at.astimezone(writer.tz()).replace(microsecond=0)
        return sent_at, written

    def _render(self, message: MessageSpec, previous: _Sent | None, topic: str, references: list[str], seed: str,
                where: str) -> _Sent:
        writer = self.people[message.sender]
        to, cc = self._addressees(message, previous, where)
        display = self.people.display  # also refuses addresses nobody knows
        minute = message.minute if message.minute is not None else int(seed[:4], 16) % 60
        sent_at, written = self._sent_at(message, previous, minute, where)
        subject = topic
        if message.auto_reply:
            subject = ("Automatic reply: " if writer.client in OUTLOOK_CLIENTS else "Out of Office: ") + topic
        elif previous is not None:
            subject = subject_prefix(writer.client, message.forward) + topic
        quoted = None
        if previous is not None and message.quote and not message.auto_reply:
            earlier = previous.envelope
            quoted = Quoted(earlier.sender, earlier.to, earlier.cc, earlier.subject, earlier.sent_at,
                            previous.body.text, previous.body.html)
        envelope = Envelope(writer, display(message.sender), [display(a) for a in to], [display(a) for a in cc],
                            subject, topic, sent_at, message_id(writer, seed), references, message.html_only,
                            message.attachment, message.auto_reply)
        body = compose(writer, message.text, quoted, forward=message.forward)
        return _Sent(message.sender.lower(), [a.lower() for a in to], [a.lower() for a in cc], envelope, written, body)

    def _labels(self, owner: str, sent: _Sent, thread: ThreadSpec) -> list[str]:
        if self.people.mailbox_of(sent.sender) == owner:
            return ["SENT"]
        labels = list(thread.labels or PRIMARY_INBOX)
        if sent.envelope.sent_at > self.now - UNREAD_WITHIN and "INBOX" in labels:
            labels.insert(labels.index("INBOX") + 1, "UNREAD")
        return labels


def _script_files(now: datetime, script: Script | None) -> list[_ScriptFile]:
    require_aware(now)
    owners = {opp["key"]: opp["owner"] for opp in load_org()["opportunities"]}
    files = (script or load_script()).files
    return [_ScriptFile(name, spec, owners, now) for name, spec in files.items()]


def demo_mail(now: datetime, script: Script | None = None) -> list[DemoMail]:
    """Every demo mailbox's messages, dated relative to `now`, oldest first (same `now`, same bytes).

    `script` replaces the packaged data/threads (tests); a script that contradicts itself raises ValueError.
    """
    mail = [m for part in _script_files(now, script) for m in part.mail()]
    return sorted(mail, key=lambda m: (m.internal_date, m.owner, m.raw))


def demo_events(now: datetime, script: Script | None = None) -> list[DemoEvent]:
    """Every demo calendar's meetings, dated relative to `now`, in start order."""
    events = [e for part in _script_files(now, script) for e in part.events()]
    return sorted(events, key=lambda e: (e.start, e.owner, e.ical_uid))
