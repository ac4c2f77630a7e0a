"""asked31: ESC-013 (i)'s Checkpoint by whoever speaks for the escrow, bounded, and what frees an offer.

An offer's escrow E, its key revoked and its contracts handed to a successor N (ESC-022, ESC-023), is
answered for by N: N's Checkpoint naming Bob's offer past its bonding cutoff frees it exactly when Bob's
view honours the hand-over and the Checkpoint is dated from the hand-over's time on (the earliest
effective_ms of a revocation of E, ESC-022 (b)) -- a key with no hand-over, or a hand-over whose time
comes after the Checkpoint, frees nothing.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import grpc
import pytest
from peers import make_peer
from test_attack10 import _car, _car_market
from test_attack11 import CountersWithTheCar
from test_hidden_accept import Market, bobs_offer_at_a_served_escrow, escrow_opener

from a2a_coop._proto.a2acoop.v1 import identity_pb2
from a2a_coop.protocol.errors import CoopError, Equivocation, KeyRevoked
from a2a_coop.protocol.escrow import Escrow
from a2a_coop.protocol.negotiation import BOND_GRACE_MS, claims_end_ms, claims_over_ms, proposal_of
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.runtime.node import EscrowWitness
from a2a_coop.runtime.trade import ask_escrow_alone
from a2a_coop.testing import DAY_MS, Party, Signer, _LedgerSigner, service
from a2a_coop.transport.errors import TransportError


class _Successor:
    """E's principal revokes E (effective at ``effective_ms``) and hands its contracts to N, which takes
    E's transcript over; ``submit`` answers as N's service does (its Mandate, E's revocation, what it
    signed)."""

    def __init__(self, m: Market, effective_ms: int, *, appointer: Signer | None = None) -> None:
        self.market = m
        esc = m.escrow.party
        self.revocation = esc.principal.sign(
            "key_revocation", identity_pb2.KeyRevocation(key=esc.did, effective_ms=effective_ms)
        )
        self.party = Party("escrow2", m.clock)
        mandate = identity_pb2.Mandate()
        mandate.CopyFrom(esc.mandate_vs.statement.mandate)
        mandate.agent, mandate.succeeds = self.party.did, esc.did
        self.handover = (appointer or esc.principal).sign("mandate", mandate, ttl_ms=365 * DAY_MS)
        self.submits = 0

    def start(self) -> Escrow:
        self.escrow = Escrow(
            _LedgerSigner(self.party.agent),
            self.handover.digest,
            setup=[self.handover.envelope],
            predecessor=[*self.market.escrow.escrow.transcript(), self.revocation.envelope],
        )
        return self.escrow

    def submit(self, envelopes: Sequence[bytes]) -> list[bytes]:
        self.submits += 1
        signed = self.escrow.submit(envelopes, self.market.clock.now_ms)
        return self.escrow.with_mandates(self.handover.envelope, [vs.envelope for vs in signed])


def _bobs_unanswered_offer(m: Market) -> VerifiedStatement:
    offer = m.b.propose(m.mallory.did, m.proposal())
    m.escrow.submit([*m.b.send_context(), offer.envelope])
    return offer


def _past_cutoff(offer: VerifiedStatement) -> int:
    return offer.header.expires_at_ms + BOND_GRACE_MS


@pytest.mark.req("ESC-013", "ESC-022", "ESC-023")
@pytest.mark.parametrize("handed_over", ["before the cutoff", "after the cutoff"])
def test_the_successors_checkpoint_frees_the_offer_it_speaks_for(handed_over: str) -> None:
    """E revoked before Bob's offer's cutoff (N then witnesses whatever Accept comes) or after it (N took
    E's ledger over up to then): N's Checkpoint naming the offer, past the cutoff, frees it."""
    m = Market()
    offer = _bobs_unanswered_offer(m)
    cutoff = _past_cutoff(offer)
    effective = m.clock.now_ms + 1 if handed_over == "before the cutoff" else cutoff + 1_000
    n = _Successor(m, effective)
    m.clock.now_ms = max(effective, cutoff + 60_001)
    n.start()
    ask_escrow_alone(m.b, n, m.b.negotiation(offer.negotiation_id))  # type: ignore[arg-type]
    checkpoints = [vs for vs in map(verify_statement, n.escrow.ledger()) if vs.body == "checkpoint"]
    assert [list(vs.header.refs) for vs in checkpoints] == [[offer.digest]]
    assert m.b.asked_at_escrow(offer.negotiation_id)


class _Answers:
    """Whoever answers Bob's Submit with ``answer`` (the escrow never sees it)."""

    def __init__(self, answer: Sequence[bytes]) -> None:
        self.answer = list(answer)

    def submit(self, envelopes: Sequence[bytes]) -> list[bytes]:
        return list(self.answer)


def _checkpoint(signer: Signer, mandate: bytes, offer: VerifiedStatement) -> VerifiedStatement:
    """``signer``'s Checkpoint naming ``offer`` (its log_root any 32 bytes past seq 0: no view holds the
    whole chain to check it against, CHN-007)."""
    root = bytes(32) if signer.writer.next_seq else b""
    return signer.sign(
        "checkpoint", identity_pb2.Checkpoint(log_root=root), mandate=mandate, refs=[offer.digest]
    )


@pytest.mark.req("ESC-013", "ESC-022")
@pytest.mark.parametrize("who", ["a stranger under E's Mandate", "a stranger's appointee", "E's thief"])
def test_a_checkpoint_by_a_key_that_does_not_speak_for_the_escrow_frees_nothing(who: str) -> None:
    """Past the cutoff, the answer carries a Checkpoint naming Bob's offer signed by a key that does not
    speak for E: a stranger (E's public Mandate replayed before it), one a stranger's principal
    "handed" E to, or E's own key after its principal revoked it (its thief, ESC-022 (e)); none frees the
    offer, and E's successor's own answer then does."""
    m = Market()
    offer = _bobs_unanswered_offer(m)
    cutoff = _past_cutoff(offer)
    stranger = Party("stranger", m.clock)
    n = _Successor(
        m, cutoff + 1_000, appointer=stranger.principal if who == "a stranger's appointee" else None
    )
    m.clock.now_ms = cutoff + 60_001
    n.start()
    if who == "a stranger under E's Mandate":
        its = _checkpoint(stranger.agent, stranger.mandate_vs.digest, offer)
        answer = [m.escrow.mandate, *stranger.setup, its.envelope]
    elif who == "a stranger's appointee":
        answer = n.escrow.with_mandates(
            n.handover.envelope, [_checkpoint(n.party.agent, n.handover.digest, offer).envelope]
        )
    else:
        esc = m.escrow.party
        thiefs = _checkpoint(esc.agent, esc.mandate_vs.digest, offer)
        answer = [m.escrow.mandate, *n.escrow.with_mandates(n.handover.envelope, [])[1:], thiefs.envelope]
        m.b.hold([n.handover.envelope])  # Bob's view honours the hand-over
    with contextlib.suppress(KeyRevoked):  # E's thief: refused by Bob's view (KEY-004)
        ask_escrow_alone(m.b, _Answers(answer), m.b.negotiation(offer.negotiation_id))  # type: ignore[arg-type]
    assert not m.b.asked_at_escrow(offer.negotiation_id)
    if who != "a stranger's appointee":
        ask_escrow_alone(m.b, n, m.b.negotiation(offer.negotiation_id))  # type: ignore[arg-type]
        assert m.b.asked_at_escrow(offer.negotiation_id)


@pytest.mark.req("ESC-013", "ESC-022")
def test_a_successors_checkpoint_dated_before_the_hand_overs_time_frees_nothing() -> None:
    """N's Checkpoint naming Bob's offer is dated past the cutoff, but before the revocation of E takes
    effect -- E still spoke for itself then, and an Accept it stamped by the cutoff N never saw (ESC-023
    takes the ledger over up to that time): Bob's view takes the Checkpoint, and it frees nothing."""
    m = Market()
    offer = _bobs_unanswered_offer(m)
    cutoff = _past_cutoff(offer)
    n = _Successor(m, cutoff + 5_000)
    m.clock.now_ms = cutoff + 1
    early = _checkpoint(n.party.agent, n.handover.digest, offer)
    m.clock.now_ms = cutoff + 60_001
    n.start()
    answer = n.escrow.with_mandates(n.handover.envelope, [early.envelope])
    ask_escrow_alone(m.b, _Answers(answer), m.b.negotiation(offer.negotiation_id))  # type: ignore[arg-type]
    assert early.digest in dict(m.b.verifier.statements)  # taken, its hand-over honoured: only its time fails
    assert not m.b.asked_at_escrow(offer.negotiation_id)


# --- the escrow's word is forgotten once the claims under its offer end (ESC-013 (i)) ------------------


def _checkpoints(answer: Sequence[bytes]) -> list[VerifiedStatement]:
    return [vs for vs in map(verify_statement, answer) if vs.body == "checkpoint"]


@pytest.mark.req("ESC-013")
def test_the_escrows_word_on_offers_stays_bounded_under_many_offers() -> None:
    """Five rounds of 20 bonded offers, each shown to E before and past its cutoff (one Checkpoint naming
    the round's 20), each round past the claims of the one before: E keeps the word on one round's offers
    at most, where it once kept every offer ever named; an offer shown again past its claims' end gets
    no Checkpoint and E signs nothing for it."""
    m = Market()
    sizes, first = [], None
    for _ in range(5):
        offers = [m.bob.offer(m.mallory, m.proposal()) for _ in range(20)]
        first = first or offers[0]
        submitted = [*m.bob.setup, *(o.envelope for o in offers)]
        assert _checkpoints(m.escrow.submit(submitted)) == []
        m.clock.now_ms = _past_cutoff(offers[-1]) + 1
        (checkpoint,) = _checkpoints(m.escrow.submit(submitted))
        assert set(checkpoint.header.refs) == {o.digest for o in offers}
        sizes.append(len(m.escrow.escrow._vouched))
        m.clock.now_ms = claims_end_ms(proposal_of(offers[-1])) + 1
    assert sizes == [20] * 5
    assert first is not None
    size = m.escrow.escrow.ledger_size
    assert _checkpoints(m.escrow.submit([*m.bob.setup, first.envelope])) == []
    assert m.escrow.escrow.ledger_size == size and len(m.escrow.escrow._vouched) == 0


@pytest.mark.req("ESC-013", "ESC-007")
def test_a_restarted_escrow_gives_its_word_again_until_the_claims_end_then_forgets_it(tmp_path: Path) -> None:
    """The escrow process: its Checkpoint naming Bob's offer, given again to a repeat after a restart
    while the claims under the offer may come; restarted after they ended, it forgets the word at its
    first tick and signs none for a Submit of that offer."""
    m = Market()
    open_escrow = escrow_opener(m, tmp_path / "e.db")

    node = open_escrow()
    try:
        offer, submitted = bobs_offer_at_a_served_escrow(m, node)
        node.submit(submitted)
        m.clock.now_ms = _past_cutoff(offer) + 1
        past = node.submit(submitted)
        assert len(_checkpoints(past)) == 1
    finally:
        node.close()
    node = open_escrow()
    try:
        assert node.submit(submitted) == past
    finally:
        node.close()
    m.clock.now_ms = claims_end_ms(proposal_of(offer)) + 1
    node = open_escrow()
    try:
        assert len(node.escrow._vouched) == 1  # replayed from our ledger
        node.tick()
        assert len(node.escrow._vouched) == 0
        size = node.escrow.ledger_size
        assert _checkpoints(node.submit(submitted)) == [] and node.escrow.ledger_size == size
    finally:
        node.close()


@pytest.mark.req("ESC-013")
def test_past_the_claims_end_bobs_offer_is_finished_without_the_escrows_word() -> None:
    """Bob asks E about his unanswered bonded offer only after the claims under it ended (his run was
    stopped that long): E gives no Checkpoint then, and none is needed -- no Accept of it can take his
    bond -- so the offer is taken as asked, where his `resume` would have asked again for ever. Bob reads
    the claims' end by his clock the tolerance late (NEG-024 (a), resume31): E's clock may run behind."""
    m = Market()
    offer = _bobs_unanswered_offer(m)
    m.clock.now_ms = claims_over_ms(proposal_of(offer)) + 1
    answer = m.escrow.submit([*m.b.send_context(), offer.envelope])
    assert _checkpoints(answer) == []
    ask_escrow_alone(m.b, m.escrow, m.b.negotiation(offer.negotiation_id))
    assert m.b.asked_at_escrow(offer.negotiation_id)


# --- a fork refused at the escrow frees the offers after it only on the escrow's word -------------------


def bobs_car_and_her_forked_counter(
    m: Market, e2: Any, carol: Party, beside: Callable[[], list[bytes]] = list
) -> tuple[VerifiedStatement, VerifiedStatement, VerifiedStatement, list[bytes]]:
    """Bob offers his car bonded at E1 (exclusive_key); Mallory counters bonded at E1 and, on a copy of her
    chain, signs another statement at her Counter's seq (an Offer to Carol) and then what ``beside`` signs:
    Bob's Offer, her Counter, her other statement, what ``beside`` signed."""
    strategy = CountersWithTheCar(car=_car(m, m.escrow.did, bond=100))
    m.b = make_peer(m.bob, m.clock, context=[m.escrow.mandate, e2.mandate], strategy=strategy)
    offer = m.b.propose(m.mallory.did, _car(m, m.escrow.did, bond=100), ttl_ms=60_000)
    writer = copy.deepcopy(m.mallory.agent.writer)
    hers = m.mallory.proposal(escrow=m.escrow.did, issuer_bond=100, audience_bond=100)
    counter = m.mallory.counter(offer, hers, ttl_ms=60_000)
    after = m.mallory.agent.writer
    m.mallory.agent.writer = writer
    other = m.mallory.offer(carol, m.mallory.proposal(escrow=m.escrow.did))
    signed = beside()
    m.mallory.agent.writer = after
    return offer, counter, other, signed


class _ForgesTheFork:
    """Whoever answers Bob's Submits for E1: the first is refused ``EQUIVOCATION`` with Mallory's genuine
    fork pair (E1 never saw it); the others go to E1."""

    def __init__(self, m: Market, pair: tuple[bytes, bytes]) -> None:
        self.escrow, self.pair, self.forged = m.escrow, pair, 0

    def submit(self, envelopes: Sequence[bytes]) -> list[bytes]:
        if not self.forged:
            self.forged += 1
            raise Equivocation("another statement at this seq", evidence=self.pair)
        return self.escrow.submit(envelopes)


@pytest.mark.req("ESC-013", "NEG-020", "RPC-006")
def test_a_forged_fork_refusal_frees_no_counter_the_escrow_holds_an_accept_of() -> None:
    """Bob offers his car at E1 (exclusive_key), Mallory counters bonded at E1, Bob counters with the car
    again; Mallory shows E1 that line and her Accept of his Counter (both bonds locked) and signs another
    statement at her Counter's seq, shown to nobody. Past the cutoff, whoever answers Bob's ask for E1
    refuses the line EQUIVOCATION with her fork pair -- no word of E1's -- and E1 itself answers the line
    up to his Offer: his runtime took his Counter as asked (the fork proof said E1 never took it), freed
    the car, and Mallory's claim would take his bond. Now it frees nothing without E1's Stamp of the held
    half, and asked E1 itself, he learns of the contract."""
    m, e2, carol, _ = _car_market()
    offer, counter, other, _ = bobs_car_and_her_forked_counter(m, e2, carol)
    (ours,) = m.b.on_replies([*m.mallory.setup, counter.envelope])
    accept = m.mallory.accept(ours)
    locks = m.escrow.submit(
        [*m.mallory.setup, *m.bob.setup, offer.envelope, counter.envelope, ours.envelope, accept.envelope]
    )
    assert [verify_statement(e).body for e in locks].count("bond_lock") == 2
    m.clock.now_ms = ours.header.expires_at_ms + 60_001
    forger = _ForgesTheFork(m, (other.envelope, counter.envelope))
    with contextlib.suppress(CoopError):
        ask_escrow_alone(m.b, forger, m.b.negotiation(offer.negotiation_id))  # type: ignore[arg-type]
    assert forger.forged == 1
    assert not m.b.asked_at_escrow(offer.negotiation_id)
    with pytest.raises(CoopError) as refused:
        m.b.propose(carol.did, _car(m, e2.did, bond=100))
    assert refused.value.code == "EXCLUSIVE_CONFLICT"
    ask_escrow_alone(m.b, m.escrow, m.b.negotiation(offer.negotiation_id))
    neg = m.b.negotiation(offer.negotiation_id)
    assert neg.contract is not None and neg.contract.id == accept.digest


def _bobs_counter_and_her_kept_reject(
    m: Market, e2: Any
) -> tuple[VerifiedStatement, VerifiedStatement, VerifiedStatement, VerifiedStatement]:
    """Bob offers Mallory his car naming no escrow; she keeps a Reject of it and counters naming none; his
    strategy counters with the car bonded at E1: his Offer, her Counter, his Counter, her kept Reject."""
    strategy = CountersWithTheCar(car=_car(m, m.escrow.did, bond=100))
    m.b = make_peer(m.bob, m.clock, context=[m.escrow.mandate, e2.mandate], strategy=strategy)
    offer = m.b.propose(m.mallory.did, _car(m, "", bond=0))
    kept = m.mallory.reject(offer, "kept")
    theirs = m.mallory.counter(offer, m.mallory.proposal())
    (ours,) = m.b.on_replies([*m.mallory.setup, theirs.envelope])
    return offer, theirs, ours, kept


def _withdrawn_at_the_escrow(
    m: Market, offer: VerifiedStatement, theirs: VerifiedStatement, ours: VerifiedStatement
) -> None:
    """Bob withdraws his cut-off Counter (NEG-024 (a)) and shows E1 the line with it; E1's answer read."""
    closing = m.b.withdraw_cut_off(offer.negotiation_id)
    assert closing is not None
    line = [
        *m.bob.setup,
        *m.mallory.setup,
        offer.envelope,
        theirs.envelope,
        ours.envelope,
        closing[1].envelope,
    ]
    m.b.on_replies(m.escrow.submit(line))


# --- a cut-off Counter's exclusive_key is held until its escrow answers for it (NEG-020) ----------------


@pytest.mark.req("NEG-020", "NEG-021", "ESC-013")
def test_a_counter_a_lower_answer_cut_off_keeps_its_exclusive_key_until_its_escrow_took_an_answer() -> None:
    """Bob offers Mallory his car naming no escrow; she keeps a Reject of it and counters naming none;
    Bob's strategy counters with the car bonded at E1; she answers with the kept Reject, lower in her
    chain: his Counter is cut off the line (NEG-021 (a)) -- and she can still accept it at E1 alone, which
    takes the line back there (NEG-021 (d)). Bob's guard freed the car at once (off the line, "superseded"),
    so his agent could sell it to Carol while Mallory's Accept at E1 bound it. Now the key stays held until
    E1 took an answer to the Counter (Bob's Withdraw, NEG-024 (a))."""
    m, e2, carol, _ = _car_market()
    offer, theirs, ours, kept = _bobs_counter_and_her_kept_reject(m, e2)
    assert ours.body == "counter" and proposal_of(ours).terms.escrow == m.escrow.did
    m.b.on_replies([kept.envelope])
    neg = m.b.negotiation(offer.negotiation_id)
    assert neg.off_line is not None and ours.digest in neg.off_line
    with pytest.raises(CoopError) as refused:
        m.b.propose(carol.did, _car(m, e2.did, bond=100))
    assert refused.value.code == "EXCLUSIVE_CONFLICT"
    _withdrawn_at_the_escrow(m, offer, theirs, ours)
    assert m.b.propose(carol.did, _car(m, e2.did, bond=100)).body == "offer"


@pytest.mark.req("NEG-020", "ESC-013")
def test_the_cutoff_alone_frees_no_exclusive_key_of_a_cut_off_counter() -> None:
    """As above, E1 out of reach for Bob's Withdraw: past his cut-off Counter's bonding cutoff, his runtime
    records an ask of E1 about the negotiation with no word of E1's naming that Counter (it never showed
    E1 the Counter: it is off the line) -- the guard freed the car for the Counter's cutoff alone, a time
    Bob's agent chose when it signed the Counter. Now the key stays held until E1's Checkpoint names the
    Counter past its cutoff (ESC-013 (i))."""
    m, e2, carol, _ = _car_market()
    offer, _, ours, kept = _bobs_counter_and_her_kept_reject(m, e2)
    m.b.on_replies([kept.envelope])
    m.clock.now_ms = _past_cutoff(ours) + 60_001
    m.b.asked_escrow(offer.negotiation_id, m.escrow.did)
    with pytest.raises(CoopError) as refused:
        m.b.propose(carol.did, _car(m, e2.did, bond=100))
    assert refused.value.code == "EXCLUSIVE_CONFLICT"
    m.b.asked_escrow(offer.negotiation_id, m.escrow.did, vouched={ours.digest: m.clock.now_ms})
    assert m.b.propose(carol.did, _car(m, e2.did, bond=100)).body == "offer"


# --- a cut-off Counter's value counts until its escrow took an answer to it (MND-010) ---------------------


def _fill_up(m: Market, carol: Party, count: int) -> int:
    """Bob offers Carol ``count`` deals of 9,900 naming no escrow; returns how many his guard signed."""
    due = m.clock.now_ms + 3_600_000
    big = m.bob.proposal(
        gives=[service("consulting", value=9_900, deadline_ms=due)],
        wants=[service("editing", value=1, deadline_ms=due)],
    )
    signed = 0
    for _ in range(count):
        try:
            m.b.propose(carol.did, big)
        except CoopError as refused:
            assert refused.code == "MANDATE_VIOLATION", refused
            break
        signed += 1
    return signed


@pytest.mark.req("MND-010", "MND-011", "NEG-021")
def test_a_counter_a_lower_answer_cut_off_counts_until_its_escrow_took_an_answer() -> None:
    """test_asked31's cut-off Counter (Bob's car bonded at E1, cut off the line by Mallory's kept Reject,
    which she can still accept at E1 alone, NEG-021 (d)), read for its value: Bob's guard stopped counting
    it at the cut (the counterparty's choice), so his agent could commit his whole cap (50,000) elsewhere
    while an Accept of it at E1 bound its 600 too. Now it counts until E1 took an answer to it (his
    Withdraw, NEG-024 (a)): five deals of 9,900 pass only then."""
    m, e2, carol, _ = _car_market()
    offer, theirs, ours, kept = _bobs_counter_and_her_kept_reject(m, e2)
    m.b.on_replies([kept.envelope])
    assert _fill_up(m, carol, 5) == 4, (
        "the cut-off Counter's 600 must count: 4 x 9,900 + 600 + 9,900 > 50,000"
    )
    _withdrawn_at_the_escrow(m, offer, theirs, ours)
    assert _fill_up(m, carol, 1) == 1


@pytest.mark.req("NEG-020", "ESC-013")
def test_the_escrows_word_that_freed_the_car_is_kept_across_a_restart(tmp_path: Path) -> None:
    """Bob's node offers the car bonded at E1, unanswered; asked past the cutoff, E1's Checkpoint names
    it and the car is free -- and still free after the node restarts with E1 out of reach, and the ask
    still recorded as answered (what `status` and `resume` read, :meth:`Peer.asked_at_escrow`): the fact
    and the word it was freed on are kept in the journal (META_ASKED). With E1 reachable at the restart
    the test could not tell the journal's fact from an answer given again."""
    m, e2, carol, strategy = _car_market()
    context = [m.escrow.mandate, e2.mandate]
    node = m.bob_node(tmp_path, strategy, context=context)
    try:
        offer = node.peer.propose(m.mallory.did, _car(m, m.escrow.did, bond=100), ttl_ms=60_000)
        m.escrow.submit([*node.peer.send_context(), offer.envelope])
        m.clock.now_ms = _past_cutoff(offer) + 60_001
        ask_escrow_alone(node.peer, m.escrow, node.peer.negotiation(offer.negotiation_id))
        assert node.peer.asked_at_escrow(offer.negotiation_id)
    finally:
        node.close()
    down = _Down()
    node = m.bob_node(tmp_path, strategy, context=context, witness=EscrowWitness(down, m.escrow.did))
    try:
        assert node.peer.asked_at_escrow(offer.negotiation_id)
        assert node.peer.propose(carol.did, _car(m, m.escrow.did, bond=100)).body == "offer"
    finally:
        node.close()


class _Down:
    """E1 out of reach: every call fails as an unreachable server's does."""

    def __getattr__(self, name: str) -> Any:
        def fail(*args: Any, **kwargs: Any) -> Any:
            raise TransportError(grpc.StatusCode.UNAVAILABLE, "escrow down")

        return fail
