"""Bearer authentication for the API: pluggable verifiers (personal tokens here; Microsoft and Google add theirs)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable, Protocol

from flask import Flask, current_app, g, request
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, lazyload

from ..domain.access import Principal
from ..services.tokens import TOKEN_PREFIX, hash_token
from ..store import ApiToken, Organisation, Team, User, user_ids_with_address, utcnow
from .problems import Unauthorized

TOKEN_USE_RESOLUTION = timedelta(minutes=1)  # last_used_at is rewritten at most this often (not on every request)


@dataclass(frozen=True)
class VerifiedIdentity:
    """What a verifier established: either a DealPulse user id or a verified email address.

    `tenant_id` is the Entra tenant a Microsoft token came from: the user's organisation may accept only some
    tenants (organisation setting `ms_tenant_ids`; empty = any).
    """

    surface: str
    user_id: int | None = None
    email: str | None = None
    tenant_id: str | None = None


class CredentialVerifier(Protocol):
    """Recognises one kind of bearer credential."""

    def __call__(self, token: str, session: Session) -> VerifiedIdentity | None:
        """Return the identity, None if the token is not of this kind, or raise Unauthorized if it is bad."""
        ...


_TOKEN_BY_HASH = select(ApiToken).where(ApiToken.token_hash == bindparam("token_hash"))


def verify_personal_token(token: str, session: Session) -> VerifiedIdentity | None:
    """Personal API tokens (`dp_...`), looked up by hash; revoked tokens are refused."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = session.scalar(_TOKEN_BY_HASH, {"token_hash": hash_token(token)})
    if row is None or row.revoked_at is not None:
        raise Unauthorized("The API token is unknown or revoked.")
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at >= TOKEN_USE_RESOLUTION:
        row.last_used_at = now
    return VerifiedIdentity(surface="api", user_id=row.user_id)


def register_verifier(app: Flask, verifier: CredentialVerifier) -> None:
    """Add a bearer credential verifier to the app (tried in order)."""
    app.extensions.setdefault("dealpulse.verifiers", []).append(verifier)


# Built once (every request runs them): the user with their organisation's settings, by id or by address.
_USER_WITH_ORG = (
    select(User, Organisation.settings).join(Organisation, Organisation.id == User.org_id).options(lazyload(User.aliases))
)
_USER_BY_ID = _USER_WITH_ORG.where(User.id == bindparam("user_id"))
_USER_BY_ADDRESS = (
    _USER_WITH_ORG.where(User.id.in_(user_ids_with_address(bindparam("address")))).order_by(User.id).limit(1)
)
_MANAGED_TEAMS = select(Team.id).where(Team.manager_id == bindparam("user_id"))


def load_principal(session: Session, identity: VerifiedIdentity) -> Principal:
    """Map a verified identity to an active DealPulse user (by id, or by primary/alias address), in one query."""
    if identity.user_id is not None:
        row = session.execute(_USER_BY_ID, {"user_id": identity.user_id}).first()
    elif identity.email:
        row = session.execute(_USER_BY_ADDRESS, {"address": identity.email.strip().lower()}).first()
    else:
        raise Unauthorized("No active DealPulse user matches this sign-in.")
    if row is not None and identity.tenant_id is not None and not _tenant_accepted(row[1], identity.tenant_id):
        raise Unauthorized("This Microsoft tenant is not the one your organisation signs in with.")
    if row is None or not row[0].is_active:
        raise Unauthorized("No active DealPulse user matches this sign-in.")
    return principal_for_user(session, row[0], identity.surface)


def _tenant_accepted(org_settings: dict[str, Any] | None, tenant_id: str) -> bool:
    """True unless the organisation lists its Entra tenants (`ms_tenant_ids`) and `tenant_id` is not one of them."""
    allowed = {str(t).lower() for t in (org_settings or {}).get("ms_tenant_ids", [])}
    return not allowed or tenant_id in allowed


def principal_for_user(session: Session, user: User, surface: str = "api") -> Principal:
    """The Principal of `user`, with the teams they manage."""
    managed = session.scalars(_MANAGED_TEAMS, {"user_id": user.id}).all()
    return Principal(
        user_id=user.id,
        org_id=user.org_id,
        role=user.role,
        email=user.email,
        team_id=user.team_id,
        managed_team_ids=frozenset(managed),
        surface=surface,
    )


def bearer_token() -> str | None:
    """The bearer token of the current request, if any (tokens never travel in URLs)."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def authenticate_request(session: Session) -> Principal:
    """Authenticate the current request's bearer credential or raise Unauthorized."""
    token = bearer_token()
    if token is None:
        raise Unauthorized("Send a bearer credential in the Authorization header.")
    verifiers: list[Callable] = current_app.extensions.get("dealpulse.verifiers", [])
    for verifier in verifiers:
        identity = verifier(token, session)
        if identity is not None:
            principal = load_principal(session, identity)
            surface = request.headers.get("X-DealPulse-Surface", identity.surface)
            if identity.surface == "api" and surface in ("outlook", "gmail", "dashboard", "cli", "api"):
                principal = Principal(**{**principal.__dict__, "surface": surface})
            return principal
    raise Unauthorized("The bearer credential is not recognised.")


def current_principal() -> Principal:
    """The principal authenticated for this request."""
    principal = g.get("principal")
    if principal is None:
        raise Unauthorized("Not authenticated.")
    return principal
