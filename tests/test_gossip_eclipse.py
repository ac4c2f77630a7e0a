"""ATT-011: what a peer gossips on is ranked by what it received last, never by a time the issuer chose.

A Checkpoint's issued_at_ms is its issuer's claim, and gossip takes future-dated Checkpoints like any
other (a fork proof needs no freshness). Keys and Mandates are free, so ranking by it would let a few
keys dated years ahead hold every gossip slot of every peer they reach, for good.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from peers import make_peer

from a2a_coop._proto.a2acoop.v1 import identity_pb2, trade_pb2
from a2a_coop.protocol.forks import ForkProof, verify_fork_proof
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.protocol.trust import DAY_MS
from a2a_coop.runtime import evidence, gossip
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.peer import Peer
from a2a_coop.runtime.strategy import Counter, HonestStrategy, OfferView, Reply
from a2a_coop.testing import FixedClock, LocalEscrow, Party

YEAR_MS = 365 * DAY_MS


def _checkpoint(party: Party, *, ahead_ms: int = 0) -> list[bytes]:
    cp = party.sign(
        "checkpoint",
        identity_pb2.Checkpoint(log_root=b""),
        ttl_ms=DAY_MS,
        issued_at_ms=party.clock.now_ms + ahead_ms,
    )
    return [party.mandate_vs.envelope, cp.envelope]


@pytest.mark.req("ATT-011")
def test_checkpoints_dated_years_ahead_do_not_crowd_out_what_we_received_since() -> None:
    """32 fresh keys, each under a Mandate valid for 20 years, gossip us Checkpoints dated 10 years
    ahead; then an honest key's Checkpoint, dated now, arrives. Expect the honest Checkpoint among what
    we gossip on (ranked by issued_at_ms, the 32 took every slot), first of the others'."""
    clock = FixedClock()
    peer = make_peer(Party("me", clock), clock)
    for i in range(gossip.MAX_CHECKPOINTS):
        sybil = Party(f"sybil-{i}", clock, mandate_caps={"valid_until_ms": clock.now_ms + 20 * YEAR_MS})
        peer.gossip(_checkpoint(sybil, ahead_ms=10 * YEAR_MS), [])
    assert len(peer.verifier.checkpoints) == gossip.MAX_CHECKPOINTS + 1  # theirs and our own head
    clock.advance(60_000)
    honest = Party("honest", clock)
    peer.gossip(_checkpoint(honest), [])
    envelopes, _ = gossip.outgoing(peer)
    others = [vs.issuer for vs in map(verify_statement, envelopes) if vs.body == "checkpoint"][1:]
    assert len(others) == gossip.MAX_CHECKPOINTS and others[0] == honest.did


def _fork(party: Party) -> ForkProof:
    """Two Checkpoints of ``party``'s key at seq 0: what anyone can make against a key of its own."""
    first = party.sign("checkpoint", identity_pb2.Checkpoint(log_root=b""), ttl_ms=DAY_MS)
    party.agent.writer.next_seq, party.agent.writer.prev = 0, b""
    second = party.sign("checkpoint", identity_pb2.Checkpoint(log_root=b""), ttl_ms=DAY_MS)  # new nonce
    return ForkProof(first.envelope, second.envelope)


