"""A successor's bounded memory (ESC-023): the old key's contracts over for good leave memory as the
successor's own do, its journal answering for them.

The old escrow key K1 settled some bonded trades (delivered and receipted both ways, both bonds released)
and holds one open (Bob never delivers). K1 is stolen; its principal revokes it and hands it over to K2.
K2 is started as two :class:`~a2a_coop.runtime.node.EscrowNode` twins on the same key, clock and nonces
(so they sign the very same bytes): one forgets what is over for good, the other holds everything
(``forget=False``). Both must answer every probe about a settled taken-over contract the same -- its
statements again (RPL-002, ESC-008, ESC-012), a claim (CMT-005), a revoke (NEG-010) -- and give the same
transcript, ledger, balances and audit, before and after a restart; and the forgetting twin holds no
more records after taking over many settled contracts than after taking over one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from peers import handed_over

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, trade_pb2
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.escrow import Escrow
from a2a_coop.protocol.escrow_audit import audit_ledger
from a2a_coop.protocol.negotiation import DEFAULT_RESPONSE_WINDOW_MS
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.node import META_ESCROW_PREDECESSOR, EscrowNode
from a2a_coop.testing import FixedClock, LocalEscrow, Party, derive

BOND = 100
HOUR_MS = 3_600_000
TWINS = ("forgetting", "holding")


@dataclass
class Trade:
    offer: VerifiedStatement
    accept: VerifiedStatement
    performed: list[VerifiedStatement] = field(default_factory=list)

    @property
    def nid(self) -> bytes:
        return self.offer.header.negotiation_id


@dataclass
class HandedOver:
    """K1's history, its revocation and the hand-over to K2."""

    clock: FixedClock
    alice: Party
    bob: Party
    k2: Party
    handover: VerifiedStatement
    predecessor: list[bytes]
    settled: list[Trade]
    open: Trade


def _history(settled: int) -> HandedOver:
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    k1 = LocalEscrow(Party("escrow", clock), funds={alice.did: 10_000, bob.did: 10_000})
    k1.submit([alice.mandate_vs.envelope, bob.mandate_vs.envelope])

    def trade(*, performed: bool) -> Trade:
        proposal = alice.proposal(
            issuer_bond=BOND, audience_bond=BOND, escrow=k1.did, revocation=trade_pb2.Revocation(allowed=True)
        )
        offer = alice.offer(bob, proposal)
        clock.advance(1_000)
        accept = bob.accept(offer)
        locked = k1.submit([offer.envelope, accept.envelope])
        assert [verify_statement(e).body for e in locked[1:]] == ["stamp", "bond_lock", "bond_lock"]
        t = Trade(offer, accept)
        if performed:
            clock.advance(1_000)
            d_alice, d_bob = alice.deliver(accept, bob), bob.deliver(accept, alice)
            t.performed = [d_alice, d_bob, bob.receipt(d_alice), alice.receipt(d_bob)]
            released = k1.submit([vs.envelope for vs in t.performed])
            assert [verify_statement(e).body for e in released[1:]] == ["stamp", "release", "release"]
        return t

    done = [trade(performed=True) for _ in range(settled)]
    still_open = trade(performed=False)  # Bob never delivers
    clock.advance(1_000)
    k2, rev, handover = handed_over(k1.party, clock)
    clock.advance(1)
    return HandedOver(
        clock, alice, bob, k2, handover, [*k1.escrow.transcript(), rev.envelope], done, still_open
    )


class Twins:
    def __init__(self, directory: Path, h: HandedOver, snapshot_every: int = 0) -> None:
        self.directory, self.h, self.snapshot_every = directory, h, snapshot_every
        self.nodes = {name: self._open(name, h.predecessor) for name in TWINS}

    def _open(self, name: str, predecessor: list[bytes]) -> EscrowNode:
        node = EscrowNode(
            self.h.k2.agent.key,
            self.h.handover.envelope,
            self.directory / f"{name}.db",
            clock=lambda: self.h.clock.now_ms,
            durability="normal",
            forget=name == "forgetting",
            snapshot_every=self.snapshot_every if name == "forgetting" else 0,
            predecessor=predecessor,
        )
        writer = node.signer.writer
        node.signer.nonce = lambda: derive(f"escrow2 nonce {writer.next_seq}", 16)
        return node

    @property
    def forgetting(self) -> EscrowNode:
        return self.nodes["forgetting"]

    def each(self, call: Any) -> Any:
        outcomes = [_outcome(call, node) for node in self.nodes.values()]
        assert outcomes[0] == outcomes[1]
        return outcomes[0]

    def submit(self, *statements: VerifiedStatement) -> Any:
        return self.each(lambda node: node.submit([vs.envelope for vs in statements]))

    def restart(self) -> None:
        for name, node in self.nodes.items():
            node.close()
            self.nodes[name] = self._open(name, [])  # as `escrow serve` without --succeeds
        assert (self.forgetting.resumed_from is not None) == bool(self.snapshot_every)

    def close(self) -> None:
        for node in self.nodes.values():
            node.close()


