"""Use cases on pipeline stages and their exit questions (admin)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from ..domain.access import Principal, can_administer
from ..store import ExitQuestion, Opportunity, Stage
from ..store.uow import UnitOfWork
from .audit import record_changes
from .errors import ConflictError, InvalidField, NotFoundError, PermissionDenied


def serialize_stage(stage: Stage) -> dict[str, Any]:
    """The API representation of a stage."""
    return {
        "key": stage.key,
        "name": stage.name,
        "position": stage.position,
        "probability": stage.probability,
        "is_closed": stage.is_closed,
        "is_won": stage.is_won,
        "exit_questions": [{"key": q.key, "text": q.text} for q in stage.questions],
    }


def list_stages(uow: UnitOfWork, principal: Principal) -> list[dict[str, Any]]:
    """The organisation's stages in pipeline order."""
    stages = uow.s.scalars(select(Stage).where(Stage.org_id == principal.org_id).order_by(Stage.position, Stage.id))
    return [serialize_stage(s) for s in stages]


def put_stage(uow: UnitOfWork, principal: Principal, key: str, values: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Create or replace a stage and its exit questions; returns (stage, created)."""
    if not can_administer(principal):
        raise PermissionDenied("only admins define stages")
    questions = values.get("exit_questions") or []
    if values.get("is_won") and not values.get("is_closed"):
        raise InvalidField([{"field": "is_won", "message": "a won stage must be closed"}])
    if values.get("is_closed") and questions:
        raise InvalidField([{"field": "exit_questions", "message": "closed stages have no exit questions"}])
    if not values.get("is_closed") and not 2 <= len(questions) <= 3:
        raise InvalidField([{"field": "exit_questions", "message": "an open stage has two or three exit questions"}])
    if len({q["key"] for q in questions}) != len(questions):
        raise InvalidField([{"field": "exit_questions", "message": "question keys must be unique"}])
    s = uow.s
    stage = s.scalar(select(Stage).where(Stage.org_id == principal.org_id, Stage.key == key))
    created = stage is None
    before = serialize_stage(stage) if stage else None
    if stage is None:
        stage = Stage(org_id=principal.org_id, key=key)
        s.add(stage)
    for attr in ("name", "position", "probability", "is_closed", "is_won"):
        setattr(stage, attr, values[attr])
    existing = {q.key: q for q in stage.questions}
    wanted = []
    for position, q in enumerate(questions):
        row = existing.pop(q["key"], None) or ExitQuestion(key=q["key"])
        row.text = q["text"]
        row.position = position
        wanted.append(row)
    stage.questions = wanted
    s.flush()
    after = serialize_stage(stage)
    record_changes(s, principal, "stage", stage.id, principal.org_id, {"definition": (before, after)})
    uow.commit()
    return after, created


def delete_stage(uow: UnitOfWork, principal: Principal, key: str) -> None:
    """Delete an unused stage."""
    if not can_administer(principal):
        raise PermissionDenied("only admins define stages")
    s = uow.s
    stage = s.scalar(select(Stage).where(Stage.org_id == principal.org_id, Stage.key == key))
    if stage is None:
        raise NotFoundError(f"stage {key!r} not found")
    in_use = s.scalar(select(func.count()).select_from(Opportunity).where(Opportunity.stage_id == stage.id))
    if in_use:
        raise ConflictError(f"stage {key!r} still has {in_use} opportunities; move them first")
    record_changes(s, principal, "stage", stage.id, principal.org_id, {"definition": (serialize_stage(stage), None)})
    s.delete(stage)
    uow.commit()
