"""The edges of rules: a time just past the skew and just inside it, an Offer that expired seconds ago,
a key revoked by itself, the target's own signatures and Checkpoint root.

The other cases put every defect far past its threshold, so that a target whose clock is off still
gets exact verdicts; these test the threshold itself, a few seconds on either side of it, measured on
the target's clock (the suite's clock follows the statements the target signs). A target whose clock is
off by more than :data:`EDGE_MS` from the last statement it signed can get a wrong verdict here.
"""

from __future__ import annotations

from a2a_coop._proto.a2acoop.v1 import identity_pb2, service_pb2
from a2a_coop.protocol import merkle
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.identity import Keypair
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.testing import DAY_MS, Party, derive
from conformance.suite.context import Context
from conformance.suite.flows import SKEW_MS, fair_proposal, open_negotiation, target
from conformance.suite.model import CaseFailed, Outcome, case

EDGE_MS = 5_000  # how far on either side of a threshold the edge cases stand


def _note(party: Party, *, issued_at_ms: int, ttl_ms: int) -> VerifiedStatement:
    """A public statement the target takes outside any negotiation: a Mandate, signed by the suite's
    agent key, for a throwaway key (a principal body: no mandate, no audience)."""
    now = party.clock.now_ms
    body = identity_pb2.Mandate(
        agent=Keypair.from_seed(derive(f"note/{party.name}/{issued_at_ms}/{ttl_ms}")).did,
        valid_from_ms=now - DAY_MS,
        valid_until_ms=now + DAY_MS,
        currency="credit",
    )
    return party.agent.sign("mandate", body, issued_at_ms=issued_at_ms, ttl_ms=ttl_ms)


def _sync(ctx: Context) -> int:
    """Send one fresh public statement, from an identity of its own (a later statement of the same
    chain may not be dated before it, CHN-005), so that the suite's clock catches up with the target's:
    the target's clock as well as the suite knows it."""
    clock = ctx.party("clock")
    ctx.send(_note(clock, issued_at_ms=ctx.clock.now_ms, ttl_ms=60_000), clock.setup, note="clock sync")
    return ctx.clock.now_ms


@case(
    "tim.expired-just-past-skew",
    "A statement that expired just past the skew (skew + 5 s ago) is refused EXPIRED",
    "TIM-001",
)
def expired_just_past(ctx: Context) -> Outcome:
    """A public statement issued 65 s ago that expired 35 s ago (skew 30 s): EXPIRED. A verifier that
    allows twice the skew, or measures from issued_at, takes it."""
    alice = ctx.party()
    now = _sync(ctx)
    bad = _note(alice, issued_at_ms=now - SKEW_MS - EDGE_MS - 30_000, ttl_ms=30_000)
    ctx.expect_rejection(
        ctx.exchange(bad.envelope, note="expired 35 s ago"), "EXPIRED", what="a statement expired 35 s ago"
    )
    return Outcome.passed("refused EXPIRED 5 s past the skew")


@case(
    "tim.expired-within-skew",
    "A statement that expired less than the skew ago (10 s) is still accepted",
    "TIM-001",
    "TIM-004",
)
def expired_within(ctx: Context) -> Outcome:
    """A public statement issued 25 s ago that expired 10 s ago: within the 30 s skew, so it must be
    accepted (TIM-001: expired iff now > expires_at + skew). A verifier that ignores the skew refuses it."""
    alice = ctx.party()
    now = _sync(ctx)
    ok = _note(alice, issued_at_ms=now - 25_000, ttl_ms=15_000)
    reply = ctx.exchange(ok.envelope, note="expired 10 s ago")
    if reply.error is not None:
        raise CaseFailed(
            "a statement that expired 10 s ago (inside the 30 s skew) was refused "
            f"{reply.error.reason or reply.error.status.name} (TIM-001)"
        )
    ctx.sent(ok)
    ctx.verify_signed(reply.envelopes, what="its answer")
    return Outcome.passed("accepted 10 s after expires_at, inside the skew")


@case(
    "neg.expired-offer-no-accept",
    "An Offer that expired seconds ago (still fresh under the skew) is not accepted",
    "NEG-007",
)
def expired_offer(ctx: Context) -> Outcome:
    """An Offer issued 20 s ago with a 15 s lifetime: fresh under the skew, but the negotiation has
    EXPIRED, so no Accept may answer it. Refusing the Offer, rejecting it or answering nothing are all
    conformant; an Accept (which the shadow verifier refuses: it is dated after the offer expired) is not."""
    alice = ctx.party()
    now = _sync(ctx)
    offer = alice.offer(target(ctx), fair_proposal(alice), issued_at_ms=now - 20_000, ttl_ms=15_000)
    reply = ctx.exchange(offer.envelope, alice.setup, note="an Offer that expired 5 s ago")
    if reply.error is not None:
        return Outcome.passed(f"refused the lapsed Offer ({reply.error.reason or reply.error.status.name})")
    for env in alice.setup:
        ctx.hold(env)
    ctx.sent(offer)
    answers = ctx.verify_signed(reply.envelopes, what="its answer to a lapsed Offer")
    ctx.must(
        all(a.body != "accept" for a in answers), "the target accepted an Offer after it expired (NEG-007)"
    )
    return Outcome.passed(f"answered {', '.join(a.body for a in answers) or 'nothing'}; no Accept")


