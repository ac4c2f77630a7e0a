"""KEY-007 (a) at an escrow taking evidence (ESC-001), for a statement of a negotiation.

A statement of a key K under its principal P's Mandate binds K to P (KEY-007); heard after a revocation that
reaches it, it is refused ``KEY_REVOKED`` and binds K all the same (KEY-007 (a)), so how far a revocation
reaches (KEY-011) and whom K answers to (KEY-004) do not depend on the order a verifier heard them in. An
escrow bound so by a statement of no negotiation only (it stamps that one and keeps it, shown, not held):
when K's earliest statement under P's Mandate it was shown was an Offer or Accept heard after the revocation,
it dated K's binding to P later than a view that heard it first, and the order of Submits -- the submitter's
choice -- decided what the escrow took. Now it binds by one of a negotiation too: refused still (a live
party, KEY-004, KEY-009: it moves no negotiation, and no Stamp names it), kept, shown, not held, right after
what came last in its order; its restart binds K again there, its transcript (whole, paged, exported from
the journal) places it there, its audit binds by it there, and a successor taking the transcript over does.
Every order is played through a real EscrowNode with real signatures, restarted from its journal (with and
without a snapshot) and audited.
"""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import pytest
from test_escrow_binding_order import (
    _answers,
    _audited,
    _Authorised,
    _fed,
    _js_reads,
    _node,
    _Reach,
    _submit,
    _taken_over,
)

from a2a_coop._proto.a2acoop.v1 import identity_pb2
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.escrow import Escrow
from a2a_coop.protocol.escrow_audit import audit_ledger
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.runtime.node import EscrowNode
from a2a_coop.runtime.strangers import StrangerQuota
from a2a_coop.testing import DAY_MS, Signer


def _stamped(e: EscrowNode, digest: bytes) -> bool:
    """Whether a Stamp of the escrow's names ``digest``."""
    for env in e.escrow.ledger():
        vs = verify_statement(env)
        if vs.body == "stamp" and digest in vs.statement.stamp.statements:
            return True
    return False


def _offer(s: _Reach) -> VerifiedStatement:
    """K's first statement, an Offer to Bob naming the escrow: a binding of a negotiation."""
    return s.alice.offer(s.bob, s.alice.proposal(escrow=s.party.did))


@pytest.mark.req("KEY-007", "KEY-011", "MND-012", "ESC-001", "ESC-007", "AUD-003", "ESC-006")
@pytest.mark.parametrize("snapshot_every", [0, 1])
def test_an_escrow_reads_an_offer_heard_after_the_revocation_as_one_heard_before_in_every_order(
    tmp_path: Path, snapshot_every: int
) -> None:
    s = _Reach(_offer)
    alice, party, binding, back, x_said = s.alice, s.party, s.binding, s.back, s.x_said
    key, principal = alice.did, alice.principal.did
    held_in = set()
    for n, order in enumerate(itertools.permutations([binding, back, x_said])):
        path = tmp_path / f"{snapshot_every}-{n}.db"
        e = _node(party, s.clock, path, snapshot_every)
        try:
            e.submit(s.setup)  # K bound to P, by the thief's Checkpoint
            first, _ = _fed(e, order)
            at = {vs.digest: i for i, vs in enumerate(order)}
            if at[back.digest] < at[binding.digest]:
                # The attack's setting: the Offer, heard after P's revocation, is refused (a live party) --
                # no Stamp of it, no negotiation at the escrow -- and binds K to P all the same.
                assert first[at[binding.digest]] == "KEY_REVOKED"
                assert binding.digest not in e.escrow.verifier.statements
                assert e.escrow.verifier.negotiations.find(binding.header.negotiation_id) is None
                assert not _stamped(e, binding.digest)
                assert e.escrow.shown_binding(binding.digest) is not None
                assert e.journal.by_digest(binding.digest) is None  # in no chain: no journal row
            else:
                assert _stamped(e, binding.digest)  # taken: a live negotiation
            held_in.add(binding.digest in e.escrow.verifier.statements)
            # X's statement is refused exactly when both the Offer and P's revocation came before it, in
            # whichever order those two came (before: only when the Offer came first).
            late = at[x_said.digest] > max(at[binding.digest], at[back.digest])
            assert (first[at[x_said.digest]] == "KEY_REVOKED") is late, (n, first)
            assert (x_said.digest in e.escrow.verifier.statements) is not late
            assert e.escrow.verifier.bound_at[(key, principal)] == (binding.issued_at_ms, binding.seq)
            transcript = _audited(e, party.did)  # whole, paged (GetTranscript) and exported
            assert binding.envelope in transcript
            everything = [*map(verify_statement, s.setup), binding, back, x_said]
            said = _answers(e, everything)
            assert _answers(e, everything) == said  # ESC-007
        finally:
            e.close()
        restarted = _node(party, s.clock, path, snapshot_every)
        try:
            assert restarted.escrow.transcript() == transcript
            assert (x_said.digest in restarted.escrow.verifier.statements) is not late
            assert restarted.escrow.verifier.bound_at[(key, principal)] == (binding.issued_at_ms, binding.seq)
            assert _answers(restarted, everything) == said  # ESC-007, after a restart
            assert _audited(restarted, party.did) == transcript
        finally:
            restarted.close()
        restored = Escrow(party.agent, party.mandate_vs.digest, setup=transcript)
        assert restored.transcript() == transcript
        assert restored.verifier.bound_at[(key, principal)] == (binding.issued_at_ms, binding.seq)
        assert (x_said.digest in restored.verifier.statements) is not late
    assert held_in == {True, False}  # taken in some orders, refused and kept in the others