@pytest.mark.req("ATT-011")
def test_fork_proofs_against_fresh_keys_do_not_hold_the_proof_slots_for_good() -> None:
    """32 proofs against fresh keys of the flooder's own arrive first; then a proof against a
    counterparty X (a contract with us) and one against a key Y we have no dealings with, then 32 more
    of the flooder's. Expect X's and Y's proofs passed on after the first flood (ranked by first
    receipt, the first 32 held every slot for good). After the second flood, X's still (proofs against
    keys in our dealings go first: ranked by receipt alone, a flooder forking a fresh key every round
    pushed it out), to X itself first, whether we call X or X calls us (its key's proof is how it
    learns it is forked, ATT-017); Y's is pushed out -- the bound's price for keys we do not deal with
    -- and a re-sent proof moves nothing."""
    clock = FixedClock()
    me = Party("me", clock)
    peer = make_peer(me, clock)
    flood = [_fork(Party(f"sybil-{i}", clock)) for i in range(2 * gossip.MAX_PROOFS)]
    peer.gossip([], flood[: gossip.MAX_PROOFS])
    x, y = Party("x", clock), Party("y", clock)
    peer.exchange(x.offer(me).envelope, [x.mandate_vs.envelope])  # we accept: a contract with X
    assert peer.deals_with(x.did) and not peer.deals_with(y.did)
    x.agent.writer.next_seq, x.agent.writer.prev = 0, b""  # X's key signs at a seq it used
    peer.gossip([], [_fork(x), _fork(y)])
    _, proofs = gossip.outgoing(peer)
    assert {verify_fork_proof(p) for p in proofs[:2]} == {x.did, y.did}
    peer.gossip([], flood[gossip.MAX_PROOFS :])
    peer.gossip([], flood[: gossip.MAX_PROOFS])  # known: stays where it was
    _, to_other = gossip.outgoing(peer)
    convicted = [verify_fork_proof(p) for p in to_other]
    assert convicted[0] == x.did and y.did not in convicted
    assert convicted[1] == verify_fork_proof(flood[-1])
    _, to_x = gossip.outgoing(peer, exclude=x.did)
    assert verify_fork_proof(to_x[0]) == x.did
    x.agent.writer.next_seq, x.agent.writer.prev = 0, b""  # a Checkpoint at seq 0 needs no log root
    _, back = peer.gossip(_checkpoint(x), [])  # X calls: its head Checkpoint says who it is
    assert verify_fork_proof(back[0]) == x.did


@pytest.mark.req("ATT-018", "ATT-013")
def test_a_flood_of_proofs_against_fresh_keys_is_bounded_and_the_proofs_we_need_still_kept() -> None:
    """With room for 3 proofs against keys outside our dealings, 5 such arrive, then one against a
    counterparty and one against our own key. Expect 3 of the flood kept, the 2 after refused, and both
    later proofs kept all the same (the counterparty faulty, our alarm up)."""
    clock = FixedClock()
    me, counterparty = Party("me", clock), Party("counterparty", clock)
    peer = make_peer(me, clock)
    peer.verifier.max_foreign_forks = 3
    flood = [_fork(Party(f"sybil-{i}", clock)) for i in range(5)]
    peer.gossip([], flood)
    assert set(peer.verifier.forks) == {verify_fork_proof(p) for p in flood[:3]}
    offer = counterparty.offer(me)
    peer.exchange(offer.envelope, [counterparty.mandate_vs.envelope])  # we hold the counterparty's now
    counterparty.agent.writer.next_seq, counterparty.agent.writer.prev = 0, b""  # forks its own offer
    peer.gossip([], [_fork(counterparty), _fork(me)])
    assert {counterparty.did, me.did} <= set(peer.verifier.forks)
    assert peer.fork_alarm is not None
    assert peer.reputation.score(counterparty.did).faulty


def _conflicting_checkpoints(party: Party) -> list[bytes]:
    """Two Checkpoints of ``party``'s fresh key at seq 0, as gossip envelopes: the second one is refused
    EQUIVOCATION, and the refusal carries the proof (ATT-011 keeps it)."""
    proof = _fork(party)
    return [proof.first, proof.second]


