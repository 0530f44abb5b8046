"""Drives the Gmail add-on endpoints as Google would: signed system and user ID tokens, event objects, messages.

`AddonClient(client, google, settings)` posts to `/gmail/addon/<endpoint>` with Google's Authorization header
(audience = the endpoint URL) and an event whose `authorizationEventObject.userIdToken` names the user;
`deliver(...)` puts an RFC 822 message into the user's stand-in Gmail and returns its id for `gmail.messageId`.
`press(card, button_text, form)` clicks a button of a returned card with the given form inputs.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterator

import pytest

from dealpulse.standins.google import GoogleStandIn
from dealpulse.standins.sample_mail import rfc822

ADDON_SA = "service-42@gcp-sa-gsuiteaddons.iam.gserviceaccount.com"
GOOGLE_CLIENT = "424242-addon.apps.googleusercontent.com"
BASE_URL = "https://dealpulse.example.com"


@pytest.fixture
def google() -> Iterator[GoogleStandIn]:
    """The Google stand-in with the test organisation's reps as Gmail users."""
    with GoogleStandIn() as standin:
        for user in ("rep.a1@seller.example", "rep.a2@seller.example", "manager.a@seller.example",
                     "stranger@seller.example"):
            standin.add_user(user)
        yield standin


@pytest.fixture
def settings(settings, google):
    """Test settings for the add-on: its service account, OAuth client, certificates and the stand-in's Gmail."""
    return dataclasses.replace(settings, base_url=BASE_URL, google_certs_url=google.certs_url,
                               google_addon_service_account=ADDON_SA, google_client_id=GOOGLE_CLIENT,
                               gmail_api_url=google.base_url)


class AddonClient:
    """Sends add-on requests for one user and remembers every response body."""

    def __init__(self, client: Any, google: GoogleStandIn, user: str = "rep.a1@seller.example"):
        self.client = client
        self.google = google
        self.user = user
        self.responses: list[dict[str, Any]] = []

    def deliver(self, *, sender: str, subject: str, body: str, message_id: str, to: tuple[str, ...] = ()) -> str:
        """Put a message into the user's Gmail; returns the Gmail message id."""
        raw = rfc822(sender=sender, to=to or (self.user,), subject=subject, body=body, message_id=message_id)
        return self.google.add_message(self.user, raw)

    def event(self, message_id: str | None = None, form: dict[str, Any] | None = None,
              parameters: dict[str, str] | None = None) -> dict[str, Any]:
        """An add-on event object for the user (with the open message when `message_id`)."""
        event: dict[str, Any] = {
            "commonEventObject": {"hostApp": "GMAIL", "platform": "WEB", "userLocale": "en", "timeZone": {"id": "UTC"}},
            "authorizationEventObject": {
                "userIdToken": self.google.issue_id_token(GOOGLE_CLIENT, self.user),
                "userOAuthToken": self.google.issue_access_token(self.user),
                "systemIdToken": "unused",
            },
        }
        if message_id:
            event["gmail"] = {"messageId": message_id, "threadId": message_id, "accessToken": "per-message-token"}
        if form:
            event["commonEventObject"]["formInputs"] = form
        if parameters:
            event["commonEventObject"]["parameters"] = parameters
        return event

    def post(self, endpoint: str, event: dict[str, Any], authorization: str | None = None) -> Any:
        """POST an event; Authorization defaults to a genuine system ID token for the endpoint."""
        url = f"/gmail/addon/{endpoint}"
        if authorization is None:
            authorization = "Bearer " + self.google.issue_id_token(BASE_URL + url, ADDON_SA)
        response = self.client.post(url, json=event, headers={"Authorization": authorization})
        if response.status_code == 200:
            self.responses.append(response.get_json())
        return response

    def open(self, message_id: str) -> dict[str, Any]:
        """The card for an open message."""
        response = self.post("message", self.event(message_id))
        assert response.status_code == 200, response.get_json()
        return response.get_json()["action"]["navigations"][0]["pushCard"]

    def press(self, card: dict[str, Any], button_text: str, message_id: str | None, form: dict[str, Any] | None = None) -> dict[str, Any]:
        """Click the first button labelled `button_text`; returns the response body."""
        state = button_state(card, button_text)
        response = self.post("action", self.event(message_id, form=form, parameters={"state": state}))
        assert response.status_code == 200, response.get_json()
        return response.get_json()


def buttons_of(card: dict[str, Any]) -> list[dict[str, Any]]:
    """Every button of a card."""
    found = []
    for section in card.get("sections", []):
        for widget in section.get("widgets", []):
            found.extend(widget.get("buttonList", {}).get("buttons", []))
    return found


def button_state(card: dict[str, Any], text: str) -> str:
    """The signed state of the first button whose text contains `text`."""
    for button in buttons_of(card):
        if text in button["text"]:
            return button["onClick"]["action"]["parameters"][0]["value"]
    raise AssertionError(f"no button {text!r} in {[b['text'] for b in buttons_of(card)]}")


def strings(*values: str) -> dict[str, Any]:
    """A text form input."""
    return {"stringInputs": {"value": list(values)}}


def updated_card(body: dict[str, Any]) -> dict[str, Any]:
    """The card of an action response."""
    return body["renderActions"]["action"]["navigations"][0]["updateCard"]
