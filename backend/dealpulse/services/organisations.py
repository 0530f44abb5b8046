"""Organisations and their sign-in settings: creating one, listing them, choosing one by --org, admin settings."""

from __future__ import annotations

import re
import uuid
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..domain.access import Principal
from ..store import Organisation, Team, User
from ..store.uow import UnitOfWork
from .admin_common import actor, claim_version, require_admin
from .audit import record_changes
from .errors import InvalidField

FREE_MAIL = {"gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "yahoo.com", "icloud.com", "aol.com", "proton.me"}
DOMAIN = re.compile(r"(?=.{4,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}[a-z0-9]")


def normalise_domain(raw: str, field: str) -> str:
    """A lower-case company domain, or InvalidField naming `field` (free-mail domains are never a company's)."""
    domain = raw.strip().lower().rstrip(".")
    if not DOMAIN.fullmatch(domain):
        raise InvalidField([{"field": field, "message": f"{raw!r} is not a domain such as example.com"}])
    if domain in FREE_MAIL:
        raise InvalidField([{"field": field, "message": f"{domain!r} is a free-mail domain, not a company's"}])
    return domain


def _domains(s: Session, raw: list[str], org_id: int | None) -> list[str]:
    domains = list(dict.fromkeys(normalise_domain(d, "domains") for d in raw))
    for other_id, other_domains in s.execute(select(Organisation.id, Organisation.domains)):
        taken = set(domains) & {str(d).lower() for d in other_domains or []}
        if other_id != org_id and taken:
            raise InvalidField([{"field": "domains", "message": f"{sorted(taken)[0]!r} is used by another organisation"}])
    return domains


def _tenant_ids(raw: list[str]) -> list[str]:
    out = []
    for value in raw:
        try:
            out.append(str(uuid.UUID(str(value).strip())))
        except ValueError:
            raise InvalidField([{"field": "ms_tenant_ids", "message": f"{value!r} is not a tenant id (a GUID)"}]) from None
    return list(dict.fromkeys(out))


def new_organisation(s: Session, name: str, domains: list[str]) -> Organisation:
    """Add an organisation (unique name, company domains no other organisation uses); not committed."""
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidField([{"field": "name", "message": "give a name of 1-200 characters"}])
    existing = s.scalar(select(Organisation.id).where(Organisation.name == name))
    if existing is not None:
        raise InvalidField([{"field": "name", "message": f"an organisation named {name!r} exists (id {existing})"}])
    org = Organisation(name=name, domains=_domains(s, domains, None), settings={})
    s.add(org)
    s.flush()
    return org


def create_organisation(uow: UnitOfWork, name: str, domains: list[str]) -> int:
    """Create an organisation (the operator's command); returns its id."""
    org = new_organisation(uow.s, name, domains)
    record_changes(uow.s, None, "organisation", org.id, org.id, {"created": (None, org.name)}, version=1, surface="cli")
    uow.commit()
    return org.id


def list_organisations(uow: UnitOfWork) -> list[dict[str, Any]]:
    """Every organisation with its domains and how many active users and teams it has (operator's view)."""
    users = dict(uow.s.execute(select(User.org_id, func.count()).where(User.is_active.is_(True)).group_by(User.org_id)).all())
    teams = dict(uow.s.execute(select(Team.org_id, func.count()).group_by(Team.org_id)).all())
    return [
        {"id": o.id, "name": o.name, "domains": list(o.domains or []), "active_users": users.get(o.id, 0), "teams": teams.get(o.id, 0)}
        for o in uow.s.scalars(select(Organisation).order_by(Organisation.id))
    ]


def chosen_organisation(uow: UnitOfWork, org: str | None) -> int:
    """The organisation named by --org (id or exact name), or the only one; ValueError says what to do otherwise."""
    if org is not None:
        query = select(Organisation.id).where(Organisation.id == int(org) if org.isdigit() else Organisation.name == org)
        found = uow.s.scalar(query)
        if found is None:
            raise ValueError(f"--org {org!r}: no such organisation (give its id or exact name; see `dealpulse org list`)")
        return found
    ids = uow.s.scalars(select(Organisation.id).order_by(Organisation.id).limit(2)).all()
    if not ids:
        raise ValueError("there is no organisation yet: create one with `dealpulse org create NAME --domain DOMAIN`")
    if len(ids) > 1:
        raise ValueError("several organisations exist: choose one with --org (see `dealpulse org list`)")
    return ids[0]


def serialize_settings(org: Organisation) -> dict[str, Any]:
    """The admin view of an organisation's identity settings."""
    settings = org.settings or {}
    return {
        "id": org.id,
        "name": org.name,
        "domains": list(org.domains or []),
        "ms_tenant_ids": list(settings.get("ms_tenant_ids", [])),
        "google_workspace_domain": settings.get("google_workspace_domain"),
        "jit_provisioning": bool(settings.get("jit_provisioning", False)),
        "version": org.version,
    }


def _admin_org(uow: UnitOfWork, principal: Principal) -> Organisation:
    require_admin(principal, "see and change the organisation's settings")
    return uow.s.get(Organisation, principal.org_id)


def get_settings(uow: UnitOfWork, principal: Principal) -> dict[str, Any]:
    """The caller's organisation settings (admin)."""
    return serialize_settings(_admin_org(uow, principal))


def update_settings(uow: UnitOfWork, principal: Principal, version: int, changes: dict[str, Any]) -> dict[str, Any]:
    """Change name, domains, Microsoft tenant ids, Google Workspace domain or JIT provisioning if `version` is current (admin)."""
    s = uow.s
    org = _admin_org(uow, principal)
    before = serialize_settings(org)
    claim_version(s, org, version, "organisation", org.id, serialize_settings)
    settings = dict(org.settings or {})
    if "name" in changes:
        name = changes["name"].strip()
        clash = s.scalar(select(Organisation.id).where(Organisation.name == name, Organisation.id != org.id))
        if not name or clash is not None:
            raise InvalidField([{"field": "name", "message": "give a name no other organisation uses"}])
        org.name = name
    if "domains" in changes:
        org.domains = _domains(s, changes["domains"], org.id)
    if "ms_tenant_ids" in changes:
        settings["ms_tenant_ids"] = _tenant_ids(changes["ms_tenant_ids"])
    if "google_workspace_domain" in changes:
        raw = changes["google_workspace_domain"]
        settings["google_workspace_domain"] = normalise_domain(raw, "google_workspace_domain") if raw else None
    if "jit_provisioning" in changes:
        settings["jit_provisioning"] = bool(changes["jit_provisioning"])
    org.settings = settings
    after = serialize_settings(org)
    diff = {k: (before[k], after[k]) for k in after if k != "version" and before[k] != after[k]}
    if diff:
        record_changes(s, actor(principal), "organisation", org.id, org.id, diff, version=org.version, surface=principal.surface)
    uow.commit()
    return serialize_settings(org)

