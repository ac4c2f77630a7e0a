"""One error hierarchy for the whole protocol.

Every error a2a-coop raises for a protocol reason is a :class:`CoopError` whose
``code`` is a code from SPEC.md's error registry (section 12) and whose
``grpc_status`` is the status a transport reports it with. The code is stable
wire vocabulary (it travels as ``google.rpc.ErrorInfo.reason``); the message is
for humans and may change.

Why no Local/Remote class split (h11 has one): the same check runs on both
sides of the wire. The mandate guard runs *before we sign* and *when we
receive*, and a framework author must see the same code either way. Which side
caused an error is a property of the call site, so it is an attribute
(``origin``), not a class.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar


class Origin(StrEnum):
    """Which side of an exchange an error is attributed to."""

    LOCAL = "local"  # we were about to send or sign something invalid
    REMOTE = "remote"  # a peer sent us something invalid
    UNKNOWN = "unknown"  # e.g. offline verification of a file


class CoopError(Exception):
    """Root of every a2a-coop protocol error.

    Attributes:
        code: the SPEC.md error code (``UPPER_SNAKE``).
        grpc_status: name of the grpc.StatusCode a transport maps it to.
        requirement: the SPEC requirement ID the failed check enforces, if any.
        origin: who is at fault, when the caller knows.
        evidence: envelopes that prove the failure to a third party (e.g. the
            two conflicting statements of an equivocation), when the check has them.
    """

    code: ClassVar[str] = "INTERNAL"
    grpc_status: ClassVar[str] = "INTERNAL"
    summary: ClassVar[str] = "internal error"

    def __init__(
        self,
        detail: str = "",
        *,
        requirement: str = "",
        origin: Origin = Origin.UNKNOWN,
        evidence: tuple[bytes, ...] = (),
    ) -> None:
        self.detail = detail or self.summary
        self.requirement = requirement
        self.origin = origin
        self.evidence = evidence
        super().__init__(self.detail)

    def __str__(self) -> str:
        req = f" [{self.requirement}]" if self.requirement else ""
        return f"{self.code}{req}: {self.detail}"


# --- categories (not raised directly) -------------------------------------------------


class EncodingError(CoopError):
    """The bytes do not decode to a well-formed, canonical message."""


class SignatureError(CoopError):
    """The signature or signing key is not acceptable."""


class IdentityError(CoopError):
    """A key or identifier is malformed, weak or revoked."""


class HeaderError(CoopError):
    """A statement header breaks a header rule."""


class FreshnessError(CoopError):
    """The statement is outside its time window or was seen before."""


class ChainError(CoopError):
    """The issuer's hash chain is broken, incomplete or forked."""


class MandateError(CoopError):
    """The statement is not authorized by its issuer's mandate."""


class BodyError(CoopError):
    """A statement body breaks a body rule."""


class StateError(CoopError):
    """The statement is not allowed in the negotiation's current state."""


class RequestError(CoopError):
    """A service request (not a statement) asks for something no answer can give."""


# --- leaves: one class per SPEC code ---------------------------------------------------


class MalformedEnvelope(EncodingError):
    """Bytes are not a well-formed envelope."""

    code = "MALFORMED_ENVELOPE"
    grpc_status = "INVALID_ARGUMENT"
    summary = "bytes are not a well-formed envelope"


class RequestMalformed(EncodingError):
    """An RPC's request bytes do not parse as its request message (RPC-007)."""

    code = "REQUEST_MALFORMED"
    grpc_status = "INVALID_ARGUMENT"
    summary = "request does not parse as the RPC's request message"


class EnvelopeTooLarge(EncodingError):
    """Envelope exceeds the size limit."""

    code = "ENVELOPE_TOO_LARGE"
    grpc_status = "RESOURCE_EXHAUSTED"
    summary = "envelope exceeds the size limit"


class UnsupportedPayloadType(EncodingError):
    """Payload type is not the statement media type."""

    code = "UNSUPPORTED_PAYLOAD_TYPE"
    grpc_status = "INVALID_ARGUMENT"
    summary = "payload type is not the statement media type"


class MalformedStatement(EncodingError):
    """Payload does not decode to a statement."""

    code = "MALFORMED_STATEMENT"
    grpc_status = "INVALID_ARGUMENT"
    summary = "payload does not decode to a statement"


