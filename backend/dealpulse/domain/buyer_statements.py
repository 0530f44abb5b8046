"""Suggested deal updates read from a buyer's words: a close date ("we aim to sign by 31 March"), an amount or a
seat count, and yes-answers to the current stage's exit questions ("budget is approved"). Plain parsing, no I/O.

Precision over recall: a sentence that is negated, hedged, conditional or a question yields nothing, and each
suggestion carries a confidence; callers show only those at or above the configured threshold.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Iterable

DEFAULT_SUGGESTION_THRESHOLD = 0.65  # chosen on the dev split by `dealpulse evaluate-suggestions`

MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
MONTHS.update({name.lower(): i for i, name in enumerate(calendar.month_abbr) if name})
MONTHS["sept"] = 9
WEEKDAYS = {name.lower(): i for i, name in enumerate(calendar.day_name)}
_MONTH_NAMES = "|".join(sorted(MONTHS, key=len, reverse=True))
_MONTH = rf"(?P<month>{_MONTH_NAMES})\.?"
_WEEKDAY = "|".join(WEEKDAYS)

# Negation and hedging block a sentence outright (precision over recall).
NEGATION = re.compile(
    r"\b(not|no|never|nor|neither|no longer|cannot|can't|won't|wouldn't|isn't|aren't|wasn't|weren't|don't|doesn't|"
    r"didn't|haven't|hasn't|hadn't|shouldn't|couldn't|unable|yet to|without|postpone[ds]?|delay(ed|s)?|"
    r"cancel(l?ed|s)?|unlikely|before)\b|n't\b",
    re.I,
)
HEDGE = re.compile(
    r"\b(if|unless|whether|might|maybe|perhaps|possibly|probably|hope|hopefully|could|would|should|try|trying|"
    r"tentative(ly)?|assum(e|ing)|hoping|depend(s|ing)?|subject to|pending|once|when|until|"
    r"estimate[ds]?|approximately|roughly|guess|think|believe|possible|propose[ds]?|wondering|"
    r"ask(ed|ing)?|request(ed|ing)?|need(s|ed)? to|please|let me know|approx|around)\b",
    re.I,
)
# The modal "may" in lower case; the month is written "May".
MAY = re.compile(r"\bmay\b")
# A close date is only read from a sentence about signing or closing the deal.
CLOSE_CUE = re.compile(r"\b(sign(ed|ing|ature)?|execut(e|ed|ion)|finali[sz]e[ds]?|award(ed)?|commit(ted)?)\b", re.I)
# Signing or executing counts only for the deal's papers (not "the executed opinion"); closing is the deal's own.
DEAL_PAPER = re.compile(r"\b(agreement|contract|deal|order|paperwork|LOI|MSA|SOW|master|PO|purchase order|renewal)\b", re.I)
WE_SIGN = re.compile(r"\b(we|I)\b[^.,;]{0,25}\bsign\b", re.I)
CLOSES = re.compile(r"\b(to close|will close|closes|closing on|close on|close by|go.live)\b", re.I)
CLOSE_WEAK_CUE = re.compile(r"\b(contract|agreement|deal|decision|order|start|kick.?off|effective)\b", re.I)
AMOUNT_CUE = re.compile(r"\b(budget|price|pricing|priced|quote[ds]?|contract|deal|order|purchase|approved|worth|committ?(ed)?|"
                        r"agreement|licen[cs]e[sd]?|subscription)\b", re.I)
# Money that has moved or is not the deal's value: payments, invoices, fees, rates, shares, margin, offers to consumers.
AMOUNT_NOISE = re.compile(r"\b(wired?|deposit(ed)?|invoices?|receivables?|fees?|rates?|shares?|margin|save|refund|"
                          r"expenses?|bonus(es)?|salary|cap|default|owed?|paid)\b", re.I)
# "close of business" is a deadline of the day, not the deal closing.
NOT_A_CLOSE = re.compile(r"\b(close of business|COB|closing list)\b", re.I)
MIN_DEAL_AMOUNT = Decimal("100")


@dataclass(frozen=True)
class ExitQuestionRef:
    """An exit question of the deal's current stage, as the extractor sees it."""

    key: str
    text: str


