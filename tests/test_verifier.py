"""Accepting statements in context: the normative verification procedure (SPEC section 11).

Covers audience, key revocation and rotation, attestations, transcripts, the
contextual part of the verification order (ERR-002) and "a rejected statement
changes nothing" (ERR-003).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from conftest import verifier_state

from a2a_coop._proto.a2acoop.v1 import identity_pb2, reputation_pb2
from a2a_coop.protocol.envelope import sign_payload
from a2a_coop.protocol.errors import (
    AttestationInadmissible,
    CoopError,
    Expired,
    IssuedInPast,
    KeyRevoked,
    MandateUnknown,
    MandateViolation,
    RevocationUnauthorized,
    WrongAudience,
    WrongParty,
    utc_text,
)
from a2a_coop.protocol.statements import Statement, VerifiedStatement, encode_statement
from a2a_coop.protocol.verifier import Verifier, verify_transcript
from a2a_coop.testing import DAY_MS, FixedClock, Party, full_trade


def _verifier(
    *parties: Party, me: Party | None = None, complete: bool = False, evidence_view: bool | None = None
) -> Verifier:
    v = Verifier(me=me.did if me else None, complete_chains=complete, evidence_view=evidence_view)
    for p in parties:
        for env in p.setup:
            v.accept(env)
    return v


def _accept_all(v: Verifier, *statements: VerifiedStatement, now_ms: int | None = None) -> None:
    for vs in statements:
        v.accept(vs.envelope, now_ms)


def _trade(alice: Party, bob: Party) -> tuple[VerifiedStatement, VerifiedStatement]:
    offer = alice.offer(bob)
    return offer, bob.accept(offer)


def _revocation(signer: Party, key: str, effective_ms: int, by_principal: bool = False) -> VerifiedStatement:
    msg = identity_pb2.KeyRevocation(key=key, effective_ms=effective_ms, reason="laptop stolen")
    if by_principal:
        return signer.principal.sign("key_revocation", msg)
    return signer.sign("key_revocation", msg)


# --- STM-005: audience ------------------------------------------------------------------------------


@pytest.mark.req("STM-005")
def test_receiver_refuses_a_statement_addressed_to_someone_else(
    clock: FixedClock, alice: Party, bob: Party
) -> None:
    """Carol's runtime receives Alice's offer to Bob; expect WRONG_AUDIENCE. Bob's runtime accepts it,
    and an auditor (no 'me') reads it too."""
    carol = Party("carol", clock)
    offer = alice.offer(bob)
    with pytest.raises(WrongAudience) as err:
        _verifier(alice, me=carol).accept(offer.envelope)
    assert err.value.requirement == "STM-005"
    _verifier(alice, me=bob).accept(offer.envelope)
    _verifier(alice).accept(offer.envelope)


@pytest.mark.req("STM-005")
def test_public_statement_is_accepted_by_any_receiver(clock: FixedClock, alice: Party, bob: Party) -> None:
    """Alice's principal publishes her Mandate and Alice a Checkpoint (empty audience); Carol's runtime
    accepts both, while it refuses Alice's offer to Bob."""
    carol = Party("carol", clock)
    v = _verifier(alice, me=carol)  # the public Mandate
    assert alice.mandate_vs.digest in v.mandates
    v.accept(alice.sign("checkpoint", identity_pb2.Checkpoint()).envelope)
    with pytest.raises(WrongAudience):
        v.accept(alice.offer(bob).envelope)


# --- KEY-004, KEY-005: revocation and rotation ------------------------------------------------------


