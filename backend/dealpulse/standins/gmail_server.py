"""Gmail v1 stand-in: mailbox state (messages, labels, history) and the JSON resources the API returns."""

from __future__ import annotations

import base64
import email
import email.parser
import email.policy
import email.utils
import hashlib
import html
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message
from typing import Any, Callable, Iterable

from flask import Blueprint, Response, current_app, request
from werkzeug.test import Client

from dealpulse.standins.discovery import request_problem
from dealpulse.standins.faults import BATCH_PART_ENVIRON_KEY
from dealpulse.standins.google_errors import error_body, error_response

SYSTEM_LABELS = (
    "INBOX", "SENT", "DRAFT", "SPAM", "TRASH", "UNREAD", "STARRED", "IMPORTANT", "CHAT",
    "CATEGORY_PERSONAL", "CATEGORY_SOCIAL", "CATEGORY_PROMOTIONS", "CATEGORY_UPDATES", "CATEGORY_FORUMS",
)
HISTORY_TYPES = ("messageAdded", "messageDeleted", "labelAdded", "labelRemoved")
_HISTORY_FIELDS = {"messageAdded": "messagesAdded", "messageDeleted": "messagesDeleted", "labelAdded": "labelsAdded", "labelRemoved": "labelsRemoved"}
FORMATS = ("full", "metadata", "minimal", "raw")


class GmailRequestError(Exception):
    """A request the real API would refuse; carries what the error response needs."""

    def __init__(self, code: int, message: str, reason: str):
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason


