"""The sidebar preview and its demo pane sign-in exist only while the demo runs."""

from __future__ import annotations

import dataclasses

from dealpulse.app import create_app
from dealpulse.web.preview import demo_token


def test_outside_the_demo_there_is_no_preview_and_demo_tokens_are_refused(client, world, settings):
    assert client.get("/").status_code == 404
    assert client.get("/demo/users").status_code == 404
    assert client.get("/demo/standin?user=rep.a1@seller.example").status_code == 404
    token = demo_token(settings, world.users["rep.a1"])
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_in_the_demo_the_preview_signs_the_pane_in_as_the_chosen_rep(app, world, settings):
    demo_app = create_app(dataclasses.replace(settings, demo=True))
    demo = demo_app.test_client()
    page = demo.get("/")
    assert page.status_code == 200 and b"sidebar preview" in page.data
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    standin = demo.get("/demo/standin?user=rep.a1@seller.example").get_json()
    me = demo.get("/api/v1/me", headers={"Authorization": f"Bearer {standin['token']}"}).get_json()
    assert me["email"] == "rep.a1@seller.example"
    forged = standin["token"][:-4] + "AAAA"
    assert demo.get("/api/v1/me", headers={"Authorization": f"Bearer {forged}"}).status_code == 401
    assert demo.get("/demo/standin?user=nobody@seller.example").status_code == 404
    pane = demo.get("/addin/outlook/taskpane-preview.html").get_data(as_text=True)
    assert "office-standin.js" in pane and "appsforoffice" not in pane
