"""Statements: header rules, canonical encoding, building and verifying (SPEC.md sections 6-7).

Theory of operation. A statement's payload is the deterministic protobuf
encoding of ``a2acoop.v1.Statement`` (STM-001). Protobuf admits many encodings
of one message (non-minimal varints, repeated scalar fields, reordered
fields), and a verifier that accepted them would let two byte strings with
different digests mean the same thing. So a payload is accepted only if it
parses under the SPEC's decoding profile and is the canonical encoding of what
it parses to (STM-001, STM-002, STM-014..016; :mod:`a2a_coop.protocol.decoding`).
Unknown fields survive this check when they follow the known ones in shortest
form, which is why later versions must only add higher field numbers (VER-003).

:func:`verify_statement` is the stateless part of accepting a statement:
envelope signature, canonical decoding, and every header rule that needs no
outside knowledge. Freshness, replay, chains and mandates need context and
live in :mod:`a2a_coop.protocol.verifier`.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable, Sequence
from typing import Any, Final, Generic, NamedTuple, TypeVar, overload

from google.protobuf.message import DecodeError

from a2a_coop._proto.a2acoop.v1 import statement_pb2
from a2a_coop.protocol import decoding
from a2a_coop.protocol.bodies import MAX_INT, check_body
from a2a_coop.protocol.envelope import (
    DIGEST_BYTES,
    MAX_ENVELOPE_BYTES,
    STATEMENT_PAYLOAD_TYPE,
    ParsedEnvelope,
    sign_payload,
    statement_digest,
    verify_envelope,
)
from a2a_coop.protocol.errors import (
    BodyMissing,
    EnvelopeTooLarge,
    HeaderInvalid,
    KeyIdMismatch,
    MalformedStatement,
    NonCanonicalEncoding,
    UnsupportedVersion,
)
from a2a_coop.protocol.identity import Keypair, public_key_from_did

PROTOCOL_VERSION: Final = 1
NONCE_BYTES: Final = 16
NEGOTIATION_ID_BYTES: Final = 16
MAX_REFS: Final = 64
NEGOTIATION_ID_DOMAIN: Final = b"a2a-coop/v1/negotiation\x00"

Statement = statement_pb2.Statement
Header = statement_pb2.Header

# Bodies a principal may sign on its own authority (header.mandate empty, MND-001).
PRINCIPAL_BODIES: Final = frozenset({"mandate", "key_rotation", "key_revocation", "checkpoint"})
# Bodies that belong to a negotiation and so need a negotiation_id (STM-009).
NEGOTIATION_BODIES: Final = frozenset(
    {
        "offer",
        "counter",
        "accept",
        "reject",
        "withdraw",
        "bond_lock",
        "delivery",
        "receipt",
        "breach_claim",
        "revoke",
        "release",
        "forfeit",
        "refund",
        "ruling",
    }
)
KNOWN_BODIES: Final = frozenset(f.name for f in Statement.DESCRIPTOR.oneofs_by_name["body"].fields)
# The decoding profile's view of Statement (SPEC 6.2), for payloads the fast check does not settle.
STATEMENT_SPEC: Final = decoding.message_spec(Statement.DESCRIPTOR)
# The last five bytes of every negative int32 written as a 10-byte varint: upb reads such an enum
# value back and re-encodes it unchanged, but the profile refuses it (STM-015).
_NEGATIVE_INT32_TAIL: Final = b"\xff\xff\xff\xff\x01"
# Where a candidate keeps the payload bytes it was checked as (see candidate, sign_candidate).
_PAYLOAD: Final = "_payload"
# The header reads a VerifiedStatement keeps from the start (the header rules make them all); the
# header message itself is kept once read (VerifiedStatement.header).
_KEPT_READS: Final = (
    "issuer",
    "issued_at_ms",
    "negotiation_id",
    "seq",
    "audience",
    "expires_at_ms",
    "mandate_digest",
    "nonce",
)


_T = TypeVar("_T")
_intern: Final = sys.intern


class _KeptRead(Generic[_T]):
    """A read made once per instance and kept in its ``__dict__`` (later reads never call this).

    :func:`functools.cached_property` does the same but, on Python 3.11, takes a lock on every first
    read; a VerifiedStatement is made for every statement handled, and most of its reads are first.
    """

    def __init__(self, read: Callable[[Any], _T]) -> None:
        self.read = read
        self.name = read.__name__
        self.__doc__ = read.__doc__

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> _KeptRead[_T]: ...
    @overload
    def __get__(self, obj: object, owner: type | None = None) -> _T: ...
    def __get__(self, obj: object | None, owner: type | None = None) -> _KeptRead[_T] | _T:
        if obj is None:
            return self
        value = obj.__dict__[self.name] = self.read(obj)
        return value


class _StatementFields(NamedTuple):
    envelope: bytes
    digest: bytes
    statement: statement_pb2.Statement
    body: str


class VerifiedStatement(_StatementFields):
    """A statement whose signature, encoding and header rules all held.

    Attributes:
        envelope: the envelope bytes as received (keep these as evidence).
        digest: SHA-256 of the signed bytes; how other statements refer to it.
        statement: the decoded message. Treat it as read-only.
        body: the name of the body field that is set (e.g. ``"offer"``).
    """

    # No __slots__: each instance gets a __dict__, where ``issuer`` and the header fields below are kept
    # once read. Every check reads them (the time and the negotiation some ten times each per verifier),
    # and each read through protobuf looks the field up by name and makes a new Python object. The
    # header message itself is kept only once something reads it (the checks and the runtime's hot
    # paths read the fields kept instead): until then the dict of a statement held holds only bytes, str
    # and int, so the cyclic garbage collector does not track it, and no Header wrapper (one more tracked
    # object) lives as long as the statement -- every full collection walks a long-lived verifier's
    # statements, two tracked objects fewer each.

    @_KeptRead
    def header(self) -> statement_pb2.Header:
        """The statement's header."""
        return self.statement.header

    @_KeptRead
    def issuer(self) -> str:
        """The header's issuer."""
        return self.statement.header.issuer

    @_KeptRead
    def issued_at_ms(self) -> int:
        """The header's issued_at_ms."""
        return self.statement.header.issued_at_ms

    @_KeptRead
    def negotiation_id(self) -> bytes:
        """The header's negotiation_id (empty outside a negotiation)."""
        return self.statement.header.negotiation_id

    @_KeptRead
    def seq(self) -> int:
        """The header's seq."""
        return self.statement.header.seq

    @_KeptRead
    def audience(self) -> str:
        """The header's audience (empty for a public statement)."""
        return self.statement.header.audience

    @_KeptRead
    def expires_at_ms(self) -> int:
        """The header's expires_at_ms."""
        return self.statement.header.expires_at_ms

    @_KeptRead
    def nonce(self) -> bytes:
        """The header's nonce."""
        return self.statement.header.nonce

    @property
    def prev(self) -> bytes:
        """The header's prev (empty at seq 0). Not kept, as ``not_before_ms``: an offer's kept reads and
        terms, and its header once read, are ten entries already."""
        return self.statement.header.prev

    @property
    def not_before_ms(self) -> int:
        """The header's not_before_ms (0 when unset). Not kept: rarely set, and a kept dict of more than
        ten entries doubles in size (the reads kept, an offer's terms and its header once read are ten)."""
        return self.statement.header.not_before_ms

    @_KeptRead
    def mandate_digest(self) -> bytes:
        """The header's mandate: the digest of the Mandate the statement is signed under (empty for
        a principal's own statement)."""
        return self.statement.header.mandate

    @property
    def body_message(self) -> Any:
        """The body's protobuf message (an Offer, a Receipt, ...)."""
        return getattr(self.statement, self.body)

    def __getstate__(self) -> None:
        """Pickle the four fields only: the reads kept above are made again."""
        return None


