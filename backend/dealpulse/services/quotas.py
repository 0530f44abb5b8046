"""Quota import: `owner_email,period,amount,currency` rows; a bad row names its line and nothing is written."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import func, select

from ..domain.access import Principal, can_administer
from ..domain.periods import parse_period
from ..store import Quota, User, utcnow
from ..store.uow import UnitOfWork
from .audit import record_changes
from .csv_io import CsvImportError, ImportSummary, read_rows
from .errors import PermissionDenied

QUOTA_COLUMNS = ["owner_email", "period", "amount", "currency"]
MAX_AMOUNT = Decimal("999999999999.99")


def _parse_quota(uow: UnitOfWork, org_id: int, line: int, row: dict[str, str], problems: list) -> dict[str, Any]:
    values: dict[str, Any] = {}
    owner_id = uow.s.scalar(select(User.id).where(User.org_id == org_id, func.lower(User.email) == row["owner_email"].lower()))
    if owner_id is None:
        problems.append((line, f"unknown owner {row['owner_email']!r}"))
    values["user_id"] = owner_id
    try:
        values["period"] = parse_period(row["period"]).key
    except ValueError as exc:
        problems.append((line, str(exc)))
    try:
        amount = Decimal(row["amount"])
        if not amount.is_finite() or amount < 0 or amount > MAX_AMOUNT:
            raise InvalidOperation
        values["amount"] = amount.quantize(Decimal("0.01"))
    except InvalidOperation:
        problems.append((line, f"amount {row['amount']!r} is not a non-negative number"))
    currency = row["currency"].upper()
    if len(currency) != 3 or not currency.isalpha():
        problems.append((line, f"currency {row['currency']!r} is not a 3-letter code"))
    values["currency"] = currency
    return values


def import_quotas(uow: UnitOfWork, principal: Principal, text: str) -> ImportSummary:
    """Validate every quota row, then create or replace them all in one transaction (or write nothing)."""
    if not can_administer(principal):
        raise PermissionDenied("only an admin imports quotas")
    rows = read_rows(text, QUOTA_COLUMNS, set(QUOTA_COLUMNS))
    problems: list[tuple[int, str]] = []
    parsed = [(line, _parse_quota(uow, principal.org_id, line, row, problems)) for line, row in rows]
    seen: dict[tuple[Any, ...], int] = {}
    for line, v in parsed:
        key = (v.get("user_id"), v.get("period"), v.get("currency"))
        if None not in key and key in seen:
            problems.append((line, f"the same owner, period and currency are on line {seen[key]}"))
        seen.setdefault(key, line)
    if problems:
        raise CsvImportError(sorted(problems))
    summary = ImportSummary()
    for _line, v in parsed:
        quota = uow.s.scalar(
            select(Quota).where(Quota.user_id == v["user_id"], Quota.period == v["period"], Quota.currency == v["currency"])
        )
        if quota is None:
            quota = Quota(org_id=principal.org_id, **v)
            uow.s.add(quota)
            uow.s.flush()
            record_changes(uow.s, principal, "quota", quota.id, principal.org_id, {"amount": (None, str(v["amount"]))}, surface="import")
            summary.created += 1
        elif quota.amount != v["amount"]:
            record_changes(uow.s, principal, "quota", quota.id, principal.org_id,
                           {"amount": (str(quota.amount), str(v["amount"]))}, surface="import")
            quota.amount, quota.updated_at = v["amount"], utcnow()
            summary.updated += 1
        else:
            summary.unchanged += 1
    uow.commit()
    return summary
