"""What a server takes: the sizes and times the gRPC binding bounds (SPEC.md section 13, "Message size"
and "Deadlines"), and how much of it from any one issuer (RPC-012, RPC-013)."""

from __future__ import annotations

import math
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, NamedTuple

from google.protobuf.message import DecodeError

from a2a_coop._proto.a2acoop.v1 import envelope_pb2, statement_pb2
from a2a_coop.protocol.envelope import MAX_ENVELOPE_BYTES
from a2a_coop.protocol.errors import Origin, RateLimited

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
# An Exchange or Submit answer goes a page a response (RPC-021); a client reads at most this many parts
# of one (64 MiB of envelopes), so a server saying "more" for ever cannot hold it.
MAX_ANSWER_PARTS: Final = 16
# Deadline of every unary client call unless the client is told otherwise.
DEFAULT_TIMEOUT_S: Final = 10.0
# The retry hint of a refusal for requests in hand: about one request's time at a loaded peer.
IN_FLIGHT_RETRY_MS: Final = 100


# --- per-issuer back-pressure (RPC-012, RPC-013) ----------------------------------------------


@dataclass(frozen=True)
class PeerLimits:
    """What a serving peer takes from any one issuer (RPC-012); 0 means no limit.

    Attributes:
        rate_per_s: requests per second, sustained (a token bucket).
        burst: requests at once above the rate (the bucket's size; default: one second's worth).
        in_flight: requests being handled at the same time.
    """

    rate_per_s: float = 0.0
    burst: int = 0
    in_flight: int = 0

    @property
    def active(self) -> bool:
        return bool(self.rate_per_s or self.in_flight)


class Claimed(NamedTuple):
    """What a request says of itself before its signature is checked: for limits only, never trusted."""

    issuer: str
    body: str
    negotiation_id: bytes


def claimed(envelope: bytes) -> Claimed | None:
    """The issuer, body and negotiation a request names, read without checking its signature or its
    encoding (RPC-013); None when it does not parse: the full checks then say why (ERR-002)."""
    try:
        payload = envelope_pb2.Envelope.FromString(envelope).payload
        stmt = statement_pb2.Statement.FromString(payload)
    except (DecodeError, RuntimeWarning, ValueError):
        return None
    body = stmt.WhichOneof("body")
    if body is None or not stmt.header.issuer:
        return None
    return Claimed(stmt.header.issuer, body, stmt.header.negotiation_id)


class IssuerLimiter:
    """Token buckets and in-flight counts per issuer (RPC-012), for at most ``max_issuers`` issuers at a
    time (the least recently seen is forgotten first: memory stays bounded whoever floods).

    Only requests whose signature held are counted (:meth:`acquire`), so nobody spends another's quota;
    :meth:`check` refuses, before any signature check, a request whose *claimed* issuer is already over
    its limit (RPC-013) -- a forger naming someone else is refused only while that one is over, which
    costs that one nothing -- so a flooding peer's excess costs a lookup, not a signature check.
    """

    def __init__(self, limits: PeerLimits, clock: Callable[[], int], max_issuers: int = 10_000) -> None:
        self.limits = limits
        self.clock = clock
        self.max_issuers = max_issuers
        self.lock = threading.Lock()
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # issuer -> (tokens, at_ms)
        self._busy: Counter[str] = Counter()

    def check(self, issuer: str) -> None:
        """Raise RateLimited if ``issuer`` is over a limit now; count nothing."""
        with self.lock:
            self._over(issuer, float(self.clock()))

    def acquire(self, issuer: str) -> None:
        """Take one request of ``issuer``'s (its signature verified); raise RateLimited over a limit."""
        lim = self.limits
        with self.lock:
            now = float(self.clock())
            tokens = self._over(issuer, now)
            if lim.rate_per_s:
                self._buckets.pop(issuer, None)
                self._buckets[issuer] = (tokens - 1, now)
                while len(self._buckets) > self.max_issuers:
                    self._buckets.popitem(last=False)
            self._busy[issuer] += 1

    def release(self, issuer: str, *, taken: bool = True) -> None:
        """End one request of ``issuer``'s in hand. ``taken``: the server took it (a new statement of
        ``issuer``'s, state moved); one it refused gives its token back (RPC-018): a statement travels
        without its sender, and anyone holding one ``issuer`` signed could send it again and again."""
        with self.lock:
            self._busy[issuer] -= 1
            if self._busy[issuer] <= 0:
                del self._busy[issuer]
            bucket = self._buckets.get(issuer)
            if not taken and bucket is not None:
                lim = self.limits
                size = float(lim.burst or max(1, int(lim.rate_per_s)))
                self._buckets[issuer] = (min(size, bucket[0] + 1), bucket[1])

    def _over(self, issuer: str, now: float) -> float:
        """``issuer``'s tokens now (refilled); raise RateLimited, with a retry hint, over a limit."""
        lim = self.limits
        if lim.in_flight and self._busy[issuer] >= lim.in_flight:
            raise RateLimited(
                f"{lim.in_flight} requests of this peer already in hand",
                retry_after_ms=IN_FLIGHT_RETRY_MS,
                requirement="RPC-012",
                origin=Origin.REMOTE,
            )
        if not lim.rate_per_s:
            return 0.0
        size = float(lim.burst or max(1, int(lim.rate_per_s)))
        tokens, at = self._buckets.get(issuer, (size, now))
        tokens = min(size, tokens + (now - at) * lim.rate_per_s / 1000)
        if tokens < 1:
            wait_ms = max(1, math.ceil((1 - tokens) * 1000 / lim.rate_per_s))
            raise RateLimited(
                f"over {lim.rate_per_s:g} requests/s from this peer",
                retry_after_ms=wait_ms,
                requirement="RPC-012",
                origin=Origin.REMOTE,
            )
        return tokens
