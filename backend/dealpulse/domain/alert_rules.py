"""Early-warning rules: pure functions over a plain snapshot of one open deal, each giving a Finding or None.

Thresholds live per team (`Team.gone_dark_after_days` and `Team.settings`); `Thresholds.from_team` documents every
key and its default. Nothing here touches the database or the clock: the caller passes `now`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime, timedelta
from typing import Any, Callable, Mapping, Sequence

SEVERITIES = ("info", "warning", "critical")


@dataclass(frozen=True)
class Thresholds:
    """Per-team alert thresholds (keys of `Team.settings`, with these defaults)."""

    gone_dark_days: int = 21  # Team.gone_dark_after_days, clamped to 14..42
    tone_window: int = 5  # inbound emails in the tone trend
    tone_alpha: float = 0.5  # weight of the newest email in the exponentially weighted mean
    tone_floor: float = -0.25  # weighted mean below this = falling tone
    tone_drop: float = 0.6  # weighted mean this far below the previous window's mean = sharp drop
    # An inbound email is strongly negative when the model's calibrated P(negative) is at least this (never on a
    # coin flip, however saturated the raw score): DEALPULSE_NEGATIVE_ALERT_PROBABILITY, a team's own 0.5..0.99.
    negative_probability: float = 0.85
    negative_days: int = 14  # how long a strongly negative email keeps its alert (unless a better reply comes)
    exit_question_days: int = 14  # days in stage before unanswered exit questions warn
    single_threaded_days: int = 30  # window for engaged buyer contacts
    single_threaded_probability: int = 60  # late stage = this probability or more...
    late_stages: tuple[str, ...] = ("proposal", "negotiation")  # ...or one of these stage keys
    close_date_pushes: int = 2  # pushes of the close date that warn
    stalled_percentile: int = 75  # time in stage above this percentile of the team's history = stalled
    stalled_min_sample: int = 5  # completed stays needed for a percentile (else the organisation's, else skip)
    rearm_hours: int = 72  # an acknowledged alert re-opens after this long if the condition still holds

    @classmethod
    def from_team(
        cls, gone_dark_after_days: int | None, settings: Mapping[str, Any] | None, defaults: "Thresholds | None" = None
    ) -> "Thresholds":
        """`defaults` (the class defaults when None) overridden by a team's settings; unknown keys and values of the
        wrong type are ignored."""
        values: dict[str, Any] = {}
        known = {f.name: f for f in fields(cls)}
        for key, raw in (settings or {}).items():
            spec = known.get(key)
            if spec is None or raw is None:
                continue
            default = getattr(cls, key)
            try:
                if isinstance(default, tuple):
                    values[key] = tuple(str(v) for v in raw) if isinstance(raw, (list, tuple)) else default
                elif isinstance(default, int):
                    values[key] = int(raw)
                else:
                    values[key] = float(raw)
            except (TypeError, ValueError):
                continue
        if gone_dark_after_days is not None:
            values["gone_dark_days"] = int(gone_dark_after_days)
        result = replace(defaults or cls(), **values)
        return replace(result, gone_dark_days=min(42, max(14, result.gone_dark_days)),
                       tone_window=max(2, result.tone_window), tone_alpha=min(1.0, max(0.05, result.tone_alpha)),
                       negative_probability=min(0.99, max(0.5, result.negative_probability)))

    @property
    def rearm_after(self) -> timedelta:
        """How long an acknowledgement silences an alert."""
        return timedelta(hours=max(1, self.rearm_hours))


@dataclass(frozen=True)
class InboundScore:
    """The current tone score of one inbound email."""

    activity_id: int
    occurred_at: datetime
    score: float
    label: str
    confidence: float = 0.0
    is_private: bool = False
    highlights: tuple[dict[str, Any], ...] = ()
    p_negative: float | None = None  # calibrated P(negative); None when only the label's confidence is known

    @property
    def negative_probability(self) -> float:
        """Calibrated P(negative): stored, else the confidence of a negative label (its own probability), else 0."""
        if self.p_negative is not None:
            return self.p_negative
        return self.confidence if self.label == "negative" else 0.0


@dataclass(frozen=True)
class DealSnapshot:
    """What the rules need to know about one deal, read in bulk by the alerts service."""

    opportunity_id: int
    name: str
    stage_key: str
    stage_name: str
    stage_probability: int
    is_closed: bool
    probability: int
    amount: float
    close_date: date | None
    close_date_pushes: int
    stage_entered_at: datetime
    created_at: datetime
    last_inbound_at: datetime | None = None
    outbound_since_last_inbound: int = 0
    inbound_scores: tuple[InboundScore, ...] = ()  # oldest first
    unanswered_questions: tuple[str, ...] = ()
    engaged_contacts: int = 0  # distinct buyer contacts in activities of the last `single_threaded_days`
    stage_percentile_days: float | None = None
    stage_percentile_basis: str = ""  # "team" | "organisation" | why it is missing
    # What most won deals had at this stage and this one lacks (domain.won_comparison gaps as dicts), worst first.
    won_gaps: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class Finding:
    """A rule that fired: its severity, a reason a person can act on, and the evidence behind it."""

    rule: str
    severity: str
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)


def _days(delta: timedelta) -> int:
    return int(delta.total_seconds() // 86400)


def _iso(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def gone_dark(deal: DealSnapshot, t: Thresholds, now: datetime) -> Finding | None:
    """No inbound email or meeting from the buyer for `gone_dark_days`; the rep's outbound never resets it."""
    since = deal.last_inbound_at or deal.created_at
    silent = _days(now - since)
    if silent < t.gone_dark_days:
        return None
    heard = f"last heard from the buyer on {deal.last_inbound_at:%d %b %Y}" if deal.last_inbound_at else "no reply from the buyer since the deal was created"
    chased = f"; {deal.outbound_since_last_inbound} email(s) sent since without an answer" if deal.outbound_since_last_inbound else ""
    severity = "critical" if silent >= 2 * t.gone_dark_days else "warning"
    return Finding(
        "gone_dark", severity,
        f"Gone dark: {silent} days without inbound mail or a meeting ({heard}{chased}). Try another contact or channel.",
        {"last_inbound_at": _iso(deal.last_inbound_at), "days_silent": silent, "threshold_days": t.gone_dark_days,
         "outbound_since": deal.outbound_since_last_inbound},
    )


