"""The fixed held-out split of rated emails, decided by what an email says rather than by which item it is.

Ratings of the same words must never sit on both sides of the split: the same template mailed to many reps,
or a passage re-sent with another greeting or sign-off, would otherwise be trained on and then "predicted"
on held-out ratings, flattering every candidate. So membership hangs on the text the model reads (quoted
history and signature dropped), without a short greeting line, a short closing line, case or punctuation.
"""

from __future__ import annotations

import hashlib
import re

from ..mail.reply_split import split_reply

HOLDOUT_PERCENT = 20
_WORD = re.compile(r"[^\W_]+")
_GREETING_LINE = re.compile(r"^\s*\S+(?:\s+\S+){0,3}\s*[,:!]\s*$")
_CLOSING_LINE = re.compile(
    r"^\s*(?:best|regards|kind regards|warm regards|best regards|many thanks|thanks|thank you|cheers|sincerely"
    r"|all the best|talk soon|br)\b[\s,.!]*(?:[\w.'’-]+\s*){0,3}$",
    re.IGNORECASE,
)


def content_key(text: str) -> str:
    """The words an email's tone rests on, lower-cased: what decides its side of the held-out split."""
    lines = [line for line in (split_reply(text).new_text or text).splitlines() if line.strip()]
    if len(lines) > 1 and _GREETING_LINE.match(lines[0]):
        lines = lines[1:]
    if len(lines) > 1 and _CLOSING_LINE.match(lines[-1]):
        lines = lines[:-1]
    return " ".join(_WORD.findall(" ".join(lines).lower()))


def is_holdout_text(text: str) -> bool:
    """Whether ratings of `text` are held out for evaluation (stable; every rater's rating of it alike)."""
    digest = hashlib.sha1(content_key(text).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % 100 < HOLDOUT_PERCENT