def b64url(data: bytes) -> str:
    """Unpadded base64url, as Gmail sends `raw` and `body.data`."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _encode_token(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode("ascii")


def _decode_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode("ascii")).decode()
    except (ValueError, UnicodeError) as exc:
        raise GmailRequestError(400, "Invalid pageToken", "invalidArgument") from exc


@dataclass
class StoredMessage:
    """One message as the mailbox keeps it."""

    id: str
    thread_id: str
    raw: bytes
    label_ids: list[str]
    internal_date: int  # epoch milliseconds
    history_id: int
    parsed: Message = field(repr=False)


@dataclass(frozen=True)
class _HistoryEntry:
    id: int
    kind: str  # one of HISTORY_TYPES
    message: dict[str, Any]  # {"id", "threadId", "labelIds"?}
    label_ids: tuple[str, ...] = ()


class GmailMailbox:
    """One user's mailbox with Gmail's observable behaviour: ids, threads, labels, monotonic history; thread-safe."""

    def __init__(self, email_address: str, first_history_id: int = 1000):
        self.email = email_address
        self._lock = threading.RLock()
        self._messages: dict[str, StoredMessage] = {}
        self._history: list[_HistoryEntry] = []
        self._history_id = first_history_id
        self._oldest_start = first_history_id  # smallest startHistoryId history.list still answers
        self._threads_by_message_id: dict[str, str] = {}
        self._id_base = int(hashlib.sha256(email_address.lower().encode()).hexdigest()[:6], 16) << 36
        self._next_id = 0
        self.user_labels: dict[str, str] = {}  # label id -> name
        self.watch: dict[str, Any] | None = None

    # -- changes -------------------------------------------------------------------------------------------
    def add_message(
        self, raw: bytes, label_ids: Iterable[str] = ("INBOX",), internal_date: datetime | int | None = None
    ) -> str:
        """Store RFC 822 bytes as a new message (threaded by References/In-Reply-To); return its id."""
        if not isinstance(raw, (bytes, bytearray)):
            raise TypeError("raw must be the RFC 822 bytes of the message")
        parsed = email.message_from_bytes(bytes(raw), policy=email.policy.compat32)
        with self._lock:
            self._next_id += 1
            message_id = format(self._id_base + self._next_id, "016x")
            thread_id = self._thread_for(parsed) or message_id
            own_mid = _bare_id(parsed.get("Message-ID", ""))
            if own_mid:
                self._threads_by_message_id.setdefault(own_mid, thread_id)
            labels = list(dict.fromkeys(label_ids))
            for label in labels:
                if label not in SYSTEM_LABELS and label not in self.user_labels:
                    self.user_labels[label] = label
            history_id = self._bump()
            stored = StoredMessage(message_id, thread_id, bytes(raw), labels, _internal_date(parsed, internal_date), history_id, parsed)
            self._messages[message_id] = stored
            self._history.append(_HistoryEntry(history_id, "messageAdded", {"id": message_id, "threadId": thread_id, "labelIds": list(labels)}))
            return message_id

    def delete_message(self, message_id: str) -> None:
        """Delete a message permanently (a messageDeleted history record)."""
        with self._lock:
            stored = self._messages.pop(message_id, None)
            if stored is None:
                raise KeyError(message_id)
            history_id = self._bump()
            self._history.append(_HistoryEntry(history_id, "messageDeleted", {"id": stored.id, "threadId": stored.thread_id}))

    def modify_labels(self, message_id: str, add: Iterable[str] = (), remove: Iterable[str] = ()) -> None:
        """Add/remove labels on a message (labelAdded/labelRemoved history records)."""
        with self._lock:
            stored = self._messages[message_id]
            added = [label for label in dict.fromkeys(add) if label not in stored.label_ids]
            removed = [label for label in dict.fromkeys(remove) if label in stored.label_ids]
            stored.label_ids = [label for label in stored.label_ids if label not in removed] + added
            for kind, labels in (("labelAdded", added), ("labelRemoved", removed)):
                if labels:
                    stored.history_id = self._bump()
                    self._history.append(_HistoryEntry(stored.history_id, kind, {"id": stored.id, "threadId": stored.thread_id, "labelIds": list(stored.label_ids)}, tuple(labels)))

    def expire_history_before(self, history_id: int) -> None:
        """Forget history records older than `history_id`; older startHistoryIds then answer 404."""
        with self._lock:
            self._history = [entry for entry in self._history if entry.id >= history_id]
            self._oldest_start = max(self._oldest_start, history_id - 1)

    def _bump(self) -> int:
        self._history_id += 1
        return self._history_id

    def _thread_for(self, parsed: Message) -> str | None:
        refs = _bare_ids(parsed.get("References", "")) + _bare_ids(parsed.get("In-Reply-To", ""))
        for ref in reversed(refs):
            if ref in self._threads_by_message_id:
                return self._threads_by_message_id[ref]
        return None

    # -- reads ---------------------------------------------------------------------------------------------
    @property
    def history_id(self) -> int:
        """The mailbox's current history id."""
        with self._lock:
            return self._history_id

    def message_ids(self) -> list[str]:
        """Ids of every stored message (any label)."""
        with self._lock:
            return list(self._messages)

    def profile(self) -> dict[str, Any]:
        """users.getProfile."""
        with self._lock:
            return {
                "emailAddress": self.email,
                "messagesTotal": len(self._messages),
                "threadsTotal": len({m.thread_id for m in self._messages.values()}),
                "historyId": str(self._history_id),
            }

    def list_messages(
        self,
        label_ids: list[str],
        q: str,
        page_token: str | None,
        max_results: int,
        include_spam_trash: bool,
    ) -> dict[str, Any]:
        """users.messages.list: newest first, stable page tokens (position-based, so inserts don't shift pages)."""
        after, before = _date_bounds(q)
        with self._lock:
            rows = [
                m for m in self._messages.values()
                if all(label in m.label_ids for label in label_ids)
                and (include_spam_trash or not {"SPAM", "TRASH"} & set(m.label_ids))
                and (after is None or m.internal_date >= after * 1000)
                and (before is None or m.internal_date < before * 1000)
            ]
        rows.sort(key=lambda m: (m.internal_date, m.id), reverse=True)
        total = len(rows)
        if page_token:
            date_text, _, last_id = _decode_token(page_token).partition(":")
            if not date_text.isdigit():
                raise GmailRequestError(400, "Invalid pageToken", "invalidArgument")
            position = (int(date_text), last_id)
            rows = [m for m in rows if (m.internal_date, m.id) < position]
        page = rows[:max_results]
        body: dict[str, Any] = {"resultSizeEstimate": total}
        if page:
            body["messages"] = [{"id": m.id, "threadId": m.thread_id} for m in page]
        if len(rows) > max_results:
            body["nextPageToken"] = _encode_token(f"{page[-1].internal_date}:{page[-1].id}")
        return body

    def get_message(self, message_id: str, fmt: str, metadata_headers: list[str]) -> dict[str, Any]:
        """users.messages.get in `full`, `metadata`, `minimal` or `raw` format."""
        if fmt not in FORMATS:
            raise GmailRequestError(400, f"Invalid value at 'format' ({fmt})", "invalidArgument")
        with self._lock:
            stored = self._messages.get(message_id)
            if stored is None:
                raise GmailRequestError(404, "Requested entity was not found.", "notFound")
            body: dict[str, Any] = {
                "id": stored.id,
                "threadId": stored.thread_id,
                "labelIds": list(stored.label_ids),
                "snippet": _snippet(stored.parsed),
                "sizeEstimate": len(stored.raw),
                "historyId": str(stored.history_id),
                "internalDate": str(stored.internal_date),
            }
        if fmt == "raw":
            body["raw"] = b64url(stored.raw)
        elif fmt == "full":
            body["payload"] = payload_tree(stored.id, stored.parsed)
        elif fmt == "metadata":
            wanted = {h.lower() for h in metadata_headers}
            headers = [h for h in _headers(stored.parsed) if not wanted or h["name"].lower() in wanted]
            body["payload"] = {"partId": "", "mimeType": stored.parsed.get_content_type(), "filename": "", "headers": headers, "body": {"size": 0}}
        return body

    def get_attachment(self, message_id: str, attachment_id: str) -> dict[str, Any]:
        """users.messages.attachments.get."""
        with self._lock:
            stored = self._messages.get(message_id)
        if stored is not None:
            for part_id, part in _walk(stored.parsed):
                if _attachment_id(stored.id, part_id) == attachment_id:
                    data = part.get_payload(decode=True) or b""
                    return {"attachmentId": attachment_id, "size": len(data), "data": b64url(data)}
        raise GmailRequestError(404, "Requested entity was not found.", "notFound")

    def list_history(
        self,
        start_history_id: int,
        history_types: list[str],
        label_id: str | None,
        page_token: str | None,
        max_results: int,
    ) -> dict[str, Any]:
        """users.history.list; a start id older than the retained window raises a 404 as Gmail does."""
        unknown = [t for t in history_types if t not in HISTORY_TYPES]
        if unknown:
            raise GmailRequestError(400, f"Invalid value at 'history_types' ({unknown[0]})", "invalidArgument")
        types = set(history_types or HISTORY_TYPES)
        with self._lock:
            if start_history_id < self._oldest_start:
                raise GmailRequestError(404, "Requested entity was not found.", "notFound")
            after = start_history_id
            if page_token:
                text = _decode_token(page_token)
                if not text.isdigit():
                    raise GmailRequestError(400, "Invalid pageToken", "invalidArgument")
                after = int(text)
            entries = [
                e for e in self._history
                if e.id > after and e.kind in types
                and (label_id is None or label_id in e.message.get("labelIds", ()) or label_id in e.label_ids)
            ]
            current = self._history_id
        page = entries[:max_results]
        body: dict[str, Any] = {"historyId": str(current)}
        if page:
            body["history"] = [_history_record(e) for e in page]
        if len(entries) > max_results:
            body["nextPageToken"] = _encode_token(str(page[-1].id))
        return body

    def labels(self) -> dict[str, Any]:
        """users.labels.list: the system labels and any user labels in use."""
        items: list[dict[str, Any]] = []
        for label in SYSTEM_LABELS:
            item: dict[str, Any] = {"id": label, "name": label, "type": "system"}
            if label in ("SPAM", "TRASH"):
                item.update(messageListVisibility="hide", labelListVisibility="labelHide")
            items.append(item)
        with self._lock:
            for label_id, name in self.user_labels.items():
                items.append({"id": label_id, "name": name, "type": "user", "messageListVisibility": "show", "labelListVisibility": "labelShow"})
        return {"labels": items}


