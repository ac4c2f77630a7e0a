"""Commit-reveal for blind claims (SPEC BDY-007), alone and through the verifier."""

from __future__ import annotations

import hashlib

import pytest

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, trade_pb2
from a2a_coop.protocol.claims import COMMITMENT_DOMAIN, check_opening, commit
from a2a_coop.protocol.errors import BodyInvalid, CommitmentMismatch, CoopError
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.protocol.verifier import Verifier
from a2a_coop.testing import Party, derive

SALT = derive("claims/salt")


@pytest.mark.req("BDY-007")
def test_commitment_is_domain_separated_sha256_of_salt_and_big_endian_amount() -> None:
    """Recompute a commitment from the SPEC formula by hand; expect the same 32 bytes."""
    expected = hashlib.sha256(b"a2a-coop/v1/commitment\x00" + SALT + (1234).to_bytes(8, "big")).digest()
    assert commit(1234, SALT) == expected
    assert COMMITMENT_DOMAIN == b"a2a-coop/v1/commitment\x00"
    assert len(expected) == 32


@pytest.mark.req("BDY-007")
@pytest.mark.parametrize("amount", [0, 1, 2**32, 2**64 - 1])
def test_a_commitment_opens_only_with_its_own_amount_and_salt(amount: int) -> None:
    """An agent commits to a reservation value; expect the true (amount, salt) to open it and any
    other amount or salt to be COMMITMENT_MISMATCH."""
    c = commit(amount, SALT)
    check_opening(c, amount, SALT)
    with pytest.raises(CommitmentMismatch) as err:
        check_opening(c, (amount + 1) % 2**64, SALT)
    assert err.value.requirement == "BDY-007"
    with pytest.raises(CommitmentMismatch):
        check_opening(c, amount, derive("claims/other-salt"))


@pytest.mark.req("BDY-007")
def test_salt_hides_low_entropy_amounts() -> None:
    """Two agents commit to the same amount with different salts; expect different commitments, so a
    table of hashed amounts reveals nothing."""
    assert commit(100, SALT) != commit(100, derive("claims/salt-2"))


@pytest.mark.req("BDY-007")
@pytest.mark.parametrize(("amount", "salt"), [(1, SALT[:31]), (1, SALT + b"\x00"), (-1, SALT), (2**64, SALT)])
def test_commit_refuses_short_salts_and_out_of_range_amounts(amount: int, salt: bytes) -> None:
    """A caller passes a 31-byte salt or an amount outside uint64; expect BODY_INVALID, not a commitment."""
    with pytest.raises(BodyInvalid):
        commit(amount, salt)


def _blind_offer(alice: Party, bob: Party, amount: int) -> VerifiedStatement:
    claims = [
        trade_pb2.Claim(kind=trade_pb2.CLAIM_KIND_NEED, subject="gpu-hours", amount=3),
        trade_pb2.Claim(
            kind=trade_pb2.CLAIM_KIND_RESERVATION_VALUE,
            subject="code-review",
            commitment=commit(amount, SALT),
        ),
    ]
    return alice.offer(bob, alice.proposal(claims=claims))


def _reveal(party: Party, target: VerifiedStatement, amount: int, index: int = 1) -> VerifiedStatement:
    msg = commitment_pb2.Reveal(statement=target.digest, claim_index=index, salt=SALT, amount=amount)
    return party.sign("reveal", msg)


@pytest.mark.req("BDY-007")
def test_auditor_accepts_a_reveal_that_opens_the_commitment(
    auditor: Verifier, alice: Party, bob: Party
) -> None:
    """Alice committed to a reservation value of 420 in an offer, then reveals it; expect acceptance."""
    offer = _blind_offer(alice, bob, 420)
    auditor.accept(offer.envelope)
    auditor.accept(_reveal(alice, offer, 420).envelope)


@pytest.mark.req("BDY-007", "ERR-003")
def test_reveal_of_a_different_amount_is_commitment_mismatch(
    auditor: Verifier, alice: Party, bob: Party
) -> None:
    """Alice committed to 420 and later claims it was 380; expect COMMITMENT_MISMATCH and the
    reveal not recorded."""
    offer = _blind_offer(alice, bob, 420)
    auditor.accept(offer.envelope)
    lie = _reveal(alice, offer, 380)
    with pytest.raises(CommitmentMismatch):
        auditor.accept(lie.envelope)
    assert lie.digest not in auditor.statements


@pytest.mark.req("BDY-007")
@pytest.mark.parametrize("case", ["other-issuer", "open-claim", "index-out-of-range", "unknown-statement"])
def test_reveal_must_open_a_committed_claim_of_its_issuers_own_offer(
    auditor: Verifier, alice: Party, bob: Party, case: str
) -> None:
    """Bob 'reveals' Alice's claim, or a reveal names an open claim, a missing index, or a statement
    the verifier does not hold; expect BODY_INVALID."""
    offer = _blind_offer(alice, bob, 420)
    auditor.accept(offer.envelope)
    if case == "other-issuer":
        reveal = _reveal(bob, offer, 420)
    elif case == "open-claim":
        reveal = _reveal(alice, offer, 3, index=0)
    elif case == "index-out-of-range":
        reveal = _reveal(alice, offer, 420, index=2)
    else:
        reveal = _reveal(alice, _blind_offer(alice, bob, 420), 420)
    with pytest.raises(CoopError) as err:
        auditor.accept(reveal.envelope)
    assert (err.value.code, err.value.requirement) == ("BODY_INVALID", "BDY-007")
