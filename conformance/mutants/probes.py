"""Direct probes: small client scripts that the reference peer passes and one mutant each fails.

Each probe talks to a live target over gRPC as a fresh party (deterministic keys under a random name,
statements built with :mod:`a2a_coop.testing` on the wall clock), checks the target's answers with the
reference :class:`~a2a_coop.protocol.verifier.Verifier`, and checks every rejection against the error
model in full (RPC-005): the code, the registry's gRPC status for it, ErrorInfo's domain and origin.
A probe raises :class:`ProbeFailed` saying what the SPEC wanted and what came back.

They prove that each mutant deviates; they are not the conformance suite (``a2a-coop conformance``),
though ``python -m conformance.mutants probe --target HOST:PORT`` runs them all like one, exiting 1
when a probe fails, so the kill-rate harness can be tried with them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import grpc
from google.rpc import error_details_pb2, status_pb2  # type: ignore[import-untyped]

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, envelope_pb2, identity_pb2, service_pb2
from a2a_coop.protocol import merkle
from a2a_coop.protocol.chain import ChainWriter
from a2a_coop.protocol.envelope import STATEMENT_PAYLOAD_TYPE, decode_envelope, sign_payload
from a2a_coop.protocol.errors import CoopError, by_code
from a2a_coop.protocol.identity import GROUP_ORDER, Keypair
from a2a_coop.protocol.statements import (
    Statement,
    VerifiedStatement,
    decode_statement,
    encode_statement,
    new_statement,
    verify_statement,
)
from a2a_coop.protocol.verifier import Verifier
from a2a_coop.runtime.peer import wall_clock_ms
from a2a_coop.testing import DAY_MS, DEFAULT_TTL_MS, FixedClock, Party, service
from a2a_coop.transport.errors import DOMAIN, STATUS_DETAILS_KEY
from a2a_coop.transport.paging import read_whole

MAX_INT: Final = 2**53 - 1
SERVICE: Final = "/a2acoop.v1.CooperationService/"
TIMEOUT_S: Final = 10.0
BACKDATE_MS: Final = 5 * 60_000  # a session's setup (its mandate) is dated this far back


class ProbeFailed(AssertionError):
    """The target deviated from the SPEC; the message says how."""


@dataclass(frozen=True)
class Rejection:
    """A failed call as it crossed the wire."""

    status: grpc.StatusCode
    message: str
    reason: str = ""  # ErrorInfo.reason; "" when the call carried no ErrorInfo
    domain: str = ""
    metadata: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        what = self.reason or "no ErrorInfo"
        return f"{self.status.name} ({what}): {self.message[:120]}"


def _rejection(err: grpc.RpcError) -> Rejection:
    call: Any = err  # a failed call: code(), details(), trailing_metadata()
    code, message = call.code(), call.details() or ""
    trailers: Iterable[tuple[str, Any]] = call.trailing_metadata() or ()
    for key, value in trailers:
        if key != STATUS_DETAILS_KEY:
            continue
        status = status_pb2.Status.FromString(value)
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                return Rejection(code, message, info.reason, info.domain, dict(info.metadata))
    return Rejection(code, message)


class Target:
    """A CooperationService at ``address``, called with raw request bytes (so that a probe can send
    what no well-behaved client would) and answering with raw response bytes or a :class:`Rejection`."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.channel = grpc.insecure_channel(address)
        self._mandate: bytes | None = None
        try:
            # Read, not verified: a probe verifies what it relies on, and says so when it fails.
            checkpoint = decode_envelope(self.get_checkpoint())
            self.did = decode_statement(checkpoint.payload).header.issuer
        except BaseException:
            self.channel.close()
            raise

    def close(self) -> None:
        self.channel.close()

    def mandate(self) -> bytes:
        """The target's Mandate envelope, which opens its answer to any Offer (RPC-002); fetched once,
        with one fair Offer from a throwaway party."""
        if self._mandate is None:
            s = Session(self, "mandate")
            got = self.exchange(s.offer().envelope, s.setup)
            first = None if isinstance(got, Rejection) or not got else verify_statement(got[0])
            if first is None or first.body != "mandate" or first.statement.mandate.agent != self.did:
                raise ProbeFailed(
                    f"the answer to a fair Offer does not start with the target's Mandate: {got}"
                )
            self._mandate = first.envelope
        return self._mandate

    def call(self, method: str, request: bytes) -> bytes | Rejection:
        stub = self.channel.unary_unary(SERVICE + method, request_serializer=None, response_deserializer=None)
        try:
            response: bytes = stub(request, timeout=TIMEOUT_S)
        except grpc.RpcError as err:
            if err.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise
            return _rejection(err)
        return response

    def exchange(self, envelope: bytes, context: Sequence[bytes] = ()) -> list[bytes] | Rejection:
        request = service_pb2.ExchangeRequest(envelope=envelope, context=list(context))
        answer = self.call("Exchange", request.SerializeToString())
        if isinstance(answer, Rejection):
            return answer

        def again(start: int) -> service_pb2.ExchangeResponse:  # the rest of a cut answer (RPC-021)
            request.answer_from = start
            part = self.call("Exchange", request.SerializeToString())
            if isinstance(part, Rejection):
                raise ProbeFailed(f"the rest of a cut answer, from {start}, was refused: {part}")
            return service_pb2.ExchangeResponse.FromString(part)

        return read_whole(service_pb2.ExchangeResponse.FromString(answer), again)

    def get_checkpoint(self) -> bytes:
        answer = self.call("GetCheckpoint", b"")
        if isinstance(answer, Rejection):
            raise ProbeFailed(f"GetCheckpoint failed: {answer}")
        return service_pb2.GetCheckpointResponse.FromString(answer).envelope

    def get_log(self, from_seq: int, limit: int = 0) -> service_pb2.GetLogResponse | Rejection:
        answer = self.call(
            "GetLog", service_pb2.GetLogRequest(from_seq=from_seq, limit=limit).SerializeToString()
        )
        return answer if isinstance(answer, Rejection) else service_pb2.GetLogResponse.FromString(answer)


