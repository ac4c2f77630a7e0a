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

import base64
import json
import shutil
from pathlib import Path
from typing import NamedTuple

import pytest
from js_run import js_module
from peers import make_peer
from test_escrow_handover import _revoke, _rule_and_settle, _story, _successor

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.merkle import root as merkle_root
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.protocol.verifier import Verifier
from a2a_coop.runtime.journal import Journal
from a2a_coop.testing import DAY_MS, FixedClock, Party, Signer
from conformance.generate_vectors.key_time import mandate_for


class Theft(NamedTuple):
    alice: Party
    bob: Party
    binding: VerifiedStatement  # K's first statement, under P's Mandate
    minted: VerifiedStatement  # the thief's Mandate, signed with K, for its agent X
    x_offer: VerifiedStatement
    k_offer: VerifiedStatement  # the thief's Offer with K, under P's Mandate
    back: VerifiedStatement  # P's revocation of K back to 1 ms


def _theft() -> Theft:
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
    return Theft(alice, bob, binding, minted, x_offer, k_offer, back)


@pytest.mark.req("KEY-011", "KEY-007", "KEY-004", "MND-012")
def test_a_principals_revocation_reaches_the_thiefs_mandate_whatever_order_the_binding_is_heard_in() -> None:
    alice, bob, binding, minted, x_offer, k_offer, back = _theft()
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
            # were all signed and taken; only the binding, heard after the revocation, is refused -- by a
            # live receiver and an escrow: a view of evidence holds it, disowned (KEY-009 (d)).
            held_last = order[0] is binding or not kw
            assert codes == ([""] * 5 if held_last else ["", "", "", "", "KEY_REVOKED"]), codes
            assert back.digest in v.statements and x_offer.digest in v.statements

            def gone(vs: VerifiedStatement, v: Verifier = v) -> bool:
                return vs.digest not in v.statements or v.disowned(v.statements[vs.digest])

            verdicts.add((tuple(sorted(kw)), gone(minted), gone(x_offer), gone(k_offer), gone(binding)))
    assert {(kind, *rest) for kind, *rest in verdicts} == {
        (kind, True, True, True, True) for kind in ((), ("evidence_view",), ("me",))
    }, sorted(verdicts)


@pytest.mark.req("KEY-007", "ESC-022", "KEY-011")
def test_a_thiefs_binding_refused_key_revoked_binds_the_key_to_its_principal_and_stops_no_hand_over() -> None:
    # The escrow key K1's principal P revokes it back before the theft; the thief then signs, with K1, a
    # Stamp under a Mandate its own principal T minted for K1: refused KEY_REVOKED, it binds K1 to T
    # (KEY-007) -- and a revocation reaches it, so K1 is bound, unrevoked, to P alone: P's hand-over counts.
    s = _story()
    _revoke(s, s.escrow.principal, s.clock.now_ms - 10)
    thief_principal = Signer("thief-principal", s.clock)
    m = identity_pb2.Mandate()
    m.CopyFrom(s.escrow.mandate_vs.statement.mandate)
    t_mandate = thief_principal.sign("mandate", m, ttl_ms=365 * DAY_MS)
    s.take(t_mandate)
    binding = s.escrow.agent.sign(
        "stamp", commitment_pb2.Stamp(statements=[s.offer.digest]), mandate=t_mandate.digest
    )
    s.take(binding)  # a view of evidence holds it, disowned, witnessing nothing (KEY-009 (d))
    # The attack happened: K1 is bound to the thief's principal by the statement, at its time.
    assert thief_principal.did in s.verifier.bound[s.escrow.did]
    assert s.verifier.bound_at[(s.escrow.did, thief_principal.did)] == (binding.issued_at_ms, binding.seq)
    assert s.verifier.disowned(binding) and s.verifier.unwitnessing(binding)
    succ = _successor(s, "escrow2", s.escrow.principal)
    _successor(s, "escrow3", thief_principal)
    assert s.verifier.successors(s.escrow.did) == ((succ.did,), s.clock.now_ms - 10)
    # T may now revoke K1 (KEY-004), back to 1 ms: it reaches none of K1's ledger under P's Mandate (P was
    # bound first, KEY-011 (b)), and moves the hand-over nowhere.
    _revoke(s, thief_principal, 1)
    assert not any(s.verifier.disowned(vs) for vs in (s.offer, s.accept))
    assert s.verifier.successors(s.escrow.did) == ((succ.did,), s.clock.now_ms - 10)
    s.take(*_rule_and_settle(s, succ))
    assert s.state() == "BREACHED"


