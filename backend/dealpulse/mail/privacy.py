"""Privacy by default: decide, before anything is written, whether a mail or meeting may be captured at all."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..store import NeverLogEntry
from .linking import CustomerMatches, OrgDirectory, in_domains, normalize_address, normalize_domain

#: Gmail categories that are never business conversations with a customer.
EXCLUDED_CATEGORIES = frozenset({"CATEGORY_PROMOTIONS", "CATEGORY_SOCIAL", "CATEGORY_FORUMS"})
#: Labels whose mail is not a conversation at all.
EXCLUDED_LABELS = frozenset({"SPAM", "DRAFT", "CHAT"})

REASONS = {
    "category": "Gmail filed it under promotions, social or forums",
    "label": "spam, drafts and chats are never captured",
    "never_log": "a participant is on the rep's never-log list",
    "internal_only": "every participant is a colleague",
    "no_customer": "no known customer contact or account takes part",
    "no_participants": "it has no participants",
}


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
    if not any(customers.contact(a) or customers.account_for(a) is not None for a in external):
        return "no_customer"
    return None
