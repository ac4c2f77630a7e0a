"""Context-free body rules (SPEC section 7, BDY-*). Every failure is BODY_INVALID with its rule."""

from __future__ import annotations

from typing import Any

import pytest

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2, reputation_pb2, trade_pb2
from a2a_coop.protocol.bodies import check_body
from a2a_coop.protocol.envelope import sign_payload
from a2a_coop.protocol.errors import BodyInvalid
from a2a_coop.protocol.identity import Keypair, did_from_public_key
from a2a_coop.protocol.statements import Statement, encode_statement, verify_statement
from a2a_coop.testing import DAY_MS, EPOCH_MS, FixedClock, Party, derive, service

DID = Keypair.from_seed(derive("bodies/someone")).did
DIGEST = derive("bodies/some statement")
OTHER_DID = Keypair.from_seed(derive("bodies/other")).did
SMALL_ORDER_DID = did_from_public_key(bytes.fromhex("01" + "00" * 31))
D32 = derive("bodies/digest")
D31 = D32[:31]


def _stmt(body: str, msg: Any, *, seq: int = 0, audience: str = "", issuer: str = DID) -> Statement:
    stmt = Statement()
    stmt.header.seq, stmt.header.audience, stmt.header.issuer = seq, audience, issuer
    getattr(stmt, body).CopyFrom(msg)
    return stmt


def _id(change: Any) -> str:
    """A short readable test id for a dict of field changes."""
    if isinstance(change, dict):
        return ",".join(f"{k}={v!r:.12}" for k, v in change.items())
    return str(change).replace("\n", " ")[:40]


def _rule(body: str, msg: Any, **kw: Any) -> str:
    """Run the body rules; return the requirement of the BODY_INVALID raised."""
    with pytest.raises(BodyInvalid) as err:
        check_body(_stmt(body, msg, **kw), body)
    return err.value.requirement


def _ok(body: str, msg: Any, **kw: Any) -> None:
    check_body(_stmt(body, msg, **kw), body)


def _item(**kw: Any) -> trade_pb2.Item:
    item = service("code-review", value=10, deadline_ms=EPOCH_MS + DAY_MS)
    for k, v in kw.items():
        setattr(item, k, v)
    return item


def _offer(**kw: Any) -> trade_pb2.Offer:
    offer = trade_pb2.Offer(gives=[_item()], wants=[_item()], terms=trade_pb2.Terms(currency="credit"))
    for k, v in kw.items():
        if k in ("gives", "wants", "claims"):
            del getattr(offer, k)[:]
            getattr(offer, k).extend(v)
        elif k == "terms":
            offer.terms.CopyFrom(v)
        else:
            setattr(offer, k, v)
    return offer


def test_a_plain_offer_passes() -> None:
    """Baseline for the tests below: the minimal offer they mutate is valid."""
    _ok("offer", _offer())


# --- BDY-001: offer shape -----------------------------------------------------------------------


@pytest.mark.req("BDY-001")
@pytest.mark.parametrize("side", ["gives", "wants"])
def test_offer_with_an_empty_side_is_refused(side: str) -> None:
    """An offer that asks for something and gives nothing (or the reverse); expect BODY_INVALID."""
    assert _rule("offer", _offer(**{side: []})) == "BDY-001"


@pytest.mark.req("BDY-001")
def test_offer_side_is_capped_at_32_items() -> None:
    """32 items per side pass; a 33rd item is refused."""
    _ok("offer", _offer(gives=[_item()] * 32, wants=[_item()] * 32))
    assert _rule("offer", _offer(gives=[_item()] * 33)) == "BDY-001"
    assert _rule("offer", _offer(wants=[_item()] * 33)) == "BDY-001"


@pytest.mark.req("BDY-001")
def test_offer_without_terms_is_refused() -> None:
    """An offer leaves out its commitment terms; expect BODY_INVALID."""
    offer = _offer()
    offer.ClearField("terms")
    assert _rule("offer", offer) == "BDY-001"


@pytest.mark.req("BDY-001", "BDY-004")
def test_counter_needs_a_proposal_and_an_offer_digest() -> None:
    """A counter without its new proposal, or naming the countered offer by a short digest; expect
    BODY_INVALID, and the proposal itself is held to the offer rules."""
    _ok("counter", trade_pb2.Counter(offer=D32, proposal=_offer()))
    assert _rule("counter", trade_pb2.Counter(offer=D32)) == "BDY-001"
    assert _rule("counter", trade_pb2.Counter(offer=D31, proposal=_offer())) == "BDY-004"
    assert _rule("counter", trade_pb2.Counter(offer=D32, proposal=_offer(wants=[]))) == "BDY-001"


