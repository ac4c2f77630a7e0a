"""Attacker's pass 20: the trust model's core again -- who may end a key (a KeyRevocation, a KeyRotation)
and from when, which clock decides a deadline, which escrow's Stamp witnesses a statement, what a
renewal or a second Accept changes mid-contract -- asked who chose each value a rule relies on (a time,
a key, a seq, an id, an order) and what a liar gains: a bond stolen, locked or wrongly forfeited, a
breach upheld or dismissed wrongly, an honest Delivery or Receipt that stops counting, an audit fooled
into a clean verdict (SPEC 3.3, 3.4, 9.2, 9.5, 9.6, 16.14).

Mallory is the attacker; a test marked ``xfail(strict=True)`` is a hole this version still has, its
reason naming the options.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from peers import escrow_node
from test_attack13 import _ratings

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2, reputation_pb2, trade_pb2
from a2a_coop.protocol.errors import CoopError, KeyRevoked
from a2a_coop.protocol.escrow import Escrow
from a2a_coop.protocol.escrow_audit import audit_ledger
from a2a_coop.protocol.merkle import root as merkle_root
from a2a_coop.protocol.negotiation import DEFAULT_RESPONSE_WINDOW_MS
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.protocol.verifier import Verifier
from a2a_coop.runtime.node import EscrowNode
from a2a_coop.testing import DAY_MS, FixedClock, LocalEscrow, Party, bonded_trade
from conformance.generate_vectors.key_time import (
    gap_in_mallorys_chain,
    rotated_back_to_seq_1,
    rotated_below_a_stamped_one,
)

BOND = 100


def _observe(envelopes: list[bytes]) -> Verifier:
    """A third party's view fed ``envelopes`` in order, skipping what it refuses (an observer)."""
    v = Verifier()
    for e in envelopes:
        with contextlib.suppress(CoopError):
            v.accept(e)
    return v


# --- 1: a KeyRotation slipped into a gap of the chain below a breached contract's Accept -----------------


def _rotated_back_after_a_breach(
    clock: FixedClock,
) -> tuple[Party, Party, Party, list[VerifiedStatement], VerifiedStatement]:
    """Mallory's key signs three statements (offers to Carol, seq 0 to 2: seq 1 and 2 no view of the
    breach will hold -- or she skips them), then accepts Bob's bonded offer at the escrow (seq 3), which
    stamps it and locks both bonds; she never delivers, the escrow upholds Bob's claim and forfeits her
    bond, Bob attests her BREACHED. Then her key signs a KeyRotation at seq 1, dated between seq 0 and the
    Accept, so that no chain check refuses it (CHN-003: seq 0 is its predecessor, seq 2 is held by
    nobody but Carol; CHN-005: its time fits). KEY-005 makes a rotation at seq n refuse every statement
    of the key above n."""
    bob, mallory, _, escrow, first = gap_in_mallorys_chain(clock)
    log = bonded_trade(bob, mallory, escrow, clock, breach=True, witnessed=True)
    accept, attestation = log[2], log[-1]
    assert accept.body == "accept" and accept.issuer == mallory.did and accept.header.seq == 3
    assert attestation.statement.attestation.outcome == reputation_pb2.OUTCOME_BREACHED
    rotation = rotated_back_to_seq_1(mallory, first, accept, clock)
    return bob, mallory, escrow, [first, *log], rotation


@pytest.mark.req("KEY-005", "KEY-009", "ATT-020")
def test_a_rotation_signed_back_into_the_chain_does_not_erase_a_breach_from_a_view() -> None:
    """Attack: as the revocation dated back to the Accept (tests/test_attack13.py), but with a KeyRotation
    -- the key's own word, whose place in the chain (its seq) and time the key chose. A view that heard
    the rotation before Bob's evidence refused her Accept (KEY_REVOKED, KEY-005: seq 2 > 1) and weighed
    Bob's attestation nothing, while one that heard Bob first kept the breach: the breacher chooses, per
    viewer, whether its breach exists. Defence wanted: the escrow's Stamps decide, as KEY-009 says for
    revocations -- a view of evidence takes a statement its escrow stamped before it stamped any
    rotation of its key that would end it (here the escrow never saw the rotation)."""
    clock = FixedClock()
    bob, mallory, escrow, log, rotation = _rotated_back_after_a_breach(clock)
    evidence = [*bob.setup, *mallory.setup, *escrow.setup, *(vs.envelope for vs in log)]
    expected = [(bob.principal.did, mallory.principal.did, BOND, 0.0)]
    assert _ratings(_observe(evidence), escrow.did) == expected
    for at in range(len(evidence) + 1):
        heard = _observe([*evidence[:at], rotation.envelope, *evidence[at:]])
        assert _ratings(heard, escrow.did) == expected, at


