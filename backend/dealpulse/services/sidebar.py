"""The sidebar's view of an open email: which deal it belongs to (`sidebar_match`), how the buyer sounds, and the
deal around it (`sidebar_deal`). An email that is not captured yet is scored on the fly and nothing is stored.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..domain.access import Principal
from ..domain.buyer_statements import DEFAULT_SUGGESTION_THRESHOLD
from ..domain.tone_reading import read_tone
from ..mail.reply_split import split_reply
from ..mail.linking import (
    normalize_address,
    thread_key_for,
)
from ..store import (
    Account,
    Activity,
    MeetingOutcome,
    Contact,
    SentimentScore,
    utcnow,
)
from ..store.crm import BUYING_ROLES
from ..store.uow import UnitOfWork
from .access import content_readable
from .action_items import list_action_items
from .alert_feed import health_of
from .meetings import has_buyer, outcome_view
from .notes import notes_of
from .opportunity_views import serialize
from .ratings import my_rating
from .suggestions import offered_suggestions
from .sidebar_deal import mailbox_status, open_alerts, stage_options, timeline
from .sidebar_match import (
    Captured,
    OpenMessage,
    activity_match,
    candidate_view,
    chosen_deal,
    deal_options,
    find_captured,
    participants_match,
    visible_deals,
)

OWN_EMAIL_NOT_RATED = "This is your own email: only the buyer's emails are rated and count toward the buyer's tone."
MAX_BODY_CHARS = 100_000


class ToneSource(Protocol):
    """Scores a text with the organisation's active tone model (nothing is stored)."""

    def score(self, org_id: int, text: str, *, already_split: bool) -> dict[str, Any] | None:
        """{label, score, confidence, probabilities, highlights, model_version, reason}; None while no model is built.

        The highlights are the stance evidence (the sentences whose removal changes the reading most).
        """
        ...

    def evidence(self, org_id: int, version: str, text: str) -> list[dict[str, Any]] | None:
        """The stance evidence of a captured email's new text by `version`; None unless that version is active."""
        ...


def _load_contact(session: Session, contact_id: int | None) -> dict[str, Any] | None:
    if contact_id is None:
        return None
    row = session.execute(select(Contact.id, Contact.name, Contact.email, Contact.title).where(Contact.id == contact_id)).first()
    return {"id": row.id, "name": row.name, "email": row.email, "title": row.title} if row else None


def _contact_view(contact: dict[str, Any] | None, opportunity: dict[str, Any] | None) -> dict[str, Any] | None:
    """The contact with their buying-team role on the shown deal (None without a deal or a role)."""
    if contact is None:
        return None
    team = opportunity["buying_team"] if opportunity else []
    role = next((member["role"] for member in team if member["contact_id"] == contact["id"]), None)
    return {**contact, "role": role}


def _account(session: Session, account_id: int | None) -> dict[str, Any] | None:
    if account_id is None:
        return None
    loaded = session.identity_map.get(session.identity_key(Account, account_id))  # loaded with the deals
    if loaded is not None:
        return {"id": loaded.id, "name": loaded.name, "industry": loaded.industry}
    row = session.execute(select(Account.id, Account.name, Account.industry).where(Account.id == account_id)).first()
    return {"id": row[0], "name": row[1], "industry": row[2]} if row else None


def _stored_evidence(tone: ToneSource, org_id: int, score: SentimentScore, text: str) -> list[dict[str, Any]]:
    """The score's evidence: stored by the alerts, else computed now (cached by the tone source), else its highlights."""
    if score.evidence is not None:
        return list(score.evidence)
    computed = tone.evidence(org_id, score.model_version, text)
    return list(score.highlights or []) if computed is None else computed


def _stored_tone(score: SentimentScore, readable: bool, evidence: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "label": score.label,
        "score": score.score,
        "confidence": score.confidence,
        "probabilities": dict(score.probabilities or {}),
        "reading": read_tone(score.label, score.confidence, score.probabilities).as_dict(),
        "highlights": evidence if readable else [],
        "model_version": score.model_version,
        "stored": True,
        "content_hidden": not readable,
    }


