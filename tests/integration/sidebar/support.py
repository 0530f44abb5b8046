"""Shared by the sidebar and browser tests: an active tiny tone model and captured emails built row by row.

- `tiny_model_dir` (session): a tiny trained tone version folder, built once.
- `active_tone`: that version copied into the test's model folder and promoted as the global active version.
- `inbox`: `Inbox(db, world)`; `inbox.email(owner="rep.a1", sender=..., opportunity="a1_acme", score=-0.8)`
  stores a captured email (with a current score when `score`/`label` is given) and returns its ids.
Conftests import the fixtures from here.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from dealpulse.sentiment.registry import promote, register_version
from dealpulse.store import Activity, ActivitySource, Mailbox, SentimentScore
from tests.fixtures.tiny_model.build import build_tiny_base, build_tiny_version, copy_version

TINY_VERSION = "tiny-sidebar-0001"
_seq = itertools.count(1)


@dataclass
class StoredEmail:
    """Ids of a stored email."""

    activity_id: int
    message_id: str
    provider_id: str
    thread_key: str


class Inbox:
    """Writes captured emails straight into the store, as capture would have left them."""

    def __init__(self, db: Any, world: Any):
        self.db = db
        self.world = world
        self._mailboxes: dict[str, int] = {}

    def mailbox(self, owner: str) -> int:
        """The (gmail) mailbox of `owner`, created on first use."""
        if owner not in self._mailboxes:
            with self.db.uow() as uow:
                org_id = self.world.other_org_id if owner.startswith("other.") else self.world.org_id
                domain = "other-seller.example" if owner.startswith("other.") else "seller.example"
                box = Mailbox(org_id=org_id, user_id=self.world.users[owner], provider="gmail",
                              address=f"{owner.removeprefix('other.')}@{domain}")
                uow.s.add(box)
                uow.commit()
                self._mailboxes[owner] = box.id
        return self._mailboxes[owner]

    def email(
        self,
        owner: str = "rep.a1",
        *,
        sender: str = "buyer@acme.test.example",
        to: tuple[str, ...] = ("rep.a1@seller.example",),
        subject: str = "Pricing",
        text: str = "Thanks, we are happy to move ahead with the order.",
        opportunity: str | None = "a1_acme",
        direction: str = "inbound",
        days_ago: float = 1.0,
        thread_key: str | None = None,
        label: str | None = None,
        score: float | None = None,
        is_private: bool = False,
        needs_link_choice: bool = False,
        candidates: tuple[str, ...] = (),
        model_version: str = "tiny-sidebar-0001",
    ) -> StoredEmail:
        """Store one captured email seen in `owner`'s mailbox."""
        n = next(_seq)
        message_id = f"m{n}.{uuid.uuid4().hex[:8]}@acme.test.example"
        provider_id = f"gm{n:06d}"
        occurred = datetime.now(timezone.utc) - timedelta(days=days_ago)
        box_id = self.mailbox(owner)
        with self.db.uow() as uow:
            org_id = self.world.other_org_id if owner.startswith("other.") else self.world.org_id
            opp_id = self.world.opportunities[opportunity] if opportunity else None
            participants = [{"email": sender, "name": "", "role": "from"}] + [
                {"email": t, "name": "", "role": "to"} for t in to
            ]
            activity = Activity(
                org_id=org_id, kind="email", direction=direction, dedupe_key=f"mid:{message_id}", message_id=message_id,
                thread_key=thread_key or message_id, subject=subject, occurred_at=occurred, sender_email=sender,
                participants=participants, new_text=text, body_html=f"<p>{text}</p>", is_private=is_private,
                opportunity_id=opp_id, link_method="contact" if opp_id else "none",
                needs_link_choice=needs_link_choice,
                link_candidates=[self.world.opportunities[c] for c in candidates],
            )
            uow.s.add(activity)
            uow.s.flush()
            uow.s.add(ActivitySource(activity_id=activity.id, mailbox_id=box_id,
                                     provider_id=provider_id, provider_thread_id=f"t{n}"))
            if label is not None or score is not None:
                value = score if score is not None else {"negative": -0.8, "neutral": 0.0, "positive": 0.8}[label]
                tone_label = label or ("negative" if value < -0.2 else "positive" if value > 0.2 else "neutral")
                uow.s.add(SentimentScore(
                    activity_id=activity.id, model_version=model_version, label=tone_label, score=value,
                    confidence=0.9, probabilities={}, is_current=True,
                    highlights=[{"text": text, "label": tone_label, "score": value, "start": 0, "end": len(text)}],
                ))
            uow.commit()
            return StoredEmail(activity.id, message_id, provider_id, activity.thread_key)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny trained tone version (built once per session)."""
    root = tmp_path_factory.mktemp("tiny-sidebar")
    base = build_tiny_base(root / "base")
    return build_tiny_version(root / "models", TINY_VERSION, base)


@pytest.fixture
def active_tone(settings, db, tiny_model_dir):
    """The tiny version installed as the global active version for this test's database."""
    copy_version(tiny_model_dir, Path(settings.model_dir))
    with db.uow() as uow:
        register_version(uow, org_id=None, version=TINY_VERSION, method="full", data_hash="tiny", metrics={},
                         training_summary={})
        promote(uow, Path(settings.model_dir), None, TINY_VERSION, reason="tests")
        uow.commit()
    return TINY_VERSION


@pytest.fixture
def inbox(db, world) -> Inbox:
    """Captured-email builder for the test organisation."""
    return Inbox(db, world)
