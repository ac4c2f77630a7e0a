"""witness32: a forged answer -- not a refusal -- kept the Delivery of `a2a-coop offer` from the escrow, and
its bond could go (WIT-007).

Red team 31 made a served node's witness take only the escrow's verified Stamp naming each Delivery as E
having taken it. The run of `offer` (and `resume`) was left as it was: it gave E our Delivery once before the
counterparty (``_witness_first``, its answer unread) and once more settling (``settle_with_escrow``, its
answer relayed, and nothing checked that it stamped the Delivery), then ended. Whoever answered those two
Submits for E (a man in the middle on a plaintext channel, a proxy, a wrong ``--escrow``) -- with E's public
Mandate alone, a Stamp signed by its own key, E's genuine answer to the Submit with the Delivery taken out,
or E's genuine Stamp of an earlier Delivery replayed -- kept the Delivery from E: the counterparty, holding
it, withheld its Receipt and Ack, claimed Bob's item after the deadline, and E, holding no Delivery,
forfeited Bob's bond to it, unless Bob ran `resume` in time. Who chose the value: whoever answered the
Submit (every byte but E's signatures, which it can only replay). What the counterparty gains: Bob's bond.

Now a run submits what E has not stamped again, at doubling waits, until an answer holds E's Stamp of each
Delivery of ours (the served witness's check, ``unstamped_deliveries``), and while one is not stamped it
says so and exits 3 -- never 0.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from cli_run import run_cli
from peers import make_peer, stamped_by_served_escrow
from test_redteam import NoReceipts, Silent

from a2a_coop._proto.a2acoop.v1 import commitment_pb2
from a2a_coop.cli.demo import provision
from a2a_coop.protocol.negotiation import DEFAULT_RESPONSE_WINDOW_MS, Negotiation, State
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.runtime import trade as trade_module
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.node import EscrowNode, PeerNode
from a2a_coop.runtime.peer import Peer, wall_clock_ms
from a2a_coop.runtime.trade import claim_breach, run_trade
from a2a_coop.testing import FixedClock, LocalEscrow, Party
from a2a_coop.transport import serve

FUNDS, BOND = 1_000, 100
LIES = ["mandate", "own-stamp", "stripped", "replayed"]


class _Lies:
    """E as Bob's run reaches it. Until it has passed on one of E's Stamps naming a Delivery of Bob's (his
    first trade), every Submit goes to E; then the next ``lies`` Submits carrying another Delivery of his are
    answered -- without error -- by whoever answers for E, as ``how`` says, E never seeing them: E's Mandate
    alone (``mandate``); with a Stamp of the Delivery signed by the man in the middle's own key
    (``own-stamp``); E's genuine answer to the Submit without the Delivery (``stripped``); E's genuine Stamp
    of Bob's earlier Delivery (``replayed``)."""

    def __init__(self, escrow: Any, how: str, bob: str, clock: FixedClock, lies: int = 4) -> None:
        self.escrow, self.how, self.bob, self.lies, self.told = escrow, how, bob, lies, 0
        self.mitm = Party("man-in-the-middle", clock)
        self.old: bytes | None = None  # E's Stamp of Bob's first Delivery

    def submit(self, envelopes: Sequence[bytes]) -> list[bytes]:
        statements = [verify_statement(e) for e in envelopes]
        delivered = [vs for vs in statements if vs.body == "delivery" and vs.issuer == self.bob]
        if self.old is None or self.told >= self.lies or all(_names(self.old, [vs]) for vs in delivered):
            answer = self.escrow.submit(envelopes)
            if delivered and self.old is None:
                self.old = next(e for e in answer if _names(e, delivered))
            return answer
        self.told += 1
        if self.how == "mandate":
            return [self.escrow.mandate]
        if self.how == "own-stamp":
            stamp = commitment_pb2.Stamp(statements=[vs.digest for vs in delivered])
            return [self.escrow.mandate, self.mitm.sign("stamp", stamp).envelope]
        if self.how == "replayed":
            return [self.escrow.mandate, self.old]
        return self.escrow.submit([vs.envelope for vs in statements if vs.body != "delivery"])

    def __getattr__(self, name: str) -> Any:
        return getattr(self.escrow, name)


def _names(envelope: bytes, delivered: Sequence[VerifiedStatement]) -> bool:
    vs = verify_statement(envelope)
    return vs.body == "stamp" and any(d.digest in vs.statement.stamp.statements for d in delivered)


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    """The run's doubling waits from a millisecond (its schedule, not its length, is under test)."""
    monkeypatch.setattr(trade_module, "WITNESS_RETRY_S", 0.001)


def lie_ruled(alice: Peer, neg: Negotiation, escrow: LocalEscrow) -> list[str]:
    """Alice claims Bob's item of ``neg``'s contract after its last deadline (a lie: he delivered) at
    ``escrow``, which rules once the response window is over: the bodies of its ledger then."""
    assert neg.contract is not None
    escrow.clock.now_ms = neg.contract.last_deadline_ms + 31_000
    escrow.submit([claim_breach(alice, alice.negotiation(neg.id), 0, "never delivered (a lie)").envelope])
    escrow.clock.advance(DEFAULT_RESPONSE_WINDOW_MS + 60_000)
    escrow.tick()
    return [verify_statement(e).body for e in escrow.escrow.ledger()]