def weighted_mean(scores: Sequence[float], alpha: float) -> float:
    """Exponentially weighted mean, the last score weighing `alpha`."""
    value = scores[0]
    for score in scores[1:]:
        value = alpha * score + (1 - alpha) * value
    return value


def falling_tone(deal: DealSnapshot, t: Thresholds, now: datetime) -> Finding | None:
    """The weighted mean of the last inbound scores is below the floor, or fell sharply from the window before."""
    scores = [s.score for s in deal.inbound_scores]
    recent = scores[-t.tone_window:]
    if len(recent) < 2:
        return None
    trend = weighted_mean(recent, t.tone_alpha)
    previous = scores[-2 * t.tone_window:-t.tone_window]
    before = sum(previous) / len(previous) if previous else None
    evidence = {"weighted_mean": round(trend, 3), "previous_mean": None if before is None else round(before, 3),
                "scores": [round(s, 3) for s in recent], "floor": t.tone_floor}
    if trend < t.tone_floor:
        severity = "critical" if trend < 2 * t.tone_floor else "warning"
        return Finding("falling_tone", severity,
                       f"Falling tone: the buyer's last {len(recent)} emails average {trend:+.2f} (below {t.tone_floor:+.2f}). "
                       "Ask what changed before the next step.", evidence)
    if before is not None and before - trend >= t.tone_drop:
        return Finding("falling_tone", "warning",
                       f"Falling tone: the buyer's tone dropped from {before:+.2f} to {trend:+.2f} over the last {len(recent)} emails. "
                       "Check in with your champion.", evidence)
    return None


def is_strongly_negative(score: InboundScore, t: Thresholds) -> bool:
    """Calibrated P(negative) at or above the threshold (the raw tone score alone never decides)."""
    return score.negative_probability >= t.negative_probability


def driving_sentence(score: InboundScore) -> str | None:
    """The sentence behind an email's negative reading (never for private email).

    Leave-one-out evidence (highlights with an "influence") comes most decisive first and is quoted as is;
    otherwise the most negative highlighted sentence.
    """
    if score.is_private:
        return None
    negatives = [h for h in score.highlights if isinstance(h, dict) and h.get("text")]
    if not negatives:
        return None
    ranked = [h for h in negatives if "influence" in h]
    best = ranked[0] if ranked else min(negatives, key=lambda h: (h.get("label") != "negative", float(h.get("score", 0.0))))
    text = " ".join(str(best["text"]).split())
    return text if len(text) <= 240 else text[:237] + "..."


