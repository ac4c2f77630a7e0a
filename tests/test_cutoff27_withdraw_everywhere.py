"""cutoff27: NEG-024 (a) wherever a run carries a trade -- `a2a-coop resume` and a served node.

redteam27 (tests/test_attack27_cut_off_counter.py): Bob's bonded Counter naming escrow E, cut off the line
by a kept lower answer of Alice's, was never shown to E, and Alice's Accept of it at E alone took Bob's
bond. ``carry_trade`` now withdraws that Counter at E at once (``withdraw_counter_cut_off``). Two other
runs carried the same trade and did not:

- ``resume_trade`` (`a2a-coop resume`) after Bob's run stopped -- before his Counter reached Alice, after
  it did (her answer lost), after her kept Reject reached him (the negotiation ended, forgotten: "nothing
  to resume"), or after he signed his Withdraw but before E took it (journaled, never shown: nothing
  signed it again, nothing showed it).
- a served node (`a2a-coop serve --escrow`, ``PeerNode``): its own bonded Counter of an incoming offer,
  cut off the same way, was shown to nobody -- its sweep of answered and forgotten offers
  (``watch_exposed``, ``forgotten_to_show``) reads the line only.

Who chose the values: Alice signed both answers, chose when to reveal the lower one and chose to show E
alone her Accept; Bob's crash or restart was nobody's choice (a dropped connection she can cause). What
she gains: Bob's bond. Now each path withdraws the Counter at E through the same function
(``withdraw_counter_cut_off``; ``withdraw_cut_off_alone`` for the node, sharing its Submit), a Withdraw
signed before and never stamped is shown again rather than signed twice, and E refuses her Accept
(ESC-014) -- or, shown it first, answers Bob's Withdraw with it (ESC-012) and Bob performs.

Also pinned here (resume27's untested path): the resumed run of a responder, Bob, whose Accept a kept lower
*Counter* of Alice's cut back (his node then rejected it, NEG-022: ended, forgotten) shows E that Accept.
And (resumecli27) `a2a-coop resume` asks for the escrow a cut-off bonded Counter names when a kept Counter,
not a Reject, cut it off and the negotiation is still live in memory: a one-line error without it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_run import cli_process, one_line_error
from test_attack27_cut_off_counter import _Alice, _bodies, _mirror, _SureOfferer
from test_attack27_resume_cut_back import _open as open_bob
from test_attack27_resume_cut_back import provisioned

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2, trade_pb2
from a2a_coop.cli.demo import Identity, provision
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.negotiation import DEFAULT_RESPONSE_WINDOW_MS, State, proposal_of
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.runtime.node import EscrowWitness, PeerNode
from a2a_coop.runtime.peer import Peer, wall_clock_ms
from a2a_coop.runtime.strategy import Accept, Counter, OfferView, Reply
from a2a_coop.runtime.trade import Submitter, accept_cut_back, forgotten_to_show, resume_trade
from a2a_coop.testing import FixedClock, LocalEscrow, Party, derive
from a2a_coop.transport import serve

BOND = 100
FUNDS = 1_000
# Where Bob's run stopped: before his bonded Counter reached Alice, after (her answer lost), after her
# kept Reject reached him, after he signed his Withdraw of the cut-off Counter (E never shown it).
CRASHES = ("before", "after", "answered", "signed")


class _World:
    """Alice, Bob and the escrow E funding both (Bob's key ``bob_did`` if given), on one clock."""

    def __init__(self, clock: FixedClock, bob_did: str = "") -> None:
        self.clock = clock
        self.alice, self.bob, self.party = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
        self.escrow = LocalEscrow(self.party, funds={self.alice.did: FUNDS, bob_did or self.bob.did: FUNDS})

    def alice_takes_the_bond(
        self, line: list[VerifiedStatement], counter: VerifiedStatement, bob: Party | Identity
    ) -> list[str]:
        """Alice accepts Bob's bonded ``counter`` (the last of ``line``) and shows E alone the line and her
        Accept; witnessed, she delivers her item, claims Bob's after its deadline, and E rules once the
        response window is over. The escrow's ledger (bodies); Bob's bond must still be his."""
        accept = self.alice.accept(counter)
        bob_mandate = bob.mandate if isinstance(bob, Identity) else bob.setup[0]
        shown = [*self.alice.setup, bob_mandate, *(vs.envelope for vs in line), accept.envelope]
        try:
            self.escrow.submit(shown)
        except CoopError:
            pass  # refused (ESC-014): nothing locked, nothing to claim
        else:
            self.alice_claims(accept, bob, proposal_of(counter).gives[0].deadline_ms)
        ledger = _bodies(self.escrow.escrow.ledger())
        assert "forfeit" not in ledger, "Bob's bond was forfeited to Alice"
        assert sum(self.escrow.escrow.balance(bob.did)) == FUNDS
        return ledger

    def alice_claims(self, accept: VerifiedStatement, bob: Party | Identity, deadline_ms: int) -> None:
        """Alice delivers her own item under ``accept``'s contract, claims Bob's after ``deadline_ms``, and E
        rules once the response window is over; Bob's bond must still be his."""
        self.escrow.submit([self.alice.deliver(accept, bob).envelope])  # type: ignore[arg-type]
        self.clock.now_ms = deadline_ms + 31_000
        claim = self.alice.sign(
            "breach_claim",
            commitment_pb2.BreachClaim(contract=accept.digest, item_index=0, reason="never delivered"),
            audience=bob.did,
            negotiation_id=accept.negotiation_id,
        )
        with contextlib.suppress(CoopError):  # refused outright: as good as dismissed
            self.escrow.submit([claim.envelope])
        self.clock.advance(DEFAULT_RESPONSE_WINDOW_MS + 60_000)
        self.escrow.tick()
        assert "forfeit" not in _bodies(self.escrow.escrow.ledger()), "Bob's bond was forfeited to Alice"


class _Stopped:
    """Bob's run (``bob``, his peer on his journal, countering under E with both bonds) offering to Alice,
    who keeps a Reject of his Offer and counters it naming no escrow; stopped at ``crash`` -- or, at
    ``"held"``, she kept a Counter instead and his run stopped with it taken, its answer never signed."""

    def __init__(self, w: _World, bob: Peer, crash: str) -> None:
        self.offer = bob.propose(w.alice.did, w.bob.proposal())
        w.clock.advance(1_000)
        if crash == "held":
            self.kept = w.alice.counter(self.offer, _mirror(self.offer))
        else:
            self.kept = w.alice.reject(self.offer, "kept back")
        w.clock.advance(1_000)
        self.counter = w.alice.counter(self.offer, _mirror(self.offer))
        w.clock.advance(1_000)
        self.alice = _Alice(w.alice, self.counter, lambda ours: self.kept)
        answers = bob.on_replies(self.alice.exchange(self.offer.envelope))
        (self.ours,) = [vs for vs in answers if vs.body == "counter"]  # Bob's bonded Counter
        assert proposal_of(self.ours).terms.escrow == w.party.did
        if crash != "before":
            assert self.alice.exchange(self.ours.envelope) == [self.kept.envelope]  # her answer, lost
        if crash in ("answered", "signed"):
            bob.on_replies([self.kept.envelope])
            assert bob.negotiation(self.offer.negotiation_id).state is State.REJECTED
        if crash == "signed":
            assert bob.withdraw_cut_off(self.offer.negotiation_id) is not None  # signed, journaled, not shown
        if crash == "held":  # taken without the NEG-022 Reject that would end it (and have it forgotten)
            bob.hold([self.kept.envelope])
        self.alice.got.clear()
        w.clock.advance(1_000)

    @property
    def line(self) -> list[VerifiedStatement]:
        return [self.offer, self.counter, self.ours]


def _open(w: _World, path: Path, start: int) -> Peer:
    """Bob's peer on the journal at ``path`` (its ``start``-th start), sure of his offers."""
    return open_bob(w, path, start, _SureOfferer(w.party.did))


def _to_resume(peer: Peer, nid: bytes, now_ms: int) -> list:
    """What `a2a-coop resume` picks up of ``nid``: in memory, or ended and read back from the journal."""
    assert peer.journal is not None
    if nid in peer.verifier.negotiations.by_id:
        return [peer.negotiation(nid)]
    return [n for n in forgotten_to_show(peer, peer.journal.statements(), now_ms) if n.id == nid]


@pytest.mark.req("NEG-024", "NEG-021", "ESC-014")
@pytest.mark.parametrize("crash", CRASHES)
@pytest.mark.parametrize("accepted_first", [False, True])
def test_a_resumed_run_withdraws_its_cut_off_bonded_counter(
    tmp_path: Path, crash: str, accepted_first: bool
) -> None:
    """Bob's run stopped at ``crash``; `resume` (``resume_trade``) carries it on. Before, nothing showed E
    his cut-off Counter (with ``answered`` and ``signed`` nothing was even resumed), and Alice's Accept of
    it at E alone took his bond. Now E holds his Withdraw and refuses her Accept -- or, her Accept shown
    to E before the resume (``accepted_first``), answers the Withdraw with it and Bob delivers."""
    w = _World(FixedClock())
    path = tmp_path / "bob.db"
    peer = _open(w, path, 0)
    story = _Stopped(w, peer, crash)
    assert peer.journal is not None
    peer.journal.close()  # the crash
    accept = w.alice.accept(story.ours) if accepted_first else None
    if accept is not None:
        line = [vs.envelope for vs in story.line]
        assert _bodies(w.escrow.submit([*w.alice.setup, *w.bob.setup, *line, accept.envelope]))[-2:] == [
            "bond_lock",
            "bond_lock",
        ]

    peer = _open(w, path, 1)
    nid = story.offer.negotiation_id
    (neg,) = _to_resume(peer, nid, w.clock.now_ms)
    resume_trade(peer, story.alice, neg, escrow=w.escrow)  # type: ignore[arg-type]  # Alice, in process

    if crash in ("before", "after"):  # the resumed run sent his Counter, she answered with the kept Reject
        assert "counter" in [vs.body for vs in story.alice.got]
    if accept is None:
        assert peer.negotiation(nid).contract is None
        assert "bond_lock" not in w.alice_takes_the_bond(story.line, story.ours, w.bob)
        withdrawn = [verify_statement(env) for env in w.escrow.escrow.transcript()]
        assert [vs.statement.withdraw.offer for vs in withdrawn if vs.body == "withdraw"] == [
            story.ours.digest
        ]
    else:  # E answered the Withdraw with the Accept it witnessed first: Bob performs (NEG-021 (d))
        neg = peer.negotiation(nid)
        assert neg.contract is not None and neg.contract.accept.digest == accept.digest
        assert any(by == w.bob.did for by, _ in neg.contract.delivered)
    # A Withdraw signed before the stop is shown again, never signed twice (one Withdraw in the journal).
    ours = [verify_statement(env) for _, _, env in peer.journal.statements()]  # type: ignore[union-attr]
    assert [vs.body for vs in ours if vs.issuer == w.bob.did].count("withdraw") == 1
    peer.journal.close()  # type: ignore[union-attr]


class _ServedAlice(_Alice):
    """Alice's side as a served CooperationService: her answers, and a Checkpoint saying who serves."""

    def __init__(self, story: _Stopped, alice: Party) -> None:
        super().__init__(alice, story.counter, lambda ours: story.kept)
        self.head = alice.sign(
            "checkpoint", identity_pb2.Checkpoint(log_root=derive("alice's root"))
        ).envelope

    def get_checkpoint(self) -> bytes:
        return self.head


def _stopped_on_disk(
    bob: Identity, w: _World, crash: str, *, check: Callable[[Peer, _Stopped], None] | None = None
) -> _Stopped:
    """Bob's run stopped at ``crash`` on his provisioned journal, as `offer --escrow E` left it for
    `a2a-coop resume`; ``check`` reads his peer before the journal closes."""
    with provisioned(bob, w, _SureOfferer(w.party.did)) as peer:
        story = _Stopped(w, peer, crash)
        if check is not None:
            check(peer, story)
    return story


@pytest.mark.req("NEG-024", "NEG-021", "ESC-014")
@pytest.mark.parametrize("crash", ["answered", "signed"])
def test_a2a_coop_resume_withdraws_the_cut_off_bonded_counter(tmp_path: Path, crash: str) -> None:
    """The same through `a2a-coop resume` (a process of its own, on wall time) against Alice and E served
    here: before, it said "nothing to resume" and Alice's Accept at E took Bob's bond; now it shows E his
    Withdraw, ends REJECTED (exit 0), and E refuses her Accept."""
    bob = provision(tmp_path, "bob")
    w = _World(FixedClock(wall_clock_ms()), bob.did)
    story = _stopped_on_disk(bob, w, crash)
    alice = _ServedAlice(story, w.alice)
    with serve(alice, None) as to, serve(None, w.escrow) as via:
        resumed = cli_process("resume", *bob.files(), "--to", to.target, "--escrow", via.target)
    assert "Traceback" not in resumed.stderr, resumed.stderr
    short_id = story.offer.negotiation_id.hex()[:12]
    assert "bond_lock" not in w.alice_takes_the_bond(story.line, story.ours, bob)
    assert (resumed.returncode, resumed.stdout) == (0, f"{short_id}  REJECTED\n"), resumed.stderr


@pytest.mark.req("NEG-024", "ESC-014", "MND-015")
@pytest.mark.parametrize("given", [True, False])
def test_a2a_coop_resume_withdraws_a_counter_a_kept_counter_cut_off(tmp_path: Path, given: bool) -> None:
    """cmd_resume's escrow for a negotiation still in memory (not forgotten) with no contract and our
    bonded Counter cut off by a kept *Counter* of Alice's (``_Stopped`` at "held"): her kept Counter cut
    the line back to itself, the negotiation COUNTERED, nothing of Bob's on the line bonded -- E is named
    by the cut-off Counter alone. Given E (``given``), `a2a-coop resume` shows it his Withdraw and her
    Accept of the Counter at E is refused; not given, a one-line usage error (exit 2) before anything is
    sent -- without it, the run resumed with no escrow and left the Counter open at E for her."""
    bob = provision(tmp_path, "bob")
    w = _World(FixedClock(wall_clock_ms()), bob.did)

    def held_live(peer: Peer, story: _Stopped) -> None:
        neg = peer.negotiation(story.offer.negotiation_id)
        assert (neg.state, neg.contract, peer.cut_off_counter(neg.id)) == (State.COUNTERED, None, story.ours)

    story = _stopped_on_disk(bob, w, "held", check=held_live)
    alice, shown = _ServedAlice(story, w.alice), w.escrow.escrow.transcript()
    with serve(alice, None) as to, serve(None, w.escrow) as via:
        escrow = ("--escrow", via.target) if given else ()
        resumed = cli_process("resume", *bob.files(), "--to", to.target, *escrow)
    short_id = story.offer.negotiation_id.hex()[:12]
    if not given:
        assert resumed.returncode == 2, resumed.stderr
        one_line_error(resumed.stderr, short_id, w.party.did, "--escrow")
        assert (w.escrow.escrow.transcript(), alice.got) == (shown, [])
        return
    assert "Traceback" not in resumed.stderr, resumed.stderr
    assert "bond_lock" not in w.alice_takes_the_bond(story.line, story.ours, bob)
    withdrawn = [verify_statement(env) for env in w.escrow.escrow.transcript()]
    assert [vs.statement.withdraw.offer for vs in withdrawn if vs.body == "withdraw"] == [story.ours.digest]
    # Her kept Counter still waits for Bob's answer: resume signs none (EXIT_UNFINISHED).
    assert (resumed.returncode, resumed.stdout) == (3, f"{short_id}  COUNTERED\n"), resumed.stderr


class _Responder:
    """Bob's served strategy: an offer naming an escrow accepted (the trade mirrors his); the opening
    offer naming none countered as it stands (naming none); a later one naming none countered under
    ``escrow`` with both bonds (his "sure" terms), or naming none again when not ``bonded_later``."""

    def __init__(self, escrow: str, *, bonded_later: bool = True) -> None:
        self.sure, self.bonded_later = _SureOfferer(escrow), bonded_later

    def respond(self, offer: OfferView) -> Reply:
        if offer.proposal.terms.escrow:
            return Accept()
        mine = self.sure.mirror(offer.proposal)
        if offer.round == 1 or not self.bonded_later:
            mine.terms.escrow, mine.terms.issuer_bond, mine.terms.audience_bond = "", 0, 0
        return Counter(mine)

    def __getattr__(self, name: str) -> object:
        return getattr(self.sure, name)  # deliver, and the rest, as HonestStrategy


def _counters(answers: list[bytes]) -> list[VerifiedStatement]:
    return [vs for vs in map(verify_statement, answers) if vs.body == "counter"]


def _opening(w: _World) -> VerifiedStatement:
    """Alice's offer to Bob naming no escrow: Bob's terms, from her side."""
    mine = w.bob.proposal()
    theirs = trade_pb2.Offer(gives=mine.wants, wants=mine.gives)
    theirs.terms.CopyFrom(mine.terms)
    return w.alice.offer(w.bob, theirs)


def _bonded_counter(w: _World, c1: VerifiedStatement) -> VerifiedStatement:
    """Alice's Counter C2 of Bob's Counter C1: his terms from her side, naming E with both bonds."""
    named = _mirror(c1)
    named.terms.escrow, named.terms.issuer_bond, named.terms.audience_bond = w.party.did, BOND, BOND
    return w.alice.counter(c1, named)


def _cut_back(
    w: _World, node: PeerNode
) -> tuple[VerifiedStatement, VerifiedStatement, VerifiedStatement, VerifiedStatement]:
    """The served story up to the cut: Alice offers served Bob a trade naming no escrow, he counters (C1),
    she keeps a Reject of C1 and counters it naming E with both bonds (C2), his node accepts C2, then she
    sends the kept Reject, a second apart. Returns (her offer, C1, C2, his Accept)."""
    offer = _opening(w)
    (c1,) = _counters(node.exchange(offer.envelope, w.alice.setup))
    w.clock.advance(1_000)
    kept = w.alice.reject(c1, "kept back")
    w.clock.advance(1_000)
    c2 = _bonded_counter(w, c1)
    w.clock.advance(1_000)
    answered = [verify_statement(env) for env in node.exchange(c2.envelope, ())]
    (accept,) = [vs for vs in answered if vs.body == "accept"]
    node.exchange(kept.envelope, ())
    return offer, c1, c2, accept


def _node(
    w: _World, path: Path, *, witness: bool, via: Submitter | None = None, lock_wait_s: float = 2.0
) -> PeerNode:
    """Bob served on his journal at ``path`` (`a2a-coop serve`, in process) with the :class:`_Responder`
    strategy, with an escrow witness at E (`--escrow`; reaching it through ``via`` if given, asking again
    after ``lock_wait_s`` at doubling waits) or none."""
    return PeerNode.open(
        w.bob.agent.key,
        w.bob.mandate_vs.envelope,
        path,
        context=[w.escrow.mandate],
        clock=lambda: w.clock.now_ms,
        strategy=_Responder(w.party.did),
        witness=EscrowWitness(via or w.escrow, w.escrow.did, lock_wait_s=lock_wait_s) if witness else None,
    )


def _bonded_past_a_kept_answer(
    w: _World, node: PeerNode, keep: Callable[[VerifiedStatement], VerifiedStatement]
) -> tuple[VerifiedStatement, ...]:
    """Alice's offer to served Bob naming no escrow, his Counter of it naming none (C1), her answer to C1
    ``keep`` signs and she keeps (not sent), her Counter of C1 naming none (C2, the next link of her chain)
    and the node's Counter of C2 under E with both bonds (C3): (offer, C1, kept, C2, C3)."""
    offer = _opening(w)
    (c1,) = _counters(node.exchange(offer.envelope, w.alice.setup))
    w.clock.advance(1_000)
    kept = keep(c1)
    w.clock.advance(1_000)
    c2 = w.alice.counter(c1, _mirror(c1))
    w.clock.advance(1_000)
    (c3,) = _counters(node.exchange(c2.envelope, ()))
    assert proposal_of(c3).terms.escrow == w.party.did and proposal_of(c3).terms.issuer_bond == BOND
    return offer, c1, kept, c2, c3


@pytest.mark.req("NEG-024", "NEG-021", "ESC-014")
@pytest.mark.parametrize("restart", [False, True])
def test_a_served_node_withdraws_its_cut_off_bonded_counter(tmp_path: Path, restart: bool) -> None:
    """Alice offers served Bob a trade naming no escrow; he counters naming none (C1); she keeps a Reject of
    C1 and counters it naming none (C2); his node counters C2 under E with both bonds (C3); she sends the
    kept Reject: lower in her chain, it cuts the line back to C1, C3 off it, the negotiation REJECTED.
    Before, the node showed E nothing (its sweep reads offers on the line), and her Accept of C3 at E
    alone took his bond. Now the node's escrow witness withdraws C3 at E at once -- or, the node stopped
    before (``restart``: served with no witness), once it is served with one again (``witness_owed``)."""
    w = _World(FixedClock())
    path = tmp_path / "bob.db"
    node = _node(w, path, witness=not restart)
    try:
        offer, c1, kept, c2, c3 = _bonded_past_a_kept_answer(w, node, lambda c1: w.alice.reject(c1, "kept"))
        node.exchange(kept.envelope, ())
        assert node.peer.negotiation(offer.negotiation_id).state is State.REJECTED
        if restart:
            node.close()
            node = _node(w, path, witness=True)
            node.witness_owed()
        assert node.witness is not None
        node.witness.flush()
    finally:
        node.close()
    assert "bond_lock" not in w.alice_takes_the_bond([offer, c1, c2, c3], c3, w.bob)
    withdrawn = [verify_statement(env) for env in w.escrow.escrow.transcript()]
    assert [vs.statement.withdraw.offer for vs in withdrawn if vs.body == "withdraw"] == [c3.digest]


@pytest.mark.req("NEG-024", "NEG-021")
def test_a_resumed_responder_shows_the_escrow_its_accept_a_kept_counter_cut_back(tmp_path: Path) -> None:
    """resume27's untested path. Alice offers Bob (naming no escrow), he counters naming none (C1); she
    keeps a Counter of C1 (K) and sends another, naming E with both bonds (C2, one link above K); Bob
    accepts C2; she sends K, lower in her chain: it cuts the line back past his Accept, and his node,
    holding two answers of hers to C1, rejects K (NEG-022) -- the negotiation ended and forgotten, Bob
    the responder. His node stops there; `resume` picks the negotiation up from the journal by its
    cut-back Accept alone (``forgotten_to_show``) and shows E that Accept: E witnesses it, the contract
    stands (NEG-021 (d)), Bob delivers, and Alice's claim takes nothing."""
    w = _World(FixedClock())
    path = tmp_path / "bob.db"
    node = PeerNode.open(
        w.bob.agent.key,
        w.bob.mandate_vs.envelope,
        path,
        context=[w.escrow.mandate],
        clock=lambda: w.clock.now_ms,
        strategy=_Responder(w.party.did, bonded_later=False),
    )
    offer = _opening(w)
    (c1,) = _counters(node.exchange(offer.envelope, w.alice.setup))
    w.clock.advance(1_000)
    kept = w.alice.counter(c1, _mirror(c1))
    w.clock.advance(1_000)
    c2 = _bonded_counter(w, c1)
    w.clock.advance(1_000)
    assert (kept.seq + 1, kept.digest) == (c2.seq, c2.header.prev)
    (accept,) = [vs for vs in map(verify_statement, node.exchange(c2.envelope, ())) if vs.body == "accept"]
    answered = [verify_statement(env) for env in node.exchange(kept.envelope, ())]
    assert [vs.body for vs in answered if vs.issuer == w.bob.did] == ["reject"]  # NEG-022: nothing more
    neg = node.peer.negotiation(offer.negotiation_id)
    assert neg.contract is None and neg.state is State.REJECTED and accept.digest in neg.superseded
    node.close()  # the stop
    w.clock.advance(1_000)

    peer = _open(w, path, 1)
    assert peer.journal is not None
    (neg,) = _to_resume(peer, offer.negotiation_id, w.clock.now_ms)  # ended: read back from the journal
    assert neg.initiator == w.alice.did and accept_cut_back(peer, neg)
    alice = _Alice(w.alice, c2, lambda ours: kept)  # answers nothing to his statements sent again
    neg = resume_trade(peer, alice, neg, escrow=w.escrow)  # type: ignore[arg-type]
    assert neg.contract is not None and neg.contract.accept.digest == accept.digest
    assert any(by == w.bob.did for by, _ in neg.contract.delivered)  # Bob performed, at E too
    line = [offer.envelope, c1.envelope, c2.envelope, accept.envelope]
    w.escrow.submit([*w.alice.setup, *w.bob.setup, *line])  # a repeat: the same Stamp and locks
    w.alice_claims(accept, w.bob, proposal_of(c2).wants[0].deadline_ms)
    peer.journal.close()


@pytest.mark.req("NEG-024", "NEG-021")
@pytest.mark.parametrize("restart", [False, True])
def test_a_served_node_shows_the_escrow_its_accept_a_kept_reject_cut_back(
    tmp_path: Path, restart: bool
) -> None:
    """NEG-024 itself on a served node. Alice offers served Bob a trade naming no escrow; he counters naming
    none (C1); she keeps a Reject of C1 and sends a Counter of it naming E with both bonds (C2); his node
    accepts C2; she sends the kept Reject: lower in her chain, it cuts the line back past his Accept
    before any Stamp of it reached the node. She shows E his Accept alone, E locks both bonds, and her
    claim takes his bond unless the node shows E the Accept itself and performs the contract E witnessed
    (NEG-021 (d)) -- at once, or (``restart``: served with no witness before) once served with one again."""
    w = _World(FixedClock())
    path = tmp_path / "bob.db"
    node = _node(w, path, witness=not restart)
    try:
        offer, c1, c2, accept = _cut_back(w, node)
        if restart:  # cut back in Bob's view (with a witness, it may have shown E the Accept by now)
            neg = node.peer.negotiation(offer.negotiation_id)
            assert neg.contract is None and accept.digest in neg.superseded
            node.close()
            node = _node(w, path, witness=True)
            node.witness_owed()
        assert node.witness is not None
        node.witness.flush()
        neg = node.peer.negotiation(offer.negotiation_id)
        node.witness.flush()  # his Delivery, if any, given to E (WIT-007)
    finally:
        node.close()
    line = [offer.envelope, c1.envelope, c2.envelope, accept.envelope]
    w.escrow.submit([*w.alice.setup, *w.bob.setup, *line])  # Alice shows it too: the same Stamp and locks
    w.alice_claims(accept, w.bob, proposal_of(c2).wants[0].deadline_ms)
    assert neg.contract is not None and neg.contract.accept.digest == accept.digest  # NEG-021 (d)
    assert any(by == w.bob.did for by, _ in neg.contract.delivered)  # Bob performed, at E too