@pytest.mark.req("KEY-005", "KEY-009", "ATT-020")
def test_a_rotation_the_escrow_stamped_after_the_contract_leaves_the_breach_in_every_order() -> None:
    """The same, with the rotation shown to the escrow too, which stamped it after the contract's Stamp:
    the escrow acted on her Accept before it knew of the rotation, so the breach stands in every view,
    whichever order it heard the rotation and its Stamp in."""
    clock = FixedClock()
    bob, mallory, escrow, log, rotation = _rotated_back_after_a_breach(clock)
    later = escrow.sign("stamp", commitment_pb2.Stamp(statements=[rotation.digest]))
    evidence = [*bob.setup, *mallory.setup, *escrow.setup, *(vs.envelope for vs in log)]
    expected = [(bob.principal.did, mallory.principal.did, BOND, 0.0)]
    for at in range(len(evidence) + 1):
        for stamp_first in (True, False):
            added = [later.envelope, rotation.envelope]
            if not stamp_first:
                added.reverse()
            heard = _observe([*evidence[:at], *added, *evidence[at:]])
            assert _ratings(heard, escrow.did) == expected, (at, stamp_first)


@pytest.mark.req("KEY-005", "KEY-009")
def test_a_live_receiver_still_refuses_a_statement_above_a_rotation() -> None:
    """KEY-009's exception is for views of evidence only: a live receiver holding Mallory's rotation at
    seq 1 refuses her Accept at seq 3 (KEY_REVOKED, KEY-005) even though the escrow stamped it first --
    it trades with no key past its chain's end."""
    clock = FixedClock()
    bob, mallory, escrow, log, rotation = _rotated_back_after_a_breach(clock)
    v = Verifier(evidence_view=False)
    for e in [*bob.setup, *mallory.setup, *escrow.setup, log[0].envelope, rotation.envelope, log[1].envelope]:
        v.accept(e)
    stamp, offer, accept = log[1], log[2], log[3]
    assert stamp.body == "stamp" and offer.body == "offer" and accept.body == "accept"
    v.accept(offer.envelope)
    with pytest.raises(KeyRevoked) as err:
        v.accept(accept.envelope)
    assert err.value.requirement == "KEY-005"


# --- 2: a thief's Revoke dated before the principal's revocation, submitted after it ------------------------

FUNDS = 1_000


def _revocable_contract(
    clock: FixedClock,
) -> tuple[Party, Party, LocalEscrow, VerifiedStatement, VerifiedStatement]:
    """Bob offers Alice a bonded trade whose terms let a revoker leave at the price of its bond
    (forfeit_bond); Alice accepts, the escrow locks both bonds, and Alice delivers (stamped)."""
    alice, bob = Party("alice", clock), Party("bob", clock)
    escrow = LocalEscrow(Party("escrow", clock), funds={alice.did: FUNDS, bob.did: FUNDS})
    revocable = trade_pb2.Revocation(allowed=True, forfeit_bond=True)
    offer = bob.offer(
        alice, bob.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did, revocation=revocable)
    )
    clock.advance(1_000)
    accept = alice.accept(offer)
    assert [
        verify_statement(e).body
        for e in escrow.submit([*alice.setup, *bob.setup, offer.envelope, accept.envelope])
    ][-2:] == ["bond_lock", "bond_lock"]
    clock.advance(1_000)
    delivery = alice.deliver(accept, bob)
    escrow.submit([delivery.envelope])
    return alice, bob, escrow, offer, accept


