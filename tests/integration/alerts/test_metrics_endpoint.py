"""GET /metrics on real data: alerts from the alert engine, a synced mailbox, scored emails, the active model and a
task waiting on the queue, in valid Prometheus text format; behind the token, or loopback-only without one."""

from __future__ import annotations

import dataclasses
import re
from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import func, select, update

from dealpulse.app import create_app
from dealpulse.domain.prometheus import MetricFamily, exposition
from dealpulse.services.alert_engine import run_alerts
from dealpulse.store import Activity, Alert, Mailbox, ModelVersion, SentimentScore, utcnow
from dealpulse.tasks.sync import sync_mailbox_task

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL_VALUE = r'"(?:[^"\\\n]|\\\\|\\"|\\n)*"'
SAMPLE = re.compile(rf"^({NAME})(?:\{{((?:[a-zA-Z_][a-zA-Z0-9_]*={LABEL_VALUE},?)*)\}})? (\S+)$")
LABEL = re.compile(rf'([a-zA-Z_][a-zA-Z0-9_]*)=({LABEL_VALUE})')


def parse(text: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Every sample by name, checking each line against the text format (HELP and TYPE before a family's samples)."""
    assert text.endswith("\n")
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    typed: set[str] = set()
    for line in text.rstrip("\n").split("\n"):
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert kind in ("gauge", "counter", "histogram")
            typed.add(name)
            continue
        match = SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        name, labels, value = match.groups()
        assert name in typed or re.sub(r"_(bucket|sum|count)$", "", name) in typed, f"{name} has no TYPE line"
        parsed = {key: unescape(raw[1:-1]) for key, raw in LABEL.findall(labels or "")}
        samples.setdefault(name, []).append((parsed, float(value)))
    return samples


def unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "\\": "\\", '"': '"'}[m.group(1)], value)


def scrape(client, **kwargs):
    return client.get("/metrics", environ_base={"REMOTE_ADDR": kwargs.pop("remote", "127.0.0.1")}, **kwargs)


def test_metrics_show_the_stored_state(client, db, settings, world, deals) -> None:
    deals.activity("a1_acme", days_ago=45)  # gone dark: an alert
    deals.activity("a2_initech", days_ago=30, owner="rep.a2")
    scored = deals.activity("a1_globex", days_ago=0.01, score=-0.9, contacts=("cio@globex.test.example",))
    run_alerts(db, settings, world.org_id)
    now = utcnow()
    with db.uow() as uow:
        box = deals.mailbox("rep.a1")
        uow.s.execute(update(Mailbox).where(Mailbox.id == box).values(last_synced_at=now - timedelta(minutes=10)))
        score_time = uow.s.scalar(select(SentimentScore.scored_at).where(SentimentScore.activity_id == scored))
        uow.s.execute(update(Activity).where(Activity.id == scored).values(created_at=score_time - timedelta(seconds=120)))
        uow.s.add(ModelVersion(org_id=None, version="seed-test-1", status="active", method="seed"))
        expected_alerts = {(rule, state): count for rule, state, count in uow.s.execute(
            select(Alert.rule, Alert.state, func.count()).where(Alert.org_id == world.org_id).group_by(Alert.rule, Alert.state))}
        uow.commit()
    assert expected_alerts, "the alert engine raised nothing: nothing to count"
    sync_mailbox_task(box)  # waits on the default queue: no worker runs in this test

    response = scrape(client)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    metrics = parse(response.get_data(as_text=True))

    lag = {labels["mailbox_id"]: value for labels, value in metrics["dealpulse_mailbox_sync_lag_seconds"]}
    assert 600 <= lag[str(box)] < 3600
    alerts = {(labels["rule"], labels["state"]): value for labels, value in metrics["dealpulse_alerts"]
              if labels["org_id"] == str(world.org_id)}
    assert alerts == expected_alerts
    depth = {labels["queue"]: value for labels, value in metrics["dealpulse_queue_depth"]}
    assert depth == {"default": 1, "scoring": 0, "training": 0}
    buckets = {labels["le"]: value for labels, value in metrics["dealpulse_scoring_latency_seconds_bucket"]}
    assert buckets["60"] == 0 and buckets["300"] == 1 and buckets["+Inf"] == 1  # stored 2 minutes before scored
    assert metrics["dealpulse_scoring_latency_seconds_count"] == [({}, 1.0)]
    assert ({"org_id": "global", "version": "seed-test-1", "method": "seed"}, 1.0) in metrics["dealpulse_model_active_info"]


def test_without_a_token_only_loopback_clients_are_answered(client, world) -> None:
    assert scrape(client, remote="::1").status_code == 200
    refused = scrape(client, remote="203.0.113.9")
    assert refused.status_code == 403 and b"DEALPULSE_METRICS_TOKEN" in refused.data


def test_with_a_token_every_client_must_send_it(settings, db, process_runtime, world) -> None:
    client = create_app(dataclasses.replace(settings, metrics_token="s3cret-metrics")).test_client()
    assert scrape(client).status_code == 401  # loopback is not enough once a token is set
    assert scrape(client, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert scrape(client, headers={"Authorization": f"Bearer {world.tokens['admin']}"}).status_code == 401
    allowed = scrape(client, remote="203.0.113.9", headers={"Authorization": "Bearer s3cret-metrics"})
    assert allowed.status_code == 200 and "dealpulse_queue_depth" in parse(allowed.get_data(as_text=True))


@given(st.text(), st.text())
def test_label_values_and_help_survive_any_text(value: str, help_text: str) -> None:
    family = MetricFamily("dealpulse_test", "gauge", help_text)
    family.add(1.5, mailbox=value)
    text = exposition([family])
    [(labels, number)] = parse(text)["dealpulse_test"]
    assert labels == {"mailbox": value} and number == 1.5
    assert text.count("\n") == 3  # HELP, TYPE and the sample: nothing in the text breaks a line
