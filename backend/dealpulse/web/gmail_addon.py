"""The Gmail add-on on the Google Workspace add-ons HTTP runtime: homepage, open-message trigger, card actions.

Every request is verified (`web/identity.py`): Google's system ID token in `Authorization` (audience = this
endpoint's URL, the add-on's service account) and the user's ID token in the body. The open message is read
with the add-on's per-message Gmail access token. Buttons carry one parameter, `state`, signed with the
secret key and bound to the user; ids and versions come only from it, never from the client. Each rendered
button's state holds a fresh idempotency key: a replayed press (same state) changes nothing.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

import requests
from flask import Blueprint, Response, current_app, jsonify, request
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from pydantic import ValidationError
from sqlalchemy import func, select

from .toolkit import app_alert_defaults, app_db, app_settings
from ..domain.access import Principal
from ..mail.mime import MailParseError, parse_gmail_full
from ..services import notes as notes_service
from ..services import deal_qualification as qualification_service
from ..services import opportunities as opp_service
from ..services import ratings as ratings_service
from ..services import threads as threads_service
from ..services.addon_receipts import claim_action
from ..services.errors import InvalidField, ServiceError, StaleVersion
from ..services.sidebar import email_context
from ..services.sidebar_match import OpenMessage
from ..store import Alert
from . import cards
from .auth import VerifiedIdentity, load_principal
from .gmail_deployment import ADDON_URL_PREFIX, HOMEPAGE_ENDPOINT, MESSAGE_ENDPOINT, addon_endpoint_url
from .identity import GoogleAddonCaller, google_addon_verifier
from .problems import InvalidInput, Unauthorized
from .schemas import OpportunityCreate, OpportunityUpdate
from .sidebar_api import tone_source

STATE_SALT = "dealpulse.gmail-card"
STATE_MAX_AGE = 24 * 3600
GMAIL_TIMEOUT = 10

bp = Blueprint("gmail_addon", __name__, url_prefix=ADDON_URL_PREFIX)


class GmailUnavailable(Exception):
    """The open message could not be read from Gmail."""


# -- request plumbing -----------------------------------------------------------------------------------------
def _event() -> dict[str, Any]:
    event = request.get_json(silent=True)
    if not isinstance(event, dict):
        raise InvalidInput([{"field": "(body)", "message": "send the add-on event object as JSON", "type": "json_invalid"}])
    return event


def endpoint_url(name: str) -> str:
    """The public URL of an add-on endpoint (the audience Google signs for, and what the cards call)."""
    return addon_endpoint_url(app_settings().base_url, name)


def _caller(event: dict[str, Any]) -> GoogleAddonCaller:
    verifier = google_addon_verifier(current_app.extensions, app_settings())
    user_token = (event.get("authorizationEventObject") or {}).get("userIdToken")
    audience = app_settings().base_url.rstrip("/") + request.path
    return verifier.verify(request.headers.get("Authorization"), audience, user_token)


def _principal(caller: GoogleAddonCaller) -> Principal | None:
    """The caller's DealPulse user (bound to their Google `sub` on first use), or None."""
    identity = VerifiedIdentity(surface="gmail", email=caller.email, google_subject=caller.subject or None)
    with app_db().uow() as uow:
        try:
            principal = load_principal(uow.s, identity)
        except Unauthorized:
            return None
        uow.commit()  # the first sign-in's binding to the Google subject
        return principal


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(app_settings().secret_key, salt=STATE_SALT)


def action_factory(principal: Principal) -> cards.ActionFactory:
    """Makes button actions whose only parameter is the signed state {n: action, u: user, ...}."""

    def make(name: str, data: dict[str, Any]) -> dict[str, Any]:
        state = _serializer().dumps({"n": name, "u": principal.user_id, "i": secrets.token_urlsafe(16), **data})
        return {"action": {"function": endpoint_url("action"), "parameters": [{"key": "state", "value": state}],
                           "loadIndicator": "SPINNER"}}

    return make


def read_state(event: dict[str, Any], principal: Principal) -> dict[str, Any]:
    """The verified state of a button press (Unauthorized when missing, forged, expired or someone else's)."""
    parameters = (event.get("commonEventObject") or {}).get("parameters") or {}
    try:
        state = _serializer().loads(parameters.get("state", ""), max_age=STATE_MAX_AGE)
    except SignatureExpired:
        raise Unauthorized("This card is too old; reopen the email.") from None
    except BadSignature:
        raise Unauthorized("The card's action state is not valid.") from None
    if not isinstance(state, dict) or state.get("u") != principal.user_id:
        raise Unauthorized("The card's action belongs to another user.")
    if not isinstance(state.get("i"), str):
        raise Unauthorized("This card is too old; reopen the email.")
    return state


