"""Gmail connector: full sync (profile historyId, messages.list, batched messages.get) and history-based increments.

Metadata first (the default): batches carry headers and labels only (`format=metadata`), and `load_content`
downloads `format=raw` for the messages the sync loop will store, so excluded mail's content never leaves Gmail.

Cursor: a history id once a full sync has finished. While one runs, each batch carries a checkpoint
`{"full_sync": {"history_id", "page_token", "done"}}`: the history id the full sync started from, the
messages.list page being worked on and the ids of that run already committed. A killed full sync resumes from its
last committed checkpoint and never fetches those ids again.
"""

from __future__ import annotations

import json
import random
import time
from datetime import UTC, datetime
from typing import Any, Callable, Iterable, Iterator

from google.oauth2.credentials import Credentials
from googleapiclient.errors import HttpError
from googleapiclient.http import BatchHttpRequest

from dealpulse.config import Settings
from dealpulse.mail.automated import AUTOMATION_HEADERS
from dealpulse.mail.google_api import GoogleApiCaller, GoogleError, NotFoundError, build_service, classify, exhausted
from dealpulse.mail.mime import decode_base64url, parse_gmail_full, parse_rfc822, with_content
from dealpulse.mail.retry import RetryableError, RetryPolicy
from dealpulse.mail.types import ChangeBatch, CursorExpiredError, FetchedMail, SyncError

MAX_BATCH_SIZE = 50  # Google allows 100 calls per batch and recommends at most 50
LIST_PAGE_SIZE = 500
#: Not captured: unsent drafts, spam and trash.
SKIPPED_LABELS = frozenset({"DRAFT", "SPAM", "TRASH"})
#: A message gaining one of these labels is (re)fetched: the sync loop upserts by provider id.
CAPTURED_LABELS = frozenset({"INBOX", "SENT"})
#: Headers a metadata-first fetch asks for: what privacy, linking, threading and the automated-mail check read.
METADATA_HEADERS = (
    "From", "Sender", "To", "Cc", "Bcc", "Subject", "Date", "Message-ID", "In-Reply-To", "References",
    *AUTOMATION_HEADERS,
)


def is_sent(label_ids: Iterable[str], sender_email: str | None, owner_addresses: set[str]) -> bool:
    """Outbound when Gmail labels it SENT or the sender is the mailbox owner (or one of their aliases)."""
    return "SENT" in set(label_ids) or bool(sender_email and sender_email.lower() in owner_addresses)


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start: start + size]


