"""An escrow's hand-over (SPEC.md ESC-022): its principal appoints a successor key for a revoked escrow key,
and the successor's Stamps, Rulings, Forfeits, Releases and lapses of the old key's contracts count.

The story each test plays: Alice and Bob trade, bonded at escrow key K1 (its principal P). K1 stamps the
contract and locks both bonds. Bob never delivers. K1 is stolen; P revokes it. Without a hand-over no
Stamp of Alice's claim, Ruling, Forfeit, Release or lapse can ever be signed: both bonds stay locked. With
P's hand-over to K2 (a Mandate for K2 naming K1 in ``succeeds``), K2 stamps Alice's claim, upholds it,
forfeits Bob's bond to Alice and releases hers. The attacks: the thief (K1), a stranger, a party, a
second successor, a successor ruling before the revocation is effective.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from peers import make_peer

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2, trade_pb2
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.escrow import Escrow
from a2a_coop.protocol.escrow_audit import audit_ledger
from a2a_coop.protocol.negotiation import DEFAULT_RESPONSE_WINDOW_MS, State
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.protocol.verifier import Verifier
from a2a_coop.runtime.trade import claim_breach, serves_for
from a2a_coop.testing import DAY_MS, FixedClock, LocalEscrow, Party, Signer, _LedgerSigner

BOND = 100


@dataclass
class Story:
    clock: FixedClock
    alice: Party
    bob: Party
    escrow: Party  # K1 and its principal P
    verifier: Verifier  # an auditor's view of everything
    offer: VerifiedStatement
    accept: VerifiedStatement
    claim: VerifiedStatement | None = None

    @property
    def nid(self) -> bytes:
        return self.offer.header.negotiation_id

    def take(self, *statements: VerifiedStatement) -> None:
        for vs in statements:
            self.verifier.accept(vs.envelope)

    def state(self) -> str:
        return self.verifier.negotiations.get(self.nid).state.name


@contextmanager
def taking() -> Iterator[list[VerifiedStatement]]:
    """Every statement a Story takes while inside, in the order taken: what an auditor is shown."""
    taken: list[VerifiedStatement] = []
    real = Story.take

    def take(self: Story, *statements: VerifiedStatement) -> None:
        taken.extend(statements)
        real(self, *statements)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Story, "take", take)
        yield taken


def _story(revocation: trade_pb2.Revocation | None = None) -> Story:
    clock = FixedClock()
    alice, bob, escrow = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    proposal = alice.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did, revocation=revocation)
    offer = alice.offer(bob, proposal)
    clock.advance(1_000)
    accept = bob.accept(offer)
    s = Story(clock, alice, bob, escrow, Verifier(), offer, accept)
    s.take(*(vs for p in (alice, bob, escrow) for vs in [verify_statement(e) for e in p.setup]))
    stamp = escrow.sign("stamp", commitment_pb2.Stamp(statements=[offer.digest, accept.digest]))
    locks = [
        escrow.sign(
            "bond_lock",
            commitment_pb2.BondLock(contract=accept.digest, party=p.did, amount=BOND),
            audience=p.did,
            negotiation_id=s.nid,
        )
        for p in (alice, bob)
    ]
    s.take(stamp, offer, accept, *locks)
    assert s.state() == "BONDED"
    # Bob never delivers; a day after the deadline Alice claims.
    clock.advance(DAY_MS + 1_000)
    s.claim = alice.sign(
        "breach_claim",
        commitment_pb2.BreachClaim(contract=accept.digest, item_index=0, reason="never arrived"),
        audience=bob.did,
        negotiation_id=s.nid,
    )
    s.take(s.claim)
    return s


def _revoke(s: Story, revoker: Signer, effective_ms: int) -> VerifiedStatement:
    rev = revoker.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=s.escrow.did, effective_ms=effective_ms)
    )
    s.take(rev)
    return rev


def _successor(s: Story, name: str, appointer: Signer, succeeds: str | None = None) -> Party:
    """A successor key K2 under a Mandate ``appointer`` signs naming ``succeeds`` (K1 by default)."""
    succ = Party(name, s.clock)
    m = s.escrow.mandate_vs.statement.mandate
    mandate = identity_pb2.Mandate()
    mandate.CopyFrom(m)
    mandate.agent = succ.did
    mandate.succeeds = s.escrow.did if succeeds is None else succeeds
    succ.mandate_vs = appointer.sign("mandate", mandate, ttl_ms=365 * DAY_MS)
    succ.setup = [succ.mandate_vs.envelope]
    s.take(succ.mandate_vs)
    return succ


def _upholding(s: Story, by: Party) -> VerifiedStatement:
    """``by``'s Ruling upholding Alice's claim."""
    assert s.claim is not None
    return by.sign(
        "ruling",
        commitment_pb2.Ruling(
            contract=s.accept.digest, claim=s.claim.digest, decision=commitment_pb2.RULING_DECISION_UPHOLD
        ),
        negotiation_id=s.nid,
    )


def _rule_and_settle(s: Story, by: Party) -> list[VerifiedStatement]:
    """``by`` stamps Alice's claim, upholds it a response window later, forfeits Bob's bond to Alice and
    releases Alice's."""
    assert s.claim is not None
    stamp = by.sign("stamp", commitment_pb2.Stamp(statements=[s.claim.digest]))
    s.take(stamp)
    s.clock.advance(DEFAULT_RESPONSE_WINDOW_MS + 1)
    ruling = _upholding(s, by)
    forfeit = by.sign(
        "forfeit",
        commitment_pb2.Forfeit(
            contract=s.accept.digest,
            party=s.bob.did,
            amount=BOND,
            beneficiary=s.alice.did,
            cause=s.claim.digest,
        ),
        audience=s.bob.did,
        negotiation_id=s.nid,
    )
    release = by.sign(
        "release",
        commitment_pb2.Release(contract=s.accept.digest, party=s.alice.did, amount=BOND),
        audience=s.alice.did,
        negotiation_id=s.nid,
    )
    return [ruling, forfeit, release]


