"""Attacker's pass 25: values a stranger chooses that a rule reads as someone else's -- which key signs a
Stamp naming a contract's statement, and from when that key's principal disowns it. Each test here is a
way such a choice hurt an honest party, failing before its fix (SPEC 10.2, 16.14)."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from js_ratings import assert_js_rates_alike
from peers import make_peer

from a2a_coop._proto.a2acoop.v1 import identity_pb2, trade_pb2
from a2a_coop.protocol.chain import ChainWriter
from a2a_coop.protocol.errors import IllegalTransition
from a2a_coop.protocol.negotiation import CLAIM_WINDOW_MS
from a2a_coop.protocol.reputation import attestation_evidence, rate
from a2a_coop.protocol.statements import verify_statement
from a2a_coop.protocol.verifier import Verifier
from a2a_coop.runtime.perform_time import unclaimable_item_refusal
from a2a_coop.runtime.trade import claim_breach
from a2a_coop.testing import FixedClock, LocalEscrow, Party
from conformance.generate_vectors.negotiation import Deal, ctx, stamp
from conformance.generate_vectors.ratings import (
    FULFILLED,
    _attest,
    _settled_trade,
    breached_then_rotated,
    mandate_after_a_gap,
)
from conformance.generate_vectors.ratings import GapInPrincipalsChain as _GapInPrincipalsChain

FUNDS, BOND = 1_000, 100


def _strangers_disowned_stamp() -> tuple[list[bytes], str, bytes]:
    """Alice and Bob settle a bonded trade and Alice attests Bob FULFILLED. Mallory, who has nothing to do
    with the contract, signs a Stamp naming Bob's Accept (any key can sign a Stamp) and has her own
    principal revoke her key from 1 ms before it. Returns the bundle, the escrow and the foreign Stamp."""
    d, trade = _settled_trade()
    attestation = _attest(d.alice, d, d.bob, FULFILLED)
    mallory = Party("mallory", d.clock)
    foreign = stamp(mallory, d.accept)
    d.clock.advance(1_000)
    revocation = mallory.principal.sign(
        "key_revocation",
        identity_pb2.KeyRevocation(key=mallory.did, effective_ms=foreign.header.issued_at_ms - 1, reason="x"),
    )
    bundle = [*trade, attestation, *ctx(mallory), foreign.envelope, revocation.envelope]
    return bundle, d.escrow.did, foreign.digest


@pytest.mark.req("ATT-020", "KEY-009", "ATT-004")
def test_a_strangers_disowned_stamp_of_the_accept_does_not_zero_an_honest_rating(tmp_path: Path) -> None:
    """Attack: ATT-020 zeroes a rating when a held revocation disowns a statement it rests on, the
    escrow's Stamps of the contract's statements among them. Mallory chose the key that stamps Bob's
    Accept (her own: any key may sign a Stamp of any digest, and a view takes it) and the effective_ms of
    her principal's revocation of that key (1 ms before the Stamp). Read as "every Stamp held naming the
    Accept", her disowned Stamp zeroed Alice's honest rating of Bob -- which the second implementation,
    written from SPEC 10.2, did (stake 0 where the reference weighed 100): anyone holding a contract's
    Accept digest (an escrow's public transcript shows it) could erase its ratings in such views for two
    signatures. ATT-020 (a): only each statement's earliest Stamp by its witnessing escrow is evidence."""
    bundle, escrow, foreign = _strangers_disowned_stamp()
    verifier = Verifier(complete_chains=False, evidence_view=True)
    held = [verifier.accept(data, None) for data in bundle]  # every envelope taken: the attack is legal
    attestation = next(vs for vs in held if vs.body == "attestation")
    # The attack happened: the view holds the stranger's Stamp of the Accept, and disowns it.
    assert verifier.disowned(verifier.statements[foreign])
    # Caught: the Stamp is no part of the rating's evidence, and Alice's rating keeps its stake.
    assert foreign not in {vs.digest for vs in attestation_evidence(verifier, attestation)}
    assert rate(verifier, attestation, {escrow}).stake == 100
    rating = rate(verifier, attestation, {escrow})
    vector = {
        "tcId": 1,
        "comment": "a stranger's disowned Stamp of the Accept",
        "requirements": ["ATT-020"],
        "trusted_escrows": [escrow],
        "envelopes": [base64.b64encode(e).decode() for e in bundle],
        "expected": [
            {
                "attestation": rating.attestation.hex(),
                "rater": rating.rater,
                "subject": rating.subject,
                "stake": rating.stake,
                "score": rating.score,
                "settled_ms": rating.settled_ms,
            }
        ],
    }
    assert_js_rates_alike(tmp_path, [vector], "stranger-stamp")


# --- 2: a counterparty's own item made unclaimable by the time it alone chooses (CMT-014) -----------------


@pytest.mark.req("CMT-014", "CMT-009", "NEG-012", "MND-011")
def test_a_counterparty_funding_after_its_own_deadline_does_not_get_our_delivery_for_nothing() -> None:
    """Attack: Mallory offers Bob (the reference peer, its honest strategy) a bonded trade open 5 minutes
    in which her item is due in 2 minutes and Bob's in an hour -- every value hers. Bob accepts at once
    and funds his bond; Mallory funds hers only after her own deadline and before the bonding cutoff
    (her offer's expiry + 30 s), so the escrow locks it then (ESC-010 allows it). Bonded now, Bob delivers
    his item (NEG-012 lets him; his deadline is an hour away, and Mallory could claim his bond if he did
    not). Mallory delivers nothing, and Bob's claim on her item is refused: some bond was locked after its
    deadline (CMT-009, which excuses the accused because the party that funds last chose when bonding
    completed -- here the accused herself). Before the fix Mallory kept Bob's Delivery, both bonds came
    back at the lapse, and the bond Bob's terms asked for protected nothing. Who chose the values: Mallory
    her deadline, her offer's expiry and when to fund. Expect Bob's guard to sign no Accept of terms under
    which the counterparty alone can push bonding past one of its own items (CMT-014)."""
    clock = FixedClock()
    mallory, bob = Party("mallory", clock), Party("bob", clock)
    escrow = LocalEscrow(Party("escrow", clock), funds={bob.did: FUNDS})
    b = make_peer(bob, clock, context=[escrow.mandate])
    t0 = clock.now_ms
    proposal = mallory.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did)
    proposal.gives[0].deadline_ms = t0 + 120_000  # Mallory's item: due in 2 minutes
    proposal.wants[0].deadline_ms = t0 + 3_600_000  # Bob's: due in an hour
    offer = mallory.offer(bob, proposal, ttl_ms=300_000)  # open 5 minutes: bonding cutoff at 5 min 30 s
    answers = [verify_statement(a) for a in b.exchange(offer.envelope, [escrow.mandate, *mallory.setup])]
    if not any(a.body == "accept" for a in answers):
        # Caught: Bob's guard refused, and says why.
        assert [a.body for a in answers][-1] == "reject"
        assert "CMT-014" in answers[-1].statement.reject.reason
        return
    accept = next(a for a in answers if a.body == "accept")
    locks = escrow.submit([*mallory.setup, *bob.setup, offer.envelope, accept.envelope])
    assert [verify_statement(e).body for e in locks[1:]] == ["stamp", "bond_lock"]  # Bob's alone
    clock.now_ms = t0 + 121_000  # past Mallory's deadline, before the cutoff: now she funds
    escrow.escrow.deposit(mallory.did, FUNDS, "credit", "late on purpose", clock.now_ms)
    relayed = escrow.submit([accept.envelope])  # ESC-008: what the escrow signed about the contract
    assert [verify_statement(e).body for e in relayed[1:]].count("bond_lock") == 2
    b.hold(relayed)
    neg = b.negotiation(offer.header.negotiation_id)
    c = neg.contract
    assert c is not None and set(c.locked) == {bob.did, mallory.did}
    delivered = list(b._perform(neg))  # bonded: Bob delivers, as his strategy says
    assert [d.body for d in delivered] == ["delivery"]
    escrow.submit([d.envelope for d in delivered])  # witnessed (WIT-007)
    with pytest.raises(IllegalTransition) as refused:  # by Bob's own verifier, or else by the escrow
        escrow.submit([claim_breach(b, neg, 0, "never delivered").envelope])
    assert refused.value.requirement == "CMT-009"
    clock.now_ms = t0 + 3_600_000 + CLAIM_WINDOW_MS + 1_000
    settled = [verify_statement(e) for e in escrow.tick()]
    assert [s.body for s in settled] == ["ruling", "refund", "refund"]  # a lapse: both bonds back
    pytest.fail("Mallory kept Bob's Delivery: her item was never claimable, and both bonds came back")


