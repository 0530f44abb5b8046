"""The Gmail add-on's deployment descriptor (`addin/gmail/deployment.json`) for a server at a given base URL.

Google signs each add-on request with a system ID token whose audience is the trigger URL written here, and the
backend expects `<DEALPULSE_BASE_URL>/gmail/addon/<endpoint>`: generate the descriptor for the same base URL the
server runs with. The format is `google.cloud.gsuiteaddons_v1.Deployment` as JSON, which allows no comments.
"""

from __future__ import annotations

import json

from .outlook import check_base_url

ADDON_URL_PREFIX = "/gmail/addon"
HOMEPAGE_ENDPOINT = "homepage"
MESSAGE_ENDPOINT = "message"
LOGO_PATH = "/addin/icons/icon-128.png"
#: Read the open message and identify the user; nothing broader.
OAUTH_SCOPES = (
    "https://www.googleapis.com/auth/gmail.addons.execute",
    "https://www.googleapis.com/auth/gmail.addons.current.message.readonly",
    "https://www.googleapis.com/auth/userinfo.email",
    "openid",
)


def addon_endpoint_url(base_url: str, endpoint: str) -> str:
    """The public URL of an add-on endpoint: what Google calls and the audience of its system ID token."""
    return base_url.rstrip("/") + ADDON_URL_PREFIX + "/" + endpoint


def render_deployment(base_url: str) -> str:
    """The deployment descriptor (JSON text) whose triggers and logo live at `base_url`; ManifestError if unusable."""
    base = check_base_url(base_url)
    deployment = {
        "oauthScopes": list(OAUTH_SCOPES),
        "addOns": {
            "common": {
                "name": "DealPulse",
                "logoUrl": base + LOGO_PATH,
                "layoutProperties": {"primaryColor": "#1f5fbf", "secondaryColor": "#17723a"},
                "homepageTrigger": {"runFunction": addon_endpoint_url(base, HOMEPAGE_ENDPOINT), "enabled": True},
            },
            "gmail": {
                "contextualTriggers": [
                    {"unconditional": {}, "onTriggerFunction": addon_endpoint_url(base, MESSAGE_ENDPOINT)},
                ],
            },
            "httpOptions": {"authorizationHeader": "SYSTEM_ID_TOKEN"},
        },
    }
    return json.dumps(deployment, indent=2) + "\n"
