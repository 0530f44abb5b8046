"""The Flask application factory: one app per configuration (and per test)."""

from __future__ import annotations

import importlib
import logging
from typing import Any

from flask import Flask, Response, current_app, jsonify

from . import runtime
from .config import Settings
from .store.database import Database
from .web.auth import register_verifier, verify_personal_token
from .web import request_input
from .web.problems import register_error_handlers

# "module:attribute" of each blueprint; a module may also define `init_app(app)` (verifiers, hooks).
BLUEPRINTS: list[str] = [
    "dealpulse.web.api:bp",
    "dealpulse.web.sentiment_api:bp",
    "dealpulse.web.sidebar_api:bp",
    "dealpulse.web.outlook:bp",
    "dealpulse.web.preview:bp",
    "dealpulse.web.gmail_addon:bp",
    "dealpulse.web.push:bp",
    "dealpulse.web.activities_api:bp",
    "dealpulse.web.connect:bp",
    "dealpulse.web.alerts_api:bp",
    "dealpulse.web.signin:bp",
    "dealpulse.web.dashboard:bp",
    "dealpulse.web.admin_models:bp",
]

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' https://appsforoffice.microsoft.com; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'self' https://*.office.com https://*.office365.com https://*.outlook.com "
    "https://outlook.live.com https://*.microsoft.com; form-action 'self'"
)


def create_app(config: Settings | dict[str, Any] | None = None) -> Flask:
    """Build the web app for `config` (Settings, overrides of the environment's settings, or None)."""
    if isinstance(config, Settings):
        settings = config
    else:
        settings = Settings.from_env(**(config or {}))
    settings.require_secret()
    runtime.configure(settings)
    app = Flask(__name__, static_folder=None)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        JSON_SORT_KEYS=False,
        MAX_CONTENT_LENGTH=8 * 1024 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.base_url.startswith("https"),
    )
    app.extensions["dealpulse.settings"] = settings
    app.extensions["dealpulse.db"] = runtime.get_database(settings)
    register_verifier(app, verify_personal_token)
    register_error_handlers(app)
    request_input.install(app)
    for target in BLUEPRINTS:
        module_name, _, attr = target.partition(":")
        module = importlib.import_module(module_name)
        if hasattr(module, "init_app"):
            module.init_app(app)
        app.register_blueprint(getattr(module, attr))

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify(status="ok")

    @app.after_request
    def security_headers(response: Response) -> Response:
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response

    logging.getLogger("dealpulse").setLevel(logging.INFO)
    return app


def app_settings() -> Settings:
    """The settings of the current app."""
    return current_app.extensions["dealpulse.settings"]


def app_db() -> Database:
    """The database of the current app."""
    return current_app.extensions["dealpulse.db"]
