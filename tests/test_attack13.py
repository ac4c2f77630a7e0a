"""Attacker's pass (thirteenth): who chose the value a reputation rule relies on -- the outcome an
honest peer attests, the order in which a viewer hears an attester, the key revocation a principal
signs -- and what the liar gains (SPEC 7.6, 9.3, 10.1-10.3, 16.14).

Each test names the attack in its docstring; Mallory is the attacker, Bob the honest reference peer.
A test marked ``xfail(strict=True)`` is a hole this version still has: the attack succeeds, and the
reason says what would close it.
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from peers import make_peer

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2, reputation_pb2, trade_pb2
from a2a_coop.cli.main import main
from a2a_coop.protocol.audit import audit
from a2a_coop.protocol.errors import (
    AttestationInadmissible,
    CoopError,
    KeyRevoked,
    LimitExceeded,
    RevocationUnauthorized,
)
from a2a_coop.protocol.escrow_audit import audit_ledger
from a2a_coop.protocol.merkle import root as merkle_root
from a2a_coop.protocol.negotiation import State
from a2a_coop.protocol.reputation import rate
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.protocol.verifier import Verifier
from a2a_coop.runtime.evidence import EvidenceVerifier
from a2a_coop.runtime.node import EscrowNode
from a2a_coop.runtime.peer import Peer
from a2a_coop.runtime.reputation import Reputation, TrustPolicy
from a2a_coop.runtime.strategy import WithholdingStrategy
from a2a_coop.runtime.trade import carry_trade, revoke, run_trade, settle_with_escrow
from a2a_coop.testing import FixedClock, LocalEscrow, Party, bonded_trade, service
from a2a_coop.transport import EscrowClient, TransportError, serve

FUNDS, BOND = 1_000, 100
YEAR_MS = 365 * 86_400_000


def _market(**mallory_kw: Any) -> tuple[FixedClock, Party, Party, LocalEscrow, Peer, Peer]:
    clock = FixedClock()
    mallory, bob = Party("mallory", clock), Party("bob", clock)
    escrow = LocalEscrow(Party("escrow", clock), funds={mallory.did: FUNDS, bob.did: FUNDS})
    m = make_peer(mallory, clock, context=[escrow.mandate], **mallory_kw)
    b = make_peer(bob, clock, context=[escrow.mandate])
    return clock, mallory, bob, escrow, m, b


# --- 1: a free exit rated FULFILLED -----------------------------------------------------------------


@pytest.mark.req("ATT-015", "ATT-005", "CMT-003")
def test_a_revoke_that_discharged_everything_is_not_attested_fulfilled() -> None:
    """Mallory offers Bob revocable terms without forfeit and a one-minute notice, both bonded; Bob
    accepts (and, before CMT-012, delivered at once). Mallory delivers nothing and revokes at once:
    every item she gives falls due after the notice and is discharged (CMT-003), so the escrow
    releases her bond. Bob's
    reference peer then attested her over "the items she owed" -- none -- as FULFILLED: a good outcome
    from an honest rater, at her bond as stake, for a contract in which she performed nothing, which
    raised her score in every view that hears Bob (and her vouched stake, ATT-016), one free exit per
    honest counterparty. Expect the honest peer to attest a counterparty whose own Revoke ended the
    contract REVOKED, which a released bond makes neither good nor bad (ATT-005): no score above the
    prior for leaving."""
    _, mallory, _, escrow, m, b = _market(strategy=WithholdingStrategy(every=1))
    terms = trade_pb2.Revocation(allowed=True, notice_ms=60_000)
    proposal = mallory.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did, revocation=terms)
    neg = run_trade(m, b, b.did, proposal, escrow=escrow)
    mneg = m.negotiation(neg.id)
    # Neither delivered: she withholds, and Bob holds his Delivery back while her Revoke could still
    # discharge everything she owes (CMT-012; before it, Bob delivered at once and she kept it).
    assert not mneg.contract.deliveries
    exit_ = revoke(m, mneg, "changed my mind")
    b.exchange(exit_.envelope)
    settle_with_escrow(m, b, escrow, mneg)
    bneg = b.negotiation(neg.id)
    assert bneg.state is State.REVOKED and set(bneg.contract.settled) == {m.did, b.did}
    (about_mallory,) = [
        vs for d in b.verifier.attestations if (vs := b.verifier.statements[d]).issuer == b.did
    ]
    assert about_mallory.statement.attestation.outcome == reputation_pb2.OUTCOME_REVOKED
    rating = rate(b.verifier, about_mallory, {escrow.did})
    assert rating.stake == BOND and rating.score == 0.5  # released: floored to neither good nor bad
    assert b.reputation.score(m.did).score <= 0.5


# --- 2: two attestations of one contract, heard in two orders ---------------------------------------


def _bound(mallory: Party) -> None:
    """Mallory's key binds itself to her principal with a public Checkpoint (KEY-007), kept in her setup
    after her Mandate: her principal -- her accomplice -- may then revoke the key back to any time
    (KEY-011: the key's own revocation reaches back over nothing its chain orders before it)."""
    mallory.setup.append(mallory.sign("checkpoint", identity_pb2.Checkpoint()).envelope)


def _observe(envelopes: list[bytes]) -> Verifier:
    """A third party's verifier fed ``envelopes`` in order, skipping what it refuses (as an observer
    collecting evidence bundles does, tests/society.py)."""
    v = Verifier()
    for e in envelopes:
        try:
            v.accept(e)
        except CoopError:
            continue
    return v


def _ratings(v: Verifier, escrow: str) -> list[tuple[str, str, int, float]]:
    out = []
    for vs in v.statements.values():
        if vs.body == "attestation":
            with contextlib.suppress(KeyError):
                r = rate(v, vs, {escrow})
                out.append((r.rater, r.subject, r.stake, r.score))
    return sorted(out)


def test_two_attestations_of_one_contract_weigh_the_same_in_either_order() -> None:
    """Mallory and Bob fulfil a bonded contract and the escrow releases both bonds. Mallory signs two
    attestations of Bob for it: FULFILLED, then PARTIAL (each valid alone). ATT-002 admits "at most one
    per (issuer, contract)" and refuses "a later one": later in the order a verifier happens to hear
    them. Mallory hands Bob the first (his GetAttestations serves it) and serves the second herself;
    an observer that asks Bob first counts Bob FULFILLED, one that asks Mallory first counts him
    PARTIAL -- holding the very same statements. Expect two verifiers holding the same evidence to
    weigh it the same, whichever order it came in."""
    clock = FixedClock()
    mallory, bob, escrow = Party("mallory", clock), Party("bob", clock), Party("escrow", clock)
    log = bonded_trade(mallory, bob, escrow, clock)
    offer, accept, first = log[0], log[1], log[-1]
    assert first.statement.attestation.outcome == reputation_pb2.OUTCOME_FULFILLED
    second = mallory.attest(offer, accept, bob.did, outcome=reputation_pb2.OUTCOME_PARTIAL)
    base = [*mallory.setup, *bob.setup, *escrow.setup, *(vs.envelope for vs in log[:-1])]
    heard_bob_first = _observe([*base, first.envelope, second.envelope])
    heard_mallory_first = _observe([*base, second.envelope, first.envelope])
    assert _ratings(heard_bob_first, escrow.did) == _ratings(heard_mallory_first, escrow.did)


# --- 3: a breach record revoked away ----------------------------------------------------------------


def _revoked_back_after_a_breach(
    clock: FixedClock,
) -> tuple[Party, Party, Party, list[VerifiedStatement], VerifiedStatement]:
    """Mallory's agent key accepts Bob's bonded offer at the escrow, which stamps the offer and the
    Accept (WIT-001) and locks both bonds; she never delivers, the escrow upholds Bob's claim and
    forfeits her bond to him, Bob attests her BREACHED. A minute later her principal (her accomplice; her
    key bound to it from the start, :func:`_bound`) revokes her key with effective_ms at its Accept.
    Returns Bob, Mallory, the escrow, the trade's log (its Stamp first) and the revocation."""
    bob, mallory, escrow = Party("bob", clock), Party("mallory", clock), Party("escrow", clock)
    _bound(mallory)
    log = bonded_trade(bob, mallory, escrow, clock, breach=True, witnessed=True)  # Mallory never delivers
    accept, attestation = log[2], log[-1]
    assert accept.body == "accept" and accept.issuer == mallory.did
    assert attestation.statement.attestation.outcome == reputation_pb2.OUTCOME_BREACHED
    clock.advance(60_000)
    disown = mallory.principal.sign(
        "key_revocation",
        identity_pb2.KeyRevocation(key=mallory.did, effective_ms=accept.issued_at_ms, reason="lost"),
    )
    return bob, mallory, escrow, log, disown


def _weighed(v: Verifier, escrow: str) -> list[tuple[str, str, int, float]]:
    """The ratings that weigh something (ATT-004: one of stake 0 changes nothing in a view)."""
    return [r for r in _ratings(v, escrow) if r[2]]


@pytest.mark.req("KEY-009", "ATT-020", "KEY-004", "ATT-004", "ATT-005")
def test_a_key_revoked_back_to_before_its_breach_does_not_erase_the_breach_from_a_view() -> None:
    """Mallory's agent key breaches a bonded contract with Bob: the escrow upholds Bob's claim and
    forfeits her bond to him, and Bob attests her BREACHED. Then Mallory's key revokes itself with
    effective_ms just before its Accept -- her principal's revocation of her key, her accomplice (KEY-004:
    a principal the key is bound to may; effective_ms may lie in the past, section 3.4, KEY-011) -- and
    her principal goes on trading with a new key. A viewer that heard the revocation
    before Bob's evidence bundle refused her Accept (KEY_REVOKED), so Bob's attestation had no contract
    and weighed nothing: the upheld breach was gone from that view, while one that heard Bob first kept
    it. Expect a viewer to weigh an escrow-settled breach the same whether or not the breacher's key
    later disowned it. Closed by KEY-009 and ATT-020: an offline verifier takes a statement of a revoked
    key that the contract's escrow stamped before it stamped any revocation covering it -- here the
    escrow never saw the revocation at all (Mallory showed it to the viewers only), so nothing proves
    it came first -- and every view weighs the attestation by that same rule, in whatever order it
    heard the statements: at every place the revocation can take in the bundle."""
    clock = FixedClock()
    bob, mallory, escrow, log, disown = _revoked_back_after_a_breach(clock)
    evidence = [*bob.setup, *mallory.setup, *escrow.setup, *(vs.envelope for vs in log)]
    expected = [(_principal(bob), _principal(mallory), BOND, 0.0)]
    for at in range(len(bob.setup) + len(mallory.setup), len(evidence) + 1):  # after its binding (KEY-008)
        heard = _observe([*evidence[:at], disown.envelope, *evidence[at:]])
        assert disown.digest in heard.statements
        assert _ratings(heard, escrow.did) == expected, at


@pytest.mark.req("KEY-009", "ATT-020")
def test_a_breach_stamped_before_the_escrow_stamped_the_revocation_counts_in_every_order() -> None:
    """The same, but the revocation reached the escrow too (Mallory, or Bob, showed it there), which
    stamped it after the contract's Stamp: the escrow acted on her Accept before it knew of the
    revocation, so the breach stands in every view, whichever order it heard the Stamps in."""
    clock = FixedClock()
    bob, mallory, escrow, log, disown = _revoked_back_after_a_breach(clock)
    later = escrow.sign("stamp", commitment_pb2.Stamp(statements=[disown.digest]))
    evidence = [*bob.setup, *mallory.setup, *escrow.setup, *(vs.envelope for vs in log)]
    expected = [(_principal(bob), _principal(mallory), BOND, 0.0)]
    for at in range(len(evidence) + 1):
        for stamp_first in (True, False):
            added = [later.envelope, disown.envelope] if stamp_first else [disown.envelope, later.envelope]
            heard = _observe([*evidence[:at], *added, *evidence[at:]])
            assert _ratings(heard, escrow.did) == expected, (at, stamp_first)


@pytest.mark.req("KEY-009", "ATT-020", "KEY-008")
def test_a_thiefs_escrowed_breach_counts_against_the_principal_that_bound_the_key() -> None:
    """Mallory's agent key bound itself to her principal with a public Checkpoint; then a thief took
    it, accepted Bob's bonded offer at the escrow and never delivered: the escrow forfeited the key's
    bond to Bob. Only then does the principal notice and revoke the key back to the theft, sending the
    revocation with the binding (KEY-008) -- to the viewers, not to the escrow. The escrow took the
    thief's Accept before any revocation reached it, so the breach counts against the principal in
    every view, in whatever order: it chose and bound the key, and showing its revocation to the
    escrows at once is its remedy (a revocation the escrow stamped first would disown what follows)."""
    clock = FixedClock()
    bob, mallory, escrow = Party("bob", clock), Party("mallory", clock), Party("escrow", clock)
    binding = mallory.sign("checkpoint", identity_pb2.Checkpoint())
    clock.advance(60_000)
    stolen_at = clock.now_ms
    log = bonded_trade(bob, mallory, escrow, clock, breach=True, witnessed=True)
    clock.advance(60_000)
    revocation = mallory.principal.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=mallory.did, effective_ms=stolen_at, reason="stolen")
    )
    evidence = [*bob.setup, *mallory.setup, *escrow.setup, *(vs.envelope for vs in log)]
    expected = [(_principal(bob), _principal(mallory), BOND, 0.0)]
    for at in range(len(bob.setup) + len(mallory.setup), len(evidence) + 1):  # after the Mandate it names
        heard = _observe([*evidence[:at], binding.envelope, revocation.envelope, *evidence[at:]])
        assert revocation.digest in heard.statements, at
        assert _ratings(heard, escrow.did) == expected, at


