"""redteam25: a lower answer revealed late cuts back a contract an escrow witnessed (NEG-021 at an escrow).

NEG-021 orders two answers of one key to one offer naming no escrow by that key's chain, whatever comes
after in the line -- a Counter naming an escrow E among them, and the contract E witnessed when Bob
accepted it, bonds locked. Alice signs a Reject of Bob's offer naming no escrow (seq 0) and keeps it, then
a Counter naming E with bonds (seq 1, its prev the Reject); Bob accepts the Counter; E stamps the Accept and
locks both bonds; Bob delivers. Alice then submits her kept Reject to E: lower in her chain than her Counter,
it cuts the line back to Bob's offer -- the contract E witnessed gives way in E's verifier as in every view.

Found here: E did not expect a contract of its own to go that way. The Submit failed an assertion half-way
(``due_action``: the contract it was scheduling was gone), the Reject was journaled by then, and every start
of E's journal failed the same assertion (``_reschedule``) -- one signed statement of a party stopped the
escrow and every contract it held, its bonds locked for good; the audit of its transcript failed on the
same assertion (``escrow_audit._currency``). Now the contract counts as one a witnessed Accept displaced,
as NEG-021 (a) says: E refunds both bonds at once and signs nothing else about it (ESC-016), across a
restart too, and its audit finds that due.

Each test asserts first that the attack happened (Alice's answers signed as two links of her chain, E's
Stamp of Bob's Accept and both BondLocks, Bob's Delivery stamped) and then what E, a restart of E, its
audit and a view of evidence derive.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from a2a_coop.protocol.escrow import Escrow
from a2a_coop.protocol.escrow_audit import audit_ledger
from a2a_coop.protocol.negotiation import State, proposal_of
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.protocol.verifier import Verifier
from a2a_coop.runtime.node import EscrowNode
from a2a_coop.testing import FixedClock, LocalEscrow, Party

BOND = 100
FUNDS = 1_000


class _CutBack:
    """Bob's offer naming no escrow (``offer``), Alice's kept Reject of it (``kept``, seq 0), her Counter
    naming the escrow with both bonds (``counter``, seq 1) and Bob's Accept of it (``accept``)."""

    def __init__(self) -> None:
        self.clock = clock = FixedClock()
        self.alice, self.bob, self.party = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
        self.offer = self.bob.offer(self.alice, self.bob.proposal())
        assert not proposal_of(self.offer).terms.escrow
        clock.advance(1_000)
        self.kept = self.alice.reject(self.offer, "kept back")
        clock.advance(1_000)
        terms = self.alice.proposal(escrow=self.party.did, issuer_bond=BOND, audience_bond=BOND)
        self.counter = self.alice.counter(self.offer, terms)
        clock.advance(1_000)
        self.accept = self.bob.accept(self.counter)
        clock.advance(1_000)
        assert (self.kept.seq, self.counter.seq) == (0, 1) and self.counter.header.prev == self.kept.digest
        self.setup = [*self.alice.setup, *self.bob.setup]

    def node(self, path: Path, snapshot_every: int) -> EscrowNode:
        return EscrowNode(
            self.party.agent.key,
            self.party.mandate_vs.envelope,
            path,
            clock=lambda: self.clock.now_ms,
            durability="normal",
            snapshot_every=snapshot_every,
        )


def _bodies(answer: list[bytes]) -> list[str]:
    return [verify_statement(env).body for env in answer[1:]]  # after the escrow's Mandate


def _audited(e: EscrowNode, escrow: str) -> list[bytes]:
    """The escrow's transcript, found sound by its audit whole and two entries a page, its balances the
    escrow's own."""
    transcript = e.escrow.transcript()
    paged: list[bytes] = []
    seq = 0
    while seq < e.escrow.ledger_size:
        page, _, seq = e.get_transcript(seq, 2, 1 << 20)
        paged += page
    for envelopes in (transcript, paged):
        report = audit_ledger(envelopes, escrow=escrow)
        assert report.ok, report.findings
    return transcript