def check_rejection(got: list[bytes] | Rejection, code: str, what: str) -> Rejection:
    """``got`` must be the rejection SPEC section 13.3 describes for ``code`` (RPC-005)."""
    if not isinstance(got, Rejection):
        raise ProbeFailed(f"{what}: answered without an error; SPEC says {code}")
    if not got.reason:
        raise ProbeFailed(f"{what}: {got}; SPEC says {code} with a google.rpc.ErrorInfo (RPC-005)")
    if got.reason != code:
        raise ProbeFailed(f"{what}: refused {got.reason}; SPEC says {code}")
    if got.domain != DOMAIN:
        raise ProbeFailed(f"{what}: ErrorInfo domain {got.domain!r}, not {DOMAIN!r} (RPC-005)")
    status = grpc.StatusCode[by_code(code).grpc_status]
    if got.status != status:
        raise ProbeFailed(f"{what}: {code} under gRPC {got.status.name}; the registry says {status.name}")
    if got.metadata.get("origin") != "remote":
        raise ProbeFailed(f"{what}: ErrorInfo origin {got.metadata.get('origin')!r}, not 'remote' (RPC-005)")
    return got


class Session:
    """A fresh party trading with the target, and the verifier that checks what the target says."""

    def __init__(self, target: Target, label: str, **caps: int) -> None:
        self.target = target
        self.clock = FixedClock(wall_clock_ms() - BACKDATE_MS)
        self.party = Party(f"{label}-{os.urandom(6).hex()}", self.clock, mandate_caps=caps)
        self.verifier = Verifier(me=self.party.did)
        self.verifier.accept(self.party.mandate_vs.envelope)

    @property
    def setup(self) -> list[bytes]:
        return list(self.party.setup)

    def now(self) -> int:
        self.clock.now_ms = wall_clock_ms()
        return self.clock.now_ms

    def offer(self, *, gives: int = 500, exclusive_key: bytes = b"", **header: int) -> VerifiedStatement:
        """An Offer to the target: ``gives`` of code review for copy editing worth 450."""
        self.now()
        deadline = self.clock.now_ms + DAY_MS
        proposal = self.party.proposal(
            gives=[service("code-review", value=gives, deadline_ms=deadline)], exclusive_key=exclusive_key
        )
        return self.party.sign("offer", proposal, audience=self.target.did, **header)

    def note(
        self,
        *,
        audience: str = "",
        issued_at_ms: int | None = None,
        ttl_ms: int = DEFAULT_TTL_MS,
        nonce: bytes | None = None,
    ) -> VerifiedStatement:
        """A principal-body statement (a Mandate for a throwaway key) by our agent key: something a
        receiver takes without any negotiation, addressed to ``audience`` or public."""
        now = self.now()
        body = identity_pb2.Mandate(
            agent=Keypair.from_seed(os.urandom(32)).did,
            valid_from_ms=now - DAY_MS,
            valid_until_ms=now + DAY_MS,
            currency="credit",
        )
        return self.party.agent.sign(
            "mandate", body, audience=audience, issued_at_ms=issued_at_ms, ttl_ms=ttl_ms, nonce=nonce
        )

    def send(
        self, vs: VerifiedStatement | bytes, context: Sequence[bytes] | None = None
    ) -> list[VerifiedStatement]:
        """Send; the target must take it, and every statement it answers with must verify here."""
        envelope = vs if isinstance(vs, bytes) else vs.envelope
        got = self.target.exchange(envelope, self.setup if context is None else context)
        if isinstance(got, Rejection):
            raise ProbeFailed(f"a valid statement was refused: {got}")
        if not isinstance(vs, bytes):
            self.verifier.accept_statement(vs, ours=vs.issuer == self.party.did)
        out = []
        for env in got:
            vs = verify_statement(env)
            if vs.digest in self.verifier.statements:
                continue  # the target's Mandate again
            if vs.header.mandate and vs.header.mandate not in self.verifier.statements:
                self.verifier.accept(self.target.mandate())
            try:
                out.append(self.verifier.accept_statement(vs, self.now()))
            except CoopError as exc:
                body = _body(env)
                raise ProbeFailed(f"the target's {body} does not verify: {exc}") from None
        return out

    def refuse(
        self, vs: VerifiedStatement | bytes, code: str, context: Sequence[bytes] | None = None
    ) -> None:
        """Send; the target must refuse it with ``code`` as RPC-005 describes."""
        envelope = vs if isinstance(vs, bytes) else vs.envelope
        got = self.target.exchange(envelope, self.setup if context is None else context)
        check_rejection(got, code, _body(envelope))


