"""The faults the mutant servers inject: each one component, subclassed or wrapped, that breaks one rule.

Every fault here is applied at one of six seams, always inside the mutant's own server process and
never by editing the code paths the reference peer runs:

* **verifier** -- ``Peer.verifier_class``: a :class:`~a2a_coop.runtime.peer.PeerVerifier` subclass
  that overrides one step of the SPEC section 11 procedure;
* **peer** -- a :class:`~a2a_coop.runtime.peer.Peer` subclass that overrides one answer it builds
  (its Ack, the Mandate that opens an answer to an Offer);
* **journal** -- a wrapper around the peer's journal (idempotent retries, RPC-003);
* **handler** -- a wrapper around the CooperationHandler the server calls (how a rejection is
  reported: code, gRPC status, ErrorInfo);
* **interceptor** -- a gRPC server interceptor (``serve(interceptors=...)``) for what the server does
  before any handler runs (request parsing, RPC-007; GetLog's range, RPC-011);
* **module** -- one function of a protocol module replaced in the mutant's process (the envelope
  check, the header rules, the freshness check, signing, the Merkle leaf hash, the state machine's
  clock, the exclusive-key index): the fault then holds everywhere in that process, as the same bug
  in an implementation would.

Two deviations one might expect here are absent on purpose: reusing a seq and signing a broken prev
link (CHN-001). The reference peer refuses both twice over, in its policy guard and in its journal
(``JournalConflict``), so no single fault makes it sign them; a mutant would need three.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections.abc import Callable, Collection, Sequence
from types import ModuleType
from typing import Any, Final

import grpc
from google.protobuf.message import DecodeError

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, envelope_pb2, identity_pb2, service_pb2
from a2a_coop.protocol import errors, merkle, negotiation, statements, verifier
from a2a_coop.protocol.chain import ChainView
from a2a_coop.protocol.envelope import STATEMENT_PAYLOAD_TYPE as PAYLOAD_TYPE
from a2a_coop.protocol.envelope import VerifiedEnvelope, decode_envelope, pae
from a2a_coop.protocol.forks import ForkProof
from a2a_coop.protocol.freshness import DEFAULT_SKEW_MS, ReplayCache
from a2a_coop.protocol.identity import GROUP_ORDER, Keypair
from a2a_coop.protocol.negotiation import Event
from a2a_coop.protocol.statements import KNOWN_BODIES, Header, Statement, VerifiedStatement
from a2a_coop.protocol.verifier import _MandateRecord
from a2a_coop.runtime import gossip
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.peer import Peer, PeerVerifier
from a2a_coop.transport import CooperationHandler, TransportError
from a2a_coop.transport.limits import MAX_FROM_SEQ

MAX_INT: Final = 2**53 - 1
FUTURE_ALLOWANCE_MS: Final = 600_000  # twice TIM-004's largest allowed skew

# --- verifier seam ---------------------------------------------------------------------------


class AudienceUnchecked(PeerVerifier):
    """STM-005: a statement addressed to another key is taken as if it were public."""

    def check(self, vs: VerifiedStatement, now_ms: int | None = None, **kw: Any) -> None:
        me = self.me
        if me is not None and vs.header.audience and vs.header.audience != me:
            self.me = None  # the audience comparison is all that ``me`` decides for such a statement
            try:
                super().check(vs, now_ms, **kw)
            finally:
                self.me = me
            return
        super().check(vs, now_ms, **kw)


class AudienceUncheckedPeer(Peer):
    """STM-005: a statement addressed to another key is taken as if it were public -- by the peer's own
    early check (step 21, before the request's context is held) and by its verifier's
    (:class:`AudienceUnchecked`)."""

    verifier_class = AudienceUnchecked

    def _refuse_other_audience(self, request: VerifiedStatement) -> None:
        return


class RevocationIgnored(PeerVerifier):
    """KEY-004: key revocations are recorded but never consulted (rotation still is, KEY-005)."""

    def _check_key(
        self, key: str, issued_at_ms: int, seq: int | None = None, vs: VerifiedStatement | None = None
    ) -> None:
        rotated = self.rotated.get(key)
        if seq is not None and rotated is not None and seq > rotated:
            raise errors.KeyRevoked("key was rotated out; its chain has ended", requirement="KEY-005")


class EveryEscrowTrusted(PeerVerifier):
    """ATT-013 (d): "witnessed before" read from any escrow's Stamps, not only those of the escrows the peer
    trusts -- a principal convicted on a Stamp by an escrow key anyone may mint."""

    def sparing_revocation(
        self, vs: VerifiedStatement, revoker: str, trusted: Collection[str] | None = None
    ) -> VerifiedStatement | None:
        return super().sparing_revocation(vs, revoker, None)


class MandateCapsUnchecked(PeerVerifier):
    """MND-003..MND-008: the mandate is looked up, bound to its agent (MND-002) and its principal's
    revocation consulted (MND-012), but what it allows is never checked."""

    def _check_mandate(self, vs: VerifiedStatement) -> _MandateRecord | None:
        if vs.body in statements.PRINCIPAL_BODIES and not vs.header.mandate:
            return None
        record = self.mandates.get(vs.header.mandate)
        if record is None:
            raise errors.MandateUnknown("the verifier does not hold the mandate", requirement="MND-002")
        effective = self.revoked.get(record.principal)
        if effective is not None and vs.header.issued_at_ms >= effective:
            raise errors.KeyRevoked("the mandate's principal key was revoked", requirement="MND-012")
        if record.mandate.agent != vs.issuer:
            raise errors.MandateViolation("the mandate delegates to another key", requirement="MND-002")
        return record


class _CapLifted(PeerVerifier):
    """The exposure check (MND-009, MND-010) run against the mandate with one cap lifted."""

    lifted: str = ""

    def _check_exposure(
        self, vs: VerifiedStatement, record: _MandateRecord, event: Event | None, now_ms: int | None = None
    ) -> None:
        # The real check on a copy of the mandate with the cap lifted: what the check does otherwise
        # stays the reference's (a copy of its code here fell behind it once, and crashed the server).
        mandate = identity_pb2.Mandate()
        mandate.CopyFrom(record.mandate)
        setattr(mandate, self.lifted, MAX_INT)
        lifted = dataclasses.replace(record, mandate=mandate)
        super()._check_exposure(vs, lifted, event, now_ms)


class BudgetIgnored(_CapLifted):
    """MND-009: the budget per period is never charged."""

    lifted = "budget_per_period"


class RatchetIgnored(_CapLifted):
    """MND-010: the ratchet cap on outstanding value is never charged."""

    lifted = "max_outstanding"


class DatedBackAccepted(PeerVerifier):
    """TIM-006: a statement addressed to us, dated further back than the skew, is taken live."""

    def _check_not_dated_back(self, vs: VerifiedStatement, now_ms: int) -> None:
        return


class _NonceBlindReplay(ReplayCache):
    """Remembers digests only: a second statement under a used (issuer, nonce) passes (RPL-001)."""

    def check(self, header: Header, digest: bytes) -> None:
        if digest in self._digests:
            raise errors.Replayed(requirement="RPL-002")


class NonceReuseAccepted(PeerVerifier):
    """RPL-001: nonces are not remembered, only digests."""

    def __init__(self, *, me: str) -> None:
        super().__init__(me=me)
        self.replay = _NonceBlindReplay()


class _EquivocationBlindView(ChainView):
    """A chain view indexed by seq that lets a second statement at a held seq overwrite the first."""

    def check(self, vs: VerifiedStatement) -> None:
        try:
            super().check(vs)
        except errors.Equivocation:
            return


class _LinkBlindView(ChainView):
    """A chain view that never compares prev with the neighbour it holds (CHN-003)."""

    def check(self, vs: VerifiedStatement) -> None:
        try:
            super().check(vs)
        except errors.ChainBroken as exc:
            if exc.requirement != "CHN-003":
                raise


class _ChainViewSwapped(PeerVerifier):
    view_class: type[ChainView] = ChainView

    def _chain(self, issuer: str) -> ChainView:
        view = self.chains.get(issuer)
        if view is None:
            view = self.view_class(issuer, complete=self.complete_chains)
        return view


class EquivocationAccepted(_ChainViewSwapped):
    """CHN-004: two statements of one issuer at one seq are both accepted."""

    view_class = _EquivocationBlindView


class BrokenLinkAccepted(_ChainViewSwapped):
    """CHN-003: a statement whose prev is not its held predecessor's digest is accepted."""

    view_class = _LinkBlindView


# --- peer seam -------------------------------------------------------------------------------


class AckMissingPeer(Peer):
    """RPC-002: what is addressed to us and gets no other answer gets no Ack either."""

    def _react(self, vs: VerifiedStatement, *, ack: bool) -> list[VerifiedStatement]:
        return super()._react(vs, ack=False)


class AckWrongDigestPeer(Peer):
    """RPC-002: the Ack names the SHA-256 of the envelope bytes, not the statement's digest."""

    def _react(self, vs: VerifiedStatement, *, ack: bool) -> list[VerifiedStatement]:
        replies = self._react_in_negotiation(vs)
        if ack and not replies and vs.body != "ack" and vs.header.audience == self.did:
            named = hashlib.sha256(vs.envelope).digest()
            replies = [self._sign_body("ack", commitment_pb2.Ack(statement=named), audience=vs.issuer)]
        return replies


class MandateOmittedPeer(Peer):
    """RPC-002: the answer to an Offer leaves out our Mandate, so the caller cannot verify the rest."""

    def exchange(
        self, envelope: bytes, context: Sequence[bytes] = (), *, verified: VerifiedStatement | None = None
    ) -> list[bytes]:
        answers = super().exchange(envelope, context, verified=verified)
        if answers and answers[0] == self.mandate_vs.envelope:
            return answers[1:]
        return answers


class ContextOffersUncountedPeer(Peer):
    """RPC-012: an opening Offer handed over among a request's context is taken whatever the caps on
    open negotiations say (only an Offer sent as the request is counted), so a refused request apiece
    opens negotiations past them."""

    _context = threading.local()

    def _hold(self, envelope: bytes, **kw: Any) -> VerifiedStatement | None:
        self._context.on = True
        try:
            return super()._hold(envelope, **kw)
        finally:
            self._context.on = False

    def _check_open(self, body: str, negotiation_id: bytes, issuer: str) -> None:
        if not getattr(self._context, "on", False):
            super()._check_open(body, negotiation_id, issuer)


# --- journal seam ----------------------------------------------------------------------------


class AnswersForgotten:
    """A journal that stores everything but never finds the answer it gave to a request (RPC-003)."""

    def __init__(self, journal: Journal) -> None:
        self._journal = journal

    def replies_for(self, request_digest: bytes) -> list[bytes] | None:
        return None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._journal, name)


