"""Matchers: address and domain normalisation, free-mail never matching an account, direction, link choice."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import assume, given
from hypothesis import strategies as st

from dealpulse.mail.linking import (
    FREE_MAIL_DOMAINS,
    LinkIndex,
    OpenDeal,
    decide_link,
    direction_of,
    is_free_mail,
    match_account,
    normalize_address,
    parent_domains,
    thread_key_for,
)

label = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=10)
domain = st.lists(label, min_size=2, max_size=4).map(".".join)
local = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789._+-", min_size=1, max_size=15).filter(lambda s: s.strip("."))
address = st.builds(lambda user, d: f"{user}@{d}", local, domain)


@given(address, st.sampled_from(["{}", "{}".upper(), " {} ", "<{}>", "Ann Example <{}>", "mailto:{}", '"{}"']))
def test_every_spelling_of_an_address_normalises_to_the_same_value(addr, template):
    spelled = template.format(addr.upper() if template.isupper() else addr)
    assert normalize_address(spelled) == addr.lower()


@given(st.text(max_size=40))
def test_normalising_arbitrary_text_never_crashes_and_is_idempotent(text):
    once = normalize_address(text)
    assert normalize_address(once) == once
    assert once == "" or ("@" in once and once == once.lower())


@given(st.sampled_from(sorted(FREE_MAIL_DOMAINS)), st.lists(label, max_size=2))
def test_free_mail_domains_and_their_subdomains_never_match_an_account(free, sub):
    full = ".".join([*sub, free])
    registered = {free: 1, full: 2}  # even if someone registered it by mistake
    assert is_free_mail(full)
    assert match_account(full, registered) is None


@given(st.sampled_from(["yahoo.co.uk", "hotmail.fr", "outlook.de", "gmx.li", "live.co.za", "yahoo.com.br"]))
def test_country_variants_of_free_mail_brands_are_free_mail(variant):
    assert is_free_mail(variant)
    assert match_account(variant, {variant: 3}) is None


@given(domain, st.lists(label, max_size=3))
def test_a_subdomain_matches_the_registered_account_domain(registered, sub):
    assume(not is_free_mail(registered))
    full = ".".join([*sub, registered])
    assert match_account(full.upper(), {registered: 7}) == 7
    assert registered in parent_domains(full)


@given(domain, domain)
def test_an_unrelated_domain_does_not_match(registered, other):
    assume(other != registered and not other.endswith("." + registered))
    assert match_account(other, {registered: 7}) is None


def test_a_lookalike_suffix_is_not_a_subdomain():
    assert match_account("notacme.com", {"acme.com": 1}) is None
    assert match_account("eu.acme.com", {"acme.com": 1}) == 1
    assert match_account("mail.acme.co.uk", {"acme.co.uk": 2}) == 2
    assert match_account("co.uk", {"co.uk": 3}) is None


@given(address, st.lists(address, max_size=3), st.sampled_from(["{}", "{}".upper(), "Me <{}>"]))
def test_mail_from_the_owner_or_any_alias_is_outbound(primary, aliases, template):
    owner = [primary, *aliases]
    for sender in owner:
        assert direction_of(template.format(sender.upper() if template.isupper() else sender), owner) == "outbound"


@given(address, address)
def test_mail_from_anyone_else_is_inbound(owner, sender):
    assume(owner.lower() != sender.lower())
    assert direction_of(sender, [owner]) == "inbound"


def test_thread_key_is_the_root_of_the_conversation():
    assert thread_key_for("c@x", "b@x", ["a@x", "b@x"], "fallback") == "a@x"
    assert thread_key_for("c@x", "<b@x>", [], "fallback") == "b@x"
    assert thread_key_for("c@x", "", [], "fallback") == "c@x"
    assert thread_key_for("", "", [], "fallback") == "fallback"


def _deal(i: int, account: int, days_ago: int) -> OpenDeal:
    return OpenDeal(i, account, owner_id=1, updated_at=datetime(2026, 11, 1, tzinfo=timezone.utc) - timedelta(days=days_ago))


def test_one_candidate_links_without_asking():
    deal = _deal(10, 1, 3)
    index = LinkIndex(deals_by_account={1: [deal]}, deals={10: deal})
    decision = decide_link("t", [], [1], index)
    assert (decision.opportunity_id, decision.needs_link_choice, decision.link_method) == (10, False, "account")


def test_several_candidates_prefer_the_thread_then_the_buying_team_then_the_freshest():
    old, fresh, team = _deal(10, 1, 30), _deal(11, 1, 1), _deal(12, 1, 10)
    base = dict(deals_by_account={1: [old, fresh, team]}, deals_by_contact={5: [team]}, deals={10: old, 11: fresh, 12: team})

    by_thread = decide_link("t", [5], [1], LinkIndex(thread_latest={"t": [10]}, **base))
    by_team = decide_link("t", [5], [1], LinkIndex(**base))
    by_freshness = decide_link("t", [], [1], LinkIndex(**base))

    assert by_thread.opportunity_id == 10 and by_thread.link_method == "thread"
    assert by_team.opportunity_id == 12
    assert by_freshness.opportunity_id == 11
    for decision in (by_thread, by_team, by_freshness):
        assert decision.needs_link_choice and set(decision.candidates) == {10, 11, 12}


def test_the_reps_thread_choice_wins_and_carries_privacy():
    deal = _deal(10, 1, 3)
    index = LinkIndex(thread_choices={"t": (99, True)}, deals_by_account={1: [deal]}, deals={10: deal})
    decision = decide_link("t", [], [1], index)
    assert decision.opportunity_id == 99 and decision.link_method == "thread"
    assert decision.is_private and not decision.needs_link_choice


def test_no_open_deal_keeps_the_account():
    decision = decide_link("t", [], [4], LinkIndex())
    assert decision.opportunity_id is None and decision.account_id == 4 and decision.link_method == "none"
