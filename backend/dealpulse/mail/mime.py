"""RFC 822 bytes and Gmail `format=full` JSON → FetchedMail, best effort on broken mail, never a crash."""

from __future__ import annotations

import base64
import binascii
import codecs
import email
import email.errors
import email.header
import email.parser
import email.policy
import email.utils
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.message import Message
from typing import Any, Iterable, Iterator

from dealpulse.mail.automated import AUTOMATION_HEADERS
from dealpulse.mail.html_text import html_to_text
from dealpulse.mail.types import Address, Attachment, FetchedMail

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SINGLE_BYTE_WESTERN = {"us-ascii", "ascii", "iso8859-1", "latin-1", "cp1252", "iso8859-15"}
_MESSAGE_ID = re.compile(r"<([^<>\s]+)>")
_WHITESPACE = re.compile(r"\s+")
# The modern header parser is super-linear on huge values (20,000 encoded words: seconds); real headers are far
# shorter, so longer ones go straight to the lenient parsers.
_MODERN_HEADER_MAX_CHARS = 16_000
_PLAUSIBLE_ADDRESS = re.compile(r"^[^@\s\"<>(),;:]+@[^@\s\"<>(),;:]+\.[^@\s\"<>(),;:.]+$")


class MailParseError(ValueError):
    """The input is not a message at all (wrong type or shape); nothing could be extracted."""


def decode_base64url(data: str) -> bytes:
    """Decode base64url as Gmail sends it (padding omitted); tolerates whitespace, padding and standard base64."""
    cleaned = re.sub(r"\s+", "", data).replace("+", "-").replace("/", "_").rstrip("=")
    if not re.fullmatch(r"[A-Za-z0-9_-]*", cleaned) or len(cleaned) % 4 == 1:
        raise MailParseError("not base64url: unexpected characters or length")
    return base64.urlsafe_b64decode(cleaned + "=" * (-len(cleaned) % 4))


def _cp1252_for_invalid_utf8(exc: UnicodeError) -> tuple[str, int]:
    """Codec error handler: bytes that are not UTF-8 are read as Windows-1252 (mixed-encoding mail)."""
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return exc.object[exc.start : exc.end].decode("cp1252", errors="replace"), exc.end


codecs.register_error("dealpulse-utf8-or-cp1252", _cp1252_for_invalid_utf8)


def decode_text(data: bytes, declared_charset: str | None) -> str:
    """Best-effort bytes → str: the declared charset when it fits, else UTF-8 with Windows-1252 for stray bytes."""
    charset = _known_codec(declared_charset)
    # Western single-byte labels are often wrong (the body is really UTF-8), and valid multi-byte UTF-8 is
    # almost never an accident, so UTF-8 goes first for them; other declared charsets are trusted if they fit.
    if charset is not None and charset not in _SINGLE_BYTE_WESTERN:
        try:
            return data.decode(charset)
        except UnicodeDecodeError:
            pass
    return data.decode("utf-8", errors="dealpulse-utf8-or-cp1252")


def _known_codec(charset: str | None) -> str | None:
    if not charset:
        return None
    try:
        return codecs.lookup(charset.strip().strip('"').lower()).name
    except (LookupError, ValueError):
        return None


@dataclass
class _Content:
    """Text, HTML and attachments gathered from a MIME tree."""

    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)

    def body_text(self) -> str:
        """Plain text parts if any have content, else the HTML parts as text."""
        plain = "\n".join(part for part in self.plain if part.strip())
        if plain.strip():
            return plain.replace("\r\n", "\n").replace("\r", "\n")
        return html_to_text("\n".join(self.html))


def parse_rfc822(
    raw: bytes,
    *,
    provider_id: str = "",
    thread_id: str = "",
    labels: Iterable[str] = (),
    is_sent: bool = False,
    fallback_date: datetime | None = None,
) -> FetchedMail:
    """Parse a raw message; a missing or bad Date falls back to `fallback_date`, then Received, then the epoch."""
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        raise MailParseError(f"raw message must be bytes, not {type(raw).__name__}")
    message = _parse_structure(bytes(raw))
    headers = _Headers([(name, _unescape_8bit(str(value))) for name, value in message.raw_items()])
    content = _Content()
    _collect_rfc822(message, content)
    return _assemble(
        headers,
        content,
        provider_id=provider_id,
        thread_id=thread_id,
        labels=list(labels),
        is_sent=is_sent,
        fallback_date=_as_utc(fallback_date) or headers.received_date() or EPOCH,
    )


