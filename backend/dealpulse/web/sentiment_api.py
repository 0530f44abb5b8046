"""`POST /api/v1/sentiment/score`: the tone of a text with the sentences behind it, for any signed-in user."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from pydantic import BaseModel

from .toolkit import app_db, app_settings
from ..domain.tone_labels import ToneLabel
from ..domain.tone_reading import read_tone
from ..sentiment.active import active_scorers
from ..sentiment.evidence import scored_with_evidence
from ..sentiment.registry import ToneModelNotReady
from .api import require_principal
from .auth import current_principal
from .openapi import documented
from .problems import ApiProblem, InvalidInput, problem_response

MODEL_NOT_READY_RETRY_SECONDS = 60

MAX_TEXT_BYTES = 1024 * 1024

class ScoreIn(BaseModel):
    """A whole email body to score (at most MAX_TEXT_BYTES of UTF-8)."""

    text: str


class ToneReadingOut(BaseModel):
    """The tone in words (see domain.tone_reading)."""

    label: str
    wording: str
    confident: bool
    confidence: float
    summary: str


class ScoreOut(BaseModel):
    """The tone of the new text: label, score in [-1, 1], confidence, and the sentences that carry it."""

    label: ToneLabel
    score: float
    confidence: float
    probabilities: dict[str, float]
    reading: ToneReadingOut
    highlights: list[dict[str, Any]]
    model_version: str
    reason: str | None


bp = Blueprint("sentiment_api", __name__, url_prefix="/api/v1/sentiment")


bp.before_request(require_principal)


def _text_from_body() -> str:
    if request.content_length is not None and request.content_length > MAX_TEXT_BYTES + 1024:
        raise ApiProblem(f"The body is larger than {MAX_TEXT_BYTES} bytes.", status=413, title="Payload too large")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidInput([{"field": "(body)", "message": "send a JSON object {\"text\": ...}", "type": "object_type"}])
    text = body.get("text")
    if "text" not in body:
        raise InvalidInput([{"field": "text", "message": "Field required", "type": "missing"}])
    if not isinstance(text, str):
        raise InvalidInput([{"field": "text", "message": "Input should be a valid string", "type": "string_type"}])
    if len(text.encode("utf-8", errors="surrogatepass")) > MAX_TEXT_BYTES:
        raise ApiProblem(f"text is larger than {MAX_TEXT_BYTES} bytes.", status=413, title="Payload too large")
    return text


@bp.post("/score")
@documented("The tone of a text with the sentences behind it", tags=("sentiment",), body=ScoreIn, response=ScoreOut,
            statuses={413: "text over a megabyte", 422: "no text", 503: "the tone model is still being prepared"})
def score_text() -> Response:
    """Score a whole email body (quotes, signature and disclaimer set aside first): calibrated confidence, its reading
    in words, and the sentences that carry the stance."""
    text = _text_from_body()
    principal = current_principal()
    try:
        scorer = active_scorers(app_settings(), app_db()).for_org(principal.org_id, build_missing=False)
    except ToneModelNotReady:
        response = problem_response(ApiProblem(
            "The tone model is still being prepared; try again in a minute.", status=503, title="Service unavailable"))
        response.headers["Retry-After"] = str(MODEL_NOT_READY_RETRY_SECONDS)
        return response
    result = scored_with_evidence(scorer, text)
    current_app.logger.debug("scored %d characters with %s", len(text), result["model_version"])
    return jsonify(
        label=result["label"],
        score=result["score"],
        confidence=result["confidence"],
        probabilities=result["probabilities"],
        reading=read_tone(result["label"], result["confidence"], result["probabilities"]).as_dict(),
        highlights=result["highlights"],
        model_version=result["model_version"],
        reason=result["reason"],
    )
