"""The reference peer's hold of a Delivery under revocable terms (SPEC.md 9.3, CMT-012).

Terms that let the counterparty revoke without ``forfeit_bond``, with a notice shorter than the time to
its own deadlines, let it take what we delivered early and leave owing nothing for it (CMT-003
discharges what falls due after the notice; its bond comes back). The reference peer holds each of its
Deliveries back until the counterparty's items are delivered or due before a Revoke sent then could
take effect, and at the latest until a clock tolerance before its own item's deadline
(a2a_coop.runtime.perform_time). These tests check that an honest pair still fulfils -- in memory, on a
served node whose watch wakes the held Delivery, across a restart, and over real gRPC -- and that the
hold applies only where a Revoke could cost us.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from peers import make_peer, witnessed_node

from a2a_coop._proto.a2acoop.v1 import trade_pb2
from a2a_coop.cli.demo import provision
from a2a_coop.cli.peer import _held_under_revocable_terms
from a2a_coop.protocol.escrow_audit import audit_ledger
from a2a_coop.protocol.negotiation import CLOCK_TOLERANCE_MS, State
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.node import EscrowNode, EscrowWitness, PeerNode
from a2a_coop.runtime.peer import Peer, drive, wall_clock_ms
from a2a_coop.runtime.perform_time import REVOCABLE_HOLD_MARGIN_MS, free_exit_until, revocable_hold_until
from a2a_coop.runtime.strategy import WithholdingStrategy
from a2a_coop.runtime.trade import run_trade, settle_with_escrow
from a2a_coop.testing import DAY_MS, FixedClock, LocalEscrow, Party, derive, service
from a2a_coop.transport import CooperationClient, EscrowClient, serve

FUNDS, BOND = 1_000, 100
HOUR_MS = 3_600_000


def _market(
    *, alice_withholds: bool = False, bob_journal: Path | None = None
) -> tuple[FixedClock, Party, Party, LocalEscrow, Peer, Peer]:
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    escrow = LocalEscrow(Party("escrow", clock), funds={alice.did: FUNDS, bob.did: FUNDS})
    strategy = WithholdingStrategy(every=1) if alice_withholds else None
    a = make_peer(alice, clock, context=[escrow.mandate], strategy=strategy)
    journal = None if bob_journal is None else Journal.open(bob_journal)
    b = make_peer(bob, clock, context=[escrow.mandate], journal=journal)
    return clock, alice, bob, escrow, a, b


def _terms(
    alice: Party,
    escrow: LocalEscrow,
    *,
    revocation: trade_pb2.Revocation | None,
    alice_due: int,
    bob_due: int,
    issuer_bond: int = BOND,
) -> trade_pb2.Offer:
    """Alice gives code review (500) due at ``alice_due``, Bob copy editing (450) due at ``bob_due``."""
    return alice.proposal(
        gives=[service("code-review", value=500, deadline_ms=alice_due)],
        wants=[service("copy-editing", value=450, deadline_ms=bob_due)],
        issuer_bond=issuer_bond,
        audience_bond=BOND,
        escrow=escrow.did,
        revocation=revocation,
    )


def _delivered_by(peer: Peer, negotiation_id: bytes) -> set[str]:
    c = peer.negotiation(negotiation_id).contract
    assert c is not None
    return {who for who, _ in c.delivered}


_MINUTE = 60_000


@pytest.mark.req("CMT-012")
@pytest.mark.parametrize(
    ("name", "revocation", "alice_bond", "held_until"),
    [
        ("not revocable", None, BOND, None),
        ("notice past her deadline", trade_pb2.Revocation(allowed=True, notice_ms=2 * HOUR_MS), BOND, None),
        (
            "forfeit covers what he gives",
            trade_pb2.Revocation(allowed=True, forfeit_bond=True, notice_ms=_MINUTE),
            450,
            None,
        ),
        (
            "forfeit below what he gives",
            trade_pb2.Revocation(allowed=True, forfeit_bond=True, notice_ms=_MINUTE),
            449,
            "hers",
        ),
        ("no forfeit, short notice", trade_pb2.Revocation(allowed=True, notice_ms=_MINUTE), BOND, "hers"),
        ("no notice at all", trade_pb2.Revocation(allowed=True), BOND, "hers"),
    ],
)
def test_the_hold_applies_only_where_a_revoke_could_discharge_what_the_counterparty_owes(
    name: str,
    revocation: trade_pb2.Revocation | None,
    alice_bond: int,
    held_until: str | None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Alice (withholding) owes code review in an hour, Bob copy editing in a day. Expect Bob to deliver
    at once unless her Revoke could leave her owing nothing: terms without revocation, a notice that
    reaches past her deadline, or a forfeit_bond at least the 450 he gives, need no hold. Otherwise he
    holds until her item is due before a Revoke sent then could take effect (its deadline - notice +
    the clock tolerance, the escrow's clock possibly behind his) -- with no notice that is after her
    deadline (and his own deadline, less the margin, would bound it if it came first). A held
    Delivery is logged once, for the operator of a served peer."""
    caplog.set_level(logging.INFO, logger="a2a_coop.runtime.peer")
    clock, alice, _, escrow, a, b = _market(alice_withholds=True)
    alice_due, bob_due = clock.now_ms + HOUR_MS, clock.now_ms + DAY_MS
    proposal = _terms(
        alice, escrow, revocation=revocation, alice_due=alice_due, bob_due=bob_due, issuer_bond=alice_bond
    )
    neg = run_trade(a, b, b.did, proposal, escrow=escrow)
    if held_until is None:
        assert _delivered_by(b, neg.id) == {b.did}
        assert _held_under_revocable_terms(b, b.negotiation(neg.id)) is None
        assert "holding our delivery" not in caplog.text
        assert b.deferred_until(neg.id) is None
        return
    assert _delivered_by(b, neg.id) == set()
    assert b.negotiation(neg.id).state is State.BONDED
    held = [r.getMessage() for r in caplog.records if "holding our delivery" in r.getMessage()]
    assert len(held) == 1 and neg.id.hex()[:12] in held[0] and "CMT-012" in held[0]
    expected = alice_due - proposal.terms.revocation.notice_ms + CLOCK_TOLERANCE_MS + 1
    assert b.deferred_until(neg.id) == expected
    clock.now_ms = expected - 1
    assert b.perform_deferred() == [] and _delivered_by(b, neg.id) == set()
    clock.now_ms = expected
    (delivery,) = b.perform_deferred()  # the hold is over: delivered, whatever Alice does
    assert delivery.body == "delivery" and delivery.issued_at_ms <= bob_due


