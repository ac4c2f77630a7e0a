"""Red team, twenty-second session: an UPHOLD over a LAPSE (section 8.9), signed by a revoked escrow key's
thief after its hand-over (ESC-022).

Alice and Bob are bonded at escrow key K1; Bob never delivers, Alice signs a claim but shows it to no
escrow. K1 is stolen: its principal revokes it from a millisecond on and hands its contracts to K2. The
thief runs the stolen K1 escrow as if nothing happened: it stamps Alice's claim, upholds it a response
window later, forfeits Bob's bond to Alice and releases hers -- every statement dated after K1's revocation
took effect. K2, never shown the claim, lapses the contract at the claim window's end and refunds both
bonds (CMT-006): the honest outcome.

Who chose what: the thief the times and order of K1's statements, the principal the revocation's
effective_ms, a relay the order a view hears them in. Section 8.9 now puts a Ruling UPHOLD above a LAPSE,
and NEG-012 a Forfeit above a Refund. A view that hears the thief's statements before K1's revocation takes
them (nothing was revoked yet), and then K2's LAPSE and Refunds yield to them: BREACHED, Bob's bond
forfeited. A view that hears the revocation first refuses the thief's Stamp (`KEY_REVOKED`), so the claim
never takes effect and the UPHOLD is refused (`STALE_REFERENCE`): EXPIRED, both bonds refunded. The same
statements, two contract states and two settlements -- views of evidence and escrows taking evidence alike.
Before section 8.9's change both ended EXPIRED (a LAPSE was the highest fact). The thief's statements are
disowned (KEY-009), so no rating weighs them; what differs is the contract's state and its settlement.

Now (ESC-022 (e) for every escrow statement): from the hand-over's time on K1's own statements about its
contracts are not the escrow's. Heard after the hand-over they are refused (`WRONG_PARTY`, or
`KEY_REVOKED` where a view refuses a revoked key's statements first); held from before it, K2's LAPSE
prevails over K1's UPHOLD and K2's Refunds replace K1's Forfeit and Release: EXPIRED in every order.
"""

from __future__ import annotations

from contextlib import suppress
from itertools import permutations

import pytest
from test_escrow_handover import Desk

from a2a_coop.protocol.errors import CoopError, Replayed
from a2a_coop.protocol.negotiation import CLAIM_WINDOW_MS, DEFAULT_RESPONSE_WINDOW_MS
from a2a_coop.protocol.statements import verify_statement
from a2a_coop.protocol.verifier import Verifier


def _played() -> tuple[Desk, list[bytes], bytes, list[bytes], list[bytes], list[bytes]]:
    """The desk, what every view holds first, Alice's claim, the thief's K1 statements, K1's revocation
    with K2's hand-over, and K2's lapse and Refunds."""
    d = Desk()
    claim = d.claim()
    rev, k2, e2 = d.take_over()
    d.clock.advance(10)
    honest = len(d.old.transcript())
    assert [vs.body for vs in d.old.submit([claim.envelope], d.clock.now_ms)] == ["stamp"]
    d.clock.advance(DEFAULT_RESPONSE_WINDOW_MS + 30_000)
    assert [vs.body for vs in d.old.tick(d.clock.now_ms)] == ["ruling", "forfeit", "release"]
    thief = [e for e in d.old.transcript()[honest:] if verify_statement(e).issuer == d.esc.did]
    d.clock.now_ms = d.deadline + CLAIM_WINDOW_MS + 1
    lapse = [vs.envelope for vs in e2.tick(d.clock.now_ms)]
    assert [verify_statement(e).body for e in lapse] == ["ruling", "refund", "refund"]
    base = [*d.esc.setup, *d.alice.setup, *d.bob.setup, *d.old.transcript()[:honest]]
    return d, base, claim.envelope, thief, [rev.envelope, k2.mandate_vs.envelope], lapse


def _ends(d: Desk, envelopes: list[bytes], **kw: object) -> tuple[str, frozenset[str]]:
    v = Verifier(**kw)  # type: ignore[arg-type]
    for env in envelopes:
        with suppress(CoopError):  # refused: KEY_REVOKED, STALE_REFERENCE, BODY_INVALID, REPLAYED
            v.accept(env)
    c = v.negotiations.get(d.offer.header.negotiation_id)
    assert c.contract is not None
    names = {d.alice.did: "alice", d.bob.did: "bob"}
    return c.state.name, frozenset(names[p] for p in c.contract.forfeited)


def test_the_thiefs_statements_are_k1s_dated_after_its_revocation() -> None:
    """The attack happened: the thief's Stamp, Ruling UPHOLD, Forfeit of Bob's bond and Release are signed
    by K1 after its revocation's effective_ms, and a view that hears them first takes them all."""
    d, base, claim, thief, handover, _ = _played()
    effective = verify_statement(handover[0]).statement.key_revocation.effective_ms
    signed = [verify_statement(e) for e in thief]
    assert [vs.body for vs in signed] == ["stamp", "ruling", "forfeit", "release"]
    assert all(vs.issuer == d.esc.did and vs.issued_at_ms >= effective for vs in signed)
    v = Verifier()
    for env in base:
        with suppress(Replayed):  # the escrow's Mandate, in its setup and its transcript
            v.accept(env)
    for env in [claim, *thief]:
        v.accept(env)
    assert all(vs.digest in v.statements for vs in signed)
    # taken, they moved the contract: BREACHED, Bob's bond forfeited -- until the view holds the hand-over,
    # from which they count for nothing (ESC-022 (e)): bonded, the claim not effective, as heard after it
    assert _ends(d, [*base, claim, *thief]) == ("BREACHED", frozenset({"bob"}))
    assert _ends(d, [*base, claim, *thief, *handover]) == ("BONDED", frozenset())
    assert _ends(d, [*base, claim, *handover, *thief]) == ("BONDED", frozenset())


