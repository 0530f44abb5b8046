"""Microsoft Graph connector: inbox, sent items and calendarView delta queries, followed to their deltaLinks.

Cursor: a JSON object holding one link per stream, e.g.
`{"v": 1, "inbox": "<deltaLink>", "sentitems": "<deltaLink>", "calendar": "<deltaLink>"}`.
A missing or null stream starts from its initial URL (a full sync of that stream). Streams are synced in
that order, and the last batch of each stream carries a cursor in which that stream has advanced to its new
deltaLink while the streams after it still hold their old links. Every other page carries a checkpoint: the
stream's nextLink in place of its link (Graph lets a client resume paging from a nextLink). So a sync killed
half-way resumes with the finished streams incremental and the unfinished stream from the page after its last
committed one; items served again are replays the store dedupes by provider id and Message-ID.

Metadata first (the default): delta pages `$select` everything but the body, and `load_content` fetches the body
of each message the sync loop will store, so excluded mail's content never leaves Exchange. The same request
selects `internetMessageHeaders` (Graph returns them only on a single message, and only when selected), from
which the auto-reply headers (`Auto-Submitted`, `X-Autoreply`, `Precedence`, `List-Id` ...) are kept.
"""

from __future__ import annotations

import json
import random
import re
import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterator, Mapping
from urllib.parse import quote, urlencode, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import requests

from dealpulse.config import Settings
from dealpulse.mail.automated import AUTOMATION_HEADERS
from dealpulse.mail.html_text import html_to_text
from dealpulse.mail.ms_auth import microsoft_session
from dealpulse.mail.retry import RetryableError, RetryPolicy, call_with_retries, parse_retry_after
from dealpulse.mail.types import (
    Address,
    AuthRevokedError,
    ChangeBatch,
    CursorExpiredError,
    FetchedEvent,
    FetchedMail,
    ProviderUnavailableError,
    SyncError,
    ThrottledError,
)

CURSOR_VERSION = 1
MAIL_FOLDERS = ("inbox", "sentitems")
CALENDAR = "calendar"
STREAMS = (*MAIL_FOLDERS, CALENDAR)
MAX_PAGE_SIZE = 1000
#: Message properties the connector reads; everything else stays on the server.
MESSAGE_SELECT = (
    "id", "internetMessageId", "conversationId", "subject", "from", "sender", "toRecipients", "ccRecipients",
    "bccRecipients", "receivedDateTime", "sentDateTime", "body", "hasAttachments", "isDraft", "parentFolderId",
)
#: What metadata-first delta pages ask for: every property above except the body.
METADATA_SELECT = tuple(p for p in MESSAGE_SELECT if p != "body")
#: Error codes Graph uses (with 400/404) for a delta token it no longer knows.
_EXPIRED_CODES = {"syncStateNotFound", "resyncRequired", "SyncStateNotFound", "SyncStateInvalid"}
_FRACTION = re.compile(r"(\.\d{6})\d+")

TokenProvider = Callable[..., str]


class GraphCursorExpiredError(CursorExpiredError):
    """A stream's delta token expired; `stream` says which ("inbox", "sentitems" or "calendar")."""

    def __init__(self, message: str, restart_url: str | None, stream: str):
        super().__init__(message, restart_url)
        self.stream = stream


def parse_cursor(cursor: str | None) -> dict[str, str | None]:
    """The per-stream links of a stored cursor (None = start that stream from scratch)."""
    links: dict[str, str | None] = {stream: None for stream in STREAMS}
    if cursor is None:
        return links
    try:
        data = json.loads(cursor)
    except ValueError as exc:
        raise CursorExpiredError(f"stored Graph cursor is not JSON: {cursor[:40]!r}") from exc
    if not isinstance(data, dict) or data.get("v") != CURSOR_VERSION:
        raise CursorExpiredError("stored Graph cursor has an unknown format; a full sync is needed")
    for stream in STREAMS:
        value = data.get(stream)
        if value is not None and not (isinstance(value, str) and value.startswith(("https://", "http://"))):
            raise CursorExpiredError(f"stored Graph cursor has a bad {stream} link")
        links[stream] = value
    return links


def dump_cursor(links: Mapping[str, str | None]) -> str:
    """Serialise per-stream links as a cursor string."""
    return json.dumps({"v": CURSOR_VERSION, **{stream: links.get(stream) for stream in STREAMS}})