@dataclass(frozen=True)
class Suggestion:
    """One proposed change: field (close_date | amount | seats | exit.<key>), value, the sentence, confidence 0-1."""

    field: str
    value: str | int | bool
    evidence: str
    confidence: float
    currency: str | None = None

    def as_dict(self) -> dict[str, object]:
        """The JSON shape the sidebar and the evaluation use."""
        out: dict[str, object] = {"field": self.field, "value": self.value, "evidence": self.evidence,
                                  "confidence": round(self.confidence, 3)}
        if self.currency:
            out["currency"] = self.currency
        return out


# -- sentences ------------------------------------------------------------------------------------------------
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])|\n{1,}|;\s+")
_ABBREV = re.compile(r"\b(Mr|Mrs|Ms|Dr|Inc|Co|Corp|Ltd|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec|e\.g|i\.e|approx|No)\.$")


def split_sentences(text: str) -> list[str]:
    """The text's sentences (abbreviations such as "Mr." or "Jan." do not end one)."""
    parts: list[str] = []
    for piece in _SENTENCE_END.split(text.replace("\r", "")):
        piece = piece.strip()
        if not piece:
            continue
        if parts and _ABBREV.search(parts[-1]):
            parts[-1] = f"{parts[-1]} {piece}"
        else:
            parts.append(piece)
    return parts


def blocked(sentence: str) -> bool:
    """True when the sentence is negated, hedged, conditional or a question: it never yields a suggestion."""
    return (sentence.rstrip().endswith("?") or bool(NEGATION.search(sentence)) or bool(HEDGE.search(sentence))
            or bool(MAY.search(sentence)))


# -- dates ----------------------------------------------------------------------------------------------------
def _safe_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _year_for(month: int, day: int, sent: date) -> int:
    """The year of a day-and-month without a year: the next such day on or after the sent date's month."""
    return sent.year if (month, day) >= (sent.month, 1) else sent.year + 1


def _end_of_month(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


_DAY = r"(?P<day>\d{1,2})(st|nd|rd|th)?"
_YEAR = r"(?P<year>(19|20)\d\d)"
DATE_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("iso", re.compile(r"\b(?P<year>(19|20)\d\d)-(?P<month>\d\d)-(?P<day>\d\d)\b")),
    ("numeric", re.compile(r"\b(?P<month>\d{1,2})/(?P<day>\d{1,2})(/(?P<year>(19|20)?\d\d))?\b")),
    ("day_month", re.compile(rf"\b{_DAY}(\s+of)?\s+{_MONTH}(,?\s+{_YEAR})?\b", re.I)),
    ("month_day", re.compile(rf"\b{_MONTH}\s+{_DAY}(,?\s+{_YEAR})?\b", re.I)),
    ("end_month", re.compile(rf"\b(the\s+)?end\s+of\s+{_MONTH}(\s+{_YEAR})?", re.I)),
    ("end_period", re.compile(r"\b(the\s+)?end\s+of\s+(the\s+)?(?P<period>this\s+month|month|next\s+month|this\s+quarter|"
                              r"quarter|next\s+quarter|this\s+year|year)\b", re.I)),
    ("quarter", re.compile(r"\b(?P<q>Q[1-4])(\s+(of\s+)?(?P<year>(19|20)\d\d))?\b")),
    # "on Tuesday, 7/11" states the date itself: the weekday then adds nothing.
    ("weekday", re.compile(rf"\b(?P<rel>next|this|on|by)\s+(?P<weekday>{_WEEKDAY})\b(?!,?\s*(the\s+)?(\d|{_MONTH_NAMES}))", re.I)),
    ("relative", re.compile(r"\b(?P<rel>tomorrow|next\s+week|end\s+of\s+(the\s+)?week|this\s+week)\b", re.I)),
    ("month_only", re.compile(rf"\b(in|by|during)\s+{_MONTH}(\s+{_YEAR})?\b", re.I)),
]


def _month_number(raw: str) -> int | None:
    return int(raw) if raw.isdigit() else MONTHS.get(raw.lower().rstrip("."))


