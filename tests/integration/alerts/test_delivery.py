"""Alert delivery: the managers' digest through a local SMTP server, the signed webhook through a local receiver."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import queue
import socket
import threading
from datetime import timedelta
from email import message_from_bytes
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterator

import pytest
import time_machine
from aiosmtpd.controller import Controller
from sqlalchemy import delete, select

from dealpulse.domain.alert_rules import Thresholds
from dealpulse.services.alert_actions import acknowledge_alert, resolve_alert

from dealpulse.services.alert_engine import run_alerts
from dealpulse.services.alert_digest import send_digests
from dealpulse.services.alert_webhooks import SIGNATURE_HEADER, _post, deliver_webhooks, verify_signature
from dealpulse.store import AlertDelivery, User, utcnow
from dealpulse.web.auth import principal_for_user

SECRET = "webhook-test-secret"


class MailSink:
    """aiosmtpd handler that keeps every received message; `while_receiving` runs once, before the first is accepted."""

    def __init__(self) -> None:
        self.messages: "queue.Queue[tuple[list[str], bytes]]" = queue.Queue()
        self.while_receiving: Callable[[], None] | None = None

    async def handle_DATA(self, server, session, envelope):
        self.messages.put((list(envelope.rcpt_tos), envelope.content))
        hook, self.while_receiving = self.while_receiving, None
        if hook is not None:  # off the event loop, so that the server keeps answering other clients meanwhile
            await asyncio.get_running_loop().run_in_executor(None, hook)
        return "250 OK"

    def digests(self) -> list[tuple[str, str]]:
        """(recipient, plain-text body) of every message received since the last call."""
        out = []
        while not self.messages.empty():
            rcpt, raw = self.messages.get_nowait()
            out.append((rcpt[0], message_from_bytes(raw, policy=default_policy).get_body(("plain",)).get_content()))
        return out


@pytest.fixture
def smtp() -> Iterator[tuple[str, MailSink]]:
    sink = MailSink()
    with socket.socket() as probe:  # aiosmtpd's start() connects to its port, so it needs a real one
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield f"smtp://127.0.0.1:{port}", sink
    finally:
        controller.stop()


class Receiver(ThreadingHTTPServer):
    """A webhook endpoint answering the queued statuses in order (then 200) and recording each request."""

    def __init__(self, statuses: list[int]):
        self.statuses = list(statuses)
        self.received: list[tuple[dict[str, str], bytes, int]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status = outer.statuses.pop(0) if outer.statuses else 200
                outer.received.append((dict(self.headers), body, status))
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return

        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}/hook"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver([500, 503])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_each_manager_gets_a_digest_of_their_teams_new_alerts_once(db, settings, world, deals, smtp):
    url, sink = smtp
    settings = dataclasses.replace(settings, smtp_url=url)
    deals.activity("a1_acme", days_ago=30, text="<b>hi</b>")
    deals.activity("b1_acme", days_ago=40, owner="rep.b1")
    run_alerts(db, settings, world.org_id)

    assert send_digests(db, settings) == 2  # managers A and B (only this organisation was evaluated)

    by_recipient = {}
    while not sink.messages.empty():
        rcpt, raw = sink.messages.get_nowait()
        by_recipient[rcpt[0]] = message_from_bytes(raw, policy=default_policy)
    text_a = by_recipient["manager.a@seller.example"].get_body(("plain",)).get_content()
    assert "Test Acme platform" in text_a and "Gone dark" in text_a and "Test Acme analytics" not in text_a
    assert "Test Acme analytics" in by_recipient["manager.b@seller.example"].get_body(("plain",)).get_content()
    assert "/dashboard/deals/" in text_a
    assert send_digests(db, settings) == 0 and sink.messages.empty()  # nothing new: no second email
    with db.uow() as uow:
        sent = uow.s.scalars(select(AlertDelivery.status).where(AlertDelivery.channel == "email")).all()
    assert sent and set(sent) == {"sent"}


def test_an_unreachable_smtp_server_is_recorded_not_raised_and_retried(db, settings, world, deals, smtp):
    url, sink = smtp
    down = dataclasses.replace(settings, smtp_url="smtp://127.0.0.1:9")
    deals.activity("a1_acme", days_ago=30)
    run_alerts(db, settings, world.org_id)
    assert send_digests(db, down) == 0
    with db.uow() as uow:
        failed = uow.s.scalars(select(AlertDelivery.last_error).where(AlertDelivery.status == "failed")).all()
    assert failed and "ConnectionRefusedError" in failed[0]

    assert send_digests(db, dataclasses.replace(settings, smtp_url=url)) >= 1
    assert any("Test Acme platform" in text for _, text in sink.digests())


@pytest.fixture
def clock():
    with time_machine.travel(utcnow(), tick=True) as traveller:
        yield traveller


def _as(db, world, who: str):
    with db.uow() as uow:
        return principal_for_user(uow.s, uow.s.get(User, world.users[who]))


def _mentions(digests: list[tuple[str, str]], recipient: str, reason: str) -> int:
    """How many of `recipient`'s digests list an alert with this reason."""
    return sum(text.count(reason) for to, text in digests if to == recipient)


