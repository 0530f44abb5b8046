"""Switching an organisation's active tone model by hand: promote a version (a rejected candidate only with a
reason, recorded in the audit log) or roll back to the previous one. The admin page, the API and `dealpulse models
promote|rollback` all come here; afterwards the caller's `rescore` queues the re-score sweep."""

from __future__ import annotations

from ..config import Settings
from ..domain.access import Principal
from ..domain.promotion import PromotionRefused, manual_promotion_decision
from ..sentiment.active import active_scorers
from ..sentiment.registry import RegistryError, find_version, promote, rollback, version_dir
from ..store.database import Database
from .audit import record_changes
from .training import Rescore, TrainingError


def promote_version(settings: Settings, db: Database, org_id: int | None, version: str, *, actor: Principal | None,
                    reason: str = "", surface: str = "", rescore: Rescore | None = None) -> str:
    """Make `version` the active one (the admin page, the API and `dealpulse models promote` all come here).

    A candidate the guard-rails rejected is promoted only with a reason ("promote anyway"); who and why go to the
    audit log and the version's decision. Then `rescore(org_id)` (the caller queues the re-score sweep); returns the version now active.
    """
    reason = " ".join((reason or "").split())
    who = actor.email if actor is not None else "the command line"
    with db.uow() as uow:
        row = find_version(uow, org_id, version)
        if row is None:
            scope = "the global versions" if org_id is None else f"organisation {org_id}"
            raise TrainingError(f"unknown version {version!r} for {scope}: see `dealpulse models list`")
        before, rejection = row.status, row.decision_reason
        try:
            decision = manual_promotion_decision(before, rejection, who, reason)
        except PromotionRefused as exc:
            raise TrainingError(f"{version} {exc}") from None
        try:
            row = promote(uow, settings.model_dir, org_id, version, reason=decision)
        except RegistryError as exc:
            raise TrainingError(str(exc)) from None
        if org_id is not None:
            record_changes(uow.s, actor, "model_version", row.id, org_id,
                           {"status": (before, "active"), "promotion_reason": (rejection if before == "rejected" else None, reason or None)},
                           surface=surface or None)
        uow.commit()
    _after_switch(settings, db, org_id, version, rescore)
    return version


def switch_version(settings: Settings, db: Database, org_id: int | None, version: str | None, reason: str,
                   rescore: Rescore | None = None, actor: Principal | None = None) -> str:
    """Promote `version` (see `promote_version`) or, with None, roll back to the previous one; queue the re-score."""
    if version is not None:
        return promote_version(settings, db, org_id, version, actor=actor, reason=reason, rescore=rescore)
    with db.uow() as uow:
        try:
            row = rollback(uow, org_id)
        except RegistryError as exc:
            raise TrainingError(str(exc)) from None
        uow.commit()
        now_active = row.version if row is not None else ""
    _after_switch(settings, db, org_id, now_active, rescore)
    return now_active


def _after_switch(settings: Settings, db: Database, org_id: int | None, now_active: str, rescore: Rescore | None) -> None:
    if now_active:
        from ..sentiment.onnx_export import ensure_onnx_int8

        ensure_onnx_int8(version_dir(settings.model_dir, now_active))
    active_scorers(settings, db).forget()
    if rescore is not None:
        rescore(org_id)
