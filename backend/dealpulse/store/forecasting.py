"""Daily pipeline snapshots (each deal's state per day) and the win-probability model versions."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, ForeignKey, Index, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, IdMixin, utcnow


class PipelineSnapshot(IdMixin, Base):
    """One open deal's state at the start of one day (UTC): stage, amount, close date, category, probabilities."""

    __tablename__ = "pipeline_snapshots"
    __table_args__ = (UniqueConstraint("opportunity_id", "day"),)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    opportunity_id: Mapped[int] = mapped_column(ForeignKey("opportunities.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    stage_id: Mapped[int] = mapped_column(ForeignKey("stages.id", ondelete="CASCADE"))
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    currency: Mapped[str] = mapped_column(String(3))
    close_date: Mapped[date | None] = mapped_column(Date)
    forecast_category: Mapped[str] = mapped_column(String(16), default="pipeline")
    probability: Mapped[int] = mapped_column(default=0)  # the deal's (rep's or stage's) probability that day
    source: Mapped[str] = mapped_column(String(10), default="daily")  # daily | backfill
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


Index("ix_pipeline_snapshots_org_day", PipelineSnapshot.org_id, PipelineSnapshot.day)


class WinModel(IdMixin, Base):
    """A trained win-probability model of one organisation; its files live under <model_dir>/winprob/<version>/."""

    __tablename__ = "win_models"
    __table_args__ = (UniqueConstraint("org_id", "version"),)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    version: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(12), default="active")  # active | retired
    won: Mapped[int] = mapped_column(default=0)  # closed deals it learned from
    lost: Mapped[int] = mapped_column(default=0)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


Index("ix_win_models_org_status", WinModel.org_id, WinModel.status)
