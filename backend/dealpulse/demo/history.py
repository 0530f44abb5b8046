"""Two years of closed deals for the demo organisation, generated deterministically (a fixed random seed).

Each closed deal has an account with its buyers, a stage history, exit answers and buying-team roles with the
moments they were given, close-date pushes and forecast calls (audited, so the past pipeline can be rebuilt), and
its emails and meetings. Deals are won or lost for believable reasons: won deals found their economic buyer and a
champion, kept the buyer writing and meeting; lost ones went quiet, lost to a competitor, or lost their budget.
Quotas are set per rep and quarter. Everything is written once (skipped when the history is already there).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select

from ..domain.periods import period_of
from ..services.audit import record_changes
from ..store import (
    Account,
    AccountDomain,
    Activity,
    ActivityContact,
    BuyingTeamMember,
    Contact,
    ExitAnswer,
    ExitQuestion,
    Opportunity,
    Quota,
    Stage,
    StageTransition,
    User,
)
from ..store.uow import UnitOfWork

SEED = 20270101
HISTORY_MARK = "demo-history:"
HISTORY_DAYS = 730
PREFIXES = ("Blue", "North", "Silver", "Harbor", "Granite", "Cedar", "Summit", "Orchid", "Pioneer", "Atlas", "Beacon",
            "Crescent", "Delta", "Evergreen", "Falcon", "Juniper", "Keystone", "Lakeside", "Maple", "Nimbus")
SUFFIXES = ("Freight", "Health", "Foods", "Energy", "Retail", "Mobility", "Insurance", "Logistics", "Pharma",
            "Telecom", "Utilities", "Media")
BUYERS = (("CFO", "economic_buyer"), ("Head of Analytics", "champion"), ("IT Architect", "technical_evaluator"),
          ("Procurement Manager", "procurement"))
FIRST = ("Alex", "Maria", "Chen", "Fatima", "Luca", "Sofia", "Ravi", "Emma", "Noah", "Aisha", "Jonas", "Mei")
LAST = ("Schmidt", "Okoro", "Nguyen", "Larsen", "Costa", "Patel", "Moreau", "Kowalski", "Tanaka", "Reyes")
OPEN_STAGES = ("prospecting", "qualification", "demo", "proposal", "negotiation")

POSITIVE = ("Thanks, this is exactly what we needed. Happy to move ahead with the next step.",
            "Great session yesterday, the team was impressed. Let's schedule the follow-up.",
            "We reviewed the proposal internally and the feedback is very positive.",
            "Our CFO signed off on the budget, please send the order form.")
NEUTRAL = ("Thanks for the material, we will review it and come back to you next week.",
           "Can you send the security questionnaire answers before Friday?",
           "Noted. I will loop in our architect for the technical questions.")
NEGATIVE = {
    "competitor": "We have decided to go with another vendor whose pricing fits us better. Thank you for your time.",
    "budget": "Unfortunately our budget for this project has been frozen until further notice, so we have to stop here.",
    "no_decision": "Sorry for the silence, priorities shifted and nobody here owns this decision any more.",
}
CONCERNS = ("I am worried the timeline you propose is not realistic for us.",
            "Frankly the price is well above what we expected and I am not sure we can justify it.",
            "We are disappointed that the integration issue is still not solved.")


@dataclass
class Generated:
    """What the generator wrote."""

    deals: int = 0
    won: int = 0
    lost: int = 0
    activities: int = 0
    quotas: int = 0


def has_history(uow: UnitOfWork, org_id: int) -> bool:
    """True when the demo history was already written for the organisation."""
    return bool(uow.s.scalar(select(func.count()).select_from(Activity).where(
        Activity.org_id == org_id, Activity.dedupe_key.like(f"{HISTORY_MARK}%"))))


def generate_history(uow: UnitOfWork, org_id: int, now: datetime, *, deals: int = 180, days: int = HISTORY_DAYS,
                     seed: int = SEED) -> Generated:
    """Write `deals` closed deals spread over the last `days` days and quarterly quotas; commits. Idempotent."""
    out = Generated()
    if has_history(uow, org_id):
        return out
    rng = random.Random(seed)
    s = uow.s
    stages = {st.key: st for st in s.scalars(select(Stage).where(Stage.org_id == org_id))}
    questions = {st.id: list(s.scalars(select(ExitQuestion).where(ExitQuestion.stage_id == st.id).order_by(ExitQuestion.position)))
                 for st in stages.values()}
    reps = list(s.scalars(select(User).where(User.org_id == org_id, User.role == "rep").order_by(User.id)))
    accounts = _accounts(uow, org_id, rng)
    activities: list[dict[str, Any]] = []
    participants: list[tuple[int, int, str]] = []  # (activity index, contact id, role)
    for n in range(deals):
        account, contacts = accounts[n % len(accounts)]
        rep = reps[rng.randrange(len(reps))]
        created = now - timedelta(days=rng.uniform(75, days), hours=rng.uniform(0, 8))
        quality = rng.random()
        won = quality + rng.gauss(0, 0.18) > 0.55
        reason = None if won else rng.choice(("competitor", "budget", "no_decision", "no_decision"))
        # How far a deal gets: won deals go through every stage; lost ones stop earlier the weaker they were.
        last = len(OPEN_STAGES) - 1 if won else min(len(OPEN_STAGES) - 1, int(quality * 5.5 + rng.random()))
        path, at = [], created
        for key in OPEN_STAGES[: last + 1]:
            path.append((stages[key], at))
            at = at + timedelta(days=rng.uniform(6, 22) * (1.0 if won else 1.3))
        closed_at = min(at, now - timedelta(days=2))
        amount = Decimal(str(round(rng.lognormvariate(10.6, 0.55), -2)))
        final = stages["closed_won" if won else "closed_lost"]
        first_close = (created + timedelta(days=rng.uniform(50, 90))).date()
        opp = Opportunity(
            org_id=org_id, account_id=account.id, owner_id=rep.id, stage_id=final.id,
            name=f"{account.name} - {rng.choice(('analytics platform', 'forecasting pilot', 'data hub', 'expansion'))} {n + 1}",
            amount=amount, currency="USD", close_date=closed_at.date(), probability=final.probability,
            stage_entered_at=closed_at, created_at=created, updated_at=closed_at, closed_at=closed_at,
            next_step="" if won else {"competitor": "Lost to a competitor on price", "budget": "Lost: budget frozen",
                                      "no_decision": "Lost: no decision, buyer went quiet"}[reason],
            forecast_category="commit" if won or last >= 4 else "pipeline", version=1,
        )
        s.add(opp)
        s.flush()
        out.deals += 1
        out.won, out.lost = out.won + won, out.lost + (not won)
        previous = None
        for stage, entered in path + [(final, closed_at)]:
            s.add(StageTransition(opportunity_id=opp.id, from_stage_id=previous, to_stage_id=stage.id, at=entered))
            previous = stage.id
        _answers_and_roles(uow, rng, opp, path, closed_at, questions, contacts, won)
        _audited_calls(uow, rng, opp, path, closed_at, first_close, won, org_id)
        _activities(rng, opp, rep, contacts, path, closed_at, won, reason, activities, participants)
    ids = list(s.scalars(insert(Activity).returning(Activity.id), activities)) if activities else []
    if participants:
        s.execute(insert(ActivityContact), [{"activity_id": ids[i], "contact_id": c, "role": r} for i, c, r in participants])
    out.activities = len(ids)
    out.quotas = _quotas(uow, org_id, reps, now, rng)
    uow.commit()
    return out


def _accounts(uow: UnitOfWork, org_id: int, rng: random.Random) -> list[tuple[Account, list[tuple[Contact, str]]]]:
    out = []
    for i in range(30):
        name = f"{PREFIXES[i % len(PREFIXES)]} {SUFFIXES[(i * 7) % len(SUFFIXES)]}"
        slug = name.lower().replace(" ", "-")
        account = Account(org_id=org_id, name=name, industry=SUFFIXES[(i * 7) % len(SUFFIXES)])
        uow.s.add(account)
        uow.s.flush()
        uow.s.add(AccountDomain(org_id=org_id, account_id=account.id, domain=f"{slug}.example"))
        contacts = []
        for title, role in BUYERS:
            first, last = rng.choice(FIRST), rng.choice(LAST)
            contact = Contact(org_id=org_id, account_id=account.id, email=f"{first}.{last}.{role}@{slug}.example".lower(),
                              name=f"{first} {last}", title=title)
            uow.s.add(contact)
            contacts.append((contact, role))
        uow.s.flush()
        out.append((account, contacts))
    return out


def _answers_and_roles(uow: UnitOfWork, rng: random.Random, opp: Opportunity, path: list, closed_at: datetime,
                       questions: dict, contacts: list, won: bool) -> None:
    """Won deals answer most exit questions and fill the economic buyer and champion roles early; lost ones seldom."""
    for i, (stage, entered) in enumerate(path):
        leaves = path[i + 1][1] if i + 1 < len(path) else closed_at
        for q in questions[stage.id]:
            if rng.random() < (0.85 if won else 0.4):
                uow.s.add(ExitAnswer(opportunity_id=opp.id, question_id=q.id, answer=True,
                                     answered_at=entered + (leaves - entered) * rng.uniform(0.2, 0.9)))
    chance = {"economic_buyer": (0.85, 0.3), "champion": (0.9, 0.5), "technical_evaluator": (0.7, 0.6), "procurement": (0.6, 0.2)}
    for contact, role in contacts:
        if rng.random() < chance[role][0 if won else 1]:
            since = path[0][1] + (closed_at - path[0][1]) * rng.uniform(0.1, 0.6)
            uow.s.add(BuyingTeamMember(opportunity_id=opp.id, contact_id=contact.id, role=role, added_at=since))


def _audited_calls(uow: UnitOfWork, rng: random.Random, opp: Opportunity, path: list, closed_at: datetime,
                   first_close: Any, won: bool, org_id: int) -> None:
    """Close-date pushes and forecast calls as audit entries at the moments they happened."""
    close = first_close
    pushes = rng.choice((0, 0, 1)) if won else rng.choice((0, 1, 2, 3))
    for k in range(pushes):
        when = path[0][1] + (closed_at - path[0][1]) * ((k + 1) / (pushes + 1))
        later = close + timedelta(days=rng.randint(14, 45))
        _audit(uow, org_id, opp.id, when, {"close_date": (close, later)})
        close = later
    _audit(uow, org_id, opp.id, closed_at, {"close_date": (close, closed_at.date())})
    category = "pipeline"
    for stage, entered in path:
        new = "commit" if stage.key == "negotiation" and (won or rng.random() < 0.5) else (
            "best_case" if stage.key == "proposal" else category)
        if new != category:
            _audit(uow, org_id, opp.id, entered, {"forecast_category": (category, new)})
            category = new
    opp.close_date_pushes = pushes


def _audit(uow: UnitOfWork, org_id: int, opp_id: int, when: datetime, changes: dict) -> None:
    record_changes(uow.s, None, "opportunity", opp_id, org_id, changes, surface="import", changed_at=when)


def _activities(rng: random.Random, opp: Opportunity, rep: User, contacts: list, path: list, closed_at: datetime,
                won: bool, reason: str | None, out: list, participants: list) -> None:
    """Emails and meetings through the deal's life; lost deals' buyers write less and go quiet before the end."""
    start = path[0][1]
    length = (closed_at - start).total_seconds()
    quiet_from = 1.0 if won else rng.uniform(0.5, 0.85)
    buyers = [c for c, role in contacts if role in ("champion", "economic_buyer", "technical_evaluator")]
    t, n = 0.0, 0
    while True:
        t += rng.uniform(0.06, 0.16)
        if t >= 1.0:
            break
        moment = start + timedelta(seconds=length * t)
        n += 1
        buyer = rng.choice(buyers)
        thread = f"{HISTORY_MARK}{opp.id}.{n}@northwind.example"
        out.append(_activity(opp, "email", "outbound", thread, moment, rep.email, buyer,
                             "Following up on our conversation", "Hi, following up on where we stand and the next step."))
        if t < quiet_from and rng.random() < (0.8 if won else 0.55):
            reply_at = moment + timedelta(hours=rng.uniform(2, 40))
            text = rng.choice(POSITIVE) if won and rng.random() < 0.6 else rng.choice(NEUTRAL)
            if not won and rng.random() < 0.3:
                text = rng.choice(CONCERNS)
            participants.append((len(out), buyer.id, "from"))
            out.append(_activity(opp, "email", "inbound", thread, reply_at, buyer.email, buyer, "Re: Following up", text))
        if rng.random() < (0.35 if won else 0.2) and t < quiet_from:
            meeting = moment + timedelta(days=2)
            idx = len(out)
            out.append(_activity(opp, "meeting", "inbound", f"{HISTORY_MARK}{opp.id}.m{n}", meeting, rep.email, buyer,
                                 "Working session", "", ends=meeting + timedelta(hours=1)))
            for c in rng.sample(buyers, k=min(len(buyers), 2 if won else 1)):
                participants.append((idx, c.id, "attendee"))
    if reason is not None and reason != "no_decision":
        buyer = buyers[0]
        moment = closed_at - timedelta(hours=6)
        participants.append((len(out), buyer.id, "from"))
        out.append(_activity(opp, "email", "inbound", f"{HISTORY_MARK}{opp.id}.end@northwind.example", moment,
                             buyer.email, buyer, "Our decision", NEGATIVE[reason]))


def _activity(opp: Opportunity, kind: str, direction: str, key: str, at: datetime, sender: str, buyer: Contact,
              subject: str, text: str, ends: datetime | None = None) -> dict[str, Any]:
    dedupe = f"{key}:{direction}:{at.timestamp():.0f}"
    return {"org_id": opp.org_id, "kind": kind, "direction": direction, "dedupe_key": dedupe,
            "message_id": dedupe if kind == "email" else None, "thread_key": key, "subject": subject,
            "occurred_at": at, "ends_at": ends, "sender_email": sender,
            "participants": [{"email": buyer.email, "name": buyer.name, "role": "to" if kind == "email" else "attendee"}],
            "new_text": text, "quoted_text": "", "signature_text": "", "body_html": "", "attachments": [],
            "is_private": False, "opportunity_id": opp.id, "account_id": opp.account_id, "link_method": "contact",
            "needs_link_choice": False, "link_candidates": [], "contact_exclusion": "", "created_at": at, "updated_at": at}


def _quotas(uow: UnitOfWork, org_id: int, reps: list[User], now: datetime, rng: random.Random) -> int:
    """A quota per rep for each of the last eight quarters and the current one."""
    count, day = 0, now.date()
    periods = []
    for _ in range(9):
        p = period_of(day)
        periods.append(p)
        day = p.start - timedelta(days=1)
    for rep in reps:
        base = rng.choice((250_000, 300_000, 350_000))
        for p in periods:
            uow.s.add(Quota(org_id=org_id, user_id=rep.id, period=p.key, amount=Decimal(base), currency="USD",
                            created_at=now, updated_at=now))
            count += 1
    return count
