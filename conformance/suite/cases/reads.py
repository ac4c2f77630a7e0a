"""Reading a peer: GetLog, GetCheckpoint, GetAttestations and Gossip (SPEC 13.5, CHN-007, ATT-012,
ATT-014)."""

from __future__ import annotations

from dataclasses import dataclass

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2, service_pb2
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.merkle import root as merkle_root
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.protocol.verifier import verify_transcript
from a2a_coop.testing import Party
from conformance.suite.context import Context
from conformance.suite.escrow import take, trusted_escrow
from conformance.suite.flows import (
    fair_proposal,
    forge,
    form_contract,
    open_negotiation,
    open_without_contract,
    target,
)
from conformance.suite.model import CaseFailed, Level, Outcome, case


@case(
    "read.checkpoint",
    "GetCheckpoint returns a valid Checkpoint of the target's head, and does not sign anew per call",
    "CHN-007",
    "BDY-012",
)
def checkpoint(ctx: Context) -> Outcome:
    """Two GetCheckpoint calls in a row: both verify, are Checkpoints by the target, and are the same
    statement (the head did not move in between)."""
    a = ctx.call("GetCheckpoint", service_pb2.GetCheckpointRequest(), note="first")
    b = ctx.call("GetCheckpoint", service_pb2.GetCheckpointRequest(), note="second")
    ctx.must(a.ok and b.ok, "GetCheckpoint failed")
    va, vb = (ctx.verify_signed(r.envelopes, what="GetCheckpoint's answer")[0] for r in (a, b))
    ctx.must(
        va.body == "checkpoint" and va.issuer == ctx.target,
        f"GetCheckpoint returned a {va.body} by {va.issuer}",
    )
    ctx.must(
        va.digest == vb.digest, "two calls with no change in between signed two Checkpoints", Level.NON_STRICT
    )
    return Outcome.passed(f"Checkpoint at seq {va.header.seq}, the same on both calls")


@case(
    "read.log",
    "GetLog returns the target's public statements, ascending, verifiable, with its head",
    "CHN-001",
    "RPC-001",
)
def log(ctx: Context) -> Outcome:
    """After a trade, GetLog(0, 0): every envelope verifies, is the target's, is public (no caller is
    authenticated), seqs ascend and none exceeds head_seq; the envelopes are the exact bytes the
    target signed (a statement also seen in an answer has the same bytes)."""
    open_negotiation(ctx)
    reply = ctx.call("GetLog", service_pb2.GetLogRequest(from_seq=0, limit=0), note="the whole public log")
    ctx.must(reply.ok, "GetLog failed")
    seqs = []
    for env in reply.envelopes:
        try:
            vs = verify_statement(env)
        except CoopError as exc:
            raise CaseFailed(f"GetLog returned an envelope that does not verify: {exc}") from None
        ctx.must(vs.issuer == ctx.target, "GetLog returned someone else's statement")
        ctx.must(
            vs.header.audience == "",
            f"GetLog returned a statement addressed to {vs.header.audience} to an unauthenticated caller",
        )
        seen = ctx.session.signed.get(vs.digest)
        ctx.must(
            seen is None or seen == env,
            "GetLog returned different bytes for a statement seen before (RPC-001)",
        )
        seqs.append(vs.header.seq)
    ctx.must(seqs == sorted(set(seqs)), "GetLog's seqs are not strictly ascending")
    ctx.must(not seqs or seqs[-1] <= reply.message.head_seq, "a seq above head_seq")
    limited = ctx.call("GetLog", service_pb2.GetLogRequest(from_seq=0, limit=1), note="limit 1")
    ctx.must(limited.ok and len(limited.envelopes) <= 1, "GetLog(limit=1) returned more than one envelope")
    return Outcome.passed(f"{len(seqs)} public statements, head {reply.message.head_seq}")


