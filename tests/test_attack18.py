"""Attacker's pass 18: ESC-017's per-key bound on the statements of no negotiation of keys in an escrow's
dealings (credit earned by statements of contracts naming the escrow; a party's first Ack of a statement
of its contract uncounted), RPC-016's exemption of an escrow's first Stamp of a statement of our contract
only, and the exemption of each revoker's first KeyRevocation of a held key -- asked who chose each value
they rely on (which key's count a statement spends, who sends it, who may revoke a key, who made the
contract that put a key in the dealings) and what a liar gains.

Mallory is the attacker; a test marked ``xfail(strict=True)`` is a hole this version still has, its
reason naming the options.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
from peers import fresh_key, make_peer
from test_attack16 import _checkpoint, _quota_escrow
from test_escrow_dealings_quota import _checkpoints, _contract

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2, service_pb2
from a2a_coop.protocol import merkle
from a2a_coop.protocol.errors import CoopError, RateLimited, Replayed
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.protocol.verifier import Verifier
from a2a_coop.runtime.strangers import STRANGER_PERIOD_MS, StrangerQuota
from a2a_coop.testing import DAY_MS, FixedClock, Party, Signer
from conformance.suite.context import LiveClock

YEAR_MS = 365 * DAY_MS


def _window(clock: FixedClock) -> FixedClock:
    clock.now_ms -= clock.now_ms % STRANGER_PERIOD_MS  # the start of a period
    return clock


# --- 1: ESC-017, credit and room bought with contracts between fresh keys -----------------------------------


@pytest.mark.req("ESC-017", "CMT-008")
def test_contracts_between_fresh_keys_buy_no_room_beyond_the_quota(tmp_path: Path) -> None:
    """Attack: the escrow takes 20 statements of no negotiation an hour of keys outside its dealings (one
    of any key; so 16 a key in its dealings). Mallory mints pairs of fresh keys; each pair makes one
    contract naming the escrow as arbiter, without bonds (its Offer and Accept, with their Mandates,
    submitted: nobody's consent but theirs), which puts both keys in the escrow's dealings for good. Each
    then submits Checkpoints, one at each next seq of its chain: four contracts had 132 stamped in the
    hour (16 a key and the acceptor's credit of one) over a quota of 20, and the next hour as many again
    -- without bound as she mints pairs. Defence wanted: fund-less keys of contracts nobody else consented
    to get no more room than the quota's total, beyond what their contracts' statements earn."""
    clock = _window(FixedClock())
    quota = StrangerQuota(per_period=20, per_key=1)
    escrow, node = _quota_escrow(tmp_path, clock, quota)
    try:
        stamped = 0
        for i in range(4):
            a, b = Party(f"mallory-a{i}", clock), Party(f"mallory-b{i}", clock)
            _contract(node, escrow, a, b)
            stamped += _checkpoints(node, a, 20) + _checkpoints(node, b, 20)
        assert stamped <= quota.per_period + 4 * 2  # the hole: 132 (16 a key, the acceptor's credit)
    finally:
        node.close()


@pytest.mark.req("ESC-017", "ESC-011", "CMT-013")
def test_one_contract_between_fresh_keys_carries_no_unbounded_deliveries(tmp_path: Path) -> None:
    """Attack: Mallory's two fresh keys make one contract naming the escrow as arbiter, without bonds,
    then one delivers its item again and again and the other Acks each Delivery: 300 of each stamped in
    an hour (over a quota of 100 and 16 a key), the Deliverer's credit letting as many Checkpoints in.
    Defence: the escrow takes one Delivery of a party and item, and refuses the rest ILLEGAL_TRANSITION
    (CMT-013; what WIT-003 and CMT-002 read is the earliest) -- the Ack beside each never read (ESC-001);
    one contract carries a bounded number of statements into the escrow's transcript."""
    clock = _window(FixedClock())
    escrow, node = _quota_escrow(tmp_path, clock, StrangerQuota(per_period=100, per_key=1))
    alice, bob = Party("mallory-a", clock), Party("mallory-b", clock)
    try:
        accept = _contract(node, escrow, alice, bob)
        taken = 0
        for _ in range(300):
            clock.advance(10)
            delivery = bob.deliver(accept, alice, 0)
            ack = alice.sign("ack", commitment_pb2.Ack(statement=delivery.digest), audience=bob.did)
            with contextlib.suppress(CoopError):
                node.submit([delivery.envelope, ack.envelope])
                taken += 1
        assert taken == 1  # the hole was: 300 Deliveries and 300 Acks
    finally:
        node.close()


@pytest.mark.req("CMT-013", "ESC-017", "WIT-006")
def test_one_contract_carries_no_unbounded_receipts(tmp_path: Path) -> None:
    """The same with Receipts: Bob delivers once, Alice receipts that Delivery again and again, and Bob
    Acks each Receipt (the first Ack of his key of each, a trade's witness, uncounted) -- each Receipt a
    statement of the contract, stamped, earning Alice credit. The escrow takes one Receipt of an item and
    refuses the rest ILLEGAL_TRANSITION (CMT-013), the Ack beside each never read. The same Delivery and
    Receipt submitted again -- a retry after a lost answer -- are no second ones: answered with the Stamp
    that first named them (WIT-006), nothing refused."""
    clock = _window(FixedClock())
    escrow, node = _quota_escrow(tmp_path, clock, StrangerQuota(per_period=100, per_key=1))
    alice, bob = Party("mallory-a", clock), Party("mallory-b", clock)
    try:
        accept = _contract(node, escrow, alice, bob)
        delivery = bob.deliver(accept, alice)
        node.submit([delivery.envelope])
        taken, first = 0, None
        for _ in range(300):
            clock.advance(10)
            receipt = alice.receipt(delivery)
            ack = bob.sign("ack", commitment_pb2.Ack(statement=receipt.digest), audience=alice.did)
            with contextlib.suppress(CoopError):
                node.submit([receipt.envelope, ack.envelope])
                first = first or receipt
                taken += 1
        assert taken == 1  # the hole was: 300 Receipts and 300 Acks
        assert first is not None
        held = node.escrow.verifier.statements
        assert delivery.digest in held and first.digest in held
        clock.advance(1_000)
        again = node.submit([delivery.envelope, first.envelope])  # a retry: answered, never refused
        assert [verify_statement(e).body for e in again][1:] == ["stamp", "stamp"]
    finally:
        node.close()


@pytest.mark.req("CMT-013", "RPC-016")
def test_a_peer_signs_nothing_for_a_second_delivery_or_receipt() -> None:
    """At a peer: Mallory's one contract with Bob (no bonds; he accepts and delivers in his answer).
    She delivers her item -- he receipts it -- then delivers it again and again: he signed a Receipt of
    each, journaled with it, and each earned her a unit of RPC-016 credit. She receipts his Delivery,
    then again and again: he signed an Ack of each. Now a second Delivery or Receipt of an item
    addressed to him, received live, is refused ILLEGAL_TRANSITION (CMT-013): nothing taken, nothing
    signed, no credit; the same Delivery resent is a replay. An offline verifier still takes a second
    Delivery (NEG-015: views holding the same statements agree)."""
    clock = FixedClock()
    bob, mallory = Party("bob", clock), Party("mallory", clock)
    b = make_peer(bob, clock, stranger_quota=StrangerQuota(per_period=100, per_key=1))
    offer = mallory.offer(bob, mallory.proposal())
    answers = [verify_statement(a) for a in b.exchange(offer.envelope, mallory.setup)]
    accept = next(a for a in answers if a.body == "accept")
    his = next(a for a in answers if a.body == "delivery")
    first = mallory.deliver(accept, bob)
    assert [verify_statement(a).body for a in b.exchange(first.envelope)] == ["receipt"]
    assert b._dealings is not None
    credit = b._dealings.credit[mallory.did]

    def signed_by_bob() -> int:
        return sum(1 for vs in b.verifier.statements.values() if vs.issuer == bob.did)

    ours = signed_by_bob()
    again = []
    for _ in range(5):
        clock.advance(10)
        again.append(mallory.deliver(accept, bob))
        with pytest.raises(CoopError) as refused:
            b.exchange(again[-1].envelope)
        assert refused.value.code == "ILLEGAL_TRANSITION"
    with pytest.raises(Replayed):
        b.exchange(first.envelope)  # the same Delivery again: a replay, not a second one
    receipt = mallory.receipt(his)
    assert [verify_statement(a).body for a in b.exchange(receipt.envelope)] == ["ack"]
    ours += 1
    for _ in range(5):
        clock.advance(10)
        with pytest.raises(CoopError) as refused:
            b.exchange(mallory.receipt(his).envelope)
        assert refused.value.code == "ILLEGAL_TRANSITION"
    assert signed_by_bob() == ours  # the hole was: a Receipt of each Delivery, an Ack of each Receipt
    assert all(d.digest not in b.verifier.statements for d in again)
    assert b._dealings.credit[mallory.did] == credit + 1  # her first Receipt's; none for the rest
    offline = Verifier()
    for envelope in (*mallory.setup, offer.envelope, *(a.envelope for a in answers), first.envelope):
        offline.accept(envelope)
    offline.accept(again[0].envelope)
    assert again[0].digest in offline.statements


def _revoked_late_then_backdated(
    send: Callable[[bytes], Any], clock: FixedClock, boss: Signer, k: Signer, mandate: VerifiedStatement
) -> tuple[int, VerifiedStatement]:
    """K is stolen now; a minute later its principal sends its revocation effective then (the first of its
    revoker: uncounted); Mallory, holding K, sends five Checkpoints of K dated just before it, spending
    K's count (those refused RATE_LIMITED are not in K's log). Returns the theft's time and the principal's
    correction, effective at the theft, not yet sent."""
    theft = clock.now_ms
    clock.advance(60_000)
    noticed = clock.now_ms
    send(
        boss.sign(
            "key_revocation", identity_pb2.KeyRevocation(key=k.did, effective_ms=noticed, reason="stolen")
        ).envelope
    )
    clock.advance(1_000)
    for _ in range(5):
        backdated = k.sign(
            "checkpoint",
            identity_pb2.Checkpoint(log_root=merkle.root(k.__dict__["signed_digests"])),
            mandate=mandate.digest,
            issued_at_ms=noticed - 1,
        )
        with contextlib.suppress(RateLimited):
            send(backdated.envelope)
            k.__dict__["signed_digests"].append(backdated.digest)
    corrected = boss.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=k.did, effective_ms=theft, reason="stolen")
    )
    return theft, corrected