def _resolve(kind: str, m: re.Match[str], sent: date) -> date | None:
    g = m.groupdict()
    year = int(g["year"]) if g.get("year") else None
    if year is not None and year < 100:
        year += 2000
    if kind in ("iso", "numeric", "day_month", "month_day"):
        month, day = _month_number(g["month"]), int(g["day"])
        if month is None or not 1 <= month <= 12:
            return None
        return _safe_date(year if year else _year_for(month, day, sent), month, day)
    if kind in ("end_month", "month_only"):
        month = _month_number(g["month"])
        if month is None:
            return None
        return _end_of_month(year if year else _year_for(month, 1, sent), month)
    if kind == "end_period":
        period = " ".join(g["period"].lower().split())
        if period in ("this month", "month"):
            return _end_of_month(sent.year, sent.month)
        if period == "next month":
            nxt = (sent.replace(day=1) + timedelta(days=32)).replace(day=1)
            return _end_of_month(nxt.year, nxt.month)
        if period in ("this quarter", "quarter", "next quarter"):
            q = (sent.month - 1) // 3 + (1 if period == "next quarter" else 0)
            y = sent.year + q // 4
            return _end_of_month(y, (q % 4) * 3 + 3)
        return date(sent.year, 12, 31)
    if kind == "quarter":
        q = int(g["q"][1])
        y = year if year else (sent.year if q >= (sent.month - 1) // 3 + 1 else sent.year + 1)
        return _end_of_month(y, q * 3)
    if kind == "weekday":
        target = WEEKDAYS[g["weekday"].lower()]
        return sent + timedelta(days=(target - sent.weekday()) % 7 or 7)  # the coming one, as buyers use "next"
    rel = " ".join(g["rel"].lower().split())
    if rel == "tomorrow":
        return sent + timedelta(days=1)
    friday = sent + timedelta(days=(4 - sent.weekday()) % 7)
    return friday + timedelta(days=7) if rel == "next week" else friday


def find_dates(sentence: str, sent: date) -> list[tuple[date, str]]:
    """Every date the sentence states, resolved against the email's sent date: [(date, matched text)]."""
    found: list[tuple[date, str]] = []
    taken: list[tuple[int, int]] = []
    for kind, pattern in DATE_PATTERNS:
        for m in pattern.finditer(sentence):
            if any(m.start() < end and start < m.end() for start, end in taken):
                continue
            if kind == "numeric" and not m.group("year") and re.search(r"\d/\d+\s*(of|ths?|%)", m.group(0) + sentence[m.end():m.end() + 4]):
                continue
            resolved = _resolve(kind, m, sent)
            if resolved is not None:
                found.append((resolved, m.group(0)))
                taken.append((m.start(), m.end()))
    return found


# -- amounts and seats ----------------------------------------------------------------------------------------
CURRENCY_SIGNS = {"$": "USD", "€": "EUR", "£": "GBP"}
CURRENCY_WORDS = {"usd": "USD", "dollars": "USD", "dollar": "USD", "eur": "EUR", "euro": "EUR", "euros": "EUR",
                  "gbp": "GBP", "pounds": "GBP", "chf": "CHF", "cad": "CAD"}
SCALES = {"k": 1_000, "thousand": 1_000, "m": 1_000_000, "mm": 1_000_000, "mil": 1_000_000, "million": 1_000_000,
          "bn": 1_000_000_000, "billion": 1_000_000_000}
_NUM = r"(?P<num>\d{1,3}(,\d{3})+(\.\d+)?|\d+(\.\d+)?)"
_SCALE = r"(\s*(?P<scale>thousand|million|billion|mil|mm|bn|k|m)\b)?"
AMOUNT_PATTERNS = [
    re.compile(rf"(?P<sign>[$€£])\s?{_NUM}{_SCALE}", re.I),
    re.compile(rf"\b(?P<code>USD|EUR|GBP|CHF|CAD)\s?{_NUM}{_SCALE}", re.I),
    re.compile(rf"\b{_NUM}{_SCALE}\s*(?P<word>dollars|dollar|euros?|pounds|USD|EUR|GBP|CHF|CAD)\b", re.I),
]
SEATS = re.compile(r"\b(?P<num>\d{1,3}(,\d{3})*|\d+)\s+(?P<unit>seats?|licen[cs]es|user licen[cs]es|users)\b", re.I)
# Rates and unit prices are not a deal amount ("$3.50/MMBtu", "$25 per hour").
PER_UNIT = re.compile(r"^\s*(/|per\b|a\s+(month|year|unit|share|hour|day)\b|an\s+hour\b|each\b)", re.I)


def find_amounts(sentence: str) -> list[tuple[Decimal, str, str]]:
    """Every money amount in the sentence: [(value, ISO currency, matched text)]; rates per unit are skipped."""
    out: list[tuple[Decimal, str, str]] = []
    taken: list[tuple[int, int]] = []
    for pattern in AMOUNT_PATTERNS:
        for m in pattern.finditer(sentence):
            if any(m.start() < end and start < m.end() for start, end in taken):
                continue
            if PER_UNIT.match(sentence[m.end():]) or re.search(r"\bat\s*$", sentence[:m.start()], re.I):
                continue
            g = m.groupdict()
            try:
                value = Decimal(g["num"].replace(",", ""))
            except InvalidOperation:
                continue
            if g.get("scale"):
                value *= SCALES[g["scale"].lower()]
            currency = CURRENCY_SIGNS.get(g.get("sign") or "") or CURRENCY_WORDS.get((g.get("code") or g.get("word") or "").lower())
            if currency and value > 0:
                out.append((value.quantize(Decimal("0.01")), currency, m.group(0)))
                taken.append((m.start(), m.end()))
    return out


def find_seats(sentence: str) -> list[int]:
    """Seat or licence counts stated in the sentence."""
    return [int(m.group("num").replace(",", "")) for m in SEATS.finditer(sentence) if int(m.group("num").replace(",", "")) > 0]


# -- exit questions -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ExitConcept:
    """What an exit question asks (matched on its key and text) and the buyer's sentences that answer it yes."""

    name: str
    question: re.Pattern[str]
    answer: re.Pattern[str]


EXIT_CONCEPTS: tuple[ExitConcept, ...] = (
    ExitConcept("budget", re.compile(r"budget", re.I), re.compile(
        r"\b(budget|funding|funds)\b[^.]{0,40}\b(approved|signed off|allocated|secured|in place|confirmed|released)\b|"
        r"\b(approved|secured|allocated|confirmed)\b[^.]{0,20}\b(the |our )?(budget|funding)\b", re.I)),
    ExitConcept("pricing", re.compile(r"pric", re.I), re.compile(
        r"\b(pric(e|es|ing)|quote|terms)\b[^.]{0,30}\b(approved|accepted|agreed|acceptable)\b|"
        r"\b(approved|accepted|agree to|agreed to|agreed on|okay with|ok with|fine with)\b[^.]{0,20}\b(pric(e|es|ing)|quote)\b", re.I)),
    ExitConcept("legal", re.compile(r"legal|contract review", re.I), re.compile(
        r"\b(legal|lawyers?|attorneys|counsel|legal department|legal team)\s+(has|have|got|received|is|are)?\s*(reviewing|"
        r"looking at|started|approved|signed off|redlined|marked up|(got|has|have|received) the (contract|agreement|paper))\b|"
        r"\b(redlined|reviewed|approved|marked up) by (our |their )?(legal|lawyers?|counsel)\b|"
        r"\b(sent|forwarded|passed|given|submitted)\b[^.]{0,30}\bto\b[^.]{0,10}\b(legal|lawyers?|attorneys?|counsel)\b", re.I)),
    ExitConcept("signatory", re.compile(r"\bsign(s|atory|er)?\b", re.I), re.compile(
        r"\b(will|is going to|is authori[sz]ed to|has authority to)\s+sign\b|\bsignatory\b|\bsigning authority\b", re.I)),
    ExitConcept("procurement", re.compile(r"procurement|purchasing", re.I), re.compile(
        r"\b(procurement|purchasing)\b[^.]{0,40}\b(process|requires?|needs?|will|handles?|has)\b|"
        r"\bpurchase order\b[^.]{0,30}\b(issued|raised|sent|process)\b", re.I)),
    ExitConcept("proposal_received", re.compile(r"proposal", re.I), re.compile(
        r"\b(received|got|reviewed|reviewing|read|forwarded|shared)\b[^.]{0,20}\b(the |your )?(proposal|offer)\b", re.I)),
    ExitConcept("meeting_booked", re.compile(r"\b(call|meeting)\b.*\b(book|schedul)|\b(book|schedul)\w*\b.*\b(call|meeting)\b", re.I),
                re.compile(r"\b(scheduled|booked|confirmed|set up|arranged)\b[^.]{0,25}\b(call|meeting)\b|"
                           r"\b(call|meeting)\b[^.]{0,25}\b(is|has been|was) (scheduled|booked|confirmed|set)\b", re.I)),
    ExitConcept("plan_agreed", re.compile(r"\b(plan|criteria)\b", re.I), re.compile(
        r"\b(agree|agreed|accept|accepted|approved)\b[^.]{0,25}\b(plan|timeline|criteria)\b|"
        r"\b(plan|timeline|criteria)\b[^.]{0,25}\b(agreed|accepted|approved)\b", re.I)),
    ExitConcept("requirements", re.compile(r"requirement", re.I), re.compile(
        r"\b(meets?|satisf(y|ies|ied)|fulfil+s?)\b[^.]{0,25}\brequirements\b", re.I)),
    ExitConcept("demo_seen", re.compile(r"\bdemo", re.I), re.compile(
        r"\b(saw|seen|watched|attended|liked|enjoyed)\b[^.]{0,20}\b(the |your )?(demo|demonstration|presentation)\b", re.I)),
    ExitConcept("pain", re.compile(r"\bpain\b", re.I), re.compile(
        r"\b(our|the) (biggest |main |real )?(problem|issue|pain|challenge)\b[^.]{0,10}\b(is|are)\b", re.I)),
)


def concept_of(question: ExitQuestionRef) -> ExitConcept | None:
    """The concept an exit question asks about, from its key and text (None when no concept fits)."""
    words = f"{question.key.replace('_', ' ')} {question.text}"
    return next((c for c in EXIT_CONCEPTS if c.question.search(words)), None)


# -- the extractor --------------------------------------------------------------------------------------------
def _close_date_suggestions(sentence: str, sent: date) -> Iterable[Suggestion]:
    dates = [d for d, _ in find_dates(sentence, sent) if d >= sent]
    if len(dates) != 1:  # several dates in one sentence: which one is the close is a guess
        return
    words = NOT_A_CLOSE.sub(" ", sentence)
    if CLOSES.search(words) or WE_SIGN.search(words) or (CLOSE_CUE.search(words) and DEAL_PAPER.search(words)):
        confidence = 0.9
    elif CLOSE_CUE.search(words) or CLOSE_WEAK_CUE.search(words):
        confidence = 0.6
    else:
        confidence = 0.3
    yield Suggestion("close_date", dates[0].isoformat(), sentence, confidence)


def _amount_suggestions(sentence: str) -> Iterable[Suggestion]:
    amounts = find_amounts(sentence)
    if len(amounts) == 1 and amounts[0][0] >= MIN_DEAL_AMOUNT:
        value, currency, _ = amounts[0]
        confidence = 0.85 if AMOUNT_CUE.search(sentence) else 0.4
        if AMOUNT_NOISE.search(sentence):
            confidence -= 0.3
        yield Suggestion("amount", str(value), sentence, confidence, currency)
    seats = find_seats(sentence)
    if len(seats) == 1:
        yield Suggestion("seats", seats[0], sentence, 0.85 if re.search(r"\b(need|want|order|buy|purchase|for)\b", sentence, re.I) else 0.5)


def _exit_suggestions(sentence: str, questions: Iterable[ExitQuestionRef]) -> Iterable[Suggestion]:
    for question in questions:
        concept = concept_of(question)
        if concept is not None and concept.answer.search(sentence):
            yield Suggestion(f"exit.{question.key}", True, sentence, 0.85)


def extract_suggestions(text: str, sent: date, questions: Iterable[ExitQuestionRef] = ()) -> list[Suggestion]:
    """Suggested updates stated in an inbound email's new text (sent on `sent`), strongest first, one per field."""
    questions = list(questions)
    best: dict[str, Suggestion] = {}
    for sentence in split_sentences(text):
        if blocked(sentence):
            continue
        for suggestion in (*_close_date_suggestions(sentence, sent), *_amount_suggestions(sentence),
                           *_exit_suggestions(sentence, questions)):
            held = best.get(suggestion.field)
            if held is None or suggestion.confidence > held.confidence:
                best[suggestion.field] = suggestion
    return sorted(best.values(), key=lambda s: -s.confidence)


def shown(suggestions: Iterable[Suggestion], threshold: float) -> list[Suggestion]:
    """The suggestions confident enough to offer (precision over recall)."""
    return [s for s in suggestions if s.confidence >= threshold]
