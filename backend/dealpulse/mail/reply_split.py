"""Split an email body into the sender's new text, quoted history, signature and legal disclaimer.

Chosen by bench/bench_parsing.py on 62 fixture emails (14 held out), exact new text: ours 62/62 (held-out 14/14);
email-reply-parser 20/62 (57/62 with our signature layer); mail-parser-reply 15/62 (56/62); quotequail 4/62 (43/62).
"""

from __future__ import annotations

import re
from typing import NamedTuple


class ReplyParts(NamedTuple):
    """The four parts of an email body; together they hold every non-blank line of the input once."""

    new_text: str
    quoted_text: str
    signature: str
    disclaimer: str


_WROTE = r"(?:wrote|a écrit|schrieb|escribió|schreef|ha scritto|escreveu|skrev|napisał)"
_ATTRIBUTION = re.compile(
    r"^\s*(?:"
    r"On\b.{0,250}\bwrote\s?:"
    r"|Le\b.{0,250}\ba écrit\s?:"
    r"|Am\b.{0,250}\bschrieb\b.{0,250}:"
    r"|El\b.{0,250}\bescribió\s?:"
    r"|Op\b.{0,250}\bschreef\b.{0,250}:"
    r"|Il\b.{0,250}\bha scritto\s?:"
    r"|Em\b.{0,250}\bescreveu\s?:"
    rf"|.{{0,250}}<[^<>\s@]{{1,64}}@[^<>\s@]{{1,255}}>.{{0,30}}\b{_WROTE}\s?:"
    r")\s*$",
    re.IGNORECASE,
)
_SEPARATOR = re.compile(
    r"^\s*(?:"
    r"-{2,}\s*(?:Original Message|Forwarded message|Ursprüngliche Nachricht|Weitergeleitete Nachricht"
    r"|Message d'origine|Message transféré|Mensaje original|Mensaje reenviado|Oorspronkelijk bericht"
    r"|Doorgestuurd bericht|Messaggio originale|Messaggio inoltrato|Mensagem original|Mensagem encaminhada)"
    r"\s*-{2,}"
    r"|_{20,}"
    r"|Begin forwarded message\s?:"
    r"|Anfang der weitergeleiteten Nachricht\s?:"
    r"|Début du message réexpédié\s?:"
    r")\s*$",
    re.IGNORECASE,
)
_HEADER_FROM = re.compile(r"^\s*\*?(?:From|De|Von|Van|Da|Fra|Från|Od|От)\*?\s?:\s*\S", re.IGNORECASE)
_HEADER_OTHER = re.compile(
    r"^\s*\*?(?:Sent|Date|To|Cc|Subject|Envoyé|Date|À|A|Objet|Gesendet|Datum|An|Betreff|Enviado|Fecha|Para"
    r"|Asunto|Verzonden|Aan|Onderwerp|Inviato|Oggetto|Data|Assunto)\*?\s?:",
    re.IGNORECASE,
)
_HEADER_LOOKAHEAD = 6
_MARKER_MAX_CHARS = 600
_QUOTED_LINE = re.compile(r"^\s*>")