def _bargain(node: Any, escrow: Party, a: Party, b: Party, n: int) -> tuple[int, list[VerifiedStatement]]:
    """Two fresh keys open a negotiation naming the escrow and counter each other ``n`` times, each Counter
    submitted; how many the escrow took, and the Counters."""
    offer = a.offer(b, a.proposal(escrow=escrow.did))
    node.submit([*a.setup, *b.setup, offer.envelope])
    line, taken = [offer], 0
    for i in range(n):
        counter = (b, a)[i % 2].counter(line[-1], a.proposal(escrow=escrow.did))
        with contextlib.suppress(CoopError):
            node.submit([counter.envelope])
            line.append(counter)
            taken += 1
    return taken, line


@pytest.mark.req("ESC-017", "CMT-013")
def test_acks_of_a_long_bargaining_line_ride_no_uncounted(tmp_path: Path) -> None:
    """Attack: Mallory's two fresh keys counter each other 100 times (a negotiation naming the escrow,
    each Counter taken: ESC-011 admits it), then one accepts: every Counter is now "a statement of a
    contract naming the escrow", and the other party's first Ack of each rode uncounted as a trade's
    witness -- 50 Acks stamped, and as many as the line is long. A trade's witness is an Ack of the
    contract's Accept or of a statement naming the contract (CMT-013 and CMT-005 bound those by its
    items), not of the bargaining before it: the Acks count, here against the credit the Accept earned."""
    clock = _window(FixedClock())
    # Room for the bargaining (ESC-017 counts a Counter past a negotiation's first, of keys no Deposit
    # credited, under the quota: test_a_bargaining_line_between_fresh_keys_carries_no_unbounded_counters).
    escrow, node = _quota_escrow(tmp_path, clock, StrangerQuota(per_period=200, per_key=60))
    a, b = Party("mallory-a", clock), Party("mallory-b", clock)
    try:
        _, line = _bargain(node, escrow, a, b, 100)
        assert len(line) == 101
        accept = (b, a)[100 % 2].accept(line[-1])
        node.submit([accept.envelope])
        acker = a if accept.issuer == a.did else b
        acks = 0
        for vs in line:
            if vs.issuer != acker.did:
                ack = acker.sign("ack", commitment_pb2.Ack(statement=vs.digest), audience=vs.issuer)
                with contextlib.suppress(RateLimited):
                    node.submit([ack.envelope])
                    acks += 1
        assert acks <= 1  # the Accept's credit; the hole was: one for each Counter of the other's, 50
        clock.advance(10)
        delivery = b.deliver(accept, a)
        node.submit([delivery.envelope])
        witness = a.sign("ack", commitment_pb2.Ack(statement=delivery.digest), audience=b.did)
        node.submit([witness.envelope])  # an Ack of a Delivery: the trade's witness, taken uncounted
        assert witness.digest in node.escrow.verifier.statements
    finally:
        node.close()


