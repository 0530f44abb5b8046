"""End to end: a strongly negative email lands in a stand-in Gmail mailbox, is synced through the real connector,
scored by the scoring task, and the manager sees the alert through the API, all within one worker run."""

from __future__ import annotations

import dataclasses
import functools
import shutil
from datetime import datetime, timedelta, timezone
from typing import Iterator

import pytest
import torch
from pathlib import Path

from sqlalchemy import select

from dealpulse.mail.retry import RetryPolicy
from dealpulse.services.mailboxes import add_mailbox
from dealpulse.services.sync import sync_mailbox
from dealpulse.services.sync_access import default_connectors
from dealpulse.tasks.scoring import queue_scoring
from dealpulse.standins.google import GoogleStandIn
from dealpulse.standins.sample_mail import rfc822
from dealpulse.sentiment.registry import promote, register_version
from dealpulse.store import Activity, SentimentScore
from tests.fixtures.tiny_model.build import copy_version
from tests.fixtures.tiny_model.fixtures import seed_model_dir  # noqa: F401 - fixture
from tests.integration.sidebar.support import tiny_model_dir  # noqa: F401 - fixture

REP = "rep.a1@seller.example"
CIO = "cio@globex.test.example"
DECISION = "Hi,\n\nWe have decided to go with another provider.\n\nRegards,\nGina"
# The demo's lost deal (demo/data/threads/brightwater-pophealth.toml): an apology wrapped around the decision.
APOLOGY_AND_DECISION = ("Sam, I'm really sorry. I fought for you until the end. Between us, the bundle price made it "
                        "impossible; it wasn't about the product.")
FAST = RetryPolicy(attempts=4, base_delay=0.001, max_delay=0.01, max_wait=5)


@pytest.fixture
def google() -> Iterator[GoogleStandIn]:
    with GoogleStandIn() as standin:
        yield standin


@pytest.fixture
def settings(settings, google):
    """Test settings pointed at the Google stand-in (the app uses them too)."""
    return dataclasses.replace(settings, **google.settings_overrides())


@pytest.fixture
def worker_inline(inline_queues) -> None:
    """Huey runs enqueued tasks inline: one sync call is one worker run, scoring included."""


def _send_decision_and_sync(db, settings, google, body: str = DECISION) -> object:
    mailbox = add_mailbox_for(db, settings, google)
    google.add_message(REP, rfc822(
        sender=CIO, to=[REP], subject="Re: Globex expansion proposal",
        body=body,
        message_id="decision.1@globex.test.example", sent_at=datetime.now(timezone.utc) - timedelta(minutes=2),
    ), ["INBOX"])

    return sync_mailbox(db, settings, mailbox, connector_factory=functools.partial(default_connectors, retry_policy=FAST),
                        queue_scoring=queue_scoring)  # what the worker's sync task hands it


def _stored_decision(db, world) -> tuple[int, str]:
    """(activity id, label of its current score) of the synced email; asserts it was linked to the Globex deal."""
    with db.uow() as uow:
        activity = uow.s.scalar(select(Activity).where(Activity.message_id == "decision.1@globex.test.example"))
        assert activity.opportunity_id == world.opportunities["a1_globex"] and activity.direction == "inbound"
        score = uow.s.scalar(select(SentimentScore).where(SentimentScore.activity_id == activity.id,
                                                          SentimentScore.is_current.is_(True)))
        assert score is not None, "the scoring task ran inside the sync's worker run"
        return activity.id, score.label


def _manager_sees_the_alert(client, world, activity_id: int) -> dict:
    feed = client.get("/api/v1/alerts", headers=world.auth("manager.a")).get_json()["items"]
    negative = [a for a in feed if a["rule"] == "negative_email"]
    assert len(negative) == 1
    assert negative[0]["opportunity_id"] == world.opportunities["a1_globex"]
    assert negative[0]["evidence"]["activity_id"] == activity_id
    other_team = client.get("/api/v1/alerts", headers=world.auth("manager.b")).get_json()["items"]
    assert all(a["opportunity_id"] != world.opportunities["a1_globex"] for a in other_team)
    return negative[0]


@pytest.fixture
def reads_everything_negative(db, settings, tiny_model_dir):  # noqa: F811
    """The tiny version with its head's negative bias raised: every text reads negative with P(negative) ~ 0.99.

    The tiny model cannot tell tone apart; this test is about the wiring (thresholds are unit-tested).
    """
    from safetensors.torch import load_file, save_file

    target = Path(settings.model_dir) / "tiny-negative"
    shutil.copytree(tiny_model_dir, target)
    for onnx in target.glob("*.onnx"):
        onnx.unlink()
    (target / "calibration.json").unlink(missing_ok=True)  # the tiny model's fitted temperature would soften the bias
    weights = load_file(target / "model.safetensors")
    weights["classifier.bias"] = weights["classifier.bias"] + torch.tensor([12.0, 0.0, 0.0])
    save_file(weights, target / "model.safetensors", metadata={"format": "pt"})
    with db.uow() as uow:
        register_version(uow, org_id=None, version=target.name, method="full", data_hash="negative", metrics={},
                         training_summary={})
        promote(uow, Path(settings.model_dir), None, target.name, reason="tests")
        uow.commit()
    return target.name


def test_sync_scoring_and_alert_happen_in_one_worker_run(
    app, client, db, settings, world, google, reads_everything_negative, worker_inline,
):
    result = _send_decision_and_sync(db, settings, google)

    assert result.state == "idle" and result.stored == 1
    activity_id, _ = _stored_decision(db, world)
    _manager_sees_the_alert(client, world, activity_id)


@pytest.mark.slow
def test_the_real_model_flags_a_competitor_decision_with_default_thresholds(
    app, client, db, settings, world, google, seed_model_dir, worker_inline,  # noqa: F811
):
    install_version(db, settings, seed_model_dir)

    result = _send_decision_and_sync(db, settings, google)

    assert result.state == "idle" and result.stored == 1
    activity_id, label = _stored_decision(db, world)
    assert label == "negative"
    alert = _manager_sees_the_alert(client, world, activity_id)
    assert "another provider" in alert["reason"]


@pytest.mark.slow
def test_the_real_models_alert_on_an_apology_quotes_the_decision_not_the_apology(
    app, client, db, settings, world, google, seed_model_dir, worker_inline,  # noqa: F811
):
    install_version(db, settings, seed_model_dir)

    _send_decision_and_sync(db, settings, google, body=APOLOGY_AND_DECISION)

    activity_id, label = _stored_decision(db, world)
    assert label == "negative"
    alert = _manager_sees_the_alert(client, world, activity_id)
    assert "the bundle price made it impossible" in alert["reason"], alert["reason"]
    assert "really sorry" not in alert["reason"]


def install_version(db, settings, version_dir: Path) -> None:
    """Copy a built tone version into the test's registry and make it the active one."""
    copy_version(version_dir, Path(settings.model_dir))
    with db.uow() as uow:
        register_version(uow, org_id=None, version=version_dir.name, method="full", data_hash="seed", metrics={},
                         training_summary={})
        promote(uow, Path(settings.model_dir), None, version_dir.name, reason="tests")
        uow.commit()


def add_mailbox_for(db, settings, google) -> int:
    """Connect the rep's stand-in Gmail mailbox."""
    token = google.add_user(REP)
    with db.uow() as uow:
        return add_mailbox(uow, settings, provider="gmail", address=REP, refresh_token=token)