def _thief_races_the_principal(clock: FixedClock) -> tuple[Party, LocalEscrow, VerifiedStatement]:
    """An hour after Alice delivered, her key is stolen; her principal notices at once and revokes it
    from then (effective_ms = the theft), and the escrow takes the revocation. Five seconds later the
    thief signs a Revoke of Alice's contract dated a millisecond after her Delivery -- before the
    revocation's effective_ms, and after every statement of the key the escrow holds, so no chain check
    refuses it. Returns Alice, the escrow and the thief's Revoke."""
    alice, bob, escrow, _, accept = _revocable_contract(clock)
    delivery_at = clock.now_ms
    clock.advance(3_600_000)
    revocation = alice.principal.sign(
        "key_revocation",
        identity_pb2.KeyRevocation(key=alice.did, effective_ms=clock.now_ms, reason="stolen"),
    )
    escrow.submit([revocation.envelope])
    clock.advance(5_000)
    thief_revoke = alice.revoke(accept, bob, "the thief's", issued_at_ms=delivery_at + 1)
    return alice, escrow, thief_revoke


@pytest.mark.req("KEY-010", "KEY-004", "WIT-005", "CMT-003")
def test_a_thiefs_revoke_dated_before_the_principals_revocation_forfeits_no_bond() -> None:
    """Attack: the stolen key races its principal's revocation -- and wins while arriving second. KEY-004
    compared the revocation's effective_ms with the Revoke's own issued_at_ms, which the thief chose: the
    escrow took the Revoke (stamped after the revocation) and forfeited Alice's bond to Bob (900 / 1,100),
    its audit clean. Defence: a Revoke (and a BreachClaim) takes effect at its escrow's Stamp (WIT-005),
    so that Stamp's time is what KEY-010 compares: the escrow refuses it KEY_REVOKED, and no bond moves."""
    clock = FixedClock()
    alice, escrow, thief_revoke = _thief_races_the_principal(clock)
    with pytest.raises(KeyRevoked) as err:
        escrow.submit([thief_revoke.envelope])
    assert err.value.requirement == "KEY-010"
    clock.advance(60_000)
    escrow.tick()
    assert escrow.get_balance(alice.did)[:2] == (FUNDS - BOND, BOND)  # still locked, nothing forfeited
    assert audit_ledger(escrow.escrow.transcript()).ok


@pytest.mark.req("KEY-010", "AUD-003")
def test_the_audit_names_an_escrow_that_took_a_revoke_after_its_keys_revocation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The audit's side: an escrow running the old rule (KEY-004 on the Revoke's own date) takes the
    thief's Revoke and forfeits Alice's bond; the audit, replaying its evidence in its order by the
    rules, refuses that Revoke (KEY_REVOKED) and reports the Forfeit resting on it."""
    clock = FixedClock()
    with monkeypatch.context() as m:
        m.setattr(Verifier, "_check_revoked_at_stamp", lambda self, vs, record: None, raising=False)
        alice, escrow, thief_revoke = _thief_races_the_principal(clock)
        escrow.submit([thief_revoke.envelope])
        clock.advance(60_000)
        escrow.tick()
    assert escrow.get_balance(alice.did)[0] == FUNDS - BOND  # the faulty escrow forfeited her bond
    report = audit_ledger(escrow.escrow.transcript())
    codes = {f.code for f in report.findings}
    assert not report.ok and "KEY_REVOKED" in codes and "FORFEIT_WITHOUT_CAUSE" in codes, codes


@pytest.mark.req("KEY-010", "KEY-004")
def test_a_revoke_the_escrow_stamped_before_the_revocation_still_counts() -> None:
    """The other side: Alice's own Revoke, stamped before her principal revokes her key (effective from
    before the Revoke's date), stays effective -- the escrow acted on it before it knew -- and a later
    revocation moves no bond back; nor does KEY-010 refuse a party's statement of no Stamp-timed effect
    (her Receipt of Bob's Delivery, dated before the revocation and submitted after it)."""
    clock = FixedClock()
    alice, bob, escrow, _, accept = _revocable_contract(clock)
    clock.advance(1_000)
    own = alice.revoke(accept, bob, "changed plans")
    escrow.submit([own.envelope])
    assert escrow.get_balance(alice.did)[:2] == (FUNDS - BOND, 0)  # forfeited to Bob (CMT-003)
    clock.advance(1_000)
    revocation = alice.principal.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=alice.did, effective_ms=own.issued_at_ms - 1)
    )
    escrow.submit([revocation.envelope])
    assert escrow.get_balance(alice.did)[:2] == (FUNDS - BOND, 0)
    assert audit_ledger(escrow.escrow.transcript()).ok


