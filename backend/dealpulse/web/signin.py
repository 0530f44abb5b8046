"""Dashboard sign-in: Google and Microsoft authorization-code flows, a demo-only user picker, sessions and CSRF.

The session cookie (signed, HttpOnly, SameSite=Lax, Secure under an https base URL) holds the user id, the user's
session version, when it was issued and last used, and a CSRF token; every form posts the token back and
`require_csrf` compares it in constant time. Every request checks the cookie against the user's current session
version (signing out bumps it, so every earlier cookie of that user stops working at once), the idle limit and
the absolute lifetime (settings `session_idle_hours`, `session_max_days`). The demo picker exists only when
`settings.demo` is true (404 otherwise).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import warnings
from typing import Any
from urllib.parse import urlencode, urlsplit

import google.auth.exceptions
import google.auth.transport.requests
import msal
import requests
from flask import Blueprint, Response, abort, redirect, render_template, request, session, url_for
from google.oauth2 import id_token as google_id_token
from sqlalchemy import select, update

from .toolkit import app_db, app_settings
from ..config import THROWAWAY_ENVS, ConfigError
from ..domain.access import Principal
from ..mail.ms_auth import ProviderUnavailableError, build_msal_app
from ..services.errors import InvalidField
from ..services.invitations import InvitationError, SignInClaims, accept_invitation, provision_just_in_time
from ..store import Organisation, User
from .auth import VerifiedIdentity, load_principal, principal_for_user
from .problems import Unauthorized

bp = Blueprint("signin", __name__, template_folder="templates")

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
GOOGLE_ISSUERS = ("accounts.google.com", "https://accounts.google.com")
MICROSOFT_SCOPES = ["User.Read"]
LAST_SEEN_RESOLUTION_SECONDS = 60  # the idle clock in the cookie is rewritten at most this often


# ---------------------------------------------------------------- CSRF


def csrf_token() -> str:
    """This session's CSRF token (created on first use)."""
    token = session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def csrf_valid(sent: str | None) -> bool:
    """True if `sent` is this session's token (constant-time comparison)."""
    expected = session.get("csrf")
    return bool(expected and sent and hmac.compare_digest(str(expected), str(sent)))


def require_csrf() -> None:
    """Abort 400 for a state-changing request without this session's CSRF token (form field or header)."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    if not csrf_valid(request.form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)):
        abort(400, description="The form expired or did not come from DealPulse; reload the page and try again.")


# ---------------------------------------------------------------- session identity


def session_values(user_id: int, session_version: int, now: float | None = None) -> dict[str, Any]:
    """The cookie contents of a fresh dashboard session for `user_id` (issued and last seen `now`)."""
    stamp = int(time.time() if now is None else now)
    return {"uid": user_id, "sv": session_version, "iat": stamp, "seen": stamp, "csrf": secrets.token_urlsafe(32)}


def _session_current(now: float) -> bool:
    """True while the cookie is inside both the idle limit and the absolute lifetime."""
    settings = app_settings()
    issued, seen = session.get("iat"), session.get("seen")
    if not isinstance(issued, int) or not isinstance(seen, int):
        return False
    return now - issued < settings.session_max_days * 86400 and now - seen < settings.session_idle_hours * 3600


def signed_in_principal() -> Principal | None:
    """The principal of the signed-in dashboard user, or None (the cookie is then cleared)."""
    user_id = session.get("uid")
    if not isinstance(user_id, int):
        return None
    now = time.time()
    with app_db().uow() as uow:
        user = uow.s.get(User, user_id)
        if not _session_current(now) or user is None or not user.is_active or session.get("sv") != user.session_version:
            session.clear()
            return None
        principal = principal_for_user(uow.s, user, "dashboard")
    if now - session["seen"] >= LAST_SEEN_RESOLUTION_SECONDS:
        session["seen"] = int(now)
    return principal


def start_session(user_id: int) -> None:
    """Sign `user_id` in with a fresh session (no fixation), the user's session version and a new CSRF token."""
    with app_db().uow() as uow:
        version = uow.s.scalar(select(User.session_version).where(User.id == user_id)) or 0
    session.clear()
    session.permanent = True
    session.update(session_values(user_id, version))


def end_session() -> None:
    """Sign out: bump the user's session version (every cookie issued so far stops working) and clear this one."""
    user_id, version = session.get("uid"), session.get("sv")
    if isinstance(user_id, int) and isinstance(version, int):
        with app_db().uow() as uow:
            uow.s.execute(update(User).where(User.id == user_id, User.session_version == version)
                          .values(session_version=User.session_version + 1))
            uow.commit()
    session.clear()


