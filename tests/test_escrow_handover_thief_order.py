"""ESC-022 (e) in every arrival order: a revoked escrow key's own statements about its contracts from the
hand-over's time on count for nothing in a view that holds the hand-over -- whether it heard them before
the hand-over or after.

K1, Alice and Bob's escrow, is stolen; its principal revokes it from a millisecond on and hands its
contracts to K2. The thief runs K1 on: it stamps Alice's claim, upholds it and forfeits Bob's bond to her
(or stamps Bob's Revoke and forfeits his bond for it) -- each statement dated after K1's revocation took
effect. Before, what a view made of them hung on the order it heard them in (three "Left" items of
ESC-022 (e)): a view that took the thief's statements before the revocation kept the contract BREACHED,
Bob's bond forfeited, until K2 spoke, where one that heard the revocation first held the claim not
effective; K2's DISMISS of the claim was refused as "ruled before" where the thief's UPHOLD came first; a
Revoke the thief's Stamp made effective stayed effective where that Stamp came first. Now a view that
comes to honour the hand-over rebuilds each contract naming K1 from the statements held that count
(Verifier._rebuild_handed_over): every order of the same statements ends in one state, with one
settlement of the bonds.

Who chose what: the thief the times, seqs and gossip order of K1's statements; the principal the
revocation's effective_ms (the hand-over's time); K2 its own statements' times; a relay the order a view
hears them in -- which no longer decides anything.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from peers import handed_over, make_peer
from test_escrow_handover import BOND, Story, _story, _successor, taking

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2, reputation_pb2, trade_pb2
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.escrow import Escrow
from a2a_coop.protocol.negotiation import CLAIM_WINDOW_MS, DEFAULT_RESPONSE_WINDOW_MS, State
from a2a_coop.protocol.reputation import attestation_due, rate
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.protocol.verifier import Verifier
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.peer import Peer, drive
from a2a_coop.runtime.strategy import WithholdingStrategy
from a2a_coop.runtime.trade import claim_breach, contract_evidence, relay_escrow_answers
from a2a_coop.testing import FixedClock, LocalEscrow, Party, _LedgerSigner

_ROLES = [{}, {"evidence_view": False}]  # a view of evidence; a live receiver's (or an escrow's) view


@dataclass
class World:
    """One story, signed once: what every view holds first (the trade, Alice's claim), K1's revocation by
    its principal, and the hand-over of K1 to K2."""

    s: Story
    base: list[VerifiedStatement]
    revocation: VerifiedStatement
    k2: Party

    @property
    def thief(self) -> Party:
        return self.s.escrow  # K1, held by its thief from the revocation's effective_ms on

    def view(self, order: Sequence[VerifiedStatement], **role: object) -> tuple[Verifier, list[str]]:
        """A fresh view that took the base, then ``order``: with the issuers of those it refused."""
        v = Verifier(**role)  # type: ignore[arg-type]
        for vs in self.base:
            v.accept(vs.envelope)
        refused = []
        for vs in order:
            try:
                v.accept(vs.envelope)
            except CoopError:
                refused.append(vs.issuer)
        return v, refused

    def outcome(self, v: Verifier) -> tuple[str, frozenset[str], frozenset[str], int, int]:
        """The contract as ``v`` holds it: its state, the parties whose bond was forfeited and settled, and
        how many claims and Revokes are effective."""
        neg = v.negotiations.get(self.s.nid)
        c = neg.contract
        assert c is not None
        dids = {self.s.alice.did: "alice", self.s.bob.did: "bob"}
        return (
            neg.state.name,
            frozenset(dids[p] for p in c.forfeited),
            frozenset(dids[p] for p in c.settled),
            len(c.claims),
            len(c.revokes),
        )


def _world(revocation: trade_pb2.Revocation | None = None) -> World:
    with taking() as taken:
        s = _story(revocation)
    base = list(taken)
    rev = s.escrow.principal.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=s.escrow.did, effective_ms=s.clock.now_ms - 10)
    )
    s.take(rev)
    k2 = _successor(s, "escrow2", s.escrow.principal)
    return World(s, base, rev, k2)


def _stamp(by: Party, digest: bytes) -> VerifiedStatement:
    return by.sign("stamp", commitment_pb2.Stamp(statements=[digest]))


def _ruling(w: World, by: Party, decision: int, evidence: bytes = b"") -> VerifiedStatement:
    assert w.s.claim is not None
    ruling = commitment_pb2.Ruling(
        contract=w.s.accept.digest, claim=w.s.claim.digest, decision=decision, evidence=evidence
    )
    return by.sign("ruling", ruling, negotiation_id=w.s.nid)


def _forfeit(w: World, by: Party, cause: bytes) -> VerifiedStatement:
    forfeit = commitment_pb2.Forfeit(
        contract=w.s.accept.digest, party=w.s.bob.did, amount=BOND, beneficiary=w.s.alice.did, cause=cause
    )
    return by.sign("forfeit", forfeit, audience=w.s.bob.did, negotiation_id=w.s.nid)


def _settle(w: World, by: Party, body: str, party: Party) -> VerifiedStatement:
    kind = {"release": commitment_pb2.Release, "refund": commitment_pb2.Refund}[body]
    msg = kind(contract=w.s.accept.digest, party=party.did, amount=BOND)
    return by.sign(body, msg, audience=party.did, negotiation_id=w.s.nid)


def _thief_upholds(w: World) -> list[VerifiedStatement]:
    """K1's thief stamps Alice's claim, upholds it a response window later, forfeits Bob's bond to her and
    releases hers -- all dated after K1's revocation took effect (the clock moves on by the window)."""
    assert w.s.claim is not None
    stamp = _stamp(w.thief, w.s.claim.digest)
    w.s.clock.advance(DEFAULT_RESPONSE_WINDOW_MS + 1)
    uphold = _ruling(w, w.thief, commitment_pb2.RULING_DECISION_UPHOLD)
    return [stamp, uphold, _forfeit(w, w.thief, w.s.claim.digest), _settle(w, w.thief, "release", w.s.alice)]


def _k2_lapses(w: World) -> list[VerifiedStatement]:
    """K2, never shown what the thief stamped, lapses the contract a millisecond after its claim window
    and refunds both bonds (CMT-006; the clock moves there)."""
    c = w.s.verifier.negotiations.get(w.s.nid).contract
    assert c is not None
    w.s.clock.now_ms = max(w.s.clock.now_ms, c.last_deadline_ms + CLAIM_WINDOW_MS + 1)
    lapse = w.k2.sign(
        "ruling",
        commitment_pb2.Ruling(contract=w.s.accept.digest, decision=commitment_pb2.RULING_DECISION_LAPSE),
        negotiation_id=w.s.nid,
    )
    return [lapse, *(_settle(w, w.k2, "refund", p) for p in (w.s.bob, w.s.alice))]


def _interleavings(
    a: Sequence[VerifiedStatement], b: Sequence[VerifiedStatement]
) -> Iterator[list[VerifiedStatement]]:
    """Every merge of ``a`` and ``b`` keeping each one's own order."""
    n = len(a) + len(b)
    for places in itertools.combinations(range(n), len(a)):
        ia, ib = iter(a), iter(b)
        yield [next(ia) if i in places else next(ib) for i in range(n)]


def _orders(
    w: World, thief: Sequence[VerifiedStatement], k2s: Sequence[VerifiedStatement]
) -> list[list[VerifiedStatement]]:
    """Every order a view may hear them in: the thief's statements (each after the one it rests on: its
    Stamp before its Ruling) merged every way with the revocation and the hand-over -- in either order --
    followed by K2's statements (which a view takes only once it honours the hand-over)."""
    orders = []
    for handover in ([w.revocation, w.k2.mandate_vs], [w.k2.mandate_vs, w.revocation]):
        orders += list(_interleavings(thief, [*handover, *k2s]))
    return orders


def _outcomes(
    w: World, orders: list[list[VerifiedStatement]], role: dict[str, object]
) -> set[tuple[object, ...]]:
    seen = set()
    for order in orders:
        v, refused = w.view(order, **role)
        # Only the thief's statements are refused (WRONG_PARTY heard while the hand-over is honoured,
        # KEY_REVOKED or what follows from it before): a successor's refused ("ruled before", "settled
        # before") would be the order deciding again.
        assert set(refused) <= {w.thief.did}
        seen.add(w.outcome(v))
    return seen


def test_the_thiefs_statements_moved_the_contract_where_heard_before_the_revocation() -> None:
    """The attack happened: K1's statements are dated after its revocation's effective_ms, and a view
    that heard them before it took them all -- BREACHED, Bob's bond forfeited, the claim effective."""
    w = _world()
    thief = _thief_upholds(w)
    cut = w.revocation.statement.key_revocation.effective_ms
    assert all(vs.issuer == w.thief.did and vs.issued_at_ms >= cut for vs in thief)
    v, refused = w.view(thief)
    assert refused == []
    assert w.outcome(v) == ("BREACHED", frozenset({"bob"}), frozenset({"alice", "bob"}), 1, 0)


@pytest.mark.req("ESC-022", "NEG-015", "WIT-005")
@pytest.mark.parametrize("role", _ROLES)
def test_the_thiefs_uphold_counts_for_nothing_once_the_hand_over_is_held_in_every_order(
    role: dict[str, object],
) -> None:
    """Left item 1, closed: before K2 speaks, every order of the thief's Stamp, UPHOLD, Forfeit and
    Release, K1's revocation and K2's hand-over (30 orders) ends BONDED -- the claim not effective (no
    Stamp of it counts), no bond settled -- as in a view that heard the hand-over first. Before, the 15
    orders that took the thief's statements first ended BREACHED with Bob's bond forfeited."""
    w = _world()
    orders = _orders(w, _thief_upholds(w), [])
    assert len(orders) == 30
    assert _outcomes(w, orders, role) == {("BONDED", frozenset(), frozenset(), 0, 0)}


@pytest.mark.req("ESC-022", "NEG-015", "CMT-002")
@pytest.mark.parametrize("role", _ROLES)
def test_a_successors_dismissal_of_a_claim_the_thief_upheld_is_taken_in_every_order(
    role: dict[str, object],
) -> None:
    """Left item 2, closed: K2 stamps Alice's claim and dismisses it a response window later; every order
    of those, the thief's statements and the hand-over (140 orders) takes K2's DISMISS -- PERFORMING, no
    bond settled. Before, the orders that took the thief's UPHOLD first refused the DISMISS BODY_INVALID
    (the claim ruled before) and ended BREACHED, Bob's bond forfeited."""
    w = _world()
    thief = _thief_upholds(w)
    assert w.s.claim is not None
    stamp = _stamp(w.k2, w.s.claim.digest)
    w.s.clock.advance(DEFAULT_RESPONSE_WINDOW_MS + 1)
    # the Delivery of Bob's that K2 found (whether it was timely is the audit's, AUD-004)
    delivery = w.s.bob.sign(
        "delivery",
        commitment_pb2.Delivery(contract=w.s.accept.digest, item_index=0),
        audience=w.s.alice.did,
        negotiation_id=w.s.nid,
    )
    k2s = [stamp, _ruling(w, w.k2, commitment_pb2.RULING_DECISION_DISMISS, delivery.digest)]
    orders = _orders(w, thief, k2s)
    assert len(orders) == 140
    assert _outcomes(w, orders, role) == {("PERFORMING", frozenset(), frozenset(), 1, 0)}
    # the DISMISS is the escrow's ruling in every one of them
    for order in orders[:3] + orders[-3:]:
        v, _ = w.view(order, **role)
        c = v.negotiations.get(w.s.nid).contract
        assert c is not None and set(c.rulings.values()) == {commitment_pb2.RULING_DECISION_DISMISS}


def _thief_stamps_a_revoke(w: World) -> tuple[VerifiedStatement, list[VerifiedStatement]]:
    """Bob revokes (forfeit_bond terms); K1's thief stamps the Revoke, forfeits Bob's bond to Alice for it
    (CMT-003) and releases hers."""
    revoke = w.s.bob.revoke(w.s.accept, w.s.alice, "leaving")
    stamp = _stamp(w.thief, revoke.digest)
    forfeit = _forfeit(w, w.thief, revoke.digest)
    return revoke, [stamp, forfeit, _settle(w, w.thief, "release", w.s.alice)]


@pytest.mark.req("ESC-022", "NEG-015", "WIT-005", "CMT-003")
@pytest.mark.parametrize("role", _ROLES)
def test_a_revoke_the_thief_stamped_takes_no_effect_in_every_order(role: dict[str, object]) -> None:
    """Left item 3, closed: Bob's Revoke stamped only by K1's thief (after the hand-over's time) is not
    effective in any view that holds the hand-over, whatever it heard first; K2, never shown the Revoke,
    lapses the contract and refunds both bonds: every order (112) ends EXPIRED, both bonds refunded, no
    Revoke effective. Before, the orders that took the thief's Stamp first ended REVOKED, Bob's bond
    forfeited for a Revoke no escrow that speaks for the contract ever stamped."""
    w = _world(trade_pb2.Revocation(allowed=True, forfeit_bond=True))
    revoke, thief = _thief_stamps_a_revoke(w)
    w.base.append(revoke)
    v, refused = w.view(thief)  # the attack: heard before the revocation, the thief's Stamp made it effective
    assert not refused and w.outcome(v) == ("REVOKED", frozenset({"bob"}), frozenset({"alice", "bob"}), 0, 1)
    lapse = _k2_lapses(w)
    before = _outcomes(w, _orders(w, thief, []), role)
    assert before == {("BONDED", frozenset(), frozenset(), 0, 0)}
    orders = _orders(w, thief, lapse)
    assert len(orders) == 112
    assert _outcomes(w, orders, role) == {("EXPIRED", frozenset(), frozenset({"alice", "bob"}), 0, 0)}


@pytest.mark.req("ESC-022")
def test_a_contract_the_thief_ended_counts_again_once_the_hand_over_is_held() -> None:
    """What a view derives from the contract follows it: ended by the thief's UPHOLD it held no exclusive
    key and counted in no one's outstanding value (MND-010) past that UPHOLD; once the view holds the
    hand-over the contract is live again -- not finished, as in a view that heard the hand-over first."""
    w = _world()
    thief = _thief_upholds(w)
    after = thief[1].issued_at_ms + 1  # a statement of Bob's dated just after the thief's UPHOLD

    def outstanding(v: Verifier) -> int:
        return v.exposure.exposure(w.s.accept.mandate_digest).outstanding(after)

    early, _ = w.view(thief)
    assert early.negotiations.get(w.s.nid).contract_finished_ms is not None
    assert outstanding(early) == 0  # freed by the thief's UPHOLD
    seen = set()
    for order in ([*thief, w.revocation, w.k2.mandate_vs], [w.revocation, w.k2.mandate_vs, *thief]):
        v, _ = w.view(order)
        neg = v.negotiations.get(w.s.nid)
        assert neg.contract_finished_ms is None and not neg.contract_finished
        seen.add(outstanding(v))
    assert len(seen) == 1 and seen.pop() > 0  # counted again, as where the hand-over came first


class _K2:
    """The successor K2 in this process, answering as the gRPC service does (ESC-002, ESC-023 (c))."""

    def __init__(self, escrow: Escrow, mandate: bytes, clock: FixedClock) -> None:
        self.escrow, self.mandate, self.clock = escrow, mandate, clock
        self.did = escrow.did

    def submit(self, envelopes: Sequence[bytes]) -> list[bytes]:
        return self.escrow.with_mandates(
            self.mandate, [vs.envelope for vs in self.escrow.submit(envelopes, self.clock.now_ms)]
        )

    def tick(self) -> list[bytes]:
        return self.escrow.with_mandates(
            self.mandate, [vs.envelope for vs in self.escrow.tick(self.clock.now_ms)]
        )


@pytest.mark.req("ESC-022", "ESC-023")
def test_a_peer_that_took_the_thiefs_forfeit_holds_the_contract_live_once_it_hears_the_hand_over(
    tmp_path: Path,
) -> None:
    """A live receiver: Alice's and Bob's peers, bonded at K1; Alice delivers, Bob never does, Alice claims.
    K1 is stolen and its thief runs K1's escrow on: it stamps the claim, upholds it, forfeits Bob's bond to
    Alice and releases hers, and both peers take all that live (nothing was revoked yet) -- BREACHED, Bob's
    bond forfeited. Then K1's principal revokes K1 from the theft and hands its contracts to K2, whose
    answer's context (its Mandate, the revocation) both peers take: the thief's statements count for
    nothing now, the contract is live again in both (PERFORMING, no bond settled), as in a peer that heard
    the hand-over first -- and Bob's peer, restarted from its journal, holds the same. K2, never shown the
    claim, lapses the contract and refunds both bonds: both peers take it (not refused as a second
    settlement), EXPIRED. What a peer signed on the thief's state stays signed (an Attestation, ATT-015):
    it is weighed by the settlement each reader derives, as any attestation is."""
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    k1 = LocalEscrow(Party("escrow", clock), funds={alice.did: 1_000, bob.did: 1_000})
    pa = make_peer(alice, clock, context=[k1.mandate])
    journal = Journal.open(tmp_path / "bob.db")
    pb = make_peer(bob, clock, context=[k1.mandate], strategy=WithholdingStrategy(every=1), journal=journal)
    offer = pa.propose(bob.did, alice.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=k1.did))
    drive(pa, pb.exchange, offer)
    nid = offer.header.negotiation_id
    neg = pa.negotiation(nid)
    relay_escrow_answers(pa, pb, k1.submit(contract_evidence(pa, neg)))
    live = pb.negotiation(nid).state
    assert live is State.PERFORMING  # Alice delivered; Bob owes his item
    honest = k1.escrow.transcript()  # K1's ledger up to the theft
    c = neg.contract
    assert c is not None
    clock.now_ms = c.last_deadline_ms + 1_000
    claim = claim_breach(pa, neg, 0, "never arrived")
    pb.exchange(claim.envelope)
    theft = clock.now_ms
    clock.advance(10)
    # K1's thief runs K1's escrow on: Alice's claim stamped, upheld, Bob's bond forfeited, Alice's released
    relay_escrow_answers(pa, pb, k1.submit([claim.envelope]))
    clock.advance(DEFAULT_RESPONSE_WINDOW_MS + 30_000)
    relay_escrow_answers(pa, pb, [k1.mandate, *k1.tick()])
    for peer in (pa, pb):
        n = peer.negotiation(nid)
        assert n.state is State.BREACHED and n.contract is not None and n.contract.forfeited == {bob.did}
    # K1's principal revokes K1 from the theft and hands its contracts to K2
    k2_party, rev, handover = handed_over(k1.party, clock, theft)
    k2 = _K2(
        Escrow(
            _LedgerSigner(k2_party.agent),
            handover.digest,
            setup=[handover.envelope],
            predecessor=[*honest, rev.envelope],
        ),
        handover.envelope,
        clock,
    )
    clock.advance(1)
    for peer in (pa, pb):
        peer.hold([handover.envelope, rev.envelope], answer_of="")  # K2's answer's context (ESC-023 (c))

    def holds(peer: Peer, state: State, settled: set[str]) -> bool:
        n = peer.negotiation(nid)
        assert n.contract is not None
        return (n.state, n.contract.forfeited, n.contract.settled) == (state, frozenset(), settled)

    assert holds(pa, live, set()) and holds(pb, live, set())
    journal.close()
    with Journal.open(tmp_path / "bob.db") as again:
        pb = make_peer(
            bob, clock, context=[k1.mandate], strategy=WithholdingStrategy(every=1), journal=again, run=1
        )
        assert holds(pb, live, set())  # restarted from its journal: the same
        # K2 lapses the contract at the claim window's end and refunds both bonds: taken by both
        clock.now_ms = c.last_deadline_ms + CLAIM_WINDOW_MS + 1
        relay_escrow_answers(pa, pb, k2.tick())
        assert holds(pa, State.EXPIRED, {alice.did, bob.did}) and holds(
            pb, State.EXPIRED, {alice.did, bob.did}
        )


