"""Red team 33 (left open, floor33): a Checkpoint by the escrow's leaked key, dated past Bob's offer's
bonding cutoff and before the key's revocation, frees Bob's car while the escrow holds Mallory's Accept of
the offer (ESC-013 (i), ESC-022 (e), KEY-011).

ESC-013 (i) takes a Checkpoint naming the offer, dated past its cutoff, as the escrow's word that it held
no Accept of the offer then -- read from whoever speaks for the offer's escrow key E at the Checkpoint's
time (``trade.vouched_offers``: ``WitnessIndex.acts_for``). Mallory accepts Bob's bonded car Offer at E
alone (both bonds locked; Bob is not told). Past the cutoff E's key leaks; its principal revokes it from
the leak and hands E's contracts to N, and Bob's view honours the hand-over. The thief, answering Bob's
ask for E's address, gives a Checkpoint by E's key naming the offer, dated a few seconds past the cutoff
and before the revocation's effective_ms -- a time the thief chooses, which no revocation reaches, so
Bob's view takes it as E's and frees the car; Bob sells it to Carol, and Mallory's claim at N (which took
E's ledger, her Accept and both locks over) takes his bond.

Who chose the value: the Checkpoint's time is its signer's -- the thief's; unlike our own Delivery
(``trade.stamped_ours``), nothing Bob signed bounds it: his offer was signed long before the cutoff. What
bounds it: the revocation stating E's ledger head (the last seq of E's chain its principal knows), so
that every statement of E above it is the thief's whatever its date (KEY-011 (e), floor33).
"""

from __future__ import annotations

import contextlib

import pytest
from test_asked31_successor_word import _Answers, _checkpoint, _past_cutoff, _Successor
from test_attack10 import _car, _car_market
from test_fork31_large_fork_evidence import _car_held

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2
from a2a_coop.protocol.errors import KeyRevoked
from a2a_coop.protocol.statements import verify_statement
from a2a_coop.runtime.trade import ask_escrow_alone
from a2a_coop.testing import LocalEscrow

LEAK_AFTER_CUTOFF_MS = 10_000  # E's key leaks this long after Bob's offer's bonding cutoff


def _chain_length(e: LocalEscrow) -> int:
    """The length of E's chain in its ledger (what its principal reads from E's export, KEY-011 (e))."""
    return 1 + max(vs.seq for vs in map(verify_statement, e.escrow.ledger()) if vs.issuer == e.did)


@pytest.mark.req("ESC-013", "ESC-022", "KEY-011")
@pytest.mark.parametrize("head", ["stated", "not stated"])
def test_a_checkpoint_by_the_leaked_escrow_key_dated_before_its_revocation_frees_nothing(head: str) -> None:
    """Bob offers Mallory his car bonded at E; she accepts it at E alone (E stamps it and locks both
    bonds). Past the cutoff, E's key leaks and its principal revokes it from the leak and hands it over to
    N; Bob's view honours the hand-over. The thief answers Bob's ask with E's Mandate, N's hand-over and a
    Checkpoint by E's key naming the offer dated half-way between the cutoff and the leak, at the seq after
    E's last. Expect the car still held when the revocation states E's chain length (the Checkpoint is
    above it: the thief's, whatever its date). Before (and still, with no length stated), it was freed."""
    m, e2, carol, _ = _car_market()
    offer = m.b.propose(m.mallory.did, _car(m, m.escrow.did, bond=100))
    m.escrow.submit([*m.b.send_context(), offer.envelope])
    accept = m.hide_accept(offer)  # E stamps Mallory's Accept and locks both bonds; Bob is not told
    cutoff = _past_cutoff(offer)
    leak = cutoff + LEAK_AFTER_CUTOFF_MS
    n = _Successor(m, leak)  # E's principal revokes E from the leak and hands its contracts to N
    if head == "stated":  # ... stating E's chain length, read from E's export
        revoked = identity_pb2.KeyRevocation(
            key=m.escrow.did, effective_ms=leak, chain_length=_chain_length(m.escrow)
        )
        n.revocation = m.escrow.party.principal.sign("key_revocation", revoked)
    m.clock.now_ms = leak + 60_001
    n.start()
    assert n.escrow.verifier.witness.stamp_time(m.escrow.did, accept.digest) is not None, "N took it over"
    esc = m.escrow.party
    m.clock.now_ms = cutoff + LEAK_AFTER_CUTOFF_MS // 2  # the thief dates its Checkpoint here
    thiefs = _checkpoint(esc.agent, esc.mandate_vs.digest, offer)
    m.clock.now_ms = leak + 60_001
    m.b.hold(n.escrow.with_mandates(n.handover.envelope, []))  # the hand-over, E's revocation and binding
    assert m.b.verifier.successors(m.escrow.did) is not None, "Bob's view honours the hand-over"
    assert m.b.verifier.revokes(thiefs) == (head == "stated"), "only the head stated reaches it"
    acts = m.b.verifier.witness.acts_for(esc.did, esc.did, thiefs.issued_at_ms, thiefs.seq)
    assert acts == (head == "not stated"), "ESC-022 (e): above the head, E's key is its thief's"
    answer = [m.escrow.mandate, *n.escrow.with_mandates(n.handover.envelope, [])[1:], thiefs.envelope]
    assert _car_held(m, e2.did, carol)
    with contextlib.suppress(KeyRevoked):  # refused by Bob's view (KEY-004) once the head is stated
        ask_escrow_alone(m.b, _Answers(answer), m.b.negotiation(offer.negotiation_id))  # type: ignore[arg-type]
    if head == "not stated":  # a revocation stating no head reads as before (the field is optional)
        assert m.b.asked_at_escrow(offer.negotiation_id) and not _car_held(m, e2.did, carol)
        return
    assert _car_held(m, e2.did, carol), "the car was freed on a Checkpoint by E's leaked key"
    assert not m.b.asked_at_escrow(offer.negotiation_id)
    # N holds Mallory's Accept, stamped by E, and both bonds locked: Bob's bond stays bound to the offer.
    assert n.escrow.balance(m.bob.did)[1] == 100, "N holds Bob's bond locked"