def _live_tone(tone: ToneSource, org_id: int, text: str, *, already_split: bool) -> dict[str, Any] | None:
    scored = tone.score(org_id, text[:MAX_BODY_CHARS], already_split=already_split)
    if scored is None:
        return None
    result = dict(scored)
    result["reading"] = read_tone(result["label"], result["confidence"], result.get("probabilities")).as_dict()
    result["stored"] = False
    result["content_hidden"] = False
    return result


def _rating_offer(kind: str, direction: str, readable: bool) -> tuple[bool, str | None]:
    """(ratable, why not): only the buyer's emails are rated, never the rep's own outbound mail."""
    if kind == "email" and direction != "inbound":
        return False, OWN_EMAIL_NOT_RATED
    return readable and kind == "email", None


def _activity_view(session: Session, principal: Principal, captured: Captured, tone: ToneSource) -> dict[str, Any]:
    activity, owners = captured.activity, captured.owners
    readable = content_readable(principal, activity, owners)
    wants_live_tone = captured.score is None and readable and activity.kind == "email"
    ratable, not_ratable = _rating_offer(activity.kind, activity.direction, readable)
    if captured.score is not None:
        evidence = _stored_evidence(tone, principal.org_id, captured.score, activity.new_text or "") if readable else []
        tone_view = _stored_tone(captured.score, readable, evidence)
    elif wants_live_tone:
        tone_view = _live_tone(tone, principal.org_id, activity.new_text or "", already_split=True)
    else:
        tone_view = None
    return {
        "id": activity.id,
        "captured": True,
        "kind": activity.kind,
        "direction": activity.direction,
        "subject": activity.subject if readable else "",
        "occurred_at": activity.occurred_at.isoformat(),
        "is_private": activity.is_private,
        "content_hidden": not readable,
        "is_mine": principal.user_id in owners,
        "tone": tone_view,
        "tone_pending": wants_live_tone and tone_view is None,
        "ratable": ratable,
        "not_ratable_reason": not_ratable,
        "my_rating": my_rating(session, principal, activity.id),
        "notes": notes_of(session, activity.id) if readable else [],
        "meeting": _meeting_view(session, principal, activity) if activity.kind == "meeting" else None,
    }


def _meeting_view(session: Session, principal: Principal, activity: Activity) -> dict[str, Any]:
    """Whether the meeting has ended and had the buyer in it (then the rep is asked how it went), and its outcome."""
    outcome = session.scalar(select(MeetingOutcome).where(MeetingOutcome.activity_id == activity.id))
    return {
        "ended": (activity.ends_at or activity.occurred_at) <= utcnow(),
        "has_buyer": has_buyer(activity, principal.email.rpartition("@")[2].lower()),
        "outcome": outcome_view(outcome, None) if outcome is not None else None,
    }


def _uncaptured_view(principal: Principal, message: OpenMessage, tone: ToneSource, directory_sender_internal: bool) -> dict[str, Any]:
    has_text = message.body is not None and bool(message.body.strip())
    tone_view = _live_tone(tone, principal.org_id, message.body, already_split=False) if has_text else None
    direction = "outbound" if directory_sender_internal else "inbound"
    return {
        "id": None,
        "captured": False,
        "kind": "email",
        "direction": direction,
        "subject": message.subject,
        "occurred_at": None,
        "is_private": False,
        "content_hidden": False,
        "is_mine": True,
        "tone": tone_view,
        "tone_pending": has_text and tone_view is None,
        "ratable": False,  # not captured yet
        "not_ratable_reason": _rating_offer("email", direction, True)[1],
        "my_rating": None,
        "notes": [],
        "meeting": None,
    }


def _health(alerts: list[dict[str, Any]]) -> dict[str, Any]:
    """The deal's health 0-100 and band from its unresolved alerts (already loaded for the pane; the same rule,
    `alert_feed.health_of`, gives the dashboard's figure)."""
    health = health_of(SimpleNamespace(rule=a["rule"], severity=a["severity"], reason=a["reason"]) for a in alerts)
    return {"score": health.score, "band": health.band}


