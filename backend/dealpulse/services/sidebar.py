"""The sidebar's view of an open email: which deal it belongs to, how the buyer sounds, and the deal around it.

Matching order: the captured activity by internet Message-ID, then by the provider's message id in one of the
caller's mailboxes, then the participants (contacts by exact address, accounts by company domain, their open
deals, and the rep's remembered choice for the thread). An email that is not captured yet is scored on the fly
and nothing is stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import and_, bindparam, case, false, or_, select
from sqlalchemy.orm import Session, lazyload

from ..domain.alert_state import UNRESOLVED
from ..domain.access import Principal, can_read_content, can_see_deal
from ..domain.tone_reading import read_tone
from ..mail.linking import (
    accounts_of,
    decide_link,
    load_customer_matches,
    load_link_index,
    load_org_directory,
    normalize_address,
    thread_key_for,
)
from ..store import (
    Account,
    Activity,
    ActivitySource,
    Alert,
    Contact,
    Mailbox,
    Opportunity,
    SentimentScore,
    Stage,
    ThreadLink,
    User,
    utcnow,
)
from ..store.activities import mailbox_owners
from ..store.crm import BUYING_ROLES
from ..store.uow import UnitOfWork
from . import opportunities as opp_service
from .alert_feed import most_urgent_first
from .dynamics import DealStats, deal_stats, in_tone_trend
from .access import can_see_activity, content_readable
from .notes import notes_of
from .ratings import my_rating

OWN_EMAIL_NOT_RATED = "This is your own email: only the buyer's emails are rated and count toward the buyer's tone."
TREND_EMAILS = 10
RECENT_ITEMS = 8
MAX_BODY_CHARS = 100_000


@dataclass(frozen=True)
class OpenMessage:
    """What the mail client knows about the open message (all optional but at least one identifier)."""

    message_id: str = ""  # internet Message-ID, with or without angle brackets
    provider_id: str = ""  # Gmail message id or Graph/Outlook item id
    provider_thread_id: str = ""  # Gmail thread id or Outlook conversation id
    sender: str = ""
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    subject: str = ""
    body: str | None = None  # plain text, when the client sends it
    in_reply_to: str = ""
    references: tuple[str, ...] = field(default_factory=tuple)

    @property
    def addresses(self) -> list[str]:
        """Every participant address, sender first."""
        return [a for a in (self.sender, *self.to, *self.cc) if a]

    @property
    def clean_message_id(self) -> str:
        """The Message-ID without angle brackets or whitespace."""
        return (self.message_id or "").strip().strip("<>").strip()


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


# -- matching -------------------------------------------------------------------------------------------------
@dataclass
class Captured:
    """A captured email with what the sidebar needs about it, loaded by the same query."""

    activity: Activity
    method: str  # "message_id" | "provider_id"
    owners: set[int]  # users whose mailbox captured it
    score: SentimentScore | None  # the current tone score, if scored
    thread_private: bool  # the rep marked its conversation private


# Statements on the sidebar's hot path are built once with bind parameters: building and cache-keying a
# statement costs more CPU than SQLite or a local PostgreSQL spends running these.
_CAPTURED = (  # activities with their current score, thread privacy and mailbox owners (one row per owner)
    select(Activity, SentimentScore, ThreadLink.is_private, Mailbox.user_id)
    .outerjoin(SentimentScore, and_(SentimentScore.activity_id == Activity.id, SentimentScore.is_current.is_(True)))
    .outerjoin(ThreadLink, and_(ThreadLink.org_id == Activity.org_id, ThreadLink.thread_key == Activity.thread_key,
                                ThreadLink.chosen_by_id == bindparam("user_id")))
    .outerjoin(ActivitySource, ActivitySource.activity_id == Activity.id)
    .outerjoin(Mailbox, Mailbox.id == ActivitySource.mailbox_id)
    .order_by(Activity.id)
)
_CAPTURED_BY_MESSAGE_ID = _CAPTURED.where(
    Activity.org_id == bindparam("org_id"), Activity.message_id == bindparam("message_id"))
_CAPTURED_BY_PROVIDER_ID = _CAPTURED.where(Activity.id.in_(
    select(ActivitySource.activity_id)
    .join(Mailbox, Mailbox.id == ActivitySource.mailbox_id)
    .where(Mailbox.user_id == bindparam("user_id"), ActivitySource.provider_id == bindparam("provider_id"))
))


def _captured(session: Session, method: str, query: Any, params: dict[str, Any]) -> list[Captured]:
    """The activities `query` finds, each with its mailbox owners, current score and thread privacy."""
    rows = session.execute(query, params)
    found: dict[int, Captured] = {}
    for activity, score, thread_private, owner_id in rows:
        entry = found.setdefault(activity.id, Captured(activity, method, set(), score, bool(thread_private)))
        if owner_id is not None:
            entry.owners.add(owner_id)
    return list(found.values())


def find_captured(session: Session, principal: Principal, message: OpenMessage) -> Captured | None:
    """The captured email the principal may see: by internet Message-ID, then by provider id in their mailboxes."""
    if message.clean_message_id:
        by_message_id = _captured(session, "message_id", _CAPTURED_BY_MESSAGE_ID,
                                  {"org_id": principal.org_id, "message_id": message.clean_message_id,
                                   "user_id": principal.user_id})
        for found in by_message_id:
            if can_see_activity(session, principal, found.activity, found.owners):
                return found
    if message.provider_id:
        by_provider_id = _captured(session, "provider_id", _CAPTURED_BY_PROVIDER_ID,
                                   {"user_id": principal.user_id, "provider_id": message.provider_id})
        if by_provider_id:
            return by_provider_id[0]
    return None


@dataclass
class Match:
    """The outcome of matching: chosen deal (or candidates), contact, account, thread and how it was decided."""

    method: str
    thread_key: str
    opportunity_id: int | None = None
    candidates: list[int] = field(default_factory=list)
    suggested_id: int | None = None
    contact_id: int | None = None
    contact: dict[str, Any] | None = None  # the contact's id, name, email and title when matching loaded them
    account_id: int | None = None
    is_private: bool = False  # the email or its conversation is private
    sender_internal: bool = False


def _participants_match(session: Session, principal: Principal, addresses: list[str], thread_key: str) -> Match:
    """Linking's decision for the participants (the sender, if any, is the first address)."""
    directory = load_org_directory(session, principal.org_id)
    customers = load_customer_matches(session, principal.org_id, addresses)
    contact_ids, account_ids = accounts_of(addresses, customers, directory)
    index = load_link_index(session, principal.org_id, [thread_key], contact_ids, account_ids, user_id=principal.user_id)
    decision = decide_link(thread_key, contact_ids, account_ids, index)
    candidates = list(decision.candidates) or ([decision.opportunity_id] if decision.opportunity_id else [])
    return Match(
        method=decision.link_method if decision.opportunity_id or decision.link_method == "not_a_deal" else "none",
        thread_key=thread_key,
        opportunity_id=decision.opportunity_id,
        candidates=candidates,
        suggested_id=decision.opportunity_id or (candidates[0] if candidates else None),
        contact_id=contact_ids[0] if contact_ids else None,
        account_id=decision.account_id if decision.account_id is not None else (account_ids[0] if account_ids else None),
        is_private=decision.is_private,  # includes the rep's choice for the thread
        sender_internal=bool(addresses) and directory.is_internal(addresses[0]),
    )


