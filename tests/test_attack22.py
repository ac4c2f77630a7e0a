"""Attacker's pass 22: the escrow's own authority. ESC-019 checks that each party can sign a claim through
its contract's claim window; but the escrow signs too -- the Stamp that makes a claim effective, the
Ruling a response window later, the Forfeit, Release or lapse after it -- and every statement it signs
cites its own Mandate, which MND-003 bounds like anyone's. Who chose that validity: the escrow's principal
(its operator); who chose the deadlines: the parties, one of whom may be the attacker (SPEC 9.4, 4.6,
16.13, 16.14).

Mallory is the attacker; Alice the honest party.
"""

from __future__ import annotations

from typing import Any

import pytest
from test_attack20 import BOND, FUNDS

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.escrow_audit import audit_ledger
from a2a_coop.protocol.negotiation import CLAIM_WINDOW_MS
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.protocol.verifier import Verifier, last_ruling_ms
from a2a_coop.protocol.witness import CLOCK_TOLERANCE_MS
from a2a_coop.testing import DAY_MS, FixedClock, LocalEscrow, Party, service

HOUR_MS = 3_600_000


def _bodies(envelopes: list[bytes]) -> list[str]:
    return [verify_statement(e).body for e in envelopes]


def _escrow_until(
    clock: FixedClock, until_ms: int, **escrow_caps: object
) -> tuple[Party, Party, LocalEscrow]:
    """Alice and Mallory (Mandates valid a year), both funded at an escrow whose own Mandate ends at
    ``until_ms``."""
    alice, mallory = Party("alice", clock), Party("mallory", clock)
    esc = Party("escrow", clock, mandate_caps={"valid_until_ms": until_ms, **escrow_caps})
    return alice, mallory, LocalEscrow(esc, funds={alice.did: FUNDS, mallory.did: FUNDS})


def _trade(
    mallory: Party, alice: Party, escrow: str, due: int, *, window: int = 0
) -> tuple[VerifiedStatement, VerifiedStatement]:
    """Mallory's bonded offer to Alice under ``escrow``, both items due at ``due``, accepted a second on."""
    proposal = mallory.bonded_proposal(escrow, due, bond=BOND)
    proposal.terms.response_window_ms = window
    offer = mallory.offer(alice, proposal)
    mallory.clock.advance(1_000)
    return offer, alice.accept(offer)


def _claim(
    alice: Party, mallory: Party, offer: VerifiedStatement, accept: VerifiedStatement
) -> VerifiedStatement:
    return alice.sign(
        "breach_claim",
        commitment_pb2.BreachClaim(contract=accept.digest, item_index=0, reason="never delivered"),
        audience=mallory.did,
        negotiation_id=offer.header.negotiation_id,
    )


@pytest.mark.req("ESC-020", "MND-003", "WIT-005", "CMT-002", "CMT-006")
def test_an_escrow_takes_no_contract_it_could_not_rule_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """Attack: the escrow's Mandate ends in a day and two hours (its operator's choice, or neglect); Mallory
    offers Alice a bonded trade due in a day and an hour. Before ESC-020 the escrow bonded it; Alice
    delivered, Mallory did not; Alice's claim an hour after the deadline was refused MANDATE_VIOLATION
    (MND-003: the escrow's Stamp of it would be issued after its own Mandate ended), so it never took
    effect (WIT-005), and no Ruling, Forfeit or lapse could ever be signed: Mallory kept the Delivery and
    both bonds stayed locked. Defence (ESC-020): the escrow refuses the Accept, nothing recorded."""
    clock = FixedClock()
    t0 = clock.now_ms
    due = t0 + DAY_MS + HOUR_MS
    evidence = []

    def run() -> tuple[Party, Party, LocalEscrow]:
        alice, mallory, escrow = _escrow_until(clock, t0 + DAY_MS + 2 * HOUR_MS)
        offer, accept = _trade(mallory, alice, escrow.did, due)
        evidence[:] = [*alice.setup, *mallory.setup, offer.envelope, accept.envelope]
        answer = escrow.submit(evidence)
        assert _bodies(answer)[-2:] == ["bond_lock", "bond_lock"]
        clock.advance(60_000)
        escrow.submit([alice.deliver(accept, mallory).envelope])
        clock.now_ms = due + 2 * HOUR_MS  # inside Alice's claim window, after the escrow's Mandate ended
        with pytest.raises(CoopError) as unstamped:
            escrow.submit([_claim(alice, mallory, offer, accept).envelope])
        assert unstamped.value.requirement == "MND-003"
        clock.now_ms = due + 3 * DAY_MS  # long past the claim window: the lapse is due, and unsignable
        with pytest.raises(CoopError):
            escrow.tick()
        assert (
            escrow.get_balance(alice.did)[:2] == escrow.get_balance(mallory.did)[:2] == (FUNDS - BOND, BOND)
        )
        return alice, mallory, escrow

    with monkeypatch.context() as before:  # the escrow of before ESC-020
        before.setattr(Verifier, "escrow_outlived", lambda self, offer, mandate: None)
        run()
    clock.now_ms = t0
    alice, mallory, escrow = _escrow_until(clock, t0 + DAY_MS + 2 * HOUR_MS)
    offer, accept = _trade(mallory, alice, escrow.did, due)
    with pytest.raises(CoopError) as refused:
        escrow.submit([*alice.setup, *mallory.setup, offer.envelope, accept.envelope])
    assert (refused.value.code, refused.value.requirement) == ("MANDATE_VIOLATION", "ESC-020")
    assert escrow.get_balance(alice.did)[:2] == escrow.get_balance(mallory.did)[:2] == (FUNDS, 0)
    assert not escrow.escrow.took(accept.digest)
    with pytest.raises(CoopError):  # refused again: nothing of it was recorded
        escrow.submit([accept.envelope])