class NonCanonicalEncoding(EncodingError):
    """Payload is not the canonical encoding of its statement."""

    code = "NONCANONICAL_ENCODING"
    grpc_status = "INVALID_ARGUMENT"
    summary = "payload is not the canonical encoding of its statement"


class SignatureInvalid(SignatureError):
    """Signature does not verify."""

    code = "SIGNATURE_INVALID"
    grpc_status = "UNAUTHENTICATED"
    summary = "signature does not verify"


class SignatureNonCanonical(SignatureError):
    """Signature scalar S is not reduced below the group order."""

    code = "SIGNATURE_NONCANONICAL"
    grpc_status = "UNAUTHENTICATED"
    summary = "signature scalar S is not reduced below the group order"


class KeyIdMismatch(SignatureError):
    """Signature keyid is not the header's issuer."""

    code = "KEYID_MISMATCH"
    grpc_status = "UNAUTHENTICATED"
    summary = "signature keyid is not the header's issuer"


class KeyInvalid(IdentityError):
    """Not a valid Ed25519 did:key."""

    code = "KEY_INVALID"
    grpc_status = "INVALID_ARGUMENT"
    summary = "not a valid Ed25519 did:key"


class KeyNonCanonical(IdentityError):
    """Public key is not canonically encoded."""

    code = "KEY_NONCANONICAL"
    grpc_status = "INVALID_ARGUMENT"
    summary = "public key is not canonically encoded"


class KeySmallOrder(IdentityError):
    """Public key has small order."""

    code = "KEY_SMALL_ORDER"
    grpc_status = "INVALID_ARGUMENT"
    summary = "public key has small order"


