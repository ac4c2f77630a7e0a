"""Attacker's pass (twelfth): who chose the value a rule relies on -- the response window, the escrow's
order of rulings and evidence, the A2A caller -- and what they gain by lying (SPEC 9.2, 9.5, 14.5, 16.14).

Each test names the attack in its docstring; Mallory is the attacker, Bob the honest reference peer.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import grpc
import pytest
from cli_run import run_cli
from peers import make_peer, stamped_by_served_escrow
from test_attack9 import CountersAndKeepsTheStamps
from test_escrow_relay import _SharedEscrow, _wait_for
from test_hidden_accept import Market

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, trade_pb2
from a2a_coop.cli.demo import Identity, provision
from a2a_coop.protocol.errors import CoopError, LimitExceeded
from a2a_coop.protocol.escrow_audit import audit_ledger
from a2a_coop.protocol.negotiation import State, proposal_of
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.node import MAX_LOCK_FETCHES, EscrowNode, EscrowWitness, PeerNode
from a2a_coop.runtime.trade import carry_trade, resume_trade
from a2a_coop.testing import DAY_MS, FixedClock, LocalEscrow, Party, service
from a2a_coop.transport import EscrowClient, TransportError, serve

FUNDS, BOND = 1_000, 100
UPHOLD = commitment_pb2.RULING_DECISION_UPHOLD
DISMISS = commitment_pb2.RULING_DECISION_DISMISS


def _rulings(escrow: LocalEscrow | EscrowNode) -> list[int]:
    return [
        vs.statement.ruling.decision
        for e in escrow.escrow.ledger()
        if (vs := verify_statement(e)).body == "ruling"
    ]


@pytest.mark.req("CMT-002", "WIT-003", "AUD-004")
@pytest.mark.parametrize(
    "window",
    [
        0,  # the default hour: the accused's Delivery, stamped within the tolerance, is in time
        1,  # the escrow rules no earlier than the deadline + the clock tolerance (CMT-002)
    ],
)
def test_a_response_window_shorter_than_the_clock_tolerance_does_not_cut_it_short(window: int) -> None:
    """Mallory offers Bob a bonded trade whose terms carry response_window_ms = 1 (any value from 1 up
    is valid, BDY-003; Bob's guard checks only the upper bound). She funds her bond last, 300 ms before
    Bob's deadline (CMT-009 allows it: every bond is locked by the deadline), and relays the locks at
    once. Bob delivers at once, 200 ms before his deadline, and submits his Delivery to the escrow
    (WIT-007); it reaches the escrow 5 s after the deadline (a slow link, a loaded escrow, or an escrow
    clock 5 s ahead of Bob's): timely by WIT-003 (issued by the deadline, stamped by the deadline +
    30 s, the clock tolerance that exists for exactly this). Mallory claims 1 ms after the deadline and
    the escrow rules 1 ms after the claim's stamp: UPHOLD, before the Delivery it would have dismissed
    on reached it. Bob's bond goes to Mallory, and the audit finds nothing wrong -- the ruling rested on
    the evidence stamped before it. The counterparty chose the window, and with it how much of the
    tolerance the accused keeps. Expect the claim dismissed on Bob's Delivery, and his bond released:
    the escrow now rules no earlier than the item's deadline + the clock tolerance (CMT-002)."""
    clock = FixedClock()
    mallory, bob_party = Party("mallory", clock), Party("bob", clock)
    escrow = LocalEscrow(Party("escrow", clock), funds={bob_party.did: FUNDS})
    bob = make_peer(bob_party, clock, context=[escrow.mandate])
    deadline = clock.now_ms + 60_000
    terms = _bonded(mallory, escrow.did, deadline)
    terms.terms.response_window_ms = window
    offer = mallory.sign("offer", terms, audience=bob.did)
    bob_mandate, accept = bob.exchange(offer.envelope, mallory.setup)
    answer = escrow.submit([*mallory.setup, bob_mandate, offer.envelope, accept])[1:]
    assert [verify_statement(e).body for e in answer] == ["stamp", "bond_lock"]  # Bob's only
    nid = offer.header.negotiation_id
    clock.now_ms = deadline - 300
    escrow.escrow.deposit(mallory.did, FUNDS, "credit", "funded last", clock.now_ms)  # her bond locks now
    locks = [e for e in escrow.escrow.ledger() if verify_statement(e).body == "bond_lock"]
    clock.now_ms = deadline - 200
    delivered = bob.exchange(locks[-1], [escrow.mandate, *locks[:-1]])
    delivery = next(e for e in delivered if verify_statement(e).body == "delivery")
    assert verify_statement(delivery).header.issued_at_ms <= deadline
    assert bob.negotiation(nid).state is State.PERFORMING
    clock.now_ms = deadline + 1
    claim = mallory.sign(
        "breach_claim",
        commitment_pb2.BreachClaim(contract=verify_statement(accept).digest, item_index=0, reason="late"),
        audience=bob.did,
        negotiation_id=nid,
    )
    escrow.submit([claim.envelope])
    clock.now_ms = deadline + 2
    escrow.tick()  # the reference escrow ticks every 0.5 s
    clock.now_ms = deadline + 5_000
    escrow.submit([delivery])  # Bob's Delivery reaches the escrow: stamped 5 s after the deadline
    clock.now_ms = deadline + 3_600_000 + 1_000
    escrow.tick()
    assert audit_ledger(escrow.escrow.transcript()).ok
    assert _rulings(escrow) == [DISMISS], "Bob's Delivery was timely (WIT-003), and the claim upheld"
    forfeits = [e for e in escrow.escrow.ledger() if verify_statement(e).body == "forfeit"]
    assert not forfeits and escrow.get_balance(bob.did)[:2] == (FUNDS - BOND, BOND)  # his, still locked


class _AsksAfterSixWait(_SharedEscrow):
    """The escrow as Bob's witness reaches it: a seventh ask waits until Mallory has funded (the test's
    clock does not move, and a watch doubling its waits on a loaded machine would outrun the test)."""

    def __init__(self, escrow: LocalEscrow) -> None:
        super().__init__(escrow)
        self.funded = threading.Event()

    def submit(self, envelopes: Sequence[bytes]) -> list[bytes]:
        seventh = len(self.by_witness) >= MAX_LOCK_FETCHES
        if seventh and threading.current_thread() is not threading.main_thread():
            assert self.funded.wait(10)
        return super().submit(envelopes)


@pytest.mark.req("ESC-009", "ESC-010", "CMT-009", "NEG-012", "CMT-002")
def test_a_responders_lock_watch_outlasts_an_initiator_that_funds_late(tmp_path: Path) -> None:
    """Bob serves with a channel to the escrow (``serve --escrow``), so an initiator that withholds the
    locks should not keep him from delivering (ESC-009). Mallory offers him a bonded trade that stays
    open an hour (its bonding cutoff an hour and 30 s away), his item due in two. She submits the
    contract with her own bond unfunded: Bob's bond is locked, hers is not, so the contract stays
    ACCEPTED, and each time Bob's lock watch asks, the escrow has no lock of hers to show. The watch
    gave up after six asks (two minutes with the defaults); ten minutes later Mallory funds, the escrow
    locks her bond -- before the cutoff, long before Bob's deadline, so CMT-009 lets her claim -- and she
    relays nothing. Bob never learnt the contract was BONDED and never delivered; after his deadline her
    claim was upheld and his bond forfeited to her. Expect Bob's watch to keep asking while a lock can
    still come (up to the bonding cutoff and the clock tolerance) and his deadline is ahead: he learns of
    her lock, delivers, and her claim is dismissed."""
    clock = FixedClock()
    mallory, bob_party = Party("mallory", clock), Party("bob", clock)
    escrow = LocalEscrow(Party("escrow", clock), funds={bob_party.did: FUNDS})
    shared = _AsksAfterSixWait(escrow)
    journal = Journal.open(tmp_path / "bob.db")
    peer = make_peer(bob_party, clock, context=[escrow.mandate], journal=journal)
    bob = PeerNode(peer, journal, witness=EscrowWitness(shared, escrow.did, lock_wait_s=0.01))
    deadline = clock.now_ms + 2 * 3_600_000
    terms = _bonded(mallory, escrow.did, deadline)
    offer = mallory.sign("offer", terms, audience=bob_party.did, ttl_ms=3_600_000)
    nid = offer.header.negotiation_id
    try:
        bob_mandate, accept = bob.exchange(offer.envelope, mallory.setup)
        answer = escrow.submit([*mallory.setup, bob_mandate, offer.envelope, accept])[1:]
        assert [verify_statement(e).body for e in answer] == ["stamp", "bond_lock"]  # Bob's only
        shared.opened.set()  # Bob's watch asks: nothing more to show, every time
        _wait_for(lambda: len(shared.by_witness) >= MAX_LOCK_FETCHES)
        assert bob.peer.negotiation(nid).state is State.ACCEPTED
        clock.advance(10 * 60_000)  # well before the cutoff (an hour and 30 s) and Bob's deadline
        with shared._lock:
            escrow.escrow.deposit(mallory.did, FUNDS, "credit", "funded last", clock.now_ms)
        shared.funded.set()  # a seventh ask of Bob's watch, if any, goes through now
        assert [verify_statement(e).body for e in escrow.escrow.ledger()].count("bond_lock") == 2
        give_up = time.monotonic() + 10
        while bob.peer.negotiation(nid).state is not State.PERFORMING and time.monotonic() < give_up:
            time.sleep(0.01)
        assert bob.peer.negotiation(nid).state is State.PERFORMING, "Bob never learnt of her lock"
        bob.witness.flush()  # type: ignore[union-attr]
    finally:
        bob.close()
    clock.now_ms = deadline + 1
    claim = mallory.sign(
        "breach_claim",
        commitment_pb2.BreachClaim(contract=verify_statement(accept).digest, item_index=0),
        audience=bob_party.did,
        negotiation_id=nid,
    )
    escrow.submit([claim.envelope])
    clock.advance(3_600_000 + 1_000)
    escrow.tick()
    assert _rulings(escrow) == [DISMISS]
    clock.advance(DAY_MS)
    escrow.tick()
    assert not [e for e in escrow.escrow.ledger() if verify_statement(e).body == "forfeit"]
    assert escrow.get_balance(bob_party.did)[:2] == (FUNDS, 0)  # refunded at the lapse (she never delivered)


def _bonded(party: Party, escrow: str, deadline: int) -> trade_pb2.Offer:
    """``party``'s bonded terms at ``escrow``: code review for copy editing, both due at ``deadline``."""
    return party.proposal(
        gives=[service("code-review", value=500, deadline_ms=deadline)],
        wants=[service("copy-editing", value=450, deadline_ms=deadline)],
        issuer_bond=BOND,
        audience_bond=BOND,
        escrow=escrow,
    )


def _mallory_funds_last(tmp_path: Path) -> tuple[Identity, Identity, EscrowNode, PeerNode]:
    """Bob, Mallory and an escrow provisioned in ``tmp_path``; the escrow funds Bob alone, and Mallory
    serves (her node holds the escrow's Mandate). Returns Bob, Mallory, the escrow and Mallory's node."""
    bob, mallory, esc = (provision(tmp_path, name) for name in ("bob", "mallory", "escrow"))
    escrow = EscrowNode(esc.key, esc.mandate, tmp_path / "escrow.db")
    escrow.deposit(bob.key.did, FUNDS)
    node = PeerNode.open(mallory.key, mallory.mandate, tmp_path / "mallory.db", context=[escrow.mandate])
    return bob, mallory, escrow, node


@pytest.mark.req("ESC-010", "ESC-008", "ESC-004", "NEG-012", "CMT-009")
def test_offer_asks_for_the_counterpartys_lock_until_the_bonding_cutoff(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`a2a-coop offer --bond 5`: Mallory's server accepts, but she has not funded her bond, so the escrow
    locks Bob's alone and the contract waits in ACCEPTED. `offer` returned at once, saying the escrow
    "locks nothing after" the bonding cutoff, "when the contract lapses unbonded" -- and Mallory funds
    before that cutoff, once Bob's run is over: the escrow locks her bond (BONDED), and she relays
    nothing. Bob, never told, never delivers; after his deadline her claim takes his bond (CMT-009 lets
    it: every bond was locked by then). The counterparty that funds last chose when the contract bound
    Bob, and that he would not learn it. Expect `offer` to ask the escrow again until the cutoff, say so
    in one line, learn of her lock and deliver -- to the escrow first (WIT-007)."""
    bob, mallory, escrow, node = _mallory_funds_last(tmp_path)
    real_sleep, waits = time.sleep, []

    def sleep(seconds: float) -> None:
        if seconds < 1 or threading.current_thread() is not threading.main_thread():
            return real_sleep(seconds)
        waits.append(seconds)
        if len(waits) == 1:
            escrow.deposit(mallory.key.did, FUNDS)  # she funds while Bob waits, before the cutoff

    monkeypatch.setattr(time, "sleep", sleep)
    try:
        with serve(None, escrow) as escrow_server, serve(node, None) as mallory_server:
            argv = [*bob.files(), "--to", mallory_server.target, "--escrow", escrow_server.target]
            trade = ["--give", "code-review:20", "--want", "copy-editing:20", "--bond", "5"]
            code, out, err = run_cli(capsys, "offer", *argv, *trade)
        if not waits:  # `offer` did not wait: she funds once it is over, before the cutoff all the same
            escrow.deposit(mallory.key.did, FUNDS)
        locks = [vs for e in escrow.escrow.ledger() if (vs := verify_statement(e)).body == "bond_lock"]
        assert {vs.statement.bond_lock.party for vs in locks} == {bob.key.did, mallory.key.did}
        with Journal.open(bob.journal_path) as journal:
            ours = [verify_statement(env) for _, _, env in journal.statements()]
        delivered = [vs for vs in ours if vs.body == "delivery" and vs.issuer == bob.key.did]
        assert delivered, f"the contract bound Bob's bond and he never delivered: {code} {out} {err}"
        assert stamped_by_served_escrow(escrow, delivered[0].digest)
        assert "ACCEPTED" not in out and code == 0, (code, out, err)
        waiting = [line for line in err.splitlines() if "asking the escrow again until" in line]
        assert len(waiting) == 1 and "bonding cutoff" in waiting[0] and "a2a-coop resume" in waiting[0]
    finally:
        node.close()
        escrow.close()


class AcceptsThenFails:
    """Mallory's server: it accepts Bob's bonded offer, and fails every later request of his -- the relay
    of the escrow's locks, his Delivery -- with ``failure`` (a dropped connection, an error refusal)."""

    def __init__(self, m: Market, failure: Exception) -> None:
        self.m, self.failure = m, failure
        self.received: list[str] = []

    def exchange(self, envelope: bytes, context: Sequence[bytes]) -> list[bytes]:
        vs = verify_statement(envelope)
        self.received.append(vs.body)
        if vs.body != "offer":
            raise self.failure
        return [*self.m.mallory.setup, self.m.mallory.accept(vs).envelope]


@pytest.mark.req("WIT-007", "WIT-003", "CMT-002")
@pytest.mark.parametrize(
    "failure",
    [
        TransportError(grpc.StatusCode.UNAVAILABLE, "connection reset"),
        LimitExceeded("busy", requirement="RPC-012"),
    ],
    ids=["dropped", "refused"],
)
def test_a_counterparty_failing_the_lock_relay_does_not_keep_the_delivery_from_the_escrow(
    failure: Exception,
) -> None:
    """Mallory accepts Bob's bonded offer; Bob submits the contract, the escrow locks both bonds, and Bob
    signs his Delivery at once. His run then relays the locks to Mallory and sends her the Delivery, and
    only after that gives his Deliveries to the escrow (WIT-007) -- but her server fails the relay (drops
    the connection, or refuses it), so the run stops there: the Delivery, signed and journaled, reached
    neither her nor the escrow. She withholds everything, claims after Bob's deadline, and the escrow,
    holding no Delivery of his, upholds the claim: his bond is hers, unless his operator ran `resume` in
    time. Expect the Delivery at the escrow, stamped before the deadline, whatever the counterparty does
    with what it is sent, and her claim dismissed."""
    m = Market()
    mallorys = AcceptsThenFails(m, failure)
    with pytest.raises((TransportError, CoopError)):
        carry_trade(m.b, mallorys, m.b.propose(m.mallory.did, m.proposal()), escrow=m.escrow)
    assert mallorys.received[0] == "offer" and len(mallorys.received) == 2  # the relay of the locks failed
    neg = next(iter(m.b.verifier.negotiations.by_id.values()))
    assert neg.state is State.PERFORMING  # bonded, and Bob delivered (in his view)
    delivery = next(vs for vs in m.b.verifier.statements.values() if vs.body == "delivery")
    assert m.escrow.escrow.verifier.witness.stamp_time(m.escrow.did, delivery.digest) is not None, (
        "Bob's Delivery never reached the escrow"
    )
    assert m.mallory_claims(neg.id, neg.contract.id) is not State.BREACHED
    assert [
        vs.statement.forfeit.party
        for e in m.escrow.escrow.ledger()
        if (vs := verify_statement(e)).body == "forfeit"
    ] != [m.bob.did]


class RelaysLocksThenFails:
    """Mallory's server, to Bob's resumed run: the re-sent Offer is answered with the escrow's locks
    (which make Bob's Delivery due), and everything after -- the Delivery -- fails (a dropped connection)."""

    def __init__(self, locks: list[bytes]) -> None:
        self.locks = locks
        self.received: list[str] = []

    def exchange(self, envelope: bytes, context: Sequence[bytes]) -> list[bytes]:
        self.received.append(verify_statement(envelope).body)
        if len(self.received) > 1:
            raise TransportError(grpc.StatusCode.UNAVAILABLE, "connection reset")
        return self.locks


@pytest.mark.req("WIT-007", "WIT-003", "CMT-002")
def test_a_counterparty_failing_a_resumed_run_does_not_keep_the_delivery_from_the_escrow() -> None:
    """Bob's run stopped (a crash) after Mallory's Accept of his bonded offer reached him and before he
    submitted the contract; she had the escrow lock both bonds. He resumes: his statements go to her again
    first (step 1 of ``resume_trade``); she answers the re-sent Offer with the escrow's locks, which make
    his Delivery due, and fails the Delivery. The run raised there, before settling with the escrow (step
    2): the Delivery, signed and journaled, reached nobody, and her claim after the deadline took his bond.
    Expect the escrow to get it, and her claim dismissed."""
    m = Market()
    offer = m.b.propose(m.mallory.did, m.proposal())
    accept = m.mallory.accept(offer)
    locks = m.escrow.submit([*m.mallory.setup, *m.bob.setup, offer.envelope, accept.envelope])
    assert [verify_statement(e).body for e in locks].count("bond_lock") == 2
    m.b.on_replies([*m.mallory.setup, accept.envelope])
    neg = m.b.negotiation(offer.negotiation_id)
    assert neg.state is State.ACCEPTED
    mallorys = RelaysLocksThenFails(locks)
    with pytest.raises(TransportError):
        resume_trade(m.b, mallorys, neg, escrow=m.escrow)
    assert mallorys.received[:2] == ["offer", "delivery"]
    delivery = next(vs for vs in m.b.verifier.statements.values() if vs.body == "delivery")
    assert m.escrow.escrow.verifier.witness.stamp_time(m.escrow.did, delivery.digest) is not None, (
        "Bob's Delivery never reached the escrow"
    )
    assert m.mallory_claims(neg.id, neg.contract.id) is not State.BREACHED


class CountersThenFails(CountersAndKeepsTheStamps):
    """Mallory counters Bob's bonded offer at the same escrow, shows the escrow the line with his Accept
    and hands him the locks (as attack9's, which keeps the escrow's Stamps from him); then she fails
    everything else he sends her -- his Delivery first (a dropped connection)."""

    def exchange(self, envelope: bytes, context: Sequence[bytes]) -> list[bytes]:
        if verify_statement(envelope).body not in ("offer", "accept"):
            self.received.append(verify_statement(envelope))
            raise TransportError(grpc.StatusCode.UNAVAILABLE, "connection reset")
        return super().exchange(envelope, context)


@pytest.mark.req("WIT-007", "CMT-002")
def test_a_counterparty_failing_the_delivery_does_not_keep_it_from_the_escrow() -> None:
    """Mallory answers Bob's bonded offer with a bonded Counter, which he accepts; her answer to his
    Accept carries the escrow's locks, so his next request is his Delivery -- which she fails. The run
    asked the escrow about its offer (ESC-013) and stopped, its Delivery given to nobody: the escrow got
    our Deliveries only in the settling that comes after a trade that went through. Her claim after his
    deadline took his bond. Expect the Delivery at the escrow, and her claim dismissed."""
    m = Market()
    mallorys = CountersThenFails(m)
    offer = m.b.propose(m.mallory.did, m.proposal())
    with pytest.raises(TransportError):
        carry_trade(m.b, mallorys, offer, escrow=m.escrow)
    assert [vs.body for vs in mallorys.received] == ["offer", "accept", "delivery"]
    neg = m.b.negotiation(offer.negotiation_id)
    assert neg.contract is not None and mallorys.counter is not None
    assert neg.contract.offer.digest == mallorys.counter.digest
    delivered = [vs for vs in m.b.verifier.statements.values() if vs.body == "delivery"]
    assert m.escrow.escrow.verifier.witness.stamp_time(m.escrow.did, delivered[0].digest) is not None, (
        "Bob's Delivery never reached the escrow"
    )
    assert m.mallory_claims(neg.id, neg.contract.id) is not State.BREACHED


class CountersUnbondedThenFails:
    """Mallory answers Bob's bonded offer with a Counter naming the same escrow with no bond, which Bob's
    strategy accepts; his delivery gate holds his Delivery until that escrow took her Counter (ESC-013).
    She answers his Accept with nothing, and fails everything after (a dropped connection)."""

    def __init__(self, m: Market) -> None:
        self.m = m
        self.counter: VerifiedStatement | None = None
        self.received: list[str] = []

    def exchange(self, envelope: bytes, context: Sequence[bytes]) -> list[bytes]:
        vs = verify_statement(envelope)
        self.received.append(vs.body)
        if vs.body == "offer":
            offered = proposal_of(vs)
            counter = trade_pb2.Offer(gives=offered.wants, wants=offered.gives)
            counter.terms.CopyFrom(offered.terms)
            counter.terms.issuer_bond = counter.terms.audience_bond = 0
            self.counter = self.m.mallory.counter(vs, counter)
            return [*self.m.mallory.setup, self.counter.envelope]
        if vs.body == "accept":
            return []
        raise TransportError(grpc.StatusCode.UNAVAILABLE, "connection reset")


@pytest.mark.req("WIT-007", "ESC-013", "CMT-005")
def test_a_counterparty_failing_the_stamps_relay_does_not_keep_the_gated_delivery_from_the_escrow() -> None:
    """Bob's gate held his Delivery under the contract of Mallory's unbonded Counter (naming the escrow as
    arbiter) until the escrow took her Counter. His run asked the escrow, which did; it relayed the
    escrow's Stamps to her, and only then signed the Delivery the gate had held and sent it to her, the
    escrow getting it in the settling after. She failed the relay: the Delivery reached nobody, and her
    claim after his deadline made the contract BREACHED (no bond at stake, a breach on his record).
    Expect the Delivery at the escrow first, and her claim dismissed."""
    m = Market()
    mallorys = CountersUnbondedThenFails(m)
    offer = m.b.propose(m.mallory.did, m.proposal())
    with pytest.raises(TransportError):
        carry_trade(m.b, mallorys, offer, escrow=m.escrow)
    neg = m.b.negotiation(offer.negotiation_id)
    assert neg.contract is not None and mallorys.counter is not None
    assert neg.contract.offer.digest == mallorys.counter.digest
    delivered = [vs for vs in m.b.verifier.statements.values() if vs.body == "delivery"]
    assert delivered, ("Bob never signed his Delivery", mallorys.received)
    assert m.escrow.escrow.verifier.witness.stamp_time(m.escrow.did, delivered[0].digest) is not None, (
        "Bob's Delivery never reached the escrow",
        mallorys.received,
    )
    assert m.mallory_claims(neg.id, neg.contract.id) is not State.BREACHED


@pytest.mark.req("ESC-010", "ESC-008", "NEG-012")
def test_resume_asks_for_the_counterpartys_lock_until_the_bonding_cutoff(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """As above, with Bob's operator pressing Ctrl-C while `offer` waits for Mallory's lock (it says that
    is safe: run `a2a-coop resume`). `resume` settled with the escrow once, found the contract still
    ACCEPTED and returned; Mallory funded just after, before the cutoff, and claimed after his deadline.
    Expect `resume` to ask again until the cutoff, as `offer` does, and Bob to deliver."""
    bob, mallory, escrow, node = _mallory_funds_last(tmp_path)
    real_sleep, waits = time.sleep, []

    def interrupted(seconds: float) -> None:
        if seconds < 1 or threading.current_thread() is not threading.main_thread():
            return real_sleep(seconds)
        raise KeyboardInterrupt  # Bob's operator, tired of waiting

    def funds_late(seconds: float) -> None:
        if seconds < 1 or threading.current_thread() is not threading.main_thread():
            return real_sleep(seconds)
        waits.append(seconds)
        if len(waits) == 1:
            escrow.deposit(mallory.key.did, FUNDS)  # before the cutoff

    try:
        with serve(None, escrow) as escrow_server, serve(node, None) as mallory_server:
            argv = [*bob.files(), "--to", mallory_server.target, "--escrow", escrow_server.target]
            trade = ["--give", "code-review:20", "--want", "copy-editing:20", "--bond", "5"]
            monkeypatch.setattr(time, "sleep", interrupted)
            run_cli(capsys, "offer", *argv, *trade)
            monkeypatch.setattr(time, "sleep", funds_late)
            code, out, err = run_cli(capsys, "resume", *argv)
        if not waits:  # `resume` did not wait: she funds once it is over, before the cutoff all the same
            escrow.deposit(mallory.key.did, FUNDS)
        with Journal.open(bob.journal_path) as journal:
            ours = [verify_statement(env) for _, _, env in journal.statements()]
        delivered = [vs for vs in ours if vs.body == "delivery" and vs.issuer == bob.key.did]
        assert delivered, f"the contract bound Bob's bond and he never delivered: {code} {out} {err}"
        assert stamped_by_served_escrow(escrow, delivered[0].digest)
        assert "ACCEPTED" not in out, (code, out, err)
    finally:
        node.close()
        escrow.close()


class AcceptsWithABigMandate:
    """Mallory's server: it accepts Bob's offer, under a Mandate of hers padded to nearly 64 KiB (long
    allowed_categories, the two she trades among them: any Mandate may be that big, ENV-008)."""

    def __init__(self, mallory: Party) -> None:
        self.mallory = mallory

    def exchange(self, envelope: bytes, context: Sequence[bytes]) -> list[bytes]:
        vs = verify_statement(envelope)
        return [*self.mallory.setup, self.mallory.accept(vs).envelope] if vs.body == "offer" else []


def _padded_mandate_caps(room: int) -> dict[str, object]:
    categories = ["code-review", "copy-editing"]
    categories += [f"padding-{i:05d}-" + "x" * 80 for i in range(room // 100)]
    return {"allowed_categories": categories}


@pytest.mark.req("RPC-008", "ESC-001", "ESC-004", "WIT-007", "CMT-002")
def test_a_counterpartys_big_mandate_does_not_keep_our_contract_from_the_escrow(tmp_path: Path) -> None:
    """Every Submit of Bob's contract carries its evidence: both Mandates, his offer, Mallory's Accept
    (ESC-004). Mallory's Mandate is hers to size: padded to nearly 64 KiB (a valid envelope, ENV-008), it
    makes every such Submit larger than the escrow's receive limit (65536 + 1024 bytes, the least RPC-008
    allows and the reference's), refused RESOURCE_EXHAUSTED before the escrow reads it. Bob's run could
    never submit his contract, nor his Deliveries (WIT-007) -- nor could `resume`, for good. Mallory
    submits it herself in two Submits, the escrow locks both bonds, she relays nothing, and her claim
    after his deadline takes his bond. Expect a Submit too large for one request to go as consecutive
    Submits in the same order (ESC-001 takes them as one): Bob's contract bonded, his Delivery stamped,
    her claim dismissed."""
    clock = FixedClock()
    mallory = Party("mallory", clock, mandate_caps=_padded_mandate_caps(67_800))
    assert 65_000 < len(mallory.mandate_vs.envelope) <= 65_536
    bob_party = Party("bob", clock)
    esc = Party("escrow", clock)
    node = EscrowNode(
        esc.agent.key, esc.mandate_vs.envelope, tmp_path / "escrow.db", clock=lambda: clock.now_ms
    )
    node.deposit(mallory.did, FUNDS)
    node.deposit(bob_party.did, FUNDS)
    bob = make_peer(bob_party, clock, context=[node.mandate])
    deadline = clock.now_ms + 3_600_000
    terms = _bonded(bob_party, esc.did, deadline)
    try:
        with serve(None, node) as server, EscrowClient(server.target) as escrow:
            offer = bob.propose(mallory.did, terms)
            with contextlib.suppress(TransportError):  # before: RESOURCE_EXHAUSTED, every time
                carry_trade(bob, AcceptsWithABigMandate(mallory), offer, escrow=escrow)
            neg = bob.negotiation(offer.negotiation_id)
            assert neg.contract is not None
            if node.escrow.verifier.negotiations.find(neg.id) is None:  # Bob's Submits never got there
                node.submit(mallory.setup)
                node.submit([*bob_party.setup, offer.envelope, neg.contract.accept.envelope])
            delivered = [vs for vs in bob.verifier.statements.values() if vs.body == "delivery"]
            assert delivered, "Bob never learnt that his contract was bonded"
            assert node.escrow.verifier.witness.stamp_time(esc.did, delivered[0].digest) is not None
        clock.now_ms = deadline + 1
        claim = mallory.sign(
            "breach_claim",
            commitment_pb2.BreachClaim(contract=neg.contract.id, item_index=0),
            audience=bob_party.did,
            negotiation_id=neg.id,
        )
        node.submit([claim.envelope])
        clock.advance(3_600_000 + 1_000)
        node.tick()
        assert _rulings(node) == [DISMISS]
    finally:
        node.close()