# --- BDY-002: items ----------------------------------------------------------------------------


@pytest.mark.req("BDY-002")
@pytest.mark.parametrize(
    "change",
    [
        {"kind": trade_pb2.ITEM_KIND_UNSPECIFIED},
        {"category": ""},
        {"category": "Code-Review"},
        {"category": "-leading-dash"},
        {"category": "code review"},
        {"category": "x" * 65},
        {"category": "code-review\n"},
        {"quantity": 0},
        {"deadline_ms": 0},
        {"spec_digest": D31},
        {"spec_digest": D32 + b"\x00"},
    ],
    ids=_id,
)
def test_malformed_item_is_refused(change: dict[str, Any]) -> None:
    """An item breaks one item rule; expect BODY_INVALID under BDY-002, on either side."""
    assert _rule("offer", _offer(gives=[_item(**change)])) == "BDY-002"
    assert _rule("offer", _offer(wants=[_item(**change)])) == "BDY-002"


@pytest.mark.req("BDY-002")
@pytest.mark.parametrize(
    "change", [{"category": "x" * 64}, {"category": "0.9-a"}, {"spec_digest": D32}, {"value": 0}], ids=_id
)
def test_item_at_the_edge_of_the_rules_passes(change: dict[str, Any]) -> None:
    """A 64-character category, dots and digits, a spec digest, a zero value; expect no error."""
    _ok("offer", _offer(gives=[_item(**change)]))


# --- BDY-003: terms ----------------------------------------------------------------------------


@pytest.mark.req("BDY-003")
@pytest.mark.parametrize("currency", ["", "Credit", "usd$", "x" * 33, ".credit"])
def test_offer_currency_must_be_a_token(currency: str) -> None:
    """A currency with capitals, symbols, a leading dot or 33 characters; expect BODY_INVALID."""
    assert _rule("offer", _offer(terms=trade_pb2.Terms(currency=currency))) == "BDY-003"
    _ok("offer", _offer(terms=trade_pb2.Terms(currency="x" * 32)))


@pytest.mark.req("BDY-003")
@pytest.mark.parametrize("escrow", ["", "did:web:escrow.example", SMALL_ORDER_DID])
def test_bond_without_a_valid_escrow_is_refused(escrow: str) -> None:
    """An offer asks for a bond but names no escrow (or an invalid one); expect BODY_INVALID."""
    for bonds in ({"issuer_bond": 5}, {"audience_bond": 5}):
        terms = trade_pb2.Terms(currency="credit", escrow=escrow, **bonds)
        assert _rule("offer", _offer(terms=terms)) == "BDY-003"
    _ok("offer", _offer(terms=trade_pb2.Terms(currency="credit", issuer_bond=5, escrow=DID)))


@pytest.mark.req("BDY-003")
@pytest.mark.parametrize(
    "revocation", [trade_pb2.Revocation(forfeit_bond=True), trade_pb2.Revocation(notice_ms=1000)], ids=_id
)
def test_revocation_details_without_revocation_allowed_are_refused(revocation: trade_pb2.Revocation) -> None:
    """Terms set forfeit_bond or notice_ms while revocation is not allowed; expect BODY_INVALID."""
    assert (
        _rule("offer", _offer(terms=trade_pb2.Terms(currency="credit", revocation=revocation))) == "BDY-003"
    )
    revocation.allowed = True
    _ok("offer", _offer(terms=trade_pb2.Terms(currency="credit", revocation=revocation, escrow=DID)))


@pytest.mark.req("BDY-003")
def test_revocable_terms_need_an_escrow_and_a_named_escrow_must_be_valid() -> None:
    """Revocation without an escrow (no arbiter to order the revoke against the trade), and a malformed
    escrow even with both bonds zero; expect BODY_INVALID both times."""
    revocable = trade_pb2.Revocation(allowed=True)
    assert _rule("offer", _offer(terms=trade_pb2.Terms(currency="credit", revocation=revocable))) == "BDY-003"
    assert _rule("offer", _offer(terms=trade_pb2.Terms(currency="credit", escrow="did:web:x"))) == "BDY-003"
    _ok("offer", _offer(terms=trade_pb2.Terms(currency="credit", escrow=DID)))  # an arbiter without bonds


