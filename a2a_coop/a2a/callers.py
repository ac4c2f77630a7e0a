"""Who calls the A2A binding (SPEC.md section 14.4, A2A-026): the operator's, a party's, or a stranger.

A caller is judged by what its transport shows, never by what its request says:

* A caller that presented a client certificate signed by the CA the agent trusts for client certificates
  (``--tls-client-ca``; the TLS layer checked the chain) is identified by that certificate alone, as
  :meth:`Callers.identify` says: the entry of its SHA-256 fingerprint in the callers file
  (``serve --a2a-callers FILE``: ``operator`` or a party's did:key), else the did:key its
  subjectAltName carries as a URI (the CA vouched for it), else nobody -- a stranger.
* A caller without one is the operator's when it is on the agent's host (:func:`local_caller`: a
  loopback address or a Unix socket), else a stranger.

A certificate listed ``operator`` (or listed as the agent's own did:key) is the operator's: the operator
chose it. One whose subjectAltName names the agent's own did:key is the operator's only when the operator
says so (``serve --own-did-operator``, A2A-026 (a)): the CA chose that name, and a CA that certifies
counterparties so that they can trade may certify one with any did:key it asks for; without the opt-in
such a certificate is a stranger's -- the agent never calls itself.

The callers file, one certificate a line (``#`` starts a comment)::

    # openssl x509 -in alice.pem -noout -fingerprint -sha256
    sha256 Fingerprint=3A:7F:...:C2  did:key:z6Mk...
    9b41...e0                         operator
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from a2a.server.context import ServerCallContext

from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.identity import public_key_from_did

CALLER_STATE_KEY: Final = "a2a_coop.caller"  # ServerCallContext.state: the caller's IP (handler.caller_of)
CLIENT_CERT_STATE_KEY: Final = "a2a_coop.client_cert"  # ServerCallContext.state: its certificate (DER)
OPERATOR: Final = "operator"  # the role of the operator's callers (A2A-022)
STRANGER: Final = ""
_FINGERPRINT: Final = re.compile(r"\A(?:sha-?256(?:\s+fingerprint)?\s*[=:]\s*)?([0-9a-f:]+)\Z", re.IGNORECASE)


def local_caller(context: ServerCallContext) -> bool:
    """Whether a call came from this host: its address (``state[CALLER_STATE_KEY]``, which each binding
    sets) is a loopback address, or it came over a Unix socket. Unknown callers are not local."""
    caller = context.state.get(CALLER_STATE_KEY) or ""
    if caller == "unix":
        return True
    try:
        address = ipaddress.ip_address(caller.partition("%")[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def fingerprint(der: bytes) -> bytes:
    """A certificate's SHA-256 fingerprint (of its DER encoding), as ``openssl x509 -fingerprint -sha256``."""
    return hashlib.sha256(der).digest()


def der_of(pem: bytes | str) -> bytes:
    """The DER bytes of the first certificate of a PEM text."""
    text = pem.decode() if isinstance(pem, bytes) else pem
    end = "-----END CERTIFICATE-----"
    return ssl.PEM_cert_to_DER_cert(text[: text.index(end) + len(end)])


def did_of_certificate(der: bytes) -> str:
    """The party a certificate names: the one ``did:key`` URI of its subjectAltName, or "" (none, several,
    or one that is not a valid Ed25519 did:key)."""
    from cryptography import x509  # the a2a extra's; only a certificate presented needs it

    try:
        cert = x509.load_der_x509_certificate(der)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return STRANGER
    dids = [u for u in san.get_values_for_type(x509.UniformResourceIdentifier) if u.startswith("did:key:")]
    if len(dids) != 1:
        return STRANGER
    try:
        public_key_from_did(dids[0])
    except CoopError:
        return STRANGER
    return dids[0]


def parse_callers(text: str, *, source: str = "callers file") -> dict[bytes, str]:
    """The callers file (see the module docstring): fingerprint -> ``operator`` or a did:key.

    Raises:
        ValueError: a line that is not a SHA-256 fingerprint and a role, or a fingerprint listed twice;
            the message names the line.
    """
    out: dict[bytes, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        *words, role = line.split()
        m = _FINGERPRINT.match(" ".join(words))
        hexed = m[1].replace(":", "") if m else ""
        if len(hexed) != 64 or not all(c in "0123456789abcdefABCDEF" for c in hexed):
            raise ValueError(
                f"{source}, line {number}: expected a certificate's SHA-256 fingerprint (64 hex digits, "
                f"colons allowed) then 'operator' or a did:key, got {raw.strip()!r:.120}"
            )
        if role != OPERATOR:
            try:
                public_key_from_did(role)
            except CoopError:
                raise ValueError(
                    f"{source}, line {number}: {role!r:.80} is neither 'operator' nor an Ed25519 did:key"
                ) from None
        key = bytes.fromhex(hexed)
        if key in out:
            raise ValueError(f"{source}, line {number}: that certificate is listed twice")
        out[key] = role
    return out


def read_callers(path: str | Path) -> dict[bytes, str]:
    """:func:`parse_callers` of a file (``serve --a2a-callers``)."""
    return parse_callers(Path(path).read_text(encoding="utf-8"), source=str(path))


@dataclass(frozen=True)
class Callers:
    """Identifies A2A callers (A2A-026). ``listed``: certificate fingerprint -> ``operator`` or a did:key
    (:func:`read_callers`); ``agent``: the agent's own did:key; ``own_did_operator``: whether a certificate
    whose subjectAltName names ``agent`` is the operator's (else a stranger's, A2A-026 (a))."""

    listed: Mapping[bytes, str] = field(default_factory=dict)
    agent: str = ""
    own_did_operator: bool = False

    def identify(self, context: ServerCallContext) -> str:
        """:data:`OPERATOR`, a party's did:key, or :data:`STRANGER` ("")."""
        der = context.state.get(CLIENT_CERT_STATE_KEY)
        if der:
            who = self.listed.get(fingerprint(der))
            if who is not None:  # the operator's own listing
                return OPERATOR if who == self.agent else who
            who = did_of_certificate(der)  # the CA's naming
            if who and who == self.agent:  # A2A-026 (a): the operator's only if it opted in
                return OPERATOR if self.own_did_operator else STRANGER
            return who
        return OPERATOR if local_caller(context) else STRANGER