_CONTACTS_BY_ADDRESS = select(Contact.id, Contact.name, Contact.email, Contact.title).where(  # stored lower-case
    Contact.org_id == bindparam("org_id"), Contact.email.in_(bindparam("addresses", expanding=True)))


def _first_contact(session: Session, org_id: int, addresses: list[str]) -> dict[str, Any] | None:
    """The first participant (in order) who is a known contact, in one query."""
    wanted = [a for a in dict.fromkeys(normalize_address(x) for x in addresses) if a]
    if not wanted:
        return None
    found = {row.email: row for row in session.execute(_CONTACTS_BY_ADDRESS, {"org_id": org_id, "addresses": wanted})}
    row = next((found[a] for a in wanted if a in found), None)
    return {"id": row.id, "name": row.name, "email": row.email, "title": row.title} if row else None


def _activity_match(session: Session, principal: Principal, captured: Captured) -> Match:
    activity = captured.activity
    addresses = [p.get("email", "") for p in activity.participants or []]
    candidates = list(activity.link_candidates or []) or ([activity.opportunity_id] if activity.opportunity_id else [])
    contact = _first_contact(session, principal.org_id, addresses)
    contact_id = contact["id"] if contact else None
    account_id = activity.account_id
    if account_id is None and activity.opportunity_id is not None:
        account_id = session.scalar(select(Opportunity.account_id).where(Opportunity.id == activity.opportunity_id))
    if account_id is None and contact_id is not None:
        account_id = session.scalar(select(Contact.account_id).where(Contact.id == contact_id))
    return Match(
        method="not_a_deal" if activity.link_method == "not_a_deal" else captured.method,
        thread_key=activity.thread_key,
        opportunity_id=activity.opportunity_id,
        candidates=candidates,
        suggested_id=activity.opportunity_id or (candidates[0] if candidates else None),
        contact_id=contact_id,
        contact=contact,
        account_id=account_id,
        is_private=activity.is_private or captured.thread_private,
    )


