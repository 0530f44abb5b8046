"""Who took part, which way mail went, and which customer, contact and opportunity an activity belongs to.

Pure matchers (address and domain normalisation, free-mail detection, direction) plus the queries that load
an organisation's contacts, account domains, open opportunities and thread choices for a batch of activities.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Iterable, Mapping

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..store import (
    AccountDomain,
    Activity,
    ActivitySource,
    BuyingTeamMember,
    Contact,
    Mailbox,
    Opportunity,
    Organisation,
    Stage,
    ThreadLink,
    User,
    UserAlias,
)
from .types import Address

#: Public mail providers: an address there says nothing about the company, so it never matches an account.
FREE_MAIL_DOMAINS = frozenset(
    {
        "gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "live.com", "msn.com", "passport.com",
        "yahoo.com", "ymail.com", "rocketmail.com", "icloud.com", "me.com", "mac.com", "aol.com", "aim.com",
        "proton.me", "protonmail.com", "protonmail.ch", "pm.me", "gmx.com", "gmx.net", "gmx.de", "gmx.at",
        "gmx.ch", "web.de", "t-online.de", "freenet.de", "mail.com", "zoho.com", "zohomail.com", "yandex.com",
        "yandex.ru", "mail.ru", "fastmail.com", "fastmail.fm", "hey.com", "tutanota.com", "tuta.io", "qq.com",
        "163.com", "126.com", "naver.com", "orange.fr", "free.fr", "laposte.net", "libero.it", "virgilio.it",
        "comcast.net", "verizon.net", "att.net", "btinternet.com", "sky.com", "bigpond.com", "seznam.cz",
        "wp.pl", "o2.pl", "interia.pl", "rediffmail.com", "inbox.com", "hushmail.com",
    }
)
#: Providers that register the same brand under many country suffixes (yahoo.co.uk, hotmail.fr, gmx.li ...).
FREE_MAIL_BRANDS = frozenset({"gmail", "googlemail", "outlook", "hotmail", "live", "yahoo", "gmx", "aol", "icloud", "yandex", "protonmail"})
_COUNTRY_SECOND_LEVEL = frozenset({"co", "com", "org", "net", "ac", "gov", "edu", "ne", "or"})


# -- pure matchers -------------------------------------------------------------------------------------------
@lru_cache(maxsize=65536)
def normalize_address(raw: str | None) -> str:
    """`"Ann <Ann@Acme.COM>"`, `mailto:ann@acme.com.` → `ann@acme.com`; "" when it is not an address."""
    if not raw:
        return ""
    value = raw.strip()
    if "<" in value and ">" in value:
        value = value[value.rfind("<") + 1 : value.rfind(">")]
    value = value.strip().strip("<>\"' ").lower()
    if value.startswith("mailto:"):
        value = value[len("mailto:") :]
    local, at, domain = value.rpartition("@")
    domain = normalize_domain(domain)
    if not at or not local or not domain or any(c.isspace() for c in local):
        return ""
    return f"{local}@{domain}"


@lru_cache(maxsize=65536)
def normalize_domain(raw: str | None) -> str:
    """Lower-cased domain without surrounding dots, `@` or whitespace; "" when it cannot be one."""
    if not raw:
        return ""
    value = raw.strip().lower().lstrip("@").strip(".")
    if not value or any(c.isspace() or c in "@<>/\\" for c in value) or ".." in value:
        return ""
    return value


def domain_of(address: str) -> str:
    """The domain of an address (normalised), "" if none."""
    return normalize_address(address).rpartition("@")[2]


def parent_domains(domain: str) -> list[str]:
    """`eu.mail.acme.com` → [`eu.mail.acme.com`, `mail.acme.com`, `acme.com`]: a subdomain matches its registered domain."""
    return list(_parent_domains(domain))


@lru_cache(maxsize=16384)
def _parent_domains(domain: str) -> tuple[str, ...]:
    labels = normalize_domain(domain).split(".")
    if len(labels) < 2 or not all(labels):
        return ()
    floor = 3 if labels[-2] in _COUNTRY_SECOND_LEVEL and len(labels[-1]) == 2 else 2
    return tuple(".".join(labels[i:]) for i in range(0, len(labels) - floor + 1))


@lru_cache(maxsize=16384)
def is_free_mail(domain: str) -> bool:
    """True for public mail providers (and their subdomains and country variants)."""
    domain = normalize_domain(domain)
    if not domain:
        return False
    labels = domain.split(".")
    for i in range(len(labels) - 1):
        if ".".join(labels[i:]) in FREE_MAIL_DOMAINS:
            return True
    registered = parent_domains(domain)
    if registered:
        brand = registered[-1].split(".")[0]
        return brand in FREE_MAIL_BRANDS
    return False


def match_account(domain: str, account_domains: Mapping[str, int]) -> int | None:
    """The account whose registered domain is `domain` or a parent of it; free-mail domains never match."""
    if is_free_mail(domain):
        return None
    for candidate in parent_domains(domain):
        if candidate in account_domains and not is_free_mail(candidate):
            return account_domains[candidate]
    return None


def in_domains(address: str, domains: Iterable[str]) -> bool:
    """True if the address's domain is one of `domains` or a subdomain of one."""
    domain = domain_of(address)
    if not domain:
        return False
    return any(domain == d or domain.endswith("." + d) for d in (normalize_domain(x) for x in domains) if d)


