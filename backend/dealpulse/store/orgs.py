"""Organisations, teams, users with roles and aliases, and personal API tokens."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, Boolean, CompoundSelect, ForeignKey, Index, String, UniqueConstraint, cast, func, select, union
from sqlalchemy.orm import Session
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base, IdMixin, utcnow

ROLES = ("rep", "manager", "admin")


class Organisation(IdMixin, Base):
    """A customer of DealPulse; nothing crosses its boundary."""

    __tablename__ = "organisations"
    name: Mapped[str] = mapped_column(String(200))
    domains: Mapped[list[Any]] = mapped_column(default=list)  # the seller's own mail domains (internal mail)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)  # privacy rules, training thresholds
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    version: Mapped[int] = mapped_column(default=1, server_default="1")  # guards concurrent admin edits


class Team(IdMixin, Base):
    """A sales team with its manager and alert thresholds."""

    __tablename__ = "teams"
    __table_args__ = (UniqueConstraint("org_id", "name"),)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    manager_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", use_alter=True, ondelete="SET NULL"))
    gone_dark_after_days: Mapped[int] = mapped_column(default=21)
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)  # other per-team alert thresholds
    version: Mapped[int] = mapped_column(default=1, server_default="1")  # guards concurrent admin edits


class User(IdMixin, Base):
    """A rep, manager or admin; matched to sign-ins by verified address."""

    __tablename__ = "users"
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"), index=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16), default="rep")
    version: Mapped[int] = mapped_column(default=1, server_default="1")  # guards concurrent admin edits
    deactivated_at: Mapped[datetime | None]  # set with is_active=False; their open deals await reassignment
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Bumped on sign-out: dashboard cookies carry the version they were issued with and stop working when it moves.
    session_version: Mapped[int] = mapped_column(default=0, server_default="0")
    # The stable Microsoft `oid` / Google `sub` the user first signed in with; later sign-ins are matched by it.
    ms_object_id: Mapped[str | None] = mapped_column(String(64))
    google_subject: Mapped[str | None] = mapped_column(String(64))
    # The rep's own "private by default" choice for newly captured mail (None: the organisation's rule applies).
    private_by_default: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    aliases: Mapped[list["UserAlias"]] = relationship(cascade="all, delete-orphan", lazy="selectin")

    @property
    def addresses(self) -> set[str]:
        """The primary address and every alias, lower-cased."""
        return {self.email.lower(), *(a.email.lower() for a in self.aliases)}


class UserAlias(IdMixin, Base):
    """Another address the user sends from (direction detection)."""

    __tablename__ = "user_aliases"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)


class NeverLogEntry(IdMixin, Base):
    """An address or domain a user never wants captured."""

    __tablename__ = "never_log_entries"
    __table_args__ = (UniqueConstraint("user_id", "pattern"),)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    pattern: Mapped[str] = mapped_column(String(320))  # "a@b.com" or "b.com"


class Invitation(IdMixin, Base):
    """An e-mailed, expiring invitation to join an organisation; accepting it creates the user (only a hash kept)."""

    __tablename__ = "invitations"
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    email: Mapped[str] = mapped_column(String(320))
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", ondelete="SET NULL"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))  # who accepted it


class ApiToken(IdMixin, Base):
    """A personal API token; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]


class AddonActionReceipt(IdMixin, Base):
    """A Gmail add-on button press already applied (its idempotency key), so a replay changes nothing."""

    __tablename__ = "addon_action_receipts"
    __table_args__ = (UniqueConstraint("user_id", "action_key"),)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    action_key: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


Index("ix_users_org_role", User.org_id, User.role)
Index("ix_users_email_lower", func.lower(User.email))
Index("ix_users_ms_object_id", User.ms_object_id, unique=True)
Index("ix_users_google_subject", User.google_subject, unique=True)
Index("ix_user_aliases_email_lower", func.lower(UserAlias.email))


def user_ids_with_address(address: str | BindParameter[str]) -> CompoundSelect:
    """Ids of the users whose primary address or an alias is `address`, ignoring case (served by the lower() indexes).

    `address` is an address, or a bind parameter that will hold one already stripped and lower-cased.
    """
    if isinstance(address, str):
        address = address.strip().lower()
    return union(
        select(User.id).where(func.lower(User.email) == address),
        select(UserAlias.user_id).where(func.lower(UserAlias.email) == address),
    )


def listed_ms_tenants(org_settings: dict[str, Any] | None) -> set[str]:
    """The Entra tenant ids an organisation signs in with (setting `ms_tenant_ids`), lower-cased."""
    return {str(t).strip().lower() for t in (org_settings or {}).get("ms_tenant_ids", []) or []}


def ms_tenant_registered(session: Session, tenant_id: str) -> bool:
    """True if some organisation lists `tenant_id` (a validated GUID) among its `ms_tenant_ids`."""
    tenant_id = tenant_id.lower()
    candidates = session.scalars(
        select(Organisation.settings).where(func.lower(cast(Organisation.settings, String)).contains(tenant_id))
    )
    return any(tenant_id in listed_ms_tenants(found) for found in candidates)