MANAGER_A = "manager.a@seller.example"


@pytest.fixture
def mailed_gone_dark(db, settings, world, deals, smtp):
    """Acme platform's buyer silent for 30 days, already in manager A's digest: (settings, sink, alert)."""
    url, sink = smtp
    settings = dataclasses.replace(settings, smtp_url=url)
    deals.activity("a1_acme", days_ago=30)
    run_alerts(db, settings, world.org_id)
    alert = deals.unresolved("a1_acme", "gone_dark")
    send_digests(db, settings)
    assert _mentions(sink.digests(), MANAGER_A, alert.reason) == 1
    return settings, sink, alert


def _mailed_once_more(db, settings, sink, reason: str) -> None:
    """The next digest lists the alert for manager A, and the one after it sends nothing at all."""
    send_digests(db, settings)
    assert _mentions(sink.digests(), MANAGER_A, reason) == 1
    assert send_digests(db, settings) == 0 and sink.digests() == []


def test_an_acknowledged_alert_that_comes_back_is_mailed_again_once(db, world, deals, clock, mailed_gone_dark):
    settings, sink, alert = mailed_gone_dark
    with db.uow() as uow:
        acknowledge_alert(uow, _as(db, world, "manager.a"), alert.id, alert_defaults=Thresholds())
    clock.shift(timedelta(hours=24))
    run_alerts(db, settings, world.org_id)
    send_digests(db, settings)
    assert _mentions(sink.digests(), MANAGER_A, "Test Acme platform") == 0  # acknowledged: quiet

    clock.shift(timedelta(hours=49))  # past the 72-hour re-arm, the buyer still silent
    run_alerts(db, settings, world.org_id)
    back = deals.unresolved("a1_acme", "gone_dark")
    assert back.id == alert.id and back.state == "open"
    _mailed_once_more(db, settings, sink, back.reason)  # the manager hears that the risk came back, once
    run_alerts(db, settings, world.org_id)
    assert send_digests(db, settings) == 0 and sink.digests() == []


def test_a_resolved_alert_that_comes_back_is_mailed_again_once(db, world, deals, clock, mailed_gone_dark):
    settings, sink, alert = mailed_gone_dark
    with db.uow() as uow:
        resolve_alert(uow, _as(db, world, "rep.a1"), alert.id, alert_defaults=Thresholds())
    run_alerts(db, settings, world.org_id)
    assert send_digests(db, settings) == 0 and sink.digests() == []

    clock.shift(timedelta(hours=73))  # re-armed: the condition still holds
    run_alerts(db, settings, world.org_id)
    back = deals.unresolved("a1_acme", "gone_dark")
    assert back is not None and back.state == "open"
    _mailed_once_more(db, settings, sink, back.reason)


