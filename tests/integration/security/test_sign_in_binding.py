"""Audit finding 10: dashboard sign-in binds the user to the provider's stable subject and then matches by it."""

from __future__ import annotations

import dataclasses

import pytest

from dealpulse.standins.google import GoogleStandIn
from dealpulse.standins.google_identity import subject_for
from dealpulse.store import User
from tests.integration.alerts.test_signin_providers import MANAGER, _follow_provider


@pytest.fixture
def google():
    with GoogleStandIn() as standin:
        yield standin


def _sign_in_with_google(app, client, google):
    app.extensions["dealpulse.settings"] = dataclasses.replace(app.extensions["dealpulse.settings"], **google.settings_overrides())
    google.add_user(MANAGER)
    google.auth_user = MANAGER
    return client.get(_follow_provider(client.get("/signin/google").headers["Location"]))


def test_the_first_google_sign_in_binds_the_user_to_the_google_subject(app, client, world, db, google):
    assert _sign_in_with_google(app, client, google).status_code == 302
    with db.uow() as uow:
        assert uow.s.get(User, world.users["manager.a"]).google_subject == subject_for(MANAGER)


def test_another_google_account_with_the_same_address_is_not_that_user(app, client, world, db, google):
    with db.uow() as uow:
        uow.s.get(User, world.users["manager.a"]).google_subject = "108000000000000000001"  # bound earlier
        uow.commit()
    answer = _sign_in_with_google(app, client, google)
    assert answer.status_code == 403 and "another account" in answer.get_data(as_text=True)
    assert client.get("/dashboard/").status_code == 302