def _history_record(entry: _HistoryEntry) -> dict[str, Any]:
    message = dict(entry.message)
    record: dict[str, Any] = {"id": str(entry.id), "messages": [{"id": message["id"], "threadId": message["threadId"]}]}
    field_name = _HISTORY_FIELDS[entry.kind]
    if entry.kind in ("labelAdded", "labelRemoved"):
        record[field_name] = [{"message": message, "labelIds": list(entry.label_ids)}]
    else:
        record[field_name] = [{"message": message}]
    return record


# -- parsing helpers ---------------------------------------------------------------------------------------
_ANGLE_ID = re.compile(r"<([^<>\s]+)>")


def _bare_id(value: str) -> str:
    ids = _bare_ids(value)
    return ids[0] if ids else str(value).strip().strip("<>")


def _bare_ids(value: Any) -> list[str]:
    return _ANGLE_ID.findall(str(value or ""))


def _internal_date(parsed: Message, given: datetime | int | None) -> int:
    if isinstance(given, datetime):
        return int(given.timestamp() * 1000)
    if isinstance(given, int):
        return given
    try:
        when = email.utils.parsedate_to_datetime(str(parsed.get("Date", "")))
        return int(when.timestamp() * 1000)
    except (TypeError, ValueError, IndexError):
        return int(time.time() * 1000)


