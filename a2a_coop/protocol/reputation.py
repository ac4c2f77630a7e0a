"""Reputation: what an admissible attestation is worth (SPEC.md section 10, ATT-*).

Admissibility (ATT-001, ATT-002) says an attestation rests on a contract both
parties signed. That is not enough: a principal with two agent keys can sign
any number of zero-value contracts between them and attest each one. So an
attestation counts for what its contract put at stake (ATT-004): the value the
rated party gave under it -- its items' declared value plus its bond -- and for
nothing when the two parties act for one principal (self-dealing) or nothing
was at stake. Aggregation across attestations (SPEC 10.2) builds on this weight.
"""

from __future__ import annotations

from a2a_coop.protocol.negotiation import proposal_of
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.protocol.verifier import Verifier


def attestation_weight(verifier: Verifier, attestation: VerifiedStatement) -> int:
    """ATT-004: the stake an admissible attestation held by ``verifier`` rests on.

    Returns:
        The value the attestation's subject gave under the contract (items plus bond), or 0 when
        that is zero or when the offer and the Accept were signed under mandates of one principal.

    Raises:
        KeyError: ``verifier`` does not hold the attestation's contract (it is not admissible there).
    """
    a = attestation.statement.attestation
    held = verifier.statements
    offer, accept = held[a.offer], held[a.accept]
    principals = {verifier.mandates[vs.header.mandate].principal for vs in (offer, accept)}
    if len(principals) < 2:
        return 0  # one principal on both sides: self-dealing
    proposal = proposal_of(offer)
    if a.subject == offer.issuer:
        return sum(i.value for i in proposal.gives) + proposal.terms.issuer_bond
    return sum(i.value for i in proposal.wants) + proposal.terms.audience_bond