def participants_of(sender: Address | None, to: Iterable[Address], cc: Iterable[Address], bcc: Iterable[Address] = ()) -> list[dict[str, str]]:
    """Every participant once, as {"email", "name", "role"} with the first role seen (from, to, cc, bcc)."""
    out: list[dict[str, str]] = []
    seen: set[str] = set()
    groups: list[tuple[str, Iterable[Address]]] = [("from", [sender] if sender else []), ("to", to), ("cc", cc), ("bcc", bcc)]
    for role, addresses in groups:
        for addr in addresses:
            email = normalize_address(addr.email)
            if email and email not in seen:
                seen.add(email)
                out.append({"email": email, "name": addr.name or "", "role": role})
    return out


def thread_key_for(message_id: str, in_reply_to: str, references: list[str], fallback: str) -> str:
    """The conversation's root Message-ID (first Reference, else In-Reply-To, else its own), else `fallback`."""
    for candidate in (references[0] if references else "", in_reply_to, message_id):
        candidate = (candidate or "").strip().strip("<>")
        if candidate:
            return candidate
    return fallback


# -- organisation context ------------------------------------------------------------------------------------
@dataclass
class OrgDirectory:
    """What linking and privacy need to know about an organisation: its own domains and its users' addresses."""

    org_id: int
    own_domains: list[str]
    user_addresses: dict[str, int]  # every user's address and alias → user id

    def is_internal(self, address: str) -> bool:
        """A colleague: one of the seller's domains, or any user's address or alias."""
        address = normalize_address(address)
        return address in self.user_addresses or in_domains(address, self.own_domains)


def load_org_directory(session: Session, org_id: int) -> OrgDirectory:
    """The organisation's own domains and every user address (primary and aliases)."""
    org = session.get(Organisation, org_id)
    addresses: dict[str, int] = {}
    for user_id, email in session.execute(select(User.id, User.email).where(User.org_id == org_id)):
        addresses[normalize_address(email)] = user_id
    alias_rows = session.execute(
        select(UserAlias.user_id, UserAlias.email).join(User, User.id == UserAlias.user_id).where(User.org_id == org_id)
    )
    for user_id, email in alias_rows:
        addresses[normalize_address(email)] = user_id
    addresses.pop("", None)
    domains = [normalize_domain(d) for d in (org.domains if org else []) or []]
    return OrgDirectory(org_id=org_id, own_domains=[d for d in domains if d], user_addresses=addresses)


@dataclass
class CustomerMatches:
    """Contacts and accounts found among a batch's external participants."""

    contacts: dict[str, tuple[int, int | None]] = field(default_factory=dict)  # address → (contact id, account id)
    account_domains: dict[str, int] = field(default_factory=dict)  # registered domain → account id

    def contact(self, address: str) -> tuple[int, int | None] | None:
        """(contact id, account id) for an exact address, if known."""
        return self.contacts.get(normalize_address(address))

    def account_for(self, address: str) -> int | None:
        """The account of a known contact, else of the address's company domain."""
        known = self.contact(address)
        if known and known[1] is not None:
            return known[1]
        return match_account(domain_of(address), self.account_domains)


def load_customer_matches(session: Session, org_id: int, addresses: Iterable[str]) -> CustomerMatches:
    """Contacts by exact address and accounts by (parent) domain for `addresses`, in two queries."""
    wanted = {normalize_address(a) for a in addresses}
    wanted.discard("")
    matches = CustomerMatches()
    if not wanted:
        return matches
    for chunk in _chunks(sorted(wanted), 500):
        rows = session.execute(
            select(Contact.id, Contact.account_id, func.lower(Contact.email)).where(
                Contact.org_id == org_id, func.lower(Contact.email).in_(chunk)
            )
        )
        for contact_id, account_id, email in rows:
            matches.contacts[email] = (contact_id, account_id)
    domains = {p for a in wanted for p in parent_domains(domain_of(a)) if not is_free_mail(p)}
    for chunk in _chunks(sorted(domains), 500):
        rows = session.execute(
            select(AccountDomain.domain, AccountDomain.account_id).where(
                AccountDomain.org_id == org_id, func.lower(AccountDomain.domain).in_(chunk)
            )
        )
        for domain, account_id in rows:
            matches.account_domains[normalize_domain(domain)] = account_id
    return matches


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