@pytest.mark.req("WIT-007", "WIT-003", "WIT-001")
@pytest.mark.parametrize("how", LIES)
def test_a_forged_answer_does_not_keep_a_runs_delivery_from_the_escrow(how: str, quick: None) -> None:
    """Bob offers Alice a bonded trade at E (``run_trade``, what `offer` runs) twice; Alice delivers and
    never receipts or acks. In the second, whoever answers for E answers the first four Submits carrying
    Bob's Delivery (``how``). Expect the run to submit again until E stamps it, and Alice's claim of Bob's
    item after the deadline to take nothing. Before, the run ended after two forged answers: E never saw
    the Delivery and forfeited Bob's bond to her."""
    clock = FixedClock()
    alice_party, bob_party = Party("alice", clock), Party("bob", clock)
    escrow = LocalEscrow(Party("escrow", clock), funds={alice_party.did: FUNDS, bob_party.did: FUNDS})
    alice = make_peer(alice_party, clock, context=[escrow.mandate], strategy=NoReceipts())
    bob = make_peer(bob_party, clock, context=[escrow.mandate])
    via = _Lies(escrow, how, bob.did, clock)
    terms = bob_party.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did)
    silent = Silent(alice, drop_acks=True)
    run_trade(bob, silent, alice.did, terms, escrow=via)  # type: ignore[arg-type]
    assert via.old is not None and via.told == 0
    clock.advance(1_000)
    neg = run_trade(bob, silent, alice.did, terms, escrow=via)  # type: ignore[arg-type]
    c = neg.contract
    assert c is not None and neg.state is State.PERFORMING
    (delivery,) = [d for d, (by, _) in c.deliveries.items() if by == bob.did]
    assert escrow.escrow.verifier.witness.stamp_time(escrow.did, delivery) is not None
    assert "forfeit" not in lie_ruled(alice, neg, escrow), "Bob's bond was forfeited to Alice"
    assert via.told == via.lies


def _offer(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    how: str,
    lies: int,
    then: Callable[[_Lies, list[str]], None] = lambda via, argv: None,
) -> tuple[int, str, str, EscrowNode, list[VerifiedStatement], _Lies]:
    """`a2a-coop offer --count 2 --bond 5` from Bob to Mallory's served node, through ``_Lies`` in front of
    a served escrow, then ``then(the liar, the options naming the two)`` while both still serve. Returns
    the exit code, stdout, stderr of `offer`, the escrow, Bob's Deliveries and the liar."""
    bob, mallory, esc = (provision(tmp_path, name) for name in ("bob", "mallory", "escrow"))
    escrow = EscrowNode(esc.key, esc.mandate, tmp_path / "escrow.db", faucet=FUNDS)
    node = PeerNode.open(mallory.key, mallory.mandate, tmp_path / "mallory.db", context=[escrow.mandate])
    via = _Lies(escrow, how, bob.key.did, FixedClock(wall_clock_ms()), lies)
    try:
        with serve(None, via) as escrow_server, serve(node, None) as mallory_server:  # type: ignore[arg-type]
            argv = [*bob.files(), "--to", mallory_server.target, "--escrow", escrow_server.target]
            trade = ["--give", "code-review:20", "--want", "copy-editing:20", "--bond", "5", "--count", "2"]
            code, out, err = run_cli(capsys, "offer", *argv, *trade)
            then(via, argv)
    finally:
        node.close()
    with Journal.open(bob.journal_path) as journal:
        ours = [verify_statement(env) for _, _, env in journal.statements()]
    delivered = [vs for vs in ours if vs.body == "delivery" and vs.issuer == bob.key.did]
    return code, out, err, escrow, delivered, via


@pytest.mark.req("WIT-007", "WIT-001")
@pytest.mark.parametrize("how", LIES)
def test_offer_gives_the_escrow_its_delivery_until_the_escrow_stamps_it(
    how: str, quick: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same through `a2a-coop offer --count 2`: the second trade's first four Submits carrying Bob's
    Delivery are answered by whoever answers for E. Expect E to stamp both Deliveries before `offer`
    returns, and both trades to finish (exit 0). Before, E never stamped the second."""
    code, out, err, escrow, delivered, via = _offer(tmp_path, capsys, how, lies=4)
    try:
        assert len(delivered) == 2
        assert all(stamped_by_served_escrow(escrow, vs.digest) for vs in delivered), (code, out, err)
        assert code == 0 and "Traceback" not in err, (code, out, err)
        assert via.told == 4
    finally:
        escrow.close()


@pytest.mark.req("WIT-007")
def test_offer_exits_3_while_the_escrow_has_not_stamped_its_delivery(
    quick: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Whoever answers for E answers every Submit carrying Bob's second Delivery with E's Mandate alone.
    Expect `offer` to ask again a bounded number of times, then exit 3 saying the Delivery is not witnessed
    by the escrow yet and that `resume` gives it again -- never 0 (the trade is Mallory's to make look
    finished: she receipts to Bob, and shows E nothing). A `resume` meeting the same answers exits 3 too;
    the next, reaching E, has it stamp the Delivery and exits 0."""
    resumed: list[tuple[int, str, str]] = []

    def resume(via: _Lies, argv: list[str]) -> None:
        # Every Submit carrying the Delivery answered by the liar (E never saw it): _witness_first, the
        # settling, and the retries.
        assert via.told == trade_module.MAX_SUBMIT_ATTEMPTS + 2, via.told
        resumed.append(run_cli(capsys, "resume", *argv))
        via.lies = via.told  # whoever answered for E is gone
        resumed.append(run_cli(capsys, "resume", *argv))

    code, out, err, escrow, delivered, _ = _offer(tmp_path, capsys, "mandate", 10**6, resume)
    try:
        assert code == 3, (code, out, err)
        assert "not witnessed by the escrow yet" in err and "a2a-coop resume" in err, err
        (again, a_out, a_err), (last, l_out, l_err) = resumed
        assert again == 3 and "not witnessed by the escrow yet" in a_err, (again, a_out, a_err)
        assert last == 0 and stamped_by_served_escrow(escrow, delivered[1].digest), (last, l_out, l_err)
    finally:
        escrow.close()
