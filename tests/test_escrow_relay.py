"""An escrow's answer relayed by the initiator as one Exchange, the others as context (SPEC 13.2).

The relayer cannot change what the escrow signed; it chooses which statements to pass on, in what
order, with what beside them, and *when*. Context is taken without freshness (TIM-005), so every test
here asks: does anything the receiver does with a relayed statement read the time it was relayed, or
trust a key, a contract or a negotiation the relayer picked? (SPEC 13.2, "What a relayer chooses".)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from peers import make_peer

from a2a_coop._proto.a2acoop.v1 import commitment_pb2
from a2a_coop.protocol.envelope import decode_envelope
from a2a_coop.protocol.errors import IllegalTransition, IssuedInFuture, WrongParty
from a2a_coop.protocol.negotiation import BOND_GRACE_MS, State
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.node import EscrowNode, EscrowWitness, PeerNode
from a2a_coop.runtime.peer import Peer
from a2a_coop.runtime.strategy import WithholdingStrategy
from a2a_coop.testing import DAY_MS, FixedClock, LocalEscrow, Party, service

BOND = 100


@dataclass
class Contract:
    """A bonded contract Alice (the relayer, signing by hand) offered Bob (a real Peer), under ``escrow``;
    ``answer``: the escrow's statements about it, in its order (Stamp, BondLock, BondLock)."""

    offer: VerifiedStatement
    accept: VerifiedStatement
    answer: list[bytes]

    @property
    def nid(self) -> bytes:
        return self.offer.header.negotiation_id


def _contract(alice: Party, bob: Peer, escrow: LocalEscrow) -> Contract:
    terms = alice.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did)
    offer = alice.sign("offer", terms, audience=bob.did)
    bob_mandate, accept_env = bob.exchange(offer.envelope, alice.setup)
    answer = escrow.submit([*alice.setup, bob_mandate, offer.envelope, accept_env])[1:]
    assert [verify_statement(e).body for e in answer] == ["stamp", "bond_lock", "bond_lock"]
    return Contract(offer, verify_statement(accept_env), answer)


def _world(*, withholds: bool = False) -> tuple[FixedClock, Party, Peer, LocalEscrow]:
    """Alice, Bob (a Peer trusting the escrow; withholding his items if ``withholds``), the escrow."""
    clock = FixedClock()
    alice = Party("alice", clock)
    bob = _bob(clock)
    escrow = LocalEscrow(Party("escrow", clock), funds={alice.did: 1_000, bob.did: 1_000})
    return clock, alice, _peer(bob, clock, escrow, withholds=withholds), escrow


def _bob(clock: FixedClock) -> Party:
    return Party("bob", clock)  # keys derive from the name: every Bob made at one time signs alike


def _peer(party: Party, clock: FixedClock, escrow: LocalEscrow, *, withholds: bool) -> Peer:
    strategy = WithholdingStrategy(every=1) if withholds else None
    return make_peer(party, clock, context=[escrow.mandate], strategy=strategy)


def _relay(bob: Peer, escrow: LocalEscrow, statements: list[bytes]) -> list[bytes]:
    """The relay of SPEC 13.2: the last statement as the request, the others as its context."""
    return bob.exchange(statements[-1], [escrow.mandate, *statements[:-1]])


@pytest.mark.req("NEG-008", "WIT-002", "WIT-005")
def test_statements_of_an_escrow_the_contract_does_not_name_move_nothing() -> None:
    """Alice relays BondLocks signed by a key of her own (its Mandate beside them) for a contract under
    the escrow Bob trusts: refused WRONG_PARTY (NEG-008), Bob stays ACCEPTED and signs nothing. Then
    the real locks; Bob withholds, Alice claims after the deadline and relays her own key's Stamp of
    the claim: the claim stays pending (WIT-005: only the contract's escrow's Stamp makes it
    effective) and Bob's negotiation stays PERFORMING; the escrow's Stamp, relayed next, makes it
    DISPUTED at the escrow's time."""
    clock, alice, bob, escrow = _world(withholds=True)
    c = _contract(alice, bob, escrow)
    fake = Party("alice-escrow", clock)
    locks = [
        fake.sign(
            "bond_lock",
            commitment_pb2.BondLock(contract=c.accept.digest, party=p, amount=BOND),
            negotiation_id=c.nid,
        ).envelope
        for p in (alice.did, bob.did)
    ]
    seq = bob.writer.next_seq
    with pytest.raises(WrongParty) as err:
        bob.exchange(locks[-1], [*fake.setup, *locks[:-1]])
    assert err.value.requirement == "NEG-008"
    assert bob.negotiation(c.nid).state is State.ACCEPTED and bob.writer.next_seq == seq

    _relay(bob, escrow, c.answer)  # the escrow's own locks: BONDED
    alice_delivery = alice.sign(
        "delivery",
        commitment_pb2.Delivery(contract=c.accept.digest, item_index=0),
        audience=bob.did,
        negotiation_id=c.nid,
    )
    bob.exchange(alice_delivery.envelope, alice.setup)
    assert bob.negotiation(c.nid).state is State.PERFORMING
    clock.advance(DAY_MS + 1_000)  # past Bob's deadline: he withheld
    claim = alice.sign(
        "breach_claim",
        commitment_pb2.BreachClaim(contract=c.accept.digest, item_index=0),
        audience=bob.did,
        negotiation_id=c.nid,
    )
    bob.exchange(claim.envelope, alice.setup)
    own_stamp = fake.sign("stamp", commitment_pb2.Stamp(statements=[claim.digest]))
    bob.exchange(own_stamp.envelope, fake.setup)
    contract = bob.negotiation(c.nid).contract
    assert contract is not None and claim.digest in contract.pending
    assert bob.negotiation(c.nid).state is State.PERFORMING
    answer = escrow.submit([claim.envelope])[1:]
    stamp = verify_statement(answer[0])
    clock.advance(3_600_000)
    _relay(bob, escrow, answer)
    assert bob.negotiation(c.nid).state is State.DISPUTED
    assert contract.stamped_ms[claim.digest] == stamp.issued_at_ms