_DATE_TERM = re.compile(r"\b(after|before):(\S+)")


def _date_bounds(q: str) -> tuple[int | None, int | None]:
    """`after:`/`before:` terms of a search query as epoch seconds (epoch numbers or YYYY/MM/DD); other terms ignored."""
    bounds: dict[str, int] = {}
    for name, value in _DATE_TERM.findall(q or ""):
        if value.isdigit():
            bounds[name] = int(value)
            continue
        try:
            bounds[name] = int(datetime.strptime(value.replace("-", "/"), "%Y/%m/%d").timestamp())
        except ValueError as exc:
            raise GmailRequestError(400, f"Invalid search query term {name}:{value}", "invalidArgument") from exc
    return bounds.get("after"), bounds.get("before")


def _unfold(value: str) -> str:
    return re.sub(r"\r?\n[ \t]+", " ", str(value))


def _headers(part: Message) -> list[dict[str, str]]:
    return [{"name": name, "value": _unfold(value)} for name, value in part.items()]


def _walk(part: Message, part_id: str = "") -> Iterable[tuple[str, Message]]:
    yield part_id, part
    if part.is_multipart():
        for index, child in enumerate(part.get_payload()):
            yield from _walk(child, f"{part_id}.{index}" if part_id else str(index))


def _attachment_id(message_id: str, part_id: str) -> str:
    return "ANGjdJ" + b64url(hashlib.sha256(f"{message_id}/{part_id}".encode()).digest())


def payload_tree(message_id: str, part: Message, part_id: str = "") -> dict[str, Any]:
    """The `payload` of format=full: partId, mimeType, filename, headers, body {size, data | attachmentId}, parts."""
    node: dict[str, Any] = {
        "partId": part_id,
        "mimeType": part.get_content_type(),
        "filename": part.get_filename() or "",
        "headers": _headers(part),
    }
    if part.is_multipart():
        node["body"] = {"size": 0}
        node["parts"] = [
            payload_tree(message_id, child, f"{part_id}.{i}" if part_id else str(i))
            for i, child in enumerate(part.get_payload())
        ]
        return node
    data = part.get_payload(decode=True) or b""
    if node["filename"]:
        node["body"] = {"attachmentId": _attachment_id(message_id, part_id), "size": len(data)}
    else:
        node["body"] = {"size": len(data), "data": b64url(data)} if data else {"size": 0}
    return node


