"""The target as an escrow (SPEC 9): witness, arbiter and ledger.

The suite plays both parties (see :mod:`conformance.suite.escrow`). On a target
that does not serve EscrowService every case here is SKIP. Cases that need
bonds SKIP unless the escrow funds the suite's parties.

Times are chosen so that nothing waits long: items fall due in the past (the
escrow takes claims on them at once), response windows are 1 ms (a ruling is
due at the escrow's next tick), and a contract whose deadline is more than a
day past has already lapsed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import grpc

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2, service_pb2, trade_pb2
from a2a_coop.protocol.envelope import decode_envelope, statement_digest
from a2a_coop.protocol.merkle import root as merkle_root
from a2a_coop.protocol.negotiation import BOND_GRACE_MS, CLOCK_TOLERANCE_MS
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.testing import DAY_MS, Party, service
from conformance.suite import escrow as esc_target
from conformance.suite.cases.initiator import private_route
from conformance.suite.context import Context
from conformance.suite.flows import fair_proposal, forked_binding, with_signature
from conformance.suite.model import Capability, CaseFailed, Level, Outcome, Role, Runner, case

_UPHOLD = commitment_pb2.RULING_DECISION_UPHOLD
_DISMISS = commitment_pb2.RULING_DECISION_DISMISS
_LAPSE = commitment_pb2.RULING_DECISION_LAPSE
_MIN = 60_000


def _escrow_case(case_id: str, title: str, *requirements: str) -> Callable[[Runner], Runner]:
    return case(case_id, title, *requirements, role=Role.ESCROW, capability=Capability.ESCROW)


def _refuses(ctx: Context, envelopes: Sequence[bytes], code: str, *, what: str) -> Outcome:
    """Submit ``envelopes`` alone; the escrow must refuse ``what`` with ``code`` and its gRPC status."""
    ctx.expect_rejection(esc_target.submit(ctx, envelopes, note=what), code, what=what)
    return Outcome.passed(f"refused {what}: {code}")


def _stamp_names(stamps: Sequence[VerifiedStatement], digests: Sequence[bytes]) -> bool:
    named = {bytes(d) for s in stamps for d in s.statement.stamp.statements}
    return all(d in named for d in digests)


@_escrow_case("esc.empty-submit", "An empty Submit is answered with the escrow's Mandate alone", "ESC-002")
def empty_submit(ctx: Context) -> Outcome:
    """Submit no envelopes: the answer must be exactly one envelope, a Mandate verifying under its
    principal, whose agent is the key the escrow signs with."""
    esc = esc_target.escrow_of(ctx)
    reply = esc_target.submit(ctx, [], note="no envelopes")
    ctx.must(reply.ok, "an empty Submit was refused (ESC-002)")
    ctx.must(
        reply.envelopes == [esc.mandate], "an empty Submit must be answered with the Mandate alone (ESC-002)"
    )
    return Outcome.passed(f"the escrow is {esc.did[:24]}…")


@_escrow_case(
    "ctl.faucet-not-exposed",
    "An escrow that credits funds on sight is served only on loopback or behind mutual TLS",
    "CTL-002",
)
def faucet_not_exposed(ctx: Context) -> Outcome:
    """Show the escrow the Mandate of a key of the suite's, made for this run: if the escrow credits it
    (a test faucet: no payment rail paid it in), the suite must have reached it on a loopback address or
    with a client certificate (mutual TLS); served in plaintext on any other address, anyone who reaches
    it mints funds. Whose Submits it pays behind mutual TLS -- only its operator's certificates'
    (CTL-002) -- the suite cannot see: it holds one certificate (tests/test_faucet_callers.py calls the
    reference escrow with others)."""
    probe = ctx.party("probe")
    esc_target.take(ctx, [], context=probe.setup, note="a Mandate of a key made for this run")
    available, locked = esc_target.balance(ctx, probe.did)
    if not available and not locked:
        return Outcome.passed("the escrow credits nothing on sight")
    address = ctx.session.target
    route = private_route(ctx, address)
    ctx.must(route is not None, f"an escrow that credits funds on sight is served on {address} (CTL-002)")
    return Outcome.passed(f"it credited the suite's key {available}: served {route}")


def test_clock_closed(ctx: Context) -> Outcome:
    """Ask the target's TestClockService (SPEC 18.6) to move its clock back a millisecond. Where it is not
    served (UNIMPLEMENTED), nothing to check. Where it is, the move must be refused -- a test clock only
    moves forward (INVALID_ARGUMENT), or the suite is not its operator (PERMISSION_DENIED) -- and the suite
    must have reached it on a loopback address or with a client certificate (mutual TLS): served in
    plaintext on any other address, anyone who reaches it moves the clock the target's rulings and
    deadlines are judged by (CTL-003). Whose calls it takes behind mutual TLS -- only its operator's
    certificates' -- the suite cannot see: it holds one certificate (tests/test_test_clock.py calls the
    reference with others)."""
    from a2a_coop._proto.a2acoop.v1 import control_pb2, control_pb2_grpc

    stub = control_pb2_grpc.TestClockServiceStub(ctx.session.channel)
    try:
        stub.AdvanceClock(control_pb2.AdvanceClockRequest(by_ms=-1), timeout=ctx.session.timeout_s)
        code = grpc.StatusCode.OK
    except grpc.RpcError as err:
        code = err.code()
    ctx.record(
        "TestClockService/AdvanceClock",
        {"by_ms": -1, "note": "a move backwards: refused where served, UNIMPLEMENTED elsewhere"},
        {"status": code.name},
    )
    if code is grpc.StatusCode.UNIMPLEMENTED:
        return Outcome.passed("TestClockService is not served")
    ctx.must(
        code is not grpc.StatusCode.OK,
        "the test clock took a move backwards: it must only move forward, refusing a move of 0 ms or less "
        "(CTL-003)",
    )
    address = ctx.session.target
    route = private_route(ctx, address)
    ctx.must(route is not None, f"TestClockService is served on {address} without mutual TLS (CTL-003)")
    return Outcome.passed(f"served {route}; a move backwards refused ({code.name})")


test_clock_closed.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


@_escrow_case(
    "ctl.escrow-test-clock-closed",
    "An escrow's test clock is served only on loopback or behind mutual TLS, and never moves back",
    "CTL-003",
)
def escrow_test_clock_closed(ctx: Context) -> Outcome:
    """Ask the escrow's TestClockService to move its clock back a millisecond: where it is served, the
    move must be refused and the service reached on loopback or behind mutual TLS (CTL-003)."""
    return test_clock_closed(ctx)


@case(
    "ctl.test-clock-closed",
    "A peer's test clock is served only on loopback or behind mutual TLS, and never moves back",
    "CTL-003",
)
def peer_test_clock_closed(ctx: Context) -> Outcome:
    """Ask the peer's TestClockService to move its clock back a millisecond: where it is served, the
    move must be refused and the service reached on loopback or behind mutual TLS (CTL-003)."""
    return test_clock_closed(ctx)


@_escrow_case(
    "esc.stamp-evidence",
    "Every piece of evidence is named in a Stamp, with an empty audience, before the escrow acts",
    "WIT-001",
    "ESC-003",
)
def stamp_evidence(ctx: Context) -> Outcome:
    """Submit a contract (both Mandates, the Offer, the Accept): the answer must hold a Stamp by the
    escrow, addressed to nobody, naming the Offer and the Accept, and come before anything the
    escrow signed about the contract."""
    d = esc_target.deal(ctx)
    stamps = d.of("stamp")
    ctx.must(bool(stamps), "the escrow took a contract without signing a Stamp (WIT-001)")
    ctx.must(
        _stamp_names(stamps, [d.offer.digest, d.accept.digest]),
        "the escrow's Stamp does not name the Offer and the Accept it took (WIT-001)",
    )
    for vs in d.signed:
        ctx.must(vs.issuer == esc_target.escrow_of(ctx).did, f"a {vs.body} in the answer is not the escrow's")
        ctx.must(not vs.header.audience, f"the escrow's {vs.body} has an audience (ESC-003)")
    ctx.must(
        d.signed[0].body == "stamp", f"the escrow signed a {d.signed[0].body} before its Stamp (WIT-001)"
    )
    return Outcome.passed(f"stamped the contract; answer: {', '.join(vs.body for vs in d.signed)}")


@_escrow_case(
    "esc.idempotent-submit",
    "The same Submit again gets the same answer and nothing new is signed",
    "ESC-007",
    "WIT-006",
    "RPL-002",
)
def idempotent_submit(ctx: Context) -> Outcome:
    """Submit a contract twice: the second answer must be byte for byte the first, and the ledger's
    head must not move. Then submit the Accept alone: the answer must carry the Stamp that first
    named it, not a new one (WIT-006)."""
    d = esc_target.deal(ctx, submit_now=False)
    evidence = [*d.setup, d.offer.envelope, d.accept.envelope]
    first = esc_target.submit(ctx, evidence, note="the contract")
    ctx.must(first.ok, f"the escrow refused a valid contract: {first.error and first.error.reason}")
    head = esc_target.ledger(ctx)[-1].header.seq
    again = esc_target.submit(ctx, evidence, note="the same Submit again (ESC-007)")
    ctx.must(again.ok, "the escrow refused a repeated Submit (ESC-007: same answer)")
    ctx.must(again.envelopes == first.envelopes, "a repeated Submit got a different answer (ESC-007)")
    ctx.must(
        esc_target.ledger(ctx)[-1].header.seq == head,
        "the escrow signed something for a repeated Submit (ESC-007)",
    )
    alone = esc_target.submit(ctx, [d.accept.envelope], note="the Accept alone, already held (WIT-006)")
    ctx.must(alone.ok, "the escrow refused evidence it already holds")
    first_stamps = [e for e in first.envelopes[1:] if verify_statement(e).body == "stamp"]
    stamps = [e for e in alone.envelopes[1:] if verify_statement(e).body == "stamp"]
    ctx.must(
        bool(stamps) and stamps[0] in first_stamps,
        "a Submit of a held statement must be answered with the Stamp that first named it (WIT-006)",
    )
    ctx.must(esc_target.ledger(ctx)[-1].header.seq == head, "the escrow stamped a statement twice (WIT-006)")
    return Outcome.passed("same answer twice, the first Stamp for held evidence, ledger head unchanged")


@_escrow_case(
    "esc.unwitnessed-accept",
    "An Accept reaching the escrow after the offer expired (+30 s) is refused UNWITNESSED",
    "WIT-004",
    "ESC-001",
)
def unwitnessed(ctx: Context) -> Outcome:
    """The Offer was dated ten minutes ago with a five-minute lifetime and accepted in time by its
    own (signer-chosen) dates; the escrow first sees the Accept now, after the offer expired: it must
    refuse it UNWITNESSED (a signer cannot backdate its way into a contract) and record nothing --
    the same Accept submitted again is refused again."""
    now = ctx.clock.now_ms
    d = esc_target.deal(
        ctx, offer_at_ms=now - 10 * _MIN, accept_at_ms=now - 9 * _MIN, ttl_ms=5 * _MIN, submit_now=False
    )
    evidence = [*d.setup, d.offer.envelope, d.accept.envelope]
    ctx.expect_rejection(
        esc_target.submit(ctx, evidence, note="a late Accept"),
        "UNWITNESSED",
        what="an Accept seen after expiry",
    )
    ctx.expect_rejection(
        esc_target.submit(ctx, [d.accept.envelope], note="the same Accept again"),
        "UNWITNESSED",
        what="the late Accept again",
    )
    return Outcome.passed("refused UNWITNESSED, twice: nothing recorded")


@_escrow_case(
    "esc.contract-past-mandate",
    "An Accept under which a party could sign no claim through the claim window is refused MANDATE_VIOLATION",
    "ESC-019",
    "ESC-001",
)
def contract_past_mandate(ctx: Context) -> Outcome:
    """Carol's Mandate ends a day and a half from now, with an execution window of a week (MND-008 lets
    her agree to a deadline in it); Alice offers her a trade without bonds due in a day under the
    target's escrow, and Carol accepts (no MND-019 guard): the claim window after the deadline ends half
    a day after Carol's Mandate, from which on she could sign no claim (MND-003). The escrow must refuse
    the Accept MANDATE_VIOLATION and record nothing -- the same Accept submitted again is refused again."""
    esc = esc_target.escrow_of(ctx)
    now = ctx.clock.now_ms
    alice = ctx.party("alice")
    carol = ctx.party(
        "carol", valid_until_ms=now + DAY_MS + DAY_MS // 2, execution_window_end_ms=now + 7 * DAY_MS
    )
    what = "an Accept whose claim window ends after the acceptor's Mandate"
    return _accept_refused_twice(ctx, esc, alice, carol, due=now + DAY_MS, what=what)


@_escrow_case(
    "esc.contract-past-escrow-mandate",
    "An Accept of a contract the escrow could not rule on before its own Mandate ends is refused",
    "ESC-020",
    "ESC-001",
)
def contract_past_escrow_mandate(ctx: Context) -> Outcome:
    """Learn the escrow's Mandate (its answer to an empty Submit, ESC-002); Alice offers Carol a trade
    without bonds under it, with a response window of 1 ms, both items due so that the last ruling time
    -- the deadline + 86400000 (the claim window) + 1 + 30000 (the clock tolerance) -- is exactly the
    escrow Mandate's valid_until_ms, and Carol accepts; both parties' Mandates run a week past it
    (ESC-019 has nothing to refuse). From valid_until_ms the escrow could sign no Ruling on a claim
    stamped at the end of the claim window (MND-003): it must refuse the Accept MANDATE_VIOLATION and
    record nothing -- the same Accept submitted again is refused again. (A revocation of the escrow's key
    or principal held by it would cut its validity earlier; the suite reads only its Mandate.)"""
    esc = esc_target.escrow_of(ctx)
    until = verify_statement(esc.mandate).statement.mandate.valid_until_ms
    due = until - DAY_MS - 1 - CLOCK_TOLERANCE_MS
    now = ctx.clock.now_ms
    if due <= now + _MIN or until + 7 * DAY_MS >= 2**53:
        return Outcome.not_tested(f"the escrow's Mandate ends at {until}: no deadline to place before it")
    alice = ctx.party("alice", valid_until_ms=until + 7 * DAY_MS)
    carol = ctx.party("carol", valid_until_ms=until + 7 * DAY_MS)
    what = "an Accept whose last ruling time is the escrow Mandate's valid_until_ms"
    return _accept_refused_twice(ctx, esc, alice, carol, due=due, what=what)


def _accept_refused_twice(
    ctx: Context, esc: esc_target.EscrowTarget, alice: Party, carol: Party, *, due: int, what: str
) -> Outcome:
    """Alice offers Carol a trade without bonds under the escrow ``esc``, both items due at ``due``, with a
    response window of 1 ms, and Carol accepts: the escrow must refuse the Accept MANDATE_VIOLATION and
    record nothing -- the same Accept submitted again is refused again."""
    proposal = trade_pb2.Offer(
        gives=[service("code-review", value=20, deadline_ms=due)],
        wants=[service("copy-editing", value=20, deadline_ms=due)],
        terms=trade_pb2.Terms(currency="credit", escrow=esc.did, response_window_ms=1),
    )
    offer = alice.offer(carol, proposal)
    accept = carol.accept(offer)
    evidence = [*alice.setup, *carol.setup, offer.envelope, accept.envelope]
    ctx.expect_rejection(esc_target.submit(ctx, evidence, note=what), "MANDATE_VIOLATION", what=what)
    ctx.expect_rejection(
        esc_target.submit(ctx, [accept.envelope], note="the same Accept again"),
        "MANDATE_VIOLATION",
        what="the same Accept again",
    )
    return Outcome.passed("refused MANDATE_VIOLATION, twice: nothing recorded")


@_escrow_case(
    "esc.submit-stops-at-first-refusal",
    "A Submit takes envelopes in order and stops at the first it refuses, keeping those before",
    "ESC-001",
)
def stops_at_refusal(ctx: Context) -> Outcome:
    """Submit [Mandates, a valid Offer, an Offer with a flipped signature, a valid Offer]: refused
    SIGNATURE_INVALID; the first Offer must be held (submitted alone again it gets its earlier
    Stamp) and the last one not (submitted alone it is stamped anew)."""
    alice, bob = ctx.party("alice"), ctx.party("bob")
    esc = esc_target.escrow_of(ctx)

    def offer() -> bytes:
        from conformance.suite.flows import fair_proposal

        p = fair_proposal(alice)
        p.terms.escrow = esc.did
        return alice.offer(bob, p).envelope

    good, flipped_src, after = offer(), offer(), offer()
    sig = bytearray(decode_envelope(flipped_src).signatures[0].sig)
    sig[0] ^= 1
    bad = with_signature(flipped_src, sig=bytes(sig))
    reply = esc_target.submit(ctx, [*alice.setup, *bob.setup, good, bad, after], note="good, bad, good")
    ctx.expect_rejection(reply, "SIGNATURE_INVALID", what="an Offer with a flipped signature")
    held = esc_target.submit(ctx, [good], note="the first Offer again")
    ctx.must(held.ok, "the Offer before the refused one was not kept (ESC-001)")
    held_stamps = [verify_statement(e) for e in held.envelopes[1:]]
    ctx.must(
        any(s.body == "stamp" for s in held_stamps),
        "the Offer before the refusal is not answered with its earlier Stamp: it was not kept (ESC-001)",
    )
    head = esc_target.ledger(ctx)[-1].header.seq
    ctx.must(
        all(s.header.seq <= head for s in held_stamps),
        "the escrow signed anew for evidence it should already hold (ESC-001)",
    )
    fresh = esc_target.submit(ctx, [after], note="the Offer after the refused one")
    ctx.must(fresh.ok, "the escrow refused a valid Offer")
    new = [verify_statement(e) for e in fresh.envelopes[1:]]
    after_digest = statement_digest(decode_envelope(after).payload)
    ctx.must(
        any(
            s.body == "stamp" and s.header.seq > head and after_digest in s.statement.stamp.statements
            for s in new
        ),
        "the Offer after the refused envelope was already held: the escrow read past the refusal (ESC-001)",
    )
    return Outcome.passed("kept what came before the refusal, read nothing after it")


@_escrow_case(
    "esc.future-evidence",
    "Evidence issued after the escrow's clock plus the skew is refused ISSUED_IN_FUTURE",
    "ESC-001",
    "TIM-003",
)
def future_evidence(ctx: Context) -> Outcome:
    """An Offer naming the escrow dated ten minutes ahead: ISSUED_IN_FUTURE (an escrow applies no
    other freshness rule to evidence, but it never takes a statement from the future)."""
    now = ctx.clock.now_ms
    d = esc_target.deal(
        ctx, offer_at_ms=now + 10 * _MIN, accept_at_ms=now + 10 * _MIN + 1000, submit_now=False
    )
    return _refuses(
        ctx, [*d.setup, d.offer.envelope], "ISSUED_IN_FUTURE", what="an Offer dated 10 minutes ahead"
    )


@_escrow_case(
    "esc.claim-before-deadline",
    "A claim before the item's deadline is not taken (ILLEGAL_TRANSITION)",
    "CMT-005",
)
def claim_early(ctx: Context) -> Outcome:
    """A contract due tomorrow; Alice claims now: the escrow must refuse to stamp it."""
    d = esc_target.deal(ctx)
    claim = esc_target.claim(d, d.alice).envelope
    return _refuses(ctx, [claim], "ILLEGAL_TRANSITION", what="a claim before the item's deadline")


@_escrow_case(
    "esc.claim-before-bonded",
    "A claim on an item due before every bond was locked is not taken (ILLEGAL_TRANSITION)",
    "CMT-009",
)
def claim_before_bonded(ctx: Context) -> Outcome:
    """A bonded contract the escrow first sees a second after its items fell due: it locks the bonds
    now, when Bob could no longer deliver in time (NEG-012); Alice's claim must be refused."""
    d = _past_due(ctx, bond=BOND)
    claim = esc_target.claim(d, d.alice).envelope
    return _refuses(ctx, [claim], "ILLEGAL_TRANSITION", what="a claim on an item due before the bonds locked")