@case(
    "read.attestations",
    "GetAttestations returns evidence bundles that verify offline and name the subject",
    "ATT-014",
    "ATT-001",
)
def attestations(ctx: Context) -> Outcome:
    """GetAttestations for every subject: each bundle must verify as offline evidence (no other input)
    and end with an Attestation. A target holding none is INFO (nothing to check)."""
    reply = ctx.call(
        "GetAttestations", service_pb2.GetAttestationsRequest(subject=""), note="every attestation"
    )
    ctx.must(reply.ok, "GetAttestations failed")
    bundles = [list(b.envelopes) for b in reply.message.bundles]
    for i, bundle in enumerate(bundles):
        report = verify_transcript(bundle)
        ctx.must(report.valid, f"bundle {i} does not verify offline: {report.error}")
        ctx.must(
            bool(report.statements) and report.statements[-1].body == "attestation",
            f"bundle {i} does not end with an attestation",
        )
    if not bundles:
        return Outcome.info(
            "the target holds no attestations (it attests only escrowed contracts); nothing to verify"
        )
    return Outcome.passed(f"{len(bundles)} bundles verify offline")


@case(
    "read.gossip-fork-proof",
    "Gossip takes a valid fork proof and passes it on; an invalid one is not taken",
    "ATT-012",
    "ATT-011",
    "CHN-004",
)
def gossip_fork_proof(ctx: Context) -> Outcome:
    """Alice's seq 0 Offer is accepted by the target; the suite then gossips a valid fork proof against
    Alice (a second, different seq 0 statement) and an invalid one against Carol (one statement twice).
    The target's answer must carry our Checkpoint-less swap back: its own Checkpoint, and, if it
    passes proofs on (SHOULD), the valid one and never the invalid one."""
    from a2a_coop.protocol.forks import ForkProof

    opened = open_without_contract(ctx)  # no contract: Alice's forked chain could not close it
    alice = opened.party
    alice.agent.writer.next_seq, alice.agent.writer.prev = 0, b""
    other = forge(alice, "offer", fair_proposal(alice, value=21), audience=ctx.target)
    carol = ctx.party("carol")
    lone = forge(carol, "offer", fair_proposal(carol), audience=ctx.target)
    proofs = [ForkProof(opened.offer.envelope, other), ForkProof(lone, lone)]
    req = service_pb2.GossipRequest(
        proofs=[service_pb2.ForkProof(first=p.first, second=p.second) for p in proofs]
    )
    reply = ctx.call("Gossip", req, note="a valid fork proof against alice, an invalid one against carol")
    if reply.error is not None:
        return (
            Outcome.passed(
                f"the swap was refused as a whole ({reply.error.reason or reply.error.status.name}); "
                "the invalid proof was not taken"
            )
            if reply.error.reason
            else _fail(reply.error.status.name)
        )
    back = {(bytes(p.first), bytes(p.second)) for p in reply.message.proofs}
    ctx.must((lone, lone) not in back, "the target took and passed on an invalid fork proof (ATT-012)")
    if not any(opened.offer.envelope in pair or other in pair for pair in back):
        if back:  # a peer passes on a bounded number of proofs; it may hold older ones
            return Outcome.info(
                f"the target passed on {len(back)} other fork proofs, not ours (a bounded list)"
            )
        raise CaseFailed(
            "the target did not pass on a valid fork proof it was given (ATT-011)", Level.NON_STRICT
        )
    return Outcome.passed("kept and passed on the valid proof, not the invalid one")


@case(
    "read.gossip-answer-proof",
    "Gossip takes two answers of one key to one statement as a fork proof; answers to two statements not",
    "ATT-022",
    "ATT-012",
)
def gossip_answer_proof(ctx: Context) -> Outcome:
    """Dave signs a Reject and then an Accept of one Offer of Erin's (two links of his chain, no fork of
    it), and an Accept of another Offer of hers: the first two are an answer proof against Dave (ATT-022),
    checked offline with no other context; his Reject and his Accept of the other Offer prove nothing.
    The suite gossips both pairs: the target MUST NOT pass on the second, SHOULD the first (ATT-011)."""
    from a2a_coop._proto.a2acoop.v1 import trade_pb2
    from a2a_coop.protocol.forks import ForkProof

    dave, erin = ctx.party("dave"), ctx.party("erin")
    offers = [
        forge(erin, "offer", fair_proposal(erin, value=v), audience=dave.did, advance=True) for v in (31, 32)
    ]
    digests = [verify_statement(env).digest for env in offers]
    nid = verify_statement(offers[0]).header.negotiation_id
    reject = forge(
        dave,
        "reject",
        trade_pb2.Reject(offer=digests[0]),
        audience=erin.did,
        negotiation_id=nid,
        advance=True,
    )
    accept = forge(
        dave,
        "accept",
        trade_pb2.Accept(offer=digests[0]),
        audience=erin.did,
        negotiation_id=nid,
        advance=True,
    )
    elsewhere = forge(dave, "accept", trade_pb2.Accept(offer=digests[1]), audience=erin.did, advance=True)
    proofs = [ForkProof(reject, accept), ForkProof(reject, elsewhere)]
    req = service_pb2.GossipRequest(
        proofs=[service_pb2.ForkProof(first=p.first, second=p.second) for p in proofs]
    )
    reply = ctx.call("Gossip", req, note="an answer proof against dave, and two answers to two statements")
    if reply.error is not None:
        return (
            Outcome.passed(f"the swap was refused as a whole ({reply.error.reason}); nothing invalid taken")
            if reply.error.reason
            else _fail(reply.error.status.name)
        )
    back = {(bytes(p.first), bytes(p.second)) for p in reply.message.proofs}
    ctx.must(
        (reject, elsewhere) not in back and (elsewhere, reject) not in back,
        "the target passed on two answers to two statements as a fork proof (ATT-012, ATT-022)",
    )
    if not any(reject in pair and accept in pair for pair in back):
        if back:
            return Outcome.info(
                f"the target passed on {len(back)} other fork proofs, not ours (a bounded list)"
            )
        raise CaseFailed(
            "the target did not pass on an answer proof it was given (ATT-022, ATT-011)", Level.NON_STRICT
        )
    return Outcome.passed("kept and passed on the answer proof, not the two answers to two statements")