@pytest.mark.req("CMT-012", "CMT-003")
def test_an_honest_pair_under_revocable_terms_still_fulfils() -> None:
    """Both honest, revocable terms without forfeit and a one-minute notice; Alice's item due in an
    hour, Bob's in a day. Each holds its Delivery: neither delivers at the contract. A clock tolerance
    before her deadline Alice's hold ends (her own deadline bounds it) and she delivers; that ends
    Bob's hold (everything she owes is delivered), so he delivers in his answer. Expect FULFILLED on
    both sides, every Delivery on time, and both bonds back."""
    clock, alice, _, escrow, a, b = _market()
    alice_due, bob_due = clock.now_ms + HOUR_MS, clock.now_ms + DAY_MS
    terms = trade_pb2.Revocation(allowed=True, notice_ms=_MINUTE)
    neg = run_trade(
        a,
        b,
        b.did,
        _terms(alice, escrow, revocation=terms, alice_due=alice_due, bob_due=bob_due),
        escrow=escrow,
    )
    assert _delivered_by(a, neg.id) == set() and a.negotiation(neg.id).state is State.BONDED
    assert a.deferred_until(neg.id) == alice_due - REVOCABLE_HOLD_MARGIN_MS
    said = _held_under_revocable_terms(a, a.negotiation(neg.id))  # what `a2a-coop offer` prints
    assert said is not None and "holds our delivery back until" in said and "a2a-coop resume" in said
    # Bob's hold ends 1 ms later by the rule (her item due before a Revoke then could take effect).
    assert b.deferred_until(neg.id) == alice_due - _MINUTE + CLOCK_TOLERANCE_MS + 1
    clock.now_ms = alice_due - REVOCABLE_HOLD_MARGIN_MS
    assert b.perform_deferred() == []
    (hers,) = a.perform_deferred()
    drive(a, b.exchange, hers)
    assert _delivered_by(b, neg.id) == {a.did, b.did}  # his came in his answer to hers
    settle_with_escrow(a, b, escrow, a.negotiation(neg.id))
    for peer in (a, b):
        n = peer.negotiation(neg.id)
        assert n.state is State.FULFILLED and not n.contract.claims  # type: ignore[union-attr]
    assert escrow.get_balance(alice.did)[:2] == (FUNDS, 0)
    assert escrow.get_balance(b.did)[:2] == (FUNDS, 0)
    held = a.verifier.statements.values()
    deliveries = [vs for vs in held if vs.body == "delivery" and vs.negotiation_id == neg.id]
    due = {a.did: alice_due, b.did: bob_due}
    assert len(deliveries) == 2 and all(vs.issued_at_ms <= due[vs.issuer] for vs in deliveries)
    assert audit_ledger(escrow.escrow.transcript()).ok


