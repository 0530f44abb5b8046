"""WSGI entry point for gunicorn: `gunicorn 'dealpulse.wsgi:app'` (settings from DEALPULSE_* variables)."""

from .app import create_app
from .config import ConfigError

try:
    app = create_app()
except ConfigError as exc:
    raise SystemExit(f"error: {exc}") from None