@case(
    "key.self-revoked",
    "A statement by a key that revoked itself (the revocation as context) is refused KEY_REVOKED",
    "KEY-004",
)
def self_revoked(ctx: Context) -> Outcome:
    """The suite's agent key signs a KeyRevocation of itself effective a second ago, sent as context of
    an Offer by the same key: KEY_REVOKED. (key.principal-revoked covers a principal revoking its
    Mandate; this is the key's own revocation, which a verifier must also consult.)"""
    alice = ctx.party()
    now = ctx.clock.now_ms
    revocation = alice.agent.sign(
        "key_revocation",
        identity_pb2.KeyRevocation(key=alice.did, effective_ms=now - 1_000, reason="conformance"),
    )
    offer = alice.offer(target(ctx), fair_proposal(alice))
    reply = ctx.exchange(
        offer.envelope, [*alice.setup, revocation.envelope], note="an Offer by a revoked key"
    )
    ctx.expect_rejection(reply, "KEY_REVOKED", what="an Offer by a key that revoked itself")
    return Outcome.passed("refused KEY_REVOKED")


@case(
    "env.target-signatures",
    "The target's own statements verify: its GetCheckpoint answer is signed over PAE",
    "ENV-002",
    "ENV-006",
)
def target_signatures(ctx: Context) -> Outcome:
    """The Checkpoint the target served when the run connected, verified with the reference verifier
    (a signer that signs the bare payload instead of PAE(type, payload) fails here), and a fresh one."""
    error = ctx.session.info.checkpoint_error
    ctx.must(not error, f"the target's own Checkpoint does not verify: {error} (ENV-002, ENV-006)")
    reply = ctx.call("GetCheckpoint", service_pb2.GetCheckpointRequest(), note="a fresh Checkpoint")
    ctx.must(reply.ok and bool(reply.envelopes), "GetCheckpoint failed")
    try:
        verify_statement(reply.envelopes[0])
    except CoopError as exc:
        raise CaseFailed(f"the target's Checkpoint does not verify: {exc} (ENV-002, ENV-006)") from None
    return Outcome.passed("its Checkpoints verify")


@case(
    "chn.checkpoint-root",
    "The target's Checkpoint log_root is the RFC 6962 tree hash of its statements 0..seq-1",
    "CHN-007",
)
def checkpoint_root(ctx: Context) -> Outcome:
    """Everything the target signed in this run went to a suite identity or is public (GetLog), so on a
    target with no history before the run the suite holds its whole chain and recomputes the root of
    its current Checkpoint. With history the suite cannot see, INFO."""
    open_negotiation(ctx)  # the target signs something, so its Checkpoint has a root to check
    reply = ctx.call("GetCheckpoint", service_pb2.GetCheckpointRequest(), note="the head")
    ctx.must(reply.ok and bool(reply.envelopes), "GetCheckpoint failed")
    checkpoint = ctx.verify_signed(reply.envelopes, what="GetCheckpoint's answer")[0]
    held: dict[int, bytes] = {}
    for env in ctx.session.signed.values():
        vs = verify_statement(env)
        held[vs.header.seq] = vs.digest
    seq, page = 0, 0
    while page < 1_000:
        log = ctx.call("GetLog", service_pb2.GetLogRequest(from_seq=seq, limit=0), note="the public log")
        if not log.ok or not log.envelopes:
            break
        for env in log.envelopes:
            vs = verify_statement(env)
            held[vs.header.seq] = vs.digest
        seq, page = max(verify_statement(e).header.seq for e in log.envelopes) + 1, page + 1
        if seq > log.message.head_seq:
            break
    n = checkpoint.header.seq
    missing = [i for i in range(n) if i not in held]
    if missing:
        return Outcome.info(
            f"the target signed {len(missing)} of its first {n} statements before this run or to others: "
            "the root cannot be recomputed (run against a fresh target)"
        )
    root = merkle.root([held[i] for i in range(n)])
    ctx.must(
        checkpoint.statement.checkpoint.log_root == root,
        f"the Checkpoint at seq {n} commits to another log than the statements the target signed (CHN-007)",
    )
    return Outcome.passed(f"log_root of seq {n} recomputed from {n} statements")
