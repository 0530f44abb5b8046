"""The demo mailbox's script: threads and meetings as written in data/threads/*.toml, validated."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

THREADS_RESOURCE = "data/threads"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class MessageSpec(_Strict):
    """One email: who wrote it, when (days ago, sender's local hour) and its new text."""

    sender: str = Field(alias="from")
    to: list[str] | None = None  # default: reply-all to the previous message
    cc: list[str] | None = None
    days_ago: int = Field(ge=1, le=120)  # whole days before today in the sender's time zone
    hour: int = Field(ge=0, le=23)
    minute: int | None = Field(default=None, ge=0, le=59)  # default: derived from the message's place
    text: str
    html_only: bool = False
    attachment: str | None = None  # a PDF file name: a small PDF is attached
    auto_reply: bool = False  # an out-of-office answer (Auto-Submitted header, no quote)
    forward: bool = False  # forwards the previous message instead of replying to it
    quote: bool = True  # replies quote the previous message unless false


class ThreadSpec(_Strict):
    """A conversation: a subject and its messages in order."""

    subject: str
    mailboxes: list[str] | None = None  # default: the file's mailbox or the opportunity's owner
    labels: list[str] | None = None  # fixed Gmail labels for inbound mail (e.g. promotions)
    messages: list[MessageSpec] = Field(min_length=1)


class MeetingSpec(_Strict):
    """A calendar event; negative days_ago is in the future."""

    summary: str
    days_ago: int = Field(ge=-60, le=120)
    hour: int = Field(ge=0, le=23)
    minute: int = Field(default=0, ge=0, le=59)
    duration: int = Field(default=30, ge=5, le=480)  # minutes
    calendar: str | None = None  # whose calendar holds it; default: the file's mailbox or the opportunity's owner
    organizer: str | None = None  # default: the calendar's owner
    attendees: list[str] = []
    declined: list[str] = []
    tentative: list[str] = []
    pending: list[str] = []  # no answer yet (needsAction)
    status: Literal["confirmed", "cancelled"] = "confirmed"
    description: str = ""


class PersonSpec(_Strict):
    """Someone outside org.json (a dentist, a retailer, a relative) who writes to a rep."""

    name: str
    title: str = ""
    company: str = ""
    phone: str = ""
    client: str = "gmail"
    utc_offset: float = 0.0


class ThreadFile(_Strict):
    """One file of the script: usually one opportunity's mail and meetings."""

    opportunity: str | None = None
    mailbox: str | None = None
    people: dict[str, PersonSpec] = {}
    threads: list[ThreadSpec] = []
    meetings: list[MeetingSpec] = []


@dataclass(frozen=True)
class Script:
    """Every thread file by name (the name seeds stable Message-IDs)."""

    files: dict[str, ThreadFile]


def load_script() -> Script:
    """Read and validate data/threads/*.toml; a bad file raises ValueError naming the file and field."""
    folder = resources.files("dealpulse.demo").joinpath(THREADS_RESOURCE)
    files: dict[str, ThreadFile] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".toml"):
            continue
        try:
            files[entry.name.removesuffix(".toml")] = ThreadFile.model_validate(tomllib.loads(entry.read_text("utf-8")))
        except (tomllib.TOMLDecodeError, ValidationError) as exc:
            raise ValueError(f"demo thread file {entry.name}: {exc}") from exc
    return Script(files)