@pytest.mark.req("ESC-011", "ESC-017")
def test_a_bargaining_line_between_fresh_keys_carries_no_unbounded_counters(tmp_path: Path) -> None:
    """Attack: Mallory's two fresh keys open a negotiation naming the escrow as arbiter and counter each
    other 300 times, each Counter submitted. Defence (ESC-017): of a negotiation the escrow holds no
    contract of, a Counter past its first by a key its ledger never credited counts as a statement of
    no negotiation does -- under the newcomer quota (here one a key), or a key in its dealings' count --
    and past it is refused ``RATE_LIMITED``; a funded party's bargaining is never counted."""
    clock = _window(FixedClock())
    escrow, node = _quota_escrow(tmp_path, clock, StrangerQuota(per_period=100, per_key=1))
    try:
        a, b = Party("mallory-a", clock), Party("mallory-b", clock)
        taken, _ = _bargain(node, escrow, a, b, 300)
        assert taken <= 1 + 2  # the first Counter, and one counted for each key
        c, d = Party("alice", clock), Party("bob", clock)
        node.deposit(c.did, 1)
        node.deposit(d.did, 1)
        taken, _ = _bargain(node, escrow, c, d, 40)
        assert taken == 40  # funded: never counted
    finally:
        node.close()


@pytest.mark.req("CMT-005", "RPC-016")
def test_a_counterparty_cannot_send_a_peer_unbounded_claims_of_one_item() -> None:
    """Attack: Mallory's one contract with Bob names an escrow he trusts (no bonds); past the deadline
    she sends him claims on his item, again and again, never stamped: each taken, each Acked by him, each
    earning her credit. Defence (CMT-005 at a live receiver): of a claimant's claims on one item, one
    without the escrow's Stamp of it is taken, any other only with that Stamp (``ILLEGAL_TRANSITION``)."""
    clock = FixedClock()
    bob, mallory, e = Party("bob", clock), Party("mallory", clock), Party("escrow", clock)
    b = make_peer(
        bob, clock, stranger_quota=StrangerQuota(per_period=100, per_key=1), context=[e.mandate_vs.envelope]
    )
    offer = mallory.offer(bob, mallory.proposal(escrow=e.did))
    accept = next(
        a for a in map(verify_statement, b.exchange(offer.envelope, mallory.setup)) if a.body == "accept"
    )
    clock.advance(DAY_MS + 1_000)
    taken = 0
    for _ in range(20):
        clock.advance(10)
        msg = commitment_pb2.BreachClaim(contract=accept.digest, item_index=0, reason="never delivered")
        claim = mallory.sign(
            "breach_claim", msg, audience=bob.did, negotiation_id=accept.header.negotiation_id
        )
        with contextlib.suppress(CoopError):
            b.exchange(claim.envelope)
            taken += 1
    assert taken == 1  # the hole: 20, each Acked by Bob
    # A second claim with the escrow's Stamp of it is taken: the escrow stamps one claim of a claimant
    # and item (CMT-005) -- the one that takes effect, when it refused the first (outside the window by
    # its clock, say).
    clock.advance(10)
    msg = commitment_pb2.BreachClaim(contract=accept.digest, item_index=0, reason="stamped")
    claim = mallory.sign("breach_claim", msg, audience=bob.did, negotiation_id=accept.header.negotiation_id)
    stamp = e.sign("stamp", commitment_pb2.Stamp(statements=[claim.digest]))
    b.exchange(claim.envelope, [stamp.envelope])
    assert claim.digest in b.verifier.statements