@pytest.mark.req("ESC-022")
def test_without_a_hand_over_a_revoked_escrows_contract_is_frozen() -> None:
    s = _story()
    _revoke(s, s.escrow.principal, s.clock.now_ms - 10)
    # K1 can sign nothing more about it: a view of evidence holds its Stamp, disowned, witnessing nothing
    # (KEY-009 (d)) -- the claim stays unstamped, as in a view that refused the Stamp
    stamp = s.escrow.sign("stamp", commitment_pb2.Stamp(statements=[s.claim.digest]))  # type: ignore[union-attr]
    s.take(stamp)
    assert s.verifier.disowned(stamp) and s.verifier.unwitnessing(stamp)
    assert s.verifier.witness.stamp_time(s.escrow.did, s.claim.digest) is None  # type: ignore[union-attr]
    # ... and another key, under a Mandate of P that names no key it succeeds, is not the escrow.
    other = _successor(s, "escrow2", s.escrow.principal, succeeds="")
    ruling, *_ = _rule_and_settle(s, other)
    with pytest.raises(CoopError) as e:
        s.take(ruling)
    assert e.value.code == "WRONG_PARTY"
    assert s.state() == "BONDED"


@pytest.mark.req("ESC-022")
def test_the_principals_successor_rules_on_the_claim_and_settles_the_bonds() -> None:
    s = _story()
    _revoke(s, s.escrow.principal, s.clock.now_ms - 10)
    succ = _successor(s, "escrow2", s.escrow.principal)
    assert s.verifier.successors(s.escrow.did) == ((succ.did,), s.clock.now_ms - 10)
    settled = _rule_and_settle(s, succ)
    s.take(*settled)
    neg = s.verifier.negotiations.get(s.nid)
    assert s.state() == "BREACHED"
    assert neg.contract is not None
    assert s.bob.did in neg.contract.forfeited
    assert s.alice.did in neg.contract.settled and s.bob.did in neg.contract.settled


@pytest.mark.req("ESC-022")
def test_a_thief_self_revoking_the_key_is_answered_by_the_principals_successor() -> None:
    # The thief revokes K1 itself (its own revocation needs no binding, KEY-004): the principal's
    # hand-over still counts, from that revocation's effective time.
    s = _story()
    _revoke(s, s.escrow.agent, s.clock.now_ms - 10)
    succ = _successor(s, "escrow2", s.escrow.principal)
    s.take(*_rule_and_settle(s, succ))
    assert s.state() == "BREACHED"


