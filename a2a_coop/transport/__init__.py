"""The gRPC binding (SPEC.md section 13): server, clients, error mapping and a trio bridge.

An adapter around the sans-IO core: nothing in ``a2a_coop`` outside this
package imports grpc. The peer runtime implements the handler Protocols
(:mod:`.handlers`); :func:`serve` puts them on the network, the clients call
them, and :mod:`.errors` carries each :class:`~a2a_coop.protocol.errors.CoopError`
across with its code. :mod:`.trio_bridge` (imported on its own) lets a trio
peer serve and call without blocking its loop.
"""

from a2a_coop.transport.client import CooperationClient, EscrowClient
from a2a_coop.transport.errors import TransportError
from a2a_coop.transport.handlers import CooperationHandler, EscrowHandler
from a2a_coop.transport.paging import PageLimits, PagingViolation
from a2a_coop.transport.server import RunningServer, serve
from a2a_coop.transport.tls import TlsConfig

__all__ = [
    "CooperationClient",
    "CooperationHandler",
    "EscrowClient",
    "EscrowHandler",
    "PageLimits",
    "PagingViolation",
    "RunningServer",
    "TlsConfig",
    "TransportError",
    "serve",
]
