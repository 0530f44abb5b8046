"""Provider push endpoints: Gmail via Pub/Sub push (Google-signed JWT) and Microsoft Graph change notifications.

Both only enqueue a sync of the mailbox concerned and answer at once; the sync itself reads the changes.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
from typing import Any

import google.auth.exceptions
import google.auth.transport.requests
from flask import Blueprint, Response, request
from google.oauth2 import id_token
from sqlalchemy import select

from .toolkit import app_db, app_settings
from ..config import Settings
from ..crypto import graph_client_state
from ..mail.google_auth import token_session
from ..mail.linking import normalize_address
from ..store import Mailbox
from ..tasks.sync import enqueue_sync
from .auth import bearer_token
from .problems import ApiProblem, Unauthorized

log = logging.getLogger(__name__)

bp = Blueprint("push", __name__, url_prefix="/push")

GOOGLE_ISSUERS = ("accounts.google.com", "https://accounts.google.com")
MAX_VALIDATION_TOKEN = 2048


def verify_pubsub_token(settings: Settings, token: str) -> dict[str, Any]:
    """Claims of a Pub/Sub push JWT signed by Google for our audience and our push service account."""
    if not settings.google_pubsub_service_account:
        raise Unauthorized("Gmail push is not configured on this server (DEALPULSE_GOOGLE_PUBSUB_SERVICE_ACCOUNT).")
    try:
        claims = id_token.verify_token(
            token,
            google.auth.transport.requests.Request(token_session()),
            audience=settings.google_pubsub_audience,
            certs_url=settings.google_certs_url,
        )
    except google.auth.exceptions.TransportError as exc:
        raise ApiProblem(f"cannot fetch Google's signing certificates now: {exc}", status=503, title="Service unavailable") from exc
    except (ValueError, google.auth.exceptions.GoogleAuthError) as exc:
        raise Unauthorized(f"The push token is not a valid Google-signed token for this endpoint: {exc}") from exc
    if claims.get("iss") not in GOOGLE_ISSUERS:
        raise Unauthorized("The push token was not issued by Google.")
    # Google signs tokens for every service account: only ours may push (any project could target our URL).
    if claims.get("email_verified") is not True:
        raise Unauthorized("The push token's service-account email is not verified.")
    if str(claims.get("email", "")).lower() != settings.google_pubsub_service_account.strip().lower():
        raise Unauthorized("The push token is not from this server's push service account.")
    return claims


def _gmail_notification(body: Any) -> dict[str, Any] | None:
    try:
        data = body["message"]["data"]
        decoded = json.loads(base64.b64decode(data, validate=False))
    except (KeyError, TypeError, ValueError, binascii.Error):
        return None
    return decoded if isinstance(decoded, dict) else None


@bp.post("/gmail")
def gmail_push() -> Response:
    """Pub/Sub push of a Gmail watch: verify the JWT, then queue a sync of that mailbox (204 either way)."""
    token = bearer_token()
    if token is None:
        raise Unauthorized("Pub/Sub push must carry a Google-signed token in Authorization.")
    verify_pubsub_token(app_settings(), token)
    notification = _gmail_notification(request.get_json(silent=True))
    address = normalize_address(str(notification.get("emailAddress", ""))) if notification else ""
    if not address:
        log.warning("Gmail push without a readable emailAddress; acknowledged and ignored")
        return Response(status=204)
    with app_db().uow() as uow:
        ids = list(uow.s.scalars(select(Mailbox.id).where(Mailbox.provider == "gmail", Mailbox.address == address,
                                                         Mailbox.sync_state != "disconnected")))
    for mailbox_id in ids:
        enqueue_sync(mailbox_id)
    return Response(status=204)


@bp.post("/graph")
def graph_push() -> Response:
    """Graph notifications: echo the validation token; otherwise check clientState and queue syncs (202)."""
    validation = request.args.get("validationToken")
    if validation is not None:
        if len(validation) > MAX_VALIDATION_TOKEN:
            raise ApiProblem("validationToken is too long")
        return Response(validation, status=200, mimetype="text/plain")
    body = request.get_json(silent=True)
    notifications = body.get("value") if isinstance(body, dict) else None
    if not isinstance(notifications, list):
        raise ApiProblem("send Graph change notifications: {\"value\": [...]}")
    expected = graph_client_state(app_settings())
    genuine = [
        n for n in notifications
        if isinstance(n, dict) and hmac.compare_digest(str(n.get("clientState", "")).encode(), expected.encode())
    ]
    if notifications and not genuine:
        raise ApiProblem("clientState does not match our subscriptions", status=403, title="Forbidden")
    subscription_ids = {str(n.get("subscriptionId", "")) for n in genuine} - {""}
    if subscription_ids:
        with app_db().uow() as uow:
            ids = list(uow.s.scalars(select(Mailbox.id).where(Mailbox.subscription_id.in_(sorted(subscription_ids)),
                                                             Mailbox.sync_state != "disconnected")))
        for mailbox_id in ids:
            enqueue_sync(mailbox_id)
    return Response(status=202)