# -- choosing the opportunity --------------------------------------------------------------------------------
@dataclass(frozen=True)
class LinkDecision:
    """Where an activity goes: the opportunity (or None), its account, how it was decided and the alternatives.

    `needs_link_choice` with `candidates` (the likeliest first) means several deals match and none is confident:
    the activity counts toward no deal until the rep chooses.
    """

    opportunity_id: int | None
    account_id: int | None
    link_method: str  # thread | contact | account | not_a_deal | none
    needs_link_choice: bool = False
    candidates: tuple[int, ...] = ()
    is_private: bool = False


@dataclass(frozen=True)
class OpenDeal:
    """An open opportunity that may receive an activity."""

    id: int
    account_id: int
    owner_id: int
    updated_at: datetime


@dataclass(frozen=True)
class ThreadChoice:
    """A rep's choices for a conversation: a deal, "not a deal", and whether it is private."""

    opportunity_id: int | None
    no_deal: bool = False
    is_private: bool = False


@dataclass
class LinkIndex:
    """Everything `decide_link` consults for one batch of one rep: their thread choices, where each thread started,
    open deals and buying teams."""

    user_id: int | None = None  # the rep whose mailbox the mail is in
    thread_choices: dict[str, ThreadChoice] = field(default_factory=dict)  # the rep's own choices
    thread_origin: dict[str, int] = field(default_factory=dict)  # thread → deal of its first linked activity
    deal_accounts: dict[int, int] = field(default_factory=dict)  # account of every deal above (open or closed)
    deals_by_account: dict[int, list[OpenDeal]] = field(default_factory=dict)
    deals_by_contact: dict[int, list[OpenDeal]] = field(default_factory=dict)  # via buying-team membership
    deals: dict[int, OpenDeal] = field(default_factory=dict)


def _thread_origins(session: Session, org_id: int, threads: list[str], user_id: int | None) -> dict[str, int]:
    """Thread → the deal of its earliest linked activity, preferring the activities `user_id`'s mailboxes captured."""
    from_anyone = (
        select(Activity.thread_key, Activity.opportunity_id)
        .where(Activity.org_id == org_id, Activity.thread_key.in_(threads), Activity.opportunity_id.is_not(None))
        .order_by(Activity.occurred_at, Activity.id)
    )
    origins: dict[str, int] = {}
    if user_id is not None:  # joined, not IN (subquery): the thread index narrows first, then each row's sources
        own = (from_anyone.join(ActivitySource, ActivitySource.activity_id == Activity.id)
               .join(Mailbox, Mailbox.id == ActivitySource.mailbox_id).where(Mailbox.user_id == user_id))
        for thread_key, opp_id in session.execute(own):
            origins.setdefault(thread_key, opp_id)
    for thread_key, opp_id in session.execute(from_anyone):
        origins.setdefault(thread_key, opp_id)
    return origins


