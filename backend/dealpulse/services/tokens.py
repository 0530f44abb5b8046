"""Personal API tokens: generation and hashing (only hashes are stored)."""

from __future__ import annotations

import hashlib
import secrets

TOKEN_PREFIX = "dp_"


def hash_token(token: str) -> str:
    """SHA-256 of a personal token."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_personal_token() -> str:
    """A fresh random personal API token."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)
