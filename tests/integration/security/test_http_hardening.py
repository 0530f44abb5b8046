"""Audit finding 10: 405 answers say what is allowed, HSTS under https, framing only by Outlook's add-in hosts,
request quotas (off in tests unless asked), and the audit surface follows how the caller authenticated."""

from __future__ import annotations

import dataclasses

import pytest

from dealpulse import runtime
from dealpulse.app import create_app


@pytest.fixture
def make_app(settings, db):
    """Build an app on the test database with some settings changed."""
    runtime._databases[db.url] = db

    def build(**changes):
        return create_app(dataclasses.replace(settings, **changes))

    yield build
    runtime._databases.pop(db.url, None)


def test_method_not_allowed_names_the_allowed_methods(client, world):
    answer = client.delete("/api/v1/me", headers=world.auth("rep.a1"))
    assert answer.status_code == 405
    assert set(answer.headers["Allow"].replace(" ", "").split(",")) >= {"GET"}
    assert answer.get_json()["status"] == 405


def test_hsts_only_when_served_over_https(make_app):
    assert "Strict-Transport-Security" not in make_app().test_client().get("/healthz").headers
    secure = make_app(base_url="https://dealpulse.example.com").test_client().get("/healthz")
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=")


def _frame_ancestors(response) -> set[str]:
    policy = response.headers["Content-Security-Policy"]
    return set(next(p for p in policy.split(";") if "frame-ancestors" in p).split()[1:])


def test_only_the_add_in_pages_may_be_framed_and_only_by_outlook_on_the_web(client):
    dashboard = client.get("/dashboard/")
    assert _frame_ancestors(dashboard) == {"'self'"}
    with client.get("/addin/outlook/taskpane.html") as pane:
        assert pane.status_code == 200
        ancestors = _frame_ancestors(pane)
    assert "https://outlook.office.com" in ancestors
    assert not [a for a in ancestors if "*" in a]  # no https://*.office.com: any Office page could frame it


def test_quotas_are_off_in_tests_unless_asked(make_app, world):
    client = make_app().test_client()
    assert all(client.get("/signin").status_code == 200 for _ in range(30))


def test_sign_in_is_rate_limited_per_client_address(make_app):
    client = make_app(rate_limits="on", rate_limit_signin="3 per minute").test_client()
    codes = [client.get("/signin").status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    answer = client.get("/signin")
    assert answer.get_json()["status"] == 429 and int(answer.headers["Retry-After"]) > 0


def test_behind_a_trusted_proxy_each_client_address_has_its_own_sign_in_quota(make_app):
    client = make_app(rate_limits="on", rate_limit_signin="2 per minute", proxy_hops=1).test_client()
    first = [client.get("/signin", headers={"X-Forwarded-For": "198.51.100.7"}).status_code for _ in range(3)]
    assert first == [200, 200, 429]
    assert client.get("/signin", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 200


def test_api_and_scoring_quotas_are_per_credential(make_app, world):
    client = make_app(rate_limits="on", rate_limit_api="2 per minute", rate_limit_scoring="1 per minute").test_client()
    assert [client.get("/api/v1/me", headers=world.auth("rep.a1")).status_code for _ in range(3)] == [200, 200, 429]
    assert client.get("/api/v1/me", headers=world.auth("rep.a2")).status_code == 200  # another identity's own quota
    score = [client.post("/api/v1/sentiment/score", json={"texts": ["Thanks"]}, headers=world.auth("rep.b1")).status_code
             for _ in range(2)]
    assert score[1] == 429


def test_a_client_header_cannot_choose_the_audit_surface(client, world):
    opp = world.opportunities["a1_acme"]
    headers = {**world.auth("rep.a1"), "X-DealPulse-Surface": "outlook"}
    current = client.get(f"/api/v1/opportunities/{opp}", headers=headers).get_json()
    client.patch(f"/api/v1/opportunities/{opp}", json={"version": current["version"], "next_step": "Pilot"}, headers=headers)
    history = client.get(f"/api/v1/opportunities/{opp}/history", headers=headers).get_json()["items"]
    assert history[0]["surface"] == "api"  # a personal token is the API, whatever the header says
