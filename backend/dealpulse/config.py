"""Settings read from DEALPULSE_* environment variables, each with a documented default."""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Mapping
from .domain.buyer_statements import DEFAULT_SUGGESTION_THRESHOLD

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_VAR_DIR = PROJECT_ROOT / "var"

# The only environments that may run without DEALPULSE_SECRET_KEY: their data is throwaway and their key is public.
THROWAWAY_ENVS = ("demo", "test")
_THROWAWAY_SECRET = "dealpulse-public-demo-and-test-key-never-use-in-production"
MISSING_SECRET = (
    "DEALPULSE_SECRET_KEY is not set: set it to a long random string "
    "(python -c 'import secrets; print(secrets.token_urlsafe(48))'); "
    "only DEALPULSE_ENV=demo or DEALPULSE_ENV=test run without one"
)


# Below this a negative reading is too close to a coin flip to call a manager; above it almost nothing alerts.
NEGATIVE_ALERT_PROBABILITY_RANGE = (0.5, 0.99)
MAX_CORPUS_EVAL_DROP_RANGE = (0.0, 20.0)
TASK_LEASE_SECONDS_RANGE = (3, 3600)  # shorter leases lapse under a busy CPU; longer ones hold killed workers' tasks


LOG_FORMATS = ("text", "json")


class ConfigError(ValueError):
    """A setting is missing or malformed; the message says which and how to fix it."""


def _meta(env: str, doc: str) -> dict[str, str]:
    return {"env": env, "doc": doc}