def _accept(s: _Authorised) -> VerifiedStatement:
    """K's Accept of Bob's Offer naming the escrow: a binding of a negotiation."""
    return s.alice.accept(s.offer)


@pytest.mark.req("KEY-007", "KEY-004", "ESC-001", "ESC-007", "AUD-003", "ESC-014")
@pytest.mark.parametrize("snapshot_every", [0, 1])
def test_an_escrow_takes_the_revocation_an_accept_refused_key_revoked_authorises_in_every_order(
    tmp_path: Path, snapshot_every: int
) -> None:
    s = _Authorised(_accept)
    alice, party, binding, back = s.alice, s.party, s.binding, s.back
    key, principal = alice.did, alice.principal.did
    nid = s.offer.header.negotiation_id
    for n, order in enumerate(itertools.permutations([s.own, binding, back])):
        path = tmp_path / f"{snapshot_every}-{n}.db"
        e = _node(party, s.clock, path, snapshot_every)
        try:
            e.submit(s.setup)
            first, again = _fed(e, order)
            at = {vs.digest: i for i, vs in enumerate(order)}
            if at[s.own.digest] < at[binding.digest]:
                # The Accept, heard after K's own revocation, is refused -- no contract, no Stamp, the Offer
                # still outstanding at the escrow -- and binds K to P.
                assert first[at[binding.digest]] == "KEY_REVOKED"
                assert e.escrow.verifier.negotiations.get(nid).contract is None
                assert not _stamped(e, binding.digest)
                assert e.escrow.shown_binding(binding.digest) is not None
            if at[back.digest] < min(at[binding.digest], at[s.own.digest]):
                assert first[at[back.digest]] == "REVOCATION_UNAUTHORIZED"  # bound to nobody yet
            assert "REVOCATION_UNAUTHORIZED" not in again, (n, first, again)
            # Whatever the order: P's revocation taken, K bound to P at the Accept, the audit sound.
            assert back.digest in e.escrow.verifier.statements, (n, first, again)
            assert e.escrow.verifier.bound_at[(key, principal)] == (binding.issued_at_ms, binding.seq)
            transcript = _audited(e, party.did)
            assert binding.envelope in transcript
            everything = [*map(verify_statement, s.setup), s.own, binding, back]
            said = _answers(e, everything)
            assert _answers(e, everything) == said  # ESC-007
        finally:
            e.close()
        restarted = _node(party, s.clock, path, snapshot_every)
        try:
            assert restarted.escrow.transcript() == transcript
            assert back.digest in restarted.escrow.verifier.statements
            assert restarted.escrow.verifier.bound_at[(key, principal)] == (binding.issued_at_ms, binding.seq)
            assert _answers(restarted, everything) == said
            assert _audited(restarted, party.did) == transcript
        finally:
            restarted.close()
        restored = Escrow(party.agent, party.mandate_vs.digest, setup=transcript)
        assert back.digest in restored.verifier.statements
        assert restored.verifier.bound_at[(key, principal)] == (binding.issued_at_ms, binding.seq)