@pytest.mark.req("BDY-003")
@pytest.mark.parametrize("window", [86_400_001, 2**53 - 1, 2**53, 2**64 - 1])
def test_a_response_window_longer_than_the_claim_window_is_refused(window: int) -> None:
    """Terms whose response window is above a day (the escrow would rule on a claim only after it,
    keeping the accused's bond locked that long); expect BODY_INVALID, and a day passes."""
    terms = trade_pb2.Terms(currency="credit", escrow=DID, response_window_ms=window)
    assert _rule("offer", _offer(terms=terms)) == "BDY-003"
    assert _rule("counter", trade_pb2.Counter(offer=D32, proposal=_offer(terms=terms))) == "BDY-003"
    terms.response_window_ms = 86_400_000
    _ok("offer", _offer(terms=terms))


MAX_INT = 2**53 - 1


@pytest.mark.req("BDY-015")
@pytest.mark.parametrize(
    ("body", "make"),
    [
        ("offer", lambda v: _offer(gives=[_item(value=v)])),
        ("offer", lambda v: _offer(gives=[_item(quantity=v)])),
        ("offer", lambda v: _offer(wants=[_item(deadline_ms=v)])),
        ("offer", lambda v: _offer(terms=trade_pb2.Terms(currency="credit", escrow=DID, issuer_bond=v))),
        ("bond_lock", lambda v: commitment_pb2.BondLock(contract=DIGEST, party=DID, amount=v)),
        ("deposit", lambda v: commitment_pb2.Deposit(party=DID, amount=v, currency="credit")),
    ],
    ids=[
        "item.value",
        "item.quantity",
        "item.deadline_ms",
        "issuer_bond",
        "bond",
        "deposit",
    ],
)
def test_every_integer_stays_below_two_to_the_53(body: str, make: Any) -> None:
    """An integer field at 2^53 - 1 is accepted, one more is BODY_INVALID (BDY-015): every verifier,
    64-bit or big-integer, computes the same sums."""
    _ok(body, make(MAX_INT))
    assert _rule(body, make(MAX_INT + 1)) == "BDY-015"


@pytest.mark.req("BDY-016")
def test_ruling_shape() -> None:
    """A Ruling decides a claim (UPHOLD), dismisses it citing the timely delivery (DISMISS) or declares a
    lapse naming no claim (LAPSE); anything else is BODY_INVALID."""
    R = commitment_pb2
    _ok("ruling", R.Ruling(contract=DIGEST, claim=DIGEST, decision=R.RULING_DECISION_UPHOLD))
    _ok(
        "ruling", R.Ruling(contract=DIGEST, claim=DIGEST, decision=R.RULING_DECISION_DISMISS, evidence=DIGEST)
    )
    _ok("ruling", R.Ruling(contract=DIGEST, decision=R.RULING_DECISION_LAPSE))
    bad = [
        R.Ruling(contract=DIGEST, claim=DIGEST),  # no decision
        R.Ruling(contract=DIGEST, claim=DIGEST, decision=4),  # a decision RulingDecision does not name
        R.Ruling(contract=DIGEST, claim=DIGEST, decision=4, evidence=DIGEST),  # ... shaped as a dismissal
        R.Ruling(contract=DIGEST, decision=2**31 - 1),
        R.Ruling(contract=DIGEST, claim=DIGEST, decision=R.RULING_DECISION_UPHOLD, evidence=DIGEST),
        R.Ruling(contract=DIGEST, decision=R.RULING_DECISION_LAPSE, claim=DIGEST),
    ]
    for ruling in bad:
        assert _rule("ruling", ruling) == "BDY-016"
    no_evidence = R.Ruling(contract=DIGEST, decision=R.RULING_DECISION_DISMISS, claim=DIGEST)
    assert _rule("ruling", no_evidence) == "BDY-016"
    short = R.Ruling(contract=DIGEST, decision=R.RULING_DECISION_DISMISS, claim=DIGEST, evidence=b"x")
    assert _rule("ruling", short) == "BDY-004"


@pytest.mark.req("BDY-017")
def test_stamp_names_one_to_256_digests() -> None:
    """A Stamp names 1 to 256 statement digests of 32 bytes each; expect BODY_INVALID otherwise."""
    _ok("stamp", commitment_pb2.Stamp(statements=[DIGEST] * 256))
    assert _rule("stamp", commitment_pb2.Stamp()) == "BDY-017"
    assert _rule("stamp", commitment_pb2.Stamp(statements=[DIGEST] * 257)) == "BDY-017"
    assert _rule("stamp", commitment_pb2.Stamp(statements=[b"short"])) == "BDY-004"