class GraphConnector:
    """Yields ChangeBatches of one Microsoft 365 mailbox and calendar; implements the MailConnector protocol.

    `token_provider(force_refresh=False) -> str` returns an access token (see `ms_auth.MsalTokenProvider`);
    after a 401 it is asked once for a fresh one, and a second 401 raises AuthRevokedError.
    """

    def __init__(
        self,
        settings: Settings,
        token_provider: TokenProvider,
        owner_addresses: set[str] | list[str] | tuple[str, ...],
        page_size: int = 50,
        *,
        retry_policy: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        session: requests.Session | None = None,
        calendar_past: timedelta = timedelta(days=90),
        calendar_future: timedelta = timedelta(days=180),
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        timeout: float = 30.0,
    ):
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"Graph page size must be between 1 and {MAX_PAGE_SIZE}, got {page_size}")
        self.graph_url = settings.graph_api_url.rstrip("/") + "/"
        self.token_provider = token_provider
        self.owner_addresses = {address.lower() for address in owner_addresses}
        self.page_size = page_size
        self.retry_policy = retry_policy
        self.sleep = sleep
        self.rng = rng or random.Random()
        self.session = session or microsoft_session(settings)
        self.calendar_past = calendar_past
        self.calendar_future = calendar_future
        self.clock = clock
        self.timeout = timeout
        self.metadata_first = settings.sync_metadata_first

    # -- the protocol ----------------------------------------------------------------------------------------
    def changes(self, cursor: str | None) -> Iterator[ChangeBatch]:
        """Batches since `cursor` (None = full sync of every stream); see the module docstring for the cursor."""
        links = parse_cursor(cursor)
        return self._changes(links)

    def _changes(self, links: dict[str, str | None]) -> Iterator[ChangeBatch]:
        for stream in STREAMS:
            start = links[stream]
            first = True
            for page, next_link, next_delta in self._pages(stream, start or self.initial_url(stream)):
                batch = self._batch(stream, page)
                batch.full_resync = first and start is None
                first = False
                links[stream] = next_delta if next_delta is not None else next_link
                batch.cursor = dump_cursor(links)
                if batch.mails or batch.events or batch.deleted_ids or batch.cursor or batch.full_resync:
                    yield batch

    def initial_url(self, stream: str) -> str:
        """Where a full sync of `stream` starts."""
        if stream == CALENDAR:
            now = self.clock()
            window = {"startDateTime": _iso(now - self.calendar_past), "endDateTime": _iso(now + self.calendar_future)}
            return f"{self.graph_url}me/calendarView/delta?{urlencode(window)}"
        query = urlencode({"$select": ",".join(METADATA_SELECT if self.metadata_first else MESSAGE_SELECT)}, safe="$,")
        return f"{self.graph_url}me/mailFolders/{stream}/messages/delta?{query}"

    # -- paging --------------------------------------------------------------------------------------------
    def _pages(self, stream: str, url: str) -> Iterator[tuple[list[dict[str, Any]], str | None, str | None]]:
        """(items, nextLink, deltaLink) per page (one of the two links is None), following nextLinks to the deltaLink."""
        prefer = f'odata.maxpagesize={self.page_size}, IdType="ImmutableId"'
        if stream == CALENDAR:
            prefer += ', outlook.timezone="UTC"'
        while True:
            body = self._get(url, prefer, stream)
            items = body.get("value")
            if not isinstance(items, list):
                raise SyncError(f"Graph answered a {stream} delta page without a value list")
            next_link, delta_link = body.get("@odata.nextLink"), body.get("@odata.deltaLink")
            if delta_link:
                yield items, None, delta_link
                return
            if not next_link or not str(next_link).startswith(("https://", "http://")):
                raise SyncError(f"Graph answered a {stream} delta page with neither nextLink nor deltaLink")
            yield items, next_link, None
            url = next_link

    # -- content -------------------------------------------------------------------------------------------
    def load_content(self, mails: list[FetchedMail]) -> list[FetchedMail]:
        """`mails` with bodies and auto-reply headers (one `GET /me/messages/{id}` each); ones deleted since are left out."""
        prefer = 'IdType="ImmutableId"'
        loaded = []
        for mail in mails:
            url = f"{self.graph_url}me/messages/{quote(mail.provider_id, safe='')}?$select=body,internetMessageHeaders"
            body = self._get(url, prefer, mail.labels[0] if mail.labels else "inbox", missing_ok=True)
            if body is None:
                continue
            content = str((body.get("body") or {}).get("content") or "")
            is_html = str((body.get("body") or {}).get("contentType", "")).lower() == "html"
            loaded.append(replace(mail, body_text=html_to_text(content) if is_html else content,
                                  body_html=content if is_html else "", content_loaded=True,
                                  automation_headers=automation_headers(body.get("internetMessageHeaders"))))
        return loaded

    def _get(self, url: str, prefer: str, stream: str, missing_ok: bool = False) -> dict[str, Any] | None:
        """GET a Graph URL as JSON: retries 429/5xx/network errors, refreshes the token once on 401.

        `missing_ok`: a 404 answers None (the item was deleted since it was listed).
        """
        if urlsplit(url).netloc != urlsplit(self.graph_url).netloc:
            raise SyncError(f"refusing to follow a Graph link to another host: {url[:80]}")
        refreshed = False
        while True:
            try:
                status, body, headers = call_with_retries(
                    lambda: self._attempt(url, prefer, force_refresh=False), self.retry_policy, self.sleep, self.rng
                )
            except RetryableError as exc:
                long_wait = exc.retry_after is not None and exc.retry_after > self.retry_policy.max_wait
                if exc.status == 429 or long_wait:
                    raise ThrottledError(f"Graph throttled the mailbox: {exc}", exc.retry_after) from exc
                raise ProviderUnavailableError(f"Graph failed after retries: {exc}") from exc
            if status == 200:
                return body
            if status == 404 and missing_ok:
                return None
            if status == 401 and not refreshed:
                refreshed = True
                self.token_provider(force_refresh=True)
                continue
            raise self._error(status, body, headers, stream)

    def _attempt(self, url: str, prefer: str, force_refresh: bool) -> tuple[int, dict[str, Any], Mapping[str, str]]:
        token = self.token_provider(force_refresh=force_refresh)
        try:
            response = self.session.get(
                url, headers={"Authorization": f"Bearer {token}", "Prefer": prefer, "Accept": "application/json"},
                timeout=self.timeout,
            )
            status = response.status_code
            if status == 429 or status >= 500:
                raise RetryableError(
                    f"HTTP {status} {_error_code(_json_or_empty(response))}".strip(),
                    retry_after=parse_retry_after(response.headers.get("Retry-After")), status=status,
                )
            body = response.json() if status in (200, 400, 401, 403, 404, 410) and response.content else {}
        except requests.RequestException as exc:  # dropped connections, timeouts, truncated bodies
            raise RetryableError(f"network error: {exc.__class__.__name__}") from exc
        except ValueError as exc:  # a 200 whose JSON was cut off
            raise RetryableError("Graph sent malformed JSON") from exc
        return status, body if isinstance(body, dict) else {}, response.headers

    def _error(self, status: int, body: dict[str, Any], headers: Mapping[str, str], stream: str) -> SyncError:
        code = _error_code(body)
        message = str((body.get("error") or {}).get("message", "")) if isinstance(body.get("error"), dict) else ""
        if status == 410 or code in _EXPIRED_CODES:
            location = headers.get("Location") or None
            return GraphCursorExpiredError(f"the {stream} delta token expired ({status} {code})", location, stream)
        if status == 401:
            return AuthRevokedError(f"Graph rejected a freshly refreshed access token ({code}: {message})")
        if status == 403:
            return AuthRevokedError(f"Graph denied access to the {stream} ({code}: {message}): consent is missing")
        return SyncError(f"Graph answered {status} {code}: {message}")

    # -- mapping -------------------------------------------------------------------------------------------
    def _batch(self, stream: str, items: list[dict[str, Any]]) -> ChangeBatch:
        batch = ChangeBatch()
        for item in items:
            if not isinstance(item, dict) or not item.get("id"):
                continue
            if "@removed" in item:
                batch.deleted_ids.append(str(item["id"]))
            elif stream == CALENDAR:
                batch.events.append(self.to_event(item))
            else:
                mail = self.to_mail(item, stream)
                if mail is not None:
                    batch.mails.append(mail)
        return batch

    def to_mail(self, item: Mapping[str, Any], folder: str) -> FetchedMail | None:
        """A Graph message as FetchedMail (None for drafts)."""
        if item.get("isDraft"):
            return None
        sender = _address(item.get("from")) or _address(item.get("sender"))
        body = item.get("body") or {}
        content = str(body.get("content") or "")
        is_html = str(body.get("contentType", "")).lower() == "html"
        sent_at = _parse_time(item.get("sentDateTime") or item.get("receivedDateTime"))
        return FetchedMail(
            provider_id=str(item["id"]),
            thread_id=str(item.get("conversationId") or item["id"]),
            message_id=_strip_brackets(str(item.get("internetMessageId") or "")),
            subject=str(item.get("subject") or ""),
            sender=sender,
            to=_addresses(item.get("toRecipients")),
            cc=_addresses(item.get("ccRecipients")),
            bcc=_addresses(item.get("bccRecipients")),
            sent_at=sent_at,
            body_text=html_to_text(content) if is_html else content,
            body_html=content if is_html else "",
            labels=[folder],
            is_sent=folder == "sentitems" or bool(sender and sender.email in self.owner_addresses),
            content_loaded="body" in item,
        )

    @staticmethod
    def to_event(item: Mapping[str, Any]) -> FetchedEvent:
        """A Graph event as FetchedEvent."""
        location = item.get("location") or {}
        organizer = _address(item.get("organizer"))
        attendees = [a for a in _addresses(item.get("attendees")) if not organizer or a.email != organizer.email]
        return FetchedEvent(
            provider_id=str(item["id"]),
            ical_uid=str(item.get("iCalUId") or ""),
            subject=str(item.get("subject") or ""),
            start=_event_time(item.get("start")),
            end=_event_time(item.get("end")),
            organizer=organizer,
            attendees=attendees,
            description=str(item.get("bodyPreview") or ""),
            cancelled=bool(item.get("isCancelled")),
            location=str(location.get("displayName") or "") if isinstance(location, dict) else "",
            declined=_declined(item.get("attendees")),
        )


