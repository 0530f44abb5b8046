"""Email HTML → safe HTML for display (nh3) and → plain text with quoted history marked by ">"."""

from __future__ import annotations

import re
from collections import Counter
from html.parser import HTMLParser

import nh3

# Formatting only: no forms, media, frames, styles or scripts. Images keep their alt text but lose `src`,
# so opening a mail in the sidebar never fetches a remote image (tracking beacon).
_SAFE_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "del", "div", "em", "font", "h1", "h2", "h3",
    "h4", "h5", "h6", "hr", "i", "img", "ins", "li", "ol", "p", "pre", "q", "s", "small", "span", "strike",
    "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
}
_SAFE_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"alt", "title", "width", "height"},
    "td": {"colspan", "rowspan", "align"},
    "th": {"colspan", "rowspan", "align"},
    "ol": {"start"},
    "*": {"dir", "lang"},
}
_SAFE_URL_SCHEMES = {"http", "https", "mailto", "tel"}


def sanitize_email_html(html: str) -> str:
    """Return `html` reduced to inert formatting: no scripts, handlers, styles, remote loads or unsafe links."""
    return nh3.clean(
        html,
        tags=_SAFE_TAGS,
        clean_content_tags={"script", "style", "title", "template", "noscript", "iframe", "object", "svg", "math"},
        attributes=_SAFE_ATTRIBUTES,
        url_schemes=_SAFE_URL_SCHEMES,
        url_relative="deny",
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


_BLOCK_TAGS = {
    "address", "article", "aside", "blockquote", "center", "dd", "div", "dl", "dt", "fieldset", "figure",
    "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p",
    "pre", "section", "table", "tbody", "tfoot", "thead", "tr", "ul",
}
_PARAGRAPH_TAGS = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "pre"}
_HIDDEN_TAGS = {"script", "style", "head", "title", "template", "noscript", "iframe", "object", "svg"}
_VOID_TAGS = {
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track", "wbr",
}
_QUOTE_CLASSES = re.compile(r"\b(gmail_quote\w*|yahoo_quoted|protonmail_quote)\b", re.IGNORECASE)
# Outlook puts the "From: … Sent: …" block of the original in one of these; the original follows as siblings.
_OUTLOOK_HEADER_IDS = {"divrplyfwdmsg", "olk_src_body_section"}
_OUTLOOK_HEADER_STYLE = re.compile(
    r"border-top\s*:[^;]*\bsolid\b[^;]*;.{0,80}?padding(?:-top)?\s*:\s*3(?:\.0)?pt", re.IGNORECASE | re.DOTALL
)
_STYLE_MAX_CHARS = 2000  # Outlook's header style is short; bounding it keeps hostile styles cheap to match
_SPACES = re.compile(r"[ \t\r\n\f\u00a0\u200b]+")


class _TextBuilder:
    """Collects lines of text, each with its quote depth."""

    def __init__(self) -> None:
        self.lines: list[tuple[int, str]] = []
        self._parts: list[str] = []
        self._level = 0

    def add(self, text: str, level: int, keep_indent: bool = False) -> None:
        """Append inline text to the current line (leading spaces dropped unless preformatted)."""
        if not self._parts:
            text = text if keep_indent else text.lstrip(" ")
            if not text:
                return
            self._level = level
        self._parts.append(text)

    def newline(self, level: int) -> None:
        """End the current line, even if empty."""
        line = "".join(self._parts).rstrip()
        self.lines.append((self._level if self._parts else level, line))
        self._parts = []

    def end_block(self, level: int) -> None:
        """End the current line if it has text."""
        if self._parts:
            self.newline(level)

    def blank_line(self, level: int) -> None:
        """End the current line and leave one blank line (paragraph break)."""
        self.end_block(level)
        if self.lines and self.lines[-1][1]:
            self.lines.append((level, ""))

    def render(self) -> str:
        """The text, each line prefixed with one ">" per quote level."""
        self.end_block(0)
        out: list[str] = []
        for level, line in self.lines:
            if not line and out and out[-1].strip("> ") == "" and out[-1].count(">") == level:
                continue  # collapse runs of blank lines at the same depth
            prefix = ">" * level
            out.append(f"{prefix} {line}" if prefix and line else prefix + line)
        while out and not out[-1].strip("> "):
            out.pop()
        return "\n".join(out).strip("\n")


class _TextExtractor(HTMLParser):
    """Streams HTML into text; tolerant of unclosed and stray tags, no recursion, linear time."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out = _TextBuilder()
        self._stack: list[tuple[str, bool, bool]] = []  # (tag, opens a quote, hides content)
        self._open = Counter()
        self._quote_depth = 0
        self._hidden_depth = 0
        self._pre_depth = 0
        self._rest_quoted = False  # after an Outlook original-message header, everything is history

    @property
    def _level(self) -> int:
        return self._quote_depth + (1 if self._rest_quoted else 0)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: (value or "") for name, value in attrs}
        if tag in _BLOCK_TAGS:
            self._break_for(tag)
        if tag == "br":
            self.out.newline(self._level)
        elif tag == "li" and not self._hidden_depth:
            self.out.add("- ", self._level)
        elif tag == "img" and values.get("alt", "").strip() and not self._hidden_depth:
            self.out.add(f"[{values['alt'].strip()}]", self._level)
        elif tag in ("td", "th"):
            self.out.add(" ", self._level)
        if tag in _VOID_TAGS:
            return
        if not self._rest_quoted and self._is_outlook_header(values):
            self.out.end_block(self._level)
            self._rest_quoted = True
        opens_quote = tag == "blockquote" or bool(_QUOTE_CLASSES.search(values.get("class", "")))
        hides = tag in _HIDDEN_TAGS
        self._stack.append((tag, opens_quote, hides))
        self._open[tag] += 1
        self._quote_depth += opens_quote
        self._hidden_depth += hides
        self._pre_depth += tag == "pre"
        if opens_quote:
            self.out.end_block(self._level)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID_TAGS:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCK_TAGS:
            self._break_for(tag)
        if not self._open[tag]:
            return  # stray end tag
        while self._stack:
            opened, opens_quote, hides = self._stack.pop()
            self._open[opened] -= 1
            self._quote_depth -= opens_quote
            self._hidden_depth -= hides
            self._pre_depth -= opened == "pre"
            if opens_quote:
                self.out.end_block(self._level + 1)
            if opened == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._hidden_depth:
            return
        if self._pre_depth:
            lines = data.split("\n")
            for index, line in enumerate(lines):
                if index:
                    self.out.newline(self._level)
                self.out.add(line, self._level, keep_indent=True)
        else:
            self.out.add(_SPACES.sub(" ", data), self._level)

    def _break_for(self, tag: str) -> None:
        if self._hidden_depth:
            return
        if tag in _PARAGRAPH_TAGS:
            self.out.blank_line(self._level)
        else:
            self.out.end_block(self._level)

    @staticmethod
    def _is_outlook_header(values: dict[str, str]) -> bool:
        if values.get("id", "").lower() in _OUTLOOK_HEADER_IDS:
            return True
        if "outlookmessageheader" in values.get("class", "").lower():
            return True
        return bool(_OUTLOOK_HEADER_STYLE.search(values.get("style", "")[:_STYLE_MAX_CHARS]))


def html_to_text(html: str) -> str:
    """Plain text of an email's HTML: paragraphs and list items on their own lines, quoted history as "> "."""
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    return extractor.out.render()
