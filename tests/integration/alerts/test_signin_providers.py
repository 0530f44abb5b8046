"""Dashboard sign-in through the real authorization-code flows against the Google and Microsoft stand-ins."""

from __future__ import annotations

import dataclasses
from urllib.parse import urlsplit

import pytest
import requests

from dealpulse.standins.google import GoogleStandIn
from dealpulse.standins.microsoft import MicrosoftStandIn

MANAGER = "manager.a@seller.example"


def _follow_provider(location: str, verify: object = True) -> str:
    """Open the provider's consent URL like a browser and return where it sends us back (path and query)."""
    http = requests.Session()
    http.trust_env = False
    answer = http.get(location, allow_redirects=False, verify=verify, timeout=10)
    assert answer.status_code in (302, 303), answer.text
    back = urlsplit(answer.headers["Location"])
    return f"{back.path}?{back.query}"


@pytest.fixture
def google():
    with GoogleStandIn() as standin:
        yield standin


@pytest.fixture
def microsoft():
    with MicrosoftStandIn(users=[MANAGER, "stranger@elsewhere.example"]) as standin:
        yield standin


def test_google_sign_in_opens_the_managers_dashboard(app, client, world, google):
    app.extensions["dealpulse.settings"] = dataclasses.replace(app.extensions["dealpulse.settings"], **google.settings_overrides())
    google.add_user(MANAGER)
    google.auth_user = MANAGER

    start = client.get("/signin/google")
    assert start.status_code == 302 and start.headers["Location"].startswith(google.auth_url)
    assert "code_challenge=" in start.headers["Location"] and "nonce=" in start.headers["Location"]
    callback = client.get(_follow_provider(start.headers["Location"]))

    assert callback.status_code == 302, callback.get_data(as_text=True)
    page = client.get("/dashboard/").get_data(as_text=True)
    assert MANAGER in page and "Test Acme platform" in page


def test_google_callback_with_a_forged_state_signs_nobody_in(app, client, world, google):
    app.extensions["dealpulse.settings"] = dataclasses.replace(app.extensions["dealpulse.settings"], **google.settings_overrides())
    google.add_user(MANAGER)
    start = client.get("/signin/google")
    back = _follow_provider(start.headers["Location"])
    forged = back.replace("state=", "state=x")

    assert client.get(forged).status_code == 400
    assert client.get("/dashboard/").status_code == 302  # still signed out


def test_microsoft_sign_in_and_unknown_people_are_refused(app, client, world, microsoft):
    app.extensions["dealpulse.settings"] = dataclasses.replace(app.extensions["dealpulse.settings"], **microsoft.settings_overrides())

    start = client.get("/signin/microsoft")
    assert start.status_code == 302
    location = start.headers["Location"] + f"&login_hint={MANAGER}"
    assert client.get(_follow_provider(location, microsoft.ca_file)).status_code == 302
    assert MANAGER in client.get("/dashboard/").get_data(as_text=True)

    stranger = app.test_client()
    start = stranger.get("/signin/microsoft")
    refused = stranger.get(_follow_provider(start.headers["Location"] + "&login_hint=stranger@elsewhere.example", microsoft.ca_file))
    assert refused.status_code == 403 and "No active DealPulse user" in refused.get_data(as_text=True)


def test_providers_that_are_not_configured_answer_404(client):
    assert client.get("/signin/google").status_code == 404
    assert client.get("/signin/microsoft").status_code == 404