# --- 2: ESC-017, a party's count spent by relaying its own public statements --------------------------------


@pytest.mark.req("ESC-017", "WIT-002", "KEY-004")
def test_relayed_public_statements_of_a_party_keep_none_of_its_trade_out_of_the_escrow(
    tmp_path: Path,
) -> None:
    """Attack: Alice and Bob have a contract naming the escrow. A statement counts for the key that
    signed it, whoever submits it, and Alice's Checkpoints are public (her Gossip answers carry one each
    time her chain moves): Mallory submits them to the escrow until Alice's per-key count (16 here, plus
    her credit) is spent -- each over it refused, free to her -- hoping the escrow then refuses what
    Alice's trade needs there. It does not: her Ack of Bob's Delivery (WIT-002, sent to settle) is the
    trade's, uncounted (the first of her key); her Receipt and her renewed Mandate cited by it are of the
    contract (and what it depends on); and her principal's first revocation of her key is never counted
    (ESC-017 (c)). What Mallory spent is room for more of Alice's Checkpoints, which she sent already."""
    clock = _window(FixedClock())
    escrow, node = _quota_escrow(tmp_path, clock, StrangerQuota(per_period=100, per_key=1))
    alice, bob = Party("alice", clock), Party("bob", clock)
    try:
        accept = _contract(node, escrow, alice, bob)  # Bob's Offer, Alice's Accept
        # Funded: the dealings' base count is for keys the ledger credited (tests/test_attack18.py).
        node.deposit(alice.did, 1)
        assert _checkpoints(node, alice, 30) == 16 + 1  # Mallory's relays: the count and Alice's credit
        held = node.escrow.verifier.statements
        delivery = bob.deliver(accept, alice)
        node.submit([delivery.envelope])
        ack = alice.sign("ack", commitment_pb2.Ack(statement=delivery.digest), audience=bob.did)
        node.submit([ack.envelope])  # the trade's witness: taken
        caps = identity_pb2.Mandate()
        caps.CopyFrom(alice.mandate_vs.statement.mandate)
        caps.valid_until_ms += DAY_MS
        renewed = alice.principal.sign("mandate", caps, ttl_ms=2 * DAY_MS)
        receipt = alice.receipt(delivery, mandate=renewed.digest)
        node.submit([renewed.envelope, receipt.envelope])  # taken with what it cites
        assert {ack.digest, renewed.digest, receipt.digest} <= set(held)
        clock.advance(1_000)
        revocation = alice.principal.sign(
            "key_revocation",
            identity_pb2.KeyRevocation(key=alice.did, effective_ms=clock.now_ms - 500, reason="stolen"),
        )
        node.submit([revocation.envelope])  # what ends her key: never counted
        assert node.escrow.verifier.revoked[alice.did] == clock.now_ms - 500
    finally:
        node.close()


