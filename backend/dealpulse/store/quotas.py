"""Sales quotas: what a rep is expected to close in a period (a quarter like 2027-Q1 or a month like 2027-03)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, Numeric, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, IdMixin, utcnow


class Quota(IdMixin, Base):
    """A rep's quota for one period in one currency; re-importing the same (user, period, currency) replaces it."""

    __tablename__ = "quotas"
    __table_args__ = (UniqueConstraint("user_id", "period", "currency"),)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    period: Mapped[str] = mapped_column(String(7))  # "2027-Q1" or "2027-03" (see domain.periods)
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


Index("ix_quotas_org_period", Quota.org_id, Quota.period)