@_escrow_case(
    "esc.claim-before-contract",
    "A claim on an item due before the contract's Accept is not taken (ILLEGAL_TRANSITION)",
    "CMT-011",
)
def claim_before_contract(ctx: Context) -> Outcome:
    """An unbonded contract whose Accept is dated a second after Bob's item fell due: no Delivery of
    it could be timely (NEG-014), so Alice's claim must be refused, bonds or not."""
    now = ctx.clock.now_ms
    d = esc_target.deal(ctx, deadline_ms=now - 3_000, offer_at_ms=now - 5_000, accept_at_ms=now - 2_000)
    claim = esc_target.claim(d, d.alice).envelope
    return _refuses(ctx, [claim], "ILLEGAL_TRANSITION", what="a claim on an item due before the contract")


@_escrow_case(
    "esc.evidence-of-other-contracts",
    "Statements of a contract whose terms name no escrow, or another, are WRONG_PARTY, none stamped",
    "ESC-011",
)
def evidence_of_other_contracts(ctx: Context) -> Outcome:
    """Alice and Bob form a contract whose terms name no escrow, and another naming a different
    escrow; the target must refuse each (with the parties' Mandates, the Offer and the Accept, and
    then a claim on it) WRONG_PARTY: nothing in them is its to witness or rule on, and keys cost
    nothing, so taking them would make its transcript free storage."""
    now = ctx.clock.now_ms
    elsewhere = ctx.party("another-escrow").did
    for escrow, what in (("", "a contract naming no escrow"), (elsewhere, "a contract naming another")):
        d = esc_target.deal(ctx, escrow=escrow, deadline_ms=now - 5_000, submit_now=False)
        _refuses(ctx, [*d.setup, d.offer.envelope, d.accept.envelope], "WRONG_PARTY", what=what)
        claim = esc_target.claim(d, d.alice).envelope
        _refuses(ctx, [claim], "WRONG_PARTY", what=f"a claim on {what}")
    return Outcome.passed("refused WRONG_PARTY: statements of contracts that do not name the escrow")


