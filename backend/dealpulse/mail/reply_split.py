"""Split an email body into the sender's new text, quoted history, signature and legal disclaimer.

Chosen by bench/bench_parsing.py on 62 fixture emails (14 held out), exact new text: ours 62/62 (held-out 14/14);
email-reply-parser 20/62 (57/62 with our signature layer); mail-parser-reply 15/62 (56/62); quotequail 4/62 (43/62).
"""

from __future__ import annotations

import re
from typing import Iterable, NamedTuple


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
    r"|-{3,}\s*Forwarded by\b.{1,250}?-{3,}"
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
# Lotus Notes: '"Name" <a@b> on 04/26/2001 05:49 PM' (or 'From: Name on ...'), or a name line and then a
# '04/26/2001 05:49 PM' line, each followed by To:/cc:/Subject: lines.
_NOTES_MOMENT = r"\d{1,2}/\d{1,2}/\d{2,4}\s+\d{1,2}:\d{2}(?::\d{2})?\s*(?:[AP]M)?"
_NOTES_ATTRIBUTION = re.compile(rf"^\s*(?:From\s?:\s*)?\S.{{0,250}}\s+on\s+{_NOTES_MOMENT}\s*$", re.IGNORECASE)
_NOTES_DAY_AT_END = re.compile(r"\bon\s+\d{1,2}/\d{1,2}/\d{2,4}\s*$", re.IGNORECASE)
_NOTES_DATE_LINE = re.compile(rf"^\s*{_NOTES_MOMENT}\s*$", re.IGNORECASE)
_NOTES_SENT_BY = re.compile(r"^\s*Sent by\s?:", re.IGNORECASE)
_NOTES_HEADER = re.compile(r"^\s*(?:To|cc|bcc|Subject)\s?:", re.IGNORECASE)
_NOTES_NAME_MAX_CHARS = 120
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


def split_reply(text: str, earlier: Iterable[str] = ()) -> ReplyParts:
    """Split `text` (plain text, e.g. FetchedMail.body_text) into new text, quote, signature and disclaimer.

    A block of ">" lines is quoted history when it follows an attribution ("On ... wrote:") or repeats
    `earlier` mail of the same thread; otherwise it is the sender's own text (">" used as bullets). Answers
    written between the quoted lines of an interleaved reply are new text.
    """
    lines = _lines(text)
    quote_start = _find_quote_start(lines, _QuotedHistory(earlier))
    before, quoted = lines[:quote_start], lines[quote_start:]
    if quoted and _QUOTED_LINE.match(quoted[0]) or quoted and _ATTRIBUTION.match(quoted[0]):
        answers, quoted = _interleaved(quoted)
        before = before + answers
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


class _QuotedHistory:
    """The words of earlier mail in the thread, to recognise a ">" block that repeats it."""

    def __init__(self, earlier: Iterable[str]):
        self._texts = [_words(text) for text in earlier if text]

    def repeats(self, block: list[str]) -> bool:
        words = _words("\n".join(_QUOTE_PREFIX.sub("", line) for line in block))
        return bool(words) and any(words in text or (len(text) >= _MIN_REPEATED_CHARS and text in words) for text in self._texts)


_MIN_REPEATED_CHARS = 20  # an earlier text this long found inside a ">" block means the block quotes it
_QUOTE_PREFIX = re.compile(r"^\s*(?:>\s?)+")


def _words(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))


