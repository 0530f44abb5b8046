"""POST /api/v1/sentiment/score: authenticated, validated, answers label, score, highlights and version."""

from pathlib import Path

import pytest


@pytest.fixture
def scoring_client(tiny_registry, client):
    return client


def test_scores_the_new_text_with_the_active_version(scoring_client, world) -> None:
    body = {"text": "We will sign the contract this week.\n\nOn Mon, Bob <bob@x.example> wrote:\n> We are furious."}
    response = scoring_client.post("/api/v1/sentiment/score", json=body, headers=world.auth("rep.a1"))
    assert response.status_code == 200
    data = response.get_json()
    assert data["label"] in ("negative", "neutral", "positive")
    assert -1 <= data["score"] <= 1 and 0 <= data["confidence"] <= 1
    assert data["model_version"] == "tiny-a"
    assert all("furious" not in h["text"] for h in data["highlights"])


def test_needs_a_credential(scoring_client) -> None:
    response = scoring_client.post("/api/v1/sentiment/score", json={"text": "hello"})
    assert response.status_code == 401


@pytest.mark.parametrize("body", [{}, {"text": 5}, {"text": None}, ["text"], {"txt": "hello"}])
def test_missing_or_non_string_text_is_422(scoring_client, world, body) -> None:
    response = scoring_client.post("/api/v1/sentiment/score", json=body, headers=world.auth("rep.a1"))
    assert response.status_code == 422
    assert response.get_json()["errors"][0]["field"] in ("text", "(body)")


def test_not_json_is_422(scoring_client, world) -> None:
    response = scoring_client.post("/api/v1/sentiment/score", data="text=hello", headers=world.auth("rep.a1"))
    assert response.status_code == 422


def test_more_than_a_megabyte_is_413(scoring_client, world) -> None:
    response = scoring_client.post("/api/v1/sentiment/score", json={"text": "a" * (1024 * 1024 + 1)}, headers=world.auth("rep.a1"))
    assert response.status_code == 413


def test_empty_text_is_neutral_with_no_confidence(scoring_client, world) -> None:
    data = scoring_client.post("/api/v1/sentiment/score", json={"text": ""}, headers=world.auth("rep.a1")).get_json()
    assert (data["label"], data["score"], data["confidence"], data["reason"]) == ("neutral", 0.0, 0.0, "no_text")


def test_before_any_tone_model_is_built_it_answers_503_with_retry_after_and_trains_nothing(client, world, settings) -> None:
    response = client.post("/api/v1/sentiment/score", json={"text": "We will sign."}, headers=world.auth("rep.a1"))
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "60"
    assert "being prepared" in response.get_json()["detail"]
    assert not any(Path(settings.model_dir).glob("*/config.json"))