@pytest.mark.req("WIT-002", "WIT-005", "CMT-002", "NEG-015", "TIM-005")
def test_the_time_an_escrow_statement_is_relayed_decides_nothing() -> None:
    """Two Bobs hold one withholding contract. Alice relays the escrow's locks, her claim with its Stamp
    and, once the response window has passed, the Ruling and Forfeit: to one Bob at once, to the other
    40 days later, when the response window and the claim window are long past by his clock. Expect
    the same state (BREACHED), the same effective time of the claim -- the escrow's Stamp time, not
    the time of the relay -- and the same bonds locked and settled on both: a relayer choosing when
    starts, stops or moves no deadline."""
    clock, alice, prompt, escrow = _world(withholds=True)
    late = _peer(_bob(clock), clock, escrow, withholds=True)  # the clock has not moved: the same Bob
    c = _contract(alice, prompt, escrow)
    late.exchange(c.offer.envelope, alice.setup)  # the same Bob's other view: it signs the same Accept
    _relay(prompt, escrow, c.answer)
    clock.advance(DAY_MS + 1_000)
    claim = alice.sign(
        "breach_claim",
        commitment_pb2.BreachClaim(contract=c.accept.digest, item_index=0),
        audience=prompt.did,
        negotiation_id=c.nid,
    )
    stamped = escrow.submit([claim.envelope])[1:]
    clock.advance(3_600_000 + 1_000)  # the default response window
    ruled = escrow.tick()
    assert [verify_statement(e).body for e in ruled][:2] == ["ruling", "forfeit"]
    # The Stamp before the claim it names: the claim (addressed to Bob) is dated back, and the escrow's
    # Stamp of it, made when it was issued, is what lets it in (TIM-006); then the ruling and settlement.
    ruling_batch = [*stamped, claim.envelope, *ruled]
    _relay(prompt, escrow, ruling_batch)
    clock.advance(40 * DAY_MS)
    for batch in (c.answer, ruling_batch):
        _relay(late, escrow, batch)
    views = [bob.negotiation(c.nid) for bob in (prompt, late)]
    assert [v.state for v in views] == [State.BREACHED, State.BREACHED]
    contracts = [v.contract for v in views]
    assert all(x is not None for x in contracts)
    facts = {
        (tuple(x.stamped_ms.items()), tuple(x.locked.items()), frozenset(x.settled)) for x in contracts if x
    }
    assert len(facts) == 1
    assert (
        contracts[0] is not None
        and contracts[0].stamped_ms[claim.digest] == verify_statement(stamped[0]).issued_at_ms
    )


@pytest.mark.req("NEG-005", "NEG-011", "RPL-002")
def test_an_escrow_statement_moves_only_the_contract_it_names() -> None:
    """Two contracts between Alice and Bob under one escrow. Alice relays the first contract's locks
    twice -- once for it, once again as context of a request about the second: the first is BONDED
    (and Bob delivers there), the second stays ACCEPTED with no bond locked and nothing delivered, and
    the repeat locks nothing twice. A lock names its contract (the Accept's digest) under the escrow's
    signature: the relayer cannot point it anywhere else."""
    _, alice, bob, escrow = _world()
    first, second = _contract(alice, bob, escrow), _contract(alice, bob, escrow)
    answers = _relay(bob, escrow, first.answer)
    assert [verify_statement(e).body for e in answers] == ["delivery"]
    ack = alice.sign("ack", commitment_pb2.Ack(statement=second.accept.digest), audience=bob.did)
    bob.exchange(ack.envelope, [escrow.mandate, *first.answer])
    one, two = bob.negotiation(first.nid), bob.negotiation(second.nid)
    assert one.state is State.PERFORMING and two.state is State.ACCEPTED
    assert one.contract is not None and two.contract is not None
    assert one.contract.locked == {alice.did: BOND, bob.did: BOND} and two.contract.locked == {}
    assert not two.contract.delivered


