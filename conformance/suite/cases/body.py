"""Body rules (SPEC section 7, step 20): an Offer (or other body) with exactly one body defect,
signed, is refused BODY_INVALID; then the valid statement at the same seq is accepted (ERR-003)."""

from __future__ import annotations

from collections.abc import Callable

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2, reputation_pb2, statement_pb2, trade_pb2
from a2a_coop.protocol.envelope import sign_payload
from a2a_coop.protocol.statements import encode_statement, new_statement
from conformance.suite.context import Context
from conformance.suite.flows import fair_proposal, forge, form_contract, refuses, target
from conformance.suite.model import Outcome, case

MAX_INT = 2**53 - 1


def _offer_defect(ctx: Context, what: str, mutate: Callable[[trade_pb2.Offer], None]) -> Outcome:
    alice = ctx.party()

    def on_statement(s: statement_pb2.Statement) -> None:
        mutate(s.offer)

    bad = forge(alice, "offer", fair_proposal(alice), audience=ctx.target, mutate=on_statement)
    valid = alice.offer(target(ctx), fair_proposal(alice))
    return Outcome.passed(refuses(ctx, bad, "BODY_INVALID", what=what, context=alice.setup, then=valid))


@case("bdy.offer-no-wants", "An Offer asking for nothing is refused BODY_INVALID", "BDY-001", "ERR-003")
def offer_no_wants(ctx: Context) -> Outcome:
    """An Offer with an empty ``wants``."""
    return _offer_defect(ctx, "an offer with no wants", lambda o: o.ClearField("wants"))


@case("bdy.item-kind", "An Item of kind UNSPECIFIED is refused BODY_INVALID", "BDY-002")
def item_kind(ctx: Context) -> Outcome:
    """The first given Item's kind set to ITEM_KIND_UNSPECIFIED."""
    return _offer_defect(
        ctx, "an item of no kind", lambda o: setattr(o.gives[0], "kind", trade_pb2.ITEM_KIND_UNSPECIFIED)
    )


@case(
    "bdy.item-category",
    "An Item category outside ^[a-z0-9][a-z0-9.-]{0,63}$ is refused BODY_INVALID",
    "BDY-002",
)
def item_category(ctx: Context) -> Outcome:
    """The first given Item's category is ``Code Review`` (upper case and a space)."""
    return _offer_defect(
        ctx, "a category 'Code Review'", lambda o: setattr(o.gives[0], "category", "Code Review")
    )


@case("bdy.terms-currency", "A currency outside the pattern is refused BODY_INVALID", "BDY-003")
def terms_currency(ctx: Context) -> Outcome:
    """Terms.currency = ``Credit!``."""
    return _offer_defect(ctx, "currency 'Credit!'", lambda o: setattr(o.terms, "currency", "Credit!"))


@case("bdy.bond-without-escrow", "A bond with no escrow named is refused BODY_INVALID", "BDY-003")
def bond_without_escrow(ctx: Context) -> Outcome:
    """issuer_bond = 10 with Terms.escrow empty (nobody would hold the bond)."""
    return _offer_defect(ctx, "a bond with no escrow", lambda o: setattr(o.terms, "issuer_bond", 10))


@case("bdy.exclusive-key-33", "A 33-byte exclusive_key is refused BODY_INVALID", "BDY-005")
def exclusive_key_33(ctx: Context) -> Outcome:
    """Offer.exclusive_key of 33 bytes."""
    return _offer_defect(ctx, "a 33-byte exclusive key", lambda o: setattr(o, "exclusive_key", b"k" * 33))


@case("bdy.claim-no-subject", "A Claim with no subject is refused BODY_INVALID", "BDY-006")
def claim_no_subject(ctx: Context) -> Outcome:
    """A NEED claim with an amount and an empty subject."""
    return _offer_defect(
        ctx,
        "a claim with no subject",
        lambda o: o.claims.append(trade_pb2.Claim(kind=trade_pb2.CLAIM_KIND_NEED, amount=5)),
    )


@case(
    "bdy.claim-commitment-31", "A committed Claim of 31 bytes is refused BODY_INVALID", "BDY-006", "BDY-007"
)
def claim_commitment_31(ctx: Context) -> Outcome:
    """A RESERVATION_VALUE claim committed blind with a 31-byte commitment."""
    claim = trade_pb2.Claim(
        kind=trade_pb2.CLAIM_KIND_RESERVATION_VALUE, subject="copy-editing", commitment=b"\x01" * 31
    )
    return _offer_defect(ctx, "a 31-byte commitment", lambda o: o.claims.append(claim))


@case("bdy.value-over-2-53", "An Item value above 2^53 - 1 is refused BODY_INVALID", "BDY-015")
def value_over(ctx: Context) -> Outcome:
    """The first given Item's value = 2^53."""
    return _offer_defect(ctx, "a value of 2^53", lambda o: setattr(o.gives[0], "value", MAX_INT + 1))