@pytest.mark.req("NEG-021", "ESC-016", "ESC-007", "AUD-004", "AUD-005")
@pytest.mark.parametrize("restart", ["replay", "snapshot"])
def test_an_escrow_refunds_the_bonds_of_a_contract_a_lower_answer_cut_back_and_restarts(
    tmp_path: Path, restart: str
) -> None:
    s = _CutBack()
    path = tmp_path / f"{restart}.db"
    e = s.node(path, 1 if restart == "snapshot" else 0)
    alice, bob = s.alice.did, s.bob.did
    try:
        e.deposit(alice, FUNDS)
        e.deposit(bob, FUNDS)
        line = [*s.setup, s.offer.envelope, s.counter.envelope, s.accept.envelope]
        assert _bodies(e.submit(line)) == ["stamp", "bond_lock", "bond_lock"]  # E witnessed, both locked
        delivery = s.bob.deliver(s.accept, s.alice)
        s.clock.advance(1_000)
        assert _bodies(e.submit([delivery.envelope])) == ["stamp"]  # the attack happened: Bob performed
        nid = s.offer.negotiation_id
        assert e.escrow.verifier.negotiations.get(nid).state is State.PERFORMING
        assert e.escrow.balance(alice) == e.escrow.balance(bob) == (FUNDS - BOND, BOND)
        e.close()  # restarted right before the reveal too
        e = s.node(path, 1 if restart == "snapshot" else 0)
        assert e.escrow.verifier.negotiations.get(nid).state is State.PERFORMING
        first = e.submit([s.kept.envelope])  # before: AssertionError here, and at every start after
        assert _bodies(first) == ["stamp", "refund", "refund"]
        refunds = [verify_statement(env).statement.refund for env in first[2:]]
        assert sorted((r.party, r.amount) for r in refunds) == sorted([(alice, BOND), (bob, BOND)])
        neg = e.escrow.verifier.negotiations.get(nid)
        assert neg.state is State.REJECTED and neg.contract is None
        assert {s.accept.digest, delivery.digest} <= set(neg.superseded)
        assert e.escrow.balance(alice) == e.escrow.balance(bob) == (FUNDS, 0)
        transcript = _audited(e, s.party.did)
        assert e.submit([s.kept.envelope]) == first  # ESC-007, signing nothing
        assert e.escrow.transcript() == transcript
    finally:
        e.close()
    restarted = s.node(path, 1 if restart == "snapshot" else 0)
    try:
        assert restarted.escrow.transcript() == transcript
        assert restarted.escrow.verifier.negotiations.get(nid).state is State.REJECTED
        assert restarted.escrow.balance(alice) == restarted.escrow.balance(bob) == (FUNDS, 0)
        assert restarted.submit([s.kept.envelope]) == first  # nothing refunded twice (ESC-016 (b))
        s.clock.advance(3 * 86_400_000)
        assert restarted.tick() == []  # nothing else signed about the contract, ever
        assert _audited(restarted, s.party.did) == transcript
    finally:
        restarted.close()


@pytest.mark.req("NEG-021", "ESC-016", "AUD-004")
def test_a_view_of_the_escrows_transcript_and_its_audit_agree_with_the_escrow() -> None:
    """A view of evidence holding the escrow's transcript -- in ledger order, or with the kept Reject right
    after Bob's offer -- ends where the escrow did: the line cut back to Bob's offer, REJECTED, no contract;
    and the audit of that transcript, which replays the escrow's decisions, finds nothing to report."""
    s = _CutBack()
    e = LocalEscrow(s.party, funds={s.alice.did: FUNDS, s.bob.did: FUNDS})
    assert _bodies(e.submit([*s.setup, s.offer.envelope, s.counter.envelope, s.accept.envelope])) == [
        "stamp",
        "bond_lock",
        "bond_lock",
    ]
    delivery = s.bob.deliver(s.accept, s.alice)
    s.clock.advance(1_000)
    e.submit([delivery.envelope])
    assert _bodies(e.submit([s.kept.envelope])) == ["stamp", "refund", "refund"]
    transcript = e.escrow.transcript()
    report = audit_ledger(transcript, escrow=s.party.did)
    assert report.ok, report.findings
    rest = [env for env in transcript if env != s.kept.envelope]
    at = rest.index(s.offer.envelope) + 1
    kept_first = [*rest[:at], s.kept.envelope, *rest[at:]]  # before Alice's Counter, in a view
    for order in (transcript, kept_first):
        v = Verifier()
        held: list[VerifiedStatement] = []
        for env in order:
            held.append(verify_statement(env))
            v.accept(env)
        neg = v.negotiations.get(s.offer.negotiation_id)
        assert neg.state is State.REJECTED and neg.contract is None
        assert {s.accept.digest, delivery.digest} <= set(neg.superseded)
        assert s.kept.digest in {vs.digest for vs in held}


