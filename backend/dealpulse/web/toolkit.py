"""What every blueprint reads from the app that serves it: its settings, its database and the alert defaults."""

from __future__ import annotations

from flask import current_app

from ..config import Settings
from ..domain.alert_rules import Thresholds
from ..services.alert_snapshots import default_thresholds
from ..store.database import Database

SETTINGS_KEY = "dealpulse.settings"
DATABASE_KEY = "dealpulse.db"


def app_settings() -> Settings:
    """The settings of the current app."""
    return current_app.extensions[SETTINGS_KEY]


def app_db() -> Database:
    """The database of the current app."""
    return current_app.extensions[DATABASE_KEY]


def app_alert_defaults() -> Thresholds:
    """The alert thresholds teams start from, from the current app's settings (passed to every alert evaluation)."""
    return default_thresholds(app_settings())
