"""Accounts, contacts, stages with exit questions, opportunities, buying teams and the audit log."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, Date, ForeignKey, Index, Numeric, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, IdMixin, utcnow

BUYING_ROLES = (
    "economic_buyer",
    "champion",
    "technical_evaluator",
    "decision_maker",
    "influencer",
    "blocker",
    "procurement",
    "legal",
    "user",
)
FORECAST_CATEGORIES = ("pipeline", "best_case", "commit", "omitted")  # the rep's call on an open deal


class Account(IdMixin, Base):
    """A customer company, matched to mail by its domains."""

    __tablename__ = "accounts"
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    industry: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    domains: Mapped[list["AccountDomain"]] = relationship(cascade="all, delete-orphan", lazy="selectin")


class AccountDomain(IdMixin, Base):
    """An email domain that belongs to an account (never a free-mail domain)."""

    __tablename__ = "account_domains"
    __table_args__ = (UniqueConstraint("org_id", "domain"),)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    domain: Mapped[str] = mapped_column(String(255))


class Contact(IdMixin, Base):
    """A person at a customer, matched to mail by exact address."""

    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("org_id", "email"),)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    account_id: Mapped[int | None] = mapped_column(ForeignKey("accounts.id", ondelete="SET NULL"), index=True)
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200), default="")
    title: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# Linking matches participants by lower(address) and lower(domain).
Index("ix_contacts_org_email_lower", Contact.org_id, func.lower(Contact.email))
Index("ix_account_domains_org_domain_lower", AccountDomain.org_id, func.lower(AccountDomain.domain))


class Stage(IdMixin, Base):
    """A pipeline stage of an organisation, with its exit questions."""

    __tablename__ = "stages"
    __table_args__ = (UniqueConstraint("org_id", "key"),)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(default=0)
    probability: Mapped[int] = mapped_column(default=0)
    is_closed: Mapped[bool] = mapped_column(Boolean, default=False)
    is_won: Mapped[bool] = mapped_column(Boolean, default=False)
    questions: Mapped[list["ExitQuestion"]] = relationship(
        cascade="all, delete-orphan", order_by="ExitQuestion.position", lazy="selectin"
    )


class ExitQuestion(IdMixin, Base):
    """A yes/no question that should be answered before leaving a stage (an alert, never a block)."""

    __tablename__ = "exit_questions"
    __table_args__ = (UniqueConstraint("stage_id", "key"),)
    stage_id: Mapped[int] = mapped_column(ForeignKey("stages.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(String(300))
    position: Mapped[int] = mapped_column(default=0)


class Opportunity(IdMixin, Base):
    """A deal; `version` guards every write (conditional UPDATE, no row locks)."""

    __tablename__ = "opportunities"
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="RESTRICT"), index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"), index=True)
    stage_id: Mapped[int] = mapped_column(ForeignKey("stages.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    amount: Mapped[Decimal] = mapped_column(Numeric(14, 2), default=Decimal("0"))
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    close_date: Mapped[date | None] = mapped_column(Date)
    seats: Mapped[int | None] = mapped_column(default=None)  # seats or licences the buyer stated (issue #18)
    next_step: Mapped[str] = mapped_column(String(500), default="")
    probability: Mapped[int] = mapped_column(default=0)
    stage_entered_at: Mapped[datetime] = mapped_column(default=utcnow)
    close_date_pushes: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    version: Mapped[int] = mapped_column(default=1)
    # The CRM's own id: a re-import with the same external_id updates this deal instead of adding another.
    external_id: Mapped[str | None] = mapped_column(String(200))
    # When the deal entered its closed stage (won or lost); None while open (cleared when a deal is reopened).
    closed_at: Mapped[datetime | None]
    # The rep's forecast call: one of FORECAST_CATEGORIES.
    forecast_category: Mapped[str] = mapped_column(String(16), default="pipeline", server_default="pipeline")


Index("ix_opportunities_org_stage", Opportunity.org_id, Opportunity.stage_id)
Index("ix_opportunities_org_external_id", Opportunity.org_id, Opportunity.external_id, unique=True)
Index("ix_opportunities_org_closed_at", Opportunity.org_id, Opportunity.closed_at)


class ExitAnswer(IdMixin, Base):
    """An opportunity's answer to one exit question."""

    __tablename__ = "exit_answers"
    __table_args__ = (UniqueConstraint("opportunity_id", "question_id"),)
    opportunity_id: Mapped[int] = mapped_column(ForeignKey("opportunities.id", ondelete="CASCADE"), index=True)
    question_id: Mapped[int] = mapped_column(ForeignKey("exit_questions.id", ondelete="CASCADE"))
    answer: Mapped[bool | None] = mapped_column(Boolean)
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    answered_at: Mapped[datetime] = mapped_column(default=utcnow)


class BuyingTeamMember(IdMixin, Base):
    """A contact's role on an opportunity's buying team."""

    __tablename__ = "buying_team_members"
    __table_args__ = (UniqueConstraint("opportunity_id", "contact_id"),)
    opportunity_id: Mapped[int] = mapped_column(ForeignKey("opportunities.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(40))
    added_at: Mapped[datetime | None]  # when the contact took this role (None: before it was recorded)


class StageTransition(IdMixin, Base):
    """When an opportunity entered a stage (stalled-deal percentiles, pipeline history)."""

    __tablename__ = "stage_transitions"
    opportunity_id: Mapped[int] = mapped_column(ForeignKey("opportunities.id", ondelete="CASCADE"), index=True)
    from_stage_id: Mapped[int | None] = mapped_column(ForeignKey("stages.id", ondelete="SET NULL"))
    to_stage_id: Mapped[int] = mapped_column(ForeignKey("stages.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class AuditEntry(IdMixin, Base):
    """One field change: who, what, when, from which surface."""

    __tablename__ = "audit_log"
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    entity_type: Mapped[str] = mapped_column(String(40))
    entity_id: Mapped[int]
    field: Mapped[str] = mapped_column(String(80))
    old_value: Mapped[str | None] = mapped_column(Text)  # JSON-encoded
    new_value: Mapped[str | None] = mapped_column(Text)  # JSON-encoded
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    surface: Mapped[str] = mapped_column(String(20))  # api | outlook | gmail | dashboard | cli | import | sync
    change_id: Mapped[str] = mapped_column(String(36))  # groups the fields of one write
    version: Mapped[int | None]  # the entity version this change produced
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    extra: Mapped[dict[str, Any]] = mapped_column(default=dict)


Index("ix_audit_entity", AuditEntry.org_id, AuditEntry.entity_type, AuditEntry.entity_id, AuditEntry.changed_at)
