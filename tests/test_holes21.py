"""Holes of pass 21: what a peer takes from an answer, and what an escrow's quotas leave an honest user.

For every value asked: who chose it, and what they gain by lying. Mallory is the attacker (here a trusted
escrow, or whoever answers in its place: the statements are signed, the channel need not be).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from peers import fresh_key, make_peer
from test_attack16 import _quota_escrow
from test_attack18 import _window
from test_escrow_dealings_quota import _contract

from a2a_coop._proto.a2acoop.v1 import commitment_pb2
from a2a_coop.protocol.errors import RateLimited
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.runtime.strangers import StrangerQuota
from a2a_coop.testing import DAY_MS, FixedClock, Party

# --- 1: RPC-016, what an answer may carry uncounted ------------------------------------------------------


@pytest.mark.req("RPC-016", "BDY-014")
def test_an_escrows_answer_carries_no_uncounted_deposits() -> None:
    """Attack: of a trusted escrow's own answer to Bob's Submit, RPC-016 took every Deposit addressed to
    Bob uncounted, never skipped. No Submit makes an escrow sign a Deposit (funds come in through its
    payment rail, never through Submit; the reference's answer carries none), so the escrow -- trusted
    with the bonds, not with Bob's disk -- chose the count: a hundred Deposits of one unit in one answer,
    all journaled, with every Submit Bob sends; and anyone answering in its place relays its old ones.
    Defence: an answer carries uncounted only what the request it answers could have caused; a Deposit
    counts as the escrow's own statement (its per-key count of the dealings), skipped past it."""
    clock = _window(FixedClock())
    bob, e = Party("bob", clock), Party("escrow", clock)
    b = make_peer(
        bob, clock, context=[e.mandate_vs.envelope], stranger_quota=StrangerQuota(per_period=8, per_key=1)
    )
    assert e.did in b.trusted_escrows
    held = b.verifier.statements
    before = len(held)
    deposits = [
        e.sign(
            "deposit",
            commitment_pb2.Deposit(party=bob.did, amount=1, currency="credit", reference=str(i)),
            audience=bob.did,
        )
        for i in range(100)
    ]
    b.on_replies([e.mandate_vs.envelope, *(d.envelope for d in deposits)])
    kept = len(held) - before
    assert kept <= 16, kept  # the escrow's base count of the dealings (16 x 1), no more


@pytest.mark.req("RPC-016", "WIT-006")
def test_an_answer_carries_one_uncounted_stamp_of_a_statement_by_an_escrow() -> None:
    """Attack: RPC-016 took uncounted any Stamp by a trusted escrow naming a statement Bob holds, "an
    honest escrow stamps a statement once, so these are as many as what we hold" -- but the escrow chose
    how many it signs: a hundred Stamps of one statement Bob holds, in its answer or relayed in a
    counterparty's, all journaled uncounted. Defence: only the escrow's first Stamp of a statement (none
    held, none earlier in the answer) rides uncounted, as a request's does (WIT-006); the rest count."""
    clock = _window(FixedClock())
    bob, e = Party("bob", clock), Party("escrow", clock)
    b = make_peer(
        bob, clock, context=[e.mandate_vs.envelope], stranger_quota=StrangerQuota(per_period=8, per_key=1)
    )
    held = b.verifier.statements
    named = bob.mandate_vs.digest
    assert named in held
    before = len(held)
    stamps = [e.sign("stamp", commitment_pb2.Stamp(statements=[named])) for _ in range(100)]
    clock.advance(1)
    b.on_replies([e.mandate_vs.envelope, *(s.envelope for s in stamps)])  # whoever relays them
    kept = len(held) - before
    assert kept <= 1 + 16, kept  # the first uncounted, then the escrow's base count


# --- 2: ESC-017, a principal without funds renewing its agent's Mandate -------------------------------------


def _renewal(alice: Party, clock: FixedClock) -> VerifiedStatement:
    """Alice's principal renews her Mandate (the same caps, signed afresh)."""
    clock.advance(1_000)
    return alice.principal.sign("mandate", alice.mandate_vs.statement.mandate, ttl_ms=DAY_MS)


@pytest.mark.req("ESC-017")
def test_a_principal_without_funds_can_renew_its_agents_mandate_at_the_escrow(tmp_path: Path) -> None:
    """Honest user: Alice traded through the escrow once (a contract naming it, no bonds: her principal P
    is in its dealings), and P renews her Mandate before funding her there. The renewal sent alone -- a
    split Submit puts it alone (section 13.4), or Alice shows it ahead of her next trade -- counts for P,
    in the dealings: P has no funds there (base count 0) and signs no statement of a contract (credit 0),
    so it was refused RATE_LIMITED with the quota empty, where any stranger's Mandate was taken. Who
    chose: nobody lied; the count made a key in the dealings worse off than a stranger. Defence: a
    renewal by an unfunded key whose count has no room counts as a stranger's Mandate, under the newcomer
    quota (per key and in all): room for the honest user, none beyond what strangers have -- with the
    quota full it is refused as theirs are, and beside what cites it, it rides free as before."""
    clock = _window(FixedClock())
    escrow, node = _quota_escrow(tmp_path, clock, StrangerQuota(per_period=6, per_key=2))
    alice, bob = Party("alice", clock), Party("bob", clock)
    try:
        _contract(node, escrow, alice, bob)
        p = alice.principal.did
        assert node.escrow.deals_with(p) and not node.escrow._funded(p)
        held = node.escrow.verifier.statements
        first = _renewal(alice, clock)
        node.submit([first.envelope])  # refused RATE_LIMITED before: room 0
        assert first.digest in held
        second = _renewal(alice, clock)
        node.submit([second.envelope])
        third = _renewal(alice, clock)  # past a stranger's count per key: refused as a stranger's
        with pytest.raises(RateLimited, match="ESC-017"):
            node.submit([third.envelope])
        assert third.digest not in held
        # A flood of strangers fills the quota: a lone renewal is refused as a stranger's Mandate is ...
        for i in range(4):
            node.submit([fresh_key(i, clock)[1].envelope])
        other = Party("carol", clock)
        _contract(node, escrow, other, bob)
        lone = _renewal(other, clock)
        with pytest.raises(RateLimited, match="ESC-017"):
            node.submit([lone.envelope])
        # ... and beside the statement that cites it, it rides free, as before (ESC-017 (b)).
        assert lone.digest not in held
        other.mandate_vs = lone
        offer = other.offer(bob, other.proposal(escrow=escrow.did))
        node.submit([lone.envelope, offer.envelope])
        assert lone.digest in held and offer.digest in held
    finally:
        node.close()


# --- 3: RPC-016, the Mandate an escrow's answer starts with -----------------------------------------------


@pytest.mark.req("RPC-016", "ESC-002")
def test_an_escrows_answer_starts_with_no_uncounted_mandate_of_anyones() -> None:
    """Attack: an escrow answers every Submit with its Mandate first (ESC-002), and the peer held that
    first envelope as given context -- uncounted, journaled -- whatever it was: whoever answers at the
    escrow's address (the statements are signed, the channel need not be) put a fresh principal's Mandate
    first in each answer, one row for good per Submit the peer sends, every trade step. Who chose it: the
    answerer. Defence: held as given only when it is a Mandate of an escrow we trust by the principal that
    granted the one we were given (its renewal, which its statements may cite); anything else counts as an
    answer's other statements (skipped over the quota, never refused)."""
    from a2a_coop.runtime.trade import relay_escrow_answers

    clock = _window(FixedClock())
    bob, e = Party("bob", clock), Party("escrow", clock)
    b = make_peer(
        bob, clock, context=[e.mandate_vs.envelope], stranger_quota=StrangerQuota(per_period=8, per_key=1)
    )
    held = b.verifier.statements
    before = len(held)
    for i in range(30):
        relay_escrow_answers(b, None, [fresh_key(i, clock)[1].envelope])  # type: ignore[arg-type]
    assert len(held) - before <= 8, len(held) - before
    # The escrow's own renewal is held with the quota full: its statements may cite it.
    renewed = e.principal.sign("mandate", e.mandate_vs.statement.mandate, ttl_ms=DAY_MS)
    relay_escrow_answers(b, None, [renewed.envelope])  # type: ignore[arg-type]
    assert renewed.digest in held
