"""Replay and idempotency (SPEC 6.6, RPL-001, RPL-002, RPC-003)."""

from __future__ import annotations

from a2a_coop.protocol.statements import verify_statement
from conformance.suite.context import Context, Reply
from conformance.suite.flows import fair_proposal, forge, open_negotiation, refuses, target
from conformance.suite.model import CaseFailed, Outcome, case


@case(
    "rpl.retry-same-answer",
    "The same request again gets the same answers first and nothing new is signed",
    "RPC-003",
    "RPL-002",
    "RPC-022",
)
def retry_same_answer(ctx: Context) -> Outcome:
    """Send an opening Offer, then the same envelope again: the answer must begin with the first one,
    byte for byte (the target's Mandate, its Accept, ...: RPC-003, RPC-022), and anything after it must
    be the target's own statements of the Offer's negotiation and the Mandates they cite (a Delivery it
    gives beside every answer there, WIT-008); a target that refuses the retry with REPLAYED fails: RPL-002
    lets a transport answer a repeat as the first time, and RPC-003 requires exactly that of the gRPC
    binding."""
    opened = open_negotiation(ctx)
    first = [a.envelope for a in opened.answers]
    reply = ctx.exchange(opened.offer.envelope, opened.party.setup, note="the same offer again (a retry)")
    if reply.error is not None:
        raise CaseFailed(
            f"a retried request was refused ({reply.error.reason or reply.error.status.name}); "
            "RPC-003 requires the first answer again"
        )
    if reply.envelopes[: len(first)] != first:
        raise CaseFailed(
            f"the retry's {len(reply.envelopes)} envelopes do not begin with the {len(first)} of the first "
            "answer, byte for byte and in order (RPC-022)"
        )
    after = ctx.verify_signed(
        reply.envelopes[len(first) :], what="what the retry gave after the first answer"
    )
    cited = {vs.header.mandate for vs in after}
    for vs in after:
        ours = vs.issuer == ctx.target and vs.header.negotiation_id == opened.offer.negotiation_id
        ctx.must(
            ours or vs.digest in cited,
            f"the retry gave a {vs.body} after the first answer that is no statement of the target's in "
            "the offer's negotiation, nor a Mandate one cites (RPC-022)",
        )
    extra = f", then {len(after)} of the negotiation's since" if after else ""
    return Outcome.passed(f"the retry got the same {len(first)} envelopes first{extra}")


@case(
    "rpl.nonce-reused", "A different statement reusing an accepted nonce is refused NONCE_REUSED", "RPL-001"
)
def nonce_reused(ctx: Context) -> Outcome:
    """After an accepted Offer, Alice's next statement (a second opening Offer, at the next seq) reuses
    the first Offer's nonce."""
    opened = open_negotiation(ctx)
    alice = opened.party
    nonce = opened.offer.header.nonce

    def reuse(s):  # type: ignore[no-untyped-def]
        from a2a_coop.protocol.statements import negotiation_id_for

        s.header.nonce = nonce
        s.header.negotiation_id = negotiation_id_for(s.header.issuer, nonce)

    bad = forge(alice, "offer", fair_proposal(alice), audience=ctx.target, mutate=reuse)
    valid = alice.offer(target(ctx), fair_proposal(alice))
    return Outcome.passed(refuses(ctx, bad, "NONCE_REUSED", what="a reused nonce", then=valid))


@case(
    "rpl.relayed-replay",
    "A statement already accepted, sent inside a different request, is not processed twice",
    "RPL-002",
    "ERR-003",
)
def relayed_replay(ctx: Context) -> Outcome:
    """Send Alice's accepted Offer again with an extra, unneeded context envelope (a different request
    carrying the same statement): the target must answer as before (RPC-003) or refuse REPLAYED --
    and in both cases sign nothing new (its log head does not move)."""
    from a2a_coop._proto.a2acoop.v1 import service_pb2

    opened = open_negotiation(ctx)
    before = ctx.call("GetCheckpoint", service_pb2.GetCheckpointRequest(), note="the target's head before")
    carol = ctx.party("carol")
    reply = ctx.exchange(
        opened.offer.envelope, [*opened.party.setup, *carol.setup], note="the same offer, more context"
    )
    if reply.error is not None and reply.error.reason != "REPLAYED":
        raise CaseFailed(
            f"refused with {reply.error.reason or reply.error.status.name}, "
            "expected the first answer or REPLAYED"
        )
    if reply.ok:
        first = [a.envelope for a in opened.answers]
        ctx.must(reply.envelopes == first, "the statement was processed again: a different answer")
    after = ctx.call("GetCheckpoint", service_pb2.GetCheckpointRequest(), note="the target's head after")
    if before.ok and after.ok:
        ctx.must(_seq(after) == _seq(before), "the target signed something for a replayed statement")
    return Outcome.passed("answered as before, nothing signed")


def _seq(reply: Reply) -> int:
    """The seq of the Checkpoint a GetCheckpoint answered with: the target's head."""
    return verify_statement(reply.envelopes[0]).header.seq
