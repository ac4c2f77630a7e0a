"""The reference escrow and its ledger audit (SPEC sections 7.3, 7.7, 9; CMT-*, NEG-012).

Every story runs Alice and Bob through an :class:`Escrow` built on the ``escrow``
party's key, on a fixed clock: deposits, a bonded contract, and whatever
evidence the story needs. The escrow's answers are compared as (body, party).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, trade_pb2
from a2a_coop.protocol.errors import IllegalTransition, IssuedInFuture
from a2a_coop.protocol.escrow import RESPONSE_WINDOW_MS, Escrow, audit_ledger
from a2a_coop.protocol.negotiation import CLAIM_WINDOW_MS, State
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.protocol.verifier import Verifier, verify_transcript
from a2a_coop.testing import DAY_MS, FixedClock, Party, Signer, derive

FUNDS = 1_000
BOND = 100


class Story:
    """Alice offers Bob a contract with a bond of BOND each, held by the reference escrow.

    Both parties' mandates reach the escrow, each deposits its share of ``funds``,
    and the offer and accept are built but not yet submitted.
    """

    def __init__(
        self,
        clock: FixedClock,
        alice: Party,
        bob: Party,
        escrow: Party,
        *,
        funds: tuple[int, int] = (FUNDS, FUNDS),
        **terms: Any,
    ) -> None:
        self.clock, self.alice, self.bob, self.escrow = clock, alice, bob, escrow
        self.desk = Escrow(escrow.agent, escrow.mandate_vs.digest, setup=escrow.setup)
        self.names = {alice.did: "alice", bob.did: "bob"}
        self.signed: list[VerifiedStatement] = []  # what the rules signed, in ledger order
        self.desk.submit([*alice.setup, *bob.setup], clock.now_ms)
        for party, amount in zip((alice, bob), funds, strict=True):
            if amount:
                self.desk.deposit(party.did, amount, "credit", f"wire/{party.name}", clock.now_ms)
        proposal = alice.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did, **terms)
        self.offer = alice.offer(bob, proposal)
        self.accept = bob.accept(self.offer)
        self.deadline = proposal.gives[0].deadline_ms  # both items share it
        self.lapse = self.deadline + CLAIM_WINDOW_MS  # EXPIRED strictly after this (SPEC 8.7)

    def submit(self, *statements: VerifiedStatement) -> list[tuple[str, str]]:
        return self.said(self.desk.submit([s.envelope for s in statements], self.clock.now_ms))

    def tick(self, now_ms: int) -> list[tuple[str, str]]:
        return self.said(self.desk.tick(now_ms))

    def said(self, signed: list[VerifiedStatement]) -> list[tuple[str, str]]:
        self.signed += signed
        return [(vs.body, self.names[vs.body_message.party]) for vs in signed]

    def balances(self) -> dict[str, tuple[int, int]]:
        return {name: self.desk.balance(did) for did, name in self.names.items()}

    def state(self) -> State:
        return self.desk.verifier.negotiations.get(self.offer.header.negotiation_id).state

    def bonded(self) -> None:
        assert self.submit(self.offer, self.accept) == [("bond_lock", "alice"), ("bond_lock", "bob")]

    def claim(self, claimant: Party, accused: Party, item: int = 0) -> VerifiedStatement:
        msg = commitment_pb2.BreachClaim(contract=self.accept.digest, item_index=item, reason="never arrived")
        return claimant.sign(
            "breach_claim", msg, audience=accused.did, negotiation_id=self.accept.header.negotiation_id
        )

    def revoke(self, party: Party, to: Party) -> VerifiedStatement:
        msg = commitment_pb2.Revoke(contract=self.accept.digest, reason="changed plans")
        return party.sign("revoke", msg, audience=to.did, negotiation_id=self.accept.header.negotiation_id)

    def escrow_says(self, body: str, msg: Any) -> VerifiedStatement:
        """A statement signed with the escrow's key behind the rules' back (a tampered ledger)."""
        return self.escrow.sign(body, msg, negotiation_id=self.accept.header.negotiation_id)


@pytest.fixture
def stories(clock: FixedClock, alice: Party, bob: Party, escrow: Party) -> Iterator[Callable[..., Story]]:
    """Builds stories; afterwards, whatever happened in them, the escrow's own transcript must audit
    clean and the audit's balances must equal the escrow's."""
    made: list[Story] = []

    def make(**terms: Any) -> Story:
        made.append(Story(clock, alice, bob, escrow, **terms))
        return made[-1]

    yield make
    for s in made:
        report = audit_ledger(s.desk.transcript())
        assert report.ok, report.findings
        assert report.unchecked == []
        assert {did: report.balances.get(did, (0, 0)) for did in s.names} == {
            did: s.desk.balance(did) for did in s.names
        }


@pytest.fixture
def story(stories: Callable[..., Story]) -> Story:
    return stories()


# --- NEG-012, CMT-001: the bonded trade --------------------------------------------------------


@pytest.mark.req("NEG-012", "CMT-001")
def test_bonded_trade_locks_both_bonds_then_releases_them(story: Story, alice: Party, bob: Party) -> None:
    """Both deposit; the contract reaches the escrow; expect a lock per party (BONDED), then, once
    both sides deliver and receipt, a release per party and balances back to the deposits."""
    story.bonded()
    assert story.state() is State.BONDED
    assert story.balances() == {"alice": (FUNDS - BOND, BOND), "bob": (FUNDS - BOND, BOND)}
    # The locks are public, so each party's own verifier (acting for its key) takes both and sees BONDED.
    locks = story.desk.ledger()[2:]
    for me in (alice, bob):
        own = Verifier(me=me.did)
        for env in (
            *alice.setup,
            *bob.setup,
            *story.escrow.setup,
            story.offer.envelope,
            story.accept.envelope,
        ):
            own.accept(env)
        for env in locks:
            own.accept(env)
        assert own.negotiations.get(story.offer.header.negotiation_id).state is State.BONDED
    story.clock.advance(1_000)
    d1, d2 = alice.deliver(story.accept, bob), bob.deliver(story.accept, alice)
    assert story.submit(d1, d2, bob.receipt(d1)) == []
    assert story.submit(alice.receipt(d2)) == [("release", "alice"), ("release", "bob")]
    assert story.state() is State.FULFILLED
    assert story.balances() == {"alice": (FUNDS, 0), "bob": (FUNDS, 0)}
    assert verify_transcript(story.desk.transcript()).valid


# --- CMT-002: breach claims -------------------------------------------------------------------


@pytest.mark.req("CMT-002")
def test_upheld_breach_claim_forfeits_the_accused_bond_to_the_claimant(
    story: Story, alice: Party, bob: Party
) -> None:
    """Alice performs, Bob never does; after the deadline Alice claims. Expect nothing during Bob's
    response window, then Bob's bond forfeited to Alice (cause = the claim) and Alice's released."""
    story.bonded()
    story.clock.advance(1_000)
    d = alice.deliver(story.accept, bob)
    assert story.submit(d, bob.receipt(d)) == []
    story.clock.advance(DAY_MS)
    claim = story.claim(alice, bob)
    assert story.submit(claim) == []
    assert story.state() is State.DISPUTED
    decided = claim.header.issued_at_ms + RESPONSE_WINDOW_MS
    assert story.tick(decided - 1) == []
    assert story.tick(decided) == [("forfeit", "bob"), ("release", "alice")]
    forfeit = story.signed[-2].statement.forfeit
    assert (forfeit.beneficiary, forfeit.cause) == (alice.did, claim.digest)
    assert story.state() is State.BREACHED
    assert story.balances() == {"alice": (FUNDS + BOND, 0), "bob": (FUNDS - BOND, 0)}
    assert audit_ledger(story.desk.transcript()).ok


@pytest.mark.req("CMT-002")
def test_timely_delivery_shown_in_the_response_window_defeats_the_claim(
    story: Story, alice: Party, bob: Party
) -> None:
    """Both deliver on time, but Alice never receipts Bob's delivery and claims a breach; Bob shows the
    escrow his delivery inside the window. Expect no forfeit (the contract stays DISPUTED, bonds
    locked), then both bonds released once Alice receipts."""
    story.bonded()
    story.clock.advance(1_000)
    d_alice, d_bob = alice.deliver(story.accept, bob), bob.deliver(story.accept, alice)
    story.submit(d_alice, bob.receipt(d_alice))
    story.clock.advance(DAY_MS)
    claim = story.claim(alice, bob)
    assert story.submit(claim) == []
    assert story.submit(d_bob) == []
    assert story.tick(claim.header.issued_at_ms + RESPONSE_WINDOW_MS) == []
    assert story.state() is State.DISPUTED
    assert story.balances() == {"alice": (FUNDS - BOND, BOND), "bob": (FUNDS - BOND, BOND)}
    story.clock.now_ms = claim.header.issued_at_ms + RESPONSE_WINDOW_MS
    assert story.submit(alice.receipt(d_bob)) == [("release", "alice"), ("release", "bob")]


# --- CMT-003: revocation ----------------------------------------------------------------------


@pytest.mark.req("CMT-003")
def test_revoke_with_forfeit_bond_pays_the_revokers_bond_to_the_other_party(
    stories: Callable[..., Story], alice: Party, bob: Party
) -> None:
    """forfeit_bond terms; Bob revokes after both bonds are locked. Expect Bob's bond forfeited to
    Alice (cause = the Revoke) and Alice's released at once, since she owes nothing under notice."""
    story = stories(revocation=trade_pb2.Revocation(allowed=True, forfeit_bond=True))
    story.bonded()
    revoke = story.revoke(bob, alice)
    assert story.submit(revoke) == [("forfeit", "bob"), ("release", "alice")]
    forfeit = story.signed[-2].statement.forfeit
    assert (forfeit.beneficiary, forfeit.cause) == (alice.did, revoke.digest)
    assert story.state() is State.REVOKED
    assert story.balances() == {"alice": (FUNDS + BOND, 0), "bob": (FUNDS - BOND, 0)}