@pytest.mark.req("KEY-007", "ESC-001", "ESC-014", "AUD-003", "NEG-010")
def test_a_refused_accept_kept_as_a_binding_moves_no_negotiation_at_the_escrow(tmp_path: Path) -> None:
    """The escrow keeps the thief's Accept only as a binding: no contract, no bond locked, no answer taken
    (ESC-014) -- Bob's Withdraw of the Offer is taken after it, where a taken Accept would have made it an
    illegal transition -- and its audit finds no second answer and nothing unstamped."""
    s = _Authorised(_accept)
    proposal = s.bob.bonded_proposal(s.party.did, s.clock.now_ms + DAY_MS, bond=100)
    offer = s.bob.offer(s.alice, proposal)
    accept = s.alice.accept(offer)  # K's, signed after K's own revocation: a thief's
    withdraw = s.bob.withdraw(offer)
    e = _node(s.party, s.clock, tmp_path / "e.db")
    try:
        e.submit([*s.alice.setup, *s.bob.setup, s.own.envelope, offer.envelope])
        size = e.escrow.ledger_size
        assert _submit(e, accept) == "KEY_REVOKED"
        assert e.escrow.shown_binding(accept.digest) is not None  # kept: it binds K
        assert e.escrow.ledger_size == size  # nothing signed: no Stamp, no lock
        assert e.escrow.verifier.negotiations.get(offer.header.negotiation_id).contract is None
        assert e.escrow.balance(s.bob.did) == (0, 0)
        e.submit([withdraw.envelope])  # the Offer was still outstanding
        assert withdraw.digest in e.escrow.verifier.statements
        assert _submit(e, accept) == "KEY_REVOKED"  # again: refused as the first time (ESC-007)
        transcript = _audited(e, s.party.did)
        assert transcript.index(accept.envelope) < transcript.index(withdraw.envelope)
    finally:
        e.close()


@pytest.mark.req("AUD-003", "AUD-001", "KEY-007")
def test_the_audit_reads_an_offer_refused_key_revoked_only_where_the_escrow_kept_it() -> None:
    """What an auditor handed the transcript checks: the unstamped Offer is refused only KEY_REVOKED and binds
    its key earlier than anything held where it stands. Left out, X's statement, which the escrow refused
    after it, is one the escrow should have taken (the audit refuses nothing then: no finding is possible
    from an absence, but the binding is gone); moved before X's statement where the escrow took that one,
    X's statement is refused (KEY_REVOKED, MND-012); a stamp-less copy of a taken statement is a finding."""
    r = _Reach(_offer)
    escrow = Escrow(r.party.agent, r.party.mandate_vs.digest, setup=r.party.setup)
    escrow.submit(r.setup, r.clock.now_ms)
    for vs in (r.back, r.x_said, r.binding):  # X's statement taken: K bound to P later than its Mandate
        try:
            escrow.submit([vs.envelope], r.clock.now_ms)
        except CoopError as refused:  # the Offer: refused, kept
            assert vs is r.binding and refused.code == "KEY_REVOKED"
    transcript = escrow.transcript()
    assert transcript[-1] == r.binding.envelope  # after X's statement, unstamped
    assert audit_ledger(transcript, escrow=r.party.did).ok
    moved = [env for env in transcript if env != r.binding.envelope]
    moved.insert(moved.index(r.x_said.envelope), r.binding.envelope)
    findings = audit_ledger(moved, escrow=r.party.did).findings
    assert {(f.code, f.digests) for f in findings} == {("KEY_REVOKED", (r.x_said.digest,))}, findings
    # An unstamped statement of a negotiation the escrow could take is no binding it kept: a finding.
    r2 = _Reach(_offer)
    escrow = Escrow(r2.party.agent, r2.party.mandate_vs.digest, setup=r2.party.setup)
    escrow.submit(r2.setup, r2.clock.now_ms)
    planted = [*escrow.transcript(), r2.binding.envelope]
    codes = {f.code for f in audit_ledger(planted, escrow=r2.party.did).findings}
    assert codes == {"UNSTAMPED_EVIDENCE"}, codes


