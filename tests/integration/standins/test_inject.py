"""Mail added to a running stand-in from outside (HTTP endpoint, inbox folder) reaches DealPulse's sync; bad input
is refused and adds nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
import requests
from hypothesis import given, settings as hypothesis_settings
from hypothesis import strategies as st

from dealpulse.standins.google import GoogleStandIn
from dealpulse.standins.inject import MESSAGES_PATH, USERS_PATH, BadMessage, InboxFolder, inject_blueprint, message_bytes
from dealpulse.standins.sample_mail import rfc822

REP = "rep@seller.example"


@pytest.fixture
def standin() -> Iterator[GoogleStandIn]:
    google = GoogleStandIn()
    google.add_user(REP, "refresh-rep")
    google.app.register_blueprint(inject_blueprint(google))
    with google:
        yield google


def post(standin: GoogleStandIn, payload: object) -> requests.Response:
    session = requests.Session()
    session.trust_env = False
    return session.post(standin.base_url.rstrip("/") + MESSAGES_PATH, json=payload, timeout=10)


def subjects(standin: GoogleStandIn) -> list[str]:
    """The Subject of every message in the rep's mailbox, as the Gmail API answers them."""
    box = standin.mailbox(REP)
    found = []
    for message_id in box.message_ids():
        headers = box.get_message(message_id, "metadata", ["Subject"])["payload"]["headers"]
        found.extend(h["value"] for h in headers)
    return found


def test_a_posted_message_lands_in_the_mailbox(standin) -> None:
    answer = post(standin, {"user": REP.upper(), "from": "buyer@customer.example", "subject": "Decision",
                            "body": "We have decided to go with another vendor."})
    assert answer.status_code == 201, answer.text
    assert answer.json()["user"] == REP and answer.json()["push_status"] is None
    raw = rfc822(sender="buyer@customer.example", to=[REP], subject="Raw one", body="Hello", message_id="raw-1@customer.example")
    assert post(standin, {"user": REP, "raw": raw.decode(), "labels": ["INBOX", "UNREAD"]}).status_code == 201
    assert sorted(subjects(standin)) == ["Decision", "Raw one"]
    users = requests.get(standin.base_url.rstrip("/") + USERS_PATH, timeout=10).json()["users"]
    assert users == {REP: ["refresh-rep"]}


@pytest.mark.parametrize("payload", [
    [], {"user": "nobody"}, {"user": REP}, {"user": REP, "raw": ""}, {"user": REP, "from": "a@b.example", "subject": "x"},
    {"user": REP, "raw": "x", "labels": []}, {"user": REP, "from": "a@b.example", "subject": "s", "body": "b", "to": "c"},
])
def test_bad_input_is_a_400_and_adds_nothing(standin, payload) -> None:
    answer = post(standin, payload)
    assert answer.status_code == 400 and answer.json()["error"]
    assert subjects(standin) == []


def test_an_unknown_user_is_a_404(standin) -> None:
    assert post(standin, {"user": "stranger@else.example", "raw": "Subject: x\n\nhi"}).status_code == 404
    assert subjects(standin) == []


def test_files_dropped_into_the_inbox_folder_are_delivered_once(standin, tmp_path: Path) -> None:
    inbox = InboxFolder(standin, tmp_path / "inbox")
    (inbox.path / REP).mkdir()
    (inbox.path / REP / "one.eml").write_bytes(rfc822(sender="buyer@customer.example", to=[REP], subject="From a file",
                                                      body="Hello", message_id="file-1@customer.example"))
    (inbox.path / "stranger@else.example").mkdir()
    (inbox.path / "stranger@else.example" / "two.eml").write_bytes(b"Subject: lost?\n\nhi")
    assert inbox.deliver_new() == 1
    assert inbox.deliver_new() == 0  # moved to delivered/: not delivered twice
    assert subjects(standin) == ["From a file"]
    assert (inbox.path / REP / "delivered" / "one.eml").exists()
    assert (inbox.path / "stranger@else.example" / "two.eml").exists()  # waits for its user


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
                           max_leaves=12)
payloads = json_values | st.fixed_dictionaries({"user": st.one_of(st.just(REP), st.text(max_size=12))},
                                               optional={"raw": json_values, "from": json_values, "subject": json_values,
                                                         "body": json_values, "to": json_values, "labels": json_values,
                                                         "message_id": json_values, "in_reply_to": json_values})


@hypothesis_settings(max_examples=300, deadline=None)
@given(payloads)
def test_any_json_is_either_a_message_or_a_clear_refusal(payload) -> None:
    try:
        user, raw, labels = message_bytes(payload)
    except BadMessage as exc:
        assert str(exc)
    else:
        assert "@" in user and raw and labels