def _outcome(call: Any, node: EscrowNode) -> Any:
    try:
        return ("answered", call(node))
    except CoopError as err:
        return ("refused", type(err).__name__, err.requirement, tuple(err.evidence or ()))


@pytest.fixture(params=[0, 1], ids=["replayed", "snapshot"])
def twins(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Twins]:
    """The forgetting twin restarts by replaying its whole journal, or from its last snapshot."""
    pair = Twins(tmp_path, _history(settled=3), snapshot_every=request.param)
    yield pair
    pair.close()


def _held(node: EscrowNode) -> tuple[int, ...]:
    """The records a node's escrow holds in memory: statements, negotiations, contracts in its Book, the
    old key's transcript and its ledger statements by contract, stamps in its witness index."""
    e = node.escrow
    return (
        len(e.verifier.statements),
        len(e.verifier.negotiations.by_id),
        len(e._book.bonds),
        len(e._predecessor),
        sum(map(len, e._predecessor_about.values())),
        len(e.verifier.witness._stamped),
    )


def _probes(twins: Twins, t: Trade) -> list[Any]:
    """Everything that may still come about a settled contract K1 signed, and the reads of the ledger."""
    h = twins.h
    claim = h.alice.sign(
        "breach_claim",
        commitment_pb2.BreachClaim(contract=t.accept.digest, item_index=0, reason="late"),
        audience=h.bob.did,
        negotiation_id=t.nid,
    )
    revoke = h.bob.revoke(t.accept, h.alice)
    return [
        twins.submit(t.offer, t.accept),  # held (RPL-002): with K1's Stamp and locks (ESC-008, ESC-023)
        twins.submit(t.accept),  # ESC-008
        twins.submit(t.offer),  # ESC-012
        twins.submit(*t.performed),  # RPL-002
        twins.submit(claim),  # CMT-005: no claim once settled
        twins.submit(revoke),  # NEG-010: nor a revoke
        twins.each(lambda node: [vs.envelope for vs in node.tick()]),
        twins.each(lambda node: node.escrow.transcript()),
        twins.each(lambda node: node.get_transcript(0, 1000, 1 << 22)),
        twins.each(lambda node: node.get_ledger(0, 1000)),
        twins.each(lambda node: [node.get_balance(p.did) for p in (h.alice, h.bob)]),
    ]


@pytest.mark.req("ESC-023", "ESC-008", "ESC-012", "RPL-002", "CMT-005", "NEG-010", "AUD-006")
def test_a_settled_taken_over_contract_leaves_memory_and_is_answered_as_one_held(twins: Twins) -> None:
    h = twins.h
    forgetting = twins.forgetting.escrow
    assert forgetting.open_contracts == twins.nodes["holding"].escrow.open_contracts == 1
    assert forgetting.forgotten == len(h.settled)
    for t in h.settled:
        assert t.nid not in forgetting.verifier.negotiations.by_id
        for vs in (t.offer, t.accept, *t.performed):
            assert not dict.__contains__(forgetting.verifier.statements, vs.digest)
            assert dict.__contains__(twins.nodes["holding"].escrow.verifier.statements, vs.digest)
    held = _held(twins.forgetting)
    t = h.settled[1]
    first = _probes(twins, t)
    assert first[0][0] == "answered"
    # ESC-008, ESC-023: after the Mandate and the hand-over's revocation, K1's Stamp of the Accept and
    # its ledger statements about the contract, read back from the journal by the forgetting twin.
    answer = [verify_statement(env) for env in first[1][1]]
    after = [vs.body for vs in answer][::-1].index("key_revocation")
    assert [vs.body for vs in answer[len(answer) - after :]] == [
        "stamp",
        "bond_lock",
        "bond_lock",
        "release",
        "release",
    ]
    assert answer[-after].statement.stamp.statements[-1] == t.accept.digest
    # ILLEGAL_TRANSITION from the transition table (step 28) before the escrow's own CMT-005 (ERR-002)
    assert first[4][:3] == ("refused", "IllegalTransition", "CMT-002")
    assert first[5][:3] == ("refused", "IllegalTransition", "NEG-010")
    assert _held(twins.forgetting) == held  # brought back to answer, forgotten again
    report = audit_ledger(first[7][1], escrow=h.k2.did)
    assert report.ok, report.findings
    twins.restart()
    assert twins.forgetting.escrow.forgotten == len(h.settled)
    assert _held(twins.forgetting) == held
    assert _probes(twins, t) == first
    # The open contract is ruled on the same by both: Alice claims, K2 upholds, forfeits, releases.
    h.clock.now_ms = h.open.offer.statement.offer.gives[0].deadline_ms + HOUR_MS
    claim = h.alice.sign(
        "breach_claim",
        commitment_pb2.BreachClaim(contract=h.open.accept.digest, item_index=0, reason="never arrived"),
        audience=h.bob.did,
        negotiation_id=h.open.nid,
    )
    assert twins.submit(claim)[0] == "answered"
    h.clock.advance(DEFAULT_RESPONSE_WINDOW_MS + 30_000)
    ticked = twins.each(lambda node: [vs.body for vs in node.tick()])
    assert ticked == ("answered", ["ruling", "forfeit", "release"])
    twins.each(lambda node: node.escrow.transcript())