def safe_next(target: str | None) -> str:
    """A local path to return to after sign-in (never another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or urlsplit(target).netloc:
        return url_for("dashboard.pipeline_page")
    return target


INVITATION_SESSION_KEY = "invitation"  # the token of the invitation being accepted (set by /invite/<token>)


def _finish(identity: VerifiedIdentity) -> Response:
    """Sign in the user the provider vouched for (bound to its stable subject on first sign-in), or say why not.

    An invitation opened in this browser creates its user first; otherwise an unknown verified address of an
    organisation with just-in-time provisioning on joins it as a rep.
    """
    claims = SignInClaims(email=identity.email or "", email_verified=identity.email_verified, tenant_id=identity.tenant_id)
    invitation = session.get(INVITATION_SESSION_KEY)
    with app_db().uow() as uow:
        try:
            if invitation:
                accept_invitation(uow, app_settings().secret_key, invitation, claims)
            try:
                user_id = load_principal(uow.s, identity).user_id
            except Unauthorized:
                if invitation or provision_just_in_time(uow, claims) is None:
                    raise
                user_id = load_principal(uow.s, identity).user_id
        except (InvitationError, InvalidField) as exc:
            uow.rollback()
            session.pop(INVITATION_SESSION_KEY, None)
            return _signin_page(error=str(exc), status=403)
        except Unauthorized as exc:
            uow.rollback()
            return _signin_page(error=f"{exc.detail} Ask your administrator to add you.", status=403)
        uow.commit()  # the binding to the provider's subject (and the invited or provisioned user)
    target = session.get("next")
    start_session(user_id)
    return redirect(safe_next(target))


def _signin_page(error: str = "", status: int = 200) -> Response:
    settings = app_settings()
    response = Response(render_template(
        "dashboard/signin.html", error=error, google=bool(settings.google_client_id),
        microsoft=bool(settings.ms_client_id), demo=settings.demo, csrf=csrf_token(),
    ), status=status)
    return response


@bp.before_request
def _csrf() -> None:
    require_csrf()


@bp.get("/signin")
def signin_page() -> Response:
    """Choose a sign-in provider (and, in the demo, a user)."""
    if request.args.get("next"):
        session["next"] = safe_next(request.args.get("next"))
    return _signin_page()


@bp.post("/signout")
def signout() -> Response:
    """End the session everywhere: this and every earlier cookie of the user stop working at once."""
    end_session()
    return redirect(url_for("signin.signin_page"))


# ---------------------------------------------------------------- Google


def _pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


@bp.get("/signin/google")
def google_start() -> Response:
    """Redirect to Google's consent page (authorization code with PKCE, state and nonce)."""
    settings = app_settings()
    if not settings.google_client_id:
        abort(404)
    verifier, challenge = _pkce_pair()
    state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    session["google"] = {"state": state, "nonce": nonce, "verifier": verifier}
    query = {
        "client_id": settings.google_client_id, "redirect_uri": url_for("signin.google_callback", _external=True),
        "response_type": "code", "scope": "openid email profile", "state": state, "nonce": nonce,
        "code_challenge": challenge, "code_challenge_method": "S256", "prompt": "select_account",
    }
    return redirect(f"{settings.google_auth_url}?{urlencode(query)}")


@bp.get("/signin/google/callback")
def google_callback() -> Response:
    """Redeem the code, verify the ID token (signature, audience, issuer, nonce) and sign the user in."""
    settings = app_settings()
    flow = session.pop("google", None)
    if not settings.google_client_id or not flow:
        abort(404)
    if request.args.get("error") or not hmac.compare_digest(flow["state"], request.args.get("state", "")):
        return _signin_page(error="Google sign-in was cancelled or expired; try again.", status=400)
    http = requests.Session()
    http.trust_env = False
    try:
        answer = http.post(settings.google_token_url, timeout=15, data={
            "grant_type": "authorization_code", "code": request.args.get("code", ""),
            "redirect_uri": url_for("signin.google_callback", _external=True), "client_id": settings.google_client_id,
            "client_secret": settings.google_client_secret, "code_verifier": flow["verifier"],
        })
        token = answer.json().get("id_token") if answer.ok else None
        if not token:
            return _signin_page(error="Google did not accept the sign-in; try again.", status=400)
        claims = google_id_token.verify_token(token, google.auth.transport.requests.Request(session=http),
                                              audience=settings.google_client_id, certs_url=settings.google_certs_url)
    except (requests.RequestException, ValueError, google.auth.exceptions.GoogleAuthError):
        return _signin_page(error="Google sign-in could not be verified; try again.", status=400)
    if claims.get("iss") not in GOOGLE_ISSUERS or claims.get("nonce") != flow["nonce"] or claims.get("email_verified") is False:
        return _signin_page(error="Google sign-in could not be verified; try again.", status=400)
    if not claims.get("email") or not claims.get("sub"):
        return _signin_page(error="Google sign-in could not be verified; try again.", status=400)
    return _finish(VerifiedIdentity(surface="dashboard", email=str(claims["email"]).lower(),
                                    google_subject=str(claims["sub"]), email_verified=claims.get("email_verified") is True))


