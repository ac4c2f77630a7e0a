"""TLS settings shared by the server and the clients.

One value type for both ends, because both ends hold the same three things: a
certificate chain and key of their own, and the CA they trust for the other
side. What each field means depends on the end, as the attributes say.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TlsConfig:
    """PEM material for a TLS server or client.

    Attributes:
        certificate_chain: our certificate chain. Required on a server; on a client,
            presented for mutual TLS.
        private_key: the key of ``certificate_chain``.
        trusted_ca: on a server, the CA that signs client certificates: setting it
            turns on mutual TLS. On a client, the roots that sign the server's
            certificate (None: the system roots).
        require_client_auth: server only: with ``trusted_ca`` set, refuse clients
            that present no valid certificate (True), or let them in unauthenticated
            (False).
        server_name: client only: the name checked against the server's certificate
            when it differs from the target's host (gRPC ``ssl_target_name_override``).
    """

    certificate_chain: bytes | None = None
    private_key: bytes | None = None
    trusted_ca: bytes | None = None
    require_client_auth: bool = True
    server_name: str | None = None

    def __post_init__(self) -> None:
        if (self.certificate_chain is None) != (self.private_key is None):
            raise ValueError("certificate_chain and private_key go together")

    @classmethod
    def from_files(
        cls,
        *,
        certificate_chain: str | Path | None = None,
        private_key: str | Path | None = None,
        trusted_ca: str | Path | None = None,
        require_client_auth: bool = True,
        server_name: str | None = None,
    ) -> TlsConfig:
        """Read the PEM files named; None leaves a field unset."""

        def read(path: str | Path | None) -> bytes | None:
            return None if path is None else Path(path).read_bytes()

        return cls(
            certificate_chain=read(certificate_chain),
            private_key=read(private_key),
            trusted_ca=read(trusted_ca),
            require_client_auth=require_client_auth,
            server_name=server_name,
        )