def _find_quote_start(lines: list[str], history: _QuotedHistory | None = None) -> int:
    """Index of the first line of quoted or forwarded history; len(lines) when there is none."""
    for index, line in enumerate(lines):
        if not line.strip():
            continue
        if _QUOTED_LINE.match(line):
            block = _quoted_block(lines, index)
            if _carries_attribution(block) or (history is not None and history.repeats(block)):
                return index
            if not _has_content([text for text in lines if not _QUOTED_LINE.match(text)]):
                return index  # nothing but ">" lines: nothing new was written
            continue
        if len(line) > _MARKER_MAX_CHARS:  # markers are short lines; long ones are text (and costly to match)
            continue
        if _SEPARATOR.match(line) or _ATTRIBUTION.match(line) or _is_notes_header(lines, index):
            return index
        following = lines[index + 1][:_MARKER_MAX_CHARS].strip() if index + 1 < len(lines) else ""
        if following and _is_wrapped_marker(f"{line.rstrip()} {following}", lines, index):
            return index  # attribution or banner wrapped onto two lines (Notes wraps at 78 characters)
        if _HEADER_FROM.match(line) and _is_header_block(lines, index):
            return index
    return len(lines)


def _is_wrapped_marker(joined: str, lines: list[str], index: int) -> bool:
    following = lines[index + 1]
    if _ATTRIBUTION.match(following) or _SEPARATOR.match(following) or _NOTES_ATTRIBUTION.match(following):
        return False  # the next line is a marker on its own: this line is text before it
    if _ATTRIBUTION.match(joined) or _SEPARATOR.match(joined):
        return True
    wrapped_before_time = _NOTES_DAY_AT_END.search(lines[index])
    return bool(wrapped_before_time and _NOTES_ATTRIBUTION.match(joined)) and _notes_headers_follow(lines, index + 2)


def _carries_attribution(block: list[str]) -> bool:
    """A ">" block that quotes a whole earlier message, attribution or header included ("> On ... wrote:")."""
    unquoted = [_QUOTE_PREFIX.sub("", line) for line in block]
    return _find_quote_start(unquoted) < len(unquoted)


def _quoted_block(lines: list[str], start: int) -> list[str]:
    end = start
    while end < len(lines) and _QUOTED_LINE.match(lines[end]):
        end += 1
    return lines[start:end]


def _is_header_block(lines: list[str], start: int) -> bool:
    following = lines[start + 1 : start + 1 + _HEADER_LOOKAHEAD]
    return sum(1 for line in following if _HEADER_OTHER.match(line)) >= 2


def _is_notes_header(lines: list[str], index: int) -> bool:
    """A Lotus Notes reply header starts here: attribution with a date (or name + date line), then To:/cc:."""
    line = lines[index]
    if _NOTES_ATTRIBUTION.match(line):
        return _notes_headers_follow(lines, index + 1)
    if len(line.strip()) > _NOTES_NAME_MAX_CHARS or _NOTES_DATE_LINE.match(line):
        return False
    date_at = index + 1
    if date_at < len(lines) and _NOTES_SENT_BY.match(lines[date_at]):
        date_at += 1
    if date_at < len(lines) and _NOTES_DATE_LINE.match(lines[date_at]):
        return _notes_headers_follow(lines, date_at + 1)
    return False


def _notes_headers_follow(lines: list[str], start: int) -> bool:
    following = [line for line in lines[start : start + 3] if line.strip()]
    return bool(following) and bool(_NOTES_HEADER.match(following[0]))


def _interleaved(quoted: list[str]) -> tuple[list[str], list[str]]:
    """Under an attribution (or a ">" block), the unquoted lines between ">" runs are the sender's answers.

    Stops at the next marker of older history (another attribution, separator or header block).
    """
    first = next(i for i, line in enumerate(quoted) if line.strip())
    start = first + 1 if _ATTRIBUTION.match(quoted[first]) else first
    answers: list[str] = []
    history: list[str] = quoted[:start]
    index = start
    while index < len(quoted):
        line = quoted[index]
        if not line.strip() or _QUOTED_LINE.match(line):
            (history if _QUOTED_LINE.match(line) else answers).append(line)
            index += 1
            continue
        rest = quoted[index:]
        older = _find_quote_start(rest)
        if older == 0:
            break
        run = next((i for i, text in enumerate(rest[:older]) if _QUOTED_LINE.match(text)), older)
        answers.extend(rest[:run])
        index += run
    if not _has_content(answers) or not _has_content(history[start:]):
        return [], quoted
    return answers, history + quoted[index:]


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