# -- the use case ---------------------------------------------------------------------------------------------
def email_context(
    uow: UnitOfWork, principal: Principal, message: OpenMessage, tone: ToneSource, *,
    suggestion_threshold: float = DEFAULT_SUGGESTION_THRESHOLD,
) -> dict[str, Any]:
    """Everything the sidebar shows for an open email (read-only; nothing is stored)."""
    s = uow.s
    captured = find_captured(s, principal, message)
    if captured is not None:
        match = activity_match(s, principal, captured)
        needs_choice = bool(captured.activity.needs_link_choice)
    else:
        thread_key = thread_key_for(
            message.clean_message_id, message.in_reply_to, list(message.references), message.provider_thread_id
        )
        match = participants_match(s, principal, message.addresses, thread_key)
        needs_choice = len(match.candidates) > 1 and match.opportunity_id is None
    deals = visible_deals(s, principal, match)  # kept referenced: serialize finds them in the identity map
    candidates = list(deals)
    opportunity_id = chosen_deal(match, candidates, needs_choice)
    if captured is not None:
        email = _activity_view(s, principal, captured, tone)
    else:
        email = _uncaptured_view(principal, message, tone, bool(message.sender) and match.sender_internal)
    if opportunity_id is not None:
        status = "matched"
    elif match.method == "not_a_deal":
        status = "not_a_deal"
    elif len(candidates) > 1 or (needs_choice and candidates):
        status = "choose"
    elif match.account_id is None and match.contact_id is None:
        status = "no_customer"
    else:
        status = "no_deal"
    opportunity = serialize(s, deals[opportunity_id][0], detail=True) if opportunity_id is not None else None
    alerts = open_alerts(s, opportunity_id) if opportunity_id is not None else []
    return {
        "status": status,
        "match_method": match.method,
        "thread_key": match.thread_key,
        "thread_private": match.is_private,
        "contact": _contact_view(match.contact or _load_contact(s, match.contact_id), opportunity),
        "account": _account(s, match.account_id),
        "opportunity": opportunity,
        "candidates": [candidate_view(*deals[c]) for c in candidates] if opportunity is None or status == "choose" else [],
        "suggested_opportunity_id": match.suggested_id if match.suggested_id in candidates else None,
        "email": email,
        "timeline": timeline(s, principal, opportunity_id) if opportunity_id is not None else None,
        "alerts": alerts,
        "health": _health(alerts) if opportunity_id is not None else None,
        "action_items": list_action_items(uow, principal, utcnow().date(), opportunity_id=opportunity_id, status="open")
        if opportunity_id is not None else [],
        "stages": stage_options(s, principal.org_id),
        "mailboxes": mailbox_status(s, principal),
        "buying_roles": list(BUYING_ROLES),
        "deal_options": deal_options(s, principal, opportunity["account"]["id"] if opportunity else match.account_id,
                                     opportunity_id) if status in ("matched", "not_a_deal", "choose") else [],
        "participants": _participants(principal, captured, message, email["content_hidden"]),
        "suggestions": _suggestions(opportunity, email, captured, message, suggestion_threshold),
    }


def _suggestions(opportunity: dict[str, Any] | None, email: dict[str, Any], captured: Captured | None,
                 message: OpenMessage, threshold: float) -> list[dict[str, Any]]:
    """Updates the buyer's words suggest for the shown deal: only on a readable inbound email of a deal."""
    if opportunity is None or email["direction"] != "inbound" or email["content_hidden"] or email["kind"] != "email":
        return []
    if captured is not None:
        text, sent = captured.activity.new_text or "", captured.activity.occurred_at.date()
    else:
        text, sent = split_reply((message.body or "")[:MAX_BODY_CHARS]).new_text, utcnow().date()
    return offered_suggestions(opportunity, text, sent, threshold)


def _participants(principal: Principal, captured: Captured | None, message: OpenMessage, hidden: bool) -> list[dict[str, str]]:
    """The email's people outside the caller's own domain, for "add to the buying team" (none of a hidden email)."""
    if hidden:
        return []
    own = principal.email.rpartition("@")[2].lower()
    if captured is not None:
        people = [(p.get("email", ""), p.get("name", "")) for p in captured.activity.participants or []]
    else:
        people = [(normalize_address(a), a.split("<")[0].strip().strip('"') if "<" in a else "") for a in message.addresses]
    out: dict[str, dict[str, str]] = {}
    for email, name in people:
        email = normalize_address(email)
        if email and email.rpartition("@")[2] != own and email not in out:
            out[email] = {"email": email, "name": name}
    return list(out.values())
