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
from ..store import ApiToken, Organisation, Team, User, listed_ms_tenants, user_ids_with_address, utcnow
from .problems import Unauthorized

TOKEN_USE_RESOLUTION = timedelta(minutes=1)  # last_used_at is rewritten at most this often (not on every request)


@dataclass(frozen=True)
class VerifiedIdentity:
    """What a verifier established: either a DealPulse user id or a verified email address.

    `surface` is how the caller authenticated (it is what the audit log records). `tenant_id` is the Entra tenant
    a Microsoft token came from: the user's organisation accepts only the tenants it lists (`ms_tenant_ids`), and
    an organisation listing none accepts none unless `any_tenant` (demo/test). `ms_object_id` / `google_subject`
    are the provider's stable user ids: the first sign-in binds the user to them and later sign-ins are matched
    by them, not by the address.
    """

    surface: str
    user_id: int | None = None
    email: str | None = None
    tenant_id: str | None = None
    ms_object_id: str | None = None
    google_subject: str | None = None
    any_tenant: bool = False
    email_verified: bool = False  # the provider vouches for the address (invitations and JIT provisioning need it)


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
    if row.expires_at is not None and row.expires_at <= now:
        raise Unauthorized("The API token has expired; create a new one.")
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
_USER_BY_MS_OBJECT_ID = _USER_WITH_ORG.where(User.ms_object_id == bindparam("subject"))
_USER_BY_GOOGLE_SUBJECT = _USER_WITH_ORG.where(User.google_subject == bindparam("subject"))
_MANAGED_TEAMS = select(Team.id).where(Team.manager_id == bindparam("user_id"))


def load_principal(session: Session, identity: VerifiedIdentity) -> Principal:
    """Map a verified identity to an active DealPulse user: by id, by bound provider subject, else by address.

    A first sign-in with a provider subject binds the user to it (the caller commits); an address whose user is
    bound to another subject is refused.
    """
    row = _find_user(session, identity)
    if row is not None and identity.tenant_id is not None and not tenant_accepted(row[1], identity):
        raise Unauthorized("This Microsoft tenant is not the one your organisation signs in with.")
    if row is None or not row[0].is_active:
        raise Unauthorized("No active DealPulse user matches this sign-in.")
    user = row[0]
    if identity.ms_object_id and user.ms_object_id is None:
        user.ms_object_id = identity.ms_object_id
    if identity.google_subject and user.google_subject is None:
        user.google_subject = identity.google_subject
    return principal_for_user(session, user, identity.surface)


def _find_user(session: Session, identity: VerifiedIdentity) -> Any:
    if identity.user_id is not None:
        return session.execute(_USER_BY_ID, {"user_id": identity.user_id}).first()
    subjects = ((_USER_BY_MS_OBJECT_ID, "ms_object_id", identity.ms_object_id),
                (_USER_BY_GOOGLE_SUBJECT, "google_subject", identity.google_subject))
    for query, _, subject in subjects:
        if subject:
            row = session.execute(query, {"subject": subject}).first()
            if row is not None:
                return row
    if not identity.email:
        return None
    row = session.execute(_USER_BY_ADDRESS, {"address": identity.email.strip().lower()}).first()
    for _, column, subject in subjects:
        bound = getattr(row[0], column) if row is not None else None
        if subject and bound is not None and bound != subject:
            raise Unauthorized("This address belongs to a DealPulse user who signs in with another account.")
    return row


def tenant_accepted(org_settings: dict[str, Any] | None, identity: VerifiedIdentity) -> bool:
    """True if the organisation lists the identity's Entra tenant (listing none accepts any only in demo/test)."""
    allowed = listed_ms_tenants(org_settings)
    if not allowed:
        return identity.any_tenant
    return str(identity.tenant_id).lower() in allowed


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
            # The audit surface is how the caller authenticated; no request header can choose it.
            return load_principal(session, identity)
    raise Unauthorized("The bearer credential is not recognised.")


def current_principal() -> Principal:
    """The principal authenticated for this request."""
    principal = g.get("principal")
    if principal is None:
        raise Unauthorized("Not authenticated.")
    return principal
