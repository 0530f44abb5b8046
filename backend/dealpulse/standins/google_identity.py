"""Google identity stand-in: RSA signing keys, certificates in Google's two formats, and ID tokens."""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

GOOGLE_ISSUER = "https://accounts.google.com"


@dataclass(frozen=True)
class SigningKey:
    """One RSA key with its key id and a self-signed certificate (Google publishes certificates, not bare keys)."""

    kid: str
    private_key: rsa.RSAPrivateKey
    certificate_pem: str

    @classmethod
    def generate(cls) -> "SigningKey":
        """A fresh 2048-bit key, its kid derived from the public key, and a 30-day certificate."""
        private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public_der = private_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        kid = hashlib.sha1(public_der).hexdigest()
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "federated-signon.system.gserviceaccount.com")])
        now = datetime.now(timezone.utc)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(private_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30))
            .sign(private_key, hashes.SHA256())
        )
        return cls(kid, private_key, certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"))

    def jwk(self) -> dict[str, str]:
        """The public key as a JWK, as in https://www.googleapis.com/oauth2/v3/certs."""
        numbers = self.private_key.public_key().public_numbers()
        return {
            "kty": "RSA",
            "alg": "RS256",
            "use": "sig",
            "kid": self.kid,
            "n": _b64url_uint(numbers.n),
            "e": _b64url_uint(numbers.e),
        }


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def subject_for(email: str) -> str:
    """A stable numeric Google account id (`sub`) for an address."""
    return str(int(hashlib.sha256(email.lower().encode()).hexdigest()[:15], 16))


class GoogleIdentity:
    """Signing keys (current first), their published certificates/JWKS, and ID-token issuing; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: list[SigningKey] = [SigningKey.generate()]

    @property
    def current_kid(self) -> str:
        """Key id that new tokens are signed with."""
        with self._lock:
            return self._keys[0].kid

    def rotate_key(self, keep_previous: bool = True) -> str:
        """Start signing with a new key; keep publishing the previous one (as Google does) unless told not to."""
        new_key = SigningKey.generate()
        with self._lock:
            self._keys = [new_key] + (self._keys[:1] if keep_previous else [])
        return new_key.kid

    def pem_certs(self) -> dict[str, str]:
        """{kid: PEM certificate}: the body of /oauth2/v1/certs."""
        with self._lock:
            return {key.kid: key.certificate_pem for key in self._keys}

    def jwks(self) -> dict[str, Any]:
        """{"keys": [JWK...]}: the body of /oauth2/v3/certs."""
        with self._lock:
            return {"keys": [key.jwk() for key in self._keys]}

    def issue_id_token(
        self,
        audience: str,
        email: str,
        issuer: str = GOOGLE_ISSUER,
        expires_in: int = 3600,
        kid: str | None = None,
        **claims: Any,
    ) -> str:
        """A Google-style RS256 ID token for `email` and `audience`; extra `claims` override the defaults.

        `kid` picks a published key; an unknown `kid` signs with a throwaway unpublished key (a forged token).
        Pass `iat`/`exp` in `claims` to back-date a token.
        """
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": issuer,
            "aud": audience,
            "azp": audience,
            "sub": subject_for(email),
            "email": email,
            "email_verified": True,
            "iat": now,
            "exp": now + expires_in,
        }
        payload.update(claims)
        key = self._key_for(kid)
        return jwt.encode(payload, key.private_key, algorithm="RS256", headers={"kid": key.kid, "typ": "JWT"})

    def _key_for(self, kid: str | None) -> SigningKey:
        with self._lock:
            if kid is None:
                return self._keys[0]
            for key in self._keys:
                if key.kid == kid:
                    return key
        forged = SigningKey.generate()
        return SigningKey(kid, forged.private_key, forged.certificate_pem)
