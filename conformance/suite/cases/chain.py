"""Hash chains and equivocation (SPEC 6.7-6.9, CHN-001..CHN-007): the suite's chains break one rule;
the target's chain is checked from what it signs."""

from __future__ import annotations

from itertools import pairwise

from a2a_coop._proto.a2acoop.v1 import service_pb2
from a2a_coop.protocol.chain import EquivocationProof, verify_equivocation_proof
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from conformance.suite.context import Context
from conformance.suite.flows import (
    fair_proposal,
    forge,
    open_negotiation,
    open_without_contract,
    refuses,
    target,
)
from conformance.suite.model import CaseFailed, Level, Outcome, case


@case(
    "chn.broken-prev",
    "A statement whose prev is not its predecessor's digest is refused CHAIN_BROKEN",
    "CHN-003",
    "CHN-001",
    "ERR-003",
)
def broken_prev(ctx: Context) -> Outcome:
    """After an accepted Offer (seq 0), Alice's second Offer (seq 1) names a prev that is not the
    first Offer's digest; then the valid seq 1."""
    opened = open_negotiation(ctx)
    alice = opened.party
    bad = forge(
        alice,
        "offer",
        fair_proposal(alice),
        audience=ctx.target,
        mutate=lambda s: setattr(s.header, "prev", b"\x5a" * 32),
    )
    valid = alice.offer(target(ctx), fair_proposal(alice))
    return Outcome.passed(refuses(ctx, bad, "CHAIN_BROKEN", what="a prev that does not link", then=valid))


@case(
    "chn.equivocation",
    "A second statement at an accepted seq is refused EQUIVOCATION, with the proof",
    "CHN-004",
    "RPC-006",
)
def equivocation(ctx: Context) -> Outcome:
    """Alice's seq 0 Offer is accepted (an unfair one: no contract, which her forked chain could not
    close); a different seq 0 statement (another Offer) follows. The
    refusal must be EQUIVOCATION; the two envelopes SHOULD come back as evidence (RPC-006), and if
    they do they must form a valid equivocation proof."""
    opened = open_without_contract(ctx)
    alice = opened.party
    alice.agent.writer.next_seq, alice.agent.writer.prev = 0, b""
    bad = forge(alice, "offer", fair_proposal(alice, value=501), audience=ctx.target)
    err = ctx.expect_rejection(
        ctx.exchange(bad, note="a second statement at seq 0"), "EQUIVOCATION", what="a second seq 0"
    )
    if len(err.evidence) < 2:
        raise CaseFailed(
            "EQUIVOCATION came without the two statements as evidence (RPC-006)", Level.NON_STRICT
        )
    try:
        verify_equivocation_proof(EquivocationProof(err.evidence[0], err.evidence[1]))
    except CoopError as exc:
        raise CaseFailed(f"the evidence is not a valid equivocation proof: {exc}") from None
    return Outcome.passed("refused EQUIVOCATION with a valid proof as evidence")


@case("chn.time-inversion", "A statement dated before its predecessor is refused CHAIN_BROKEN", "CHN-005")
def time_inversion(ctx: Context) -> Outcome:
    """Alice's seq 0 Offer is dated now; her seq 1 Offer 20 s earlier (still within the skew)."""
    opened = open_negotiation(ctx)
    alice = opened.party
    earlier = opened.offer.header.issued_at_ms - 20_000
    bad = forge(alice, "offer", fair_proposal(alice), audience=ctx.target, issued_at_ms=earlier)
    return Outcome.passed(refuses(ctx, bad, "CHAIN_BROKEN", what="a statement dated before its predecessor"))


@case("chn.sparse-gap", "A live receiver may accept a chain with a gap (sparse mode)", "CHN-006")
def sparse_gap(ctx: Context) -> Outcome:
    """Alice's first statement to the target is at seq 5 (0-4 went elsewhere). Sparse receivers accept
    it (PASS); a complete-chain receiver refuses CHAIN_GAP (SKIP: the MAY is not taken)."""
    alice = ctx.party()
    for _ in range(5):
        alice.sign(
            "ack",
            __import__("a2a_coop._proto.a2acoop.v1.commitment_pb2", fromlist=["x"]).Ack(
                statement=b"\x01" * 32
            ),
            audience=ctx.party("carol").did,
        )
    offer = alice.offer(target(ctx), fair_proposal(alice))
    reply = ctx.exchange(offer.envelope, alice.setup, note="an offer at seq 5")
    if reply.error is not None:
        if reply.error.reason == "CHAIN_GAP":
            return Outcome.skipped("the target verifies complete chains (CHAIN_GAP): sparse mode not offered")
        raise CaseFailed(f"an offer at seq 5 was refused {reply.error.reason or reply.error.status.name}")
    return Outcome.passed("accepted a statement at seq 5 with seq 0-4 unseen")


@case(
    "chn.target-chain",
    "Everything the target signs forms one chain: distinct seqs, linked prevs, times not decreasing",
    "CHN-001",
    "CHN-005",
    "STM-006",
)
def target_chain(ctx: Context) -> Outcome:
    """Trade to fulfilment, then read the target's log: every statement it signed in the run so far
    (its answers in this case plus its GetLog and Checkpoint) must fit one chain."""
    from conformance.suite.flows import form_contract

    contract = form_contract(ctx)
    alice = contract.party
    for d in contract.deliveries:
        ctx.send(alice.receipt(d), note="our receipt of its delivery")
    ctx.send(alice.deliver(contract.accept, target(ctx)), note="our delivery")
    log = ctx.call("GetLog", service_pb2.GetLogRequest(from_seq=0, limit=0), note="its public log")
    envelopes = list(ctx.session.signed.values()) + (log.envelopes if log.ok else [])
    by_seq: dict[int, VerifiedStatement] = {}
    for env in envelopes:
        vs = verify_statement(env)
        if vs.issuer != ctx.target:
            continue
        other = by_seq.setdefault(vs.header.seq, vs)
        ctx.must(other.digest == vs.digest, f"the target signed two statements at seq {vs.header.seq}")
    chain = [by_seq[s] for s in sorted(by_seq)]
    for a, b in pairwise(chain):
        if b.header.seq == a.header.seq + 1:
            ctx.must(
                b.header.prev == a.digest,
                f"the target's seq {b.header.seq} does not link to its seq {a.header.seq}",
            )
        ctx.must(
            b.header.issued_at_ms >= a.header.issued_at_ms,
            f"the target's seq {b.header.seq} is dated before its seq {a.header.seq}",
        )
    return Outcome.passed(f"{len(chain)} statements of the target's chain seen; consistent")
