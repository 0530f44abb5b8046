"""Recording field changes in the audit log."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..domain.access import Principal
from ..store import AuditEntry, User


def _encode(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, Decimal):
        value = str(value)
    elif isinstance(value, (date, datetime)):
        value = value.isoformat()
    return json.dumps(value)


def record_changes(
    session: Session,
    principal: Principal | None,
    entity_type: str,
    entity_id: int,
    org_id: int,
    changes: dict[str, tuple[Any, Any]],
    version: int | None = None,
    surface: str | None = None,
    changed_at: datetime | None = None,
) -> str:
    """Write one audit entry per changed field (grouped by a change id) and return the change id.

    `changed_at` dates a change that happened earlier (imported history); default now."""
    change_id = str(uuid.uuid4())
    for field_name, (old, new) in changes.items():
        session.add(
            AuditEntry(
                org_id=org_id,
                entity_type=entity_type,
                entity_id=entity_id,
                field=field_name,
                old_value=_encode(old),
                new_value=_encode(new),
                actor_id=principal.user_id if principal and principal.user_id else None,  # 0: the CLI's system actor
                surface=surface or (principal.surface if principal else "system"),
                change_id=change_id,
                version=version,
                **({"changed_at": changed_at} if changed_at is not None else {}),
            )
        )
    return change_id


def history(session: Session, org_id: int, entity_type: str, entity_id: int, since_version: int | None = None) -> list[dict[str, Any]]:
    """Audit entries of one entity, newest first, with the actor's name."""
    query = (
        select(AuditEntry, User.name, User.email)
        .outerjoin(User, User.id == AuditEntry.actor_id)
        .where(AuditEntry.org_id == org_id, AuditEntry.entity_type == entity_type, AuditEntry.entity_id == entity_id)
        .order_by(AuditEntry.changed_at.desc(), AuditEntry.id.desc())
    )
    if since_version is not None:
        query = query.where(AuditEntry.version > since_version)
    out = []
    for entry, name, email in session.execute(query):
        out.append(
            {
                "field": entry.field,
                "old": None if entry.old_value is None else json.loads(entry.old_value),
                "new": None if entry.new_value is None else json.loads(entry.new_value),
                "actor": {"id": entry.actor_id, "name": name, "email": email} if entry.actor_id else None,
                "surface": entry.surface,
                "version": entry.version,
                "change_id": entry.change_id,
                "changed_at": entry.changed_at.isoformat(),
            }
        )
    return out