# A bonded case's deadline, from now: its bonds lock before it, its claim follows it (CMT-009).
CLAIMABLE_AFTER_MS = 1_500
# How long past a deadline the escrow may rule on a claim on it (CMT-002: while a Delivery of the item
# could still be stamped in time, WIT-003, it must not), with a second for the two clocks.
RULABLE_AFTER_MS = CLOCK_TOLERANCE_MS + 1_000
# How long a case waits for a ruling that falls due that long after the deadline (CMT-002).
RULING_WAIT_S = RULABLE_AFTER_MS / 1000 + esc_target.DUE_WAIT_S


def _past_due(ctx: Context, **kw: object) -> esc_target.Deal:
    """A contract whose items fell due more than the clock tolerance ago, formed before that: a claim
    on them may be ruled on as soon as its response window allows (CMT-002)."""
    now = ctx.clock.now_ms
    return esc_target.deal(
        ctx,
        deadline_ms=now - RULABLE_AFTER_MS,
        offer_at_ms=now - RULABLE_AFTER_MS - 4_000,
        accept_at_ms=now - RULABLE_AFTER_MS - 3_000,
        **kw,  # type: ignore[arg-type]
    )


@_escrow_case(
    "esc.claim-twice",
    "A second claim by the same claimant on the same item is not taken",
    "CMT-005",
    "WIT-005",
)
def claim_twice(ctx: Context) -> Outcome:
    """Bob never delivered; Alice claims (the escrow must stamp it: it takes effect only then) and
    claims again on the same item: the second is refused ILLEGAL_TRANSITION."""
    d = _past_due(ctx, response_window_ms=3_600_000)
    first = esc_target.claim(d, d.alice)
    signed = esc_target.take(ctx, [first], note="a claim after the deadline")
    ctx.must(
        _stamp_names([s for s in signed if s.body == "stamp"], [first.digest]),
        "the claim was not stamped (WIT-005)",
    )
    reply = esc_target.submit(
        ctx, [esc_target.claim(d, d.alice).envelope], note="a second claim on the same item"
    )
    ctx.expect_rejection(reply, "ILLEGAL_TRANSITION", what="a second claim on one item")
    return Outcome.passed("stamped the first claim, refused the second")


@_escrow_case(
    "esc.deliver-twice",
    "A party's second Delivery of an item, or a second Receipt of an item, is not taken",
    "CMT-013",
)
def deliver_twice(ctx: Context) -> Outcome:
    """Bob delivers his item (the escrow must stamp it), then delivers it again -- a new statement: the
    second is refused ILLEGAL_TRANSITION; Alice receipts the first (stamped) and receipts it again:
    refused too. One contract between two keys would otherwise carry any number of them."""
    d = esc_target.deal(ctx)
    first = esc_target.deliver(d, d.bob)
    signed = esc_target.take(ctx, [first], note="Bob's delivery")
    ctx.must(
        _stamp_names([s for s in signed if s.body == "stamp"], [first.digest]),
        "the delivery was not stamped (WIT-001)",
    )
    reply = esc_target.submit(ctx, [esc_target.deliver(d, d.bob).envelope], note="a second delivery of it")
    ctx.expect_rejection(reply, "ILLEGAL_TRANSITION", what="a second delivery of one item")
    receipt = d.alice.receipt(first)
    signed = esc_target.take(ctx, [receipt], note="Alice's receipt of it")
    ctx.must(
        _stamp_names([s for s in signed if s.body == "stamp"], [receipt.digest]),
        "the receipt was not stamped (WIT-001)",
    )
    reply = esc_target.submit(ctx, [d.alice.receipt(first).envelope], note="a second receipt of it")
    ctx.expect_rejection(reply, "ILLEGAL_TRANSITION", what="a second receipt of one item")
    return Outcome.passed("stamped the first delivery and receipt, refused the second of each")


@_escrow_case(
    "esc.ruling-uphold",
    "After the response window, a claim with no timely Delivery is upheld",
    "CMT-002",
    "WIT-005",
)
def ruling_uphold(ctx: Context) -> Outcome:
    """Bob never delivered; Alice claims with a 1 ms response window: the escrow must sign a Ruling
    UPHOLD naming the claim, dated at or after the claim's Stamp plus the window."""
    d = _past_due(ctx)
    c = esc_target.claim(d, d.alice)
    signed = esc_target.take(ctx, [c], note="the claim")
    stamp = next((s for s in signed if s.body == "stamp" and c.digest in s.statement.stamp.statements), None)
    ctx.must(stamp is not None, "the claim was not stamped (WIT-005)")
    assert stamp is not None
    ruling = esc_target.wait_for(
        ctx,
        lambda vs: vs.body == "ruling" and vs.statement.ruling.claim == c.digest,
        what="a ruling on the claim",
    )
    ctx.must(
        ruling.statement.ruling.decision == _UPHOLD,
        "a claim with no Delivery at all was not upheld (CMT-002)",
    )
    ctx.must(
        ruling.header.issued_at_ms >= stamp.header.issued_at_ms + 1,
        "the ruling is dated before the claim's stamp plus the response window (CMT-002)",
    )
    return Outcome.passed("upheld after the response window")


