"""A rep's own settings: their mailboxes' state, their never-log list, and private by default.

Adding an address or domain to the never-log list also hides mail already captured from it: the rep's mailboxes
stop holding those activities (their copies are removed; an activity no other mailbox holds is deleted). A
colleague's own copies stay theirs.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select

from ..domain.access import Principal
from ..mail.linking import normalize_address, normalize_domain
from ..mail.privacy import NeverLogList, rules_from_settings
from ..store import Activity, ActivitySource, Mailbox, NeverLogEntry, Organisation, User
from ..store.uow import UnitOfWork
from .audit import record_changes
from .capture import delete_orphans
from .errors import InvalidField, NotFoundError
from .mailboxes import mailbox_status

MAX_NEVER_LOG_ENTRIES = 500


def never_log_pattern(raw: str) -> str:
    """`ann@acme.com` or `acme.com` (an `@acme.com` is the domain), lower-cased; InvalidField otherwise."""
    text = (raw or "").strip()
    if "@" in text.lstrip("@"):
        value = normalize_address(text)
    else:
        value = normalize_domain(text)
        value = value if "." in value else ""
    if not value or len(value) > 320:
        raise InvalidField([{"field": "pattern", "message": f"{raw!r} is neither an address (ann@acme.com) nor a domain (acme.com)"}])
    return value


def my_settings(uow: UnitOfWork, principal: Principal) -> dict[str, Any]:
    """What the settings page shows the signed-in user: mailboxes, never-log list, private-by-default."""
    s = uow.s
    user = s.get(User, principal.user_id)
    org_settings = s.scalar(select(Organisation.settings).where(Organisation.id == principal.org_id))
    patterns = s.scalars(select(NeverLogEntry.pattern).where(NeverLogEntry.user_id == user.id).order_by(NeverLogEntry.pattern)).all()
    return {
        "mailboxes": [m.as_dict() for m in mailbox_status(uow, user_id=user.id)],
        "never_log": list(patterns),
        "private_by_default": rules_from_settings(org_settings, user.private_by_default).private_by_default,
        "private_choice": user.private_by_default,
        "organisation_private_by_default": rules_from_settings(org_settings).private_by_default,
    }


def add_never_log(uow: UnitOfWork, principal: Principal, raw: str) -> dict[str, Any]:
    """Never capture mail with this address or domain again and hide what was captured; {pattern, hidden}."""
    s = uow.s
    pattern = never_log_pattern(raw)
    count = s.scalar(select(func.count()).where(NeverLogEntry.user_id == principal.user_id))
    exists = s.scalar(select(NeverLogEntry.id).where(NeverLogEntry.user_id == principal.user_id, NeverLogEntry.pattern == pattern))
    if exists is None:
        if count >= MAX_NEVER_LOG_ENTRIES:
            raise InvalidField([{"field": "pattern", "message": f"at most {MAX_NEVER_LOG_ENTRIES} entries; remove some first"}])
        s.add(NeverLogEntry(user_id=principal.user_id, pattern=pattern))
        s.flush()
    hidden = hide_captured(uow, principal.user_id, NeverLogList.from_patterns([pattern]))
    record_changes(s, principal, "user", principal.user_id, principal.org_id, {"never_log_added": (None, pattern)},
                   surface=principal.surface)
    uow.commit()
    return {"pattern": pattern, "hidden": hidden}


def hide_captured(uow: UnitOfWork, user_id: int, never_log: NeverLogList) -> int:
    """Remove `user_id`'s mailboxes' copies of activities a participant of which is on `never_log`; how many."""
    s = uow.s
    rows = s.execute(
        select(ActivitySource.id, Activity.id, Activity.participants)
        .join(Activity, Activity.id == ActivitySource.activity_id)
        .join(Mailbox, Mailbox.id == ActivitySource.mailbox_id)
        .where(Mailbox.user_id == user_id)
    ).all()
    blocked = [(source_id, activity_id) for source_id, activity_id, people in rows
               if any(never_log.blocks(str(p.get("email", ""))) for p in (people or []) if isinstance(p, dict))]
    if not blocked:
        return 0
    source_ids = [source_id for source_id, _ in blocked]
    for i in range(0, len(source_ids), 500):
        s.execute(delete(ActivitySource).where(ActivitySource.id.in_(source_ids[i:i + 500])).execution_options(synchronize_session=False))
    activity_ids = {activity_id for _, activity_id in blocked}
    delete_orphans(s, activity_ids)
    return len(activity_ids)


def remove_never_log(uow: UnitOfWork, principal: Principal, raw: str) -> None:
    """Capture mail with this address or domain again from now on (what was hidden stays hidden)."""
    pattern = never_log_pattern(raw)
    entry = uow.s.scalar(select(NeverLogEntry).where(NeverLogEntry.user_id == principal.user_id, NeverLogEntry.pattern == pattern))
    if entry is None:
        raise NotFoundError(f"{pattern} is not on your never-log list")
    uow.s.delete(entry)
    record_changes(uow.s, principal, "user", principal.user_id, principal.org_id, {"never_log_removed": (pattern, None)},
                   surface=principal.surface)
    uow.commit()


def set_private_by_default(uow: UnitOfWork, principal: Principal, private: bool | None) -> None:
    """Make my newly captured mail private by default (True), shared (False) or follow the organisation (None)."""
    user = uow.s.get(User, principal.user_id)
    before = user.private_by_default
    user.private_by_default = private
    if before != private:
        record_changes(uow.s, principal, "user", user.id, principal.org_id, {"private_by_default": (before, private)},
                       surface=principal.surface)
    uow.commit()