def _breach_after_a_stamped_revocation() -> tuple[
    FixedClock, Party, Party, Party, VerifiedStatement, VerifiedStatement, list[VerifiedStatement]
]:
    """Bob's bonded Offer to Mallory at the escrow and her Accept; her principal revokes her key back to
    the Accept (``disown``), and an escrow at fault stamps the revocation first, then the Offer and Accept
    (``first``); Mallory's breach then settles (``log``, :func:`_settled_breach`). Returns ``(clock, bob,
    mallory, escrow, disown, first, log)``."""
    clock = FixedClock()
    bob, mallory, escrow = Party("bob", clock), Party("mallory", clock), Party("escrow", clock)
    _bound(mallory)
    offer = bob.offer(mallory, bob.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did))
    clock.advance(1_000)
    accept = mallory.accept(offer)
    clock.advance(1_000)
    disown = mallory.principal.sign(
        "key_revocation",
        identity_pb2.KeyRevocation(key=mallory.did, effective_ms=accept.issued_at_ms, reason="lost"),
    )
    named = [disown.digest, offer.digest, accept.digest]
    first = escrow.sign("stamp", commitment_pb2.Stamp(statements=named))
    log = _settled_breach(bob, mallory, escrow, clock, offer=offer, accept=accept)
    return clock, bob, mallory, escrow, disown, first, log


