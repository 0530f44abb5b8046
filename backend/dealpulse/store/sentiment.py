"""Tone scores, model versions, raters, ratings with history, and training runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Iterable

from sqlalchemy import Boolean, Float, ForeignKey, Index, String, Text, UniqueConstraint, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from .base import Base, IdMixin, utcnow

CHUNK = 500  # ids per IN list
MODEL_STATUSES = ("candidate", "active", "rejected", "retired")


class ModelVersion(IdMixin, Base):
    """A trained tone model kept under var/models/<version>/; exactly one active per organisation."""

    __tablename__ = "model_versions"
    __table_args__ = (UniqueConstraint("org_id", "version"),)
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    version: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(16), default="candidate")
    parent_version: Mapped[str | None] = mapped_column(String(80))
    method: Mapped[str] = mapped_column(String(40), default="")  # full-finetune | lora | setfit | seed
    data_hash: Mapped[str] = mapped_column(String(64), default="")
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    decision_reason: Mapped[str] = mapped_column(Text, default="")
    training_summary: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    promoted_at: Mapped[datetime | None]


class SentimentScore(IdMixin, Base):
    """The tone of one activity's new text according to one model version."""

    __tablename__ = "sentiment_scores"
    __table_args__ = (UniqueConstraint("activity_id", "model_version"),)
    activity_id: Mapped[int] = mapped_column(ForeignKey("activities.id", ondelete="CASCADE"), index=True)
    model_version: Mapped[str] = mapped_column(String(80), index=True)
    label: Mapped[str] = mapped_column(String(10))
    score: Mapped[float] = mapped_column(Float)  # P(positive) - P(negative), in [-1, 1]
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    probabilities: Mapped[dict[str, Any]] = mapped_column(default=dict)
    highlights: Mapped[list[Any]] = mapped_column(default=list)  # [{"text", "label", "score"}]
    # The sentences that carry the stance (leave-one-out), computed only where shown; None = not computed yet.
    evidence: Mapped[list[Any] | None] = mapped_column(default=None)
    is_current: Mapped[bool] = mapped_column(Boolean, default=True)  # produced by the active version
    scored_at: Mapped[datetime] = mapped_column(default=utcnow)


def current_scores(session: Session, activity_ids: Iterable[int]) -> dict[int, SentimentScore]:
    """The current score (the active version's) of each given activity that has one."""
    ids = sorted(set(activity_ids))
    out: dict[int, SentimentScore] = {}
    for start in range(0, len(ids), CHUNK):
        rows = session.scalars(
            select(SentimentScore)
            .where(SentimentScore.activity_id.in_(ids[start : start + CHUNK]), SentimentScore.is_current.is_(True))
            .order_by(SentimentScore.scored_at)
        )
        for score in rows:
            out[score.activity_id] = score
    return out


def insert_new_scores(session: Session, rows: list[dict[str, Any]]) -> set[int]:
    """Insert score rows, skipping any (activity, version) that another worker stored meanwhile; returns the activity
    ids whose row this call inserted (two sweeps scoring the same email together store it once, neither fails)."""
    if not rows:
        return set()
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(SentimentScore)
        .values(rows)
        .on_conflict_do_nothing(index_elements=["activity_id", "model_version"])
        .returning(SentimentScore.activity_id)
    )
    return set(session.scalars(statement))


class Rater(IdMixin, Base):
    """Someone who rates tone (a user or an imported identifier) and their estimated reliability."""

    __tablename__ = "raters"
    __table_args__ = (UniqueConstraint("org_id", "key"),)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(320))  # usually an email address
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    is_imported: Mapped[bool] = mapped_column(Boolean, default=False)
    weight: Mapped[float] = mapped_column(Float, default=1.0)
    agreement: Mapped[float | None] = mapped_column(Float)
    bias: Mapped[float | None] = mapped_column(Float)  # mean (rater - consensus) on a -1..1 scale
    flagged: Mapped[bool] = mapped_column(Boolean, default=False)
    flag_reason: Mapped[str] = mapped_column(String(300), default="")
    stats: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Rating(IdMixin, Base):
    """A rater's current tone label for an activity (or an imported text)."""

    __tablename__ = "ratings"
    __table_args__ = (UniqueConstraint("rater_id", "item_key"),)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    rater_id: Mapped[int] = mapped_column(ForeignKey("raters.id", ondelete="CASCADE"), index=True)
    activity_id: Mapped[int | None] = mapped_column(ForeignKey("activities.id", ondelete="CASCADE"), index=True)
    item_key: Mapped[str] = mapped_column(String(80))  # "a:<activity id>" or "t:<sha256 of text>"
    text: Mapped[str] = mapped_column(Text, default="")  # the rated new text (copied for training)
    label: Mapped[str] = mapped_column(String(10))
    note: Mapped[str] = mapped_column(Text, default="")
    model_label: Mapped[str | None] = mapped_column(String(10))  # what the model said when rated
    model_version: Mapped[str | None] = mapped_column(String(80))
    source: Mapped[str] = mapped_column(String(20), default="sidebar")  # sidebar | import | api
    is_holdout: Mapped[bool] = mapped_column(Boolean, default=False)  # fixed held-out split for evaluation
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class RatingChange(IdMixin, Base):
    """History of a rating: every label it has had."""

    __tablename__ = "rating_history"
    rating_id: Mapped[int] = mapped_column(ForeignKey("ratings.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(10))
    note: Mapped[str] = mapped_column(Text, default="")
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)


class TrainingRun(IdMixin, Base):
    """A training job: progress while it runs, the candidate and the decision when done."""

    __tablename__ = "training_runs"
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="queued")  # queued | running | done | failed
    trigger: Mapped[str] = mapped_column(String(20), default="cli")  # cli | api | auto | seed
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str] = mapped_column(String(500), default="")
    candidate_version: Mapped[str | None] = mapped_column(String(80))
    promoted: Mapped[bool | None] = mapped_column(Boolean)
    report: Mapped[dict[str, Any]] = mapped_column(default=dict)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


Index("ix_scores_activity_current", SentimentScore.activity_id, SentimentScore.is_current)
