"""The live demo mailbox: the corpus loaded into the stand-in and synced through the real Gmail connector."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone

from sqlalchemy import func, select

from dealpulse.demo.live import start_demo_mail
from dealpulse.demo.mailbox import demo_mail
from dealpulse.demo.orgdata import load_org
from dealpulse.services.org_setup import load_organisation
from dealpulse.store import Activity, ActivitySource, Mailbox

from .conftest import activity_count

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)


def test_demo_mail_is_synced_once_shared_thread_stored_once_and_personal_mail_left_out(db, settings):
    with db.uow() as uow:
        load_organisation(uow, load_org(), now=NOW)

    live = start_demo_mail(settings, db, now=NOW)
    try:
        reps = {u["email"] for u in load_org()["users"] if u["role"] == "rep"}
        assert reps <= set(live.mailbox_ids)
        assert all(r.state == "idle" for r in live.results), [(r.mailbox_id, r.state, r.detail) for r in live.results]
        stored = activity_count(db)
        corpus = demo_mail(NOW)
        assert live.loaded_messages == len(corpus) >= 300
        assert live.synced == stored > 0
        excluded = Counter()
        for r in live.results:
            excluded.update(r.outcome.excluded)
        assert excluded["internal_only"] + excluded["no_customer"] + excluded["category"] > 0  # personal/internal mail
        with db.uow() as uow:
            copies = dict(uow.s.execute(
                select(ActivitySource.activity_id, func.count()).group_by(ActivitySource.activity_id)
                .having(func.count() > 1)
            ).all())
            assert copies, "the thread two reps share is stored once with a copy per mailbox"
            shared_owners = set(uow.s.scalars(
                select(Mailbox.address).join(ActivitySource, ActivitySource.mailbox_id == Mailbox.id)
                .where(ActivitySource.activity_id.in_(list(copies)))
            ))
            assert len(shared_owners) >= 2
            meetings = uow.s.scalar(select(func.count()).select_from(Activity).where(Activity.kind == "meeting"))
            linked = uow.s.scalar(select(func.count()).select_from(Activity).where(Activity.opportunity_id.is_not(None)))
        assert meetings >= 30
        assert linked >= stored * 0.9
        assert live.settings.gmail_api_url == live.standin.base_url
    finally:
        live.stop()

    again = start_demo_mail(settings, db, now=NOW)  # a restart re-reads everything and stores nothing twice
    try:
        assert activity_count(db) == stored
        assert again.synced == 0
    finally:
        again.stop()