@_escrow_case(
    "esc.ruling-dismiss",
    "A claim is not ruled on while a timely Delivery can still come: one stamped within the clock "
    "tolerance after the claim dismisses it, naming that Delivery",
    "CMT-002",
    "WIT-003",
)
def ruling_dismiss(ctx: Context) -> Outcome:
    """Bob delivered a second before the deadline; Alice claims, under a 1 ms response window, as soon
    as it has passed, and only then does Bob's Delivery reach the escrow, within the clock tolerance:
    it is timely (WIT-003), so the escrow must not have ruled yet, and must then DISMISS the claim with
    the Delivery as its evidence, dated after the deadline plus the tolerance (CMT-002). An escrow
    that rules once the claim's stamp plus the window has passed upholds it: the offerer's choice of
    window would take a bond delivered in time. The case waits out the tolerance (about 30 s; with
    ``--test-clock`` it moves the target's clock past it instead, CTL-003)."""
    now = ctx.clock.now_ms
    deadline = now - 1_000
    d = esc_target.deal(ctx, deadline_ms=deadline, offer_at_ms=now - 5_000, accept_at_ms=now - 4_000)
    delivery = esc_target.deliver(d, d.bob, issued_at_ms=now - 2_000)
    c = esc_target.claim(d, d.alice)
    esc_target.take(ctx, [c], note="Alice's claim, a second after the deadline")
    time.sleep(0.5)  # past the window: an escrow ruling at stamp + window has ruled by now
    esc_target.take(ctx, [delivery], note="Bob's Delivery, dated before the deadline, late by 1.5 s")
    ctx.skip_ahead(CLOCK_TOLERANCE_MS)  # --test-clock: past the deadline + the tolerance now, not in 30 s
    ruling = esc_target.wait_for(
        ctx,
        lambda vs: vs.body == "ruling" and vs.statement.ruling.claim == c.digest,
        what="a ruling on the claim",
        wait_s=RULING_WAIT_S,
    )
    r = ruling.statement.ruling
    ctx.must(
        r.decision == _DISMISS,
        "a claim answered by a Delivery stamped within the clock tolerance was upheld: the escrow ruled "
        "while a timely Delivery could still come (CMT-002, WIT-003)",
    )
    ctx.must(
        r.evidence == delivery.digest, "the DISMISS does not name the timely Delivery as evidence (CMT-002)"
    )
    ctx.must(
        ruling.header.issued_at_ms > deadline + CLOCK_TOLERANCE_MS,
        "the ruling is dated before the item's deadline plus the clock tolerance (CMT-002)",
    )
    return Outcome.passed("not ruled within the tolerance; dismissed, naming the Delivery")


@_escrow_case(
    "esc.late-delivery-upheld",
    "A Delivery dated after the deadline is not timely: the claim is upheld",
    "WIT-003",
    "CMT-002",
)
def late_delivery(ctx: Context) -> Outcome:
    """Bob delivers now, after the deadline; Alice claims: the Ruling must be UPHOLD (a Delivery is
    timely only when issued by the deadline and witnessed within the tolerance)."""
    d = _past_due(ctx)
    late = esc_target.deliver(d, d.bob)
    esc_target.take(ctx, [late], note="Bob's late Delivery")
    c = esc_target.claim(d, d.alice)
    esc_target.take(ctx, [c], note="Alice's claim")
    ruling = esc_target.wait_for(
        ctx,
        lambda vs: vs.body == "ruling" and vs.statement.ruling.claim == c.digest,
        what="a ruling on the claim",
    )
    ctx.must(
        ruling.statement.ruling.decision == _UPHOLD,
        "a claim answered only by a late Delivery was dismissed (WIT-003)",
    )
    return Outcome.passed("upheld: the late Delivery does not count")


@_escrow_case(
    "esc.lapse",
    "A contract past its last deadline plus the claim window, unclaimed, lapses",
    "CMT-006",
)
def lapse(ctx: Context) -> Outcome:
    """A contract whose items fell due more than a day ago (formed in time, nobody claimed): the
    escrow must sign a Ruling LAPSE for it, now or at its next tick."""
    now = ctx.clock.now_ms
    d = esc_target.deal(
        ctx, deadline_ms=now - DAY_MS - 10_000, offer_at_ms=now - 20_000, accept_at_ms=now - 19_000
    )
    ruling = esc_target.wait_for(
        ctx,
        lambda vs: vs.body == "ruling" and vs.header.negotiation_id == d.nid,
        what="a LAPSE of the overdue contract",
    )
    ctx.must(
        ruling.statement.ruling.decision == _LAPSE,
        "an unclaimed overdue contract got a ruling other than LAPSE",
    )
    return Outcome.passed("lapsed")


@_escrow_case(
    "esc.bondlock-by-party",
    "A BondLock not issued by the contract's escrow is WRONG_PARTY",
    "NEG-008",
)
def bondlock_by_party(ctx: Context) -> Outcome:
    """Alice signs a BondLock of her own bond and submits it: only the escrow locks bonds."""
    d = esc_target.deal(ctx)
    lock = d.alice.sign(
        "bond_lock",
        commitment_pb2.BondLock(contract=d.accept.digest, party=d.alice.did, amount=1),
        negotiation_id=d.nid,
    )
    return _refuses(ctx, [lock.envelope], "WRONG_PARTY", what="a BondLock by a party")


@_escrow_case(
    "esc.revoke-not-allowed",
    "A Revoke under terms that do not allow it is REVOCATION_NOT_ALLOWED",
    "NEG-010",
)
def revoke_not_allowed(ctx: Context) -> Outcome:
    """A contract whose terms do not allow revocation; Bob revokes: refused."""
    d = esc_target.deal(ctx)
    revoke = esc_target.revoke(d, d.bob).envelope
    return _refuses(ctx, [revoke], "REVOCATION_NOT_ALLOWED", what="a Revoke under terms without revocation")


@_escrow_case(
    "esc.transcript",
    "GetTranscript: the Mandate, then each ledger entry, each Stamp followed by what it names",
    "ESC-006",
)
def transcript(ctx: Context) -> Outcome:
    """After a contract, read the transcript from seq 0 in pages of 1 entry: the first envelope is
    the Mandate; every Stamp is followed, in the same page, by the statements it names, in its order;
    the ledger entries appear in ascending seq and agree with GetLedger."""
    esc = esc_target.escrow_of(ctx)
    esc_target.deal(ctx)
    ledger = esc_target.ledger(ctx)
    seq, pages, envelopes = 0, 0, []
    while seq <= ledger[-1].header.seq:
        reply = esc_target.read(
            ctx, "GetTranscript", service_pb2.GetTranscriptRequest(from_seq=seq, limit=1), note="page"
        )
        ctx.must(reply.ok, f"GetTranscript from {seq} failed")
        page = reply.envelopes
        if seq == 0:
            ctx.must(
                bool(page) and page[0] == esc.mandate,
                "the transcript does not start with the Mandate (ESC-006)",
            )
            page = page[1:]
        ctx.must(reply.message.next_seq > seq, "GetTranscript's next_seq does not advance")
        vss = [verify_statement(e) for e in page]
        i = 0
        while i < len(vss):
            vs = vss[i]
            if vs.issuer == esc.did and vs.body == "stamp":
                named = [bytes(x) for x in vs.statement.stamp.statements]
                got = [v.digest for v in vss[i + 1 : i + 1 + len(named)]]
                ctx.must(
                    got == named,
                    f"the Stamp at seq {vs.header.seq} is not followed by what it names, in its order, "
                    "in the same page (ESC-006)",
                )
                i += 1 + len(named)
            else:
                i += 1
        envelopes += [v for v in vss if v.issuer == esc.did]
        seq, pages = reply.message.next_seq, pages + 1
        if pages > 10_000:
            break
    ctx.must(
        [v.digest for v in envelopes] == [v.digest for v in ledger],
        "the transcript's ledger entries differ from GetLedger's (ESC-006)",
    )
    return Outcome.passed(f"{len(ledger)} ledger entries over {pages} pages, each Stamp with what it names")


@_escrow_case(
    "esc.read-range",
    "GetLedger and GetTranscript refuse from_seq above 2^53 - 1 with INVALID_ARGUMENT",
    "RPC-011",
)
def read_range(ctx: Context) -> Outcome:
    """from_seq = 2^53 names no statement (STM-013): INVALID_ARGUMENT with the SPEC's code."""
    for rpc, req in (
        ("GetLedger", service_pb2.GetLedgerRequest(from_seq=2**53, limit=1)),
        ("GetTranscript", service_pb2.GetTranscriptRequest(from_seq=2**53, limit=1)),
    ):
        reply = esc_target.read(ctx, rpc, req, note="from_seq 2^53")
        ctx.must(reply.error is not None, f"{rpc}(from_seq=2^53) was answered (RPC-011)")
        assert reply.error is not None
        ctx.must(
            reply.error.status is grpc.StatusCode.INVALID_ARGUMENT,
            f"{rpc}(from_seq=2^53) failed with {reply.error.status.name}, "
            "expected INVALID_ARGUMENT (RPC-011)",
        )
    return Outcome.passed("both refused INVALID_ARGUMENT")


# -- bonds (need funds: SKIP unless the escrow funds the suite's parties) ------------------------------

BOND = 10


def _locks(signed: Sequence[VerifiedStatement]) -> dict[str, int]:
    return {
        s.statement.bond_lock.party: s.statement.bond_lock.amount for s in signed if s.body == "bond_lock"
    }


@_escrow_case(
    "esc.bonds-lock-and-release",
    "Bonds are locked exactly as the terms say and released in full when the contract is fulfilled",
    "NEG-012",
    "ESC-005",
    "CMT-001",
)
def lock_and_release(ctx: Context) -> Outcome:
    """A bonded contract: the escrow must lock each side's bond, exactly the terms' amount, once;
    after both Deliveries and both Receipts it must Release both bonds in full to their owners, and
    the balances must come back to what they were."""
    d = esc_target.deal(ctx, bond=BOND)
    before = {p.did: esc_target.balance(ctx, p.did) for p in (d.alice, d.bob)}
    locks = _locks(d.signed)
    ctx.must(
        locks == {d.alice.did: BOND, d.bob.did: BOND},
        f"the escrow locked {locks}, the terms say {BOND} each (NEG-012)",
    )
    da, db = esc_target.deliver(d, d.alice), esc_target.deliver(d, d.bob)
    ra, rb = d.bob.receipt(da), d.alice.receipt(db)
    signed = esc_target.take(ctx, [da, db, ra, rb], note="both Deliveries and both Receipts")
    releases = {s.statement.release.party: s.statement.release.amount for s in signed if s.body == "release"}
    ctx.must(
        releases == {d.alice.did: BOND, d.bob.did: BOND},
        f"the escrow released {releases} of a fulfilled contract (CMT-001)",
    )
    for p in (d.alice, d.bob):
        available, locked = esc_target.balance(ctx, p.did)
        ctx.must(
            available == before[p.did][0] + BOND and locked == before[p.did][1] - BOND,
            "a balance after the release does not give the bond back (CMT-001)",
        )
    return Outcome.passed("locked 2 bonds exactly, released both in full")


