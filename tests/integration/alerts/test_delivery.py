"""Alert delivery: the managers' digest through a local SMTP server, the signed webhook through a local receiver."""

from __future__ import annotations

import dataclasses
import json
import queue
import socket
import threading
from datetime import timedelta
from email import message_from_bytes
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from dealpulse.services.alerts import run_alerts
from dealpulse.services.delivery import SIGNATURE_HEADER, _post, deliver_webhooks, send_digests, verify_signature
from dealpulse.store import AlertDelivery, utcnow

SECRET = "webhook-test-secret"


class MailSink:
    """aiosmtpd handler that keeps every received message."""

    def __init__(self) -> None:
        self.messages: "queue.Queue[tuple[list[str], bytes]]" = queue.Queue()

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, N802, ANN201 - aiosmtpd's hook
        self.messages.put((list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


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
            def do_POST(self) -> None:  # noqa: N802
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


def test_an_unreachable_smtp_server_is_recorded_not_raised(db, settings, world, deals):
    settings = dataclasses.replace(settings, smtp_url="smtp://127.0.0.1:9")
    deals.activity("a1_acme", days_ago=30)
    run_alerts(db, settings, world.org_id)
    assert send_digests(db, settings) == 0
    with db.uow() as uow:
        failed = uow.s.scalars(select(AlertDelivery.last_error).where(AlertDelivery.status == "failed")).all()
    assert failed and "ConnectionRefusedError" in failed[0]


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