@pytest.mark.req("ESC-022")
@pytest.mark.parametrize("appointer", ["thief", "stranger", "party", "party-principal"])
def test_only_the_escrows_principal_appoints_a_successor(appointer: str) -> None:
    s = _story()
    signer = {
        "thief": s.escrow.agent,  # K1 itself: a thief holds it
        "stranger": Signer("mallory-principal", s.clock),
        "party": s.bob.agent,
        "party-principal": s.bob.principal,
    }[appointer]
    succ = _successor(s, "escrow2", signer)  # signed before the revocation: the thief's is taken too
    s.clock.advance(1)
    _revoke(s, s.escrow.principal, s.clock.now_ms)
    assert s.verifier.successors(s.escrow.did) is None
    stamp = succ.sign("stamp", commitment_pb2.Stamp(statements=[s.claim.digest]))  # type: ignore[union-attr]
    try:  # a Stamp by any key is a statement; it witnesses nothing for K1's contract
        s.take(stamp)
    except CoopError as exc:  # the thief's: under a Mandate of the revoked K1 itself (MND-012)
        assert appointer == "thief" and exc.code == "KEY_REVOKED"
    s.clock.advance(DEFAULT_RESPONSE_WINDOW_MS + 1)
    ruling = _upholding(s, succ)
    with pytest.raises(CoopError) as e:
        s.take(ruling)
    # the thief's Ruling, of the contract (an escrow may stamp it), is held past KEY-004 in a view of evidence
    # (KEY-009 (c)) and refused as no party's to rule
    assert e.value.code == "WRONG_PARTY"
    assert s.state() == "BONDED"


def _bind_to_the_thiefs_principal(s: Story, *, gap_ms: int = 0) -> tuple[Signer, VerifiedStatement, int]:
    """The thief's principal T mints a Mandate for K1 and the thief signs with K1, ``gap_ms`` later, a
    Stamp under it (binding K1 to T, KEY-007), both taken: T, the binding, and the time before the gap."""
    thief_principal = Signer("thief-principal", s.clock)
    m = identity_pb2.Mandate()
    m.CopyFrom(s.escrow.mandate_vs.statement.mandate)
    t_mandate = thief_principal.sign("mandate", m, ttl_ms=365 * DAY_MS)
    s.take(t_mandate)
    before = s.clock.now_ms
    s.clock.advance(gap_ms)
    binding = s.escrow.agent.sign(
        "stamp", commitment_pb2.Stamp(statements=[s.offer.digest]), mandate=t_mandate.digest
    )
    s.take(binding)
    return thief_principal, binding, before


@pytest.mark.req("ESC-022")
def test_a_thief_binding_the_key_to_its_own_principal_appoints_nobody() -> None:
    # The thief signs, with K1, a Checkpoint under a Mandate its own principal T minted for K1 (binding K1
    # to T, KEY-007), revokes K1 itself, and T appoints the thief's successor: K1 was bound to two
    # principals before its revocation, so no hand-over counts.
    s = _story()
    thief_principal, _, _ = _bind_to_the_thiefs_principal(s)
    s.clock.advance(1)
    _revoke(s, s.escrow.agent, s.clock.now_ms)
    thiefs = _successor(s, "escrow3", thief_principal)
    assert s.verifier.successors(s.escrow.did) is None
    # ... nor does the principal's, while the thief's binding stands before the revocation ...
    _successor(s, "escrow2", s.escrow.principal)
    assert s.verifier.successors(s.escrow.did) is None
    ruling, *_ = _rule_and_settle(s, thiefs)
    with pytest.raises(CoopError):
        s.take(ruling)


@pytest.mark.req("ESC-022")
def test_the_principal_disowns_the_thiefs_binding_by_dating_its_revocation_before_it() -> None:
    s = _story()
    thief_principal, binding, compromised = _bind_to_the_thiefs_principal(s, gap_ms=1)
    _successor(s, "escrow3", thief_principal)
    s.clock.advance(3_600_000)  # the principal learns of it an hour later
    # The principal revokes K1 from the compromise on: the thief's binding is after it, and under the
    # Mandate of a principal K1 bound itself to after the principal (KEY-011 (b): reached back over).
    _revoke(s, s.escrow.principal, compromised)
    assert s.verifier.disowned(binding)
    succ = _successor(s, "escrow2", s.escrow.principal)
    assert s.verifier.successors(s.escrow.did) == ((succ.did,), compromised)
    s.take(*_rule_and_settle(s, succ))
    assert s.state() == "BREACHED"