@_escrow_case(
    "esc.resubmitted-contract-brings-locks",
    "A contract submitted again is answered with the locks already signed about it, nothing new",
    "ESC-008",
    "ESC-002",
)
def resubmitted_contract(ctx: Context) -> Outcome:
    """A bonded contract, submitted by its initiator and locked. Its responder, never shown the locks,
    submits its Accept again -- alone, so that no earlier answer repeats (ESC-007). The answer must
    carry both BondLocks the escrow signed, byte for byte, and the ledger's head must not move: else
    whether the responder may deliver is its initiator's choice to relay (ESC-008)."""
    d = esc_target.deal(ctx, bond=BOND)
    locks = [vs.envelope for vs in d.signed if vs.body == "bond_lock"]
    ctx.must(len(locks) == 2, f"the escrow locked {len(locks)} bonds of a funded contract, not 2 (NEG-012)")
    head = esc_target.ledger(ctx)[-1].header.seq
    again = esc_target.submit(ctx, [d.accept.envelope], note="the Accept again, as its responder (ESC-008)")
    ctx.must(again.ok, f"the escrow refused an Accept it holds: {again.error and again.error.reason}")
    ctx.must(
        all(lock in again.envelopes for lock in locks),
        "a Submit of a held Accept must be answered with the BondLocks signed about its contract (ESC-008)",
    )
    ctx.must(esc_target.ledger(ctx)[-1].header.seq == head, "the escrow signed something for a held Accept")
    return Outcome.passed("the held Accept brought both locks back; nothing new signed")


@_escrow_case(
    "esc.hidden-accept-revealed",
    "An offer accepted at the escrow alone is answered with its Accept and locks, nothing new",
    "ESC-012",
    "ESC-007",
    "ESC-002",
)
def hidden_accept_revealed(ctx: Context) -> Outcome:
    """Alice submits her bonded Offer before any answer (as an offerer asks at once, ESC-013); Bob then
    shows the escrow his Accept alone, and it locks both bonds. Alice's very same Submit again must be
    answered with her first answer followed by Bob's Accept -- right after a Stamp naming it, preceded by
    the Mandate it cites -- and both BondLocks, byte for byte, with the ledger's head unmoved: else Bob
    chooses whether Alice ever learns of the contract that binds her bond (ESC-012, ESC-007)."""
    d = esc_target.deal(ctx, bond=BOND, submit_now=False)
    asked = [*d.setup, d.offer.envelope]
    first = esc_target.submit(ctx, asked, note="the Offer, before any answer (ESC-013)")
    ctx.must(first.ok, f"the escrow refused a valid Offer: {first.error and first.error.reason}")
    ctx.must(d.accept.envelope not in first.envelopes, "the escrow answered with an Accept it did not hold")
    signed = esc_target.take(ctx, [d.offer, d.accept], context=d.setup, note="Bob's Accept, by Bob alone")
    locks = [vs.envelope for vs in signed if vs.body == "bond_lock"]
    ctx.must(len(locks) == 2, f"the escrow locked {len(locks)} bonds of a funded contract, not 2 (NEG-012)")
    head = esc_target.ledger(ctx)[-1].header.seq
    again = esc_target.submit(ctx, asked, note="the same Offer again, its Accept held now (ESC-012)")
    ctx.must(again.ok, f"the escrow refused an Offer it holds: {again.error and again.error.reason}")
    ctx.must(
        again.envelopes[: len(first.envelopes)] == first.envelopes,
        "a repeated Submit does not begin with its first answer (ESC-007)",
    )
    news = again.envelopes[len(first.envelopes) :]
    ctx.must(d.accept.envelope in news, "a Submit of an accepted Offer must bring its Accept (ESC-012)")
    at = news.index(d.accept.envelope)
    ctx.must(at >= 2, "the Accept must follow the Stamp that named it and the Mandate it cites (ESC-012)")
    stamp, mandate = verify_statement(news[at - 2]), verify_statement(news[at - 1])
    ctx.must(
        stamp.body == "stamp" and d.accept.digest in stamp.statement.stamp.statements,
        "the Accept is not right after a Stamp naming it (ESC-012)",
    )
    ctx.must(mandate.digest == d.accept.header.mandate, "the Accept is not preceded by the Mandate it cites")
    ctx.must(
        all(lock in news for lock in locks),
        "a Submit of an accepted Offer must bring the BondLocks signed about its contract (ESC-012)",
    )
    ctx.must(esc_target.ledger(ctx)[-1].header.seq == head, "the escrow signed something for a held Offer")
    return Outcome.passed("the held Offer brought its Accept and both locks back; nothing new signed")


@_escrow_case(
    "esc.superseded-answer-not-taken",
    "An answer beside an Accept the escrow witnessed is not stamped; it is answered with that Accept",
    "ESC-014",
    "ESC-012",
)
def superseded_answer_not_taken(ctx: Context) -> Outcome:
    """Bob shows the escrow his Accept of Alice's bonded Offer alone, and it locks both bonds; he sends
    Alice a Reject of the same Offer. Alice shows the escrow what answered her offer (ESC-013): the
    Offer and Bob's Reject. The escrow must not take (stamp) the Reject and must answer with Bob's Accept,
    after the Stamp that named it, and both locks, signing nothing: a stamped Reject beside a stamped
    Accept would let Bob choose again which answer binds (ESC-014, NEG-017)."""
    d = esc_target.deal(ctx, bond=BOND, submit_now=False)
    signed = esc_target.take(ctx, [d.offer, d.accept], context=d.setup, note="Bob's Accept, by Bob alone")
    locks = [vs.envelope for vs in signed if vs.body == "bond_lock"]
    ctx.must(len(locks) == 2, f"the escrow locked {len(locks)} bonds of a funded contract, not 2 (NEG-012)")
    head = esc_target.ledger(ctx)[-1].header.seq
    reject = d.bob.reject(d.offer, "not interested")
    answer = esc_target.submit(
        ctx, [*d.setup, d.offer.envelope, reject.envelope], note="the Offer and Bob's Reject of it, by Alice"
    )
    ctx.must(answer.ok, f"the escrow refused the answer to an offer: {answer.error and answer.error.reason}")
    stamped = {
        digest
        for vs in map(verify_statement, answer.envelopes)
        if vs.body == "stamp"
        for digest in vs.statement.stamp.statements
    }
    ctx.must(reject.digest not in stamped, "the escrow stamped a Reject of an offer it holds an Accept of")
    ctx.must(
        d.accept.envelope in answer.envelopes and all(lock in answer.envelopes for lock in locks),
        "an answer beside an Accept the escrow witnessed must be answered with that Accept and its locks",
    )
    ctx.must(esc_target.ledger(ctx)[-1].header.seq == head, "the escrow signed something for the Reject")
    return Outcome.passed("the Reject was not taken; the witnessed Accept and both locks came back")


@_escrow_case(
    "esc.forked-accept-claims-nothing",
    "An acceptor whose chain forks at the Accept the escrow witnessed wins no claim under it",
    "ESC-015",
    "CHN-004",
)
def forked_accept_claims_nothing(ctx: Context) -> Outcome:
    """Bob shows the escrow his Accept of Alice's bonded Offer alone (it locks both bonds), and signs a
    Reject of the same Offer at the same seq of his chain, which he sends Alice: her verifier, holding
    it, refuses the Accept the escrow reveals (CHN-004) and she cannot perform. Alice shows the escrow
    the Reject (ESC-013). Bob's claim on the escrow's branch of his chain, past the deadline, must be
    refused: else a fork at the Accept takes the offerer's bond (ESC-015)."""
    deadline = ctx.clock.now_ms + CLAIMABLE_AFTER_MS
    d = esc_target.deal(ctx, bond=BOND, deadline_ms=deadline, submit_now=False)
    signed = esc_target.take(ctx, [d.offer, d.accept], context=d.setup, note="Bob's Accept, by Bob alone")
    ctx.must(
        [vs.body for vs in signed].count("bond_lock") == 2, "the escrow did not lock both bonds (NEG-012)"
    )
    writer = d.bob.agent.writer
    writer.next_seq, writer.prev = d.accept.header.seq, d.accept.header.prev  # the Accept's position
    reject = d.bob.reject(d.offer, "not interested")
    writer.next_seq, writer.prev = d.accept.header.seq + 1, d.accept.digest  # on after the Accept
    esc_target.submit(
        ctx, [*d.setup, d.offer.envelope, reject.envelope], note="the Offer and Bob's forked Reject, by Alice"
    )
    time.sleep(max(0, deadline - ctx.clock.now_ms) / 1000 + 0.05)
    ctx.expect_rejection(
        esc_target.submit(ctx, [esc_target.claim(d, d.bob).envelope], note="Bob's claim"),
        "ILLEGAL_TRANSITION",
        what="a claim by an acceptor whose chain forks at its Accept",
    )
    return Outcome.passed("the forking acceptor's claim was refused")