@pytest.mark.req("ESC-022", "ATT-005", "ATT-006")
def test_alices_rating_of_bob_weighs_the_same_in_every_order() -> None:
    """What the contract's settlement makes of a rating follows it (ATT-005, ATT-006): Alice attests Bob's
    breach as the thief's Forfeit showed it (what her peer signs, ATT-015, in a view that heard the thief
    first); K2 then lapses the contract and refunds both bonds. Every order of the thief's statements, the
    hand-over and K2's lapse weighs her attestation alike -- Bob's bond refunded, not forfeited: the
    settlement the statements that count give. Before, the orders that took the thief's Forfeit first
    rated it on the Forfeit (score 0), the others on K2's Refund."""
    w = _world()
    thief = _thief_upholds(w)
    lapse = _k2_lapses(w)
    first, _ = w.view(thief)
    neg = first.negotiations.get(w.s.nid)
    msg = attestation_due(first, neg, w.s.alice.did)
    assert msg is not None and msg.outcome == reputation_pb2.OUTCOME_BREACHED
    attestation = w.s.alice.sign("attestation", msg)
    seen = set()
    for order in _orders(w, thief, lapse):
        v, refused = w.view([*order, attestation])
        assert set(refused) <= {w.thief.did}
        r = rate(v, v.statements[attestation.digest], [w.s.escrow.did])
        seen.add((r.score, r.stake, r.settled_ms))
    assert len(seen) == 1
    score, stake, settled_ms = seen.pop()
    assert score > 0.0 and stake > 0 and settled_ms == lapse[1].issued_at_ms  # K2's Refund of Bob's bond
