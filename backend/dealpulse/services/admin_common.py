"""What the admin use cases share: the admin check, the acting principal for the audit log, version guards."""

from __future__ import annotations

from typing import Any, Callable

from sqlalchemy import update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from ..domain.access import Principal, can_administer
from .audit import history
from .errors import PermissionDenied, StaleVersion

MAX_ID = 2**31 - 1  # the largest integer key or version both databases store (PostgreSQL INTEGER)


def require_admin(principal: Principal, what: str) -> None:
    """PermissionDenied unless the principal administers their organisation."""
    if not can_administer(principal):
        raise PermissionDenied(f"only admins {what}")


def actor(principal: Principal) -> Principal | None:
    """The principal to name in the audit log (None for the command line acting before any admin exists)."""
    return principal if principal.user_id else None


def claim_version(
    s: Session, obj: Any, expected: int, entity_type: str, org_id: int, serialize: Callable[[Any], dict[str, Any]]
) -> None:
    """Move `obj` from version `expected` to the next one, or raise StaleVersion with its current state.

    A conditional `UPDATE ... WHERE version = :expected`, so two concurrent writers of the same version cannot both
    succeed (PostgreSQL re-checks the condition after the first commits; SQLite serialises writers).
    """
    model = type(obj)
    done = 0 < expected <= MAX_ID and s.execute(
        update(model).where(model.id == obj.id, model.version == expected).values(version=model.version + 1)
    ).rowcount
    if not done:
        s.refresh(obj)
        since = min(max(expected, 0), MAX_ID)
        raise StaleVersion(expected, serialize(obj), history(s, org_id, entity_type, obj.id, since_version=since))
    set_committed_value(obj, "version", expected + 1)