@pytest.mark.req("ESC-022")
def test_a_successor_signs_nothing_for_the_old_key_before_its_revocation_is_effective() -> None:
    s = _story()
    succ = _successor(s, "escrow2", s.escrow.principal)
    # No revocation of K1 held: the successor is not the escrow.
    assert s.verifier.successors(s.escrow.did) is None
    stamp = succ.sign("stamp", commitment_pb2.Stamp(statements=[s.claim.digest]))  # type: ignore[union-attr]
    s.take(stamp)
    assert s.state() == "BONDED"  # the claim is not effective: its Stamp is not the escrow's
    # A revocation scheduled ahead: the successor's statements before its effective_ms are not the escrow's.
    effective = s.clock.now_ms + 2 * DEFAULT_RESPONSE_WINDOW_MS
    _revoke(s, s.escrow.principal, effective)
    assert s.verifier.successors(s.escrow.did) == ((succ.did,), effective)
    s.clock.advance(DEFAULT_RESPONSE_WINDOW_MS + 1)
    ruling = _upholding(s, succ)
    with pytest.raises(CoopError) as e:
        s.take(ruling)
    assert e.value.code == "WRONG_PARTY"
    # From the revocation's effective time on, it is.
    s.clock.now_ms = effective
    s.take(*_rule_and_settle(s, succ))
    assert s.state() == "BREACHED"


@pytest.mark.req("ESC-022")
def test_two_successors_are_both_honoured() -> None:
    # A principal that names two successors names both (ESC-022 (b)): a second hand-over heard later
    # un-honours nothing a view took of the first (tests/test_escrow_handover_order.py).
    s = _story()
    _revoke(s, s.escrow.principal, s.clock.now_ms - 10)
    first = _successor(s, "escrow2", s.escrow.principal)
    assert s.verifier.successors(s.escrow.did) == ((first.did,), s.clock.now_ms - 10)
    second = _successor(s, "escrow3", s.escrow.principal)
    assert s.verifier.successors(s.escrow.did) == (
        tuple(sorted((first.did, second.did))),
        s.clock.now_ms - 10,
    )
    stamp = second.sign("stamp", commitment_pb2.Stamp(statements=[s.claim.digest]))  # type: ignore[union-attr]
    s.take(stamp)
    s.clock.advance(DEFAULT_RESPONSE_WINDOW_MS + 1)
    s.take(_upholding(s, first))  # the second's Stamp made the claim effective for the first's Ruling
    assert s.state() == "BREACHED"


@pytest.mark.req("ESC-022")
def test_a_hand_over_naming_its_own_agent_is_body_invalid() -> None:
    s = _story()
    succ = Party("escrow2", s.clock)
    mandate = identity_pb2.Mandate()
    mandate.CopyFrom(s.escrow.mandate_vs.statement.mandate)
    mandate.agent = succ.did
    mandate.succeeds = succ.did
    with pytest.raises(CoopError) as e:
        s.take(s.escrow.principal.sign("mandate", mandate, ttl_ms=365 * DAY_MS))
    assert e.value.code == "BODY_INVALID"
    mandate.succeeds = "did:key:zNotAKey"
    with pytest.raises(CoopError) as e:
        s.take(s.escrow.principal.sign("mandate", mandate, ttl_ms=365 * DAY_MS))
    assert e.value.code == "BODY_INVALID"


# --- the successor escrow: the reference Escrow takes over a revoked key's open contracts (ESC-023) ----