@pytest.mark.req("KEY-009", "ATT-020")
def test_a_contract_stamped_after_the_escrow_stamped_its_revocation_weighs_nothing_in_any_order() -> None:
    """An escrow at fault stamps Mallory's revocation first and her Accept after it (an honest one
    refuses the Accept then, KEY-004, and locks nothing): nothing it did after it knew of the
    revocation is hers, so every view weighs the attestation 0 -- the one that heard the revocation
    first refuses her Accept, the one that heard it last takes it and weighs it nothing -- and a
    second revocation stamped earlier, with an effective_ms after the Accept, changes nothing of that
    either way: only a revocation that covers the statement is asked about."""
    _, bob, mallory, escrow, disown, first, log = _breach_after_a_stamped_revocation()
    evidence = [*bob.setup, *mallory.setup, *escrow.setup, first.envelope, *(vs.envelope for vs in log)]
    for at in range(len(bob.setup) + len(mallory.setup), len(evidence) + 1):  # after its binding (KEY-008)
        heard = _observe([*evidence[:at], disown.envelope, *evidence[at:]])
        assert _weighed(heard, escrow.did) == [], at
    without = _observe(evidence)  # no revocation held: the breach counts as before
    assert _weighed(without, escrow.did) == [(_principal(bob), _principal(mallory), BOND, 0.0)]


@pytest.mark.req("KEY-009")
def test_a_revocation_with_a_later_effective_ms_stamped_first_does_not_shelter_a_later_one() -> None:
    """Mallory shows the escrow a revocation of her key effective a year on (it covers nothing yet, so
    the escrow stamps it and still takes her Accept), then, after the breach, revokes the key back to
    its Accept and shows that one to the viewers alone. The escrow's Stamp of the first one is before
    the contract's, but it covers no statement of the contract: the breach counts in every order."""
    clock = FixedClock()
    bob, mallory, escrow = Party("bob", clock), Party("mallory", clock), Party("escrow", clock)
    _bound(mallory)
    early = mallory.agent.sign(
        "key_revocation",
        identity_pb2.KeyRevocation(key=mallory.did, effective_ms=clock.now_ms + YEAR_MS, reason="retire"),
    )
    early_stamp = escrow.sign("stamp", commitment_pb2.Stamp(statements=[early.digest]))
    clock.advance(1_000)
    offer = bob.offer(mallory, bob.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did))
    clock.advance(1_000)
    accept = mallory.accept(offer)
    stamp = escrow.sign("stamp", commitment_pb2.Stamp(statements=[offer.digest, accept.digest]))
    log = _settled_breach(bob, mallory, escrow, clock, offer=offer, accept=accept)
    clock.advance(60_000)
    disown = mallory.principal.sign(
        "key_revocation",
        identity_pb2.KeyRevocation(key=mallory.did, effective_ms=accept.issued_at_ms, reason="lost"),
    )
    base = [*bob.setup, *mallory.setup, *escrow.setup, early_stamp.envelope, early.envelope, stamp.envelope]
    evidence = [*base, *(vs.envelope for vs in log)]
    expected = [(_principal(bob), _principal(mallory), BOND, 0.0)]
    for at in range(len(evidence) + 1):
        heard = _observe([*evidence[:at], disown.envelope, *evidence[at:]])
        assert _ratings(heard, escrow.did) == expected, at


@pytest.mark.req("ATT-020")
def test_a_peers_view_drops_a_kept_rating_a_later_revocation_disowns() -> None:
    """A reputation view rated Bob's attestation of Mallory's breach (settled under a trusted escrow,
    so it kept the rating, runtime/reputation.py). Then come a Stamp by the escrow naming Mallory's
    revocation before her Accept, and the revocation: the Accept is disowned (ATT-020), as a view that
    heard them first finds, and the kept rating must go to stake 0 too."""
    clock, bob, mallory, escrow, disown, first, log = _breach_after_a_stamped_revocation()
    v = EvidenceVerifier()
    for e in [*bob.setup, *mallory.setup, *escrow.setup, *(vs.envelope for vs in log)]:
        v.accept(e)
    view = Reputation(lambda: v, seeds=[], escrows={escrow.did}, clock=lambda: clock.now_ms)
    assert [r.stake for r in view.ratings()] == [BOND]
    v.accept(first.envelope)
    v.accept(disown.envelope)
    assert [r.stake for r in view.ratings()] == [0]