@pytest.mark.req("KEY-004")
def test_key_revoked_by_itself_signs_nothing_from_the_effective_time(
    clock: FixedClock, alice: Party, bob: Party
) -> None:
    """Alice's agent revokes its own key effective at T + 1 s; an offer issued at T + 1 s - 1 passes,
    one issued at T + 1 s is KEY_REVOKED (an escrow taking evidence; a view of evidence holds it, disowned,
    KEY-009 (c))."""
    t = clock.now_ms
    v = _verifier(alice, bob, evidence_view=False)
    v.accept(_revocation(alice, alice.did, t + 1000).envelope)
    v.accept(alice.offer(bob, issued_at_ms=t + 999).envelope)
    with pytest.raises(KeyRevoked) as err:
        v.accept(alice.offer(bob, issued_at_ms=t + 1000).envelope)
    assert err.value.requirement == "KEY-004"
    # The time for people (UTC), the ms for machines: in the detail and as an attribute.
    assert err.value.reach_ms == t + 1000
    assert f"revoked from {utc_text(t + 1000)} (reach_ms={t + 1000})" in err.value.detail
    assert utc_text(t + 1000).endswith(" UTC")


@pytest.mark.req("KEY-004")
def test_principal_may_revoke_the_agent_key_it_delegated_to(
    clock: FixedClock, alice: Party, bob: Party
) -> None:
    """Alice's agent signs under her principal's mandate (so the key is bound to it, KEY-007), then the
    principal revokes the agent key; expect later statements by the agent KEY_REVOKED at an escrow taking
    evidence, and held, disowned, in a view of evidence (KEY-009 (c))."""
    escrow, view = _verifier(alice, bob, evidence_view=False), _verifier(alice, bob)
    first = alice.offer(bob)
    clock.advance(1)
    revocation = _revocation(alice, alice.did, clock.now_ms, by_principal=True)
    later = alice.offer(bob)
    for v in (escrow, view):
        v.accept(first.envelope)
        v.accept(revocation.envelope)
    with pytest.raises(KeyRevoked):
        escrow.accept(later.envelope)
    view.accept(later.envelope)
    assert view.disowned(later) and not view.disowned(first)


@pytest.mark.req("KEY-004", "ERR-003")
def test_stranger_cannot_revoke_someone_elses_key(clock: FixedClock, alice: Party, bob: Party) -> None:
    """Bob's principal (who delegated nothing to Alice) 'revokes' Alice's key; expect
    REVOCATION_UNAUTHORIZED, and Alice keeps trading."""
    v = _verifier(alice, bob)
    before = verifier_state(v)
    with pytest.raises(RevocationUnauthorized) as err:
        v.accept(_revocation(bob, alice.did, clock.now_ms, by_principal=True).envelope)
    assert err.value.requirement == "KEY-004"
    assert verifier_state(v) == before
    v.accept(alice.offer(bob).envelope)


@pytest.mark.req("KEY-005")
def test_rotated_key_ends_its_chain(clock: FixedClock, alice: Party, bob: Party) -> None:
    """Alice's agent rotates to a new key at seq 1; a statement of the old key at seq 2 is KEY_REVOKED,
    even one issued earlier in time."""
    v = _verifier(alice, bob, evidence_view=False)
    v.accept(alice.offer(bob).envelope)  # seq 0
    new_key = Party("alice-2", clock).did
    v.accept(alice.sign("key_rotation", identity_pb2.KeyRotation(new_key=new_key)).envelope)  # seq 1
    with pytest.raises(KeyRevoked) as err:
        v.accept(alice.offer(bob, issued_at_ms=clock.now_ms).envelope)  # seq 2
    assert err.value.requirement == "KEY-005"


# --- ATT-001, ATT-002: attestations -----------------------------------------------------------------


@pytest.mark.req("ATT-001")
def test_party_to_a_co_signed_contract_may_attest_about_the_other(
    alice: Party, bob: Party, auditor: Verifier
) -> None:
    """After the contract, Alice attests about Bob and Bob about Alice; expect both admissible."""
    offer, accept = _trade(alice, bob)
    _accept_all(auditor, offer, accept)
    auditor.accept(alice.attest(offer, accept, bob.did).envelope)
    auditor.accept(bob.attest(offer, accept, alice.did, reputation_pb2.OUTCOME_LATE).envelope)


