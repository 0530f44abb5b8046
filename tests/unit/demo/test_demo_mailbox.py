"""The demo mailbox is big, parseable, deterministic, threaded like real mail, and tells the demo's stories."""

import email
import email.policy
import email.utils
from collections import defaultdict
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dealpulse.demo.mailbox import demo_events, demo_mail
from dealpulse.demo.orgdata import load_org
from dealpulse.demo.threads import MessageSpec, Script, ThreadFile, ThreadSpec

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=timezone.utc)  # a Monday: the weekend just passed
ORG = load_org()
REPS = {u["email"] for u in ORG["users"] if u["role"] == "rep"}
ADDRESS_OWNER = {a: u["email"] for u in ORG["users"] for a in [u["email"], *u["aliases"]]}
ORG_DOMAINS = set(ORG["organisation"]["domains"])
ACCOUNT_OF_DOMAIN = {d: a["key"] for a in ORG["accounts"] for d in a["domains"]}
CONTACT_ACCOUNT = {c["email"]: c["account"] for c in ORG["contacts"]}
OPEN_STAGES = {s["key"] for s in ORG["stages"] if not s["is_closed"]}


class Parsed:
    """One delivered message with the headers and text the checks need."""

    def __init__(self, mail):
        self.mail = mail
        self.msg = email.message_from_bytes(mail.raw, policy=email.policy.default)
        self.message_id = self.msg["Message-ID"]
        self.sender = email.utils.parseaddr(str(self.msg["From"]))[1].lower()
        recipients = email.utils.getaddresses([str(v) for v in self.msg.get_all("To", []) + self.msg.get_all("Cc", [])])
        self.recipients = [a.lower() for _, a in recipients]
        plain = self.msg.get_body(("plain",))
        html = self.msg.get_body(("html",))
        self.text = plain.get_content().replace("\r\n", "\n") if plain is not None else ""
        self.html = html.get_content().replace("\r\n", "\n") if html is not None else ""

    @property
    def participants(self):
        return [self.sender, *self.recipients]

    def account(self):
        """The customer account of the first customer participant (free mail resolved through the contact list)."""
        for address in self.participants:
            found = CONTACT_ACCOUNT.get(address) or ACCOUNT_OF_DOMAIN.get(address.split("@")[1])
            if found:
                return found
        return None


@pytest.fixture(scope="module")
def delivered():
    return [Parsed(m) for m in demo_mail(NOW)]


@pytest.fixture(scope="module")
def events():
    return demo_events(NOW)


def _domain(address):
    return address.split("@")[1]


def test_corpus_is_large_enough_and_spread_over_reps(delivered, events):
    assert len({p.message_id for p in delivered}) >= 300
    past = [e for e in events if NOW - timedelta(days=90) <= e.start < NOW and e.status == "confirmed"]
    assert len(past) >= 30
    for rep in REPS:
        customer_mail = [p for p in delivered if p.mail.owner == rep and p.account()]
        assert len(customer_mail) >= 40, rep


def test_every_message_parses_with_the_headers_a_connector_reads(delivered):
    for p in delivered:
        assert not p.msg.defects, (p.message_id, p.msg.defects)
        assert p.message_id.startswith("<") and p.message_id.endswith(">") and "@" in p.message_id
        assert p.sender and p.recipients
        sent_at = email.utils.parsedate_to_datetime(str(p.msg["Date"]))
        assert sent_at == p.mail.internal_date
        assert p.mail.internal_date.utcoffset() == timedelta(0)
        assert NOW - timedelta(days=90) <= p.mail.internal_date < NOW
        assert p.text or p.html


def test_message_ids_are_unique_except_the_thread_two_reps_share(delivered):
    owners = defaultdict(list)
    for p in delivered:
        owners[p.message_id].append(p.mail.owner)
    shared = {mid: who for mid, who in owners.items() if len(who) > 1}
    assert len(shared) >= 4
    for who in shared.values():
        assert sorted(who) == ["jordan.alvarez@northwind.example", "sam.keller@northwind.example"]
    raw_by_id = defaultdict(set)
    for p in delivered:
        raw_by_id[p.message_id].add(p.mail.raw)
    assert all(len(raws) == 1 for raws in raw_by_id.values()), "a shared message is the same bytes in both mailboxes"


def test_replies_chain_through_in_reply_to_and_references(delivered):
    known = {p.message_id for p in delivered}
    replies = [p for p in delivered if p.msg["In-Reply-To"]]
    assert len(replies) >= 200
    for p in replies:
        parent = str(p.msg["In-Reply-To"])
        references = str(p.msg["References"]).split()
        assert parent in known and references[-1] == parent
        assert all(ref in known for ref in references)
        assert "=?" not in references[0]