@pytest.mark.req("TIM-008", "TIM-006", "NEG-014")
def test_an_accept_dated_ahead_cannot_ride_in_as_context() -> None:
    """Bob offers Alice (his offer lives 5 minutes). Alice answers with an Ack and sends, as the context
    of it, an Accept dated 4 minutes ahead: within the offer's life (NEG-007 passes), but ahead of Bob's
    clock by more than the skew. As a request TIM-003 refuses it; as context it once slipped in, and
    the contract it formed was dated ahead: whatever Bob then signs in it is dated no earlier
    (NEG-014), and his chain's times never go back (CHN-005), so Alice would set the pace of every
    statement Bob signs next, to anyone. Expect ISSUED_IN_FUTURE (TIM-008) and Bob's negotiation still
    PROPOSED; an Accept dated within the skew ahead is taken as ever, and performed."""
    clock, alice, bob, _ = _world()
    offer = bob.propose(alice.did, alice.proposal(), ttl_ms=5 * 60_000)
    ack = alice.sign("ack", commitment_pb2.Ack(statement=offer.digest), audience=bob.did)
    ahead = alice.accept(offer, issued_at_ms=clock.now_ms + 4 * 60_000)
    with pytest.raises(IssuedInFuture) as err:
        bob.exchange(ack.envelope, [*alice.setup, ahead.envelope])
    assert err.value.requirement == "TIM-008"
    assert bob.negotiation(offer.header.negotiation_id).state is State.PROPOSED
    alice.agent.writer.next_seq, alice.agent.writer.prev = ahead.header.seq, ahead.header.prev
    within = alice.accept(offer, issued_at_ms=clock.now_ms + 20_000)
    answered = bob.exchange(ack.envelope, [*alice.setup, within.envelope])
    # Taken as ever, and reacted to as a request would be (RPC-002): Bob delivers at once, unbonded.
    assert [verify_statement(e).body for e in answered] == ["delivery"]
    assert bob.negotiation(offer.header.negotiation_id).state is State.PERFORMING


class _SharedEscrow:
    """The LocalEscrow shared by the test's thread and Bob's witness thread: one Submit at a time, the
    witness's held back until ``opened`` (so the test orders them), and the witness's counted."""

    def __init__(self, escrow: LocalEscrow) -> None:
        self.escrow = escrow
        self.opened = threading.Event()
        self.by_witness: list[list[str]] = []  # the bodies of each Submit from Bob's witness
        self._lock = threading.Lock()

    def submit(self, envelopes: Sequence[bytes]) -> list[bytes]:
        if threading.current_thread() is not threading.main_thread():
            assert self.opened.wait(10)
            self.by_witness.append([verify_statement(e).body for e in envelopes])
        with self._lock:
            return self.escrow.submit(envelopes)


def _served_bob(
    tmp_path: Path, clock: FixedClock, escrow: LocalEscrow, *, lock_wait_s: float
) -> tuple[PeerNode, _SharedEscrow]:
    """Bob as ``a2a-coop serve --escrow`` runs him: a PeerNode whose witness can reach the escrow."""
    shared = _SharedEscrow(escrow)
    witness = EscrowWitness(shared, escrow.did, lock_wait_s=lock_wait_s)
    journal = Journal.open(tmp_path / "bob.db")
    peer = make_peer(_bob(clock), clock, context=[escrow.mandate], journal=journal)
    return PeerNode(peer, journal, witness=witness), shared


def _signed_contract(alice: Party, bob: PeerNode, escrow: LocalEscrow) -> Contract:
    """Alice's offer, Bob's Accept (through his node, as a served exchange), and Alice's Submit."""
    terms = alice.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did)
    offer = alice.sign("offer", terms, audience=bob.peer.did)
    bob_mandate, accept_env = bob.exchange(offer.envelope, alice.setup)
    answer = escrow.submit([*alice.setup, bob_mandate, offer.envelope, accept_env])[1:]
    assert [verify_statement(e).body for e in answer] == ["stamp", "bond_lock", "bond_lock"]
    return Contract(offer, verify_statement(accept_env), answer)


def _wait_for(condition: Callable[[], bool], timeout_s: float = 10.0) -> None:
    give_up = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < give_up, "timed out"
        time.sleep(0.01)


