"""Creating organisations from a structured document (the demo, tests) or a bare default one; personal tokens.

Organisations, teams and users are made by the same functions the admin commands and API use
(`organisations.new_organisation`, `teams.new_team`, `people.new_user`), so every way in validates alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from ..store import (
    Account,
    AccountDomain,
    ApiToken,
    BuyingTeamMember,
    Contact,
    ExitAnswer,
    ExitQuestion,
    Opportunity,
    Organisation,
    Stage,
    StageTransition,
    User,
    utcnow,
)
from ..store.uow import UnitOfWork
from .organisations import new_organisation
from .people import new_user
from .teams import new_team
from .tokens import TOKEN_PREFIX, hash_token, new_personal_token

DEFAULT_ORG_NAME = "Default organisation"


def load_organisation(uow: UnitOfWork, doc: dict[str, Any], now: datetime | None = None) -> int:
    """Create the organisation described by `doc` (org.json schema); idempotent by organisation name."""
    now = now or utcnow()
    s = uow.s
    org_doc = doc["organisation"]
    existing = s.scalar(select(Organisation).where(Organisation.name == org_doc["name"]))
    if existing is not None:
        return existing.id
    org = new_organisation(s, org_doc["name"], org_doc.get("domains", []))
    teams = {}
    for t in doc.get("teams", []):
        teams[t["key"]] = (new_team(s, org.id, t["name"], t.get("gone_dark_after_days", 21)), t.get("manager"))
    users = {}
    for u in doc.get("users", []):
        team = teams[u["team"]][0] if u.get("team") else None
        user = new_user(s, org.id, u["email"], u["name"], u["role"], team.id if team else None, u.get("aliases", []))
        users[user.email] = user
    for team, manager_email in teams.values():
        if manager_email:
            team.manager_id = users[manager_email.lower()].id
    stages = {}
    for st in doc.get("stages", []):
        stage = Stage(
            org_id=org.id, key=st["key"], name=st["name"], position=st["order"], probability=st["probability"],
            is_closed=st["is_closed"], is_won=st["is_won"],
        )
        stage.questions = [
            ExitQuestion(key=q["key"], text=q["text"], position=i) for i, q in enumerate(st.get("exit_questions", []))
        ]
        s.add(stage)
        stages[st["key"]] = stage
    accounts = {}
    for a in doc.get("accounts", []):
        account = Account(org_id=org.id, name=a["name"], industry=a.get("industry", ""))
        s.add(account)
        s.flush()
        for domain in a.get("domains", []):
            s.add(AccountDomain(org_id=org.id, account_id=account.id, domain=domain.lower()))
        accounts[a["key"]] = account
    contacts = {}
    for c in doc.get("contacts", []):
        contact = Contact(
            org_id=org.id, account_id=accounts[c["account"]].id if c.get("account") else None,
            email=c["email"].lower(), name=c.get("name", ""), title=c.get("title", ""),
        )
        s.add(contact)
        contacts[c["email"].lower()] = contact
    s.flush()
    for o in doc.get("opportunities", []):
        stage = stages[o["stage"]]
        entered = now - timedelta(days=o.get("stage_entered_days_ago", 0))
        history = [(stages[h["stage"]], now - timedelta(days=h["entered_days_ago"])) for h in o.get("stage_history", [])]
        opp = Opportunity(
            org_id=org.id, account_id=accounts[o["account"]].id, owner_id=users[o["owner"].lower()].id,
            stage_id=stage.id, name=o["name"], amount=Decimal(str(o.get("amount", 0))), currency=o.get("currency", "USD"),
            close_date=(now + timedelta(days=o["close_in_days"])).date() if o.get("close_in_days") is not None else None,
            next_step=o.get("next_step", ""), probability=o.get("probability", stage.probability),
            stage_entered_at=entered, close_date_pushes=o.get("close_date_pushes", 0),
            closed_at=entered if stage.is_closed else None, forecast_category=o.get("forecast_category", "pipeline"),
            external_id=o.get("external_id"),
            created_at=min([entered - timedelta(days=o.get("age_before_stage_days", 20)), *(at for _, at in history)]),
            updated_at=entered, version=1,
        )
        s.add(opp)
        s.flush()
        previous = None
        for earlier, at in sorted(history, key=lambda h: h[1]):  # the stages it went through before (stalled needs them)
            s.add(StageTransition(opportunity_id=opp.id, from_stage_id=previous, to_stage_id=earlier.id, at=at))
            previous = earlier.id
        s.add(StageTransition(opportunity_id=opp.id, from_stage_id=previous, to_stage_id=stage.id, at=entered))
        # Answers to the current stage's questions and to those of the stages it went through (dated in that stage).
        stays = {st.id: at for st, at in history} | {stage.id: entered}
        questions = {q.key: (q, stays[st.id]) for st in stages.values() if st.id in stays for q in st.questions}
        questions |= {q.key: (q, entered) for q in stage.questions}
        for key, answer in (o.get("exit_answers") or {}).items():
            if key in questions:
                question, answered_at = questions[key]
                s.add(ExitAnswer(opportunity_id=opp.id, question_id=question.id, answer=answer, answered_at=answered_at))
        for member in o.get("buying_team", []):
            s.add(BuyingTeamMember(opportunity_id=opp.id, contact_id=contacts[member["contact"].lower()].id, role=member["role"]))
    uow.commit()
    return org.id


def ensure_default_organisation(uow: UnitOfWork) -> int:
    """The only organisation, creating a default one when there is none (CLI commands on a fresh database)."""
    ids = uow.s.scalars(select(Organisation.id).order_by(Organisation.id)).all()
    if len(ids) == 1:
        return ids[0]
    if len(ids) > 1:
        raise ValueError("several organisations exist: choose one with --org")
    org = Organisation(name=DEFAULT_ORG_NAME, domains=[])
    uow.s.add(org)
    uow.commit()
    return org.id


def resolve_organisation(uow: UnitOfWork, org: str | None) -> int:
    """An organisation id from `--org` (id or exact name), or the only/default one when not given."""
    if org is None:
        return ensure_default_organisation(uow)
    query = select(Organisation.id).where(Organisation.name == org)
    if org.isdigit():
        query = select(Organisation.id).where(Organisation.id == int(org))
    org_id = uow.s.scalar(query)
    if org_id is None:
        raise ValueError(f"no organisation {org!r}")
    return org_id


def create_personal_token(uow: UnitOfWork, email: str, label: str = "cli", expires_in_days: int | None = None) -> str:
    """Create a personal API token for the user with `email` (expiring after `expires_in_days` if given); returns
    the token (shown once)."""
    user = uow.s.scalar(select(User).where(User.email == email.lower()))
    if user is None:
        raise ValueError(f"no user with address {email}")
    if expires_in_days is not None and expires_in_days < 1:
        raise ValueError("--expires-in-days must be at least 1")
    token = new_personal_token()
    expires_at = utcnow() + timedelta(days=expires_in_days) if expires_in_days is not None else None
    uow.s.add(ApiToken(user_id=user.id, token_hash=hash_token(token), label=label, expires_at=expires_at))
    uow.commit()
    return token


@dataclass(frozen=True)
class TokenListing:
    """One personal API token as `dealpulse token list` shows it (never the token itself)."""

    id: int
    user: str
    label: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    status: str  # active | expired | revoked


def list_personal_tokens(uow: UnitOfWork, email: str | None = None) -> list[TokenListing]:
    """Every personal API token (of the user with `email` if given), oldest first, with its last use."""
    query = select(ApiToken, User.email).join(User, User.id == ApiToken.user_id).order_by(ApiToken.id)
    if email is not None:
        query = query.where(User.email == email.strip().lower())
    now = utcnow()
    return [
        TokenListing(t.id, address, t.label, t.created_at, t.last_used_at, t.expires_at,
                     "revoked" if t.revoked_at else "expired" if t.expires_at and t.expires_at <= now else "active")
        for t, address in uow.s.execute(query)
    ]


def revoke_personal_token(uow: UnitOfWork, which: str) -> tuple[int, bool]:
    """Revoke the token with id `which` (or the token `which` itself, e.g. a leaked one); returns (id, newly revoked)."""
    which = which.strip()
    if which.startswith(TOKEN_PREFIX):
        token = uow.s.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(which)))
    elif which.isdigit() and len(which) < 19:
        token = uow.s.get(ApiToken, int(which))
    else:
        raise ValueError(f"{which!r} is neither a token id (see `dealpulse token list`) nor a dp_ token")
    if token is None:
        raise ValueError(f"no personal API token {which[:12]!r}")
    if token.revoked_at is not None:
        return token.id, False
    token.revoked_at = utcnow()
    uow.commit()
    return token.id, True