@pytest.mark.req("ESC-023", "KEY-011")
@pytest.mark.parametrize("stated", [0, -1])
def test_a_successor_takes_over_nothing_of_the_old_key_above_the_chain_length_stated(stated: int) -> None:
    """E locks both bonds of Mallory's Accept of Bob's offer; E's principal revokes E from an hour later,
    stating E's chain length (``stated``: 0, its length; -1, one less, its last BondLock above it), and
    hands E over to N. Expect N to take over E's statements below the length stated only, whatever their
    time: both bonds locked with the length, one with one less."""
    m, _, _, _ = _car_market()
    offer = m.b.propose(m.mallory.did, _car(m, m.escrow.did, bond=100))
    m.escrow.submit([*m.b.send_context(), offer.envelope])
    m.hide_accept(offer)
    later = m.clock.now_ms + 3_600_000
    n = _Successor(m, later)
    revoked = identity_pb2.KeyRevocation(
        key=m.escrow.did, effective_ms=later, chain_length=_chain_length(m.escrow) + stated
    )
    n.revocation = m.escrow.party.principal.sign("key_revocation", revoked)
    m.clock.now_ms = later + 1
    n.start()
    locked = n.escrow.balance(m.bob.did)[1] + n.escrow.balance(m.mallory.did)[1]
    assert locked == (200 if stated == 0 else 100), locked


@pytest.mark.req("KEY-011", "ESC-022")
def test_a_bond_lock_by_the_leaked_escrow_key_above_the_head_is_refused_whatever_its_date() -> None:
    """The BondLock form of the theft (red team 33: NEG-020's cut-off Counter freed on a lock): E's thief
    signs a BondLock of Mallory's contract by E's key at the seq after E's last, dated before the
    revocation's effective_ms. Bob's view, holding the revocation stating E's chain length, refuses it
    KEY_REVOKED; E's own last BondLock, at the head, it takes."""
    m, _, _, _ = _car_market()
    offer = m.b.propose(m.mallory.did, _car(m, m.escrow.did, bond=100))
    m.escrow.submit([*m.b.send_context(), offer.envelope])
    accept = m.hide_accept(offer)
    leak = m.clock.now_ms + 60_000
    n = _Successor(m, leak)
    revoked = identity_pb2.KeyRevocation(
        key=m.escrow.did, effective_ms=leak, chain_length=_chain_length(m.escrow)
    )
    n.revocation = m.escrow.party.principal.sign("key_revocation", revoked)
    lock = commitment_pb2.BondLock(contract=accept.digest, party=m.bob.did, amount=100)
    m.clock.now_ms = leak - 1
    thiefs = m.escrow.party.sign("bond_lock", lock, negotiation_id=offer.negotiation_id)
    assert thiefs.seq >= _chain_length(m.escrow)
    m.clock.now_ms = leak + 60_001
    n.start()
    m.b.hold(n.escrow.with_mandates(n.handover.envelope, []))
    with pytest.raises(KeyRevoked):
        m.b.hold([thiefs.envelope])
    assert m.b.verifier.revokes(thiefs)
    held = [vs for vs in map(verify_statement, m.escrow.escrow.ledger()) if vs.issuer == m.escrow.did]
    assert not m.b.verifier.revokes(held[-1]), "E's own statement at the head is E's"
