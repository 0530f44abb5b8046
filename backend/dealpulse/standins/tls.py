"""Throwaway TLS material for local stand-ins: a private CA and a server certificate for 127.0.0.1/localhost."""

from __future__ import annotations

import datetime as dt
import fcntl
import ipaddress
import os
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_CA_FILE = "ca.pem"
_CERT_FILE = "server.pem"
_KEY_FILE = "server-key.pem"
_VALIDITY = dt.timedelta(days=30)
_RENEW_BEFORE = dt.timedelta(days=1)


@dataclass(frozen=True)
class TlsMaterial:
    """Paths of a CA certificate (give it to clients) and the server certificate and key it signed."""

    ca_file: str
    cert_file: str
    key_file: str

    def server_context(self) -> ssl.SSLContext:
        """An SSL context for a server presenting the certificate."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def tls_material(directory: str | Path | None = None) -> TlsMaterial:
    """TLS files in `directory`: reused when present and valid for another day, else generated (atomically).

    `directory=None` makes a fresh private temporary directory; the caller owns it.
    """
    folder = Path(directory) if directory is not None else Path(tempfile.mkdtemp(prefix="dealpulse-tls-"))
    folder.mkdir(parents=True, exist_ok=True)
    material = TlsMaterial(str(folder / _CA_FILE), str(folder / _CERT_FILE), str(folder / _KEY_FILE))
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two processes sharing a cache folder must not mix key pairs
        if not _still_valid(material):
            _generate(folder, material)
    return material


def _still_valid(material: TlsMaterial) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(Path(material.cert_file).read_bytes())
        Path(material.ca_file).read_bytes()
        Path(material.key_file).read_bytes()
    except (OSError, ValueError):
        return False
    return cert.not_valid_after_utc - _RENEW_BEFORE > dt.datetime.now(dt.timezone.utc)


def _generate(folder: Path, material: TlsMaterial) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "DealPulse local stand-in CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False, data_encipherment=False,
                key_agreement=False, key_cert_sign=True, crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + _VALIDITY)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = server_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # Key and certificate first, CA last: a reader that finds the CA finds a matching server pair.
    _write_atomically(folder / _KEY_FILE, key_pem, mode=0o600)
    _write_atomically(folder / _CERT_FILE, server_cert.public_bytes(serialization.Encoding.PEM))
    _write_atomically(folder / _CA_FILE, ca_cert.public_bytes(serialization.Encoding.PEM))


def _write_atomically(path: Path, data: bytes, mode: int = 0o644) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