@pytest.mark.req("CMT-014", "CMT-009", "CMT-011")
@pytest.mark.parametrize(
    ("bond", "escrow", "accept_at", "deadline", "refused"),
    [
        (BOND, "E", None, 330_000 - 1, True),  # bonded Offer or Counter: before the cutoff (expiry + 30 s)
        (BOND, "E", None, 330_000, False),  # at the cutoff: a lock issued then is at or before it
        (0, "E", None, 300_000 - 1, True),  # unbonded: before the expiry, up to which the Accept may be dated
        (0, "E", None, 300_000, False),
        (0, "E", 10_000, 10_000 - 1, True),  # our unbonded Accept: due before it
        (0, "E", 10_000, 10_000, False),
        (BOND, "E", 10_000, 330_000 - 1, True),  # our bonded Accept: the counterparty funds up to the cutoff
        (BOND, "", None, 1, False),  # no escrow: nobody arbitrates a claim (CMT-005), nothing to refuse
    ],
)
def test_the_guard_refuses_exactly_the_counterparty_items_due_before_it_can_be_claimed(
    bond: int, escrow: str, accept_at: int | None, deadline: int, refused: bool
) -> None:
    """CMT-014's bound, at each edge: the offer expires at 300 000 (cutoff 330 000)."""
    terms = trade_pb2.Terms(currency="credit", issuer_bond=bond, escrow=escrow)
    item = trade_pb2.Item(category="x", value=1, deadline_ms=deadline)
    ours = trade_pb2.Item(category="y", value=1, deadline_ms=deadline + 1)  # due after theirs: claimable
    why = unclaimable_item_refusal([item], [ours], terms, 300_000, accept_at)
    # An item of ours due no later than theirs is unclaimable with it: nothing to refuse.
    assert not unclaimable_item_refusal([item], [item], terms, 300_000, accept_at)
    assert bool(why) is refused, why
    assert not why or why.startswith("CMT-014")