# ---------------------------------------------------------------- Microsoft


def _msal_app() -> msal.ConfidentialClientApplication:
    try:
        return build_msal_app(app_settings())
    except (ConfigError, ProviderUnavailableError):
        abort(404)


@bp.get("/signin/microsoft")
def microsoft_start() -> Response:
    """Redirect to the Microsoft identity platform (msal auth-code flow with PKCE)."""
    if not app_settings().ms_client_id:
        abort(404)
    with warnings.catch_warnings():
        # msal recommends form_post; a cross-site POST would not carry our SameSite=Lax session cookie (where the
        # flow's state, nonce and PKCE verifier live), so the code comes back in the query, protected by all three.
        warnings.filterwarnings("ignore", message="response_mode='form_post' is recommended", category=UserWarning)
        flow = _msal_app().initiate_auth_code_flow(MICROSOFT_SCOPES, redirect_uri=url_for("signin.microsoft_callback", _external=True))
    session["microsoft"] = flow
    return redirect(flow["auth_uri"])


@bp.get("/signin/microsoft/callback")
def microsoft_callback() -> Response:
    """Redeem the code through msal (state and nonce checked) and sign the user in by their verified address."""
    flow: dict[str, Any] | None = session.pop("microsoft", None)
    if not app_settings().ms_client_id or not flow:
        abort(404)
    try:
        result = _msal_app().acquire_token_by_auth_code_flow(flow, request.args.to_dict())
    except (ValueError, requests.RequestException):
        result = {"error": "invalid_state"}
    claims = result.get("id_token_claims") or {}
    if "error" in result or not claims:
        return _signin_page(error="Microsoft sign-in was cancelled or could not be verified; try again.", status=400)
    address, oid, tid = claims.get("preferred_username") or claims.get("email"), claims.get("oid"), claims.get("tid")
    if not address or not oid or not tid:
        return _signin_page(error="Microsoft sign-in could not be verified; try again.", status=400)
    return _finish(VerifiedIdentity(surface="dashboard", email=str(address).lower(), ms_object_id=str(oid).lower(),
                                    tenant_id=str(tid).lower(), any_tenant=app_settings().env in THROWAWAY_ENVS,
                                    email_verified=True))  # the tenant check where the user is loaded vouches for it


# ---------------------------------------------------------------- demo picker


@bp.route("/signin/demo", methods=["GET", "POST"])
def demo_picker() -> Response:
    """Demo only: pick any user to sign in as (404 unless DEALPULSE_DEMO is on)."""
    if not app_settings().demo:
        abort(404)
    if request.method == "POST":
        raw = request.form.get("user_id", "")
        if not raw.isdigit():
            return _signin_page(error="Choose a user.", status=400)
        with app_db().uow() as uow:
            user = uow.s.get(User, int(raw))
            if user is None or not user.is_active:
                return _signin_page(error="Choose a user.", status=400)
            user_id = user.id
        target = session.get("next")
        start_session(user_id)
        return redirect(safe_next(target))
    with app_db().uow() as uow:
        rows = uow.s.execute(
            select(User.id, User.name, User.email, User.role, Organisation.name)
            .join(Organisation, Organisation.id == User.org_id).where(User.is_active.is_(True))
            .order_by(Organisation.name, User.role.desc(), User.name)
        ).all()
    users = [{"id": i, "name": n, "email": e, "role": r, "org": o} for i, n, e, r, o in rows]
    return Response(render_template("dashboard/demo_signin.html", users=users, csrf=csrf_token()))