@pytest.mark.req("ATT-001")
def test_attestation_without_the_contract_is_inadmissible(
    alice: Party, bob: Party, auditor: Verifier
) -> None:
    """Alice rates Bob for a contract the verifier never saw (a fake review); expect
    ATTESTATION_INADMISSIBLE."""
    offer, accept = _trade(alice, bob)
    auditor.accept(offer.envelope)  # the Accept is missing
    with pytest.raises(AttestationInadmissible) as err:
        auditor.accept(alice.attest(offer, accept, bob.did).envelope)
    assert err.value.requirement == "ATT-001"


@pytest.mark.req("ATT-001")
@pytest.mark.parametrize("case", ["outsider", "about-self", "about-outsider", "mismatched-offer"])
def test_attestation_must_come_from_one_party_about_the_other(
    clock: FixedClock, alice: Party, bob: Party, auditor: Verifier, case: str
) -> None:
    """Carol (no party) rates Bob; Alice rates herself; Alice rates Carol; Alice names another offer
    with this Accept; expect ATTESTATION_INADMISSIBLE each time."""
    carol = Party("carol", clock)
    auditor.accept(carol.setup[0])
    offer, accept = _trade(alice, bob)
    other = alice.offer(bob)
    _accept_all(auditor, offer, accept, other)
    attestation = {
        "outsider": lambda: carol.attest(offer, accept, bob.did),
        "about-self": lambda: alice.attest(offer, accept, alice.did),
        "about-outsider": lambda: alice.attest(offer, accept, carol.did),
        "mismatched-offer": lambda: alice.attest(other, accept, bob.did),
    }[case]()
    with pytest.raises(AttestationInadmissible):
        auditor.accept(attestation.envelope)


@pytest.mark.req("ATT-002")
def test_one_attestation_per_party_per_contract(alice: Party, bob: Party, auditor: Verifier) -> None:
    """Alice rates Bob twice for one contract (review bombing); expect the second inadmissible, while
    a rating for a second contract is fine."""
    offer, accept = _trade(alice, bob)
    offer2, accept2 = _trade(alice, bob)
    _accept_all(auditor, offer, accept, offer2, accept2, alice.attest(offer, accept, bob.did))
    with pytest.raises(AttestationInadmissible) as err:
        auditor.accept(alice.attest(offer, accept, bob.did, reputation_pb2.OUTCOME_BREACHED).envelope)
    assert err.value.requirement == "ATT-002"
    auditor.accept(alice.attest(offer2, accept2, bob.did).envelope)


# --- transcripts -----------------------------------------------------------------------------------


@pytest.mark.req("CHN-001", "CHN-002", "TIM-005")
def test_full_trade_transcript_verifies_offline_and_live() -> None:
    """The testing module's full trade: offline with complete chains, and live at the final clock."""
    alice, bob, statements = full_trade()
    envelopes = [*alice.setup, *bob.setup, *(vs.envelope for vs in statements)]
    for now in (None, alice.clock.now_ms):
        report = verify_transcript(envelopes, now_ms=now, complete_chains=True)
        assert report.valid and report.error is None and report.failed_index is None
        assert len(report.statements) == len(envelopes)
        neg = report.verifier.negotiations.get(statements[0].header.negotiation_id)
        assert neg.state.value == "FULFILLED"


@pytest.mark.req("ERR-001", "RPL-002")
def test_transcript_stops_at_the_first_failure_and_reports_it() -> None:
    """A transcript with one envelope repeated; expect REPLAYED at that index and only the earlier
    statements accepted."""
    alice, bob, statements = full_trade()
    envelopes = [*alice.setup, *bob.setup, *(vs.envelope for vs in statements)]
    envelopes.insert(4, envelopes[3])
    report = verify_transcript(envelopes)
    assert not report.valid
    assert report.failed_index == 4
    assert report.error is not None and report.error.code == "REPLAYED"
    assert len(report.statements) == 4