@pytest.mark.req("CMT-003")
def test_bonds_after_revoke_wait_for_the_work_still_owed_under_notice(
    stories: Callable[..., Story], alice: Party, bob: Party
) -> None:
    """A two-day notice period: Alice revokes, so both items (due in a day) stay owed. Expect no release
    yet; Alice's bond released once her item is receipted; Bob's, whose item never comes, only after
    its deadline plus the claim window."""
    story = stories(revocation=trade_pb2.Revocation(allowed=True, notice_ms=2 * DAY_MS))
    story.bonded()
    assert story.submit(story.revoke(alice, bob)) == []
    d = alice.deliver(story.accept, bob)
    assert story.submit(d, bob.receipt(d)) == [("release", "alice")]
    assert story.tick(story.lapse) == []
    assert story.tick(story.lapse + 1) == [("release", "bob")]
    assert story.balances() == {"alice": (FUNDS, 0), "bob": (FUNDS, 0)}


# --- CMT-004: lapse -------------------------------------------------------------------------


@pytest.mark.req("CMT-004")
def test_unperformed_contract_lapses_and_both_bonds_are_refunded(story: Story) -> None:
    """Nobody delivers or claims. Expect nothing at exactly deadline + claim window, refunds of both
    bonds one millisecond later, and the contract EXPIRED."""
    story.bonded()
    assert story.tick(story.lapse) == []
    assert story.tick(story.lapse + 1) == [("refund", "alice"), ("refund", "bob")]
    assert story.state() is State.EXPIRED
    assert story.balances() == {"alice": (FUNDS, 0), "bob": (FUNDS, 0)}