@pytest.mark.req("KEY-010", "KEY-011", "KEY-004")
@pytest.mark.parametrize("stamped_after_ms", [0, 1])
def test_a_statement_below_the_keys_own_revocation_is_timed_by_the_stamp_alone(stamped_after_ms: int) -> None:
    """Alice's key signs a Revoke of her contract and, in the same millisecond, its own revocation, the next
    link of its chain; the escrow takes the revocation, then the Revoke, stamping it in that millisecond or
    the next. KEY-004 reaches none of the key's statements below its own revocation (KEY-011 (a)), but
    KEY-010 compares the escrow's Stamp with the revocation's reach time, seq aside (KEY-011 (d)): refused
    either way, no bond forfeited. The reference took the Revoke stamped in the revocation's own millisecond
    (it skipped KEY-010 for a Stamp no later than the statement's own time, taking KEY-004 to have covered
    it) and refused the one stamped a millisecond later -- and the second implementation, reading the rule as
    written, refused both, so an audit by it failed the reference escrow's transcript."""
    clock = FixedClock()
    alice, bob, escrow, _, accept = _revocable_contract(clock)
    clock.advance(1_000)
    revoke = alice.revoke(accept, bob, "retiring")
    own = alice.agent.sign(
        "key_revocation",
        identity_pb2.KeyRevocation(key=alice.did, effective_ms=clock.now_ms, reason="retired"),
    )
    assert own.seq == revoke.seq + 1 and own.issued_at_ms == revoke.issued_at_ms
    escrow.submit([own.envelope])
    clock.advance(stamped_after_ms)
    with pytest.raises(KeyRevoked) as err:
        escrow.submit([revoke.envelope])
    assert err.value.requirement == "KEY-010"
    assert escrow.get_balance(alice.did)[:2] == (FUNDS - BOND, BOND)  # still locked, nothing forfeited
    assert audit_ledger(escrow.escrow.transcript()).ok


# --- 3: a deadline inside the execution window, past the Mandate's validity ---------------------------------


def _long_trade(
    due_in_days: int, renewal_until_days: int | None = None
) -> tuple[Party, Party, LocalEscrow, VerifiedStatement, Verifier]:
    """Alice's principal gives her a Mandate valid for a day with an execution window of a week (and, if
    ``renewal_until_days``, a second Mandate valid from the first one's end to then); Mallory offers her
    a bonded trade whose items all fall due ``due_in_days`` days on. Returns Alice's guard's view (the
    Verifier her peer checks a candidate in, MND-011) holding the Mandates and the Offer."""
    clock = FixedClock()
    t0 = clock.now_ms
    alice = Party(
        "alice",
        clock,
        mandate_caps={"valid_until_ms": t0 + DAY_MS, "execution_window_end_ms": t0 + 7 * DAY_MS},
    )
    if renewal_until_days is not None:
        caps = {f.name: v for f, v in alice.mandate_vs.statement.mandate.ListFields()}
        caps.update(valid_from_ms=t0 + DAY_MS, valid_until_ms=t0 + renewal_until_days * DAY_MS)
        renewal = alice.principal.sign("mandate", identity_pb2.Mandate(**caps), ttl_ms=30 * DAY_MS)
        alice.setup.append(renewal.envelope)
    mallory = Party("mallory", clock)
    escrow = LocalEscrow(Party("escrow", clock), funds={alice.did: FUNDS, mallory.did: FUNDS})
    due = t0 + due_in_days * DAY_MS
    proposal = mallory.bonded_proposal(escrow.did, due, bond=BOND)
    offer = mallory.offer(alice, proposal)
    clock.advance(1_000)
    guard = Verifier(me=alice.did)
    for env in [*alice.setup, *mallory.setup, *escrow.party.setup, offer.envelope]:
        guard.accept(env, clock.now_ms)
    return alice, mallory, escrow, offer, guard