# tuple.__new__ builds a VerifiedStatement without the NamedTuple's Python-level __new__ (hot path).
_new_verified_statement: Callable[
    [type[VerifiedStatement], tuple[bytes, bytes, statement_pb2.Statement, str]], VerifiedStatement
]
_new_verified_statement = tuple.__new__


def _verified(
    envelope: bytes, digest: bytes, stmt: statement_pb2.Statement, body: str, kept: dict[str, Any]
) -> VerifiedStatement:
    """A VerifiedStatement that keeps, from the start, the header reads the header rules made."""
    vs = _new_verified_statement(VerifiedStatement, (envelope, digest, stmt, body))
    vs.__dict__ = kept
    return vs


def negotiation_id_for(issuer: str, nonce: bytes) -> bytes:
    """The negotiation id an opening Offer by ``issuer`` with header nonce ``nonce`` must carry (NEG-013).

    Deriving the id from what only the issuer can sign means nobody can open a
    negotiation under another party's id first (id squatting).
    """
    h = hashlib.sha256(NEGOTIATION_ID_DOMAIN + issuer.encode() + b"\x00" + nonce)
    return h.digest()[:NEGOTIATION_ID_BYTES]


def new_statement(
    body: str,
    message: Any,
    *,
    issued_at_ms: int,
    ttl_ms: int,
    audience: str = "",
    negotiation_id: bytes = b"",
    mandate: bytes = b"",
    refs: Sequence[bytes] = (),
) -> statement_pb2.Statement:
    """A statement with its body and the header fields its author chooses.

    The chain fields (version, issuer, seq, prev, nonce) are left for the
    chain writer to stamp (:meth:`a2a_coop.protocol.chain.ChainWriter.stamp`).
    """
    stmt = Statement()
    getattr(stmt, body).CopyFrom(message)
    h = stmt.header
    h.audience = audience
    h.issued_at_ms = issued_at_ms
    h.expires_at_ms = issued_at_ms + ttl_ms
    h.negotiation_id = negotiation_id
    h.mandate = mandate
    if refs:
        h.refs.extend(refs)
    return stmt