def _snippet(parsed: Message) -> str:
    for _, part in _walk(parsed):
        if part.get_content_maintype() == "text" and not part.get_filename():
            data = part.get_payload(decode=True) or b""
            text = data.decode(part.get_content_charset() or "utf-8", errors="replace")
            if part.get_content_subtype() == "html":
                text = re.sub(r"<[^>]+>", " ", text)
            return html.escape(" ".join(html.unescape(text).split())[:200], quote=True)
    return ""


# -- HTTP ------------------------------------------------------------------------------------------------------
MAX_BATCH_PARTS = 100


def gmail_blueprint(mailbox_for_request: Callable[[], GmailMailbox | None]) -> Blueprint:
    """Routes of Gmail v1 under /gmail/v1/users/<userId>/ plus the multipart batch endpoint."""
    bp = Blueprint("gmail", __name__)

    def mailbox(user_id: str) -> GmailMailbox:
        box = mailbox_for_request()
        if box is None:
            raise GmailRequestError(401, "Request had invalid authentication credentials.", "authError")
        if user_id not in ("me", box.email):
            raise GmailRequestError(403, "Delegation denied for " + box.email, "forbidden")
        return box

    @bp.errorhandler(GmailRequestError)
    def refused(exc: GmailRequestError) -> Response:
        return error_response(exc.code, exc.message, exc.reason)

    @bp.get("/gmail/v1/users/<user_id>/profile")
    def profile(user_id: str) -> Any:
        return mailbox(user_id).profile()

    @bp.get("/gmail/v1/users/<user_id>/messages")
    def list_messages(user_id: str) -> Any:
        box = mailbox(user_id)
        return box.list_messages(
            label_ids=request.args.getlist("labelIds"),
            q=request.args.get("q", ""),
            page_token=request.args.get("pageToken"),
            max_results=_max_results(100, 500),
            include_spam_trash=request.args.get("includeSpamTrash", "false") == "true",
        )

    @bp.get("/gmail/v1/users/<user_id>/messages/<message_id>")
    def get_message(user_id: str, message_id: str) -> Any:
        box = mailbox(user_id)
        return box.get_message(message_id, request.args.get("format", "full"), request.args.getlist("metadataHeaders"))

    @bp.get("/gmail/v1/users/<user_id>/messages/<message_id>/attachments/<attachment_id>")
    def get_attachment(user_id: str, message_id: str, attachment_id: str) -> Any:
        return mailbox(user_id).get_attachment(message_id, attachment_id)

    @bp.get("/gmail/v1/users/<user_id>/history")
    def list_history(user_id: str) -> Any:
        box = mailbox(user_id)
        start = request.args.get("startHistoryId", "")
        if not start.isdigit():
            raise GmailRequestError(400, "Missing or invalid startHistoryId", "invalidArgument")
        return box.list_history(
            int(start),
            request.args.getlist("historyTypes"),
            request.args.get("labelId"),
            request.args.get("pageToken"),
            _max_results(100, 500),
        )

    @bp.get("/gmail/v1/users/<user_id>/labels")
    def labels(user_id: str) -> Any:
        return mailbox(user_id).labels()

    @bp.post("/gmail/v1/users/<user_id>/watch")
    def watch(user_id: str) -> Any:
        box = mailbox(user_id)
        body = request.get_json(silent=True) or {}
        problem = request_problem("gmail.v1", "WatchRequest", body)
        if problem:
            raise GmailRequestError(400, problem, "invalidArgument")
        if not str(body.get("topicName", "")).startswith("projects/"):
            raise GmailRequestError(400, "Invalid topicName", "invalidArgument")
        expiration = int(time.time() * 1000) + 7 * 24 * 3600 * 1000
        box.watch = {
            "topicName": body["topicName"], "labelIds": body.get("labelIds", []),
            "labelFilterBehavior": body.get("labelFilterBehavior", ""), "expiration": expiration,
        }
        return {"historyId": str(box.history_id), "expiration": str(expiration)}

    @bp.post("/gmail/v1/users/<user_id>/stop")
    def stop(user_id: str) -> Any:
        mailbox(user_id).watch = None
        return Response(status=204)

    @bp.post("/batch/gmail/v1")
    @bp.post("/batch")
    def batch() -> Any:
        return _answer_batch()

    return bp


