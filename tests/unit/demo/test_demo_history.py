"""The demo's two years of closed history: deterministic, at least 150 closed deals with their stage history, emails
and meetings, won and lost for reasons a person can read, quotas, and written only once."""

from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from dealpulse.demo.history import generate_history
from dealpulse.demo.orgdata import load_org
from dealpulse.services.org_setup import load_organisation
from dealpulse.store import Activity, Opportunity, Quota, Stage, StageTransition
from dealpulse.store.database import Database

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=timezone.utc)


def _closed_deals(db):
    with db.uow() as uow:
        return uow.s.execute(
            select(Opportunity.name, Opportunity.amount, Opportunity.closed_at, Opportunity.next_step, Stage.is_won)
            .join(Stage, Stage.id == Opportunity.stage_id)
            .where(Opportunity.closed_at.is_not(None), Opportunity.name.like("% - %"))
            .order_by(Opportunity.id)
        ).all()


def _seed(path) -> Database:
    db = Database.connect(f"sqlite:///{path}")
    db.upgrade()
    with db.uow() as uow:
        org = load_organisation(uow, load_org(), now=NOW)
    with db.uow() as uow:
        made = generate_history(uow, org, NOW)
    assert made.deals >= 150 and made.won >= 30 and made.lost >= 30
    with db.uow() as uow:
        assert generate_history(uow, org, NOW).deals == 0  # the second start writes nothing
    return db


def test_the_history_is_the_same_on_every_machine_and_believable(tmp_path):
    first, second = _seed(tmp_path / "a.db"), _seed(tmp_path / "b.db")
    deals = _closed_deals(first)
    assert deals == _closed_deals(second)
    assert len(deals) >= 150
    assert min(d.closed_at for d in deals) >= NOW - timedelta(days=731) and max(d.closed_at for d in deals) < NOW
    lost_reasons = {d.next_step for d in deals if not d.is_won}
    assert lost_reasons >= {"Lost to a competitor on price", "Lost: budget frozen", "Lost: no decision, buyer went quiet"}
    with first.uow() as uow:
        closed_ids = select(Opportunity.id).where(Opportunity.closed_at.is_not(None))
        per_deal_stages = dict(uow.s.execute(select(StageTransition.opportunity_id, func.count())
                                             .where(StageTransition.opportunity_id.in_(closed_ids))
                                             .group_by(StageTransition.opportunity_id)).all())
        assert min(per_deal_stages.values()) >= 2  # at least one open stage, then the close
        kinds = dict(uow.s.execute(select(Activity.kind, func.count()).where(Activity.opportunity_id.in_(closed_ids))
                                   .group_by(Activity.kind)).all())
        assert kinds["email"] >= 10 * len(deals) // 2 and kinds["meeting"] >= len(deals) // 2
        said = list(uow.s.scalars(select(Activity.new_text).where(Activity.subject == "Our decision")))
        assert any("another vendor" in text for text in said) and any("budget" in text for text in said)
        assert uow.s.scalar(select(func.count()).select_from(Quota)) >= 4 * 8
    first.dispose()
    second.dispose()
