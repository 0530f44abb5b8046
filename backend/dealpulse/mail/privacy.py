"""Privacy by default: decide, before anything is written, whether a mail or meeting may be captured at all."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..store import NeverLogEntry, Organisation, User
from .linking import CustomerMatches, OrgDirectory, domain_of, in_domains, is_free_mail, normalize_address, normalize_domain

#: Gmail categories that are never business conversations with a customer.
EXCLUDED_CATEGORIES = frozenset({"CATEGORY_PROMOTIONS", "CATEGORY_SOCIAL", "CATEGORY_FORUMS"})
#: Labels whose mail is not a conversation at all.
EXCLUDED_LABELS = frozenset({"SPAM", "DRAFT", "CHAT"})

REASONS = {
    "category": "Gmail filed it under promotions, social or forums",
    "label": "spam, drafts and chats are never captured",
    "never_log": "a participant is on the rep's never-log list",
    "internal_only": "every participant is a colleague",
    "free_mail": "every outside participant writes from a free-mail address (the organisation's rule)",
    "no_customer": "no known customer contact or account takes part",
    "no_participants": "it has no participants",
}


@dataclass(frozen=True)
class PrivacyRules:
    """An organisation's capture rules (mail among colleagues only is never captured, whatever they say)."""

    exclude_free_mail: bool = False  # skip mail whose outside participants all use free-mail addresses
    private_by_default: bool = False  # newly captured mail is private unless the rep chose otherwise


@dataclass(frozen=True)
class NeverLogList:
    """A user's never-log addresses and domains (a domain also covers its subdomains)."""

    addresses: frozenset[str]
    domains: frozenset[str]

    def blocks(self, address: str) -> bool:
        """True if the address or its domain is on the list."""
        address = normalize_address(address)
        if not address:
            return False
        return address in self.addresses or in_domains(address, self.domains)

    @classmethod
    def from_patterns(cls, patterns: Iterable[str]) -> "NeverLogList":
        """Split "a@b.com" and "b.com" / "@b.com" patterns into addresses and domains."""
        addresses, domains = set(), set()
        for pattern in patterns:
            pattern = (pattern or "").strip().lower()
            if "@" in pattern.lstrip("@"):
                address = normalize_address(pattern)
                if address:
                    addresses.add(address)
            else:
                domain = normalize_domain(pattern)
                if domain:
                    domains.add(domain)
        return cls(frozenset(addresses), frozenset(domains))


PRIVACY_SETTINGS_KEY = "privacy"  # where an organisation's rules live in `Organisation.settings`


def rules_from_settings(org_settings: dict | None, own_choice: bool | None = None) -> PrivacyRules:
    """The capture rules an organisation's settings give, with a rep's own private-by-default choice applied."""
    stored = (org_settings or {}).get(PRIVACY_SETTINGS_KEY) or {}
    private = bool(stored.get("private_by_default", False)) if own_choice is None else own_choice
    return PrivacyRules(exclude_free_mail=bool(stored.get("exclude_free_mail", False)), private_by_default=private)


def load_privacy_rules(session: Session, user_id: int) -> PrivacyRules:
    """The capture rules for mail in `user_id`'s mailboxes (their organisation's, their own private default)."""
    row = session.execute(
        select(Organisation.settings, User.private_by_default).join(User, User.org_id == Organisation.id).where(User.id == user_id)
    ).first()
    return rules_from_settings(row[0], row[1]) if row is not None else PrivacyRules()


def load_never_log(session: Session, user_id: int) -> NeverLogList:
    """The never-log list of a user."""
    patterns = session.scalars(select(NeverLogEntry.pattern).where(NeverLogEntry.user_id == user_id)).all()
    return NeverLogList.from_patterns(patterns)


def exclusion_reason(
    addresses: list[str],
    labels: Iterable[str],
    directory: OrgDirectory,
    customers: CustomerMatches,
    never_log: NeverLogList,
    rules: PrivacyRules | None = None,
) -> str | None:
    """Why this activity must not be stored (a key of REASONS), or None when it may be captured.

    `addresses` are all participants (sender, recipients or attendees). Nothing of an excluded activity is kept.
    """
    label_set = set(labels)
    if label_set & EXCLUDED_CATEGORIES:
        return "category"
    if label_set & EXCLUDED_LABELS:
        return "label"
    normalised = [a for a in (normalize_address(x) for x in addresses) if a]
    if not normalised:
        return "no_participants"
    if any(never_log.blocks(a) for a in normalised):
        return "never_log"
    external = [a for a in normalised if not directory.is_internal(a)]
    if not external:
        return "internal_only"
    if rules is not None and rules.exclude_free_mail and all(is_free_mail(domain_of(a)) for a in external):
        return "free_mail"
    if not any(customers.contact(a) or customers.account_for(a) is not None for a in external):
        return "no_customer"
    return None