def test_a_buyer_who_goes_dark_again_after_replying_is_mailed_again(db, world, deals, clock, mailed_gone_dark):
    settings, sink, _ = mailed_gone_dark
    deals.activity("a1_acme", days_ago=0.01)  # the buyer replies: resolved automatically
    run_alerts(db, settings, world.org_id)
    assert deals.unresolved("a1_acme", "gone_dark") is None

    clock.shift(timedelta(days=22))  # and falls silent again
    run_alerts(db, settings, world.org_id)
    _mailed_once_more(db, settings, sink, deals.unresolved("a1_acme", "gone_dark").reason)


@pytest.fixture
def both_teams_alerting(db, settings, world, deals, smtp):
    """Gone-dark alerts on a deal of team A and one of team B, not mailed yet: (settings, sink)."""
    url, sink = smtp
    settings = dataclasses.replace(settings, smtp_url=url)
    deals.activity("a1_acme", days_ago=30)
    deals.activity("b1_acme", days_ago=40, owner="rep.b1")
    run_alerts(db, settings, world.org_id)
    return settings, sink


def test_two_overlapping_digest_runs_mail_each_alert_once(db, both_teams_alerting):
    settings, sink = both_teams_alerting
    second_run: list[int] = []
    # A second worker starts its digest while the first one is in the middle of handing its first email over.
    sink.while_receiving = lambda: second_run.append(send_digests(db, settings))

    first_run = send_digests(db, settings)

    digests = sink.digests()
    assert first_run + second_run[0] == 2 == len(digests)  # managers A and B, one email each
    assert sorted(to for to, _ in digests) == [MANAGER_A, "manager.b@seller.example"]
    assert send_digests(db, settings) == 0 and sink.digests() == []