@dataclass(frozen=True)
class Settings:
    """Every runtime setting; `Settings.from_env()` reads them, tests build them directly."""

    env: str = field(default="development", metadata=_meta("DEALPULSE_ENV", "development | demo | test | production; only demo and test run without DEALPULSE_SECRET_KEY"))
    var_dir: Path = field(default=DEFAULT_VAR_DIR, metadata=_meta("DEALPULSE_VAR_DIR", "runtime data: SQLite files, task storage, model versions"))
    database_url: str = field(default="", metadata=_meta("DEALPULSE_DATABASE_URL", "SQLAlchemy URL; default sqlite:///<var_dir>/dealpulse.db"))
    broker_url: str = field(default="", metadata=_meta("DEALPULSE_BROKER_URL", "unset = Huey on SQLite under var/; redis://host:port/db = Huey on Redis"))
    secret_key: str = field(default="", metadata=_meta("DEALPULSE_SECRET_KEY", "signs sessions and card state, derives the at-rest encryption key; required outside demo/test"))
    encryption_key: str = field(default="", metadata=_meta("DEALPULSE_ENCRYPTION_KEY", "Fernet key(s), comma-separated, newest first; default derived from the secret key"))
    base_url: str = field(default="http://127.0.0.1:5000", metadata=_meta("DEALPULSE_BASE_URL", "public URL of this server (push endpoints, add-in assets, OAuth redirects)"))
    session_idle_hours: int = field(default=12, metadata=_meta("DEALPULSE_SESSION_IDLE_HOURS", "a dashboard session unused this long ends"))
    session_max_days: int = field(default=7, metadata=_meta("DEALPULSE_SESSION_MAX_DAYS", "a dashboard session ends this long after sign-in, used or not"))
    rate_limits: str = field(default="", metadata=_meta("DEALPULSE_RATE_LIMITS", "on | off; unset = on except under DEALPULSE_ENV=test"))
    rate_limit_signin: str = field(default="20 per minute", metadata=_meta("DEALPULSE_RATE_LIMIT_SIGNIN", "dashboard sign-in requests per client address"))
    rate_limit_api: str = field(default="600 per minute", metadata=_meta("DEALPULSE_RATE_LIMIT_API", "bearer API requests per credential (token or add-in sign-in)"))
    rate_limit_scoring: str = field(default="60 per minute", metadata=_meta("DEALPULSE_RATE_LIMIT_SCORING", "tone scoring requests (/api/v1/sentiment) per credential"))
    proxy_hops: int = field(default=0, metadata=_meta("DEALPULSE_PROXY_HOPS", "reverse proxies in front of the server whose X-Forwarded-For/-Proto are trusted (client address for quotas)"))
    rate_limit_storage: str = field(default="memory://", metadata=_meta("DEALPULSE_RATE_LIMIT_STORAGE", "where quota counters live; memory:// is per process, use redis://host:port/db with several workers"))
    # Google
    gmail_api_url: str = field(default="https://gmail.googleapis.com/", metadata=_meta("DEALPULSE_GMAIL_API_URL", "Gmail API root"))
    calendar_api_url: str = field(default="https://www.googleapis.com/", metadata=_meta("DEALPULSE_CALENDAR_API_URL", "Google Calendar API root"))
    google_token_url: str = field(default="https://oauth2.googleapis.com/token", metadata=_meta("DEALPULSE_GOOGLE_TOKEN_URL", "Google OAuth token endpoint"))
    google_auth_url: str = field(default="https://accounts.google.com/o/oauth2/v2/auth", metadata=_meta("DEALPULSE_GOOGLE_AUTH_URL", "Google OAuth authorization endpoint"))
    google_certs_url: str = field(default="https://www.googleapis.com/oauth2/v1/certs", metadata=_meta("DEALPULSE_GOOGLE_CERTS_URL", "Google ID-token signing certificates"))
    google_client_id: str = field(default="", metadata=_meta("DEALPULSE_GOOGLE_CLIENT_ID", "OAuth client id for Gmail/Calendar and sign-in"))
    google_client_secret: str = field(default="", metadata=_meta("DEALPULSE_GOOGLE_CLIENT_SECRET", "OAuth client secret"))
    google_addon_service_account: str = field(default="", metadata=_meta("DEALPULSE_GOOGLE_ADDON_SERVICE_ACCOUNT", "service-account email that signs Workspace add-on requests"))
    gmail_pubsub_topic: str = field(default="", metadata=_meta("DEALPULSE_GMAIL_PUBSUB_TOPIC", "projects/P/topics/T that Gmail watches publish to; unset = polling only"))
    google_pubsub_service_account: str = field(default="", metadata=_meta("DEALPULSE_GOOGLE_PUBSUB_SERVICE_ACCOUNT", "service-account email the Pub/Sub push subscription authenticates as; unset = Gmail push refused (polling only)"))
    google_pubsub_audience: str = field(default="", metadata=_meta("DEALPULSE_GOOGLE_PUBSUB_AUDIENCE", "audience of Pub/Sub push JWTs; default <base_url>/push/gmail"))
    # Microsoft
    graph_api_url: str = field(default="https://graph.microsoft.com/v1.0/", metadata=_meta("DEALPULSE_GRAPH_API_URL", "Microsoft Graph root"))
    ms_authority: str = field(default="https://login.microsoftonline.com/organizations", metadata=_meta("DEALPULSE_MS_AUTHORITY", "Entra authority for msal (must be https)"))
    ms_jwks_url: str = field(default="https://login.microsoftonline.com/{tid}/discovery/v2.0/keys", metadata=_meta("DEALPULSE_MS_JWKS_URL", "signing keys of add-in tokens; {tid} is the tenant"))
    ms_issuer: str = field(default="https://login.microsoftonline.com/{tid}/v2.0", metadata=_meta("DEALPULSE_MS_ISSUER", "expected issuer of add-in tokens; {tid} is the tenant"))
    ms_client_id: str = field(default="", metadata=_meta("DEALPULSE_MS_CLIENT_ID", "Entra application (client) id"))
    ms_client_secret: str = field(default="", metadata=_meta("DEALPULSE_MS_CLIENT_SECRET", "Entra client secret"))
    ms_ca_bundle: str = field(default="", metadata=_meta("DEALPULSE_MS_CA_BUNDLE", "CA file for the Microsoft authority (local stand-ins); default the system store"))
    ms_tenant_ids: str = field(default="", metadata=_meta("DEALPULSE_MS_TENANT_IDS", "Entra tenant ids (comma-separated) whose add-in tokens are checked, besides each organisation's ms_tenant_ids; outside demo/test no other tenant is"))
    graph_client_state: str = field(default="", metadata=_meta("DEALPULSE_GRAPH_CLIENT_STATE", "shared secret echoed in Graph change notifications; default derived from the secret key"))
    # Sync and alerts
    poll_interval_minutes: int = field(default=5, metadata=_meta("DEALPULSE_POLL_INTERVAL_MINUTES", "safety-net polling of every mailbox"))
    sync_batch_size: int = field(default=50, metadata=_meta("DEALPULSE_SYNC_BATCH_SIZE", "messages per Gmail batch request (at most 50)"))
    sync_lease_seconds: int = field(default=90, metadata=_meta("DEALPULSE_SYNC_LEASE_SECONDS", "a sync's hold on its mailbox, renewed every third of it while working; a dead worker's lapses after this"))
    task_lease_seconds: int = field(default=60, metadata=_meta("DEALPULSE_TASK_LEASE_SECONDS", "a worker process's hold on the tasks it has taken, renewed every third of it; a killed worker's tasks are re-queued after this"))
    sync_metadata_first: bool = field(default=True, metadata=_meta("DEALPULSE_SYNC_METADATA_FIRST", "fetch headers and labels first; download content only of mail privacy rules keep"))
    gone_dark_days: int = field(default=21, metadata=_meta("DEALPULSE_GONE_DARK_DAYS", "default days without inbound before a deal is gone dark (14-42)"))
    negative_alert_probability: float = field(default=0.85, metadata=_meta("DEALPULSE_NEGATIVE_ALERT_PROBABILITY", "calibrated P(negative) an inbound email needs to raise the strongly-negative alert (0.5-0.99)"))
    smtp_url: str = field(default="", metadata=_meta("DEALPULSE_SMTP_URL", "smtp://host:port for alert digests; unset = no email digest"))
    webhook_url: str = field(default="", metadata=_meta("DEALPULSE_WEBHOOK_URL", "Slack-compatible alert webhook; unset = none"))
    webhook_secret: str = field(default="", metadata=_meta("DEALPULSE_WEBHOOK_SECRET", "HMAC key for webhook signatures"))
    suggestion_threshold: float = field(default=DEFAULT_SUGGESTION_THRESHOLD, metadata=_meta("DEALPULSE_SUGGESTION_THRESHOLD", "confidence a suggested update read from a buyer's email needs to be offered in the sidebar (0-1; default keeps precision >= 0.9 on the dev split, see dealpulse evaluate-suggestions)"))
    # Model
    model_dir: Path = field(default=Path(""), metadata=_meta("DEALPULSE_MODEL_DIR", "model registry folder; default <var_dir>/models"))
    torch_threads: int = field(default=0, metadata=_meta("DEALPULSE_TORCH_THREADS", "threads for scoring; 0 = number of cores"))
    retrain_after_ratings: int = field(default=200, metadata=_meta("DEALPULSE_RETRAIN_AFTER_RATINGS", "new ratings that trigger an automatic (at most nightly) training run"))
    max_corpus_eval_drop: float = field(default=3.0, metadata=_meta("DEALPULSE_MAX_CORPUS_EVAL_DROP", "macro-F1 points the corpus eval may drop when a candidate improves the held-out ratings (0-20)"))
    win_model_min_closed: int = field(default=30, metadata=_meta("DEALPULSE_WIN_MODEL_MIN_CLOSED", "won and lost closed deals (each) an organisation needs before its win-probability model trains; fewer = stage probabilities"))
    log_format: str = field(default="text", metadata=_meta("DEALPULSE_LOG_FORMAT", "text | json: json = one JSON object per log line (serve, worker)"))
    metrics_token: str = field(default="", metadata=_meta("DEALPULSE_METRICS_TOKEN", "bearer token /metrics requires; unset = /metrics answers loopback clients only"))
    demo: bool = field(default=False, metadata=_meta("DEALPULSE_DEMO", "enable the demo sign-in picker and sidebar preview"))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, *, require_secret: bool = True, **overrides: Any) -> "Settings":
        """Read settings from the environment (or `environ`), then apply keyword overrides.

        `require_secret=False` is for commands that never sign, encrypt or verify anything (config, manifest, score).
        """
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = environ.get(f.metadata["env"])
            if raw is None or raw == "":
                continue
            values[f.name] = _coerce(f.name, f.type, raw, f.metadata["env"])
        values.update(overrides)
        return cls(**values).resolved(require_secret=require_secret)

    def resolved(self, *, require_secret: bool = True) -> "Settings":
        """Fill the defaults that depend on other settings and check the required ones."""
        var_dir = Path(self.var_dir)
        changes: dict[str, Any] = {"var_dir": var_dir}
        if not self.database_url:
            changes["database_url"] = f"sqlite:///{var_dir / 'dealpulse.db'}"
        if str(self.model_dir) in ("", "."):
            changes["model_dir"] = var_dir / "models"
        _check_range("DEALPULSE_NEGATIVE_ALERT_PROBABILITY", self.negative_alert_probability, *NEGATIVE_ALERT_PROBABILITY_RANGE)
        _check_range("DEALPULSE_SUGGESTION_THRESHOLD", self.suggestion_threshold, 0.0, 1.0)
        _check_range("DEALPULSE_WIN_MODEL_MIN_CLOSED", self.win_model_min_closed, 2, 1_000_000)
        _check_range("DEALPULSE_MAX_CORPUS_EVAL_DROP", self.max_corpus_eval_drop, *MAX_CORPUS_EVAL_DROP_RANGE)
        _check_range("DEALPULSE_TASK_LEASE_SECONDS", self.task_lease_seconds, *TASK_LEASE_SECONDS_RANGE)
        if self.log_format not in LOG_FORMATS:
            raise ConfigError(f"DEALPULSE_LOG_FORMAT={self.log_format!r}: use one of {', '.join(LOG_FORMATS)}")
        secret = self.secret_key
        if not secret and self.env in THROWAWAY_ENVS:
            secret = _THROWAWAY_SECRET
        if not secret and require_secret:
            raise ConfigError(MISSING_SECRET)
        changes["secret_key"] = secret
        if not self.google_pubsub_audience:
            changes["google_pubsub_audience"] = self.base_url.rstrip("/") + "/push/gmail"
        return replace(self, **changes)

    def require_secret(self) -> str:
        """The secret key; a ConfigError when there is none (never a built-in fallback outside demo/test)."""
        if not self.secret_key:
            raise ConfigError(MISSING_SECRET)
        return self.secret_key

    @property
    def served_over_https(self) -> bool:
        """True when the public base URL is https (Secure cookies, HSTS)."""
        return self.base_url.strip().lower().startswith("https://")

    @property
    def is_sqlite(self) -> bool:
        """True when the database is an SQLite file."""
        return self.database_url.startswith("sqlite")


def _check_range(env: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise ConfigError(f"{env}={value} is outside {low}-{high}")


def _coerce(name: str, type_: Any, raw: str, env: str) -> Any:
    type_name = type_ if isinstance(type_, str) else getattr(type_, "__name__", str(type_))
    try:
        if type_name == "int":
            return int(raw)
        if type_name == "float":
            return float(raw)
        if type_name == "bool":
            lowered = raw.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if type_name == "Path":
            return Path(raw)
    except ValueError as exc:
        raise ConfigError(f"{env}={raw!r} is not a valid {type_name}") from exc
    return raw


def documented_settings() -> list[tuple[str, str, str]]:
    """(variable, default, meaning) for every setting, for the README and `dealpulse config`."""
    rows = []
    for f in fields(Settings):
        default = f.default
        if isinstance(default, Path):
            default = str(default.relative_to(PROJECT_ROOT)) if default.is_relative_to(PROJECT_ROOT) else str(default)
        rows.append((f.metadata["env"], str(default), f.metadata["doc"]))
    return rows
