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
from .orgs import ApiToken, NeverLogEntry, Organisation, Team, User, UserAlias, user_ids_with_address
from .sentiment import ModelVersion, Rater, Rating, RatingChange, SentimentScore, TrainingRun

__all__ = [
    "Account", "AccountDomain", "Activity", "ActivityContact", "ActivityNote", "ActivitySource", "Alert",
    "AlertDelivery", "ApiToken", "AuditEntry", "Base", "BuyingTeamMember", "Contact", "ExitAnswer", "ExitQuestion",
    "MAX_ID", "Mailbox", "ModelVersion", "NeverLogEntry", "Opportunity", "Organisation", "Rater", "Rating", "RatingChange",
    "SentimentScore", "Stage", "StageTransition", "Team", "ThreadLink", "TrainingRun", "User", "UserAlias",
    "make_engine", "make_session_factory", "user_ids_with_address", "utcnow",
]