def form_value(event: dict[str, Any], name: str) -> str | None:
    """A form input's value as text (dates as ISO dates); None when the card had no such input."""
    entry = ((event.get("commonEventObject") or {}).get("formInputs") or {}).get(name)
    if not isinstance(entry, dict):
        return None
    if "stringInputs" in entry:
        values = (entry["stringInputs"] or {}).get("value") or []
        return str(values[0]) if values else ""
    if "dateInput" in entry:
        ms = int((entry["dateInput"] or {}).get("msSinceEpoch", 0))
        return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).date().isoformat()
    return None


# -- the open message -----------------------------------------------------------------------------------------
def read_open_message(event: dict[str, Any]) -> OpenMessage | None:
    """The open message read from Gmail with the add-on's per-message token (None outside a message)."""
    gmail = event.get("gmail") or {}
    message_id = gmail.get("messageId")
    if not message_id:
        return None
    oauth = (event.get("authorizationEventObject") or {}).get("userOAuthToken") or ""
    url = app_settings().gmail_api_url.rstrip("/") + f"/gmail/v1/users/me/messages/{quote(message_id, safe='')}"
    session = requests.Session()
    session.trust_env = False
    try:
        response = session.get(url, params={"format": "full"}, timeout=GMAIL_TIMEOUT, headers={
            "Authorization": f"Bearer {oauth}", "X-Goog-Gmail-Access-Token": gmail.get("accessToken") or ""})
        response.raise_for_status()
        mail = parse_gmail_full(response.json())
    except (requests.RequestException, ValueError, MailParseError) as exc:
        raise GmailUnavailable(str(exc)) from None
    finally:
        session.close()
    return OpenMessage(
        message_id=mail.message_id, provider_id=mail.provider_id, provider_thread_id=mail.thread_id,
        sender=mail.sender.email if mail.sender else "", to=tuple(a.email for a in mail.to),
        cc=tuple(a.email for a in mail.cc), subject=mail.subject, body=mail.body_text,
        in_reply_to=mail.in_reply_to, references=tuple(mail.references),
    )


def _context_card(event: dict[str, Any], principal: Principal, notice: str = "") -> dict[str, Any]:
    try:
        message = read_open_message(event)
    except GmailUnavailable:
        return cards.message_card("Can't read this email", "Gmail did not let DealPulse read the open message. Reopen it and try again.")
    if message is None:
        return _homepage(principal)
    with app_db().uow() as uow:
        context = email_context(uow, principal, message, tone_source(), suggestion_threshold=app_settings().suggestion_threshold)
    return cards.context_card(context, action_factory(principal), message.subject, notice)


def _homepage(principal: Principal) -> dict[str, Any]:
    with app_db().uow() as uow:
        listed = opp_service.list_opportunities(uow, principal, opp_service.OpportunityFilters(scope="mine", is_open=True, limit=10))
        ids = [o["id"] for o in listed["items"]]
        counts = dict(uow.s.execute(
            select(Alert.opportunity_id, func.count()).where(Alert.opportunity_id.in_(ids or [0]), Alert.state == "open")
            .group_by(Alert.opportunity_id)
        ).all())
    deals = [{"name": o["name"], "stage": o["stage"]["name"], "alerts": int(counts.get(o["id"], 0))} for o in listed["items"]]
    return cards.homepage_card(principal.email, deals)


def _no_account(email: str) -> dict[str, Any]:
    return cards.message_card("No DealPulse account", f"{email} is not a DealPulse user. Ask your DealPulse admin to add you.")


# -- endpoints ------------------------------------------------------------------------------------------------
@bp.post("/" + HOMEPAGE_ENDPOINT)
def homepage() -> Response:
    """Homepage trigger: the user's open deals."""
    event = _event()
    caller = _caller(event)
    principal = _principal(caller)
    return jsonify(cards.push_card(_homepage(principal) if principal else _no_account(caller.email)))


@bp.post("/" + MESSAGE_ENDPOINT)
def open_message() -> Response:
    """Contextual trigger on an open message: its deal, tone and timeline."""
    event = _event()
    caller = _caller(event)
    principal = _principal(caller)
    return jsonify(cards.push_card(_context_card(event, principal) if principal else _no_account(caller.email)))


@bp.post("/action")
def action() -> Response:
    """A button on a card: apply it, then show the refreshed card with what happened."""
    event = _event()
    caller = _caller(event)
    principal = _principal(caller)
    if principal is None:
        return jsonify(cards.update_card(_no_account(caller.email)))
    state = read_state(event, principal)
    try:
        notice = _apply(state, event, principal)
    except StaleVersion as exc:
        notice = _stale_notice(exc)
    except InvalidField as exc:
        notice = "Not saved — " + "; ".join(f"{e['field']}: {e['message']}" for e in exc.errors)
    except ServiceError as exc:  # not found, not allowed, conflicting
        notice = f"Not saved — {exc}"
    return jsonify(cards.update_card(_context_card(event, principal, notice), notice.split(" — ")[0][:100]))