@case(
    "read.gossip-moves-no-trade",
    "A Gossip swap moves no trade: a Delivery it carries is ignored, and answered when sent as a request",
    "ATT-019",
)
def gossip_moves_no_trade(ctx: Context) -> Outcome:
    """The target accepts Alice's fair offer; Alice then hands her Delivery to it in a Gossip swap, and
    sends the same Delivery as a request. A target that took it from the swap holds it unanswered: it
    refuses the request as a replay, or answers nothing. A conformant one ignored it, so it handles the
    request as new (its Receipt, or at least an Ack)."""
    contract = form_contract(ctx)
    alice = contract.party
    delivery = alice.deliver(contract.accept, target(ctx))
    swap = service_pb2.GossipRequest(envelopes=[delivery.envelope])
    reply = ctx.call("Gossip", swap, note="alice's Delivery, in a swap")
    if reply.error is not None and not reply.error.reason:
        return _fail(reply.error.status.name)
    answers = ctx.send(delivery, alice.setup, note="the same Delivery, as a request")
    ctx.must(
        bool(answers), "the target answered the Delivery with nothing: it took it from the swap (ATT-019)"
    )
    bodies = ", ".join(a.body for a in answers)
    return Outcome.passed(f"ignored the gossiped Delivery; the request was answered ({bodies})")


@case(
    "read.gossip-proof-carries-revocation",
    "A fork proof the target passes on in a swap carries the principal's KeyRevocation that spares the "
    "principal on it",
    "ATT-024",
    "ATT-019",
    "ATT-013",
)
def gossip_proof_carries_revocation(ctx: Context) -> Outcome:
    """Alice's key binds itself to her principal (a public Checkpoint); her principal revokes the key as of a
    second ago; a thief signs two Rejects of Bob's offer with the key -- an answer proof (ATT-022), both
    disowned by the revocation, which spares the principal (ATT-013 (b)). One swap hands the target the
    binding (after its Mandate) and the proof with the revocation beside it; a second swap reads what the
    target passes on. A conformant target took the revocation with the proof and sends it with the proof:
    else a peer that holds the proof only by the target's gossip convicts the principal the target spares."""
    alice, bob = ctx.party("alice"), ctx.party("bob")
    binding = alice.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([])))
    leaked = identity_pb2.KeyRevocation(key=alice.did, effective_ms=ctx.clock.now_ms - 1_000, reason="leaked")
    revocation = alice.principal.sign("key_revocation", leaked)
    offer = bob.offer(alice, bob.proposal())
    first, second = alice.reject(offer, "the thief's"), alice.reject(offer, "the thief's, again")
    proof = service_pb2.ForkProof(
        first=first.envelope, second=second.envelope, revocations=[revocation.envelope]
    )
    given = service_pb2.GossipRequest(envelopes=[alice.mandate_vs.envelope, binding.envelope], proofs=[proof])
    (passed,) = _passed_on(
        ctx, given, "the key's binding, and the proof with the principal's revocation", proof
    )
    ctx.must(
        revocation.envelope in passed.revocations,
        "the target passes the proof on without the principal's revocation that spares the principal on it "
        "(ATT-024): a peer holding it only by gossip convicts that principal",
    )
    return Outcome.passed("the proof was passed on with the principal's revocation beside it")


