"""Invitations by e-mail and just-in-time provisioning: how people who are not users yet become users.

An admin invites an address with a role and team; the invitee gets a signed, expiring link (`/invite/<token>`).
Opening it and signing in with Google or Microsoft under the invited address creates the user, bound to the
provider's stable subject at that sign-in. Only the SHA-256 of the token is stored; an accepted, revoked or
expired invitation opens nothing. With just-in-time provisioning on (organisation setting `jit_provisioning`),
someone whose address the provider verified, at one of the organisation's domains (and, for Microsoft, from a
tenant the organisation lists), joins as a rep without a team at their first sign-in.
"""

from __future__ import annotations

import hashlib
import secrets
import smtplib
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import select

from ..domain.access import Principal
from ..mail.linking import in_domains
from ..store import Invitation, Organisation, Team, listed_ms_tenants, utcnow
from ..store.uow import UnitOfWork
from .admin_common import actor, require_admin
from .audit import record_changes
from .alert_digest import smtp_endpoint
from .errors import ConflictError, InvalidField, NotFoundError
from .people import address_taken, check_name, check_role, new_user, normalise_email, org_team

INVITATION_DAYS = 7
_SALT = "dealpulse-invitation"


class InvitationError(ValueError):
    """The link is not (or no longer) a usable invitation; the message says why in words for the invitee."""


@dataclass(frozen=True)
class SignInClaims:
    """What a provider vouched for at sign-in, as far as provisioning is concerned."""

    email: str
    email_verified: bool
    tenant_id: str | None = None  # Microsoft sign-ins only


def _serializer(secret: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=_SALT)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invitation_view(inv: Invitation, now: datetime | None = None) -> dict[str, Any]:
    """An invitation as the admin pages list it (never its token)."""
    now = now or utcnow()
    state = ("accepted" if inv.accepted_at else "revoked" if inv.revoked_at else "expired" if inv.expires_at <= now else "pending")
    return {"id": inv.id, "email": inv.email, "name": inv.name, "role": inv.role, "team_id": inv.team_id, "state": state,
            "expires_at": inv.expires_at, "created_at": inv.created_at}


def create_invitation(
    uow: UnitOfWork, principal: Principal, secret: str, email: str, name: str, role: str, team_id: int | None = None,
    days: int = INVITATION_DAYS,
) -> tuple[dict[str, Any], str]:
    """Invite an address (admin); returns the invitation and its token (shown once, put in the link)."""
    require_admin(principal, "invite people")
    s = uow.s
    address = normalise_email(email)
    if address_taken(s, address):
        raise InvalidField([{"field": "email", "message": f"{address} is already a DealPulse user"}])
    check_name(name)
    check_role(role)
    org_team(s, principal.org_id, team_id)
    token = _serializer(secret).dumps({"n": secrets.token_urlsafe(16), "o": principal.org_id})
    now = utcnow()
    inv = Invitation(org_id=principal.org_id, email=address, name=name.strip(), role=role, team_id=team_id,
                     token_hash=_hash(token), invited_by_id=principal.user_id or None, created_at=now,
                     expires_at=now + timedelta(days=days))
    s.add(inv)
    s.flush()
    record_changes(s, actor(principal), "invitation", inv.id, principal.org_id,
                   {"created": (None, {"email": address, "role": role, "team_id": team_id})}, surface=principal.surface)
    uow.commit()
    return invitation_view(inv, now), token


def list_invitations(uow: UnitOfWork, principal: Principal) -> list[dict[str, Any]]:
    """The organisation's invitations, newest first (admin)."""
    require_admin(principal, "see invitations")
    now = utcnow()
    rows = uow.s.scalars(select(Invitation).where(Invitation.org_id == principal.org_id).order_by(Invitation.id.desc()).limit(200))
    return [invitation_view(inv, now) for inv in rows]


def revoke_invitation(uow: UnitOfWork, principal: Principal, invitation_id: int) -> dict[str, Any]:
    """Make a pending invitation's link useless (admin); returns the invitation."""
    require_admin(principal, "revoke invitations")
    inv = uow.s.get(Invitation, invitation_id)
    if inv is None or inv.org_id != principal.org_id:
        raise NotFoundError("no such invitation")
    if inv.accepted_at is not None:
        raise ConflictError(f"{inv.email} already accepted this invitation")
    if inv.revoked_at is None:
        inv.revoked_at = utcnow()
        record_changes(uow.s, actor(principal), "invitation", inv.id, principal.org_id, {"revoked": (None, True)},
                       surface=principal.surface)
    uow.commit()
    return invitation_view(inv)