def _body(envelope: bytes) -> str:
    try:
        return decode_statement(decode_envelope(envelope).payload).WhichOneof("body") or "statement"
    except (CoopError, ValueError):
        return "statement"


def _resigned(vs: VerifiedStatement, change: Callable[[bytes], bytes]) -> bytes:
    env = envelope_pb2.Envelope.FromString(vs.envelope)
    env.signatures[0].sig = change(env.signatures[0].sig)
    return env.SerializeToString(deterministic=True)


# --- the probes ------------------------------------------------------------------------------


def probe_checkpoint_root(t: Target) -> None:
    """CHN-007: the target's Checkpoint commits to its statements 0..seq-1 (checked when the probe
    holds all of them, as it does on a fresh target)."""
    s = Session(t, "checkpoint")
    t.get_checkpoint()
    got = t.exchange(s.note(audience=t.did).envelope, s.setup)
    if isinstance(got, Rejection):
        raise ProbeFailed(f"a valid statement was refused: {got}")
    held = {vs.header.seq: vs.digest for vs in map(verify_statement, got)}
    checkpoint = verify_statement(t.get_checkpoint())
    page = t.get_log(0)
    if isinstance(page, Rejection):
        raise ProbeFailed(f"GetLog(0) failed: {page}")
    for env in page.envelopes:
        vs = verify_statement(env)
        held[vs.header.seq] = vs.digest
    seq = checkpoint.header.seq
    if all(i in held for i in range(seq)):
        root = merkle.root([held[i] for i in range(seq)])
        if checkpoint.statement.checkpoint.log_root != root:
            raise ProbeFailed(f"LOG_ROOT_MISMATCH: the Checkpoint at seq {seq} commits to another log")


def probe_own_chain(t: Target) -> None:
    """CHN-001: two statements the target signs one after the other link by prev."""
    s = Session(t, "chain")
    for _ in range(2):
        answers = s.send(s.note(audience=t.did))
        if len(answers) != 1:
            raise ProbeFailed(f"expected one Ack, got {[a.body for a in answers]}")


