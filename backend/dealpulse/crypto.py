"""Secrets at rest: Fernet encryption of credentials, keys from settings, rotation-friendly."""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .config import Settings


class SecretDecryptionError(Exception):
    """Stored secret cannot be decrypted with any configured key."""


def _derived_key(secret_key: str, purpose: bytes) -> bytes:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"dealpulse", info=purpose)
    return base64.urlsafe_b64encode(hkdf.derive(secret_key.encode()))


def derive_secret(settings: Settings, purpose: str) -> str:
    """A stable secret for one purpose (e.g. Graph clientState), derived from the secret key."""
    return _derived_key(settings.require_secret(), purpose.encode()).decode()


def graph_client_state(settings: Settings) -> str:
    """The secret Graph echoes in every notification of our subscriptions."""
    return settings.graph_client_state or derive_secret(settings, "graph-client-state")


class SecretBox:
    """Encrypts and decrypts small JSON documents (refresh tokens) for storage."""

    def __init__(self, settings: Settings):
        if settings.encryption_key:
            keys = [Fernet(k.strip().encode()) for k in settings.encryption_key.split(",") if k.strip()]
        else:
            keys = [Fernet(_derived_key(settings.require_secret(), b"credentials-at-rest"))]
        self._fernet = MultiFernet(keys)

    def seal(self, document: dict[str, Any]) -> str:
        """Encrypt a JSON-serialisable document."""
        return self._fernet.encrypt(json.dumps(document, sort_keys=True).encode()).decode()

    def open(self, token: str) -> dict[str, Any]:
        """Decrypt a document sealed by `seal` (with the current or an older key)."""
        if not token:
            return {}
        try:
            return json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken as exc:
            raise SecretDecryptionError("stored credentials cannot be decrypted with the configured keys") from exc
