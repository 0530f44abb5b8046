"""CSV import and export of accounts, contacts and opportunities: a bad row names its line and writes nothing.

Exported text cells that a spreadsheet would run as a formula (first character =, +, -, @, tab or CR; OWASP's CSV
injection list) get a leading apostrophe, as do cells that already start with one; import removes exactly that
one apostrophe again, so export -> import keeps every value as it was.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable

from sqlalchemy import select

from ..domain.access import Principal
from ..store import FORECAST_CATEGORIES, Account, AccountDomain, Contact, Opportunity, Stage, StageTransition, User, utcnow
from ..store.uow import UnitOfWork
from .audit import record_changes

COLUMNS = {
    "accounts": ["name", "domains", "industry"],
    "contacts": ["email", "name", "title", "account"],
    "opportunities": [
        "name", "account", "owner_email", "stage", "amount", "currency", "close_date", "next_step", "probability",
        "external_id", "created_at", "closed_at", "forecast_category",
    ],
}
REQUIRED = {"accounts": {"name"}, "contacts": {"email"}, "opportunities": {"name", "account", "owner_email", "stage"}}
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
NUMERIC_COLUMNS = {"amount", "probability"}  # written by us from numbers, never a formula
FREE_MAIL = {"gmail.com", "googlemail.com", "outlook.com", "hotmail.com", "yahoo.com", "icloud.com", "aol.com", "proton.me"}


class CsvImportError(ValueError):
    """The file has problems; `problems` lists (line, message); nothing was written."""

    def __init__(self, problems: list[tuple[int, str]]):
        super().__init__("; ".join(f"line {line}: {msg}" for line, msg in problems[:20]))
        self.problems = problems


@dataclass
class ImportSummary:
    """What an import did."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0


def neutralise_cell(value: str) -> str:
    """`value` as an exported CSV cell that no spreadsheet runs as a formula (readable: one apostrophe in front)."""
    return "'" + value if value.startswith(FORMULA_TRIGGERS + ("'",)) else value