@pytest.mark.req("NEG-012")
def test_insufficient_funds_leave_the_bond_unlocked_until_a_deposit_covers_it(
    stories: Callable[..., Story], alice: Party, bob: Party
) -> None:
    """Alice deposited 50 for a bond of 100. Expect only Bob's bond locked, the contract stuck in
    ACCEPTED (Alice's delivery refused), then Alice's lock at the first tick after she tops up."""
    story = stories(funds=(50, FUNDS))
    assert story.submit(story.offer, story.accept) == [("bond_lock", "bob")]
    assert story.state() is State.ACCEPTED
    assert story.balances()["alice"] == (50, 0)
    with pytest.raises(IllegalTransition):
        story.submit(alice.deliver(story.accept, bob))
    story.desk.deposit(alice.did, 50, "credit", "wire/alice/2", story.clock.now_ms)
    assert story.tick(story.clock.now_ms) == [("bond_lock", "alice")]
    assert story.state() is State.BONDED
    assert story.balances()["alice"] == (0, BOND)


@pytest.mark.req("CMT-004")
def test_one_sided_lock_is_refunded_when_the_contract_lapses(
    stories: Callable[..., Story], alice: Party, bob: Party
) -> None:
    """Alice never funds her bond. Expect Bob's lock held (Alice may still fund) until deadline + claim
    window, then refunded."""
    story = stories(funds=(0, FUNDS))
    assert story.submit(story.offer, story.accept) == [("bond_lock", "bob")]
    assert story.tick(story.deadline + 1) == []
    assert story.tick(story.lapse + 1) == [("refund", "bob")]
    assert story.balances()["bob"] == (FUNDS, 0)


