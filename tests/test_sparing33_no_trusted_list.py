"""ATT-013 (f) in a view that states no trusted escrows (sparing33): why it reads KEY-009's per-escrow order
alone, not (f) across every escrow whose Stamp it holds.

Such a view -- an offline verifier run without ``--trust-escrow``, a vector without ``trusted_escrows`` --
reads every escrow's Stamps (ATT-013 (d)). Two readings were weighed for it: KEY-009's per-escrow order (a
statement's witnessing escrow stamped it before it stamped the revocation), and (f) across every escrow
held (the statement's Stamp counts as before only if more than WIT-003's tolerance before every other held
escrow's earliest Stamp of the revocation) -- the reading of a view that trusts every escrow it holds a
Stamp of, which is how these tests read it. An escrow is any key a Mandate names as one, and any principal
signs a Mandate: the key and its times are its minter's.

- A dishonest principal P forks its own key K, one half under honest escrow E1 and one under E2, each stamped
  there; then it revokes K back over them and has an escrow key M it minted stamp the revocation, dated a
  minute before E1's and E2's Stamps. Per escrow, E1 and E2 stamped the halves and never the revocation: P is
  convicted. Across every escrow held, M's Stamp comes first: P is spared in every view that states no list --
  the escape the second reading opens.
- A thief of K, after P revoked K and P's escrow E_P stamped it, forks K under escrows M1 and M2 the thief
  minted, their Stamps of the halves dated a minute before E_P's of the revocation (after the revocation's
  effective_ms, dated back to the leak): P is convicted under both readings. What the second reading
  would close -- the honest uninformed escrows of red team 32 -- a thief does with its own escrow anyway.
"""

from __future__ import annotations

import copy
from collections.abc import Collection

import pytest

from a2a_coop._proto.a2acoop.v1 import identity_pb2
from a2a_coop.protocol.forks import ForkProof, verify_fork_proof
from a2a_coop.protocol.merkle import root as merkle_root
from a2a_coop.protocol.reputation import convicted
from a2a_coop.protocol.statements import verify_statement
from a2a_coop.runtime.evidence import EvidenceVerifier
from a2a_coop.testing import FixedClock, LocalEscrow, Party

_MINUTE = 60_000


def _stamps(envelopes: list[bytes]) -> list[bytes]:
    stamps = [e for e in envelopes if verify_statement(e).body == "stamp"]
    assert stamps, "the escrow took it"
    return stamps


def _fork(
    alice: Party, bob: Party, e1: LocalEscrow, e2: LocalEscrow
) -> tuple[list[bytes], ForkProof, list[bytes]]:
    """Bob offers to Alice under ``e1`` and under ``e2``; her key K counters each, naming its escrow, at one
    seq (a fork), and each escrow stamps its half (it sees no fork). Returns (everything but the second
    half, the proof, the escrows' Stamps)."""
    to_e1, to_e2 = (bob.offer(alice, bob.proposal(escrow=e.did)) for e in (e1, e2))
    writer = copy.deepcopy(alice.agent.writer)
    one = alice.counter(to_e1, alice.proposal(escrow=e1.did))
    alice.agent.writer = writer
    two = alice.counter(to_e2, alice.proposal(escrow=e2.did))
    proof = ForkProof(one.envelope, two.envelope)
    assert verify_fork_proof(proof) == alice.did
    alice.clock.advance(1_000)
    stamps = [
        *_stamps(e1.submit([*alice.setup, *bob.setup, to_e1.envelope, one.envelope])),
        *_stamps(e2.submit([*alice.setup, *bob.setup, to_e2.envelope, two.envelope])),
    ]
    return [to_e1.envelope, to_e2.envelope, one.envelope], proof, stamps


def _view(held: list[bytes], proof: ForkProof) -> EvidenceVerifier:
    v = EvidenceVerifier()
    for env in dict.fromkeys(held):
        v.accept(env)  # the fork's second half is refused here, kept below
    assert v.take_fork_proof(proof) is not None
    return v