@pytest.mark.req("ESC-020", "CMT-002", "CMT-005")
@pytest.mark.parametrize("window", [0, 1, DAY_MS])
def test_an_escrow_valid_a_millisecond_past_the_last_ruling_rules_on_the_latest_claim(window: int) -> None:
    """The bound is exact and enough: the escrow's Mandate ends 1 ms after the last deadline + the claim
    window + the response window (3600000 when 0) + the clock tolerance. It takes the contract; Alice's
    claim stamped at the last moment of its claim window is upheld at the response window's end, signed
    a clock tolerance late (a slow tick), and Mallory's bond is forfeited. Ending 1 ms earlier, refused."""
    clock = FixedClock()
    t0 = clock.now_ms
    due = t0 + DAY_MS
    probe = Party("probe", clock).proposal(gives=[service("x", value=1, deadline_ms=due)], wants=[])
    probe.terms.response_window_ms = window
    needed = last_ruling_ms(probe)
    assert needed == due + CLAIM_WINDOW_MS + (window or HOUR_MS) + CLOCK_TOLERANCE_MS
    alice, mallory, escrow = _escrow_until(clock, needed)
    offer, accept = _trade(mallory, alice, escrow.did, due, window=window)
    with pytest.raises(CoopError) as refused:
        escrow.submit([*alice.setup, *mallory.setup, offer.envelope, accept.envelope])
    assert refused.value.requirement == "ESC-020"
    clock.now_ms = t0
    alice, mallory, escrow = _escrow_until(clock, needed + 1)
    offer, accept = _trade(mallory, alice, escrow.did, due, window=window)
    escrow.submit([*alice.setup, *mallory.setup, offer.envelope, accept.envelope])
    clock.now_ms = due + CLAIM_WINDOW_MS  # the claim window's last millisecond
    claim = _claim(alice, mallory, offer, accept)
    escrow.submit([claim.envelope])
    clock.now_ms = needed  # the Ruling falls due a clock tolerance before this; the tick is that late
    signed = [verify_statement(e) for e in escrow.tick()]
    assert [vs.body for vs in signed][:2] == ["ruling", "forfeit"]
    assert signed[0].statement.ruling.decision == commitment_pb2.RULING_DECISION_UPHOLD
    assert escrow.get_balance(alice.did)[:2] == (FUNDS + BOND, 0)
    assert audit_ledger(escrow.escrow.transcript()).ok


@pytest.mark.req("ESC-020", "KEY-004", "MND-012")
@pytest.mark.parametrize("whose", ["escrow-key", "escrow-principal"])
def test_a_revocation_of_the_escrows_key_scheduled_ahead_cuts_its_validity(whose: str) -> None:
    """The escrow's Mandate runs a year, but a KeyRevocation of its key (its principal retiring it on day
    2, a new key to follow) -- or of its principal's key -- is held: from then on nothing it signs is
    taken (KEY-004, MND-012). A contract due on day 3 is refused; one due in an hour is taken."""
    clock = FixedClock()
    t0 = clock.now_ms
    alice, mallory, escrow = _escrow_until(clock, t0 + 365 * DAY_MS)
    esc = escrow.party
    key = esc.did if whose == "escrow-key" else esc.principal.did
    retire = esc.principal.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=key, effective_ms=t0 + 2 * DAY_MS)
    )
    escrow.submit([retire.envelope])
    offer, accept = _trade(mallory, alice, escrow.did, t0 + 3 * DAY_MS)
    with pytest.raises(CoopError) as refused:
        escrow.submit([*alice.setup, *mallory.setup, offer.envelope, accept.envelope])
    assert refused.value.requirement == "ESC-020"
    offer, accept = _trade(mallory, alice, escrow.did, clock.now_ms + HOUR_MS)
    assert _bodies(escrow.submit([offer.envelope, accept.envelope]))[-1] == "bond_lock"


