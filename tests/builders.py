"""Builders of test data: a small but complete organisation, plus a second one that must stay invisible."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from dealpulse.services.org_setup import create_personal_token, load_organisation
from dealpulse.store.base import utcnow

STAGES = [
    {"key": "qualification", "name": "Qualification", "order": 1, "probability": 20, "is_closed": False, "is_won": False,
     "exit_questions": [{"key": "clear_use_case", "text": "A clear use case?"},
                        {"key": "meets_technical_requirements", "text": "Meets the technical requirements?"},
                        {"key": "within_budget", "text": "Within budget?"}]},
    {"key": "demo", "name": "Demo", "order": 2, "probability": 40, "is_closed": False, "is_won": False,
     "exit_questions": [{"key": "champion_saw_demo", "text": "Has our champion seen the demo?"},
                        {"key": "success_criteria_agreed", "text": "Are success criteria agreed?"}]},
    {"key": "proposal", "name": "Proposal", "order": 3, "probability": 60, "is_closed": False, "is_won": False,
     "exit_questions": [{"key": "proposal_with_economic_buyer", "text": "Has the economic buyer received the proposal?"},
                        {"key": "mutual_plan_agreed", "text": "Is a mutual action plan agreed?"}]},
    {"key": "negotiation", "name": "Negotiation", "order": 4, "probability": 80, "is_closed": False, "is_won": False,
     "exit_questions": [{"key": "legal_review_started", "text": "Has legal review started?"},
                        {"key": "signatory_known", "text": "Do we know who signs?"}]},
    {"key": "closed_won", "name": "Closed won", "order": 5, "probability": 100, "is_closed": True, "is_won": True, "exit_questions": []},
    {"key": "closed_lost", "name": "Closed lost", "order": 6, "probability": 0, "is_closed": True, "is_won": False, "exit_questions": []},
]


def org_document(prefix: str, domain: str) -> dict[str, Any]:
    """An org.json-shaped document: two teams, two managers, three reps, an admin, three accounts, five deals."""
    def u(local: str) -> str:
        return f"{local}@{domain}"

    return {
        "organisation": {"name": f"{prefix} Org", "domains": [domain]},
        "teams": [
            {"key": "a", "name": f"{prefix} Team A", "manager": u("manager.a"), "gone_dark_after_days": 21},
            {"key": "b", "name": f"{prefix} Team B", "manager": u("manager.b"), "gone_dark_after_days": 14},
        ],
        "users": [
            {"email": u("manager.a"), "name": f"{prefix} Manager A", "role": "manager", "team": "a", "aliases": []},
            {"email": u("manager.b"), "name": f"{prefix} Manager B", "role": "manager", "team": "b", "aliases": []},
            {"email": u("rep.a1"), "name": f"{prefix} Rep A1", "role": "rep", "team": "a", "aliases": [u("a1")]},
            {"email": u("rep.a2"), "name": f"{prefix} Rep A2", "role": "rep", "team": "a", "aliases": []},
            {"email": u("rep.b1"), "name": f"{prefix} Rep B1", "role": "rep", "team": "b", "aliases": []},
            {"email": u("admin"), "name": f"{prefix} Admin", "role": "admin", "team": None, "aliases": []},
        ],
        "stages": STAGES,
        "accounts": [
            {"key": "acme", "name": f"{prefix} Acme", "domains": [f"acme.{prefix.lower()}.example"], "industry": "Logistics"},
            {"key": "globex", "name": f"{prefix} Globex", "domains": [f"globex.{prefix.lower()}.example"], "industry": "Retail"},
            {"key": "initech", "name": f"{prefix} Initech", "domains": [f"initech.{prefix.lower()}.example"], "industry": "Finance"},
        ],
        "contacts": [
            {"email": f"buyer@acme.{prefix.lower()}.example", "name": "Ann Buyer", "title": "CFO", "account": "acme"},
            {"email": f"tech@acme.{prefix.lower()}.example", "name": "Tim Tech", "title": "IT lead", "account": "acme"},
            {"email": f"cio@globex.{prefix.lower()}.example", "name": "Gina CIO", "title": "CIO", "account": "globex"},
            {"email": f"vp@initech.{prefix.lower()}.example", "name": "Vic VP", "title": "VP Ops", "account": "initech"},
        ],
        "opportunities": [
            {"key": "a1_acme", "name": f"{prefix} Acme platform", "account": "acme", "owner": u("rep.a1"), "stage": "qualification",
             "amount": 50000, "currency": "USD", "close_in_days": 30, "stage_entered_days_ago": 5, "next_step": "Discovery call",
             "exit_answers": {"clear_use_case": True}, "buying_team": [{"contact": f"buyer@acme.{prefix.lower()}.example", "role": "economic_buyer"}]},
            {"key": "a1_globex", "name": f"{prefix} Globex expansion", "account": "globex", "owner": u("rep.a1"), "stage": "proposal",
             "amount": 120000, "currency": "EUR", "close_in_days": 45, "stage_entered_days_ago": 12, "next_step": "Send proposal"},
            {"key": "a2_initech", "name": f"{prefix} Initech pilot", "account": "initech", "owner": u("rep.a2"), "stage": "demo",
             "amount": 20000, "currency": "USD", "close_in_days": 20, "stage_entered_days_ago": 3, "next_step": "Demo"},
            {"key": "b1_acme", "name": f"{prefix} Acme analytics", "account": "acme", "owner": u("rep.b1"), "stage": "negotiation",
             "amount": 80000, "currency": "GBP", "close_in_days": 10, "stage_entered_days_ago": 20, "next_step": "Legal"},
            {"key": "b1_won", "name": f"{prefix} Globex renewal", "account": "globex", "owner": u("rep.b1"), "stage": "closed_won",
             "amount": 15000, "currency": "USD", "close_in_days": -10, "stage_entered_days_ago": 10, "next_step": ""},
        ],
    }


@dataclass
class World:
    """Ids and tokens of the built organisations."""

    org_id: int
    other_org_id: int
    users: dict[str, int] = field(default_factory=dict)  # "rep.a1" -> id ("other.rep.a1" for the other org)
    tokens: dict[str, str] = field(default_factory=dict)  # same keys -> personal token
    opportunities: dict[str, int] = field(default_factory=dict)  # "a1_acme" -> id ("other.a1_acme")
    contacts: dict[str, int] = field(default_factory=dict)
    accounts: dict[str, int] = field(default_factory=dict)

    def auth(self, who: str) -> dict[str, str]:
        """Authorization header for the user `who`."""
        return {"Authorization": f"Bearer {self.tokens[who]}"}


def build_world(db: Any) -> World:
    """Create the test organisation and a second one, with a personal token for every user."""
    from sqlalchemy import select

    from dealpulse.store import Account, Contact, Opportunity, User

    now = utcnow() - timedelta(minutes=1)
    ids = {}
    for prefix, domain, key in (("Test", "seller.example", ""), ("Other", "other-seller.example", "other.")):
        with db.uow() as uow:
            org_id = load_organisation(uow, org_document(prefix, domain), now=now)
        ids[key] = (org_id, domain, prefix)
    world = World(org_id=ids[""][0], other_org_id=ids["other."][0])
    with db.uow() as uow:
        for key, (org_id, domain, prefix) in ids.items():
            for user in uow.s.scalars(select(User).where(User.org_id == org_id)):
                local = user.email.split("@")[0]
                world.users[key + local] = user.id
                world.tokens[key + local] = create_personal_token(uow, user.email)
            for opp in uow.s.scalars(select(Opportunity).where(Opportunity.org_id == org_id)):
                short = {f"{prefix} Acme platform": "a1_acme", f"{prefix} Globex expansion": "a1_globex",
                         f"{prefix} Initech pilot": "a2_initech", f"{prefix} Acme analytics": "b1_acme",
                         f"{prefix} Globex renewal": "b1_won"}[opp.name]
                world.opportunities[key + short] = opp.id
            for contact in uow.s.scalars(select(Contact).where(Contact.org_id == org_id)):
                world.contacts[key + contact.email] = contact.id
            for account in uow.s.scalars(select(Account).where(Account.org_id == org_id)):
                world.accounts[key + account.name.split()[-1].lower()] = account.id
    return world
