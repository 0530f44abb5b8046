"""Background alert work: the periodic sweep, the managers' morning digest, and webhook deliveries with retries."""

from __future__ import annotations

from ..runtime import get_database, get_settings
from ..services.alert_digest import send_action_item_reminders, send_digests
from ..services.alert_engine import evaluate_all
from ..services.alert_webhooks import deliver_webhooks
from .queue import Cron, periodic_task, task


@periodic_task(Cron(minute="*/15"))
def sweep_alerts() -> int:
    """Evaluate every open deal (re-arms, time-based rules such as gone dark and close date); returns alerts opened."""
    return evaluate_all(get_database(), get_settings()).opened


@periodic_task(Cron(minute="0", hour="7"))
def send_alert_digests() -> int:
    """Email each manager the alerts opened on their teams' deals since their last digest (07:00 UTC)."""
    return send_digests(get_database(), get_settings())


@periodic_task(Cron(minute="5", hour="7"))
def remind_action_items() -> int:
    """Thursdays 07:05 UTC: email each manager their teams' action items due by the end of the week."""
    return send_action_item_reminders(get_database(), get_settings())


@periodic_task(Cron(minute="*"))
def deliver_alert_webhooks() -> int:
    """Post due webhook deliveries (new and retried); returns how many were delivered."""
    return deliver_webhooks(get_database(), get_settings())["sent"]


@task()
def evaluate_alerts(org_id: int | None = None) -> int:
    """On demand (CLI, demo): evaluate one organisation or all now."""
    return evaluate_all(get_database(), get_settings(), org_id).opened
