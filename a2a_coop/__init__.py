"""a2a-coop: signed bilateral trades, credible commitments and reputation for A2A agents.

The package is layered, and the folder names say which code may do I/O:

* :mod:`a2a_coop.protocol` -- the pure core (no I/O, no clock, no randomness not passed in);
* :mod:`a2a_coop.runtime` -- a running agent: peer, journal, strategy, nodes;
* :mod:`a2a_coop.transport` -- the gRPC binding;
* :mod:`a2a_coop.a2a` -- the A2A binding (optional ``a2a`` extra);
* :mod:`a2a_coop.cli` -- the ``a2a-coop`` command.

Everything importable from here is sans-IO: the verification API of the core,
and the strategy interface a framework author implements (it only proposes;
the peer's policy guard decides what is signed). :mod:`a2a_coop.testing`
holds deterministic helpers for tests, :mod:`a2a_coop.vectors` runs the
offline conformance vectors.
"""

from a2a_coop.protocol.envelope import STATEMENT_PAYLOAD_TYPE, statement_digest, verify_envelope
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.identity import Keypair, did_from_public_key, public_key_from_did
from a2a_coop.protocol.statements import PROTOCOL_VERSION, VerifiedStatement, verify_statement
from a2a_coop.protocol.verifier import TranscriptReport, Verifier, verify_transcript
from a2a_coop.runtime.strategy import (
    Accept,
    ContractView,
    Counter,
    Deliver,
    DeliveryView,
    HonestStrategy,
    OfferView,
    Reject,
    Strategy,
)

__version__ = "0.2.0.dev0"

__all__ = [
    "PROTOCOL_VERSION",
    "STATEMENT_PAYLOAD_TYPE",
    "Accept",
    "ContractView",
    "CoopError",
    "Counter",
    "Deliver",
    "DeliveryView",
    "HonestStrategy",
    "Keypair",
    "OfferView",
    "Reject",
    "Strategy",
    "TranscriptReport",
    "VerifiedStatement",
    "Verifier",
    "__version__",
    "did_from_public_key",
    "public_key_from_did",
    "statement_digest",
    "verify_envelope",
    "verify_statement",
    "verify_transcript",
]
