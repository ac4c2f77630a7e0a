"""The negotiation state machine with the target as responder (SPEC section 8): every transition the
suite can drive from the initiator's side, and illegal moves refused with the SPEC code.

Transitions that need the target to make the opening offer (COUNTER, WITHDRAW by the target, an
Accept after the target's offer expired) are the initiator role's (cases/initiator.py); those that
need an escrow the target trusts are NOT-TESTED (cases/not_observable.py)."""

from __future__ import annotations

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, trade_pb2
from a2a_coop.protocol.negotiation import State
from a2a_coop.protocol.statements import VerifiedStatement
from conformance.suite.context import Context
from conformance.suite.flows import (
    fair_proposal,
    form_contract,
    open_negotiation,
    refuses,
    target,
    unfair_proposal,
)
from conformance.suite.model import CaseFailed, Level, Outcome, case


def _state(ctx: Context, vs: VerifiedStatement) -> State:
    return ctx.shadow.negotiations.get(vs.header.negotiation_id).state


@case(
    "neg.trade-to-fulfilment",
    "Offer, Accept, both Deliveries and Receipts: PROPOSED → ACCEPTED → PERFORMING → FULFILLED",
    "NEG-001",
    "NEG-011",
    "RPC-002",
    "RPC-001",
    "STM-012",
    "ENV-005",
)
def trade_to_fulfilment(ctx: Context) -> Outcome:
    """A fair Offer must be answered, in order, by the target's Mandate and its signed answers
    (RPC-002); the suite then receipts the target's Deliveries and delivers its own item, which the
    target must receipt naming the digest of the exact bytes sent (RPC-001, STM-012). The reference
    verifier must reach FULFILLED over the whole conversation."""
    contract = form_contract(ctx)
    answers = contract.opened.answers
    ctx.must(
        answers[0].body == "mandate" and answers[0].statement.mandate.agent == ctx.target,
        "the answer to an Offer does not start with the target's Mandate (RPC-002)",
    )
    ctx.must(
        contract.accept.statement.accept.offer == contract.opened.offer.digest,
        "the Accept does not name our Offer's digest",
    )
    alice = contract.party
    if not contract.deliveries:
        return Outcome.info("the target accepted but did not deliver in its answer; FULFILLED not reached")
    for d in contract.deliveries:
        ctx.send(alice.receipt(d), note="our receipt of its delivery")
    ours = alice.deliver(contract.accept, target(ctx))
    answer = ctx.send(ours, note="our delivery")
    receipts = [a for a in answer if a.body == "receipt"]
    ctx.must(
        bool(receipts),
        "the target did not receipt our delivery (nor answer with an Ack)"
        if not answer
        else f"the target answered our delivery with {', '.join(a.body for a in answer)}, no receipt",
        Level.INFO,
    )
    ctx.must(
        receipts[0].statement.receipt.delivery == ours.digest,
        "the target's receipt does not name the digest of the delivery bytes we sent (RPC-001)",
    )
    state = _state(ctx, contract.accept)
    ctx.must(state is State.FULFILLED, f"the reference verifier ends in {state.value}, not FULFILLED")
    return Outcome.passed("PROPOSED → ACCEPTED → PERFORMING → FULFILLED, every statement verified")


@case(
    "neg.reject",
    "An offer the target declines ends REJECTED; nothing is legal after it",
    "NEG-001",
    "RPC-002",
)
def reject(ctx: Context) -> Outcome:
    """An unfair Offer (we give 1, ask 900): a Reject naming it (PROPOSED → REJECTED); then our
    Withdraw and our Delivery are ILLEGAL_TRANSITION (REJECTED is terminal)."""
    alice = ctx.party()
    opened = open_negotiation(ctx, proposal=unfair_proposal(alice))
    rejected = opened.answer("reject")
    if rejected is None:
        return Outcome.info(
            "the target accepted an offer worth 1 for 900: cannot reach REJECTED with this deciding layer"
        )
    ctx.must(rejected.statement.reject.offer == opened.offer.digest, "the Reject does not name our offer")
    withdraw = alice.withdraw(opened.offer)
    return Outcome.passed(
        refuses(ctx, withdraw.envelope, "ILLEGAL_TRANSITION", what="a withdraw after REJECTED")
    )


