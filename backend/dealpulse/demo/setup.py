"""Everything `dealpulse demo` does before serving: migrate, seed, build the tone model, sync the mailbox, score, alert."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Callable

from sqlalchemy import select

from .. import runtime
from ..config import Settings
from ..sentiment.active import active_scorers
from ..services.alert_engine import run_alerts
from ..services.deal_history import backfill_snapshots
from ..services.win_model import active_model, train_win_model
from ..services.org_setup import create_personal_token, load_organisation
from ..services.scoring import score_pending
from ..store import ApiToken, User, utcnow
from ..store.database import Database
from .history import HISTORY_DAYS, generate_history
from .live import LiveDemoMail, start_demo_mail
from .orgdata import load_org

if TYPE_CHECKING:
    from ..sentiment.trainer import ProgressCallback

Say = Callable[[str], None]


@dataclass
class DemoSetup:
    """The running demo: its settings (pointing at the local mail stand-in), org, tokens and the stand-in handle."""

    settings: Settings
    org_id: int
    tokens: dict[str, str] = field(default_factory=dict)  # email -> personal token
    mail: LiveDemoMail | None = None  # the live stand-in (stop() on exit)
    model_version: str = ""
    synced: int = 0
    scored: int = 0
    alerts: int = 0

    def stop(self) -> None:
        """Stop the local stand-ins."""
        if self.mail is not None:
            self.mail.stop()


def prepare_demo(settings: Settings, db: Database, *, now: datetime | None = None, say: Say = print,
                 model_progress: ProgressCallback | None = None) -> DemoSetup:
    """Set up the demo organisation end to end through the real code paths; idempotent across restarts."""
    from ..sentiment.seed import ensure_seed_model  # noqa: PLC0415 - the transformer stack, only when preparing

    now = now or utcnow()
    db.upgrade()
    with db.uow() as uow:
        org_id = load_organisation(uow, load_org(), now=now)
    say("seeded the demo organisation (Northwind Analytics)")
    with db.uow() as uow:
        history = generate_history(uow, org_id, now)
    if history.deals:
        with db.uow() as uow:
            snapshots = backfill_snapshots(uow, org_id, (now - timedelta(days=HISTORY_DAYS)).date(), now.date())
        say(f"wrote two years of closed history: {history.won} won and {history.lost} lost deals, "
            f"{history.activities} emails and meetings, {history.quotas} quotas, {snapshots} daily pipeline snapshots")
    say("building the seed tone model if it is not cached (first run: a few minutes on 2 cores)...")
    model_version = ensure_seed_model(settings, db, progress=model_progress)
    say(f"tone model {model_version} is active")
    live = start_demo_mail(settings, db, now=now)
    runtime.configure(live.settings)
    setup = DemoSetup(settings=live.settings, org_id=org_id, mail=live, model_version=model_version)
    setup.synced = getattr(live, "synced", 0)
    say(f"demo mailbox served by the local Gmail stand-in at {live.settings.gmail_api_url}; synced through the Gmail connector")
    while True:
        with db.uow() as uow:
            outcome = score_pending(uow, org_id, scorers=active_scorers(live.settings, db))
        if not outcome.scored:
            break
        setup.scored += outcome.scored
    say(f"scored {setup.scored} emails")
    with db.uow() as uow:
        if active_model(uow.s, org_id) is None:
            trained = train_win_model(uow, live.settings.model_dir, org_id, live.settings.win_model_min_closed, now)
            say(f"win-probability model: {trained.note}")
    setup.alerts = run_alerts(db, live.settings, org_id=org_id, now=now)
    say(f"evaluated alerts: {setup.alerts} open")
    setup.tokens = demo_tokens(db, org_id)
    return setup


def demo_tokens(db: Database, org_id: int) -> dict[str, str]:
    """A fresh personal token per demo user (older demo tokens are revoked)."""
    tokens = {}
    with db.uow() as uow:
        users = uow.s.scalars(select(User).where(User.org_id == org_id).order_by(User.role, User.email)).all()
        for user in users:
            for old in uow.s.scalars(select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.label == "demo")):
                old.revoked_at = utcnow()
        uow.commit()
        for user in users:
            tokens[user.email] = create_personal_token(uow, user.email, label="demo")
    return tokens