@_escrow_case(
    "esc.revocation-with-forked-binding",
    "A principal's KeyRevocation is taken after its key's binding Checkpoint a thief forked, in one "
    "Submit: the binding stamped and served before it; the thief's later statements refused KEY_REVOKED",
    "ESC-018",
    "ESC-001",
    "KEY-007",
    "KEY-004",
)
def revocation_with_forked_binding(ctx: Context) -> Outcome:
    """Alice's key signs its binding Checkpoint (seq 0) under her principal's Mandate. A thief of the key
    submits its own seq 0 under a Mandate its own principal minted for the key: the key is bound to the
    thief's principal at the escrow, and Alice's binding now fails its chain there (EQUIVOCATION) -- alone,
    it must still be refused (ESC-001). Alice's principal submits [Mandate, binding, its revocation of the
    key as of a second ago] in one Submit: the binding's only fault is against another statement of the
    key, so it binds the key to Alice's principal (KEY-007), and the escrow should take the revocation,
    naming the binding right before it in the Submit's Stamp (ESC-018) and serving it there in its
    transcript (ESC-006). The thief's next statement under Alice's Mandate must then be refused
    KEY_REVOKED. An escrow that refuses the Submit (EQUIVOCATION) misses ESC-018's SHOULD."""
    alice = ctx.party("alice")
    now = ctx.clock.now_ms
    forked = forked_binding(ctx, alice)
    binding, thief, own, fork = forked.binding, forked.thief, forked.own, forked.fork
    shown = esc_target.submit(
        ctx, [own.envelope, fork.envelope], note="the thief's Checkpoint, its own Mandate"
    )
    ctx.must(shown.ok, "the escrow refused the thief's valid Checkpoint under its own principal's Mandate")
    ctx.expect_rejection(
        esc_target.submit(ctx, [*alice.setup, binding.envelope], note="Alice's binding alone"),
        "EQUIVOCATION",
        what="the key's binding Checkpoint alone, at the seq the thief signed at first",
    )
    revocation = alice.principal.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=alice.did, effective_ms=now - 1000, reason="test")
    )
    reply = esc_target.submit(
        ctx,
        [*alice.setup, binding.envelope, revocation.envelope],
        note="the principal's Mandate, the binding the thief forked, and the revocation, in one Submit",
    )
    if reply.error is not None:
        raise CaseFailed(
            f"refused the revocation after its binding ({reply.error.reason or reply.error.status.name}): a "
            "binding whose only fault is its chain -- a thief's fork -- binds the key all the same (KEY-007, "
            "ESC-018)",
            Level.NON_STRICT,
        )
    stamps = [vs for vs in map(verify_statement, reply.envelopes[1:]) if vs.body == "stamp"]
    named = [bytes(d) for s in stamps for d in s.statement.stamp.statements]
    ctx.must(
        binding.digest in named and revocation.digest in named,
        "the escrow took the revocation without naming the binding shown before it in its Stamp (ESC-018)",
    )
    at = named.index(binding.digest)
    ctx.must(
        named[at + 1] == revocation.digest, "the Stamp does not name the binding right before the revocation"
    )
    stamp = next(s for s in stamps if binding.digest in s.statement.stamp.statements)
    page = esc_target.read(
        ctx,
        "GetTranscript",
        service_pb2.GetTranscriptRequest(from_seq=stamp.header.seq, limit=1),
        note="the Stamp naming the shown binding",
    )
    ctx.must(
        page.ok and binding.envelope in page.envelopes,
        "the transcript does not serve the binding the escrow's Stamp names (ESC-006, ESC-018)",
    )
    later = identity_pb2.Checkpoint(log_root=merkle_root([fork.digest]))
    theft = thief.sign("checkpoint", later, mandate=alice.mandate_vs.digest)
    ctx.expect_rejection(
        esc_target.submit(ctx, [theft.envelope], note="the thief's next Checkpoint, under Alice's Mandate"),
        "KEY_REVOKED",
        what="the thief's statement under the principal's Mandate, after the revocation",
    )
    return Outcome.passed(
        "took the revocation after the forked binding, stamped it; the thief's next: KEY_REVOKED"
    )


@_escrow_case(
    "esc.binding-refused-key-revoked",
    "A key's binding Checkpoint refused KEY_REVOKED (the key revoked itself first) still binds it: "
    "stamped, served in the transcript, and its principal's revocation, which it authorises, taken",
    "KEY-007",
    "KEY-004",
    "ESC-001",
    "ESC-006",
)
def binding_refused_key_revoked(ctx: Context) -> Outcome:
    """A thief of Alice's key K revokes K itself (back to 1 ms): taken. Alice's principal P submits
    [Mandate, K's Checkpoint under it, signed after that revocation]: the Checkpoint is refused KEY_REVOKED
    (KEY-004) and binds K to P all the same (KEY-007 (a)) -- the escrow must stamp it (the Submit goes on,
    ESC-001) and serve it in its transcript (ESC-006), so that its restart and its audit read the binding.
    P's revocation of K, which only that binding authorises, must then be taken. An escrow that refuses
    the Checkpoint, or then P's revocation (REVOCATION_UNAUTHORIZED), fails KEY-007."""
    alice = ctx.party("alice")
    own = alice.agent.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=alice.did, effective_ms=1, reason="test")
    )
    taken = esc_target.submit(ctx, [own.envelope], note="the key's own revocation (its thief's)")
    ctx.must(taken.ok, "the escrow refused a key's own revocation (KEY-004: its issuer is the key)")
    binding = alice.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([own.digest])))
    reply = esc_target.submit(
        ctx,
        [*alice.setup, binding.envelope],
        note="the principal's Mandate and the key's Checkpoint under it",
    )
    if reply.error is not None:
        why = reply.error.reason or reply.error.status.name
        raise CaseFailed(
            f"refused the key's Checkpoint under its principal's Mandate ({why}): a statement refused only "
            "KEY_REVOKED binds its key all the same, and an escrow stamps it (KEY-007 (a))"
        )
    stamps = [vs for vs in map(verify_statement, reply.envelopes[1:]) if vs.body == "stamp"]
    ctx.must(_stamp_names(stamps, [binding.digest]), "the escrow did not stamp the binding (KEY-007 (a))")
    stamp = next(s for s in stamps if binding.digest in s.statement.stamp.statements)
    page = esc_target.read(
        ctx,
        "GetTranscript",
        service_pb2.GetTranscriptRequest(from_seq=stamp.header.seq, limit=1),
        note="the Stamp naming the binding",
    )
    ctx.must(
        page.ok and binding.envelope in page.envelopes,
        "the transcript does not serve the binding the escrow's Stamp names (ESC-006, KEY-007 (a))",
    )
    revocation = alice.principal.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=alice.did, effective_ms=1, reason="test")
    )
    back = esc_target.submit(ctx, [revocation.envelope], note="the principal's revocation of the key")
    if back.error is not None:
        why = back.error.reason or back.error.status.name
        raise CaseFailed(
            f"refused the principal's revocation ({why}): the key's Checkpoint refused KEY_REVOKED bound it "
            "to that principal (KEY-007 (a)), which may revoke it (KEY-004)"
        )
    return Outcome.passed("stamped the binding refused KEY_REVOKED and took the revocation it authorises")


@_escrow_case(
    "esc.negotiation-binding-refused-key-revoked",
    "A key's Accept refused KEY_REVOKED (the key revoked itself first) moves nothing and signs nothing, "
    "yet binds the key: its principal's revocation, which only it authorises, is taken",
    "KEY-007",
    "KEY-004",
    "ESC-001",
)
def negotiation_binding_refused_key_revoked(ctx: Context) -> Outcome:
    """Bob offers Alice a trade naming the escrow: taken. A thief of Alice's key K revokes K itself (back
    to 1 ms): taken. Alice's principal P's Mandate and K's Accept under it, signed after that revocation --
    K's first statement under P's Mandate -- are submitted: the escrow must refuse the Accept KEY_REVOKED
    (KEY-004: a live party takes no revoked key's Accept, so it stamps and locks nothing) and bind K to P by
    it all the same (KEY-007 (a)), so that P's revocation of K, which only that Accept authorises, is taken.
    An escrow that refuses P's revocation (REVOCATION_UNAUTHORIZED) fails KEY-007: a view that heard the
    Accept first would have taken it."""
    alice, bob = ctx.party("alice"), ctx.party("bob")
    esc = esc_target.escrow_of(ctx)
    p = fair_proposal(bob)
    p.terms.escrow = esc.did
    offer = bob.offer(alice, p)
    opened = esc_target.submit(ctx, [*bob.setup, offer.envelope], note="an Offer to Alice naming the escrow")
    ctx.must(opened.ok, "the escrow refused an Offer naming it")
    own = alice.agent.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=alice.did, effective_ms=1, reason="test")
    )
    taken = esc_target.submit(ctx, [own.envelope], note="the key's own revocation (its thief's)")
    ctx.must(taken.ok, "the escrow refused a key's own revocation (KEY-004: its issuer is the key)")
    head = esc_target.ledger(ctx)[-1].header.seq
    accept = alice.accept(offer)
    reply = esc_target.submit(
        ctx, [*alice.setup, accept.envelope], note="the principal's Mandate and the key's Accept under it"
    )
    ctx.expect_rejection(reply, "KEY_REVOKED", what="an Accept by a key revoked before it")
    signed = [vs for vs in esc_target.ledger(ctx) if vs.header.seq > head]
    ctx.must(
        not any(vs.body == "stamp" and accept.digest in vs.statement.stamp.statements for vs in signed),
        "the escrow stamped an Accept it refused (KEY-004, KEY-007 (a))",
    )
    ctx.must(
        not any(vs.body == "bond_lock" for vs in signed), "the escrow locked bonds for an Accept it refused"
    )
    revocation = alice.principal.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=alice.did, effective_ms=1, reason="test")
    )
    back = esc_target.submit(ctx, [revocation.envelope], note="the principal's revocation of the key")
    if back.error is not None:
        why = back.error.reason or back.error.status.name
        raise CaseFailed(
            f"refused the principal's revocation ({why}): the key's Accept refused KEY_REVOKED bound it to "
            "that principal (KEY-007 (a)), which may revoke it (KEY-004)"
        )
    return Outcome.passed("refused the Accept, signed nothing for it, and took the revocation it authorises")