@case("neg.second-accept", "A second Accept in a negotiation is refused ILLEGAL_TRANSITION", "NEG-006")
def second_accept(ctx: Context) -> Outcome:
    """After the target accepted our Offer, we Accept it too (ACCEPTED + ACCEPT is no row)."""
    contract = form_contract(ctx)
    bad = contract.party.sign(
        "accept",
        trade_pb2.Accept(offer=contract.opened.offer.digest),
        audience=ctx.target,
        negotiation_id=contract.opened.nid,
    )
    return Outcome.passed(refuses(ctx, bad.envelope, "ILLEGAL_TRANSITION", what="a second accept"))


@case(
    "neg.withdraw-after-accept", "Withdrawing an offer once accepted is refused ILLEGAL_TRANSITION", "NEG-001"
)
def withdraw_after_accept(ctx: Context) -> Outcome:
    """Our Withdraw of our own Offer after the target's Accept."""
    contract = form_contract(ctx)
    bad = contract.party.withdraw(contract.opened.offer)
    return Outcome.passed(refuses(ctx, bad.envelope, "ILLEGAL_TRANSITION", what="a withdraw after ACCEPTED"))


@case(
    "neg.unknown-negotiation",
    "A non-Offer statement in an unknown negotiation is refused UNKNOWN_NEGOTIATION",
    "NEG-002",
)
def unknown_negotiation(ctx: Context) -> Outcome:
    """A Delivery under a negotiation id the target never saw."""
    alice = ctx.party()
    bad = alice.sign(
        "delivery",
        commitment_pb2.Delivery(contract=b"\x07" * 32, item_index=0),
        audience=ctx.target,
        negotiation_id=b"\x07" * 16,
    )
    return Outcome.passed(
        refuses(
            ctx,
            bad.envelope,
            "UNKNOWN_NEGOTIATION",
            what="a delivery in an unknown negotiation",
            context=alice.setup,
        )
    )


@case("neg.outsider", "A trade statement by someone who is not a party is refused WRONG_PARTY", "NEG-003")
def outsider(ctx: Context) -> Outcome:
    """Mallory sends a Reject of Alice's Offer (Mallory is not a party)."""
    alice = ctx.party()
    opened = open_negotiation(ctx, proposal=unfair_proposal(alice))
    mallory = ctx.party("mallory")
    bad = mallory.sign(
        "reject",
        trade_pb2.Reject(offer=opened.offer.digest),
        audience=ctx.target,
        negotiation_id=opened.nid,
        refs=[opened.offer.digest],
    )
    return Outcome.passed(
        refuses(ctx, bad.envelope, "WRONG_PARTY", what="a reject by an outsider", context=mallory.setup)
    )


@case(
    "neg.stale-receipt", "A Receipt naming no Delivery of the contract is refused STALE_REFERENCE", "NEG-005"
)
def stale_receipt(ctx: Context) -> Outcome:
    """A Receipt naming a made-up delivery digest under a formed contract."""
    contract = form_contract(ctx)
    alice = contract.party
    bad = alice.sign(
        "receipt",
        commitment_pb2.Receipt(delivery=b"\x09" * 32, rating=50),
        audience=ctx.target,
        negotiation_id=contract.opened.nid,
    )
    return Outcome.passed(refuses(ctx, bad.envelope, "STALE_REFERENCE", what="a receipt of no delivery"))