def probe_bad_signature(t: Target) -> None:
    """ENV-006 and the error model: a flipped bit in R is SIGNATURE_INVALID (UNAUTHENTICATED)."""
    s = Session(t, "badsig")
    offer = s.offer()
    s.refuse(_resigned(offer, lambda sig: bytes([sig[0] ^ 1]) + sig[1:]), "SIGNATURE_INVALID")


def probe_high_s(t: Target) -> None:
    """ENV-007: S replaced by S + L (the same signature for a malleable verifier)."""
    s = Session(t, "highs")
    offer = s.offer()

    def plus_l(sig: bytes) -> bytes:
        return sig[:32] + (int.from_bytes(sig[32:], "little") + GROUP_ORDER).to_bytes(32, "little")

    s.refuse(_resigned(offer, plus_l), "SIGNATURE_NONCANONICAL")


def probe_wrong_audience(t: Target) -> None:
    """STM-005: an Offer addressed to a third key is WRONG_AUDIENCE."""
    s = Session(t, "audience")
    s.now()
    other = Keypair.from_seed(os.urandom(32)).did
    s.refuse(s.party.sign("offer", s.party.proposal(), audience=other), "WRONG_AUDIENCE")


def probe_revoked_key(t: Target) -> None:
    """KEY-004: an Offer by a key whose self-revocation the target holds is KEY_REVOKED."""
    s = Session(t, "revoked")
    now = s.now()
    revocation = s.party.agent.sign(
        "key_revocation",
        identity_pb2.KeyRevocation(key=s.party.did, effective_ms=now - 1_000, reason="probe"),
    )
    s.refuse(s.offer(), "KEY_REVOKED", context=[*s.setup, revocation.envelope])


def probe_mandate_violation(t: Target) -> None:
    """MND-004: an Offer above the issuer's max_per_deal is MANDATE_VIOLATION."""
    s = Session(t, "mandate", max_per_deal=100)
    s.refuse(s.offer(gives=500), "MANDATE_VIOLATION")


def probe_budget(t: Target) -> None:
    """MND-009: a second contract's Offer over the period's budget is MANDATE_VIOLATION."""
    s = Session(t, "budget", budget_per_period=800, max_outstanding=MAX_INT)
    _accepted(s.send(s.offer(gives=500)))
    s.refuse(s.offer(gives=500), "MANDATE_VIOLATION")


def probe_ratchet(t: Target) -> None:
    """MND-010: a second Offer over the outstanding cap is MANDATE_VIOLATION."""
    s = Session(t, "ratchet", budget_per_period=MAX_INT, max_outstanding=800)
    _accepted(s.send(s.offer(gives=500)))
    s.refuse(s.offer(gives=500), "MANDATE_VIOLATION")


def _accepted(answers: list[VerifiedStatement]) -> None:
    bodies = [a.body for a in answers]
    if "accept" not in bodies:
        raise ProbeFailed(f"a fair Offer was answered {bodies}, not with an Accept")


def probe_issued_in_future(t: Target) -> None:
    """TIM-003 with TIM-004's skew: a statement issued 120 s ahead is ISSUED_IN_FUTURE."""
    s = Session(t, "future")
    s.refuse(s.note(issued_at_ms=s.now() + 120_000), "ISSUED_IN_FUTURE")


def probe_expired_beyond_skew(t: Target) -> None:
    """TIM-001: a statement expired 40 s ago, past the 30 s skew, is EXPIRED."""
    s = Session(t, "expired")
    now = s.now()
    s.refuse(s.note(issued_at_ms=now - 60_000, ttl_ms=20_000), "EXPIRED")


def probe_expired_within_skew(t: Target) -> None:
    """TIM-001: a statement expired 10 s ago is still valid under the 30 s skew."""
    s = Session(t, "skewed")
    now = s.now()
    s.send(s.note(issued_at_ms=now - 20_000, ttl_ms=10_000))


def probe_not_yet_valid(t: Target) -> None:
    """TIM-002: a statement valid only from 120 s ahead is NOT_YET_VALID."""
    s = Session(t, "notbefore")
    now = s.now()
    body = identity_pb2.Mandate(
        agent=Keypair.from_seed(os.urandom(32)).did,
        valid_from_ms=now,
        valid_until_ms=now + DAY_MS,
        currency="credit",
    )
    stmt = new_statement("mandate", body, issued_at_ms=now, ttl_ms=600_000)
    stmt.header.not_before_ms = now + 120_000
    agent = s.party.agent
    s.refuse(agent.writer.sign(stmt, nonce=agent.next_nonce()), "NOT_YET_VALID")


