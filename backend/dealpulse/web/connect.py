"""Connecting a mailbox from the web: Google OAuth (offline access, read-only mail and calendar) and Microsoft sign-in.

The signed-in user (dashboard session) is sent to the provider with a state bound to their session; the callback
redeems the code, checks that the verified address is one of the user's own, stores the refresh token encrypted
and queues the first sync.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import warnings
from typing import Any
from urllib.parse import urlencode

import google.auth.exceptions
import google.auth.transport.requests
import msal
import requests
from flask import Blueprint, Response, abort, redirect, render_template_string, request, session, url_for
from google.oauth2 import id_token as google_id_token

from .toolkit import app_db, app_settings
from ..config import ConfigError
from ..mail.google_auth import SYNC_SCOPES, token_session
from ..mail.linking import normalize_address
from ..mail.ms_auth import GRAPH_SCOPES, ProviderUnavailableError, build_msal_app
from ..services.errors import InvalidField
from ..services.mailboxes import add_mailbox
from ..store import User
from ..tasks.sync import enqueue_sync
from .signin import signed_in_principal

bp = Blueprint("connect", __name__, url_prefix="/connect")

GOOGLE_ISSUERS = ("accounts.google.com", "https://accounts.google.com")

_RESULT_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>DealPulse: connect a mailbox</title></head>
<body><main><h1>{{ title }}</h1><p>{{ message }}</p><p><a href="{{ back }}">Back to DealPulse</a></p></main></body></html>"""


def _page(title: str, message: str, status: int = 200) -> Response:
    return Response(render_template_string(_RESULT_PAGE, title=title, message=message, back="/dashboard/"), status=status)


def _signed_in_user() -> tuple[int, str, set[str]] | Response:
    principal = signed_in_principal()
    if principal is None:
        return redirect(url_for("signin.signin_page", next=request.path))
    with app_db().uow() as uow:
        user = uow.s.get(User, principal.user_id)
        return user.id, user.email, {normalize_address(a) for a in user.addresses}


def _store(provider: str, user_id: int, owner_email: str, own: set[str], address: str, refresh_token: str) -> Response:
    """Keep the mailbox (only the user's own addresses) and queue its first sync."""
    address = normalize_address(address)
    if address not in own:
        return _page("Not your mailbox", f"{address or 'That account'} is not one of your DealPulse addresses; "
                     "sign in to the provider with your own work account.", 403)
    if not refresh_token:
        return _page("Not connected", "The provider did not grant offline access; try again and accept all requested access.", 400)
    try:
        with app_db().uow() as uow:
            mailbox_id = add_mailbox(uow, app_settings(), provider=provider, address=address, refresh_token=refresh_token,
                                     user_email=owner_email)
    except InvalidField as exc:
        return _page("Not connected", str(exc), 400)
    enqueue_sync(mailbox_id)
    return _page("Mailbox connected", f"{address} is connected; its first sync is on its way.")


# ---------------------------------------------------------------- Google


@bp.get("/google")
def google_start() -> Response:
    """Send the signed-in user to Google's consent page: read-only mail and calendar, offline access, PKCE."""
    settings = app_settings()
    if not settings.google_client_id:
        abort(404)
    user = _signed_in_user()
    if isinstance(user, Response):
        return user
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    session["connect_google"] = {"state": state, "nonce": nonce, "verifier": verifier, "uid": user[0]}
    query = {
        "client_id": settings.google_client_id, "redirect_uri": url_for("connect.google_callback", _external=True),
        "response_type": "code", "scope": " ".join(SYNC_SCOPES), "access_type": "offline", "prompt": "consent",
        "include_granted_scopes": "false", "login_hint": user[1], "state": state, "nonce": nonce,
        "code_challenge": challenge, "code_challenge_method": "S256",
    }
    return redirect(f"{settings.google_auth_url}?{urlencode(query)}")