DealRow = tuple[Opportunity, Stage, Account, User]
_DEALS = (
    select(Opportunity, Stage, Account, User)
    .join(Stage, Stage.id == Opportunity.stage_id)
    .join(Account, Account.id == Opportunity.account_id)
    .join(User, User.id == Opportunity.owner_id)
    .where(Opportunity.id.in_(bindparam("ids", expanding=True)))
    .options(lazyload(Stage.questions), lazyload(Account.domains), lazyload(User.aliases))
)


def _visible_deals(session: Session, principal: Principal, match: Match) -> dict[int, DealRow]:
    """The match's candidate deals the principal may see, in candidate order, each with its stage, account and owner.

    One query; the loaded objects also serve `opportunities.serialize` (it reads them by primary key).
    """
    wanted = [c for c in dict.fromkeys(match.candidates) if c is not None]
    if not wanted:
        return {}
    rows = session.execute(_DEALS, {"ids": wanted})
    seen = {
        opp.id: (opp, stage, account, owner)
        for opp, stage, account, owner in rows
        if can_see_deal(principal, opp.org_id, opp.owner_id, owner.team_id)
    }
    return {c: seen[c] for c in wanted if c in seen}


def _chosen_deal(match: Match, visible: list[int], needs_choice: bool) -> int | None:
    """The deal to show, or None when the rep must choose among the visible candidates (or none is visible).

    An email waiting for a choice shows no deal even when only one candidate is visible: it counts toward none
    until the rep picks it.
    """
    chosen = match.opportunity_id if match.opportunity_id in visible else None
    if chosen is None and len(visible) == 1 and not needs_choice:
        chosen = visible[0]
    return chosen


_DEAL_OPTIONS = (
    select(Opportunity, Stage, Account, User)
    .join(Stage, Stage.id == Opportunity.stage_id)
    .join(Account, Account.id == Opportunity.account_id)
    .join(User, User.id == Opportunity.owner_id)
    .options(lazyload(Stage.questions), lazyload(Account.domains), lazyload(User.aliases))
)


def deal_options(session: Session, principal: Principal, account_id: int | None, exclude: int | None) -> list[dict[str, Any]]:
    """Deals the rep may move an email to ("change deal"): the account's deals they may see (open ones first), then
    their own open deals elsewhere."""
    same_account = Opportunity.account_id == account_id if account_id is not None else false()
    mine_open = and_(Opportunity.owner_id == principal.user_id, Stage.is_closed.is_(False))
    rows = session.execute(
        _DEAL_OPTIONS.where(or_(same_account, mine_open), opp_service.visibility_clause(principal))
        .order_by(case((same_account, 0), else_=1), Stage.is_closed, Opportunity.updated_at.desc(), Opportunity.id.desc())
        .limit(30)
    )
    return [candidate_view(*row) for row in rows if row[0].id != exclude]


# -- pieces of the answer -------------------------------------------------------------------------------------
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


def candidate_view(opp: Opportunity, stage: Stage, account: Account, owner: User) -> dict[str, Any]:
    """A short view of a deal the rep may choose."""
    return {
        "id": opp.id, "name": opp.name, "account": {"id": account.id, "name": account.name},
        "owner": {"id": owner.id, "name": owner.name, "email": owner.email},
        "stage": {"key": stage.key, "name": stage.name, "is_closed": bool(stage.is_closed), "is_won": bool(stage.is_won)},
        "amount": str(opp.amount), "currency": opp.currency, "close_date": opp.close_date.isoformat() if opp.close_date else None,
    }


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
    }


_TONE_TREND = (
    select(Activity.occurred_at, SentimentScore.score, SentimentScore.label)
    .join(SentimentScore, SentimentScore.activity_id == Activity.id)
    .where(
        Activity.opportunity_id == bindparam("opportunity_id"),
        in_tone_trend(),
        SentimentScore.is_current.is_(True),
    )
    .order_by(Activity.occurred_at.desc())
    .limit(TREND_EMAILS)
)
_RECENT = (
    select(Activity.id, Activity.kind, Activity.direction, Activity.subject, Activity.occurred_at, Activity.is_private,
           SentimentScore.label)
    .outerjoin(SentimentScore, and_(SentimentScore.activity_id == Activity.id, SentimentScore.is_current.is_(True)))
    .where(Activity.opportunity_id == bindparam("opportunity_id"))
    .order_by(Activity.occurred_at.desc(), Activity.id.desc())
    .limit(RECENT_ITEMS)
)