@pytest.mark.req("ATT-018", "ATT-013")
def test_no_flood_of_self_forked_keys_buys_its_way_past_the_bound() -> None:
    """With room for 5 proofs against keys outside our dealings, 40 fresh keys fork themselves, each in
    one of the two ways a proof reaches us: (a) a Checkpoint of the key gossiped first -- so we hold a
    statement of it, which once exempted the proof sent next -- then its fork proof; (b) two conflicting
    Checkpoints at one seq, gossiped as envelopes, whose refusal yields the proof (once kept without
    any bound). Expect at most 5 proofs held (and journaled) after both floods, and a counterparty's
    proof kept after them all the same."""
    clock = FixedClock()
    me, counterparty = Party("me", clock), Party("counterparty", clock)
    peer = make_peer(me, clock)
    peer.verifier.max_foreign_forks = 5
    for i in range(20):
        sybil = Party(f"sybil-a{i}", clock)
        sybil.agent.writer.next_seq, sybil.agent.writer.prev = 0, b""
        peer.gossip(_checkpoint(sybil), [])
        assert sybil.did in peer.verifier.chains  # we hold a statement of it
        sybil.agent.writer.next_seq, sybil.agent.writer.prev = 0, b""
        peer.gossip([], [_fork(sybil)])
    for i in range(20):
        peer.gossip(_conflicting_checkpoints(Party(f"sybil-b{i}", clock)), [])
    assert len(peer.verifier.forks) == 5
    peer.exchange(counterparty.offer(me).envelope, [counterparty.mandate_vs.envelope])
    counterparty.agent.writer.next_seq, counterparty.agent.writer.prev = 0, b""
    peer.gossip(_conflicting_checkpoints(counterparty), [])
    assert counterparty.did in peer.verifier.forks and len(peer.verifier.forks) == 6


@pytest.mark.req("ATT-013", "ATT-018")
def test_proofs_kept_before_a_restart_are_all_kept_after_it_whatever_the_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A journaled peer keeps 3 proofs against fresh keys and one against a counterparty; it restarts
    with room for 1 proof against keys outside its dealings. Expect all 4 proofs held again (ATT-013:
    kept across restarts; the bound refuses only new ones) and a fifth fresh key's proof refused."""
    clock = FixedClock()
    me, counterparty = Party("me", clock), Party("counterparty", clock)
    with Journal.open(tmp_path / "me.db") as journal:
        peer = make_peer(me, clock, journal=journal)
        peer.gossip([], [_fork(Party(f"sybil-{i}", clock)) for i in range(3)])
        peer.exchange(counterparty.offer(me).envelope, [counterparty.mandate_vs.envelope])
        counterparty.agent.writer.next_seq, counterparty.agent.writer.prev = 0, b""
        peer.gossip([], [_fork(counterparty)])
        kept = set(peer.verifier.forks)
        assert len(kept) == 4
    monkeypatch.setattr(evidence, "MAX_FOREIGN_FORK_PROOFS", 1)
    with Journal.open(tmp_path / "me.db") as journal:
        again = make_peer(me, clock, journal=journal, run=1)
        assert set(again.verifier.forks) == kept
        again.gossip([], [_fork(Party("sybil-late", clock))])
        assert set(again.verifier.forks) == kept


@pytest.mark.req("ATT-011")
def test_sybils_with_contracts_do_not_push_a_real_counterpartys_proof_out_of_gossip() -> None:
    """X, with whom we formed a contract first, forks; we hold the proof. Then 32 fresh keys each send
    us an Offer our strategy accepts (nothing it asks of us costs them: they need never deliver), so
    each is "in our dealings" (a contract of ours), and each forks its own key. Expect X's proof still
    among those we gossip on (ranked by receipt within our dealings, the 32 later ones took every slot,
    and X's victims and counterparties never heard of X's fork from us): a free contract made later
    buys no rank over X's."""
    clock = FixedClock()
    me, x = Party("me", clock), Party("x", clock)
    peer = make_peer(me, clock)
    peer.exchange(x.offer(me).envelope, [x.mandate_vs.envelope])  # we accept: a contract with X
    x.agent.writer.next_seq, x.agent.writer.prev = 0, b""
    peer.gossip([], [_fork(x)])
    for i in range(gossip.MAX_PROOFS):
        sybil = Party(f"sybil-{i}", clock)
        peer.exchange(sybil.offer(me).envelope, [sybil.mandate_vs.envelope])  # accepted: a contract
        assert peer.deals_with(sybil.did)
        sybil.agent.writer.next_seq, sybil.agent.writer.prev = 0, b""
        peer.gossip([], [_fork(sybil)])
    _, proofs = gossip.outgoing(peer)
    assert x.did in {verify_fork_proof(p) for p in proofs}


