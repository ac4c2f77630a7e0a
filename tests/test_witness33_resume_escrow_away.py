"""witness33: `a2a-coop resume` with the escrow out of reach did nothing at all (WIT-007).

Its first contact with ``--escrow`` failing, `resume` exited 2 ("cannot reach the escrow") before it sent
the counterparty anything -- a user whose escrow is down for an hour got none of the rest done, and was told
a usage mistake, not what is left. Now it carries on what needs no escrow (the counterparty is sent our
statements again, what they make due is performed), says each trade unfinished for what only the escrow can
take (our Deliveries it has not stamped, every reason at once) and exits 3; the next run reaching the
escrow finishes. The escrow here is a served process of its own, stopped and started again on its port.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc
import pytest
from cli_run import run_cli
from peers import make_peer, stamped_by_served_escrow
from test_witness32_offer_forged_answer import FUNDS, _Lies, quick  # noqa: F401

from a2a_coop.cli import peer as peer_cli
from a2a_coop.cli.demo import provision
from a2a_coop.protocol.statements import verify_statement
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.node import EscrowNode, PeerNode
from a2a_coop.runtime.peer import wall_clock_ms
from a2a_coop.runtime.strategy import HonestStrategy, WithholdingStrategy
from a2a_coop.runtime.trade import resume_trade, run_trade
from a2a_coop.testing import FixedClock, LocalEscrow, Party
from a2a_coop.transport import TransportError, serve

NOT_STAMPED = "not witnessed by the escrow yet"
pytestmark = pytest.mark.usefixtures("quick")  # the run's doubling waits from a millisecond


class _Counted:
    """Mallory's node as Bob reaches it, counting the Exchanges it is sent."""

    def __init__(self, node: PeerNode) -> None:
        self.node, self.exchanges = node, 0

    def exchange(self, envelope: bytes, context: Sequence[bytes]) -> list[bytes]:
        self.exchanges += 1
        return self.node.exchange(envelope, context)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.node, name)


@pytest.mark.req("WIT-007")
def test_resume_with_the_escrow_down_does_the_rest_and_exits_3_then_finishes_once_it_is_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`offer --count 2`: whoever answers for E answers every Submit carrying Bob's second Delivery with E's
    Mandate alone (exit 3: not witnessed). Then E's server stops. Expect `resume` to send Mallory Bob's
    statements again, say the Delivery is not witnessed and that the escrow did not answer, and exit 3
    (never 0, never the usage error 2); E started again on its port, the next `resume` to have it stamp the
    Delivery and exit 0. Before, the run with E down exited 2 having sent Mallory nothing."""
    bob, mallory, esc = (provision(tmp_path, name) for name in ("bob", "mallory", "escrow"))
    escrow = EscrowNode(esc.key, esc.mandate, tmp_path / "escrow.db", faucet=FUNDS)
    node = PeerNode.open(mallory.key, mallory.mandate, tmp_path / "mallory.db", context=[escrow.mandate])
    counted = _Counted(node)
    via = _Lies(escrow, "mandate", bob.key.did, FixedClock(wall_clock_ms()), 10**6)
    try:
        with serve(counted, None) as mallory_server:  # type: ignore[arg-type]
            escrow_server = serve(None, via)  # type: ignore[arg-type]
            port = escrow_server.port
            argv = [*bob.files(), "--to", mallory_server.target, "--escrow", escrow_server.target]
            trade = ["--give", "code-review:20", "--want", "copy-editing:20", "--bond", "5", "--count", "2"]
            code, out, err = run_cli(capsys, "offer", *argv, *trade)
            assert code == 3 and NOT_STAMPED in err, (code, out, err)
            escrow_server.stop()

            sent_before = counted.exchanges
            away, away_out, away_err = run_cli(capsys, "resume", *argv)
            assert away == 3, (away, away_out, away_err)
            assert "cannot reach the escrow" in away_err and NOT_STAMPED in away_err, away_err
            assert "its escrow did not answer this run" in away_err and "Traceback" not in away_err, away_err
            assert counted.exchanges > sent_before, "the counterparty was sent nothing"

            with serve(None, escrow, port=port):
                back, back_out, back_err = run_cli(capsys, "resume", *argv)
    finally:
        node.close()
    try:
        with Journal.open(bob.journal_path) as journal:
            ours = [verify_statement(env) for _, _, env in journal.statements()]
        delivered = [vs for vs in ours if vs.body == "delivery" and vs.issuer == bob.key.did]
        assert len(delivered) == 2
        assert all(stamped_by_served_escrow(escrow, vs.digest) for vs in delivered), (
            back,
            back_out,
            back_err,
        )
        assert back == 0 and NOT_STAMPED not in back_err, (back, back_out, back_err)
    finally:
        escrow.close()


@pytest.mark.req("WIT-007", "NEG-024")
def test_status_and_a_stopped_resume_name_every_reason_the_escrow_is_owed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A trade owing its escrow four things at once -- our cut-off Counter's Withdraw, the answer to our
    bonded offer, our cut-back Accept, our unstamped Deliveries (each reason's own source stood in for
    here: each is tested where it is made). Expect the line of a stopped `resume` (``_still_owed``) and
    `status` (JSON ``still_owed``, and its text) to name all four. Before, each named the first alone: a user
    mending it learnt of the next only on the run after."""
    clock = FixedClock()
    alice_party, bob_party = Party("alice", clock), Party("bob", clock)
    alice, bob = make_peer(alice_party, clock), make_peer(bob_party, clock)
    neg = run_trade(bob, alice, alice.did, bob_party.proposal())  # type: ignore[arg-type]
    reasons = {
        "_withdraw_owed": peer_cli._WITHDRAW_OWED,
        "_cut_back_owed": "our Accept cut back not taken by its escrow yet",
        "_not_witnessed": "1 delivery(ies) of ours not witnessed by the escrow yet",
        "_answer_not_taken": "the answer to our bonded offer not taken by its escrow yet",
    }
    for name, why in reasons.items():
        monkeypatch.setattr(peer_cli, name, lambda peer, n, why=why: why)
    monkeypatch.setattr(peer_cli, "bonded_offer_to_show", lambda peer, n: object())
    said = peer_cli._still_owed(bob, neg)
    assert all(why in said for why in reasons.values()), said
    report = peer_cli.status_report(bob)
    (entry,) = [e for e in [*report["open"], *report["closed"]] if e["id"] == neg.id.hex()]
    assert sorted(entry["still_owed"]) == sorted(reasons.values()), entry


