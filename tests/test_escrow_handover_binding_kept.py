"""KEY-007 (a) at an escrow, across ESC-022's hand-over: a binding the escrow kept (refused ``KEY_REVOKED``,
shown, not held) binds the key at its successor as it did at the escrow -- a thief's binding too, and one
the successor itself kept right after the transcript it took over.

Two stories, each through real EscrowNodes with real signatures, restarted from their journals (replayed,
and resumed from a snapshot) and audited (AUD-003, AUD-006):

* a thief's binding: Alice's key K is bound to her principal P; a thief holding it, after P revoked K from
  the theft on, binds K to its own principal T with a Checkpoint under T's Mandate -- refused
  ``KEY_REVOKED`` at the escrow (P's revocation reaches what K signs under a principal bound later,
  KEY-011) and kept: K bound to T from there. The escrow key is then handed over: the successor binds K to
  T exactly there too, and to P as before;
* a binding placed after the evidence taken over: the successor K2 takes K1's transcript over (Bob's
  Offer naming K1 in it), then is shown a thief's revocation of Alice's key and her Accept of the Offer
  signed after it -- refused ``KEY_REVOKED``, kept unstamped right after what came last, which is K1's
  taken-over evidence and the revocations of K1 -- and P's revocation it authorises. Restarted, K2 binds K
  there again, before anything later, and takes P's revocation as before.

Who chose what: the thief the binding's times and seq, P and T their revocation's and Mandate's; the
submitter the order of Submits; the principal of the escrow key the hand-over -- and the successor binds by
what the escrow bound, no more.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_escrow_binding_order import _audited, _Authorised, _node, _submit
from test_escrow_negotiation_binding import _accept

from a2a_coop._proto.a2acoop.v1 import identity_pb2
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.escrow_audit import audit_ledger
from a2a_coop.protocol.merkle import root as merkle_root
from a2a_coop.protocol.statements import verify_statement
from a2a_coop.runtime.node import EscrowNode
from a2a_coop.testing import DAY_MS, FixedClock, Party, Signer
from conformance.generate_vectors.key_time import mandate_for


def _successor(party: Party, clock: FixedClock) -> tuple[Party, bytes]:
    """The escrow key's principal revokes it from now and hands its ledger to a new key (ESC-022)."""
    clock.advance(1_000)
    rev = party.principal.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=party.did, effective_ms=clock.now_ms)
    )
    clock.advance(1_000)
    succ = Party("escrow2", clock)
    m = identity_pb2.Mandate()
    m.CopyFrom(party.mandate_vs.statement.mandate)
    m.agent, m.succeeds = succ.did, party.did
    succ.mandate_vs = party.principal.sign("mandate", m, ttl_ms=365 * DAY_MS)
    return succ, rev.envelope


def _k2(
    succ: Party, clock: FixedClock, db: Path, predecessor: list[bytes], snapshot_every: int = 0
) -> EscrowNode:
    return EscrowNode(
        succ.agent.key,
        succ.mandate_vs.envelope,
        db,
        clock=lambda: clock.now_ms,
        durability="normal",
        snapshot_every=snapshot_every,
        predecessor=predecessor,
    )


class _ThiefBinds:
    """Alice's key K, bound to her principal P by her Checkpoint (``own``); a thief holding K revokes it
    itself (``revoked``, back to 1 ms: it reaches what K signs from its seq on, KEY-011 (a)); the thief's
    principal T signs a Mandate for K, and the thief, with K, a Checkpoint under it (``binding``): refused
    KEY_REVOKED, it binds K to T there (KEY-007 (a)), so T's revocation of K (``back``), which only that
    binding authorises (KEY-004), is taken."""

    def __init__(self) -> None:
        self.clock = clock = FixedClock()
        self.alice, self.party = Party("alice", clock), Party("escrow", clock)
        self.own = self.alice.sign("checkpoint", identity_pb2.Checkpoint())  # K bound to P
        clock.advance(60_000)  # the theft
        self.t = Signer("t", clock)  # the thief's own principal
        self.t_mandate = mandate_for(self.t, self.alice.did, self.alice)
        clock.advance(1_000)
        self.revoked = self.alice.agent.sign(
            "key_revocation", identity_pb2.KeyRevocation(key=self.alice.did, effective_ms=1)
        )
        clock.advance(1_000)
        self.binding = self.alice.agent.sign(
            "checkpoint",
            identity_pb2.Checkpoint(log_root=merkle_root([self.own.digest, self.revoked.digest])),
            mandate=self.t_mandate.digest,
        )
        clock.advance(1_000)
        self.back = self.t.sign(
            "key_revocation", identity_pb2.KeyRevocation(key=self.alice.did, effective_ms=1)
        )
        clock.advance(1_000)