@pytest.mark.req("KEY-007", "KEY-004", "ESC-001", "ESC-011", "ESC-017")
def test_a_submitter_plants_no_negotiation_binding_but_one_the_key_signed(tmp_path: Path) -> None:
    """What a lying submitter gets from the escrow's binding of a negotiation refused KEY_REVOKED. Kept
    nowhere are: an Offer under a Mandate that expired (refused for that too: its principal may not revoke
    the key), an Offer naming another escrow (refused WRONG_PARTY, nothing of the Submit read, ESC-011), an
    Offer binding no earlier than a binding held, and one over the key's newcomer quota (ESC-017: each kept
    binding is in every auditor's download, so it is counted as any statement). Each kept is refused
    (KEY_REVOKED) and signs nothing."""
    s = _Authorised(_accept)
    alice, party, clock = s.alice, s.party, s.clock
    thief_principal = Signer("thief-principal", clock)
    m = identity_pb2.Mandate()
    m.CopyFrom(alice.mandate_vs.statement.mandate)
    m.valid_until_ms = clock.now_ms + 1_000
    short = thief_principal.sign("mandate", m)
    clock.advance(2_000)
    expired = alice.offer(s.bob, alice.proposal(escrow=party.did), mandate=short.digest)
    elsewhere = alice.offer(s.bob, alice.proposal(escrow=s.bob.did))
    later = alice.offer(s.bob, alice.proposal(escrow=party.did))
    e = _node(party, clock, tmp_path / "e.db")
    try:
        e.submit([*s.setup, short.envelope, s.own.envelope])
        size = e.escrow.ledger_size
        assert _submit(e, expired) == "KEY_REVOKED"  # the attack: refused so (KEY-004) first
        assert _submit(e, elsewhere) == "WRONG_PARTY"
        for vs in (expired, elsewhere):
            assert e.escrow.shown_binding(vs.digest) is None
        assert thief_principal.did not in e.escrow.verifier.bound.get(alice.did, ())
        revoke = thief_principal.sign(
            "key_revocation", identity_pb2.KeyRevocation(key=alice.did, effective_ms=1)
        )
        assert _submit(e, revoke) == "REVOCATION_UNAUTHORIZED"
        assert _submit(e, s.binding) == "KEY_REVOKED"  # K's Accept: binds K to P, kept
        assert e.escrow.shown_binding(s.binding.digest) is not None
        assert _submit(e, later) == "KEY_REVOKED"  # bound no later already: nothing to learn from it
        assert e.escrow.shown_binding(later.digest) is None
        assert e.escrow.ledger_size == size  # nothing signed for any of them
        e.submit([s.back.envelope])
        assert s.back.digest in e.escrow.verifier.statements
        assert _audited(e, party.did)
    finally:
        e.close()
    quota = StrangerQuota(per_period=0, per_key=1, period_ms=60_000)
    s = _Authorised(_accept)
    e = _node(s.party, s.clock, tmp_path / "q.db", quota=quota)
    try:
        e.submit([*s.setup, s.own.envelope])  # K's own revocation: K's count for the period
        assert _submit(e, s.binding) == "KEY_REVOKED"
        assert e.escrow.shown_binding(s.binding.digest) is None  # over the quota: binds nothing
        assert s.alice.principal.did not in e.escrow.verifier.bound.get(s.alice.did, ())
        s.clock.advance(60_000)
        assert _submit(e, s.binding) == "KEY_REVOKED"
        assert e.escrow.shown_binding(s.binding.digest) is not None
        e.submit([s.back.envelope])
        assert s.back.digest in e.escrow.verifier.statements
    finally:
        e.close()


