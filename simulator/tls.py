"""TLS material: a local CA (trustme) with a server certificate, and the demo connected app's key."""

from __future__ import annotations

import datetime as dt
import os
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

CONSUMER_KEY_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._"


@dataclass(frozen=True)
class ServerTls:
    """Files uvicorn and clients need: the CA bundle, the server certificate chain and key."""

    ca_bundle: Path
    cert_chain: Path
    key: Path


@dataclass(frozen=True)
class ConnectedApp:
    """The demo connected app: a consumer key and the certificate JWTs are verified against."""

    consumer_key: str
    certificate_pem: bytes
    private_key_path: Path
    certificate_path: Path


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    path.chmod(0o600)


def make_server_tls(state_dir: Path, extra_hosts: Sequence[str] = ()) -> ServerTls:
    """A fresh CA and a certificate for 127.0.0.1, ::1, localhost and any extra host names,
    written to the state folder."""
    ca = trustme.CA(organization_name="leadfleet simulator CA")
    cert = ca.issue_cert("127.0.0.1", "localhost", "::1", *extra_hosts)
    tls = ServerTls(
        ca_bundle=state_dir / "ca.pem",
        cert_chain=state_dir / "server-chain.pem",
        key=state_dir / "server-key.pem",
    )
    ca.cert_pem.write_to_path(str(tls.ca_bundle))
    tls.cert_chain.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))
    _write_private(tls.key, cert.private_key_pem.bytes())
    return tls


def consumer_key_for(seed: int) -> str:
    """A consumer key shaped like Salesforce's (3MVG9 + 80 characters), fixed per seed."""
    rng = random.Random(f"consumer-key-{seed}")
    return "3MVG9" + "".join(rng.choice(CONSUMER_KEY_ALPHABET) for _ in range(80))


def make_connected_app(state_dir: Path, seed: int) -> ConnectedApp:
    """The connected app's RSA key (reused when the state folder has one) and self-signed cert."""
    key_path = state_dir / "connected_app_key.pem"
    cert_path = state_dir / "connected_app_cert.pem"
    if key_path.is_file():
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"{key_path} does not hold an RSA private key")
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        _write_private(
            key_path,
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "leadfleet demo connected app")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .sign(key, hashes.SHA256())
    )
    certificate_pem = certificate.public_bytes(serialization.Encoding.PEM)
    cert_path.write_bytes(certificate_pem)
    return ConnectedApp(
        consumer_key=consumer_key_for(seed),
        certificate_pem=certificate_pem,
        private_key_path=key_path,
        certificate_path=cert_path,
    )
