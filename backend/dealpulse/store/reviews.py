"""Pipeline reviews (a manager's one-to-one with a rep, with its agenda snapshot) and their action items."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, IdMixin, utcnow

ACTION_OWNER_KINDS = ("rep", "manager", "executive")
ACTION_STATUSES = ("open", "done", "dropped")
ACTION_PRIORITIES = ("high", "medium", "low")


class Review(IdMixin, Base):
    """One pipeline review of a rep, with the agenda as both of them saw it."""

    __tablename__ = "reviews"
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    rep_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    held_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    held_at: Mapped[datetime] = mapped_column(default=utcnow)
    agenda: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ActionItem(IdMixin, Base):
    """What blocks a deal, who removes the obstacle by when, and how much it matters."""

    __tablename__ = "action_items"
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    opportunity_id: Mapped[int] = mapped_column(ForeignKey("opportunities.id", ondelete="CASCADE"), index=True)
    review_id: Mapped[int | None] = mapped_column(ForeignKey("reviews.id", ondelete="SET NULL"), index=True)
    obstacle: Mapped[str] = mapped_column(Text)
    owner_kind: Mapped[str] = mapped_column(String(16))  # rep | manager | executive
    owner_name: Mapped[str] = mapped_column(String(200), default="")  # the named executive
    due_date: Mapped[date]
    priority: Mapped[str] = mapped_column(String(8), default="medium")  # high | medium | low
    status: Mapped[str] = mapped_column(String(8), default="open")  # open | done | dropped
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


Index("ix_action_items_org_status_due", ActionItem.org_id, ActionItem.status, ActionItem.due_date)