@case(
    "read.gossip-proof-carries-stamps",
    "A fork proof the target passes on in a swap carries the escrow's Stamp of its statements",
    "ATT-025",
    "ATT-019",
    "ATT-013",
)
def gossip_proof_carries_stamps(ctx: Context) -> Outcome:
    """Alice's key binds itself to her principal (a public Checkpoint) and counters Bob's offer twice under
    escrow E -- an answer proof (ATT-022) --, and E stamps the two Counters. One swap hands the target the
    binding (after its Mandate) and the proof with E's Stamp of the pair and E's Mandate beside it; a second
    swap reads what the target passes on. A conformant target took the Stamp with the proof and sends it with
    the proof: else a peer that holds the proof only by the target's gossip reads the pair unwitnessed and
    spares Alice's principal on her revocation, where the target, and Bob, convict it (ATT-013 (b))."""
    alice, bob, escrow = ctx.party("alice"), ctx.party("bob"), ctx.party("escrow")
    binding = alice.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([])))
    offer = bob.offer(alice, bob.proposal(escrow=escrow.did))
    one = alice.counter(offer, alice.proposal(escrow=escrow.did))
    two = alice.counter(offer, alice.proposal(escrow=escrow.did, issuer_bond=10))
    pair = escrow.sign("stamp", commitment_pb2.Stamp(statements=[one.digest, two.digest]))
    proof = service_pb2.ForkProof(
        first=one.envelope, second=two.envelope, stamps=[escrow.mandate_vs.envelope, pair.envelope]
    )
    given = service_pb2.GossipRequest(envelopes=[alice.mandate_vs.envelope, binding.envelope], proofs=[proof])
    (passed,) = _passed_on(
        ctx, given, "the key's binding, and the proof with the escrow's Stamp of it", proof
    )
    ctx.must(
        pair.envelope in passed.stamps,
        "the target passes the proof on without the escrow's Stamp of its statements (ATT-025): a peer "
        "holding it only by gossip reads a pair the escrow witnessed first as unwitnessed",
    )
    return Outcome.passed("the proof was passed on with the escrow's Stamp of its statements beside it")


