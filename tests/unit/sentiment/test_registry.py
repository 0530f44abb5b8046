"""Model registry: atomic version folders, promote / rollback / list, version ids, hot-swap of the active scorer."""

import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest

from dealpulse.sentiment.active import ActiveScorers
from dealpulse.sentiment.registry import (
    RegistryError,
    active_version,
    is_complete,
    list_versions,
    new_version_id,
    promote,
    register_version,
    rollback,
    seed_version_id,
    write_version,
)


def statuses(db, org_id=None) -> dict[str, str]:
    with db.uow() as uow:
        return {row.version: row.status for row in list_versions(uow, org_id)}


def test_version_ids() -> None:
    assert seed_version_id("ab12cd34ef" + "0" * 54, "9f8e7d6c" + "0" * 56) == "seed-ab12cd34-9f8e7d"
    stamp = datetime(2026, 11, 23, 9, 30, 5, tzinfo=timezone.utc)
    assert new_version_id(7, "ffee0011" + "0" * 56, stamp) == "org7-20261123093005-ffee0011"


def test_written_version_is_complete_and_a_failed_write_leaves_nothing(tmp_path: Path) -> None:
    class Broken:
        def save(self, directory: Path) -> None:
            (directory / "config.json").write_text("{}")
            raise OSError("disk full")

    with pytest.raises(OSError):
        write_version(tmp_path, "v1", Broken(), {}, {})
    assert list(tmp_path.iterdir()) == []


def test_promote_retires_the_previous_and_rollback_restores_it(tiny_registry, db) -> None:
    assert statuses(db) == {"tiny-a": "active", "tiny-b": "candidate"}
    with db.uow() as uow:
        promote(uow, tiny_registry.model_dir, None, "tiny-b", reason="better")
        uow.commit()
    assert statuses(db) == {"tiny-a": "retired", "tiny-b": "active"}
    with db.uow() as uow:
        restored = rollback(uow, None)
        uow.commit()
        assert restored.version == "tiny-a"
    assert statuses(db) == {"tiny-a": "active", "tiny-b": "rejected"}
    with db.uow() as uow, pytest.raises(RegistryError, match="nothing to restore"):
        rollback(uow, None)


def test_an_organisation_falls_back_to_the_global_version_and_rolls_back_to_it(tiny_registry, db, world) -> None:
    model_dir = Path(tiny_registry.model_dir)
    shutil.copytree(model_dir / "tiny-b", model_dir / "org1-b")
    with db.uow() as uow:
        assert active_version(uow, world.org_id).version == "tiny-a"
        register_version(uow, org_id=world.org_id, version="org1-b", method="full", data_hash="x", metrics={}, training_summary={})
        promote(uow, model_dir, world.org_id, "org1-b")
        uow.commit()
    with db.uow() as uow:
        assert active_version(uow, world.org_id).version == "org1-b"
        assert active_version(uow, world.other_org_id).version == "tiny-a"
        assert {row.version for row in list_versions(uow, world.org_id)} == {"tiny-a", "tiny-b", "org1-b"}
        assert rollback(uow, world.org_id).version == "tiny-a"
        uow.commit()


def test_unknown_or_incomplete_versions_cannot_be_promoted(tiny_registry, db) -> None:
    with db.uow() as uow:
        with pytest.raises(RegistryError, match="unknown version"):
            promote(uow, tiny_registry.model_dir, None, "nope")
        register_version(uow, org_id=None, version="ghost", method="full", data_hash="g", metrics={}, training_summary={})
        with pytest.raises(RegistryError, match="no complete folder"):
            promote(uow, tiny_registry.model_dir, None, "ghost")
    assert not is_complete(Path(tiny_registry.model_dir) / "ghost")


def test_running_scorers_switch_to_a_newly_promoted_version(tiny_registry, db) -> None:
    scorers = ActiveScorers(tiny_registry, db, check_seconds=0.0)
    assert scorers.for_org(None).score_texts(["We will sign."])[0].model_version == "tiny-a"
    with db.uow() as uow:  # as if promoted by another process
        promote(uow, tiny_registry.model_dir, None, "tiny-b")
        uow.commit()
    assert scorers.for_org(None).score_texts(["We will sign."])[0].model_version == "tiny-b"


def test_scorers_check_the_database_at_most_every_interval(tiny_registry, db) -> None:
    scorers = ActiveScorers(tiny_registry, db, check_seconds=3600.0)
    assert scorers.version_for(None) == "tiny-a"
    with db.uow() as uow:
        promote(uow, tiny_registry.model_dir, None, "tiny-b")
        uow.commit()
    assert scorers.version_for(None) == "tiny-a"
    scorers.forget()
    assert scorers.version_for(None) == "tiny-b"