@pytest.mark.req("CMT-012")
def test_the_rule_reads_the_contract_not_the_clock_of_whoever_asks() -> None:
    """The pure rule on one contract: the counterparty's free exit lasts until her last undelivered item
    is due before a Revoke sent then could take effect; our item is held until then, or until the margin
    before its own deadline, whichever comes first."""
    clock, alice, _, escrow, a, b = _market(alice_withholds=True)
    alice_due, bob_due = clock.now_ms + HOUR_MS, clock.now_ms + 2 * HOUR_MS
    terms = trade_pb2.Revocation(allowed=True, notice_ms=10 * _MINUTE)
    neg = run_trade(
        a,
        b,
        b.did,
        _terms(alice, escrow, revocation=terms, alice_due=alice_due, bob_due=bob_due),
        escrow=escrow,
    )
    c = b.negotiation(neg.id).contract
    assert c is not None
    assert free_exit_until(c, b.did) == alice_due - 10 * _MINUTE + CLOCK_TOLERANCE_MS + 1
    assert revocable_hold_until(c, b.did, 0) == free_exit_until(c, b.did)
    # Alice's side: Bob's item is due later than hers, so her own deadline bounds her hold.
    assert revocable_hold_until(c, a.did, 0) == alice_due - REVOCABLE_HOLD_MARGIN_MS


@pytest.mark.req("CMT-012")
def test_a_peer_rebuilt_from_its_journal_holds_again_and_delivers_when_the_hold_ends(tmp_path: Path) -> None:
    """Bob holds his Delivery (a memory-only deferral) and his process restarts. Expect the rebuilt peer
    to count the contract as due, hold the Delivery again with the same end, and deliver then."""
    path = tmp_path / "bob.db"
    clock, alice, bob, escrow, a, b = _market(alice_withholds=True, bob_journal=path)
    alice_due, bob_due = clock.now_ms + HOUR_MS, clock.now_ms + DAY_MS
    terms = trade_pb2.Revocation(allowed=True, notice_ms=_MINUTE)
    neg = run_trade(
        a,
        b,
        b.did,
        _terms(alice, escrow, revocation=terms, alice_due=alice_due, bob_due=bob_due),
        escrow=escrow,
    )
    until = b.deferred_until(neg.id)
    assert until is not None and until > clock.now_ms
    b.journal.close()  # type: ignore[union-attr]
    restarted = iter(range(10**6))  # nonces of its own, as a real peer's drawn at random
    b = Peer(
        bob.agent.key,
        bob.mandate_vs.envelope,
        clock=lambda: clock.now_ms,
        nonce=lambda: derive(f"restarted/{next(restarted)}", 16),
        context=[escrow.mandate],
        journal=Journal.open(path),
    )
    assert b.deferred_until(neg.id) == clock.now_ms  # due at once: what was held lived in memory only
    assert b.perform_deferred() == []
    assert b.deferred_until(neg.id) == until
    clock.now_ms = until
    assert [vs.body for vs in b.perform_deferred()] == ["delivery"]
    b.journal.close()  # type: ignore[union-attr]