@pytest.mark.req("ESC-020", "AUD-003")
def test_the_audit_names_an_escrow_that_bonded_a_contract_past_its_own_mandate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An escrow that skips ESC-020 is named by its audit: its Stamp of the Accept cites the Mandate it
    signed under then, whose validity the transcript holds."""
    monkeypatch.setattr(Verifier, "escrow_outlived", lambda self, offer, mandate: None)
    clock = FixedClock()
    t0 = clock.now_ms
    alice, mallory, escrow = _escrow_until(clock, t0 + DAY_MS + 2 * HOUR_MS)
    offer, accept = _trade(mallory, alice, escrow.did, t0 + DAY_MS + HOUR_MS)
    escrow.submit([*alice.setup, *mallory.setup, offer.envelope, accept.envelope])
    monkeypatch.undo()
    report = audit_ledger(escrow.escrow.transcript())
    assert [f.code for f in report.findings] == ["MANDATE_VIOLATION"]
    assert "ESC-020" in report.findings[0].message


@pytest.mark.req("MND-020", "ESC-020", "MND-011")
def test_the_guard_bonds_with_no_escrow_that_could_not_rule_on_its_claim(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Our guard does not rely on the escrow following ESC-020 (an older implementation bonds the
    contract, then can stamp no claim of ours and rule on nothing): it signs no Offer, Counter or Accept
    naming an escrow whose Mandate we were given ends at or before the contract's last Ruling; an offer of
    such terms is answered with a Reject saying why. A renewal of the escrow's Mandate by the same
    principal (an answer of the escrow starts with its current one) lets it sign."""
    from peers import make_peer

    clock = FixedClock()
    t0 = clock.now_ms
    alice, mallory, escrow = _escrow_until(clock, t0 + DAY_MS + 2 * HOUR_MS)
    peer = make_peer(alice, clock, context=[escrow.mandate])
    due = t0 + DAY_MS + HOUR_MS
    offer, _ = _trade(mallory, alice, escrow.did, due)
    answers = [verify_statement(e) for e in peer.exchange(offer.envelope, mallory.setup)]
    assert [vs.body for vs in answers] == ["mandate", "reject"]
    assert "MND-020" in answers[1].statement.reject.reason
    with pytest.raises(ValueError, match="MND-020"):  # our own offer of such terms
        peer.propose(mallory.did, _trade(alice, mallory, escrow.did, due)[0].statement.offer)
    # Whatever proposes it, the guard refuses to sign the Accept (the Reject check bypassed).
    monkeypatch.setattr(type(peer), "_unsignable_terms", lambda self, proposal: "")
    offer, _ = _trade(mallory, alice, escrow.did, due)
    assert "accept" not in _bodies(peer.exchange(offer.envelope))
    refusal = peer.guard_refusals[-1]
    assert isinstance(refusal, CoopError) and refusal.requirement == "MND-020"
    monkeypatch.undo()
    # The escrow's principal renews its Mandate for a year; the escrow's answer starts with it.
    fields = {f.name: v for f, v in escrow.party.mandate_vs.statement.mandate.ListFields()}
    fields["valid_until_ms"] = t0 + 365 * DAY_MS
    renewal = escrow.party.principal.sign("mandate", identity_pb2.Mandate(**fields), ttl_ms=DAY_MS)
    peer.hold_escrow_mandate(renewal.envelope)
    offer, _ = _trade(mallory, alice, escrow.did, due)
    assert _bodies(peer.exchange(offer.envelope))[-1] == "accept"


# --- 2: a view of evidence and KEY-010, in the escrow's own order -------------------------------------------


