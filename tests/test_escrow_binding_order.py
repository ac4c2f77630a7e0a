"""KEY-007 (a) at an escrow taking evidence (ESC-001): a statement refused only KEY_REVOKED binds its key.

A statement of a key K under its principal P's Mandate heard before a revocation that reaches it is held
(and binds K to P); heard after it, it is refused ``KEY_REVOKED`` -- and binds K to P all the same (KEY-007
(a)), so how far a revocation reaches (KEY-011) and whom K answers to (KEY-004) do not depend on the order
a verifier heard them in. An escrow bound nothing by such a refusal: its transcript holds no refused
statement, so neither its restart nor its audit (AUD-003) could read the binding. Now it stamps the
statement -- one of no negotiation, which binds K earlier than anything it holds -- and keeps it, shown,
not held (in no chain, replay memory or negotiation), beside its journal with what came right before it:
its restart binds K again there, its transcript places it there, and its audit reads the binding as the
escrow did. Every order is played through a real EscrowNode, with real signatures, restarted from its
journal (with and without a snapshot) and audited -- its transcript whole, paged (GetTranscript) and
exported from the journal.
"""

from __future__ import annotations

import base64
import itertools
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from escrow_pages import pages
from js_run import js_module

from a2a_coop._proto.a2acoop.v1 import identity_pb2
from a2a_coop.cli.escrow import escrow_transcript
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.escrow import Escrow
from a2a_coop.protocol.escrow_audit import audit_ledger
from a2a_coop.protocol.merkle import root as merkle_root
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.runtime.node import EscrowNode
from a2a_coop.runtime.strangers import StrangerQuota
from a2a_coop.testing import DAY_MS, FixedClock, Party, Signer
from conformance.generate_vectors.key_time import mandate_for


def _node(
    party: Party, clock: FixedClock, path: Path, snapshot_every: int = 0, quota: StrangerQuota | None = None
) -> EscrowNode:
    return EscrowNode(
        party.agent.key,
        party.mandate_vs.envelope,
        path,
        clock=lambda: clock.now_ms,
        durability="normal",
        snapshot_every=snapshot_every,
        stranger_quota=quota,
    )


def _submit(e: EscrowNode, vs: VerifiedStatement) -> list[bytes] | str:
    """``vs`` submitted alone: the answer, or the code it was refused with."""
    try:
        return e.submit([vs.envelope])
    except CoopError as refused:
        return refused.code


def _fed(e: EscrowNode, order: tuple[VerifiedStatement, ...]) -> tuple[list[list[bytes] | str], list[str]]:
    """Each statement of ``order`` submitted alone, then each refused one once more, as its submitter would
    (revoke-key sends a revocation again once its binding is in): the first answers, and the second ones."""
    first = [_submit(e, vs) for vs in order]
    again = [_submit(e, vs) for vs, said in zip(order, first, strict=True) if isinstance(said, str)]
    return first, [said if isinstance(said, str) else "" for said in again]


def _audited(e: EscrowNode, escrow: str) -> list[bytes]:
    """The escrow's transcript, found sound by its audit whole, paged and exported from its journal."""
    transcript = e.escrow.transcript()
    assert escrow_transcript(e.journal, e.mandate) == transcript  # `a2a-coop escrow export --journal`
    for envelopes in (transcript, pages(e)):
        report = audit_ledger(envelopes, escrow=escrow)
        assert report.ok, report.findings
    return transcript


def _answers(e: EscrowNode, statements: list[VerifiedStatement]) -> list[list[bytes] | str]:
    return [_submit(e, vs) for vs in statements]


def _checkpoint(s: _Authorised) -> VerifiedStatement:
    """K's Checkpoint of its own revocation under P's Mandate: a binding of no negotiation."""
    return s.alice.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([s.own.digest])))