def _wait_witnessed(node: PeerNode, escrow: LocalEscrow, negotiation_id: bytes) -> list[VerifiedStatement]:
    """Wait (a few seconds at most) for the node's Delivery in ``negotiation_id`` to be signed and its
    witness to have submitted it; return its Deliveries there."""
    give_up = time.monotonic() + 10
    mine: list[VerifiedStatement] = []
    while time.monotonic() < give_up and not mine:
        with node.peer.lock:
            held = list(node.peer.verifier.statements.values())
        mine = [
            vs
            for vs in held
            if vs.body == "delivery" and vs.issuer == node.peer.did and vs.negotiation_id == negotiation_id
        ]
        time.sleep(0.02)
    node.witness.flush()  # type: ignore[union-attr]
    return mine


@pytest.mark.req("CMT-012", "WIT-007")
def test_a_serving_node_delivers_what_it_held_when_the_hold_ends(tmp_path: Path) -> None:
    """Bob serves with an escrow witness. Alice (who then sends nothing more) offers revocable terms with
    no notice; Bob's item is due a clock tolerance and 300 ms after the contract, hers in a day. Bob
    accepts and holds his Delivery when the locks come. Expect the node's watch to deliver it once the
    hold ends -- 300 ms later, the margin before his deadline -- with the escrow witnessing it on time;
    and, since the node knows no address of Alice's, to hand it to her with its answer to her next
    request there (her own Delivery): before, she never saw it, held the contract PERFORMING and never
    receipted it."""
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    escrow = LocalEscrow(Party("escrow", clock), funds={alice.did: FUNDS, bob.did: FUNDS})
    node = witnessed_node(bob, clock, escrow, tmp_path / "bob.db")
    try:
        bob_due = clock.now_ms + REVOCABLE_HOLD_MARGIN_MS + 300
        proposal = _terms(
            alice,
            escrow,
            revocation=trade_pb2.Revocation(allowed=True),
            alice_due=clock.now_ms + DAY_MS,
            bob_due=bob_due,
        )
        offer = alice.offer(bob, proposal)
        accept = verify_statement(node.exchange(offer.envelope, [escrow.mandate, *alice.setup])[1])
        assert accept.body == "accept"
        locks = escrow.submit([*alice.setup, *bob.setup, offer.envelope, accept.envelope])
        answers = node.exchange(locks[-1], [escrow.mandate, *locks[1:-1]])
        assert "delivery" not in [verify_statement(e).body for e in answers]  # held
        assert node.peer.deferred_until(offer.negotiation_id) == clock.now_ms + 300
        clock.advance(300)
        (mine,) = _wait_witnessed(node, escrow, offer.negotiation_id)
        assert mine.issued_at_ms == bob_due - REVOCABLE_HOLD_MARGIN_MS
        assert escrow.escrow.verifier.witness.stamp_time(escrow.did, mine.digest) == clock.now_ms
        hers = alice.deliver(accept, bob)
        answers = [verify_statement(e) for e in node.exchange(hers.envelope, [])]
        assert [(vs.body, vs.digest == mine.digest) for vs in answers] == [
            ("receipt", False),
            ("delivery", True),  # after the answer's own envelopes (RPC-022)
        ]
        receipt = alice.receipt(mine)
        assert "delivery" not in [
            verify_statement(e).body for e in node.exchange(receipt.envelope, [])
        ]  # once
    finally:
        node.close()


