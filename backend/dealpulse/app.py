"""The Flask application factory: one app per configuration (and per test)."""

from __future__ import annotations

import logging
from datetime import timedelta
from types import ModuleType
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.middleware.proxy_fix import ProxyFix

from . import runtime
from .config import Settings
from .tasks import queues_for
from .web import (
    activities_api,
    admin_api,
    admin_models,
    admin_org_pages,
    admin_pages,
    alerts_api,
    api,
    connect,
    dashboard,
    dashboard_forecast,  # noqa: F401  (adds the Forecast and Metrics pages to dashboard.bp)
    forecast_api,
    gmail_addon,
    meetings_api,
    metrics,
    onboarding,
    outlook,
    preview,
    push,
    reviews_api,
    sentiment_api,
    settings_page,
    sidebar_api,
    signin,
    winmodel_api,
)
from .web.auth import register_verifier, verify_personal_token
from .web import request_input
from .web.problems import register_error_handlers
from .web.rate_limits import install_rate_limits
from .web.toolkit import DATABASE_KEY, SETTINGS_KEY

# Each blueprint module's `bp`, in registration order; a module may also define `init_app(app)` (verifiers, hooks).
BLUEPRINT_MODULES: tuple[ModuleType, ...] = (
    api,
    sentiment_api,
    sidebar_api,
    outlook,
    preview,
    gmail_addon,
    push,
    activities_api,
    meetings_api,
    connect,
    alerts_api,
    reviews_api,
    signin,
    dashboard,
    admin_models,
    admin_api,
    forecast_api,
    winmodel_api,
    admin_pages,
    admin_org_pages,
    settings_page,
    onboarding,
    metrics,
)

_CSP_BASE = (
    "default-src 'self'; script-src 'self' https://appsforoffice.microsoft.com; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; "
)
# Only the add-in's own pages may be framed, and only by the Outlook on the web pages that host add-ins; the
# dashboard and everything else only by this site (the demo preview frames the task pane).
ADDIN_HOSTS = (
    "https://outlook.office.com https://outlook.office365.com https://outlook.cloud.microsoft https://outlook.live.com"
)
CONTENT_SECURITY_POLICY = _CSP_BASE + "frame-ancestors 'self'"
ADDIN_CONTENT_SECURITY_POLICY = _CSP_BASE + f"frame-ancestors 'self' {ADDIN_HOSTS}"
ADDIN_PATH_PREFIX = "/addin/"
HSTS = "max-age=31536000"


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
        SESSION_COOKIE_SECURE=settings.served_over_https,
        PERMANENT_SESSION_LIFETIME=timedelta(days=settings.session_max_days),
    )
    app.extensions[SETTINGS_KEY] = settings
    app.extensions[DATABASE_KEY] = runtime.get_database(settings)
    queues_for(settings)  # the push, connect and admin endpoints enqueue work
    register_verifier(app, verify_personal_token)
    register_error_handlers(app)
    request_input.install(app)
    for module in BLUEPRINT_MODULES:
        if hasattr(module, "init_app"):
            module.init_app(app)
        app.register_blueprint(module.bp)
    if settings.proxy_hops > 0:  # the client address and scheme as the trusted proxies saw them
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxy_hops, x_proto=settings.proxy_hops)  # type: ignore[method-assign]
    install_rate_limits(app, settings)

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify(status="ok")

    @app.after_request
    def security_headers(response: Response) -> Response:
        addin_page = request.path.startswith(ADDIN_PATH_PREFIX)
        response.headers.setdefault("Content-Security-Policy",
                                    ADDIN_CONTENT_SECURITY_POLICY if addin_page else CONTENT_SECURITY_POLICY)
        if settings.served_over_https:
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response

    logging.getLogger("dealpulse").setLevel(logging.INFO)
    return app