# --- BDY-004: references -----------------------------------------------------------------------


@pytest.mark.req("BDY-004")
@pytest.mark.parametrize(
    ("body", "make"),
    [
        ("accept", lambda d: trade_pb2.Accept(offer=d)),
        ("reject", lambda d: trade_pb2.Reject(offer=d)),
        ("withdraw", lambda d: trade_pb2.Withdraw(offer=d)),
        ("revoke", lambda d: commitment_pb2.Revoke(contract=d)),
        ("delivery", lambda d: commitment_pb2.Delivery(contract=d)),
        ("receipt", lambda d: commitment_pb2.Receipt(delivery=d)),
        ("breach_claim", lambda d: commitment_pb2.BreachClaim(contract=d)),
        ("breach_claim", lambda d: commitment_pb2.BreachClaim(contract=D32, evidence=[d])),
        ("bond_lock", lambda d: commitment_pb2.BondLock(contract=d, party=DID, amount=1)),
        ("release", lambda d: commitment_pb2.Release(contract=d, party=DID, amount=1)),
        ("refund", lambda d: commitment_pb2.Refund(contract=d, party=DID, amount=1)),
        (
            "forfeit",
            lambda d: commitment_pb2.Forfeit(
                contract=D32, party=DID, amount=1, beneficiary=OTHER_DID, cause=d
            ),
        ),
        ("delivery", lambda d: commitment_pb2.Delivery(contract=D32, artifact_digest=d or b"\x01")),
    ],
)
def test_reference_fields_must_be_32_byte_digests(body: str, make: Any) -> None:
    """A body names another statement by a 31-byte or empty digest; expect BODY_INVALID (BDY-004),
    while the same body with a 32-byte digest passes."""
    assert _rule(body, make(D31)) == "BDY-004"
    assert _rule(body, make(b"")) == "BDY-004"
    _ok(body, make(D32))


# --- BDY-005, BDY-006: exclusive key and claims -------------------------------------------------


@pytest.mark.req("BDY-005")
def test_exclusive_key_is_at_most_32_bytes() -> None:
    """Empty and 32-byte exclusive keys pass; 33 bytes is refused."""
    _ok("offer", _offer(exclusive_key=b""))
    _ok("offer", _offer(exclusive_key=b"k" * 32))
    assert _rule("offer", _offer(exclusive_key=b"k" * 33)) == "BDY-005"


def _claim(**kw: Any) -> trade_pb2.Claim:
    base: dict[str, Any] = {"kind": trade_pb2.CLAIM_KIND_NEED, "subject": "gpu-hours"}
    base.update(kw)
    return trade_pb2.Claim(**base)


@pytest.mark.req("BDY-006")
@pytest.mark.parametrize(
    "claim",
    [
        _claim(kind=trade_pb2.CLAIM_KIND_UNSPECIFIED, amount=1),
        _claim(subject="", amount=1),
        _claim(),  # neither amount nor commitment
        _claim(commitment=D31),
        _claim(commitment=b""),
    ],
    ids=_id,
)
def test_malformed_claim_is_refused(claim: trade_pb2.Claim) -> None:
    """A claim without kind, subject or value, or with a short commitment; expect BODY_INVALID."""
    assert _rule("offer", _offer(claims=[claim])) == "BDY-006"


@pytest.mark.req("BDY-006")
def test_claims_open_or_committed_pass_and_are_capped_at_16() -> None:
    """An open claim of amount 0 (set, so present), a committed claim; 16 claims pass, 17 do not."""
    _ok("offer", _offer(claims=[_claim(amount=0), _claim(commitment=D32)]))
    _ok("offer", _offer(claims=[_claim(amount=1)] * 16))
    assert _rule("offer", _offer(claims=[_claim(amount=1)] * 17)) == "BDY-006"


@pytest.mark.req("BDY-007")
def test_reveal_salt_must_be_32_bytes() -> None:
    """A reveal carries a 16-byte salt (too little entropy for a low-entropy amount); expect BODY_INVALID."""
    _ok("reveal", commitment_pb2.Reveal(statement=D32, salt=D32, amount=5))
    assert _rule("reveal", commitment_pb2.Reveal(statement=D32, salt=D32[:16], amount=5)) == "BDY-007"
    assert _rule("reveal", commitment_pb2.Reveal(statement=D31, salt=D32, amount=5)) == "BDY-004"