def test_labels_say_who_sent_it(delivered):
    for p in delivered:
        own = ADDRESS_OWNER.get(p.sender) == p.mail.owner
        assert (p.mail.label_ids == ["SENT"]) == own, (p.message_id, p.mail.label_ids)
        if not own:
            assert "INBOX" in p.mail.label_ids
            assert ("UNREAD" in p.mail.label_ids) == (p.mail.internal_date > NOW - timedelta(days=2))


def test_same_now_gives_the_same_bytes_and_message_ids_do_not_depend_on_now():
    first, again = demo_mail(NOW), demo_mail(NOW)
    assert [(m.owner, m.raw, m.label_ids, m.internal_date) for m in first] == [
        (m.owner, m.raw, m.label_ids, m.internal_date) for m in again]
    assert demo_events(NOW) == demo_events(NOW)
    later = demo_mail(NOW + timedelta(days=3, hours=5))
    ids = lambda mails: sorted(email.message_from_bytes(m.raw)["Message-ID"] for m in mails)  # noqa: E731
    assert ids(first) == ids(later)


def test_mail_looks_like_it_came_from_real_mail_programs(delivered):
    texts = [p.text for p in delivered]
    assert sum(" wrote:\n> " in t for t in texts) >= 50  # Gmail quoting
    assert sum("\nFrom: " in t and "\nSent: " in t for t in texts) >= 20  # Outlook header block
    assert any("-----Original Message-----" in t for t in texts)
    assert any("\nVon: " in t and "\nGesendet: " in t for t in texts)  # German Outlook
    assert any("Sent from my iPhone" in t for t in texts)
    assert any("CONFIDENTIALITY NOTICE" in t for t in texts)
    assert sum("Account Executive | Northwind Analytics" in t for t in texts) >= 100  # signatures
    kinds = defaultdict(int)
    for p in delivered:
        kinds[p.msg.get_content_type()] += 1
    assert kinds["multipart/alternative"] >= 200
    html_only = [p for p in delivered if p.msg.get_content_type() == "text/html" and p.account()]
    assert html_only, "customer mail with an HTML part only"
    pdfs = [part for p in delivered for part in p.msg.iter_attachments() if part.get_content_type() == "application/pdf"]
    assert len(pdfs) == 1
    content = pdfs[0].get_content()
    assert content.startswith(b"%PDF-") and 200 <= len(content) <= 2000 and pdfs[0].get_filename().endswith(".pdf")


def test_mail_that_must_not_be_captured_is_there(delivered):
    def external(p):
        return [a for a in p.participants if _domain(a) not in ORG_DOMAINS]

    personal = [p for p in delivered if "INBOX" in p.mail.label_ids and "CATEGORY_PROMOTIONS" not in p.mail.label_ids
                and external(p) and not any(a in CONTACT_ACCOUNT or _domain(a) in ACCOUNT_OF_DOMAIN for a in p.participants)]
    assert any(p.sender.endswith("@gmail.com") for p in personal)
    assert len({p.mail.owner for p in personal}) >= 3
    internal = [p for p in delivered if not external(p)]
    assert len(internal) >= 10
    assert any("Forwarded message" in p.text for p in internal), "an internal forward quoting a customer"
    promotions = [p for p in delivered if "CATEGORY_PROMOTIONS" in p.mail.label_ids]
    assert len(promotions) >= 4
    assert any(p.account() for p in promotions), "marketing mail from a customer's own domain"
    assert all(p.msg["List-Unsubscribe"] for p in promotions)


def test_mail_to_an_alias_lands_in_its_owners_mailbox(delivered):
    alias_mail = [p for p in delivered for a in p.recipients if a in ADDRESS_OWNER and ADDRESS_OWNER[a] != a]
    assert any(p.account() for p in alias_mail), "customer mail to an alias"
    sent_from_alias = [p for p in delivered if p.mail.label_ids == ["SENT"] and p.sender not in {u["email"] for u in ORG["users"]}]
    assert sent_from_alias and all(ADDRESS_OWNER[p.sender] == p.mail.owner for p in sent_from_alias)
    for p in alias_mail:
        assert p.mail.owner in {ADDRESS_OWNER.get(a) for a in p.participants}


def test_an_out_of_office_reply_from_a_buyer(delivered):
    auto = [p for p in delivered if p.msg["Auto-Submitted"] == "auto-replied"]
    assert auto and all(p.account() for p in auto)
    assert all(p.msg["Subject"].startswith(("Automatic reply:", "Out of Office:")) for p in auto)