class _Authorised:
    """A thief holding Alice's key K revokes it itself (``own``, back to 1 ms); K's first statement under
    her principal P's Mandate, signed after it (``binding``, made by ``bind``: a Checkpoint by default; an
    Accept of Bob's Offer naming the escrow, ``offer``, in tests/test_escrow_negotiation_binding.py), is
    refused KEY_REVOKED by ``own`` -- and binds K to P (KEY-007 (a)), so P's revocation of K (``back``),
    which only that binding authorises (KEY-004), is taken. ``setup``: both parties' setups and the
    Offer."""

    def __init__(self, bind: Callable[[_Authorised], VerifiedStatement] = _checkpoint) -> None:
        self.clock = clock = FixedClock()
        self.alice, self.bob = Party("alice", clock), Party("bob", clock)
        self.party = Party("escrow", clock)
        self.offer = self.bob.offer(self.alice, self.bob.proposal(escrow=self.party.did))
        clock.advance(1_000)
        self.own = self.alice.agent.sign(
            "key_revocation", identity_pb2.KeyRevocation(key=self.alice.did, effective_ms=1)
        )
        clock.advance(1_000)
        self.binding = bind(self)
        clock.advance(1_000)
        self.back = self.alice.principal.sign(
            "key_revocation", identity_pb2.KeyRevocation(key=self.alice.did, effective_ms=1, reason="stolen")
        )
        clock.advance(1_000)
        self.setup = [*self.alice.setup, *self.bob.setup, self.offer.envelope]


@pytest.mark.req("KEY-007", "KEY-004", "ESC-001", "ESC-007", "AUD-003", "WIT-001")
@pytest.mark.parametrize("snapshot_every", [0, 1])
def test_an_escrow_takes_the_revocation_a_binding_refused_key_revoked_authorises_in_every_order(
    tmp_path: Path, snapshot_every: int
) -> None:
    s = _Authorised()
    alice, party, binding, back = s.alice, s.party, s.binding, s.back
    key, principal = alice.did, alice.principal.did
    seen = set()
    for n, order in enumerate(itertools.permutations([s.own, s.binding, s.back])):
        path = tmp_path / f"{snapshot_every}-{n}.db"
        e = _node(party, s.clock, path, snapshot_every)
        try:
            e.submit(alice.setup)
            first, again = _fed(e, order)
            at = {vs.digest: i for i, vs in enumerate(order)}
            if at[s.own.digest] < at[binding.digest]:
                # The attack: the binding, heard after K's own revocation, is refused KEY_REVOKED by the
                # escrow's verifier -- and taken all the same, as a binding shown, not held: stamped, in no
                # chain (the journal's statements hold none of it).
                with pytest.raises(CoopError) as refused:
                    e.escrow.verifier.check(binding)
                assert refused.value.code == "KEY_REVOKED"
                assert binding.digest not in e.escrow.verifier.statements
                assert e.escrow.shown_binding(binding.digest) is not None
                assert e.journal.by_digest(binding.digest) is None
                stamp = verify_statement(first[at[binding.digest]][-1])  # type: ignore[index]
                assert stamp.body == "stamp" and list(stamp.statement.stamp.statements) == [binding.digest]
            if at[back.digest] < min(at[binding.digest], at[s.own.digest]):
                assert first[at[back.digest]] == "REVOCATION_UNAUTHORIZED"  # bound to nobody yet
            assert "REVOCATION_UNAUTHORIZED" not in again, (order, again)
            # Whatever the order: P's revocation taken, K bound to P at the binding, the audit sound.
            assert back.digest in e.escrow.verifier.statements, (order, first, again)
            assert e.escrow.verifier.bound_at[(key, principal)] == (binding.issued_at_ms, binding.seq)
            transcript = _audited(e, party.did)
            assert binding.envelope in transcript
            said = _answers(e, [*map(verify_statement, alice.setup), s.own, binding, back])
            assert _answers(e, [*map(verify_statement, alice.setup), s.own, binding, back]) == said  # ESC-007
        finally:
            e.close()
        restarted = _node(party, s.clock, path, snapshot_every)
        try:
            assert restarted.escrow.transcript() == transcript
            assert back.digest in restarted.escrow.verifier.statements
            assert restarted.escrow.verifier.bound_at[(key, principal)] == (binding.issued_at_ms, binding.seq)
            assert _answers(restarted, [*map(verify_statement, alice.setup), s.own, binding, back]) == said
            assert _audited(restarted, party.did) == transcript
        finally:
            restarted.close()
        restored = Escrow(party.agent, party.mandate_vs.digest, setup=transcript)
        assert back.digest in restored.verifier.statements
        assert restored.verifier.bound_at[(key, principal)] == (binding.issued_at_ms, binding.seq)
        seen.add(binding.digest in e.escrow.verifier.statements)
    assert seen == {True, False}  # held in some orders, shown in the others


