"""Bearer authentication for the API: pluggable verifiers (personal tokens here; Microsoft and Google add theirs)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

from flask import Flask, current_app, g, request
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from ..domain.access import Principal
from ..services.tokens import TOKEN_PREFIX, hash_token
from ..store import ApiToken, Team, User, UserAlias, utcnow
from .problems import Unauthorized

@dataclass(frozen=True)
class VerifiedIdentity:
    """What a verifier established: either a DealPulse user id or a verified email address."""

    surface: str
    user_id: int | None = None
    email: str | None = None


class CredentialVerifier(Protocol):
    """Recognises one kind of bearer credential."""

    def __call__(self, token: str, session: Session) -> VerifiedIdentity | None:
        """Return the identity, None if the token is not of this kind, or raise Unauthorized if it is bad."""
        ...


def verify_personal_token(token: str, session: Session) -> VerifiedIdentity | None:
    """Personal API tokens (`dp_...`), looked up by hash; revoked tokens are refused."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    if row is None or row.revoked_at is not None:
        raise Unauthorized("The API token is unknown or revoked.")
    row.last_used_at = utcnow()
    return VerifiedIdentity(surface="api", user_id=row.user_id)


def register_verifier(app: Flask, verifier: CredentialVerifier) -> None:
    """Add a bearer credential verifier to the app (tried in order)."""
    app.extensions.setdefault("dealpulse.verifiers", []).append(verifier)


def load_principal(session: Session, identity: VerifiedIdentity) -> Principal:
    """Map a verified identity to an active DealPulse user (by id, or by primary/alias address)."""
    user: User | None = None
    if identity.user_id is not None:
        user = session.get(User, identity.user_id)
    elif identity.email:
        address = identity.email.lower()
        user = session.scalar(
            select(User)
            .outerjoin(UserAlias, UserAlias.user_id == User.id)
            .where(or_(func.lower(User.email) == address, func.lower(UserAlias.email) == address))
            .limit(1)
        )
    if user is None or not user.is_active:
        raise Unauthorized("No active DealPulse user matches this sign-in.")
    return principal_for_user(session, user, identity.surface)


def principal_for_user(session: Session, user: User, surface: str = "api") -> Principal:
    """The Principal of `user`, with the teams they manage."""
    managed = session.scalars(select(Team.id).where(Team.manager_id == user.id)).all()
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
