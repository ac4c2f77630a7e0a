"""ESC-022's Left open, checked (SPEC 9.6): a verifier that took a thief's binding of the escrow key K1 to
the thief's own principal before it held the principal's revocation of K1 dated before that binding no
longer holds the binding against the hand-over. A hand-over is honoured by the bindings no held revocation
reaches (KEY-011), read from the statements held each time, so the order the binding, the revocation and
the hand-over were heard in decides nothing."""

from __future__ import annotations

import copy
from itertools import permutations

import pytest
from test_escrow_handover import _rule_and_settle, _story, _successor

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.testing import DAY_MS, Signer


@pytest.mark.req("ESC-022", "KEY-011", "KEY-007")
def test_a_thiefs_binding_heard_before_the_revocation_blocks_no_hand_over_in_any_order() -> None:
    """K1 is stolen; the thief has its own principal T mint a Mandate for K1 and signs a Stamp with K1 under
    it (binding K1 to T, KEY-007); an hour later P revokes K1 from before that binding and hands K1's
    contracts over to K2, which stamps Alice's claim, upholds it, forfeits Bob's bond and releases hers.
    Every order of the thief's Mandate and binding, P's revocation and P's hand-over, followed by K2's
    statements: every view honours the hand-over and ends BREACHED (the binding is refused `KEY_REVOKED`
    where the revocation came first, and held but reached by it where it came after). The Left open said
    a view that took the binding first held it against the hand-over for good."""
    s = _story()
    held: list[VerifiedStatement] = []
    s.take = lambda *vs: held.extend(vs)  # type: ignore[method-assign]  # sign now, feed each view later
    thief_principal = Signer("thief-principal", s.clock)
    caps = identity_pb2.Mandate()
    caps.CopyFrom(s.escrow.mandate_vs.statement.mandate)
    t_mandate = thief_principal.sign("mandate", caps, ttl_ms=365 * DAY_MS)
    compromised = s.clock.now_ms
    s.clock.advance(1)
    binding = s.escrow.agent.sign(
        "stamp", commitment_pb2.Stamp(statements=[s.offer.digest]), mandate=t_mandate.digest
    )
    s.clock.advance(3_600_000)
    revocation = s.escrow.principal.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=s.escrow.did, effective_ms=compromised)
    )
    successor = _successor(s, "escrow2", s.escrow.principal)
    (hand_over,) = held
    settled = _rule_and_settle(s, successor)
    k2 = [*held[1:], *settled]  # its Stamp of the claim (taken through s.take), Ruling, Forfeit, Release
    assert [vs.body for vs in k2] == ["stamp", "ruling", "forfeit", "release"]
    blocks = {"thief": [t_mandate, binding], "revocation": [revocation], "hand-over": [hand_over]}
    outcomes = set()
    for order in permutations(blocks):
        v = copy.deepcopy(s.verifier)  # the story up to Alice's claim
        refused = []
        for vs in [*(x for name in order for x in blocks[name]), *k2]:
            try:
                v.accept(vs.envelope)
            except CoopError as e:
                refused.append((vs.body, e.code))
        # held in every order, disowned, witnessing nothing (KEY-009 (d)); before, refused `KEY_REVOKED`
        # heard after the revocation
        assert refused == [], (order, refused)
        assert v.disowned(binding) and v.unwitnessing(v.statements[binding.digest])
        outcomes.add((v.successors(s.escrow.did), v.negotiations.get(s.nid).state.name))
    assert outcomes == {(((successor.did,), compromised), "BREACHED")}, outcomes
