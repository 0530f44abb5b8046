"""Issue #16: the organisation's privacy rules and a rep's private-by-default choice apply at capture."""

from __future__ import annotations

from dealpulse.store import Contact, Organisation, User

from .conftest import connect, raw_mail, run_sync, stored_activity

REP = "rep.a1@seller.example"
BUYER = "buyer@acme.test.example"
FREE_MAIL_BUYER = "ann.buyer@gmail.com"


def _rules(db, world, **privacy) -> None:
    with db.uow() as uow:
        org = uow.s.get(Organisation, world.org_id)
        org.settings = {**(org.settings or {}), "privacy": privacy}
        uow.commit()


def _free_mail_contact(db, world) -> None:
    with db.uow() as uow:
        uow.s.add(Contact(org_id=world.org_id, account_id=world.accounts["acme"], email=FREE_MAIL_BUYER, name="Ann"))
        uow.commit()


def test_free_mail_exclusion_skips_a_known_contact_writing_from_gmail(db, world, settings, google):
    _free_mail_contact(db, world)
    _rules(db, world, exclude_free_mail=True)
    box = connect(db, settings, google, REP)
    google.add_message(REP, raw_mail(FREE_MAIL_BUYER, [REP], subject="From my phone", message_id="free-1@gmail.com"))
    google.add_message(REP, raw_mail(BUYER, [REP], subject="From work", message_id="work-1@acme.test.example"))
    result = run_sync(db, settings, box)
    assert result.outcome.excluded.get("free_mail") == 1 and result.stored == 1


def test_without_the_rule_the_same_free_mail_contact_is_captured(db, world, settings, google):
    _free_mail_contact(db, world)
    box = connect(db, settings, google, REP)
    google.add_message(REP, raw_mail(FREE_MAIL_BUYER, [REP], subject="From my phone", message_id="free-2@gmail.com"))
    assert run_sync(db, settings, box).stored == 1


def test_private_by_default_marks_new_mail_private_and_a_rep_may_opt_out(db, world, settings, google):
    _rules(db, world, private_by_default=True)
    box = connect(db, settings, google, REP)
    google.add_message(REP, raw_mail(BUYER, [REP], subject="One", message_id="pd-1@acme.test.example"))
    run_sync(db, settings, box)
    assert stored_activity(db, "pd-1@acme.test.example").is_private

    with db.uow() as uow:
        uow.s.get(User, world.users["rep.a1"]).private_by_default = False
        uow.commit()
    google.add_message(REP, raw_mail(BUYER, [REP], subject="Two", message_id="pd-2@acme.test.example"))
    run_sync(db, settings, box)
    assert not stored_activity(db, "pd-2@acme.test.example").is_private
