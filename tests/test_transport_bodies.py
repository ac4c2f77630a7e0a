"""Ack and Deposit: the bodies transports and escrows add (SPEC.md section 7.7)."""

from __future__ import annotations

import pytest

from a2a_coop._proto.a2acoop.v1 import commitment_pb2
from a2a_coop.protocol.errors import BodyInvalid
from a2a_coop.protocol.verifier import verify_transcript
from a2a_coop.testing import FixedClock, Party, derive


@pytest.fixture
def parties() -> tuple[Party, Party]:
    clock = FixedClock()
    return Party("alice", clock), Party("bob", clock)


@pytest.mark.req("BDY-013")
def test_receiver_acks_a_statement_it_accepted(parties: tuple[Party, Party]) -> None:
    """Bob acks Alice's offer with a signed Ack addressed to her; expect a valid transcript."""
    alice, bob = parties
    offer = alice.offer(bob)
    ack = bob.sign("ack", commitment_pb2.Ack(statement=offer.digest), audience=alice.did)
    report = verify_transcript([*alice.setup, *bob.setup, offer.envelope, ack.envelope])
    assert report.valid, report.error
    assert report.statements[-1].body == "ack"


@pytest.mark.req("BDY-013")
@pytest.mark.parametrize(
    ("digest", "audience_is_sender"),
    [(b"short", True), (derive("x"), False)],
    ids=["bad-digest", "no-audience"],
)
def test_ack_without_digest_or_audience_is_refused(
    parties: tuple[Party, Party], digest: bytes, audience_is_sender: bool
) -> None:
    """An Ack must name a 32-byte digest and be addressed to its sender; expect BODY_INVALID, unsigned."""
    alice, bob = parties
    with pytest.raises(BodyInvalid) as info:
        bob.sign(
            "ack", commitment_pb2.Ack(statement=digest), audience=alice.did if audience_is_sender else ""
        )
    assert info.value.code == "BODY_INVALID"


@pytest.mark.req("BDY-014")
def test_escrow_deposit_credits_a_party(parties: tuple[Party, Party]) -> None:
    """An escrow records a deposit for Alice; expect a valid statement."""
    alice, escrow = parties
    dep = escrow.sign("deposit", commitment_pb2.Deposit(party=alice.did, amount=1000, currency="credit"))
    assert verify_transcript([*escrow.setup, dep.envelope]).valid


@pytest.mark.req("BDY-014")
@pytest.mark.parametrize(
    "fields",
    [
        {"party": "did:key:nope", "amount": 5, "currency": "credit"},
        {"amount": 0, "currency": "credit"},
        {"amount": 5, "currency": "Credit!"},
    ],
    ids=["bad-party", "zero-amount", "bad-currency"],
)
def test_malformed_deposit_is_refused(parties: tuple[Party, Party], fields: dict[str, object]) -> None:
    """A deposit with a bad party, zero amount or malformed currency; expect BODY_INVALID."""
    alice, escrow = parties
    fields = {"party": alice.did, **fields}
    with pytest.raises(BodyInvalid):
        escrow.sign("deposit", commitment_pb2.Deposit(**fields))  # type: ignore[arg-type]
