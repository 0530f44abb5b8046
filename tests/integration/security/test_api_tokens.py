"""Audit finding 10: personal API tokens can expire, be listed with their last use, and be revoked from the CLI."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from dealpulse.services.tokens import hash_token
from dealpulse.store import ApiToken, utcnow
from tests.integration.cli.test_core_cli import run_cli

__all__ = ["run_cli"]


@pytest.fixture
def dealpulse(run_cli):
    """Run `dealpulse ...` in-process against the test database; returns (exit code, output)."""

    def invoke(*args: str) -> tuple[int, str]:
        result = run_cli(*args)
        return result.exit_code, result.output

    return invoke


def _me(client, token: str) -> int:
    return client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code


def test_a_token_with_an_expiry_stops_working_when_it_expires(dealpulse, client, world, db):
    code, token = dealpulse("token", "create", "--user", "rep.a1@seller.example", "--expires-in-days", "30")
    token = token.strip()
    assert code == 0 and _me(client, token) == 200
    with db.uow() as uow:
        row = uow.s.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
        assert timedelta(days=29) < row.expires_at - utcnow() <= timedelta(days=30)
        row.expires_at = utcnow() - timedelta(seconds=1)
        uow.commit()
    answer = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 401 and "expired" in answer.get_json()["detail"]


def test_tokens_are_listed_with_last_use_and_revoked_by_id_or_value(dealpulse, client, world, db):
    code, token = dealpulse("token", "create", "--user", "rep.a2@seller.example", "--label", "laptop")
    token = token.strip()
    assert _me(client, token) == 200
    code, listing = dealpulse("token", "list", "--user", "rep.a2@seller.example")
    assert code == 0 and token not in listing
    line = next(line for line in listing.splitlines() if "laptop" in line)
    token_id = line.split()[0]
    assert line.endswith("active") and utcnow().strftime("%Y-%m-%d") in line.split("laptop")[1]  # created and used today
    code, said = dealpulse("token", "revoke", token_id)
    assert code == 0 and said.strip() == f"token {token_id} revoked"
    assert _me(client, token) == 401
    assert dealpulse("token", "revoke", token) == (0, f"token {token_id} was already revoked\n")
    assert "revoked" in dealpulse("token", "list")[1]


@pytest.mark.parametrize("args", [["token", "revoke", "999999"], ["token", "revoke", "not-a-token"],
                                  ["token", "revoke", "dp_unknown"],
                                  ["token", "create", "--user", "rep.a1@seller.example", "--expires-in-days", "0"]])
def test_bad_token_commands_exit_non_zero_with_one_line(dealpulse, world, args):
    code, output = dealpulse(*args)
    assert code != 0 and len(output.strip().splitlines()) == 1 and output.startswith("error: ")