def _first_checkpoint(s: _Reach) -> VerifiedStatement:
    """K's first statement, a Checkpoint under P's Mandate: a binding of no negotiation."""
    return s.alice.sign("checkpoint", identity_pb2.Checkpoint())


class _Reach:
    """Attack 21's theft at an escrow: Alice's key K binds itself to her principal P by its first statement
    (``binding``, made by ``bind``: a Checkpoint by default; an Offer to Bob naming the escrow in
    tests/test_escrow_negotiation_binding.py); a thief holding K mints, with K, a Mandate for its own agent
    X (``minted``), X signs under it (``x_said``), the thief signs a Checkpoint with K under P's Mandate
    (``thief``: K bound to P there too, later), and P revokes K back to 1 ms (``back``); ``setup``: Alice's,
    the minted Mandate and the thief's Checkpoint. Heard before X's statement, the binding dates K's binding
    to P before the minted Mandate, and P's revocation reaches it (KEY-011 (c)): X's statement is refused.
    Heard after P's revocation, the binding was refused KEY_REVOKED and bound nothing at an escrow: X's
    statement was taken -- the order of two statements P showed decided."""

    def __init__(self, bind: Callable[[_Reach], VerifiedStatement] = _first_checkpoint) -> None:
        self.clock = clock = FixedClock()
        self.alice, self.bob = Party("alice", clock), Party("bob", clock)
        self.party, x = Party("escrow", clock), Party("x", clock)
        self.binding = bind(self)
        clock.advance(60_000)  # the theft
        self.minted = mandate_for(self.alice.agent, x.did, self.alice)
        clock.advance(1_000)
        self.x_said = x.agent.sign("checkpoint", identity_pb2.Checkpoint(), mandate=self.minted.digest)
        clock.advance(1_000)
        self.thief = self.alice.sign(
            "checkpoint",
            identity_pb2.Checkpoint(log_root=merkle_root([self.binding.digest, self.minted.digest])),
        )
        clock.advance(3_600_000)
        self.back = self.alice.principal.sign(
            "key_revocation", identity_pb2.KeyRevocation(key=self.alice.did, effective_ms=1, reason="stolen")
        )
        clock.advance(1_000)
        self.setup = [*self.alice.setup, self.minted.envelope, self.thief.envelope]


@pytest.mark.req("KEY-007", "KEY-011", "MND-012", "ESC-001", "ESC-007", "AUD-003")
@pytest.mark.parametrize("snapshot_every", [0, 1])
def test_an_escrow_reads_a_binding_heard_after_the_revocation_as_one_heard_before_in_every_order(
    tmp_path: Path, snapshot_every: int
) -> None:
    s = _Reach()
    alice, party, binding, back, x_said = s.alice, s.party, s.binding, s.back, s.x_said
    key, principal = alice.did, alice.principal.did
    for n, order in enumerate(itertools.permutations([binding, back, x_said])):
        path = tmp_path / f"{snapshot_every}-{n}.db"
        e = _node(party, s.clock, path, snapshot_every)
        try:
            e.submit(s.setup)  # K bound to P, by the thief's
            first, _ = _fed(e, order)
            at = {vs.digest: i for i, vs in enumerate(order)}
            if at[back.digest] < at[binding.digest]:
                assert binding.digest not in e.escrow.verifier.statements  # refused KEY_REVOKED: shown
                assert e.escrow.shown_binding(binding.digest) is not None
            # X's statement is refused exactly when both the binding and P's revocation came before it,
            # in whichever order those two came (before: only when the binding came first).
            late = at[x_said.digest] > max(at[binding.digest], at[back.digest])
            assert (first[at[x_said.digest]] == "KEY_REVOKED") is late, (n, first)
            assert (x_said.digest in e.escrow.verifier.statements) is not late
            assert e.escrow.verifier.bound_at[(key, principal)] == (binding.issued_at_ms, binding.seq)
            # X's statement taken before the binding came stays taken: a restart binding K up front, or
            # an audit reading the binding anywhere but where the escrow took it, would refuse it.
            transcript = _audited(e, party.did)
            everything = [*map(verify_statement, alice.setup), s.minted, s.thief, binding, back, x_said]
            said = _answers(e, everything)
        finally:
            e.close()
        restarted = _node(party, s.clock, path, snapshot_every)
        try:
            assert restarted.escrow.transcript() == transcript
            assert (x_said.digest in restarted.escrow.verifier.statements) is not late
            assert restarted.escrow.verifier.bound_at[(key, principal)] == (binding.issued_at_ms, binding.seq)
            assert _answers(restarted, everything) == said  # ESC-007, after a restart
        finally:
            restarted.close()
        restored = Escrow(party.agent, party.mandate_vs.digest, setup=transcript)
        assert restored.transcript() == transcript
        assert (x_said.digest in restored.verifier.statements) is not late