def timeline(session: Session, principal: Principal, opportunity_id: int, now: datetime | None = None) -> dict[str, Any]:
    """The deal's recent dynamics: inbound/outbound email counts, meetings, last inbound/outbound, tone trend."""
    deal = {"opportunity_id": opportunity_id}
    stats = deal_stats(session, [opportunity_id], now or utcnow()).get(opportunity_id, DealStats())
    trend_rows = session.execute(_TONE_TREND, deal).all()
    recent_rows = session.execute(_RECENT, deal).all()
    owners = mailbox_owners(session, [row.id for row in recent_rows if row.is_private])
    recent = []
    for row in recent_rows:
        readable = can_read_content(principal, row.is_private, owners.get(row.id, set()))
        recent.append({
            "id": row.id,
            "kind": row.kind,
            "direction": row.direction,
            "subject": row.subject if readable else "(private)",
            "occurred_at": row.occurred_at.isoformat(),
            "tone": row.label if row.direction == "inbound" else None,  # the buyer's tone, never the rep's own mail
        })
    return {
        "inbound": stats.inbound,
        "outbound": stats.outbound,
        "meetings": stats.meetings,
        "upcoming_meetings": stats.upcoming_meetings,
        "automated": stats.automated,
        "last_inbound_at": stats.last_inbound_at.isoformat() if stats.last_inbound_at else None,
        "last_outbound_at": stats.last_outbound_at.isoformat() if stats.last_outbound_at else None,
        "tone_trend": [
            {"occurred_at": at.isoformat(), "score": round(float(score), 4), "label": label}
            for at, score, label in reversed(trend_rows)
        ],
        "recent": recent,
    }


_OPEN_ALERTS = select(Alert).where(Alert.opportunity_id == bindparam("opportunity_id"),
                                   Alert.state.in_(UNRESOLVED))
_MY_MAILBOXES = (
    select(Mailbox.address, Mailbox.provider, Mailbox.sync_state, Mailbox.state_detail)
    .where(Mailbox.user_id == bindparam("user_id"))
    .order_by(Mailbox.id)
)
_STAGES = (
    select(Stage.key, Stage.name, Stage.is_closed)
    .where(Stage.org_id == bindparam("org_id"))
    .order_by(Stage.position, Stage.id)
)


def open_alerts(session: Session, opportunity_id: int) -> list[dict[str, Any]]:
    """The deal's unresolved alerts, most severe and newest first."""
    rows = session.scalars(_OPEN_ALERTS, {"opportunity_id": opportunity_id}).all()
    rows = sorted(rows, key=most_urgent_first)
    return [
        {"id": a.id, "rule": a.rule, "state": a.state, "severity": a.severity, "reason": a.reason,
         "opened_at": a.opened_at.isoformat()}
        for a in rows
    ]


def mailbox_status(session: Session, principal: Principal) -> list[dict[str, Any]]:
    """The caller's connected mailboxes and their sync state (the pane warns when one is disconnected)."""
    rows = session.execute(_MY_MAILBOXES, {"user_id": principal.user_id})
    return [{"address": a, "provider": p, "state": state, "detail": detail} for a, p, state, detail in rows]


def stage_options(session: Session, org_id: int) -> list[dict[str, Any]]:
    """The organisation's stages in pipeline order (for the stage picker)."""
    rows = session.execute(_STAGES, {"org_id": org_id})
    return [{"key": key, "name": name, "is_closed": bool(closed)} for key, name, closed in rows]


# -- the use case ---------------------------------------------------------------------------------------------
def email_context(uow: UnitOfWork, principal: Principal, message: OpenMessage, tone: ToneSource) -> dict[str, Any]:
    """Everything the sidebar shows for an open email (read-only; nothing is stored)."""
    s = uow.s
    captured = find_captured(s, principal, message)
    if captured is not None:
        match = _activity_match(s, principal, captured)
        needs_choice = bool(captured.activity.needs_link_choice)
    else:
        thread_key = thread_key_for(
            message.clean_message_id, message.in_reply_to, list(message.references), message.provider_thread_id
        )
        match = _participants_match(s, principal, message.addresses, thread_key)
        needs_choice = len(match.candidates) > 1 and match.opportunity_id is None
    deals = _visible_deals(s, principal, match)  # kept referenced: serialize finds them in the identity map
    candidates = list(deals)
    opportunity_id = _chosen_deal(match, candidates, needs_choice)
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
    opportunity = opp_service.serialize(s, deals[opportunity_id][0], detail=True) if opportunity_id is not None else None
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
        "alerts": open_alerts(s, opportunity_id) if opportunity_id is not None else [],
        "stages": stage_options(s, principal.org_id),
        "mailboxes": mailbox_status(s, principal),
        "buying_roles": list(BUYING_ROLES),
        "deal_options": deal_options(s, principal, opportunity["account"]["id"] if opportunity else match.account_id,
                                     opportunity_id) if status in ("matched", "not_a_deal", "choose") else [],
        "participants": _participants(principal, captured, message, email["content_hidden"]),
    }


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