@pytest.mark.req("KEY-007", "ESC-022", "ESC-023", "AUD-006")
def test_a_successor_binds_the_key_to_the_thiefs_principal_where_the_escrow_kept_its_refused_binding(
    tmp_path: Path,
) -> None:
    s = _ThiefBinds()
    key, p, t = s.alice.did, s.alice.principal.did, s.t.did
    old = _node(s.party, s.clock, tmp_path / "old.db")
    try:
        old.submit([*s.alice.setup, s.own.envelope])
        old.submit([s.t_mandate.envelope])
        assert _submit(old, s.revoked) != "KEY_REVOKED"
        assert _submit(old, s.back) == "REVOCATION_UNAUTHORIZED"  # T bound to nothing yet
        with pytest.raises(CoopError) as refused:
            old.escrow.verifier.check(s.binding)
        assert refused.value.code == "KEY_REVOKED"  # the thief's binding, refused by the key's own revocation
        said = _submit(old, s.binding)  # ... and stamped, kept shown (KEY-007 (a): of no negotiation)
        assert isinstance(said, list) and verify_statement(said[-1]).body == "stamp"
        assert s.binding.digest not in old.escrow.verifier.statements
        assert _submit(old, s.back) != "REVOCATION_UNAUTHORIZED"  # authorised by it: taken
        assert old.escrow.shown_binding(s.binding.digest) is not None
        at_old = old.escrow.verifier.bound_at[(key, t)]
        assert at_old == (s.binding.issued_at_ms, s.binding.seq)
        assert old.escrow.verifier.bound_at[(key, p)] == (s.own.issued_at_ms, s.own.seq)
        transcript = _audited(old, s.party.did)
    finally:
        old.close()
    succ, rev = _successor(s.party, s.clock)
    db = tmp_path / "new.db"
    for restart in (False, True):
        new = _k2(succ, s.clock, db, [] if restart else [*transcript, rev])
        try:
            v = new.escrow.verifier
            assert s.binding.digest not in v.statements  # kept, shown, not held -- as at K1
            assert v.bound_at[(key, t)] == at_old  # the successor binds K to T where K1 did
            assert v.bound_at[(key, p)] == (s.own.issued_at_ms, s.own.seq)
            assert s.back.digest in v.statements  # T's revocation, which only the binding authorises
            taken = new.escrow.transcript()
            assert s.binding.envelope in taken
            report = audit_ledger(taken, escrow=succ.did)
            assert report.ok, report.findings
        finally:
            new.close()


@pytest.mark.req("KEY-007", "ESC-022", "ESC-023", "AUD-006")
@pytest.mark.parametrize("snapshot_every", [0, 1])
@pytest.mark.parametrize("own_at", ["k1", "k2"])
def test_a_successor_keeps_a_binding_placed_right_after_the_evidence_it_took_over(
    tmp_path: Path, snapshot_every: int, own_at: str
) -> None:
    """``own_at`` k1: the thief's own revocation of Alice's key is K1's evidence too, so the Accept is the
    first thing K2 is shown, kept right after the transcript it took over (and the revocation of K1 beside
    it); k2: K2 stamps that revocation first, and the Accept is kept right after K2's own Stamp."""
    s = _Authorised(_accept)
    old = _node(s.party, s.clock, tmp_path / "old.db")
    try:
        old.submit(s.setup)  # Bob's Offer naming K1, stamped: K1's evidence
        if own_at == "k1":
            assert _submit(old, s.own) != "KEY_REVOKED"
        transcript = old.escrow.transcript()
    finally:
        old.close()
    succ, rev = _successor(s.party, s.clock)
    key, p = s.alice.did, s.alice.principal.did
    db = tmp_path / "new.db"
    new = _k2(succ, s.clock, db, [*transcript, rev], snapshot_every)
    try:
        if snapshot_every:
            new.tick()  # a snapshot holding exactly the evidence taken over
        if own_at == "k2":
            assert _submit(new, s.own) != "KEY_REVOKED"
        assert _submit(new, s.binding) == "KEY_REVOKED"  # right after: kept, unstamped
        assert new.escrow.shown_binding(s.binding.digest) is not None
        assert _submit(new, s.back) not in ("REVOCATION_UNAUTHORIZED", "KEY_REVOKED", "CHAIN_GAP")
        v = new.escrow.verifier
        assert s.back.digest in v.statements
        assert v.bound_at[(key, p)] == (s.binding.issued_at_ms, s.binding.seq)
        assert v.negotiations.get(s.offer.header.negotiation_id).contract is None  # it moved nothing
        said = new.escrow.transcript()
        report = audit_ledger(said, escrow=succ.did)
        assert report.ok, report.findings
    finally:
        new.close()
    again = _k2(succ, s.clock, db, [], snapshot_every)
    try:
        if snapshot_every:
            assert again.resumed_from is not None
        v = again.escrow.verifier
        assert again.escrow.transcript() == said
        assert v.bound_at[(key, p)] == (s.binding.issued_at_ms, s.binding.seq)
        assert s.back.digest in v.statements and s.binding.digest not in v.statements
        assert _submit(again, s.binding) == "KEY_REVOKED"  # ESC-007: as the first time
        assert verify_statement(s.offer.envelope).digest in v.statements
    finally:
        again.close()