def encode_statement(statement: statement_pb2.Statement) -> bytes:
    """The canonical payload encoding of a statement (STM-001)."""
    return statement.SerializeToString(deterministic=True)


def decode_statement(payload: bytes) -> statement_pb2.Statement:
    """Decode a payload under the decoding profile, insisting on the canonical encoding (SPEC 6.2).

    Fast path: upb parses the payload, drops unknown fields and re-encodes it. When that gives back
    the payload byte for byte and the payload holds no 10-byte varint ending in ``ff ff ff ff 01``
    (the form of a negative enum value, which upb keeps), the payload is canonical under the profile
    and has no unknown fields. Anything else (a parse error, a difference, unknown fields) goes to
    the profile's scanner (:mod:`a2a_coop.protocol.decoding`), which names the code and the rule.

    Raises:
        MalformedStatement: the payload does not parse under the profile (STM-001, STM-014..016).
        NonCanonicalEncoding: it parses, but is not the canonical encoding (STM-002, STM-016).
    """
    try:
        stmt = Statement.FromString(payload)
    except (DecodeError, RuntimeWarning, ValueError):
        pass
    else:
        stmt.DiscardUnknownFields()
        if stmt.SerializeToString(deterministic=True) == payload and payload.find(_NEGATIVE_INT32_TAIL) < 0:
            return stmt
    try:
        defect = decoding.check(payload, STATEMENT_SPEC)
    except decoding.Malformed as exc:
        raise MalformedStatement(f"not a Statement: {exc.detail}", requirement=exc.requirement) from None
    if defect is not None:
        raise NonCanonicalEncoding(defect.detail, requirement=defect.requirement)
    try:  # canonical, with unknown fields (or a large uint64): upb reads it as the profile does
        return Statement.FromString(payload)
    except (DecodeError, RuntimeWarning, ValueError) as exc:  # pragma: no cover - profile stricter than upb
        raise MalformedStatement(f"payload is not a Statement: {exc}", requirement="STM-001") from None


