"""The target as initiator (through ConformanceControlService, SPEC 18.2): it opens a negotiation with the
suite, which answers each move -- accept, counter, reject, or a defective answer the target's
verifier must refuse. SKIP when the target does not serve the optional control service."""

from __future__ import annotations

from collections.abc import Callable

from a2a_coop._proto.a2acoop.v1 import trade_pb2
from a2a_coop.protocol.envelope import decode_envelope
from a2a_coop.protocol.errors import by_code
from a2a_coop.protocol.negotiation import State
from a2a_coop.protocol.statements import VerifiedStatement
from conformance.suite.context import Context
from conformance.suite.flows import counterparty, with_signature
from conformance.suite.initiator import Initiated, ack, initiate
from conformance.suite.model import Capability, CaseFailed, Outcome, Role, Runner, case


def _ini(case_id: str, title: str, *requirements: str) -> Callable[[Runner], Runner]:
    return case(case_id, title, *requirements, role=Role.INITIATOR, capability=Capability.CONTROL)


def _state(ctx: Context, nid: bytes) -> State:
    return ctx.shadow.negotiations.get(nid).state


def _offer_of(done: Initiated) -> VerifiedStatement:
    offer = next((vs for vs in done.received if vs.body == "offer"), None)
    if offer is None:
        raise CaseFailed("the target did not send us an Offer")
    return offer


def _refused(done: Initiated, code: str, what: str) -> str:
    """The Initiate call must fail with the target's verifier refusing our answer with ``code``."""
    if done.error is None:
        raise CaseFailed(f"the target took {what} (expected its verifier to refuse it {code})")
    if done.error.reason != code:
        raise CaseFailed(
            f"the target refused {what} with {done.error.reason or done.error.status.name}, expected {code}"
        )
    if done.error.status.name != by_code(code).grpc_status:
        raise CaseFailed(f"{code} came with status {done.error.status.name}")
    return f"the target refused {what} with {code}"


@_ini(
    "ini.offer-and-trade",
    "The target's Offer verifies and it carries the trade we accept to FULFILLED",
    "NEG-013",
    "MND-002",
    "NEG-001",
    "RPC-002",
    "NEG-011",
)
def offer_and_trade(ctx: Context) -> Outcome:
    """Ask the target to offer; accept; answer its Delivery with a Receipt and our own Delivery; ack its
    Receipt. Its Offer must verify with its Mandate as context (MND-002), under a derived negotiation id
    (NEG-013); the negotiation must reach FULFILLED in the reference verifier."""
    alice = ctx.party()

    def answer(vs: VerifiedStatement) -> list[bytes]:
        if vs.body == "offer":
            return [alice.accept(vs).envelope]
        if vs.body == "delivery":
            contract = ctx.shadow.statements[vs.statement.delivery.contract]
            return [alice.receipt(vs).envelope, alice.deliver(contract, counterparty(vs.issuer)).envelope]
        return [ack(alice, vs)] if vs.header.audience == alice.did else []

    done = initiate(ctx, answer)
    if done.error is not None:
        raise CaseFailed(
            f"Initiate failed {done.error.reason or done.error.status.name}: "
            f"{done.error.metadata.get('detail', done.error.message)}"
        )
    offer = _offer_of(done)
    ctx.must(offer.header.audience == alice.did, "the Offer is not addressed to us")
    state = _state(ctx, offer.header.negotiation_id)
    ctx.must(state is State.FULFILLED, f"the negotiation ended {state.value}, not FULFILLED")
    ctx.must(done.negotiation_id == offer.header.negotiation_id, "Initiate named another negotiation id")
    return Outcome.passed(f"{len(done.received)} statements from the target, FULFILLED")


@_ini(
    "ini.counter",
    "The target answers our Counter to its Offer (COUNTERED → ACCEPTED, REJECTED or COUNTERED)",
    "NEG-001",
    "NEG-005",
)
def counter(ctx: Context) -> Outcome:
    """Counter the target's Offer with the same proposal from our side; the target's answer must name our
    Counter (NEG-005) and be a legal move from COUNTERED."""
    alice = ctx.party()

    def answer(vs: VerifiedStatement) -> list[bytes]:
        if vs.body == "offer":
            mine = trade_pb2.Offer()
            mine.CopyFrom(vs.statement.offer)
            mine.ClearField("gives")
            mine.ClearField("wants")
            mine.gives.extend(vs.statement.offer.wants)
            mine.wants.extend(vs.statement.offer.gives)
            return [alice.counter(vs, mine).envelope]
        return [ack(alice, vs)] if vs.header.audience == alice.did and vs.body != "ack" else []

    done = initiate(ctx, answer)
    if done.error is not None:
        raise CaseFailed(f"Initiate failed {done.error.reason or done.error.status.name}")
    replies = [vs for vs in done.received if vs.body in ("accept", "reject", "counter", "withdraw")]
    ctx.must(bool(replies), "the target did not answer our Counter")
    first = replies[0]
    named = getattr(first.statement, first.body).offer
    countered = next(
        d for d, vs in ctx.shadow.statements.items() if vs.body == "counter" and vs.issuer == alice.did
    )
    ctx.must(named == countered, f"the target's {first.body} does not name our Counter")
    return Outcome.passed(f"COUNTERED → {first.body}")