def probe_dated_back(t: Target) -> None:
    """TIM-006: an Offer to the target dated 120 s back (unwitnessed) is ISSUED_IN_PAST."""
    s = Session(t, "datedback")
    now = s.now()
    proposal = s.party.proposal()
    offer = s.party.sign("offer", proposal, audience=t.did, issued_at_ms=now - 120_000, ttl_ms=600_000)
    s.refuse(offer, "ISSUED_IN_PAST")


def probe_nonce_reuse(t: Target) -> None:
    """RPL-001: a second, different statement under a used (issuer, nonce) is NONCE_REUSED."""
    s = Session(t, "nonce")
    nonce = os.urandom(16)
    first = s.note(nonce=nonce)
    second = s.note(nonce=nonce)
    s.send(first)
    s.refuse(second, "NONCE_REUSED")


def probe_retry(t: Target) -> None:
    """RPC-003: the same request again gets the same answer, byte for byte, and nothing new signed."""
    s = Session(t, "retry")
    note = s.note(audience=t.did)
    first = [a.envelope for a in s.send(note)]
    again = t.exchange(note.envelope, s.setup)
    if isinstance(again, Rejection):
        raise ProbeFailed(f"a retried request was refused {again}; RPC-003 wants the first answer again")
    if again != first:
        raise ProbeFailed(
            "a retried request got a different answer (RPC-003: the same envelopes, nothing re-signed)"
        )


def probe_equivocation(t: Target) -> None:
    """CHN-004: two statements of one issuer at one seq: the second is EQUIVOCATION."""
    s = Session(t, "equivocation")
    agent = s.party.agent
    first = s.note()
    agent.writer = ChainWriter(agent.key, next_seq=first.header.seq, prev=first.header.prev)
    second = s.note()
    s.send(first)
    s.refuse(second, "EQUIVOCATION")


def probe_broken_link(t: Target) -> None:
    """CHN-003: a statement whose prev is not its held predecessor's digest is CHAIN_BROKEN."""
    s = Session(t, "link")
    s.send(s.note())
    s.party.agent.writer.prev = os.urandom(32)
    s.refuse(s.note(), "CHAIN_BROKEN")


def probe_expired_offer(t: Target) -> None:
    """NEG-007: an Offer that expired 5 s ago (fresh under the skew) gets no Accept dated after it."""
    s = Session(t, "late")
    now = s.now()
    offer = s.party.sign(
        "offer", s.party.proposal(), audience=t.did, issued_at_ms=now - 20_000, ttl_ms=15_000
    )
    got = t.exchange(offer.envelope, s.setup)
    if isinstance(got, Rejection):
        return  # refusing to answer a lapsed offer is conformant
    s.verifier.accept_statement(offer, ours=True)
    for env in got:
        try:
            s.verifier.accept(env, s.now())
        except CoopError as exc:
            raise ProbeFailed(
                f"the target's {_body(env)} to an expired Offer does not verify: {exc}"
            ) from None


def probe_exclusive(t: Target) -> None:
    """NEG-009: the target does not accept a second Offer of an exclusive_key its proposer holds."""
    s = Session(t, "exclusive")
    _accepted(s.send(s.offer(exclusive_key=b"gpu-slot-1")))
    s.send(s.offer(exclusive_key=b"gpu-slot-1"))  # an Accept fails EXCLUSIVE_CONFLICT here


def probe_ack(t: Target) -> None:
    """RPC-002: a statement addressed to the target that needs no other answer gets one Ack of it."""
    s = Session(t, "ack")
    note = s.note(audience=t.did)
    answers = s.send(note)
    if [a.body for a in answers] != ["ack"]:
        raise ProbeFailed(f"answered {[a.body for a in answers]}; RPC-002 wants exactly one Ack")
    if answers[0].statement.ack.statement != note.digest or answers[0].issuer != t.did:
        raise ProbeFailed("the Ack does not name the request's digest (RPC-002, STM-012)")


