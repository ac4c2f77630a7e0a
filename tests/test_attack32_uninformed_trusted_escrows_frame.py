"""Red team 32: a thief of a revoked key frames its principal through two honest escrows the view trusts,
after an escrow it trusts too stamped the revocation (ATT-013 (b), (d), KEY-009) -- closed by (f).

ATT-013 (d) (trust31) reads "witnessed before" only from escrows the view trusts, so that a thief's own
escrow cannot convict the principal P that revoked the key K. But KEY-009 reads "witnessed before" per
witnessing escrow -- that escrow's Stamp of the statement before its own Stamp of the revocation, and "one
the escrow stamped in no Stamp held does not count" -- and the escrow an Offer or Counter names is still the
thief's choice among every honest escrow. P revokes K and has its own escrow E_P stamp the revocation. A
minute later the thief, holding K, forks K's chain: a Counter of one offer naming public escrow E1 and, at
the same seq, a Counter of another naming public escrow E2 -- two escrows P never dealt with and could not
know to tell. Each stamps its half (neither holds P's revocation, neither sees a fork). Carol's peer trades
under E_P, E1 and E2 (their Mandates given): it holds P's revocation, E_P's Stamp of it, the proof and E1's
and E2's Stamps (ATT-025 carries them), and convicts P -- and P's new key (ATT-007) -- though every escrow it
trusts that saw both says the revocation came first: E_P stamped it a minute before E1 and E2 stamped the
halves.

Who chose the values: the Counters, their seq and the escrows they name, the thief (K's holder after the
revocation); which escrows were told of the revocation, P -- bounded by which escrows P knows. What the
thief gained: P's standing, and its new key's, in every view that trusts any two public escrows P did not
reach. Closed by ATT-013 (f): a trusted escrow's Stamp of a statement is before P's revocation only when it
is also more than WIT-003's tolerance before the earliest Stamp of that revocation by any other escrow the
view trusts -- a function of the Stamps held, whatever order they were heard in.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest
from peers import make_peer
from test_attack27b_thief_frames_principal import _new_key

from a2a_coop._proto.a2acoop.v1 import identity_pb2
from a2a_coop.protocol.forks import ForkProof, verify_fork_proof
from a2a_coop.protocol.merkle import root as merkle_root
from a2a_coop.protocol.negotiation import CLOCK_TOLERANCE_MS
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.runtime import gossip
from a2a_coop.runtime.peer import Peer
from a2a_coop.testing import FixedClock, LocalEscrow, Party


def _carol_after_the_swap(
    *, trusting_e1_e2: bool, told_after_ms: int | None = None, proof_first: bool = False
) -> tuple[Party, Peer, Callable[[Party], Peer]]:
    """P revokes K and E_P stamps the revocation; a minute later the thief forks K with a Counter under E1
    and one under E2, each stamped there; Carol's peer (given E_P's Mandate, and with ``trusting_e1_e2``
    E1's and E2's) holds P's revocation and E_P's Stamp of it, then swaps with the thief's peer, which
    holds the proof and the two Stamps (``proof_first``: in the other order). ``told_after_ms``: P tells
    E_P that long after E1 and E2 stamped the halves instead (the revocation dated back to the leak).
    Returns (Alice, Carol's peer, a maker of another peer trusting as Carol does)."""
    clock = FixedClock()
    alice, mallory, carol = Party("alice", clock), Party("mallory", clock), Party("carol", clock)
    ep, e1, e2 = (LocalEscrow(Party(name, clock)) for name in ("escrow-p", "escrow-1", "escrow-2"))
    binding = alice.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([])))
    clock.advance(1_000)
    leaked = identity_pb2.KeyRevocation(key=alice.did, effective_ms=clock.now_ms, reason="leaked")

    known = ep.submit([*alice.setup, binding.envelope])

    def tell() -> tuple[VerifiedStatement, list[bytes]]:
        revocation = alice.principal.sign("key_revocation", leaked)
        told = [*known, *ep.submit([revocation.envelope])]  # P tells its own escrow
        assert any(verify_statement(e).body == "stamp" for e in told[1:])
        return revocation, told

    if told_after_ms is None:
        revocation, told = tell()
        clock.advance(60_000)
    to_e1 = mallory.offer(alice, mallory.proposal(escrow=e1.did))
    to_e2 = mallory.offer(alice, mallory.proposal(escrow=e2.did))
    clock.advance(1_000)
    writer = copy.deepcopy(alice.agent.writer)
    one = alice.counter(to_e1, alice.proposal(escrow=e1.did))
    alice.agent.writer = writer  # the thief signs the other half at the same seq
    two = alice.counter(to_e2, alice.proposal(escrow=e2.did))
    proof = ForkProof(one.envelope, two.envelope)
    assert verify_fork_proof(proof) == alice.did
    clock.advance(1_000)
    stamped = [
        *e1.submit([*alice.setup, *mallory.setup, to_e1.envelope, one.envelope]),
        *e2.submit([*alice.setup, *mallory.setup, to_e2.envelope, two.envelope]),
    ]
    assert sum(verify_statement(e).body == "stamp" for e in stamped) >= 2  # each escrow took its half
    if told_after_ms is not None:
        clock.advance(told_after_ms)
        revocation, told = tell()
    thiefs_peer = make_peer(Party("thiefs-peer", clock), clock)
    for env in dict.fromkeys([*e1.party.setup, *e2.party.setup, *alice.setup, *stamped]):
        thiefs_peer.verifier.accept(env)
    assert thiefs_peer.verifier.take_fork_proof(proof) is not None
    trusted = [ep.mandate, e1.mandate, e2.mandate] if trusting_e1_e2 else [ep.mandate]
    carols = make_peer(carol, clock, context=trusted)
    if proof_first:
        carols.hold([*alice.setup, binding.envelope])
        gossip.swap(carols, thiefs_peer, thiefs_peer.did)
        assert alice.principal.did in carols.reputation.faulty()  # no revocation held yet
    carols.hold([*alice.setup, binding.envelope, revocation.envelope, *told])
    assert alice.did in carols.verifier.revoked
    if not proof_first:
        gossip.swap(carols, thiefs_peer, thiefs_peer.did)  # the proof, with E1's and E2's Stamps (ATT-025)
    assert alice.did in carols.verifier.forks  # the key itself is fair game: it signed both
    return alice, carols, lambda party: make_peer(party, clock, context=trusted)


