"""RPC-006 (c): a fork refusal's Stamp is read as the escrow's word only when signed by the escrow Bob
submitted to -- the one his own offer names -- never by the one the held half names (uninformed33).

SPEC said "signed by the key the offer names" without saying which offer; the refused Submit carries
Bob's line (his offers, Mallory's Counter) and the held half, each naming an escrow of its signer's choice.
Read as the held half's own escrow, Mallory -- who signs the held half and chooses the escrow it names --
would free Bob's later offers with a Stamp by an escrow she picked, while E1 holds her Accept of his car
Counter. The reference reads the escrow of the offer whose line it submitted (``trade._submit_line``'s
``escrow_did``): the offerer's own choice.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import pytest
from test_attack33_forked_at_revoked_escrow_key import locked_car_line
from test_fork31_large_fork_evidence import _car_held

from a2a_coop._proto.a2acoop.v1 import commitment_pb2
from a2a_coop.protocol.errors import CoopError, Equivocation
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.runtime.trade import ask_escrow_alone
from a2a_coop.testing import LocalEscrow


class _ForkStampedElsewhere:
    """Whoever answers Bob's Submits for E1: the first is refused EQUIVOCATION with Mallory's fork pair and
    ``by``'s Mandate and genuine Stamp of her held half (the escrow that half names); every later one is
    answered with E1's Mandate alone."""

    def __init__(self, e1: LocalEscrow, by: LocalEscrow, held: VerifiedStatement, shown: VerifiedStatement):
        self.e1, self.forged = e1, 0
        stamp = by.party.sign("stamp", commitment_pb2.Stamp(statements=[held.digest]))
        self.evidence = (held.envelope, shown.envelope, by.mandate, stamp.envelope)

    def submit(self, envelopes: Sequence[bytes]) -> list[bytes]:
        if not self.forged:
            self.forged += 1
            raise Equivocation("another statement at this seq", evidence=self.evidence)
        return [self.e1.mandate]


@pytest.mark.req("RPC-006", "NEG-020")
@pytest.mark.parametrize("stamped_by", ["the held half's escrow", "E1"])
def test_a_fork_refusal_frees_only_on_a_stamp_of_the_escrow_bobs_offer_names(stamped_by: str) -> None:
    """As tests/test_attack33_forked_at_revoked_escrow_key.py, with no key revoked: Mallory's held half, at
    her Counter's seq, is an Offer to Carol naming E2. Past the cutoffs, Bob's ask for E1 is refused with
    her pair and a Stamp of the held half by E2 (its genuine key): the car stays held. The control, E1's own
    Stamp of it, frees the car (E1 takes nothing after the fork in the line)."""
    m, e2, carol, opener, counter, held, ours = locked_car_line(lambda m, e2: e2.did)  # held names E2
    m.clock.now_ms = ours.header.expires_at_ms + 60_001  # past both cutoffs and the tolerance: ask
    assert _car_held(m, e2.did, carol)
    by = e2 if stamped_by != "E1" else m.escrow
    answering = _ForkStampedElsewhere(m.escrow, by, held, counter)
    with contextlib.suppress(CoopError):
        ask_escrow_alone(m.b, answering, m.b.negotiation(opener.negotiation_id))  # type: ignore[arg-type]
    assert answering.forged == 1
    if stamped_by == "E1":
        assert not _car_held(m, e2.did, carol), "E1's own Stamp of the held half is its word"
    else:
        assert _car_held(m, e2.did, carol), "the car was freed on a Stamp by the escrow Mallory's half names"