class _Haggler(HonestStrategy):
    """Counters every opening offer (asking more), so the negotiation stays open for the other's turn."""

    def respond(self, offer: OfferView) -> Reply:
        if offer.round > 1:
            return super().respond(offer)
        theirs = offer.proposal
        return Counter(trade_pb2.Offer(gives=theirs.wants, wants=theirs.gives, terms=theirs.terms))


@pytest.mark.req("ATT-018")
def test_fresh_keys_cycling_negotiations_do_not_get_proofs_past_the_bound() -> None:
    """With room for 5 proofs against keys outside our dealings, 20 fresh keys each open a negotiation
    with us (we counter: it stays open), gossip a proof against their own key while it is open (in our
    dealings: kept), then reject our counter. Never more than one is open; no contract forms. Expect 5
    of their proofs kept, the first five (they came while the bound had room: they count); the rest,
    kept beyond the bound while their key negotiated, dropped when it ends: were they spared for good,
    a peer's memory and journal (ATT-013 keeps them) would grow one proof per three requests of fresh
    keys, without bound."""
    clock = FixedClock()
    me = Party("me", clock)
    peer = make_peer(me, clock, strategy=_Haggler())
    peer.verifier.max_foreign_forks = 5
    for i in range(20):
        sybil = Party(f"sybil-{i}", clock)
        offer = sybil.offer(me)
        counter = verify_statement(peer.exchange(offer.envelope, [sybil.mandate_vs.envelope])[-1])
        assert counter.body == "counter" and peer.deals_with(sybil.did)
        sybil.agent.writer.next_seq, sybil.agent.writer.prev = 0, b""  # its key signs at a seq it used
        peer.gossip([], [_fork(sybil)])
        assert sybil.did in peer.verifier.forks
        sybil.agent.writer.next_seq, sybil.agent.writer.prev = 1, offer.digest  # its chain as we hold it
        peer.exchange(sybil.reject(counter).envelope, [])
        assert not peer.deals_with(sybil.did)
    assert set(peer.verifier.forks) == {Party(f"sybil-{i}", clock).did for i in range(5)}


def _bonded_contract(peer: Peer, me: Party, x: Party, escrow: LocalEscrow, bond: int) -> None:
    """X offers ``me`` a contract bonding ``bond`` of its own under ``escrow``; we accept, and the escrow
    locks X's bond (its BondLock reaches us as the escrow's answer, relayed)."""
    offer = x.offer(me, x.proposal(issuer_bond=bond, escrow=escrow.did))
    accept = verify_statement(peer.exchange(offer.envelope, [x.mandate_vs.envelope])[-1])
    assert accept.body == "accept"
    _, *locks = escrow.submit([*x.setup, *me.setup, offer.envelope, accept.envelope])
    for lock in locks:
        peer.exchange(lock, [escrow.mandate])


@pytest.mark.req("ATT-011")
def test_a_counterparty_that_bonded_with_us_outranks_free_contracts_made_before_it() -> None:
    """32 fresh keys form free contracts with us and fork; then X forms one bonding 100 of its own,
    locked by an escrow we trust, and forks; then 32 more free-contract keys fork. Expect X's proof
    passed on first (ranked by when each joined our contracts alone, the 32 earlier ones hold every
    slot for good; by receipt, the 32 later ones): a Sybil outranks X only by locking more funds with us."""
    clock = FixedClock()
    me, x = Party("me", clock), Party("x", clock)
    escrow = LocalEscrow(Party("escrow", clock), funds={x.did: 1_000})
    peer = make_peer(me, clock, context=[escrow.mandate])

    def free_contract_then_fork(name: str) -> None:
        sybil = Party(name, clock)
        peer.exchange(sybil.offer(me).envelope, [sybil.mandate_vs.envelope])
        assert peer.deals_with(sybil.did)
        sybil.agent.writer.next_seq, sybil.agent.writer.prev = 0, b""
        peer.gossip([], [_fork(sybil)])

    for i in range(gossip.MAX_PROOFS):
        free_contract_then_fork(f"early-{i}")
    _bonded_contract(peer, me, x, escrow, 100)
    bonded = peer.verifier.bonded_with  # X, its principal and the escrow holding X's bond; not us
    assert bonded == {x.did: 100, x.mandate_vs.issuer: 100, escrow.did: 100}
    x.agent.writer.next_seq, x.agent.writer.prev = 0, b""
    peer.gossip([], [_fork(x)])
    for i in range(gossip.MAX_PROOFS):
        free_contract_then_fork(f"late-{i}")
    _, proofs = gossip.outgoing(peer)
    assert len(proofs) == gossip.MAX_PROOFS and verify_fork_proof(proofs[0]) == x.did
    assert verify_fork_proof(proofs[1]) == Party("early-0", clock).did  # then the first to contract