@pytest.mark.req("MND-019", "MND-003", "MND-008", "MND-011")
def test_a_deadline_past_the_victims_mandate_is_refused_by_its_guard() -> None:
    """Attack: Alice's principal gives her a Mandate valid for a day, with an execution window of a week
    (MND-008: deadlines she may agree to). Mallory offers her a bonded trade whose items fall due in three
    days -- inside the window. Had Alice accepted and delivered at once, and Mallory never delivered, her
    BreachClaim after the deadline, signed under her only Mandate, would be refused MANDATE_VIOLATION
    (MND-003: issued after valid_until_ms) -- shown below with the Accept signed past the guard -- and the
    bonds would go back to both: Mallory keeps the delivery and her bond. Defence (MND-019): Alice's guard
    signs no Offer, Counter or Accept under which an item of either side falls due, plus the claim window,
    at or after the end of her Mandates' validity: the Accept is refused, nothing is signed."""
    from a2a_coop.protocol.statements import candidate

    alice, mallory, escrow, offer, guard = _long_trade(3)
    clock = alice.clock
    accept = alice.accept(offer)  # what the guard is asked to sign, signed here past it
    with pytest.raises(CoopError) as refused:
        guard.check(candidate(accept.statement, alice.did), clock.now_ms, ours=True)
    assert (refused.value.code, refused.value.requirement) == ("MANDATE_VIOLATION", "MND-019")
    # Signed all the same (no guard), the claim would be refused under MND-003 -- shown in a view holding
    # the contract; an escrow following ESC-019 no longer bonds it (tests/test_attack21.py).
    with pytest.raises(CoopError) as unbonded:
        escrow.submit([*alice.setup, *mallory.setup, offer.envelope, accept.envelope])
    assert unbonded.value.requirement == "ESC-019"
    view = Verifier()
    for env in [*alice.setup, *mallory.setup, offer.envelope, accept.envelope]:
        view.accept(env)
    due = offer.statement.offer.wants[0].deadline_ms
    clock.now_ms = due + 60_000
    claim = alice.sign(
        "breach_claim",
        commitment_pb2.BreachClaim(contract=accept.digest, item_index=0, reason="never delivered"),
        audience=mallory.did,
        negotiation_id=offer.header.negotiation_id,
    )
    with pytest.raises(CoopError) as late:
        view.accept(claim.envelope)
    assert late.value.requirement == "MND-003"


@pytest.mark.req("MND-019", "MND-011")
@pytest.mark.parametrize(
    ("due_in_days", "renewal_until_days", "signs"),
    [
        (3, 5, True),  # a renewal joined to the first Mandate covers the deadline plus the claim window
        (3, 4, False),  # it ends exactly at the claim window's end: the last claim instant is not in it
        (3, None, False),
    ],
)
def test_the_guard_signs_a_long_contract_a_renewal_covers(
    due_in_days: int, renewal_until_days: int | None, signs: bool
) -> None:
    """Honest long contracts stay possible: the principal renews the Mandate (section 4.7) before the
    agent agrees to deadlines past its validity, and the guard counts the renewal's validity when it
    joins up with the one it signs under."""
    from a2a_coop.protocol.statements import candidate

    alice, _mallory, _escrow, offer, guard = _long_trade(due_in_days, renewal_until_days)
    cand = candidate(alice.accept(offer).statement, alice.did)
    if signs:
        guard.check(cand, alice.clock.now_ms, ours=True)
    else:
        with pytest.raises(CoopError, match="claim window"):
            guard.check(cand, alice.clock.now_ms, ours=True)


@pytest.mark.req("MND-019")
def test_the_claimable_check_is_the_guards_only() -> None:
    """MND-019 binds the signer's guard: a verifier (Alice's own view of a statement received, not
    signed by her) still takes the Accept -- it is inside MND-008's execution window."""
    alice, mallory, _escrow, offer, _guard = _long_trade(3)
    view = Verifier()
    for env in [*alice.setup, *mallory.setup, offer.envelope]:
        view.accept(env)
    view.accept(alice.accept(offer).envelope)


# --- 4: defences that hold --------------------------------------------------------------------------------


def _bonded_at_escrow(
    clock: FixedClock,
) -> tuple[Party, Party, LocalEscrow, VerifiedStatement, VerifiedStatement]:
    """Alice offers Mallory a bonded trade at the escrow; Mallory accepts; both bonds are locked."""
    alice, mallory = Party("alice", clock), Party("mallory", clock)
    escrow = LocalEscrow(Party("escrow", clock), funds={alice.did: FUNDS, mallory.did: FUNDS})
    offer = alice.offer(mallory, alice.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did))
    clock.advance(1_000)
    accept = mallory.accept(offer)
    escrow.submit([*alice.setup, *mallory.setup, offer.envelope, accept.envelope])
    return alice, mallory, escrow, offer, accept