# --- 3: a principal's rotation back below its agent's Mandate (KEY-009: its contract's escrow witnesses it)


@pytest.mark.req("KEY-009", "ATT-020", "KEY-005")
def test_a_principal_rotating_back_below_its_agents_mandate_does_not_erase_an_escrowed_breach() -> None:
    """Attack: Bob's principal's chain has a gap (seq 1 and 2 held by no view; it signed Bob's Mandate at
    seq 3). Bob accepts Alice's bonded offer, never delivers; the escrow stamps the Accept and Bob's
    Mandate, upholds Alice's claim and forfeits Bob's bond; Alice attests Bob BREACHED (stake 100, score 0).
    Then Bob's principal signs a KeyRotation at seq 1, dated between seq 0 and its Mandate (no chain check
    refuses it): KEY-005 ends its chain at seq 1, the Mandate at seq 3 is disowned, and every view -- the
    reference's and the JavaScript verifier's alike -- weighs Alice's rating 0: the breach is gone. Who
    chose the values: Bob's principal chose its rotation's seq and time and left the gap; what it gains: an
    escrowed breach erased from every view. Defence (KEY-009, ATT-020): read with the Accept that names
    it, the Mandate is witnessed by the contract's escrow, which stamped it (and the Accept) before any
    Stamp of the rotation: the rating keeps its stake."""
    d = _GapInPrincipalsChain()
    bundle, attestation, rotation = breached_then_rotated(d)
    taken = stamp(d.escrow, d.bob.mandate_vs, d.accept)  # the escrow witnessed Bob's Mandate and Accept
    assert rotation.header.seq == 1 < d.bob.mandate_vs.header.seq
    bundle += [taken.envelope, attestation.envelope]
    verifier = Verifier(complete_chains=False, evidence_view=True)
    for data in bundle:
        verifier.accept(data, None)
    assert rate(verifier, verifier.statements[attestation.digest], {d.escrow.did}).stake == BOND
    verifier.accept(rotation.envelope, None)  # taken: the attack is legal
    mandate = verifier.statements[d.bob.mandate_vs.digest]
    assert verifier.disowned(mandate)  # the attack happened: alone, the Mandate is past its chain's end
    assert not verifier.disowned(mandate, [verifier.statements[d.accept.digest]])  # its escrow took it first
    assert rate(verifier, verifier.statements[attestation.digest], {d.escrow.did}).stake == BOND
    # Witnessed only by a Stamp before the escrow's Stamp of the rotation: stamped after it, nothing
    # witnessed the Mandate or the Accept first, and the rotation disowns the Mandate (KEY-009 as before).
    stamped = stamp(d.escrow, rotation)
    d.clock.advance(1)
    again = stamp(d.escrow, d.bob.mandate_vs, d.accept)
    late = Verifier(complete_chains=False, evidence_view=True)
    for data in [
        *(e for e in bundle if e != taken.envelope),
        stamped.envelope,
        rotation.envelope,
        again.envelope,
    ]:
        late.accept(data, None)
    assert late.disowned(late.statements[d.bob.mandate_vs.digest], [late.statements[d.accept.digest]])
    assert rate(late, late.statements[attestation.digest], {d.escrow.did}).stake == 0