@case(
    "read.gossip-proof-carries-links",
    "A fork proof of statements whose escrow only their links name is passed on with those links and the "
    "escrow's Stamp; one whose links lead nowhere without the Stamp",
    "ATT-025",
    "ATT-019",
    "KEY-009",
)
def gossip_proof_carries_links(ctx: Context) -> Outcome:
    """Three proofs of statements naming no escrow themselves, their witnessing escrow E the one the
    statements they name lead to (KEY-009), none of which the target holds: Alice's Accept and Reject of
    Bob's offer naming E (an answer proof, ATT-022), with that offer as their link; Carol's two Deliveries
    at one seq of her contract with Bob under E, with the contract's Accept and Bob's offer as their links;
    and Dave's Accept and Reject of another offer of Bob's naming E, carried with an offer of Bob's naming E
    that Dave's answers do not name. E stamped each pair; each proof carries E's Mandate and Stamp. One swap
    hands the target the three, a second reads what it passes on. A conformant target read E from the links
    and passes the first two on with their links and E's Stamp -- else a peer holding them only by its
    gossip reads the pairs unwitnessed and spares a principal whose revocation E stamped after them, where
    Bob's view convicts it (ATT-013 (b)) --, and passes Dave's on without E's Stamp, whose links lead
    nowhere: a Stamp read so would witness a statement by whichever escrow the sender chose. (What the
    target reads of a Stamp it takes but does not pass on is not observable here: it decides a conviction
    only where the target trusts E, ATT-013 (d).)"""
    alice, bob, escrow = ctx.party("alice"), ctx.party("bob"), ctx.party("escrow")
    carol, dave = ctx.party("carol"), ctx.party("dave")
    offer = bob.offer(alice, bob.proposal(escrow=escrow.did))
    answers = alice.accept(offer), alice.reject(offer, "no, after all")
    traded = bob.offer(carol, bob.proposal(escrow=escrow.did))
    contract = carol.accept(traded)
    writer = carol.agent.writer
    seq, prev = writer.next_seq, writer.prev
    delivered = carol.deliver(contract, bob, item_index=0)
    writer.next_seq, writer.prev = seq, prev  # the second Delivery at the first's seq: a fork (6.8)
    deliveries = delivered, carol.deliver(contract, bob, item_index=1)
    unnamed = bob.offer(dave, bob.proposal(escrow=escrow.did))
    decoy = bob.offer(dave, bob.proposal(escrow=escrow.did, issuer_bond=7))
    unlinked = dave.accept(unnamed), dave.reject(unnamed, "no, after all")

    def proof(pair: tuple[VerifiedStatement, ...], links: list[VerifiedStatement]) -> service_pb2.ForkProof:
        stamp = escrow.sign("stamp", commitment_pb2.Stamp(statements=[vs.digest for vs in pair]))
        carried = [*(vs.envelope for vs in links), escrow.mandate_vs.envelope, stamp.envelope]
        return service_pb2.ForkProof(first=pair[0].envelope, second=pair[1].envelope, stamps=carried)

    linked = [proof(answers, [offer]), proof(deliveries, [contract, traded])]
    given = service_pb2.GossipRequest(proofs=[*linked, proof(unlinked, [decoy])])
    passed = _passed_on(ctx, given, "three proofs, each with E's Stamp of it", *given.proofs)
    for sent, back, what in zip(linked, passed, ("Accept and Reject", "two Deliveries"), strict=False):
        ctx.must(
            all(env in back.stamps for env in sent.stamps),
            f"the target passes on the proof of {what} without the links that name its escrow and the "
            "escrow's Stamp (ATT-025): a peer holding it only by gossip reads a pair the escrow witnessed "
            "as unwitnessed",
        )
    ctx.must(
        given.proofs[2].stamps[-1] not in passed[2].stamps,
        "the target passes on a Stamp of two answers whose links do not lead to its signer -- an offer the "
        "answers do not name (ATT-025): the sender chose which escrow witnessed them",
    )
    return Outcome.passed(
        "passed on with their links and Stamps; no Stamp taken where the links lead nowhere"
    )


@case(
    "read.gossip-proof-convicts-on-a-trusted-stamp",
    "Given a fork proof by gossip with its links and the Stamp of the escrow it trusts, the target holds the "
    "principal faulty where that escrow witnessed the statement before the revocation, and spares it without "
    "that Stamp",
    "ATT-013",
    "ATT-025",
    "ATT-024",
    "KEY-009",
)
def gossip_proof_convicts_on_a_trusted_stamp(ctx: Context) -> Outcome:
    """Needs ``--escrow`` (E, an escrow the target trusts: ATT-013 (d)); SKIP without. Carol's key K forks
    its chain with two Deliveries at one seq of her contract with Bob under E, the first dated before the
    KeyRevocation of K her principal P signs, the second at its effective_ms; the suite submits the contract
    and the second Delivery to E, which stamps them, then P's revocation, which E stamps after. Dave's key
    does the same under E, but E never sees his Deliveries. One swap hands the target both keys' bindings and
    the two proofs, each with its links (the contract's Accept and Bob's offer, ATT-025), the revocation and
    whatever E stamped; a second reads what it passes on. The revocation reaches only the second Delivery
    (ATT-013 (b)): E witnessed Carol's before it, so it disowns none of her pair and P is faulty -- the proof
    passed on without P's revocation (ATT-024: sent only for a principal spared) --, and disowns Dave's,
    which nothing witnessed, so Dave's principal is spared -- his proof passed on with the revocation."""
    esc = trusted_escrow(ctx)
    if esc is None:
        return Outcome.skipped(
            "needs an escrow the target trusts: start the target trusting one and run with --escrow HOST:PORT"
        )
    bob, carol, dave = ctx.party("bob"), ctx.party("carol"), ctx.party("dave")
    stamped, spared = (
        _revoked_contract_fork(ctx, who, bob, esc.did, reaches_second=True) for who in (carol, dave)
    )
    context = [*bob.setup, *carol.setup]
    take(ctx, stamped.links[::-1], context=context, note="Bob's offer and Carol's Accept under E", esc=esc)
    (second,) = _stamps_of(
        take(ctx, [stamped.pair[1]], note="Carol's second Delivery alone", esc=esc), stamped.pair[1]
    )
    (revoked,) = _stamps_of(
        take(ctx, [stamped.revocation], note="P's revocation of Carol's key, after it", esc=esc),
        stamped.revocation,
    )
    convicting = stamped.proof(esc.mandate, second, revoked)
    sparing = spared.proof()
    given = service_pb2.GossipRequest(
        envelopes=[*stamped.binding, *spared.binding], proofs=[convicting, sparing]
    )
    passed = _passed_on(ctx, given, "two proofs under E, one with E's Stamp of it", convicting, sparing)
    ctx.must(
        all(env in passed[0].stamps for env in convicting.stamps),
        "the target passes on the proof of Carol's Deliveries without its links and E's Stamp (ATT-025)",
    )
    ctx.must(
        stamped.revocation.envelope not in passed[0].revocations,
        "the target spares Carol's principal on a proof whose later statement the escrow it trusts stamped "
        "before it stamped the principal's revocation (it passes the revocation on with it, ATT-024): a "
        "witnessed statement is the principal's word, and a revocation does not disown it (ATT-013 (b), "
        "KEY-009) -- the parties' views convict it",
    )
    ctx.must(
        spared.revocation.envelope in passed[1].revocations,
        "the target convicts Dave's principal on a proof whose later statement its revocation reaches and "
        "no escrow stamped (it passes the proof on without the revocation, ATT-024, ATT-013 (b))",
    )
    return Outcome.passed(
        "the principal convicted where the trusted escrow stamped the statement first, spared where nothing "
        "did"
    )


