"""Attacker's pass 17: the dealings bound of RPC-016 (a key in the dealings' public statements, per key,
with the credit its negotiations with us earn; an escrow's Stamps of our trades exempt), RPC-017's
per-principal part of the vouched reserve, and RPC-016's exemption of the first revocation of a key --
asked who chose each value they rely on (which key's count a statement spends, who sends it, which
escrow a Stamp names) and what a liar gains.

Mallory is the attacker; a test marked ``xfail(strict=True)`` is a hole this version still has, its
reason naming the options.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest
from peers import bonded_proposal, escrow_node, fresh_key, make_peer, peer_node
from test_attack16 import _checkpoint, _contract_with, _low, _quota_escrow, _revocation, _under

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2
from a2a_coop.protocol import merkle
from a2a_coop.protocol.envelope import MAX_ENVELOPE_BYTES
from a2a_coop.protocol.errors import RateLimited
from a2a_coop.protocol.negotiation import State
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.runtime import gossip, trade
from a2a_coop.runtime.node import EscrowNode
from a2a_coop.runtime.strangers import STRANGER_PERIOD_MS, NewcomerOffers, StrangerQuota
from a2a_coop.runtime.strategy import DeliveryView, HonestStrategy
from a2a_coop.runtime.trade import run_trade
from a2a_coop.testing import DAY_MS, FixedClock, Party, Signer

FUNDS = 10**9
YEAR_MS = 365 * DAY_MS


def _self_revocation(
    key: Signer, mandate: bytes, clock: FixedClock, *, after_ms: int = 10 * YEAR_MS
) -> VerifiedStatement:
    """A KeyRevocation of ``key`` by ``key`` itself (KEY-004 lets a key revoke itself) under ``mandate``,
    effective far ahead: nothing it signs until then is refused, so its holder loses nothing by it."""
    msg = identity_pb2.KeyRevocation(key=key.did, effective_ms=clock.now_ms + after_ms, reason="rotated")
    return key.sign("key_revocation", msg, mandate=mandate)


# --- 1: RPC-016, an honest counterparty's count spent with its own public statements ----------------------


@pytest.mark.req("RPC-016", "ATT-015")
def test_relayed_checkpoints_of_a_counterparty_do_not_get_its_attestation_of_our_trade_refused(
    tmp_path: Path,
) -> None:
    """Attack: Alice trades with Bob, bonded, through an escrow; Bob bounds the public statements of keys
    in his dealings (here 16 a key an hour, plus the credit Alice's trades earn). A statement counts for
    the key that signed it, whoever sends it -- and Alice's public statements are Mallory's for the
    asking: each low Offer Mallory sends Alice, which Alice rejects, moves Alice's chain, and Alice's
    Gossip answer then carries a fresh head Checkpoint of it (``gossip.head_checkpoint``). Mallory relays
    them to Bob, each taken and counted against Alice's key, and keeps doing so as Alice's trade earns
    credit (each relay over the bound is refused and costs Mallory nothing). Alice's Attestation of her
    trade with Bob (ATT-015), a public statement counted like the Checkpoints, was then refused
    ``RATE_LIMITED`` -- the trade run raised at its last step -- though RPC-016 says the bound must never
    refuse what a key's trades with the server need. Defence: its issuer's first Attestation of a
    contract of ours (ATT-002: one counts per party and contract) is the trade's, never counted; what
    Mallory spends is only room for Alice's other public statements, which Bob then gets from Mallory
    anyway. (The escrow's count drained the same way, with Stamps it signed of Mallory's own Checkpoints,
    refuses nothing of the trade either: its Stamps of our trades are exempt already.)"""
    clock = FixedClock()
    clock.now_ms -= clock.now_ms % STRANGER_PERIOD_MS
    alice, bob, e = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    mallory, m2 = Party("mallory", clock), Party("mallory2", clock)
    escrow = escrow_node(e, clock, tmp_path / "e.db")
    node = peer_node(bob, clock, tmp_path / "bob.db", context=[e.mandate_vs.envelope])
    try:
        node.peer.stranger_quota = StrangerQuota(per_period=1000, per_key=1)  # 16 a key in the dealings
        for p in (alice, bob, m2):
            escrow.deposit(p.did, FUNDS)
        a, b = make_peer(alice, clock, context=[e.mandate_vs.envelope]), node.peer
        first = run_trade(a, node, b.did, bonded_proposal(alice, e.did), escrow=escrow)
        assert a.negotiation(first.id).state is State.FULFILLED
        # Mallory's stock: Alice's head Checkpoints, one a rejected Offer; the escrow's Stamps of her own.
        checkpoints = []
        for i in range(60):
            a.exchange(_low(mallory, alice).envelope, mallory.setup if i == 0 else [])
            checkpoints.append(gossip.head_checkpoint(a).envelope)
            clock.advance(10)
        stamps, signed = [], []
        for i in range(60):
            cp = m2.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle.root(signed)))
            signed.append(cp.digest)
            answers = escrow.submit([*(m2.setup if i == 0 else []), cp.envelope])
            stamps += [env for env in answers[1:] if verify_statement(env).body == "stamp"]
        real = node.exchange

        def drain() -> None:  # Mallory keeps relaying; what is over the bound is refused, free to her
            assert b._dealings is not None
            for stock, key, context in (
                (checkpoints, alice.did, []),
                (stamps, e.did, [e.mandate_vs.envelope]),
            ):
                while stock and b._dealings.room(key, clock.now_ms) > 0:
                    real(stock.pop(0), context)

        def racing(envelope: bytes, context: Any) -> Any:
            if verify_statement(envelope).issuer in (alice.did, e.did):
                drain()
            return real(envelope, context)

        node.exchange = racing  # type: ignore[method-assign]
        drain()
        assert b._dealings is not None and b._dealings.room(alice.did, clock.now_ms) == 0
        clock.advance(60_000)
        second = run_trade(
            a, node, b.did, bonded_proposal(alice, e.did), escrow=escrow
        )  # the hole: RATE_LIMITED
        assert a.negotiation(second.id).state is State.FULFILLED
        contract = a.negotiation(second.id).contract
        assert contract is not None and b.verifier.attested(alice.did, contract.accept.digest)
        assert checkpoints and stamps  # Mallory had more to relay: the bound held her relays
    finally:
        node.close()
        escrow.close()


# --- 2: RPC-016 (c), the first revocation of a key, signed by its thief ----------------------------------


@pytest.mark.req("RPC-016", "KEY-004")
def test_a_thiefs_own_revocation_of_the_key_does_not_keep_out_its_principals() -> None:
    """Attack: Mallory stole K, whose Mandate its principal signed. Bob takes, uncounted, a KeyRevocation
    of a key he holds statements of "while he holds no KeyRevocation of it" -- so Mallory, holding K's
    private key, signs one herself (KEY-004: a key may revoke itself), effective ten years ahead (nothing
    she signs as K before then is refused), and sends it: the first, so taken uncounted. Then she spends
    K's per-key count with K's Checkpoints. The principal's revocation of K, effective from the theft, is
    no longer the first: counted for K, it was refused ``RATE_LIMITED`` for the rest of the hour (and
    again each hour, Mallory spending K's count first at the window's start), while Mallory traded as
    K. Defence: the first revocation of a key by each of its revokers (K itself, a principal it is bound
    to, KEY-004) is what is taken uncounted -- binding K to another principal costs counted statements."""
    clock = FixedClock()
    b = make_peer(Party("bob", clock), clock, stranger_quota=StrangerQuota(per_period=100, per_key=4))
    boss = Signer("k-principal", clock)
    k, mandate = fresh_key(0, clock, boss)
    b.exchange(_checkpoint(k, mandate).envelope, [mandate.envelope])  # K's first Checkpoint: Bob holds K
    own = _self_revocation(k, mandate.digest, clock)
    k.__dict__["signed_digests"].append(own.digest)  # K's chain, for its next Checkpoints' log_root
    b.exchange(own.envelope)  # the first revocation of K: taken uncounted
    spent = 0
    for _ in range(6):
        with contextlib.suppress(RateLimited):
            b.exchange(_checkpoint(k, mandate).envelope)
            spent += 1
    assert spent == 3  # K's count of 4: its first Checkpoint and these (its Mandate counts for the principal)
    clock.advance(1_000)
    revocation = _revocation(boss, k.did, clock)
    b.exchange(revocation.envelope)  # the hole: RATE_LIMITED
    assert b.verifier.revoked[k.did] == revocation.statement.key_revocation.effective_ms


@pytest.mark.req("RPC-016", "ATT-018")
def test_a_key_in_the_dealings_cannot_journal_its_own_revocations_uncounted() -> None:
    """Attack: Mallory, in Bob's dealings by one contract without bonds (ATT-018: for good), signs
    revocations of her own key, each effective ten years ahead (so nothing she signs meanwhile is
    refused), and sends them one by one: what ends a key is never counted against a key in the dealings,
    and the verifier takes any number of revocations of a key -- a hundred journaled uncounted over a
    bound of 16 a key, without end. Defence: only the first revocation of a key by each revoker is
    uncounted; the rest count for the key they revoke."""
    clock = FixedClock()
    bob, mallory = Party("bob", clock), Party("mallory", clock)
    b = make_peer(bob, clock, stranger_quota=StrangerQuota(per_period=100, per_key=1))
    _contract_with(b, bob, mallory)
    kept = 0
    for i in range(100):
        clock.advance(10)
        with contextlib.suppress(RateLimited):
            b.exchange(
                _self_revocation(
                    mallory.agent, mallory.mandate_vs.digest, clock, after_ms=10 * YEAR_MS + i
                ).envelope
            )
            kept += 1
    assert kept <= 1 + 16


@pytest.mark.req("ESC-017", "KEY-004")
def test_a_thiefs_own_revocation_does_not_keep_the_principals_out_of_an_escrow(tmp_path: Path) -> None:
    """Attack 2 at an escrow: Mallory, holding K, submits K's Mandate and a Checkpoint, K's own revocation
    effective ten years ahead (the first: stamped uncounted), and Checkpoints of K until its per-key count
    is spent. K's principal then submits its revocation of K: it should be stamped."""
    clock = FixedClock()
    _, node = _quota_escrow(tmp_path, clock, StrangerQuota(per_period=100, per_key=4))
    try:
        boss = Signer("k-principal", clock)
        k, mandate = fresh_key(0, clock, boss)
        node.submit([mandate.envelope, _checkpoint(k, mandate).envelope])
        own = _self_revocation(k, mandate.digest, clock)
        k.__dict__["signed_digests"].append(own.digest)
        node.submit([own.envelope])
        for _ in range(5):
            with contextlib.suppress(RateLimited):
                node.submit([_checkpoint(k, mandate).envelope])
        clock.advance(1_000)
        revocation = _revocation(boss, k.did, clock)
        node.submit([revocation.envelope])  # the hole: RATE_LIMITED
        assert node.escrow.verifier.revoked[k.did] == revocation.statement.key_revocation.effective_ms
    finally:
        node.close()


# --- 3: the dealings, entered or exempted through an escrow key of one's own ----------------------------


@pytest.mark.req("RPC-016", "ATT-018")
def test_an_escrow_key_named_in_an_offer_gets_no_stamps_exempted_and_no_place_in_the_dealings() -> None:
    """Attack: Mallory, a newcomer, sends Bob an Offer naming as its escrow a fresh key E of her own, then
    Stamps signed by E naming that Offer (and its Mandate, and E's Checkpoints), hoping that "a Stamp by
    the escrow of a contract of ours naming a statement of its negotiation" is exempt, or that naming E
    in an Offer puts E in Bob's dealings. Neither: Bob signs no contract under an escrow he does not
    trust (he rejects the Offer), a Stamp is exempt only by the escrow of a *contract* of his, and E is in
    his dealings only once a contract names it -- E's Stamps count as a stranger's, four per key."""
    clock = FixedClock()
    bob, mallory, fake = Party("bob", clock), Party("mallory", clock), Party("mallory-escrow", clock)
    b = make_peer(bob, clock, stranger_quota=StrangerQuota(per_period=100, per_key=4))
    offer = mallory.offer(bob, mallory.proposal(issuer_bond=10, audience_bond=10, escrow=fake.did))
    answers = b.exchange(offer.envelope, mallory.setup)
    assert verify_statement(answers[-1]).body == "reject"
    assert not b.deals_with(fake.did) and not b.deals_with(mallory.did)
    kept = 0
    for i in range(10):
        clock.advance(10)
        stamp = fake.sign("stamp", commitment_pb2.Stamp(statements=[offer.digest]))
        with contextlib.suppress(RateLimited):
            b.exchange(stamp.envelope, fake.setup if i == 0 else [])
            kept += 1
    assert kept == 4  # E's count (its Mandate counts for its principal)
    assert b._strangers is not None and b._strangers.per_key[fake.did] == 4


# --- 4: RPC-016, a newcomer's count spent by relaying its own statements ------------------------------------


@pytest.mark.req("RPC-016", "RPC-017")
def test_a_newcomers_count_spent_by_relays_keeps_out_none_of_its_trade() -> None:
    """Attack: Dan is about to open his first negotiation with Bob. Mallory, who gossips with Dan, relays
    Dan's head Checkpoints to Bob until Dan's per-key count of a stranger is spent, hoping Bob then
    refuses Dan's first Offer and its Mandate. He does not: an Offer addressed to Bob is his own dealings
    (RPC-017's budget counts it), and the Mandate it cites rides with it uncounted (RPC-016 (b)); what
    Mallory spent is only room for more of Dan's public statements, which she already sent."""
    clock = FixedClock()
    bob, dan = Party("bob", clock), Party("dan", clock)
    d = make_peer(dan, clock)
    b = make_peer(bob, clock, stranger_quota=StrangerQuota(per_period=100, per_key=3))
    relayed = 0
    for i in range(6):
        mallory = Party(f"mallory{i}", clock)
        d.exchange(_low(mallory, dan).envelope, mallory.setup)  # Dan rejects: his chain moves
        with contextlib.suppress(RateLimited):
            b.exchange(gossip.head_checkpoint(d).envelope, dan.setup if relayed == 0 else [])
            relayed += 1
        clock.advance(10)
    assert relayed < 6  # the count spent
    offer = d.propose(bob.did, dan.proposal())
    b.exchange(offer.envelope, dan.setup)  # taken (Bob accepts it, as his strategy does good terms)
    assert offer.digest in b.verifier.statements and dan.mandate_vs.digest in b.verifier.statements


# --- 5: RPC-016, credit -------------------------------------------------------------------------------------


@pytest.mark.req("RPC-016", "ATT-018")
def test_credit_is_earned_only_by_negotiation_statements_taken() -> None:
    """Attack: Mallory, in Bob's dealings by one contract, looks for credit cheaper than a statement of a
    negotiation Bob takes: an Offer with a defect (expired), an Offer sent again (a replay). Neither
    earns: credit comes once a statement is taken, one for each,
    so what she can make Bob journal of her public statements is at most the base count plus one for
    each statement of a negotiation with him he took -- which RPC-012 bounds (SPEC says so, and the
    per-issuer limits are off by default: a key in the dealings sending rejected Offers is bounded by
    ``serve --max-rate``)."""
    clock = FixedClock()
    clock.now_ms -= clock.now_ms % STRANGER_PERIOD_MS
    bob, mallory = Party("bob", clock), Party("mallory", clock)
    b = make_peer(bob, clock, stranger_quota=StrangerQuota(per_period=100, per_key=1))
    _contract_with(b, bob, mallory)
    assert b._dealings is not None
    base = b._dealings.credit[mallory.did]
    stale = mallory.offer(bob, mallory.proposal(), ttl_ms=1)
    clock.advance(STRANGER_PERIOD_MS // 100)
    with contextlib.suppress(Exception):
        b.exchange(stale.envelope)  # expired: refused
    low = _low(mallory, bob)
    b.exchange(low.envelope)
    for _ in range(3):
        with contextlib.suppress(Exception):
            b.exchange(low.envelope)  # a replay: nothing taken
    assert b._dealings.credit[mallory.did] == base + 1


# --- 6: RPC-016, the escrow of a contract of ours re-stamping it -----------------------------------------


@pytest.mark.req("RPC-016")
def test_the_escrow_of_a_contract_cannot_restamp_it_into_the_journal_without_bound() -> None:
    """Attack: E is an escrow Bob trusts (named in his context); Alice and Bob make a contract naming E
    as its arbiter. E -- trusted with the bonds, not with Bob's disk -- then signs a hundred Stamps of the
    contract's Accept, each dated a little later, and sends them to Bob one by one: each names a statement
    of that contract's negotiation, so each is taken uncounted and earns E credit -- a hundred journaled
    over a bound of 16 a key. Defence: only the first Stamp of a statement by its escrow is the trade's
    (WIT-006: an escrow stamps a statement once); a re-stamp counts for the escrow's key."""
    clock = FixedClock()
    clock.now_ms -= clock.now_ms % STRANGER_PERIOD_MS
    alice, bob, e = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    b = make_peer(
        bob, clock, context=[e.mandate_vs.envelope], stranger_quota=StrangerQuota(per_period=100, per_key=1)
    )
    answers = b.exchange(alice.offer(bob, alice.proposal(escrow=e.did)).envelope, alice.setup)
    accept = next(vs for vs in map(verify_statement, answers) if vs.body == "accept")
    kept = 0
    for _ in range(100):
        clock.advance(10)
        stamp = e.sign("stamp", commitment_pb2.Stamp(statements=[accept.digest]))
        with contextlib.suppress(RateLimited):
            b.exchange(stamp.envelope)
            kept += 1
    assert kept <= 1 + 16 + 1  # the first (the trade's, earning one credit), the key's count, that credit


# --- 7: RPC-016, what a counterparty answers ------------------------------------------------------------


class _Flooding:
    """Mallory's served peer as Bob's client reaches it: its real answers, with ``flood`` put before the
    last of each (fresh keys' Mandates and Checkpoints, which the answer's own statements do not need)."""

    def __init__(self, peer: Any, flood: list[bytes]) -> None:
        self.peer, self.flood = peer, flood

    def exchange(self, envelope: bytes, context: Any = ()) -> list[bytes]:
        answers = self.peer.exchange(envelope, list(context))
        return [*answers[:-1], *self.flood, *answers[-1:]]

    def gossip(self, envelopes: Any, proofs: Any) -> Any:
        return self.peer.gossip(envelopes, proofs)


@pytest.mark.req("RPC-016")
def test_a_counterpartys_answers_carry_no_uncounted_flood() -> None:
    """Attack: Bob opens a trade with Mallory (a served peer he found); Bob bounds strangers' statements
    to four an hour. Mallory's server answers Bob's Offer honestly -- and puts fifty fresh keys'
    Mandates and Checkpoints before its last answer: Bob took and journaled all hundred, uncounted,
    and would with every request he sends her. Defence: what an answer carries beside what it needs (the
    statements of his negotiation, the Mandates they cite) counts as a swap he started does, and what is
    over the quota is skipped, never refused."""
    clock = FixedClock()
    bob, mallory = Party("bob", clock), Party("mallory", clock)
    b = make_peer(bob, clock, stranger_quota=StrangerQuota(per_period=4, per_key=1))
    flood = []
    for i in range(50):
        k, mandate = fresh_key(i, clock)
        flood += [mandate.envelope, _checkpoint(k, mandate).envelope]
    neg = run_trade(b, _Flooding(make_peer(mallory, clock), flood), mallory.did, bob.proposal())
    assert b.negotiation(neg.id).contract is not None  # the trade itself went through
    strangers = {verify_statement(env).digest for env in flood}
    assert len(strangers.intersection(b.verifier.statements)) <= 4  # the hole: all 100


class _FloodingEscrow:
    """An escrow Bob trusts as his client reaches it: its real answers to each Submit, with ``flood``
    after its Mandate (fresh keys' Mandates and Checkpoints), where the evidence it shows goes (ESC-012)."""

    def __init__(self, escrow: EscrowNode, flood: list[bytes]) -> None:
        self.escrow, self.flood = escrow, flood

    def submit(self, envelopes: Any) -> list[bytes]:
        mandate, *answers = self.escrow.submit(list(envelopes))
        return [mandate, *self.flood, *answers]

    def get_ledger(self, seq: int, limit: int) -> Any:
        return self.escrow.get_ledger(seq, limit)


@pytest.mark.req("RPC-016")
def test_an_escrows_answers_carry_no_uncounted_flood(tmp_path: Path) -> None:
    """Attack: the escrow of Bob's bonded trade (trusted with the bonds, not with his disk) answers each
    Submit with its real answers, fifty fresh keys' Mandates and Checkpoints after its Mandate: Bob took
    the part up to the last statement not the escrow's as the evidence it shows (an Accept of his offer
    and the Mandate it cites, ESC-012), held uncounted. Defence: as a counterparty's answer, what is not
    an answer's own counts as a swap Bob started, and what is over the quota is skipped."""
    clock = FixedClock()
    clock.now_ms -= clock.now_ms % STRANGER_PERIOD_MS
    alice, bob, e = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    escrow = escrow_node(e, clock, tmp_path / "e.db")
    try:
        for p in (alice, bob):
            escrow.deposit(p.did, FUNDS)
        b = make_peer(
            bob, clock, context=[e.mandate_vs.envelope], stranger_quota=StrangerQuota(per_period=4, per_key=1)
        )
        a = make_peer(alice, clock, context=[e.mandate_vs.envelope])
        flood = []
        for i in range(50):
            k, mandate = fresh_key(i, clock)
            flood += [mandate.envelope, _checkpoint(k, mandate).envelope]
        neg = run_trade(b, a, alice.did, bonded_proposal(bob, e.did), escrow=_FloodingEscrow(escrow, flood))  # type: ignore[arg-type]
        assert b.negotiation(neg.id).state is State.FULFILLED
        strangers = {verify_statement(env).digest for env in flood}
        assert len(strangers.intersection(b.verifier.statements)) <= 4
    finally:
        escrow.close()


class _Counting:
    """Alice's peer as Bob's client reaches it, counting the Exchanges Bob sends it."""

    def __init__(self, peer: Any) -> None:
        self.peer, self.calls = peer, 0

    def exchange(self, envelope: bytes, context: Any = ()) -> list[bytes]:
        self.calls += 1
        return list(self.peer.exchange(envelope, list(context)))

    def gossip(self, envelopes: Any, proofs: Any) -> Any:
        return self.peer.gossip(envelopes, proofs)


@pytest.mark.req("RPC-016")
def test_an_escrows_flooded_answer_is_not_relayed_an_exchange_a_statement(tmp_path: Path) -> None:
    """Attack: the escrow of Bob's bonded trade with Alice puts fifty fresh keys' Mandates and
    Checkpoints in each answer to Bob's Submits. Bob's quota skipped them, and he relayed the answer to
    Alice as one Exchange per statement, the skipped ones too: two Exchanges per flooded statement
    (there are two Submits), 206 against the honest trade's 6 -- some 14,000 for a 4 MB answer. Expect
    none of them relayed (the trade needs none of them) and the trade FULFILLED."""
    counts = {}
    for n in (0, 50):
        clock = FixedClock()
        clock.now_ms -= clock.now_ms % STRANGER_PERIOD_MS
        alice, bob, e = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
        escrow = escrow_node(e, clock, tmp_path / f"e{n}.db")
        try:
            for p in (alice, bob):
                escrow.deposit(p.did, FUNDS)
            quota = StrangerQuota(per_period=4, per_key=1)
            b = make_peer(bob, clock, context=[e.mandate_vs.envelope], stranger_quota=quota)
            a = _Counting(make_peer(alice, clock, context=[e.mandate_vs.envelope]))
            flood = []
            for i in range(n):
                k, mandate = fresh_key(i, clock)
                flood += [mandate.envelope, _checkpoint(k, mandate).envelope]
            flooding = _FloodingEscrow(escrow, flood)
            neg = run_trade(b, a, alice.did, bonded_proposal(bob, e.did), escrow=flooding)  # type: ignore[arg-type]
            assert b.negotiation(neg.id).state is State.FULFILLED
            counts[n] = a.calls
        finally:
            escrow.close()
    assert counts[50] == counts[0], counts


def test_an_escrows_stamps_are_relayed_in_as_few_exchanges_as_their_bytes_fill() -> None:
    """An escrow's answer with three hundred Stamps of its own (valid, taken: its own answer's Stamps,
    RPC-016), some 180 kB: past one envelope's size, relayed one Exchange each (300). Expect them in
    order, in Exchanges each within one envelope's size (RPC-008), as few as they fit; and no
    stranger's statement beside them relayed."""
    clock = FixedClock()
    bob, e = Party("bob", clock), Party("escrow", clock)
    b = make_peer(bob, clock, context=[e.mandate_vs.envelope])
    digests = [bytes([i % 256, i // 256]) * 16 for i in range(300)]  # nobody signed these
    stamps = [e.sign("stamp", commitment_pb2.Stamp(statements=[d])) for d in digests]
    k, mandate = fresh_key(1, clock)
    strangers = [mandate, _checkpoint(k, mandate)]
    answer = [vs.envelope for vs in [*stamps[:150], *strangers, *stamps[150:]]]
    b.on_replies(answer)
    sent: list[list[bytes]] = []

    class _Counterparty:
        def exchange(self, envelope: bytes, context: Any = ()) -> list[bytes]:
            sent.append([*list(context)[1:], envelope])  # the escrow's Mandate first, then the batch
            assert sum(map(len, [*context, envelope])) <= MAX_ENVELOPE_BYTES
            return []

    news = [(vs.envelope, vs.digest) for vs in [*stamps[:150], *strangers, *stamps[150:]]]
    assert trade._relay(b, _Counterparty(), e.mandate_vs.envelope, news) == []  # type: ignore[arg-type]
    fill = MAX_ENVELOPE_BYTES - len(e.mandate_vs.envelope)
    assert len(sent) <= -(-sum(len(vs.envelope) for vs in stamps) // fill) + 1 <= 5
    assert [env for batch in sent for env in batch] == [vs.envelope for vs in stamps]


class _WithholdsReceipts(HonestStrategy):
    """Honest in everything but receipts: each Delivery to it is answered with an Ack alone."""

    def rate(self, delivery: DeliveryView) -> int | None:
        return None


def _bobs(b: Any, negotiation_id: bytes, body: str) -> VerifiedStatement:
    """Bob's statement ``body`` in the negotiation, as his peer holds it."""
    return next(
        vs
        for vs in b.verifier.statements.values()
        if vs.negotiation_id == negotiation_id and vs.body == body and vs.issuer == b.did
    )


@pytest.mark.req("RPC-016", "WIT-002", "ATT-015")
def test_what_an_answer_carries_is_never_skipped_whatever_its_signers_count(tmp_path: Path) -> None:
    """Bob opens a bonded trade with Alice through an escrow; his newcomer quota is full, and Mallory
    relayed him Alice's head Checkpoints and the escrow's Stamps of her own statements until the counts
    of both keys of his dealings were spent (attack 1). What Alice's and the escrow's answers carry of his
    trade is taken all the same: the trade settles, and Bob holds Alice's Ack of his Delivery (WIT-002
    evidence he gives the escrow), the escrow's Stamps of his Offer and of that Ack, and Alice's
    Attestation of the trade -- what an answer carries is counted against no key, so never skipped."""
    clock = FixedClock()
    clock.now_ms -= clock.now_ms % STRANGER_PERIOD_MS
    alice, bob, e = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    mallory, m2 = Party("mallory", clock), Party("mallory2", clock)
    escrow = escrow_node(e, clock, tmp_path / "e.db")
    try:
        for p in (alice, bob, m2):
            escrow.deposit(p.did, FUNDS)
        b = make_peer(
            bob, clock, context=[e.mandate_vs.envelope], stranger_quota=StrangerQuota(per_period=8, per_key=1)
        )
        a = make_peer(alice, clock, context=[e.mandate_vs.envelope])
        first = run_trade(
            b, a, alice.did, bonded_proposal(bob, e.did), escrow=escrow
        )  # both in Bob's dealings now
        assert b.negotiation(first.id).state is State.FULFILLED
        # Mallory's stock: Alice's head Checkpoints, each a rejected Offer; the escrow's Stamps of her own.
        checkpoints = []
        for i in range(20):
            a.exchange(_low(mallory, alice).envelope, mallory.setup if i == 0 else [])
            checkpoints.append(gossip.head_checkpoint(a).envelope)
            clock.advance(10)
        stamps, signed = [], []
        for i in range(20):
            cp = m2.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle.root(signed)))
            signed.append(cp.digest)
            answers = escrow.submit([*(m2.setup if i == 0 else []), cp.envelope])
            stamps += [env for env in answers[1:] if verify_statement(env).body == "stamp"]
        assert b._dealings is not None
        for stock, key, context in ((checkpoints, alice.did, []), (stamps, e.did, [e.mandate_vs.envelope])):
            while stock and b._dealings.room(key, clock.now_ms) > 0:
                b.exchange(stock.pop(0), context)
            assert b._dealings.room(key, clock.now_ms) == 0 and stock
        for i in range(8):  # and strangers' statements fill the quota (a swap Bob started takes the rest)
            k, mandate = fresh_key(i, clock)
            b.take_gossip([mandate.envelope, _checkpoint(k, mandate).envelope], started_with=alice.did)
        assert b._strangers is not None and b._strangers.count == 8
        clock.advance(60_000)
        v = b.verifier
        second = run_trade(b, a, alice.did, bonded_proposal(bob, e.did), escrow=escrow)
        neg = b.negotiation(second.id)
        assert neg.state is State.FULFILLED and neg.contract is not None
        assert v.witness.stamp_time(e.did, neg.first.digest) is not None  # the escrow's of Bob's Offer
        receipt = _bobs(b, neg.id, "receipt")
        assert v.ack_of(alice.did, receipt.digest) is not None
        assert v.attested(alice.did, neg.contract.accept.digest)
        a.strategy = _WithholdsReceipts()  # Alice acks Bob's Delivery, and receipts nothing
        third = run_trade(b, a, alice.did, bonded_proposal(bob, e.did), escrow=escrow)
        ack = v.ack_of(alice.did, _bobs(b, third.id, "delivery").digest)
        assert ack is not None and v.witness.stamp_time(e.did, ack.digest) is not None
        assert b._dealings.room(alice.did, clock.now_ms) == 0 and b._dealings.room(e.did, clock.now_ms) == 0
    finally:
        escrow.close()


@pytest.mark.req("RPC-016", "RPC-017", "RPC-012")
def test_a_counterpartys_answer_opens_no_negotiations_past_the_budget() -> None:
    """Attack: Bob offers Mallory; her answer rejects it and carries twenty fresh keys' opening Offers to
    Bob, each with its Mandate. Bob takes each (an Offer addressed to him: of his dealings, RPC-016 (a)),
    and his strategy accepts and delivers: forty statements signed for one answer, past his budget of
    four newcomers' Offers an hour. Defence: an answer opens no negotiation (an Offer of a negotiation
    Bob does not hold is ignored there); RPC-012 and RPC-017 count what opens one."""
    clock = FixedClock()
    clock.now_ms -= clock.now_ms % STRANGER_PERIOD_MS
    bob, mallory = Party("bob", clock), Party("mallory", clock)
    b = make_peer(
        bob,
        clock,
        stranger_quota=StrangerQuota(per_period=4, per_key=1),
        newcomer_offers=NewcomerOffers(per_period=4),
    )
    offer = b.propose(mallory.did, bob.proposal())
    answer = [*mallory.setup, mallory.reject(offer, "no").envelope]
    for i in range(20):
        sybil = Party(f"sybil{i}", clock)
        answer += [*sybil.setup, sybil.offer(bob, sybil.proposal()).envelope]
    assert b.on_replies(answer) == []  # the hole: 40 statements signed, accepting and delivering
    assert len(b.verifier.negotiations.by_id) == 1  # the hole: 21


# --- 8: RPC-017, one contract, two vouchers ----------------------------------------------------------------


@pytest.mark.req("RPC-017", "ATT-018")
def test_one_contract_gives_one_part_of_the_vouched_reserve() -> None:
    """Attack: Bob takes 16 newcomers' Offers an hour, 12 from anyone and 4 kept for those a principal in
    his dealings vouches for, any one such principal taking one of them. Mallory's one contract with Bob
    puts two keys of hers in his dealings: her principal P and her agent key M, a party -- and M can sign
    Mandates too. Once the open share is full, P's fresh agents take P's part, then M's fresh agents
    took M's part: each contract bought two parts of the reserve. Defence: a party of a contract of ours
    vouching for agents of its own takes from its principal's part (the principal it was bound to when
    the contract was made)."""
    clock = FixedClock()
    clock.now_ms -= clock.now_ms % STRANGER_PERIOD_MS
    bob, mallory = Party("bob", clock), Party("mallory", clock)
    b = make_peer(bob, clock, newcomer_offers=NewcomerOffers(per_period=16))
    _contract_with(b, bob, mallory)
    taken = 0
    for i in range(14):
        for voucher in (mallory.principal, mallory.agent):
            sybil = _under(voucher, f"sybil{i}-{voucher.did[-4:]}", clock)
            with contextlib.suppress(RateLimited):
                b.exchange(_low(sybil, bob).envelope, sybil.setup)
                taken += 1
    assert taken == 11 + 1  # the open share less her contract's Offer, and one part
