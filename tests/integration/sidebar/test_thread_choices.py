"""A rep's thread choices (#12 findings 2 and 3, #14 re-linking): they cover only the rep's own captured copies.

Linking or marking a shared thread private never moves, exposes or hides another rep's emails; a thread with no
email of the caller cannot be made private; later mail follows only the choosing rep's own choice.
"""

from __future__ import annotations

from sqlalchemy import select

from dealpulse.mail.linking import decide_link, load_link_index
from dealpulse.store import Activity, ActivitySource, AuditEntry, ThreadLink

ACME_BUYER = "buyer@acme.test.example"


def _seen_also_by(db, inbox, stored, owner: str) -> None:
    """The same email also captured by `owner`'s mailbox (one activity, two sources)."""
    box = inbox.mailbox(owner)
    with db.uow() as uow:
        uow.s.add(ActivitySource(activity_id=stored.activity_id, mailbox_id=box, provider_id=f"also-{stored.provider_id}"))
        uow.commit()


def _row(db, activity_id: int) -> Activity:
    with db.uow() as uow:
        row = uow.s.get(Activity, activity_id)
        uow.s.expunge(row)
        return row


def test_linking_a_shared_thread_moves_only_my_copies_and_never_exposes_a_colleagues_private_email(
    client, world, inbox, db, active_tone
):
    mine = inbox.email("rep.a1", opportunity="a1_acme", label="neutral")
    theirs = inbox.email("rep.b1", thread_key=mine.thread_key, opportunity="b1_acme", is_private=True, label="negative",
                         subject="Our internal pricing floor", to=("rep.b1@seller.example",))

    response = client.put("/api/v1/threads/link", headers=world.auth("rep.a1"),
                          json={"thread_key": mine.thread_key, "opportunity_id": world.opportunities["a1_globex"]})

    assert response.status_code == 200 and response.get_json()["activities"] == 1
    assert _row(db, mine.activity_id).opportunity_id == world.opportunities["a1_globex"]
    kept = _row(db, theirs.activity_id)
    assert kept.opportunity_id == world.opportunities["b1_acme"] and kept.is_private
    for who in ("rep.a1", "manager.a"):  # neither the caller nor their manager can reach rep.b1's email
        assert client.get(f"/api/v1/activities/{theirs.activity_id}", headers=world.auth(who)).status_code == 404
        timeline = client.get(f"/api/v1/opportunities/{world.opportunities['a1_globex']}/activities",
                              headers=world.auth(who)).get_json()["items"]
        assert theirs.activity_id not in [a["id"] for a in timeline]


def test_marking_a_shared_thread_private_covers_only_emails_no_one_else_received(client, world, inbox, db, active_tone):
    mine = inbox.email("rep.a1", opportunity="a1_acme", label="neutral")
    shared = inbox.email("rep.a1", thread_key=mine.thread_key, opportunity="a1_acme", label="neutral")
    _seen_also_by(db, inbox, shared, "rep.b1")
    theirs = inbox.email("rep.b1", thread_key=mine.thread_key, opportunity="b1_acme", label="neutral",
                         subject="Renewal terms", to=("rep.b1@seller.example",))

    response = client.put("/api/v1/threads/private", json={"thread_key": mine.thread_key, "is_private": True},
                          headers=world.auth("rep.a1"))

    assert response.status_code == 200
    assert response.get_json()["activities"] == 1 and response.get_json()["shared_unchanged"] == 1
    assert _row(db, mine.activity_id).is_private
    assert not _row(db, shared.activity_id).is_private and not _row(db, theirs.activity_id).is_private
    seen = client.get(f"/api/v1/activities/{theirs.activity_id}", headers=world.auth("manager.b")).get_json()
    assert seen["content_hidden"] is False and seen["subject"] == "Renewal terms"


def test_a_thread_with_no_email_of_mine_cannot_be_made_private_and_nothing_is_stored(client, world, inbox, db, active_tone):
    theirs = inbox.email("rep.b1", opportunity="b1_acme", label="neutral", to=("rep.b1@seller.example",))
    for key in ("never-seen-thread@acme.test.example", theirs.thread_key):
        response = client.put("/api/v1/threads/private", json={"thread_key": key, "is_private": True},
                              headers=world.auth("rep.a1"))
        assert response.status_code == 404, key
    with db.uow() as uow:
        assert uow.s.scalars(select(ThreadLink)).all() == []
    assert not _row(db, theirs.activity_id).is_private


def test_later_mail_follows_only_the_choosing_reps_own_choice(client, world, inbox, db, active_tone):
    mine = inbox.email("rep.a1", opportunity="a1_acme", label="neutral")
    client.put("/api/v1/threads/private", json={"thread_key": mine.thread_key, "is_private": True}, headers=world.auth("rep.a1"))
    client.put("/api/v1/threads/link", json={"thread_key": mine.thread_key, "opportunity_id": None}, headers=world.auth("rep.a1"))
    acme = world.accounts["acme"]
    with db.uow() as uow:
        for who, expected in (("rep.a1", (None, "not_a_deal", True)), ("rep.b1", (world.opportunities["b1_acme"], "account", False))):
            index = load_link_index(uow.s, world.org_id, [mine.thread_key], [], [acme], user_id=world.users[who])
            decision = decide_link(mine.thread_key, [], [acme], index)
            assert (decision.opportunity_id, decision.link_method, decision.is_private) == expected, who


def test_not_a_deal_takes_my_copies_off_the_deal_and_is_audited(client, world, inbox, db, active_tone):
    mine = inbox.email("rep.a1", opportunity="a1_acme", label="neutral")
    response = client.put("/api/v1/threads/link", json={"thread_key": mine.thread_key, "opportunity_id": None},
                          headers=world.auth("rep.a1"))
    assert response.status_code == 200 and response.get_json()["not_a_deal"] is True
    row = _row(db, mine.activity_id)
    assert row.opportunity_id is None and row.link_method == "not_a_deal"
    history = client.get(f"/api/v1/opportunities/{world.opportunities['a1_acme']}/history",
                         headers=world.auth("rep.a1")).get_json()["items"]
    assert history[0]["field"] == "unlinked_thread" and history[0]["old"] == mine.thread_key
    with db.uow() as uow:
        fields = {e.field for e in uow.s.scalars(select(AuditEntry).where(AuditEntry.entity_type == "thread_link"))}
    assert fields == {"no_deal"}
    shown = client.post("/api/v1/context", json={"message_id": mine.message_id}, headers=world.auth("rep.a1")).get_json()
    assert shown["status"] == "not_a_deal" and shown["opportunity"] is None
