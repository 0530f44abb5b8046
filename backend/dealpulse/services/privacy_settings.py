"""An organisation's privacy rules (admin): free-mail exclusion, private by default, and how long mail is kept.

The rules live in `Organisation.settings["privacy"]`; capture reads them through `mail.privacy.load_privacy_rules`
and the retention purge (a daily task) through `purge_expired`. Mail among colleagues only is never captured,
whatever the rules say.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select

from ..domain.access import Principal
from ..mail.privacy import PRIVACY_SETTINGS_KEY, rules_from_settings
from ..store import Activity, Organisation, utcnow
from ..store.database import Database
from ..store.uow import UnitOfWork
from .admin_common import actor, claim_version, require_admin
from .audit import record_changes
from .errors import InvalidField

RETENTION_DAYS_RANGE = (30, 3650)  # a month to ten years; unset keeps mail for as long as the organisation exists


def privacy_view(org: Organisation) -> dict[str, Any]:
    """The admin view of the organisation's privacy rules."""
    rules = rules_from_settings(org.settings)
    stored = (org.settings or {}).get(PRIVACY_SETTINGS_KEY) or {}
    return {
        "exclude_internal_only": True,
        "exclude_free_mail": rules.exclude_free_mail,
        "private_by_default": rules.private_by_default,
        "retention_days": stored.get("retention_days"),
        "version": org.version,
    }


def check_retention_days(raw: Any) -> int | None:
    """A retention period in days within RETENTION_DAYS_RANGE, or None (keep); InvalidField otherwise."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    low, high = RETENTION_DAYS_RANGE
    text = str(raw).strip()
    if isinstance(raw, bool) or not text.isdigit() or not low <= int(text) <= high:
        raise InvalidField([{"field": "retention_days", "message": f"give whole days from {low} to {high}, or leave empty to keep mail"}])
    return int(text)


def get_privacy(uow: UnitOfWork, principal: Principal) -> dict[str, Any]:
    """The caller's organisation's privacy rules (admin)."""
    require_admin(principal, "see the privacy rules")
    return privacy_view(uow.s.get(Organisation, principal.org_id))


def update_privacy(uow: UnitOfWork, principal: Principal, version: int, changes: dict[str, Any]) -> dict[str, Any]:
    """Change free-mail exclusion, private by default or the retention period if `version` is current (admin)."""
    require_admin(principal, "change the privacy rules")
    s = uow.s
    org = s.get(Organisation, principal.org_id)
    before = privacy_view(org)
    retention = check_retention_days(changes["retention_days"]) if "retention_days" in changes else before["retention_days"]
    claim_version(s, org, version, "organisation", org.id, privacy_view)
    stored = dict((org.settings or {}).get(PRIVACY_SETTINGS_KEY) or {})
    for key in ("exclude_free_mail", "private_by_default"):
        if key in changes:
            stored[key] = bool(changes[key])
    stored["retention_days"] = retention
    org.settings = {**(org.settings or {}), PRIVACY_SETTINGS_KEY: stored}
    after = privacy_view(org)
    diff = {f"privacy.{k}": (before[k], after[k]) for k in after if k != "version" and before[k] != after[k]}
    if diff:
        record_changes(s, actor(principal), "organisation", org.id, org.id, diff, version=org.version, surface=principal.surface)
    uow.commit()
    return after


def purge_expired(db: Database, now: datetime | None = None) -> dict[int, int]:
    """Delete captured mail and meetings older than each organisation's retention period; {org id: deleted}."""
    now = now or utcnow()
    deleted: dict[int, int] = {}
    with db.uow() as uow:
        for org_id, settings in uow.s.execute(select(Organisation.id, Organisation.settings)).all():
            days = ((settings or {}).get(PRIVACY_SETTINGS_KEY) or {}).get("retention_days")
            if not days:
                continue
            cutoff = now - timedelta(days=int(days))
            result = uow.s.execute(
                delete(Activity).where(Activity.org_id == org_id, Activity.occurred_at < cutoff)
                .execution_options(synchronize_session=False)
            )
            deleted[org_id] = result.rowcount or 0
        uow.commit()
    return deleted
