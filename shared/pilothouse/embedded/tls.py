"""HTTPS for ``pilothouse dev``: TLS 1.3 as the minimum, a certificate given or made for development.

pilothouse dev --tls-cert cert.pem --tls-key key.pem
pilothouse dev --tls-self-signed          # makes <data dir>/tls/dev-cert.pem (and its key, 0600)
pilothouse --url https://127.0.0.1:8080 --ca-file .pilothouse/tls/dev-cert.pem components list
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TlsFiles:
    """A certificate chain and its private key, both PEM files."""

    cert: Path
    key: Path

    def check(self) -> None:
        """ValueError naming the file that is missing or that does not load with the other."""
        for what, path in (("--tls-cert", self.cert), ("--tls-key", self.key)):
            if not path.is_file():
                raise ValueError(f"{what} {path}: no such file")
        try:
            server_context(self)
        except (ssl.SSLError, OSError) as exc:
            raise ValueError(f"--tls-cert/--tls-key do not load as a pair: {exc}") from None


def server_context(files: TlsFiles) -> ssl.SSLContext:
    """A server context that speaks TLS 1.3 only (``minimum_version``)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(str(files.cert), str(files.key))
    return ctx


def self_signed(directory: Path, host: str, *, days: int = 30) -> TlsFiles:
    """A development certificate for ``host``, localhost, 127.0.0.1 and ::1 (ECDSA P-256), made
    once in ``directory`` and reused while it is valid for another day."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    files = TlsFiles(directory / "dev-cert.pem", directory / "dev-key.pem")
    if files.cert.exists() and files.key.exists():
        cert = x509.load_pem_x509_certificate(files.cert.read_bytes())
        if cert.not_valid_after_utc > datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=1):
            return files
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName("localhost")]
    for literal in {"127.0.0.1", "::1", host}:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(literal)))
        except ValueError:
            names.append(x509.DNSName(literal))
    now = datetime.datetime.now(datetime.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pilothouse dev")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key, hashes.SHA256())
    )
    fd = os.open(files.key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return files