@case(
    "neg.delivery-wrong-contract", "A Delivery naming another contract is refused STALE_REFERENCE", "NEG-005"
)
def delivery_wrong_contract(ctx: Context) -> Outcome:
    """A Delivery whose contract field is not the Accept's digest (NEG-011: the contract id is the
    Accept's digest)."""
    contract = form_contract(ctx)
    alice = contract.party
    bad = alice.sign(
        "delivery",
        commitment_pb2.Delivery(contract=contract.opened.offer.digest, item_index=0),
        audience=ctx.target,
        negotiation_id=contract.opened.nid,
    )
    return Outcome.passed(
        refuses(ctx, bad.envelope, "STALE_REFERENCE", what="a delivery naming the offer as its contract")
    )


@case(
    "neg.delivery-bad-item",
    "A Delivery of an item the issuer does not give is refused BODY_INVALID",
    "NEG-008",
)
def delivery_bad_item(ctx: Context) -> Outcome:
    """Alice gives one item (index 0); she delivers item 3."""
    contract = form_contract(ctx)
    bad = contract.party.deliver(contract.accept, target(ctx), item_index=3)
    return Outcome.passed(refuses(ctx, bad.envelope, "BODY_INVALID", what="a delivery of item 3 of 1"))


@case(
    "neg.deliver-twice",
    "A second Delivery of an item, or Receipt of an item, sent live is refused ILLEGAL_TRANSITION",
    "CMT-013",
)
def deliver_twice(ctx: Context) -> Outcome:
    """Alice delivers her item, which the target takes, then delivers it again (a new statement, not the
    same one resent): the second must be refused. If the target delivered in its answer, Alice receipts
    its Delivery, then receipts it again: the second must be refused too."""
    contract = form_contract(ctx)
    alice = contract.party
    ctx.send(alice.deliver(contract.accept, target(ctx)), note="our delivery")
    again = alice.deliver(contract.accept, target(ctx))
    done = refuses(ctx, again.envelope, "ILLEGAL_TRANSITION", what="a second delivery of our item")
    if not contract.deliveries:
        return Outcome.passed(f"{done} (the target delivered nothing in its answer: no receipt tried)")
    theirs = contract.deliveries[0]
    ctx.send(alice.receipt(theirs), note="our receipt of its delivery")
    done2 = refuses(ctx, alice.receipt(theirs).envelope, "ILLEGAL_TRANSITION", what="a second receipt of it")
    return Outcome.passed(f"{done}; {done2}")


@case("neg.receipt-own-delivery", "Receipting one's own Delivery is refused WRONG_PARTY", "NEG-008")
def receipt_own_delivery(ctx: Context) -> Outcome:
    """Alice delivers, then receipts her own Delivery."""
    contract = form_contract(ctx)
    alice = contract.party
    delivery = alice.deliver(contract.accept, target(ctx))
    ctx.send(delivery, note="our delivery")
    bad = alice.sign(
        "receipt",
        commitment_pb2.Receipt(delivery=delivery.digest, rating=90),
        audience=ctx.target,
        negotiation_id=contract.opened.nid,
    )
    return Outcome.passed(refuses(ctx, bad.envelope, "WRONG_PARTY", what="a receipt of our own delivery"))


@case(
    "neg.escrow-body-by-party",
    "A BondLock issued by a party (not the contract's escrow) is refused WRONG_PARTY",
    "NEG-008",
)
def escrow_body_by_party(ctx: Context) -> Outcome:
    """Alice signs a BondLock of her own bond under a contract without an escrow."""
    contract = form_contract(ctx)
    alice = contract.party
    bad = alice.sign(
        "bond_lock",
        commitment_pb2.BondLock(contract=contract.accept.digest, party=alice.did, amount=10),
        audience=ctx.target,
        negotiation_id=contract.opened.nid,
    )
    return Outcome.passed(refuses(ctx, bad.envelope, "WRONG_PARTY", what="a bond lock signed by a party"))


