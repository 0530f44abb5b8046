"""Personal API tokens record when they were last used, rewritten at most once a minute rather than per request."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from dealpulse.services.tokens import hash_token
from dealpulse.store import ApiToken, utcnow


def _last_used(db, token: str):
    with db.uow() as uow:
        return uow.s.scalar(select(ApiToken.last_used_at).where(ApiToken.token_hash == hash_token(token)))


def _set_last_used(db, token: str, when) -> None:
    with db.uow() as uow:
        uow.s.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token))).last_used_at = when
        uow.commit()


def test_a_token_records_its_first_use(client, world, db):
    token = world.tokens["rep.a1"]
    assert _last_used(db, token) is None
    before = utcnow()
    assert client.get("/api/v1/me", headers=world.auth("rep.a1")).status_code == 200
    assert before - timedelta(seconds=1) <= _last_used(db, token) <= utcnow()


def test_requests_within_a_minute_do_not_rewrite_the_last_use(client, world, db):
    token = world.tokens["rep.a1"]
    recent = utcnow() - timedelta(seconds=30)
    _set_last_used(db, token, recent)
    for _ in range(3):
        assert client.get("/api/v1/me", headers=world.auth("rep.a1")).status_code == 200
    assert _last_used(db, token) == recent


def test_a_use_more_than_a_minute_after_the_last_one_is_recorded(client, world, db):
    token = world.tokens["rep.a1"]
    _set_last_used(db, token, utcnow() - timedelta(minutes=5))
    before = utcnow()
    assert client.post("/api/v1/context", json={"message_id": "<x@acme.test.example>"},
                       headers=world.auth("rep.a1")).status_code == 200
    assert _last_used(db, token) >= before - timedelta(seconds=1)