@case(
    "read.gossip-proof-spares-on-an-untrusted-stamp",
    "A principal whose revocation reaches a fork proof's statement is spared though an escrow the target "
    "does not trust stamped it first; one whose revocation reaches neither statement is not",
    "ATT-013",
    "ATT-024",
    "ATT-025",
)
def gossip_proof_spares_on_an_untrusted_stamp(ctx: Context) -> Outcome:
    """Erin's key forks its chain with two Deliveries at one seq of her contract with Bob under an escrow U
    the suite mints (no target trusts it); the revocation her principal P signs reaches the second, which U
    stamped before it stamped the revocation. Fay's key does the same, but her principal's revocation is
    effective after both Deliveries. One swap hands the target both keys' bindings and the two proofs, each
    with its links, U's Mandate and Stamps, and the revocation; a second reads what it passes on. A
    conformant target reads "witnessed before" only from an escrow it trusts (ATT-013 (d)): Erin's principal
    is spared -- the proof passed on with the revocation (ATT-024) --, else anyone who mints an escrow key
    convicts every principal whose key a thief holds, for two signatures the principal disowned; Fay's
    revocation reaches neither statement, so her principal is faulty -- passed on without it."""
    bob, erin, fay, untrusted = ctx.party("bob"), ctx.party("erin"), ctx.party("fay"), ctx.party("escrow")
    spared = _revoked_contract_fork(ctx, erin, bob, untrusted.did, reaches_second=True)
    late = _revoked_contract_fork(ctx, fay, bob, untrusted.did, reaches_second=False)

    def stamp(vs: VerifiedStatement) -> VerifiedStatement:
        return untrusted.sign("stamp", commitment_pb2.Stamp(statements=[vs.digest]))

    second = stamp(spared.pair[1])  # U's seq orders it before its Stamp of the revocation (KEY-009)
    witnessed = spared.proof(untrusted.mandate_vs.envelope, second, stamp(spared.revocation))
    unreached = late.proof()
    given = service_pb2.GossipRequest(
        envelopes=[*spared.binding, *late.binding], proofs=[witnessed, unreached]
    )
    passed = _passed_on(ctx, given, "two proofs under U, one with U's Stamp of it", witnessed, unreached)
    ctx.must(
        spared.revocation.envelope in passed[0].revocations,
        "the target convicts Erin's principal on a Stamp by an escrow it does not trust (it passes the proof "
        'on without the revocation that spares it, ATT-024): ATT-013 (d) reads "witnessed before" only '
        "from a trusted escrow -- anyone minting an escrow key would convict the principal of a stolen key",
    )
    ctx.must(
        late.revocation.envelope not in passed[1].revocations,
        "the target spares Fay's principal on a revocation effective after both statements of the proof "
        "(it passes the revocation on with it): a revocation spares only on a statement it reaches "
        "(ATT-013 (b))",
    )
    return Outcome.passed(
        "spared on an untrusted escrow's Stamp; convicted where the revocation reaches nothing"
    )