class _Down:
    """The escrow, out of reach for every Submit (it went down after the run's first contact)."""

    def __init__(self) -> None:
        self.submits = 0

    def submit(self, envelopes: Sequence[bytes]) -> list[bytes]:
        self.submits += 1
        raise TransportError(grpc.StatusCode.UNAVAILABLE, "escrow down")


@pytest.mark.req("WIT-007")
def test_an_escrow_down_in_the_settle_round_does_not_keep_the_delivery_from_the_counterparty() -> None:
    """Bob's bonded trade with Alice at E: E locks both bonds, Bob's run stops before he delivers (his
    strategy withheld it, then changes its mind). `resume_trade` with E down for every Submit: expect Bob's
    Delivery, performed now, sent to Alice, and the run to raise E's failure (said unfinished by the CLI),
    without its minute of witness retries against an escrow that is not there. Before, E out of reach in
    the settle round ended the run before the Delivery went to anyone."""
    clock = FixedClock()
    alice_party, bob_party = Party("alice", clock), Party("bob", clock)
    escrow = LocalEscrow(Party("escrow", clock), funds={alice_party.did: FUNDS, bob_party.did: FUNDS})
    alice = make_peer(alice_party, clock, context=[escrow.mandate])
    bob = make_peer(bob_party, clock, context=[escrow.mandate], strategy=WithholdingStrategy(every=1))
    terms = bob_party.proposal(issuer_bond=5, audience_bond=5, escrow=escrow.did)
    neg = run_trade(bob, alice, alice.did, terms, escrow=escrow)  # type: ignore[arg-type]
    c = neg.contract
    assert c is not None and not any(by == bob.did for by, _ in c.deliveries.values())
    bob.strategy = HonestStrategy()
    down = _Down()
    with pytest.raises(TransportError):
        resume_trade(bob, alice, bob.negotiation(neg.id), escrow=down)  # type: ignore[arg-type]
    theirs = alice.negotiation(neg.id).contract
    assert theirs is not None and any(by == bob.did for by, _ in theirs.deliveries.values()), (
        "Alice got nothing"
    )
    assert down.submits == 1, f"{down.submits} Submits to an escrow out of reach"