def parse_gmail_full(message: dict[str, Any]) -> FetchedMail:
    """Parse a Gmail API `users.messages.get(format="full")` resource."""
    if not isinstance(message, dict) or not isinstance(message.get("payload"), dict):
        raise MailParseError("Gmail message must be a dict with a 'payload' object (format=full)")
    payload = message["payload"]
    headers = _Headers.from_gmail(payload.get("headers"))
    content = _Content()
    _collect_gmail(payload, content)
    label_ids = message.get("labelIds")
    labels = [str(label) for label in label_ids] if isinstance(label_ids, list) else []
    return _assemble(
        headers,
        content,
        provider_id=str(message.get("id", "")),
        thread_id=str(message.get("threadId", "")),
        labels=labels,
        is_sent="SENT" in labels,
        fallback_date=_from_epoch_ms(message.get("internalDate")) or EPOCH,
    )


def with_content(mail: FetchedMail, raw: bytes) -> FetchedMail:
    """`mail`, whose headers were read from metadata, with the body text, HTML and attachments of its RFC 822 bytes."""
    content = _Content()
    _collect_rfc822(_parse_structure(bytes(raw)), content)
    return replace(mail, body_text=content.body_text(), body_html="\n".join(content.html),
                   attachments=content.attachments, content_loaded=True)


def _parse_structure(raw: bytes) -> Message:
    """MIME tree: the compat32 parser for clean mail (2-3x faster), the modern policy when it reports defects."""
    try:
        message = email.message_from_bytes(raw, policy=email.policy.compat32)
        if any(part.defects for part in _parts(message)):
            message = email.message_from_bytes(raw, policy=email.policy.default)
    except RecursionError:
        # The stdlib parser recurses once per multipart level; absurd nesting is read as one text body.
        message = email.parser.BytesParser(policy=email.policy.compat32).parsebytes(raw, headersonly=True)
    return message


def _parts(root: Message) -> Iterator[Message]:
    """Every part of the tree, without recursion; attached messages are not entered."""
    stack = [root]
    while stack:
        part = stack.pop()
        yield part
        payload = part.get_payload() if part.is_multipart() and part.get_content_type() != "message/rfc822" else None
        if isinstance(payload, list):
            stack.extend(reversed(payload))


def _assemble(headers: "_Headers", content: _Content, *, fallback_date: datetime, **ids: Any) -> FetchedMail:
    senders = headers.addresses("From") or headers.addresses("Sender")
    references = headers.message_ids("References")
    in_reply_to = headers.message_ids("In-Reply-To")
    return FetchedMail(
        subject=headers.text("Subject"),
        message_id=next(iter(headers.message_ids("Message-ID")), ""),
        sender=senders[0] if senders else None,
        to=headers.addresses("To"),
        cc=headers.addresses("Cc"),
        bcc=headers.addresses("Bcc"),
        sent_at=headers.date() or fallback_date,
        body_text=content.body_text(),
        body_html="\n".join(content.html),
        in_reply_to=in_reply_to[0] if in_reply_to else "",
        references=references,
        attachments=content.attachments,
        automation_headers=_automation_headers(headers),
        **ids,
    )


def _automation_headers(headers: "_Headers") -> dict[str, str]:
    """The headers that say a mail is automated (Content-Type only when it is a report: bounces, receipts)."""
    found = {name: headers.raw(name) for name in AUTOMATION_HEADERS if headers.raw(name)}
    if not found.get("content-type", "").lower().startswith("multipart/report"):
        found.pop("content-type", None)
    return found


def _unescape_8bit(value: str) -> str:
    """Raw 8-bit header bytes arrive as surrogate escapes; decode them best-effort."""
    if not any("\udc80" <= ch <= "\udcff" for ch in value):
        return value
    return decode_text(value.encode("utf-8", "surrogateescape"), None)