@dataclass
class _RevokedFork:
    """A key's two Deliveries at one seq of its contract with Bob, and its principal's revocation."""

    binding: list[bytes]  # the principal's Mandate and the key's binding (a Checkpoint of its empty log)
    links: list[VerifiedStatement]  # the contract's Accept, then Bob's offer (ATT-025)
    pair: tuple[VerifiedStatement, VerifiedStatement]
    revocation: VerifiedStatement

    def proof(self, mandate: bytes = b"", *stamps: VerifiedStatement) -> service_pb2.ForkProof:
        """The proof with the revocation and, given the escrow's ``mandate``, its Stamps: the first of the
        second Delivery (after the links and the Mandate, ATT-025), the second of the revocation (ATT-024)."""
        carried = [*(vs.envelope for vs in self.links), mandate, stamps[0].envelope] if stamps else []
        return service_pb2.ForkProof(
            first=self.pair[0].envelope,
            second=self.pair[1].envelope,
            revocations=[self.revocation.envelope, *(s.envelope for s in stamps[1:])],
            stamps=carried,
        )


def _revoked_contract_fork(
    ctx: Context, who: Party, bob: Party, escrow_did: str, *, reaches_second: bool
) -> _RevokedFork:
    """``who``'s key binds itself to its principal P, accepts Bob's offer naming ``escrow_did`` and signs
    two Deliveries at one seq (a fork, 6.8), dated a ms apart; P revokes the key from the second's time
    (``reaches_second``: the revocation reaches it, not the first) or from a ms after it (it reaches
    neither)."""
    t = ctx.clock.now_ms - 5_000  # every time below the suite's own, in K's chain order (CHN-005)
    binding = who.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([])), issued_at_ms=t)
    offer = bob.offer(who, bob.proposal(escrow=escrow_did), issued_at_ms=t)
    contract = who.accept(offer, issued_at_ms=t + 1)
    writer = who.agent.writer
    seq, prev = writer.next_seq, writer.prev
    first = who.deliver(contract, bob, item_index=0, issued_at_ms=t + 2)
    writer.next_seq, writer.prev = seq, prev  # the second Delivery at the first's seq: a fork (6.8)
    second = who.deliver(contract, bob, item_index=0, issued_at_ms=t + 3)
    effective = second.issued_at_ms + (0 if reaches_second else 1)
    back = identity_pb2.KeyRevocation(key=who.did, effective_ms=effective, reason="the key leaked")
    revocation = who.principal.sign("key_revocation", back)
    return _RevokedFork([*who.setup, binding.envelope], [contract, offer], (first, second), revocation)


def _stamps_of(answer: list[VerifiedStatement], vs: VerifiedStatement) -> list[VerifiedStatement]:
    """The Stamps naming ``vs`` in an escrow's answer to a Submit of it (one expected)."""
    stamps = [s for s in answer if s.body == "stamp" and vs.digest in s.statement.stamp.statements]
    if len(stamps) != 1:
        raise CaseFailed(f"the escrow at --escrow answered a Submit of a {vs.body} without one Stamp of it")
    return stamps


def _passed_on(
    ctx: Context, given: service_pb2.GossipRequest, note: str, *proofs: service_pb2.ForkProof
) -> list[service_pb2.ForkProof]:
    """Hand the target ``given`` in one swap, read what it passes on in a second: for each of ``proofs``,
    the proof of the same pair it sends (ATT-011), for the caller to check what travels with it."""
    reply = ctx.call("Gossip", given, note=note)
    if reply.error is not None and not reply.error.reason:
        _fail(reply.error.status.name)
    ctx.must(reply.error is None, "the target refused a swap of valid proofs")
    read = ctx.call("Gossip", service_pb2.GossipRequest(), note="what the target passes on")
    ctx.must(read.error is None, "the target refused an empty swap")
    out = []
    for proof in proofs:
        passed = [p for p in read.message.proofs if {p.first, p.second} == {proof.first, proof.second}]
        ctx.must(bool(passed), "the target does not pass on a proof it was given (ATT-011)", Level.NON_STRICT)
        out.append(passed[0])
    return out


def _fail(status: str) -> Outcome:
    raise CaseFailed(f"Gossip failed {status} without an a2acoop ErrorInfo")