# --- idempotency, time, restart ---------------------------------------------------------------


@pytest.mark.req("RPL-002")
def test_resubmitting_the_same_evidence_never_locks_twice(story: Story) -> None:
    """The contract is submitted twice, the second time with the escrow's own locks echoed back.
    Expect one lock per party and nothing signed the second time."""
    story.bonded()
    echo = [story.offer.envelope, story.accept.envelope, *story.desk.ledger()]
    assert story.desk.submit(echo, story.clock.now_ms) == []
    assert len(story.desk.ledger()) == 4  # two deposits, two locks
    assert story.balances() == {"alice": (FUNDS - BOND, BOND), "bob": (FUNDS - BOND, BOND)}


@pytest.mark.req("TIM-003")
def test_evidence_issued_after_now_plus_skew_is_refused(story: Story, alice: Party, bob: Party) -> None:
    """Alice's offer claims to be issued 31 s ahead of the escrow's clock; expect ISSUED_IN_FUTURE."""
    early = alice.offer(bob, issued_at_ms=story.clock.now_ms + 31_000)
    with pytest.raises(IssuedInFuture):
        story.submit(early)


def test_deposit_in_another_currency_is_refused(story: Story, alice: Party) -> None:
    """The escrow keeps credit; a deposit in eur is a caller error, signed nowhere."""
    before = story.desk.ledger()
    with pytest.raises(ValueError, match="credit"):
        story.desk.deposit(alice.did, 10, "eur", "wire", story.clock.now_ms)
    assert story.desk.ledger() == before


def test_escrow_restored_from_its_transcript_carries_on(story: Story, alice: Party, bob: Party) -> None:
    """The escrow restarts after locking both bonds: rebuilt from its transcript it has the same ledger
    and balances, signs nothing new on its own, and releases both bonds when the trade completes."""
    story.bonded()
    story.desk = Escrow(story.escrow.agent, story.escrow.mandate_vs.digest, setup=story.desk.transcript())
    assert story.balances() == {"alice": (FUNDS - BOND, BOND), "bob": (FUNDS - BOND, BOND)}
    assert story.tick(story.clock.now_ms) == []
    d1, d2 = alice.deliver(story.accept, bob), bob.deliver(story.accept, alice)
    assert story.submit(d1, d2, bob.receipt(d1), alice.receipt(d2)) == [
        ("release", "alice"),
        ("release", "bob"),
    ]


# --- audit ------------------------------------------------------------------------------------


def _trade(story: Story) -> None:
    story.bonded()
    d1, d2 = story.alice.deliver(story.accept, story.bob), story.bob.deliver(story.accept, story.alice)
    story.submit(d1, d2, story.bob.receipt(d1), story.alice.receipt(d2))


def test_audit_of_a_clean_ledger_is_ok(story: Story, escrow: Party) -> None:
    """A completed trade, audited with its evidence and from the bare ledger: expect no findings and the
    escrow's balances; without evidence, the contract statements are listed as unchecked."""
    _trade(story)
    full = audit_ledger(story.desk.transcript())
    assert full.ok, full.findings
    assert full.escrow == escrow.did
    assert [vs.envelope for vs in full.statements] == story.desk.ledger()
    assert full.balances == {did: story.desk.balance(did) for did in story.names}
    assert full.unchecked == []
    bare = audit_ledger([*escrow.setup, *story.desk.ledger()])
    assert bare.ok, bare.findings
    assert bare.balances == full.balances
    assert len(bare.unchecked) == 4  # two locks, two releases