@pytest.mark.req("ESC-008", "ESC-009", "ESC-004", "NEG-012", "CMT-002", "WIT-007")
def test_an_initiator_that_never_relays_the_locks_cannot_win_the_responders_bond(tmp_path: Path) -> None:
    """The escrow locks both bonds; Alice (the initiator) never relays the locks, to keep Bob in
    ACCEPTED, where he may not deliver (NEG-012), and to claim his bond after his deadline: the escrow
    holds BONDED and would hold no Delivery of his. Bob is served with a channel to the escrow
    (``serve --escrow``): when the locks have not come within his wait, he submits the contract
    himself; the escrow, holding it already, answers with its Stamp and the locks it signed
    (ESC-008) and signs nothing new. Expect Bob PERFORMING (he delivered), his Delivery at the escrow
    (WIT-007), Alice's claim DISMISSED, and Bob's bond never forfeited: refunded to him when the
    contract lapses (Alice never delivered)."""
    clock, alice, _, escrow = _world()
    bob, shared = _served_bob(tmp_path, clock, escrow, lock_wait_s=0.05)
    try:
        c = _signed_contract(alice, bob, escrow)  # Alice keeps the locks to herself
        ledger = escrow.escrow.ledger_size
        shared.opened.set()  # Bob's watch may ask the escrow now, after Alice's Submit
        _wait_for(lambda: bob.peer.negotiation(c.nid).state is State.PERFORMING)
        bob.witness.flush()  # type: ignore[union-attr]
        assert shared.by_witness[0] == ["mandate", "mandate", "offer", "accept"]
        assert "delivery" in shared.by_witness[1]
        assert escrow.escrow.ledger_size == ledger + 1  # only the Stamp of Bob's Delivery: no new lock
        # An initiator that relays late (not withholding, slow) still gets Bob's Delivery: the answer
        # to the locks, as Bob took them from the escrow (RPL-002).
        late = bob.exchange(c.answer[-1], [escrow.mandate, *c.answer[:-1]])
        assert "delivery" in [verify_statement(e).body for e in late]
    finally:
        bob.close()
    clock.advance(DAY_MS + 1_000)
    claim = alice.sign(
        "breach_claim",
        commitment_pb2.BreachClaim(contract=c.accept.digest, item_index=0),
        audience=bob.peer.did,
        negotiation_id=c.nid,
    )
    escrow.submit([claim.envelope])
    clock.advance(3_600_000 + 1_000)
    ruled = [verify_statement(e) for e in escrow.tick()]
    assert ruled[0].body == "ruling"
    assert ruled[0].statement.ruling.decision == commitment_pb2.RULING_DECISION_DISMISS
    clock.advance(DAY_MS)  # Alice never delivered, nor claimed again: the contract lapses (CMT-006)
    settled = [verify_statement(e) for e in escrow.tick()]
    assert "forfeit" not in [vs.body for vs in ruled + settled]
    available, locked, _, _ = escrow.get_balance(bob.peer.did)
    assert (available, locked) == (1_000, 0), "Bob's bond went to the initiator that withheld its locks"


@pytest.mark.req("ESC-009", "ESC-004")
def test_a_responder_whose_locks_are_relayed_asks_the_escrow_nothing_more(tmp_path: Path) -> None:
    """The honest path: Alice relays the locks at once. Bob's lock watch finds him BONDED and asks
    the escrow nothing: his witness submits once, with his Delivery (WIT-007), as before ESC-008."""
    clock, alice, _, escrow = _world()
    bob, shared = _served_bob(tmp_path, clock, escrow, lock_wait_s=0.5)
    try:
        c = _signed_contract(alice, bob, escrow)
        bob.exchange(c.answer[-1], [escrow.mandate, *c.answer[:-1]])  # the relay (SPEC 13.2), in time
        shared.opened.set()
        assert bob.peer.negotiation(c.nid).state is State.PERFORMING
        time.sleep(0.6)  # past Bob's wait: his watch has come due
        bob.witness.flush()  # type: ignore[union-attr]
        assert bob.witness.watching == 0  # type: ignore[union-attr]
        assert len(shared.by_witness) == 1 and "delivery" in shared.by_witness[0]
    finally:
        bob.close()


@pytest.mark.req("ESC-008", "ESC-007", "ESC-005")
def _served_escrow(
    tmp_path: Path, clock: FixedClock | None = None
) -> tuple[FixedClock, Party, Party, EscrowNode]:
    """A served escrow on its journal in ``tmp_path``, and Alice, on one fixed clock (``clock``, or new)."""
    clock = clock or FixedClock()
    alice, escrow_party = Party("alice", clock), Party("escrow", clock)
    node = EscrowNode(
        escrow_party.agent.key,
        escrow_party.mandate_vs.envelope,
        tmp_path / "e.db",
        clock=lambda: clock.now_ms,
    )
    return clock, alice, escrow_party, node


