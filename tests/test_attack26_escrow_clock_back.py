"""redteam26: an escrow whose clock runs behind its own chain -- a wall clock stepped back, or a restart
without the test clock's offset (CTL-003) -- took a Submit's evidence and then refused its own Stamp.

An escrow dates each statement it signs by its clock (its Stamps are the witnessed time of section 9.5),
and its own verifier checks each one before signing, CHN-005 among the checks: a statement dated before
the one below it in the escrow's chain is a time inversion, a fork proof against the escrow's key. The
peer dates its statements no earlier than its chain's head (``Peer._sign_body``: ``chain_floor``) and the
principal's commands likewise (``node._continue_chain``); the escrow node took its clock as it came. So
when that clock read earlier than the escrow's last statement -- an NTP step back between two Submits or
across a restart, or an escrow run on a test clock moved an hour ahead and restarted without the offset
(the times a journal records "must not go back", CTL-003) -- every Submit failed half-way: the evidence
(Alice's Offer, Bob's Accept) was taken and journaled, its Stamp refused ``CHAIN_BROKEN`` [CHN-005] by the
escrow's own check, so the Accept was recognised unstamped and its bonds never locked; a repeat of the
Submit was answered with nothing (all of it held); the ticker's Rulings failed the same way; and the
escrow's audit reported the honest escrow ``UNSTAMPED_EVIDENCE`` and ``UNWITNESSED`` -- for good, in the
transcript anyone can audit. Who chose the value: the escrow's operator's machine clock, no party's; the
parties lose the contract's bonds and the escrow its audited record.

Now the escrow node's clock never reads before its chain's head, nor before a time it read (its
``ChainClock``): a Stamp is dated at the head at the earliest, and the escrow judges every time against
the clock its chain already committed to.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from a2a_coop.protocol.escrow_audit import audit_ledger
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.runtime.node import EscrowNode
from a2a_coop.runtime.testclock import TestClock
from a2a_coop.testing import FixedClock, Party

BOND = 100
FUNDS = 1_000
UNSTAMPED = "the Accept was taken unstamped, its bonds never locked"
STEP_BACK_MS = 20_000  # within the skew a party's statement is taken with (TIM-004): nothing else refuses


class _Story:
    """Alice, Bob and an escrow on a shared clock; ``escrow_offset`` is how far the escrow's machine clock
    reads from it (negative: behind)."""

    def __init__(self) -> None:
        self.clock = FixedClock()
        self.alice, self.bob = Party("alice", self.clock), Party("bob", self.clock)
        self.party = Party("escrow", self.clock)
        self.escrow_offset = 0

    def escrow_clock(self) -> int:
        return self.clock.now_ms + self.escrow_offset

    def node(self, path: Path, clock: object = None) -> EscrowNode:
        return EscrowNode(
            self.party.agent.key,
            self.party.mandate_vs.envelope,
            path,
            clock=self.escrow_clock if clock is None else clock,  # type: ignore[arg-type]
            durability="normal",
        )

    def bonded_contract(self) -> list[bytes]:
        """A fresh Offer of Alice's naming the escrow with both bonds, and Bob's Accept of it."""
        terms = self.alice.proposal(escrow=self.party.did, issuer_bond=BOND, audience_bond=BOND)
        offer = self.alice.offer(self.bob, terms)
        self.clock.advance(1_000)
        accept = self.bob.accept(offer)
        self.clock.advance(1_000)
        return [*self.alice.setup, *self.bob.setup, offer.envelope, accept.envelope]


def _signed(answer: list[bytes]) -> list[VerifiedStatement]:
    return [verify_statement(env) for env in answer[1:]]  # after the escrow's Mandate


def _bonded(answer: list[bytes]) -> bool:
    """The escrow stamped the Accept (the Submit's last envelope) and locked both bonds."""
    return [vs.body for vs in _signed(answer)] == ["stamp", "bond_lock", "bond_lock"]


def _runs_forward(e: EscrowNode, escrow: str) -> None:
    """The escrow's chain never runs backwards (CHN-005: no time inversion, no fork proof against its key),
    and its audit finds nothing."""
    ours = [vs for vs in map(verify_statement, e.escrow.ledger()) if vs.issuer == escrow]
    times = [vs.issued_at_ms for vs in sorted(ours, key=lambda vs: vs.seq)]
    assert times == sorted(times)
    report = audit_ledger(e.escrow.transcript(), escrow=escrow)
    assert report.ok, report.findings


@pytest.mark.req("WIT-009", "CHN-005", "WIT-001")
@pytest.mark.parametrize("restart", [False, True], ids=["same-run", "restart"])
def test_an_escrow_whose_clock_stepped_back_still_stamps_and_bonds(tmp_path: Path, restart: bool) -> None:
    s = _Story()
    path = tmp_path / "escrow.db"
    e = s.node(path)
    try:
        e.deposit(s.alice.did, FUNDS)
        e.deposit(s.bob.did, FUNDS)
        assert _bonded(e.submit(s.bonded_contract()))
        # The machine's clock steps back (NTP), between two Submits or across a restart.
        s.escrow_offset = -STEP_BACK_MS
        if restart:
            e.close()
            e = s.node(path)
        second = s.bonded_contract()
        assert _bonded(e.submit(second)), UNSTAMPED
        assert e.escrow.balance(s.bob.did) == (FUNDS - 2 * BOND, 2 * BOND)
        _runs_forward(e, s.party.did)
    finally:
        e.close()


@pytest.mark.req("WIT-009", "CTL-003")
def test_an_escrow_restarted_without_its_test_clocks_offset_still_stamps_and_bonds(tmp_path: Path) -> None:
    """A test moved every process of its story an hour ahead (18.6); the escrow is restarted on the
    machine's clock alone, the parties still on theirs (a shared offset, as the SPEC asks of a test)."""
    s = _Story()
    path = tmp_path / "escrow.db"
    hour = 3_600_000
    moved = [0]  # the machine's clock is the story's less what the test moved
    test_clock = TestClock(wall=lambda: s.clock.now_ms - moved[0])
    e = s.node(path, test_clock)
    try:
        e.deposit(s.alice.did, FUNDS)
        e.deposit(s.bob.did, FUNDS)
        test_clock.advance(hour)
        moved[0] = hour
        s.clock.advance(hour)  # the parties' clocks moved with it ...
        s.escrow_offset = -hour  # ... and the escrow is restarted without the offset
        assert _bonded(e.submit(s.bonded_contract()))
        e.close()
        e = s.node(path)
        assert _bonded(e.submit(s.bonded_contract())), UNSTAMPED
        _runs_forward(e, s.party.did)
    finally:
        e.close()