class Desk:
    """Alice and Bob bonded at the reference escrow K1, Bob never delivering."""

    def __init__(self, revocation: trade_pb2.Revocation | None = None) -> None:
        self.clock = clock = FixedClock()
        self.alice, self.bob, self.esc = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
        self.old = Escrow(_LedgerSigner(self.esc.agent), self.esc.mandate_vs.digest, setup=self.esc.setup)
        for p in (self.alice, self.bob):
            self.old.deposit(p.did, 1_000, "credit", "funding", clock.now_ms)
        proposal = self.alice.proposal(
            issuer_bond=BOND, audience_bond=BOND, escrow=self.esc.did, revocation=revocation
        )
        self.offer = self.alice.offer(self.bob, proposal)
        clock.advance(1_000)
        self.accept = self.bob.accept(self.offer)
        signed = self.old.submit(
            [
                self.alice.mandate_vs.envelope,
                self.bob.mandate_vs.envelope,
                self.offer.envelope,
                self.accept.envelope,
            ],
            clock.now_ms,
        )
        assert [vs.body for vs in signed] == ["stamp", "bond_lock", "bond_lock"]
        self.deadline = self.offer.statement.offer.gives[0].deadline_ms
        # A party's view: Alice's verifier, holding what the old escrow answered.
        self.view = Verifier(me=self.alice.did)
        for env in [*self.esc.setup, self.alice.mandate_vs.envelope, self.bob.mandate_vs.envelope]:
            self.view.accept(env)
        for vs in [signed[0], self.offer, self.accept, *signed[1:]]:
            self.view.accept(vs.envelope, ours=vs.issuer == self.alice.did)
        assert self.state() is State.BONDED

    def state(self) -> State:
        return self.view.negotiations.get(self.offer.header.negotiation_id).state

    def claim(self) -> VerifiedStatement:
        self.clock.now_ms = self.deadline + 1
        return self.alice.sign(
            "breach_claim",
            commitment_pb2.BreachClaim(contract=self.accept.digest, item_index=0, reason="never arrived"),
            audience=self.bob.did,
            negotiation_id=self.offer.header.negotiation_id,
        )

    def successor(self, name: str = "escrow2", *, appointer: Signer | None = None) -> Party:
        succ = Party(name, self.clock)
        m = identity_pb2.Mandate()
        m.CopyFrom(self.esc.mandate_vs.statement.mandate)
        m.agent, m.succeeds = succ.did, self.esc.did
        succ.mandate_vs = (appointer or self.esc.principal).sign("mandate", m, ttl_ms=365 * DAY_MS)
        succ.setup = [succ.mandate_vs.envelope]
        return succ

    def take_over(self, *, effective_ms: int | None = None) -> tuple[VerifiedStatement, Party, Escrow]:
        """K1's principal revokes it (effective at ``effective_ms``, else a millisecond on) and appoints
        K2, which takes K1's whole transcript over: the revocation, K2 and K2's escrow."""
        when = self.clock.advance(1) if effective_ms is None else effective_ms
        rev = self.esc.principal.sign(
            "key_revocation", identity_pb2.KeyRevocation(key=self.esc.did, effective_ms=when)
        )
        succ = self.successor()
        new = Escrow(
            _LedgerSigner(succ.agent),
            succ.mandate_vs.digest,
            setup=succ.setup,
            predecessor=[*self.old.transcript(), rev.envelope],
        )
        return rev, succ, new

    def relay(self, envelopes: list[bytes]) -> None:
        for env in envelopes:
            self.view.accept(env)


@pytest.mark.req("ESC-022", "ESC-023")
def test_a_successor_escrow_takes_over_the_ledger_rules_on_the_claim_and_settles_the_bonds() -> None:
    d = Desk()
    claim = d.claim()
    d.view.accept(claim.envelope, ours=True)
    # K1 is stolen; its principal revokes it from now and hands its contracts to K2.
    rev, succ, new = d.take_over(effective_ms=d.clock.now_ms)
    assert new.succeeds == d.esc.did and new.handover_short() is None
    assert new.open_contracts == 1
    assert new.balance(d.alice.did) == d.old.balance(d.alice.did) == (900, 100)
    # Alice submits her claim to the successor; its answer opens with its Mandate and the revocation
    # (after the revocation's binding, KEY-008: the principal's Mandate for K1 and K1's first public
    # statement, its Stamp of the contract) -- Alice's verifier holds those already, and skips them.
    signed = new.submit([claim.envelope], d.clock.now_ms)
    answer = new.with_mandates(succ.mandate_vs.envelope, [vs.envelope for vs in signed])
    assert answer[0] == succ.mandate_vs.envelope and answer[3] == rev.envelope
    d.relay([env for env in answer if verify_statement(env).digest not in d.view.statements])
    assert d.state() is State.DISPUTED
    d.clock.advance(DEFAULT_RESPONSE_WINDOW_MS + 30_000)
    settled = new.tick(d.clock.now_ms)
    assert [vs.body for vs in settled] == ["ruling", "forfeit", "release"]
    d.relay([vs.envelope for vs in settled])
    assert d.state() is State.BREACHED
    assert new.balance(d.alice.did) == (1_100, 0) and new.balance(d.bob.did) == (900, 0)

    # Alice's own claim is not asked again: the successor stamped it once (WIT-006 answers a repeat).
    again = new.submit([claim.envelope], d.clock.now_ms)
    assert again == [] or all(vs.body == "stamp" for vs in again)


