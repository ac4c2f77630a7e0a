"""ESC-017 for keys in an escrow's dealings: the public statements of each such key that no trade at the
escrow needs count per key, with credit its trades there earn -- what they bound, and what they must
never refuse: an honest trade in progress.

What an honest bonded trade submits to its escrow, measured (300 trades, one counterparty, a served peer
with its escrow witness, each trade then settled with the escrow, :func:`settle_with_escrow`): six
statements of the contract's negotiation (the Offer, the Accept, two Deliveries, two Receipts) and no
public statement at all, but each party's Mandate with the first. The count leaves a key 256 of them an
hour (16 x a stranger's 16) plus one for each statement of a contract naming the escrow it made that
hour: two or three a trade."""

from __future__ import annotations

from pathlib import Path

import pytest
from peers import bonded_proposal, fresh_key, peer_node, served_peer

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2
from a2a_coop.protocol import merkle
from a2a_coop.protocol.errors import RateLimited
from a2a_coop.protocol.negotiation import State
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.runtime.node import EscrowNode, EscrowWitness
from a2a_coop.runtime.strangers import META_DEALINGS, STRANGER_PERIOD_MS, StrangerQuota
from a2a_coop.runtime.trade import run_trade, settle_with_escrow
from a2a_coop.testing import FixedClock, Party

pytestmark = pytest.mark.req("ESC-017")

TRADES = 300
FUNDS = 10**9
# The default run carries a short line (each assertion but the number of trades the same); the hour's
# full 300 -- past a flat limit's 256 -- run under -m slow.
_SHORT_AND_FULL_LINES = pytest.mark.parametrize(
    "trades", [pytest.param(30, id="short"), pytest.param(TRADES, id="300", marks=pytest.mark.slow)]
)


def _escrow(
    tmp_path: Path, clock: FixedClock, party: Party, quota: StrangerQuota | None = None
) -> EscrowNode:
    """An EscrowNode for ``party`` on a journal in ``tmp_path`` (``quota`` None: the served defaults)."""
    return EscrowNode(
        party.agent.key,
        party.mandate_vs.envelope,
        tmp_path / "e.db",
        clock=lambda: clock.now_ms,
        durability="normal",
        stranger_quota=quota,
    )


def _window(clock: FixedClock) -> FixedClock:
    clock.now_ms -= clock.now_ms % STRANGER_PERIOD_MS  # the start of a window
    return clock


@_SHORT_AND_FULL_LINES
def test_300_bonded_trades_with_one_counterparty_in_an_hour_are_never_refused(
    tmp_path: Path, trades: int
) -> None:
    """Alice and Bob (a PeerNode with its escrow witness, as `a2a-coop serve --escrow` runs) carry 300
    bonded trades through one EscrowNode with the served defaults (`escrow serve`) within one hour of its
    clock, each then settled with the escrow by Alice as well: none is refused, each ends FULFILLED, and
    the escrow counted none of their public statements -- its trades submit none -- while each statement
    of a contract earned its issuer credit (Alice's Delivery and Receipt, Bob's Accept, Delivery and
    Receipt; her Offer comes before the contract)."""
    clock = _window(FixedClock())
    alice, bob, e = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    escrow = _escrow(tmp_path, clock, e)
    witness = EscrowWitness(escrow, e.did, clock=lambda: clock.now_ms)
    node = peer_node(bob, clock, tmp_path / "bob.db", context=[e.mandate_vs.envelope], witness=witness)
    try:
        assert escrow.stranger_quota == StrangerQuota() and escrow.dealings is not None  # served
        for party in (alice, bob):
            escrow.deposit(party.did, FUNDS)
        a = served_peer(alice, clock, context=[e.mandate_vs.envelope])
        start = clock.now_ms
        for _ in range(trades):
            proposal = bonded_proposal(alice, e.did)
            neg = run_trade(a, node, bob.did, proposal, escrow=escrow)  # RATE_LIMITED would raise here
            assert a.negotiation(neg.id).state is State.FULFILLED
            witness.flush()
            settle_with_escrow(a, node, escrow, a.negotiation(neg.id))
            clock.advance(10_000)
        assert clock.now_ms - start < STRANGER_PERIOD_MS
        dealings = escrow.dealings
        assert dealings.refused == 0 and not dealings.counted
        assert (dealings.credit[alice.did], dealings.credit[bob.did]) == (2 * trades, 3 * trades)
        assert escrow.strangers is not None and escrow.strangers.count == 0
    finally:
        node.close()
        escrow.close()


def _contract(node: EscrowNode, escrow: Party, alice: Party, mallory: Party) -> VerifiedStatement:
    """A contract between Mallory and Alice naming the escrow (no bonds, no funds: nobody's consent but
    theirs), submitted; its Accept."""
    offer = mallory.offer(alice, mallory.proposal(escrow=escrow.did))
    accept = alice.accept(offer)
    node.submit([*alice.setup, *mallory.setup, offer.envelope, accept.envelope])
    assert node.escrow.deals_with(mallory.did)
    return accept


def _checkpoints(node: EscrowNode, mallory: Party, n: int) -> int:
    """Mallory submits ``n`` Checkpoints of her chain, each at its next seq; how many the escrow took."""
    held = node.escrow.verifier.statements
    kept = 0
    for _ in range(n):
        signed = [d for d in held if held[d].issuer == mallory.did]
        cp = mallory.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle.root(signed)))
        try:
            node.submit([cp.envelope])
        except RateLimited as over:
            assert over.requirement == "ESC-017" and 0 < over.retry_after_ms <= STRANGER_PERIOD_MS
            mallory.agent.writer.next_seq -= 1  # not taken: her chain goes on from the one before
            mallory.agent.writer.prev = held[signed[-1]].digest
            continue
        kept += 1
    return kept