def _claim(
    alice: Party, mallory: Party, escrow: LocalEscrow, offer: VerifiedStatement, accept: VerifiedStatement
) -> None:
    claim = alice.sign(
        "breach_claim",
        commitment_pb2.BreachClaim(contract=accept.digest, item_index=0, reason="never delivered"),
        audience=mallory.did,
        negotiation_id=offer.header.negotiation_id,
    )
    escrow.submit([claim.envelope])
    escrow.clock.advance(DEFAULT_RESPONSE_WINDOW_MS + 1_000)
    escrow.tick()


@pytest.mark.req("KEY-004", "MND-012", "KEY-009", "CMT-002")
@pytest.mark.parametrize("revoker", ["agent", "principal"])
def test_a_breacher_revoking_its_key_back_before_its_accept_at_the_escrow_keeps_no_bond(revoker: str) -> None:
    """Attack: both bonds locked, Alice delivered; Mallory never delivers and, before Alice's claim, shows
    the escrow a KeyRevocation of her own key (or her principal's own, MND-012) effective before her
    Accept, hoping the escrow disowns the contract and lapses both bonds back. Defence: the escrow took
    the Accept (and acted on it) before the revocation; a revocation moves no bond back: Alice's claim
    is upheld, Mallory's bond forfeited to her, the audit clean."""
    clock = FixedClock()
    alice, mallory, escrow, offer, accept = _bonded_at_escrow(clock)
    clock.advance(1_000)
    escrow.submit([alice.deliver(accept, mallory).envelope])
    clock.advance(1_000)
    signer, key = (
        (mallory.agent, mallory.did) if revoker == "agent" else (mallory.principal, mallory.principal.did)
    )
    disown = signer.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=key, effective_ms=offer.issued_at_ms - 1)
    )
    escrow.submit([disown.envelope])
    clock.advance(DAY_MS + 1_000)
    _claim(alice, mallory, escrow, offer, accept)
    assert (escrow.get_balance(alice.did)[0], escrow.get_balance(mallory.did)[0]) == (
        FUNDS + BOND,
        FUNDS - BOND,
    )
    assert audit_ledger(escrow.escrow.transcript()).ok


@pytest.mark.req("WIT-002", "WIT-003", "AUD-001")
def test_a_stamp_by_an_escrow_the_terms_do_not_name_makes_no_late_delivery_timely() -> None:
    """Attack: Mallory delivers an hour late, dating her Delivery at the deadline, and has a key of her
    own (an 'escrow' E2) sign a Stamp of it at the deadline; she submits both to the contract's escrow E1.
    Defence: only Stamps by the contract's escrow witness its statements (WIT-002): E1 stamps the
    Delivery an hour late, so it is no timely Delivery (WIT-003) and Alice's claim is upheld. E2's Stamp
    in E1's transcript makes an audit told no escrow say ESCROW_AMBIGUOUS (AUD-001: it does not pick);
    told E1, the audit is clean."""
    clock = FixedClock()
    alice, mallory, escrow, offer, accept = _bonded_at_escrow(clock)
    e2 = Party("mallory-escrow", clock)
    deadline = offer.statement.offer.wants[0].deadline_ms
    clock.now_ms = deadline + 3_600_000
    late = mallory.deliver(accept, alice, issued_at_ms=deadline)
    fake = e2.sign("stamp", commitment_pb2.Stamp(statements=[late.digest]), issued_at_ms=deadline)
    escrow.submit([*e2.setup, fake.envelope, late.envelope])
    _claim(alice, mallory, escrow, offer, accept)
    assert (escrow.get_balance(alice.did)[0], escrow.get_balance(mallory.did)[0]) == (
        FUNDS + BOND,
        FUNDS - BOND,
    )
    transcript = escrow.escrow.transcript()
    assert {f.code for f in audit_ledger(transcript).findings} == {"ESCROW_AMBIGUOUS"}
    assert audit_ledger(transcript, escrow=escrow.did).ok