def _spared(v: EvidenceVerifier, alice: Party, proof: ForkProof, trusted: Collection[str] | None) -> bool:
    return alice.principal.did not in convicted(v, alice.did, proof, trusted)


@pytest.mark.req("ATT-013", "KEY-009")
def test_a_revokers_own_escrow_backdating_its_stamp_spares_it_only_where_trusted() -> None:
    """P forks K, one half under E1 and one under E2, each stamped there; P revokes K back over them and its
    own escrow M stamps the revocation dated a minute before E1's and E2's Stamps. Expect P convicted by a
    view stating no list (KEY-009 per escrow: neither stamped the revocation) and by one trusting E1 and E2;
    spared only by a view trusting M too -- what reading (f) across every held escrow would make of every view
    stating no list."""
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    e1, e2 = LocalEscrow(Party("escrow-1", clock)), LocalEscrow(Party("escrow-2", clock))
    m = LocalEscrow(Party("escrow-m-of-p", clock))
    binding = alice.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([])))
    clock.advance(1_000)
    # P's own times: the revocation and M's Stamp of it, dated a minute before the fork E witnesses
    back = identity_pb2.KeyRevocation(key=alice.did, effective_ms=clock.now_ms, reason="robbed, it says")
    revocation = alice.principal.sign("key_revocation", back)
    by_m = _stamps(m.submit([*alice.setup, binding.envelope, revocation.envelope]))
    clock.advance(_MINUTE)
    statements, proof, by_e = _fork(alice, bob, e1, e2)
    held = [e1.mandate, e2.mandate, m.mandate, *alice.setup, *bob.setup, binding.envelope, *statements]
    v = _view([*held, revocation.envelope, *by_m, *by_e], proof)
    assert alice.did in v.revoked
    assert not _spared(v, alice, proof, None), "a view stating no list spared on the revoker's own escrow"
    assert not _spared(v, alice, proof, {e1.did, e2.did})
    assert _spared(v, alice, proof, {e1.did, e2.did, m.did})  # the escape, where a view chose to trust M


@pytest.mark.req("ATT-013", "KEY-009")
def test_a_thiefs_own_escrow_dated_before_the_revocations_stamp_convicts_under_either_reading() -> None:
    """P revokes K back to the leak; a thief forks K under escrows M1 and M2 it minted, whose Stamps of the
    halves are dated a minute before P's escrow E_P stamps the revocation. Expect P convicted by a view
    stating no list and by one trusting E_P, M1 and M2 (reading (f) across them): the framing a view with no
    list is open to stays open whichever way it reads the order of escrows."""
    clock = FixedClock()
    alice, mallory = Party("alice", clock), Party("mallory", clock)
    ep = LocalEscrow(Party("escrow-p", clock))
    m1, m2 = (LocalEscrow(Party(f"escrow-m{i}-of-thief", clock)) for i in (1, 2))
    binding = alice.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([])))
    clock.advance(1_000)
    leaked = identity_pb2.KeyRevocation(key=alice.did, effective_ms=clock.now_ms, reason="leaked")
    clock.advance(1_000)
    statements, proof, by_m = _fork(alice, mallory, m1, m2)
    clock.advance(_MINUTE)
    revocation = alice.principal.sign("key_revocation", leaked)
    by_ep = _stamps(ep.submit([*alice.setup, binding.envelope, revocation.envelope]))
    held = [ep.mandate, m1.mandate, m2.mandate, *alice.setup, *mallory.setup, binding.envelope, *statements]
    v = _view([*held, revocation.envelope, *by_ep, *by_m], proof)
    assert not _spared(v, alice, proof, None)
    assert not _spared(v, alice, proof, {ep.did, m1.did, m2.did})
    assert _spared(v, alice, proof, {ep.did})  # ATT-013 (d): a view that did not choose M1 and M2 spares P
