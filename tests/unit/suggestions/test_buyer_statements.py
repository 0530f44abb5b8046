"""The suggested-update extractor: dates, amounts, seats and exit answers read from a buyer's sentences (issue #18)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given, settings, strategies as st

from dealpulse.domain.buyer_statements import (
    DEFAULT_SUGGESTION_THRESHOLD,
    ExitQuestionRef,
    extract_suggestions,
    find_amounts,
    find_dates,
    shown,
    split_sentences,
)

SENT = date(2026, 1, 14)  # a Wednesday
QUESTIONS = [
    ExitQuestionRef("within_budget", "Within budget?"),
    ExitQuestionRef("legal_review_started", "Has legal review started?"),
    ExitQuestionRef("pricing_approved", "Is pricing approved on both sides?"),
    ExitQuestionRef("signatory_known", "Do we know who signs?"),
]


def fields(text: str, sent: date = SENT) -> dict[str, object]:
    """What the pane would offer for the text: the suggestions at or above the default threshold."""
    return {s.field: s.value for s in shown(extract_suggestions(text, sent, QUESTIONS), DEFAULT_SUGGESTION_THRESHOLD)}


# -- the issue's own sentences --------------------------------------------------------------------------------
def test_we_aim_to_sign_by_31_march_is_a_close_date_with_the_sentence_as_evidence():
    [suggestion] = extract_suggestions("Thanks for the call. We aim to sign by 31 March.", SENT, QUESTIONS)
    assert (suggestion.field, suggestion.value) == ("close_date", "2026-03-31")
    assert suggestion.evidence == "We aim to sign by 31 March."
    assert 0 < suggestion.confidence <= 1


def test_budget_is_approved_and_legal_has_the_contract_answer_the_exit_questions():
    got = fields("Good news: the budget is approved. Legal has the contract since Monday.")
    assert got["exit.within_budget"] is True
    assert got["exit.legal_review_started"] is True


def test_an_exit_answer_is_only_suggested_for_a_question_of_the_current_stage():
    assert extract_suggestions("The budget is approved.", SENT, [ExitQuestionRef("legal_review_started", "Legal review?")]) == []


def test_negated_and_hedged_sentences_yield_nothing():
    for sentence in (
        "We won't sign before June.",
        "The budget is not approved yet.",
        "Legal hasn't looked at the contract.",
        "We might sign by 31 March if the pilot goes well.",
        "Could you sign by Friday?",
        "Maybe we can close by end of March.",
        "We will not need 40 seats.",
    ):
        assert extract_suggestions(sentence, SENT, QUESTIONS) == [], sentence


def test_a_close_of_business_deadline_is_not_a_close_date():
    assert "close_date" not in fields("Please send the executed opinion by the close of business on 29 January.")


# -- dates ----------------------------------------------------------------------------------------------------
def test_relative_dates_resolve_against_the_sent_date():
    assert find_dates("we sign by end of March", SENT)[0][0] == date(2026, 3, 31)
    assert find_dates("we sign next Friday", SENT)[0][0] == date(2026, 1, 16)
    assert find_dates("we sign in Q2", SENT)[0][0] == date(2026, 6, 30)
    assert find_dates("we sign by the end of the quarter", SENT)[0][0] == date(2026, 3, 31)
    assert find_dates("signing tomorrow", SENT)[0][0] == date(2026, 1, 15)


def test_a_month_already_past_means_next_year():
    assert find_dates("we will sign in March", date(2026, 11, 2))[0][0] == date(2027, 3, 31)


def test_a_weekday_before_an_explicit_date_adds_no_second_date():
    assert [d for d, _ in find_dates("the agreement is due to be signed on Tuesday, 7/11.", date(2001, 6, 1))] == [date(2001, 7, 11)]


def test_a_date_in_the_past_is_not_suggested():
    assert "close_date" not in fields("We signed the contract on 3 January.")


def test_two_dates_in_one_sentence_are_too_ambiguous():
    assert "close_date" not in fields("We will sign the contract on 3 March or 10 March.")


# -- amounts and seats ----------------------------------------------------------------------------------------
def test_amounts_with_currency_and_scale():
    assert find_amounts("the contract is worth $1.2 million") == [(Decimal("1200000.00"), "USD", "$1.2 million")]
    assert find_amounts("our budget is EUR 45,000") == [(Decimal("45000.00"), "EUR", "EUR 45,000")]
    assert find_amounts("30k pounds for the pilot") == [(Decimal("30000.00"), "GBP", "30k pounds")]
    assert find_amounts("£80k for the order")[0][:2] == (Decimal("80000.00"), "GBP")


def test_rates_and_unit_prices_are_not_deal_amounts():
    assert find_amounts("the fixed price is $3.30/MMBtu") == []
    assert find_amounts("1,388,110 shares at $79.125 initial price") == []
    assert "amount" not in fields("The discounted rate is $0.08.")


def test_a_deal_amount_and_a_seat_count():
    got = fields("We have approved the order for 120 seats. The contract total is $54,000.")
    assert got["seats"] == 120
    assert got["amount"] == "54000.00"


def test_payments_and_invoices_are_not_the_deal_amount():
    assert "amount" not in fields("The invoice covers production months 12/01 through 08/02 and is for $3,761,900.00.")


def test_sentences_split_without_breaking_abbreviations():
    assert split_sentences("Mr. Smith will sign. Budget is approved.") == ["Mr. Smith will sign.", "Budget is approved."]


# -- properties -----------------------------------------------------------------------------------------------
future_dates = st.dates(min_value=SENT + timedelta(days=1), max_value=date(2030, 12, 31))
FORMATS = ("%d %B %Y", "%B %d, %Y", "%Y-%m-%d", "%m/%d/%Y", "%d %b %Y")


@settings(max_examples=200)
@given(day=future_dates, fmt=st.sampled_from(FORMATS))
def test_any_formatted_future_date_in_a_signing_sentence_round_trips(day: date, fmt: str):
    sentence = f"We will sign the agreement on {day.strftime(fmt)}."
    assert fields(sentence)["close_date"] == day.isoformat()


@settings(max_examples=200)
@given(day=future_dates, fmt=st.sampled_from(FORMATS),
       negation=st.sampled_from(["won't", "will not", "cannot", "can't", "do not expect to", "are unable to", "never"]))
def test_a_negated_signing_sentence_never_yields_a_suggestion(day: date, fmt: str, negation: str):
    sentence = f"We {negation} sign the agreement for $25,000 and 40 seats by {day.strftime(fmt)}; budget is approved."
    assert [s for s in extract_suggestions(sentence.replace(";", ""), SENT, QUESTIONS)] == []


@settings(max_examples=200)
@given(value=st.decimals(min_value=Decimal("100"), max_value=Decimal("99999999"), places=2),
       sign=st.sampled_from([("$", "USD"), ("€", "EUR"), ("£", "GBP")]), grouped=st.booleans())
def test_any_formatted_amount_round_trips(value: Decimal, sign: tuple[str, str], grouped: bool):
    shown = f"{value:,.2f}" if grouped else f"{value:.2f}"
    got = find_amounts(f"The contract total is {sign[0]}{shown}.")
    assert got == [(value, sign[1], f"{sign[0]}{shown}")]


@settings(max_examples=100)
@given(count=st.integers(min_value=1, max_value=50_000), unit=st.sampled_from(["seats", "licenses", "licences", "users"]))
def test_any_seat_count_round_trips(count: int, unit: str):
    got = fields(f"We want to order {count:,} {unit} for the rollout.")
    assert got["seats"] == count


def test_the_month_may_is_a_date_and_the_modal_may_a_hedge():
    assert fields("We will sign the agreement on 1 May 2026.")["close_date"] == "2026-05-01"
    assert "close_date" not in fields("We may sign the agreement on 1 June 2026.")