@_escrow_case(
    "esc.answer-taken-closes-offer",
    "Once the escrow took a Reject of an offer, it takes no Accept of it and locks nothing",
    "ESC-014",
    "NEG-001",
)
def answer_taken_closes_offer(ctx: Context) -> Outcome:
    """Bob rejects Alice's bonded Offer and Alice shows the escrow the Reject (ESC-013), which it takes.
    Bob's Accept of the same Offer afterwards must be refused (ILLEGAL_TRANSITION), and no bond locked:
    else an acceptor could answer with a Reject and, until the cutoff, still bind the offerer's bond."""
    d = esc_target.deal(ctx, bond=BOND, submit_now=False)
    before = {p.did: esc_target.balance(ctx, p.did) for p in (d.alice, d.bob)}
    reject = d.bob.reject(d.offer, "not interested")
    esc_target.take(ctx, [d.offer, reject], context=d.setup, note="the Offer and Bob's Reject, by Alice")
    ctx.expect_rejection(
        esc_target.submit(ctx, [d.accept.envelope], note="Bob's Accept of the rejected Offer"),
        "ILLEGAL_TRANSITION",
        what="an Accept of an offer whose Reject the escrow took",
    )
    for p in (d.alice, d.bob):
        ctx.must(esc_target.balance(ctx, p.did) == before[p.did], "a bond was locked for a rejected offer")
    return Outcome.passed("the Accept after the Reject was refused; nothing locked")


@_escrow_case(
    "esc.bond-not-covered",
    "A bond the party's funds do not cover is not locked, and the contract stays ACCEPTED",
    "ESC-005",
    "NEG-012",
)
def bond_not_covered(ctx: Context) -> Outcome:
    """Alice's bond is one more than all her funds: the escrow must lock Bob's bond (covered) but
    not Alice's, never partly; a Delivery is then ILLEGAL_TRANSITION (the contract is not BONDED)."""
    alice, bob = ctx.party("alice"), ctx.party("bob")
    esc_target.take(ctx, [], context=[*alice.setup, *bob.setup], note="the parties' Mandates")
    available, _ = esc_target.balance(ctx, alice.did)
    if available == 0:
        return Outcome.skipped(
            "the escrow gives the suite's parties no funds (reference: --conformance-faucet)"
        )
    d = esc_target.deal(ctx, submit_now=False)
    p = trade_pb2.Offer()
    p.CopyFrom(d.offer.statement.offer)
    p.terms.issuer_bond, p.terms.audience_bond = available + 1, 1
    offer = alice.offer(bob, p)
    accept = bob.accept(offer)
    signed = esc_target.take(ctx, [offer, accept], note="a contract whose proposer cannot cover its bond")
    locks = _locks(signed)
    ctx.must(alice.did not in locks, "the escrow locked a bond the party's funds do not cover (ESC-005)")
    ctx.must(locks.get(bob.did) == 1, "the escrow did not lock the covered bond (ESC-005)")
    bad = alice.deliver(accept, bob)
    ctx.expect_rejection(
        esc_target.submit(ctx, [bad.envelope], note="a Delivery before BONDED"),
        "ILLEGAL_TRANSITION",
        what="a Delivery before both bonds are locked",
    )
    return Outcome.passed("locked only the covered bond; no Delivery before BONDED")


@_escrow_case(
    "esc.lapse-unbonded-at-cutoff",
    "A contract not bonded by its bonding cutoff (offer expiry + 30 s) lapses then, and no lock follows",
    "ESC-010",
    "ESC-005",
    "CMT-004",
)
def lapse_unbonded_at_cutoff(ctx: Context) -> Outcome:
    """Alice's bond is one more than all her funds, Bob's is covered; the offer expired 29 s ago, so
    the bonding cutoff -- its expires_at_ms + 30 s, a time both parties signed -- comes a second from
    now. The escrow must lock Bob's bond only, then, once its clock passes the cutoff, sign a Ruling
    LAPSE without waiting for the deadline a day away, and Refund Bob's bond; it must sign no BondLock
    of the contract dated after the cutoff. An escrow that locks whenever funds arrive lets the party
    that funds last choose when bonding ends -- a second before the other's deadline -- and claim its
    bond after it (ESC-010)."""
    alice, bob = ctx.party("alice"), ctx.party("bob")
    esc_target.take(ctx, [], context=[*alice.setup, *bob.setup], note="the parties' Mandates")
    available, _ = esc_target.balance(ctx, alice.did)
    if available == 0:
        return Outcome.skipped(
            "the escrow gives the suite's parties no funds (reference: --conformance-faucet)"
        )
    now = ctx.clock.now_ms
    d = esc_target.deal(ctx, submit_now=False)
    p = trade_pb2.Offer()
    p.CopyFrom(d.offer.statement.offer)
    p.terms.issuer_bond, p.terms.audience_bond = available + 1, 1
    offer = alice.offer(bob, p, issued_at_ms=now - 60_000, ttl_ms=31_000)
    cutoff = offer.header.expires_at_ms + BOND_GRACE_MS
    accept = bob.accept(offer, issued_at_ms=now - 40_000)
    signed = esc_target.take(ctx, [offer, accept], note="a contract whose bonding cutoff is a second away")
    locks = _locks(signed)
    ctx.must(alice.did not in locks, "the escrow locked a bond the party's funds do not cover (ESC-005)")
    ctx.must(locks.get(bob.did) == 1, "the escrow did not lock the covered bond (ESC-005)")
    nid = offer.header.negotiation_id
    lapse = esc_target.wait_for(
        ctx,
        lambda vs: vs.body == "ruling" and vs.header.negotiation_id == nid,
        what="the LAPSE of the contract not bonded by its cutoff (ESC-010)",
    )
    ctx.must(
        lapse.statement.ruling.decision == _LAPSE,
        "the escrow's ruling on an unbonded contract is not a LAPSE (ESC-010)",
    )
    ctx.must(lapse.header.issued_at_ms > cutoff, "the escrow lapsed the contract before its bonding cutoff")
    refund = esc_target.wait_for(
        ctx,
        lambda vs: vs.body == "refund" and vs.header.negotiation_id == nid,
        what="the Refund of Bob's bond",
    ).statement.refund
    ctx.must((refund.party, refund.amount) == (bob.did, 1), "Bob's locked bond was not refunded in full")
    late = [
        vs
        for vs in esc_target.ledger(ctx)
        if vs.body == "bond_lock" and vs.header.negotiation_id == nid and vs.header.issued_at_ms > cutoff
    ]
    ctx.must(not late, "the escrow signed a BondLock after the contract's bonding cutoff (ESC-010)")
    return Outcome.passed("locked the covered bond only; lapsed past the cutoff and refunded it")


@_escrow_case(
    "esc.forfeit-after-uphold",
    "After an upheld claim the breacher's bond is forfeited to the claimant, the other released",
    "CMT-002",
    "CMT-007",
)
def forfeit_after_uphold(ctx: Context) -> Outcome:
    """A bonded contract past due: Alice delivered in time, Bob did not; Alice claims: the escrow
    must UPHOLD, Forfeit Bob's bond to Alice with the claim as cause, and Release Alice's bond. The
    bonds are locked before the deadline (a claim on an item due before that is refused, CMT-009), so
    the case waits for the deadline to pass on the escrow's clock, and the ruling for the clock
    tolerance after it (CMT-002: about 30 s; with ``--test-clock`` the target's clock is moved past it)."""
    deadline = ctx.clock.now_ms + CLAIMABLE_AFTER_MS
    d = esc_target.deal(ctx, bond=BOND, deadline_ms=deadline)
    ok = esc_target.deliver(d, d.alice)
    esc_target.take(ctx, [ok, d.bob.receipt(ok)], note="Alice's timely Delivery, Bob's Receipt")
    time.sleep(max(0, deadline - ctx.clock.now_ms) / 1000 + 0.05)
    c = esc_target.claim(d, d.alice)
    esc_target.take(ctx, [c], note="Alice's claim")
    ctx.skip_ahead(CLOCK_TOLERANCE_MS)  # --test-clock: past the deadline + the tolerance now, not in 30 s
    forfeit = esc_target.wait_for(
        ctx,
        lambda vs: vs.body == "forfeit" and vs.header.negotiation_id == d.nid,
        what="the Forfeit of Bob's bond",
        wait_s=RULING_WAIT_S,  # the ruling falls due once the deadline + the clock tolerance has passed
    ).statement.forfeit
    ctx.must(
        (forfeit.party, forfeit.beneficiary, forfeit.amount, forfeit.cause)
        == (d.bob.did, d.alice.did, BOND, c.digest),
        "the Forfeit is not Bob's bond, in full, to Alice, caused by the claim (CMT-002)",
    )
    release = esc_target.wait_for(
        ctx,
        lambda vs: vs.body == "release" and vs.header.negotiation_id == d.nid,
        what="the Release of Alice's bond",
    ).statement.release
    ctx.must(
        (release.party, release.amount) == (d.alice.did, BOND),
        "Alice's bond was not released in full (CMT-007)",
    )
    return Outcome.passed("forfeited the breacher's bond to the claimant, released the other")


