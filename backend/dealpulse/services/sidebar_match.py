"""Which deal an email open in the sidebar belongs to.

Matching order: the captured activity by internet Message-ID, then by the provider's message id in one of the
caller's mailboxes, then the participants (contacts by exact address, accounts by company domain, their open
deals, and the rep's remembered choice for the thread); then the deals the caller may see among the candidates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, bindparam, case, false, or_, select
from sqlalchemy.orm import Session, lazyload

from ..domain.access import Principal, can_see_deal
from ..mail.linking import (
    accounts_of,
    decide_link,
    load_customer_matches,
    load_link_index,
    load_org_directory,
    normalize_address,
)
from ..store import (
    Account,
    Activity,
    ActivitySource,
    Contact,
    Mailbox,
    Opportunity,
    SentimentScore,
    Stage,
    ThreadLink,
    User,
)
from .access import can_see_activity, visibility_clause


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


def participants_match(session: Session, principal: Principal, addresses: list[str], thread_key: str) -> Match:
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


def activity_match(session: Session, principal: Principal, captured: Captured) -> Match:
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


def visible_deals(session: Session, principal: Principal, match: Match) -> dict[int, DealRow]:
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


def chosen_deal(match: Match, visible: list[int], needs_choice: bool) -> int | None:
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
        _DEAL_OPTIONS.where(or_(same_account, mine_open), visibility_clause(principal))
        .order_by(case((same_account, 0), else_=1), Stage.is_closed, Opportunity.updated_at.desc(), Opportunity.id.desc())
        .limit(30)
    )
    return [candidate_view(*row) for row in rows if row[0].id != exclude]


# -- pieces of the answer -------------------------------------------------------------------------------------


def candidate_view(opp: Opportunity, stage: Stage, account: Account, owner: User) -> dict[str, Any]:
    """A short view of a deal the rep may choose."""
    return {
        "id": opp.id, "name": opp.name, "account": {"id": account.id, "name": account.name},
        "owner": {"id": owner.id, "name": owner.name, "email": owner.email},
        "stage": {"key": stage.key, "name": stage.name, "is_closed": bool(stage.is_closed), "is_won": bool(stage.is_won)},
        "amount": str(opp.amount), "currency": opp.currency, "close_date": opp.close_date.isoformat() if opp.close_date else None,
    }