class _GapInEscrowPrincipalsChain(Deal):
    """Deal, but the escrow's principal signs the escrow's Mandate at seq 3 of its chain (seq 1 and 2 held
    by no view)."""

    def __init__(self) -> None:
        self.clock = clock = FixedClock()
        self.alice, self.bob = Party("alice", clock), Party("bob", clock)
        self.escrow, self.carol = Party("escrow", clock), Party("carol", clock)
        self.first = mandate_after_a_gap(self.escrow, clock)
        proposal = self.alice.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=self.escrow.did)
        self.offer = self.alice.offer(self.bob, proposal)
        clock.advance(1_000)
        self.accept = self.bob.accept(self.offer)
        self.base = [self.first.envelope, *ctx(self.alice, self.bob, self.escrow)]
        self.base += [self.offer.envelope, self.accept.envelope]
        self.bond = BOND
        self.locks = [self.escrow_says("bond_lock", p).envelope for p in (self.alice, self.bob)]
        clock.advance(1_000)


@pytest.mark.req("ATT-020", "KEY-009", "KEY-005")
def test_a_rotation_of_the_escrows_principal_is_read_as_the_parties_principals_are() -> None:
    """Differential: a KeyRotation by the escrow's principal at a seq below the escrow's Mandate (a gap of
    its chain) disowns that Mandate (KEY-005, KEY-009: a statement of no negotiation has no witnessing
    escrow), which every escrow statement a rating rests on cites (ATT-020's list). The JavaScript
    verifier, written from the text, weighed the rating 0; the reference weighed it 100 -- it looked for
    rotations of the parties, their principals and the escrow's key, and for revocations of the escrow's
    principals, but not for their rotations. Expect the reference to read them as SPEC says (and so both
    implementations to agree; the hole the rule leaves is the xfail above, with the escrow's principal in
    the place of the party's)."""
    d = _GapInEscrowPrincipalsChain()
    trade = _settled_trade(d)[1]
    attestation = _attest(d.alice, d, d.bob, FULFILLED)
    principal = d.escrow.principal
    principal.writer = ChainWriter(principal.key, next_seq=1, prev=d.first.digest)
    rotation = principal.sign(
        "key_rotation",
        identity_pb2.KeyRotation(new_key=Party("escrow-principal-2", d.clock).did),
        issued_at_ms=d.first.header.issued_at_ms + 500,
    )
    verifier = Verifier(complete_chains=False, evidence_view=True)
    for data in trade:
        verifier.accept(data, None)
    held = verifier.accept(attestation, None)
    assert rate(verifier, held, {d.escrow.did}).stake == BOND
    verifier.accept(rotation.envelope, None)
    assert verifier.disowned(verifier.statements[d.escrow.mandate_vs.digest])
    assert rate(verifier, held, {d.escrow.did}).stake == 0
