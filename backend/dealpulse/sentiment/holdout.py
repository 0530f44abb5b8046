"""The fixed held-out split of rated emails, decided by what an email says rather than by which item it is.

Ratings of the same words must never sit on both sides of the split: the same template mailed to many reps,
or a passage re-sent with another greeting or sign-off, would otherwise be trained on and then "predicted"
on held-out ratings, flattering every candidate. So membership hangs on the text the model reads (quoted
history, signature and an opening salutation dropped, as the scorer drops them), without case or punctuation.
"""

from __future__ import annotations

import hashlib
import re

from ..mail.reply_split import split_reply
from .preprocess import clean_text, without_salutation
from .sentences import split_sentences

HOLDOUT_PERCENT = 20
_WORD = re.compile(r"[^\W_]+")


def content_key(text: str) -> str:
    """The words an email's tone rests on, lower-cased: what decides its side of the held-out split."""
    sentences = without_salutation(split_sentences(clean_text(split_reply(text).new_text or "")))
    return " ".join(_WORD.findall(" ".join(s.text for s in sentences).lower()))


def is_holdout_key(key: str) -> bool:
    """Whether ratings whose `content_key` is `key` are held out for evaluation (stable; every rater alike)."""
    digest = hashlib.sha1(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % 100 < HOLDOUT_PERCENT


def is_holdout_text(text: str) -> bool:
    """Whether ratings of `text` are held out for evaluation."""
    return is_holdout_key(content_key(text))