@pytest.mark.req("ESC-023")
def test_a_successors_memory_does_not_grow_with_the_settled_contracts_it_took_over(tmp_path: Path) -> None:
    """The forgetting twin holds as many records after taking over six settled contracts as after one
    (the holding twin, as the successor did before, holds each one's ~20 statements), also restarted."""
    held: dict[int, tuple[tuple[int, ...], tuple[int, ...]]] = {}
    for settled in (1, 6):
        (tmp_path / str(settled)).mkdir()
        pair = Twins(tmp_path / str(settled), _history(settled))
        try:
            before = _held(pair.forgetting)
            pair.restart()
            held[settled] = (before, _held(pair.forgetting))
            holding = pair.nodes["holding"].escrow
            assert len(holding.verifier.statements) > held[settled][0][0] + 10 * settled
        finally:
            pair.close()
    assert held[1] == held[6]


@pytest.mark.req("ESC-023")
def test_a_successor_restarted_never_holds_the_settled_contracts_it_took_over_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A restart replays the taken-over statements first and forgets each settled contract as it goes:
    the most negotiations it holds at any point of the replay is the same for six settled contracts
    taken over as for one (holding them all, then forgetting, it grew with them)."""
    most: dict[int, int] = {}
    real = Escrow._take_over

    def counting(self: Escrow, vs: VerifiedStatement) -> bool:
        taken = real(self, vs)
        most[0] = max(most.get(0, 0), len(self.verifier.negotiations.by_id))
        return taken

    peaks: dict[int, int] = {}
    for settled in (1, 6):
        (tmp_path / str(settled)).mkdir()
        pair = Twins(tmp_path / str(settled), _history(settled))
        try:
            pair.nodes["forgetting"].close()
            with monkeypatch.context() as m:
                m.setattr(Escrow, "_take_over", counting)
                most.clear()
                pair.nodes["forgetting"] = pair._open("forgetting", [])
            peaks[settled] = most[0]
        finally:
            pair.close()
    assert peaks[1] == peaks[6] <= 2


@pytest.mark.req("ESC-023")
def test_a_successor_journal_of_before_holding_the_whole_transcript_in_its_record_still_starts(
    tmp_path: Path,
) -> None:
    """A journal written before the transcript went into its rows holds all of it in its record
    (META_ESCROW_PREDECESSOR, a list): the successor starts from it as before -- holding it in memory --
    and its transcript and answers are those of one that took the same over into its rows."""
    h = _history(2)
    pair = Twins(tmp_path, h)
    try:
        taken_over = pair.forgetting.escrow.taken_over
    finally:
        pair.close()
    with Journal.open(tmp_path / "before.db") as journal:
        journal.put_meta(META_ESCROW_PREDECESSOR, taken_over)
    before = EscrowNode(
        h.k2.agent.key,
        h.handover.envelope,
        tmp_path / "before.db",
        clock=lambda: h.clock.now_ms,
        durability="normal",
        snapshot_every=0,
    )
    now = Twins(tmp_path, h)  # restarted on the journals the pair wrote
    try:
        assert before.escrow.open_contracts == now.forgetting.escrow.open_contracts == 1
        assert before.escrow.forgotten == 0 and len(before.escrow._predecessor) > 0
        assert before.escrow.transcript() == now.forgetting.escrow.transcript()
        t = h.settled[0]
        assert before.submit([t.accept.envelope]) == now.forgetting.submit([t.accept.envelope])
    finally:
        before.close()
        now.close()