# --- 3: ESC-017 (c), many revokers of one key ---------------------------------------------------------------


@pytest.mark.req("ESC-017", "KEY-004")
def test_principals_a_key_never_accepted_cannot_each_revoke_it_uncounted(tmp_path: Path) -> None:
    """Attack: the first KeyRevocation of a held key by each revoker is stamped uncounted. Mallory holds K
    (its Mandate and a Checkpoint taken) and mints forty fresh principals, each signing a Mandate naming
    K (anyone can) and a revocation of K, effective years ahead, hoping each is a "first of its revoker":
    forty revocations stamped uncounted, and as many more as she mints. None is: a key is revoked only by
    itself or a principal it accepted, by signing under its Mandate (KEY-004, KEY-007) -- each refused
    ``REVOCATION_UNAUTHORIZED``, nothing of it stamped; the Mandates alone count as strangers' (one of
    each key, the quota's total). Binding K to each principal costs a statement of K under that
    principal's Mandate: counted for K (one), or an Offer naming the escrow -- a statement of a
    negotiation, the known cost of ESC-011's row (a Mandate and an Offer a key) that the revocation
    beside it only adds one to. And K's own revocations of itself: the first uncounted, the rest
    counted for K."""
    clock = _window(FixedClock())
    _, node = _quota_escrow(tmp_path, clock, StrangerQuota(per_period=10, per_key=1))
    try:
        k, mandate = fresh_key(0, clock)
        node.submit([mandate.envelope, _checkpoint(k, mandate).envelope])
        held = node.escrow.verifier.statements
        refused = 0
        for i in range(40):
            signer = Signer(f"mallory-minter/{i}", clock)
            caps = identity_pb2.Mandate(
                agent=k.did,
                valid_from_ms=clock.now_ms,
                valid_until_ms=clock.now_ms + DAY_MS,
                currency="credit",
                period_ms=DAY_MS,
            )
            minted = signer.sign("mandate", caps, ttl_ms=DAY_MS)
            revocation = signer.sign(
                "key_revocation",
                identity_pb2.KeyRevocation(key=k.did, effective_ms=clock.now_ms + YEAR_MS, reason="x"),
                mandate=b"",
            )
            with contextlib.suppress(RateLimited):
                node.submit([minted.envelope])
            try:
                node.submit([revocation.envelope])
            except CoopError as exc:
                assert exc.requirement == "KEY-004"
                refused += 1
        assert refused == 40
        assert k.did not in node.escrow.verifier.revokers
        assert not any(vs.body == "key_revocation" for vs in held.values())
        naming_k = [
            vs for vs in held.values() if vs.body == "mandate" and vs.statement.mandate.agent == k.did
        ]
        assert len(naming_k) <= 1 + 10 - 2  # K's own and those the quota's total let in, no more
        own = [
            k.sign(
                "key_revocation",
                identity_pb2.KeyRevocation(key=k.did, effective_ms=clock.now_ms + YEAR_MS + i, reason="x"),
                mandate=mandate.digest,
            )
            for i in range(3)
        ]
        node.submit([own[0].envelope])  # the first of its revoker: uncounted (K's count is spent)
        with pytest.raises(RateLimited, match="ESC-017"):
            node.submit([own[1].envelope])
    finally:
        node.close()