class KeyRevoked(IdentityError):
    """Signing key was revoked before the statement was issued.

    ``reach_ms``: the time from which the revocation in the evidence reaches the refused statement
    (KEY-011's reach time, Unix ms; 0 when unknown, as for a key rotated out) -- not that revocation's own
    effective_ms, which its envelope carries. The detail shows it as a UTC time for people, with the ms
    beside it; a server also puts it in its ErrorInfo metadata as ``reach_ms`` (RPC-005 (a)), read back
    by the client."""

    code = "KEY_REVOKED"
    grpc_status = "PERMISSION_DENIED"
    summary = "signing key was revoked before the statement was issued"

    def __init__(self, detail: str = "", *, reach_ms: int = 0, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.reach_ms = reach_ms


class RevocationUnauthorized(IdentityError):
    """KeyRevocation by a key that has no authority over the key it revokes."""

    code = "REVOCATION_UNAUTHORIZED"
    grpc_status = "PERMISSION_DENIED"
    summary = "only the key itself or the principal it is bound to may revoke it"


class UnsupportedVersion(HeaderError):
    """Protocol version not supported."""

    code = "UNSUPPORTED_VERSION"
    grpc_status = "INVALID_ARGUMENT"
    summary = "protocol version not supported"


class HeaderInvalid(HeaderError):
    """Header field missing or malformed."""

    code = "HEADER_INVALID"
    grpc_status = "INVALID_ARGUMENT"
    summary = "header field missing or malformed"


class WrongAudience(HeaderError):
    """Statement is addressed to someone else."""

    code = "WRONG_AUDIENCE"
    grpc_status = "PERMISSION_DENIED"
    summary = "statement is addressed to someone else"


class NotYetValid(FreshnessError):
    """Statement is not valid yet."""

    code = "NOT_YET_VALID"
    grpc_status = "FAILED_PRECONDITION"
    summary = "statement is not valid yet"


class IssuedInFuture(FreshnessError):
    """Statement claims to be issued in the future: beyond the skew (TIM-003, TIM-008), or, for a
    signer that would have to date its answer after a deadline of its own, beyond that deadline
    (TIM-009: retry after the hint)."""

    code = "ISSUED_IN_FUTURE"
    grpc_status = "FAILED_PRECONDITION"
    summary = "statement claims to be issued in the future"

    def __init__(self, detail: str = "", *, retry_after_ms: int = 0, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.retry_after_ms = retry_after_ms


class IssuedInPast(FreshnessError):
    """A statement acting now was issued further in the past than the skew allows."""

    code = "ISSUED_IN_PAST"
    grpc_status = "FAILED_PRECONDITION"
    summary = "statement addressed to us was issued further in the past than the skew allows"


class Expired(FreshnessError):
    """Statement has expired."""

    code = "EXPIRED"
    grpc_status = "FAILED_PRECONDITION"
    summary = "statement has expired"


class NonceReused(FreshnessError):
    """Issuer used this nonce for a different statement."""

    code = "NONCE_REUSED"
    grpc_status = "ALREADY_EXISTS"
    summary = "issuer used this nonce for a different statement"


class Replayed(FreshnessError):
    """Statement was already received."""

    code = "REPLAYED"
    grpc_status = "ALREADY_EXISTS"
    summary = "statement was already received"


class _NamesItsStamp:
    """A refusal an escrow may give resting on a Stamp of its own (RPC-006 (b), (c)): of an answer to an
    offer it closed, or of one half of a fork whose other half it took.

    ``stamp_seq``: the ledger seq of its Stamp that first named the answer it took (the fork's held half),
    or None: what a client fetches that Stamp by (``GetTranscript``) when the evidence did not fit the
    refusal. A server puts it in its ErrorInfo metadata as ``stamp_seq``, read back by the client; unsigned,
    it only says where to look. A mixin before the error's category, which takes the rest."""

    def __init__(self, detail: str = "", *, stamp_seq: int | None = None, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)  # type: ignore[call-arg]  # CoopError, after us
        self.stamp_seq = stamp_seq


class ChainGap(ChainError):
    """Statements are missing from the issuer's chain."""

    code = "CHAIN_GAP"
    grpc_status = "FAILED_PRECONDITION"
    summary = "statements are missing from the issuer's chain"


class ChainBroken(ChainError):
    """Prev does not match the issuer's previous statement."""

    code = "CHAIN_BROKEN"
    grpc_status = "INVALID_ARGUMENT"
    summary = "prev does not match the issuer's previous statement"


class Equivocation(_NamesItsStamp, ChainError):
    """Issuer signed two different statements for one position."""

    code = "EQUIVOCATION"
    grpc_status = "INVALID_ARGUMENT"
    summary = "issuer signed two different statements for one position"


class LogRootMismatch(ChainError):
    """A Checkpoint's log_root is not the Merkle tree hash of the issuer's earlier statements."""

    code = "LOG_ROOT_MISMATCH"
    grpc_status = "INVALID_ARGUMENT"
    summary = "checkpoint log_root does not match the issuer's statements"


class MandateUnknown(MandateError):
    """The referenced mandate is not known."""

    code = "MANDATE_UNKNOWN"
    grpc_status = "FAILED_PRECONDITION"
    summary = "the referenced mandate is not known"


class MandateViolation(MandateError):
    """Statement is outside its issuer's mandate."""

    code = "MANDATE_VIOLATION"
    grpc_status = "PERMISSION_DENIED"
    summary = "statement is outside its issuer's mandate"


class BodyMissing(BodyError):
    """Statement has no body this version knows."""

    code = "BODY_MISSING"
    grpc_status = "INVALID_ARGUMENT"
    summary = "statement has no body this version knows"


class BodyInvalid(BodyError):
    """Body breaks a body rule."""

    code = "BODY_INVALID"
    grpc_status = "INVALID_ARGUMENT"
    summary = "body breaks a body rule"


class CommitmentMismatch(BodyError):
    """Reveal does not open the commitment."""

    code = "COMMITMENT_MISMATCH"
    grpc_status = "INVALID_ARGUMENT"
    summary = "reveal does not open the commitment"


class AttestationInadmissible(BodyError):
    """Attestation does not rest on a contract its parties signed."""

    code = "ATTESTATION_INADMISSIBLE"
    grpc_status = "PERMISSION_DENIED"
    summary = "attestation does not rest on a contract its parties signed"


class UnknownNegotiation(StateError):
    """No such negotiation."""

    code = "UNKNOWN_NEGOTIATION"
    grpc_status = "NOT_FOUND"
    summary = "no such negotiation"


class IllegalTransition(_NamesItsStamp, StateError):
    """Statement not allowed in the negotiation's current state."""

    code = "ILLEGAL_TRANSITION"
    grpc_status = "FAILED_PRECONDITION"
    summary = "statement not allowed in the negotiation's current state"


class WrongParty(StateError):
    """Issuer is not the party allowed to make this statement."""

    code = "WRONG_PARTY"
    grpc_status = "PERMISSION_DENIED"
    summary = "issuer is not the party allowed to make this statement"


class StaleReference(_NamesItsStamp, StateError):
    """Statement refers to an offer or contract that is not the current one."""

    code = "STALE_REFERENCE"
    grpc_status = "FAILED_PRECONDITION"
    summary = "statement refers to an offer or contract that is not the current one"


class RevocationNotAllowed(StateError):
    """Contract terms do not allow revocation."""

    code = "REVOCATION_NOT_ALLOWED"
    grpc_status = "FAILED_PRECONDITION"
    summary = "contract terms do not allow revocation"


class ExclusiveConflict(StateError):
    """Exclusive key already committed in another contract."""

    code = "EXCLUSIVE_CONFLICT"
    grpc_status = "ABORTED"
    summary = "exclusive key already committed in another contract"


class Unwitnessed(StateError):
    """A time-critical statement has no witness (escrow Stamp, counterparty Ack or Receipt) in time."""

    code = "UNWITNESSED"
    grpc_status = "FAILED_PRECONDITION"
    summary = "statement has no witness in time (escrow stamp or counterparty acknowledgement)"


class LimitExceeded(StateError):
    """A party already has as many open contracts with this escrow as it accepts."""

    code = "LIMIT_EXCEEDED"
    grpc_status = "RESOURCE_EXHAUSTED"
    summary = "limit on open contracts exceeded"


class RequestInvalid(RequestError):
    """A request field is out of range: a position no chain or ledger can hold, a page token the
    server did not give, more Gossip items than the server takes (RPC-011)."""

    code = "REQUEST_INVALID"
    grpc_status = "INVALID_ARGUMENT"
    summary = "request field is out of range"


class RateLimited(RequestError):
    """A peer sent more requests than the server takes from one peer (RPC-012), or more public statements
    of keys outside the server's dealings than it keeps this period (RPC-016); retry after the hint."""

    code = "RATE_LIMITED"
    grpc_status = "RESOURCE_EXHAUSTED"
    summary = (
        "too many requests from this peer, or strangers' statements or newcomers' offers this period; "
        "retry later"
    )

    def __init__(self, detail: str = "", *, retry_after_ms: int = 0, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.retry_after_ms = retry_after_ms


def utc_text(ms: int) -> str:
    """Unix ms as a UTC time for messages, e.g. ``2026-01-01 00:00:00.000 UTC`` (pure arithmetic: the
    protocol core reads no clock and imports no datetime); a time outside years 1..9999 as its ms."""
    days, rest = divmod(ms, 86_400_000)
    # days since 1970-01-01 to a civil date (proleptic Gregorian; H. Hinnant's civil_from_days)
    z = days + 719_468
    era, doe = divmod(z, 146_097)
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (month <= 2)
    if not 1 <= year <= 9999:
        return f"{ms} ms after 1970"
    hours, rest = divmod(rest, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{year:04d}-{month:02d}-{day:02d} {hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d} UTC"


def registry() -> dict[str, type[CoopError]]:
    """Every leaf error class by SPEC code (the code side of SPEC.md's error table)."""
    out: dict[str, type[CoopError]] = {}
    stack: list[type[CoopError]] = [CoopError]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls.code != "INTERNAL":
            assert cls.code not in out, f"duplicate code {cls.code}"
            out[cls.code] = cls
    return dict(sorted(out.items()))


def by_code(code: str) -> type[CoopError]:
    """The error class for a SPEC code. Raises KeyError for unknown codes."""
    return registry()[code]


def printable(text: str) -> str:
    """``text`` as a terminal or a log line may show it: every character that is not printable -- a
    control character (ESC, which starts a terminal escape; CR, BEL; a newline, which forges a log line),
    a C1 control (CSI), a format character (a bidi override) -- escaped as ``repr`` escapes it (RPC-005
    (b)). The one helper for text another party chose -- a status message or a refusal's detail, a
    statement's reason or issuer -- wherever it is shown: a peer's words must reach its reader's terminal
    as words, never as commands to it."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
