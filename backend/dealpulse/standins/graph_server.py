"""Microsoft Graph v1.0 stand-in: mail and calendarView delta, messages, /me and subscriptions with validation."""

from __future__ import annotations

import base64
import email.utils
import hashlib
import json
import math
import re
import secrets
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Mapping
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import lxml.html
from lxml import etree
import requests
from flask import Flask, Response, g, request

from dealpulse.standins.entra import EntraDirectory, InvalidAccessToken
from dealpulse.standins.faults import Fault, FaultPlan

#: Folders the stand-in knows by their well-known names.
WELL_KNOWN_FOLDERS = ("inbox", "sentitems", "drafts", "deleteditems", "archive")
DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 1000
#: Longest subscription lifetime Graph allows for Outlook resources, in minutes.
MAX_SUBSCRIPTION_MINUTES = 10070
VALIDATION_TIMEOUT = 10.0
_CALENDAR = "calendar"

MESSAGE_PROPERTIES = (
    "id", "createdDateTime", "lastModifiedDateTime", "changeKey", "categories", "receivedDateTime", "sentDateTime",
    "hasAttachments", "internetMessageId", "subject", "bodyPreview", "importance", "parentFolderId",
    "conversationId", "conversationIndex", "isDeliveryReceiptRequested", "isReadReceiptRequested", "isRead",
    "isDraft", "webLink", "inferenceClassification", "body", "sender", "from", "toRecipients", "ccRecipients",
    "bccRecipients", "replyTo", "flag", "internetMessageHeaders", "uniqueBody",
)
#: Properties Graph only returns when `$select` names them.
_SELECT_ONLY = ("internetMessageHeaders", "uniqueBody")
_MAIL_SCOPES = {"Mail.Read", "Mail.ReadBasic", "Mail.ReadWrite", "Mail.Read.Shared", "Mail.ReadWrite.Shared"}
_CALENDAR_SCOPES = {"Calendars.Read", "Calendars.ReadWrite", "Calendars.Read.Shared", "Calendars.ReadWrite.Shared"}
_FAULT_CODES = {429: "TooManyRequests", 500: "generalException", 502: "badGateway", 503: "serviceNotAvailable",
                504: "gatewayTimeout", 403: "ErrorAccessDenied", 404: "ErrorItemNotFound", 410: "resyncRequired"}
_RESOURCE_RE = re.compile(
    r"^/?(?:me|users/[^/]+)/(?:messages|events|mailFolders(?:\('[A-Za-z0-9_=-]+'\)|/[A-Za-z0-9_=-]+)/messages)$",
    re.IGNORECASE,
)


