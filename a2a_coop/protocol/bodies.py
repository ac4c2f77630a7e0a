"""Context-free rules for each statement body (SPEC.md section 7, BDY-*).

Each ``_check_<body>`` validates one body's fields; :func:`check_body`
dispatches on the body name. Rules that need other statements (is this the
outstanding offer? does this reveal open that commitment?) live in
:mod:`a2a_coop.protocol.negotiation` and :mod:`a2a_coop.protocol.verifier`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from typing import Any, Final

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, statement_pb2, trade_pb2
from a2a_coop.protocol.envelope import DIGEST_BYTES
from a2a_coop.protocol.errors import BodyInvalid, CoopError
from a2a_coop.protocol.identity import public_key_from_did

CATEGORY_RE: Final = re.compile(r"[a-z0-9][a-z0-9.-]{0,63}")
CURRENCY_RE: Final = re.compile(r"[a-z0-9][a-z0-9.-]{0,31}")
MAX_ITEMS: Final = 32
MAX_CLAIMS: Final = 16
MAX_EXCLUSIVE_KEY: Final = 32
MAX_RATING: Final = 100
MAX_STAMP_DIGESTS: Final = 256
# Every uint64 of a signed statement is at most 2^53 - 1 (STM-013, BDY-015), so that the sums a
# verifier computes (times plus durations, the values of 32 items plus a bond) fit any 64-bit integer
# and every JSON number: 64-bit and big-integer implementations reach the same verdicts.
MAX_INT: Final = 2**53 - 1
# BDY-003: the escrow rules on a claim only once its response window has passed (CMT-002) and lapses
# nothing while a claim is pending, so an unbounded window would let one baseless claim lock the
# accused's bond for good. The accused's Delivery exists by its deadline: a day (the claim window) is
# ample to present it.
MAX_RESPONSE_WINDOW_MS: Final = 24 * 3600 * 1000
# Enums are open (section 15), but a Ruling's decision selects the contract's transition: a value v1
# does not name has no transition, and reading it as any one (a dismissal, say) would let verifiers
# disagree on the state, so BDY-016 refuses it like UNSPECIFIED.
RULING_DECISIONS: Final = frozenset(v for v in commitment_pb2.RulingDecision.values() if v)


def _fail(requirement: str, detail: str) -> BodyInvalid:
    return BodyInvalid(detail, requirement=requirement)


def _not_digest(what: str) -> BodyInvalid:
    return _fail("BDY-004", f"{what} must be a 32-byte digest")


def _too_large(what: str) -> BodyInvalid:
    return _fail("BDY-015", f"{what} must be at most 2^53 - 1")


def _digest(value: bytes, what: str) -> None:
    if len(value) != DIGEST_BYTES:
        raise _not_digest(what)


def _int(value: int, what: str) -> None:
    if value > MAX_INT:
        raise _too_large(what)


def _did(value: str, requirement: str, what: str) -> None:
    try:
        public_key_from_did(value)
    except CoopError as exc:
        raise _fail(requirement, f"{what}: {exc}") from None


def _currency(value: str, requirement: str) -> None:
    if not CURRENCY_RE.fullmatch(value):
        raise _fail(requirement, f"currency {value!r:.40} must match {CURRENCY_RE.pattern}")


def check_item(item: trade_pb2.Item, where: str) -> None:
    """BDY-002."""
    if item.kind == trade_pb2.ITEM_KIND_UNSPECIFIED:
        raise _fail("BDY-002", f"{where}: item kind unspecified")
    if not CATEGORY_RE.fullmatch(item.category):
        raise _fail("BDY-002", f"{where}: category {item.category!r:.70} must match {CATEGORY_RE.pattern}")
    if item.quantity < 1:
        raise _fail("BDY-002", f"{where}: quantity must be at least 1")
    if item.deadline_ms == 0:
        raise _fail("BDY-002", f"{where}: deadline_ms required")
    if item.spec_digest and len(item.spec_digest) != DIGEST_BYTES:
        raise _fail("BDY-002", f"{where}: spec_digest must be empty or 32 bytes")
    for name in ("quantity", "value", "deadline_ms"):
        _int(getattr(item, name), f"{where}.{name}")


def _check_items(items: Any, side: str) -> None:
    """check_item on each item, with the error location formatted only on failure (hot path).

    The fast test is the conjunction of check_item's rules; when it fails,
    check_item runs to raise the first failing rule's error.
    """
    fullmatch = CATEGORY_RE.fullmatch
    for i in range(len(items)):  # indexing upb repeated fields is cheaper than iterating them
        item = items[i]
        spec = item.spec_digest
        if not (
            item.kind  # != ITEM_KIND_UNSPECIFIED
            and fullmatch(item.category)
            and 0 < item.quantity <= MAX_INT
            and 0 < item.deadline_ms <= MAX_INT
            and item.value <= MAX_INT
            and (not spec or len(spec) == DIGEST_BYTES)
        ):
            check_item(item, f"{side}[{i}]")


def check_offer(offer: trade_pb2.Offer) -> None:
    """BDY-001, BDY-002, BDY-003, BDY-005, BDY-006 (each field read once: every read of a upb field
    makes a new Python object)."""
    gives, wants = offer.gives, offer.wants
    n_gives, n_wants = len(gives), len(wants)
    if not n_gives or not n_wants:
        raise _fail("BDY-001", "an offer names what each side gives (gives and wants non-empty)")
    if n_gives > MAX_ITEMS or n_wants > MAX_ITEMS:
        raise _fail("BDY-001", f"at most {MAX_ITEMS} items per side")
    if not offer.HasField("terms"):
        raise _fail("BDY-001", "terms required")
    _check_items(gives, "gives")
    _check_items(wants, "wants")
    t = offer.terms
    _currency(t.currency, "BDY-003")
    r = t.revocation
    issuer_bond, audience_bond, escrow = t.issuer_bond, t.audience_bond, t.escrow
    allowed, notice_ms = r.allowed, r.notice_ms
    if issuer_bond or audience_bond or allowed or escrow:
        _did(escrow, "BDY-003", "bonds and revocation need an escrow")
    if (r.forfeit_bond or notice_ms) and not allowed:
        raise _fail("BDY-003", "revocation.forfeit_bond/notice_ms need revocation.allowed")
    if t.response_window_ms > MAX_RESPONSE_WINDOW_MS:
        raise _fail("BDY-003", f"terms.response_window_ms at most {MAX_RESPONSE_WINDOW_MS} (a day)")
    if max(issuer_bond, audience_bond, notice_ms) > MAX_INT:
        raise _fail("BDY-015", "bonds and notice_ms must be at most 2^53 - 1")
    if len(offer.exclusive_key) > MAX_EXCLUSIVE_KEY:
        raise _fail("BDY-005", f"exclusive_key at most {MAX_EXCLUSIVE_KEY} bytes")
    claims = offer.claims
    if len(claims) > MAX_CLAIMS:
        raise _fail("BDY-006", f"at most {MAX_CLAIMS} claims")
    for i in range(len(claims)):
        claim = claims[i]
        which = claim.WhichOneof("value")
        if claim.kind == trade_pb2.CLAIM_KIND_UNSPECIFIED or not claim.subject or which is None:
            raise _fail("BDY-006", f"claims[{i}]: kind, subject and one of amount/commitment required")
        if which == "commitment":
            if len(claim.commitment) != DIGEST_BYTES:
                raise _fail("BDY-006", f"claims[{i}]: commitment must be 32 bytes")
        elif claim.amount > MAX_INT:
            raise _too_large(f"claims[{i}].amount")


def _offer_body(stmt: statement_pb2.Statement) -> None:
    check_offer(stmt.offer)


def _counter(stmt: statement_pb2.Statement) -> None:
    _digest(stmt.counter.offer, "counter.offer")
    if not stmt.counter.HasField("proposal"):
        raise _fail("BDY-001", "counter.proposal required")
    check_offer(stmt.counter.proposal)


# The checks below run on every statement verified: each reads a field once, and formats an error
# location only when it raises.


def _ref_only(name: str, field: str) -> Callable[[statement_pb2.Statement], None]:
    what = f"{name}.{field}"

    def check(stmt: statement_pb2.Statement) -> None:
        if len(getattr(getattr(stmt, name), field)) != DIGEST_BYTES:
            raise _not_digest(what)

    return check


# Where a money body's error points, formatted once: the check itself formats nothing unless it fails.
_MONEY_FIELDS: Final = {
    name: (f"{name}.contract", f"{name}.party", f"{name}.amount")
    for name in ("bond_lock", "release", "forfeit", "refund")
}


def _money(name: str, stmt: statement_pb2.Statement) -> None:
    """BondLock, Release, Forfeit and Refund (BDY-004, BDY-008, BDY-015); ``name`` is the body."""
    body: Any = getattr(stmt, name)
    contract, party, amount = _MONEY_FIELDS[name]
    if len(body.contract) != DIGEST_BYTES:
        raise _not_digest(contract)
    _did(body.party, "BDY-008", party)
    value = body.amount
    if value == 0:
        raise _fail("BDY-008", f"{amount} must be positive")
    _int(value, amount)
    if name == "forfeit":
        _did(body.beneficiary, "BDY-008", "forfeit.beneficiary")
        _digest(body.cause, "forfeit.cause")


def _receipt(stmt: statement_pb2.Statement) -> None:
    r = stmt.receipt
    if len(r.delivery) != DIGEST_BYTES:
        raise _not_digest("receipt.delivery")
    if r.rating > MAX_RATING:
        raise _fail("BDY-009", f"rating must be 0..{MAX_RATING}")


def _breach_claim(stmt: statement_pb2.Statement) -> None:
    _digest(stmt.breach_claim.contract, "breach_claim.contract")
    for e in stmt.breach_claim.evidence:
        _digest(e, "breach_claim.evidence")


def _reveal(stmt: statement_pb2.Statement) -> None:
    _digest(stmt.reveal.statement, "reveal.statement")
    if len(stmt.reveal.salt) != DIGEST_BYTES:
        raise _fail("BDY-007", "reveal.salt must be 32 bytes")
    _int(stmt.reveal.amount, "reveal.amount")


def _mandate(stmt: statement_pb2.Statement) -> None:
    m = stmt.mandate
    _did(m.agent, "BDY-010", "mandate.agent")
    if m.valid_until_ms <= m.valid_from_ms:
        raise _fail("BDY-010", "mandate.valid_until_ms must be after valid_from_ms")
    _currency(m.currency, "BDY-010")
    if m.budget_per_period and not m.period_ms:
        raise _fail("BDY-010", "a budget needs period_ms")
    if m.min_per_deal > m.max_per_deal:
        raise _fail("BDY-010", "min_per_deal exceeds max_per_deal")
    if m.succeeds:
        _did(m.succeeds, "ESC-022", "mandate.succeeds")
        if m.succeeds == m.agent:
            raise _fail("ESC-022", "mandate.succeeds names the agent itself: a key succeeds another")
    for name in (
        "valid_until_ms",  # valid_from_ms is smaller
        "max_per_deal",  # min_per_deal is not larger
        "budget_per_period",
        "period_ms",
        "max_outstanding",
        "execution_window_end_ms",
    ):
        _int(getattr(m, name), f"mandate.{name}")


def _attestation(stmt: statement_pb2.Statement) -> None:
    a = stmt.attestation
    _did(a.subject, "BDY-011", "attestation.subject")
    if len(a.offer) != DIGEST_BYTES:
        raise _not_digest("attestation.offer")
    if len(a.accept) != DIGEST_BYTES:
        raise _not_digest("attestation.accept")
    if a.outcome == 0:
        raise _fail("BDY-011", "attestation.outcome unspecified")
    for e in a.evidence:
        _digest(e, "attestation.evidence")
    if a.rating > MAX_RATING:
        raise _fail("BDY-009", f"attestation.rating must be 0..{MAX_RATING}")
    if stmt.header.audience:
        raise _fail("BDY-011", "attestations are public: audience must be empty")


def _key_revocation(stmt: statement_pb2.Statement) -> None:
    _did(stmt.key_revocation.key, "BDY-012", "key_revocation.key")
    _int(stmt.key_revocation.effective_ms, "key_revocation.effective_ms")


def _key_rotation(stmt: statement_pb2.Statement) -> None:
    _did(stmt.key_rotation.new_key, "BDY-012", "key_rotation.new_key")
    if stmt.key_rotation.new_key == stmt.header.issuer:
        raise _fail("BDY-012", "a key cannot rotate to itself")


def _checkpoint(stmt: statement_pb2.Statement) -> None:
    root = stmt.checkpoint.log_root
    if (len(root) != DIGEST_BYTES) if stmt.header.seq else root:
        raise _fail("BDY-012", "checkpoint.log_root: empty at seq 0, else 32 bytes")


def _delivery(stmt: statement_pb2.Statement) -> None:
    d = stmt.delivery
    if len(d.contract) != DIGEST_BYTES:
        raise _not_digest("delivery.contract")
    artifact = d.artifact_digest
    if artifact and len(artifact) != DIGEST_BYTES:
        raise _fail("BDY-004", "delivery.artifact_digest must be empty or 32 bytes")


def _ack(stmt: statement_pb2.Statement) -> None:
    _digest(stmt.ack.statement, "ack.statement")
    if not stmt.header.audience:
        raise _fail("BDY-013", "an ack is addressed to the sender of the statement it acknowledges")


def _deposit(stmt: statement_pb2.Statement) -> None:
    d = stmt.deposit
    _did(d.party, "BDY-014", "deposit.party")
    if d.amount == 0:
        raise _fail("BDY-014", "deposit.amount must be positive")
    _int(d.amount, "deposit.amount")
    _currency(d.currency, "BDY-014")


def _ruling(stmt: statement_pb2.Statement) -> None:
    r = stmt.ruling
    _digest(r.contract, "ruling.contract")
    if r.decision not in RULING_DECISIONS:
        raise _fail("BDY-016", f"ruling.decision {r.decision} is unspecified or not one v1 names")
    if r.decision == commitment_pb2.RULING_DECISION_LAPSE:
        if r.claim or r.evidence:
            raise _fail("BDY-016", "a lapse names no claim and no evidence")
        return
    dismiss = r.decision == commitment_pb2.RULING_DECISION_DISMISS
    if not r.claim or dismiss != bool(r.evidence):
        raise _fail("BDY-016", "a ruling names its claim, and only a dismissal its evidence (the delivery)")
    _digest(r.claim, "ruling.claim")
    if dismiss:
        _digest(r.evidence, "ruling.evidence")


def _stamp(stmt: statement_pb2.Statement) -> None:
    digests = stmt.stamp.statements
    if not 1 <= len(digests) <= MAX_STAMP_DIGESTS:
        raise _fail("BDY-017", f"a stamp names 1 to {MAX_STAMP_DIGESTS} statements")
    for d in digests:
        _digest(d, "stamp.statements")


_CHECKS: Final[dict[str, Callable[[statement_pb2.Statement], None]]] = {
    "mandate": _mandate,
    "key_rotation": _key_rotation,
    "key_revocation": _key_revocation,
    "checkpoint": _checkpoint,
    "offer": _offer_body,
    "counter": _counter,
    "accept": _ref_only("accept", "offer"),
    "reject": _ref_only("reject", "offer"),
    "withdraw": _ref_only("withdraw", "offer"),
    "bond_lock": partial(_money, "bond_lock"),
    "delivery": _delivery,
    "receipt": _receipt,
    "breach_claim": _breach_claim,
    "revoke": _ref_only("revoke", "contract"),
    "release": partial(_money, "release"),
    "forfeit": partial(_money, "forfeit"),
    "refund": partial(_money, "refund"),
    "reveal": _reveal,
    "attestation": _attestation,
    "ack": _ack,
    "deposit": _deposit,
    "ruling": _ruling,
    "stamp": _stamp,
}


def check_body(stmt: statement_pb2.Statement, body: str) -> None:
    """Apply the BDY-* rules for ``body``. Raises BodyInvalid."""
    _CHECKS[body](stmt)