@case("bdy.accept-digest-31", "An Accept naming a 31-byte offer digest is refused BODY_INVALID", "BDY-004")
def accept_digest_31(ctx: Context) -> Outcome:
    """An Accept (in an unknown negotiation would be UNKNOWN_NEGOTIATION; body rules come first, step 20)
    whose offer field is 31 bytes."""
    alice = ctx.party()
    bad = forge(
        alice,
        "accept",
        trade_pb2.Accept(offer=b"\x01" * 31),
        audience=ctx.target,
        negotiation_id=b"\x02" * 16,
    )
    return Outcome.passed(
        refuses(ctx, bad, "BODY_INVALID", what="an accept naming 31 bytes", context=alice.setup)
    )


@case("bdy.receipt-rating-101", "A Receipt rating of 101 is refused BODY_INVALID", "BDY-009")
def receipt_rating(ctx: Context) -> Outcome:
    """Our Receipt of the target's Delivery with rating 101."""
    contract = form_contract(ctx)
    if not contract.deliveries:
        return Outcome.info("the target did not deliver in its answer; nothing to receipt")
    alice = contract.party
    d = contract.deliveries[0]
    bad = forge(
        alice,
        "receipt",
        commitment_pb2.Receipt(delivery=d.digest, rating=101),
        audience=ctx.target,
        negotiation_id=contract.opened.nid,
    )
    valid = alice.receipt(d)
    return Outcome.passed(refuses(ctx, bad, "BODY_INVALID", what="a rating of 101", then=valid))


@case("bdy.attestation-addressed", "An Attestation with an audience is refused BODY_INVALID", "BDY-011")
def attestation_addressed(ctx: Context) -> Outcome:
    """An Attestation must be public; this one is addressed to the target."""
    alice = ctx.party()
    msg = reputation_pb2.Attestation(
        subject=ctx.target, offer=b"\x01" * 32, accept=b"\x02" * 32, outcome=reputation_pb2.OUTCOME_FULFILLED
    )
    bad = forge(alice, "attestation", msg, audience=ctx.target)
    return Outcome.passed(
        refuses(ctx, bad, "BODY_INVALID", what="an addressed attestation", context=alice.setup)
    )


@case(
    "bdy.mandate-context-invalid",
    "A Mandate with valid_until <= valid_from, given as context, is refused BODY_INVALID",
    "BDY-010",
)
def mandate_invalid(ctx: Context) -> Outcome:
    """Alice's principal signs a Mandate that ends before it starts; the Offer carries it as context."""
    alice = ctx.party()
    now = ctx.clock.now_ms
    msg = identity_pb2.Mandate(
        agent=alice.did, valid_from_ms=now, valid_until_ms=now - 1, currency="credit", max_per_deal=100
    )
    stmt = new_statement("mandate", msg, issued_at_ms=now, ttl_ms=86_400_000)
    principal = alice.principal
    h = stmt.header
    h.version, h.issuer, h.seq, h.prev = 1, principal.did, principal.writer.next_seq, principal.writer.prev
    h.nonce = principal.next_nonce()
    bad_mandate = sign_payload(encode_statement(stmt), principal.key)
    offer = alice.offer(target(ctx), fair_proposal(alice))
    what = "a context mandate that ends before it starts"
    return Outcome.passed(refuses(ctx, offer.envelope, "BODY_INVALID", what=what, context=[bad_mandate]))


def _public_defect(ctx: Context, body: str, message: object, what: str) -> Outcome:
    """A public statement by Alice whose body breaks a stateless body rule (step 20 comes before any
    contextual check, so who issued it does not matter)."""
    alice = ctx.party()
    bad = forge(alice, body, message, negotiation_id=b"\x03" * 16 if body in ("bond_lock", "ruling") else b"")
    return Outcome.passed(refuses(ctx, bad, "BODY_INVALID", what=what, context=alice.setup))


@case("bdy.bond-lock-zero", "A BondLock of amount 0 is refused BODY_INVALID", "BDY-008")
def bond_lock_zero(ctx: Context) -> Outcome:
    """A BondLock with amount 0 (checked statelessly, before the issuer's role)."""
    return _public_defect(
        ctx,
        "bond_lock",
        commitment_pb2.BondLock(contract=b"\x01" * 32, party=ctx.target, amount=0),
        "a bond lock of 0",
    )


@case("bdy.ruling-unspecified", "A Ruling with no decision is refused BODY_INVALID", "BDY-016")
def ruling_unspecified(ctx: Context) -> Outcome:
    """A Ruling with decision RULING_DECISION_UNSPECIFIED."""
    return _public_defect(
        ctx, "ruling", commitment_pb2.Ruling(contract=b"\x01" * 32), "a ruling with no decision"
    )


@case("bdy.stamp-empty", "A Stamp naming no statement is refused BODY_INVALID", "BDY-017")
def stamp_empty(ctx: Context) -> Outcome:
    """A Stamp with an empty statements list."""
    return _public_defect(ctx, "stamp", commitment_pb2.Stamp(), "an empty stamp")


@case("bdy.deposit-zero", "A Deposit of amount 0 is refused BODY_INVALID", "BDY-014")
def deposit_zero(ctx: Context) -> Outcome:
    """A Deposit crediting the target 0 credit."""
    return _public_defect(
        ctx,
        "deposit",
        commitment_pb2.Deposit(party=ctx.target, amount=0, currency="credit"),
        "a deposit of 0",
    )