class _Headers:
    """Header lookups that use the modern email policy and fall back to lenient parsing on broken values."""

    def __init__(self, pairs: list[tuple[str, str]]):
        self._values: dict[str, list[str]] = {}
        for name, value in pairs:
            self._values.setdefault(name.lower(), []).append(value)

    @classmethod
    def from_gmail(cls, headers: Any) -> "_Headers":
        """Headers from Gmail's [{"name", "value"}] list; anything else in it is ignored."""
        items = headers if isinstance(headers, list) else []
        return cls([(str(h.get("name", "")), str(h.get("value", ""))) for h in items if isinstance(h, dict)])

    def raw(self, name: str) -> str:
        """First value of `name` as received ("" when absent)."""
        values = self._values.get(name.lower())
        return values[0] if values else ""

    def structured(self, name: str) -> Any:
        """policy.default's parsed header object, or None when absent, unparseable or too long for it."""
        value = self.raw(name)
        if not value or len(value) > _MODERN_HEADER_MAX_CHARS:
            return None
        try:
            return email.policy.default.header_factory(name, value.replace("\r", "").replace("\n", ""))
        except Exception:  # the modern header parser has known crashes on hostile input; fall back below
            return None

    def text(self, name: str) -> str:
        """Unstructured header with encoded words decoded and whitespace collapsed."""
        lenient = _WHITESPACE.sub(" ", _decode_words(self.raw(name))).strip()
        header = self.structured(name)
        if header is None:
            return lenient
        try:
            strict = _WHITESPACE.sub(" ", str(header)).strip()
        except Exception:  # same as above: the lenient decoder's reading stands
            return lenient
        # The modern parser turns unknown charsets into U+FFFD; our decoder guesses instead.
        return lenient if "\ufffd" in strict and "\ufffd" not in lenient else strict

    def addresses(self, name: str) -> list[Address]:
        """Plausible addresses, lower-cased, de-duplicated, with display names."""
        header = self.structured(name)
        pairs: list[tuple[str, str]] = []
        try:
            pairs = [(a.display_name, a.addr_spec) for a in getattr(header, "addresses", ())]
        except Exception:  # fall back to the lenient parser
            pairs = []
        if not pairs and self.raw(name):
            pairs = email.utils.getaddresses([_decode_words(self.raw(name))])
        seen: set[str] = set()
        result: list[Address] = []
        for display_name, addr in pairs:
            addr = addr.strip().strip("<>").lower()
            if not _PLAUSIBLE_ADDRESS.match(addr) or ".." in addr.rpartition("@")[2] or addr in seen:
                continue
            seen.add(addr)
            result.append(Address(email=addr, name=_WHITESPACE.sub(" ", display_name or "").strip().strip('"')))
        return result

    def message_ids(self, name: str) -> list[str]:
        """Message-IDs without angle brackets, in order, de-duplicated."""
        value = " ".join(self._values.get(name.lower(), []))
        ids = _MESSAGE_ID.findall(value)
        if not ids:
            ids = [token.strip("<>,;") for token in value.split() if token.strip("<>,;")]
        return list(dict.fromkeys(ids))

    def date(self) -> datetime | None:
        """The Date header in UTC, or None when missing or unreadable."""
        return _parse_date(self.raw("Date"))

    def received_date(self) -> datetime | None:
        """Date of the newest Received header (after its last ";"), or None."""
        received = self.raw("Received")
        return _parse_date(received.rsplit(";", 1)[1]) if ";" in received else None


def _parse_date(value: str) -> datetime | None:
    if not value.strip():
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    try:
        return _as_utc(parsed)
    except (OverflowError, ValueError):  # e.g. year 1 in a far-east zone
        return None