def _stamped_after_its_revocation(body: str) -> tuple[Any, VerifiedStatement, VerifiedStatement]:
    """KEY-010's race (keytime.json's StampTimedRevocation): Alice's principal revoked her key from the
    theft; the thief signed ``body`` dated before the revocation's effective_ms; a faulty escrow stamped
    the revocation a second after its effective_ms, then the thief's statement four seconds later --
    taking it while holding the revocation, which KEY-010 has it refuse. Returns the race, the escrow's
    Stamp of the revocation and its Stamp of the thief's statement."""
    from conformance.generate_vectors.key_time import _race

    race = _race(body)
    race.clock.advance(1_000)
    of_revocation = race.escrow.sign("stamp", commitment_pb2.Stamp(statements=[race.revocation.digest]))
    race.clock.advance(4_000)
    return race, of_revocation, race.stamp(race.clock.now_ms)


@pytest.mark.req("KEY-010", "KEY-009", "ATT-020")
@pytest.mark.parametrize("body", ["revoke", "accept", "receipt"])
def test_a_view_disowns_what_its_escrow_took_after_stamping_the_revocation(body: str) -> None:
    """Attack: a faulty escrow (or one of before KEY-010) stamped Alice's principal's revocation of her
    stolen key, then took the thief's statement dated before the revocation's effective_ms -- a Revoke
    forfeiting her bond, an Accept of an accomplice's bonded offer, a Receipt of a worthless Delivery.
    Every view of evidence took it (KEY-010 (c) applied nothing there): only the escrow's audit named the
    fault, and the thief's contract weighed in reputation. Defence: a view holding both Stamps applies
    KEY-010 in the escrow's own order -- it holds the statement (KEY-009 (c)) and disowns it (KEY-009), as
    does a view that took it before it learnt of the revocation, whatever the order it heard them in. An
    escrow taking evidence refuses it KEY_REVOKED (KEY-010)."""
    race, of_revocation, of_thief = _stamped_after_its_revocation(body)
    view = Verifier()
    for env in [*race.context, race.revocation.envelope, of_revocation.envelope, of_thief.envelope]:
        view.accept(env)
    view.accept(race.thief.envelope)
    assert view.disowned(view.statements[race.thief.digest])
    taking = Verifier(evidence_view=False)
    for env in [*race.context, race.revocation.envelope, of_revocation.envelope, of_thief.envelope]:
        taking.accept(env)
    with pytest.raises(CoopError) as refused:
        taking.accept(race.thief.envelope)
    assert (refused.value.code, refused.value.requirement) == ("KEY_REVOKED", "KEY-010")
    # Heard in the other order: taken, then disowned once the revocation and its earlier Stamp come.
    late = Verifier()
    for env in [*race.context, of_thief.envelope, race.thief.envelope]:
        late.accept(env)
    assert not late.disowned(late.statements[race.thief.digest])
    seen = late.disowning
    for env in [race.revocation.envelope, of_revocation.envelope]:
        late.accept(env)
    assert late.disowned(late.statements[race.thief.digest]) and late.disowning > seen
    # The statement before its Stamp: taken unstamped; its Stamp, after the revocation's, disowns it, and
    # moves the count a view's kept ratings are checked again by.
    unstamped = Verifier()
    for env in [*race.context, race.revocation.envelope, of_revocation.envelope, race.thief.envelope]:
        unstamped.accept(env)
    assert not unstamped.disowned(unstamped.statements[race.thief.digest])
    seen = unstamped.disowning
    unstamped.accept(of_thief.envelope)
    assert unstamped.disowned(unstamped.statements[race.thief.digest]) and unstamped.disowning > seen


@pytest.mark.req("KEY-010", "KEY-009")
def test_a_revocation_stamped_after_the_statement_erases_nothing_in_a_view() -> None:
    """The revoker chooses effective_ms, not the escrow's order: the thief's Revoke stamped before the
    escrow stamped the revocation -- even when that Stamp is after the revocation's effective_ms -- stands
    in a view and is not disowned; and an honest Accept the escrow stamped a second after its date,
    its key revoked a day later from between the two, stands too (keytime.json's StampTimedRevocationView)."""
    from conformance.generate_vectors.key_time import _race

    race = _race("revoke")
    race.clock.advance(4_000)
    of_thief = race.stamp(race.clock.now_ms)  # 4 s after effective_ms, before the revocation's Stamp
    race.clock.advance(1_000)
    of_revocation = race.escrow.sign("stamp", commitment_pb2.Stamp(statements=[race.revocation.digest]))
    view = Verifier()
    for env in [*race.context, race.revocation.envelope, of_revocation.envelope, of_thief.envelope]:
        view.accept(env)
    view.accept(race.thief.envelope)
    assert not view.disowned(view.statements[race.thief.digest])