# --- 4: RPC-016, the escrow's first Stamp of our trade, relayed first or with its count spent ---------------


@pytest.mark.req("RPC-016", "WIT-006")
def test_an_escrows_first_stamp_of_our_trade_is_taken_whoever_relays_it_and_however_spent_its_count() -> None:
    """Attack: Bob counts the escrow's public statements beyond its Stamps of his trades (16 a key here,
    plus credit). Mallory holds the escrow's Stamps of statements Bob does not hold (its transcript is
    every auditor's download) and relays them until the escrow key's count is spent, then relays the
    escrow's Stamp of Bob's Accept herself before Bob's relay does, hoping his relay's copy is then a
    "re-stamp" and refused, or the Stamp itself refused over the spent count. Neither: the first Stamp of
    a statement of our contract by its escrow is taken uncounted whoever sends it (it earns one credit),
    and the same Stamp sent again is held already (RPL-002): nothing to count. Only a second, different
    Stamp of the Accept by the escrow -- which an honest escrow never signs, WIT-006 -- counts, and is
    refused once the count is spent."""
    clock = _window(FixedClock())
    alice, bob, e = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    b = make_peer(
        bob, clock, context=[e.mandate_vs.envelope], stranger_quota=StrangerQuota(per_period=100, per_key=1)
    )
    answers = b.exchange(alice.offer(bob, alice.proposal(escrow=e.did)).envelope, alice.setup)
    accept = next(vs for vs in map(verify_statement, answers) if vs.body == "accept")
    assert b.deals_with(e.did) and b._dealings is not None
    relayed = 0
    for i in range(40):
        clock.advance(10)
        other = e.sign("stamp", commitment_pb2.Stamp(statements=[bytes([i]) * 32]))
        with contextlib.suppress(RateLimited):
            b.exchange(other.envelope)
            relayed += 1
    assert relayed == 16 and b._dealings.room(e.did, clock.now_ms) == 0
    stamp = e.sign("stamp", commitment_pb2.Stamp(statements=[accept.digest]))
    b.exchange(stamp.envelope)  # Mallory's relay of the escrow's first Stamp of the Accept: taken
    with pytest.raises(Replayed):
        b.exchange(stamp.envelope)  # Bob's relay of it: held already (RPL-002), nothing counted
    assert stamp.digest in b.verifier.statements
    again = e.sign("stamp", commitment_pb2.Stamp(statements=[accept.digest]))
    b.exchange(again.envelope)  # a re-stamp counts: the credit the first earned lets one in
    with pytest.raises(RateLimited, match="RPC-016"):
        b.exchange(e.sign("stamp", commitment_pb2.Stamp(statements=[accept.digest])).envelope)