@_escrow_case(
    "esc.refund-after-lapse",
    "A lapsed contract's locked bonds are refunded in full",
    "CMT-004",
    "CMT-006",
)
def refund_after_lapse(ctx: Context) -> Outcome:
    """A bonded contract whose items fell due over a day ago, nobody delivered or claimed: LAPSE,
    then a Refund of each locked bond, in full, to its owner."""
    now = ctx.clock.now_ms
    d = esc_target.deal(
        ctx, bond=BOND, deadline_ms=now - DAY_MS - 10_000, offer_at_ms=now - 20_000, accept_at_ms=now - 19_000
    )
    esc_target.wait_for(
        ctx, lambda vs: vs.body == "ruling" and vs.header.negotiation_id == d.nid, what="the LAPSE"
    )
    refunds: dict[str, int] = {}
    for vs in esc_target.ledger(ctx):
        if vs.body == "refund" and vs.header.negotiation_id == d.nid:
            refunds[vs.statement.refund.party] = vs.statement.refund.amount
    if len(refunds) < 2:
        esc_target.wait_for(
            ctx,
            lambda vs: (
                vs.body == "refund"
                and vs.header.negotiation_id == d.nid
                and vs.statement.refund.party not in refunds
            ),
            what="the second Refund",
        )
        refunds = {
            vs.statement.refund.party: vs.statement.refund.amount
            for vs in esc_target.ledger(ctx)
            if vs.body == "refund" and vs.header.negotiation_id == d.nid
        }
    ctx.must(refunds == {d.alice.did: BOND, d.bob.did: BOND}, f"refunds after the lapse: {refunds} (CMT-004)")
    return Outcome.passed("lapsed and refunded both bonds in full")


@_escrow_case(
    "esc.revoke-forfeit",
    "A Revoke under forfeit_bond terms forfeits the revoker's bond to the other party",
    "CMT-003",
    "WIT-005",
)
def revoke_forfeit(ctx: Context) -> Outcome:
    """Terms allow revocation with forfeit_bond; Bob revokes: once stamped, the escrow must Forfeit
    Bob's bond to Alice with the Revoke as cause, and never release it."""
    d = esc_target.deal(ctx, bond=BOND, revocation=trade_pb2.Revocation(allowed=True, forfeit_bond=True))
    rv = esc_target.revoke(d, d.bob)
    signed = esc_target.take(ctx, [rv], note="Bob's Revoke")
    ctx.must(
        _stamp_names([s for s in signed if s.body == "stamp"], [rv.digest]),
        "the Revoke was not stamped (WIT-005)",
    )
    forfeit = esc_target.wait_for(
        ctx,
        lambda vs: vs.body == "forfeit" and vs.header.negotiation_id == d.nid,
        what="the Forfeit of Bob's bond",
    ).statement.forfeit
    ctx.must(
        (forfeit.party, forfeit.beneficiary, forfeit.amount, forfeit.cause)
        == (d.bob.did, d.alice.did, BOND, rv.digest),
        "the Forfeit is not the revoker's bond, in full, to the other party, caused by the Revoke (CMT-003)",
    )
    ctx.must(
        not any(
            vs.body == "release"
            and vs.header.negotiation_id == d.nid
            and vs.statement.release.party == d.bob.did
            for vs in esc_target.ledger(ctx)
        ),
        "the escrow released the revoker's bond (CMT-003)",
    )
    return Outcome.passed("forfeited the revoker's bond")


@_escrow_case(
    "esc.ledger-audits-clean",
    "The escrow's transcript passes the reference audit (every decision re-derived, funds conserved)",
    "CMT-001",
    "CMT-002",
    "CMT-004",
    "CMT-006",
    "WIT-001",
)
def audits_clean(ctx: Context) -> Outcome:
    """Read the whole transcript (GetTranscript from 0) and run the reference escrow audit over it:
    no findings. The audit re-derives every ruling, release, forfeit and refund from the stamped
    evidence and replays every balance, so an escrow that broke a rule anywhere in its history -- in
    this run or before -- fails here."""
    from a2a_coop.protocol.escrow_audit import audit_ledger

    esc = esc_target.escrow_of(ctx)
    envelopes: list[bytes] = []
    seq = 0
    while True:
        reply = esc_target.read(
            ctx, "GetTranscript", service_pb2.GetTranscriptRequest(from_seq=seq, limit=512), note="transcript"
        )
        ctx.must(reply.ok, f"GetTranscript from {seq} failed")
        envelopes += reply.envelopes
        if reply.message.next_seq > reply.message.head_seq or reply.message.next_seq <= seq:
            break
        seq = reply.message.next_seq
    report = audit_ledger(envelopes, escrow=esc.did)
    if report.findings and all(f.code == "EVIDENCE_MISSING" for f in report.findings) and len(envelopes) <= 1:
        return Outcome.info("the escrow's ledger is empty: nothing to audit")
    ctx.must(
        report.ok,
        "the reference audit of the escrow's transcript found: "
        + "; ".join(f"{f.code}: {f.message}" for f in report.findings[:5]),
    )
    return Outcome.passed(f"{len(report.statements)} statements audited, no findings")


@_escrow_case(
    "esc.displaced-bonds-refunded",
    "Bonds locked for a contract another escrow's witnessed Accept displaced are refunded at once",
    "ESC-016",
    "NEG-017",
    "NEG-018",
)
def displaced_bonds_refunded(ctx: Context) -> Outcome:
    """Alice offers Bob bonded terms naming another escrow K (a key the suite plays); Bob counters at the
    target, Alice accepts, and the target locks both bonds. Then Bob's Accept of Alice's first Offer,
    stamped by K in time, is shown to the target: it takes precedence (NEG-017), and the contract the
    target bonds is superseded for every verifier holding it. The target must refund both bonds in full,
    after its Stamp of that Accept (the shadow verifier, holding the Accept, takes the Refunds), and sign
    nothing else: left locked, they would stay locked for good (ESC-016). Alice then resubmits her Accept
    of the displaced contract: the answer must show the Accept that displaced it, with K's Stamp."""
    esc = esc_target.escrow_of(ctx)
    alice, bob, k = ctx.party("alice"), ctx.party("bob"), ctx.party("k")
    esc_target.take(ctx, [], context=[*alice.setup, *bob.setup], note="the parties' Mandates")
    before = {p.did: esc_target.balance(ctx, p.did) for p in (alice, bob)}
    if min(available for available, _ in before.values()) < BOND:
        return Outcome.skipped(
            "the escrow gives the suite's parties no funds (reference: --conformance-faucet)"
        )
    d = esc_target.deal(ctx, bond=BOND, escrow=k.did, submit_now=False)
    first = d.offer
    mine = first.statement.offer
    theirs = trade_pb2.Offer(gives=mine.wants, wants=mine.gives)
    theirs.terms.CopyFrom(mine.terms)
    theirs.terms.escrow = esc.did
    counter = bob.counter(first, theirs)
    accept = alice.accept(counter)
    signed = esc_target.take(ctx, [first, counter, accept], note="the line, accepted at the target")
    locks = _locks(signed)
    ctx.must(
        locks == {alice.did: BOND, bob.did: BOND}, f"the escrow locked {locks}, not both bonds (NEG-012)"
    )
    displacing = bob.accept(first)
    stamp = k.sign("stamp", commitment_pb2.Stamp(statements=[displacing.digest]))
    answer = esc_target.take(
        ctx, [stamp, displacing], context=k.setup, note="K's Stamp of Bob's Accept of the first Offer"
    )
    ours = next((i for i, vs in enumerate(answer) if vs.body == "stamp"), None)
    ctx.must(
        ours is not None and displacing.digest in answer[ours].statement.stamp.statements,
        "the escrow did not stamp the displacing Accept (WIT-001)",
    )
    assert ours is not None
    refunds = [vs for vs in answer[ours + 1 :] if vs.body == "refund"]
    got = {
        (r.statement.refund.contract, r.statement.refund.party, r.statement.refund.amount) for r in refunds
    }
    want = {(accept.digest, alice.did, BOND), (accept.digest, bob.did, BOND)}
    ctx.must(
        got == want,
        "the escrow did not refund both bonds of the displaced contract after its Stamp (ESC-016)",
    )
    others = [vs.body for vs in answer[ours + 1 :] if vs.body != "refund"]
    ctx.must(not others, f"the escrow signed {others} about a displaced contract (ESC-016)")
    for p in (alice, bob):
        ctx.must(
            esc_target.balance(ctx, p.did) == before[p.did], "a displaced contract's bond is still locked"
        )
    again = esc_target.take(
        ctx, [accept], note="Alice resubmits the Accept of the displaced contract (ESC-008)"
    )
    digests = [vs.digest for vs in again]
    ctx.must(
        stamp.digest in digests and displacing.digest in digests,
        "the answer to the displaced contract's Accept does not show the Accept that displaced it, with its "
        "witness's Stamp (ESC-016): its parties are left performing a contract nobody can claim under",
    )
    return Outcome.passed(
        "both bonds refunded after the Stamp of the displacing Accept, which the answer to the displaced "
        "contract's Accept shows"
    )