@pytest.mark.req("ESC-023")
def test_a_successor_whose_mandate_ends_before_a_contract_it_takes_over_is_refused() -> None:
    d = Desk()
    rev = d.esc.principal.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=d.esc.did, effective_ms=d.clock.advance(1))
    )
    succ = Party("escrow2", d.clock)
    m = identity_pb2.Mandate()
    m.CopyFrom(d.esc.mandate_vs.statement.mandate)
    m.agent, m.succeeds = succ.did, d.esc.did
    m.valid_until_ms = d.deadline + DAY_MS  # before the claim window and the response window end
    succ.mandate_vs = d.esc.principal.sign("mandate", m, ttl_ms=365 * DAY_MS)
    new = Escrow(
        _LedgerSigner(succ.agent),
        succ.mandate_vs.digest,
        setup=[succ.mandate_vs.envelope],
        predecessor=[*d.old.transcript(), rev.envelope],
    )
    assert new.open_contracts == 1
    refusal = new.handover_short()
    assert refusal is not None and refusal.code == "MANDATE_VIOLATION"


@pytest.mark.req("ESC-023")
def test_a_successor_is_refused_without_a_revocation_of_the_old_key() -> None:
    d = Desk()
    succ = d.successor()
    with pytest.raises(ValueError, match="no KeyRevocation"):
        Escrow(
            _LedgerSigner(succ.agent),
            succ.mandate_vs.digest,
            setup=succ.setup,
            predecessor=d.old.transcript(),
        )


@pytest.mark.req("ESC-023")
def test_the_thiefs_ledger_statements_after_the_revocation_are_not_taken_over() -> None:
    # The thief, holding K1, signs a lapse of the contract after the compromise (refunding Bob's bond,
    # which Alice's claim would win); the principal revokes K1 from before it: the successor's ledger stops
    # at the old key's last statement before the revocation, and the bonds are still locked there.
    d = Desk()
    compromised = d.clock.advance(1)
    d.clock.now_ms = d.deadline + 86_400_001
    stolen = d.old.tick(d.clock.now_ms)  # the thief runs the old escrow: a lapse, refunds
    assert [vs.body for vs in stolen][:1] == ["ruling"]
    rev = d.esc.principal.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=d.esc.did, effective_ms=compromised)
    )
    succ = d.successor()
    new = Escrow(
        _LedgerSigner(succ.agent),
        succ.mandate_vs.digest,
        setup=succ.setup,
        predecessor=[*d.old.transcript(), rev.envelope],
    )
    assert new.balance(d.bob.did) == (900, 100)  # the thief's refund is not in the successor's ledger
    assert new.open_contracts == 1


# --- a party's peer settles with the successor (ESC-022, ESC-023: its answers carry the hand-over) ----


@pytest.mark.req("ESC-022", "ESC-023")
def test_a_peer_takes_the_successors_answers_and_its_claim_is_upheld() -> None:
    clock = FixedClock()
    alice_party, bob = Party("alice", clock), Party("bob", clock)
    esc = Party("escrow", clock)
    old = LocalEscrow(esc, funds={alice_party.did: 1_000, bob.did: 1_000})
    alice = make_peer(alice_party, clock, context=[old.mandate])
    offer = alice.propose(bob.did, alice_party.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=old.did))
    accept = bob.accept(offer)
    alice.on_replies([*bob.setup, accept.envelope])
    alice.on_replies(old.submit([*alice_party.setup, *bob.setup, offer.envelope, accept.envelope]))
    neg = alice.negotiation(offer.header.negotiation_id)
    assert neg.state is State.PERFORMING
    clock.now_ms = neg.contract.gives(bob.did)[0].deadline_ms + 1
    claim = claim_breach(alice, neg, 0, "never arrived")
    # K1 is stolen and revoked by its principal, who hands its contracts to K2.
    rev = esc.principal.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=esc.did, effective_ms=clock.now_ms)
    )
    succ = Party("escrow2", clock)
    m = identity_pb2.Mandate()
    m.CopyFrom(esc.mandate_vs.statement.mandate)
    m.agent, m.succeeds = succ.did, esc.did
    succ.mandate_vs = esc.principal.sign("mandate", m, ttl_ms=365 * DAY_MS)
    new = Escrow(
        _LedgerSigner(succ.agent),
        succ.mandate_vs.digest,
        setup=[succ.mandate_vs.envelope],
        predecessor=[*old.escrow.transcript(), rev.envelope],
    )
    assert serves_for(alice, succ.mandate_vs.envelope, esc.did)
    stranger = Signer("stranger", clock).sign("mandate", m, ttl_ms=DAY_MS)
    assert not serves_for(alice, stranger.envelope, esc.did)

    def submit(envelopes: list[bytes]) -> list[bytes]:
        signed = new.submit(envelopes, clock.now_ms)
        return new.with_mandates(succ.mandate_vs.envelope, [vs.envelope for vs in signed])

    alice.on_replies(submit([claim.envelope]))
    assert neg.state is State.DISPUTED
    clock.advance(DEFAULT_RESPONSE_WINDOW_MS + 30_000)
    alice.on_replies(
        new.with_mandates(succ.mandate_vs.envelope, [vs.envelope for vs in new.tick(clock.now_ms)])
    )
    neg = alice.negotiation(offer.header.negotiation_id)
    assert neg.state is State.BREACHED and neg.contract is not None
    assert set(neg.contract.locked) <= neg.contract.settled