@pytest.mark.req("KEY-010", "ESC-007")
def test_a_revoke_stamped_before_a_revocation_that_postdates_it_survives_a_restart(tmp_path: Path) -> None:
    """KEY-010 reads the Revoke's Stamp against the revocations held: an escrow rebuilt from its journal,
    or restored from its transcript, takes its statements again in their order, so the revocation taken
    after the Revoke does not make the rebuilt escrow refuse the Revoke it took (its state and transcript
    as before, a repeat of the Revoke answered, its audit clean)."""
    clock = FixedClock()
    alice, bob, party = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    path = tmp_path / "escrow.db"

    def node() -> EscrowNode:
        return escrow_node(party, clock, path)

    revocable = trade_pb2.Revocation(allowed=True, forfeit_bond=True)
    e = node()
    try:
        for p in (alice, bob):
            e.deposit(p.did, FUNDS)
        offer = bob.offer(
            alice, bob.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=party.did, revocation=revocable)
        )
        clock.advance(1_000)
        accept = alice.accept(offer)
        e.submit([*alice.setup, *bob.setup, offer.envelope, accept.envelope])
        clock.advance(1_000)
        own = alice.revoke(accept, bob, "changed plans")
        e.submit([own.envelope])
        clock.advance(1_000)
        revocation = alice.principal.sign(
            "key_revocation", identity_pb2.KeyRevocation(key=alice.did, effective_ms=own.issued_at_ms + 1)
        )
        e.submit([revocation.envelope])
        transcript = e.escrow.transcript()
        balances = (e.escrow.balance(alice.did), e.escrow.balance(bob.did))
    finally:
        e.close()
    again = node()
    try:
        assert again.escrow.transcript() == transcript
        assert (again.escrow.balance(alice.did), again.escrow.balance(bob.did)) == balances
        assert again.escrow.verifier.revoked[alice.did] == own.issued_at_ms + 1
        assert again.submit([own.envelope])  # ESC-007/WIT-006: answered, not refused
    finally:
        again.close()
    restored = Escrow(party.agent, party.mandate_vs.digest, setup=transcript)
    assert restored.transcript() == transcript
    assert audit_ledger(transcript, escrow=party.did).ok


@pytest.mark.req("KEY-010", "KEY-004", "WIT-004", "CMT-002")
@pytest.mark.parametrize("thief_signs", ["accept", "offer"])
def test_a_thiefs_commitment_dated_before_the_revocation_binds_no_bond(thief_signs: str) -> None:
    """Attack: the same race, for a whole bond. Alice's key once traded at the escrow (its Checkpoint
    there); it is stolen, and her principal revokes it from now; the escrow takes the revocation. A
    minute later the thief and Mallory, an accomplice, make a bonded contract at the escrow: Mallory's
    Offer to Alice's key and the thief's Accept (or the thief's Offer and Mallory's Accept), the thief's
    statement dated a second before the revocation's effective_ms -- after the key's Checkpoint, so
    no chain check refuses it. The escrow took the contract and locked Alice's funds, and a day later
    upheld Mallory's claim: Alice's bond was Mallory's (900 / 1,100), the audit clean. Defence: an
    Offer, Counter or Accept binds its issuer's bond when the escrow takes it (WIT-004), so KEY-010
    compares that Stamp with the revocation: the escrow refuses the thief's statement, locks nothing."""
    clock = FixedClock()
    alice, mallory = Party("alice", clock), Party("mallory", clock)
    escrow = LocalEscrow(Party("escrow", clock), funds={alice.did: FUNDS, mallory.did: FUNDS})
    escrow.submit([*alice.setup, alice.sign("checkpoint", identity_pb2.Checkpoint()).envelope])
    clock.advance(3_600_000)
    theft = clock.now_ms
    revocation = alice.principal.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=alice.did, effective_ms=theft, reason="stolen")
    )
    escrow.submit([revocation.envelope])
    clock.advance(60_000)
    if thief_signs == "accept":
        proposal = mallory.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did)
        offer = mallory.offer(alice, proposal, issued_at_ms=theft - 2_000)
        accept = alice.accept(offer, issued_at_ms=theft - 1_000)
    else:
        proposal = alice.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did)
        offer = alice.offer(mallory, proposal, issued_at_ms=theft - 1_000)
        accept = mallory.accept(offer)
    with pytest.raises(KeyRevoked) as err:
        escrow.submit([*mallory.setup, offer.envelope, accept.envelope])
    assert err.value.requirement == "KEY-010"
    clock.advance(DAY_MS + 60_000)
    escrow.tick()
    assert escrow.get_balance(alice.did)[:2] == (FUNDS, 0)
    assert audit_ledger(escrow.escrow.transcript()).ok