def test_a_fresh_strongly_negative_email_on_an_open_deal(delivered):
    fresh = [p for p in delivered if "INBOX" in p.mail.label_ids and p.mail.internal_date > NOW - timedelta(days=2)
             and "decided to go with another provider" in p.text]
    assert fresh
    account = fresh[0].account()
    owner = fresh[0].mail.owner
    assert any(o["account"] == account and o["owner"] == owner and o["stage"] in OPEN_STAGES for o in ORG["opportunities"])
    assert "UNREAD" in fresh[0].mail.label_ids


def _last_inbound(delivered, account):
    return max(p.mail.internal_date for p in delivered if "INBOX" in p.mail.label_ids and p.account() == account)


def test_gone_dark_deals_have_old_inbound_and_recent_outbound(delivered, events):
    gone_dark = {o["key"]: o for o in ORG["opportunities"] if o["key"] in {"pinecrest-claims", "lumen-grid"}}
    teams = {t["key"]: t for t in ORG["teams"]}
    team_of = {u["email"]: u["team"] for u in ORG["users"]}
    for opp in gone_dark.values():
        threshold = timedelta(days=teams[team_of[opp["owner"]]]["gone_dark_after_days"])
        assert NOW - _last_inbound(delivered, opp["account"]) > threshold, opp["key"]
        outbound = [p for p in delivered if p.mail.label_ids == ["SENT"] and p.mail.owner == opp["owner"]
                    and any(CONTACT_ACCOUNT.get(a) == opp["account"] for a in p.recipients)]
        assert max(p.mail.internal_date for p in outbound) > NOW - timedelta(days=7), opp["key"]
        meetings = [e for e in events if any(CONTACT_ACCOUNT.get(a) == opp["account"] for a, _, _ in e.attendees)]
        assert all(NOW - e.start > threshold for e in meetings), opp["key"]


def test_healthy_deals_hear_from_buyers_this_week(delivered):
    for account in ["acme", "orbital", "nimbus", "tidewater"]:
        assert NOW - _last_inbound(delivered, account) < timedelta(days=7), account


def test_single_threaded_deal_hears_from_one_buyer_only(delivered, events):
    senders = {p.sender for p in delivered if p.account() == "harbor" and "INBOX" in p.mail.label_ids}
    assert senders == {"james.whitaker@harborfinch.example"}
    met = {a for e in events if NOW - timedelta(days=30) < e.start < NOW
           for a, _, response in e.attendees if CONTACT_ACCOUNT.get(a) == "harbor" and response == "accepted"}
    assert met <= senders


def test_events_are_well_formed(events):
    responses = {"accepted", "declined", "tentative", "needsAction"}
    uids = [(e.owner, e.ical_uid) for e in events]
    assert len(uids) == len(set(uids))
    assert {e.status for e in events} == {"confirmed", "cancelled"}
    for e in events:
        assert e.start.utcoffset() == timedelta(0) and e.end > e.start
        assert e.owner in ADDRESS_OWNER.values()
        assert e.organizer_email == e.attendees[0][0]
        assert e.owner in {a for a, _, _ in e.attendees}
        assert all(r in responses for _, _, r in e.attendees)
        assert e.start.weekday() < 5 or e.summary == "Mom's birthday dinner"


@settings(max_examples=4, deadline=None)
@given(st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(timezone.utc)))
def test_any_now_renders_a_valid_past_with_fresh_bad_news(now):
    mail = demo_mail(now)
    assert all(now - timedelta(days=90) <= m.internal_date < now for m in mail)
    fresh = [m for m in mail if m.internal_date > now - timedelta(days=2) and "UNREAD" in m.label_ids]
    assert any(b"decided to go with another provider" in m.raw.replace(b"=\r\n", b"") for m in fresh)
    assert len(demo_events(now)) >= 40


def test_a_naive_now_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        demo_mail(datetime(2026, 11, 23, 9, 30))


def _one_message_script(**message):
    spec = {"from": "sam.keller@northwind.example", "to": ["raj.patel@acme-logistics.example"], "days_ago": 3,
            "hour": 9, "text": "Hi Raj"} | message
    thread = ThreadSpec(subject="Hello", messages=[MessageSpec.model_validate(spec)])
    return Script({"t": ThreadFile(opportunity="acme-fleet", threads=[thread])})


def test_a_script_that_contradicts_itself_is_refused_with_its_place():
    assert len(demo_mail(NOW, _one_message_script())) == 1
    with pytest.raises(ValueError, match="demo thread file t, thread 1 .*not a participant"):
        demo_mail(NOW, _one_message_script(to=["raj.patel@acme-logistics.example"], **{"from": "karen.holt@acme-logistics.example"}))
    with pytest.raises(KeyError, match="nobody@nowhere.example"):
        demo_mail(NOW, _one_message_script(to=["nobody@nowhere.example"]))
    with pytest.raises(ValueError):
        MessageSpec.model_validate({"from": "a@b.example", "days_ago": 0, "hour": 9, "text": "x"})