def test_a_repeated_submit_also_brings_the_locks_signed_since(tmp_path: Path) -> None:
    """The served escrow (its answers journaled, ESC-007). Alice submits the contract while Bob's bond
    is not covered: the answer locks hers only. Bob's funds arrive and the escrow locks his bond.
    Bob then submits the very same statements: the repeat signs nothing, and its answer is the first
    one followed by the lock signed since (ESC-008) -- the first answer alone would keep Bob in
    ACCEPTED. Relayed into Bob's peer, it makes him BONDED."""
    clock, alice, escrow_party, node = _served_escrow(tmp_path)
    try:
        node.deposit(alice.did, 1_000)
        bob = make_peer(_bob(clock), clock, context=[node.mandate])
        terms = alice.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow_party.did)
        offer = alice.sign("offer", terms, audience=bob.did)
        bob_mandate, accept = bob.exchange(offer.envelope, alice.setup)
        evidence = [*alice.setup, bob_mandate, offer.envelope, accept]
        first = node.submit(evidence)
        assert [verify_statement(e).body for e in first] == ["mandate", "stamp", "bond_lock"]
        node.deposit(bob.did, 1_000)  # his bond is locked now
        size = node.escrow.ledger_size
        again = node.submit(evidence)
        assert again[: len(first)] == first and [verify_statement(e).body for e in again[3:]] == ["bond_lock"]
        assert verify_statement(again[3]).statement.bond_lock.party == bob.did
        assert node.escrow.ledger_size == size  # nothing signed for the repeat
        assert node.submit(evidence) == again
        bob.exchange(again[-1], [again[0], *again[1:-1]])
        assert bob.negotiation(offer.header.negotiation_id).state is State.PERFORMING
    finally:
        node.close()


def test_a_durable_submit_answer_does_not_queue_for_the_escrow_lock_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The served escrow stages a Submit's records under its lock and waits for their fsync outside it
    (group commit). Here another thread takes the lock the moment that fsync completes (another Submit
    being checked) and holds it. Expect the answer to leave all the same -- it is built from what this
    Submit signed and needs the lock no more -- and, write-ahead, every statement in it already in the
    journal."""
    clock, alice, escrow_party, node = _served_escrow(tmp_path)
    release = threading.Event()
    answers: list[list[bytes]] = []
    worker = threading.Thread(target=lambda: answers.append(node.submit(evidence)), daemon=True)
    try:
        node.deposit(alice.did, 1_000)
        bob = make_peer(_bob(clock), clock, context=[node.mandate])
        node.deposit(bob.did, 1_000)
        offer = alice.sign(
            "offer",
            alice.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow_party.did),
            audience=bob.did,
        )
        bob_mandate, accept = bob.exchange(offer.envelope, alice.setup)
        evidence = [*alice.setup, bob_mandate, offer.envelope, accept]
        wait = node.journal.wait

        def durable_then_contended(ticket: object) -> None:
            wait(ticket)  # type: ignore[arg-type]
            held = threading.Event()

            def hold() -> None:
                with node.lock:
                    held.set()
                    release.wait(10)

            threading.Thread(target=hold, daemon=True).start()
            assert held.wait(10)

        monkeypatch.setattr(node.journal, "wait", durable_then_contended)
        worker.start()
        worker.join(5)
        assert answers, "the durable answer queued for the escrow's lock"
        assert [verify_statement(e).body for e in answers[0]] == [
            "mandate",
            "stamp",
            "bond_lock",
            "bond_lock",
        ]
        assert all(node.journal.by_digest(verify_statement(e).digest) for e in answers[0][1:])
    finally:
        release.set()
        worker.join(10)
        monkeypatch.undo()  # close journals a snapshot: its write is not the one contended here
        node.close()


def _escrow_and_unseen_contract(tmp_path: Path, clock: FixedClock) -> tuple[EscrowNode, list[bytes]]:
    """A served escrow with Alice and Bob funded, and the evidence of a bonded contract between them
    it has not seen: Alice's setup, Bob's Mandate, the Offer and Bob's Accept."""
    _, alice, escrow_party, node = _served_escrow(tmp_path, clock)
    bob = make_peer(_bob(clock), clock, context=[node.mandate])
    for did in (alice.did, bob.did):
        node.deposit(did, 1_000)
    terms = alice.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow_party.did)
    offer = alice.sign("offer", terms, audience=bob.did)
    bob_mandate, accept = bob.exchange(offer.envelope, alice.setup)
    return node, [*alice.setup, bob_mandate, offer.envelope, accept]


