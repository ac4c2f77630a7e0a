"""Detectors over signed evidence: what a counterparty or an auditor can prove from what it holds."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from a2a_coop._proto.a2acoop.v1 import trade_pb2
from a2a_coop.protocol.negotiation import proposal_of
from a2a_coop.protocol.statements import VerifiedStatement
from reference_agents.adversarial import RATIO_SUBJECT


@dataclass(frozen=True)
class BrokenReservation:
    """``issuer`` claimed it would not go below ``claimed`` (thousandths of an even trade) and then
    accepted ``accepted``, in negotiation ``negotiation``: two statements it signed that contradict."""

    issuer: str
    negotiation: bytes
    claimed: int
    accepted: int
    claim: bytes  # digest of the Offer or Counter carrying the claim
    accept: bytes  # digest of the Accept


def _ratio_permille(proposal: trade_pb2.Offer) -> int:
    asked = sum(i.value for i in proposal.wants)
    offered = sum(i.value for i in proposal.gives)
    return 10**9 if asked == 0 else round(1000 * offered / asked)


def broken_reservations(held: Iterable[VerifiedStatement]) -> list[BrokenReservation]:
    """Every Accept whose issuer signed, in the same negotiation, a reservation claim (subject
    ``ratio-permille``) above the ratio it accepted."""
    statements = list(held)
    by_digest = {vs.digest: vs for vs in statements}
    claims: dict[tuple[str, bytes], tuple[int, bytes]] = {}
    for vs in statements:
        if vs.body not in ("offer", "counter"):
            continue
        for c in proposal_of(vs).claims:
            if c.kind == trade_pb2.CLAIM_KIND_RESERVATION_VALUE and c.subject == RATIO_SUBJECT:
                key = (vs.issuer, vs.header.negotiation_id)
                if c.WhichOneof("value") == "amount" and c.amount > claims.get(key, (-1, b""))[0]:
                    claims[key] = (c.amount, vs.digest)
    out = []
    for vs in statements:
        if vs.body != "accept":
            continue
        claim = claims.get((vs.issuer, vs.header.negotiation_id))
        offer = by_digest.get(vs.statement.accept.offer)
        if claim is None or offer is None:
            continue
        accepted = _ratio_permille(proposal_of(offer))
        if accepted < claim[0]:
            out.append(
                BrokenReservation(
                    vs.issuer, vs.header.negotiation_id, claim[0], accepted, claim[1], vs.digest
                )
            )
    return out