def test_digest_workers_started_at_the_same_moment_mail_each_manager_once(db, both_teams_alerting):
    settings, sink = both_teams_alerting
    for _ in range(5):  # each round starts as if no digest had ever run
        with db.uow() as uow:
            uow.s.execute(delete(AlertDelivery).where(AlertDelivery.channel == "email"))
            uow.commit()
        start = threading.Barrier(6)

        def worker() -> None:
            start.wait()
            send_digests(db, settings)

        workers = [threading.Thread(target=worker) for _ in range(6)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        assert sorted(to for to, _ in sink.digests()) == [MANAGER_A, "manager.b@seller.example"]


def test_an_alert_claimed_by_a_digest_run_that_died_is_mailed_by_a_later_run(db, settings, world, deals, smtp):
    url, sink = smtp
    settings = dataclasses.replace(settings, smtp_url=url)
    deals.activity("a1_acme", days_ago=30)
    run_alerts(db, settings, world.org_id)
    alert = deals.unresolved("a1_acme", "gone_dark")
    now = utcnow()
    with db.uow() as uow:  # what a run leaves behind when its worker is killed between claiming and sending
        uow.s.add(AlertDelivery(alert_id=alert.id, channel="email", recipient=MANAGER_A, status="pending", attempts=1,
                                created_at=now))
        uow.commit()

    send_digests(db, settings, now + timedelta(minutes=1))
    assert _mentions(sink.digests(), MANAGER_A, alert.reason) == 0  # that run may still be sending it

    send_digests(db, settings, now + timedelta(minutes=30))
    assert _mentions(sink.digests(), MANAGER_A, alert.reason) == 1
    with db.uow() as uow:
        statuses = uow.s.scalars(select(AlertDelivery.status).where(AlertDelivery.alert_id == alert.id,
                                                                    AlertDelivery.channel == "email")
                                 .order_by(AlertDelivery.id)).all()
    assert statuses == ["failed", "sent"]


def test_webhook_is_signed_retried_with_backoff_and_recorded(db, settings, world, deals, receiver):
    settings = dataclasses.replace(settings, webhook_url=receiver.url, webhook_secret=SECRET)
    deals.activity("a1_globex", days_ago=0.01, score=-0.9, contacts=("cio@globex.test.example",),
                   highlights=[{"text": "We went with a competitor.", "label": "negative", "score": -0.9}])
    run_alerts(db, settings, world.org_id)
    with db.uow() as uow:
        pending = uow.s.scalars(select(AlertDelivery.created_at).where(AlertDelivery.channel == "webhook")).all()
        first_created = min(pending)
    total = len(pending)
    assert total >= 1

    now = first_created
    first = deliver_webhooks(db, settings, now)
    assert first["retrying"] == 2 and first["sent"] == total - 2  # the receiver fails the first two requests
    first_round = len(receiver.received)
    # Not due yet: the backoff holds the retries back.
    deliver_webhooks(db, settings, now + timedelta(seconds=5))
    assert len(receiver.received) == first_round
    for step in (40, 120, 300, 700):
        deliver_webhooks(db, settings, now + timedelta(seconds=step))

    with db.uow() as uow:
        rows = uow.s.execute(select(AlertDelivery.status, AlertDelivery.attempts, AlertDelivery.last_error)
                             .where(AlertDelivery.channel == "webhook")).all()
    assert all(r.status == "sent" for r in rows)
    assert sorted(r.attempts for r in rows)[-2:] == [2, 2]  # the two failed ones succeeded on their second attempt
    assert all(r.last_error == "" for r in rows)

    statuses = [status for _, _, status in receiver.received]
    assert statuses[:2] == [500, 503] and statuses.count(200) == total
    for headers, body, _ in receiver.received:
        assert verify_signature(body, SECRET, headers[SIGNATURE_HEADER])
        assert not verify_signature(body + b" ", SECRET, headers[SIGNATURE_HEADER])
    payloads = [json.loads(body) for _, body, _ in receiver.received]
    negative = next(p for p in payloads if p["dealpulse"]["rule"] == "negative_email")
    assert "We went with a competitor." in negative["text"] and negative["blocks"][0]["type"] == "section"


def test_a_webhook_that_keeps_failing_is_given_up_after_five_attempts(db, settings, world, deals, receiver):
    receiver.statuses = [500] * 50
    settings = dataclasses.replace(settings, webhook_url=receiver.url, webhook_secret=SECRET)
    deals.activity("a1_acme", days_ago=30)
    run_alerts(db, settings, world.org_id)
    start = utcnow()
    for minutes in range(0, 60, 2):
        deliver_webhooks(db, settings, start + timedelta(minutes=minutes))
    with db.uow() as uow:
        rows = uow.s.execute(select(AlertDelivery.status, AlertDelivery.attempts, AlertDelivery.last_error)
                             .where(AlertDelivery.channel == "webhook")).all()
    assert rows and all(r.status == "failed" and r.attempts == 5 and r.last_error == "HTTP 500" for r in rows)


def test_two_workers_never_post_the_same_delivery_twice(db, settings, world, deals, receiver):
    receiver.statuses = []
    settings = dataclasses.replace(settings, webhook_url=receiver.url, webhook_secret=SECRET)
    deals.activity("a1_acme", days_ago=30)
    run_alerts(db, settings, world.org_id)
    with db.uow() as uow:
        created = uow.s.scalars(select(AlertDelivery.created_at).where(AlertDelivery.channel == "webhook")).all()
    total, now = len(created), max(created) + timedelta(seconds=1)
    nested: list[dict[str, int]] = []

    def post_while_another_worker_runs(url: str, body: bytes, headers: dict[str, str]) -> int:
        if not nested:  # a second worker starts while the first is in the middle of its first post
            nested.append(deliver_webhooks(db, settings, now))
        return _post(url, body, headers)

    first = deliver_webhooks(db, settings, now, post=post_while_another_worker_runs)

    assert first["sent"] + nested[0]["sent"] == total
    assert len(receiver.received) == total  # every delivery posted exactly once
