"""The Gmail add-on's deployment descriptor: valid for Google, reproducible with `dealpulse gmail-deployment`, and
naming endpoints that accept the ID tokens Google signs for them (audience = the trigger URL).

Validated with `google.cloud.gsuiteaddons_v1.Deployment.from_json(..., ignore_unknown_fields=False)`.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
from click.testing import CliRunner
from google.cloud import gsuiteaddons_v1

from dealpulse.cli import build_cli
from dealpulse.config import PROJECT_ROOT
from dealpulse.web.gmail_deployment import render_deployment
from dealpulse.web.outlook import ManifestError
from tests.integration.sidebar.gmail_events import ADDON_SA, GOOGLE_CLIENT, AddonClient, google

__all__ = ["google"]

DEPLOYMENT = PROJECT_ROOT / "addin" / "gmail" / "deployment.json"
EXAMPLE_HOST = "https://dealpulse.example.com"
#: A server mounted under a path: Google calls SERVER + /gmail/addon/..., the app sees /gmail/addon/...
SERVER = "https://sales.example.org/dealpulse"
NARROW_SCOPES = {
    "https://www.googleapis.com/auth/gmail.addons.execute",
    "https://www.googleapis.com/auth/gmail.addons.current.message.readonly",
    "https://www.googleapis.com/auth/userinfo.email",
    "openid",
}


@pytest.fixture
def settings(settings, google):
    """The add-on's test settings (as in gmail_events) for a server whose DEALPULSE_BASE_URL is SERVER."""
    return dataclasses.replace(settings, base_url=SERVER, google_certs_url=google.certs_url,
                               google_addon_service_account=ADDON_SA, google_client_id=GOOGLE_CLIENT,
                               gmail_api_url=google.base_url)


def _parse(text: str) -> gsuiteaddons_v1.Deployment:
    return gsuiteaddons_v1.Deployment.from_json(text, ignore_unknown_fields=False)


def _trigger_urls(deployment: gsuiteaddons_v1.Deployment) -> list[str]:
    return [deployment.add_ons.common.homepage_trigger.run_function,
            *(t.on_trigger_function for t in deployment.add_ons.gmail.contextual_triggers)]


def test_the_committed_descriptor_is_the_generators_output_for_the_example_host():
    assert DEPLOYMENT.read_text(encoding="utf-8") == render_deployment(EXAMPLE_HOST)


@pytest.mark.parametrize("base_url", [EXAMPLE_HOST, SERVER + "/", "http://127.0.0.1:5000"])
def test_a_descriptor_for_any_usable_host_is_valid_with_narrow_scopes_and_points_there(base_url):
    deployment = _parse(render_deployment(base_url))
    assert set(deployment.oauth_scopes) == NARROW_SCOPES
    assert deployment.add_ons.http_options.authorization_header.name == "SYSTEM_ID_TOKEN"
    urls = [*_trigger_urls(deployment), deployment.add_ons.common.logo_url]
    assert len(urls) == 3
    for url in urls:
        assert url.startswith(base_url.rstrip("/") + "/") and "//" not in url.split("://", 1)[1]


@pytest.mark.parametrize("base_url", ["http://dealpulse.example.com", "ftp://x", "dealpulse.example.com",
                                      "https://x/?a=1", ""])
def test_unusable_base_urls_are_refused(base_url):
    with pytest.raises(ManifestError):
        render_deployment(base_url)


def test_the_server_accepts_googles_token_for_every_trigger_of_its_descriptor_and_serves_the_logo(client, google, world):
    deployment = _parse(render_deployment(SERVER))
    addon = AddonClient(client, google)
    for url in _trigger_urls(deployment):
        token = google.issue_id_token(url, ADDON_SA)  # what Google sends: audience = the URL in the deployment
        response = client.post(url.removeprefix(SERVER), base_url=SERVER, json=addon.event(),
                               headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, (url, response.get_json())
        card = response.get_json()["action"]["navigations"][0]["pushCard"]
        assert "Test Acme platform" in json.dumps(card)  # the rep's own deals: the caller was recognised
    with client.get(deployment.add_ons.common.logo_url.removeprefix(SERVER), base_url=SERVER) as logo:
        assert logo.status_code == 200 and logo.data.startswith(b"\x89PNG")


def test_a_descriptor_generated_for_another_host_gets_every_request_refused(client, google, world):
    elsewhere = _parse(render_deployment(EXAMPLE_HOST))
    addon = AddonClient(client, google)
    for url in _trigger_urls(elsewhere):
        token = google.issue_id_token(url, ADDON_SA)
        response = client.post(url.removeprefix(EXAMPLE_HOST), base_url=SERVER, json=addon.event(),
                               headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, url


def test_the_command_writes_the_descriptor_for_the_configured_server(tmp_path, monkeypatch):
    monkeypatch.setenv("DEALPULSE_BASE_URL", "https://crm.example.net")
    target = tmp_path / "deployment.json"
    result = CliRunner().invoke(build_cli(), ["gmail-deployment", "--base-url", "https://crm.example.net/",
                                              "--output", str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_text(encoding="utf-8") == render_deployment("https://crm.example.net")
    assert "note:" not in result.output


def test_the_command_warns_when_the_server_expects_another_audience(monkeypatch):
    monkeypatch.setenv("DEALPULSE_BASE_URL", "http://127.0.0.1:5000")
    result = CliRunner().invoke(build_cli(), ["gmail-deployment", "--base-url", "https://crm.example.net", "--output", "-"])
    assert result.exit_code == 0, result.output
    _parse(result.stdout)
    assert "DEALPULSE_BASE_URL=https://crm.example.net" in result.stderr


@pytest.mark.parametrize("base_url", ["http://crm.example.net", "crm.example.net"])
def test_the_command_refuses_a_base_url_google_cannot_call(tmp_path, base_url):
    target = tmp_path / "deployment.json"
    result = CliRunner().invoke(build_cli(), ["gmail-deployment", "--base-url", base_url, "--output", str(target)])
    assert result.exit_code != 0 and "https" in result.stderr
    assert not target.exists()
