"""Sizes and times the gRPC binding bounds (SPEC.md section 13, "Message size" and "Deadlines")."""

from __future__ import annotations

from typing import Final

from a2a_coop.protocol.envelope import MAX_ENVELOPE_BYTES

# Protobuf framing around the envelopes of one request: field tags and length prefixes (a few bytes per
# envelope) with ample room to spare.
FRAMING_BYTES: Final = 1024
# A server's default receive limit: a request carries one envelope (ENV-008) plus framing. A peer whose
# callers send larger context or Submit batches raises it with serve(max_message_bytes=...).
MAX_REQUEST_BYTES: Final = MAX_ENVELOPE_BYTES + FRAMING_BYTES
# Paged responses (GetLog, GetLedger, GetAttestations): at most this many bytes of envelopes...
MAX_PAGE_BYTES: Final = 4 * 1024 * 1024
# ...and at most this many entries; a request's limit of 0 means this many.
MAX_PAGE_ENTRIES: Final = 1024
# The highest seq a read request may start from: every seq of a signed statement is at most 2^53 - 1
# (STM-013), so a from_seq above it names no position of any chain or ledger (RPC-011).
MAX_FROM_SEQ: Final = 2**53 - 1
# Largest response a client accepts.
MAX_RESPONSE_BYTES: Final = MAX_PAGE_BYTES + 64 * 1024
# Deadline of every unary client call unless the client is told otherwise.
DEFAULT_TIMEOUT_S: Final = 10.0