@pytest.mark.req("KEY-007", "ESC-023", "AUD-006")
def test_a_successor_takes_over_a_transcript_holding_an_accept_kept_as_a_binding(tmp_path: Path) -> None:
    """The escrow K1 kept a refused Accept as a binding and took the revocation it authorised; its principal
    hands its ledger to K2 (ESC-022). K2 takes K1's transcript over: the Accept binds the key there too and
    is kept, shown, not held -- it moves no negotiation there either; K2 restarts from its journal, and its
    transcript audits clean (AUD-006)."""
    s = _Authorised(_accept)
    old = _node(s.party, s.clock, tmp_path / "old.db")
    try:
        old.submit(s.setup)
        for vs in (s.own, s.binding, s.back):
            _submit(old, vs)
        assert old.escrow.shown_binding(s.binding.digest) is not None  # the setting: K1 kept it so
        transcript = old.escrow.transcript()
    finally:
        old.close()
    nid = s.offer.header.negotiation_id

    def moved_nothing(new: EscrowNode) -> None:
        assert new.escrow.verifier.negotiations.get(nid).contract is None

    _taken_over(s, transcript, tmp_path / "new.db", moved_nothing)


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not on PATH")
@pytest.mark.req("KEY-007", "AUD-003")
def test_the_js_verifier_reads_the_escrows_transcript_negotiation_binding_as_the_escrow_did() -> None:
    """F42: read as an escrow's audit (role escrow), the second implementation bound nothing by a statement
    of a negotiation refused KEY_REVOKED, and so refused, REVOCATION_UNAUTHORIZED, the revocation the escrow
    took after the Accept it kept as a binding (KEY-007 (a)); now it binds by it, as the escrow and its
    audit do, as a view of evidence (role auditor) binds by it holding it, disowned (KEY-009 (c))."""
    s = _Authorised(_accept)
    escrow = Escrow(s.party.agent, s.party.mandate_vs.digest, setup=s.party.setup)
    escrow.submit(s.setup, s.clock.now_ms)
    for vs in (s.own, s.binding, s.back):
        try:
            escrow.submit([vs.envelope], s.clock.now_ms)
        except CoopError as refused:
            assert vs is s.binding and refused.code == "KEY_REVOKED"  # refused, kept
    transcript = escrow.transcript()
    assert audit_ledger(transcript, escrow=s.party.did).ok
    read = _js_reads(transcript, s)
    binding = [s.binding.issued_at_ms, s.binding.seq]
    expected = ["KEY_REVOKED" if e == s.binding.envelope else "" for e in transcript]
    assert "KEY_REVOKED" in expected  # the attack: the Accept is in the transcript, refused so
    held = [""] * len(transcript)  # a view of evidence holds it, disowned (KEY-009 (c)), and binds by it
    assert read == [[expected, binding], [held, binding]]


@pytest.mark.req("KEY-007", "ESC-001", "ESC-007")
def test_a_binding_kept_right_after_what_a_snapshot_holds_binds_again_on_resuming_it(tmp_path: Path) -> None:
    """The refused Offer comes right after what the escrow's last snapshot holds (taken on a tick): resumed
    from that snapshot, the escrow binds K there before replaying the journal's rows since -- waiting for
    its anchor among those rows, it never met it and could not start -- and X's statement, shown after,
    is refused as before the restart."""
    s = _Reach(_offer)
    path = tmp_path / "e.db"
    e = _node(s.party, s.clock, path, snapshot_every=1)
    try:
        e.submit(s.setup)
        e.submit([s.back.envelope])
        e.tick()  # a snapshot: it holds P's revocation, the last thing before the Offer
        assert _submit(e, s.binding) == "KEY_REVOKED"
        assert e.escrow.shown_binding(s.binding.digest) is not None
        transcript = e.escrow.transcript()
    finally:
        e.close()
    restarted = _node(s.party, s.clock, path, snapshot_every=1)
    try:
        assert restarted.resumed_from is not None  # from the tick's snapshot, not a whole replay
        assert restarted.escrow.transcript() == transcript
        key, principal = s.alice.did, s.alice.principal.did
        assert restarted.escrow.verifier.bound_at[(key, principal)] == (s.binding.issued_at_ms, s.binding.seq)
        assert _submit(restarted, s.x_said) == "KEY_REVOKED"  # P's revocation reaches the minted Mandate
        assert _submit(restarted, s.binding) == "KEY_REVOKED"  # ESC-007: as the first time
        assert _audited(restarted, s.party.did)
    finally:
        restarted.close()