def _stale_notice(exc: StaleVersion) -> str:
    who = sorted({(c.get("actor") or {}).get("name") or "Someone" for c in exc.changes_since}) or ["Someone"]
    fields = sorted({c["field"].replace("_", " ") for c in exc.changes_since})
    attempted = getattr(exc, "attempted", None) or {}
    mine = ", ".join(f"{k.replace('_', ' ')} → {v}" for k, v in attempted.items())
    return (f"Not saved — {', '.join(who)} changed {', '.join(fields) or 'this deal'} meanwhile. "
            f"The card shows the latest values{'; your change was: ' + mine if mine else ''}. Enter it again to apply it.")


def _deal_changes(event: dict[str, Any]) -> dict[str, Any]:
    raw = {k: form_value(event, k) for k in ("stage", "amount", "close_date", "next_step")}
    values = {k: v for k, v in raw.items() if v is not None}
    if "amount" in values:
        values["amount"] = values["amount"].strip()  # typed text: the API's amount has no spaces
    if values.get("amount", None) == "":
        values.pop("amount")
    try:
        parsed = OpportunityUpdate.model_validate(values)
    except ValidationError as exc:
        raise InvalidField([{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]) from None
    return parsed.model_dump(exclude_unset=True, exclude={"version"})


def _apply(state: dict[str, Any], event: dict[str, Any], principal: Principal) -> str:
    name = state["n"]
    with app_db().uow() as uow:
        if not claim_action(uow, principal.user_id, state["i"]):
            return "Already done — this button was pressed before; nothing changed"
        if name == "save_deal":
            changes = _deal_changes(event)
            try:
                opp_service.update_opportunity(uow, principal, state["o"], state["v"], changes, alert_defaults=app_alert_defaults())
            except StaleVersion as exc:
                exc.attempted = changes  # type: ignore[attr-defined]
                raise
            return "Deal saved"
        if name == "save_answers":
            answers = {}
            for key in state["k"]:
                value = form_value(event, f"exit_{key}")
                if value is not None:
                    answers[key] = True if value == "yes" else False if value == "no" else None
            qualification_service.answer_exit_questions(uow, principal, state["o"], state["v"], answers, alert_defaults=app_alert_defaults())
            return "Answers saved"
        if name == "save_role":
            role = form_value(event, "role") or None
            qualification_service.set_buying_role(uow, principal, state["o"], state["v"], state["c"], role, alert_defaults=app_alert_defaults())
            return "Role saved"
        if name == "rate":
            ratings_service.rate_activity(uow, principal, state["a"], state["l"], form_value(event, "rating_note") or "")
            return f"Rated {state['l']}"
        if name == "add_note":
            notes_service.add_note(uow, principal, state["a"], form_value(event, "note_text") or "")
            return "Note added"
        if name == "private":
            threads_service.set_thread_private(uow, principal, state["t"], bool(state["p"]))
            return "Thread marked private" if state["p"] else "Thread is no longer private"
        if name == "link":
            threads_service.link_thread(uow, principal, state["t"], state["o"], alert_defaults=app_alert_defaults())
            return "Linked to the deal" if state["o"] is not None else "Marked as not a deal"
        if name == "relink":
            target = (form_value(event, "move_to") or "").strip()
            if target != "none" and not (target.isdigit() and len(target) <= 18):
                raise InvalidField([{"field": "move_to", "message": "choose a deal or Not a deal"}])
            opportunity_id = None if target == "none" else int(target)
            threads_service.link_thread(uow, principal, state["t"], opportunity_id, alert_defaults=app_alert_defaults())
            return "Moved to the deal" if opportunity_id is not None else "Marked as not a deal"
        if name == "add_member":
            address = (form_value(event, "member_address") or "").strip() or form_value(event, "member_email") or ""
            role = form_value(event, "member_role") or ""
            qualification_service.add_to_buying_team(uow, principal, state["o"], state["v"], address, "", role, alert_defaults=app_alert_defaults())
            return "Added to the buying team"
        if name == "create":
            amount = (form_value(event, "new_amount") or "").strip() or "0"
            values = {"name": (form_value(event, "new_name") or "").strip(), "account_id": state["acc"],
                      "stage": form_value(event, "new_stage") or "", "amount": amount}
            _check_new_deal(values)
            threads_service.create_opportunity_from_email(uow, principal, state["t"], values, alert_defaults=app_alert_defaults())
            return "Deal created"
    raise InvalidField([{"field": "state", "message": f"unknown action {name!r}"}])


def _check_new_deal(values: dict[str, Any]) -> None:
    try:
        parsed = OpportunityCreate.model_validate(values)
    except ValidationError as exc:
        raise InvalidField([{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]) from None
    values.update(parsed.model_dump())
