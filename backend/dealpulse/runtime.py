"""Process-wide handles (settings, database, scorers) of the entry points: the web app, the CLI and workers.

Only entry points and tasks read these; services take what they need as arguments.
"""

from __future__ import annotations

import threading

from .config import Settings
from .sentiment.active import ActiveScorers, active_scorers
from .store.database import Database

_lock = threading.Lock()
_settings: Settings | None = None
_databases: dict[str, Database] = {}


def get_settings() -> Settings:
    """Settings from the environment, read once per process (tests call `reset`)."""
    global _settings
    with _lock:
        if _settings is None:
            _settings = Settings.from_env()
        return _settings


def get_database(settings: Settings | None = None) -> Database:
    """The Database for `settings` (default: the process settings), one engine per URL."""
    url = (settings or get_settings()).database_url
    with _lock:
        if url not in _databases:
            _databases[url] = Database.connect(url)
        return _databases[url]


def get_scorers(settings: Settings | None = None) -> ActiveScorers:
    """The process's tone scorers for `settings` (default: the process settings) and their database."""
    settings = settings or get_settings()
    return active_scorers(settings, get_database(settings))


def configure(settings: Settings, db: Database | None = None) -> None:
    """Make `settings` the process settings (create_app, the CLI); `db`, when given, serves their database URL."""
    global _settings
    with _lock:
        _settings = settings
        if db is not None:
            _databases[settings.database_url] = db


def reset(*, keep: Database | None = None) -> None:
    """Forget cached settings and dispose engines except `keep` (tests)."""
    global _settings
    with _lock:
        _settings = None
        for db in _databases.values():
            if db is not keep:
                db.dispose()
        _databases.clear()