# --- BDY-008, BDY-009: money and receipts ------------------------------------------------------


@pytest.mark.req("BDY-008")
@pytest.mark.parametrize("body", ["bond_lock", "release", "refund", "forfeit"])
def test_escrow_bodies_need_a_valid_party_and_a_positive_amount(body: str) -> None:
    """An escrow statement names no valid party, or moves nothing; expect BODY_INVALID (BDY-008)."""
    cls = {
        "bond_lock": commitment_pb2.BondLock,
        "release": commitment_pb2.Release,
        "refund": commitment_pb2.Refund,
        "forfeit": commitment_pb2.Forfeit,
    }[body]
    extra: dict[str, Any] = {"beneficiary": OTHER_DID, "cause": D32} if body == "forfeit" else {}
    _ok(body, cls(contract=D32, party=DID, amount=1, **extra))
    assert _rule(body, cls(contract=D32, party=DID, amount=0, **extra)) == "BDY-008"
    for party in ("", "did:web:x", SMALL_ORDER_DID):
        assert _rule(body, cls(contract=D32, party=party, amount=1, **extra)) == "BDY-008"


@pytest.mark.req("BDY-008")
def test_forfeit_needs_a_valid_beneficiary() -> None:
    """A forfeit pays an invalid did; expect BODY_INVALID."""
    msg = commitment_pb2.Forfeit(contract=D32, party=DID, amount=1, beneficiary="did:web:x", cause=D32)
    assert _rule("forfeit", msg) == "BDY-008"


@pytest.mark.req("BDY-009")
def test_receipt_rating_is_at_most_100() -> None:
    """Ratings 0 and 100 pass; 101 is refused."""
    _ok("receipt", commitment_pb2.Receipt(delivery=D32, rating=0))
    _ok("receipt", commitment_pb2.Receipt(delivery=D32, rating=100))
    assert _rule("receipt", commitment_pb2.Receipt(delivery=D32, rating=101)) == "BDY-009"


# --- BDY-010: mandates -------------------------------------------------------------------------


def _mandate(**kw: Any) -> identity_pb2.Mandate:
    base: dict[str, Any] = {
        "agent": DID,
        "valid_from_ms": 1,
        "valid_until_ms": 2,
        "currency": "credit",
        "max_per_deal": 10,
    }
    base.update(kw)
    return identity_pb2.Mandate(**base)


@pytest.mark.req("BDY-010")
@pytest.mark.parametrize(
    "change",
    [
        {"agent": ""},
        {"agent": "did:web:agent"},
        {"agent": SMALL_ORDER_DID},
        {"valid_until_ms": 1},
        {"valid_until_ms": 0},
        {"currency": "CREDIT"},
        {"currency": ""},
        {"budget_per_period": 100, "period_ms": 0},
        {"min_per_deal": 11},
    ],
    ids=_id,
)
def test_malformed_mandate_is_refused(change: dict[str, Any]) -> None:
    """A principal signs a mandate with a bad agent, an empty window, a bad currency or a budget with
    no period; expect BODY_INVALID."""
    _ok("mandate", _mandate())
    assert _rule("mandate", _mandate(**change)) == "BDY-010"


# --- BDY-011: attestations ---------------------------------------------------------------------


def _attestation(**kw: Any) -> reputation_pb2.Attestation:
    base: dict[str, Any] = {
        "subject": OTHER_DID,
        "offer": D32,
        "accept": D32,
        "outcome": reputation_pb2.OUTCOME_FULFILLED,
    }
    base.update(kw)
    return reputation_pb2.Attestation(**base)


@pytest.mark.req("BDY-011")
@pytest.mark.parametrize(
    "change",
    [
        {"subject": "did:web:x"},
        {"subject": ""},
        {"outcome": reputation_pb2.OUTCOME_UNSPECIFIED},
    ],
    ids=_id,
)
def test_malformed_attestation_is_refused(change: dict[str, Any]) -> None:
    """An attestation about no valid subject or with no outcome; expect BODY_INVALID (BDY-011)."""
    _ok("attestation", _attestation())
    assert _rule("attestation", _attestation(**change)) == "BDY-011"


@pytest.mark.req("BDY-011", "BDY-004")
@pytest.mark.parametrize("field", ["offer", "accept"])
def test_attestation_names_the_contract_by_digests(field: str) -> None:
    """An attestation names its offer or accept by a short digest; expect BODY_INVALID."""
    with pytest.raises(BodyInvalid):
        check_body(_stmt("attestation", _attestation(**{field: D31})), "attestation")


