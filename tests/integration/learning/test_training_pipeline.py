"""The training pipeline end to end on the tiny model (fast): train, decide, keep every version, admin API, triggers."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from dealpulse.services.ratings_import import import_ratings
from dealpulse.services.training import train_org_version
from dealpulse.services.training_runs import should_retrain
from dealpulse.sentiment.corpus import load_seed_corpus
from dealpulse.store import ModelVersion, Rater, TrainingRun, utcnow


def _import_seed_like_ratings(db, org_id: int, count: int = 150, poisoned: int = 0) -> None:
    passages = load_seed_corpus().train
    lines = [json.dumps({"text": p.text, "label": p.label, "rater": f"rep{i % 3}@seller.example"})
             for i, p in enumerate(passages[:count])]
    lines += [json.dumps({"text": p.text, "label": "positive", "rater": "happy@seller.example"})
              for p in passages[:poisoned]]  # the same emails the reps rated
    with db.uow() as uow:
        import_ratings(uow, org_id, lines)


def test_a_run_keeps_the_candidate_with_its_decision_and_flags_the_all_positive_rater(
    tiny_registry, db, world
) -> None:
    _import_seed_like_ratings(db, world.org_id, count=240, poisoned=60)
    rescored: list[int] = []
    messages: list[str] = []
    report = train_org_version(tiny_registry, db, world.org_id, progress=lambda m, f: messages.append(m),
                               rescore=rescored.append)
    assert report.method == "top-layers" and report.parent_version == "tiny-a"
    assert report.data["ratings"] > 0 and report.data["holdout"] > 0
    assert report.data["flagged_raters"] == ["happy@seller.example"]
    assert any(m.startswith("training (top-layers)") for m in messages)
    with db.uow() as uow:
        row = uow.s.scalar(select(ModelVersion).where(ModelVersion.version == report.version))
        assert row.org_id == world.org_id and row.decision_reason == report.reason
        assert row.status == ("active" if report.promoted else "rejected")
        assert row.metrics["seed_eval"]["macro_f1"] == report.seed_eval_f1
        happy = uow.s.scalar(select(Rater).where(Rater.key == "happy@seller.example"))
        assert happy.flagged and happy.weight == 0.0
        run = uow.s.get(TrainingRun, report.run_id)
        assert (run.status, run.candidate_version, run.promoted) == ("done", report.version, report.promoted)
    assert rescored == ([world.org_id] if report.promoted else [])
    assert Path(tiny_registry.model_dir, report.version, "model.safetensors").is_file()


def test_train_command_prints_the_table_and_exits_zero_either_way(cli, tiny_registry, db, world) -> None:
    _import_seed_like_ratings(db, world.org_id, count=40)
    result = cli("train", "--org", str(world.org_id))
    assert result.exit_code == 0, result.output
    assert "seed-eval F1" in result.output and "held-out F1" in result.output and "decision" in result.output
    assert "setfit" in result.output
    assert ("PROMOTED" in result.output) != ("NOT promoted" in result.output)


def test_train_without_ratings_says_what_to_do(cli, tiny_registry, db, world) -> None:
    result = cli("train", "--org", str(world.org_id))
    assert result.exit_code != 0
    assert "no ratings yet" in result.output


def test_automatic_retrain_waits_for_enough_new_ratings_and_a_day(tiny_registry, db, world) -> None:
    with db.uow() as uow:
        assert not should_retrain(uow, world.org_id, 30)
    _import_seed_like_ratings(db, world.org_id, count=40)
    with db.uow() as uow:
        assert should_retrain(uow, world.org_id, 30)
        assert not should_retrain(uow, world.org_id, 50)
        assert not should_retrain(uow, world.org_id, 0)
        uow.s.add(TrainingRun(org_id=world.org_id, trigger="auto", status="done", created_at=utcnow()))
        uow.commit()
    with db.uow() as uow:
        assert not should_retrain(uow, world.org_id, 1)
        assert not should_retrain(uow, world.org_id, 1, now=utcnow() + timedelta(days=2))  # no new ratings since


def test_admin_api_lists_raters_versions_and_trains_on_the_queue(tiny_registry, db, world, client, monkeypatch) -> None:
    from dealpulse.tasks import build_queues

    build_queues(tiny_registry, immediate=True)
    _import_seed_like_ratings(db, world.org_id, count=90, poisoned=30)
    assert client.get("/api/v1/admin/raters", headers=world.auth("rep.a1")).status_code == 403
    assert client.post("/api/v1/admin/models/train", headers=world.auth("manager.a")).status_code == 403
    queued = client.post("/api/v1/admin/models/train", headers=world.auth("admin"))
    assert queued.status_code == 202
    run = client.get(queued.json["status_url"], headers=world.auth("admin")).json
    assert run["status"] == "done" and run["candidate_version"]
    raters = client.get("/api/v1/admin/raters", headers=world.auth("manager.a")).json["raters"]
    assert raters[0]["rater"] == "happy@seller.example" and raters[0]["flagged"]
    assert raters[0]["leaning"] == "more positive than the team"
    versions = client.get("/api/v1/admin/models", headers=world.auth("admin")).json["versions"]
    assert {v["version"] for v in versions} >= {"tiny-a", "tiny-b", run["candidate_version"]}
    weeks = client.get("/api/v1/admin/ratings", headers=world.auth("manager.a")).json["weeks"]
    assert sum(w["ratings"] for w in weeks) == 120
    other = client.get("/api/v1/admin/raters", headers=world.auth("other.admin")).json["raters"]
    assert other == []
