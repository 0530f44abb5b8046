"""A rejected candidate: admins see its before/after table and may promote it anyway, with a reason that the audit
log keeps with who gave it; the admin page, the admin API and `dealpulse models promote` share one service."""

from __future__ import annotations

import json
from html import unescape
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from dealpulse.web.signin import session_values
from dealpulse.sentiment.registry import active_version, register_version
from dealpulse.store import AuditEntry, ModelVersion

CANDIDATE = "org-candidate"
REJECTED_BECAUSE = "held-out-ratings macro-F1 0.6200 -> 0.8700, but the corpus eval drops 3.4 points"


def _per_class(f1: float, count: int) -> dict:
    return {"macro_f1": f1, "per_class_f1": {"negative": f1 - 0.02, "neutral": f1, "positive": f1 + 0.02},
            "accuracy": f1, "confusion": [], "count": count}


@pytest.fixture
def rejected(db, world, settings, tiny_registry, tiny_versions):
    """An organisation candidate the guard-rails rejected (its folder is tiny-b's weights)."""
    shutil.copytree(tiny_versions["tiny-b"], Path(settings.model_dir) / CANDIDATE)
    metrics = {"seed_eval": _per_class(0.8750, 120), "holdout_ratings": _per_class(0.87, 40),
               "parent": {"version": "tiny-a", "seed_eval_f1": 0.9093, "holdout_f1": 0.62,
                          "seed_eval": _per_class(0.9093, 120), "holdout_ratings": _per_class(0.62, 40)}}
    with db.uow() as uow:
        register_version(uow, org_id=world.org_id, version=CANDIDATE, method="top-layers", data_hash="c", metrics=metrics,
                         training_summary={}, parent_version="tiny-a", status="rejected", decision_reason=REJECTED_BECAUSE)
        uow.commit()
    return CANDIDATE


def _sign_in(client, user_id: int) -> str:
    with client.session_transaction() as session:
        session.update(session_values(user_id, 0), csrf="test-csrf-token")
    return "test-csrf-token"


def _status(db, world) -> tuple[str, str]:
    with db.uow() as uow:
        row = uow.s.scalar(select(ModelVersion).where(ModelVersion.version == CANDIDATE))
        active = active_version(uow, world.org_id)
        return row.status, active.version


def _audit(db) -> dict[str, tuple]:
    with db.uow() as uow:
        rows = uow.s.scalars(select(AuditEntry).where(AuditEntry.entity_type == "model_version")).all()
        return {r.field: (json.loads(r.new_value) if r.new_value else None, r.actor_id, r.surface) for r in rows}


def test_admins_see_the_rejected_candidates_table_with_a_promote_anyway_form(client, db, world, rejected) -> None:
    _sign_in(client, world.users["admin"])
    html = unescape(client.get("/admin/models").get_data(as_text=True))
    assert REJECTED_BECAUSE in html
    assert "Held-out ratings (40)" in html and "Corpus eval (120)" in html
    assert "+25.0" in html and "-3.4" in html  # macro-F1 change in points, held-out and corpus
    assert "negative F1" in html and "positive F1" in html
    assert "Promote anyway" in html and 'name="reason" required' in html


def test_promote_anyway_needs_a_reason_and_records_who_and_why(client, db, world, rejected) -> None:
    token = _sign_in(client, world.users["admin"])
    refused = client.post("/admin/models/promote", data={"csrf_token": token, "version": CANDIDATE, "reason": "  "},
                          follow_redirects=True)
    assert "say why to promote it anyway" in unescape(refused.get_data(as_text=True))
    assert _status(db, world) == ("rejected", "tiny-a") and _audit(db) == {}

    why = "Our federal buyers write in jargon; the corpus drop is in styles we never see."
    done = client.post("/admin/models/promote", data={"csrf_token": token, "version": CANDIDATE, "reason": why},
                       follow_redirects=True)

    assert f"{CANDIDATE} is now active" in unescape(done.get_data(as_text=True))
    assert _status(db, world) == ("active", CANDIDATE)
    audit = _audit(db)
    assert audit["status"] == ("active", world.users["admin"], audit["status"][2])
    assert audit["promotion_reason"][:2] == (why, world.users["admin"])
    with db.uow() as uow:
        decision = uow.s.scalar(select(ModelVersion.decision_reason).where(ModelVersion.version == CANDIDATE))
    assert decision.startswith("promoted anyway by admin@") and why in decision and REJECTED_BECAUSE in decision


def test_only_admins_with_the_csrf_token_promote(client, db, world, rejected) -> None:
    token = _sign_in(client, world.users["manager.a"])
    assert client.post("/admin/models/promote", data={"csrf_token": token, "version": CANDIDATE, "reason": "x"}).status_code == 403
    _sign_in(client, world.users["admin"])
    assert client.post("/admin/models/promote", data={"version": CANDIDATE, "reason": "x"}).status_code == 400
    assert client.post(f"/api/v1/admin/models/{CANDIDATE}/promote", json={"reason": "x"},
                       headers=world.auth("manager.a")).status_code == 403
    assert client.post(f"/api/v1/admin/models/{CANDIDATE}/promote", json={"reason": "x"},
                       headers=world.auth("other.admin")).status_code == 409
    assert _status(db, world) == ("rejected", "tiny-a") and _audit(db) == {}


def test_the_api_says_why_a_rejected_candidate_needs_a_reason(client, db, world, rejected) -> None:
    url = f"/api/v1/admin/models/{CANDIDATE}/promote"
    missing = client.post(url, headers=world.auth("admin"))
    assert missing.status_code == 409 and "say why" in missing.get_json()["detail"]
    bad = client.post(url, json={"reason": 3}, headers=world.auth("admin"))
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["field"] == "reason"
    assert _status(db, world) == ("rejected", "tiny-a")
    ok = client.post(url, json={"reason": "pilot for the federal team"}, headers=world.auth("admin"))
    assert ok.status_code == 200 and ok.get_json()["active"] == CANDIDATE


def test_the_command_line_promotes_through_the_same_service(cli, db, world, rejected) -> None:
    refused = cli("models", "promote", CANDIDATE, "--org", str(world.org_id))
    assert refused.exit_code != 0 and "say why to promote it anyway" in refused.output
    assert _status(db, world) == ("rejected", "tiny-a")

    done = cli("models", "promote", CANDIDATE, "--org", str(world.org_id), "--reason", "agreed with the sales VP")

    assert done.exit_code == 0, done.output
    assert f"active: {CANDIDATE}" in done.output
    assert _status(db, world) == ("active", CANDIDATE)
    assert _audit(db)["promotion_reason"] == ("agreed with the sales VP", None, "cli")