# --- the audit of a successor's transcript (AUD-006) --------------------------------------------------


def _taken_over(*, thief: bool = False) -> tuple[Desk, Party, Escrow, VerifiedStatement]:
    """A successor K2 of Desk's K1, Alice's claim ruled on and the bonds settled by K2; with ``thief``,
    the thief ran K1 past the compromise (a lapse and refunds) before the principal's revocation."""
    d = Desk()
    compromised = d.clock.advance(1)
    if thief:
        d.clock.now_ms = d.deadline + 86_400_001
        assert d.old.tick(d.clock.now_ms)
    rev = d.esc.principal.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=d.esc.did, effective_ms=compromised)
    )
    succ = d.successor()
    new = Escrow(
        _LedgerSigner(succ.agent),
        succ.mandate_vs.digest,
        setup=succ.setup,
        predecessor=[*d.old.transcript(), rev.envelope],
    )
    if not thief:
        claim = d.claim()
        new.submit([claim.envelope], d.clock.now_ms)
        d.clock.advance(DEFAULT_RESPONSE_WINDOW_MS + 30_000)
        assert [vs.body for vs in new.tick(d.clock.now_ms)] == ["ruling", "forfeit", "release"]
    return d, succ, new, rev


@pytest.mark.req("AUD-006", "ESC-023")
def test_the_audit_replays_a_successors_transcript_from_the_old_keys_ledger() -> None:
    d, succ, new, _ = _taken_over()
    report = audit_ledger(new.transcript(), escrow=succ.did)
    assert report.ok, report.findings
    assert report.balances[d.alice.did] == (1_100, 0) and report.balances[d.bob.did] == (900, 0)
    # Restarted from its transcript (the predecessor given again): the same ledger.
    again = Escrow(
        _LedgerSigner(Signer("escrow2", d.clock)),
        succ.mandate_vs.digest,
        setup=new.transcript(),
        predecessor=new.transcript()[: len(new._predecessor) + 1],
    )
    assert again.balance(d.alice.did) == (1_100, 0) and again.ledger_size == new.ledger_size
    # Told no escrow, two keys signed ledger statements: the auditor must say which (AUD-001).
    assert [f.code for f in audit_ledger(new.transcript()).findings] == ["ESCROW_AMBIGUOUS"]


@pytest.mark.req("AUD-006")
def test_the_audit_finds_a_thiefs_statement_a_successor_took_over() -> None:
    # A successor that took over K1's whole transcript, the thief's lapse and refunds after the
    # compromise included: the audit names each of them.
    d, succ, new, rev = _taken_over(thief=True)
    forged = [*d.old.transcript(), rev.envelope, *new.transcript()[len(new._predecessor) + 1 :]]
    report = audit_ledger(forged, escrow=succ.did)
    assert {f.code for f in report.findings} == {"KEY_REVOKED"}
    assert len(report.findings) == 3  # the lapse and the two refunds
    assert audit_ledger(new.transcript(), escrow=succ.did).ok


@pytest.mark.req("AUD-006")
def test_the_audit_finds_the_bonds_a_successor_never_settled() -> None:
    # The successor took the contract over and never ruled on Alice's claim: ACTION_MISSING, as for any
    # escrow (AUD-005) -- its contracts are the old key's.
    d = Desk()
    _rev, succ, new = d.take_over()
    new.submit([d.claim().envelope], d.clock.now_ms)
    d.clock.advance(DEFAULT_RESPONSE_WINDOW_MS + 30_000)
    new.deposit(d.alice.did, 1, "credit", "a later entry, after the ruling was due", d.clock.now_ms)
    codes = [f.code for f in audit_ledger(new.transcript(), escrow=succ.did).findings]
    assert codes == ["ACTION_MISSING"]