@case(
    "neg.delivery-before-accept",
    "A Delivery dated before the Accept is refused ILLEGAL_TRANSITION",
    "NEG-014",
)
def delivery_before_accept(ctx: Context) -> Outcome:
    """Our Offer is dated 20 s ago, the target accepts now; our Delivery is dated 10 s ago (after
    the Offer, before the Accept, inside the skew)."""
    alice = ctx.party()
    now = ctx.clock.now_ms
    offer = alice.offer(target(ctx), fair_proposal(alice), issued_at_ms=now - 20_000)
    answers = ctx.send(offer, alice.setup, note="an offer dated 20 s ago")
    accept = next((a for a in answers if a.body == "accept"), None)
    if accept is None:
        raise CaseFailed("the target did not accept a fair offer; needs a contract", Level.INFO)
    if accept.header.issued_at_ms <= now - 10_000:
        return Outcome.not_tested(
            "the target dated its Accept 10 s or more in the past; no gap to date a delivery into"
        )
    bad = alice.deliver(accept, target(ctx), issued_at_ms=now - 10_000)
    return Outcome.passed(
        refuses(ctx, bad.envelope, "ILLEGAL_TRANSITION", what="a delivery dated before the accept")
    )


@case(
    "neg.claim-without-escrow",
    "A BreachClaim under terms naming no escrow is refused ILLEGAL_TRANSITION",
    "CMT-005",
)
def claim_without_escrow(ctx: Context) -> Outcome:
    """A BreachClaim of the target's item 0 under a contract without an escrow (nobody could rule on it)."""
    contract = form_contract(ctx)
    alice = contract.party
    bad = alice.sign(
        "breach_claim",
        commitment_pb2.BreachClaim(contract=contract.accept.digest, item_index=0, reason="test"),
        audience=ctx.target,
        negotiation_id=contract.opened.nid,
    )
    return Outcome.passed(refuses(ctx, bad.envelope, "ILLEGAL_TRANSITION", what="a claim with no escrow"))


@case(
    "neg.revoke-not-allowed",
    "A Revoke under terms that do not allow it is refused REVOCATION_NOT_ALLOWED",
    "NEG-010",
)
def revoke_not_allowed(ctx: Context) -> Outcome:
    """A Revoke of a contract whose terms.revocation.allowed is false."""
    contract = form_contract(ctx)
    alice = contract.party
    bad = alice.sign(
        "revoke",
        commitment_pb2.Revoke(contract=contract.accept.digest, reason="test"),
        audience=ctx.target,
        negotiation_id=contract.opened.nid,
    )
    return Outcome.passed(
        refuses(ctx, bad.envelope, "REVOCATION_NOT_ALLOWED", what="a revoke of an irrevocable contract")
    )


@case(
    "neg.exclusive-key", "The target does not accept a second live contract on one exclusive_key", "NEG-009"
)
def exclusive_key(ctx: Context) -> Outcome:
    """Alice offers the same exclusive_key in two negotiations. The target accepts the first; an
    Accept of the second would be EXCLUSIVE_CONFLICT (the proposer, Alice, would hold two live
    contracts on one scarce thing), so the target's guard must not sign it (MND-011, NEG-009)."""
    alice = ctx.party()
    first = alice.offer(target(ctx), fair_proposal(alice, exclusive_key=b"gpu-slot-1"))
    second = alice.offer(target(ctx), fair_proposal(alice, exclusive_key=b"gpu-slot-1"))
    a1 = ctx.send(first, alice.setup, note="first offer on exclusive key gpu-slot-1")
    if not any(a.body == "accept" for a in a1):
        raise CaseFailed("the target did not accept a fair offer; needs a contract", Level.INFO)
    a2 = ctx.send(second, note="second offer on the same key")
    ctx.must(
        not any(a.body == "accept" for a in a2),
        "the target accepted a second live contract on one exclusive_key (EXCLUSIVE_CONFLICT)",
    )
    return Outcome.passed("the target declined the second: " + ", ".join(a.body for a in a2))