def test_a_submits_signatures_are_checked_outside_the_escrow_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The served escrow checks what needs no state of it -- each envelope's signature, encoding,
    header and body -- before it takes its lock, as a peer does: another Submit being taken meanwhile
    does not hold them up. Here the lock is held by another thread while a Submit of a new contract
    arrives. Expect every signature of its evidence checked while the lock is still held, and once it
    is released, the Submit taken and answered as ever (Stamp, both locks)."""
    from a2a_coop.protocol import identity

    clock = FixedClock()
    node, evidence = _escrow_and_unseen_contract(tmp_path, clock)
    checked: list[bool] = []  # whether the escrow's lock was held by someone at each check
    all_checked = threading.Event()
    sign_open = identity._crypto_sign_open

    def counting(m: object, mlen: object, signed: bytes, n: int, public_key: bytes) -> int:
        checked.append(node.lock.locked())
        if len(checked) == len(evidence):
            all_checked.set()
        return sign_open(m, mlen, signed, n, public_key)

    monkeypatch.setattr(identity, "_crypto_sign_open", counting)
    answers: list[list[bytes]] = []
    worker = threading.Thread(target=lambda: answers.append(node.submit(evidence)), daemon=True)
    try:
        with node.lock:  # another Submit being taken
            worker.start()
            checked_meanwhile = all_checked.wait(5)
        worker.join(10)
        monkeypatch.undo()
        assert checked_meanwhile, "the Submit's signatures waited for the escrow's lock"
        assert checked == [True] * len(evidence)
        assert [verify_statement(e).body for e in answers[0]] == [
            "mandate",
            "stamp",
            "bond_lock",
            "bond_lock",
        ]
    finally:
        worker.join(10)
        node.close()


def test_a_served_submit_parses_each_envelope_once_and_verifies_no_held_statement_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The served escrow derives a Submit's answer key (ESC-007) and its checks from one parse of each
    envelope. Expect one parse per envelope for a new contract, with each signature checked once; then,
    submitted again with one statement more (so not a repeat: it is taken, and stamped alone), one parse
    per envelope and that statement's signature checked alone -- a statement the escrow holds is not
    verified again -- and the answer: the earlier one (ESC-008), then the Stamp of the new statement."""
    import a2a_coop.protocol.envelope as envelope_module
    from a2a_coop.protocol import identity

    clock = FixedClock()
    node, evidence = _escrow_and_unseen_contract(tmp_path, clock)
    parsed: list[bytes] = []
    checks: list[bytes] = []
    parse, sign_open = envelope_module._parse_envelope, identity._crypto_sign_open

    def counting_parse(data: bytes) -> object:
        parsed.append(data)
        return parse(data)

    def counting_open(m: object, mlen: object, signed: bytes, n: int, public_key: bytes) -> int:
        checks.append(signed)
        return sign_open(m, mlen, signed, n, public_key)

    monkeypatch.setattr(envelope_module, "_parse_envelope", counting_parse)
    monkeypatch.setattr(identity, "_crypto_sign_open", counting_open)
    try:
        first = node.submit(evidence)
        assert sorted(parsed) == sorted(evidence) and len(checks) == len(evidence)
        carol = Party("carol", clock)  # one statement more: her Mandate, which no negotiation names
        more = [*evidence, *carol.setup]
        parsed.clear(), checks.clear()
        second = node.submit(more)
        assert sorted(parsed) == sorted(more)
        assert [c[:64] for c in checks] == [decode_envelope(e).signatures[0].sig for e in carol.setup]
        monkeypatch.undo()
        assert [verify_statement(e).body for e in first[1:]] == ["stamp", "bond_lock", "bond_lock"]
        # What the held Accept is answered with (ESC-008), then the Stamp of her Mandate alone.
        assert second[:-1] == first and verify_statement(second[-1]).statement.stamp.statements == [
            verify_statement(carol.setup[0]).digest
        ]
    finally:
        monkeypatch.undo()
        node.close()


@pytest.mark.req("ESC-009")
def test_replaying_the_offer_arms_no_second_lock_watch(tmp_path: Path) -> None:
    """Alice, having formed one bonded contract with served Bob, sends her Offer again and again: each
    retry gets Bob's same answer, his Accept (RPL-002), and each once armed one more lock watch -- and
    each watch that fires re-arms its own chain of fetches. Alice would thus fill Bob's watches
    (``max_pending``, shared with the witness's retries of his Deliveries: a Delivery retry dropped is
    a Delivery unwitnessed, WIT-003) and have Bob submit her contract to the escrow once per replay.
    Expect one watch per contract, however often the answer that formed it is repeated."""
    clock, alice, _, escrow = _world()
    bob, _shared = _served_bob(tmp_path, clock, escrow, lock_wait_s=60.0)  # the watch stays pending
    try:
        c = _signed_contract(alice, bob, escrow)
        assert bob.witness.watching == 1  # type: ignore[union-attr]
        for _ in range(20):
            assert verify_statement(bob.exchange(c.offer.envelope, alice.setup)[-1]).digest == c.accept.digest
        assert bob.witness.watching == 1  # type: ignore[union-attr]
    finally:
        bob.close()


@pytest.mark.req("ESC-009")
def test_contracts_of_sybils_do_not_crowd_out_the_lock_watch_of_the_one_that_withholds(
    tmp_path: Path,
) -> None:
    """Bob's witness holds at most 2 pending jobs (``max_pending``, 1,000 when served). Two fresh keys
    first form bonded contracts with him and relay nothing, so each arms a lock watch; then Alice forms
    hers, meaning to withhold its locks and claim his bond. Her contract's watch was dropped (the
    witness full): Bob would never fetch its locks, and NEG-012 keeps him from delivering. Expect a
    watch for every bonded contract he accepted: their number is bounded by the peer's own caps on
    open negotiations (RPC-012), one watch per contract, not by the witness's queue."""
    clock, alice, _, escrow = _world()
    witness = EscrowWitness(_SharedEscrow(escrow), escrow.did, lock_wait_s=60.0, max_pending=2)
    journal = Journal.open(tmp_path / "bob.db")
    peer = make_peer(_bob(clock), clock, context=[escrow.mandate], journal=journal)
    bob = PeerNode(peer, journal, witness=witness)
    try:
        for i in range(2):
            sybil = Party(f"sybil-{i}", clock)
            terms = sybil.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did)
            bob.exchange(sybil.sign("offer", terms, audience=peer.did).envelope, sybil.setup)
        assert witness.watching == 2
        c = _signed_contract(alice, bob, escrow)
        assert bob.peer.negotiation(c.nid).state is State.ACCEPTED
        assert witness.watching == 3
    finally:
        bob.close()