@pytest.mark.req("KEY-009", "KEY-004")
def test_a_live_receiver_still_refuses_a_revoked_keys_statement_its_escrow_stamped_first() -> None:
    """KEY-009 is for views of evidence (offline verifiers, section 11.4): a live receiver holding the
    revocation refuses Mallory's Accept, Stamp or no Stamp, and so does an escrow taking evidence --
    both trade with no key its principal disowned, and a thief's key cannot get past a revocation by
    having an escrow (one it minted, or one never shown the revocation) stamp what it signs."""
    clock = FixedClock()
    bob, mallory, escrow, log, disown = _revoked_back_after_a_breach(clock)
    stamp, offer, accept = log[:3]
    v = Verifier(me=bob.did)
    for e in [*bob.setup, *mallory.setup, *escrow.setup, disown.envelope, stamp.envelope]:
        v.accept(e)
    v.accept(offer.envelope, ours=True)
    with pytest.raises(KeyRevoked):
        v.accept(accept.envelope)
    as_escrow = Verifier(evidence_view=False)  # an escrow taking evidence trades on it: refused too
    for e in [*bob.setup, *mallory.setup, *escrow.setup, disown.envelope, stamp.envelope, offer.envelope]:
        as_escrow.accept(e)
    with pytest.raises(KeyRevoked):
        as_escrow.accept(accept.envelope)
    observer = Verifier()
    for e in [*bob.setup, *mallory.setup, *escrow.setup, disown.envelope, stamp.envelope, offer.envelope]:
        observer.accept(e)
    assert observer.accept(accept.envelope).digest == accept.digest  # KEY-009: a view of evidence takes it
    assert observer.disowned(accept) is False


def _settled_breach(
    bob: Party,
    mallory: Party,
    escrow: Party,
    clock: FixedClock,
    *,
    offer: VerifiedStatement,
    accept: VerifiedStatement,
) -> list[VerifiedStatement]:
    """Bob's offer and Mallory's Accept, then: the escrow locks both bonds, Bob delivers, Mallory does
    not, Bob's claim is stamped and upheld, her bond forfeit to him, his released, and Bob attests the
    breach (:func:`a2a_coop.testing.bonded_trade`'s breach, after a contract formed elsewhere)."""
    nid = offer.header.negotiation_id
    locks = [
        escrow.sign(
            "bond_lock",
            commitment_pb2.BondLock(contract=accept.digest, party=p.did, amount=BOND),
            audience=p.did,
            negotiation_id=nid,
        )
        for p in (bob, mallory)
    ]
    clock.advance(86_400_000 + 10_000)
    claim = bob.sign(
        "breach_claim",
        commitment_pb2.BreachClaim(contract=accept.digest, item_index=0, reason="never arrived"),
        audience=mallory.did,
        negotiation_id=nid,
    )
    stamp = escrow.sign("stamp", commitment_pb2.Stamp(statements=[claim.digest]))
    clock.advance(3_600_000)
    ruling = escrow.sign(
        "ruling",
        commitment_pb2.Ruling(
            contract=accept.digest, claim=claim.digest, decision=commitment_pb2.RULING_DECISION_UPHOLD
        ),
        negotiation_id=nid,
    )
    forfeit = escrow.sign(
        "forfeit",
        commitment_pb2.Forfeit(
            contract=accept.digest, party=mallory.did, amount=BOND, beneficiary=bob.did, cause=claim.digest
        ),
        audience=mallory.did,
        negotiation_id=nid,
    )
    release = escrow.sign(
        "release",
        commitment_pb2.Release(contract=accept.digest, party=bob.did, amount=BOND),
        audience=bob.did,
        negotiation_id=nid,
    )
    attestation = bob.attest(offer, accept, mallory.did, outcome=reputation_pb2.OUTCOME_BREACHED)
    return [offer, accept, *locks, stamp, claim, ruling, forfeit, release, attestation]


def _principal(party: Party) -> str:
    return party.principal.did


# --- 4: a free exit after the honest side performed -------------------------------------------------


@pytest.mark.req("CMT-012", "CMT-003")
def test_a_counterparty_cannot_revoke_for_free_after_taking_the_honest_delivery() -> None:
    """Mallory offers Bob revocable terms, no forfeit_bond and a one-minute notice, her item and his
    both due in a day. Bob's reference peer accepted and delivered at once; Mallory receipted nothing,
    delivered nothing, revoked, and the escrow released both bonds (everything she owed falls due after
    the notice, CMT-003): she kept Bob's work and her bond. Expect an honest reference peer not to
    hand over what it owes while the counterparty can still leave owing nothing for it. Closed by the
    reference peer's perform-time policy (CMT-012): it holds its Delivery until her items are delivered
    or due before a Revoke sent then could take effect, or until a clock tolerance before its own
    deadline (tests/test_revocable_hold.py)."""
    _, mallory, _, escrow, m, b = _market(strategy=WithholdingStrategy(every=1))
    terms = trade_pb2.Revocation(allowed=True, notice_ms=60_000)
    proposal = mallory.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did, revocation=terms)
    neg = run_trade(m, b, b.did, proposal, escrow=escrow)
    mneg = m.negotiation(neg.id)
    given = {who for who, _ in mneg.contract.deliveries.values()} if mneg.contract else set()
    exit_ = revoke(m, mneg, "changed my mind")
    b.exchange(exit_.envelope)
    settle_with_escrow(m, b, escrow, mneg)
    assert escrow.get_balance(m.did)[:2] == (FUNDS, 0)  # her bond is back
    assert b.did not in given  # ...and she holds nothing of Bob's for it


@pytest.mark.req("ATT-002")
def test_a_peers_view_drops_a_settled_rating_an_earlier_attestation_displaces() -> None:
    """The same two attestations reaching a peer's reputation view later one first: the view rated
    the later one (settled, so it kept the rating, runtime/reputation.py) and must drop it for the
    first one Mallory signed once that arrives."""
    clock = FixedClock()
    mallory, bob, escrow = Party("mallory", clock), Party("bob", clock), Party("escrow", clock)
    log = bonded_trade(mallory, bob, escrow, clock)
    offer, accept, first = log[0], log[1], log[-1]
    second = mallory.attest(offer, accept, bob.did, outcome=reputation_pb2.OUTCOME_PARTIAL)
    v = EvidenceVerifier()
    for e in [*mallory.setup, *bob.setup, *escrow.setup, *(vs.envelope for vs in log[:-1]), second.envelope]:
        v.accept(e)
    view = Reputation(lambda: v, seeds=[], escrows={escrow.did}, clock=lambda: clock.now_ms)
    assert [(r.attestation, r.score) for r in view.ratings()] == [(second.digest, 0.5)]
    v.accept(first.envelope)
    assert [(r.attestation, r.score) for r in view.ratings()] == [(first.digest, 1.0)]
    third = mallory.attest(offer, accept, bob.did, outcome=reputation_pb2.OUTCOME_BREACHED)
    with pytest.raises(AttestationInadmissible):  # and a still later one changes nothing
        v.accept(third.envelope)
    assert [r.attestation for r in view.ratings()] == [first.digest]


