"""The demo's sidebar preview at `/`: the demo mailbox's emails beside the real task pane on the Office.js stand-in.

Everything here exists only when the demo is running (`DEALPULSE_DEMO=1` or `DEALPULSE_ENV=demo`): the page,
the `/demo/...` JSON it uses, and the demo pane token that signs the pane in as the chosen rep. Outside the
demo every route answers 404 and the demo token verifier is not installed.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, abort, jsonify, request
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .toolkit import app_db, app_settings
from ..config import Settings
from ..store import Activity, ActivitySource, Mailbox, User
from ..store.sentiment import current_scores
from .auth import VerifiedIdentity, register_verifier
from .outlook import ADDIN_DIR
from .problems import Unauthorized

DEMO_TOKEN_PREFIX = "dpdemo."
DEMO_TOKEN_SALT = "dealpulse.demo-pane"
DEMO_TOKEN_MAX_AGE = 12 * 3600
OFFICE_JS = "https://appsforoffice.microsoft.com/lib/1/hosted/office.js"
MAX_EMAILS = 200

bp = Blueprint("preview", __name__)


def demo_enabled(settings: Settings) -> bool:
    """True when the demo is running (its preview, pane sign-in and JSON exist only then)."""
    return bool(settings.demo) or settings.env == "demo"


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.secret_key, salt=DEMO_TOKEN_SALT)


def demo_token(settings: Settings, user_id: int) -> str:
    """A pane token for `user_id` (demo only)."""
    return DEMO_TOKEN_PREFIX + _serializer(settings).dumps({"u": user_id})


def demo_verifier(settings: Settings):
    """Accepts demo pane tokens; installed only when the demo is running."""

    def verify(token: str, session: Session) -> VerifiedIdentity | None:
        if not token.startswith(DEMO_TOKEN_PREFIX):
            return None
        try:
            data = _serializer(settings).loads(token[len(DEMO_TOKEN_PREFIX):], max_age=DEMO_TOKEN_MAX_AGE)
        except SignatureExpired:
            raise Unauthorized("The demo sign-in expired; reload the preview.") from None
        except BadSignature:
            raise Unauthorized("The demo sign-in is not valid.") from None
        return VerifiedIdentity(surface="outlook", user_id=int(data["u"]))

    return verify


def init_app(app: Flask) -> None:
    """Install the demo pane sign-in when (and only when) the demo is running."""
    settings = app.extensions["dealpulse.settings"]
    if demo_enabled(settings):
        register_verifier(app, demo_verifier(settings))


@bp.before_request
def only_in_demo() -> None:
    """Every preview route is a 404 outside the demo."""
    if not demo_enabled(app_settings()):
        abort(404)


@bp.get("/")
def preview_page() -> Response:
    """The preview: emails on the left, the real task pane (on the stand-in) on the right."""
    return Response((ADDIN_DIR / "preview.html").read_text(encoding="utf-8"), mimetype="text/html")


@bp.get("/addin/outlook/taskpane-preview.html")
def preview_pane() -> Response:
    """The real task pane with Office.js replaced by the local stand-in."""
    html = (ADDIN_DIR / "taskpane.html").read_text(encoding="utf-8")
    return Response(html.replace(OFFICE_JS, "office-standin.js"), mimetype="text/html")


def _user_by_address(session: Session, address: str) -> User:
    user = session.scalar(select(User).where(func.lower(User.email) == (address or "").strip().lower()))
    if user is None or not user.is_active:
        abort(404)
    return user


@bp.get("/demo/users")
def demo_users() -> Response:
    """Who the preview can act as: every active user, reps first."""
    with app_db().uow() as uow:
        rows = uow.s.scalars(select(User).where(User.is_active.is_(True)).order_by(User.role.desc(), User.name)).all()
        return jsonify(items=[{"email": u.email, "name": u.name, "role": u.role} for u in rows])


def _participant(participants: list[dict[str, Any]], role: str) -> list[dict[str, str]]:
    return [{"displayName": p.get("name") or "", "emailAddress": p.get("email") or ""}
            for p in participants if p.get("role") == role]


def _item(activity: Activity, source: ActivitySource) -> dict[str, Any]:
    participants = list(activity.participants or [])
    senders = _participant(participants, "from") or [{"displayName": "", "emailAddress": activity.sender_email}]
    body = activity.new_text or ""
    if activity.quoted_text:
        body += "\n\n" + activity.quoted_text
    return {
        "internetMessageId": f"<{activity.message_id}>" if activity.message_id else "",
        "itemId": source.provider_id,
        "conversationId": source.provider_thread_id,
        "subject": activity.subject,
        "from": senders[0],
        "to": _participant(participants, "to"),
        "cc": _participant(participants, "cc"),
        "body": body,
    }


@bp.get("/demo/emails")
def demo_emails() -> Response:
    """The chosen user's captured emails, newest first, with the Office item each opens as."""
    with app_db().uow() as uow:
        user = _user_by_address(uow.s, request.args.get("user", ""))
        rows = uow.s.execute(
            select(Activity, ActivitySource)
            .join(ActivitySource, ActivitySource.activity_id == Activity.id)
            .join(Mailbox, Mailbox.id == ActivitySource.mailbox_id)
            .where(Mailbox.user_id == user.id, Activity.kind == "email")
            .order_by(Activity.occurred_at.desc(), Activity.id.desc())
            .limit(MAX_EMAILS)
        ).all()
        labels = {i: score.label for i, score in current_scores(uow.s, [a.id for a, _ in rows]).items()}
        items = [
            {"activity_id": a.id, "subject": a.subject, "from": a.sender_email, "direction": a.direction,
             "occurred_at": a.occurred_at.isoformat(), "tone": labels.get(a.id), "item": _item(a, source)}
            for a, source in rows
        ]
        user_id = user.id
    return jsonify(items=items, token=demo_token(app_settings(), user_id))


@bp.get("/demo/standin")
def demo_standin() -> Response:
    """What the Office.js stand-in needs to open one email as the chosen user: the item and a pane token."""
    with app_db().uow() as uow:
        user = _user_by_address(uow.s, request.args.get("user", ""))
        item = None
        activity_id = request.args.get("item", type=int)
        if activity_id is not None:
            row = uow.s.execute(
                select(Activity, ActivitySource)
                .join(ActivitySource, ActivitySource.activity_id == Activity.id)
                .join(Mailbox, Mailbox.id == ActivitySource.mailbox_id)
                .where(Activity.id == activity_id, Mailbox.user_id == user.id)
                .limit(1)
            ).first()
            if row is None:
                abort(404)
            item = _item(*row)
        return jsonify(item=item, token=demo_token(app_settings(), user.id))