def probe_offer_answer(t: Target) -> None:
    """RPC-002: the answer to an Offer is the target's Mandate, then what it signed (verifiable)."""
    s = Session(t, "answer")
    offer = s.offer()
    got = t.exchange(offer.envelope, s.setup)
    if isinstance(got, Rejection):
        raise ProbeFailed(f"a fair Offer was refused: {got}")
    first = verify_statement(got[0]) if got else None
    if first is None or first.body != "mandate" or first.statement.mandate.agent != t.did:
        raise ProbeFailed("the answer to an Offer does not start with the target's Mandate (RPC-002)")
    s.verifier.accept_statement(offer, ours=True)
    for env in got:
        try:
            s.verifier.accept(env, s.now())
        except CoopError as exc:
            raise ProbeFailed(f"the target's {_body(env)} does not verify: {exc}") from None


def probe_getlog_range(t: Target) -> None:
    """RPC-011: GetLog from_seq 2^53 is REQUEST_INVALID; 2^53 - 1 is an empty page."""
    past = t.get_log(MAX_INT + 1)
    check_rejection(past if isinstance(past, Rejection) else [], "REQUEST_INVALID", "GetLog(from_seq=2^53)")
    page = t.get_log(MAX_INT)
    if isinstance(page, Rejection) or page.envelopes:
        raise ProbeFailed(f"GetLog(from_seq=2^53-1) should be an empty page, got {page}")


def probe_malformed_request(t: Target) -> None:
    """RPC-007: request bytes that are no ExchangeRequest fail INVALID_ARGUMENT."""
    got = t.call("Exchange", b"\x0a\xff\xff")
    if not isinstance(got, Rejection) or got.status != grpc.StatusCode.INVALID_ARGUMENT:
        what = got if isinstance(got, Rejection) else "a response"
        raise ProbeFailed(f"an unparseable request got {what}; RPC-007 says INVALID_ARGUMENT")


def probe_payload_type(t: Target) -> None:
    """ENV-003: an envelope under another payload type is UNSUPPORTED_PAYLOAD_TYPE."""
    s = Session(t, "ptype")
    offer = s.offer()
    payload = encode_statement(offer.statement)
    s.refuse(
        sign_payload(payload, s.party.agent.key, STATEMENT_PAYLOAD_TYPE.replace("v1", "v2")),
        "UNSUPPORTED_PAYLOAD_TYPE",
    )


def probe_noncanonical(t: Target) -> None:
    """STM-002: the body before the header (fields out of order) is NONCANONICAL_ENCODING."""
    s = Session(t, "order")
    stmt = s.offer().statement
    header_only, body_only = Statement(), Statement()
    header_only.header.CopyFrom(stmt.header)
    body_only.CopyFrom(stmt)
    body_only.ClearField("header")
    payload = body_only.SerializeToString(deterministic=True) + header_only.SerializeToString(
        deterministic=True
    )
    s.refuse(sign_payload(payload, s.party.agent.key), "NONCANONICAL_ENCODING")


def probe_version(t: Target) -> None:
    """STM-003: header.version 2 is UNSUPPORTED_VERSION."""
    s = Session(t, "version")
    stmt = s.offer().statement
    stmt.header.version = 2
    s.refuse(sign_payload(encode_statement(stmt), s.party.agent.key), "UNSUPPORTED_VERSION")


def probe_keyid(t: Target) -> None:
    """STM-004: an Offer in our name signed by another key is KEYID_MISMATCH."""
    s = Session(t, "keyid")
    stmt = s.offer().statement
    s.refuse(sign_payload(encode_statement(stmt), Keypair.from_seed(os.urandom(32))), "KEYID_MISMATCH")