class GmailConnector:
    """Yields ChangeBatches of one Gmail mailbox; implements the MailConnector protocol."""

    def __init__(
        self,
        settings: Settings,
        credentials: Credentials,
        owner_addresses: set[str],
        batch_size: int | None = None,
        *,
        retry_policy: RetryPolicy = RetryPolicy(),
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
        timeout: float = 30.0,
    ):
        size = settings.sync_batch_size if batch_size is None else batch_size
        if not 1 <= size <= MAX_BATCH_SIZE:
            raise ValueError(f"Gmail batch size must be between 1 and {MAX_BATCH_SIZE}, got {size}")
        self.batch_size = size
        self.metadata_first = settings.sync_metadata_first
        self.owner_addresses = {address.lower() for address in owner_addresses}
        self.endpoint = settings.gmail_api_url.rstrip("/") + "/"
        self.caller = GoogleApiCaller(credentials, retry_policy, sleep, rng)
        self.service = build_service("gmail", "v1", credentials, self.endpoint, timeout)
        # Resources are rebuilt from the discovery document on every access: build each one once.
        users = self.service.users()
        self._users, self._messages, self._history = users, users.messages(), users.history()

    def changes(self, cursor: str | None) -> Iterator[ChangeBatch]:
        """Batches since `cursor` (a history id or a full-sync checkpoint); None = full sync.

        Raises CursorExpiredError for a stale or unreadable cursor.
        """
        if cursor is None:
            return self._full_sync(None)
        cursor = str(cursor)
        if cursor.startswith("{"):
            return self._full_sync(_parse_checkpoint(cursor))
        if not cursor.isdigit():
            raise CursorExpiredError(f"stored Gmail cursor {cursor[:40]!r} is not a history id")
        return self._incremental(cursor)

    # -- full sync -----------------------------------------------------------------------------------------
    def _full_sync(self, resume: dict[str, Any] | None) -> Iterator[ChangeBatch]:
        if resume is None:
            history_id = str(self.caller.execute(self._users.getProfile(userId="me"))["historyId"])
            page_token: str | None = None
            done: set[str] = set()
        else:
            history_id, page_token, done = resume["history_id"], resume["page_token"], set(resume["done"])
        first = resume is None
        while True:
            page = self._list_page(page_token, resumed=resume is not None)
            next_token = page.get("nextPageToken")
            ids = [item["id"] for item in page.get("messages", []) if item["id"] not in done]
            chunks = list(_chunks(ids, self.batch_size)) or [[]]
            done_here = [item["id"] for item in page.get("messages", []) if item["id"] in done]
            for index, chunk in enumerate(chunks):
                done_here += chunk
                if index < len(chunks) - 1:
                    cursor = _checkpoint(history_id, page_token, done_here)
                elif next_token is not None:
                    cursor = _checkpoint(history_id, next_token, [])
                else:
                    cursor = history_id
                yield ChangeBatch(mails=self._get(chunk), full_resync=first, cursor=cursor)
                first = False
            if next_token is None:
                return
            page_token = next_token

    def _list_page(self, page_token: str | None, resumed: bool) -> dict[str, Any]:
        request = self._messages.list(userId="me", maxResults=LIST_PAGE_SIZE, pageToken=page_token, includeSpamTrash=False)
        try:
            return self.caller.execute(request)
        except SyncError as exc:
            if resumed and page_token and type(exc) in (SyncError, NotFoundError):  # Gmail no longer knows the token
                raise CursorExpiredError(f"Gmail refused the saved page token of an interrupted full sync ({exc})") from exc
            raise

    # -- incremental ---------------------------------------------------------------------------------------
    def _incremental(self, start_history_id: str) -> Iterator[ChangeBatch]:
        page_token: str | None = None
        while True:
            request = self._history.list(
                userId="me",
                startHistoryId=start_history_id,
                historyTypes=["messageAdded", "messageDeleted", "labelAdded"],
                maxResults=LIST_PAGE_SIZE,
                pageToken=page_token,
            )
            try:
                page = self.caller.execute(request)
            except NotFoundError as exc:
                raise CursorExpiredError(f"Gmail no longer has history since {start_history_id}: full resync") from exc
            records = page.get("history", [])
            added: dict[str, None] = {}
            deleted: dict[str, None] = {}
            for record in records:
                for item in record.get("messagesAdded", []):
                    message = item["message"]
                    if not SKIPPED_LABELS & set(message.get("labelIds", [])):
                        added[message["id"]] = None
                for item in record.get("labelsAdded", []):  # a draft sent, mail moved out of spam
                    message = item["message"]
                    if CAPTURED_LABELS & set(item.get("labelIds", [])) and not SKIPPED_LABELS & set(message.get("labelIds", [])):
                        added[message["id"]] = None
                for item in record.get("messagesDeleted", []):
                    message_id = item["message"]["id"]
                    added.pop(message_id, None)
                    deleted[message_id] = None
            page_token = page.get("nextPageToken")
            cursor = str(page["historyId"]) if page_token is None or not records else str(records[-1]["id"])
            yield ChangeBatch(mails=self._get(list(added)), deleted_ids=list(deleted), cursor=cursor)
            if page_token is None:
                return

    # -- fetching ------------------------------------------------------------------------------------------
    def _get(self, message_ids: list[str]) -> list[FetchedMail]:
        """What a batch carries: headers and labels (metadata first) or the whole messages."""
        return self.fetch(message_ids, "metadata" if self.metadata_first else "raw")

    def load_content(self, mails: list[FetchedMail]) -> list[FetchedMail]:
        """`mails` with their content (format=raw; headers are not read again); ones deleted since are left out."""
        read = {m.provider_id: m for m in mails if m.provider_id}
        return self.fetch(list(read), "raw", read)

    def fetch(self, message_ids: list[str], fmt: str = "raw", read: dict[str, FetchedMail] | None = None) -> list[FetchedMail]:
        """Fetch messages (format raw or metadata) in batches; retry only the calls that failed; skip deleted ones.

        `read`: mails whose headers are already known by provider id; only their content is parsed from the raw.
        """
        found: dict[str, FetchedMail] = {}
        pending = list(dict.fromkeys(message_ids))
        stalled = 0
        while pending:
            before = len(pending)
            pending, retry_error = self._fetch_round(pending, found, fmt, read or {})
            if not pending:
                break
            stalled = 0 if len(pending) < before else stalled + 1
            assert retry_error is not None
            if stalled >= self.caller.policy.attempts:
                raise exhausted(retry_error)
            if retry_error.retry_after is not None and retry_error.retry_after > self.caller.policy.max_wait:
                raise exhausted(retry_error)
            self.caller.sleep(self.caller.policy.delay(stalled + 1, retry_error.retry_after, self.caller.rng))
        return [found[message_id] for message_id in message_ids if message_id in found]

    def _fetch_round(
        self, ids: list[str], found: dict[str, FetchedMail], fmt: str, read: dict[str, FetchedMail]
    ) -> tuple[list[str], RetryableError | None]:
        """One pass over `ids` in batches; returns the ids to try again and the error that says how long to wait."""
        retry: list[str] = []
        worst: RetryableError | None = None
        for chunk in _chunks(ids, self.batch_size):
            outcomes: dict[str, Any] = {}

            def collect(request_id: str, response: Any, exception: HttpError | None) -> None:
                outcomes[request_id] = exception if exception is not None else response

            batch = BatchHttpRequest(callback=collect, batch_uri=self.endpoint + "batch/gmail/v1")
            for message_id in chunk:
                extra = {"metadataHeaders": list(METADATA_HEADERS)} if fmt == "metadata" else {}
                batch.add(self._messages.get(userId="me", id=message_id, format=fmt, **extra), request_id=message_id)
            try:
                self.caller.guarded(batch.execute)
            except RetryableError as exc:
                retry.extend(chunk)
                worst = _longer_wait(worst, exc)
                continue
            for message_id in chunk:
                outcome = outcomes.get(message_id)
                if isinstance(outcome, HttpError):
                    failure = classify(GoogleError.from_http_error(outcome))
                    if isinstance(failure, NotFoundError):
                        continue  # deleted since it was listed; its deletion arrives through history
                    if isinstance(failure, RetryableError):
                        retry.append(message_id)
                        worst = _longer_wait(worst, failure)
                        continue
                    raise failure
                if outcome is None:
                    retry.append(message_id)
                    worst = _longer_wait(worst, RetryableError("batch answer lacked a part"))
                    continue
                mail = self._metadata_to_mail(outcome) if fmt == "metadata" else self._to_mail(outcome, read.get(message_id))
                if mail is not None:
                    found[message_id] = mail
        return retry, worst

    def _metadata_to_mail(self, message: dict[str, Any]) -> FetchedMail | None:
        """Headers and labels of a format=metadata answer; the body is loaded later if the mail is kept."""
        if SKIPPED_LABELS & set(message.get("labelIds", [])):
            return None
        mail = parse_gmail_full(message)
        mail.is_sent = is_sent(mail.labels, mail.sender.email if mail.sender else None, self.owner_addresses)
        mail.body_text, mail.body_html, mail.attachments, mail.content_loaded = "", "", [], False
        return mail

    def _to_mail(self, message: dict[str, Any], headers_read: FetchedMail | None = None) -> FetchedMail | None:
        labels = list(message.get("labelIds", []))
        if SKIPPED_LABELS & set(labels):
            return None
        if headers_read is not None:
            return with_content(headers_read, decode_base64url(message.get("raw", "")))
        internal = message.get("internalDate")
        fallback = datetime.fromtimestamp(int(internal) / 1000, UTC) if str(internal or "").isdigit() else None
        mail = parse_rfc822(
            decode_base64url(message.get("raw", "")),
            provider_id=message["id"],
            thread_id=message.get("threadId", ""),
            labels=labels,
            is_sent="SENT" in labels,
            fallback_date=fallback,
        )
        mail.is_sent = is_sent(labels, mail.sender.email if mail.sender else None, self.owner_addresses)
        return mail


def _checkpoint(history_id: str, page_token: str | None, done: list[str]) -> str:
    """The cursor of a full sync in progress (see the module docstring)."""
    return json.dumps({"full_sync": {"history_id": history_id, "page_token": page_token, "done": done}}, separators=(",", ":"))


def _parse_checkpoint(cursor: str) -> dict[str, Any]:
    try:
        state = json.loads(cursor)["full_sync"]
        history_id, page_token, done = str(state["history_id"]), state["page_token"], state["done"]
    except (ValueError, KeyError, TypeError) as exc:
        raise CursorExpiredError("stored Gmail full-sync checkpoint is unreadable; starting over") from exc
    if not history_id.isdigit() or not (page_token is None or isinstance(page_token, str)) or not isinstance(done, list):
        raise CursorExpiredError("stored Gmail full-sync checkpoint is malformed; starting over")
    return {"history_id": history_id, "page_token": page_token, "done": [str(i) for i in done]}


def _longer_wait(current: RetryableError | None, new: RetryableError) -> RetryableError:
    """Keep the failure whose Retry-After is longest (a 429's hint beats a bare 503)."""
    if current is None or (new.retry_after or 0) > (current.retry_after or 0):
        return new
    return current