_MOBILE_FOOTER = re.compile(
    r"^\s*(?:Sent from (?:my|Mail|Outlook|Yahoo|Samsung)\b.{0,60}|Sent via .{1,60}|Get Outlook for .{1,80}"
    r"|Envoyé de mon .{1,40}|Von meinem .{1,40} gesendet|Enviado desde mi .{1,40}|Verzonden vanaf mijn .{1,40}"
    r"|Inviato da(?:l mio)? .{1,40})\s*$",
    re.IGNORECASE,
)
_VALEDICTION_WORDS = (
    r"(?:(?:best|kind|warm|warmest|kindest|many|with best)?\s*(?:regards|wishes)|best|all the best|cheers"
    r"|thanks(?: again| a lot| so much| in advance)?|thank you(?: again| so much)?|many thanks|thx|ta|sincerely"
    r"|yours(?: sincerely| truly)?|talk soon|speak soon|take care|cordialement|bien à vous|bien cordialement"
    r"|merci|(?:viele|beste|liebe|freundliche) grüße|mit freundlichen grüßen|mfg|danke|saludos|un saludo"
    r"|atentamente|gracias|groeten|met vriendelijke groet(?:en)?|cordiali saluti|saluti|grazie|abraços"
    r"|obrigad[oa]|atenciosamente)"
)
_VALEDICTION = re.compile(rf"^\s*{_VALEDICTION_WORDS}\s*[,.!]*\s*$", re.IGNORECASE)
# "Best, Jo", "Thanks, Priya Shah", "Regards, M." on one line: the closing and a capitalised name (case matters here).
_NAME = r"[A-Z][\w.'’-]{0,40}(?:\s+[A-Z][\w.'’-]{0,40}){0,2}"
_SIGNED_VALEDICTION = re.compile(rf"^\s*(?i:{_VALEDICTION_WORDS})\s*[,!]\s*{_NAME}\s*$")
_SIGNATURE_MAX_LINES = 10  # a closing followed by more lines than this is probably not a signature
_NAME_LINE = re.compile(rf"^\s*[-–—~]?\s*(?:Dr\.\s+)?{_NAME}\s*$")
# A capitalised line ending in a word and a full stop is a sentence ("WE ACCEPT."), not a name; initials and
# suffixes ("Sam L.", "Jr.") still end names.
_SENTENCE_END = re.compile(r"\b(?!(?:Jr|Sr|Inc|Ltd|Co|PhD)\.)[^\W\d_]{2,}\.\s*$")
_DASHES = ("-", "–", "—", "~")
_LIST_BULLETS = ("-", "*", "•", "–")  # "- Karen" signs a message, but not at the end of a "- item" list
_SHORT_CLOSING = re.compile(r"^\s*[\w'’ ]{2,30},\s*$")
_DISCLAIMER = re.compile(
    r"^\s*(?:"
    r"(?:CONFIDENTIALITY NOTICE|CONFIDENTIALITY|CONFIDENTIAL|DISCLAIMER|PRIVILEGED AND CONFIDENTIAL|LEGAL NOTICE)\b"
    r"|This (?:e-?mail|message|communication|electronic (?:mail|message|transmission))\b.{0,160}"
    r"\b(?:confidential|privileged|intended (?:only|solely))"
    r"|The (?:information|contents?) (?:contained )?(?:in|of) this (?:e-?mail|message|communication|transmission)"
    r"\b.{0,120}\b(?:confidential|privileged|intended)"
    r"|If you (?:are not|have received this).{0,60}(?:intended recipient|in error)"
    r"|(?:Diese E-Mail|Diese Nachricht|Ce (?:message|courriel|courrier électronique)|Este (?:mensaje|correo)"
    r"|Questo messaggio|Dit bericht).{0,200}(?:vertraulich|confidentiel|confidencial|riservat|vertrouwelijk)"
    r")",
    re.IGNORECASE | re.DOTALL,
)


def split_reply(text: str) -> ReplyParts:
    """Split `text` (plain text, e.g. FetchedMail.body_text) into new text, quote, signature and disclaimer."""
    lines = _lines(text)
    quote_start = _find_quote_start(lines)
    before, quoted = lines[:quote_start], lines[quote_start:]
    if not _has_content(before) and quoted:
        before, quoted = _bottom_posted(quoted)
    return _split_tail(before)._replace(quoted_text=_join(quoted))


def split_signature(text: str) -> ReplyParts:
    """Only separate the signature and disclaimer at the end of `text` (no quote detection)."""
    return _split_tail(_lines(text))


def _lines(text: str) -> list[str]:
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _split_tail(lines: list[str]) -> ReplyParts:
    disclaimer_start = _find_disclaimer(lines)
    body, disclaimer = lines[:disclaimer_start], lines[disclaimer_start:]
    signature_start = _find_signature(body)
    return ReplyParts(
        new_text=_join(body[:signature_start]),
        quoted_text="",
        signature=_join(body[signature_start:]),
        disclaimer=_join(disclaimer),
    )


def _join(lines: list[str]) -> str:
    return "\n".join(line.rstrip() for line in lines).strip("\n")


def _has_content(lines: list[str]) -> bool:
    return any(line.strip() for line in lines)


