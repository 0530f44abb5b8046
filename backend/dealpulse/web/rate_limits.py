"""Request quotas (Flask-Limiter): sign-in per client address, the bearer API and tone scoring per credential.

The quotas are settings (`rate_limit_signin`, `rate_limit_api`, `rate_limit_scoring`, in the limits library's
notation such as "20 per minute"); counters live in `rate_limit_storage` (memory:// is per process; use redis://
with several workers). `rate_limits` is on, off, or unset = on except when DEALPULSE_ENV=test. Over the quota the
answer is a 429 problem with Retry-After.
"""

from __future__ import annotations

import hashlib

from flask import Flask, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from ..config import Settings

SIGNIN_BLUEPRINTS = ("signin",)
API_BLUEPRINTS = ("api", "sidebar_api", "activities_api", "alerts_api", "admin_api", "admin_models_api", "forecast_api", "reviews_api",
                  "meetings_api", "winmodel_api")
SCORING_BLUEPRINTS = ("sentiment_api",)
LIMITED_BLUEPRINTS = (*SIGNIN_BLUEPRINTS, *API_BLUEPRINTS, *SCORING_BLUEPRINTS)


def caller_key() -> str:
    """Who is calling, before authentication: a digest of the bearer credential, else the client address."""
    credential = request.headers.get("Authorization", "")
    if credential:
        return "credential:" + hashlib.sha256(credential.encode()).hexdigest()[:32]
    return "address:" + get_remote_address()


def limits_enabled(settings: Settings) -> bool:
    """True unless `rate_limits` is off (or unset under DEALPULSE_ENV=test)."""
    choice = settings.rate_limits.strip().lower()
    return choice in ("on", "true", "1") or (choice == "" and settings.env != "test")


def install_rate_limits(app: Flask, settings: Settings) -> Limiter:
    """Attach a limiter with the configured quotas to the app's sign-in, API and scoring blueprints."""
    limiter = Limiter(key_func=caller_key, app=app, storage_uri=settings.rate_limit_storage,
                      enabled=limits_enabled(settings), headers_enabled=True, strategy="moving-window")
    quotas = ((SIGNIN_BLUEPRINTS, settings.rate_limit_signin, get_remote_address),
              (API_BLUEPRINTS, settings.rate_limit_api, caller_key),
              (SCORING_BLUEPRINTS, settings.rate_limit_scoring, caller_key))
    for names, quota, key in quotas:
        for name in names:
            if name in app.blueprints:
                limiter.limit(quota, key_func=key)(app.blueprints[name])
    app.extensions["dealpulse.limiter"] = limiter
    return limiter