def check_header(stmt: statement_pb2.Statement, signer: str) -> str:
    """Apply the context-free header rules (STM-003..STM-011, MND-001), then the body's rules.

    Returns:
        The name of the body field that is set.
    """
    return check_header_kept(stmt, signer)[0]


def check_header_kept(stmt: statement_pb2.Statement, signer: str) -> tuple[str, dict[str, Any]]:
    """:func:`check_header`, which also returns the header fields it read, by the names of
    ``_KEPT_READS``: a VerifiedStatement keeps them (each read of a upb field makes a new object, and
    every later check reads these)."""
    h = stmt.header
    seq, prev = h.seq, h.prev
    if h.version != PROTOCOL_VERSION:
        raise UnsupportedVersion(
            f"version {h.version}; this implementation speaks {PROTOCOL_VERSION}", requirement="STM-003"
        )
    issuer = h.issuer
    if issuer != signer:
        raise KeyIdMismatch(f"signed by {signer:.64}, header issuer {issuer:.64}", requirement="STM-004")
    # The DIDs kept are interned: one string per key, not two per statement held (a peer holds many
    # statements of few keys), and DIDs compared with each other are mostly the same object.
    issuer = _intern(issuer)
    audience = h.audience
    if audience:
        public_key_from_did(audience)  # raises KeyInvalid & co (STM-005)
        audience = _intern(audience)
    if (len(prev) != DIGEST_BYTES) if seq else prev:
        raise HeaderInvalid("prev must be empty at seq 0 and a 32-byte digest after", requirement="STM-006")
    nonce = h.nonce
    if len(nonce) != NONCE_BYTES:
        raise HeaderInvalid(f"nonce must be {NONCE_BYTES} bytes", requirement="STM-007")
    issued, expires, not_before = h.issued_at_ms, h.expires_at_ms, h.not_before_ms
    if not issued or expires <= issued:
        raise HeaderInvalid("need issued_at_ms > 0 and expires_at_ms > issued_at_ms", requirement="STM-008")
    if not_before and not_before >= expires:
        raise HeaderInvalid("not_before_ms must precede expires_at_ms", requirement="STM-008")
    if expires > MAX_INT or seq > MAX_INT:
        raise HeaderInvalid(f"seq and times must be at most 2^53 - 1 ({MAX_INT})", requirement="STM-013")
    body: str | None = stmt.WhichOneof("body")
    if body is None:
        raise BodyMissing("no body this version knows (a newer peer's statement?)", requirement="STM-010")
    negotiation_id = h.negotiation_id
    if body in NEGOTIATION_BODIES:
        if len(negotiation_id) != NEGOTIATION_ID_BYTES:
            raise HeaderInvalid(
                f"{body} needs a {NEGOTIATION_ID_BYTES}-byte negotiation_id", requirement="STM-009"
            )
        if body == "offer" and negotiation_id != negotiation_id_for(issuer, nonce):
            raise HeaderInvalid(
                "an offer's negotiation_id must derive from its issuer and nonce", requirement="NEG-013"
            )
    elif negotiation_id:
        raise HeaderInvalid(f"{body} is not part of a negotiation", requirement="STM-009")
    refs = h.refs
    if refs and (len(refs) > MAX_REFS or any(len(r) != DIGEST_BYTES for r in refs)):
        raise HeaderInvalid(f"refs: at most {MAX_REFS} digests of 32 bytes", requirement="STM-011")
    mandate = h.mandate
    if body in PRINCIPAL_BODIES:
        if mandate and len(mandate) != DIGEST_BYTES:
            raise HeaderInvalid("mandate must be a 32-byte digest", requirement="MND-001")
    elif len(mandate) != DIGEST_BYTES:
        raise HeaderInvalid(f"{body} needs the digest of its issuer's mandate", requirement="MND-001")
    check_body(stmt, body)
    return body, {  # the names of _KEPT_READS
        "issuer": issuer,
        "issued_at_ms": issued,
        "negotiation_id": negotiation_id,
        "seq": seq,
        "audience": audience,
        "expires_at_ms": expires,
        "mandate_digest": mandate,
        "nonce": nonce,
    }