# --- handler seam ----------------------------------------------------------------------------


class RejectionRewritten:
    """A CooperationHandler whose rejections pass through ``rewrite`` on their way to the server."""

    def __init__(self, inner: CooperationHandler, rewrite: Callable[[errors.CoopError], Exception]) -> None:
        self.inner = inner
        self.rewrite = rewrite

    def exchange(self, envelope: bytes, context: Sequence[bytes]) -> list[bytes]:
        try:
            return self.inner.exchange(envelope, context)
        except errors.CoopError as exc:
            raise self.rewrite(exc) from None

    def get_log(self, from_seq: int, limit: int) -> tuple[list[bytes], int]:
        return self.inner.get_log(from_seq, limit)

    def get_checkpoint(self) -> bytes:
        return self.inner.get_checkpoint()

    def get_attestations(
        self, subject: str, limit: int, page_token: str, max_bytes: int
    ) -> tuple[list[list[bytes]], str]:
        return self.inner.get_attestations(subject, limit, page_token, max_bytes)

    def gossip(
        self, envelopes: Sequence[bytes], proofs: Sequence[ForkProof]
    ) -> tuple[list[bytes], list[ForkProof]]:
        return self.inner.gossip(envelopes, proofs)


def _as(cls: type[errors.CoopError], exc: errors.CoopError) -> errors.CoopError:
    return cls(exc.detail, requirement=exc.requirement, origin=exc.origin, evidence=exc.evidence)