def restore_cell(cell: str) -> str:
    """The value `neutralise_cell` exported (an apostrophe in front of a trigger or an apostrophe is removed)."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA_TRIGGERS + ("'",)) else cell


def _rows(text: str, kind: str) -> list[tuple[int, dict[str, str]]]:
    return read_rows(text, COLUMNS[kind], REQUIRED[kind])


def read_rows(text: str, columns: list[str], required: set[str]) -> list[tuple[int, dict[str, str]]]:
    """The rows of a CSV with a header naming only `columns` (all of `required`), as (line, values); CsvImportError
    names the lines of a bad header or a row with too many values."""
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None:
        raise CsvImportError([(1, "the file is empty: expected a header row")])
    header = [h.strip() for h in reader.fieldnames]
    unknown = [h for h in header if h not in columns]
    missing = [h for h in sorted(required) if h not in header]
    problems = [(1, f"unknown column {h!r} (expected {', '.join(columns)})") for h in unknown]
    problems += [(1, f"missing required column {h!r}") for h in missing]
    if problems:
        raise CsvImportError(problems)
    out = []
    for row in reader:
        line = reader.line_num
        if None in row:
            raise CsvImportError([(line, "more values than columns")])
        out.append((line, {k.strip(): restore_cell((v or "").strip()) for k, v in row.items()}))
    return out


def import_csv(uow: UnitOfWork, principal: Principal, kind: str, text: str) -> ImportSummary:
    """Validate every row of a CSV of `kind`, then write them all in one transaction (or nothing)."""
    if kind not in COLUMNS:
        raise ValueError(f"unknown kind {kind!r}: use accounts, contacts or opportunities")
    rows = _rows(text, kind)
    handler = {"accounts": _import_accounts, "contacts": _import_contacts, "opportunities": _import_opportunities}[kind]
    summary = handler(uow, principal, rows)
    uow.commit()
    return summary


def _import_accounts(uow: UnitOfWork, principal: Principal, rows: list[tuple[int, dict[str, str]]]) -> ImportSummary:
    s, org_id = uow.s, principal.org_id
    problems: list[tuple[int, str]] = []
    seen_domains: dict[str, str] = {}
    for line, row in rows:
        if not row["name"]:
            problems.append((line, "name is empty"))
        for domain in filter(None, (d.strip().lower() for d in row.get("domains", "").split(";"))):
            if domain in FREE_MAIL or "." not in domain or "@" in domain:
                problems.append((line, f"{domain!r} is not a company domain"))
            elif seen_domains.setdefault(domain, row["name"]) != row["name"]:
                problems.append((line, f"domain {domain!r} is given to two accounts"))
            else:
                owner = s.scalar(
                    select(Account.name).join(AccountDomain).where(AccountDomain.org_id == org_id, AccountDomain.domain == domain)
                )
                if owner is not None and owner != row["name"]:
                    problems.append((line, f"domain {domain!r} already belongs to account {owner!r}"))
    if problems:
        raise CsvImportError(problems)
    summary = ImportSummary()
    for _line, row in rows:
        account = s.scalar(select(Account).where(Account.org_id == org_id, Account.name == row["name"]))
        if account is None:
            account = Account(org_id=org_id, name=row["name"], industry=row.get("industry", ""))
            s.add(account)
            s.flush()
            summary.created += 1
        elif row.get("industry") and account.industry != row["industry"]:
            account.industry = row["industry"]
            summary.updated += 1
        else:
            summary.unchanged += 1
        known = {d.domain for d in account.domains}
        for domain in filter(None, (d.strip().lower() for d in row.get("domains", "").split(";"))):
            if domain not in known:
                s.add(AccountDomain(org_id=org_id, account_id=account.id, domain=domain))
                known.add(domain)
        s.flush()
    return summary


def _import_contacts(uow: UnitOfWork, principal: Principal, rows: list[tuple[int, dict[str, str]]]) -> ImportSummary:
    s, org_id = uow.s, principal.org_id
    problems = []
    accounts: dict[str, int] = {}
    for line, row in rows:
        email = row["email"].lower()
        if "@" not in email or email.startswith("@") or email.endswith("@") or " " in email:
            problems.append((line, f"{row['email']!r} is not an email address"))
        if row.get("account"):
            account_id = s.scalar(select(Account.id).where(Account.org_id == org_id, Account.name == row["account"]))
            if account_id is None:
                problems.append((line, f"unknown account {row['account']!r}"))
            else:
                accounts[row["account"]] = account_id
    if problems:
        raise CsvImportError(problems)
    summary = ImportSummary()
    for _line, row in rows:
        email = row["email"].lower()
        contact = s.scalar(select(Contact).where(Contact.org_id == org_id, Contact.email == email))
        values = {"name": row.get("name", ""), "title": row.get("title", ""), "account_id": accounts.get(row.get("account", ""))}
        if contact is None:
            s.add(Contact(org_id=org_id, email=email, **values))
            summary.created += 1
        elif any(getattr(contact, k) != v for k, v in values.items() if v):
            for k, v in values.items():
                if v:
                    setattr(contact, k, v)
            summary.updated += 1
        else:
            summary.unchanged += 1
        s.flush()
    return summary


def _parse_when(line: int, column: str, cell: str, problems: list) -> datetime | None:
    """An ISO date (midnight UTC) or an ISO timestamp (UTC if it names no zone); None for an empty cell."""
    if not cell:
        return None
    try:
        if "T" not in cell and " " not in cell:
            day = date.fromisoformat(cell)
            return datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
        at = datetime.fromisoformat(cell)
        return at.replace(tzinfo=timezone.utc) if at.tzinfo is None else at.astimezone(timezone.utc)
    except ValueError:
        problems.append((line, f"{column} {cell!r} is not an ISO date (YYYY-MM-DD)"))
        return None


def _parse_opportunity(s: Any, org_id: int, line: int, row: dict[str, str], problems: list) -> dict[str, Any] | None:
    values: dict[str, Any] = {"name": row["name"]}
    if not row["name"]:
        problems.append((line, "name is empty"))
    account_id = s.scalar(select(Account.id).where(Account.org_id == org_id, Account.name == row["account"]))
    if account_id is None:
        problems.append((line, f"unknown account {row['account']!r}"))
    values["account_id"] = account_id
    owner = s.scalar(select(User).where(User.org_id == org_id, User.email == row["owner_email"].lower()))
    if owner is None:
        problems.append((line, f"unknown owner {row['owner_email']!r}"))
    values["owner_id"] = owner.id if owner else None
    stage = s.scalar(select(Stage).where(Stage.org_id == org_id, Stage.key == row["stage"]))
    if stage is None:
        problems.append((line, f"unknown stage {row['stage']!r}"))
    values["stage"] = stage
    try:
        amount = Decimal(row.get("amount") or "0")
        if amount < 0 or not amount.is_finite() or amount >= Decimal("1e12"):
            raise InvalidOperation
        values["amount"] = amount.quantize(Decimal("0.01"))
    except InvalidOperation:
        problems.append((line, f"amount {row.get('amount')!r} is not a non-negative number"))
    currency = (row.get("currency") or "USD").upper()
    if len(currency) != 3 or not currency.isalpha():
        problems.append((line, f"currency {currency!r} is not a 3-letter code"))
    values["currency"] = currency
    try:
        values["close_date"] = date.fromisoformat(row["close_date"]) if row.get("close_date") else None
    except ValueError:
        problems.append((line, f"close_date {row['close_date']!r} is not YYYY-MM-DD"))
    values["next_step"] = row.get("next_step", "")[:500]
    if row.get("probability"):
        if not row["probability"].isdigit() or not 0 <= int(row["probability"]) <= 100:
            problems.append((line, f"probability {row['probability']!r} is not 0-100"))
        else:
            values["probability"] = int(row["probability"])
    if row.get("external_id"):
        if len(row["external_id"]) > 200:
            problems.append((line, "external_id is longer than 200 characters"))
        values["external_id"] = row["external_id"]
    if row.get("forecast_category"):
        if row["forecast_category"] not in FORECAST_CATEGORIES:
            problems.append((line, f"forecast_category {row['forecast_category']!r} is not one of {', '.join(FORECAST_CATEGORIES)}"))
        values["forecast_category"] = row["forecast_category"]
    created_at = _parse_when(line, "created_at", row.get("created_at", ""), problems)
    closed_at = _parse_when(line, "closed_at", row.get("closed_at", ""), problems)
    if created_at is not None:
        values["created_at"] = created_at
    if stage is not None and stage.is_closed and closed_at is None and not row.get("closed_at"):
        problems.append((line, f"closed_at is required: stage {stage.key!r} is closed"))
    elif stage is not None and not stage.is_closed and closed_at is not None:
        problems.append((line, f"closed_at is given but stage {stage.key!r} is open"))
    if created_at is not None and closed_at is not None and closed_at < created_at:
        problems.append((line, "closed_at is before created_at"))
    values["closed_at"] = closed_at
    return values


def _find_opportunity(s: Any, org_id: int, v: dict[str, Any]) -> Opportunity | None:
    """The deal a row updates: by external_id when given, else by account and name (never one with another id)."""
    if v.get("external_id"):
        opp = s.scalar(select(Opportunity).where(Opportunity.org_id == org_id, Opportunity.external_id == v["external_id"]))
        if opp is not None:
            return opp
    return s.scalar(
        select(Opportunity).where(
            Opportunity.org_id == org_id, Opportunity.account_id == v["account_id"], Opportunity.name == v["name"],
            Opportunity.external_id.is_(None),
        ).limit(1)
    )


def _first_open_stage(s: Any, org_id: int) -> Stage | None:
    return s.scalar(
        select(Stage).where(Stage.org_id == org_id, Stage.is_closed.is_(False)).order_by(Stage.position, Stage.id).limit(1)
    )


def _create_opportunity(s: Any, principal: Principal, org_id: int, stage: Stage, v: dict[str, Any], now: datetime) -> None:
    """A new deal with its creation transition (and, for a closed deal, the close transition at closed_at).

    A deal imported closed is taken to have started in the first open stage: the file says nothing about the
    stages in between.
    """
    created_at = v.pop("created_at", None) or now
    closed_at = v.pop("closed_at")
    probability = v.pop("probability", stage.probability)
    entered = closed_at if stage.is_closed else created_at
    opp = Opportunity(
        org_id=org_id, stage_id=stage.id, probability=probability, stage_entered_at=entered, created_at=created_at,
        closed_at=closed_at, updated_at=now, version=1, **v,
    )
    s.add(opp)
    s.flush()
    first = _first_open_stage(s, org_id) if stage.is_closed else stage
    if first is not None and first.id != stage.id:
        s.add(StageTransition(opportunity_id=opp.id, from_stage_id=None, to_stage_id=first.id, at=created_at))
        s.add(StageTransition(opportunity_id=opp.id, from_stage_id=first.id, to_stage_id=stage.id, at=entered))
    else:
        s.add(StageTransition(opportunity_id=opp.id, from_stage_id=None, to_stage_id=stage.id, at=entered))
    record_changes(s, principal, "opportunity", opp.id, org_id, {"imported": (None, v["name"])}, version=1, surface="import")


def _update_opportunity(s: Any, principal: Principal, opp: Opportunity, stage: Stage, v: dict[str, Any], now: datetime) -> bool:
    """Apply a re-imported row to its deal (audited, version bumped); False when nothing changed."""
    closed_at = v.pop("closed_at")
    changes = {k: (getattr(opp, k), val) for k, val in v.items() if getattr(opp, k) != val}
    if opp.closed_at != closed_at:
        changes["closed_at"] = (opp.closed_at, closed_at)
    if opp.stage_id != stage.id:
        changes["stage_id"] = (opp.stage_id, stage.id)
        entered = closed_at or now
        s.add(StageTransition(opportunity_id=opp.id, from_stage_id=opp.stage_id, to_stage_id=stage.id, at=entered))
        opp.stage_entered_at = entered
    if not changes:
        return False
    for k, (_old, new) in changes.items():
        setattr(opp, k, new)
    opp.version += 1
    opp.updated_at = now
    record_changes(s, principal, "opportunity", opp.id, opp.org_id, changes, version=opp.version, surface="import")
    return True


def _import_opportunities(uow: UnitOfWork, principal: Principal, rows: list[tuple[int, dict[str, str]]]) -> ImportSummary:
    s, org_id = uow.s, principal.org_id
    problems: list[tuple[int, str]] = []
    parsed = [(line, _parse_opportunity(s, org_id, line, row, problems)) for line, row in rows]
    first_line: dict[str, int] = {}
    for line, v in parsed:
        if v and v.get("external_id"):
            if v["external_id"] in first_line:
                problems.append((line, f"external_id {v['external_id']!r} is also on line {first_line[v['external_id']]}"))
            first_line.setdefault(v["external_id"], line)
    if problems:
        raise CsvImportError(sorted(problems))
    summary = ImportSummary()
    now = utcnow()
    for _line, v in parsed:
        stage: Stage = v.pop("stage")
        opp = _find_opportunity(s, org_id, v)
        if opp is None:
            _create_opportunity(s, principal, org_id, stage, v, now)
            summary.created += 1
        elif _update_opportunity(s, principal, opp, stage, v, now):
            summary.updated += 1
        else:
            summary.unchanged += 1
        s.flush()
    return summary


def export_csv(uow: UnitOfWork, org_id: int, kind: str) -> str:
    """All rows of `kind` in the organisation as CSV text with the import columns."""
    s = uow.s
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS[kind])
    rows: Iterable[list[Any]]
    if kind == "accounts":
        rows = (
            [a.name, ";".join(sorted(d.domain for d in a.domains)), a.industry]
            for a in s.scalars(select(Account).where(Account.org_id == org_id).order_by(Account.name))
        )
    elif kind == "contacts":
        rows = (
            [c.email, c.name, c.title, name or ""]
            for c, name in s.execute(
                select(Contact, Account.name).outerjoin(Account, Account.id == Contact.account_id)
                .where(Contact.org_id == org_id).order_by(Contact.email)
            )
        )
    elif kind == "opportunities":
        rows = (
            [o.name, a, u, st, str(o.amount), o.currency, o.close_date.isoformat() if o.close_date else "", o.next_step, o.probability,
             o.external_id or "", o.created_at.isoformat(), o.closed_at.isoformat() if o.closed_at else "", o.forecast_category]
            for o, a, u, st in s.execute(
                select(Opportunity, Account.name, User.email, Stage.key)
                .join(Account, Account.id == Opportunity.account_id).join(User, User.id == Opportunity.owner_id)
                .join(Stage, Stage.id == Opportunity.stage_id).where(Opportunity.org_id == org_id).order_by(Opportunity.id)
            )
        )
    else:
        raise ValueError(f"unknown kind {kind!r}")
    text_columns = [c not in NUMERIC_COLUMNS for c in COLUMNS[kind]]
    writer.writerows(
        [neutralise_cell(str(v)) if is_text and v is not None else v for v, is_text in zip(row, text_columns)]
        for row in rows
    )
    return buffer.getvalue()