class _HungEscrow:
    """An escrow that takes the witness's first Submit and answers it only when ``released``."""

    def __init__(self) -> None:
        self.entered, self.released = threading.Event(), threading.Event()
        self.taken: list[list[bytes]] = []

    def submit(self, envelopes: Sequence[bytes]) -> list[bytes]:
        self.entered.set()
        assert self.released.wait(10)
        self.taken.append(list(envelopes))
        return []


@pytest.mark.req("ESC-009", "WIT-007")
def test_lock_watches_armed_while_the_escrow_hangs_do_not_crowd_out_a_delivery() -> None:
    """The witness's thread hangs in a Submit (a slow escrow); meanwhile counterparties form five
    contracts, each arming a lock watch, and each watch once put a wake-up into the witness's queue
    (``max_pending``: 3). The queue full of wake-ups, the Delivery Bob signs next was dropped, never
    submitted: unwitnessed, a claim on it could be upheld (WIT-003). Expect the Delivery submitted once
    the escrow answers."""
    escrow = _HungEscrow()
    witness = EscrowWitness(escrow, "did:key:escrow", max_pending=3)
    try:
        witness.submit([b"first"])
        assert escrow.entered.wait(10)
        for _ in range(5):
            witness.watch(60.0, lambda: None, bounded=False)
        witness.submit([b"delivery"])
        escrow.released.set()
        witness.flush()
        assert escrow.taken == [[b"first"], [b"delivery"]]
    finally:
        escrow.released.set()
        witness.close()


@pytest.mark.req("ESC-005", "NEG-012", "CMT-002", "CMT-009")
def test_an_initiator_that_funds_its_bond_after_the_responders_deadline_cannot_win_his_bond() -> None:
    """Alice submits the contract with no funds at the escrow: Bob's bond is locked, hers waits, and
    the contract stays ACCEPTED, where Bob may not deliver (NEG-012) -- whatever channel he has to the
    escrow, there are no locks to fetch. Bob's deadline is a minute away, before the bonding cutoff
    (the five-minute offer's expiry + 30 s), so the escrow may still lock Alice's bond after it. Once
    it has passed, Alice deposits: the escrow locks her bond (BONDED), she claims Bob's item, and no
    Delivery of his can be timely. Expect Bob's bond not forfeited to her: a contract that became
    BONDED only after a deadline its party could not meet must not make that party's miss a breach.
    (Alice need not even fund: with the late lock taken out, her claim in ACCEPTED was upheld all the
    same and Bob's one-sided lock forfeited to her.) Her claim is refused (CMT-009): not every bond was
    locked by the item's deadline; the contract lapses and Bob's bond is refunded."""
    clock = FixedClock()
    alice, bob_party = Party("alice", clock), _bob(clock)
    escrow = LocalEscrow(Party("escrow", clock), funds={bob_party.did: 1_000})
    bob = _peer(bob_party, clock, escrow, withholds=False)
    deadline = clock.now_ms + 60_000
    terms = alice.proposal(
        gives=[service("code-review", value=500, deadline_ms=deadline)],
        wants=[service("copy-editing", value=450, deadline_ms=deadline)],
        issuer_bond=BOND,
        audience_bond=BOND,
        escrow=escrow.did,
    )
    offer = alice.sign("offer", terms, audience=bob.did)
    assert deadline < offer.header.expires_at_ms + BOND_GRACE_MS
    bob_mandate, accept = bob.exchange(offer.envelope, alice.setup)
    answer = escrow.submit([*alice.setup, bob_mandate, offer.envelope, accept])[1:]
    assert [verify_statement(e).body for e in answer] == ["stamp", "bond_lock"]  # Bob's only
    bob.exchange(answer[-1], [escrow.mandate, *answer[:-1]])
    nid = offer.header.negotiation_id
    assert bob.negotiation(nid).state is State.ACCEPTED
    clock.now_ms = deadline + 1_000  # Bob's deadline passes: he could not deliver
    escrow.escrow.deposit(alice.did, 1_000, "credit", "late funding", clock.now_ms)
    claim = alice.sign(
        "breach_claim",
        commitment_pb2.BreachClaim(contract=verify_statement(accept).digest, item_index=0),
        audience=bob.did,
        negotiation_id=nid,
    )
    with pytest.raises(IllegalTransition) as refused:
        escrow.submit([claim.envelope])
    assert refused.value.requirement == "CMT-009"
    clock.advance(3_600_000 + 1_000)
    escrow.tick()
    clock.advance(DAY_MS)
    escrow.tick()
    ledger = [verify_statement(e) for e in escrow.escrow.ledger()]
    forfeits = [vs for vs in ledger if vs.body == "forfeit" and vs.statement.forfeit.party == bob.did]
    assert not forfeits, "Bob's bond went to the initiator that funded hers only after his deadline"
    assert any(vs.body == "refund" and vs.statement.refund.party == bob.did for vs in ledger)


