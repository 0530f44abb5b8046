"""Two admins race changes to one team's thresholds over real HTTP: one wins each round, nothing is overwritten."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import select

from dealpulse.store import Team
from tests.integration.api import test_concurrent_edits

ROUNDS = 20
live_server = test_concurrent_edits.live_server  # the app over HTTP on a loopback port (fixture)


@pytest.mark.postgres
@pytest.mark.parametrize("db", ["postgres"], indirect=True)
def test_two_admins_race_threshold_changes(live_server, world, db):
    with db.uow() as uow:
        team_id = uow.s.scalar(select(Team.id).where(Team.org_id == world.org_id, Team.name == "Test Team A"))
    url = f"{live_server}/api/v1/admin/teams/{team_id}"
    barrier = threading.Barrier(2)
    outcomes: dict[int, list[tuple[int, int]]] = {15: [], 30: []}

    def admin(days: int) -> None:
        session = requests.Session()
        session.trust_env = False
        session.headers.update(world.auth("admin"))
        for _ in range(ROUNDS):
            etag = session.get(url, timeout=10).headers["ETag"]
            barrier.wait(timeout=10)  # both read the same version, then both write
            response = session.patch(url, json={"thresholds": {"gone_dark_days": days}}, headers={"If-Match": etag},
                                     timeout=10)
            outcomes[days].append((response.status_code, response.json().get("version", -1)))
            barrier.wait(timeout=10)

    with ThreadPoolExecutor(max_workers=2) as pool:
        for future in [pool.submit(admin, 15), pool.submit(admin, 30)]:
            future.result()

    accepted = sorted(v for o in outcomes.values() for status, v in o if status == 200)
    rejected = [status for o in outcomes.values() for status, _ in o if status != 200]
    assert accepted == list(range(2, ROUNDS + 2)), "exactly one writer wins each round; versions advance one by one"
    assert set(rejected) == {412} and len(rejected) == ROUNDS
