"""Throwaway PKI for TLS tests: a CA, a server certificate for 127.0.0.1 and a client certificate.

Shared by the in-process transport tests and the multi-process CLI tests. Files written: ca.pem,
server.pem, server.key, client.pem, client.key.
"""

from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from a2a_coop.transport import TlsConfig


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _cert(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None = None,
    *,
    server: bool = False,
    uris: tuple[str, ...] = (),
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer[0].subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if server:
        san = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    elif uris:  # a client certificate naming its holder, e.g. its did:key (A2A-026)
        names = [x509.UniformResourceIdentifier(u) for u in uris]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(issuer[1] if issuer else key, hashes.SHA256())


class Pki:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, made fresh per test."""

    def __init__(self, directory: Path) -> None:
        ca_key = _key()
        self.ca = _cert("a2a-coop test CA", ca_key)
        self._ca_key = ca_key
        server_key, client_key = _key(), _key()
        server_cert = _cert("peer", server_key, (self.ca, ca_key), server=True)
        client_cert = _cert("caller", client_key, (self.ca, ca_key))
        pem = {
            "ca.pem": self.ca.public_bytes(serialization.Encoding.PEM),
            "server.pem": server_cert.public_bytes(serialization.Encoding.PEM),
            "server.key": _pem_key(server_key),
            "client.pem": client_cert.public_bytes(serialization.Encoding.PEM),
            "client.key": _pem_key(client_key),
        }
        for name, data in pem.items():
            (directory / name).write_bytes(data)
        self.dir = directory

    def issue(self, name: str, *uris: str) -> tuple[Path, Path, bytes]:
        """A further client certificate signed by the CA, its subjectAltName naming ``uris``: its PEM
        file, its key file and its DER bytes (written as NAME.pem and NAME.key)."""
        key = _key()
        cert = _cert(name, key, (self.ca, self._ca_key), uris=uris)
        (self.dir / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (self.dir / f"{name}.key").write_bytes(_pem_key(key))
        der = cert.public_bytes(serialization.Encoding.DER)
        return self.dir / f"{name}.pem", self.dir / f"{name}.key", der

    def server(self, *, mutual: bool) -> TlsConfig:
        return TlsConfig.from_files(
            certificate_chain=self.dir / "server.pem",
            private_key=self.dir / "server.key",
            trusted_ca=self.dir / "ca.pem" if mutual else None,
        )

    def client(self, *, with_certificate: bool) -> TlsConfig:
        if not with_certificate:
            return TlsConfig.from_files(trusted_ca=self.dir / "ca.pem")
        return TlsConfig.from_files(
            certificate_chain=self.dir / "client.pem",
            private_key=self.dir / "client.key",
            trusted_ca=self.dir / "ca.pem",
        )