@pytest.mark.req("BDY-011")
def test_attestation_must_be_public() -> None:
    """An attestation addressed to one party (a private rating); expect BODY_INVALID."""
    assert _rule("attestation", _attestation(), audience=OTHER_DID) == "BDY-011"


# --- BDY-012: key management and checkpoints ---------------------------------------------------


@pytest.mark.req("BDY-012")
@pytest.mark.parametrize("key", ["", "did:web:x", SMALL_ORDER_DID])
def test_key_revocation_and_rotation_name_valid_keys(key: str) -> None:
    """A revocation or rotation names an invalid key; expect BODY_INVALID."""
    assert _rule("key_revocation", identity_pb2.KeyRevocation(key=key, effective_ms=1)) == "BDY-012"
    assert _rule("key_rotation", identity_pb2.KeyRotation(new_key=key)) == "BDY-012"
    _ok("key_revocation", identity_pb2.KeyRevocation(key=OTHER_DID, effective_ms=1))
    _ok("key_rotation", identity_pb2.KeyRotation(new_key=OTHER_DID))


@pytest.mark.req("BDY-012")
def test_key_cannot_rotate_to_itself() -> None:
    """A key names itself as its successor (an endless chain); expect BODY_INVALID."""
    assert _rule("key_rotation", identity_pb2.KeyRotation(new_key=DID), issuer=DID) == "BDY-012"


@pytest.mark.req("BDY-012", "CHN-007")
def test_checkpoint_root_is_empty_at_genesis_and_a_digest_after() -> None:
    """A checkpoint at seq 0 with a root, or at seq 3 without a 32-byte root; expect BODY_INVALID."""
    _ok("checkpoint", identity_pb2.Checkpoint(), seq=0)
    _ok("checkpoint", identity_pb2.Checkpoint(log_root=D32), seq=3)
    assert _rule("checkpoint", identity_pb2.Checkpoint(log_root=D32), seq=0) == "BDY-012"
    assert _rule("checkpoint", identity_pb2.Checkpoint(), seq=3) == "BDY-012"
    assert _rule("checkpoint", identity_pb2.Checkpoint(log_root=D31), seq=3) == "BDY-012"


# --- BDY-013, BDY-014: transport and ledger bodies ---------------------------------------------


@pytest.mark.req("BDY-013")
def test_ack_names_a_digest_and_goes_back_to_the_sender() -> None:
    """An Ack with a 32-byte digest addressed to the sender passes; a short digest, or an Ack to
    nobody (no proof of delivery for anyone), is BODY_INVALID."""
    _ok("ack", commitment_pb2.Ack(statement=D32), audience=OTHER_DID)
    assert _rule("ack", commitment_pb2.Ack(statement=D31), audience=OTHER_DID) == "BDY-004"
    assert _rule("ack", commitment_pb2.Ack(statement=D32)) == "BDY-013"


@pytest.mark.req("BDY-014")
@pytest.mark.parametrize(
    "change",
    [
        {"party": ""},
        {"party": "did:web:x"},
        {"party": SMALL_ORDER_DID},
        {"amount": 0},
        {"currency": "USD"},
        {"currency": ""},
    ],
    ids=_id,
)
def test_deposit_needs_a_valid_party_a_positive_amount_and_a_currency(change: dict[str, Any]) -> None:
    """An escrow credits a deposit to an invalid party, of nothing, or in a malformed currency; expect
    BODY_INVALID (BDY-014)."""
    fields: dict[str, Any] = {"party": DID, "amount": 5, "currency": "credit", "reference": "wire 42"}
    _ok("deposit", commitment_pb2.Deposit(**fields))
    fields.update(change)
    assert _rule("deposit", commitment_pb2.Deposit(**fields)) == "BDY-014"


# --- wiring --------------------------------------------------------------------------------------


@pytest.mark.req("BDY-002", "ERR-001")
def test_body_rules_run_inside_verify_statement() -> None:
    """A signed offer with an item of quantity 0 reaches verify_statement; expect BODY_INVALID with
    the rule, so the body rules are step 20 of every verification."""
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    vs = alice.offer(bob)
    stmt = Statement()
    stmt.CopyFrom(vs.statement)
    stmt.offer.gives[0].quantity = 0
    with pytest.raises(BodyInvalid) as err:
        verify_statement(sign_payload(encode_statement(stmt), alice.agent.key))
    assert (err.value.code, err.value.requirement) == ("BODY_INVALID", "BDY-002")
