"""Attacker's pass 21: where KEY-011 (b)/(c) read a key's binding, a binding refused is no binding.

KEY-011 (b) and (c) reach a principal P's revocation of a key K back to its effective_ms over K's own word
(a statement under no Mandate) and over the Mandates K issued only from "K's earliest statement *held*
binding it to P". A statement of K under P's Mandate that a held revocation reaches is refused `KEY_REVOKED`
(KEY-004) when heard after it, and binds nothing (KEY-007: only a refusal for K's chain or nonce binds);
heard before it, it is held -- disowned, but held -- and binds. So the time K was bound to P, and with it how
far P's revocation reaches, depends on the order a view heard P's revocation and K's binding in.

Played with real signatures: Alice's key K binds itself to her principal P (a public Checkpoint, its first
statement). A thief steals K and, with it, mints a Mandate for its own agent X (K acting as a principal:
MND-021 is the signer's rule, verifiers check nothing of it), X offers Bob a trade, and the thief signs an
Offer with K under P's Mandate. P revokes K back to 1 ms -- before everything K signed. A view that heard the
binding first disowns the thief's Mandate and X's Offer (K bound to P before it minted the Mandate, KEY-011
(c)); one that heard the binding last -- after the revocation, which refuses it -- dates K's binding to P at
the thief's Offer, after the Mandate, and keeps both: the same five statements shown, two verdicts.
"""

from __future__ import annotations

import pytest

from a2a_coop._proto.a2acoop.v1 import identity_pb2
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.protocol.verifier import Verifier
from a2a_coop.testing import FixedClock, Party
from conformance.generate_vectors.key_time import mandate_for


@pytest.mark.xfail(
    strict=True,
    reason=(
        "KEY-011 (b)/(c) read K's earliest binding *held*: a binding heard after a revocation that "
        "reaches it is refused KEY_REVOKED and binds nothing (KEY-007), so a view that heard P's "
        "revocation before K's binding dates the binding later and keeps the thief's Mandate and its "
        "agent's Offer, which a view that heard the binding first disowns (fix proposed in the redteam21 "
        "report: a statement refused only KEY_REVOKED binds K as one refused for its chain does)"
    ),
)
@pytest.mark.req("KEY-011", "KEY-007", "KEY-004", "MND-012")
def test_a_principals_revocation_reaches_the_thiefs_mandate_whatever_order_the_binding_is_heard_in() -> None:
    clock = FixedClock()
    alice, bob, x = Party("alice", clock), Party("bob", clock), Party("x", clock)
    binding = alice.sign("checkpoint", identity_pb2.Checkpoint())  # K's first statement, under P's Mandate
    clock.advance(60_000)  # the theft
    minted = mandate_for(alice.agent, x.did, alice)  # the thief mints, with K, a Mandate for its agent X
    x.mandate_vs, x.setup = minted, [minted.envelope]
    clock.advance(1_000)
    x_offer = x.offer(bob)
    clock.advance(1_000)
    k_offer = alice.offer(bob)  # the thief's Offer with K, under P's Mandate: it binds K to P too
    clock.advance(3_600_000)
    back = alice.principal.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=alice.did, effective_ms=1, reason="stolen")
    )
    thefts = [minted, x_offer, k_offer, back]
    verdicts = set()
    for order in ([binding, *thefts], [*thefts, binding]):
        for kw in ({}, {"evidence_view": False}, {"me": bob.did}):
            v = Verifier(**kw)  # type: ignore[arg-type]
            for env in (*alice.setup, *bob.setup):
                v.accept(env)
            codes = []
            for vs in order:
                try:
                    v.accept(vs.envelope)
                    codes.append("")
                except CoopError as e:
                    codes.append(e.code)
            # The attack happened: the thief's Mandate, X's Offer, the thief's Offer and P's revocation
            # were all signed and taken; only the binding, heard after the revocation, is refused.
            assert codes == ([""] * 5 if order[0] is binding else ["", "", "", "", "KEY_REVOKED"]), codes
            assert back.digest in v.statements and x_offer.digest in v.statements

            def gone(vs: VerifiedStatement, v: Verifier = v) -> bool:
                return vs.digest not in v.statements or v.disowned(v.statements[vs.digest])

            verdicts.add((tuple(sorted(kw)), gone(minted), gone(x_offer), gone(k_offer), gone(binding)))
    assert {(kind, *rest) for kind, *rest in verdicts} == {
        (kind, True, True, True, True) for kind in ((), ("evidence_view",), ("me",))
    }, sorted(verdicts)
