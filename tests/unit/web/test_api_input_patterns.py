"""The patterns the OpenAPI document gives amounts and buying-team addresses are exactly what the server takes
(issue #12 finding 11): a text the pattern matches is parsed, any other text is refused with a field error."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal

import pytest
from hypothesis import example, given, strategies as st
from pydantic import ValidationError

from dealpulse.mail.linking import normalize_address
from dealpulse.web.schemas import (
    AMOUNT_TEXT,
    EMAIL_ADDRESS,
    PLAN_DATE,
    BuyingTeamAdd,
    OpportunityCreate,
    OpportunityUpdate,
)


def parse_amount(value: object) -> Decimal | None:
    """The amount as the API parses a JSON body (strict), or None when it answers 422."""
    body = json.dumps({"name": "Deal", "account_id": 1, "stage": "proposal", "amount": value})
    try:
        return OpportunityCreate.model_validate_json(body, strict=True).amount
    except ValidationError as exc:
        assert [e["loc"] for e in exc.errors()] == [("amount",)]
        return None


# Texts Python's Decimal takes but the document does not: signs, exponents, spaces, separators, other digits.
DECIMALISH = st.text(alphabet="0123456789.,+-eE_ \t١٢٣", max_size=18)


@given(st.from_regex(AMOUNT_TEXT, fullmatch=True))
def test_every_amount_text_the_pattern_allows_is_parsed_to_that_number(text):
    assert parse_amount(text) == Decimal(text)


@given(st.one_of(DECIMALISH, st.text(max_size=20)))
@example("1e2")
@example(" 1.5")
@example("1_000")
@example("+1")
@example(".5")
@example("1.")
@example("١٢")
@example("1.500")
@example("0000000000001")
@example("-0")
@example("NaN")
@example("")
def test_an_amount_text_is_accepted_exactly_when_the_pattern_matches(text):
    accepted = parse_amount(text) is not None
    assert accepted == bool(re.fullmatch(AMOUNT_TEXT, text)), text


@pytest.mark.parametrize("number, parsed", [(0, Decimal("0")), (1250.5, Decimal("1250.5")), (0.07, Decimal("0.07")),
                                            (999999999999.99, Decimal("999999999999.99")), (1.005, None), (-1, None)])
def test_json_numbers_are_parsed_by_their_decimal_digits(number, parsed):
    assert parse_amount(number) == parsed


def test_a_change_takes_the_same_amount_texts():
    assert OpportunityUpdate.model_validate_json('{"amount": "10.5"}', strict=True).amount == Decimal("10.5")
    with pytest.raises(ValidationError):
        OpportunityUpdate.model_validate_json('{"amount": "1e3"}', strict=True)


def parse_member_address(text: str) -> str | None:
    """The address the buying-team endpoint would store, or None when it answers 422 (schema or service)."""
    try:
        body = BuyingTeamAdd.model_validate_json(json.dumps({"email": text, "role": "champion"}), strict=True)
    except ValidationError:
        return None
    return normalize_address(body.email) or None


@given(st.from_regex(EMAIL_ADDRESS, fullmatch=True).filter(lambda t: 3 <= len(t) <= 320))
def test_every_address_the_pattern_allows_is_one_the_server_normalises(text):
    address = text[text.rfind("<") + 1:-1] if text.endswith(">") else text
    assert parse_member_address(text) == address.lower()


@given(st.one_of(st.text(max_size=40), st.text(alphabet="ab.@<> \"':/\\\x00", max_size=12)))
@example("Ann <ann@acme.example>")
@example("Ann O'Neil <ann@acme.example>")
@example("Ann <ann@acme..example>")
@example("<ann@acme.example")
@example("mailto:ann@acme.example")
@example("ann@acme..example")
@example("ann@.acme.example")
@example("a b@acme.example")
@example("@acme.example")
@example("ann@")
def test_an_address_is_accepted_exactly_when_the_pattern_matches(text):
    matches = bool(re.fullmatch(EMAIL_ADDRESS, text)) and 3 <= len(text) <= 320
    assert (parse_member_address(text) is not None) == matches, text


def parse_close_date(text: str) -> dt.date | None:
    """The close date a change would set, or None when the API answers 422."""
    try:
        return OpportunityUpdate.model_validate_json(json.dumps({"close_date": text}), strict=True).close_date
    except ValidationError:
        return None


@given(st.one_of(st.dates().map(dt.date.isoformat), st.text(alphabet="0123456789-T: ", max_size=12)))
@example("2100-12-31")
@example("2000-01-01")
@example("1999-12-31")
@example("2101-01-01")
@example("2026-02-30")
def test_a_close_date_is_accepted_exactly_when_it_matches_the_documented_pattern_and_is_a_real_date(text):
    try:
        real = dt.date.fromisoformat(text) if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text) else None
    except ValueError:
        real = None
    documented = bool(re.search(PLAN_DATE, text)) and real is not None  # pattern plus `format: date`
    assert (parse_close_date(text) is not None) == documented, text
