"""Alert fixtures: captured emails and meetings written row by row, as capture and scoring leave them."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from dealpulse.store import Activity, ActivityContact, ActivitySource, Alert, Mailbox, SentimentScore, utcnow

_seq = itertools.count(1)


@dataclass
class Deals:
    """Writes activities on the world's deals and reads their alerts."""

    db: Any
    world: Any

    def mailbox(self, owner: str) -> int:
        """The Gmail mailbox of `owner` (created on first use)."""
        with self.db.uow() as uow:
            user_id = self.world.users[owner]
            box = uow.s.scalar(select(Mailbox).where(Mailbox.user_id == user_id))
            if box is None:
                box = Mailbox(org_id=self.world.org_id, user_id=user_id, provider="gmail", address=f"{owner}@seller.example")
                uow.s.add(box)
                uow.commit()
            return box.id

    def activity(
        self, deal: str, *, direction: str = "inbound", kind: str = "email", days_ago: float = 1.0,
        score: float | None = None, label: str | None = None, confidence: float = 0.9, text: str = "Thanks for the update.",
        highlights: list[dict[str, Any]] | None = None, private: bool = False, contacts: tuple[str, ...] = ("buyer@acme.test.example",),
        owner: str = "rep.a1", at: datetime | None = None,
    ) -> int:
        """Store one email or meeting on `deal` (with a current tone score when given); returns its id."""
        n = next(_seq)
        box = self.mailbox(owner)
        with self.db.uow() as uow:
            activity = Activity(
                org_id=self.world.org_id, kind=kind, direction=direction, dedupe_key=f"mid:t{n}@x", message_id=f"t{n}@x",
                thread_key=f"t{n}@x", subject=f"Subject {n}", occurred_at=at or utcnow() - timedelta(days=days_ago),
                sender_email=contacts[0] if direction == "inbound" and contacts else f"{owner}@seller.example",
                new_text=text, is_private=private, opportunity_id=self.world.opportunities[deal], link_method="contact",
            )
            uow.s.add(activity)
            uow.s.flush()
            uow.s.add(ActivitySource(activity_id=activity.id, mailbox_id=box, provider_id=f"p{n}"))
            for address in contacts:
                uow.s.add(ActivityContact(activity_id=activity.id, contact_id=self.world.contacts[address], role="from"))
            if score is not None:
                label = label or ("negative" if score < -0.3 else "positive" if score > 0.3 else "neutral")
                uow.s.add(SentimentScore(
                    activity_id=activity.id, model_version="test", label=label, score=score, confidence=confidence,
                    probabilities={}, is_current=True,
                    highlights=highlights if highlights is not None else [{"text": text, "label": label, "score": score}],
                ))
            uow.commit()
            return activity.id

    def alerts(self, deal: str, rule: str | None = None, states: tuple[str, ...] = ("open", "acknowledged", "resolved")) -> list[Alert]:
        """Alerts of a deal (optionally one rule), oldest first, detached."""
        with self.db.uow() as uow:
            query = select(Alert).where(Alert.opportunity_id == self.world.opportunities[deal], Alert.state.in_(states))
            if rule:
                query = query.where(Alert.rule == rule)
            rows = list(uow.s.scalars(query.order_by(Alert.id)))
            for row in rows:
                uow.s.expunge(row)
            return rows

    def unresolved(self, deal: str, rule: str) -> Alert | None:
        """The unresolved alert of (deal, rule), if any."""
        rows = self.alerts(deal, rule, ("open", "acknowledged"))
        assert len(rows) <= 1
        return rows[0] if rows else None


@pytest.fixture
def deals(db, world) -> Deals:
    """Activity builder over the test organisation."""
    from dealpulse.services.alert_snapshots import forget_percentiles

    forget_percentiles()
    return Deals(db, world)


@pytest.fixture
def rep_a1_in_three_currencies(client, db, settings, world, deals) -> list[str]:
    """Rep A1 with one open deal in each of EUR, USD and JPY, all at risk; returns their names, riskiest first.

    The JPY deal is the least at risk but has by far the largest raw amount (9,000,000 JPY).
    """
    from dealpulse.services.alert_engine import run_alerts

    created = client.post("/api/v1/opportunities", headers=world.auth("rep.a1"), json={
        "name": "Test Acme Japan", "account_id": world.accounts["acme"], "stage": "qualification",
        "amount": "9000000", "currency": "JPY"})
    assert created.status_code == 201
    world.opportunities["a1_japan"] = created.get_json()["id"]
    deals.activity("a1_japan", days_ago=25)  # gone dark: a warning
    deals.activity("a1_acme", days_ago=45)  # silent for twice the threshold: critical
    deals.activity("a1_globex", days_ago=1, score=-0.9, contacts=("cio@globex.test.example",))  # a negative email
    run_alerts(db, settings, world.org_id)
    return ["Test Globex expansion", "Test Acme platform", "Test Acme Japan"]