def negative_email(deal: DealSnapshot, t: Thresholds, now: datetime) -> Finding | None:
    """The latest scored inbound email is strongly negative and recent (a later, better reply clears it)."""
    if not deal.inbound_scores:
        return None
    latest = deal.inbound_scores[-1]
    if not is_strongly_negative(latest, t) or now - latest.occurred_at > timedelta(days=t.negative_days):
        return None
    sentence = driving_sentence(latest)
    if sentence:
        said = f': "{sentence}"' + ("" if sentence[-1] in ".!?" else ".")
    else:
        said = " (private email: content hidden)." if latest.is_private else "."
    return Finding(
        "negative_email", "critical",
        f"Strongly negative email from the buyer on {latest.occurred_at:%d %b %Y} "
        f"({latest.negative_probability:.0%} likely negative){said} Call the buyer today.",
        {"activity_id": latest.activity_id, "occurred_at": _iso(latest.occurred_at), "score": round(latest.score, 3),
         "label": latest.label, "confidence": round(latest.confidence, 3),
         "p_negative": round(latest.negative_probability, 3), "threshold": t.negative_probability, "sentence": sentence},
    )


def exit_questions_unanswered(deal: DealSnapshot, t: Thresholds, now: datetime) -> Finding | None:
    """The current stage's exit questions are still unanswered after `exit_question_days` in the stage."""
    in_stage = _days(now - deal.stage_entered_at)
    if not deal.unanswered_questions or in_stage < t.exit_question_days:
        return None
    listed = " ".join(q if q[-1:] in ".?!" else q + "." for q in deal.unanswered_questions[:3])
    more = f" (and {len(deal.unanswered_questions) - 3} more)" if len(deal.unanswered_questions) > 3 else ""
    return Finding(
        "exit_questions_unanswered", "info" if in_stage < 2 * t.exit_question_days else "warning",
        f"{len(deal.unanswered_questions)} exit question(s) of {deal.stage_name} unanswered after {in_stage} days: {listed}{more}",
        {"stage": deal.stage_key, "days_in_stage": in_stage, "unanswered": list(deal.unanswered_questions)},
    )


def is_late_stage(deal: DealSnapshot, t: Thresholds) -> bool:
    """Proposal/negotiation (or any stage at the probability threshold)."""
    return deal.stage_key in t.late_stages or max(deal.probability, deal.stage_probability) >= t.single_threaded_probability


def single_threaded(deal: DealSnapshot, t: Thresholds, now: datetime) -> Finding | None:
    """At most one buyer contact engaged in the last `single_threaded_days`, at a late stage."""
    if not is_late_stage(deal, t) or deal.engaged_contacts > 1:
        return None
    who = "only one buyer contact" if deal.engaged_contacts == 1 else "no buyer contact"
    return Finding(
        "single_threaded", "warning",
        f"Single-threaded: {who} engaged in the last {t.single_threaded_days} days at {deal.stage_name}. "
        "Get the economic buyer or a second stakeholder involved.",
        {"engaged_contacts": deal.engaged_contacts, "window_days": t.single_threaded_days, "stage": deal.stage_key},
    )


def close_date(deal: DealSnapshot, t: Thresholds, now: datetime) -> Finding | None:
    """The close date has passed, or was pushed out `close_date_pushes` times or more."""
    today = now.date()
    if deal.close_date is not None and deal.close_date < today:
        overdue = (today - deal.close_date).days
        return Finding("close_date", "critical" if overdue > 14 else "warning",
                       f"Close date {deal.close_date:%d %b %Y} passed {overdue} day(s) ago. Update it or close the deal.",
                       {"close_date": _iso(deal.close_date), "days_overdue": overdue, "pushes": deal.close_date_pushes})
    if deal.close_date_pushes >= t.close_date_pushes:
        return Finding("close_date", "warning",
                       f"Close date pushed out {deal.close_date_pushes} times (now {_iso(deal.close_date) or 'none'}). "
                       "Confirm the buyer's timeline and decision process.",
                       {"close_date": _iso(deal.close_date), "pushes": deal.close_date_pushes})
    return None


def stalled(deal: DealSnapshot, t: Thresholds, now: datetime) -> Finding | None:
    """Longer in the current stage than the team's percentile for it (None when there is too little history)."""
    if deal.stage_percentile_days is None:
        return None
    in_stage = (now - deal.stage_entered_at).total_seconds() / 86400
    limit = deal.stage_percentile_days
    if in_stage <= limit:
        return None
    return Finding(
        "stalled", "critical" if in_stage > 2 * limit else "warning",
        f"Stalled: {int(in_stage)} days in {deal.stage_name}, longer than {t.stalled_percentile}% of "
        f"{'the team' if deal.stage_percentile_basis == 'team' else 'the organisation'}'s deals ({limit:.0f} days). Agree a next step with a date.",
        {"days_in_stage": round(in_stage, 1), "percentile_days": round(limit, 1), "percentile": t.stalled_percentile,
         "basis": deal.stage_percentile_basis, "stage": deal.stage_key},
    )