def _max_results(default: int, ceiling: int) -> int:
    text = request.args.get("maxResults")
    if text is None:
        return default
    if not text.isdigit() or int(text) < 1:
        raise GmailRequestError(400, f"Invalid value for maxResults: {text}", "invalidArgument")
    return min(int(text), ceiling)


def _answer_batch() -> Response:
    """Split a multipart/mixed batch into its application/http requests, run each, and answer in kind."""
    content_type = request.headers.get("Content-Type", "")
    if not content_type.startswith("multipart/mixed"):
        raise GmailRequestError(400, "Batch requests must be multipart/mixed", "invalidArgument")
    parser = email.parser.BytesFeedParser(policy=email.policy.compat32)
    parser.feed(b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + request.get_data())
    envelope = parser.close()
    parts = envelope.get_payload() if envelope.is_multipart() else []
    if not parts:
        raise GmailRequestError(400, "Batch request contains no parts", "invalidArgument")
    if len(parts) > MAX_BATCH_PARTS:
        raise GmailRequestError(400, f"Too many requests in batch: {len(parts)} (at most {MAX_BATCH_PARTS})", "invalidArgument")
    request.environ["dealpulse.batch_parts"] = len(parts)
    client = Client(current_app.wsgi_app)
    boundary = "batch_" + uuid.uuid4().hex
    chunks = []
    for part in parts:
        status_line, payload = _run_part(client, part)
        content_id = str(part.get("Content-ID", "")).strip()
        response_id = "<response-" + content_id[1:] if content_id.startswith("<") else "response-" + content_id
        chunks.append(
            f"--{boundary}\r\nContent-Type: application/http\r\nContent-ID: {response_id}\r\n\r\n{status_line}\r\n{payload}\r\n"
        )
    chunks.append(f"--{boundary}--\r\n")
    return Response("".join(chunks), status=200, content_type=f"multipart/mixed; boundary={boundary}")


def _run_part(client: Client, part: Message) -> tuple[str, str]:
    payload = part.get_payload()
    if not isinstance(payload, str) or " " not in payload.split("\n", 1)[0]:
        return "HTTP/1.1 400 Bad Request", "Content-Type: application/json; charset=UTF-8\r\n\r\n" + json.dumps(
            error_body(400, "Malformed batch part", "invalidArgument")
        )
    request_line, _, rest = payload.replace("\r\n", "\n").partition("\n")
    method, target = request_line.split(" ")[:2]
    inner = email.message_from_string(rest, policy=email.policy.compat32)
    headers = {k: v for k, v in inner.items() if k.lower() not in ("content-length", "host", "mime-version")}
    if not any(k.lower() == "authorization" for k in headers) and "Authorization" in request.headers:
        headers["Authorization"] = request.headers["Authorization"]
    body = inner.get_payload() or None
    path, _, query = target.partition("?")
    answer = client.open(
        path, method=method, query_string=query, headers=headers, data=body,
        environ_overrides={BATCH_PART_ENVIRON_KEY: True},
    )
    lines = [f"Content-Type: {answer.headers.get('Content-Type', 'application/json')}"]
    if "Retry-After" in answer.headers:
        lines.append(f"Retry-After: {answer.headers['Retry-After']}")
    status_line = f"HTTP/1.1 {answer.status}"
    return status_line, "\r\n".join(lines) + "\r\n\r\n" + answer.get_data(as_text=True)
