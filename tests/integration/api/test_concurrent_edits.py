"""Two clients race updates on one opportunity over real HTTP: nothing is silently overwritten."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from werkzeug.serving import make_server

ROUNDS = 50


@pytest.fixture
def live_server(app):
    """The app served over HTTP on a free loopback port, in a background thread."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


@pytest.mark.postgres
@pytest.mark.parametrize("db", ["postgres"], indirect=True)
def test_two_clients_race_fifty_updates(live_server, world, db):
    url = f"{live_server}/api/v1/opportunities/{world.opportunities['a1_acme']}"
    barrier = threading.Barrier(2)
    outcomes: dict[str, list[tuple[int, int, str]]] = {"rep": [], "manager": []}

    def client(name: str, who: str) -> None:
        session = requests.Session()
        session.trust_env = False
        session.headers.update(world.auth(who))
        for i in range(ROUNDS):
            etag = session.get(url, timeout=10).headers["ETag"]
            barrier.wait(timeout=10)  # both read the same version, then both write
            value = f"{name}-{i}"
            response = session.patch(url, json={"next_step": value}, headers={"If-Match": etag}, timeout=10)
            new_version = response.json().get("version", -1) if response.status_code == 200 else -1
            outcomes[name].append((response.status_code, new_version, value))
            barrier.wait(timeout=10)

    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(client, "rep", "rep.a1"), pool.submit(client, "manager", "manager.a")]
        for future in futures:
            future.result()

    accepted = sorted((v, value) for o in outcomes.values() for status, v, value in o if status == 200)
    rejected = [status for o in outcomes.values() for status, _v, _value in o if status != 200]
    assert len(accepted) == ROUNDS, "exactly one writer wins each round"
    assert set(rejected) == {412} and len(rejected) == ROUNDS
    assert [v for v, _ in accepted] == list(range(2, ROUNDS + 2)), "versions advance one by one"

    admin = requests.Session()
    admin.trust_env = False
    final = admin.get(url, headers=world.auth("admin"), timeout=10).json()
    assert final["next_step"] == accepted[-1][1]
    assert final["version"] == ROUNDS + 1
    history = admin.get(url + "/history", headers=world.auth("admin"), timeout=10).json()["items"]
    audited = sorted((h["version"], h["new"]) for h in history if h["field"] == "next_step")
    assert audited == accepted, "every accepted write is in the audit log, and nothing else"