# --- 5: an escrow's audit over a lock in a currency it does not keep --------------------------------


@pytest.mark.req("AUD-002", "ESC-005")
def test_the_audit_reports_a_bond_locked_from_funds_in_another_currency() -> None:
    """Alice and Bob sign a contract in "usd", bond 100 each, at an escrow whose ledger keeps "credit"
    (section 9.4: one currency per escrow; the reference escrow locks nothing for it). Its operator
    locks both bonds by hand anyway, from the parties' credit, and later forfeits Bob's to Alice on an
    upheld claim: Bob, shown "100 locked", thought 100 usd stood behind Alice's promise and 100 usd of
    his behind his own. Expect the audit to report a lock of a bond in a currency the ledger's funds
    are not in: those funds are not available for it (ESC-005)."""
    clock = FixedClock()
    caps = {"currency": "usd"}
    alice, bob = Party("alice", clock, mandate_caps=caps), Party("bob", clock, mandate_caps=caps)
    operator = Party("escrow", clock)
    escrow = LocalEscrow(operator, funds={alice.did: FUNDS, bob.did: FUNDS})
    proposal = alice.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did)
    proposal.terms.currency = "usd"
    offer = alice.offer(bob, proposal)
    accept = bob.accept(offer)
    answers = escrow.submit([*alice.setup, *bob.setup, offer.envelope, accept.envelope])
    assert [verify_statement(e).body for e in answers] == ["mandate", "stamp"]  # no lock: not its currency
    locks = [
        operator.sign(
            "bond_lock",
            commitment_pb2.BondLock(contract=accept.digest, party=p.did, amount=BOND),
            negotiation_id=offer.header.negotiation_id,
        )
        for p in (alice, bob)
    ]
    report = audit_ledger([*escrow.escrow.transcript(), *(vs.envelope for vs in locks)])
    assert report.balances[bob.did] == (FUNDS - BOND, BOND)
    assert not report.ok


@pytest.mark.req("AUD-001", "AUD-004")
def test_a_sock_puppet_stamp_at_the_head_does_not_make_the_audit_judge_another_escrow(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An escrow operator releases a revoker's bond it had to forfeit (the audit reports that,
    tests/test_redteam.py). To have its exported transcript pass anyway, it puts at its head the
    Mandate of a key of its own and one Stamp by that key naming every statement that follows:
    `escrow audit FILE`, told no escrow, audits "the issuer of the first ledger entry" -- the puppet,
    whose one-entry ledger is sound -- and reads the real escrow's statements as evidence the puppet
    stamped. Expect an audit not told which escrow it judges to refuse to pick one among several
    issuers of ledger statements (or to judge the one whose statements move the money)."""
    clock = FixedClock()
    alice, bob, operator = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    escrow = LocalEscrow(operator, funds={alice.did: FUNDS, bob.did: FUNDS})
    terms = trade_pb2.Revocation(allowed=True, forfeit_bond=True)
    proposal = alice.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did, revocation=terms)
    offer = alice.offer(bob, proposal)
    accept = bob.accept(offer)
    escrow.submit([*alice.setup, *bob.setup, offer.envelope, accept.envelope])
    clock.advance(1_000)
    nid = offer.header.negotiation_id
    out = bob.revoke(accept, alice)
    stamp = operator.sign("stamp", commitment_pb2.Stamp(statements=[out.digest]))
    releases = [
        operator.sign(
            "release",
            commitment_pb2.Release(contract=accept.digest, party=p.did, amount=BOND),
            negotiation_id=nid,
        )
        for p in (alice, bob)
    ]
    honest = [*escrow.escrow.transcript(), stamp.envelope, out.envelope, *(r.envelope for r in releases)]
    assert not audit_ledger(honest).ok  # RELEASE_NOT_DUE, as in test_redteam
    puppet = Party("puppet", clock)
    digests = list(dict.fromkeys(verify_statement(e).digest for e in honest))
    heads = [
        puppet.agent.sign(
            "stamp", commitment_pb2.Stamp(statements=digests[i : i + 256]), mandate=puppet.mandate_vs.digest
        )
        for i in range(0, len(digests), 256)
    ]
    crafted = [*puppet.setup, *(h.envelope for h in heads), *honest]
    report = audit_ledger(crafted)
    assert not report.ok, f"audited {report.escrow == puppet.did and 'the puppet'}: {report.findings}"
    assert [f.code for f in report.findings] == ["ESCROW_AMBIGUOUS"]
    # The CLI says so, and judges the escrow it is told to judge.
    path = tmp_path / "transcript.json"
    path.write_text(json.dumps({"envelopes": [base64.b64encode(e).decode() for e in crafted]}))
    assert main(["escrow", "audit", str(path)]) == 1
    assert "ESCROW_AMBIGUOUS" in capsys.readouterr().out
    # --json too names what to pass (the file names no escrow: the auditor's to choose).
    assert main(["escrow", "audit", str(path), "--json"]) == 1
    hint = json.loads(capsys.readouterr().out)["hint"]
    assert hint["escrow_did"] is None and "pass --escrow-did DID" in hint["note"]
    assert main(["escrow", "audit", str(path), "--escrow-did", escrow.did]) == 1
    assert "RELEASE_NOT_DUE" in capsys.readouterr().out


# --- 6: a split Submit that parts an Offer from the Counter naming the escrow -------------------------


class CountersWithABigMandate:
    """Mallory's server: it answers Bob's offer (which names no escrow) with a bonded Counter naming
    the escrow, under a Mandate of hers padded so that Bob's contract evidence splits right after his
    Offer (the Counter, which names the escrow, starts the next Submit)."""

    def __init__(self, mallory: Party, escrow: str) -> None:
        self.mallory, self.escrow = mallory, escrow

    def exchange(self, envelope: bytes, context: Sequence[bytes]) -> list[bytes]:
        vs = verify_statement(envelope)
        if vs.body != "offer":
            return []
        mine = vs.statement.offer
        terms = trade_pb2.Terms(currency="credit", escrow=self.escrow, issuer_bond=BOND, audience_bond=BOND)
        proposal = trade_pb2.Offer(gives=mine.wants, wants=mine.gives, terms=terms)
        return [*self.mallory.setup, self.mallory.counter(vs, proposal).envelope]


@pytest.mark.req("ESC-001", "ESC-011", "ESC-004", "CMT-002")
def test_a_split_submit_does_not_part_an_offer_from_the_counter_that_names_the_escrow(
    tmp_path: Path,
) -> None:
    """Bob offers with no escrow; Mallory counters naming the escrow, both bonded, and Bob accepts.
    Bob's contract evidence -- both Mandates, his Offer, her Counter, his Accept -- is too large for
    one request (her Mandate is hers to pad), so his client sends it as consecutive Submits (attack12's
    fix). She sized her Mandate so the first ends with his Offer: that Submit carries a statement of a
    negotiation no Offer or Counter among its envelopes names the escrow of, and ESC-011 refuses it
    whole (WRONG_PARTY), every time. She submits the contract herself in Submits that keep her Counter
    with his Offer, the escrow locks both bonds, she relays nothing, Bob never delivers, and her claim
    after his deadline takes his bond. Expect a split Submit to keep a negotiation's statements with
    the Offer or Counter that names the escrow: Bob's contract bonded, his Delivery stamped, her claim
    dismissed."""
    clock = FixedClock()
    bob_party, esc = Party("bob", clock), Party("escrow", clock)
    node = EscrowNode(
        esc.agent.key, esc.mandate_vs.envelope, tmp_path / "escrow.db", clock=lambda: clock.now_ms
    )
    bob = make_peer(bob_party, clock, context=[node.mandate])
    deadline = clock.now_ms + 3_600_000
    unbonded = bob_party.proposal(
        gives=[service("code-review", value=500, deadline_ms=deadline)],
        wants=[service("copy-editing", value=450, deadline_ms=deadline)],
    )
    offer = bob.propose(Party("mallory", clock).did, unbonded)
    room = 65_536 - len(bob_party.mandate_vs.envelope) - len(offer.envelope) - 3 * 8 - 400
    mallory = _padded_party("mallory", clock, room)
    node.deposit(mallory.did, FUNDS)
    node.deposit(bob_party.did, FUNDS)
    try:
        with serve(None, node) as server, EscrowClient(server.target) as escrow:
            with contextlib.suppress(TransportError, CoopError):  # before: WRONG_PARTY, every time
                carry_trade(bob, CountersWithABigMandate(mallory, esc.did), offer, escrow=escrow)
            neg = bob.negotiation(offer.negotiation_id)
            assert neg.contract is not None and neg.contract.escrow == esc.did
            if node.escrow.verifier.negotiations.find(neg.id) is None:  # Bob's Submits never got there
                node.submit([*bob_party.setup, *mallory.setup])
                node.submit([offer.envelope, neg.contract.offer.envelope, neg.contract.accept.envelope])
            assert set(node.escrow.verifier.negotiations.get(neg.id).contract.locked) == {
                bob.did,
                mallory.did,
            }
            delivered = [vs for vs in bob.verifier.statements.values() if vs.body == "delivery"]
            assert delivered, "Bob never learnt that his contract was bonded"
            assert node.escrow.verifier.witness.stamp_time(esc.did, delivered[0].digest) is not None
    finally:
        node.close()


def _padded_party(name: str, clock: FixedClock, room: int) -> Party:
    """``name``'s Party with a Mandate envelope padded to between ``room`` - 200 and ``room`` bytes."""
    pad = room
    while True:
        party = Party(name, clock, mandate_caps=_padded_caps(pad))
        size = len(party.mandate_vs.envelope)
        if room - 200 <= size <= room:
            return party
        pad += (room - 100 - size) // 2 or -1