@pytest.mark.req("ESC-010", "CMT-010", "ESC-005", "NEG-012", "CMT-005")
def test_an_initiator_that_funds_its_bond_just_before_the_responders_deadline_cannot_win_his_bond() -> None:
    """Alice submits the contract with no funds at the escrow: Bob's bond is locked, hers waits, and
    Bob may not deliver (NEG-012). Bob's deadline is a day away. Alice means to fund a second before
    it -- BONDED then, Bob has a second to perform -- and to claim his bond after it: CMT-009 does not
    refuse that claim, since every bond was locked by the deadline. Bonding ends instead at the cutoff
    both signed (the offer's expiry + 30 s, ESC-010): past it the escrow lapses the contract and
    refunds Bob's bond, Bob's peer takes the lapse, Alice's late funds lock nothing, her claim is
    refused (the contract has ended, CMT-005), and a BondLock dated after the cutoff -- from an escrow
    that would still sign one -- is refused by Bob's peer (CMT-010). Bob's bond is never forfeited."""
    clock = FixedClock()
    alice, bob_party = Party("alice", clock), _bob(clock)
    escrow = LocalEscrow(Party("escrow", clock), funds={bob_party.did: 1_000})
    bob = _peer(bob_party, clock, escrow, withholds=False)
    terms = alice.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did)
    deadline = terms.wants[0].deadline_ms
    offer = alice.sign("offer", terms, audience=bob.did)
    cutoff = offer.header.expires_at_ms + BOND_GRACE_MS
    bob_mandate, accept = bob.exchange(offer.envelope, alice.setup)
    answer = escrow.submit([*alice.setup, bob_mandate, offer.envelope, accept])[1:]
    assert [verify_statement(e).body for e in answer] == ["stamp", "bond_lock"]  # Bob's only
    bob.exchange(answer[-1], [escrow.mandate, *answer[:-1]])
    nid = offer.header.negotiation_id
    clock.now_ms = cutoff + 1
    lapsed = [verify_statement(e) for e in escrow.tick()]
    assert [(vs.body, vs.body_message.decision if vs.body == "ruling" else 0) for vs in lapsed][:1] == [
        ("ruling", commitment_pb2.RULING_DECISION_LAPSE)
    ]
    assert [vs.body for vs in lapsed] == ["ruling", "refund"]
    _relay(bob, escrow, [vs.envelope for vs in lapsed])
    assert bob.negotiation(nid).state is State.EXPIRED
    clock.now_ms = deadline - 1_000  # a second before Bob's deadline, Alice's funds arrive
    size = escrow.escrow.ledger_size
    escrow.escrow.deposit(alice.did, 1_000, "credit", "funding just in time", clock.now_ms)
    assert [verify_statement(e).body for e in escrow.escrow.ledger(size)] == ["deposit"]  # no lock
    # What an escrow without ESC-010 would sign now, shown to Bob: refused, whoever relays it.
    rogue = Party("escrow", clock)  # the escrow's key, signing on from its ledger's head
    head = verify_statement(escrow.escrow.ledger()[-1])
    rogue.agent.writer.next_seq, rogue.agent.writer.prev = head.header.seq + 1, head.digest
    late_lock = rogue.sign(
        "bond_lock",
        commitment_pb2.BondLock(contract=verify_statement(accept).digest, party=alice.did, amount=BOND),
        negotiation_id=nid,
        mandate=verify_statement(escrow.mandate).digest,
    )
    with pytest.raises(IllegalTransition) as refused_lock:
        bob.verifier.check(late_lock)
    assert refused_lock.value.requirement == "CMT-010"
    clock.now_ms = deadline + 1_000
    claim = alice.sign(
        "breach_claim",
        commitment_pb2.BreachClaim(contract=verify_statement(accept).digest, item_index=0),
        audience=bob.did,
        negotiation_id=nid,
    )
    with pytest.raises(IllegalTransition) as refused:
        escrow.submit([claim.envelope])
    assert refused.value.requirement == "CMT-009"  # step 28's, before the escrow's own CMT-005 (ERR-002)
    clock.advance(DAY_MS + 3_600_000)
    escrow.tick()
    ledger = [verify_statement(e) for e in escrow.escrow.ledger()]
    assert not [vs for vs in ledger if vs.body == "forfeit"]
    assert escrow.get_balance(bob.did)[:2] == (1_000, 0)
