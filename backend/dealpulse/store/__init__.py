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
    FORECAST_CATEGORIES,
    ExitQuestion,
    Opportunity,
    Stage,
    StageTransition,
)
from .forecasting import PipelineSnapshot, WinModel
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
from .meetings import MEETING_OUTCOMES, MeetingOutcome
from .reviews import ACTION_OWNER_KINDS, ACTION_PRIORITIES, ACTION_STATUSES, ActionItem, Review
from .quotas import Quota
from .sentiment import ModelVersion, Rater, Rating, RatingChange, SentimentScore, TrainingRun, insert_new_scores

__all__ = [
    "ACTION_OWNER_KINDS", "ACTION_PRIORITIES", "ACTION_STATUSES", "ActionItem", "MEETING_OUTCOMES", "MeetingOutcome", "Review",
    "Account", "AccountDomain", "Activity", "AddonActionReceipt", "ActivityContact", "ActivityNote", "ActivitySource", "Alert",
    "AlertDelivery", "ApiToken", "AuditEntry", "Base", "BuyingTeamMember", "Contact", "ExitAnswer", "ExitQuestion", "FORECAST_CATEGORIES",
    "Invitation", "MAX_ID", "Mailbox", "ModelVersion", "NeverLogEntry", "Opportunity", "Organisation", "PipelineSnapshot", "Quota", "Rater",
    "Rating", "RatingChange", "SentimentScore", "Stage", "StageTransition", "Team", "ThreadLink", "TrainingRun", "User", "UserAlias", "WinModel",
    "listed_ms_tenants", "make_engine", "insert_new_scores", "make_session_factory", "ms_tenant_registered", "user_ids_with_address", "utcnow",
]