@pytest.mark.req("TIM-001", "TIM-005")
def test_transcript_checked_a_year_later_is_expired_only_at_that_reference_time() -> None:
    """Evidence verified a year later with now_ms set: EXPIRED; without now_ms: valid."""
    alice, bob, statements = full_trade()
    envelopes = [*alice.setup, *bob.setup, *(vs.envelope for vs in statements)]
    late = verify_transcript(envelopes, now_ms=alice.clock.now_ms + 400 * DAY_MS)
    assert isinstance(late.error, Expired)
    assert verify_transcript(envelopes).valid


# --- ERR-002: contextual steps in order -------------------------------------------------------------


@pytest.mark.req("ERR-002", "STM-005", "KEY-004")
def test_wrong_audience_is_reported_before_a_revoked_key(clock: FixedClock, alice: Party, bob: Party) -> None:
    """Step 21 (audience) and step 22 (revoked key) both fail; expect WRONG_AUDIENCE."""
    carol = Party("carol", clock)
    v = _verifier(alice, me=carol)
    v.accept(_revocation(alice, alice.did, clock.now_ms).envelope)  # public: Carol records it
    with pytest.raises(WrongAudience):
        v.accept(alice.offer(bob).envelope)


@pytest.mark.req("ERR-002", "KEY-004", "MND-002")
def test_revoked_key_is_reported_before_an_unknown_mandate(
    clock: FixedClock, alice: Party, bob: Party
) -> None:
    """Step 22 (revoked) and step 23 (mandate unknown) both fail; expect KEY_REVOKED (at an escrow: a view
    of evidence holds a statement of a negotiation a revocation would reject, KEY-009 (c))."""
    v = Verifier(evidence_view=False)
    revocation = alice.agent.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=alice.did, effective_ms=clock.now_ms)
    )
    v.accept(revocation.envelope)  # a key may revoke itself on its own authority
    with pytest.raises(KeyRevoked):
        v.accept(alice.offer(bob).envelope)  # and Alice's mandate is unknown to v


@pytest.mark.req("ERR-002", "MND-012", "MND-002")
def test_revoked_principal_is_reported_before_a_mandate_bound_to_another_agent(
    clock: FixedClock, alice: Party, bob: Party
) -> None:
    """Bob cites Alice's mandate (bound to Alice's key) after Alice's principal revoked its own key;
    within step 23 the principal check comes before the binding: expect KEY_REVOKED (MND-012) at an escrow
    taking evidence (a view of evidence holds what MND-012 would reject, KEY-009 (c))."""
    v = _verifier(alice, bob, evidence_view=False)
    revocation = alice.principal.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=alice.principal.did, effective_ms=clock.now_ms)
    )
    v.accept(revocation.envelope)
    stolen = bob.sign(
        "offer",
        bob.proposal(),
        audience=alice.did,
        mandate=alice.mandate_vs.digest,
    )
    with pytest.raises(KeyRevoked) as err:
        v.accept(stolen.envelope)
    assert err.value.requirement == "MND-012"


@pytest.mark.req("ERR-002", "MND-002", "TIM-001")
def test_unknown_mandate_is_reported_before_expiry(alice: Party, bob: Party) -> None:
    """Step 23 (mandate unknown) and step 25 (expired) both fail; expect MANDATE_UNKNOWN."""
    offer = alice.offer(bob)
    with pytest.raises(MandateUnknown):
        Verifier().accept(offer.envelope, now_ms=offer.header.expires_at_ms + 10 * DAY_MS)


@pytest.mark.req("ERR-002", "MND-007", "TIM-001")
def test_mandate_content_is_reported_before_expiry(alice: Party, bob: Party) -> None:
    """Step 24 (currency outside the mandate) and step 25 (expired) both fail; expect MANDATE_VIOLATION."""
    proposal = alice.proposal()
    proposal.terms.currency = "usd"
    offer = alice.offer(bob, proposal)
    with pytest.raises(MandateViolation):
        _verifier(alice).accept(offer.envelope, now_ms=offer.header.expires_at_ms + 10 * DAY_MS)