# --- 5: the conformance suite's closing of a case's contracts -----------------------------------------------


class _Target:
    """A target as the suite's Session reaches it: ``Exchange`` answers with ``answers(envelope)``."""

    def __init__(self, did: str, answers: Any) -> None:
        self.info = SimpleNamespace(did=did, mandate=b"", escrow_only=False)
        self.seed, self.timeout_s, self.target = "attack18", 5.0, "fake:0"
        self.cooperation = SimpleNamespace(Exchange=self._exchange)
        self.answers = answers
        self.sent: list[VerifiedStatement] = []

    def _exchange(self, request: Any, timeout: float) -> Any:
        self.sent.append(verify_statement(request.envelope))
        return service_pb2.ExchangeResponse(envelopes=self.answers(self.sent[-1]))

    def record_signed(self, envelopes: Any) -> None:
        pass


@pytest.mark.req("NEG-008")
def test_closing_a_cases_contract_receipts_only_its_deliveries_to_us() -> None:
    """Attack: after every case the suite performs its side of each contract the case formed: its
    Delivery of each item, then a Receipt (rating 90) of each Delivery the target signed among the
    answers. Mallory's target answers the suite's closing Delivery with Deliveries of *other* contracts
    -- one it has with Carol, addressed to her -- and the suite's party signed a Receipt of each: a
    Receipt in a negotiation it is no party of, of work it never received. Defence: the suite receipts
    only the target's Deliveries of the contract it is closing, addressed to its party, each once."""
    from conformance.suite.context import Context

    mallory = Party("mallory-target", LiveClock())
    carol = Party("carol", mallory.clock)
    foreign = carol.offer(mallory)
    other_accept = mallory.accept(foreign)
    to_carol = mallory.deliver(other_accept, carol)

    def answers(vs: VerifiedStatement) -> list[bytes]:
        return [to_carol.envelope] if vs.body == "delivery" else []

    target = _Target(mallory.did, answers)
    ctx = Context(cast(Any, target), cast(Any, SimpleNamespace(id="attack18.close")))
    alice = ctx.party("alice")
    offer = alice.offer(mallory)
    accept = mallory.accept(offer)
    ctx.note_formed(offer, [mallory.mandate_vs, accept])
    ctx.close_contracts()
    receipts = [vs for vs in target.sent if vs.body == "receipt"]
    assert [vs.body for vs in target.sent][:1] == ["delivery"]
    assert all(vs.header.negotiation_id == accept.header.negotiation_id for vs in receipts), receipts


@pytest.mark.req("TIM-003", "NEG-014")
def test_closing_a_cases_contract_signs_nothing_dated_years_ahead() -> None:
    """Attack: the suite's closing Receipts are dated no earlier than the target's Delivery they answer
    (NEG-014: the suite's clock catches up with the target's statements, as a signer behind does) -- and
    the target's answers to the closing Delivery are not checked by the shadow verifier. Mallory's target
    dates its Delivery a year ahead: the suite's party then signed a Receipt dated a year ahead, a
    statement no conforming verifier takes (TIM-003) and a lie about when it was signed. Defence: a
    Delivery dated past the suite's clock and the skew (TIM-003) is not receipted."""
    from conformance.suite.context import Context

    mallory = Party("mallory-target", LiveClock())

    def answers(vs: VerifiedStatement) -> list[bytes]:
        if vs.body != "delivery":
            return []
        return [mallory.deliver(accept, alice, issued_at_ms=mallory.clock.now_ms + YEAR_MS).envelope]

    target = _Target(mallory.did, answers)
    ctx = Context(cast(Any, target), cast(Any, SimpleNamespace(id="attack18.ahead")))
    alice = ctx.party("alice")
    offer = alice.offer(mallory)
    accept = mallory.accept(offer)
    ctx.note_formed(offer, [mallory.mandate_vs, accept])
    ctx.close_contracts()
    assert target.sent and all(vs.header.issued_at_ms <= time.time() * 1000 + 60_000 for vs in target.sent)


