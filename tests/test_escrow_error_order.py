"""ERR-002 at an escrow (SPEC 11.4): which code an escrow answers for a statement that breaks both a step of
section 11 and one of the escrow's own rules of section 9.

The escrow's own refusals -- WIT-004 and CMT-008 of an Accept, ESC-014, ESC-019 and ESC-020, NEG-010, ESC-015
and CMT-005 (a) of a Revoke or a BreachClaim, CMT-013 (a), the newcomer quota -- come after steps 21-31: a
statement that fails a step too is refused with that step's code, as at every other verifier. Its TIM-003
(ESC-001) comes before them, right after step 20: it reads nothing but the escrow's clock.
"""

from __future__ import annotations

import pytest

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2
from a2a_coop.protocol.errors import CoopError
from a2a_coop.testing import DAY_MS, FixedClock, LocalEscrow, Party, service

FUNDS = 1_000


def _offer_to_alice(clock: FixedClock) -> tuple[Party, Party, LocalEscrow]:
    alice, bob = Party("alice", clock), Party("bob", clock)
    escrow = LocalEscrow(Party("escrow", clock), funds={alice.did: FUNDS, bob.did: FUNDS})
    return alice, bob, escrow


def _code(escrow: LocalEscrow, envelope: bytes) -> tuple[str, str]:
    with pytest.raises(CoopError) as err:
        escrow.submit([envelope])
    return err.value.code, err.value.requirement


@pytest.mark.req("ERR-002", "WIT-004", "KEY-004")
@pytest.mark.parametrize("revoked", [True, False])
def test_a_revoked_keys_late_accept_is_refused_for_its_key_first(revoked: bool) -> None:
    """Alice's key revokes itself, then accepts Bob's offer naming the escrow; the Accept reaches the
    escrow after the offer expired (plus the clock tolerance). Step 22 refuses it (`KEY_REVOKED`), WIT-004
    too (`UNWITNESSED`): the escrow answers the step's code, as a view does -- it answered UNWITNESSED, the
    order of section 11 read by every verifier but the escrow. Unrevoked, the same Accept is UNWITNESSED."""
    clock = FixedClock()
    alice, bob, escrow = _offer_to_alice(clock)
    offer = bob.offer(alice, bob.proposal(escrow=escrow.did))
    escrow.submit([*alice.setup, *bob.setup, offer.envelope])
    clock.advance(1_000)
    if revoked:
        own = alice.agent.sign("key_revocation", identity_pb2.KeyRevocation(key=alice.did, effective_ms=1))
        escrow.submit([own.envelope])
    accept = alice.accept(offer)
    clock.advance(offer.header.expires_at_ms - clock.now_ms + 31_000)
    code, requirement = _code(escrow, accept.envelope)
    assert (code, requirement) == (("KEY_REVOKED", "KEY-004") if revoked else ("UNWITNESSED", "WIT-004"))


@pytest.mark.req("ERR-002", "CMT-005", "KEY-004")
@pytest.mark.parametrize("revoked", [True, False])
def test_a_revoked_keys_second_claim_is_refused_for_its_key_first(revoked: bool) -> None:
    """Bob missed his deadline and Alice claimed his item; her key then revokes itself and claims the same
    item again. CMT-005 (a) has the escrow refuse a second claim of a claimant and item
    (`ILLEGAL_TRANSITION`), step 22 refuses it `KEY_REVOKED` first -- the escrow answered
    ILLEGAL_TRANSITION. Unrevoked, the same second claim is ILLEGAL_TRANSITION."""
    clock = FixedClock()
    alice, bob, escrow = _offer_to_alice(clock)
    due = clock.now_ms + DAY_MS
    proposal = bob.proposal(
        gives=[service("translation", value=10, deadline_ms=due)],
        wants=[service("code-review", value=10, deadline_ms=due)],
        escrow=escrow.did,
    )
    offer = bob.offer(alice, proposal)
    clock.advance(1_000)
    accept = alice.accept(offer)
    escrow.submit([*alice.setup, *bob.setup, offer.envelope, accept.envelope])
    clock.advance(DAY_MS)

    def claim(reason: str) -> bytes:
        return alice.sign(
            "breach_claim",
            commitment_pb2.BreachClaim(contract=accept.digest, item_index=0, reason=reason),
            audience=bob.did,
            negotiation_id=offer.header.negotiation_id,
        ).envelope

    escrow.submit([claim("missed")])
    clock.advance(1_000)
    if revoked:
        own = alice.agent.sign("key_revocation", identity_pb2.KeyRevocation(key=alice.did, effective_ms=1))
        escrow.submit([own.envelope])
    code, requirement = _code(escrow, claim("missed, again"))
    expected = ("KEY_REVOKED", "KEY-004") if revoked else ("ILLEGAL_TRANSITION", "CMT-005")
    assert (code, requirement) == expected


@pytest.mark.req("ERR-002", "ESC-001", "TIM-003")
def test_the_escrows_clock_check_comes_before_the_contextual_steps() -> None:
    """An escrow's TIM-003 (ESC-001) runs right after step 20: a statement from the future under a Mandate
    the escrow does not hold is ISSUED_IN_FUTURE, not MANDATE_UNKNOWN (step 23)."""
    clock = FixedClock()
    alice, bob, escrow = _offer_to_alice(clock)
    offer = bob.offer(alice, bob.proposal(escrow=escrow.did), issued_at_ms=clock.now_ms + 60_000)
    code, requirement = _code(escrow, offer.envelope)  # Bob's Mandate not submitted
    assert (code, requirement) == ("ISSUED_IN_FUTURE", "TIM-003")
    escrow.submit([*bob.setup])
    clock.advance(60_000)
    assert escrow.submit([offer.envelope])  # taken once it is no longer ahead of the escrow's clock