@pytest.mark.req("ERR-002", "TIM-001", "RPL-002")
def test_expiry_is_reported_before_a_replay(alice: Party, bob: Party) -> None:
    """An accepted offer is replayed after it expired; expect EXPIRED (step 25) rather than REPLAYED."""
    v = _verifier(alice, me=bob)
    offer = alice.offer(bob)
    v.accept(offer.envelope, now_ms=offer.header.issued_at_ms)
    with pytest.raises(Expired):
        v.accept(offer.envelope, now_ms=offer.header.expires_at_ms + 60_001)


@pytest.mark.req("ERR-002", "RPL-001", "CHN-004")
def test_nonce_reuse_is_reported_before_equivocation(alice: Party, bob: Party) -> None:
    """A second statement at a used seq with the same nonce: step 26 (NONCE_REUSED) before step 27."""
    v = _verifier(alice, bob)
    offer = alice.offer(bob)
    v.accept(offer.envelope)
    stmt = Statement()
    stmt.CopyFrom(offer.statement)
    stmt.offer.gives[0].value += 1  # same seq, prev and nonce; different content
    with pytest.raises(CoopError) as err:
        v.accept(sign_payload(encode_statement(stmt), alice.agent.key))
    assert err.value.code == "NONCE_REUSED"


@pytest.mark.req("ERR-002", "CHN-004", "NEG-006")
def test_equivocation_is_reported_before_the_negotiation_rule(alice: Party, bob: Party) -> None:
    """Bob signs a second Accept at the seq of his first (a fork that is also a second acceptance);
    expect EQUIVOCATION (step 27) rather than ILLEGAL_TRANSITION (step 28)."""
    v = _verifier(alice, bob)
    offer = alice.offer(bob)
    accept = bob.accept(offer)
    _accept_all(v, offer, accept)
    stmt = Statement()
    stmt.CopyFrom(accept.statement)
    stmt.header.nonce = b"\x42" * 16
    with pytest.raises(CoopError) as err:
        v.accept(sign_payload(encode_statement(stmt), bob.agent.key))
    assert err.value.code == "EQUIVOCATION"


@pytest.mark.req("ERR-002", "NEG-003", "MND-010")
def test_negotiation_rule_is_reported_before_the_exposure_cap(clock: FixedClock, bob: Party) -> None:
    """An offer to nobody that would also break max_outstanding: step 28 (WRONG_PARTY) before step 29."""
    alice = Party("alice", clock, mandate_caps={"max_outstanding": 10})
    v = _verifier(alice, bob)
    public = alice.sign("offer", alice.proposal())
    with pytest.raises(WrongParty):
        v.accept(public.envelope)


# --- ERR-003: rejection changes nothing ---------------------------------------------------------------


def _rejections(alice: Party, bob: Party) -> dict[str, Callable[[Verifier], VerifiedStatement]]:
    """Statements that fail at different steps, each after some legitimate history."""

    def over_cap(v: Verifier) -> VerifiedStatement:  # step 29
        proposal = alice.proposal()
        proposal.gives[0].value = 1_600  # 1_500 already at stake: beyond max_outstanding 3_000
        return alice.offer(bob, proposal)

    def second_accept(v: Verifier) -> VerifiedStatement:  # step 28
        # after the offer expired: a second answer within its life would be taken superseded (NEG-021)
        offer = v.negotiations.get(next(iter(v.negotiations.by_id))).outstanding
        return bob.accept(offer, issued_at_ms=offer.expires_at_ms + 1)

    def fork(v: Verifier) -> VerifiedStatement:  # step 27
        last = max(v.chains[alice.did].links)
        stmt = Statement()
        stmt.CopyFrom(v.statements[v.chains[alice.did].links[last].digest].statement)
        stmt.header.nonce = b"\x43" * 16
        return VerifiedStatement(sign_payload(encode_statement(stmt), alice.agent.key), b"", stmt, "offer")

    def double_rating(v: Verifier) -> VerifiedStatement:  # step 31
        neg = v.negotiations.get(next(iter(v.negotiations.by_id)))
        assert neg.contract is not None
        return alice.attest(neg.contract.offer, neg.contract.accept, bob.did)

    def over_budget_accept(v: Verifier) -> VerifiedStatement:  # step 24 (acceptor's cap)
        proposal = alice.proposal()
        proposal.wants[0].value = 20_000
        offer = alice.offer(bob, proposal)
        v.accept(offer.envelope)
        return bob.accept(offer)

    return {
        "exposure cap": over_cap,
        "second accept": second_accept,
        "fork": fork,
        "second attestation": double_rating,
        "acceptor over max_per_deal": over_budget_accept,
    }


