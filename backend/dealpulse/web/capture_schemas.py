"""Response schemas of the capture routes: timelines, one activity, deal dynamics, mailboxes, thread choices.

They mirror `services.activities`, `services.threads` and `services.mailboxes` field for field, and forbid any other
field, so the OpenAPI document says exactly what the server sends (the fuzz test checks every answer against it).
A private activity read by someone who did not capture it carries metadata only: the content fields are absent.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from ..services.mailboxes import PROVIDERS, STATE_MEANINGS

Provider = Literal[PROVIDERS]  # type: ignore[valid-type]
SyncState = Literal[tuple(STATE_MEANINGS)]  # type: ignore[valid-type]


class Exact(BaseModel):
    """Base of these answers: a field the model does not name is never sent."""

    model_config = ConfigDict(extra="forbid")


class ActivityToneOut(Exact):
    """An activity's current tone; `highlights` (the sentences behind it) only with the content."""

    label: Literal["negative", "neutral", "positive"]
    score: float
    confidence: float
    model_version: str
    highlights: list[dict[str, Any]] | None = None


class ActivityOut(Exact):
    """An email or meeting; subject, texts, HTML and attachments only for those who may read its content."""

    id: int
    kind: Literal["email", "meeting"]
    direction: Literal["inbound", "outbound"]
    occurred_at: str
    ends_at: str | None
    sender_email: str
    participants: list[dict[str, Any]]
    opportunity_id: int | None
    account_id: int | None
    link_method: str
    needs_link_choice: bool
    link_candidates: list[int]
    is_private: bool
    content_hidden: bool
    tone: ActivityToneOut | None
    subject: str | None = None
    new_text: str | None = None
    quoted_text: str | None = None
    signature_text: str | None = None
    body_html: str | None = None
    attachments: list[dict[str, Any]] | None = None


class TimelineOut(Exact):
    """A page of a deal's timeline, newest first; `next_before` pages on (null: no older items)."""

    items: list[ActivityOut]
    next_before: str | None


class EngagedContactOut(Exact):
    """A buyer contact who wrote or met us on the deal in the engagement window."""

    contact_id: int
    name: str
    email: str
    last_engaged_at: str | None


class DynamicsOut(Exact):
    """How the conversation with the buyer is going, in numbers (null: never happened)."""

    opportunity_id: int
    inbound_count: int
    outbound_count: int
    automated_count: int
    last_inbound_at: str | None
    last_outbound_at: str | None
    days_since_last_inbound: int | None
    meetings_count: int
    upcoming_meetings_count: int
    engaged_buyer_contacts: list[EngagedContactOut]
    engaged_buyer_count: int


class MailboxOut(Exact):
    """A connected mailbox and its sync state in words."""

    id: int
    provider: Provider
    address: str
    user_email: str
    state: SyncState
    meaning: str
    detail: str
    last_synced_at: str | None
    paused_until: str | None
    consecutive_failures: int
    needs_action: bool


class MailboxList(Exact):
    """My mailboxes (an admin: the organisation's)."""

    items: list[MailboxOut]


class ThreadPrivacyOut(Exact):
    """What marking a conversation private or public changed: my copies, and others' copies left as they were."""

    thread_key: str
    is_private: bool
    activities: int
    shared_unchanged: int


class ThreadLinkOut(Exact):
    """Where my copies of a conversation now belong (null with `not_a_deal`), how many moved, and from which deals."""

    thread_key: str
    opportunity_id: int | None
    not_a_deal: bool
    activities: int
    moved_from: list[int]


class CandidateDealOut(Exact):
    """A deal an email may belong to."""

    id: int
    name: str
    account: str


class NeedsDealItemOut(Exact):
    """A captured email waiting for a choice of deal (subject "(private)" when its content is hidden)."""

    activity_id: int
    thread_key: str
    kind: Literal["email", "meeting"]
    direction: Literal["inbound", "outbound"]
    occurred_at: str
    subject: str
    sender_email: str
    content_hidden: bool
    mine: bool
    captured_by: list[str]
    candidates: list[CandidateDealOut]


class NeedsDealList(Exact):
    """The "needs a deal" list, newest first."""

    items: list[NeedsDealItemOut]