def _padded_caps(size: int) -> dict[str, object]:
    """Mandate caps padding it to about ``size`` bytes (allowed_categories; the two traded first)."""
    categories = ["code-review", "copy-editing"]
    categories += [f"padding-{i:05d}-" + "x" * 80 for i in range(size // 100)]
    return {"allowed_categories": categories}


# --- 7: two rulings on one claim, heard in two orders -----------------------------------------------


@pytest.mark.req("CMT-002", "NEG-015")
def test_an_escrow_ruling_twice_on_one_claim_leaves_verifiers_agreeing() -> None:
    """Bob never delivers; Alice claims, and the escrow upholds her claim and forfeits Bob's bond to
    her -- and also signs a DISMISS of the same claim, which it shows Bob. Section 8.9 says that where
    the escrow misbehaves ("two rulings for one claim") verifiers still agree: but a verifier refused
    whichever ruling came second, so one shown the DISMISS first stayed PERFORMING and refused the
    Forfeit, while one shown the UPHOLD first was BREACHED -- holding the same statements. Expect both
    orders to end in one state and one settlement (a Ruling UPHOLD held makes the contract BREACHED,
    row 2 of the precedence; the audit names the wrong ruling)."""
    clock = FixedClock()
    alice, bob, escrow = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    log = bonded_trade(alice, bob, escrow, clock, breach=True)
    offer, accept, claim, upheld, forfeit, release = log[0], log[1], log[6], log[7], log[8], log[9]
    assert (claim.body, upheld.body, forfeit.body) == ("breach_claim", "ruling", "forfeit")
    dismissed = escrow.sign(
        "ruling",
        commitment_pb2.Ruling(
            contract=accept.digest,
            claim=claim.digest,
            decision=commitment_pb2.RULING_DECISION_DISMISS,
            evidence=log[4].digest,
        ),
        negotiation_id=offer.header.negotiation_id,
    )
    base = [*alice.setup, *bob.setup, *escrow.setup, *(vs.envelope for vs in log[:7])]
    views = [
        _observe([*base, *order])
        for order in (
            [upheld.envelope, forfeit.envelope, release.envelope, dismissed.envelope],
            [dismissed.envelope, upheld.envelope, forfeit.envelope, release.envelope],
        )
    ]
    ends = [
        (neg.state, dict(neg.contract.locked), sorted(neg.contract.settled), neg.contract.rulings)
        for neg in (v.negotiations.get(offer.header.negotiation_id) for v in views)
    ]
    assert ends[0][0] is State.BREACHED
    assert ends[1] == ends[0]
    assert all(forfeit.digest in v.statements for v in views)


@pytest.mark.req("NEG-012", "ATT-005")
def test_an_escrow_settling_one_bond_twice_leaves_ratings_agreeing() -> None:
    """The escrow upholds Alice's claim and forfeits Bob's bond to her, and also signs a Release of
    the same bond that it shows Bob's friends. A view that took the Forfeit first scores Alice's
    attestation of Bob 0; one that took the Release first floors it at 1/2 -- the same statements."""
    clock = FixedClock()
    alice, bob, escrow = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    log = bonded_trade(alice, bob, escrow, clock, breach=True)
    offer, accept, forfeit, attestation = log[0], log[1], log[8], log[-1]
    released = escrow.sign(
        "release",
        commitment_pb2.Release(contract=accept.digest, party=bob.did, amount=BOND),
        negotiation_id=offer.header.negotiation_id,
    )
    base = [*alice.setup, *bob.setup, *escrow.setup, *(vs.envelope for vs in log[:8])]
    rest = [log[9].envelope, attestation.envelope]
    forfeit_first = _observe([*base, forfeit.envelope, released.envelope, *rest])
    release_first = _observe([*base, released.envelope, forfeit.envelope, *rest])
    assert _ratings(forfeit_first, escrow.did) == _ratings(release_first, escrow.did)


# --- 8: `verify` given a counterparty's "evidence" shaped as a vector file ---------------------------


def test_verify_does_not_pass_a_forged_transcript_wrapped_as_a_vector_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Mallory hands Bob's tooling the "evidence" of a contract to check with `a2a-coop verify FILE`
    (what `export` writes and says to check "with no trust in the peer that wrote it"). Her Accept's
    signature is forged; she wraps the transcript as a vector file whose one vector expects exactly
    that refusal. `verify` runs it as a vector, prints "1/1 vectors as expected" and exits 0 ("valid"
    in --json). Expect a forged transcript not to pass `verify` whatever shape its file has."""
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    offer = alice.offer(bob)
    accept = bytearray(bob.accept(offer).envelope)
    accept[-5] ^= 1  # inside the signature
    envelopes = [*alice.setup, *bob.setup, offer.envelope, bytes(accept)]
    verifier, failed = Verifier(), None
    for i, e in enumerate(envelopes):
        try:
            verifier.accept(e)
        except CoopError as exc:
            failed = (i, exc.code)
            break
    assert failed is not None
    doc = {
        "schema": "a2a-coop-vectors/1",
        "testGroups": [
            {
                "type": "Evidence",
                "mode": "sparse",
                "tests": [
                    {
                        "tcId": 1,
                        "comment": "the contract",
                        "flags": [],
                        "requirements": [],
                        "now_ms": None,
                        "envelopes": [base64.b64encode(e).decode() for e in envelopes],
                        "result": "invalid",
                        "error": failed[1],
                        "failedIndex": failed[0],
                    }
                ],
            }
        ],
    }
    path = tmp_path / "evidence.json"
    path.write_text(json.dumps(doc))
    code = main(["verify", str(path)])
    captured = capsys.readouterr()
    assert code == 2, captured.out  # a usage error: vector files run only with --vectors
    assert "--vectors" in captured.err and "Traceback" not in captured.err
    # Asked for, it runs as the test it claims to be, and says so: "vectors as expected", not "valid".
    assert main(["verify", "--vectors", str(path)]) == 0
    assert "1/1 vectors as expected" in capsys.readouterr().out


# --- 9: filling the victim's quota of open contracts at its escrow ----------------------------------


@pytest.mark.req("CMT-008")
def test_fresh_keys_cannot_fill_an_honest_partys_quota_of_open_contracts_at_its_escrow() -> None:
    """The reference escrow allows 1000 open contracts per party (CMT-008; 3 here). Mallory's fresh
    keys each offer Bob a zero-value trade naming the escrow, no bond, due in 300 days; Bob's reference
    peer accepts each, and each is submitted: Bob holds 3 open contracts there until they lapse. Carol
    then offers Bob an honest bonded trade at the same escrow: the escrow refuses its Accept, Bob's
    bond is never locked, and the trade cannot run. Expect an honest bonded contract to be taken."""
    clock = FixedClock()
    bob_party, carol_party = Party("bob", clock), Party("carol", clock)
    escrow = LocalEscrow(Party("escrow", clock), funds={bob_party.did: FUNDS, carol_party.did: FUNDS})
    escrow.escrow.max_open_contracts = 3
    b = make_peer(bob_party, clock, context=[escrow.mandate])
    far = clock.now_ms + 300 * 86_400_000
    for i in range(3):
        sybil = Party(f"sybil-{i}", clock)
        s = make_peer(sybil, clock, context=[escrow.mandate], strategy=WithholdingStrategy(every=1))
        junk = sybil.proposal(
            gives=[service("code-review", value=0, deadline_ms=far)],
            wants=[service("copy-editing", value=0, deadline_ms=far)],
            escrow=escrow.did,
        )
        neg = run_trade(s, b, b.did, junk, escrow=escrow)
        assert neg.contract is not None
    carol = make_peer(carol_party, clock, context=[escrow.mandate])
    honest = carol_party.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did)
    with contextlib.suppress(LimitExceeded):  # before: the escrow refused the contract's Accept
        run_trade(carol, b, b.did, honest, escrow=escrow)
    assert escrow.get_balance(bob_party.did)[:2] in ((FUNDS - BOND, BOND), (FUNDS, 0))
    neg = next(n for n in carol.verifier.negotiations.by_id.values() if n.contract is not None)
    assert neg.contract.locked, "the escrow refused Bob's honest bonded contract"


# --- 10: a principal's revocation heard before its key's first statement -----------------------------


@pytest.mark.req("KEY-004", "KEY-007", "KEY-008")
def test_a_principals_revocation_heard_before_its_keys_statements_still_counts() -> None:
    """Alice's key is stolen; her principal revokes it from just after her Offer. A verifier that
    holds her Offer first takes the revocation and refuses the thief's later Delivery (KEY_REVOKED).
    Decided (KEY-008): a principal's revocation travels with a statement binding the key to it (the
    key's public Checkpoint under the Mandate); a verifier that hears the two before anything else of
    the key refuses the Delivery too. A bare revocation heard first is refused REVOCATION_UNAUTHORIZED
    and recorded nowhere -- the code tells its sender to send it again with its binding -- and once sent
    so, it counts there as well."""
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    binding = alice.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([])))
    offer = alice.offer(bob)
    clock.advance(1_000)
    accept = bob.accept(offer)
    clock.advance(1_000)
    theft = alice.deliver(accept, bob)
    revocation = alice.principal.sign(
        "key_revocation",
        identity_pb2.KeyRevocation(key=alice.did, effective_ms=offer.issued_at_ms + 500, reason="stolen"),
    )
    base = [*alice.setup, *bob.setup]
    later = [offer.envelope, accept.envelope, theft.envelope]
    statement_first = _observe([*base, binding.envelope, offer.envelope, revocation.envelope, *later[1:]])
    revocation_first = _observe([*base, binding.envelope, revocation.envelope, *later])
    # a view of evidence holds the thief's Delivery (a statement of a negotiation, KEY-009 (c)), disowned
    # in either order
    assert statement_first.disowned(statement_first.statements[theft.digest])
    assert revocation_first.disowned(revocation_first.statements[theft.digest])
    assert offer.digest in revocation_first.statements  # dated before effective_ms: still Alice's
    assert not revocation_first.disowned(offer)

    bare = Verifier()
    for env in base:
        bare.accept(env)
    with pytest.raises(RevocationUnauthorized):
        bare.accept(revocation.envelope)
    bare.accept(binding.envelope)
    bare.accept(revocation.envelope)  # sent again with its binding: taken
    for env in later:
        bare.accept(env)
    assert bare.disowned(theft)  # held, as a view of evidence holds it (KEY-009 (c)): disowned
    escrow = Verifier(evidence_view=False)  # an escrow taking evidence refuses it
    for env in [*base, binding.envelope, revocation.envelope, *later[:2]]:
        escrow.accept(env)
    with pytest.raises(KeyRevoked):
        escrow.accept(theft.envelope)


@pytest.mark.req("KEY-008", "RPC-015")
def test_a_peer_takes_a_principals_revocation_with_its_binding_as_context() -> None:
    """Carol's peer has never heard of Alice's key. Her principal's revocation alone is refused
    REVOCATION_UNAUTHORIZED and leaves nothing; sent with the key's public Checkpoint under the Mandate
    as context (KEY-008), the peer takes both, and refuses the key's statements from effective_ms on.
    A statement of the key addressed to someone else, which the peer cannot take, is passed over."""
    clock = FixedClock()
    alice, bob, carol = Party("alice", clock), Party("bob", clock), Party("carol", clock)
    binding = alice.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([])))
    clock.advance(1_000)
    revocation = alice.principal.sign(
        "key_revocation",
        identity_pb2.KeyRevocation(key=alice.did, effective_ms=clock.now_ms - 500, reason="stolen"),
    )
    c = make_peer(carol, clock)
    held = len(c.verifier.statements)
    with pytest.raises(RevocationUnauthorized):
        c.exchange(revocation.envelope)
    assert len(c.verifier.statements) == held
    elsewhere = alice.offer(bob)  # addressed to Bob: a peer cannot take it (STM-005), so it is passed over
    c.exchange(revocation.envelope, context=[*alice.setup, elsewhere.envelope, binding.envelope])
    assert {binding.digest, revocation.digest} <= set(c.verifier.statements)
    assert elsewhere.digest not in c.verifier.statements
    with pytest.raises(KeyRevoked):
        c.exchange(alice.offer(carol).envelope)


# --- 11: vouched stake bought with a free exit --------------------------------------------------------


@pytest.mark.req("ATT-016", "ATT-005", "CMT-003")
def test_a_free_exit_vouches_for_no_unbonded_deal() -> None:
    """Bob's policy demands a bond of whoever scores below the prior (0.5), and of anyone whose record's
    vouched stake is below what he gives them (ATT-016): a newcomer is asked for a bond. Mallory offers
    him revocable terms without forfeit, her bond 2,000, and revokes at once: her bond comes back, and
    Bob's attestation of her (REVOKED, floored to 1/2 by the release, ATT-005) credited half a good
    outcome at 2,000 -- a vouched stake of 1,000, with her score still the prior. Her next offer, an
    unbonded deal in which Bob gives 1,000, then passed his policy, and she never delivers. Expect a
    record of exits (neither good nor bad) to vouch for nothing: Bob demands the bond."""
    clock = FixedClock()
    mallory, bob = Party("mallory", clock), Party("bob", clock)
    escrow = LocalEscrow(Party("escrow", clock), funds={mallory.did: 10 * FUNDS, bob.did: 10 * FUNDS})
    m = make_peer(mallory, clock, context=[escrow.mandate], strategy=WithholdingStrategy(every=1))
    policy = TrustPolicy(bond_below=0.5, min_bond=5 * BOND)
    b = make_peer(bob, clock, context=[escrow.mandate], trust=policy)
    assert policy.required_bond(b.reputation.score(m.did), 1_000) == 5 * BOND  # a newcomer bonds
    terms = trade_pb2.Revocation(allowed=True, notice_ms=60_000)
    exit_terms = mallory.proposal(issuer_bond=2_000, audience_bond=BOND, escrow=escrow.did, revocation=terms)
    neg = run_trade(m, b, b.did, exit_terms, escrow=escrow)
    mneg = m.negotiation(neg.id)
    b.exchange(revoke(m, mneg, "changed my mind").envelope)
    settle_with_escrow(m, b, escrow, mneg)
    assert escrow.get_balance(m.did)[:2] == (10 * FUNDS, 0)  # her bond is back
    score = b.reputation.score(m.did)
    assert score.score == 0.5
    assert policy.required_bond(score, 1_000) == 5 * BOND, f"vouched stake {score.vouched_stake}"


# --- 12: a false over-commitment proof from a counterparty's second answer ----------------------------


def test_a_counterpartys_second_answer_makes_no_over_commitment_proof_against_an_honest_peer() -> None:
    """Bob's Mandate allows 1,000 outstanding. He offers Mallory 600; she answers with a Reject, which
    frees the offer in his guard, and he offers Carol 600 -- within his caps. Mallory then signs an
    Accept of his first offer dated after the second (each of her answers valid alone) and hands the
    auditor his two offers and her Accept. The misrepresentation audit reports a hard proof
    (confidence 1) that Bob broke MND-010, "an honest subject never triggers it": the audience's
    answer, and its date, are hers. Expect no hard proof against a peer whose guard signed everything."""
    clock = FixedClock()
    bob = Party("bob", clock, mandate_caps={"max_outstanding": 1_000, "max_per_deal": 1_000})
    mallory, carol = Party("mallory", clock), Party("carol", clock)
    b = make_peer(bob, clock, context=[mallory.mandate_vs.envelope, carol.mandate_vs.envelope])
    due = clock.now_ms + 86_400_000

    def worth_600() -> trade_pb2.Offer:
        return bob.proposal(
            gives=[service("code-review", value=600, deadline_ms=due)],
            wants=[service("copy-editing", value=1, deadline_ms=due)],
        )

    first = b.propose(mallory.did, worth_600())
    clock.advance(1_000)
    b.exchange(mallory.reject(first, "no").envelope, mallory.setup)
    clock.advance(1_000)
    second = b.propose(carol.did, worth_600())  # his guard signs it: the first is no longer outstanding
    clock.advance(1_000)
    late_accept = mallory.accept(first)
    evidence = [
        *bob.setup,
        *mallory.setup,
        *carol.setup,
        first.envelope,
        second.envelope,
        late_accept.envelope,
    ]
    hard = [f for f in audit(evidence, subject=bob.did, screens=False) if f.confidence == 1.0]
    assert hard == [], [(f.kind, f.requirement) for f in hard]