REJECTIONS = {
    "exposure cap": ("MANDATE_VIOLATION", "MND-010"),
    "second accept": ("ILLEGAL_TRANSITION", "NEG-006"),
    "fork": ("EQUIVOCATION", "CHN-004"),
    "second attestation": ("ATTESTATION_INADMISSIBLE", "ATT-002"),
    "acceptor over max_per_deal": ("MANDATE_VIOLATION", "MND-004"),
}


@pytest.mark.req("ERR-003")
@pytest.mark.parametrize("case", sorted(REJECTIONS))
def test_rejected_statement_changes_no_state(clock: FixedClock, bob: Party, escrow: Party, case: str) -> None:
    """With offers, a contract and an attestation on record, a statement fails late in the procedure;
    expect chains, replay cache, negotiations, exposure, attestations and mandates exactly as before,
    and the same statement still refused the second time (nothing half-recorded)."""
    alice = Party("alice", clock, mandate_caps={"max_outstanding": 3_000})
    v = _verifier(alice, bob, escrow)
    offer, accept = _trade(alice, bob)
    _accept_all(v, offer, accept, alice.offer(bob), alice.offer(bob), alice.attest(offer, accept, bob.did))
    bad = _rejections(alice, bob)[case](v)
    before = verifier_state(v)
    with pytest.raises(CoopError) as first:
        v.accept(bad.envelope)
    assert verifier_state(v) == before
    with pytest.raises(CoopError) as second:
        v.accept(bad.envelope)
    assert (first.value.code, first.value.requirement) == REJECTIONS[case]
    assert second.value.code == first.value.code


@pytest.mark.req("ERR-003", "MND-010")
def test_rejected_first_offer_leaves_no_exposure_record(clock: FixedClock, bob: Party) -> None:
    """The very first statement under a mandate breaks its cap; expect not even an empty exposure entry."""
    alice = Party("alice", clock, mandate_caps={"max_outstanding": 10})
    v = _verifier(alice, bob)
    before = verifier_state(v)
    with pytest.raises(MandateViolation):
        v.accept(alice.offer(bob).envelope)
    assert verifier_state(v) == before
    assert v.exposure.by_mandate == {}


@pytest.mark.req("ERR-003", "MND-011")
def test_check_alone_never_records(alice: Party, bob: Party, auditor: Verifier) -> None:
    """Verifier.check on a valid offer (the guard's question 'may I send this?'); expect no change."""
    before = verifier_state(auditor)
    auditor.check(alice.offer(bob))
    assert verifier_state(auditor) == before


