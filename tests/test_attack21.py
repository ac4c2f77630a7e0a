"""Attacker's pass 21: MND-019's margin, asked who chose each value it relies on. The deadline is in terms
the counterparty may have written; the validity is the principal's; a renewal counts only when the agent
can still sign a claim of the contract under it (the principal's later revocation, a renewal restricted
to other counterparties, and a revocation of the agent key scheduled ahead each cut it short); and an
agent without our guard is no longer exposed where its escrow follows ESC-019 (SPEC 4.6, 9.4, 16.14).

Mallory is the attacker.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_attack20 import BOND, FUNDS, _long_trade

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.escrow import Escrow
from a2a_coop.protocol.escrow_audit import audit_ledger
from a2a_coop.protocol.negotiation import CLAIM_WINDOW_MS, DEFAULT_RESPONSE_WINDOW_MS
from a2a_coop.protocol.statements import VerifiedStatement, candidate, verify_statement
from a2a_coop.protocol.verifier import Verifier
from a2a_coop.testing import DAY_MS, FixedClock, LocalEscrow, Party, service

# --- 1: a renewal the agent could not sign a claim under extends nothing (MND-019) -----------------------

_UNUSABLE = ["other-counterparties", "agent-key-retired", "principal-key-retired"]


def _renewal(alice: Party, t0: int, until_days: int, **caps: object) -> VerifiedStatement:
    """A Mandate of Alice's principal for her key from her first Mandate's end to ``until_days`` on."""
    fields = {f.name: v for f, v in alice.mandate_vs.statement.mandate.ListFields()}
    fields.update(valid_from_ms=alice.mandate_vs.statement.mandate.valid_until_ms, **caps)
    fields["valid_until_ms"] = t0 + until_days * DAY_MS
    return alice.principal.sign("mandate", identity_pb2.Mandate(**fields), ttl_ms=30 * DAY_MS)


def _unusable_renewal(alice: Party, t0: int, how: str) -> list[VerifiedStatement]:
    """A renewal of Alice's Mandate to day 5 (covering a claim window after day 3) that Alice could not
    claim under against Mallory: restricted to another counterparty (MND-005: her claim and Delivery are
    addressed to Mallory), or valid while her key -- or her principal's -- is retired from day 2 on by a
    KeyRevocation scheduled ahead (KEY-004, MND-012)."""
    if how == "other-counterparties":
        return [_renewal(alice, t0, 5, allowed_counterparties=[Party("bob", alice.clock).did])]
    renewal = _renewal(alice, t0, 5)
    if how == "agent-key-retired":  # the key retires itself: the principal will give the agent a new one
        retire = alice.agent.sign(
            "key_revocation", identity_pb2.KeyRevocation(key=alice.did, effective_ms=t0 + 2 * DAY_MS)
        )
    else:
        retire = alice.principal.sign(
            "key_revocation",
            identity_pb2.KeyRevocation(key=alice.principal.did, effective_ms=t0 + 2 * DAY_MS),
        )
    return [renewal, retire]


@pytest.mark.req("MND-019", "MND-005", "KEY-004", "MND-012", "MND-011")
@pytest.mark.parametrize("how", _UNUSABLE)
def test_a_renewal_the_agent_could_not_claim_under_extends_nothing(how: str) -> None:
    """Attack: Alice's Mandate is valid for a day (execution window a week); her principal's renewal runs
    to day 5 -- but only for trades with Bob, or while her key (or her principal's) is retired from day 2
    by a revocation scheduled ahead. Mallory offers a bonded trade due on day 3. Alice's guard counted the
    renewal as it stood and signed; after the deadline her BreachClaim under the renewal is refused
    (MND-005 addressed to Mallory; KEY_REVOKED from day 2), and Mallory keeps her Delivery and her bond.
    Defence (MND-019): a renewal extends the validity only if it allows the counterparty, and a held
    revocation of the key or the principal ends it: the Accept is refused."""
    alice, mallory, _escrow, offer, guard = _long_trade(3)
    clock = alice.clock
    t0 = offer.issued_at_ms
    extra = _unusable_renewal(alice, t0, how)
    for vs in extra:
        guard.accept(vs.envelope, clock.now_ms)
    accept = alice.accept(offer)
    with pytest.raises(CoopError) as refused:
        guard.check(candidate(accept.statement, alice.did), clock.now_ms, ours=True)
    assert (refused.value.code, refused.value.requirement) == ("MANDATE_VIOLATION", "MND-019")
    # What the guard protects against: signed all the same, her claim under the renewal is refused where it
    # would act -- by the escrow taking evidence (a view of evidence holds it, disowned: KEY-009 (c)).
    view = Verifier(evidence_view=False)
    for env in [*alice.setup, *mallory.setup, *(vs.envelope for vs in extra), offer.envelope]:
        view.accept(env)
    view.accept(accept.envelope)
    clock.now_ms = offer.statement.offer.wants[0].deadline_ms + 60_000
    claim = alice.sign(
        "breach_claim",
        commitment_pb2.BreachClaim(contract=accept.digest, item_index=0, reason="never delivered"),
        audience=mallory.did,
        negotiation_id=offer.header.negotiation_id,
        mandate=extra[0].digest,
    )
    with pytest.raises(CoopError) as late:
        view.accept(claim.envelope)
    assert late.value.requirement in ("MND-005", "KEY-004", "MND-012")


@pytest.mark.req("MND-019")
def test_a_usable_renewal_still_covers_a_long_contract() -> None:
    """The same renewal, open to any counterparty and with no revocation held, lets the guard sign."""
    alice, _mallory, _escrow, offer, guard = _long_trade(3)
    guard.accept(_renewal(alice, offer.issued_at_ms, 5).envelope, alice.clock.now_ms)
    guard.check(candidate(alice.accept(offer).statement, alice.did), alice.clock.now_ms, ours=True)


@pytest.mark.req("MND-019", "KEY-004")
def test_a_revocation_scheduled_ahead_cuts_the_mandate_itself_short() -> None:
    """No renewal at all: Alice's Mandate runs a week, but her key retires itself from day 2. A contract
    due on day 3 is refused: from day 2 on nothing she signs is taken (KEY-004)."""
    clock = FixedClock()
    t0 = clock.now_ms
    alice = Party("alice", clock, mandate_caps={"valid_until_ms": t0 + 7 * DAY_MS})
    mallory = Party("mallory", clock)
    due = t0 + 3 * DAY_MS
    offer = mallory.offer(
        alice,
        mallory.proposal(
            gives=[service("translation", value=500, deadline_ms=due)],
            wants=[service("code-review", value=450, deadline_ms=due)],
        ),
    )
    retire = alice.agent.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=alice.did, effective_ms=t0 + 2 * DAY_MS)
    )
    clock.advance(1_000)
    guard = Verifier(me=alice.did)
    for env in [*alice.setup, *mallory.setup, retire.envelope, offer.envelope]:
        guard.accept(env, clock.now_ms)
    with pytest.raises(CoopError, match="claim window") as refused:
        guard.check(candidate(alice.accept(offer).statement, alice.did), clock.now_ms, ours=True)
    assert refused.value.requirement == "MND-019"


# --- 2: an agent without our guard, at an escrow following ESC-019 ----------------------------------------


def _short_lived(clock: FixedClock) -> tuple[Party, Party, LocalEscrow]:
    """Alice (Mandate valid a day, execution window a week) and Mallory, both funded at an escrow."""
    t0 = clock.now_ms
    alice = Party(
        "alice",
        clock,
        mandate_caps={"valid_until_ms": t0 + DAY_MS, "execution_window_end_ms": t0 + 7 * DAY_MS},
    )
    mallory = Party("mallory", clock)
    escrow = LocalEscrow(Party("escrow", clock), funds={alice.did: FUNDS, mallory.did: FUNDS})
    return alice, mallory, escrow


def _long_contract(
    offerer: Party, acceptor: Party, escrow: str, *, bond: int = BOND
) -> tuple[VerifiedStatement, VerifiedStatement]:
    """``offerer`` offers ``acceptor`` a trade due in three days under the escrow ``escrow``, accepted a
    second on: signed without MND-019's guard (another implementation's, or the attacker's own)."""
    due = offerer.clock.now_ms + 3 * DAY_MS
    offer = offerer.offer(
        acceptor,
        offerer.bonded_proposal(escrow, due, bond=bond),
    )
    offerer.clock.advance(1_000)
    return offer, acceptor.accept(offer)


@pytest.mark.req("ESC-019", "MND-003", "MND-008", "NEG-012")
@pytest.mark.parametrize("victim", ["acceptor", "offerer"])
@pytest.mark.parametrize("bond", [BOND, 0])
def test_an_escrow_recognises_no_contract_a_party_could_not_claim_under(victim: str, bond: int) -> None:
    """Attack: Alice's implementation has no MND-019 guard. Mallory offers her a trade due in three days
    -- inside her execution window, after her Mandate's valid_until_ms (or has Alice's own offer say so,
    and accepts it) -- the escrow bonds it, Alice delivers, Mallory does not: Alice's claim, issued after
    her Mandate ended, is refused (MND-003) and Mallory keeps the Delivery and her bond. Defence (ESC-019):
    the escrow refuses the Accept -- MANDATE_VIOLATION, nothing recorded, no bond locked -- so the
    contract never binds a bond (it lapses at its bonding cutoff) and no Delivery under it is legal
    (NEG-012); without bonds the escrow arbitrates no contract its party could not claim under."""
    clock = FixedClock()
    alice, mallory, escrow = _short_lived(clock)
    offerer, acceptor = (mallory, alice) if victim == "acceptor" else (alice, mallory)
    offer, accept = _long_contract(offerer, acceptor, escrow.did, bond=bond)
    with pytest.raises(CoopError) as refused:
        escrow.submit([*alice.setup, *mallory.setup, offer.envelope, accept.envelope])
    assert (refused.value.code, refused.value.requirement) == ("MANDATE_VIOLATION", "ESC-019")
    assert escrow.get_balance(alice.did)[:2] == escrow.get_balance(mallory.did)[:2] == (FUNDS, 0)
    assert not escrow.escrow.took(accept.digest)
    with pytest.raises(CoopError):  # refused again: nothing of it was recorded
        escrow.submit([accept.envelope])


@pytest.mark.req("ESC-019", "MND-019")
@pytest.mark.parametrize("how", ["usable", *_UNUSABLE])
def test_an_escrow_counts_a_renewal_submitted_before_the_accept_only_if_usable(how: str) -> None:
    """Honest long contracts stay possible: Alice's principal renewed her Mandate to day 5, and the
    renewal reaches the escrow before the Accept: the escrow bonds the contract. A renewal restricted to
    another counterparty, or one a revocation scheduled ahead cuts short at day 2, counts for nothing:
    refused as without it."""
    clock = FixedClock()
    t0 = clock.now_ms
    alice, mallory, escrow = _short_lived(clock)
    extra = [_renewal(alice, t0, 5)] if how == "usable" else _unusable_renewal(alice, t0, how)
    offer, accept = _long_contract(mallory, alice, escrow.did)
    evidence = [*alice.setup, *mallory.setup, *(vs.envelope for vs in extra), offer.envelope, accept.envelope]
    if how == "usable":
        bodies = [verify_statement(e).body for e in escrow.submit(evidence)]
        assert bodies[-2:] == ["bond_lock", "bond_lock"]
        assert audit_ledger(escrow.escrow.transcript()).ok
    else:
        with pytest.raises(CoopError) as refused:
            escrow.submit(evidence)
        assert refused.value.requirement == "ESC-019"
        assert escrow.get_balance(alice.did)[:2] == (FUNDS, 0)


@pytest.mark.req("ESC-019", "AUD-003")
def test_the_audit_names_an_escrow_that_bonded_a_contract_past_a_mandate(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An escrow that skips ESC-019 and bonds the contract is named by its audit: the Mandates and the
    Accept are in its transcript, stamped in order, and the rule is replayed on what was held."""
    monkeypatch.setattr(Escrow, "_check_claimable", lambda self, accept, now_ms: None)
    clock = FixedClock()
    alice, mallory, escrow = _short_lived(clock)
    offer, accept = _long_contract(mallory, alice, escrow.did)
    escrow.submit([*alice.setup, *mallory.setup, offer.envelope, accept.envelope])
    report = audit_ledger(escrow.escrow.transcript())
    assert not report.ok
    assert [f.code for f in report.findings] == ["MANDATE_VIOLATION"]
    assert "ESC-019" in report.findings[0].message


# --- 3: the response window needs no statement of the accused ----------------------------------------------


@pytest.mark.req("MND-019", "CMT-002", "WIT-003", "ESC-001")
def test_the_accused_answers_a_claim_after_its_mandate_ended() -> None:
    """MND-019 covers the claim window, not the response window after it: does the accused need to sign
    anything then? No. Alice's Mandate ends ten minutes after her contract's claim window closes; she
    delivered a day early and Mallory acknowledged it, but the Delivery never reached the escrow. Mallory
    claims at the last moment of the claim window; its response window runs past Alice's Mandate. Alice
    submits her Delivery and Mallory's Ack after her Mandate ended -- statements signed long before, which
    anyone may submit (ESC-001: offline evidence, no freshness) -- and the escrow dismisses the claim."""
    clock = FixedClock()
    t0 = clock.now_ms
    due = t0 + 2 * DAY_MS
    alice = Party("alice", clock, mandate_caps={"valid_until_ms": due + CLAIM_WINDOW_MS + 10 * 60_000})
    mallory = Party("mallory", clock)
    escrow = LocalEscrow(Party("escrow", clock), funds={alice.did: FUNDS, mallory.did: FUNDS})
    offer = mallory.offer(
        alice,
        mallory.bonded_proposal(escrow.did, due, bond=BOND),
    )
    clock.advance(1_000)
    accept = alice.accept(offer)
    guard = Verifier(me=alice.did)
    for env in [*alice.setup, *mallory.setup, offer.envelope]:
        guard.accept(env, clock.now_ms)
    guard.check(candidate(accept.statement, alice.did), clock.now_ms, ours=True)  # MND-019 lets her sign
    escrow.submit([*alice.setup, *mallory.setup, offer.envelope, accept.envelope])
    clock.now_ms = due - DAY_MS
    delivery = alice.deliver(accept, mallory)
    ack = mallory.sign("ack", commitment_pb2.Ack(statement=delivery.digest), audience=alice.did)
    clock.now_ms = due + CLAIM_WINDOW_MS - 1_000
    claim = mallory.sign(
        "breach_claim",
        commitment_pb2.BreachClaim(contract=accept.digest, item_index=0, reason="never delivered"),
        audience=alice.did,
        negotiation_id=offer.header.negotiation_id,
    )
    escrow.submit([claim.envelope])
    clock.now_ms = alice.mandate_vs.statement.mandate.valid_until_ms + 60_000  # Alice can sign nothing now
    escrow.submit([delivery.envelope, ack.envelope])
    clock.now_ms += DEFAULT_RESPONSE_WINDOW_MS
    rulings = [verify_statement(e) for e in escrow.tick()]
    decisions = [vs.statement.ruling.decision for vs in rulings if vs.body == "ruling"]
    assert decisions[0] == commitment_pb2.RULING_DECISION_DISMISS  # then the lapse: the window is over
    assert commitment_pb2.RULING_DECISION_UPHOLD not in decisions
    assert escrow.get_balance(alice.did)[0] + escrow.get_balance(alice.did)[1] == FUNDS


@pytest.mark.req("ESC-019", "MND-019", "ESC-004")
def test_the_reference_peer_submits_the_renewal_its_guard_counted() -> None:
    """The reference peer's guard signs a long contract a renewal it holds covers (MND-019); the contract
    it then submits to the escrow (ESC-004) carries that renewal before the Accept, so the escrow bonds
    it (ESC-019 counts only a renewal it holds) instead of refusing an honest contract."""
    from peers import make_peer

    from a2a_coop.runtime.trade import contract_evidence

    clock = FixedClock()
    t0 = clock.now_ms
    alice, mallory, escrow = _short_lived(clock)
    renewal = _renewal(alice, t0, 5)
    peer = make_peer(alice, clock, context=[escrow.mandate, renewal.envelope])
    due = t0 + 3 * DAY_MS
    offer = peer.propose(
        mallory.did,
        alice.bonded_proposal(escrow.did, due, bond=BOND),
    )
    clock.advance(1_000)
    peer.on_replies([*mallory.setup, mallory.accept(offer).envelope])
    evidence = contract_evidence(peer, peer.negotiation(offer.negotiation_id))
    assert renewal.envelope in evidence
    assert [verify_statement(e).body for e in escrow.submit(evidence)][-2:] == ["bond_lock", "bond_lock"]


@pytest.mark.req("ESC-019", "ESC-017")
def test_a_renewal_beside_its_contract_rides_uncounted_over_a_full_quota(tmp_path: Path) -> None:
    """ESC-017 must not turn ESC-019 against an honest party: Alice's principal, in the escrow's dealings
    since an earlier contract and without funds there, renews her Mandate; a flood of strangers has
    filled the escrow's newcomer quota. The renewal travels beside the long contract it covers, cited by
    nothing in the Submit: counted (as a stranger's Mandate, its principal's own count having no room),
    it was refused RATE_LIMITED and the Submit stopped before the Accept; read by ESC-019 for the Accept,
    it rides uncounted and the contract is bonded. (At most RENEWALS_READ of them a party ride so.)"""
    from peers import fresh_key

    from a2a_coop.protocol.errors import RateLimited
    from a2a_coop.runtime.node import EscrowNode
    from a2a_coop.runtime.strangers import STRANGER_PERIOD_MS, StrangerQuota

    clock = FixedClock()
    clock.now_ms -= clock.now_ms % STRANGER_PERIOD_MS  # the start of a quota period
    t0 = clock.now_ms
    caps = {"valid_until_ms": t0 + 2 * DAY_MS, "execution_window_end_ms": t0 + 7 * DAY_MS}
    alice, mallory = Party("alice", clock, mandate_caps=caps), Party("mallory", clock)
    e = Party("escrow", clock)
    escrow = EscrowNode(
        e.agent.key,
        e.mandate_vs.envelope,
        tmp_path / "e.db",
        clock=lambda: clock.now_ms,
        durability="normal",
        stranger_quota=StrangerQuota(per_period=6, per_key=2),
    )
    try:
        for p in (alice, mallory):
            escrow.deposit(p.did, FUNDS)
        soon = t0 + 3_600_000
        first = mallory.offer(
            alice,
            mallory.proposal(
                escrow=e.did,
                gives=[service("translation", value=5, deadline_ms=soon)],
                wants=[service("code-review", value=5, deadline_ms=soon)],
            ),
        )
        escrow.submit([*alice.setup, *mallory.setup, first.envelope, alice.accept(first).envelope])
        principal = alice.principal.did
        assert escrow.escrow.deals_with(principal) and not escrow.escrow._funded(principal)
        with pytest.raises(RateLimited):  # a flood of strangers fills the newcomer quota
            for i in range(20):
                escrow.submit([fresh_key(i, clock)[1].envelope])
        renewal = _renewal(alice, t0, 6)
        offer, accept = _long_contract(mallory, alice, e.did)
        answer = escrow.submit([renewal.envelope, offer.envelope, accept.envelope])
        assert [verify_statement(x).body for x in answer][-2:] == ["bond_lock", "bond_lock"]
    finally:
        escrow.close()


# --- 4: a thief's Receipt dated before the principal's revocation (KEY-010) ---------------------------------


def _thiefs_receipt(
    clock: FixedClock,
) -> tuple[Party, Party, LocalEscrow, VerifiedStatement, VerifiedStatement]:
    """Alice and Mallory bonded at the escrow, Alice delivered (stamped); an hour later her key is stolen,
    her principal revokes it from then and the escrow takes the revocation. A minute later Mallory, the
    thief's accomplice, signs a worthless Delivery of her item (taken: Mallory's key is good) and the thief
    a Receipt of it, both dated just after Alice's Delivery -- before the revocation's effective_ms, and
    after every statement of Alice's key the escrow holds, so no chain check refuses it. Returns Alice,
    Mallory, the escrow, Alice's Delivery and the thief's Receipt (not yet submitted)."""
    alice, mallory = Party("alice", clock), Party("mallory", clock)
    escrow = LocalEscrow(Party("escrow", clock), funds={alice.did: FUNDS, mallory.did: FUNDS})
    offer = mallory.offer(alice, mallory.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=escrow.did))
    clock.advance(1_000)
    accept = alice.accept(offer)
    escrow.submit([*alice.setup, *mallory.setup, offer.envelope, accept.envelope])
    clock.advance(1_000)
    hers = alice.deliver(accept, mallory)
    escrow.submit([hers.envelope])
    delivered_at = clock.now_ms
    clock.advance(3_600_000)
    revocation = alice.principal.sign(
        "key_revocation",
        identity_pb2.KeyRevocation(key=alice.did, effective_ms=clock.now_ms, reason="stolen"),
    )
    escrow.submit([revocation.envelope])
    clock.advance(60_000)
    worthless = mallory.deliver(accept, alice, issued_at_ms=delivered_at + 10)
    escrow.submit([worthless.envelope])
    return alice, mallory, escrow, hers, alice.receipt(worthless, issued_at_ms=delivered_at + 20)


@pytest.mark.req("KEY-010", "KEY-004", "CMT-001")
def test_a_thiefs_receipt_dated_before_the_revocation_discharges_nothing() -> None:
    """Attack (KEY-010's race, for a Receipt): the thief's Receipt of Mallory's worthless Delivery,
    dated before the principal's revocation and submitted after it (:func:`_thiefs_receipt`). The escrow
    took it: every obligation receipted once Mallory receipted Alice's Delivery, both bonds released, the
    audit clean -- the bond Alice could have claimed was Mallory's again. Defence (KEY-010): a Receipt
    discharges an obligation at the escrow when the escrow takes it, so its Stamp's time, not the
    signer's, is compared with the revocation: KEY_REVOKED, nothing released."""
    clock = FixedClock()
    _alice, mallory, escrow, hers, thiefs = _thiefs_receipt(clock)
    with pytest.raises(CoopError) as refused:
        escrow.submit([thiefs.envelope])
    assert (refused.value.code, refused.value.requirement) == ("KEY_REVOKED", "KEY-010")
    escrow.submit([mallory.receipt(hers).envelope])
    assert escrow.get_balance(mallory.did)[:2] == (FUNDS - BOND, BOND)  # nothing released
    assert audit_ledger(escrow.escrow.transcript()).ok


@pytest.mark.req("KEY-010", "AUD-003")
def test_the_audit_names_an_escrow_that_took_a_receipt_after_its_keys_revocation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same race at an escrow that compares the Receipt's own date (KEY-004 alone): it releases both
    bonds, and its audit, replaying KEY-010 on its Stamps, names the Receipt it took."""
    from a2a_coop.protocol import verifier as verifier_module

    clock = FixedClock()
    with monkeypatch.context() as before:
        before.setattr(verifier_module, "_BINDS_AT_STAMP", frozenset({"offer", "counter", "accept"}))
        _alice, mallory, escrow, hers, thiefs = _thiefs_receipt(clock)
        escrow.submit([thiefs.envelope, mallory.receipt(hers).envelope])
        assert escrow.get_balance(mallory.did)[:2] == (FUNDS, 0)  # released: the attack, on that escrow
    report = audit_ledger(escrow.escrow.transcript())
    assert "KEY_REVOKED" in [f.code for f in report.findings]