def unlike_won_deals(deal: DealSnapshot, t: Thresholds, now: datetime) -> Finding | None:
    """Something most won deals had at this stage is missing here, and deals without it were won less often."""
    if not deal.won_gaps:
        return None
    worst = deal.won_gaps[0]
    more = f" (and {len(deal.won_gaps) - 1} more gap(s) against the deals we won)" if len(deal.won_gaps) > 1 else ""
    severity = "warning" if float(worst.get("win_rate_without", 1.0)) < 0.5 * float(worst.get("win_rate_with", 0.0)) else "info"
    return Finding("unlike_won_deals", severity, f"{worst['reason']}{more}.",
                   {"stage": deal.stage_key, "gaps": [dict(g) for g in deal.won_gaps]})


Rule = Callable[[DealSnapshot, Thresholds, datetime], "Finding | None"]

RULES: dict[str, Rule] = {
    "negative_email": negative_email,
    "gone_dark": gone_dark,
    "falling_tone": falling_tone,
    "close_date": close_date,
    "stalled": stalled,
    "single_threaded": single_threaded,
    "exit_questions_unanswered": exit_questions_unanswered,
    "unlike_won_deals": unlike_won_deals,
}


def evaluate(deal: DealSnapshot, t: Thresholds, now: datetime) -> dict[str, Finding | None]:
    """Every rule's finding for one deal; a closed deal has none (its alerts resolve)."""
    if deal.is_closed:
        return {name: None for name in RULES}
    return {name: rule(deal, t, now) for name, rule in RULES.items()}


def skipped_rules(deal: DealSnapshot, t: Thresholds | None = None) -> dict[str, str]:
    """Rules that could not be evaluated for this deal, each with the reason (shown on the deal page)."""
    if deal.is_closed:
        return {}
    t = t or Thresholds()
    skipped: dict[str, str] = {}
    if deal.stage_percentile_days is None:
        skipped["stalled"] = deal.stage_percentile_basis or "no stage history"
    scored = len(deal.inbound_scores)
    if scored < 2:
        skipped["falling_tone"] = f"not evaluated: {scored} scored email(s) from the buyer, 2 needed"
    return skipped


def percentile(values: Sequence[float], pct: float) -> float:
    """The `pct` percentile of `values` with linear interpolation (numpy's default method)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile of no values")
    rank = (len(ordered) - 1) * pct / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class StagePercentiles:
    """Time-in-stage percentiles per (team, stage) and per stage across the organisation."""

    by_team: dict[tuple[int | None, int], float]
    by_org: dict[int, float]
    samples: dict[tuple[int | None, int], int]
    min_sample: int

    def for_deal(self, team_id: int | None, stage_id: int) -> tuple[float | None, str]:
        """(days, basis) for a deal of `team_id` in `stage_id`; days is None with the reason when unknown."""
        if (team_id, stage_id) in self.by_team:
            return self.by_team[(team_id, stage_id)], "team"
        if stage_id in self.by_org:
            return self.by_org[stage_id], "organisation"
        seen = sum(n for (_, stage), n in self.samples.items() if stage == stage_id)
        return None, f"not evaluated: {seen} completed stay(s) in this stage, {self.min_sample} needed"


def stage_percentiles(stays: Sequence[tuple[int | None, int, float]], pct: float, min_sample: int) -> StagePercentiles:
    """Percentiles of completed stays (team_id, stage_id, days): per team with `min_sample`, else per organisation."""
    per_team: dict[tuple[int | None, int], list[float]] = {}
    per_stage: dict[int, list[float]] = {}
    for team_id, stage_id, days in stays:
        per_team.setdefault((team_id, stage_id), []).append(days)
        per_stage.setdefault(stage_id, []).append(days)
    return StagePercentiles(
        by_team={k: percentile(v, pct) for k, v in per_team.items() if len(v) >= min_sample},
        by_org={k: percentile(v, pct) for k, v in per_stage.items() if len(v) >= min_sample},
        samples={k: len(v) for k, v in per_team.items()},
        min_sample=min_sample,
    )


def completed_stays(transitions: Sequence[tuple[int, int, datetime]]) -> list[tuple[int, int, float]]:
    """(opportunity_id, stage_id, days) of every stay that ended, from (opportunity_id, to_stage_id, at) rows."""
    by_opp: dict[int, list[tuple[datetime, int]]] = {}
    for opp_id, stage_id, at in transitions:
        by_opp.setdefault(opp_id, []).append((at, stage_id))
    out = []
    for opp_id, rows in by_opp.items():
        rows.sort()
        for (start, stage_id), (end, _) in zip(rows, rows[1:]):
            out.append((opp_id, stage_id, (end - start).total_seconds() / 86400))
    return out