def _declined(attendees: Any) -> frozenset[str]:
    """Addresses of the attendees whose response is "declined"."""
    out = set()
    for attendee in attendees if isinstance(attendees, list) else []:
        status = attendee.get("status") if isinstance(attendee, dict) else None
        address = (attendee.get("emailAddress") or {}).get("address") if isinstance(attendee, dict) else None
        if isinstance(status, dict) and status.get("response") == "declined" and isinstance(address, str) and address:
            out.add(address.strip().lower())
    return frozenset(out)


def _json_or_empty(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _error_code(body: Mapping[str, Any]) -> str:
    error = body.get("error")
    return str(error.get("code", "")) if isinstance(error, dict) else ""


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _strip_brackets(message_id: str) -> str:
    message_id = message_id.strip()
    if message_id.startswith("<") and message_id.endswith(">"):
        return message_id[1:-1].strip()
    return message_id


def _address(recipient: Any) -> Address | None:
    if not isinstance(recipient, dict):
        return None
    email_address = recipient.get("emailAddress") or {}
    address = str(email_address.get("address") or "").strip().lower()
    if not address:
        return None
    return Address(address, str(email_address.get("name") or ""))


def _addresses(recipients: Any) -> list[Address]:
    if not isinstance(recipients, list):
        return []
    return [a for a in (_address(r) for r in recipients) if a is not None]


def _parse_time(value: Any) -> datetime:
    """A Graph DateTimeOffset as aware UTC; a missing one is the epoch so the mail still sorts somewhere."""
    if not value:
        return datetime.fromtimestamp(0, timezone.utc)
    moment = datetime.fromisoformat(_FRACTION.sub(r"\1", str(value)).replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _event_time(value: Any) -> datetime:
    """A Graph dateTimeTimeZone as aware UTC (we ask for UTC; IANA names are converted, others taken as UTC)."""
    if not isinstance(value, dict) or not value.get("dateTime"):
        return datetime.fromtimestamp(0, timezone.utc)
    moment = datetime.fromisoformat(_FRACTION.sub(r"\1", str(value["dateTime"])).replace("Z", "+00:00"))
    if moment.tzinfo is None:
        zone_name = str(value.get("timeZone") or "UTC")
        try:
            zone = timezone.utc if zone_name.upper() in ("UTC", "Z") else ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError):
            zone = timezone.utc
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(timezone.utc)


def automation_headers(internet_headers: Any) -> dict[str, str]:
    """The auto-reply headers (lower-case names) among a Graph message's `internetMessageHeaders`."""
    found: dict[str, str] = {}
    if not isinstance(internet_headers, list):
        return found
    for header in internet_headers:
        if not isinstance(header, dict):
            continue
        name = str(header.get("name") or "").strip().lower()
        if name in AUTOMATION_HEADERS and name not in found:
            found[name] = str(header.get("value") or "")
    return found