@pytest.mark.req("CMT-002")
def test_audit_catches_a_forfeit_without_an_upheld_cause(story: Story, alice: Party, bob: Party) -> None:
    """Bob delivered on time and showed it; the escrow's key then signs a Forfeit of Bob's bond anyway.
    Expect FORFEIT_WITHOUT_CAUSE naming it when the evidence is audited, and no finding from the bare
    ledger, which balances (the forfeit is then only unchecked)."""
    story.bonded()
    d_bob = bob.deliver(story.accept, alice)
    story.clock.advance(DAY_MS + 1_000)
    claim = story.claim(alice, bob)
    story.submit(d_bob, claim)
    story.tick(claim.header.issued_at_ms + RESPONSE_WINDOW_MS)
    rogue = story.escrow_says(
        "forfeit",
        commitment_pb2.Forfeit(
            contract=story.accept.digest,
            party=bob.did,
            amount=BOND,
            beneficiary=alice.did,
            cause=claim.digest,
        ),
    )
    report = audit_ledger([*story.desk.transcript(), rogue.envelope])
    assert [(f.code, f.digests) for f in report.findings] == [("FORFEIT_WITHOUT_CAUSE", (rogue.digest,))]
    assert report.balances[bob.did] == (FUNDS - BOND, 0)
    bare = audit_ledger([*story.escrow.setup, *story.desk.ledger(), rogue.envelope])
    assert bare.ok
    assert rogue.digest in bare.unchecked


def test_audit_catches_a_lock_larger_than_the_deposit(
    stories: Callable[..., Story], alice: Party, bob: Party
) -> None:
    """Alice deposited 50; the escrow rightly locks only Bob's bond, then its key signs a lock of
    Alice's 100 by hand. Expect LOCK_EXCEEDS_AVAILABLE and NEGATIVE_BALANCE naming that lock."""
    story = stories(funds=(50, FUNDS))
    story.submit(story.offer, story.accept)
    rogue = story.escrow_says(
        "bond_lock", commitment_pb2.BondLock(contract=story.accept.digest, party=alice.did, amount=BOND)
    )
    report = audit_ledger([*story.desk.transcript(), rogue.envelope])
    assert [(f.code, f.digests) for f in report.findings] == [
        ("LOCK_EXCEEDS_AVAILABLE", (rogue.digest,)),
        ("NEGATIVE_BALANCE", (rogue.digest,)),
    ]
    assert report.balances[alice.did] == (50 - BOND, BOND)


@pytest.mark.req("CHN-002")
def test_audit_catches_a_dropped_ledger_entry(story: Story) -> None:
    """Alice's BondLock is cut from a completed trade's ledger. Expect CHAIN_GAP between its neighbours,
    and her later Release reported as settling a bond never locked, driving her locked balance negative.
    Cutting the first entry (Alice's deposit) instead: a ledger that does not start at seq 0, and a
    lock Alice's recorded funds do not cover."""
    _trade(story)
    ledger = [verify_statement(env) for env in story.desk.ledger()]
    assert [vs.body for vs in ledger] == [
        "deposit",
        "deposit",
        "bond_lock",
        "bond_lock",
        "release",
        "release",
    ]
    cut = [vs.envelope for i, vs in enumerate(ledger) if i != 2]
    report = audit_ledger([*story.escrow.setup, *cut])
    assert [(f.code, f.digests) for f in report.findings] == [
        ("CHAIN_GAP", (ledger[1].digest, ledger[3].digest)),
        ("SETTLEMENT_WITHOUT_LOCK", (ledger[4].digest,)),
        ("NEGATIVE_BALANCE", (ledger[4].digest,)),
    ]
    headless = audit_ledger([*story.escrow.setup, *(vs.envelope for vs in ledger[1:])])
    assert [f.code for f in headless.findings] == ["CHAIN_GAP", "LOCK_EXCEEDS_AVAILABLE", "NEGATIVE_BALANCE"]


@pytest.mark.req("CHN-004")
def test_audit_catches_an_escrow_that_forks_its_ledger(story: Story, escrow: Party, alice: Party) -> None:
    """A second signer with the escrow's key signs a generous Deposit at seq 0. Expect EQUIVOCATION
    naming both seq-0 statements, and balances computed from the first chain only."""
    _trade(story)
    twin = Signer(escrow.agent.name, story.clock)
    fork = twin.sign(
        "deposit",
        commitment_pb2.Deposit(party=alice.did, amount=10**6, currency="credit"),
        audience=alice.did,
        mandate=escrow.mandate_vs.digest,
        nonce=derive("fork", 16),
    )
    report = audit_ledger([*escrow.setup, *story.desk.ledger(), fork.envelope])
    first = verify_statement(story.desk.ledger()[0])
    assert [(f.code, f.digests) for f in report.findings] == [("EQUIVOCATION", (first.digest, fork.digest))]
    assert report.balances[alice.did] == (FUNDS, 0)
