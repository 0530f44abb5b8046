"""Adding mail to a running Google stand-in from outside its process: an HTTP endpoint and an inbox folder.

`dealpulse standins serve` mounts `inject_blueprint` on the stand-in and watches `InboxFolder`, so separate DealPulse
workers (and the fleet benchmark) can sync mail that arrives while everything runs:

- ``POST /_standin/messages`` with JSON ``{"user": address, "raw": "<RFC 822 text>"}`` or
  ``{"user", "from", "subject", "body", "to"?, "message_id"?, "in_reply_to"?, "labels"?}`` adds the message to the
  user's mailbox and, when the stand-in has a push endpoint, sends Gmail's Pub/Sub push for it; answers 201 with the
  Gmail message id, 400 for bad input (nothing added), 404 for an unknown user.
- ``GET /_standin/users``: every user with its refresh tokens (to connect the mailboxes in DealPulse).
- ``DIR/<address>/*.eml`` files dropped into the inbox folder are delivered to that user and moved to
  ``DIR/<address>/delivered/``.
"""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from flask import Blueprint, jsonify, request

from .google import GoogleStandIn
from .sample_mail import rfc822

log = logging.getLogger(__name__)

MESSAGES_PATH = "/_standin/messages"
USERS_PATH = "/_standin/users"
MAX_RAW_BYTES = 5 * 1024 * 1024


class BadMessage(ValueError):
    """The injected message is malformed; the text says which field."""


def message_bytes(payload: Any) -> tuple[str, bytes, list[str]]:
    """(user, RFC 822 bytes, labels) of an injection request's JSON, or BadMessage."""
    if not isinstance(payload, dict):
        raise BadMessage("send a JSON object")
    user = payload.get("user")
    if not isinstance(user, str) or "@" not in user:
        raise BadMessage("user: the recipient mailbox's address")
    labels = payload.get("labels", ["INBOX"])
    if not isinstance(labels, list) or not labels or not all(isinstance(label, str) and label for label in labels):
        raise BadMessage("labels: a non-empty list of label ids")
    if "raw" in payload:
        if not isinstance(payload["raw"], str) or not payload["raw"].strip():
            raise BadMessage("raw: the message as RFC 822 text")
        raw = payload["raw"].encode("utf-8")
    else:
        fields = {name: payload.get(name) for name in ("from", "subject", "body")}
        missing = [name for name, value in fields.items() if not isinstance(value, str) or not value]
        if missing:
            raise BadMessage(f"{', '.join(missing)}: give raw, or from, subject and body")
        to = payload.get("to", [user])
        if not isinstance(to, list) or not all(isinstance(a, str) and "@" in a for a in to):
            raise BadMessage("to: a list of addresses")
        optional = {name: payload.get(name, "") for name in ("message_id", "in_reply_to")}
        if not all(isinstance(value, str) for value in optional.values()):
            raise BadMessage("message_id and in_reply_to are strings")
        raw = rfc822(sender=fields["from"], to=to, subject=fields["subject"], body=fields["body"],
                     message_id=optional["message_id"] or f"{uuid.uuid4().hex}@standin.example",
                     in_reply_to=optional["in_reply_to"], sent_at=datetime.now(timezone.utc))
    if len(raw) > MAX_RAW_BYTES:
        raise BadMessage(f"the message is over {MAX_RAW_BYTES} bytes")
    return user.lower(), raw, labels


def deliver(standin: GoogleStandIn, user: str, raw: bytes, labels: list[str]) -> tuple[str, int | None]:
    """Add the message and send the push notification when the stand-in has an endpoint; (Gmail id, push status)."""
    message_id = standin.add_message(user, raw, labels)
    if not standin.push_endpoint:
        return message_id, None
    try:
        return message_id, standin.deliver_push(user)
    except OSError as exc:  # DealPulse is down: the mail waits for the next poll, as it would with Gmail
        log.warning("push for %s failed: %s", user, exc)
        return message_id, 0


def inject_blueprint(standin: GoogleStandIn) -> Blueprint:
    """The injection and user-listing endpoints of `standin` (register on its app before it starts)."""
    blueprint = Blueprint("standin_inject", __name__)

    @blueprint.post(MESSAGES_PATH)
    def add_message() -> Any:
        try:
            user, raw, labels = message_bytes(request.get_json(silent=True))
        except BadMessage as exc:
            return jsonify(error=str(exc)), 400
        if user not in standin.users():
            return jsonify(error=f"no stand-in user {user}"), 404
        message_id, push_status = deliver(standin, user, raw, labels)
        return jsonify(id=message_id, user=user, push_status=push_status), 201

    @blueprint.get(USERS_PATH)
    def users() -> Any:
        return jsonify(users={user: standin.refresh_tokens(user) for user in standin.users()})

    return blueprint


class InboxFolder:
    """Delivers `DIR/<address>/*.eml` files to the stand-in user `address`, moving each to `delivered/` after."""

    def __init__(self, standin: GoogleStandIn, path: Path, interval: float = 1.0):
        self.standin, self.path, self.interval = standin, Path(path), interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="standin-inbox", daemon=True)
        self.path.mkdir(parents=True, exist_ok=True)

    def deliver_new(self) -> int:
        """Deliver every waiting file now; returns how many (files for unknown users stay, with a warning)."""
        delivered = 0
        known = set(self.standin.users())
        for folder in sorted(p for p in self.path.iterdir() if p.is_dir()):
            files = sorted(folder.glob("*.eml"))
            if files and folder.name.lower() not in known:
                log.warning("%s: no stand-in user %s; its files wait", folder, folder.name)
                continue
            for file in files:
                deliver(self.standin, folder.name.lower(), file.read_bytes(), ["INBOX"])
                done = folder / "delivered"
                done.mkdir(exist_ok=True)
                file.rename(done / file.name)
                delivered += 1
        return delivered

    def start(self) -> "InboxFolder":
        """Watch the folder every `interval` seconds on a daemon thread; returns self."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop watching."""
        self._stop.set()
        self._thread.join(timeout=10)

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.deliver_new()
            except OSError:
                log.warning("inbox folder %s: delivery failed", self.path, exc_info=True)