def without_error_info(exc: errors.CoopError) -> Exception:
    """RPC-005: the right gRPC status, a message, and no ErrorInfo."""
    return TransportError(grpc.StatusCode[exc.grpc_status], str(exc))


def signature_as_permission_denied(exc: errors.CoopError) -> Exception:
    """RPC-005: SIGNATURE_INVALID travels with PERMISSION_DENIED (the registry says UNAUTHENTICATED)."""
    if not isinstance(exc, errors.SignatureInvalid):
        return exc
    denied = type("SignatureInvalid", (errors.SignatureInvalid,), {"grpc_status": "PERMISSION_DENIED"})
    return _as(denied, exc)


def nonce_reuse_as_replayed(exc: errors.CoopError) -> Exception:
    """ERR-001, RPL-001: NONCE_REUSED is reported as REPLAYED (same gRPC status)."""
    return _as(errors.Replayed, exc) if isinstance(exc, errors.NonceReused) else exc


def wrong_audience_as_wrong_party(exc: errors.CoopError) -> Exception:
    """ERR-001, STM-005: WRONG_AUDIENCE is reported as WRONG_PARTY (same gRPC status)."""
    return _as(errors.WrongParty, exc) if isinstance(exc, errors.WrongAudience) else exc


def origin_local(exc: errors.CoopError) -> Exception:
    """RPC-005: the ErrorInfo says ``origin = local`` for a statement the caller sent."""
    exc.origin = errors.Origin.LOCAL
    return exc