@pytest.mark.req("KEY-007", "KEY-004", "ESC-001", "ESC-011", "ESC-017")
def test_a_submitter_plants_no_binding_at_an_escrow_but_one_the_key_signed(tmp_path: Path) -> None:
    """What a lying submitter gets from the escrow's binding refused KEY_REVOKED: the statement is the key's
    own signature, and binds only where a verifier that heard it before the revocation would have held it.
    Refused and kept nowhere -- not stamped, the ledger unchanged -- are: one refused for another fault too
    (its Mandate expired: its principal may not revoke the key), one binding no earlier than a binding held,
    and one over the key's newcomer quota (ESC-017: each such binding is stamped into every auditor's
    download, so it is counted as any statement); the same binding shown again is passed over, nothing
    signed. One of a negotiation is refused and never stamped (a Stamp would date an Offer the escrow
    refused), but binds its key all the same (tests/test_escrow_negotiation_binding.py)."""
    s = _Authorised()
    alice, party, clock = s.alice, s.party, s.clock
    thief_principal = Signer("thief-principal", clock)
    m = identity_pb2.Mandate()
    m.CopyFrom(alice.mandate_vs.statement.mandate)
    m.valid_until_ms = clock.now_ms + 1_000
    short = thief_principal.sign("mandate", m)
    clock.advance(2_000)
    chain = [s.own, s.binding]

    def checkpoint(**kw: bytes) -> VerifiedStatement:
        vs = alice.sign(
            "checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([v.digest for v in chain])), **kw
        )
        chain.append(vs)
        return vs

    expired = checkpoint(mandate=short.digest)
    later = checkpoint()
    proposal = alice.proposal()
    proposal.terms.escrow = party.did
    offer = alice.offer(party, proposal)
    e = _node(party, clock, tmp_path / "e.db")
    try:
        e.submit([*alice.setup, short.envelope, s.own.envelope])
        size = e.escrow.ledger_size
        assert _submit(e, expired) == "KEY_REVOKED"  # the attack: refused so (KEY-004) first
        assert e.escrow.shown_binding(expired.digest) is None and e.escrow.ledger_size == size
        # One of a negotiation is refused too, nothing signed (no Stamp dates the Offer), and binds K to P.
        assert _submit(e, offer) == "KEY_REVOKED"
        assert e.escrow.shown_binding(offer.digest) is not None and e.escrow.ledger_size == size
        assert thief_principal.did not in e.escrow.verifier.bound.get(alice.did, ())
        revoke = thief_principal.sign(
            "key_revocation", identity_pb2.KeyRevocation(key=alice.did, effective_ms=1)
        )
        assert _submit(e, revoke) == "REVOCATION_UNAUTHORIZED"
        first = e.submit([s.binding.envelope])  # binds K to P (KEY-007 (a)): stamped
        assert e.escrow.ledger_size == size + 1
        assert e.submit([s.binding.envelope]) == first  # again: the same answer, nothing signed (ESC-007)
        e.submit([s.binding.envelope, s.back.envelope])  # passed over: P's revocation, next, taken
        assert e.escrow.ledger_size == size + 2 and s.back.digest in e.escrow.verifier.statements
        assert _submit(e, later) == "KEY_REVOKED"  # bound no later already: nothing to learn from it
        assert e.escrow.shown_binding(later.digest) is None and e.escrow.ledger_size == size + 2
        assert _audited(e, party.did)
    finally:
        e.close()
    # Over the key's newcomer quota (ESC-017): refused, binding nothing -- until the next period.
    quota = StrangerQuota(per_period=0, per_key=1, period_ms=60_000)
    s = _Authorised()
    e = _node(s.party, s.clock, tmp_path / "q.db", quota=quota)
    try:
        e.submit([*s.alice.setup, s.own.envelope])  # K's own revocation: K's count for the period
        assert _submit(e, s.binding) == "KEY_REVOKED"
        assert e.escrow.shown_binding(s.binding.digest) is None
        assert s.alice.principal.did not in e.escrow.verifier.bound.get(s.alice.did, ())
        s.clock.advance(60_000)
        e.submit([s.binding.envelope])
        assert e.escrow.shown_binding(s.binding.digest) is not None
        e.submit([s.back.envelope])
        assert s.back.digest in e.escrow.verifier.statements
    finally:
        e.close()