@pytest.mark.req("KEY-010", "NEG-012", "ESC-005")
def test_a_principal_revoking_its_key_after_its_accept_gains_no_more_than_an_unfunded_bond() -> None:
    """The price KEY-010 sets, asked from the other side: Mallory's key accepts Bob's bonded offer; before
    Bob submits the contract, her principal revokes the key from now and shows the escrow first. The
    escrow refuses her Accept (KEY-010: taken after the revocation) and locks nothing -- the way out
    Mallory already had by leaving her bond unfunded until the bonding cutoff (ESC-005, ESC-010). Bob
    delivered nothing (NEG-012: no Delivery before both locks), and no bond moves."""
    clock = FixedClock()
    bob, mallory = Party("bob", clock), Party("mallory", clock)
    escrow = LocalEscrow(Party("escrow", clock), funds={bob.did: FUNDS, mallory.did: FUNDS})
    offer = bob.offer(mallory, bob.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did))
    clock.advance(1_000)
    accept = mallory.accept(offer)
    clock.advance(1_000)
    binding = mallory.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([accept.digest])))
    escrow.submit([*mallory.setup, binding.envelope])
    revocation = mallory.principal.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=mallory.did, effective_ms=clock.now_ms)
    )
    escrow.submit([revocation.envelope])
    clock.advance(1_000)
    with pytest.raises(KeyRevoked):
        escrow.submit([*bob.setup, offer.envelope, accept.envelope])
    clock.advance(DAY_MS * 3)
    escrow.tick()
    assert escrow.get_balance(bob.did)[:2] == (FUNDS, 0) and escrow.get_balance(mallory.did)[:2] == (FUNDS, 0)
    assert audit_ledger(escrow.escrow.transcript()).ok


@pytest.mark.req("KEY-005", "KEY-009")
def test_a_rotation_signed_below_one_its_escrow_stamped_keeps_nothing_past_the_chains_end() -> None:
    """Attack: Mallory's key rotates at seq 3 and the escrow stamps the rotation; an escrow at fault then
    stamps her Accept at seq 4. A view disowns that Accept (KEY-005: the escrow knew the chain had ended,
    KEY-009; held, KEY-009 (c)). Mallory then signs a second rotation back at seq 1, which nobody stamped: a
    view that asked KEY-009 of the lowest rotation alone (the one that ends the chain) found it unstamped
    and counted the Accept. Defence: KEY-009 asks of each rotation held below the statement (keytime.json)."""
    r = rotated_below_a_stamped_one()  # the scenario keytime.json pins
    keys = [
        *r.bob.setup,
        *r.mallory.setup,
        *r.escrow.setup,
        r.first.envelope,
        r.high.envelope,
        r.low.envelope,
    ]
    v = _observe([*keys, r.high_stamp.envelope, r.contract.envelope, r.offer.envelope])
    v.accept(r.accept.envelope)  # held, weighed by disowned (KEY-009 (c))
    assert v.disowned(verify_statement(r.accept.envelope))


@pytest.mark.req("WIT-002", "WIT-003")
def test_a_delivery_nobody_witnessed_has_no_witnessed_time_and_is_not_timely() -> None:
    """WIT-002 as worded since newuser16: a statement with no Stamp by its contract's escrow and no Ack
    or Receipt by its audience has no witnessed time, and counts as not witnessed by any bound -- never
    as witnessed at its own issued_at_ms. A Delivery dated before its deadline is not timely (WIT-003)
    until its audience's Ack of it is held."""
    clock = FixedClock()
    alice, mallory, esc = Party("alice", clock), Party("mallory", clock), Party("escrow", clock)
    offer = alice.offer(mallory, alice.proposal(escrow=esc.did))
    clock.advance(1_000)
    accept = mallory.accept(offer)
    clock.now_ms = offer.statement.offer.wants[0].deadline_ms - 1_000
    delivery = mallory.deliver(accept, alice)
    v = Verifier()
    for env in [*alice.setup, *mallory.setup, *esc.setup, offer.envelope, accept.envelope, delivery.envelope]:
        v.accept(env)
    contract = v.negotiations.get(offer.header.negotiation_id).contract
    assert v.witness.witnessed_ms(delivery, esc.did) is None
    assert not v.witness.delivery_timely(contract, delivery)
    ack = alice.sign(
        "ack",
        commitment_pb2.Ack(statement=delivery.digest),
        audience=mallory.did,
    )
    v.accept(ack.envelope)
    assert v.witness.witnessed_ms(delivery, esc.did) == ack.header.issued_at_ms
    assert v.witness.delivery_timely(contract, delivery)