@pytest.mark.req("KEY-007")
def test_a_statement_refused_key_revoked_and_for_something_else_binds_nothing() -> None:
    # Refused KEY_REVOKED, the thief's statement under T's Mandate is refused with no revocation held too
    # (the Mandate expired before it): it binds K1 to nobody, and T may not revoke K1 (KEY-004).
    s = _story()
    thief_principal = Signer("thief-principal", s.clock)
    m = identity_pb2.Mandate()
    m.CopyFrom(s.escrow.mandate_vs.statement.mandate)
    m.valid_until_ms = s.clock.now_ms + 1_000
    t_mandate = thief_principal.sign("mandate", m)
    s.take(t_mandate)
    s.clock.advance(2_000)
    binding = s.escrow.agent.sign(
        "stamp", commitment_pb2.Stamp(statements=[s.offer.digest]), mandate=t_mandate.digest
    )
    with pytest.raises(CoopError) as e:
        s.verifier.check(binding)  # no revocation held: refused all the same
    other = e.value.code
    assert other != "KEY_REVOKED"
    _revoke(s, s.escrow.principal, s.clock.now_ms - 10)
    with pytest.raises(CoopError) as e:
        s.take(binding)
    # a view of evidence holds what KEY-004 alone would refuse (KEY-009 (d)): refused for the rest
    assert e.value.code == other
    assert thief_principal.did not in s.verifier.bound.get(s.escrow.did, ()), other
    with pytest.raises(CoopError) as e:
        _revoke(s, thief_principal, 1)
    assert e.value.code == "REVOCATION_UNAUTHORIZED"


_JS = """
import { Verifier } from "./examples/js_verifier/verify.mjs";
const [orders, key, principal, minted, xOffer] = JSON.parse(process.argv[1]);
const out = orders.map((envelopes) => {
  const v = new Verifier({ mode: "sparse", nowMs: null, role: "auditor" });
  const codes = envelopes.map((e) => {
    try {
      v.accept(Buffer.from(e, "base64"));
      return "";
    } catch (err) {
      return err.code;
    }
  });
  const b = v.bindingAt.get(`${key}\\0${principal}`);
  const m = v.byDigest.get(minted), o = v.byDigest.get(xOffer);
  const at = { t: m.h.issued_at_ms, seq: m.h.seq };
  return [
    codes.filter((c) => c !== "").join(","),
    [Number(b.t), Number(b.seq)],
    v.revokedAt(key, m.h.issued_at_ms, v.authorityOf(m.h), m.h.seq, at).length > 0, // KEY-011 (b)
    v.revokedAt(key, o.h.issued_at_ms, null, null, o.mandateAt).length > 0, // KEY-011 (c), MND-012
  ];
});
console.log(JSON.stringify(out));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not on PATH")
@pytest.mark.req("KEY-007", "KEY-011")
def test_the_js_verifier_reads_the_same_binding_whatever_order_it_is_heard_in() -> None:
    """F35: the second implementation dated K's binding by the order it heard it in, as the reference did."""
    t = _theft()
    setup = [*t.alice.setup, *t.bob.setup]
    thefts = [t.minted, t.x_offer, t.k_offer, t.back]
    orders = [
        [base64.b64encode(e).decode() for e in [*setup, *(vs.envelope for vs in order)]]
        for order in ([t.binding, *thefts], [*thefts, t.binding])
    ]
    arg = [orders, t.alice.did, t.alice.principal.did, t.minted.digest.hex(), t.x_offer.digest.hex()]
    first, last = js_module(_JS, json.dumps(arg))
    binding = [t.binding.issued_at_ms, t.binding.seq]
    # the binding heard last is held too by a view of evidence, disowned (KEY-009 (d), F44)
    assert first == ["", binding, True, True]
    assert last == ["", binding, True, True]


@pytest.mark.req("KEY-007", "KEY-004")
def test_a_peer_keeps_a_binding_refused_key_revoked_across_a_restart(tmp_path: Path) -> None:
    # The thief revokes Alice's key K itself, then binds K to its own principal T by a Checkpoint under T's
    # Mandate: refused KEY_REVOKED, it binds K to T (KEY-007 (a)), so T's revocation of K is authorised
    # (KEY-004) and Bob's peer takes and journals it. Restarted, the peer replays that revocation: the binding
    # is kept beside the journal, or the replay would refuse it REVOCATION_UNAUTHORIZED and the peer not open.
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    thief_principal = Signer("thief-principal", clock)
    b = make_peer(bob, clock, journal=Journal.open(tmp_path / "b.db"))
    for env in alice.setup:
        b._hold(env)
    t_mandate = mandate_for(thief_principal, alice.did, alice)
    clock.advance(1_000)
    own = alice.agent.sign("key_revocation", identity_pb2.KeyRevocation(key=alice.did, effective_ms=1))
    clock.advance(1_000)
    binding = alice.agent.sign(
        "checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([own.digest])), mandate=t_mandate.digest
    )
    clock.advance(1_000)
    back = thief_principal.sign("key_revocation", identity_pb2.KeyRevocation(key=alice.did, effective_ms=1))
    b._hold(t_mandate.envelope)
    b._hold(own.envelope)
    with pytest.raises(CoopError) as e:
        b._hold(binding.envelope)
    assert e.value.code == "KEY_REVOKED"  # the attack: refused, and binding all the same
    assert thief_principal.did in b.verifier.bound[alice.did]
    b._hold(back.envelope)
    assert back.digest in b.verifier.statements
    b.journal.close()  # type: ignore[union-attr]
    again = make_peer(bob, clock, journal=Journal.open(tmp_path / "b.db"))
    assert back.digest in again.verifier.statements
    assert again.verifier.bound_at[(alice.did, thief_principal.did)] == (binding.issued_at_ms, binding.seq)