# --- interceptor seam ------------------------------------------------------------------------

_SERVICE: Final = "/a2acoop.v1.CooperationService/"


class _OneMethod(grpc.ServerInterceptor):  # type: ignore[type-arg]  # generic only in the stubs
    """Replaces the unary behaviour of one CooperationService method; the rest passes through."""

    method: str = ""

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Any],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        handler = continuation(handler_call_details)
        if handler is None or handler_call_details.method != _SERVICE + self.method:
            return handler
        inner = handler.unary_unary
        return grpc.unary_unary_rpc_method_handler(
            lambda data, context: self.call(inner, data, context),
            response_serializer=handler.response_serializer,
        )

    def call(self, inner: Callable[[bytes, grpc.ServicerContext], Any], data: bytes, context: Any) -> Any:
        raise NotImplementedError


class FromSeqUnchecked(_OneMethod):
    """RPC-011: GetLog answers a from_seq above 2^53 - 1 with an empty page instead of REQUEST_INVALID."""

    method = "GetLog"

    def call(self, inner: Callable[[bytes, grpc.ServicerContext], Any], data: bytes, context: Any) -> Any:
        try:
            request = service_pb2.GetLogRequest.FromString(data)
        except DecodeError:
            return inner(data, context)
        request.from_seq = min(request.from_seq, MAX_FROM_SEQ)  # past any head: the empty page and the head
        return inner(request.SerializeToString(), context)


class MalformedAsInternal(_OneMethod):
    """RPC-007: an Exchange request that does not parse fails INTERNAL (grpcio's default), not
    INVALID_ARGUMENT."""

    method = "Exchange"

    def call(self, inner: Callable[[bytes, grpc.ServicerContext], Any], data: bytes, context: Any) -> Any:
        try:
            service_pb2.ExchangeRequest.FromString(data)
        except DecodeError:
            context.abort(grpc.StatusCode.INTERNAL, "Exception deserializing request!")
        return inner(data, context)


# --- module seam -----------------------------------------------------------------------------


def _original(module: ModuleType, name: str) -> Any:
    """What ``module.name`` is before a fault replaces it (each mutant process replaces it once)."""
    return vars(module)[name]


def _replace(module: ModuleType, name: str, new: object) -> None:
    """Replace ``module.name``, a global its own functions look up when they run."""
    vars(module)[name] = new