class GraphError(Exception):
    """A Graph error answer: HTTP status, error code and message, optional extra headers."""

    def __init__(self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message
        self.headers = dict(headers or {})


def graph_error_response(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> Response:
    """Graph's error JSON `{"error": {"code", "message", "innerError"}}` as a Flask response."""
    now = datetime.now(timezone.utc)
    request_id = str(uuid.uuid4())
    body = {"error": {"code": code, "message": message, "innerError": {
        "date": _iso(now), "request-id": request_id, "client-request-id": request_id}}}
    response = Response(json.dumps(body), status=status, mimetype="application/json")
    response.headers["request-id"] = request_id
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


# -- helpers ---------------------------------------------------------------------------------------------------
def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: datetime | str | None, default: datetime | None = None) -> datetime:
    if value is None:
        if default is None:
            raise ValueError("a time is required")
        return default
    if isinstance(value, datetime):
        moment = value
    else:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _opaque_id(prefix: str = "AAMkAG") -> str:
    return prefix + base64.urlsafe_b64encode(secrets.token_bytes(96)).decode()


def _recipient(value: Any) -> dict[str, Any]:
    """A Graph recipient from "Name <a@b>", "a@b", (name, address) or {"name", "address"}."""
    if isinstance(value, Mapping):
        if "emailAddress" in value:
            return {"emailAddress": dict(value["emailAddress"])}
        name, address = value.get("name", ""), value.get("address") or value.get("email", "")
    elif isinstance(value, (tuple, list)):
        name, address = value
    else:
        name, address = email.utils.parseaddr(str(value))
    if not address:
        raise ValueError(f"no email address in {value!r}")
    return {"emailAddress": {"name": name or address, "address": address}}


def _recipients(values: Any) -> list[dict[str, Any]]:
    if values is None:
        return []
    if isinstance(values, (str, Mapping)) or (isinstance(values, tuple) and len(values) == 2 and "@" in str(values[1])):
        values = [values]
    return [_recipient(v) for v in values]


def _html_to_preview(html: str) -> str:
    try:
        return lxml.html.fromstring(html).text_content()
    except (etree.ParserError, ValueError):  # empty, comment-only or otherwise textless markup
        return ""


def _preview(text: str) -> str:
    return " ".join(text.split())[:255]


def _etag(change_key: str) -> str:
    return f'W/"{change_key}"'


@dataclass
class _StoredMessage:
    immutable_id: str
    rest_id: str
    folder: str
    data: dict[str, Any]  # Graph JSON without id and parentFolderId
    received: datetime


@dataclass
class _StoredEvent:
    id: str
    data: dict[str, Any]  # Graph JSON without id; start/end in UTC
    start: datetime
    end: datetime


@dataclass(frozen=True)
class _Change:
    seq: int
    stream: str  # a folder name or "calendar"
    item_id: str  # immutable id
    rest_id: str
    removed: bool
    created: bool


@dataclass
class Mailbox:
    """One user's mail folders, calendar and change log."""

    address: str
    name: str
    oid: str
    messages: dict[str, _StoredMessage] = field(default_factory=dict)
    rest_index: dict[str, str] = field(default_factory=dict)
    events: dict[str, _StoredEvent] = field(default_factory=dict)
    changes: list[_Change] = field(default_factory=list)
    seq: int = 0
    folder_ids: dict[str, str] = field(default_factory=dict)

    def folder_id(self, folder: str) -> str:
        """The opaque id of a well-known folder."""
        if folder not in self.folder_ids:
            digest = hashlib.sha256(f"{self.address}/{folder}".encode()).digest()
            self.folder_ids[folder] = "AAMkAGI" + base64.urlsafe_b64encode(digest + digest[:12]).decode()
        return self.folder_ids[folder]

    def folder_by_ref(self, ref: str) -> str | None:
        """A folder's well-known name from a name or an id."""
        ref = ref.strip("'")
        if ref.lower() in WELL_KNOWN_FOLDERS:
            return ref.lower()
        for name in WELL_KNOWN_FOLDERS:
            if self.folder_id(name) == ref:
                return name
        return None

    def log(self, stream: str, item_id: str, rest_id: str, removed: bool, created: bool) -> None:
        """Record a change for delta queries."""
        self.seq += 1
        self.changes.append(_Change(self.seq, stream, item_id, rest_id, removed, created))


@dataclass(frozen=True)
class _DeltaParams:
    stream: str
    select: tuple[str, ...] | None = None
    received_after: datetime | None = None
    received_inclusive: bool = True
    change_types: frozenset[str] | None = None
    top: int | None = None
    window: tuple[datetime, datetime] | None = None
    initial_query: str = ""


@dataclass(frozen=True)
class _Item:
    item_id: str
    rest_id: str
    removed: bool
    created: bool


@dataclass(frozen=True)
class _PageState:
    owner: str
    params: _DeltaParams
    items: tuple[_Item, ...]
    pos: int
    page_no: int
    watermark: int


@dataclass(frozen=True)
class _DeltaState:
    owner: str
    params: _DeltaParams
    seq: int


@dataclass
class Subscription:
    """A change-notification subscription."""

    id: str
    owner: str
    resource: str
    change_type: str
    notification_url: str
    expiration: datetime
    client_state: str | None
    lifecycle_notification_url: str | None
    application_id: str
    creator_id: str
    tenant_id: str

    def to_json(self) -> dict[str, Any]:
        """The subscription as Graph serialises it."""
        return {
            "id": self.id, "resource": self.resource, "applicationId": self.application_id,
            "changeType": self.change_type, "clientState": self.client_state,
            "notificationUrl": self.notification_url, "notificationQueryOptions": None,
            "lifecycleNotificationUrl": self.lifecycle_notification_url,
            "expirationDateTime": self.expiration.strftime("%Y-%m-%dT%H:%M:%S.0000000Z"),
            "creatorId": self.creator_id, "includeResourceData": None, "latestSupportedTlsVersion": "v1_2",
            "encryptionCertificate": None, "encryptionCertificateId": None, "notificationUrlAppId": None,
        }


@dataclass
class Validation:
    """A record of one validation handshake the stand-in attempted."""

    url: str
    token: str
    status: int | None
    echoed: bool
    error: str = ""


class GraphStore:
    """Mailboxes, delta state and subscriptions behind the Graph stand-in; thread-safe."""

    def __init__(
        self,
        directory: EntraDirectory,
        faults: FaultPlan | None = None,
        empty_page_every: int = 3,
        notification_verify: bool | str = True,
        max_tokens: int = 20000,
    ):
        self.directory = directory
        self.faults = faults
        self.empty_page_every = empty_page_every
        self.notification_verify = notification_verify
        self.expired_token_style = "gone"
        self.base_url = "https://127.0.0.1/v1.0"  # set by the server once its port is known
        self.validations: list[Validation] = []
        self.auto_notify = False  # True: every change notifies the owner's matching subscriptions at once
        self.replays = False  # True: every page after the first repeats the previous page's last item
        self.notification_failures: list[str] = []
        self.subscriptions: dict[str, Subscription] = {}
        self._max_tokens = max_tokens
        self._lock = threading.RLock()
        self._mailboxes: dict[str, Mailbox] = {}
        self._pages: OrderedDict[str, _PageState] = OrderedDict()
        self._deltas: OrderedDict[str, _DeltaState] = OrderedDict()

    # -- mailboxes -----------------------------------------------------------------------------------------
    def mailbox(self, address: str) -> Mailbox:
        """The mailbox of `address`, created (and the user registered) on first use."""
        user = self.directory.add_user(address)
        with self._lock:
            if user.address not in self._mailboxes:
                self._mailboxes[user.address] = Mailbox(user.address, user.name, user.oid)
            return self._mailboxes[user.address]

    def add_message(self, user: str, fields: Mapping[str, Any] | None = None, **kwargs: Any) -> str:
        """Store a message built from simple fields; returns its (immutable) id. See `build_message` for fields."""
        spec = {**(fields or {}), **kwargs}
        folder = str(spec.pop("folder", "inbox")).lower()
        if folder not in WELL_KNOWN_FOLDERS:
            raise ValueError(f"unknown folder {folder!r}; use one of {WELL_KNOWN_FOLDERS}")
        box = self.mailbox(user)
        data, received = build_message(spec, owner=(box.name, box.address), folder=folder)
        with self._lock:
            stored = _StoredMessage(_opaque_id("AAkALgAAAAAAHYQDEapmEc2byACqAC-EWg0A"), _opaque_id(), folder, data, received)
            box.messages[stored.immutable_id] = stored
            box.rest_index[stored.rest_id] = stored.immutable_id
            box.log(folder, stored.immutable_id, stored.rest_id, removed=False, created=True)
        self._changed(box.address, folder, stored.immutable_id, "created")
        return stored.immutable_id

    def _find_message(self, box: Mailbox, message_id: str) -> _StoredMessage:
        stored = box.messages.get(message_id) or box.messages.get(box.rest_index.get(message_id, ""))
        if stored is None:
            raise KeyError(f"no message {message_id!r} in {box.address}")
        return stored

    def delete_message(self, user: str, message_id: str) -> None:
        """Delete a message for good (delta answers `@removed`)."""
        box = self.mailbox(user)
        with self._lock:
            stored = self._find_message(box, message_id)
            del box.messages[stored.immutable_id]
            box.log(stored.folder, stored.immutable_id, stored.rest_id, removed=True, created=False)
        self._changed(box.address, stored.folder, stored.immutable_id, "deleted")

    def move_message(self, user: str, message_id: str, folder: str) -> None:
        """Move a message: removed from its folder's delta, created in the other; the REST id changes."""
        box = self.mailbox(user)
        folder = folder.lower()
        if folder not in WELL_KNOWN_FOLDERS:
            raise ValueError(f"unknown folder {folder!r}")
        with self._lock:
            stored = self._find_message(box, message_id)
            box.log(stored.folder, stored.immutable_id, stored.rest_id, removed=True, created=False)
            old_folder, stored.folder = stored.folder, folder
            stored.rest_id = _opaque_id()
            box.rest_index[stored.rest_id] = stored.immutable_id
            _touch(stored.data)
            box.log(folder, stored.immutable_id, stored.rest_id, removed=False, created=True)
        self._changed(box.address, old_folder, stored.immutable_id, "deleted")
        self._changed(box.address, folder, stored.immutable_id, "created")

    def update_message(self, user: str, message_id: str, **changes: Any) -> None:
        """Change Graph properties of a message (e.g. `isRead=True`, `subject=...`); delta reports an update."""
        box = self.mailbox(user)
        unknown = (set(changes) - set(MESSAGE_PROPERTIES)) | ({"id", "parentFolderId"} & set(changes))
        if unknown:
            raise ValueError(f"cannot update {sorted(unknown)} on a message")
        with self._lock:
            stored = self._find_message(box, message_id)
            stored.data.update(changes)
            _touch(stored.data)
            box.log(stored.folder, stored.immutable_id, stored.rest_id, removed=False, created=False)
        self._changed(box.address, stored.folder, stored.immutable_id, "updated")

    def add_event(self, user: str, fields: Mapping[str, Any] | None = None, **kwargs: Any) -> str:
        """Store a calendar event built from simple fields; returns its id. See `build_event` for fields."""
        box = self.mailbox(user)
        data, start, end = build_event({**(fields or {}), **kwargs}, owner=(box.name, box.address))
        event_id = _opaque_id("AAMkAGE")
        with self._lock:
            box.events[event_id] = _StoredEvent(event_id, data, start, end)
            box.log(_CALENDAR, event_id, event_id, removed=False, created=True)
        self._changed(box.address, _CALENDAR, event_id, "created")
        return event_id

    def update_event(self, user: str, event_id: str, **fields: Any) -> None:
        """Change an event with the same simple fields `add_event` takes (e.g. `start=`, `subject=`)."""
        box = self.mailbox(user)
        with self._lock:
            stored = box.events[event_id]
            spec = {**stored.data.get("_spec", {}), **fields}
            data, start, end = build_event(spec, owner=(box.name, box.address), previous=stored.data)
            stored.data, stored.start, stored.end = data, start, end
            box.log(_CALENDAR, event_id, event_id, removed=False, created=False)
        self._changed(box.address, _CALENDAR, event_id, "updated")

    def cancel_event(self, user: str, event_id: str) -> None:
        """Mark an event cancelled (an update with `isCancelled: true`)."""
        self.update_event(user, event_id, is_cancelled=True)

    def delete_event(self, user: str, event_id: str) -> None:
        """Delete an event (delta answers `@removed`)."""
        box = self.mailbox(user)
        with self._lock:
            del box.events[event_id]
            box.log(_CALENDAR, event_id, event_id, removed=True, created=False)
        self._changed(box.address, _CALENDAR, event_id, "deleted")

    def message_json(self, user: str, message_id: str) -> dict[str, Any]:
        """The full Graph JSON of a stored message (headers included)."""
        box = self.mailbox(user)
        with self._lock:
            return _render_message(box, self._find_message(box, message_id), MESSAGE_PROPERTIES, immutable=True)

    def expire_delta_tokens(self, style: str = "gone") -> None:
        """Forget every delta and skip token: the next use answers 410 Gone (`style="gone"`) or 400
        `syncStateNotFound` (`style="sync_state_not_found"`)."""
        if style not in ("gone", "sync_state_not_found"):
            raise ValueError("style must be 'gone' or 'sync_state_not_found'")
        with self._lock:
            self._deltas.clear()
            self._pages.clear()
            self.expired_token_style = style

    # -- delta -------------------------------------------------------------------------------------------
    def delta(self, owner: str, stream: str, args: Mapping[str, str], headers: Mapping[str, str]) -> tuple[dict, dict]:
        """One page of a delta query: (body, response headers)."""
        box = self.mailbox(owner)
        preferences = _preferences(headers.get("Prefer", ""))
        immutable = preferences.get("IdType", "").strip('"') == "ImmutableId"
        applied = []
        if immutable:
            applied.append('IdType="ImmutableId"')
        with self._lock:
            if "$skiptoken" in args:
                state = self._page_state(args["$skiptoken"], owner, stream)
            elif "$deltatoken" in args:
                state = self._changes_since(box, self._delta_state(args["$deltatoken"], owner, stream))
            else:
                state = self._initial(box, _parse_delta_args(stream, args))
            page_size = _page_size(preferences, state.params)
            if "odata.maxpagesize" in preferences:
                applied.insert(0, f"odata.maxpagesize={page_size}")
            body = self._page(box, state, page_size, immutable, preferences)
        response_headers = {"Preference-Applied": ", ".join(applied)} if applied else {}
        return body, response_headers

    def _gone(self, token: str, stream: str) -> GraphError:
        try:
            initial = json.loads(base64.urlsafe_b64decode(token.encode() + b"==").decode())["q"]
        except (ValueError, KeyError, TypeError):
            initial = None
        if self.expired_token_style == "sync_state_not_found" or (initial is None and stream == _CALENDAR):
            return GraphError(400, "syncStateNotFound", "The sync state generation is not found. Please restart synchronization.")
        location = self._initial_url(stream, initial or "")
        return GraphError(410, "resyncRequired", "Resync required. Replace any local cached messages with the versions from the server.", {"Location": location})

    def _page_state(self, token: str, owner: str, stream: str) -> _PageState:
        state = self._pages.get(token)
        if state is None or state.owner != owner or state.params.stream != stream:
            raise self._gone(token, stream)
        return state

    def _delta_state(self, token: str, owner: str, stream: str) -> _DeltaState:
        state = self._deltas.get(token)
        if state is None or state.owner != owner or state.params.stream != stream:
            raise self._gone(token, stream)
        return state

    def _initial(self, box: Mailbox, params: _DeltaParams) -> _PageState:
        if params.stream == _CALENDAR:
            items = [
                _Item(e.id, e.id, False, True)
                for e in sorted(box.events.values(), key=lambda e: e.start)
                if _overlaps(e, params.window)
            ]
        else:
            items = [
                _Item(m.immutable_id, m.rest_id, False, True)
                for m in sorted(box.messages.values(), key=lambda m: m.received, reverse=True)
                if m.folder == params.stream and _received_ok(m, params)
            ]
        items = [i for i in items if _change_type_ok(i, params)]
        return _PageState(box.address, params, tuple(items), 0, 0, box.seq)

    def _changes_since(self, box: Mailbox, state: _DeltaState) -> _PageState:
        params = state.params
        latest: dict[str, _Item] = {}
        for change in box.changes:  # append-only, ordered by seq
            if change.seq <= state.seq or change.stream != params.stream:
                continue
            created = change.created or (change.item_id in latest and latest[change.item_id].created)
            latest.pop(change.item_id, None)
            latest[change.item_id] = _Item(change.item_id, change.rest_id, change.removed, created)
        items = []
        for item in latest.values():
            if not item.removed:
                if params.stream == _CALENDAR:
                    event = box.events.get(item.item_id)
                    if event is None or not _overlaps(event, params.window):
                        item = replace(item, removed=True)
                else:
                    message = box.messages.get(item.item_id)
                    if message is None or message.folder != params.stream:
                        item = replace(item, removed=True)
                    elif not _received_ok(message, params):
                        continue
                    else:
                        item = replace(item, rest_id=message.rest_id)
            if _change_type_ok(item, params):
                items.append(item)
        return _PageState(box.address, params, tuple(items), 0, 0, box.seq)

    def _page(self, box: Mailbox, state: _PageState, size: int, immutable: bool, prefs: Mapping[str, str]) -> dict:
        params = state.params
        remaining = len(state.items) - state.pos
        values: list[dict[str, Any]] = []
        body: dict[str, Any] = {"@odata.context": self._context(params.stream)}
        every = self.empty_page_every
        if every > 0 and remaining > 0 and state.page_no % every == every - 1:
            next_state = replace(state, page_no=state.page_no + 1)  # an empty page, as Graph sometimes sends
        else:
            replay = 1 if self.replays and state.pos > 0 else 0  # the previous page's last item again
            for item in state.items[state.pos - replay: state.pos + size]:
                rendered = self._render_item(box, item, params, immutable, prefs)
                if rendered is not None:
                    values.append(rendered)
            next_state = replace(state, pos=state.pos + size, page_no=state.page_no + 1)
            remaining -= size
        body["value"] = values
        if remaining > 0:
            body["@odata.nextLink"] = self._link(params, "$skiptoken", self._remember_page(next_state))
        else:
            token = self._encode_token(params)
            self._deltas[token] = _DeltaState(state.owner, params, state.watermark)
            while len(self._deltas) > self._max_tokens:
                self._deltas.popitem(last=False)  # the oldest tokens expire, as Graph's do
            body["@odata.deltaLink"] = self._link(params, "$deltatoken", token)
        return body

    def _render_item(self, box: Mailbox, item: _Item, params: _DeltaParams, immutable: bool, prefs) -> dict | None:
        odata_type = "#microsoft.graph.event" if params.stream == _CALENDAR else "#microsoft.graph.message"
        if item.removed:
            return {"@odata.type": odata_type, "id": item.item_id if immutable else item.rest_id,
                    "@removed": {"reason": "deleted"}}
        if params.stream == _CALENDAR:
            event = box.events.get(item.item_id)
            return None if event is None else _render_event(event, prefs.get("outlook.timezone", "UTC").strip('"'))
        message = box.messages.get(item.item_id)
        if message is None or message.folder != params.stream:
            return None  # changed again after this page was planned; the next round reports it
        rendered = _render_message(box, message, params.select, immutable)
        return {"@odata.type": odata_type, **rendered}

    def _remember_page(self, state: _PageState) -> str:
        token = self._encode_token(state.params)
        self._pages[token] = state
        while len(self._pages) > self._max_tokens:
            self._pages.popitem(last=False)
        return token

    @staticmethod
    def _encode_token(params: _DeltaParams) -> str:
        raw = json.dumps({"i": secrets.token_urlsafe(24), "q": params.initial_query}).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def _stream_path(self, stream: str) -> str:
        if stream == _CALENDAR:
            return "/me/calendarView/delta"
        return f"/me/mailFolders/{stream}/messages/delta"

    def _initial_url(self, stream: str, initial_query: str) -> str:
        url = self.base_url + self._stream_path(stream)
        return url + ("?" + initial_query if initial_query else "")

    def _link(self, params: _DeltaParams, name: str, token: str) -> str:
        return self.base_url + self._stream_path(params.stream) + "?" + urlencode({name: token}, safe="$")

    def _context(self, stream: str) -> str:
        kind = "event" if stream == _CALENDAR else "message"
        return f"{self.base_url}/$metadata#Collection({kind})"

    # -- subscriptions ---------------------------------------------------------------------------------
    def create_subscription(self, owner: str, body: Mapping[str, Any], claims: Mapping[str, Any]) -> Subscription:
        """Validate a subscription request, run the validation handshake, then store it."""
        for name in ("changeType", "notificationUrl", "resource", "expirationDateTime"):
            if not body.get(name):
                raise GraphError(400, "InvalidRequest", f"Property '{name}' is required.")
        change_type = str(body["changeType"])
        if not change_type or any(c not in ("created", "updated", "deleted") for c in change_type.split(",")):
            raise GraphError(400, "InvalidRequest", f"Invalid changeType '{change_type}'.")
        resource = str(body["resource"])
        if not _RESOURCE_RE.match(resource):
            raise GraphError(400, "InvalidRequest", f"Resource '{resource}' is not supported for subscriptions.")
        expiration = self._valid_expiration(body["expirationDateTime"])
        client_state = body.get("clientState")
        if client_state is not None and len(str(client_state)) > 128:
            raise GraphError(400, "InvalidRequest", "clientState must be at most 128 characters.")
        url = str(body["notificationUrl"])
        if not url.startswith(("http://", "https://")):
            raise GraphError(400, "InvalidRequest", "The notification URL must be an absolute http(s) URL.")
        lifecycle = body.get("lifecycleNotificationUrl")
        for target in [url] + ([lifecycle] if lifecycle else []):
            if not self._validate_endpoint(target):
                raise GraphError(400, "ValidationError", "Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request.")
        subscription = Subscription(
            id=str(uuid.uuid4()), owner=owner, resource=resource, change_type=change_type, notification_url=url,
            expiration=expiration, client_state=client_state, lifecycle_notification_url=lifecycle,
            application_id=str(claims.get("azp") or claims.get("appid") or self.directory.client_id),
            creator_id=str(claims.get("oid", "")), tenant_id=str(claims.get("tid", self.directory.tenant_id)),
        )
        with self._lock:
            self.subscriptions[subscription.id] = subscription
        return subscription

    @staticmethod
    def _valid_expiration(value: Any) -> datetime:
        try:
            expiration = _parse_time(str(value))
        except ValueError as exc:
            raise GraphError(400, "InvalidRequest", f"expirationDateTime '{value}' is not a valid date.") from exc
        now = datetime.now(timezone.utc)
        if expiration <= now:
            raise GraphError(400, "ExtensionError", "Subscription expiration must be in the future.")
        if expiration > now + timedelta(minutes=MAX_SUBSCRIPTION_MINUTES):
            raise GraphError(400, "ExtensionError", f"Subscription expiration can only be {MAX_SUBSCRIPTION_MINUTES} minutes in the future.")
        return expiration

    def _validate_endpoint(self, url: str) -> bool:
        token = f"Validation: Testing client application reachability for subscription Request-Id: {uuid.uuid4()}"
        session = requests.Session()
        session.trust_env = False
        try:
            response = session.post(
                url, params={"validationToken": token}, data=b"",
                headers={"Content-Type": "text/plain; charset=utf-8"},
                timeout=VALIDATION_TIMEOUT, verify=self.notification_verify,
            )
        except requests.RequestException as exc:
            self.validations.append(Validation(url, token, None, False, str(exc)))
            return False
        finally:
            session.close()
        content_type = response.headers.get("Content-Type", "")
        echoed = response.status_code == 200 and response.text == token and content_type.startswith("text/plain")
        self.validations.append(Validation(url, token, response.status_code, echoed))
        return echoed

    def subscription(self, owner: str, subscription_id: str) -> Subscription:
        """A subscription of `owner`, or a 404 GraphError."""
        with self._lock:
            subscription = self.subscriptions.get(subscription_id)
        if subscription is None or subscription.owner != owner:
            raise GraphError(404, "ResourceNotFound", f"The object was not found. Subscription '{subscription_id}'.")
        return subscription

    def renew_subscription(self, owner: str, subscription_id: str, body: Mapping[str, Any]) -> Subscription:
        """PATCH: a new expirationDateTime (the only property Graph lets you change here besides notificationUrl)."""
        subscription = self.subscription(owner, subscription_id)
        if "expirationDateTime" not in body:
            raise GraphError(400, "InvalidRequest", "Only expirationDateTime and notificationUrl can be updated.")
        subscription.expiration = self._valid_expiration(body["expirationDateTime"])
        return subscription

    def delete_subscription(self, owner: str, subscription_id: str) -> None:
        """DELETE a subscription."""
        self.subscription(owner, subscription_id)
        with self._lock:
            del self.subscriptions[subscription_id]

    def notify(
        self, subscription_id: str, resource: str | None = None, change_type: str = "created",
        resource_id: str | None = None, client_state: str | None = None,
    ) -> int:
        """POST a change notification for a subscription to its notificationUrl; returns the receiver's status.

        `resource` defaults to the subscription's resource (or `Users/{oid}/Messages/{resource_id}` when a
        message id is given); `client_state` overrides the stored one (to test receivers that must reject it).
        """
        with self._lock:
            subscription = self.subscriptions[subscription_id]
        oid = self.mailbox(subscription.owner).oid
        if resource is None:
            kind = "Events" if "events" in subscription.resource.lower() else "Messages"
            resource = f"Users/{oid}/{kind}/{resource_id}" if resource_id else subscription.resource
        notification: dict[str, Any] = {
            "subscriptionId": subscription.id,
            "subscriptionExpirationDateTime": subscription.expiration.isoformat(timespec="seconds"),
            "changeType": change_type,
            "resource": resource,
            "tenantId": subscription.tenant_id,
        }
        state = client_state if client_state is not None else subscription.client_state
        if state is not None:
            notification["clientState"] = state
        if resource_id:
            notification["resourceData"] = {
                "@odata.type": "#Microsoft.Graph.Event" if "Events" in resource else "#Microsoft.Graph.Message",
                "@odata.id": resource, "@odata.etag": _etag(secrets.token_urlsafe(12)), "id": resource_id,
            }
        return self._post(subscription.notification_url, {"value": [notification]})

    def notify_lifecycle(self, subscription_id: str, lifecycle_event: str = "reauthorizationRequired") -> int:
        """POST a lifecycle notification (reauthorizationRequired, subscriptionRemoved, missed) to the
        subscription's lifecycleNotificationUrl; returns the receiver's status."""
        if lifecycle_event not in ("reauthorizationRequired", "subscriptionRemoved", "missed"):
            raise ValueError(f"unknown lifecycle event {lifecycle_event!r}")
        with self._lock:
            subscription = self.subscriptions[subscription_id]
        if not subscription.lifecycle_notification_url:
            raise ValueError(f"subscription {subscription_id} has no lifecycleNotificationUrl")
        notification: dict[str, Any] = {
            "subscriptionId": subscription.id,
            "subscriptionExpirationDateTime": subscription.expiration.isoformat(timespec="seconds"),
            "tenantId": subscription.tenant_id,
            "lifecycleEvent": lifecycle_event,
        }
        if subscription.client_state is not None:
            notification["clientState"] = subscription.client_state
        return self._post(subscription.lifecycle_notification_url, {"value": [notification]})

    def _post(self, url: str, payload: dict[str, Any]) -> int:
        session = requests.Session()
        session.trust_env = False
        try:
            return session.post(url, json=payload, timeout=VALIDATION_TIMEOUT, verify=self.notification_verify).status_code
        finally:
            session.close()

    def _changed(self, owner: str, stream: str, item_id: str, change_type: str) -> None:
        """With `auto_notify`, tell every subscription of `owner` covering `stream` about the change."""
        if not self.auto_notify:
            return
        with self._lock:
            box = self._mailboxes[owner]
            targets = [s.id for s in self.subscriptions.values()
                       if s.owner == owner and change_type in s.change_type.split(",") and _covers(box, s.resource, stream)]
        for subscription_id in targets:  # outside the lock: a receiver may call straight back into Graph
            try:
                self.notify(subscription_id, change_type=change_type, resource_id=item_id)
            except requests.RequestException as exc:
                self.notification_failures.append(f"{subscription_id}: {exc}")

    def render_fault(self, fault: Fault, environ: dict[str, Any]) -> Response:
        """Graph's error answer for an injected fault (429 and 503 carry Retry-After in whole seconds)."""
        headers = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = str(math.ceil(fault.retry_after))
        code = _FAULT_CODES.get(fault.status, "generalException")
        message = "Too many requests. Please retry later." if fault.status == 429 else f"Injected fault {fault.status}."
        return graph_error_response(fault.status, code, message, headers)


# -- building and rendering ----------------------------------------------------------------------------------
_MESSAGE_FIELDS = {
    "from", "from_", "sender", "to", "cc", "bcc", "reply_to", "subject", "body_html", "body_text", "sent_at",
    "received_at", "internet_message_id", "conversation_id", "in_reply_to", "references", "headers", "is_read",
    "is_draft", "has_attachments", "importance", "categories",
}


def build_message(spec: Mapping[str, Any], owner: tuple[str, str], folder: str) -> tuple[dict[str, Any], datetime]:
    """Graph message JSON (no id/folder) from simple fields; returns (data, received time).

    Fields: from/from_ (default the owner for sentitems), sender, to, cc, bcc, reply_to (addresses as
    "Name <a@b>", "a@b", (name, address) or dicts), subject, body_html or body_text, sent_at, received_at
    (datetime or ISO), internet_message_id (with or without <>), conversation_id, in_reply_to, references,
    headers (extra {name: value}), is_read, is_draft, has_attachments, importance, categories.
    """
    unknown = set(spec) - _MESSAGE_FIELDS
    if unknown:
        raise TypeError(f"unknown message fields {sorted(unknown)}; use {sorted(_MESSAGE_FIELDS)}")
    sender_value = spec.get("from", spec.get("from_"))
    if sender_value is None:
        if folder != "sentitems":
            raise ValueError("a received message needs a sender (from=...)")
        sender_value = owner
    from_ = _recipient(sender_value)
    sender = _recipient(spec["sender"]) if spec.get("sender") else from_
    now = datetime.now(timezone.utc)
    sent_at = _parse_time(spec.get("sent_at"), now)
    received_at = _parse_time(spec.get("received_at"), sent_at)
    if "body_html" in spec and spec["body_html"] is not None:
        body = {"contentType": "html", "content": str(spec["body_html"])}
        preview = _preview(_html_to_preview(body["content"]))
    else:
        body = {"contentType": "text", "content": str(spec.get("body_text") or "")}
        preview = _preview(body["content"])
    message_id = str(spec.get("internet_message_id") or f"{uuid.uuid4().hex}@{from_['emailAddress']['address'].split('@')[-1]}")
    message_id = "<" + message_id.strip().strip("<>") + ">"
    subject = str(spec.get("subject") or "")
    conversation_id = str(spec.get("conversation_id") or _opaque_id("AAQkAG"))
    to, cc, bcc = _recipients(spec.get("to")), _recipients(spec.get("cc")), _recipients(spec.get("bcc"))
    headers = [
        {"name": "Message-ID", "value": message_id},
        {"name": "Date", "value": email.utils.format_datetime(sent_at)},
        {"name": "From", "value": _header_address(from_)},
        {"name": "Subject", "value": subject},
        {"name": "MIME-Version", "value": "1.0"},
        {"name": "Content-Type", "value": f"text/{'html' if body['contentType'] == 'html' else 'plain'}; charset=\"utf-8\""},
    ]
    if to:
        headers.append({"name": "To", "value": ", ".join(_header_address(r) for r in to)})
    if cc:
        headers.append({"name": "Cc", "value": ", ".join(_header_address(r) for r in cc)})
    if spec.get("in_reply_to"):
        headers.append({"name": "In-Reply-To", "value": "<" + str(spec["in_reply_to"]).strip("<>") + ">"})
    references = spec.get("references") or ([spec["in_reply_to"]] if spec.get("in_reply_to") else [])
    if references:
        headers.append({"name": "References", "value": " ".join("<" + str(r).strip("<>") + ">" for r in references)})
    for name, value in (spec.get("headers") or {}).items():
        headers.append({"name": str(name), "value": str(value)})
    change_key = secrets.token_urlsafe(18)
    data = {
        "@odata.etag": _etag(change_key),
        "createdDateTime": _iso(received_at),
        "lastModifiedDateTime": _iso(received_at),
        "changeKey": change_key,
        "categories": list(spec.get("categories") or []),
        "receivedDateTime": _iso(received_at),
        "sentDateTime": _iso(sent_at),
        "hasAttachments": bool(spec.get("has_attachments", False)),
        "internetMessageId": message_id,
        "subject": subject,
        "bodyPreview": preview,
        "importance": str(spec.get("importance", "normal")),
        "conversationId": conversation_id,
        "conversationIndex": base64.b64encode(secrets.token_bytes(22)).decode(),
        "isDeliveryReceiptRequested": False,
        "isReadReceiptRequested": False,
        "isRead": bool(spec.get("is_read", folder == "sentitems")),
        "isDraft": bool(spec.get("is_draft", False)),
        "webLink": "https://outlook.office365.com/owa/?ItemID=" + secrets.token_urlsafe(24) + "&exvsurl=1&viewmodel=ReadMessageItem",
        "inferenceClassification": "focused",
        "body": body,
        "sender": sender,
        "from": from_,
        "toRecipients": to,
        "ccRecipients": cc,
        "bccRecipients": bcc,
        "replyTo": _recipients(spec.get("reply_to")),
        "flag": {"flagStatus": "notFlagged"},
        "internetMessageHeaders": headers,
        "uniqueBody": dict(body),
    }
    return data, received_at


def _header_address(recipient: Mapping[str, Any]) -> str:
    address = recipient["emailAddress"]
    return email.utils.formataddr((address.get("name") or "", address["address"]))


def _touch(data: dict[str, Any]) -> None:
    change_key = secrets.token_urlsafe(18)
    data["changeKey"] = change_key
    data["@odata.etag"] = _etag(change_key)
    data["lastModifiedDateTime"] = _iso(datetime.now(timezone.utc))


def _render_message(box: Mailbox, message: _StoredMessage, select: Iterable[str] | None, immutable: bool) -> dict:
    full = {
        "@odata.etag": message.data["@odata.etag"],
        "id": message.immutable_id if immutable else message.rest_id,
        **{k: v for k, v in message.data.items() if k != "@odata.etag"},
        "parentFolderId": box.folder_id(message.folder),
    }
    if select is None:
        return {k: v for k, v in full.items() if k not in _SELECT_ONLY}
    wanted = set(select) | {"id", "@odata.etag"}
    return {k: v for k, v in full.items() if k in wanted}


_EVENT_FIELDS = {
    "subject", "start", "end", "organizer", "attendees", "body_html", "body_text", "location", "is_cancelled",
    "ical_uid", "is_all_day", "show_as", "is_online_meeting", "online_meeting_url", "_spec",
}


def build_event(
    spec: Mapping[str, Any], owner: tuple[str, str], previous: Mapping[str, Any] | None = None
) -> tuple[dict[str, Any], datetime, datetime]:
    """Graph event JSON (no id) from simple fields; returns (data, start, end) in UTC.

    Fields: subject, start, end (datetime or ISO), organizer (default the owner), attendees (addresses, or
    dicts with address, name, type required|optional|resource, response accepted|declined|tentativelyAccepted|
    none|notResponded), body_html or body_text, location (display name), is_cancelled, ical_uid, is_all_day,
    show_as, is_online_meeting, online_meeting_url.
    """
    spec = {k: v for k, v in spec.items() if k != "_spec"}
    unknown = set(spec) - _EVENT_FIELDS
    if unknown:
        raise TypeError(f"unknown event fields {sorted(unknown)}; use {sorted(_EVENT_FIELDS - {'_spec'})}")
    start = _parse_time(spec.get("start"))
    end = _parse_time(spec.get("end"), start + timedelta(minutes=30))
    if end < start:
        raise ValueError("an event cannot end before it starts")
    organizer = _recipient(spec.get("organizer") or owner)
    attendees = []
    for value in spec.get("attendees") or []:
        details = value if isinstance(value, Mapping) else {}
        recipient = _recipient({"name": details.get("name", ""), "address": details["address"]} if details else value)
        attendees.append({
            "type": details.get("type", "required"),
            "status": {"response": details.get("response", "none"), "time": "0001-01-01T00:00:00Z"},
            **recipient,
        })
    if spec.get("body_html") is not None:
        body = {"contentType": "html", "content": str(spec["body_html"])}
        preview = _preview(_html_to_preview(body["content"]))
    else:
        body = {"contentType": "text", "content": str(spec.get("body_text") or "")}
        preview = _preview(body["content"])
    now = _iso(datetime.now(timezone.utc))
    change_key = secrets.token_urlsafe(18)
    is_organizer = organizer["emailAddress"]["address"].lower() == owner[1].lower()
    location = str(spec.get("location") or "")
    data = {
        "@odata.etag": _etag(change_key),
        "createdDateTime": (previous or {}).get("createdDateTime", now),
        "lastModifiedDateTime": now,
        "changeKey": change_key,
        "categories": [],
        "transactionId": None,
        "originalStartTimeZone": "UTC",
        "originalEndTimeZone": "UTC",
        "iCalUId": str(spec.get("ical_uid") or (previous or {}).get("iCalUId") or
                       "040000008200E00074C5B7101A82E00800000000" + secrets.token_hex(28).upper()),
        "reminderMinutesBeforeStart": 15,
        "isReminderOn": True,
        "hasAttachments": False,
        "subject": str(spec.get("subject") or ""),
        "bodyPreview": preview,
        "importance": "normal",
        "sensitivity": "normal",
        "isAllDay": bool(spec.get("is_all_day", False)),
        "isCancelled": bool(spec.get("is_cancelled", False)),
        "isOrganizer": is_organizer,
        "responseRequested": True,
        "seriesMasterId": None,
        "showAs": str(spec.get("show_as", "busy")),
        "type": "singleInstance",
        "webLink": "https://outlook.office365.com/owa/?itemid=" + secrets.token_urlsafe(24) + "&exvsurl=1&path=/calendar/item",
        "onlineMeetingUrl": spec.get("online_meeting_url"),
        "isOnlineMeeting": bool(spec.get("is_online_meeting", False)),
        "onlineMeetingProvider": "teamsForBusiness" if spec.get("is_online_meeting") else "unknown",
        "allowNewTimeProposals": True,
        "isDraft": False,
        "hideAttendees": False,
        "responseStatus": {"response": "organizer" if is_organizer else "notResponded", "time": "0001-01-01T00:00:00Z"},
        "body": body,
        "location": {"displayName": location, "locationType": "default", "uniqueIdType": "unknown"},
        "locations": ([{"displayName": location, "locationType": "default", "uniqueId": location,
                        "uniqueIdType": "private"}] if location else []),
        "recurrence": None,
        "attendees": attendees,
        "organizer": organizer,
        "onlineMeeting": None,
        "_spec": {**spec, "start": start.isoformat(), "end": end.isoformat()},
    }
    return data, start, end


def _render_event(event: _StoredEvent, tz_name: str) -> dict[str, Any]:
    try:
        zone = timezone.utc if tz_name in ("UTC", "") else ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        zone, tz_name = timezone.utc, "UTC"

    def moment(value: datetime) -> dict[str, str]:
        return {"dateTime": value.astimezone(zone).strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": tz_name or "UTC"}

    data = {k: v for k, v in event.data.items() if k != "_spec"}
    return {"@odata.type": "#microsoft.graph.event", "@odata.etag": data.pop("@odata.etag"), "id": event.id,
            **data, "start": moment(event.start), "end": moment(event.end)}


_FOLDER_IN_RESOURCE = re.compile(r"mailfolders(?:\('([^']+)'\)|/([^/]+))/messages$", re.IGNORECASE)


def _covers(box: Mailbox, resource: str, stream: str) -> bool:
    """Whether a subscription's resource covers changes in `stream` (a folder name or the calendar)."""
    path = resource.strip("/").lower()
    if stream == _CALENDAR:
        return path.endswith("/events")
    match = _FOLDER_IN_RESOURCE.search(resource.strip("/"))
    if match:
        return box.folder_by_ref(match.group(1) or match.group(2)) == stream
    return path.endswith("/messages")


def _overlaps(event: _StoredEvent, window: tuple[datetime, datetime] | None) -> bool:
    if window is None:
        return True
    return event.start < window[1] and event.end > window[0]


def _received_ok(message: _StoredMessage, params: _DeltaParams) -> bool:
    if params.received_after is None:
        return True
    if params.received_inclusive:
        return message.received >= params.received_after
    return message.received > params.received_after


def _change_type_ok(item: _Item, params: _DeltaParams) -> bool:
    if params.change_types is None:
        return True
    kind = "deleted" if item.removed else ("created" if item.created else "updated")
    return kind in params.change_types


def _preferences(header: str) -> dict[str, str]:
    preferences: dict[str, str] = {}
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name:
            preferences[name.strip()] = value.strip()
    return preferences


def _page_size(preferences: Mapping[str, str], params: _DeltaParams) -> int:
    raw = preferences.get("odata.maxpagesize")
    if raw and raw.isdigit() and int(raw) > 0:
        return min(int(raw), MAX_PAGE_SIZE)
    return params.top or DEFAULT_PAGE_SIZE


_FILTER_RE = re.compile(r"^\s*receivedDateTime\s+(ge|gt)\s+(\S+)\s*$", re.IGNORECASE)


def _parse_delta_args(stream: str, args: Mapping[str, str]) -> _DeltaParams:
    """Validate the query of an initial delta request as Graph does."""
    initial_query = urlencode(sorted(args.items()), safe="$:")
    if stream == _CALENDAR:
        unsupported = [k for k in args if k.startswith("$")]
        if unsupported:
            raise GraphError(400, "ErrorInvalidUrlQuery", f"The following parameters are not supported with change tracking over the 'CalendarView' resource: '{', '.join(sorted(unsupported))}'.")
        if not args.get("startDateTime") or not args.get("endDateTime"):
            raise GraphError(400, "ErrorInvalidParameter", "This request requires a time window specified by the query string parameters StartDateTime and EndDateTime.")
        try:
            window = (_parse_time(args["startDateTime"]), _parse_time(args["endDateTime"]))
        except ValueError as exc:
            raise GraphError(400, "ErrorInvalidParameter", "StartDateTime and EndDateTime must be ISO 8601 date-times.") from exc
        if window[1] <= window[0]:
            raise GraphError(400, "ErrorInvalidParameter", "EndDateTime must be later than StartDateTime.")
        return _DeltaParams(_CALENDAR, window=window, initial_query=initial_query)
    known = {"$select", "$top", "$filter", "changeType"}
    unknown = [k for k in args if k not in known]
    if unknown:
        raise GraphError(400, "ErrorInvalidUrlQuery", f"The query parameter(s) '{', '.join(sorted(unknown))}' are not supported with change tracking over messages.")
    select = None
    if args.get("$select"):
        select = tuple(s.strip() for s in args["$select"].split(",") if s.strip())
        bad = [s for s in select if s not in MESSAGE_PROPERTIES]
        if bad:
            raise GraphError(400, "RequestBroker--ParseUri", f"Could not find a property named '{bad[0]}' on type 'microsoft.graph.message'.")
    top = None
    if "$top" in args:
        if not args["$top"].isdigit() or int(args["$top"]) < 1:
            raise GraphError(400, "ErrorInvalidUrlQuery", f"Invalid $top value '{args['$top']}'.")
        top = min(int(args["$top"]), MAX_PAGE_SIZE)
    received_after, inclusive = None, True
    if args.get("$filter"):
        match = _FILTER_RE.match(args["$filter"])
        if not match:
            raise GraphError(400, "ErrorInvalidUrlQueryFilter", "The query filter contains one or more invalid nodes; delta on messages supports only receivedDateTime ge|gt <date>.")
        try:
            received_after = _parse_time(match.group(2))
        except ValueError as exc:
            raise GraphError(400, "ErrorInvalidUrlQueryFilter", f"Invalid date '{match.group(2)}'.") from exc
        inclusive = match.group(1).lower() == "ge"
    change_types = None
    if args.get("changeType"):
        change_types = frozenset(args["changeType"].split(","))
        if not change_types <= {"created", "updated", "deleted"}:
            raise GraphError(400, "ErrorInvalidUrlQuery", f"Invalid changeType '{args['changeType']}'.")
    return _DeltaParams(stream, select, received_after, inclusive, change_types, top, None, initial_query)


# -- the Flask app ------------------------------------------------------------------------------------------
def create_graph_app(store: GraphStore) -> Flask:
    """The Flask app serving Graph v1.0 paths (mount it at `/v1.0`)."""
    app = Flask("dealpulse.standins.graph")

    @app.errorhandler(GraphError)
    def on_graph_error(exc: GraphError):
        return graph_error_response(exc.status, exc.code, exc.message, exc.headers)

    @app.errorhandler(404)
    def on_not_found(exc):
        return graph_error_response(400, "BadRequest", f"Resource not found for the segment '{request.path.rsplit('/', 1)[-1]}'.")

    @app.errorhandler(405)
    def on_method(exc):
        return graph_error_response(405, "Request_BadRequest", f"The HTTP method '{request.method}' is not allowed for this resource.")

    @app.before_request
    def authenticate():
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise GraphError(401, "InvalidAuthenticationToken", "Access token is empty.",
                             {"WWW-Authenticate": 'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize"'})
        try:
            g.claims = store.directory.verify_access_token(token.strip())
        except InvalidAccessToken as exc:
            raise GraphError(401, "InvalidAuthenticationToken", str(exc),
                             {"WWW-Authenticate": 'Bearer realm="", error="invalid_token"'}) from exc

    def owner(user_ref: str | None, needed: set[str] | None) -> str:
        claims = g.claims
        delegated = "scp" in claims
        granted = set(claims.get("scp", "").split()) if delegated else set(claims.get("roles", []))
        if needed is not None and not granted & needed:
            raise GraphError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
        if user_ref is None:
            if not delegated:
                raise GraphError(400, "BadRequest", "/me request is only valid with delegated authentication flow.")
            return str(claims.get("preferred_username") or claims.get("upn", "")).lower()
        ref = user_ref.lower()
        if delegated and ref not in (str(claims.get("preferred_username", "")).lower(), str(claims.get("oid", ""))):
            raise GraphError(403, "ErrorAccessDenied", "Access is denied. Check credentials and try again.")
        for address, user in store.directory.users.items():
            if ref in (address, user.oid):
                return address
        raise GraphError(404, "ErrorInvalidUser", f"The requested user '{user_ref}' is invalid.")

    def prefer_header() -> dict[str, str]:
        return {"Prefer": ", ".join(request.headers.getlist("Prefer"))}

    def json_response(body: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
        response = Response(json.dumps(body), status=status, mimetype="application/json")
        response.headers["Cache-Control"] = "no-cache"
        for name, value in (headers or {}).items():
            response.headers[name] = value
        return response

    @app.get("/me")
    @app.get("/users/<user_ref>")
    def me(user_ref: str | None = None):
        address = owner(user_ref, None)
        box = store.mailbox(address)
        given, _, surname = box.name.partition(" ")
        return json_response({
            "@odata.context": f"{store.base_url}/$metadata#users/$entity",
            "businessPhones": [], "displayName": box.name, "givenName": given, "jobTitle": None,
            "mail": box.address, "mobilePhone": None, "officeLocation": None, "preferredLanguage": "en-US",
            "surname": surname or None, "userPrincipalName": box.address, "id": box.oid,
        })

    @app.get("/me/mailFolders/<folder_ref>/messages/delta")
    @app.get("/users/<user_ref>/mailFolders/<folder_ref>/messages/delta")
    def messages_delta(folder_ref: str, user_ref: str | None = None):
        address = owner(user_ref, _MAIL_SCOPES)
        folder = store.mailbox(address).folder_by_ref(folder_ref)
        if folder is None:
            raise GraphError(404, "ErrorInvalidIdMalformed", "Id is malformed.")
        body, headers = store.delta(address, folder, request.args.to_dict(), prefer_header())
        return json_response(body, headers=headers)

    @app.get("/me/calendarView/delta")
    @app.get("/users/<user_ref>/calendarView/delta")
    def calendar_delta(user_ref: str | None = None):
        address = owner(user_ref, _CALENDAR_SCOPES)
        body, headers = store.delta(address, _CALENDAR, request.args.to_dict(), prefer_header())
        return json_response(body, headers=headers)

    @app.get("/me/messages/<message_id>")
    @app.get("/users/<user_ref>/messages/<message_id>")
    def get_message(message_id: str, user_ref: str | None = None):
        address = owner(user_ref, _MAIL_SCOPES)
        box = store.mailbox(address)
        immutable = _preferences(prefer_header()["Prefer"]).get("IdType", "").strip('"') == "ImmutableId"
        select = None
        if request.args.get("$select"):
            select = tuple(s.strip() for s in request.args["$select"].split(",") if s.strip())
            bad = [s for s in select if s not in MESSAGE_PROPERTIES]
            if bad:
                raise GraphError(400, "RequestBroker--ParseUri", f"Could not find a property named '{bad[0]}' on type 'microsoft.graph.message'.")
        with store._lock:
            try:
                stored = store._find_message(box, message_id)
            except KeyError:
                raise GraphError(404, "ErrorItemNotFound", "The specified object was not found in the store.") from None
            body = _render_message(box, stored, select, immutable)
        headers = {"Preference-Applied": 'IdType="ImmutableId"'} if immutable else {}
        return json_response({"@odata.context": f"{store.base_url}/$metadata#users('{address}')/messages/$entity", **body}, headers=headers)

    @app.post("/subscriptions")
    def create_subscription():
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise GraphError(400, "BadRequest", "Empty Payload. JSON content expected.")
        resource = str(body.get("resource", ""))
        needed = _CALENDAR_SCOPES if "events" in resource.lower() else _MAIL_SCOPES
        address = owner(None, needed)
        subscription = store.create_subscription(address, body, g.claims)
        return json_response({"@odata.context": f"{store.base_url}/$metadata#subscriptions/$entity", **subscription.to_json()},
                             201, {"Location": f"{store.base_url}/subscriptions/{subscription.id}"})

    @app.get("/subscriptions")
    def list_subscriptions():
        address = owner(None, None)
        with store._lock:
            mine = [s.to_json() for s in store.subscriptions.values() if s.owner == address]
        return json_response({"@odata.context": f"{store.base_url}/$metadata#subscriptions", "value": mine})

    @app.route("/subscriptions/<subscription_id>", methods=["GET", "PATCH", "DELETE"])
    def one_subscription(subscription_id: str):
        address = owner(None, None)
        if request.method == "DELETE":
            store.delete_subscription(address, subscription_id)
            return Response(status=204)
        if request.method == "PATCH":
            body = request.get_json(silent=True)
            if not isinstance(body, dict):
                raise GraphError(400, "BadRequest", "Empty Payload. JSON content expected.")
            subscription = store.renew_subscription(address, subscription_id, body)
        else:
            subscription = store.subscription(address, subscription_id)
        return json_response({"@odata.context": f"{store.base_url}/$metadata#subscriptions/$entity", **subscription.to_json()})

    return app

