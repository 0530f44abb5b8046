"""Bulk import of tone ratings from a JSONL export: every line checked first, then all stored or none.

Line format: `{"text": ..., "label": ..., "rater": ...}` or `{"activity_id": ..., "label": ..., "rater": ...}`
(exactly one of text and activity_id), optional "note". An unknown rater becomes an imported rater. Ratings keep
the one-current-rating-per-rater-per-item rule of the sidebar: importing again changes the label and appends to
the history. A fixed share of texts (see `holdout`) is held out for evaluation, never trained on.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterable

from sqlalchemy import select

from ..store import Activity, Rater, utcnow
from ..domain.tone_labels import LABELS
from ..store.sentiment import current_scores
from ..store.uow import UnitOfWork
from ..sentiment.holdout import is_holdout_text
from .ratings import MAX_NOTE_CHARS, NOT_RATABLE_OUTBOUND, activity_item_key, apply_rating, is_ratable

MAX_TEXT_CHARS = 20_000
MAX_RATER_CHARS = 320


def text_item_key(text: str) -> str:
    """The rating item key of a bare text: its SHA-256 (same text, same item, whoever rates it)."""
    return "t:" + hashlib.sha256(text.strip().encode("utf-8")).hexdigest()


class RatingsImportError(ValueError):
    """Some lines are bad; `problems` lists (line number, reason) and nothing was imported."""

    def __init__(self, problems: list[tuple[int, str]]):
        self.problems = problems
        shown = "; ".join(f"line {n}: {reason}" for n, reason in problems[:20])
        more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
        super().__init__(f"{len(problems)} bad line(s), nothing imported: {shown}{more}")


@dataclass(frozen=True)
class ParsedRating:
    """One valid line."""

    line: int
    rater: str
    label: str
    note: str
    text: str | None
    activity_id: int | None


@dataclass
class ImportSummary:
    """What an import stored."""

    lines: int = 0
    created: int = 0
    changed: int = 0
    unchanged: int = 0
    held_out: int = 0
    raters: set[str] = field(default_factory=set)
    new_raters: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        """A JSON-ready dict."""
        return {
            "lines": self.lines, "created": self.created, "changed": self.changed, "unchanged": self.unchanged,
            "held_out": self.held_out, "raters": len(self.raters), "new_raters": self.new_raters,
        }


def parse_line(raw: str, number: int) -> ParsedRating | str:
    """A valid rating, or the reason the line is bad."""
    try:
        record = json.loads(raw)
    except json.JSONDecodeError as exc:
        return f"not valid JSON ({exc.msg})"
    if not isinstance(record, dict):
        return "expected a JSON object"
    label = record.get("label")
    if not isinstance(label, str) or label not in LABELS:
        return f"\"label\" must be one of {', '.join(LABELS)}" + ("" if label is None else f", not {label!r}")
    rater = record.get("rater")
    if not isinstance(rater, str) or not rater.strip() or len(rater.strip()) > MAX_RATER_CHARS:
        return f"\"rater\" must be a non-empty identifier of at most {MAX_RATER_CHARS} characters"
    note = record.get("note", "")
    if not isinstance(note, str) or len(note) > MAX_NOTE_CHARS:
        return f"\"note\" must be text of at most {MAX_NOTE_CHARS} characters"
    has_text, has_activity = "text" in record, "activity_id" in record
    if has_text == has_activity:
        return "give exactly one of \"text\" and \"activity_id\""
    if has_text:
        text = record["text"]
        if not isinstance(text, str) or not text.strip():
            return "\"text\" must be non-empty text"
        if len(text) > MAX_TEXT_CHARS:
            return f"\"text\" is longer than {MAX_TEXT_CHARS} characters"
        return ParsedRating(number, rater.strip().lower(), label, note.strip(), text.strip(), None)
    activity_id = record["activity_id"]
    if isinstance(activity_id, str) and activity_id.isdigit():
        activity_id = int(activity_id)
    if not isinstance(activity_id, int) or isinstance(activity_id, bool) or activity_id <= 0:
        return "\"activity_id\" must be a positive integer"
    return ParsedRating(number, rater.strip().lower(), label, note.strip(), None, activity_id)


def parse_lines(lines: Iterable[str]) -> tuple[list[ParsedRating], list[tuple[int, str]]]:
    """Parse every non-blank line; returns the valid ones and (line number, reason) for the rest."""
    parsed: list[ParsedRating] = []
    problems: list[tuple[int, str]] = []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        result = parse_line(raw, number)
        if isinstance(result, str):
            problems.append((number, result))
        else:
            parsed.append(result)
    return parsed, problems


def import_ratings(uow: UnitOfWork, org_id: int, lines: Iterable[str] | IO[str], source: str = "import") -> ImportSummary:
    """Validate every line, then store them all in one transaction (commits), or raise RatingsImportError."""
    parsed, problems = parse_lines(lines)
    s = uow.s
    activity_ids = sorted({p.activity_id for p in parsed if p.activity_id is not None})
    activities: dict[int, Activity] = {}
    for start in range(0, len(activity_ids), 500):
        chunk = activity_ids[start : start + 500]
        for activity in s.scalars(select(Activity).where(Activity.id.in_(chunk), Activity.org_id == org_id)):
            activities[activity.id] = activity
    for p in parsed:
        if p.activity_id is None:
            continue
        activity = activities.get(p.activity_id)
        if activity is None:
            problems.append((p.line, f"unknown activity {p.activity_id} in this organisation"))
        elif activity.kind != "email":
            problems.append((p.line, f"activity {p.activity_id} is a {activity.kind}; only emails are rated"))
        elif not is_ratable(activity):
            problems.append((p.line, f"activity {p.activity_id} is {NOT_RATABLE_OUTBOUND}"))
    if problems:
        raise RatingsImportError(sorted(problems))
    summary = ImportSummary(lines=len(parsed))
    scores = current_scores(s, activity_ids)
    raters = {r.key: r for r in s.scalars(select(Rater).where(Rater.org_id == org_id))}
    now = utcnow()
    for p in parsed:
        rater = raters.get(p.rater)
        if rater is None:
            rater = Rater(org_id=org_id, key=p.rater, is_imported=True, weight=1.0)
            s.add(rater)
            s.flush()
            raters[p.rater] = rater
            summary.new_raters.append(p.rater)
        summary.raters.add(p.rater)
        key = activity_item_key(p.activity_id) if p.activity_id is not None else text_item_key(p.text or "")
        text = (activities[p.activity_id].new_text or "") if p.activity_id is not None else (p.text or "")
        held_out = is_holdout_text(text)
        summary.held_out += held_out
        score = scores.get(p.activity_id) if p.activity_id is not None else None
        _, outcome = apply_rating(s, rater, key, text, p.label, p.note, activity_id=p.activity_id, score=score,
                                  source=source, now=now, held_out=held_out)
        summary.created += outcome == "created"
        summary.changed += outcome == "changed"
        summary.unchanged += outcome == "unchanged"
    uow.commit()
    return summary


def import_ratings_file(uow: UnitOfWork, org_id: int, path: Path) -> ImportSummary:
    """Import a JSONL file (see `import_ratings`); an unreadable or non-UTF-8 file raises RatingsImportError."""
    try:
        with Path(path).open(encoding="utf-8") as handle:
            lines = handle.readlines()
    except UnicodeDecodeError as exc:
        raise RatingsImportError([(0, f"{path}: not UTF-8 text ({exc.reason})")]) from None
    except OSError as exc:
        raise RatingsImportError([(0, f"cannot read {path}: {exc.strerror}")]) from None
    return import_ratings(uow, org_id, lines)