def skip_signature_check() -> None:
    """ENV-006: an envelope whose signature does not verify is taken anyway (its length and S are
    still checked)."""
    real: Callable[..., VerifiedEnvelope] = _original(statements, "verify_envelope")

    def verify_envelope(data: bytes, **kw: Any) -> VerifiedEnvelope:
        try:
            return real(data, **kw)
        except errors.SignatureInvalid:
            env = decode_envelope(data)
            sig = env.signatures[0]
            if len(sig.sig) != 64:
                raise
            digest = hashlib.sha256(pae(env.payload_type, env.payload)).digest()
            return VerifiedEnvelope(env.payload, sig.keyid, digest, sig.sig)

    _replace(statements, "verify_envelope", verify_envelope)


def reduce_high_s() -> None:
    """ENV-007: a signature with S >= L is reduced mod L and verified (the malleable check)."""
    real: Callable[..., VerifiedEnvelope] = _original(statements, "verify_envelope")

    def verify_envelope(data: bytes, **kw: Any) -> VerifiedEnvelope:
        try:
            return real(data, **kw)
        except errors.SignatureNonCanonical:
            env = envelope_pb2.Envelope.FromString(data)
            sig = env.signatures[0].sig
            s = int.from_bytes(sig[32:], "little") % GROUP_ORDER
            env.signatures[0].sig = sig[:32] + s.to_bytes(32, "little")
            kw.pop("parsed", None)  # the caller's parse holds the signature as sent
            return real(env.SerializeToString(deterministic=True), **kw)

    _replace(statements, "verify_envelope", verify_envelope)


def leaf_hash_without_prefix() -> None:
    """CHN-007: Merkle leaves hashed without RFC 6962's 0x00 prefix, so every log_root is wrong."""
    merkle.leaf_hash = lambda digest: hashlib.sha256(digest).digest()


def gossip_takes_everything() -> None:
    """ATT-019: a Gossip swap's envelopes are all held, whatever their body (a Delivery, an Accept)."""
    _replace(gossip, "GOSSIPED_BODIES", KNOWN_BODIES)


def gossip_links_dropped() -> None:
    """ATT-025: the statements a gossiped proof carries to link its statements to their escrow are never
    read, so a Stamp of an Accept, a Reject or a Delivery whose negotiation we do not hold is dropped."""
    _replace(gossip, "_linked", lambda parsed: {})


def offer_expiry_ignored() -> None:
    """NEG-007: the state machine never lets the outstanding offer expire, so we accept it late."""
    negotiation.Negotiation._state_at = lambda self, now_ms: self.state  # type: ignore[method-assign]


def exclusive_key_ignored() -> None:
    """NEG-009: the exclusive_key index is kept but never consulted."""
    negotiation.Negotiations._check_exclusive = lambda self, neg: None  # type: ignore[method-assign]


def _wrap_time_window(
    fault: Callable[[Callable[[Header, int, int], None], Header, int, int], None],
) -> None:
    """Replace the freshness check the verifier calls (step 25) by ``fault(real, header, now, skew)``."""
    real: Callable[[Header, int, int], None] = _original(verifier, "check_time_window")

    def check_time_window(header: Header, now_ms: int, skew_ms: int = DEFAULT_SKEW_MS) -> None:
        fault(real, header, now_ms, skew_ms)

    _replace(verifier, "check_time_window", check_time_window)


def expiry_skew_twice() -> None:
    """TIM-001: expired only past expires_at_ms + 2 * skew (the skew added by sender and receiver)."""

    def fault(real: Callable[[Header, int, int], None], h: Header, now: int, skew: int) -> None:
        try:
            real(h, now, skew)
        except errors.Expired:
            if now > h.expires_at_ms + 2 * skew:
                raise

    _wrap_time_window(fault)


def expiry_without_skew() -> None:
    """TIM-001: expired past expires_at_ms, with no skew allowed."""

    def fault(real: Callable[[Header, int, int], None], h: Header, now: int, skew: int) -> None:
        real(h, now, skew)
        if now > h.expires_at_ms:
            raise errors.Expired(f"expired at {h.expires_at_ms}, now {now}", requirement="TIM-001")

    _wrap_time_window(fault)