# Order matters only on a shared target: the checkpoint probe first, while the probe can still hold
# every statement of a fresh target.
def probe_gossip_moves_no_trade(t: Target) -> None:
    """ATT-019: a Delivery handed over in a Gossip swap is not taken; sent next as a request, it is
    answered (a Receipt or an Ack), not refused as a statement the target already holds."""
    s = Session(t, "gossip")
    accept = next((a for a in s.send(s.offer()) if a.body == "accept"), None)
    if accept is None:
        raise ProbeFailed("the target did not accept a fair Offer; the probe needs a contract")
    # Dated now, not at the Offer's time: the Accept is dated after the Offer, and a Delivery dated
    # before the contract is refused (NEG-014) -- on a loaded machine the minimal peer refused it so.
    s.now()
    delivery = s.party.sign(
        "delivery",
        commitment_pb2.Delivery(contract=accept.digest, item_index=0, artifact_digest=os.urandom(32)),
        audience=t.did,
        negotiation_id=accept.header.negotiation_id,
    )
    t.call("Gossip", service_pb2.GossipRequest(envelopes=[delivery.envelope]).SerializeToString())
    got = t.exchange(delivery.envelope, s.setup)
    if isinstance(got, Rejection) or not got:
        answered = got or "nothing"
        raise ProbeFailed(f"the Delivery sent after the swap got {answered}: the swap moved the trade")


def probe_gossip_proof_links(t: Target) -> None:
    """ATT-025: an answer proof (Alice's Accept and Reject of Bob's offer naming escrow E, which the target
    does not hold) handed over with that offer, E's Mandate and E's Stamp of the pair is passed on with all
    three: the offer names the answers' witnessing escrow. A target that passes on no proof passes (ATT-011
    is a SHOULD, as the suite's case reads it)."""
    clock = FixedClock(wall_clock_ms() - BACKDATE_MS)
    alice, bob, escrow = (Party(f"links-{who}-{os.urandom(6).hex()}", clock) for who in ("a", "b", "e"))
    offer = bob.offer(alice, bob.proposal(escrow=escrow.did))
    pair = alice.accept(offer), alice.reject(offer, "no, after all")
    stamp = escrow.sign("stamp", commitment_pb2.Stamp(statements=[vs.digest for vs in pair]))
    carried = [offer.envelope, escrow.mandate_vs.envelope, stamp.envelope]
    proof = service_pb2.ForkProof(first=pair[0].envelope, second=pair[1].envelope, stamps=carried)
    for request in (service_pb2.GossipRequest(proofs=[proof]), service_pb2.GossipRequest()):
        got = t.call("Gossip", request.SerializeToString())
        if isinstance(got, Rejection):
            raise ProbeFailed(f"a swap was refused: {got}")
    back = service_pb2.GossipResponse.FromString(got).proofs
    sent = [p for p in back if {p.first, p.second} == {proof.first, proof.second}]
    if sent and not all(env in sent[0].stamps for env in carried):
        raise ProbeFailed(
            "the proof was passed on without the offer that links it to its escrow, or E's Stamp"
        )


def probe_gossip_untrusted_stamp(t: Target) -> None:
    """ATT-013 (d): Erin's key forks its chain with two Deliveries at one seq of her contract with Bob under
    an escrow U this probe mints; her principal's revocation reaches the second, which U stamped before it
    stamped the revocation. Handed the proof with its links, U's Stamps and the revocation, a target that
    trusts no such escrow spares the principal: it passes the proof on with the revocation (ATT-024)."""
    clock = FixedClock(wall_clock_ms() - 5_000)
    erin, bob, escrow = (Party(f"untrusted-{who}-{os.urandom(6).hex()}", clock) for who in ("e", "b", "u"))
    binding = erin.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle.root([])))
    offer = bob.offer(erin, bob.proposal(escrow=escrow.did))
    contract = erin.accept(offer)
    seq, prev = erin.agent.writer.next_seq, erin.agent.writer.prev
    first = erin.deliver(contract, bob)
    erin.agent.writer.next_seq, erin.agent.writer.prev = seq, prev  # a second Delivery at its seq
    clock.advance(1)
    second = erin.deliver(contract, bob)
    back = identity_pb2.KeyRevocation(key=erin.did, effective_ms=second.issued_at_ms, reason="leaked")
    revocation = erin.principal.sign("key_revocation", back)
    stamps = [escrow.sign("stamp", commitment_pb2.Stamp(statements=[s.digest])) for s in (second, revocation)]
    proof = service_pb2.ForkProof(
        first=first.envelope,
        second=second.envelope,
        revocations=[revocation.envelope, stamps[1].envelope],
        stamps=[contract.envelope, offer.envelope, escrow.mandate_vs.envelope, stamps[0].envelope],
    )
    given = service_pb2.GossipRequest(envelopes=[*erin.setup, binding.envelope], proofs=[proof])
    for request in (given, service_pb2.GossipRequest()):
        got = t.call("Gossip", request.SerializeToString())
        if isinstance(got, Rejection):
            raise ProbeFailed(f"a swap was refused: {got}")
    back_proofs = service_pb2.GossipResponse.FromString(got).proofs
    sent = [p for p in back_proofs if {p.first, p.second} == {proof.first, proof.second}]
    if not sent:
        raise ProbeFailed("the target does not pass on the proof it was given")
    if revocation.envelope not in sent[0].revocations:
        raise ProbeFailed("the principal was convicted on a Stamp by an escrow the target does not trust")


