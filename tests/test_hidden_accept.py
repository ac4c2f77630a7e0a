"""An Accept shown to the escrow alone (SPEC 16.14, ESC-012, ESC-013).

Bob offers Mallory bonded terms naming an escrow both are funded at. Mallory signs an Accept and never
sends it to Bob (she answers with an Ack only, or his transport loses her answer); she submits it to the
escrow before the offer's bonding cutoff, which stamps it and locks both bonds. Bob, who never learnt of
the contract, never delivers; after his deadline Mallory claims, and before ESC-012 the escrow upheld the
claim and forfeited Bob's bond to her. Now the escrow answers a Submit of Bob's Offer with her Accept and
its locks, and Bob's reference runtime asks -- at once, and after the bonding cutoff.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from cli_run import run_cli
from peers import make_peer, stamped_by_served_escrow

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, control_pb2, trade_pb2
from a2a_coop.cli.demo import provision
from a2a_coop.protocol.errors import CoopError, LimitExceeded
from a2a_coop.protocol.escrow import Escrow
from a2a_coop.protocol.negotiation import CLAIM_WINDOW_MS, Negotiation, State, claims_over_ms, proposal_of
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.protocol.verifier import Verifier
from a2a_coop.runtime import node as node_module
from a2a_coop.runtime import peer as peer_module
from a2a_coop.runtime import trade as trade_module
from a2a_coop.runtime.control import ControlServicer
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.node import EscrowNode, EscrowWitness, PeerNode
from a2a_coop.runtime.peer import EscrowNotShown, Peer
from a2a_coop.runtime.strategy import Accept as StrategyAccept
from a2a_coop.runtime.strategy import Counter as StrategyCounter
from a2a_coop.runtime.strategy import HonestStrategy, OfferView, Reply
from a2a_coop.runtime.trade import (
    ask_escrow_alone,
    carry_trade,
    forgotten_to_show,
    hidden_accept_check_ms,
    resume_trade,
)
from a2a_coop.testing import DAY_MS, FixedClock, LocalEscrow, Party, service
from a2a_coop.transport import TransportError, serve

FUNDS, BOND = 1_000, 100
OFFER_TTL_MS = 5 * 60_000


class Market:
    """Mallory (the attacker) and Bob (honest, the reference peer), funded at an escrow Bob trusts."""

    def __init__(self) -> None:
        self.clock = FixedClock()
        self.mallory, self.bob = Party("mallory", self.clock), Party("bob", self.clock)
        self.escrow = LocalEscrow(
            Party("escrow", self.clock), funds={self.mallory.did: FUNDS, self.bob.did: FUNDS}
        )
        self.b: Peer = make_peer(self.bob, self.clock, context=[self.escrow.mandate])

    def proposal(self) -> trade_pb2.Offer:
        deadline = self.clock.now_ms + 3_600_000
        return self.bob.proposal(
            issuer_bond=BOND,
            audience_bond=BOND,
            escrow=self.escrow.did,
            gives=[service("code-review", value=500, deadline_ms=deadline)],
            wants=[service("copy-editing", value=450, deadline_ms=deadline)],
        )

    def mallory_opens(self, node: PeerNode) -> tuple[VerifiedStatement, list[VerifiedStatement]]:
        """Mallory offers served Bob (``node``) the mirror of :meth:`proposal`'s terms: her Offer, and what
        his node answers it."""
        terms = self.proposal()
        opening = self.mallory.offer(self.bob, self.mallory.proposal(gives=terms.wants, wants=terms.gives))
        return opening, [verify_statement(e) for e in node.exchange(opening.envelope, self.mallory.setup)]

    def hide_accept(self, offer: VerifiedStatement, *, held_ms: int = 0) -> VerifiedStatement:
        """Mallory accepts ``offer`` and shows her Accept to the escrow alone, which locks both bonds;
        ``held_ms`` after she signed it."""
        accept = self.mallory.accept(offer, issued_at_ms=self.clock.now_ms - held_ms)
        locks = self.escrow.submit([*self.mallory.setup, *self.bob.setup, offer.envelope, accept.envelope])
        bonded = proposal_of(offer).terms.issuer_bond > 0
        assert [verify_statement(e).body for e in locks].count("bond_lock") == (2 if bonded else 0)
        return accept

    def bob_node(
        self, tmp_path: Path, strategy: Any, *, witness: Any = None, context: Sequence[bytes] = ()
    ) -> PeerNode:
        """Bob serving ``strategy`` on his journal in ``tmp_path`` (opened again after a restart), holding
        ``context`` (the escrow's mandate by default), with a witness at the escrow unless given one."""
        return PeerNode.open(
            self.bob.agent.key,
            self.bob.mandate_vs.envelope,
            tmp_path / "bob.db",
            context=list(context) or [self.escrow.mandate],
            clock=lambda: self.clock.now_ms,
            strategy=strategy,
            witness=witness or EscrowWitness(self.escrow, self.escrow.did),
        )

    def witnessed_contract(
        self, node: PeerNode, negotiation_id: bytes, accept: VerifiedStatement
    ) -> Negotiation:
        """Bob's node, its witness flushed, holds the contract of the Accept the escrow witnessed."""
        assert node.witness is not None
        node.witness.flush()
        neg = node.peer.negotiation(negotiation_id)
        assert neg.contract is not None and neg.contract.id == accept.digest, neg.state
        return neg

    def bob_loses_nothing(self, neg_id: bytes, contract: bytes) -> None:
        """Mallory claims Bob's item after its deadline; the escrow rules once the windows are over."""
        self.mallory_claims(neg_id, contract)
        assert self.escrow.get_balance(self.bob.did)[:2] == (FUNDS, 0), "Bob's bond was forfeited"

    def mallory_claims(self, neg_id: bytes, contract: bytes) -> State:
        """Mallory claims Bob's item under ``contract`` after its deadline; the escrow rules once the
        windows are over. Returns the negotiation's state at the escrow."""
        self.clock.advance(DAY_MS)
        claim = self.mallory.sign(
            "breach_claim",
            commitment_pb2.BreachClaim(contract=contract, item_index=0, reason="never delivered"),
            audience=self.bob.did,
            negotiation_id=neg_id,
        )
        with contextlib.suppress(CoopError):  # refused outright: as good as dismissed
            self.escrow.submit([claim.envelope])
        self.clock.advance(CLAIM_WINDOW_MS + 3 * DAY_MS)
        self.escrow.tick()
        return self.escrow.escrow.verifier.negotiations.get(neg_id).state


class MallorysServer:
    """Mallory's server, answering Bob's Offer with what :meth:`respond` signs (``how``: which variant of
    the attack) and anything else with nothing. ``accept``: the Accept she showed the escrow, if any."""

    def __init__(self, market: Market, how: str = "") -> None:
        self.m, self.how = market, how
        self.accept: VerifiedStatement | None = None

    def exchange(self, envelope: bytes, context: Sequence[bytes]) -> list[bytes]:
        vs = verify_statement(envelope)
        return self.respond(vs) if vs.body == "offer" else []

    def respond(self, offer: VerifiedStatement) -> list[bytes]:
        raise NotImplementedError


class AcksOnly:
    """Mallory's server: it answers Bob's offer with an Ack only, and hides its Accept (``hide``)."""

    def __init__(self, market: Market, *, hide: bool) -> None:
        self.m, self.hide = market, hide
        self.accept: VerifiedStatement | None = None
        self.received: list[str] = []

    def exchange(self, envelope: bytes, context: Sequence[bytes]) -> list[bytes]:
        vs = verify_statement(envelope)
        self.received.append(vs.body)
        if vs.body != "offer":
            return []
        if self.hide:
            self.accept = self.m.hide_accept(vs)
        ack = self.m.mallory.sign("ack", commitment_pb2.Ack(statement=vs.digest), audience=self.m.bob.did)
        return [*self.m.mallory.setup, ack.envelope]


class HidesAcceptThenFails:
    """Mallory's server: it shows the escrow an Accept of Bob's offer, and answers Bob with ``failure``
    only (a lost answer, an error refusal)."""

    def __init__(self, market: Market, failure: Exception) -> None:
        self.m = market
        self.failure = failure
        self.accept: VerifiedStatement | None = None

    def exchange(self, envelope: bytes, context: Sequence[bytes]) -> list[bytes]:
        vs = verify_statement(envelope)
        if vs.body == "offer" and self.accept is None:
            self.accept = self.m.hide_accept(vs)
        raise self.failure


@pytest.mark.req("ESC-012", "ESC-002")
def test_the_escrow_answers_an_accepted_offer_with_its_accept_and_locks() -> None:
    """Bob submits his Offer (with his Mandate): the answer holds Mallory's Mandate and Accept right after
    the Stamp that witnessed them, and both locks -- signed earlier; nothing is signed for it."""
    m = Market()
    offer = m.b.propose(m.mallory.did, m.proposal())
    accept = m.hide_accept(offer)
    ledger = m.escrow.escrow.ledger_size
    answer = [verify_statement(e) for e in m.escrow.submit([*m.b.send_context(), offer.envelope])]
    assert m.escrow.escrow.ledger_size == ledger, "the escrow signed something for the answer"
    bodies = [vs.body for vs in answer]
    assert bodies[0] == "mandate" and answer[0].statement.mandate.agent == m.escrow.did
    at = [vs.digest for vs in answer].index(accept.digest)
    assert bodies[at - 2 : at + 1] == ["stamp", "mandate", "accept"]
    assert accept.digest in answer[at - 2].statement.stamp.statements
    assert answer[at - 1].digest == accept.header.mandate
    assert bodies.count("bond_lock") == 2 and bodies.index("bond_lock") > at
    # Bob's peer takes the answer as a relay: the contract forms, bonded, and he delivers.
    ours = m.b.on_replies([e.envelope for e in answer[1:]])
    neg = m.b.negotiation(offer.negotiation_id)
    assert [vs.body for vs in ours] == ["delivery"] and neg.state is State.PERFORMING


@pytest.mark.req("ESC-012")
def test_an_unaccepted_offer_is_answered_with_its_stamp_alone() -> None:
    """No Accept held: the Offer is stamped, nothing about a contract is answered."""
    m = Market()
    offer = m.b.propose(m.mallory.did, m.proposal())
    answer = [verify_statement(e).body for e in m.escrow.submit([*m.b.send_context(), offer.envelope])]
    assert answer == ["mandate", "stamp"]
    again = [verify_statement(e).body for e in m.escrow.submit([offer.envelope])]
    assert again == ["mandate", "stamp"]  # its Stamp again (WIT-006), no contract


def bobs_offer_at_a_served_escrow(m: Market, node: EscrowNode) -> tuple[VerifiedStatement, list[bytes]]:
    """Mallory and Bob funded at the served escrow ``node``; Bob's bonded Offer to Mallory naming it, and
    what he submits of it (his context and the Offer)."""
    for party in (m.mallory, m.bob):
        node.deposit(party.did, FUNDS)
    b = make_peer(m.bob, m.clock, context=[node.mandate])
    proposal = m.proposal()
    proposal.terms.escrow = node.escrow.did
    offer = b.propose(m.mallory.did, proposal)
    return offer, [*b.send_context(), offer.envelope]


def escrow_opener(m: Market, db: Path) -> Callable[[], EscrowNode]:
    """An escrow process journaled in ``db`` on ``m``'s clock, opened afresh at each call (a restart)."""
    escrow_party = Party("escrow", m.clock)

    def open_escrow() -> EscrowNode:
        key, mandate = escrow_party.agent.key, escrow_party.mandate_vs.envelope
        return EscrowNode(key, mandate, db, clock=lambda: m.clock.now_ms)

    return open_escrow


@pytest.mark.req("ESC-012", "ESC-007")
def test_a_repeated_submit_of_the_offer_reveals_an_accept_taken_since(tmp_path: Path) -> None:
    """The escrow process (journaled, ESC-007): Bob submits his Offer at once (no Accept yet), Mallory
    then shows hers; Bob's repeated Submit -- the same statements -- is answered with the first answer
    followed by the Accept after its Stamp and the locks, signing nothing; after a restart too."""
    m = Market()
    open_escrow = escrow_opener(m, tmp_path / "e.db")

    node = open_escrow()
    try:
        offer, submitted = bobs_offer_at_a_served_escrow(m, node)
        first = node.submit(submitted)
        assert [verify_statement(e).body for e in first] == ["mandate", "stamp"]
        accept = m.mallory.accept(offer)
        node.submit([*m.mallory.setup, accept.envelope])
        size = node.escrow.ledger_size
        again = node.submit(submitted)
        assert again[: len(first)] == first, "the repeat does not begin with the first answer"
        bodies = [verify_statement(e).body for e in again[len(first) :]]
        assert bodies == ["stamp", "mandate", "accept", "bond_lock", "bond_lock"]
        assert node.escrow.ledger_size == size
    finally:
        node.close()
    node = open_escrow()
    try:
        assert node.submit(submitted) == again
    finally:
        node.close()


@pytest.mark.req("ESC-012", "ESC-013", "WIT-007")
def test_an_offer_answered_with_an_ack_only_learns_the_hidden_accept_at_once() -> None:
    """`a2a-coop offer` (carry_trade): Mallory's server Acks the offer and hides her Accept at the escrow.
    Bob asks the escrow at once, learns the contract with its locks, has his Delivery witnessed and
    sends it: her claim is dismissed. Before the fix, the Ack ended the run in PROPOSED."""
    m = Market()
    mallorys = AcksOnly(m, hide=True)
    neg = carry_trade(m.b, mallorys, m.b.propose(m.mallory.did, m.proposal()), escrow=m.escrow)
    assert mallorys.accept is not None and neg.contract is not None
    assert (m.bob.did, 0) in neg.contract.delivered
    mine = next(d for d, (by, _) in neg.contract.deliveries.items() if by == m.bob.did)
    assert m.escrow.escrow.verifier.witness.stamp_time(m.escrow.did, mine) is not None
    assert "delivery" in mallorys.received
    m.bob_loses_nothing(neg.id, mallorys.accept.digest)


@pytest.mark.req("ESC-012", "ESC-013")
@pytest.mark.parametrize(
    "failure",
    [
        TransportError(grpc.StatusCode.UNAVAILABLE, "connection reset"),
        LimitExceeded("too busy", requirement="RPC-012"),
    ],
    ids=["answer-lost", "refused-with-an-error"],
)
def test_an_offer_without_an_answer_still_learns_the_hidden_accept(failure: Exception) -> None:
    """Bob's transport loses Mallory's answer (and everything after), or her server refuses the offer
    with an error -- not an answer signed by its receiver, who holds the offer all the same: `offer`
    still asks the escrow, performs the contract there (WIT-007), and then reports the failure."""
    m = Market()
    mallorys = HidesAcceptThenFails(m, failure)
    offer = m.b.propose(m.mallory.did, m.proposal())
    with pytest.raises(type(failure)):
        carry_trade(m.b, mallorys, offer, escrow=m.escrow)
    neg = m.b.negotiation(offer.negotiation_id)
    assert mallorys.accept is not None and neg.contract is not None
    mine = next(d for d, (by, _) in neg.contract.deliveries.items() if by == m.bob.did)
    assert m.escrow.escrow.verifier.witness.stamp_time(m.escrow.did, mine) is not None
    m.bob_loses_nothing(neg.id, mallorys.accept.digest)


@pytest.mark.req("ESC-012", "ESC-013")
def test_an_accept_hidden_until_the_cutoff_is_learnt_by_resume_after_it() -> None:
    """Mallory Acks, and shows her Accept to the escrow only after Bob's first check, one second before
    the offer expires (5 min). `resume` after the bonding cutoff (hidden_accept_check_ms) learns it --
    the escrow has locked both bonds -- and performs; her claim is dismissed."""
    m = Market()
    mallorys = AcksOnly(m, hide=False)
    offer = m.b.propose(m.mallory.did, m.proposal(), ttl_ms=OFFER_TTL_MS)
    neg = carry_trade(m.b, mallorys, offer, escrow=m.escrow)
    assert neg.state is State.PROPOSED
    check_at = hidden_accept_check_ms(m.b, neg)
    assert check_at == offer.header.expires_at_ms + 60_000
    m.clock.advance(OFFER_TTL_MS - 1_000)
    accept = m.hide_accept(offer)
    m.clock.now_ms = check_at
    resume_trade(m.b, mallorys, neg, escrow=m.escrow)
    assert neg.contract is not None and (m.bob.did, 0) in neg.contract.delivered
    assert hidden_accept_check_ms(m.b, neg) is None
    m.bob_loses_nothing(neg.id, accept.digest)


@pytest.mark.req("ESC-012", "TIM-006", "WIT-004")
@pytest.mark.parametrize("when", ["first check", "after the cutoff"])
def test_an_accept_stamped_long_after_it_was_signed_is_taken(when: str) -> None:
    """Mallory signs her Accept as soon as the offer arrives and shows it to the escrow 29 s after the
    offer expired (within WIT-004's tolerance): the Stamp is far more than the skew after the Accept's
    date. TIM-006 refused such an Accept unless stamped within the skew of its date -- so Bob, shown it by
    the escrow, refused it and never delivered. An Accept its offer's escrow stamped in time for WIT-004
    is now taken: the escrow recognised the contract, and refusing it only keeps Bob from performing."""
    m = Market()
    mallorys = AcksOnly(m, hide=False)
    offer = m.b.propose(m.mallory.did, m.proposal(), ttl_ms=OFFER_TTL_MS)
    if when == "first check":
        m.clock.advance(OFFER_TTL_MS + 29_000)  # Bob's transport took its time, and so did she
        accept = m.hide_accept(offer, held_ms=OFFER_TTL_MS + 29_000)
        neg = carry_trade(m.b, mallorys, offer, escrow=m.escrow)
    else:
        neg = carry_trade(m.b, mallorys, offer, escrow=m.escrow)
        m.clock.advance(OFFER_TTL_MS + 29_000)
        accept = m.hide_accept(offer, held_ms=OFFER_TTL_MS + 29_000)
        m.clock.now_ms = hidden_accept_check_ms(m.b, neg) or 0
        resume_trade(m.b, mallorys, neg, escrow=m.escrow)
    assert neg.contract is not None and (m.bob.did, 0) in neg.contract.delivered
    m.bob_loses_nothing(neg.id, accept.digest)


@pytest.mark.req("ESC-013")
def test_an_unaccepted_offer_asks_the_escrow_and_stays_proposed() -> None:
    """No hidden Accept: the check costs one Submit (the Offer stamped) and changes nothing."""
    m = Market()
    mallorys = AcksOnly(m, hide=False)
    neg = carry_trade(m.b, mallorys, m.b.propose(m.mallory.did, m.proposal()), escrow=m.escrow)
    assert neg.state is State.PROPOSED and neg.contract is None
    assert m.escrow.get_balance(m.bob.did)[:2] == (FUNDS, 0)
    assert mallorys.received == ["offer"]


def test_no_check_without_bonds(monkeypatch: pytest.MonkeyPatch) -> None:
    """An unbonded offer binds nothing at the escrow: nothing to ask, nothing to wait for."""
    m = Market()
    proposal = m.proposal()
    proposal.terms.issuer_bond = proposal.terms.audience_bond = 0
    monkeypatch.setattr(time, "sleep", lambda s: pytest.fail("slept"))
    neg = carry_trade(m.b, AcksOnly(m, hide=False), m.b.propose(m.mallory.did, proposal), escrow=m.escrow)
    assert hidden_accept_check_ms(m.b, neg) is None


class _HidesItsAccept:
    """Mallory's server (a reference node): her strategy accepts Bob's offer, but Bob is answered with
    nothing; she shows her Accept to the escrow alone once Bob's `offer` starts waiting for the cutoff."""

    def __init__(self, node: PeerNode, escrow: EscrowNode, *, refuse: bool = False) -> None:
        self.node, self.escrow, self.refuse = node, escrow, refuse
        self.hidden: list[bytes] = []

    def __getattr__(self, name: str) -> object:
        return getattr(self.node, name)

    def exchange(self, envelope: bytes, context: Sequence[bytes]) -> list[bytes]:
        answers = self.node.exchange(envelope, context)
        if verify_statement(envelope).body != "offer":
            return answers
        self.hidden = [*context, envelope, *answers]
        if self.refuse:  # an error, not a Reject: Bob holds no answer to his offer
            raise LimitExceeded("too busy", requirement="RPC-012")
        return []

    def show_the_escrow(self) -> None:
        locks = self.escrow.submit(self.hidden)
        assert [verify_statement(e).body for e in locks].count("bond_lock") == 2


@pytest.mark.req("ESC-013")
@pytest.mark.parametrize(("hides", "refuse"), [(True, False), (False, False), (True, True)])
def test_offer_waits_past_the_cutoff_and_performs_the_contract_the_escrow_reveals(
    hides: bool,
    refuse: bool,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`a2a-coop offer` against a server that answers nothing (or refuses the offer with an error) and
    hides its Accept until Bob's first check has passed: `offer` says in one line that it waits past the
    bonding cutoff (and that Ctrl-C and `resume` are safe), asks the escrow again, learns the contract and
    delivers -- to the escrow first. When nothing was accepted there, the offer is reported EXPIRED,
    exit 1."""
    bob, mallory, esc = (provision(tmp_path, name) for name in ("bob", "mallory", "escrow"))
    escrow = EscrowNode(esc.key, esc.mandate, tmp_path / "escrow.db", faucet=FUNDS)
    node = PeerNode.open(mallory.key, mallory.mandate, tmp_path / "mallory.db", context=[escrow.mandate])
    mallorys = _HidesItsAccept(node, escrow, refuse=refuse)
    real_sleep, waits = time.sleep, []

    def sleep(seconds: float) -> None:
        if seconds < 60:
            return real_sleep(seconds)
        waits.append(seconds)
        if hides:
            mallorys.show_the_escrow()  # while Bob waits for the cutoff
        # Then the wait is over, by every clock here (Bob's and the escrow's): the escrow signs its word
        # past the cutoff (ESC-013 (i)) only when its clock is there.
        offset = peer_module._test_offset_ms + int(seconds * 1000) + 1000  # and a second on
        monkeypatch.setattr(peer_module, "_test_offset_ms", offset)

    monkeypatch.setattr(time, "sleep", sleep)
    try:
        with serve(None, escrow) as escrow_server, serve(mallorys, None) as mallory_server:  # type: ignore[arg-type]
            argv = [*bob.files(), "--to", mallory_server.target, "--escrow", escrow_server.target]
            code, out, err = run_cli(
                capsys, "offer", *argv, "--give", "code-review:20", "--want", "copy-editing:20", "--bond", "5"
            )
        assert len(waits) == 1 and 5 * 60 < waits[0] <= 6 * 60 + 1, (waits, code, err)
        assert ("refused by the other side" in err) is refuse
        waiting = [line for line in err.splitlines() if "waiting until" in line]
        assert len(waiting) == 1 and "bonding cutoff" in waiting[0] and "a2a-coop resume" in waiting[0]
        if not hides:
            assert code == 1 and "EXPIRED" in out and "expired unanswered" in err, (code, out, err)
            return
        assert "PROPOSED" not in out and "EXPIRED" not in out, (code, out, err)
        with Journal.open(bob.journal_path) as journal:
            ours = [verify_statement(env) for _, _, env in journal.statements()]
        delivery = next(vs for vs in ours if vs.body == "delivery" and vs.issuer == bob.key.did)
        assert stamped_by_served_escrow(escrow, delivery.digest)
    finally:
        node.close()
        escrow.close()


class AnswersTwice(MallorysServer):
    """Mallory's server: it shows the escrow an Accept of Bob's offer, then answers Bob with another
    answer of the same offer (``how``) -- a Reject, a Counter, or a second Accept (a contract of its own)."""

    sent: VerifiedStatement | None = None

    def respond(self, vs: VerifiedStatement) -> list[bytes]:
        self.accept = self.m.hide_accept(vs)
        mallory = self.m.mallory
        if self.how == "reject":
            self.sent = mallory.reject(vs, "not interested")
        elif self.how == "counter":
            terms = proposal_of(vs)
            counter = trade_pb2.Offer()
            counter.CopyFrom(terms)
            counter.wants[0].value = 300  # she wants less of Bob's... and still holds him to his offer
            self.sent = mallory.counter(vs, counter)
        else:
            self.sent = mallory.accept(vs)  # a second Accept of the offer: another contract id
        return [*mallory.setup, self.sent.envelope]


@pytest.mark.req("NEG-017", "NEG-018", "ESC-013", "ESC-014", "ESC-012")
@pytest.mark.parametrize("answer", ["reject", "counter", "accept"])
@pytest.mark.parametrize("journaled", [False, True], ids=["in-memory", "journaled"])
def test_an_answer_sent_beside_an_accept_shown_to_the_escrow_takes_nothing(
    answer: str, journaled: bool, tmp_path: Path
) -> None:
    """Mallory shows the escrow an Accept of Bob's bonded offer and sends Bob a Reject, a Counter or a
    second Accept of it. Bob shows the escrow what answered his offer (ESC-013); the escrow takes none of
    it (ESC-014) and answers with the Accept it witnessed, which takes precedence in Bob's view
    (NEG-017): he performs the witnessed contract, and her claim is dismissed. Before, Bob's view was
    REJECTED (or COUNTERED, or her second contract) and the claim took his bond. Journaled (as `offer`
    runs), the REJECTED negotiation is forgotten at once and the revealed contract forms in the copy
    read back from the journal: carry_trade looked at its stale copy, saw no contract, and never sent
    the Delivery it had signed -- the claim still took Bob's bond."""
    m = Market()
    if journaled:
        m.b = make_peer(m.bob, m.clock, context=[m.escrow.mandate], journal=Journal.open(tmp_path / "b.db"))
    mallorys = AnswersTwice(m, answer)
    offer = m.b.propose(m.mallory.did, m.proposal())
    with contextlib.suppress(CoopError):
        carry_trade(m.b, mallorys, offer, escrow=m.escrow)
    assert mallorys.accept is not None and mallorys.sent is not None
    neg = m.b.negotiation(offer.negotiation_id)
    assert neg.contract is not None and neg.contract.id == mallorys.accept.digest
    assert mallorys.sent.digest in neg.superseded
    assert (m.bob.did, 0) in neg.contract.delivered
    witness = m.escrow.escrow.verifier.witness
    assert witness.stamp_time(m.escrow.did, mallorys.sent.digest) is None, "the escrow took her answer"
    m.bob_loses_nothing(offer.negotiation_id, mallorys.accept.digest)


@pytest.mark.req("ESC-014", "ESC-013")
def test_a_reject_the_escrow_took_first_closes_the_offer_there() -> None:
    """Mallory rejects Bob's bonded offer; Bob shows the escrow the Reject (ESC-013), which it stamps.
    An Accept of the offer she shows it afterwards is refused -- no contract, no locks -- and Bob has
    nothing to wait for past the bonding cutoff."""
    m = Market()

    class Rejects:
        def exchange(self, envelope: bytes, context: Sequence[bytes]) -> list[bytes]:
            return [*m.mallory.setup, m.mallory.reject(verify_statement(envelope), "no").envelope]

    offer = m.b.propose(m.mallory.did, m.proposal())
    neg = carry_trade(m.b, Rejects(), offer, escrow=m.escrow)
    assert neg.state is State.REJECTED
    reject = m.b.verifier.statements[neg.closed_by]
    assert m.b.verifier.witness.stamp_time(m.escrow.did, reject.digest) is not None
    assert hidden_accept_check_ms(m.b, neg) is None
    accept = m.mallory.accept(offer)
    with pytest.raises(CoopError) as refused:
        m.escrow.submit([*m.mallory.setup, accept.envelope])
    assert refused.value.code == "ILLEGAL_TRANSITION"
    assert m.escrow.get_balance(m.bob.did)[:2] == (FUNDS, 0)


def _two_answers(answer: str) -> tuple[Market, list[bytes], VerifiedStatement, VerifiedStatement]:
    """Bob's offer, Mallory's witnessed Accept (after the escrow's Stamp, as the escrow shows it) and
    her other ``answer``; returns the market, the context, the Accept and the other answer."""
    m = Market()
    offer = m.bob.offer(m.mallory, m.proposal())
    accept = m.mallory.accept(offer)
    m.escrow.submit([*m.mallory.setup, *m.bob.setup, offer.envelope, accept.envelope])
    other = {
        "reject": lambda: m.mallory.reject(offer, "no"),
        "withdraw": lambda: m.bob.withdraw(offer, "changed my mind"),
        "accept": lambda: m.mallory.accept(offer),
    }[answer]()
    context = [*m.mallory.setup, *m.bob.setup, *m.escrow.party.setup, offer.envelope]
    return m, context, accept, other


def _escrow_view(m: Market, accept: VerifiedStatement) -> list[bytes]:
    """The Stamp that witnessed ``accept``, ``accept`` and the locks, in the escrow's ledger order."""
    stamp = m.escrow.escrow.verifier.witness.stamp_of(m.escrow.did, accept.digest)
    ledger = m.escrow.escrow.verifier.statements
    assert stamp is not None
    locks = [vs.envelope for vs in ledger.values() if vs.body == "bond_lock"]
    return [ledger[stamp].envelope, accept.envelope, *locks]


@pytest.mark.req("NEG-017", "NEG-018", "NEG-015")
@pytest.mark.parametrize("answer", ["reject", "withdraw", "accept"])
def test_every_order_reaches_the_witnessed_contract(answer: str) -> None:
    """An auditor holding the offer, the other answer and the escrow's witnessed Accept with its locks
    reaches BONDED under the witnessed contract whether the other answer came first (the offerer's
    order) or last; the other answer is taken either way, with no effect."""
    m, context, accept, other = _two_answers(answer)
    states = []
    for order in ([other.envelope, *_escrow_view(m, accept)], [*_escrow_view(m, accept), other.envelope]):
        v = Verifier()
        for env in [*context, *order]:
            v.accept(env)
        neg = v.negotiations.get(accept.negotiation_id)
        assert neg.contract is not None and neg.contract.id == accept.digest
        assert other.digest in neg.superseded
        states.append(neg.state)
    assert states == [State.BONDED, State.BONDED]


@pytest.mark.req("NEG-017", "NEG-025")
def test_an_accept_the_escrow_did_not_witness_in_time_gives_no_precedence() -> None:
    """Stamped by another key, or by the escrow after the bonding cutoff, the Accept is not witnessed: in a
    negotiation Mallory rejected it moves nothing. It was refused ILLEGAL_TRANSITION; since neg29 it is held
    with no event until a Stamp by the escrow in time orders it (NEG-025) -- REJECTED, no contract."""
    m, context, accept, reject = _two_answers("reject")
    carol = Party("carol", m.clock)
    for stamper, at in ((carol, None), (m.escrow.party, "late")):
        v = Verifier()
        for env in [*context, *carol.setup, reject.envelope]:
            v.accept(env)
        offer_vs = v.statements[accept.statement.accept.offer]
        when = offer_vs.header.expires_at_ms + 30_001 if at == "late" else None
        stamp = stamper.sign("stamp", commitment_pb2.Stamp(statements=[accept.digest]), issued_at_ms=when)
        v.accept(stamp.envelope)
        v.accept(accept.envelope)
        neg = v.negotiations.by_id[accept.negotiation_id]
        assert neg.state is State.REJECTED and neg.contract is None and accept.digest in neg.superseded


@pytest.mark.req("NEG-017", "NEG-015", "ESC-014")
def test_an_accept_a_faulty_escrow_stamped_after_another_answer_still_binds() -> None:
    """The escrow's order the other way: it stamped Mallory's Reject and then (at fault: ESC-014) her
    Accept. The Accept takes precedence all the same: had the verifier taken it before the Reject's
    Stamp, nothing would undo the contract, and verifiers holding the same statements must agree
    (NEG-015; tests/test_spec_precision.py checks both orders). The audit names the escrow
    (ANSWER_TAKEN_TWICE, tests/test_attack10.py). An escrow that follows ESC-014 refuses that Accept
    (test_a_reject_the_escrow_took_first_closes_the_offer_there)."""
    m, context, accept, reject = _two_answers("reject")
    esc = m.escrow.party
    v = Verifier()
    for env in [*context, esc.sign("stamp", commitment_pb2.Stamp(statements=[reject.digest])).envelope]:
        v.accept(env)
    v.accept(reject.envelope)
    assert v.negotiations.by_id[accept.negotiation_id].state is State.REJECTED
    v.accept(esc.sign("stamp", commitment_pb2.Stamp(statements=[accept.digest])).envelope)
    v.accept(accept.envelope)
    neg = v.negotiations.by_id[accept.negotiation_id]
    assert neg.state is State.ACCEPTED and neg.contract is not None and neg.contract.id == accept.digest


@pytest.mark.req("NEG-017", "NEG-019", "MND-010")
def test_the_displaced_contract_stops_counting_and_the_witnessed_one_counts() -> None:
    """Exposure follows the precedence: Bob's verifier formed the contract of Mallory's second Accept;
    the witnessed one takes its place in both parties' open contracts."""
    m, context, accept, second = _two_answers("accept")
    v = Verifier()
    for env in [*context, second.envelope]:
        v.accept(env)
    for env in _escrow_view(m, accept):
        v.accept(env)
    for vs in (accept, v.statements[accept.statement.accept.offer]):
        open_contracts = v.exposure.exposure(vs.mandate_digest).open_contracts
        assert accept.digest in open_contracts and second.digest not in open_contracts


class CountersWithoutBonds:
    """Mallory's server: it answers Bob's bonded offer with an unbonded Counter naming no escrow, one
    Bob's strategy accepts and, no bond to wait for, would deliver at once; with ``hide``, it first
    shows the escrow an Accept of the offer itself."""

    def __init__(self, market: Market, *, hide: bool) -> None:
        self.m, self.hide = market, hide
        self.accept: VerifiedStatement | None = None
        self.received: list[VerifiedStatement] = []

    def exchange(self, envelope: bytes, context: Sequence[bytes]) -> list[bytes]:
        vs = verify_statement(envelope)
        self.received.append(vs)
        if vs.body != "offer":
            return []
        if self.hide:
            self.accept = self.m.hide_accept(vs)
        offered = proposal_of(vs)
        counter = trade_pb2.Offer(gives=offered.wants, wants=offered.gives)  # her side: she gives
        counter.terms.currency = offered.terms.currency
        return [*self.m.mallory.setup, self.m.mallory.counter(vs, counter).envelope]

    def delivered_under(self) -> list[bytes]:
        return [vs.statement.delivery.contract for vs in self.received if vs.body == "delivery"]


@pytest.mark.req("NEG-017", "ESC-013")
def test_an_unbonded_counter_accepted_beside_a_hidden_accept_gets_no_delivery() -> None:
    """Mallory shows the escrow an Accept of Bob's bonded offer and answers Bob with an unbonded Counter,
    which he accepts. Before, Bob delivered under the Counter's contract at once and, that contract
    naming no escrow, never asked the escrow: her witnessed Accept displaced it (NEG-017), his Delivery
    went for nothing, and her claim took his bond. Now he delivers under nothing formed after his bonded
    offer before its escrow took the answer: shown the line, the escrow reveals her Accept, and Bob
    performs the witnessed contract once."""
    m = Market()
    mallorys = CountersWithoutBonds(m, hide=True)
    offer = m.b.propose(m.mallory.did, m.proposal())
    neg = carry_trade(m.b, mallorys, offer, escrow=m.escrow)
    assert mallorys.accept is not None and neg.contract is not None
    assert neg.contract.id == mallorys.accept.digest
    assert mallorys.delivered_under() == [mallorys.accept.digest]
    m.bob_loses_nothing(neg.id, mallorys.accept.digest)


@pytest.mark.req("ESC-013", "ESC-014")
def test_an_honest_unbonded_counter_is_performed_once_the_escrow_took_it() -> None:
    """No hidden Accept: the escrow takes the Counter (its Stamp), and Bob delivers under the contract of
    the Counter in the same run; an Accept of his offer shown afterwards binds nothing."""
    m = Market()
    mallorys = CountersWithoutBonds(m, hide=False)
    offer = m.b.propose(m.mallory.did, m.proposal())
    neg = carry_trade(m.b, mallorys, offer, escrow=m.escrow)
    assert neg.contract is not None and neg.contract.offer.digest != offer.digest
    assert mallorys.delivered_under() == [neg.contract.id]
    assert neg.exposed_offer(m.bob.did) is None
    with pytest.raises(CoopError):
        m.escrow.submit([*m.mallory.setup, m.mallory.accept(offer).envelope])
    assert m.escrow.get_balance(m.bob.did)[:2] == (FUNDS, 0)


@dataclass
class CountersWithItsBond(HonestStrategy):
    """Bob's strategy as a served node: it answers an offer with a Counter of its own, each side bonded at
    ``escrow`` -- and accepts a Counter of that."""

    escrow: str = ""

    def respond(self, offer: OfferView) -> Reply:
        if offer.round > 1:
            return StrategyAccept()
        mine = trade_pb2.Offer(gives=offer.proposal.wants, wants=offer.proposal.gives)  # his side
        mine.terms.currency = offer.proposal.terms.currency
        mine.terms.escrow, mine.terms.issuer_bond, mine.terms.audience_bond = self.escrow, BOND, BOND
        return StrategyCounter(mine)


def _served_bob_who_counters(tmp_path: Path) -> tuple[Market, PeerNode]:
    m = Market()
    return m, _open_countering_bob(m, tmp_path)


def _open_countering_bob(m: Market, tmp_path: Path) -> PeerNode:
    """Bob serving on his journal in ``tmp_path``, countering with his bond, with an escrow witness;
    opened again after a restart."""
    return m.bob_node(tmp_path, CountersWithItsBond(escrow=m.escrow.did))


def _restarted_bob_performs(
    m: Market, tmp_path: Path, opening: VerifiedStatement, accept: VerifiedStatement
) -> None:
    """Bob's countering node, opened again on its journal, gives its witness what it owes: it learns the
    contract of the Accept the escrow witnessed, performs it, and loses nothing to Mallory's claim."""
    node = _open_countering_bob(m, tmp_path)
    try:
        node.witness_owed()
        neg = m.witnessed_contract(node, opening.negotiation_id, accept)
        m.bob_loses_nothing(neg.id, accept.digest)
    finally:
        node.close()


def _countered_and_hidden(
    m: Market, node: PeerNode
) -> tuple[VerifiedStatement, VerifiedStatement, VerifiedStatement]:
    """Mallory offers served Bob (``node``), who counters with his bonded terms; she accepts his Counter
    and shows the Accept to the escrow alone, which locks both bonds. Returns her Offer, his Counter and
    her Accept."""
    mallory = m.mallory
    opening, answers = m.mallory_opens(node)
    counter = next(vs for vs in answers if vs.body == "counter")
    accept = mallory.accept(counter)
    shown = [*mallory.setup, *m.bob.setup, opening.envelope, counter.envelope, accept.envelope]
    assert [verify_statement(e).body for e in m.escrow.submit(shown)].count("bond_lock") == 2
    return opening, counter, accept


@pytest.mark.req("NEG-017", "ESC-013")
@pytest.mark.parametrize("answer", ["reject", "counter"])
def test_a_served_peers_bonded_counter_answered_beside_a_hidden_accept_is_performed(
    answer: str, tmp_path: Path
) -> None:
    """Bob serves; his strategy answers Mallory's offer with a bonded Counter naming his escrow. Mallory
    shows the escrow an Accept of that Counter and sends Bob a Reject of it (or an unbonded Counter,
    which his strategy accepts). Before, nothing of a served node asked the escrow: Bob's view stayed
    REJECTED (or the later contract, delivered at once), and her claim took his bond. Now the node shows
    the escrow the line once the answer came (ESC-013, through its escrow witness), learns the witnessed
    contract and has its Delivery witnessed."""
    m, node = _served_bob_who_counters(tmp_path)
    try:
        mallory = m.mallory
        opening, bobs, accept = _countered_and_hidden(m, node)
        if answer == "reject":
            other = mallory.reject(bobs, "no")
        else:
            terms = trade_pb2.Offer(gives=proposal_of(bobs).wants, wants=proposal_of(bobs).gives)
            terms.terms.currency = proposal_of(bobs).terms.currency
            other = mallory.counter(bobs, terms)
        node.exchange(other.envelope, mallory.setup)
        neg = m.witnessed_contract(node, opening.negotiation_id, accept)
        mine = [vs for vs in node.peer.verifier.statements.values() if vs.body == "delivery"]
        assert [vs.statement.delivery.contract for vs in mine] == [accept.digest]
        assert m.escrow.escrow.verifier.witness.stamp_time(m.escrow.did, mine[0].digest) is not None
        m.bob_loses_nothing(neg.id, accept.digest)
    finally:
        node.close()


@pytest.mark.req("NEG-017", "ESC-013")
def test_an_offer_initiated_through_the_control_service_learns_the_accept_beside_a_reject(
    tmp_path: Path,
) -> None:
    """Bob serves with an escrow witness and the control service; Initiate makes him offer Mallory
    bonded terms. Her server shows the escrow an Accept of the offer and answers Bob with a Reject.
    Before, the served node never asked the escrow (the seventh session's 'not done'), and her claim took
    his bond; now the node shows the escrow the Reject, learns the witnessed contract and performs it."""
    m, node = _served_bob_who_counters(tmp_path)
    mallorys = AnswersTwice(m, "reject")
    try:
        with serve(mallorys, None) as server:  # type: ignore[arg-type]
            request = control_pb2.InitiateRequest(
                counterparty_url=server.target, counterparty=m.mallory.did, proposal=m.proposal()
            )
            ControlServicer(node.peer, node.watch_exposed)._initiate(request)
        assert node.witness is not None and mallorys.accept is not None
        node.witness.flush()
        neg = node.peer.negotiation(mallorys.accept.negotiation_id)
        assert neg.contract is not None and neg.contract.id == mallorys.accept.digest, neg.state
        mine = [vs for vs in node.peer.verifier.statements.values() if vs.body == "delivery"]
        assert m.escrow.escrow.verifier.witness.stamp_time(m.escrow.did, mine[0].digest) is not None
        m.bob_loses_nothing(neg.id, mallorys.accept.digest)
    finally:
        node.close()


def _big(m: Market) -> trade_pb2.Offer:
    """Bob's bonded terms giving 6 000 (6 100 with the bond): two of them are past a 10 000 cap."""
    deadline = m.clock.now_ms + 3_600_000
    return m.bob.proposal(
        issuer_bond=BOND,
        audience_bond=BOND,
        escrow=m.escrow.did,
        gives=[service("code-review", value=6_000, deadline_ms=deadline)],
        wants=[service("copy-editing", value=6_000, deadline_ms=deadline)],
    )


@pytest.mark.req("NEG-017", "NEG-019", "MND-010")
def test_a_rejected_bonded_offer_counts_until_its_escrow_took_the_reject() -> None:
    """Bob's mandate caps his outstanding value at 10 000; he offers Mallory 6 000 (bonded). She shows
    the escrow an Accept of it and answers Bob with a Reject. Before, Bob's guard freed the offer at the
    Reject, let him offer Carol 6 000 more, and the witnessed Accept then bound him to the first as well:
    12 200 outstanding, past his principal's cap. Now his own bonded offer counts until its escrow took
    the answer (or it expires): the second offer is refused, and the cap holds once the Accept is shown."""
    m = Market()
    m.bob = Party("bob", m.clock, mandate_caps={"max_outstanding": 10_000})
    m.b = make_peer(m.bob, m.clock, context=[m.escrow.mandate])
    big = _big(m)
    offer = m.b.propose(m.mallory.did, big)
    accept = m.hide_accept(offer)
    m.b.on_replies([*m.mallory.setup, m.mallory.reject(offer, "no").envelope])
    with pytest.raises(CoopError) as refused:
        m.b.propose(Party("carol", m.clock).did, big)
    assert refused.value.code == "MANDATE_VIOLATION"
    ask_escrow_alone(m.b, m.escrow, m.b.negotiation(offer.negotiation_id))
    neg = m.b.negotiation(offer.negotiation_id)
    assert neg.contract is not None and neg.contract.id == accept.digest
    assert m.b.verifier.exposure.exposure(offer.mandate_digest).outstanding(m.clock.now_ms) <= 10_000


@pytest.mark.req("MND-011")
def test_a_journal_signed_before_the_rule_still_replays(tmp_path: Path) -> None:
    """A journal in which an earlier version's guard freed the rejected offer at once and let Bob offer
    its value elsewhere replays: the stricter rule binds what the guard signs now, not what it signed."""
    m = Market()
    m.bob = Party("bob", m.clock, mandate_caps={"max_outstanding": 10_000})
    m.b = make_peer(m.bob, m.clock, context=[m.escrow.mandate], journal=Journal.open(tmp_path / "b.db"))
    big = _big(m)
    offer = m.b.propose(m.mallory.did, big)
    m.b.verifier.hold_exposed = False  # the guard of an earlier version
    m.b.on_replies([*m.mallory.setup, m.mallory.reject(offer, "no").envelope])
    second = m.b.propose(Party("carol", m.clock).did, big)
    m.b.journal.close()  # type: ignore[union-attr]
    with Journal.open(tmp_path / "b.db") as journal:
        again = make_peer(m.bob, m.clock, context=[m.escrow.mandate], journal=journal, run=1)
        assert second.digest in again.verifier.exposure.exposure(second.mandate_digest).live_offers


@pytest.mark.req("ESC-013", "MND-010")
def test_a_rejected_bonded_offer_is_freed_once_its_escrow_took_the_reject() -> None:
    """No hidden Accept: once the escrow stamped the Reject (Bob shows it, ESC-013), the offer stops
    counting at once -- Bob may offer its value elsewhere."""
    m = Market()
    offer = m.b.propose(m.mallory.did, m.proposal())
    m.b.on_replies([*m.mallory.setup, m.mallory.reject(offer, "no").envelope])
    live = m.b.verifier.exposure.exposure(offer.mandate_digest).live_offers
    assert offer.digest in live
    ask_escrow_alone(m.b, m.escrow, m.b.negotiation(offer.negotiation_id))
    assert offer.digest not in live


@pytest.mark.req("NEG-017")
@pytest.mark.parametrize("answer", ["reject", "counter", "accept", "unbonded-counter"])
def test_a_witnessed_contract_is_the_same_after_a_restart(answer: str, tmp_path: Path) -> None:
    """Bob, journaled, adopts the witnessed contract; a Peer replayed from his journal reaches the same
    state, contract, superseded statements, Deliveries and open contracts."""
    m = Market()
    m.b = make_peer(m.bob, m.clock, context=[m.escrow.mandate], journal=Journal.open(tmp_path / "b.db"))
    mallorys: CountersWithoutBonds | AnswersTwice = (
        CountersWithoutBonds(m, hide=True) if answer == "unbonded-counter" else AnswersTwice(m, answer)
    )
    offer = m.b.propose(m.mallory.did, m.proposal())
    with contextlib.suppress(CoopError):
        carry_trade(m.b, mallorys, offer, escrow=m.escrow)

    def seen(peer: Peer) -> tuple[object, ...]:
        neg = peer.negotiation(offer.negotiation_id)
        assert neg.contract is not None
        book = peer.verifier.exposure.exposure(offer.mandate_digest)
        return (
            neg.state,
            neg.contract.id,
            set(neg.superseded),
            set(neg.contract.delivered),
            set(book.open_contracts),
        )

    before = seen(m.b)
    assert before[1] == mallorys.accept.digest if mallorys.accept else False
    m.b.journal.close()  # type: ignore[union-attr]
    with Journal.open(tmp_path / "b.db") as journal:
        assert seen(make_peer(m.bob, m.clock, context=[m.escrow.mandate], journal=journal, run=1)) == before


class DownOnce:
    """The escrow, unreachable for the first Submit (the run that got the Reject could not ask)."""

    def __init__(self, escrow: LocalEscrow) -> None:
        self.escrow, self.down = escrow, True

    def submit(self, envelopes: Sequence[bytes]) -> list[bytes]:
        if self.down:
            self.down = False
            raise TransportError(grpc.StatusCode.UNAVAILABLE, "escrow down")
        return self.escrow.submit(envelopes)


@pytest.mark.req("NEG-017", "ESC-013")
def test_resume_finds_a_rejected_offer_the_escrow_was_not_shown(tmp_path: Path) -> None:
    """Mallory shows the escrow an Accept of Bob's bonded offer and rejects it; the escrow is down when
    Bob's `offer` asks, so the run ends with an error, and journaled, the REJECTED negotiation is dropped
    from memory at once. Before, `resume` looked only at unfinished negotiations in memory, found nothing,
    and her claim took Bob's bond; now it also takes the ended ones whose bonded offer's answer the escrow
    was not shown (forgotten_to_show), shows it, learns the witnessed contract and performs it."""
    m = Market()
    journal = Journal.open(tmp_path / "b.db")
    m.b = make_peer(m.bob, m.clock, context=[m.escrow.mandate], journal=journal)
    mallorys = AnswersTwice(m, "reject")
    offer = m.b.propose(m.mallory.did, m.proposal())
    with pytest.raises(TransportError):
        carry_trade(m.b, mallorys, offer, escrow=DownOnce(m.escrow))  # type: ignore[arg-type]
    assert offer.negotiation_id not in m.b.verifier.negotiations.by_id  # forgotten
    (neg,) = forgotten_to_show(m.b, journal.statements(), m.clock.now_ms)
    neg = resume_trade(m.b, mallorys, neg, escrow=m.escrow)  # type: ignore[arg-type]
    assert mallorys.accept is not None and neg.contract is not None
    assert neg.contract.id == mallorys.accept.digest and (m.bob.did, 0) in neg.contract.delivered
    assert forgotten_to_show(m.b, journal.statements(), m.clock.now_ms) == []
    m.bob_loses_nothing(neg.id, mallorys.accept.digest)


def _unbonded(m: Market) -> trade_pb2.Offer:
    proposal = m.proposal()  # names the escrow, as arbiter of claims only
    proposal.terms.issuer_bond = proposal.terms.audience_bond = 0
    return proposal


@pytest.mark.req("NEG-017", "ESC-014")
def test_a_second_accept_of_an_unbonded_offer_is_performed_where_the_escrow_witnessed_it() -> None:
    """Bob's offer names the escrow with no bond; Mallory shows the escrow one Accept of it and sends Bob
    another. Bob delivers under hers at once (no bond to wait for); the escrow, shown his contract, answers
    with the Accept it witnessed, which takes precedence (NEG-017). Before, nothing made Bob perform the
    witnessed contract, and her claim under it was upheld (BREACHED); now the contract the escrow revealed
    is performed (the same terms: the same item again) and her claim fails."""
    m = Market()
    mallorys = AnswersTwice(m, "accept")
    offer = m.b.propose(m.mallory.did, _unbonded(m))
    carry_trade(m.b, mallorys, offer, escrow=m.escrow)
    neg = m.b.negotiation(offer.negotiation_id)
    assert mallorys.accept is not None and neg.contract is not None
    assert neg.contract.id == mallorys.accept.digest and (m.bob.did, 0) in neg.contract.delivered
    assert m.mallory_claims(neg.id, mallorys.accept.digest) is not State.BREACHED


@pytest.mark.req("NEG-017", "ESC-013")
def test_an_unbonded_counter_of_an_unbonded_offer_accepted_beside_a_hidden_accept() -> None:
    """Bob's offer names the escrow with no bond; Mallory shows the escrow an Accept of it and answers Bob
    with a Counter of other terms naming no escrow, which he accepts and performs at once. No bond bound
    him there, so nothing asked the escrow: he never learnt of the witnessed contract, and her claim
    under it was upheld -- BREACHED, no bond lost, his Delivery under the displaced contract. Now a run
    that reaches the escrow (``carry_trade``) shows it the line of an unbonded offer naming it too, and
    performs the contract it reveals; nothing is held back (his Delivery under the Counter's contract
    still goes at once, for nothing), so a peer that never asks the escrow is not stalled."""
    m = Market()
    mallorys = CountersWithoutBonds(m, hide=True)
    offer = m.b.propose(m.mallory.did, _unbonded(m))
    carry_trade(m.b, mallorys, offer, escrow=m.escrow)
    assert mallorys.accept is not None
    assert m.mallory_claims(offer.negotiation_id, mallorys.accept.digest) is not State.BREACHED


@pytest.mark.req("ESC-013")
def test_a_served_peers_unanswered_bonded_counter_is_asked_about_past_its_cutoff(tmp_path: Path) -> None:
    """Served Bob's bonded Counter is never answered; Mallory shows the escrow an Accept of it alone.
    The node sets a watch for past the Counter's bonding cutoff (plus the clock tolerance), and that
    watch's job learns the witnessed contract and has Bob's Delivery witnessed."""
    m, node = _served_bob_who_counters(tmp_path)
    try:
        opening, counter, accept = _countered_and_hidden(m, node)
        cutoff = hidden_accept_check_ms(node.peer, node.peer.negotiation(opening.negotiation_id))
        assert cutoff == counter.header.expires_at_ms + 60_000
        assert node._exposed_watches == {opening.negotiation_id: cutoff}
        m.clock.now_ms = cutoff
        assert node.ask_about_offer(opening.negotiation_id)
        neg = m.witnessed_contract(node, opening.negotiation_id, accept)
        m.bob_loses_nothing(neg.id, accept.digest)
    finally:
        node.close()


class DownUntilUp:
    """The escrow, unreachable (UNAVAILABLE) until ``up`` is set; counts the Submits it refused."""

    def __init__(self, escrow: LocalEscrow) -> None:
        self.escrow, self.up, self.refused = escrow, False, 0

    def submit(self, envelopes: Sequence[bytes]) -> list[bytes]:
        if not self.up:
            self.refused += 1
            raise TransportError(grpc.StatusCode.UNAVAILABLE, "escrow down")
        return self.escrow.submit(envelopes)


@contextlib.contextmanager
def _asked_past_its_doubling_retries(
    tmp_path: Path,
) -> Iterator[tuple[Market, PeerNode, DownUntilUp, VerifiedStatement, VerifiedStatement, VerifiedStatement]]:
    """Served Bob's bonded Counter accepted behind his back (the Accept shown to the escrow alone), the
    escrow down when his node asks past the cutoff and for more asks than the doubling retries
    (MAX_LOCK_FETCHES). Yields the market, Bob's node, the escrow as Bob reaches it, Mallory's Offer, his
    Counter and her Accept."""
    m = Market()
    down = DownUntilUp(m.escrow)
    witness = EscrowWitness(down, m.escrow.did, lock_wait_s=0.005)
    node = m.bob_node(tmp_path, CountersWithItsBond(escrow=m.escrow.did), witness=witness)
    try:
        opening, counter, accept = _countered_and_hidden(m, node)
        m.clock.now_ms = hidden_accept_check_ms(node.peer, node.peer.negotiation(opening.negotiation_id))
        assert not node.ask_about_offer(opening.negotiation_id)
        _within(10, lambda: down.refused > node_module.MAX_LOCK_FETCHES + 1)  # asked on past them
        yield m, node, down, opening, counter, accept
    finally:
        node.close()


def _within(seconds: float, done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, "not within the time given"
        time.sleep(0.01)


@pytest.mark.req("ESC-013")
def test_a_served_peer_keeps_asking_an_escrow_down_for_longer_than_its_doubling_retries(
    tmp_path: Path,
) -> None:
    """Before, the node stopped asking after the doubling retries: the Counter's value and exclusive_key
    stayed held, and the witnessed contract unknown to Bob, until its claim window had passed. Now it
    asks on, at most ESCROW_ASK_CAP_S apart, while that hold lasts: once the escrow is back, he learns
    the contract and performs it."""
    with _asked_past_its_doubling_retries(tmp_path) as (m, node, down, opening, _counter, accept):
        down.up = True
        _within(10, lambda: node.peer.negotiation(opening.negotiation_id).contract is not None)
        neg = m.witnessed_contract(node, opening.negotiation_id, accept)
        m.bob_loses_nothing(neg.id, accept.digest)


@pytest.mark.req("ESC-013")
def test_a_served_peer_stops_asking_a_down_escrow_once_the_hold_would_have_ended(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The asks of an escrow that stays down are bounded: once the Counter's last deadline plus the claim
    window has passed -- and the clock tolerance, for the escrow's clock behind ours (resume31) -- what an
    answer would free is free anyway, and the node stops asking."""
    monkeypatch.setattr(node_module, "ESCROW_ASK_CAP_S", 0.02)
    with _asked_past_its_doubling_retries(tmp_path) as (m, _node, down, _opening, counter, _accept):
        m.clock.now_ms = claims_over_ms(proposal_of(counter)) + 1
        at_end, before, after = down.refused, -1, down.refused
        deadline = time.monotonic() + 10
        while before != after and time.monotonic() < deadline:  # stable over 15 asks' time at the cap
            before, _, after = after, time.sleep(0.3), down.refused
        assert before == after <= at_end + 1  # at most the ask under way when the hold ended


@pytest.mark.req("NEG-017", "ESC-013")
def test_a_rejected_negotiation_the_peer_forgot_comes_back_for_the_witnessed_accept(tmp_path: Path) -> None:
    """Bob's peer keeps a journal, so it forgets the negotiation Mallory's Reject ended (REJECTED is over
    for good but for NEG-017) before it shows the escrow the Reject; the revealed Accept brings the
    negotiation back from the journal, and Bob performs the witnessed contract."""
    m = Market()
    with Journal.open(tmp_path / "bob.db") as journal:
        m.b = make_peer(m.bob, m.clock, context=[m.escrow.mandate], journal=journal)
        mallorys = AnswersTwice(m, "reject")
        offer = m.b.propose(m.mallory.did, m.proposal())
        forgotten = []
        ask = trade_module.ask_escrow_about_offer

        def asks(peer: Peer, *args: object) -> bool:
            forgotten.append(offer.negotiation_id not in peer.verifier.negotiations.by_id)
            return ask(peer, *args)  # type: ignore[arg-type]

        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(trade_module, "ask_escrow_about_offer", asks)
            with contextlib.suppress(CoopError):
                carry_trade(m.b, mallorys, offer, escrow=m.escrow)
        assert forgotten == [True], "the peer did not forget the rejected negotiation first"
        neg = m.b.negotiation(offer.negotiation_id)
        assert mallorys.accept is not None and neg.contract is not None
        assert neg.contract.id == mallorys.accept.digest and (m.bob.did, 0) in neg.contract.delivered
        m.bob_loses_nothing(offer.negotiation_id, mallorys.accept.digest)


@pytest.mark.req("ESC-013")
def test_offer_with_a_count_waits_for_the_cutoff_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`a2a-coop offer --count 3` against a server that answers no offer: every offer goes out first,
    then one wait for the last bonding cutoff (one line naming the three), then the escrow is asked
    about each -- three EXPIRED lines, exit 1 -- not three waits of about 6 minutes one after another."""
    bob, mallory, esc = (provision(tmp_path, name) for name in ("bob", "mallory", "escrow"))
    escrow = EscrowNode(esc.key, esc.mandate, tmp_path / "escrow.db", faucet=FUNDS)
    node = PeerNode.open(mallory.key, mallory.mandate, tmp_path / "mallory.db", context=[escrow.mandate])
    mallorys = _HidesItsAccept(node, escrow)
    real_sleep, waits = time.sleep, []

    def sleep(seconds: float) -> None:
        if seconds < 60:
            return real_sleep(seconds)
        waits.append(seconds)
        # The wait is over by every clock here: the escrow signs its word past the cutoff (ESC-013 (i)).
        offset = peer_module._test_offset_ms + int(seconds * 1000) + 1000  # and a second on
        monkeypatch.setattr(peer_module, "_test_offset_ms", offset)

    monkeypatch.setattr(time, "sleep", sleep)
    try:
        with serve(None, escrow) as escrow_server, serve(mallorys, None) as mallory_server:  # type: ignore[arg-type]
            argv = [*bob.files(), "--to", mallory_server.target, "--escrow", escrow_server.target]
            code, out, err = run_cli(
                capsys,
                "offer",
                *argv,
                "--give",
                "code-review:20",
                "--want",
                "copy-editing:20",
                "--bond",
                "5",
                "--count",
                "3",
            )
        assert len(waits) == 1 and 5 * 60 < waits[0] <= 6 * 60 + 1, (waits, code, err)
        waiting = [line for line in err.splitlines() if "waiting until" in line]
        assert len(waiting) == 1 and "3 offers" in waiting[0], err
        assert code == 1 and out.count("EXPIRED") == 3, (code, out, err)
        assert [line.split()[0] for line in out.splitlines()] == ["1/3", "2/3", "3/3"]
    finally:
        node.close()
        escrow.close()


def _capped(cap: str, answer: str, more_gives: int) -> tuple[list[bytes], list[bytes], list[bytes]]:
    """Mallory's mandate caps ``cap`` at 1000; each Accept of Bob's bonded offer commits her 550 (the 450
    she gives and her bond). Returns the context (mandates, the offer), her other ``answer`` (a Counter
    giving 600, or a second Accept) and the escrow's witnessed Accept (its Stamp, the Accept), and her
    offer to Carol giving ``more_gives``, each as envelopes."""
    clock = FixedClock()
    caps = {"max_per_deal": 1_000, cap: 1_000}
    bob, mallory = Party("bob", clock), Party("mallory", clock, caps)
    escrow, carol = Party("escrow", clock), Party("carol", clock)
    offer = bob.offer(mallory, bob.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did))
    clock.advance(1_000)
    accept = mallory.accept(offer)
    deadline = clock.now_ms + DAY_MS
    if answer == "counter":
        other = mallory.counter(
            offer, mallory.proposal(gives=[service("code-review", value=600, deadline_ms=deadline)])
        )
    else:
        other = mallory.accept(offer)
    witnessed = [escrow.sign("stamp", commitment_pb2.Stamp(statements=[accept.digest])), accept]
    clock.advance(1_000)
    more = mallory.offer(
        carol, mallory.proposal(gives=[service("code-review", value=more_gives, deadline_ms=deadline)])
    )
    context = [*bob.setup, *mallory.setup, *escrow.setup, *carol.setup, offer.envelope]
    return context, [other.envelope], [*(vs.envelope for vs in witnessed), more.envelope]


@pytest.mark.req("NEG-017", "NEG-019", "MND-009", "MND-010", "NEG-015")
@pytest.mark.parametrize("cap", ["max_outstanding", "budget_per_period"])
@pytest.mark.parametrize("answer", ["counter", "accept"])
def test_the_witnessed_accept_is_checked_without_what_it_displaces(cap: str, answer: str) -> None:
    """Mallory sizes her mandate so that her witnessed Accept fits her cap alone but not beside the
    Counter or second Accept she sends Bob (which the escrow never took). Bob's verifier, holding the
    other answer first, must still take the witnessed Accept: checked with what it displaces, it was
    refused (MANDATE_VIOLATION), Bob never performed and her claim took his bond. Every order reaches
    the same exposure: 550 committed, so her offer of 450 more fits and 451 does not."""
    for order in ("other first", "witnessed first"):
        for gives, fits in ((450, True), (451, False)):
            context, other, witnessed = _capped(cap, answer, gives)
            *accept, more = witnessed
            envelopes = [*other, *accept] if order == "other first" else [*accept, *other]
            v = Verifier()
            for env in [*context, *envelopes]:
                v.accept(env)
            neg = v.negotiations.get(verify_statement(accept[-1]).negotiation_id)
            assert neg.contract is not None and neg.contract.id == verify_statement(accept[-1]).digest
            if fits:
                v.accept(more)
                continue
            with pytest.raises(CoopError) as refused:
                v.accept(more)
            assert refused.value.code == "MANDATE_VIOLATION", (order, gives)


@pytest.mark.req("NEG-017", "NEG-019", "MND-009")
def test_a_fulfilled_contract_displaced_stops_charging_its_period() -> None:
    """The contract a witnessed Accept displaces may have ended already: Bob accepted Mallory's Counter
    (no bonds, no escrow), both performed and receipted it (FULFILLED, still charging its period,
    MND-009). Her witnessed Accept of Bob's offer then fits her budget of 1000 beside nothing else: the
    Counter's 600 charge nowhere, so 550 are committed and her next offer may give 450."""
    clock = FixedClock()
    bob, mallory = (
        Party("bob", clock),
        Party("mallory", clock, {"max_per_deal": 1_000, "budget_per_period": 1_000}),
    )
    escrow, carol = Party("escrow", clock), Party("carol", clock)
    offer = bob.offer(mallory, bob.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did))
    clock.advance(1_000)
    accept = mallory.accept(offer)
    deadline = clock.now_ms + DAY_MS
    counter = mallory.counter(
        offer, mallory.proposal(gives=[service("code-review", value=600, deadline_ms=deadline)])
    )
    clock.advance(1_000)
    on_counter = bob.accept(counter)
    clock.advance(1_000)
    delivered = [mallory.deliver(on_counter, bob), bob.deliver(on_counter, mallory)]
    clock.advance(1_000)
    receipts = [bob.receipt(delivered[0]), mallory.receipt(delivered[1])]
    witness = escrow.sign("stamp", commitment_pb2.Stamp(statements=[accept.digest]))
    v = Verifier()
    context = [*bob.setup, *mallory.setup, *escrow.setup, *carol.setup, offer.envelope]
    for vs in (counter, on_counter, *delivered, *receipts):
        context.append(vs.envelope)
    for env in context:
        v.accept(env)
    assert v.negotiations.get(offer.negotiation_id).state is State.FULFILLED
    v.accept(witness.envelope)
    v.accept(accept.envelope)
    assert v.negotiations.get(offer.negotiation_id).contract.id == accept.digest
    clock.advance(1_000)
    gives = [service("code-review", value=451, deadline_ms=deadline)]
    with pytest.raises(CoopError) as refused:
        v.accept(mallory.offer(carol, mallory.proposal(gives=gives)).envelope)
    assert refused.value.code == "MANDATE_VIOLATION"
    gives = [service("code-review", value=450, deadline_ms=deadline)]
    v.accept(mallory.offer(carol, mallory.proposal(gives=gives)).envelope)


@pytest.mark.req("NEG-017", "NEG-019", "MND-010", "ESC-012")
def test_offers_the_escrow_never_saw_cannot_make_the_offerer_refuse_a_witnessed_accept() -> None:
    """Mallory's mandate caps her outstanding value at 1,000. Before accepting Bob's bonded offer (550 of
    hers: 450 given, a bond of 100) at the escrow alone, she hands Bob two offers of her own in other
    negotiations (300 each, as context he leaves open), which the escrow never sees. In the escrow's
    view her Accept fits (550); in Bob's, 600 + 550 > 1,000. Bob, shown the Accept by the escrow
    (ESC-012), must take it -- the escrow bonded it -- and perform; refusing it MANDATE_VIOLATION kept him
    from delivering, and her claim took
    his bond."""
    m = Market()
    m.mallory = Party("mallory", m.clock, mandate_caps={"max_outstanding": 1_000})
    m.escrow = LocalEscrow(Party("escrow", m.clock), funds={m.mallory.did: FUNDS, m.bob.did: FUNDS})
    m.b = make_peer(m.bob, m.clock, context=[m.escrow.mandate])
    deadline = m.clock.now_ms + 3_600_000
    sides = [
        m.mallory.offer(
            m.bob,
            m.mallory.proposal(gives=[service("proofreading", value=300, deadline_ms=deadline)], wants=[]),
        )
        for _ in range(3)
    ]
    # Two as context of a request (SPEC 13.2): Bob takes them before the request and leaves them open.
    with contextlib.suppress(CoopError):
        m.b.exchange(sides[2].envelope, [*m.mallory.setup, sides[0].envelope, sides[1].envelope])
    exposure = m.b.verifier.exposure.by_mandate[m.mallory.mandate_vs.digest]
    assert exposure.outstanding(m.clock.now_ms, 0) == 600, "her side offers do not count in Bob's view"
    mallorys = AcksOnly(m, hide=True)
    neg = carry_trade(m.b, mallorys, m.b.propose(m.mallory.did, m.proposal()), escrow=m.escrow)
    assert mallorys.accept is not None
    assert neg.contract is not None and (m.bob.did, 0) in neg.contract.delivered
    m.bob_loses_nothing(neg.id, mallorys.accept.digest)


@pytest.mark.req("ESC-013")
def test_a_served_peer_restarted_before_asking_asks_about_the_rejected_counter(tmp_path: Path) -> None:
    """Served Bob's bonded Counter, accepted at the escrow alone, is rejected; the node stops before its
    witness asks the escrow (here: it ran without one), and journaled, the REJECTED negotiation was dropped
    from memory. Restarted with its escrow witness, the node reads it back from the journal, shows the
    escrow the Reject, learns the witnessed contract and performs it."""
    m, node = _served_bob_who_counters(tmp_path)
    witness, node.witness = node.witness, None  # the node that stops before asking
    opening, counter, accept = _countered_and_hidden(m, node)
    node.exchange(m.mallory.reject(counter, "no").envelope, m.mallory.setup)
    assert opening.negotiation_id not in node.peer.verifier.negotiations.by_id
    node.close()
    assert witness is not None
    witness.close()
    _restarted_bob_performs(m, tmp_path, opening, accept)


@pytest.mark.req("NEG-017", "NEG-019", "NEG-009")
def test_a_witnessed_accept_of_an_offer_whose_exclusive_key_went_elsewhere_is_taken() -> None:
    """Bob offers Mallory bonded terms with an exclusive_key; she accepts at the escrow alone and says
    nothing. Bob, his offer still open, commits the same key to Carol, who accepts. The escrow reveals
    Mallory's Accept: before, Bob's verifier refused it EXCLUSIVE_CONFLICT (NEG-009 applied to it in the
    ordinary way, the offer being still outstanding), so he never performed and her claim took his bond.
    NEG-009 does not apply to a witnessed Accept (NEG-017: he committed the key when he signed the
    offer, and the escrow, which checked the key in its view, bonds it): Bob performs it. (Bob's guard now
    refuses the offer to Carol, NEG-020: a guard without that rule signs it here.)"""
    m = Market()
    m.b.verifier.hold_exposed = False  # a guard without NEG-020
    terms = m.proposal()
    terms.exclusive_key = b"the-car"
    offer = m.b.propose(m.mallory.did, terms)
    accept = m.hide_accept(offer)
    carol = Party("carol", m.clock)
    again = m.proposal()
    again.exclusive_key = b"the-car"
    again.terms.escrow, again.terms.issuer_bond, again.terms.audience_bond = "", 0, 0
    to_carol = m.b.propose(carol.did, again)
    m.b.on_replies([*carol.setup, carol.accept(to_carol).envelope])
    assert m.b.negotiation(to_carol.negotiation_id).contract is not None
    ours = ask_escrow_alone(m.b, m.escrow, m.b.negotiation(offer.negotiation_id))
    neg = m.b.negotiation(offer.negotiation_id)
    assert neg.contract is not None and neg.contract.id == accept.digest
    assert ours is not None and [vs.body for vs in ours] == ["delivery"]
    m.escrow.submit([vs.envelope for vs in ours])
    m.bob_loses_nothing(neg.id, accept.digest)


@pytest.mark.req("NEG-009", "ESC-014")
def test_the_escrow_still_refuses_an_accept_whose_exclusive_key_it_saw_committed() -> None:
    """The escrow takes Bob's contract with Carol under the key first; Mallory's Accept of Bob's earlier
    offer with the same key is refused there (NEG-009 in the escrow's view): nothing is witnessed. (Bob's
    guard now refuses the offer to Carol, NEG-020: a guard without that rule signs it here.)"""
    m = Market()
    m.b.verifier.hold_exposed = False  # a guard without NEG-020
    terms = m.proposal()
    terms.exclusive_key = b"the-car"
    offer = m.b.propose(m.mallory.did, terms)
    carol = Party("carol", m.clock)
    m.escrow.escrow.deposit(carol.did, FUNDS, "credit", "test funding", m.clock.now_ms)
    to_carol = m.b.propose(carol.did, terms)
    carols = carol.accept(to_carol)
    m.escrow.submit([*carol.setup, *m.bob.setup, to_carol.envelope, carols.envelope])
    with pytest.raises(CoopError) as refused:
        m.escrow.submit([*m.mallory.setup, offer.envelope, m.mallory.accept(offer).envelope])
    assert refused.value.code == "EXCLUSIVE_CONFLICT"


class ForksAtTheAccept(MallorysServer):
    """Mallory's server: it shows the escrow an Accept of Bob's offer at some seq of her chain, then signs
    ``answer`` -- a Reject of the offer, or an Ack -- at the same seq (a fork: two statements at one
    position) and sends Bob that. Bob's verifier, holding it, refuses the Accept the escrow reveals
    (CHN-004) and cannot perform; the escrow never saw the other statement."""

    def respond(self, vs: VerifiedStatement) -> list[bytes]:
        mallory = self.m.mallory
        writer = mallory.agent.writer
        seq, prev = writer.next_seq, writer.prev
        if self.how == "dated-back":  # next in her chain, dated before the Accept it follows
            self.m.clock.advance(5_000)
            self.accept = self.m.hide_accept(vs)
            other = mallory.reject(vs, "no", issued_at_ms=vs.issued_at_ms + 1_000)
            assert other.header.seq == self.accept.header.seq + 1
            return [*mallory.setup, other.envelope]
        self.accept = self.m.hide_accept(vs)
        writer.next_seq, writer.prev = seq, prev  # the same position again
        if self.how == "reject":
            other = mallory.reject(vs, "no")
        else:
            other = mallory.sign("ack", commitment_pb2.Ack(statement=vs.digest), audience=self.m.bob.did)
        assert other.header.seq == self.accept.header.seq
        return [*mallory.setup, other.envelope]

    def claim_on_the_escrows_branch(self) -> None:
        """Her later statements follow the Accept: the chain the escrow holds."""
        assert self.accept is not None
        writer = self.m.mallory.agent.writer
        writer.next_seq, writer.prev = self.accept.header.seq + 1, self.accept.digest


@pytest.mark.req("ESC-015", "NEG-017", "CHN-004", "CHN-005")
@pytest.mark.parametrize(
    ("answer", "code"), [("reject", "EQUIVOCATION"), ("ack", "EQUIVOCATION"), ("dated-back", "CHAIN_BROKEN")]
)
def test_an_answer_forked_at_the_accepts_seq_takes_no_bond(answer: str, code: str) -> None:
    """Mallory signs her Accept of Bob's bonded offer and, at the same seq of her chain, a Reject (or an
    Ack); the escrow gets the Accept, Bob the other. Bob cannot take the Accept the escrow reveals
    (EQUIVOCATION: two statements at one seq), so he cannot perform. Before, her claim on the escrow's
    branch took his bond. Now the escrow learns the fork -- from the Reject Bob shows it with his offer
    (ESC-013), or from the pair Bob's runtime shows it back when his verifier refuses the Accept -- and
    takes no claim of hers under that contract (ESC-015); the bonds lapse back. The same with a Reject
    next in her chain but dated before the Accept it follows (CHAIN_BROKEN, CHN-005: her times run back)."""
    m = Market()
    mallorys = ForksAtTheAccept(m, answer)
    offer = m.b.propose(m.mallory.did, m.proposal())
    with pytest.raises(CoopError) as refused:
        carry_trade(m.b, mallorys, offer, escrow=m.escrow)
    assert refused.value.code == code
    assert mallorys.accept is not None and m.mallory.did in m.b.verifier.forks
    mallorys.claim_on_the_escrows_branch()
    m.clock.advance(DAY_MS)
    claim = m.mallory.sign(
        "breach_claim",
        commitment_pb2.BreachClaim(contract=mallorys.accept.digest, item_index=0, reason="never delivered"),
        audience=m.bob.did,
        negotiation_id=offer.negotiation_id,
    )
    with pytest.raises(CoopError) as dismissed:
        m.escrow.submit([claim.envelope])
    assert dismissed.value.requirement == "ESC-015"
    m.clock.advance(CLAIM_WINDOW_MS + 3 * DAY_MS)
    m.escrow.tick()
    assert m.escrow.get_balance(m.bob.did)[:2] == (FUNDS, 0)


class CountersAtAnotherEscrow:
    """Mallory's server: it answers Bob's offer, bonded at the market's escrow (E1), with a bonded Counter
    naming a second escrow (E2) Bob trusts too; with ``hide``, it first shows E1 an Accept of Bob's offer.
    An Accept of her Counter she submits to E2 at once, and answers with E2's locks."""

    def __init__(self, market: Market, other: LocalEscrow, *, hide: bool) -> None:
        self.m, self.other, self.hide = market, other, hide
        self.accept: VerifiedStatement | None = None  # hers, of Bob's offer, shown to E1 alone
        self.offer: VerifiedStatement | None = None
        self.counter: VerifiedStatement | None = None
        self.bobs_accept: VerifiedStatement | None = None  # of her Counter
        self.received: list[VerifiedStatement] = []

    def exchange(self, envelope: bytes, context: Sequence[bytes]) -> list[bytes]:
        vs = verify_statement(envelope)
        self.received.append(vs)
        mallory, bob = self.m.mallory, self.m.bob
        if vs.body == "offer":
            self.offer = vs
            if self.hide:
                self.accept = self.m.hide_accept(vs)
            offered = proposal_of(vs)
            terms = trade_pb2.Offer(gives=offered.wants, wants=offered.gives)  # her side: she gives
            terms.terms.CopyFrom(offered.terms)
            terms.terms.escrow = self.other.did
            self.counter = mallory.counter(vs, terms)
            return [*mallory.setup, self.counter.envelope]
        if (
            vs.body == "accept"
            and self.counter is not None
            and vs.statement.accept.offer == self.counter.digest
        ):
            assert self.offer is not None
            self.bobs_accept = vs
            shown = [*mallory.setup, *bob.setup, self.offer.envelope, self.counter.envelope, vs.envelope]
            return self.other.submit(shown)  # E2's Mandate, its Stamps and both locks
        return []

    def delivered_under(self) -> list[bytes]:
        return [vs.statement.delivery.contract for vs in self.received if vs.body == "delivery"]

    def claims_at_the_other_escrow(self) -> None:
        """Under the contract of her Counter, if Bob accepted it: she claims his item after its deadline
        at E2, which rules once the windows are over."""
        if self.bobs_accept is None:
            return
        self.m.clock.advance(DAY_MS)
        claim = self.m.mallory.sign(
            "breach_claim",
            commitment_pb2.BreachClaim(
                contract=self.bobs_accept.digest, item_index=0, reason="never delivered"
            ),
            audience=self.m.bob.did,
            negotiation_id=self.bobs_accept.negotiation_id,
        )
        with contextlib.suppress(CoopError):
            self.other.submit([claim.envelope])
        self.m.clock.advance(CLAIM_WINDOW_MS + 3 * DAY_MS)
        self.other.tick()


def _two_escrows() -> tuple[Market, LocalEscrow]:
    m = Market()
    e2 = LocalEscrow(Party("escrow-2", m.clock), funds={m.mallory.did: FUNDS, m.bob.did: FUNDS})
    m.b = make_peer(m.bob, m.clock, context=[m.escrow.mandate, e2.mandate])
    return m, e2


@pytest.mark.req("ESC-013", "NEG-017", "ESC-014")
def test_a_counter_at_another_escrow_is_not_accepted_beside_a_hidden_accept() -> None:
    """Mallory shows E1 an Accept of Bob's offer (bonded at E1) and answers Bob with a bonded Counter
    naming E2, which Bob trusts too. Before, Bob's strategy accepted the Counter at once; Mallory had E2
    lock both bonds of that contract; E1 then revealed her Accept, which took precedence (NEG-017), and
    Bob performed his offer's contract -- while E2, never shown that Accept, upheld her claim under the
    displaced one and forfeited Bob's bond there. Now Bob's guard holds the Accept of a Counter naming
    another escrow until E1 took the Counter (EscrowNotShown); shown the line, E1 reveals her Accept, and
    Bob signs nothing E2 could bond."""
    m, e2 = _two_escrows()
    mallorys = CountersAtAnotherEscrow(m, e2, hide=True)
    offer = m.b.propose(m.mallory.did, m.proposal())
    neg = carry_trade(m.b, mallorys, offer, escrow=m.escrow)
    assert mallorys.accept is not None and mallorys.counter is not None
    assert neg.contract is not None and neg.contract.id == mallorys.accept.digest
    assert mallorys.bobs_accept is None, "Bob accepted a Counter E1 had not taken"
    assert mallorys.delivered_under() == [mallorys.accept.digest]
    mallorys.claims_at_the_other_escrow()
    assert e2.get_balance(m.bob.did)[:2] == (FUNDS, 0), "Bob's bond at E2 was forfeited"
    m.bob_loses_nothing(neg.id, mallorys.accept.digest)


@pytest.mark.req("ESC-013", "ESC-014")
def test_an_honest_counter_at_another_escrow_is_accepted_once_the_first_escrow_took_it() -> None:
    """No hidden Accept: Bob shows E1 the line first, E1 takes Mallory's Counter (its Stamp), and Bob's
    strategy's Accept of it is signed in the same run; E2 locks both bonds and Bob delivers under the
    Counter's contract. An Accept of Bob's offer shown to E1 afterwards binds nothing."""
    m, e2 = _two_escrows()
    mallorys = CountersAtAnotherEscrow(m, e2, hide=False)
    offer = m.b.propose(m.mallory.did, m.proposal())
    neg = carry_trade(m.b, mallorys, offer, escrow=m.escrow)
    assert mallorys.counter is not None and mallorys.bobs_accept is not None
    witness = m.b.verifier.witness
    assert witness.stamp_time(m.escrow.did, mallorys.counter.digest) is not None
    assert neg.contract is not None and neg.contract.id == mallorys.bobs_accept.digest
    assert neg.contract.escrow == e2.did and set(neg.contract.locked) == {m.bob.did, m.mallory.did}
    assert mallorys.delivered_under() == [mallorys.bobs_accept.digest]
    with pytest.raises(CoopError):
        m.escrow.submit([*m.mallory.setup, m.mallory.accept(offer).envelope])
    assert m.escrow.get_balance(m.bob.did)[:2] == (FUNDS, 0)
    assert e2.get_balance(m.bob.did)[:2] == (FUNDS - BOND, BOND)


@pytest.mark.req("ESC-013")
def test_the_guard_refuses_an_accept_of_a_counter_at_another_escrow_until_the_first_took_it() -> None:
    """The guard itself: Bob's Accept of a Counter naming E2 (or a Counter of his own naming E2), signed
    while E1 has not taken that Counter of his offer, is refused EscrowNotShown, nothing signed; once
    E1's Stamp of the Counter is held, the Accept is signed."""
    m, e2 = _two_escrows()
    offer = m.b.propose(m.mallory.did, m.proposal())
    terms = trade_pb2.Offer(gives=proposal_of(offer).wants, wants=proposal_of(offer).gives)
    terms.terms.CopyFrom(proposal_of(offer).terms)
    terms.terms.escrow = e2.did
    counter = m.mallory.counter(offer, terms)
    m.b.hold([*m.mallory.setup, counter.envelope])
    header = {"audience": m.mallory.did, "negotiation_id": offer.negotiation_id, "refs": [counter.digest]}
    seq = m.b.writer.next_seq
    with pytest.raises(EscrowNotShown):
        m.b.sign("accept", trade_pb2.Accept(offer=counter.digest), **header)
    mine = trade_pb2.Offer()
    mine.CopyFrom(proposal_of(offer))
    mine.terms.escrow = e2.did  # nor a Counter of ours that E2 could bond
    with pytest.raises(EscrowNotShown):
        m.b.sign("counter", trade_pb2.Counter(offer=counter.digest, proposal=mine), **header)
    assert m.b.writer.next_seq == seq
    m.b.hold(m.escrow.submit([*m.mallory.setup, *m.bob.setup, offer.envelope, counter.envelope]))
    assert m.b.sign("accept", trade_pb2.Accept(offer=counter.digest), **header).body == "accept"


def _served_bob_at_two_escrows(tmp_path: Path) -> tuple[Market, LocalEscrow, PeerNode]:
    m, e2 = _two_escrows()
    node = m.bob_node(
        tmp_path, CountersWithItsBond(escrow=m.escrow.did), context=[m.escrow.mandate, e2.mandate]
    )
    return m, e2, node


@pytest.mark.req("ESC-013", "NEG-017", "ESC-009")
@pytest.mark.parametrize("bonded", [False, True], ids=["arbiter", "bonded"])
@pytest.mark.parametrize("hide", [True, False], ids=["hidden-accept", "honest"])
def test_a_served_peer_answers_a_counter_at_another_escrow_after_its_escrow_took_it(
    hide: bool, bonded: bool, tmp_path: Path
) -> None:
    """Served Bob answers Mallory's offer with a Counter bonded at E1 (his witness's escrow); Mallory
    answers with a Counter naming E2 (which Bob trusts too) as arbiter only, which his strategy accepts.
    Bob's node shows E1 the line before it answers: with an Accept of his Counter hidden at E1, E1
    reveals it and Bob's Deliveries under it are the answer -- no Accept that E2 could bond; without
    one, E1 takes her Counter and Bob's Accept of it is the answer. Her Counter ``bonded`` at E2, which
    Bob's node does not reach (no lock watch there, ESC-009), is rejected, saying why: E2 bonds nothing
    of his, and a hidden Accept at E1 is still revealed (the Reject shown to E1) and performed."""
    m, e2, node = _served_bob_at_two_escrows(tmp_path)
    try:
        mallory = m.mallory
        opening, answers = m.mallory_opens(node)
        bobs = next(vs for vs in answers if vs.body == "counter")
        hidden = mallory.accept(bobs) if hide else None
        if hidden is not None:
            shown = [*mallory.setup, *m.bob.setup, opening.envelope, bobs.envelope, hidden.envelope]
            assert [verify_statement(e).body for e in m.escrow.submit(shown)].count("bond_lock") == 2
        counter = trade_pb2.Offer(gives=proposal_of(bobs).wants, wants=proposal_of(bobs).gives)
        counter.terms.CopyFrom(proposal_of(bobs).terms)
        counter.terms.escrow = e2.did
        if not bonded:
            counter.terms.issuer_bond = counter.terms.audience_bond = 0
        hers = mallory.counter(bobs, counter)
        replies = [verify_statement(e) for e in node.exchange(hers.envelope, mallory.setup)]
        accepts = [vs for vs in replies if vs.body == "accept"]
        neg = node.peer.negotiation(opening.negotiation_id)
        assert node.witness is not None
        if bonded:
            assert accepts == [] and [vs.body for vs in replies] == ["reject"]
            assert "ESC-009" in replies[0].statement.reject.reason
            node.witness.flush()  # the Reject shown to E1 (ESC-013)
            neg = node.peer.negotiation(opening.negotiation_id)
            if hidden is not None:
                assert neg.contract is not None and neg.contract.id == hidden.digest, neg.state
                node.witness.flush()
                m.bob_loses_nothing(neg.id, hidden.digest)
            else:
                assert neg.contract is None
        elif hidden is not None:
            assert accepts == [], "Bob accepted a Counter E1 had not taken"
            assert neg.contract is not None and neg.contract.id == hidden.digest
            assert [vs.statement.delivery.contract for vs in replies if vs.body == "delivery"] == [
                hidden.digest
            ]
            node.witness.flush()
            m.bob_loses_nothing(neg.id, hidden.digest)
        else:
            assert [vs.statement.accept.offer for vs in accepts] == [hers.digest]
            shown = [*mallory.setup, *m.bob.setup, opening.envelope, bobs.envelope, hers.envelope]
            e2.submit([*shown, accepts[0].envelope])
        assert e2.get_balance(m.bob.did)[:2] == (FUNDS, 0)
    finally:
        node.close()


class JournaledEscrow:
    """The escrow as a process with its journal (EscrowNode), with LocalEscrow's face, restartable."""

    def __init__(self, party: Party, path: Path, funds: dict[str, int]) -> None:
        self.party, self.path = party, path
        self.node = self._open()
        for did, amount in funds.items():
            self.node.deposit(did, amount)

    def _open(self) -> EscrowNode:
        clock = self.party.clock
        return EscrowNode(
            self.party.agent.key, self.party.mandate_vs.envelope, self.path, clock=lambda: clock.now_ms
        )

    @property
    def did(self) -> str:
        return self.party.did

    @property
    def mandate(self) -> bytes:
        return self.party.mandate_vs.envelope

    @property
    def escrow(self) -> Escrow:
        return self.node.escrow

    def submit(self, envelopes: Sequence[bytes]) -> list[bytes]:
        return self.node.submit(envelopes)

    def tick(self) -> list[bytes]:
        return [vs.envelope for vs in self.node.tick()]

    def get_balance(self, party: str) -> tuple[int, int, str, int]:
        return self.node.get_balance(party)

    def restart(self) -> None:
        self.node.close()
        self.node = self._open()


@pytest.mark.req("ESC-015")
def test_an_escrow_restarted_after_it_was_shown_the_fork_still_takes_no_claim(tmp_path: Path) -> None:
    """ESC-015 at an escrow process: Bob shows it the Reject Mallory forked at her Accept's seq; the
    escrow restarts (its memory of the fork with it) before her claim. The fork is kept in its journal,
    so her claim is still refused and the bonds lapse back. Before, the restarted escrow took the claim
    and upheld it."""
    m = Market()
    escrow = JournaledEscrow(
        Party("escrow", m.clock), tmp_path / "escrow.db", {m.mallory.did: FUNDS, m.bob.did: FUNDS}
    )
    m.escrow = escrow  # type: ignore[assignment]
    m.b = make_peer(m.bob, m.clock, context=[escrow.mandate])
    try:
        mallorys = ForksAtTheAccept(m, "reject")
        offer = m.b.propose(m.mallory.did, m.proposal())
        with pytest.raises(CoopError):
            carry_trade(m.b, mallorys, offer, escrow=escrow)  # type: ignore[arg-type]
        assert mallorys.accept is not None and mallorys.accept.digest in escrow.escrow.forked_accepts
        escrow.restart()
        assert mallorys.accept.digest in escrow.escrow.forked_accepts, "the restart forgot the fork"
        mallorys.claim_on_the_escrows_branch()
        m.clock.advance(DAY_MS)
        claim = m.mallory.sign(
            "breach_claim",
            commitment_pb2.BreachClaim(
                contract=mallorys.accept.digest, item_index=0, reason="never delivered"
            ),
            audience=m.bob.did,
            negotiation_id=offer.negotiation_id,
        )
        with pytest.raises(CoopError) as dismissed:
            escrow.submit([claim.envelope])
        assert dismissed.value.requirement == "ESC-015"
        m.clock.advance(CLAIM_WINDOW_MS + 3 * DAY_MS)
        escrow.tick()
        assert escrow.get_balance(m.bob.did)[:2] == (FUNDS, 0)
    finally:
        escrow.node.close()


@pytest.mark.req("MND-010", "NEG-017")
def test_a_guard_with_a_short_skew_counts_its_rejected_bonded_offer_to_the_bonding_cutoff() -> None:
    """A guard that receives with a skew of 5 s (another implementation's choice; TIM-004 allows 0 to
    300 s) still counts its rejected bonded offer, whose Reject its escrow never took, until the offer's
    bonding cutoff (expires + 30 s): the escrow may stamp an Accept of it until then. With the skew as
    its grace, it freed the offer 5 s after expiry, and a witnessed Accept stamped 10 s after expiry
    bound it past its cap. Past the cutoff it still counts (an Accept stamped before it binds however
    late it is revealed: tests/test_attack10.py) until its runtime asked the escrow after the cutoff."""
    m = Market()
    m.bob = Party("bob", m.clock, mandate_caps={"max_outstanding": 10_000})
    v = Verifier(me=m.bob.did, skew_ms=5_000)
    for env in [*m.bob.setup, *m.mallory.setup, *m.escrow.party.setup]:
        v.accept(env)
    big = _big(m)
    offer = m.bob.offer(m.mallory, big, ttl_ms=60_000)
    v.accept(offer.envelope, ours=True)
    v.accept(m.mallory.reject(offer, "no").envelope, m.clock.now_ms)
    carol = Party("carol", m.clock)
    for after_expiry_ms, counted in ((10_000, True), (30_001, True), (60_001, False)):
        m.clock.now_ms = offer.header.expires_at_ms + after_expiry_ms
        if not counted:
            # it revealed nothing, its Checkpoint naming the offer (ESC-013 (i))
            v.asked_escrow(offer.negotiation_id, m.clock.now_ms, m.escrow.did, {offer.digest: m.clock.now_ms})
        second = m.bob.offer(carol, big)
        if counted:
            with pytest.raises(CoopError) as refused:
                v.check(second, m.clock.now_ms, ours=True)
            assert refused.value.code == "MANDATE_VIOLATION"
        else:
            v.check(second, m.clock.now_ms, ours=True)
