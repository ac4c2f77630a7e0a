"""redteam27: redteam26's kept Reject, with Bob's run stopped after he signed his Accept -- `resume`.

The story of tests/test_attack26_cut_back_accept.py: Bob offers Alice a trade naming no escrow; Alice
keeps a Reject of it and sends a Counter naming escrow E with both bonds (the next link of her chain);
Bob's strategy accepts it; Alice answers his Accept with the kept Reject, which cuts the line back in
Bob's view (no Stamp of his Accept held there) -- and shows E his Accept herself: E locks both bonds, Bob
never delivers, and her claim after the deadline takes his bond. ``carry_trade`` (`a2a-coop offer`) now
shows E that Accept itself (NEG-024). Here Bob's run stops (a crash, Ctrl-C, a kill) after he signed his
Accept, and his operator runs `a2a-coop resume` (``resume_trade``), which never asked E about it:

- ``before``: the Accept was journaled and never sent. The resumed run sends it (step 1 of
  ``resume_trade``), Alice answers with the kept Reject -- and the run ended there, REJECTED.
- ``after``: the Accept reached Alice, her answer was lost with the run: the same, the Accept sent again.
- ``answered``: her kept Reject reached Bob before the run stopped: the negotiation ended (REJECTED) and
  was forgotten, so `resume` said "nothing to resume".

Who chose the values: Alice signed both answers and chose when to reveal the lower one; Bob's crash was
nobody's choice (she can also cause it: a dropped connection is one). What she gains: Bob's bond.

Now ``resume_trade`` shows E our Accept a lower answer cut back as ``carry_trade`` does (one function,
``show_accept_cut_back``), and `resume` picks up a forgotten negotiation holding one: Bob delivers on
time, Alice's claim is dismissed.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from cli_run import cli_process
from test_attack26_cut_back_accept import BOND, FUNDS, _Alice, _bodies, _mirror_naming

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2
from a2a_coop.cli.demo import Identity, provision
from a2a_coop.protocol.negotiation import DEFAULT_RESPONSE_WINDOW_MS, State, proposal_of
from a2a_coop.protocol.statements import verify_statement
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.node import remember_run
from a2a_coop.runtime.peer import Peer, wall_clock_ms
from a2a_coop.runtime.strategy import Strategy
from a2a_coop.runtime.trade import forgotten_to_show, resume_trade
from a2a_coop.testing import FixedClock, LocalEscrow, Party, derive
from a2a_coop.transport import serve

# Where Bob's run stopped: before his Accept reached Alice, after, or after her kept Reject reached him.
CRASHES = ("before", "after", "answered")


class _World:
    """Alice, Bob and the escrow E funding both (Bob's key ``bob_did`` if given), on one fixed clock."""

    def __init__(self, clock: FixedClock, bob_did: str = "") -> None:
        self.clock = clock
        self.alice, self.bob, self.party = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
        funds = {self.alice.did: FUNDS, bob_did or self.bob.did: FUNDS}
        self.escrow = LocalEscrow(self.party, funds=funds)


class _Stopped:
    """Bob's run (``bob``, his peer on his journal) offering to Alice, stopped at ``crash``."""

    def __init__(self, w: _World, bob: Peer, crash: str) -> None:
        self.offer = bob.propose(w.alice.did, w.bob.proposal())
        assert not proposal_of(self.offer).terms.escrow  # naming no escrow: the reference default
        w.clock.advance(1_000)
        self.kept = w.alice.reject(self.offer, "kept back")
        w.clock.advance(1_000)
        self.counter = w.alice.counter(self.offer, _mirror_naming(self.offer, w.party.did))
        w.clock.advance(1_000)
        assert (self.kept.seq, self.counter.seq) == (0, 1) and self.counter.header.prev == self.kept.digest
        self.alice = _Alice(w.alice, self.counter, self.kept)
        answers = bob.on_replies(self.alice.exchange(self.offer.envelope))
        (self.accept,) = [vs for vs in answers if vs.body == "accept"]  # Bob's strategy accepts
        assert self.accept.statement.accept.offer == self.counter.digest
        if crash != "before":
            assert self.alice.exchange(self.accept.envelope) == [self.kept.envelope]  # her answer, lost
        if crash == "answered":
            bob.on_replies([self.kept.envelope])
            assert bob.negotiation(self.offer.negotiation_id).state is State.REJECTED
        self.alice.got.clear()
        w.clock.advance(1_000)

    def alice_claims(self, w: _World, bob: Party | Identity) -> None:
        """Alice shows E Bob's Accept herself (a repeat is answered with the same Stamp and locks), delivers
        her own item, and claims Bob's after its deadline; E rules once the response window is over."""
        line = [self.offer.envelope, self.counter.envelope, self.accept.envelope]
        w.escrow.submit([*w.alice.setup, bob.mandate if isinstance(bob, Identity) else bob.setup[0], *line])
        assert w.escrow.escrow.balance(bob.did)[1] == BOND  # Bob's bond locked at E
        w.escrow.submit([w.alice.deliver(self.accept, bob).envelope])  # type: ignore[arg-type]
        w.clock.now_ms = proposal_of(self.counter).wants[0].deadline_ms + 31_000
        claim = w.alice.sign(
            "breach_claim",
            commitment_pb2.BreachClaim(contract=self.accept.digest, item_index=0, reason="never delivered"),
            audience=bob.did,
            negotiation_id=self.offer.negotiation_id,
        )
        w.escrow.submit([claim.envelope])
        w.clock.advance(DEFAULT_RESPONSE_WINDOW_MS + 60_000)
        w.escrow.tick()


def _open(w: Any, path: Path, start: int, strategy: Strategy | None = None) -> Peer:
    """Bob's peer on the journal at ``path`` (its ``start``-th start: nonces of its own), in a world ``w``
    with ``bob``, ``escrow`` and ``clock`` (this module's or test_cutoff27_withdraw_everywhere's)."""
    nonces = itertools.count()
    return Peer(
        w.bob.agent.key,
        w.bob.mandate_vs.envelope,
        journal=Journal.open(path, durability="normal"),
        context=[w.escrow.mandate],
        clock=lambda: w.clock.now_ms,
        nonce=lambda: derive(f"nonce/bob/{start}/{next(nonces)}", 16),
        strategy=strategy,
    )


@contextmanager
def provisioned(
    bob: Identity, w: Any, strategy: Strategy | None = None, *, remembered: bool = True
) -> Iterator[Peer]:
    """Bob's peer on his provisioned journal (``bob``'s files) in a world ``w`` as for :func:`_open`, as
    `offer --escrow E` runs it -- ``remembered``: the run's mandate and context journalled first -- and
    `a2a-coop resume` opens it again."""
    with Journal.open(bob.journal_path) as journal:
        if remembered:
            remember_run(journal, bob.mandate, [w.escrow.mandate])  # what `offer --escrow E` journals
        yield Peer(
            bob.key,
            bob.mandate,
            journal=journal,
            context=[w.escrow.mandate],
            clock=lambda: w.clock.now_ms,
            strategy=strategy,
        )


@pytest.mark.req("NEG-024", "NEG-021")
@pytest.mark.parametrize("crash", CRASHES)
def test_a_resumed_run_shows_the_escrow_its_cut_back_accept(tmp_path: Path, crash: str) -> None:
    w = _World(FixedClock())
    path = tmp_path / "bob.db"
    peer = _open(w, path, 0)
    story = _Stopped(w, peer, crash)
    assert peer.journal is not None
    peer.journal.close()  # the crash

    peer = _open(w, path, 1)
    nid = story.offer.negotiation_id
    assert peer.journal is not None
    if crash == "answered":  # ended and forgotten: `resume` finds it in the journal
        assert nid not in peer.verifier.negotiations.by_id
        (neg,) = forgotten_to_show(peer, peer.journal.statements(), w.clock.now_ms)
    else:
        neg = peer.negotiation(nid)
        assert neg.contract is not None  # ACCEPTED in Bob's view, until the kept Reject comes
    resume_trade(peer, story.alice, neg, escrow=w.escrow)  # type: ignore[arg-type]  # Alice, in process

    if crash != "answered":  # the resumed run sent his Accept, and she answered with the kept Reject
        assert [vs.body for vs in story.alice.got][:2] == ["offer", "accept"]
    story.alice_claims(w, w.bob)
    assert "forfeit" not in _bodies(w.escrow.escrow.ledger()), "Bob's bond was forfeited to Alice"
    neg = peer.negotiation(nid)
    assert neg.contract is not None and neg.contract.accept.digest == story.accept.digest
    assert story.kept.digest in neg.superseded  # NEG-021 (d): the kept Reject moves nothing
    assert any(by == w.bob.did for by, _ in neg.contract.delivered)  # Bob performed, on time, at E too
    peer.journal.close()


@pytest.mark.req("NEG-024", "WIT-004")
@pytest.mark.parametrize("shown", [True, False])
def test_resumed_after_the_bonding_cutoff(tmp_path: Path, shown: bool) -> None:
    """Bob's run stopped after the kept Reject reached him, and he resumes only after the Counter's bonding
    cutoff (its expiry + 30 s). Alice showed E his Accept before it (``shown``): E answers the repeat with
    its Stamp and locks, and Bob delivers (his deadline is a day off). She did not: E refuses the Accept
    (UNWITNESSED, WIT-004), nothing binds Bob under it, and `resume` ends REJECTED without an error."""
    w = _World(FixedClock())
    path = tmp_path / "bob.db"
    peer = _open(w, path, 0)
    story = _Stopped(w, peer, "answered")
    assert peer.journal is not None
    peer.journal.close()
    if shown:
        line = [story.offer.envelope, story.counter.envelope, story.accept.envelope]
        w.escrow.submit([*w.alice.setup, *w.bob.setup, *line])
    w.clock.now_ms = story.counter.header.expires_at_ms + 60_000
    peer = _open(w, path, 1)
    assert peer.journal is not None
    (neg,) = forgotten_to_show(peer, peer.journal.statements(), w.clock.now_ms)
    neg = resume_trade(peer, story.alice, neg, escrow=w.escrow)  # type: ignore[arg-type]
    if shown:
        assert neg.contract is not None and neg.contract.accept.digest == story.accept.digest
        assert any(by == w.bob.did for by, _ in neg.contract.delivered)
    else:
        assert neg.state is State.REJECTED and neg.contract is None
        assert sum(w.escrow.escrow.balance(w.bob.did)) == FUNDS and not w.escrow.escrow.balance(w.bob.did)[1]
    peer.journal.close()


class _ServedAlice(_Alice):
    """Alice's side as a served CooperationService: her answers, and a Checkpoint saying who serves."""

    def __init__(self, story: _Stopped, alice: Party) -> None:
        super().__init__(alice, story.counter, story.kept)
        root = derive("alice's log root")  # read by nobody here: `resume` asks who serves
        self.head = alice.sign("checkpoint", identity_pb2.Checkpoint(log_root=root)).envelope

    def get_checkpoint(self) -> bytes:
        return self.head


@pytest.mark.req("NEG-024", "NEG-021")
@pytest.mark.parametrize("crash", ["before", "answered"])
def test_a2a_coop_resume_shows_the_escrow_its_cut_back_accept(tmp_path: Path, crash: str) -> None:
    """The same through `a2a-coop resume` (a process of its own, on wall time) against Alice and E served
    here: Bob's run on his journal stopped as above; `resume` delivers under the contract E witnessed --
    with ``answered``, it once said "nothing to resume" -- and Alice's claim is dismissed."""
    bob = provision(tmp_path, "bob")
    w = _World(FixedClock(wall_clock_ms()), bob.did)
    with provisioned(bob, w) as peer:
        story = _Stopped(w, peer, crash)
    alice = _ServedAlice(story, w.alice)
    with serve(alice, None) as to, serve(None, w.escrow) as via:
        resumed = cli_process("resume", *bob.files(), "--to", to.target, "--escrow", via.target)
    assert "Traceback" not in resumed.stderr, resumed.stderr
    short_id = story.offer.negotiation_id.hex()[:12]
    # Alice never delivers: Bob's contract waits in PERFORMING, his bond locked (exit 3, said why).
    assert (resumed.returncode, resumed.stdout) == (3, f"{short_id}  PERFORMING\n"), resumed.stderr
    with Journal.open(bob.journal_path, lock=False) as journal:
        ours = [verify_statement(env) for _, _, env in journal.statements()]
    (delivery,) = [vs for vs in ours if vs.body == "delivery" and vs.issuer == bob.did]
    assert w.escrow.escrow.verifier.witness.stamp_time(w.party.did, delivery.digest) is not None
    story.alice_claims(w, bob)
    assert "forfeit" not in _bodies(w.escrow.escrow.ledger()), "Bob's bond was forfeited to Alice"