@pytest.mark.req("AUD-003", "AUD-001", "KEY-007")
def test_the_audit_reads_a_binding_refused_key_revoked_only_where_the_escrow_took_it() -> None:
    """What an auditor handed the transcript checks: the binding is stamped, refused only KEY_REVOKED, and
    binds its key earlier than anything held where it stands. Left out, the Stamp names a statement the
    transcript does not hold (EVIDENCE_MISSING) and the revocation it authorised is refused
    (REVOCATION_UNAUTHORIZED); moved before X's statement, which the escrow took before it came, it is
    unstamped there (UNSTAMPED_EVIDENCE) and X's statement refused (KEY_REVOKED, MND-012)."""
    s = _Authorised()
    escrow = Escrow(s.party.agent, s.party.mandate_vs.digest, setup=s.party.setup)
    escrow.submit(s.alice.setup, s.clock.now_ms)
    for vs in (s.own, s.binding, s.back):
        escrow.submit([vs.envelope], s.clock.now_ms)
    transcript = escrow.transcript()
    assert audit_ledger(transcript, escrow=s.party.did).ok
    left_out = [env for env in transcript if env != s.binding.envelope]
    codes = {f.code for f in audit_ledger(left_out, escrow=s.party.did).findings}
    assert codes == {"EVIDENCE_MISSING", "REVOCATION_UNAUTHORIZED"}, codes
    r = _Reach()
    escrow = Escrow(r.party.agent, r.party.mandate_vs.digest, setup=r.party.setup)
    escrow.submit(r.setup, r.clock.now_ms)
    for vs in (r.back, r.x_said, r.binding):  # X's statement taken: K bound to P later than its Mandate
        escrow.submit([vs.envelope], r.clock.now_ms)
    transcript = escrow.transcript()
    assert audit_ledger(transcript, escrow=r.party.did).ok
    moved = [env for env in transcript if env != r.binding.envelope]
    moved.insert(moved.index(r.x_said.envelope), r.binding.envelope)
    findings = audit_ledger(moved, escrow=r.party.did).findings
    assert {(f.code, f.digests) for f in findings} == {
        ("UNSTAMPED_EVIDENCE", (r.binding.digest,)),  # before the Stamp naming it
        ("KEY_REVOKED", (r.x_said.digest,)),
    }, findings


@pytest.mark.req("KEY-007", "ESC-023", "AUD-006")
def test_a_successor_takes_over_a_transcript_holding_a_binding_refused_key_revoked(tmp_path: Path) -> None:
    """The escrow K1 stamped a binding refused KEY_REVOKED and took the revocation it authorised; its
    principal then revokes K1 and hands its ledger to K2 (ESC-022). K2 takes K1's transcript over: the
    binding binds the key there too (refused KEY_REVOKED, as at K1) and is kept, shown, not held -- held as
    a statement, K2 refused it and could not start (KEY_REVOKED); and, in no chain, it is no journal row,
    so K2's journal keeps the transcript taken over whole in its record. K2 restarts from its journal, and
    its transcript audits clean (AUD-006)."""
    s = _Authorised()
    old = _node(s.party, s.clock, tmp_path / "old.db")
    try:
        old.submit(s.alice.setup)
        for vs in (s.own, s.binding, s.back):
            old.submit([vs.envelope])
        assert old.escrow.shown_binding(s.binding.digest) is not None  # the setting: K1 kept it so
        transcript = old.escrow.transcript()
    finally:
        old.close()
    _taken_over(s, transcript, tmp_path / "new.db")