def test_the_count_of_a_key_in_the_dealings_survives_a_restart(tmp_path: Path) -> None:
    """Mallory, in the escrow's dealings by one contract, spends her count (16 x 2), then provokes a
    restart: the count was journaled per key in the commits that hold what it counted
    (``META_DEALINGS/<key>``), so the restarted escrow keeps her out until its next period, which takes
    her again."""
    clock = _window(FixedClock())
    e, alice, mallory = Party("escrow", clock), Party("alice", clock), Party("mallory", clock)
    quota = StrangerQuota(per_period=100, per_key=2)
    node = _escrow(tmp_path, clock, e, quota)
    _contract(node, e, alice, mallory)
    # Funded: the dealings' base count is for keys the ledger credited (tests/test_attack18.py).
    node.deposit(mallory.did, 1)
    assert _checkpoints(node, mallory, 40) == 32
    assert node.journal.meta_under(META_DEALINGS + "/") == [
        (f"{META_DEALINGS}/{mallory.did}", [clock.now_ms // STRANGER_PERIOD_MS, 32, 0])
    ]
    node.close()
    node = _escrow(tmp_path, clock, e, quota)
    try:
        assert _checkpoints(node, mallory, 5) == 0  # no second count
        clock.advance(STRANGER_PERIOD_MS)
        assert _checkpoints(node, mallory, 5) == 5
    finally:
        node.close()


def test_a_trades_witnesses_and_what_ends_a_key_are_taken_uncounted_once(tmp_path: Path) -> None:
    """With a count of one a key and no credit: Alice's Ack of Mallory's Delivery under their contract
    (sent to settle, WIT-002) is the trade's, taken uncounted; a second Ack of it by Alice is nobody's
    evidence and counts (one, then RATE_LIMITED), and so does her Ack of an Offer no contract followed.
    Mallory's principal's first KeyRevocation of her key is never counted either (ESC-017 (c)), nor its
    one correction (an earlier effective time, tests/test_attack19.py); the next ones count for the
    principal, their revoker (a thief of her key spends her key's count). Its revocations of a fresh
    agent of its count for it, the key of our dealings that issued them."""
    clock = _window(FixedClock())
    e, alice, mallory = Party("escrow", clock), Party("alice", clock), Party("mallory", clock)
    quota = StrangerQuota(per_period=100, per_key=1, dealings_factor=1, dealings_credit=0)
    node = _escrow(tmp_path, clock, e, quota)
    try:
        accept = _contract(node, e, alice, mallory)
        # Funded: the dealings' base count is for keys the ledger credited (tests/test_attack18.py).
        for key in (alice.did, mallory.principal.did):
            node.deposit(key, 1)
        delivery = mallory.deliver(accept, alice)
        node.submit([delivery.envelope])
        held = node.escrow.verifier.statements
        acks = [
            alice.sign("ack", commitment_pb2.Ack(statement=delivery.digest), audience=mallory.did)
            for _ in range(3)
        ]
        node.submit([acks[0].envelope])  # the trade's
        node.submit([acks[1].envelope])  # counted: Alice's one
        with pytest.raises(RateLimited, match="ESC-017"):
            node.submit([acks[2].envelope])
        assert [a.digest in held for a in acks] == [True, True, False]
        # An Ack of an Offer no contract followed is no trade's: anyone can submit Offers naming us.
        offer = mallory.offer(alice, mallory.proposal(escrow=e.did))
        node.submit([offer.envelope])
        ack = alice.sign("ack", commitment_pb2.Ack(statement=offer.digest), audience=mallory.did)
        with pytest.raises(RateLimited, match="ESC-017"):
            node.submit([ack.envelope])
        clock.advance(1_000)
        revocations = [
            mallory.principal.sign(
                "key_revocation",
                identity_pb2.KeyRevocation(key=mallory.did, effective_ms=clock.now_ms - i, reason="stolen"),
            )
            for i in range(4)
        ]
        node.submit([revocations[0].envelope])  # what ends her key: never counted
        node.submit([revocations[1].envelope])  # its revoker's one correction: never counted either
        node.submit([revocations[2].envelope])  # another: counted for its revoker, the principal
        with pytest.raises(RateLimited, match="ESC-017"):
            node.submit([revocations[3].envelope])
        assert node.dealings is not None and node.dealings.counted[mallory.principal.did] == 1
        assert node.dealings.counted.get(mallory.did, 0) == 0  # her thief cannot spend it away
        clock.advance(STRANGER_PERIOD_MS)  # a new period
        # Her principal's revocations of a fresh agent of its (bound: its Mandate and first Checkpoint
        # taken, each counted under the newcomer quota): the first never counted, the next ones counted
        # for the principal, the key in our dealings that issued them -- never under the newcomer quota
        # (ESC-017 (a)), whose count of one for the agent its Checkpoint spent.
        agent, mandate = fresh_key(0, clock, mallory.principal)
        first = agent.sign(
            "checkpoint", identity_pb2.Checkpoint(log_root=merkle.root([])), mandate=mandate.digest
        )
        node.submit([mandate.envelope, first.envelope])
        clock.advance(1_000)
        ends = [
            mallory.principal.sign(
                "key_revocation",
                identity_pb2.KeyRevocation(key=agent.did, effective_ms=clock.now_ms - i, reason="stolen"),
            )
            for i in range(4)
        ]
        node.submit([ends[0].envelope])
        node.submit([ends[1].envelope])  # the correction
        node.submit([ends[2].envelope])
        with pytest.raises(RateLimited, match=mallory.principal.did):
            node.submit([ends[3].envelope])
        assert node.dealings.counted[mallory.principal.did] == 1
    finally:
        node.close()