def not_before_ignored() -> None:
    """TIM-002: header.not_before_ms is never looked at."""

    def fault(real: Callable[[Header, int, int], None], h: Header, now: int, skew: int) -> None:
        if h.not_before_ms:
            h = Header.FromString(h.SerializeToString())
            h.not_before_ms = 0
        real(h, now, skew)

    _wrap_time_window(fault)


def future_allowance_wide() -> None:
    """TIM-003 (with TIM-004's bound): a statement may be issued up to ten minutes ahead of our clock."""

    def fault(real: Callable[[Header, int, int], None], h: Header, now: int, skew: int) -> None:
        if now + skew < h.issued_at_ms <= now + FUTURE_ALLOWANCE_MS:
            h = Header.FromString(h.SerializeToString())
            h.issued_at_ms = now
        real(h, now, skew)

    _wrap_time_window(fault)


# What verify_statement's header rules return: the body name and the header reads it keeps.
_Checked = tuple[str, dict[str, Any]]
_HeaderRules = Callable[[Statement, str], _Checked]


def _wrap_check_header(
    fault: Callable[[_HeaderRules, Statement, str], _Checked],
) -> None:
    """Replace the header rules verify_statement applies (steps 10-20) by ``fault(real, stmt, signer)``."""
    real: _HeaderRules = _original(statements, "check_header_kept")

    def check_header_kept(stmt: Statement, signer: str) -> _Checked:
        return fault(real, stmt, signer)

    _replace(statements, "check_header_kept", check_header_kept)


def keyid_unchecked() -> None:
    """STM-004: the header's issuer is believed whoever signed (a forgery in anyone's name)."""

    def fault(real: _HeaderRules, stmt: Statement, signer: str) -> _Checked:
        return real(stmt, stmt.header.issuer)

    _wrap_check_header(fault)


def version_unchecked() -> None:
    """STM-003: header.version is never compared with 1."""

    def fault(real: _HeaderRules, stmt: Statement, signer: str) -> _Checked:
        if stmt.header.version != statements.PROTOCOL_VERSION:
            stmt = Statement.FromString(stmt.SerializeToString())
            stmt.header.version = statements.PROTOCOL_VERSION
        return real(stmt, signer)

    _wrap_check_header(fault)


def payload_type_unchecked() -> None:
    """ENV-003: any payload type is taken (the signature is still checked, over the type sent)."""
    real: Callable[..., VerifiedEnvelope] = _original(statements, "verify_envelope")

    def verify_envelope(data: bytes, **kw: Any) -> VerifiedEnvelope:
        try:
            return real(data, **kw)
        except errors.UnsupportedPayloadType:
            return real(data, **{**kw, "payload_type": decode_envelope(data).payload_type})

    _replace(statements, "verify_envelope", verify_envelope)


def noncanonical_accepted() -> None:
    """STM-002: a payload that parses is taken as it parses, canonical or not (the signature still
    covers the bytes received, so the digest is theirs)."""
    real: Callable[[bytes], Statement] = _original(statements, "decode_statement")

    def decode_statement(payload: bytes) -> Statement:
        try:
            return real(payload)
        except errors.NonCanonicalEncoding:
            return Statement.FromString(payload)

    _replace(statements, "decode_statement", decode_statement)


def sign_payload_not_pae() -> None:
    """ENV-002: our statements are signed over the bare payload instead of PAE(payload type, payload)
    (the DSSE pre-authentication encoding forgotten); their digests are still right."""
    real: Callable[..., bytes] = _original(statements, "sign_payload")

    def sign_payload(payload: bytes, key: Keypair, payload_type: str = PAYLOAD_TYPE) -> bytes:
        env = envelope_pb2.Envelope.FromString(real(payload, key, payload_type))
        env.signatures[0].sig = key.sign(payload)
        return env.SerializeToString(deterministic=True)

    _replace(statements, "sign_payload", sign_payload)