def test_heard_after_the_hand_over_the_thiefs_statements_are_not_the_escrows() -> None:
    """ESC-022 (e): K1's Ruling, Forfeit and Release dated from the hand-over on, heard after it, are
    refused WRONG_PARTY by a view of evidence (its Stamp held, witnessing nothing, KEY-009 (d)) and
    KEY_REVOKED by a live receiver's view -- none counted."""
    _, base, claim, thief, handover, lapse = _played()
    for role, codes in (
        ({}, ["", "WRONG_PARTY", "WRONG_PARTY", "WRONG_PARTY"]),
        ({"evidence_view": False}, ["KEY_REVOKED"] * 4),
    ):
        v = Verifier(**role)  # type: ignore[arg-type]
        for env in [*base, claim, *handover, *lapse]:
            with suppress(Replayed):
                v.accept(env)
        got = []
        for env in thief:
            try:
                v.accept(env)
                got.append("")
            except CoopError as e:
                got.append(e.code)
        assert got == codes, role
        stamp = verify_statement(thief[0])
        assert not role or stamp.digest not in v.statements
        assert role or v.unwitnessing(v.statements[stamp.digest])


def test_a_successors_refunds_replace_the_thiefs_forfeit_and_release() -> None:
    """K1's thief's Forfeit of Bob's bond and Release of Alice's, taken before the hand-over, count for
    nothing once the view holds it (ESC-022 (e)): both bonds locked again; K2's Refunds of both, heard
    after, are taken -- Bob's bond never forfeited."""
    d, base, claim, thief, handover, lapse = _played()
    v = Verifier()
    for env in [*base, claim, *thief]:
        with suppress(Replayed):
            v.accept(env)
    c = v.negotiations.get(d.offer.header.negotiation_id).contract
    assert c is not None and c.forfeited == {d.bob.did} and c.settled == {d.alice.did, d.bob.did}
    for env in handover:
        v.accept(env)
    c = v.negotiations.get(d.offer.header.negotiation_id).contract
    assert c is not None and c.forfeited == frozenset() and c.settled == set()
    for env in lapse:
        v.accept(env)  # the LAPSE and both Refunds: none refused
    assert c.forfeited == frozenset() and c.settled == {d.alice.did, d.bob.did}


@pytest.mark.parametrize("role", [{}, {"evidence_view": False}])
def test_a_thiefs_uphold_after_the_hand_over_ends_the_contract_as_its_successors_lapse_in_every_order(
    role: dict[str, object],
) -> None:
    """Every order of the thief's statements, K1's revocation with K2's hand-over, and K2's lapse (each
    block in its own order: the thief's Stamp before its Ruling, the revocation before K2's statements):
    every view ends as K2 ended the contract -- EXPIRED, no bond forfeited."""
    d, base, claim, thief, handover, lapse = _played()
    seen = set()
    for first, second, third in permutations([thief, handover, lapse]):
        if first is lapse or (second is lapse and third is handover):
            continue  # K2's statements need its hand-over first
        seen.add(_ends(d, [*base, claim, *first, *second, *third], **role))
    assert seen == {("EXPIRED", frozenset())}


@pytest.mark.parametrize("k3_first", [False, True])
def test_two_sibling_successors_stamps_in_one_millisecond_are_ordered_by_did(k3_first: bool) -> None:
    """ESC-022 (e): K2 and K3, both successors of K1, stamp Alice's claim in one millisecond -- K2's Stamp at
    seq 1 (its chain a Stamp longer), K3's at seq 0, K2's did first in byte order. The escrow's earliest
    Stamp of the claim is K2's, by did, whichever is heard first: two chains' seqs order nothing between
    them (the second implementation took K3's, by seq, F41). Then K2, revoked from before its Stamp of the
    claim, disowns it: it witnesses nothing (KEY-009 (d)), the escrow's earliest Stamp of the claim is then
    K3's, and Alice's rating of Bob's breach weighs 100 (`ratings.json` 48, both implementations; it weighed
    0 by K2's disowned Stamp before KEY-009 (d))."""
    from conformance.generate_vectors.ratings import sibling_stamps_in_one_ms

    out, esc, k2, k3 = sibling_stamps_in_one_ms()
    held = [verify_statement(e) for e in out]
    stamps = [i for i, vs in enumerate(held) if vs.body == "stamp" and vs.issuer in (k2.did, k3.did)]
    by2, by3 = (held[i] for i in stamps[1:])  # K2's Stamp of the Accept first, then each one's of the claim
    assert by2.issuer == k2.did and by3.issuer == k3.did and k2.did < k3.did
    assert by2.issued_at_ms == by3.issued_at_ms and by2.seq > by3.seq  # the attack: a tie seq would break
    claim = next(vs for vs in held if vs.body == "breach_claim")
    order = list(out)
    if k3_first:
        order[stamps[1]], order[stamps[2]] = order[stamps[2]], order[stamps[1]]
    *order, revoke_k2 = order
    assert verify_statement(revoke_k2).body == "key_revocation"
    v = Verifier()
    for env in order:
        with suppress(Replayed):
            v.accept(env)
    assert v.witness.stamp_of(esc.did, claim.digest) == by2.digest
    # K2 revoked from before its Stamp of the claim: that Stamp, disowned, witnesses nothing (KEY-009 (d)),
    # and the escrow's earliest Stamp of the claim is K3's, which upheld it (`ratings.json` 48: 100)
    v.accept(revoke_k2)
    assert v.unwitnessing(by2) and v.witness.stamp_of(esc.did, claim.digest) == by3.digest