def _as_utc(moment: datetime | None) -> datetime | None:
    """Aware UTC; a naive datetime is taken to be UTC already."""
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def _from_epoch_ms(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


_ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")
_BETWEEN_ENCODED_WORDS = re.compile(r"(?<=\?=)\s+(?==\?)")


def _decode_words(value: str) -> str:
    """Decode RFC 2047 encoded words one by one; unknown charsets are guessed, undecodable words kept as is."""
    return _ENCODED_WORD.sub(_decode_word, _BETWEEN_ENCODED_WORDS.sub("", value))


def _decode_word(match: re.Match[str]) -> str:
    try:
        chunks = email.header.decode_header(match.group(0))
    except (email.errors.HeaderParseError, ValueError, binascii.Error):
        return match.group(0)
    return "".join(decode_text(chunk, charset) if isinstance(chunk, bytes) else chunk for chunk, charset in chunks)


def _is_body(content_type: str, filename: str, disposition: str | None) -> bool:
    """Inline text/plain and text/html make the body; everything else (invites, files, messages) is listed."""
    return content_type in ("text/plain", "text/html") and not filename and disposition != "attachment"


def _add_part(content: _Content, content_type: str, text: str) -> None:
    (content.html if content_type == "text/html" else content.plain).append(text)


def _collect_rfc822(root: Message, content: _Content) -> None:
    """Sort the leaves of the MIME tree into body text, HTML and listed attachments."""
    for part in _parts(root):
        content_type = _safe(part.get_content_type, "text/plain")
        if part.is_multipart() and content_type != "message/rfc822":
            continue
        if part is root and content_type.startswith("multipart/"):
            content_type = "text/plain"  # a multipart without a usable boundary: read it as text
        filename = _filename(part)
        data = _payload_bytes(part)
        if _is_body(content_type, filename, _safe(part.get_content_disposition, None)):
            _add_part(content, content_type, decode_text(data, _safe(part.get_content_charset, None)))
        else:
            content.attachments.append(Attachment(filename=filename, content_type=content_type, size=len(data)))


def _filename(part: Message) -> str:
    """Attachment name read by the modern header parser (RFC 2231 and encoded words decoded)."""
    headers = _Headers([(name, _unescape_8bit(str(value))) for name, value in part.raw_items()])
    for header_name, param in (("Content-Disposition", "filename"), ("Content-Type", "name")):
        header = headers.structured(header_name)
        value = _safe(lambda: header.params.get(param), None) if header is not None else None
        if value:
            return _WHITESPACE.sub(" ", _decode_words(str(value))).strip()
    return ""


def _payload_bytes(part: Message) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception:  # undecodable transfer encoding: keep what is there
        data = None
    if isinstance(data, bytes):
        return data
    payload = part.get_payload()
    if isinstance(payload, str):
        return payload.encode("utf-8", "surrogateescape")
    if isinstance(payload, list):  # an attached message
        return b"".join(_safe(p.as_bytes, b"") if isinstance(p, Message) else b"" for p in payload)
    return b""


def _safe(call: Any, default: Any) -> Any:
    try:
        return call()
    except Exception:  # header parameter parsing can fail on hostile input; the default is a safe reading
        return default


def _collect_gmail(payload: dict[str, Any], content: _Content) -> None:
    """Walk Gmail's `payload.parts` tree without recursion; attached messages are listed, not opened."""
    stack: list[dict[str, Any]] = [payload]
    while stack:
        part = stack.pop()
        mime_type = str(part.get("mimeType") or "text/plain").lower()
        parts = [p for p in part.get("parts") or [] if isinstance(p, dict)]
        if mime_type.startswith("multipart/"):
            stack.extend(reversed(parts))
            continue
        body = part.get("body") if isinstance(part.get("body"), dict) else {}
        headers = _Headers.from_gmail(part.get("headers"))
        filename = str(part.get("filename") or "")
        disposition = headers.raw("Content-Disposition").split(";", 1)[0].strip().lower() or None
        if not _is_body(mime_type, filename, disposition) or body.get("attachmentId"):
            content.attachments.append(Attachment(filename=filename, content_type=mime_type, size=_int(body.get("size"))))
            continue
        try:
            data = decode_base64url(str(body.get("data") or ""))
        except MailParseError:
            data = b""
        content_type = headers.structured("Content-Type")
        charset = getattr(content_type, "params", {}).get("charset") if content_type is not None else None
        _add_part(content, mime_type, decode_text(data, charset))


def _int(value: Any) -> int:
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0