@pytest.mark.req("ESC-023", "ESC-008")
def test_a_responder_left_in_the_dark_learns_its_locks_from_the_successor() -> None:
    # Bob never got K1's locks (the initiator withheld them); K1 is revoked. Bob submits the contract to
    # the successor: it answers with its Mandate, the revocation, K1's Stamp of the Accept and its locks.
    d = Desk()
    _rev, succ, new = d.take_over()
    contract = [d.alice.mandate_vs.envelope, d.bob.mandate_vs.envelope, d.offer.envelope, d.accept.envelope]
    signed = new.submit(contract, d.clock.now_ms)
    answer = new.with_mandates(succ.mandate_vs.envelope, [vs.envelope for vs in signed])
    # After the successor's Mandate: the principal's Mandate for K1, K1's first public statement under it
    # (its Stamp of the contract: the binding, KEY-008), the revocation, then K1's locks.
    bodies = [(verify_statement(env).body, verify_statement(env).issuer) for env in answer[1:]]
    assert bodies == [
        ("mandate", d.esc.principal.did),
        ("stamp", d.esc.did),
        ("key_revocation", d.esc.principal.did),
        ("bond_lock", d.esc.did),
        ("bond_lock", d.esc.did),
    ]
    bob = Verifier(me=d.bob.did)  # Bob's view: the contract, nothing of K1 (not even its Mandate)
    for env in contract:
        bob.accept(env, ours=verify_statement(env).issuer == d.bob.did)
    for env in answer:
        bob.accept(env)
    assert bob.negotiations.get(d.offer.header.negotiation_id).state is State.BONDED


@pytest.mark.req("ESC-022", "KEY-004", "KEY-011")
def test_a_thiefs_backdated_self_revocation_does_not_stop_the_principals_hand_over() -> None:
    """The thief revokes K1 itself, effective at 1 ms -- before K1's binding, its first Stamp -- at the next
    seq of K1's chain; then the principal revokes K1 from now and appoints K2. Before KEY-011 no hand-over
    counted (no statement binding K1 was dated before the earliest effective_ms held), every one of K1's
    ledger entries fell under KEY-004, and K1's bonds stayed locked. Now the key's own revocation reaches
    back over nothing its chain orders before it: K1's ledger stands, and K2 speaks from the thief's
    revocation's issued_at_ms."""
    s = _story()
    s.clock.advance(1)
    thiefs = _revoke(s, s.escrow.agent, 1)
    assert thiefs.digest in s.verifier.statements  # the attack happened: the verifier took it
    s.clock.advance(1)
    _revoke(s, s.escrow.principal, s.clock.now_ms)
    assert not any(s.verifier.disowned(vs) for vs in (s.offer, s.accept))
    assert not any(
        s.verifier.revokes(vs)
        for vs in s.verifier.statements.values()
        if vs.issuer == s.escrow.did and vs.seq < thiefs.seq
    )
    succ = _successor(s, "escrow2", s.escrow.principal)
    assert s.verifier.successors(s.escrow.did) == ((succ.did,), thiefs.issued_at_ms)
    s.take(*_rule_and_settle(s, succ))
    assert s.state() == "BREACHED"


@pytest.mark.req("ESC-023", "KEY-011")
def test_a_successor_takes_the_whole_ledger_over_after_a_thiefs_backdated_self_revocation() -> None:
    """ESC-023 with the thief's revocation of K1 by K1 itself, back to 1 ms, beside the principal's: the
    successor takes K1's ledger over up to the thief's revocation (its chain orders the ledger before it),
    not up to 1 ms -- before KEY-011 it took over nothing, held no contract and locked no bond."""
    d = Desk()
    claim = d.claim()
    thiefs = d.esc.agent.sign("key_revocation", identity_pb2.KeyRevocation(key=d.esc.did, effective_ms=1))
    when = d.clock.advance(1)
    rev = d.esc.principal.sign("key_revocation", identity_pb2.KeyRevocation(key=d.esc.did, effective_ms=when))
    succ = d.successor()
    new = Escrow(
        _LedgerSigner(succ.agent),
        succ.mandate_vs.digest,
        setup=succ.setup,
        predecessor=[*d.old.transcript(), thiefs.envelope, rev.envelope],
    )
    assert new.handover_ms == thiefs.issued_at_ms
    assert new.open_contracts == 1
    assert new.balance(d.alice.did) == d.old.balance(d.alice.did) == (900, 100)
    signed = new.submit([claim.envelope], d.clock.now_ms)
    assert [vs.body for vs in signed] == ["stamp"]
