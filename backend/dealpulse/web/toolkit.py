"""What every blueprint reads from the app that serves it: its settings and its database."""

from __future__ import annotations

from flask import current_app

from ..config import Settings
from ..store.database import Database

SETTINGS_KEY = "dealpulse.settings"
DATABASE_KEY = "dealpulse.db"


def app_settings() -> Settings:
    """The settings of the current app."""
    return current_app.extensions[SETTINGS_KEY]


def app_db() -> Database:
    """The database of the current app."""
    return current_app.extensions[DATABASE_KEY]