@pytest.mark.req("CMT-012")
def test_an_honest_pair_under_revocable_terms_fulfils_over_grpc(tmp_path: Path) -> None:
    """Alice (in this process, `run_trade`) and Bob (a served PeerNode with an escrow witness) trade
    over gRPC with a served escrow, under revocable terms without notice or forfeit, both items due a
    clock tolerance and 2 s from now. Each holds its Delivery until the margin before its deadline;
    Alice's run waits that out (within the skew), delivers, and Bob -- on his watch, or in his answer
    to hers -- delivers too. Expect FULFILLED on both sides, every Delivery on time and witnessed, the
    bonds back and a clean audit."""
    alice, bob, esc = (provision(tmp_path, name) for name in ("alice", "bob", "escrow"))
    escrow = EscrowNode(esc.key, esc.mandate, tmp_path / "escrow.db")
    escrow.deposit(alice.key.did, FUNDS)
    escrow.deposit(bob.key.did, FUNDS)
    escrow_did = verify_statement(escrow.mandate).statement.mandate.agent
    node = None
    try:
        with serve(None, escrow) as escrow_server:
            witness_client = EscrowClient(escrow_server.target, timeout_s=10)
            node = PeerNode.open(
                bob.key,
                bob.mandate,
                tmp_path / "bob.db",
                context=[escrow.mandate],
                witness=EscrowWitness(witness_client, escrow_did, lock_wait_s=0.05),
            )
            with (
                serve(node, None) as bob_server,
                CooperationClient(bob_server.target, timeout_s=10) as client,
                EscrowClient(escrow_server.target, timeout_s=10) as escrow_client,
                Journal.open(tmp_path / "alice.db") as journal,
            ):
                a = Peer(alice.key, alice.mandate, journal=journal, context=[escrow.mandate])
                start = wall_clock_ms()
                due = start + REVOCABLE_HOLD_MARGIN_MS + 2_000
                proposal = trade_pb2.Offer(
                    gives=[service("code-review", value=500, deadline_ms=due)],
                    wants=[service("copy-editing", value=450, deadline_ms=due)],
                    terms=trade_pb2.Terms(
                        currency="credit",
                        issuer_bond=BOND,
                        audience_bond=BOND,
                        escrow=escrow_did,
                        revocation=trade_pb2.Revocation(allowed=True),
                    ),
                )
                neg = run_trade(a, client, node.peer.did, proposal, escrow=escrow_client)
                node.witness.flush()  # type: ignore[union-attr]
                settle_with_escrow(a, client, escrow_client, a.negotiation(neg.id))
                assert a.negotiation(neg.id).state is State.FULFILLED
                with node.peer.lock:
                    assert node.peer.negotiation(neg.id).state is State.FULFILLED
                deliveries = [
                    vs
                    for vs in a.verifier.statements.values()
                    if vs.body == "delivery" and vs.negotiation_id == neg.id
                ]
                assert {vs.issuer for vs in deliveries} == {a.did, node.peer.did}
                stamps = {
                    digest: stamp.issued_at_ms
                    for e in escrow.escrow.transcript()
                    if (stamp := verify_statement(e)).body == "stamp"
                    for digest in stamp.statement.stamp.statements
                }
                for vs in deliveries:  # held (not at the contract), and on time
                    assert due - REVOCABLE_HOLD_MARGIN_MS <= vs.issued_at_ms <= due
                    assert stamps[vs.digest] <= due + CLOCK_TOLERANCE_MS
            witness_client.close()
        assert escrow.get_balance(alice.key.did)[:2] == (FUNDS, 0)
        assert escrow.get_balance(bob.key.did)[:2] == (FUNDS, 0)
        assert audit_ledger(escrow.escrow.transcript()).ok
    finally:
        if node is not None:
            node.close()
        escrow.close()