def open_invitation(uow: UnitOfWork, secret: str, token: str, now: datetime | None = None) -> dict[str, Any]:
    """The pending invitation behind a link, with its organisation's name; InvitationError says why not."""
    now = now or utcnow()
    try:
        _serializer(secret).loads(token, max_age=INVITATION_DAYS * 86400 * 4)  # the row's expiry is the real limit
    except SignatureExpired:
        raise InvitationError("This invitation has expired. Ask your administrator for a new one.") from None
    except BadSignature:
        raise InvitationError("This is not a valid invitation link. Check that you copied all of it.") from None
    inv = uow.s.scalar(select(Invitation).where(Invitation.token_hash == _hash(token)))
    if inv is None or inv.revoked_at is not None:
        raise InvitationError("This invitation was withdrawn. Ask your administrator for a new one.")
    if inv.accepted_at is not None:
        raise InvitationError("This invitation was already used. Sign in as usual.")
    if inv.expires_at <= now:
        raise InvitationError("This invitation has expired. Ask your administrator for a new one.")
    org_name = uow.s.scalar(select(Organisation.name).where(Organisation.id == inv.org_id))
    return {**invitation_view(inv, now), "organisation": org_name}


def accept_invitation(uow: UnitOfWork, secret: str, token: str, claims: SignInClaims, now: datetime | None = None) -> int:
    """Create the invited user for a sign-in whose verified address is the invited one; returns the user id.

    Not committed: the caller binds the provider subject (signing in) and commits both together.
    """
    now = now or utcnow()
    view = open_invitation(uow, secret, token, now)
    inv = uow.s.get(Invitation, view["id"])
    if not claims.email_verified or claims.email.strip().lower() != inv.email:
        raise InvitationError(f"This invitation is for {inv.email}: sign in with that account.")
    s = uow.s
    team_id = inv.team_id if inv.team_id is not None and s.get(Team, inv.team_id) is not None else None
    user = new_user(s, inv.org_id, inv.email, inv.name, inv.role, team_id)
    inv.accepted_at = now
    inv.user_id = user.id
    record_changes(s, None, "user", user.id, inv.org_id,
                   {"created": (None, {"email": user.email, "role": user.role, "team_id": team_id, "invitation": inv.id})},
                   version=1, surface="dashboard")
    return user.id


def provision_just_in_time(uow: UnitOfWork, claims: SignInClaims) -> int | None:
    """Create a rep without a team for a verified address of an organisation that allows it; the id, or None.

    Not committed (like `accept_invitation`). Nothing happens when the address is already a user's.
    """
    s = uow.s
    if not claims.email_verified or address_taken(s, claims.email):
        return None
    for org in s.scalars(select(Organisation).order_by(Organisation.id)):
        settings = org.settings or {}
        if not settings.get("jit_provisioning") or not in_domains(claims.email, org.domains or []):
            continue
        if claims.tenant_id is not None and claims.tenant_id.lower() not in listed_ms_tenants(settings):
            continue  # a Microsoft address counts as verified only from a tenant the organisation lists
        name = claims.email.split("@")[0].replace(".", " ").title()
        user = new_user(s, org.id, claims.email, name, "rep", None)
        record_changes(s, None, "user", user.id, org.id, {"created": (None, {"email": user.email, "role": "rep", "jit": True})},
                       version=1, surface="dashboard")
        return user.id
    return None


def invitation_message(sender: str, recipient: str, organisation: str, inviter: str, link: str, days: int) -> EmailMessage:
    """The invitation e-mail (plain text)."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = f"{inviter} invited you to DealPulse ({organisation})"
    message.set_content(
        f"{inviter} invited you to {organisation} on DealPulse.\n\nOpen this link within {days} days and sign in with "
        f"Google or Microsoft as {recipient}:\n\n{link}\n\nIf you did not expect this, ignore this e-mail.\n"
    )
    return message


def send_invitation(smtp_url: str, message: EmailMessage) -> bool:
    """Send the invitation through DEALPULSE_SMTP_URL; False when none is set or the server refused it."""
    if not smtp_url:
        return False
    host, port = smtp_endpoint(smtp_url)
    try:
        with smtplib.SMTP(host, port, timeout=10) as smtp:
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException):
        return False
    return True

