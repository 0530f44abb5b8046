"""Privacy decisions: what is never captured, decided from participants and labels alone."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from dealpulse.mail.linking import CustomerMatches, OrgDirectory
from dealpulse.mail.privacy import NeverLogList, exclusion_reason

DIRECTORY = OrgDirectory(org_id=1, own_domains=["seller.example"], user_addresses={"rep@seller.example": 1, "rep.personal@gmail.com": 1})
CUSTOMERS = CustomerMatches(contacts={"ann@acme.example": (5, 2)}, account_domains={"acme.example": 2})
NOBODY = NeverLogList.from_patterns([])


def reason(addresses, labels=(), never=NOBODY):
    return exclusion_reason(list(addresses), labels, DIRECTORY, CUSTOMERS, never)


def test_customer_mail_is_captured():
    assert reason(["ann@acme.example", "rep@seller.example"]) is None
    assert reason(["someone.new@eu.acme.example", "rep@seller.example"]) is None  # account by (sub)domain


def test_internal_only_mail_is_not_captured_even_from_a_reps_personal_alias():
    assert reason(["rep@seller.example", "boss@seller.example"]) == "internal_only"
    assert reason(["rep@seller.example", "rep.personal@gmail.com"]) == "internal_only"
    assert reason(["rep@eu.seller.example"]) == "internal_only"


def test_mail_without_a_known_customer_is_not_captured():
    assert reason(["rep@seller.example", "friend@gmail.com"]) == "no_customer"
    assert reason(["rep@seller.example", "vendor@unknown.example"]) == "no_customer"


@given(st.sampled_from(["CATEGORY_PROMOTIONS", "CATEGORY_SOCIAL", "CATEGORY_FORUMS"]))
def test_gmail_promotions_social_and_forums_are_not_captured(category):
    assert reason(["ann@acme.example", "rep@seller.example"], labels=["INBOX", category]) == "category"


def test_never_log_addresses_and_domains_block_capture():
    by_address = NeverLogList.from_patterns(["Ann@Acme.example"])
    by_domain = NeverLogList.from_patterns(["@acme.example"])
    assert reason(["ann@acme.example", "rep@seller.example"], never=by_address) == "never_log"
    assert reason(["other@mail.acme.example", "rep@seller.example"], never=by_domain) == "never_log"
    assert reason(["ann@acme.example", "rep@seller.example"], never=NeverLogList.from_patterns(["globex.example"])) is None


@given(st.lists(st.text(max_size=30), max_size=5), st.lists(st.text(max_size=20), max_size=3))
def test_arbitrary_participants_never_crash_and_unknown_ones_are_never_captured(addresses, labels):
    result = reason(addresses, labels)
    assert result is not None  # no known customer can appear in random text