def verify_statement(
    data: bytes, *, max_bytes: int = MAX_ENVELOPE_BYTES, parsed: ParsedEnvelope | None = None
) -> VerifiedStatement:
    """Stateless acceptance of one envelope: signature, encoding, header.

    Args:
        data: envelope bytes exactly as received.
        max_bytes: size limit (ENV-008).
        parsed: ``data`` as :func:`~a2a_coop.protocol.envelope.parse_envelope` parsed it, if the
            caller did (neither parsed nor hashed again).

    Returns:
        The verified statement.

    Raises:
        CoopError: the subclass named by the first failed check's SPEC code.
    """
    payload, signer, digest, _ = verify_envelope(data, max_bytes=max_bytes, parsed=parsed)
    stmt = decode_statement(payload)
    body, kept = check_header_kept(stmt, signer)
    return _verified(data, digest, stmt, body, kept)


def candidate(stmt: statement_pb2.Statement, issuer: str) -> VerifiedStatement:
    """An unsigned candidate: header and body rules checked, digest computed, ``envelope`` empty.

    The policy guard runs the contextual checks (mandate, chain, negotiation)
    on a candidate *before* anything is signed (MND-011); the digest does not
    depend on the signature, so the checks see exactly what will be signed.

    Raises:
        CoopError: the header or body breaks a rule.
    """
    body, kept = check_header_kept(stmt, issuer)
    payload = encode_statement(stmt)
    # Keep a private copy of exactly what will be signed (the caller may reuse stmt), and those very
    # bytes: sign_candidate signs them, so what is signed is what the checks saw. The values the
    # checks read (bytes, str, int: kept, whatever happens to stmt) are those of the copy.
    copy = Statement.FromString(payload)
    kept[_PAYLOAD] = payload
    return _verified(b"", statement_digest(payload), copy, body, kept)


def sign_candidate(cand: VerifiedStatement, key: Keypair) -> VerifiedStatement:
    """Sign a candidate from :func:`candidate`.

    Raises:
        EnvelopeTooLarge: no verifier would accept the envelope (ENV-008).
    """
    kept = cand.__dict__
    payload = kept.get(_PAYLOAD)
    if payload is None:  # a candidate not made by candidate()
        payload = encode_statement(cand.statement)
        digest = statement_digest(payload)
    else:
        digest = cand.digest  # candidate() hashed these very bytes
    envelope = sign_payload(payload, key, STATEMENT_PAYLOAD_TYPE)
    if len(envelope) > MAX_ENVELOPE_BYTES:
        raise EnvelopeTooLarge(f"{len(envelope)} bytes > limit {MAX_ENVELOPE_BYTES}", requirement="ENV-008")
    vs = _new_verified_statement(VerifiedStatement, (envelope, digest, cand.statement, cand.body))
    # One statement (the same message): the same reads and whatever else was read from it and kept on
    # the candidate (an offer's terms, a2a_coop.protocol.mandate), but not the payload bytes (the
    # envelope has them).
    vs.__dict__ = {name: value for name, value in kept.items() if name != _PAYLOAD}
    return vs


def sign_statement(stmt: statement_pb2.Statement, key: Keypair) -> VerifiedStatement:
    """Check, encode and sign a statement the caller built completely (header included).

    The caller (the chain writer in :mod:`a2a_coop.protocol.chain`) owns seq, prev and
    nonce. The header and body rules run *before* signing, so nothing a
    verifier would refuse for those reasons is ever signed. Our own signature
    is not re-verified: libsodium's signing is deterministic and the tests
    check that every signed statement verifies.

    Raises:
        CoopError: the header or body breaks a rule, or the envelope would be too
            large (the codes a verifier would report).
    """
    return sign_candidate(candidate(stmt, key.did), key)