@_ini("ini.reject", "The target takes our Reject of its Offer (PROPOSED → REJECTED)", "NEG-001")
def reject(ctx: Context) -> Outcome:
    """Reject the target's Offer: the call completes and the negotiation is REJECTED."""
    alice = ctx.party()
    done = initiate(ctx, lambda vs: [alice.reject(vs, "no thanks").envelope] if vs.body == "offer" else [])
    if done.error is not None:
        raise CaseFailed(f"the target refused our Reject: {done.error.reason or done.error.status.name}")
    state = _state(ctx, _offer_of(done).header.negotiation_id)
    ctx.must(state is State.REJECTED, f"the negotiation is {state.value}, not REJECTED")
    return Outcome.passed("REJECTED")


@_ini("ini.withdraw-not-ours", "Our Withdraw of the target's Offer is refused WRONG_PARTY", "NEG-004")
def withdraw_not_ours(ctx: Context) -> Outcome:
    """Only the outstanding offer's issuer may withdraw it: we answer the target's Offer with a
    Withdraw of it."""
    alice = ctx.party()

    def answer(vs: VerifiedStatement) -> list[bytes]:
        if vs.body != "offer":
            return []
        return [
            alice.sign(
                "withdraw",
                trade_pb2.Withdraw(offer=vs.digest),
                audience=vs.issuer,
                negotiation_id=vs.header.negotiation_id,
                refs=[vs.digest],
            ).envelope
        ]

    done = initiate(ctx, answer)
    return Outcome.passed(_refused(done, "WRONG_PARTY", "our withdraw of its offer"))


@_ini(
    "ini.accept-after-expiry",
    "Our Accept dated after the target's Offer expired is refused ILLEGAL_TRANSITION",
    "NEG-007",
)
def accept_after_expiry(ctx: Context) -> Outcome:
    """The target offers with a 1 s lifetime; we answer with an Accept dated 1 ms after its expiry
    (inside the skew, so only NEG-007 can refuse it)."""
    alice = ctx.party()

    def answer(vs: VerifiedStatement) -> list[bytes]:
        if vs.body != "offer":
            return []
        return [alice.accept(vs, issued_at_ms=vs.header.expires_at_ms + 1).envelope]

    done = initiate(ctx, answer, ttl_ms=1000)
    return Outcome.passed(_refused(done, "ILLEGAL_TRANSITION", "an accept after expiry"))


@_ini(
    "ini.answer-bad-signature",
    "An answer with a bad signature is refused SIGNATURE_INVALID by the initiating target",
    "ENV-006",
    "ERR-003",
)
def answer_bad_signature(ctx: Context) -> Outcome:
    """Our Accept of its Offer with one signature bit flipped."""
    alice = ctx.party()

    def answer(vs: VerifiedStatement) -> list[bytes]:
        if vs.body != "offer":
            return []
        env = alice.accept(vs).envelope
        sig = bytearray(decode_envelope(env).signatures[0].sig)
        sig[0] ^= 1
        return [with_signature(env, sig=bytes(sig))]

    done = initiate(ctx, answer)
    return Outcome.passed(_refused(done, "SIGNATURE_INVALID", "an accept with a bad signature"))


@case(
    "ctl.not-exposed",
    "The test-only control service is served only on loopback or behind mutual TLS",
    "CTL-001",
)
def control_not_exposed(ctx: Context) -> Outcome:
    """If the target serves ConformanceControlService, the suite must have reached it on a loopback address or
    with a client certificate (mutual TLS); served in plaintext on any other address, anyone who reaches
    it can make the target sign offers."""
    served = ctx.session.has_control()
    ctx.record(
        "ConformanceControlService/Initiate",
        {"note": "an empty request: INVALID_ARGUMENT where served, UNIMPLEMENTED elsewhere"},
        {"served": served},
    )
    if not served:
        return Outcome.passed("ConformanceControlService is not served")
    address = ctx.session.control or ctx.session.target
    route = private_route(ctx, address)
    ctx.must(
        route is not None, f"ConformanceControlService is served on {address} without mutual TLS (CTL-001)"
    )
    return Outcome.passed(f"served {route}")


def private_route(ctx: Context, address: str) -> str | None:
    """How the suite reached ``address`` privately -- "on loopback", or "behind mutual TLS" (it presented
    a client certificate) -- or None: in plaintext, or TLS without a client certificate, elsewhere. A
    test-only service that acts on request must be served only so (CTL-001, CTL-002)."""
    host = address.rpartition(":")[0].strip("[]")
    if host in ("localhost", "::1") or host.startswith("127."):
        return "on loopback"
    tls = ctx.session.tls
    return "behind mutual TLS" if tls is not None and tls.certificate_chain is not None else None
