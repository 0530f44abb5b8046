"""Matchers: address and domain normalisation, free-mail never matching an account, direction, link choice."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import assume, given
from hypothesis import strategies as st

from dealpulse.mail.linking import (
    FREE_MAIL_DOMAINS,
    LinkIndex,
    OpenDeal,
    ThreadChoice,
    decide_link,
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


def test_thread_key_is_the_root_of_the_conversation():
    assert thread_key_for("c@x", "b@x", ["a@x", "b@x"], "fallback") == "a@x"
    assert thread_key_for("c@x", "<b@x>", [], "fallback") == "b@x"
    assert thread_key_for("c@x", "", [], "fallback") == "c@x"
    assert thread_key_for("", "", [], "fallback") == "fallback"


def _deal(i: int, account: int, days_ago: int, owner: int = 1) -> OpenDeal:
    return OpenDeal(i, account, owner_id=owner, updated_at=datetime(2026, 11, 1, tzinfo=timezone.utc) - timedelta(days=days_ago))


def test_one_candidate_links_without_asking():
    deal = _deal(10, 1, 3)
    index = LinkIndex(deals_by_account={1: [deal]}, deals={10: deal})
    decision = decide_link("t", [], [1], index)
    assert (decision.opportunity_id, decision.needs_link_choice, decision.link_method) == (10, False, "account")


def test_several_candidates_count_toward_no_deal_and_list_the_likeliest_first():
    old, fresh, team = _deal(10, 1, 30), _deal(11, 1, 1), _deal(12, 1, 10)
    base = dict(deals_by_account={1: [old, fresh, team]}, deals_by_contact={5: [team]}, deals={10: old, 11: fresh, 12: team})

    with_team = decide_link("t", [5], [1], LinkIndex(**base))
    by_freshness = decide_link("t", [], [1], LinkIndex(**base))
    both_teams = decide_link("t", [5, 6], [1], LinkIndex(**{**base, "deals_by_contact": {5: [team], 6: [old]}}))

    assert with_team.opportunity_id == 12 and not with_team.needs_link_choice  # the only deal with the sender on its team
    for decision in (by_freshness, both_teams):
        assert decision.opportunity_id is None and decision.needs_link_choice
        assert set(decision.candidates) == {10, 11, 12} and decision.account_id == 1
    assert both_teams.candidates[:2] == (12, 10)  # participants on their buying teams first
    assert by_freshness.candidates == (11, 12, 10)  # most recently updated first


def test_the_only_candidate_the_rep_owns_is_confident():
    colleagues, mine = _deal(10, 1, 1, owner=2), _deal(11, 1, 30, owner=7)
    index = LinkIndex(user_id=7, deals_by_account={1: [colleagues, mine]}, deals={10: colleagues, 11: mine})
    assert decide_link("t", [], [1], index).opportunity_id == 11
    index.user_id = 8  # a third rep owns neither: ambiguous
    assert decide_link("t", [], [1], index).opportunity_id is None
    index.user_id = 7  # rep 7 owns one, but the participant is on the buying team of the other: ambiguous
    index.deals_by_contact = {5: [colleagues]}
    assert decide_link("t", [5], [1], index).opportunity_id is None


def test_a_thread_stays_with_the_deal_it_started_on_even_when_that_deal_is_closed():
    open_deal = _deal(11, 1, 1)
    index = LinkIndex(thread_origin={"t": 7}, deal_accounts={7: 1}, deals_by_account={1: [open_deal]}, deals={11: open_deal})
    decision = decide_link("t", [], [1], index)
    assert (decision.opportunity_id, decision.link_method, decision.needs_link_choice) == (7, "thread", False)


def test_the_reps_thread_choice_wins_and_carries_privacy():
    deal = _deal(10, 1, 3)
    index = LinkIndex(thread_choices={"t": ThreadChoice(99, is_private=True)}, thread_origin={"t": 10},
                      deals_by_account={1: [deal]}, deals={10: deal})
    decision = decide_link("t", [], [1], index)
    assert decision.opportunity_id == 99 and decision.link_method == "thread"
    assert decision.is_private and not decision.needs_link_choice


def test_not_a_deal_keeps_later_mail_of_the_thread_off_every_deal():
    deal = _deal(10, 1, 3)
    index = LinkIndex(thread_choices={"t": ThreadChoice(None, no_deal=True)}, thread_origin={"t": 10},
                      deals_by_account={1: [deal]}, deals={10: deal})
    decision = decide_link("t", [], [1], index)
    assert decision.opportunity_id is None and decision.link_method == "not_a_deal" and not decision.needs_link_choice


deal_ids = st.integers(min_value=1, max_value=40)


def confident(on_team: set[int], mine: set[int]) -> int | None:
    """The deal a confident rule names: the only one on a participant's buying team or the rep's only one, unless
    the other rule names others."""
    for first, second in ((on_team, mine), (mine, on_team)):
        if len(first) == 1 and (not second or first <= second):
            return next(iter(first))
    return None


@given(
    accounts=st.dictionaries(st.integers(1, 4), st.lists(st.tuples(deal_ids, st.integers(0, 60), st.integers(1, 3)),
                                                          max_size=4), max_size=3),
    team=st.dictionaries(st.integers(100, 103), st.lists(deal_ids, max_size=3), max_size=3),
    origin=st.none() | deal_ids,
    choice=st.none() | st.builds(ThreadChoice, st.none() | deal_ids, st.booleans(), st.booleans()),
)
def test_a_deal_is_only_chosen_by_a_confident_rule(accounts, team, origin, choice):
    deals: dict[int, OpenDeal] = {}
    by_account: dict[int, list[OpenDeal]] = {}
    for account, rows in accounts.items():
        for deal_id, age, owner in rows:
            deal = deals.setdefault(deal_id, _deal(deal_id, account, age, owner))
            by_account.setdefault(deal.account_id, []).append(deal)
    by_contact = {c: [deals[d] for d in ids if d in deals] for c, ids in team.items()}
    index = LinkIndex(user_id=1, thread_choices={"t": choice} if choice else {}, thread_origin={"t": origin} if origin else {},
                      deals_by_account=by_account, deals_by_contact=by_contact, deals=deals)
    decision = decide_link("t", sorted(team), sorted(accounts), index)

    candidates = {d.id for c in team for d in by_contact[c]} | {d.id for a in accounts for d in by_account.get(a, [])}
    if choice and choice.no_deal:
        assert decision.opportunity_id is None and not decision.needs_link_choice
    elif choice and choice.opportunity_id is not None:
        assert decision.opportunity_id == choice.opportunity_id
    elif origin is not None:
        assert decision.opportunity_id == origin
    elif len(candidates) == 1:
        assert decision.opportunity_id in candidates and not decision.needs_link_choice
    elif confident(on_team := {d.id for c in team for d in by_contact[c]}, mine := {d for d in candidates if deals[d].owner_id == 1}):
        # The only deal one rule names (the sender on its buying team / the rep owns it), the other rule not disagreeing.
        assert decision.opportunity_id == confident(on_team, mine) and not decision.needs_link_choice
    elif candidates:
        # Ambiguous: counts toward no deal until someone chooses; every candidate is offered exactly once.
        assert decision.opportunity_id is None and decision.needs_link_choice
        assert sorted(decision.candidates) == sorted(candidates)
    else:
        assert decision.opportunity_id is None and not decision.needs_link_choice
    assert decision.is_private == bool(choice and choice.is_private)


def test_no_open_deal_keeps_the_account():
    decision = decide_link("t", [], [4], LinkIndex())
    assert decision.opportunity_id is None and decision.account_id == 4 and decision.link_method == "none"
