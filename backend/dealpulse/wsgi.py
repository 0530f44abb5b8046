"""WSGI entry point for gunicorn: `gunicorn 'dealpulse.wsgi:app'` (settings from DEALPULSE_* variables)."""

from .app import create_app

app = create_app()