@pytest.mark.req("ATT-018", "ATT-013")
def test_a_proof_that_counts_against_the_bound_is_never_dropped_and_a_spared_one_only_at_the_bound() -> None:
    """With room for 2 proofs against keys outside our dealings: K's proof comes while K has no
    dealings with us (it counts); K then opens a negotiation, a fresh key's proof fills the bound, and
    K ends the negotiation. Expect K's proof kept and K faulty (what K does later cannot drop it, nor
    reset the bound for it). S's proof comes while S negotiates (spared); S ends at the bound: expect
    S's proof dropped, as a proof arriving then is refused."""
    clock = FixedClock()
    me, k, s = Party("me", clock), Party("k", clock), Party("s", clock)
    peer = make_peer(me, clock, strategy=_Haggler())
    peer.verifier.max_foreign_forks = 2

    def negotiate(party: Party) -> VerifiedStatement:
        offer = party.offer(me)
        counter = verify_statement(peer.exchange(offer.envelope, [party.mandate_vs.envelope])[-1])
        assert counter.body == "counter" and peer.deals_with(party.did)
        party.agent.writer.next_seq, party.agent.writer.prev = offer.header.seq + 1, offer.digest
        return counter

    k.agent.writer.next_seq, k.agent.writer.prev = 0, b""
    peer.gossip([], [_fork(k)])
    counter = negotiate(k)
    peer.gossip([], [_fork(Party("filler", clock))])
    assert peer.verifier.foreign_forks == 2
    peer.exchange(k.reject(counter).envelope, [])
    assert k.did in peer.verifier.forks and peer.reputation.score(k.did).faulty
    counter = negotiate(s)
    s.agent.writer.next_seq, s.agent.writer.prev = 0, b""
    peer.gossip([], [_fork(s)])
    assert s.did in peer.verifier.forks and peer.verifier.foreign_forks == 2  # spared
    s.agent.writer.next_seq, s.agent.writer.prev = 1, counter.header.refs[0]
    peer.exchange(s.reject(counter).envelope, [])
    assert s.did not in peer.verifier.forks and not peer.reputation.score(s.did).faulty
    assert len(peer.verifier.forks) == 2


def _restarted(party: Party, clock: FixedClock, journal: Journal, **kw: Any) -> Peer:
    """``party``'s Peer started again from ``journal``, with nonces of its own (make_peer's restart
    from the first, which the journal holds already)."""
    return Peer(party.agent.key, party.mandate_vs.envelope, clock=lambda: clock.now_ms, journal=journal, **kw)