@pytest.mark.req("TIM-006", "TIM-005")
def test_statement_addressed_to_us_dated_further_back_than_the_skew_is_refused_live(
    clock: FixedClock, alice: Party, bob: Party
) -> None:
    """Bob's verifier receives Alice's offer live, issued exactly skew ms before its clock (accepted) and
    1 ms earlier (ISSUED_IN_PAST); the same old offer handed over as context (no clock, TIM-005), or
    addressed to someone else and read by an auditor, is accepted."""
    skew = 30_000
    late = alice.offer(bob, issued_at_ms=clock.now_ms - skew - 1, ttl_ms=DAY_MS)
    on_time = alice.offer(bob, issued_at_ms=clock.now_ms - skew)
    live = Verifier(me=bob.did, skew_ms=skew)
    live.accept(alice.setup[0])
    live.accept(on_time.envelope, now_ms=clock.now_ms)
    with pytest.raises(IssuedInPast) as err:
        live.accept(late.envelope, now_ms=clock.now_ms)
    assert err.value.requirement == "TIM-006"
    live.accept(late.envelope)  # as context: evidence is old by nature
    auditor = Verifier(skew_ms=skew)
    auditor.accept(alice.setup[0])
    auditor.accept(late.envelope, now_ms=clock.now_ms)  # an auditor is nobody's audience


# --- check, then commit: one classification ---------------------------------------------------------


def test_recording_our_checked_statement_classifies_it_once(
    clock: FixedClock, alice: Party, bob: Party, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The policy guard checks the unsigned candidate, then records the signed statement: the commit
    takes the event the check found (same digest, negotiation unmoved), so the state machine
    classifies the statement once, and the negotiation still moves."""
    from a2a_coop.protocol.negotiation import Negotiation, State
    from a2a_coop.protocol.statements import candidate

    offer, accept = _trade(alice, bob)
    v = _verifier(alice, bob, me=bob)
    v.accept(offer.envelope, clock.now_ms)
    calls = []
    classify = Negotiation._classify
    monkeypatch.setattr(
        Negotiation, "_classify", lambda self, vs, state: calls.append(vs.body) or classify(self, vs, state)
    )
    v.check(candidate(accept.statement, bob.did), clock.now_ms, ours=True)
    v.record(accept)
    assert calls == ["accept"]
    assert v.negotiations.get(offer.header.negotiation_id).state is State.ACCEPTED


def test_recording_after_the_negotiation_moved_classifies_again(
    clock: FixedClock, alice: Party, bob: Party
) -> None:
    """A negotiation that moved between the check and the commit (here: the offer lapsed) is not
    committed on the stale event: the statement is classified again and refused."""
    from a2a_coop.protocol.errors import IllegalTransition
    from a2a_coop.protocol.statements import candidate

    offer, accept = _trade(alice, bob)
    v = _verifier(alice, bob, me=bob)
    v.accept(offer.envelope, clock.now_ms)
    v.check(candidate(accept.statement, bob.did), clock.now_ms, ours=True)
    assert v.negotiations.get(offer.header.negotiation_id).expire_due(offer.header.expires_at_ms + 1)
    with pytest.raises(IllegalTransition):
        v.record(accept)


@pytest.mark.req("RPC-006")
def test_a_key_revoked_refusal_carries_the_same_revocation_whatever_order_they_were_held_in(
    clock: FixedClock, alice: Party, bob: Party
) -> None:
    """RPC-006 (a): two revocations of Alice's key by her principal, reaching her Offer from one time,
    held in either order: the refusal carries the one of lower digest, and its reach, in both (the first
    held was the evidence before)."""
    t = clock.now_ms
    first = alice.principal.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=alice.did, effective_ms=t + 1000, reason="a")
    )
    second = alice.principal.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=alice.did, effective_ms=t + 1000, reason="b")
    )
    binding = alice.sign("checkpoint", identity_pb2.Checkpoint())  # KEY-007: P may revoke her key
    offer = alice.offer(bob, issued_at_ms=t + 1000)
    carried = []
    for order in ((first, second), (second, first)):
        v = _verifier(alice, bob, evidence_view=False)
        _accept_all(v, binding, *order)
        with pytest.raises(KeyRevoked) as err:
            v.accept(offer.envelope)
        assert (err.value.requirement, err.value.reach_ms) == ("KEY-004", t + 1000)
        carried.append(err.value.evidence)
    lowest = min((first, second), key=lambda r: r.digest)
    assert carried == [(lowest.envelope,), (lowest.envelope,)]