def _find_quote_start(lines: list[str]) -> int:
    """Index of the first line of quoted or forwarded history; len(lines) when there is none."""
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        if _QUOTED_LINE.match(line):
            return index
        if len(line) > _MARKER_MAX_CHARS:  # markers are short lines; long ones are text (and costly to match)
            continue
        if _SEPARATOR.match(line) or _ATTRIBUTION.match(line):
            return index
        following = lines[index + 1][:_MARKER_MAX_CHARS].strip() if index + 1 < len(lines) else ""
        if following and _ATTRIBUTION.match(f"{line.rstrip()} {following}"):
            return index  # attribution wrapped onto two lines
        if _HEADER_FROM.match(line) and _is_header_block(lines, index):
            return index
    return len(lines)


def _is_header_block(lines: list[str], start: int) -> bool:
    following = lines[start + 1 : start + 1 + _HEADER_LOOKAHEAD]
    return sum(1 for line in following if _HEADER_OTHER.match(line)) >= 2


def _bottom_posted(quoted: list[str]) -> tuple[list[str], list[str]]:
    """The reply sits under an attribution and its ">" lines: take the unquoted text after them as new text."""
    first = next(i for i, line in enumerate(quoted) if line.strip())
    if not _ATTRIBUTION.match(quoted[first]):
        return [], quoted
    end = first + 1
    while end < len(quoted) and (not quoted[end].strip() or _QUOTED_LINE.match(quoted[end])):
        end += 1
    if end == first + 1 or end == len(quoted):
        return [], quoted
    rest = quoted[end:]
    rest_quote = _find_quote_start(rest)
    return rest[:rest_quote], quoted[:end] + rest[rest_quote:]


def _paragraph_start(lines: list[str], index: int) -> int:
    while index > 0 and lines[index - 1].strip():
        index -= 1
    return index


def _find_disclaimer(lines: list[str]) -> int:
    """Index where a trailing legal disclaimer starts (never the first paragraph); len(lines) when none."""
    for index, line in enumerate(lines):
        if not line.strip() or (index and lines[index - 1].strip()):
            continue  # only paragraph starts
        end = index
        while end < len(lines) and lines[end].strip():
            end += 1
        paragraph = " ".join(part.strip() for part in lines[index:end])[:400]
        if _DISCLAIMER.match(paragraph) and _has_content(lines[:index]):
            return index
    return len(lines)


def _find_signature(lines: list[str]) -> int:
    """Index where the signature starts; len(lines) when none. The first line of content is never a signature."""
    content = [i for i, line in enumerate(lines) if line.strip()]
    if len(content) < 2:
        return len(lines)
    first = content[0]
    for index in content[1:]:
        if lines[index].strip() == "--" or _MOBILE_FOOTER.match(lines[index]):
            return index
    for index in content[max(1, len(content) - 1 - _SIGNATURE_MAX_LINES) :]:
        if _VALEDICTION.match(lines[index]) or _SIGNED_VALEDICTION.match(lines[index]):
            return index
    return _trailing_name_block(lines, content, first)


def _is_name_line(line: str) -> bool:
    return bool(_NAME_LINE.match(line)) and not _SENTENCE_END.search(line)


def _trailing_name_block(lines: list[str], content: list[int], first: int) -> int:
    """A lone name, a closing like "Sorry about that,\nPetra", "- Karen", or a name/title/company block."""
    last, previous = content[-1], content[-2]
    if _is_name_line(lines[last]):
        if previous == last - 1 and previous != first and _SHORT_CLOSING.match(lines[previous]):
            return previous
        if lines[last].lstrip().startswith(_DASHES):
            return len(lines) if lines[previous].lstrip().startswith(_LIST_BULLETS) else last
        if previous < last - 1 or lines[previous].rstrip().endswith((".", "!", "?")):
            return last
    block_start = _paragraph_start(lines, last)
    block = [line for line in lines[block_start : last + 1] if line.strip()]
    if (
        block_start > first
        and len(block) <= 8
        and _is_name_line(block[0])
        and all(len(line) <= 90 and "?" not in line for line in block)
    ):
        return block_start
    return len(lines)