@bp.get("/google/callback")
def google_callback() -> Response:
    """Redeem the code, verify who consented, store the refresh token (encrypted) and queue the first sync."""
    settings = app_settings()
    flow = session.pop("connect_google", None)
    user = _signed_in_user()
    if isinstance(user, Response):
        return user
    if not settings.google_client_id or not flow or flow.get("uid") != user[0]:
        return _page("Not connected", "This connection attempt expired; start again from DealPulse.", 400)
    if request.args.get("error") or not hmac.compare_digest(flow["state"], request.args.get("state", "")):
        return _page("Not connected", "Google did not confirm the connection (cancelled or expired); try again.", 400)
    http = token_session()
    try:
        answer = http.post(settings.google_token_url, timeout=15, data={
            "grant_type": "authorization_code", "code": request.args.get("code", ""),
            "redirect_uri": url_for("connect.google_callback", _external=True), "client_id": settings.google_client_id,
            "client_secret": settings.google_client_secret, "code_verifier": flow["verifier"],
        })
        tokens = answer.json() if answer.ok else {}
        claims = google_id_token.verify_token(
            tokens.get("id_token", ""), google.auth.transport.requests.Request(session=http),
            audience=settings.google_client_id, certs_url=settings.google_certs_url,
        ) if tokens.get("id_token") else {}
    except (requests.RequestException, ValueError, google.auth.exceptions.GoogleAuthError):
        claims, tokens = {}, {}
    if claims.get("iss") not in GOOGLE_ISSUERS or claims.get("nonce") != flow["nonce"] or not claims.get("email_verified", True):
        return _page("Not connected", "Google's answer could not be verified; try again.", 400)
    return _store("gmail", user[0], user[1], user[2], str(claims.get("email", "")), str(tokens.get("refresh_token", "")))


# ---------------------------------------------------------------- Microsoft


def _msal_app() -> msal.ConfidentialClientApplication:
    try:
        return build_msal_app(app_settings())
    except (ConfigError, ProviderUnavailableError):
        abort(404)


@bp.get("/microsoft")
def microsoft_start() -> Response:
    """Send the signed-in user to Microsoft sign-in for Mail.Read and Calendars.Read (msal adds offline_access)."""
    if not app_settings().ms_client_id:
        abort(404)
    user = _signed_in_user()
    if isinstance(user, Response):
        return user
    with warnings.catch_warnings():
        # The code must come back in the query: a cross-site form_post would not carry our SameSite=Lax cookie.
        warnings.filterwarnings("ignore", message="response_mode='form_post' is recommended", category=UserWarning)
        flow = _msal_app().initiate_auth_code_flow(
            list(GRAPH_SCOPES), redirect_uri=url_for("connect.microsoft_callback", _external=True), login_hint=user[1]
        )
    session["connect_microsoft"] = {"flow": flow, "uid": user[0]}
    return redirect(flow["auth_uri"])


@bp.get("/microsoft/callback")
def microsoft_callback() -> Response:
    """Redeem the code through msal (state, nonce and PKCE checked), store the refresh token, queue the first sync."""
    saved: dict[str, Any] | None = session.pop("connect_microsoft", None)
    user = _signed_in_user()
    if isinstance(user, Response):
        return user
    if not app_settings().ms_client_id or not saved or saved.get("uid") != user[0]:
        return _page("Not connected", "This connection attempt expired; start again from DealPulse.", 400)
    try:
        result = _msal_app().acquire_token_by_auth_code_flow(saved["flow"], request.args.to_dict())
    except (ValueError, requests.RequestException):
        result = {"error": "invalid_state"}
    claims = result.get("id_token_claims") or {}
    if "error" in result or not claims:
        return _page("Not connected", "Microsoft did not confirm the connection (cancelled or expired); try again.", 400)
    address = str(claims.get("preferred_username") or claims.get("email") or "")
    return _store("microsoft", user[0], user[1], user[2], address, str(result.get("refresh_token", "")))
