"""How a meeting with the buyer went, as the rep recorded it after it ended (one current outcome per meeting)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, IdMixin, utcnow

MEETING_OUTCOMES = ("positive", "neutral", "negative")


class MeetingOutcome(IdMixin, Base):
    """The outcome of a captured meeting: how it went, the agreed next step and a short note."""

    __tablename__ = "meeting_outcomes"
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    activity_id: Mapped[int] = mapped_column(ForeignKey("activities.id", ondelete="CASCADE"), unique=True)
    outcome: Mapped[str] = mapped_column(String(10))  # positive | neutral | negative
    next_step: Mapped[str] = mapped_column(String(500), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)
