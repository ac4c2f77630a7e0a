"""a2a-coop: signed bilateral trades, credible commitments and reputation for A2A agents.

The core (everything importable from here) is sans-IO: it never reads the
clock, draws randomness or touches the network or disk. Adapters (transport,
journal, CLI) live in their own modules.
"""

from a2a_coop.envelope import STATEMENT_PAYLOAD_TYPE, statement_digest, verify_envelope
from a2a_coop.errors import CoopError
from a2a_coop.identity import Keypair, did_from_public_key, public_key_from_did
from a2a_coop.statements import PROTOCOL_VERSION, VerifiedStatement, verify_statement
from a2a_coop.verifier import TranscriptReport, Verifier, verify_transcript

__version__ = "0.1.0.dev0"

__all__ = [
    "PROTOCOL_VERSION",
    "STATEMENT_PAYLOAD_TYPE",
    "CoopError",
    "Keypair",
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