@pytest.mark.req("AUD-005", "ESC-016", "NEG-021")
def test_the_audit_reports_an_escrow_that_keeps_the_bonds_of_a_contract_cut_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The audit's side: an escrow that drops the contract a lower answer cut back without refunding its
    bonds (the reference's new step, replaced here by a drop alone) leaves both locked, and the audit of its
    transcript reports ``ACTION_MISSING`` -- the refund was due once it took the Reject."""
    monkeypatch.setattr(Escrow, "_drop_cut_back", lambda self, nid: self._contracts.pop(nid, None) and None)
    s = _CutBack()
    e = LocalEscrow(s.party, funds={s.alice.did: FUNDS, s.bob.did: FUNDS})
    e.submit([*s.setup, s.offer.envelope, s.counter.envelope, s.accept.envelope])
    assert _bodies(e.submit([s.kept.envelope])) == ["stamp"]  # the attack happened: no refund signed
    assert e.escrow.balance(s.alice.did) == (FUNDS - BOND, BOND)
    report = audit_ledger(e.escrow.transcript(), escrow=s.party.did)
    assert [f.code for f in report.findings] == ["ACTION_MISSING"], report.findings
    assert "refund was due" in report.findings[0].message


@pytest.mark.req("NEG-021", "NEG-017", "ESC-014")
@pytest.mark.xfail(
    strict=True,
    reason=(
        "redteam25: NEG-021 cuts a line back past a contract its escrow witnessed -- Alice's kept Reject "
        "of Bob's offer naming no escrow, revealed after Bob accepted her Counter naming escrow E, E "
        "stamped the Accept, locked both bonds and Bob delivered: the contract gives way at E and in "
        "every view, both bonds refunded (ESC-016 (d)), Bob's Delivery given for nothing, Alice bound to "
        "nothing. NEG-022's advice (an offerer that must be sure names an escrow) does not reach a "
        "contract whose escrow a Counter named. Proposed fix: NEG-021 (c) MUST NOT cut back past an "
        "Accept the escrow its accepted offer names witnessed (its Stamp held): the lower answer is then "
        "taken superseded (NEG-018), as a higher one; a view that cut back before the Stamp came derives "
        "the line again when it comes (as for NEG-017's witnessed Accept); the escrow, which stamps the "
        "Accept as it takes it, never cuts back; the audit replays the same."
    ),
)
def test_a_lower_answer_leaves_a_contract_its_escrow_witnessed_standing() -> None:
    s = _CutBack()
    e = LocalEscrow(s.party, funds={s.alice.did: FUNDS, s.bob.did: FUNDS})
    e.submit([*s.setup, s.offer.envelope, s.counter.envelope, s.accept.envelope])
    delivery = s.bob.deliver(s.accept, s.alice)
    s.clock.advance(1_000)
    e.submit([delivery.envelope])
    answer = _bodies(e.submit([s.kept.envelope]))
    assert answer[0] == "stamp"  # the attack happened: E took Alice's kept Reject
    neg = e.escrow.verifier.negotiations.get(s.offer.negotiation_id)
    assert neg.state is State.PERFORMING and neg.contract is not None
    assert neg.contract.accept.digest == s.accept.digest and s.kept.digest in neg.superseded
    assert answer == ["stamp"]  # no Refund: the bonds stay locked for the contract E witnessed