@pytest.mark.req("ATT-013", "KEY-009")
def test_the_uninformed_escrows_stamps_convict_no_one_in_a_view_that_does_not_trust_them() -> None:
    """The control: Carol trading under E_P alone spares P (ATT-013 (d)): the conviction below is the
    trusted uninformed escrows' Stamps."""
    alice, carols, _ = _carol_after_the_swap(trusting_e1_e2=False)
    assert alice.principal.did not in carols.reputation.faulty()


@pytest.mark.parametrize("proof_first", [False, True], ids=["revocation-first", "proof-first"])
@pytest.mark.req("ATT-013", "KEY-009")
def test_two_uninformed_trusted_escrows_do_not_convict_the_principal_a_trusted_escrow_saw_revoke_first(
    proof_first: bool,
) -> None:
    """Carol trades under E_P, E1 and E2. E_P stamped P's revocation a minute before E1 and E2 stamped the
    thief's halves; expect P and its new key spared, whichever Carol heard first. They were faulty there."""
    alice, carols, _ = _carol_after_the_swap(trusting_e1_e2=True, proof_first=proof_first)
    k2, mandate, k2_binding = _new_key(alice)
    carols.hold([mandate.envelope, k2_binding.envelope])
    assert alice.principal.did not in carols.reputation.faulty(), "P framed through escrows it never knew"
    assert not carols.reputation.score(k2.did).faulty


@pytest.mark.parametrize("proof_first", [False, True], ids=["revocation-first", "proof-first"])
@pytest.mark.parametrize(
    ("told_after_ms", "spared"),
    [(CLOCK_TOLERANCE_MS, True), (CLOCK_TOLERANCE_MS + 1, False)],
    ids=["within-the-tolerance", "past-the-tolerance"],
)
@pytest.mark.req("ATT-013", "KEY-009")
def test_a_revocation_a_trusted_escrow_stamped_later_spares_only_within_the_tolerance(
    told_after_ms: int, spared: bool, proof_first: bool
) -> None:
    """P told E_P of the revocation only after E1 and E2 stamped the halves: no more than WIT-003's
    tolerance after them, the view cannot vouch for the order of two escrows' clocks and spares P; more
    than that after, trusted escrows witnessed the pair before any it trusts heard of the revocation, and
    P answers for it (ATT-013 (b)) -- whatever order Carol heard them in."""
    alice, carols, _ = _carol_after_the_swap(
        trusting_e1_e2=True, told_after_ms=told_after_ms, proof_first=proof_first
    )
    assert (alice.principal.did not in carols.reputation.faulty()) is spared


@pytest.mark.req("ATT-013", "ATT-024")
def test_a_view_that_spares_the_principal_carries_the_trusted_stamp_of_the_revocation_on() -> None:
    """Carol spares P on E_P's Stamp of the revocation (ATT-013 (f)); Dave, trading under the same three
    escrows and hearing of the fork only from Carol, spares P too: the swap carries E_P's Stamp (ATT-024)."""
    alice, carols, trusting_as_carol = _carol_after_the_swap(trusting_e1_e2=True)
    daves = trusting_as_carol(Party("dave", FixedClock()))
    gossip.swap(daves, carols, carols.did)
    assert alice.did in daves.verifier.forks
    assert alice.did in daves.verifier.revoked
    assert alice.principal.did not in daves.reputation.faulty()