@pytest.mark.req("ATT-013", "ATT-018")
def test_a_spared_proof_is_spared_after_a_restart_and_once_dropped_stays_dropped(tmp_path: Path) -> None:
    """A journaled peer with room for 1 proof against keys outside its dealings keeps one such; S's
    proof comes while S negotiates (spared), and C's while C holds a contract with us. It restarts.
    Expect all three kept, the bound still spending 1 (spared ones not counted after a restart); S
    then ends its negotiation: its proof dropped, and not back after a second restart."""
    clock = FixedClock()
    me, s, c = Party("me", clock), Party("s", clock), Party("c", clock)
    path = tmp_path / "me.db"
    with Journal.open(path) as journal:
        peer = make_peer(me, clock, journal=journal, strategy=_Haggler())
        peer.verifier.max_foreign_forks = 1
        peer.gossip([], [_fork(Party("stranger", clock))])
        offer = s.offer(me)
        counter = verify_statement(peer.exchange(offer.envelope, [s.mandate_vs.envelope])[-1])
        s.agent.writer.next_seq, s.agent.writer.prev = 0, b""
        peer.gossip([], [_fork(s)])
        c_offer = c.offer(me)
        c_counter = verify_statement(peer.exchange(c_offer.envelope, [c.mandate_vs.envelope])[-1])
        peer.exchange(c.accept(c_counter).envelope, [])  # a contract with C
        c.agent.writer.next_seq, c.agent.writer.prev = 0, b""
        peer.gossip([], [_fork(c)])
        kept = set(peer.verifier.forks)
        assert len(kept) == 3 and peer.verifier.foreign_forks == 1
    with Journal.open(path) as journal:
        again = _restarted(me, clock, journal, strategy=_Haggler())
        again.verifier.max_foreign_forks = 1
        assert set(again.verifier.forks) == kept and again.verifier.foreign_forks == 1
        s.agent.writer.next_seq, s.agent.writer.prev = 1, offer.digest
        again.exchange(s.reject(counter).envelope, [])
        assert set(again.verifier.forks) == kept - {s.did}
    with Journal.open(path) as journal:
        assert set(_restarted(me, clock, journal).verifier.forks) == kept - {s.did}


@pytest.mark.req("ATT-018")
def test_a_spared_proof_whose_key_left_our_dealings_before_a_crash_is_dropped_at_the_next_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A journal holds one proof that counts and one marked spared against a key with no dealings with
    us (as when a peer stops between a negotiation's end and the drop). Restarted with room for 1, expect
    the spared one dropped, from the journal too, and the other kept."""
    from a2a_coop.runtime.peer import META_FORKS

    clock = FixedClock()
    me, counted, gone = Party("me", clock), Party("counted", clock), Party("gone", clock)
    with Journal.open(tmp_path / "me.db") as journal:
        make_peer(me, clock, journal=journal)
        for party, spared in ((counted, []), (gone, [1])):
            proof = _fork(party)
            journal.put_meta(f"{META_FORKS}/{party.did}", [proof.first, proof.second, *spared])
    monkeypatch.setattr(evidence, "MAX_FOREIGN_FORK_PROOFS", 1)
    with Journal.open(tmp_path / "me.db") as journal:
        peer = _restarted(me, clock, journal)
        assert set(peer.verifier.forks) == {counted.did}
        assert [key for key, _ in journal.meta_under(META_FORKS + "/")] == [f"{META_FORKS}/{counted.did}"]


@pytest.mark.req("ATT-018", "RPC-014")
def test_a_proof_gossiped_against_a_key_whose_negotiation_went_dormant_meets_the_bound() -> None:
    """S opens a negotiation we counter, then says nothing: once its outstanding offer is past its expiry
    plus skew (dormant, RPC-014) S is out of our dealings, and a proof against it gossiped to us at the
    bound is not kept, as against any key outside them. It was kept, spared the bound: nothing swept the
    dormant negotiation out of our dealings (no open cap was reached, no Offer of S's came)."""
    clock = FixedClock()
    me, s = Party("me", clock), Party("s", clock)
    peer = make_peer(me, clock, strategy=_Haggler())
    peer.verifier.max_foreign_forks = 1
    peer.gossip([], [_fork(Party("filler", clock))])
    offer = s.offer(me, ttl_ms=60_000)
    counter = verify_statement(peer.exchange(offer.envelope, [s.mandate_vs.envelope])[-1])
    assert counter.body == "counter" and peer.deals_with(s.did)
    clock.advance(counter.header.expires_at_ms - clock.now_ms + peer.verifier.skew_ms + 1_000)
    s.agent.writer.next_seq, s.agent.writer.prev = 0, b""
    peer.gossip([], [_fork(s)])
    assert s.did not in peer.verifier.forks and peer.verifier.foreign_forks == 1
