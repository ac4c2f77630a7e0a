"""A fork proof on the wire (SPEC 10.5, 13.5): ``ForkProof{first, second, revocations, stamps}`` in a swap."""

from __future__ import annotations

from a2a_coop._proto.a2acoop.v1 import service_pb2
from a2a_coop.protocol.forks import ForkProof


def proof_message(proof: ForkProof) -> service_pb2.ForkProof:
    """``proof`` as a swap carries it, with what travels with it (ATT-024, ATT-025)."""
    return service_pb2.ForkProof(
        first=proof.first, second=proof.second, revocations=proof.revocations, stamps=proof.stamps
    )


def proof_of(message: service_pb2.ForkProof) -> ForkProof:
    """The proof a swap's message carries (an older peer sends no ``revocations`` or ``stamps``: empty)."""
    return ForkProof(message.first, message.second, tuple(message.revocations), tuple(message.stamps))
