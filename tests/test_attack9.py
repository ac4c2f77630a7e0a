"""Attacker's pass (ninth): two answers to one offer, after today's delivery gate, held answers,
exposure holding, NEG-019 and ESC-015 (SPEC 8.9, 4.5, 16.14).

Each test names the attack in its docstring; Mallory is the attacker, Bob the honest reference peer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path

import grpc
import pytest
from peers import make_peer
from test_hidden_accept import (
    FUNDS,
    CountersWithItsBond,
    MallorysServer,
    Market,
    _big,
    _served_bob_at_two_escrows,
)

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2, trade_pb2
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.negotiation import proposal_of
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.node import EscrowWitness
from a2a_coop.runtime.peer import Peer
from a2a_coop.runtime.trade import ask_escrow_alone, carry_trade
from a2a_coop.testing import DAY_MS, FixedClock, LocalEscrow, Party, derive
from a2a_coop.transport import TransportError


def _restarted(party: Party, clock: FixedClock, **kw: object) -> Peer:
    """``party``'s Peer opened again (a restart): its nonces drawn afresh, not replayed."""
    count = iter(range(1 << 30))
    return Peer(
        party.agent.key,
        party.mandate_vs.envelope,
        clock=lambda: clock.now_ms,
        nonce=lambda: derive(f"nonce/{party.name}/restarted/{next(count)}", 16),
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.req("MND-010", "NEG-017")
def test_a_restart_keeps_counting_a_rejected_bonded_offer_the_escrow_did_not_take(tmp_path: Path) -> None:
    """Bob's cap is 10 000; he offers Mallory 6 000, bonded. She shows the escrow an Accept of it and
    answers Bob with a Reject, which he journals. Bob restarts before showing the escrow the Reject. The
    journal replay took his offer as freed at the Reject (the holding of section 4.5 was off while
    replaying), so his guard let him offer Carol 6 000 more, and the witnessed Accept then bound him to
    both: past his principal's cap. After a restart the offer must count as it did before."""
    m = Market()
    m.bob = Party("bob", m.clock, mandate_caps={"max_outstanding": 10_000})
    m.b = make_peer(m.bob, m.clock, context=[m.escrow.mandate], journal=Journal.open(tmp_path / "b.db"))
    big = _big(m)
    offer = m.b.propose(m.mallory.did, big)
    accept = m.hide_accept(offer)
    m.b.on_replies([*m.mallory.setup, m.mallory.reject(offer, "no").envelope])
    with pytest.raises(CoopError):
        m.b.propose(Party("carol", m.clock).did, big)  # before the restart: counted
    m.b.journal.close()  # type: ignore[union-attr]
    with Journal.open(tmp_path / "b.db") as journal:
        again = _restarted(m.bob, m.clock, context=[m.escrow.mandate], journal=journal)
        with pytest.raises(CoopError) as refused:
            again.propose(Party("carol", m.clock).did, big)
        assert refused.value.code == "MANDATE_VIOLATION"
        ask_escrow_alone(again, m.escrow, again.negotiation(offer.negotiation_id))
        neg = again.negotiation(offer.negotiation_id)
        assert neg.contract is not None and neg.contract.id == accept.digest
        assert again.verifier.exposure.exposure(offer.mandate_digest).outstanding(m.clock.now_ms) <= 10_000


class RevokesBehindTheAccept(MallorysServer):
    """Mallory's server: it shows the escrow an Accept of Bob's bonded offer, and answers Bob with her
    principal's KeyRevocation of her key, effective from the Accept's time (KEY-004: a principal the key is
    bound to may revoke it back to any time it names, KEY-011; her key's own revocation would reach back
    over nothing its chain orders before it) -- or her principal's revocation of its own key, or a
    KeyRotation she signed just before the Accept (KEY-005: her chain ends there in Bob's view). Bob's
    verifier then refuses the Accept the escrow reveals (KEY_REVOKED); the escrow, never shown the
    revocation or the rotation, took her claim with the same key."""

    def respond(self, vs: VerifiedStatement) -> list[bytes]:
        mallory = self.m.mallory
        if self.how == "rotation":
            ended = mallory.sign(
                "key_rotation", identity_pb2.KeyRotation(new_key=Party("mallory2", self.m.clock).did)
            )
            self.accept = self.m.hide_accept(vs)
        elif self.how == "principal":  # her principal disowns every statement of its key from then on
            self.accept = self.m.hide_accept(vs)
            principal = mallory.principal
            ended = principal.sign(
                "key_revocation",
                identity_pb2.KeyRevocation(key=principal.did, effective_ms=self.accept.issued_at_ms),
            )
        else:  # her principal (her accomplice) revokes her key back to the Accept, its binding shown
            # first (KEY-008): her key's own revocation reaches back over nothing before it (KEY-011)
            binding = mallory.sign("checkpoint", identity_pb2.Checkpoint(log_root=b""))
            self.accept = self.m.hide_accept(vs)
            ended = mallory.principal.sign(
                "key_revocation",
                identity_pb2.KeyRevocation(key=mallory.did, effective_ms=self.accept.issued_at_ms),
            )
            return [*mallory.setup, binding.envelope, ended.envelope]
        return [*mallory.setup, ended.envelope]


@pytest.mark.req("ESC-013", "KEY-004", "KEY-005")
@pytest.mark.parametrize("how", ["revocation", "principal", "rotation"])
def test_a_key_revoked_behind_a_witnessed_accept_wins_no_claim(how: str) -> None:
    """Mallory accepts Bob's bonded offer at the escrow alone and shows Bob only her principal's
    revocation of her key dated back to her Accept (or its rotation, signed before the Accept). Bob,
    asking the escrow (ESC-013), is shown the Accept and refuses it (KEY_REVOKED): he cannot perform.
    Before, her claim, signed by the same key, took his bond at the escrow, which never saw what ended
    her key. Now Bob shows the escrow what his verifier refused the Accept for, and the escrow refuses
    her claim."""
    m = Market()
    mallorys = RevokesBehindTheAccept(m, how)
    offer = m.b.propose(m.mallory.did, m.proposal())
    with pytest.raises(CoopError) as refused:
        carry_trade(m.b, mallorys, offer, escrow=m.escrow)
    assert refused.value.code == "KEY_REVOKED"
    assert mallorys.accept is not None
    held = m.escrow.escrow.verifier
    ended = {
        "revocation": (held.revoked, m.mallory.did),
        "principal": (held.revoked, m.mallory.principal.did),
    }
    where, key = ended.get(how, (held.rotated, m.mallory.did))
    assert key in where
    m.bob_loses_nothing(offer.negotiation_id, mallorys.accept.digest)


class AnswersWithTheAcceptsNonce(MallorysServer):
    """Mallory's server: it shows the escrow an Accept of Bob's bonded offer and answers Bob with a
    Reject signed with the Accept's nonce (its next seq, its chain intact). Bob's verifier remembers the
    Reject's (issuer, nonce) (RPL-001) and so would refuse the Accept the escrow reveals: NONCE_REUSED."""

    def respond(self, vs: VerifiedStatement) -> list[bytes]:
        self.accept = self.m.hide_accept(vs)
        mallory, nonce = self.m.mallory, self.accept.header.nonce
        if self.how == "reject":
            other = mallory.reject(vs, "no", nonce=nonce, ttl_ms=DAY_MS)
        else:  # an Ack only: not in the line Bob shows the escrow
            ack = commitment_pb2.Ack(statement=vs.digest)
            other = mallory.sign("ack", ack, audience=self.m.bob.did, nonce=nonce, ttl_ms=DAY_MS)
        return [*mallory.setup, other.envelope]


@pytest.mark.req("ESC-015", "RPL-001", "NEG-017")
@pytest.mark.parametrize("answer", ["reject", "ack"])
def test_an_answer_reusing_the_accepts_nonce_takes_no_bond(answer: str) -> None:
    """Mallory accepts Bob's bonded offer at the escrow alone and answers Bob with a Reject (or an Ack
    only) reusing the Accept's nonce. Bob, asking the escrow (ESC-013), is shown the Accept and refuses it
    (NONCE_REUSED): he cannot perform. Before, her claim took his bond; now the escrow, shown the
    statement with the Accept's nonce (in Bob's line, or the pair his verifier refused it for), takes no
    claim of hers under that contract (ESC-015), and the bonds lapse back."""
    m = Market()
    mallorys = AnswersWithTheAcceptsNonce(m, answer)
    offer = m.b.propose(m.mallory.did, m.proposal())
    with contextlib.suppress(CoopError):
        carry_trade(m.b, mallorys, offer, escrow=m.escrow)
    assert mallorys.accept is not None
    m.bob_loses_nothing(offer.negotiation_id, mallorys.accept.digest)


class CountersAndKeepsTheStamps:
    """Mallory's server: it answers Bob's bonded offer with a bonded Counter at the same escrow, which
    Bob's strategy accepts; she shows the escrow the line with his Accept herself, and hands Bob the
    locks alone -- not the escrow's Stamp of her Counter, which his delivery gate waits for (ESC-013):
    before it, he delivers nothing under the contract, and her claim after his deadline would take his
    bond."""

    def __init__(self, market: Market) -> None:
        self.m = market
        self.offer: VerifiedStatement | None = None
        self.counter: VerifiedStatement | None = None
        self.received: list[VerifiedStatement] = []

    def exchange(self, envelope: bytes, context: Sequence[bytes]) -> list[bytes]:
        vs = verify_statement(envelope)
        self.received.append(vs)
        mallory = self.m.mallory
        if vs.body == "offer":
            self.offer = vs
            offered = proposal_of(vs)
            counter = trade_pb2.Offer(gives=offered.wants, wants=offered.gives)  # her side: she gives
            counter.terms.CopyFrom(offered.terms)
            self.counter = mallory.counter(vs, counter)
            return [*mallory.setup, self.counter.envelope]
        if vs.body == "accept" and self.offer is not None and self.counter is not None:
            line = [*mallory.setup, *self.m.bob.setup, self.offer.envelope, self.counter.envelope]
            signed = self.m.escrow.submit([*line, vs.envelope])
            return [env for env in signed if verify_statement(env).body == "bond_lock"]
        return []


@pytest.mark.req("ESC-013", "NEG-017")
def test_a_counterparty_keeping_the_escrows_stamp_does_not_stall_the_gate() -> None:
    """Mallory answers Bob's bonded offer with a bonded Counter at the same escrow, which Bob accepts;
    she relays the locks but keeps the Stamp of her Counter from him. Bob, whose gate waits for that
    Stamp, asks the escrow himself and delivers in time; her claim is dismissed."""
    m = Market()
    mallorys = CountersAndKeepsTheStamps(m)
    offer = m.b.propose(m.mallory.did, m.proposal())
    neg = carry_trade(m.b, mallorys, offer, escrow=m.escrow)
    assert neg.contract is not None and mallorys.counter is not None
    assert neg.contract.offer.digest == mallorys.counter.digest
    delivered = [vs for vs in mallorys.received if vs.body == "delivery"]
    assert [vs.statement.delivery.contract for vs in delivered] == [neg.contract.id]
    m.bob_loses_nothing(neg.id, neg.contract.id)


class Unreachable:
    """An escrow Bob's witness cannot reach (a partition between them; Mallory reaches it)."""

    def submit(self, envelopes: Sequence[bytes]) -> list[bytes]:
        raise TransportError(grpc.StatusCode.UNAVAILABLE, "escrow unreachable from here")


@pytest.mark.req("ESC-013", "NEG-012")
def test_a_served_peer_delivers_on_the_locks_of_its_escrow_without_its_stamp(tmp_path: Path) -> None:
    """Served Bob counters Mallory's offer bonded at his witness's escrow E, which his witness cannot
    reach; she counters at E, his strategy accepts, and she has E lock both bonds -- relaying Bob the
    locks alone, not E's Stamp of her Counter. His delivery gate waited for that Stamp (his bonded
    Counter is earlier in the line), his witness could not fetch it, and her claim after his deadline
    took his bond. The locks are proof enough: E took the Accept of her Counter only after taking her
    Counter, the answer to his (and then no Accept of his Counter, ESC-014)."""
    m = Market()
    node = m.bob_node(
        tmp_path, CountersWithItsBond(escrow=m.escrow.did), witness=EscrowWitness(Unreachable(), m.escrow.did)
    )
    try:
        mallory = m.mallory
        opening, answers = m.mallory_opens(node)
        bobs = next(vs for vs in answers if vs.body == "counter")
        counter = trade_pb2.Offer(gives=proposal_of(bobs).wants, wants=proposal_of(bobs).gives)
        counter.terms.CopyFrom(proposal_of(bobs).terms)
        hers = mallory.counter(bobs, counter)
        replies = [verify_statement(e) for e in node.exchange(hers.envelope, mallory.setup)]
        accept = next(vs for vs in replies if vs.body == "accept")
        shown = [*mallory.setup, *m.bob.setup, opening.envelope, bobs.envelope, hers.envelope]
        locks = [
            e for e in m.escrow.submit([*shown, accept.envelope]) if verify_statement(e).body == "bond_lock"
        ]
        assert len(locks) == 2
        replies = [verify_statement(e) for e in node.exchange(locks[-1], [*mallory.setup, *locks[:-1]])]
        delivered = [vs for vs in replies if vs.body == "delivery"]
        assert [vs.statement.delivery.contract for vs in delivered] == [accept.digest]
        m.escrow.submit([vs.envelope for vs in delivered])  # Mallory, holding it, cannot say otherwise
        m.bob_loses_nothing(accept.negotiation_id, accept.digest)
    finally:
        node.close()


@pytest.mark.req("ESC-013", "NEG-017")
def test_a_served_peers_bonded_counter_at_an_escrow_without_its_witness(tmp_path: Path) -> None:
    """Served Bob (his escrow witness at E1) trusts E2 too, and his strategy counters Mallory's offer
    bonded at E2. Before, he signed that Counter; she showed E2 an Accept of it and answered Bob with a
    Reject, nothing of Bob's asked E2 about his Counter (his witness is E1's), and her claim took his
    bond there. Now a served peer makes bonded offers only at its witness's escrow: the Counter becomes
    a Reject that says why, and nothing of his can be accepted at E2."""
    m, e2, node = _served_bob_at_two_escrows(tmp_path)
    node.peer.strategy = CountersWithItsBond(escrow=e2.did)
    try:
        mallory = m.mallory
        _, answers = m.mallory_opens(node)
        assert [vs.body for vs in answers if vs.body != "mandate"] == ["reject"]
        assert "ESC-013" in answers[-1].statement.reject.reason
        with pytest.raises(ValueError, match="ESC-013"):
            at_e2 = m.proposal()
            at_e2.terms.escrow = e2.did
            node.peer.propose(mallory.did, at_e2)
    finally:
        node.close()


@pytest.mark.req("ESC-013")
def test_an_answer_held_for_the_first_escrow_is_still_held_after_a_restart(tmp_path: Path) -> None:
    """Bob's offer is bonded at E1; Mallory counters at E2 (both trusted). Bob's guard holds his
    strategy's Accept until E1 took her Counter (EscrowNotShown). Bob restarts before E1 could be asked.
    Before, the held answer lived in memory only: the restarted Bob never answered her Counter at all.
    Now the replay finds it held again, and answers once E1 took the Counter."""
    m = Market()
    e2 = LocalEscrow(Party("escrow-2", m.clock), funds={m.mallory.did: FUNDS, m.bob.did: FUNDS})
    context = [m.escrow.mandate, e2.mandate]
    m.b = make_peer(m.bob, m.clock, context=context, journal=Journal.open(tmp_path / "b.db"))
    offer = m.b.propose(m.mallory.did, m.proposal())
    terms = trade_pb2.Offer(gives=proposal_of(offer).wants, wants=proposal_of(offer).gives)
    terms.terms.CopyFrom(proposal_of(offer).terms)
    terms.terms.escrow = e2.did
    counter = m.mallory.counter(offer, terms)
    assert [vs.body for vs in m.b.on_replies([*m.mallory.setup, counter.envelope])] == []
    assert m.b.holds_answer(offer.negotiation_id)
    m.b.journal.close()  # type: ignore[union-attr]
    with Journal.open(tmp_path / "b.db") as journal:
        again = _restarted(m.bob, m.clock, context=context, journal=journal)
        assert again.holds_answer(offer.negotiation_id)
        ask_escrow_alone(again, m.escrow, again.negotiation(offer.negotiation_id))
        answer = again.answer_held(offer.negotiation_id)
        assert [(vs.body, vs.statement.accept.offer) for vs in answer] == [("accept", counter.digest)]


@pytest.mark.req("ESC-015", "RPL-001")
def test_a_nonce_reused_before_the_accept_at_an_escrow_that_forgot_it_takes_no_bond() -> None:
    """Mallory's Ack of Bob's offer reaches the escrow first; the escrow forgets its nonce once it
    expired (RPL-001 asks to keep a nonce only to its statement's expiry plus the skew: an implementation
    may drop it then, as this escrow is made to), then takes her Accept
    of the offer signed with the same nonce and locks both bonds. Bob, who holds the Ack, refuses the
    Accept the escrow reveals (NONCE_REUSED) and submits the pair; both are held there already, and the
    escrow must still see the fork (ESC-015): her claim takes nothing."""
    m = Market()
    offer = m.b.propose(m.mallory.did, m.proposal())
    mallory = m.mallory
    ack = mallory.sign(
        "ack",
        commitment_pb2.Ack(statement=offer.digest),
        audience=m.bob.did,
        ttl_ms=1_000,
    )
    m.b.on_replies([*mallory.setup, ack.envelope])
    m.escrow.submit([*mallory.setup, *m.bob.setup, offer.envelope, ack.envelope])
    m.clock.advance(60_000)
    m.escrow.escrow.verifier.replay.forget(ack.statement.header, ack.digest)  # past expiry + skew
    accept = mallory.accept(offer, nonce=ack.header.nonce)
    locks = [verify_statement(e).body for e in m.escrow.submit([accept.envelope])]
    assert locks.count("bond_lock") == 2
    with pytest.raises(CoopError) as refused:
        ask_escrow_alone(m.b, m.escrow, m.b.negotiation(offer.negotiation_id))
    assert refused.value.code == "NONCE_REUSED"
    m.bob_loses_nothing(offer.negotiation_id, accept.digest)
