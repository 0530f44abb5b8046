"""Process-wide handles (settings, database) shared by the web app, the CLI and workers."""

from __future__ import annotations

import threading

from .config import Settings
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


def configure(settings: Settings) -> None:
    """Make `settings` the process settings (used by create_app and the CLI)."""
    global _settings
    with _lock:
        _settings = settings


def reset() -> None:
    """Forget cached settings and dispose engines (tests)."""
    global _settings
    with _lock:
        _settings = None
        for db in _databases.values():
            db.dispose()
        _databases.clear()