OPEN_CAP_PROBE: Final = 320  # the reference peer caps one key's open negotiations at 256


def probe_context_offer_over_cap(t: Target) -> None:
    """RPC-012: one key opens negotiations (Offers accepted, the target giving nothing of value) until
    it is refused RATE_LIMITED; then a Delivery of a new negotiation with that negotiation's opening
    Offer as context is RATE_LIMITED too: the Offer would open one more. A target that caps none
    within reach passes (a limit is a MAY)."""
    s = Session(t, "open-cap")

    def gift() -> VerifiedStatement:
        deadline = s.now() + DAY_MS
        proposal = s.party.proposal(
            gives=[service("code-review", value=1, deadline_ms=deadline)],
            wants=[service("copy-editing", value=0, deadline_ms=deadline)],
        )
        return s.party.sign("offer", proposal, audience=t.did)

    for opened in range(OPEN_CAP_PROBE):
        got = t.exchange(gift().envelope, s.setup)
        if isinstance(got, Rejection):
            check_rejection(got, "RATE_LIMITED", f"opening offer {opened + 1}")
            break
    else:
        return  # no cap within reach: nothing to show (the limit is a MAY)
    offer = gift()
    delivery = s.party.sign(
        "delivery",
        commitment_pb2.Delivery(contract=offer.digest, item_index=0),
        audience=t.did,
        negotiation_id=offer.header.negotiation_id,
    )
    s.refuse(delivery, "RATE_LIMITED", context=[*s.setup, offer.envelope])


PROBES: Final[dict[str, Callable[[Target], None]]] = {
    "checkpoint-root": probe_checkpoint_root,
    "own-chain": probe_own_chain,
    "bad-signature": probe_bad_signature,
    "high-s": probe_high_s,
    "payload-type": probe_payload_type,
    "noncanonical": probe_noncanonical,
    "version": probe_version,
    "keyid": probe_keyid,
    "wrong-audience": probe_wrong_audience,
    "revoked-key": probe_revoked_key,
    "mandate-violation": probe_mandate_violation,
    "budget": probe_budget,
    "ratchet": probe_ratchet,
    "issued-in-future": probe_issued_in_future,
    "expired-beyond-skew": probe_expired_beyond_skew,
    "expired-within-skew": probe_expired_within_skew,
    "not-yet-valid": probe_not_yet_valid,
    "dated-back": probe_dated_back,
    "nonce-reuse": probe_nonce_reuse,
    "retry": probe_retry,
    "equivocation": probe_equivocation,
    "broken-link": probe_broken_link,
    "expired-offer": probe_expired_offer,
    "exclusive": probe_exclusive,
    "ack": probe_ack,
    "offer-answer": probe_offer_answer,
    "gossip-moves-no-trade": probe_gossip_moves_no_trade,
    "gossip-proof-links": probe_gossip_proof_links,
    "gossip-untrusted-stamp": probe_gossip_untrusted_stamp,
    "getlog-range": probe_getlog_range,
    "malformed-request": probe_malformed_request,
    "context-offer-over-cap": probe_context_offer_over_cap,
}


def run_probes(address: str, names: Sequence[str] | None = None) -> dict[str, str]:
    """Run probes against ``address``; name -> "" when it passed, else why it failed.

    Raises:
        grpc.RpcError: the target is unreachable.
    """
    target = Target(address)
    try:
        results = {}
        for name in names or PROBES:
            try:
                PROBES[name](target)
                results[name] = ""
            except ProbeFailed as exc:
                results[name] = str(exc) or "failed"
            except CoopError as exc:  # something the target signed does not verify
                results[name] = f"a statement of the target's does not verify: {exc}"
        return results
    finally:
        target.close()