def _taken_over(
    s: _Authorised, transcript: list[bytes], db: Path, check: Callable[[EscrowNode], None] | None = None
) -> None:
    """K1's principal revokes K1 and hands its ledger to K2 (ESC-022); K2 takes ``transcript`` over, and then
    restarts from its journal. Both times: K1's binding ``s.binding``, refused KEY_REVOKED, binds the key at
    K2 too and is kept, shown, not held, beside the statement it authorised (``s.back``), K2's transcript
    audits clean (AUD-006), and ``check`` holds of K2."""
    s.clock.advance(1_000)
    rev = s.party.principal.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=s.party.did, effective_ms=s.clock.now_ms)
    )
    s.clock.advance(1_000)
    succ = Party("escrow2", s.clock)
    m = identity_pb2.Mandate()
    m.CopyFrom(s.party.mandate_vs.statement.mandate)
    m.agent, m.succeeds = succ.did, s.party.did
    succ.mandate_vs = s.party.principal.sign("mandate", m, ttl_ms=365 * DAY_MS)
    key, principal = s.alice.did, s.alice.principal.did
    for restart in (False, True):
        new = EscrowNode(
            succ.agent.key,
            succ.mandate_vs.envelope,
            db,
            clock=lambda: s.clock.now_ms,
            durability="normal",
            predecessor=() if restart else [*transcript, rev.envelope],
        )
        try:
            assert s.back.digest in new.escrow.verifier.statements
            assert s.binding.digest not in new.escrow.verifier.statements
            assert new.escrow.verifier.bound_at[(key, principal)] == (s.binding.issued_at_ms, s.binding.seq)
            taken = new.escrow.transcript()
            assert s.binding.envelope in taken
            report = audit_ledger(taken, escrow=succ.did)
            assert report.ok, report.findings
            if check is not None:
                check(new)
        finally:
            new.close()


_JS = """
import { readFileSync } from "node:fs";
import { Verifier } from "./examples/js_verifier/verify.mjs";
const [transcript, key, principal] = JSON.parse(readFileSync(0, "utf8"));
const out = ["escrow", "auditor"].map((role) => {
  const v = new Verifier({ mode: "sparse", nowMs: null, role });
  const codes = transcript.map((e) => {
    try {
      v.accept(Buffer.from(e, "base64"));
      return "";
    } catch (err) {
      return err.code;
    }
  });
  const b = v.bindingAt.get(`${key}\\0${principal}`);
  return [codes, b ? [Number(b.t), Number(b.seq)] : null];
});
console.log(JSON.stringify(out));
"""


def _js_reads(transcript: list[bytes], s: _Authorised) -> Any:
    """What the second implementation reads of ``transcript`` (:data:`_JS`): each statement's refusal code
    and Alice's key's binding, as the escrow's audit and as a view of evidence."""
    arg = [[base64.b64encode(e).decode() for e in transcript], s.alice.did, s.alice.principal.did]
    return js_module(_JS, stdin=json.dumps(arg))  # on stdin: a transcript of megabytes is past argv's limit


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not on PATH")
@pytest.mark.req("KEY-007", "AUD-003")
def test_the_js_verifier_reads_the_escrows_transcript_binding_as_the_escrow_did() -> None:
    """F36: read as an escrow's audit (role escrow), the second implementation bound nothing by a statement
    refused KEY_REVOKED, and so refused, REVOCATION_UNAUTHORIZED, the revocation the escrow took beside the
    binding it stamped (KEY-007 (a)); now it binds by one of no negotiation, as the escrow and its audit do,
    and a view of evidence (role auditor) holds it (KEY-009 (d)) and is bound by it the same."""
    s = _Authorised()
    escrow = Escrow(s.party.agent, s.party.mandate_vs.digest, setup=s.party.setup)
    escrow.submit(s.alice.setup, s.clock.now_ms)
    for vs in (s.own, s.binding, s.back):
        escrow.submit([vs.envelope], s.clock.now_ms)
    transcript = escrow.transcript()
    assert audit_ledger(transcript, escrow=s.party.did).ok
    read = _js_reads(transcript, s)
    binding = [s.binding.issued_at_ms, s.binding.seq]
    expected = ["KEY_REVOKED" if e == s.binding.envelope else "" for e in transcript]
    assert "KEY_REVOKED" in expected  # the attack: the binding is in the transcript, refused so
    # a view of evidence holds it, disowned, and is bound by it the same (KEY-009 (d), F44)
    assert read == [[expected, binding], [[""] * len(transcript), binding]]
