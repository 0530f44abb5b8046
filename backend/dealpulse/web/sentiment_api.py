"""`POST /api/v1/sentiment/score`: the tone of a text with the sentences behind it, for any signed-in user."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, g, jsonify, request

from .toolkit import app_db, app_settings
from ..sentiment.active import active_scorers
from ..sentiment.registry import ToneModelNotReady
from .auth import authenticate_request, current_principal
from .problems import ApiProblem, InvalidInput, problem_response

MODEL_NOT_READY_RETRY_SECONDS = 60

MAX_TEXT_BYTES = 1024 * 1024

bp = Blueprint("sentiment_api", __name__, url_prefix="/api/v1/sentiment")


@bp.before_request
def require_principal() -> None:
    """Authenticate every request like the rest of /api/v1."""
    if request.method == "OPTIONS":
        return
    with app_db().uow() as uow:
        g.principal = authenticate_request(uow.s)
        uow.commit()


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
def score_text() -> Response:
    """Score a whole email body (quotes, signature and disclaimer are set aside first)."""
    text = _text_from_body()
    principal = current_principal()
    try:
        scorer = active_scorers(app_settings(), app_db()).for_org(principal.org_id, build_missing=False)
    except ToneModelNotReady:
        response = problem_response(ApiProblem(
            "The tone model is still being prepared; try again in a minute.", status=503, title="Service unavailable"))
        response.headers["Retry-After"] = str(MODEL_NOT_READY_RETRY_SECONDS)
        return response
    result = scorer.score_texts([text])[0]
    current_app.logger.debug("scored %d characters with %s", len(text), result.model_version)
    return jsonify(
        label=result.label,
        score=result.score,
        confidence=result.confidence,
        probabilities=result.probabilities,
        highlights=result.highlights,
        model_version=result.model_version,
        reason=result.reason,
    )
