"""Persistence: SQLAlchemy tables, the unit of work, and Alembic migrations."""

from .activities import Activity, ActivityContact, ActivityNote, ActivitySource, Mailbox, ThreadLink
from .alerts import Alert, AlertDelivery
from .base import MAX_ID, Base, make_engine, make_session_factory, utcnow
from .crm import (
    Account,
    AccountDomain,
    AuditEntry,
    BuyingTeamMember,
    Contact,
    ExitAnswer,
    ExitQuestion,
    Opportunity,
    Stage,
    StageTransition,
)
from .orgs import (
    AddonActionReceipt,
    ApiToken,
    Invitation,
    NeverLogEntry,
    Organisation,
    Team,
    User,
    UserAlias,
    listed_ms_tenants,
    ms_tenant_registered,
    user_ids_with_address,
)
from .sentiment import ModelVersion, Rater, Rating, RatingChange, SentimentScore, TrainingRun, insert_new_scores

__all__ = [
    "Account", "AccountDomain", "Activity", "AddonActionReceipt", "ActivityContact", "ActivityNote", "ActivitySource", "Alert",
    "AlertDelivery", "ApiToken", "AuditEntry", "Base", "BuyingTeamMember", "Contact", "ExitAnswer", "ExitQuestion",
    "Invitation", "MAX_ID", "Mailbox", "ModelVersion", "NeverLogEntry", "Opportunity", "Organisation", "Rater", "Rating", "RatingChange",
    "SentimentScore", "Stage", "StageTransition", "Team", "ThreadLink", "TrainingRun", "User", "UserAlias",
    "listed_ms_tenants", "make_engine", "insert_new_scores", "make_session_factory", "ms_tenant_registered", "user_ids_with_address", "utcnow",
]