# --- 6: ESC-017 (c), a revoker's correction of its revocation -----------------------------------------------


_CORRECTION = (
    "ESC-017 (c) and RPC-016 (c) take each revoker's first KeyRevocation of a held key uncounted, a "
    "later one by the same revoker counted for the key -- and the key's thief chooses what spends that "
    "count: statements it signs as the key, dated before the revocation's effective time (KEY-004 refuses "
    "only those dated after). A principal that revoked a stolen key effective when it noticed, and then "
    "learns the theft was earlier, has its corrected revocation -- the one that disowns what the thief "
    "signed in between -- refused RATE_LIMITED, every period, while the thief's contracts of that time "
    "stand. Options: a revocation that moves the key's effective revocation earlier than any held "
    "uncounted too, at most one per revoker and period (alone, 'earlier' is no bound: a principal bound to "
    "a key of its own steps it back a millisecond at a time; the key itself cannot, its own statements "
    "refused from its effective time on); or a later revocation by a principal counted for its issuer, "
    "not for the key (the thief would then need as many of the principal's public statements the server "
    "lacks -- Mandates for other agents, relayed -- instead of minting them as the key; a principal "
    "revoking many keys at once is uncounted anyway, the first of each). Refusing the key's statements "
    "dated after a held revocation's issued_at does not help: the thief backdates them."
)


@pytest.mark.req("ESC-017", "KEY-004")
def test_a_thief_cannot_keep_out_a_principals_earlier_revocation_of_the_key(tmp_path: Path) -> None:
    """Attack: Mallory stole K at t0. K's principal notices at t1 and revokes K effective t1 (the first
    of its revoker: stamped uncounted). Mallory, holding K, signs Checkpoints as K dated just before t1
    -- KEY-004 refuses only what K signs from t1 on -- and submits them until K's per-key count is spent.
    The principal's corrected revocation, effective t0, counts for K and is refused ``RATE_LIMITED``: what
    Mallory signed as K between t0 and t1 stays K's for the period, and the next, as she spends it again."""
    clock = _window(FixedClock())
    _, node = _quota_escrow(tmp_path, clock, StrangerQuota(per_period=100, per_key=4))
    try:
        boss = Signer("k-principal", clock)
        k, mandate = fresh_key(0, clock, boss)
        node.submit([mandate.envelope, _checkpoint(k, mandate).envelope])
        theft, corrected = _revoked_late_then_backdated(lambda e: node.submit([e]), clock, boss, k, mandate)
        node.submit([corrected.envelope])  # the hole: RATE_LIMITED
        assert node.escrow.verifier.revoked[k.did] == theft
    finally:
        node.close()


@pytest.mark.req("RPC-016", "KEY-004")
def test_a_thief_cannot_keep_out_a_principals_earlier_revocation_of_the_key_at_a_peer() -> None:
    """The same at a peer that holds K (RPC-016 (c)): the corrected revocation, counted for K, is refused
    ``RATE_LIMITED`` once Mallory's backdated Checkpoints of K spent its count."""
    clock = FixedClock()
    b = make_peer(Party("bob", clock), clock, stranger_quota=StrangerQuota(per_period=100, per_key=4))
    boss = Signer("k-principal", clock)
    k, mandate = fresh_key(0, clock, boss)
    b.exchange(_checkpoint(k, mandate).envelope, [mandate.envelope])
    theft, corrected = _revoked_late_then_backdated(b.exchange, clock, boss, k, mandate)
    b.exchange(corrected.envelope)  # the hole: RATE_LIMITED
    assert b.verifier.revoked[k.did] == theft
