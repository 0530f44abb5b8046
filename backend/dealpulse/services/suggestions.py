"""Suggested deal updates from the buyer's words (issue #18): which the sidebar offers for an open inbound email,
and accepting one, applied through the version-guarded deal update or exit-answer use case and audited as a
suggestion accepted."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from ..domain.access import Principal
from ..domain.alert_rules import Thresholds
from ..domain.buyer_statements import ExitQuestionRef, Suggestion, extract_suggestions, shown
from ..store.uow import UnitOfWork
from .access import load_visible
from .audit import record_changes
from .deal_qualification import answer_exit_questions
from .errors import InvalidField
from .opportunities import update_opportunity

APPLICABLE = ("close_date", "amount", "seats")
ACCEPTED_FIELD = "suggestion.accepted"


def _already_true(opportunity: dict[str, Any], suggestion: Suggestion) -> bool:
    """True when applying the suggestion would change nothing on the deal as shown."""
    if suggestion.field == "close_date":
        return opportunity.get("close_date") == suggestion.value
    if suggestion.field == "seats":
        return opportunity.get("seats") == suggestion.value
    if suggestion.field == "amount":
        return (Decimal(str(opportunity.get("amount") or 0)) == Decimal(str(suggestion.value))
                and opportunity.get("currency") == suggestion.currency)
    key = suggestion.field.removeprefix("exit.")
    return any(q["key"] == key and q["answer"] is True for q in opportunity.get("exit_questions", []))


def offered_suggestions(opportunity: dict[str, Any], text: str, sent: date, threshold: float) -> list[dict[str, Any]]:
    """The suggestions the sidebar offers for an inbound email on `opportunity` (a detail view): confident enough,
    applicable to the deal, and not already what the deal says."""
    questions = [ExitQuestionRef(q["key"], q["text"]) for q in opportunity.get("exit_questions", [])]
    out = []
    for suggestion in shown(extract_suggestions(text, sent, questions), threshold):
        if suggestion.field not in APPLICABLE and not suggestion.field.startswith("exit."):
            continue
        if _already_true(opportunity, suggestion):
            continue
        view = suggestion.as_dict()
        view["current"] = _current(opportunity, suggestion.field)
        out.append(view)
    return out


def _current(opportunity: dict[str, Any], field_name: str) -> Any:
    if field_name.startswith("exit."):
        key = field_name.removeprefix("exit.")
        return next((q["answer"] for q in opportunity.get("exit_questions", []) if q["key"] == key), None)
    return opportunity.get(field_name)


def _checked_change(field_name: str, value: Any, currency: str | None) -> dict[str, Any]:
    """The deal change an accepted suggestion makes; a field or value no suggestion can carry is a 422."""
    if field_name == "close_date":
        try:
            return {"close_date": date.fromisoformat(str(value))}
        except ValueError:
            raise InvalidField([{"field": "value", "message": "a close date is YYYY-MM-DD"}]) from None
    if field_name == "amount":
        try:
            amount = Decimal(str(value))
        except ArithmeticError:
            raise InvalidField([{"field": "value", "message": "an amount is a number"}]) from None
        if not amount.is_finite() or amount <= 0 or amount >= Decimal("1e12"):
            raise InvalidField([{"field": "value", "message": "an amount is a positive number below 10^12"}])
        return {"amount": amount, **({"currency": currency} if currency else {})}
    if field_name == "seats":
        if not str(value).isdigit() or not 1 <= int(str(value)) <= 10_000_000:
            raise InvalidField([{"field": "value", "message": "a seat count is a whole number from 1 to 10,000,000"}])
        return {"seats": int(str(value))}
    if field_name.startswith("exit.") and len(field_name) > 5:
        if value is not True:
            raise InvalidField([{"field": "value", "message": "an exit-answer suggestion is always true"}])
        return {"answers": {field_name.removeprefix("exit."): True}}
    raise InvalidField([{"field": "field", "message": "close_date, amount, seats or exit.<question key>"}])


def accept_suggestion(
    uow: UnitOfWork, principal: Principal, opportunity_id: int, expected_version: int, field_name: str, value: Any,
    evidence: str, *, currency: str | None = None, alert_defaults: Thresholds,
) -> dict[str, Any]:
    """Apply one suggested update (version-guarded, as the rep's own edit) and audit it as a suggestion accepted."""
    change = _checked_change(field_name, value, currency)
    if "answers" in change:
        data = answer_exit_questions(uow, principal, opportunity_id, expected_version, change["answers"],
                                     alert_defaults=alert_defaults)
    else:
        data = update_opportunity(uow, principal, opportunity_id, expected_version, change, alert_defaults=alert_defaults)
    opp = load_visible(uow.s, principal, opportunity_id)
    accepted = {"field": field_name, "value": str(value) if field_name != "close_date" else str(change["close_date"]),
                "evidence": evidence}
    if currency:
        accepted["currency"] = currency
    record_changes(uow.s, principal, "opportunity", opp.id, opp.org_id, {ACCEPTED_FIELD: (None, accepted)},
                   version=data["version"])
    uow.commit()
    return data
