"""stamp32: the escrow's asked Checkpoints (ESC-013 (i)) stay in memory only while someone may ask for them.

asked30 had the escrow sign a Checkpoint naming each bonded offer shown to it past its bonding cutoff with
no Accept held -- about one per asking Submit -- and give it again to every later ask; asked31 forgot
which Checkpoint named an offer once the claims under it ended (its issuer needs none then). But the
Checkpoint itself, an entry of its ledger naming no negotiation, stayed in memory for good: in every
snapshot, read back at every start, one more per ask. Now it leaves memory once every offer it names is
past its claims' end; the ledger keeps it in the journal (ESC-006, the audit), read back by its seq.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_hidden_accept import FUNDS, Market

from a2a_coop.protocol.negotiation import BOND_GRACE_MS, claims_end_ms, proposal_of
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.node import EscrowNode
from a2a_coop.testing import Party

ASKS_A_ROUND = 3


class _Asked:
    """Bob's bonded offers at a journaled escrow, asked about past their cutoff, round after round."""

    def __init__(self, tmp_path: Path) -> None:
        self.m = Market()
        tmp_path.mkdir(exist_ok=True)
        self.db = tmp_path / "e.db"
        self.escrow_party = Party("escrow", self.m.clock)
        self.node = self.open()
        self.node.deposit(self.m.bob.did, FUNDS)

    def open(self, **options: Any) -> EscrowNode:
        key, mandate = self.escrow_party.agent.key, self.escrow_party.mandate_vs.envelope
        return EscrowNode(key, mandate, self.db, clock=lambda: self.m.clock.now_ms, **options)

    def round(self) -> tuple[list[VerifiedStatement], list[VerifiedStatement]]:
        """ASKS_A_ROUND offers shown before their cutoff, then each asked about alone past it: one
        Checkpoint an ask. Returns (the offers, the Checkpoints)."""
        m, offers = self.m, []
        for _ in range(ASKS_A_ROUND):
            proposal = m.proposal()
            proposal.terms.escrow = self.node.escrow.did
            offers.append(m.bob.offer(m.mallory, proposal))
        self.node.submit([*m.bob.setup, *(o.envelope for o in offers)])
        m.clock.now_ms = offers[-1].header.expires_at_ms + BOND_GRACE_MS + 1
        signed = []
        for offer in offers:
            answer = [verify_statement(env) for env in self.node.submit([*m.bob.setup, offer.envelope])]
            (checkpoint,) = [vs for vs in answer if vs.body == "checkpoint"]
            assert list(checkpoint.header.refs) == [offer.digest]
            signed.append(checkpoint)
        return offers, signed

    def ended_rounds(self, rounds: int) -> None:
        """``rounds`` rounds, each past the claims of the one before (a tick then)."""
        for _ in range(rounds):
            offers, signed = self.round()
            self.m.clock.now_ms = max(claims_end_ms(proposal_of(o)) for o in offers) + 1
            self.node.tick()
            for checkpoint in signed:  # kept in the ledger, read back by its seq
                assert self.node.escrow.ledger(checkpoint.header.seq, 1) == [checkpoint.envelope]


def _checkpoints_in_memory(node: EscrowNode) -> int:
    held = dict(node.escrow.verifier.statements)  # memory alone (iterating leaves the archive's out)
    return sum(vs.body == "checkpoint" for vs in held.values())


def _started(tmp_path: Path, ended: int, monkeypatch: pytest.MonkeyPatch, **options: Any) -> dict[str, int]:
    """``ended`` rounds of asks whose claims ended, then one whose claims may come, and a restart (with
    ``options``). Returns what the restart read and holds: journal rows read, ledger entries and
    Checkpoints in memory; the live round's Checkpoints are given again after it."""
    world = _Asked(tmp_path)
    try:
        world.ended_rounds(ended)
        offers, live = world.round()
    finally:
        world.node.close()
    rows = [0]
    statements = Journal.statements

    def counted(self: Journal, *, since_rowid: int = 0) -> Iterator[tuple[int, str, bytes]]:
        for row in statements(self, since_rowid=since_rowid):
            rows[0] += 1
            yield row

    with monkeypatch.context() as patch:
        patch.setattr(Journal, "statements", counted)
        node = world.open(**options)
    try:
        seen = {
            "rows read": rows[0],
            "ledger in memory": len(node.escrow._ledger),
            "checkpoints in memory": _checkpoints_in_memory(node),
        }
        m = world.m
        for offer, checkpoint in zip(offers, live, strict=True):
            again = [verify_statement(e) for e in node.submit([*m.bob.setup, offer.envelope])]
            assert [vs for vs in again if vs.body == "checkpoint"] == [checkpoint]  # given again, not signed
    finally:
        node.close()
    return seen


@pytest.mark.req("ESC-013", "ESC-006")
def test_a_restarted_escrow_holds_the_checkpoints_of_live_offers_alone_however_many_asks_came_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One round of asks or six before the live one: the escrow restarted from its snapshot reads as many
    journal rows and holds as many ledger entries -- the live round's three Checkpoints -- where every
    Checkpoint ever signed stayed in its memory and snapshot (3, then 18 more)."""
    few = _started(tmp_path / "few", 1, monkeypatch)
    many = _started(tmp_path / "many", 6, monkeypatch)
    assert few["checkpoints in memory"] == many["checkpoints in memory"] == ASKS_A_ROUND
    assert few == many


@pytest.mark.req("ESC-013")
def test_a_whole_journal_replayed_forgets_the_checkpoints_of_ended_claims_as_it_goes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No snapshot: the restart replays every row (as many more as asks came), but holds the live round's
    Checkpoints alone once started, before any tick."""
    few = _started(tmp_path / "few", 1, monkeypatch, snapshot_every=0)
    many = _started(tmp_path / "many", 6, monkeypatch, snapshot_every=0)
    assert many["rows read"] > few["rows read"]
    assert few["checkpoints in memory"] == many["checkpoints in memory"] == ASKS_A_ROUND
    assert few["ledger in memory"] == many["ledger in memory"]