def load_link_index(
    session: Session, org_id: int, thread_keys: Iterable[str], contact_ids: Iterable[int], account_ids: Iterable[int],
    user_id: int | None = None,
) -> LinkIndex:
    """`user_id`'s choices and where each of `thread_keys` started, open deals of `account_ids` and of `contact_ids`'
    buying teams (`user_id`: the rep whose mailbox the mail is in)."""
    index = LinkIndex(user_id=user_id)
    threads = sorted({t for t in thread_keys if t})
    for chunk in _chunks(threads, 500):
        if user_id is not None:
            for thread_key, opp_id, no_deal, private in session.execute(
                select(ThreadLink.thread_key, ThreadLink.opportunity_id, ThreadLink.no_deal, ThreadLink.is_private).where(
                    ThreadLink.org_id == org_id, ThreadLink.thread_key.in_(chunk), ThreadLink.chosen_by_id == user_id
                )
            ):
                index.thread_choices[thread_key] = ThreadChoice(opp_id, bool(no_deal), bool(private))
        index.thread_origin.update(_thread_origins(session, org_id, chunk, user_id))
    known = {c.opportunity_id for c in index.thread_choices.values() if c.opportunity_id} | set(index.thread_origin.values())
    for chunk in _chunks(sorted(known), 500):  # type: ignore[arg-type]
        index.deal_accounts.update(session.execute(
            select(Opportunity.id, Opportunity.account_id).where(Opportunity.id.in_(chunk))
        ).all())
    open_deal = select(Opportunity.id, Opportunity.account_id, Opportunity.owner_id, Opportunity.updated_at).join(
        Stage, Stage.id == Opportunity.stage_id
    ).where(Opportunity.org_id == org_id, Stage.is_closed.is_(False))
    accounts = sorted(set(account_ids))
    for chunk in _chunks(accounts, 500):  # type: ignore[arg-type]
        for row in session.execute(open_deal.where(Opportunity.account_id.in_(chunk))):
            deal = OpenDeal(*row)
            index.deals[deal.id] = deal
            index.deals_by_account.setdefault(deal.account_id, []).append(deal)
    contacts = sorted(set(contact_ids))
    for chunk in _chunks(contacts, 500):  # type: ignore[arg-type]
        query = open_deal.add_columns(BuyingTeamMember.contact_id).join(
            BuyingTeamMember, BuyingTeamMember.opportunity_id == Opportunity.id
        ).where(BuyingTeamMember.contact_id.in_(chunk))
        for *row, contact_id in session.execute(query):
            deal = OpenDeal(*row)
            index.deals[deal.id] = deal
            index.deals_by_contact.setdefault(contact_id, []).append(deal)
    return index


def decide_link(thread_key: str, contact_ids: list[int], account_ids: list[int], index: LinkIndex) -> LinkDecision:
    """Pick the opportunity for an activity, or none until the rep chooses.

    In order: the rep's choice for the thread ("not a deal" included); the deal the thread was about when it
    started (even once that deal is closed); the only open deal of the participating contacts and accounts; the
    only one with a participant on its buying team, or the only one the rep owns, unless the other rule points
    elsewhere. Several deals and none of these: no deal (a guess would count toward a deal's dynamics and alerts), flagged
    for the rep with the candidates, the likeliest first (a participant on its buying team, then most recently
    updated).
    """
    account_id = account_ids[0] if account_ids else None
    choice = index.thread_choices.get(thread_key)
    private = bool(choice and choice.is_private)
    if choice and choice.no_deal:
        return LinkDecision(None, account_id, "not_a_deal", is_private=private)
    chosen = choice.opportunity_id if choice and choice.opportunity_id is not None else index.thread_origin.get(thread_key)
    if chosen is not None:
        return LinkDecision(chosen, index.deal_accounts.get(chosen, account_id), "thread", is_private=private)
    team_deals = {d.id for c in contact_ids for d in index.deals_by_contact.get(c, [])}
    candidates: dict[int, OpenDeal] = {}
    for c in contact_ids:
        for d in index.deals_by_contact.get(c, []):
            candidates[d.id] = d
    for a in account_ids:
        for d in index.deals_by_account.get(a, []):
            candidates[d.id] = d
    if not candidates:
        return LinkDecision(None, account_id, "none", is_private=private)
    method = "contact" if team_deals or contact_ids else "account"
    if len(candidates) == 1:
        deal = next(iter(candidates.values()))
        return LinkDecision(deal.id, deal.account_id, method, is_private=private)
    mine = {d.id for d in candidates.values() if index.user_id is not None and d.owner_id == index.user_id}
    confident = _one_agreed(team_deals, mine) or _one_agreed(mine, team_deals)
    if confident is not None:
        deal = candidates[confident]
        return LinkDecision(deal.id, deal.account_id, method, is_private=private)
    ordered = sorted(candidates.values(), key=lambda d: (d.id in team_deals, d.updated_at, d.id), reverse=True)
    return LinkDecision(None, account_id, "none", needs_link_choice=True, candidates=tuple(d.id for d in ordered),
                        is_private=private)


def _one_agreed(first: set[int], second: set[int]) -> int | None:
    """The one deal of `first` when `second` is empty or also holds it; None otherwise."""
    if len(first) == 1:
        (only,) = first
        if not second or only in second:
            return only
    return None


def accounts_of(addresses: Iterable[str], matches: CustomerMatches, directory: OrgDirectory) -> tuple[list[int], list[int]]:
    """(contact ids, account ids) of the external participants, in participant order, without repeats."""
    contact_ids: list[int] = []
    account_ids: list[int] = []
    for address in addresses:
        if directory.is_internal(address):
            continue
        known = matches.contact(address)
        if known and known[0] not in contact_ids:
            contact_ids.append(known[0])
        account = matches.account_for(address)
        if account is not None and account not in account_ids:
            account_ids.append(account)
    return contact_ids, account_ids
