"""The AgentCard: how a peer declares the a2a-coop extension to A2A clients, and serves it over HTTP.

:func:`agent_card` describes the peer: its gRPC interface and the extension in
``capabilities.extensions`` (``required: false``, A2A-002), whose ``params``
carry the did:key, public key, mandate, supported versions, bodies and media
types, and the CooperationService endpoint. :class:`CardServer` serves it at
:data:`AGENT_CARD_PATH`; the servicer serves it as ``GetExtendedAgentCard``.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final

from a2a.types import a2a_pb2
from google.protobuf import json_format, struct_pb2

from a2a_coop._proto.a2acoop.v1 import statement_pb2
from a2a_coop.a2a.parts import A2A_PROTOCOL_VERSION, EXTENSION_URI, MEDIA_TYPES
from a2a_coop.protocol.envelope import (
    STATEMENT_PAYLOAD_TYPE,
)
from a2a_coop.protocol.identity import public_key_from_did
from a2a_coop.protocol.statements import verify_statement
from a2a_coop.runtime.node import PeerNode
from a2a_coop.transport.server import COOPERATION_SERVICE

EXTENSION_DESCRIPTION: Final = (
    "a2a-coop: signed bilateral trades, escrowed commitments and attestations (SPEC.md section 14)"
)
DEFAULT_DESCRIPTION: Final = (
    "Trades under signed, bilateral a2a-coop statements (offers, contracts, receipts)."
)
PROTOCOL_VERSIONS: Final = (1,)
BODIES: Final = tuple(f.name for f in statement_pb2.Statement.DESCRIPTOR.oneofs_by_name["body"].fields)
AGENT_CARD_PATH: Final = "/.well-known/agent-card.json"


def agent_card(
    node: PeerNode,
    endpoint: str,
    *,
    name: str = "a2a-coop peer",
    description: str = DEFAULT_DESCRIPTION,
    version: str = "0.1.0",
) -> a2a_pb2.AgentCard:
    """The AgentCard of a peer whose gRPC server (A2AService and CooperationService) is at ``endpoint``."""
    peer = node.peer
    mandate = peer.mandate_vs
    escrows = sorted(
        {
            vs.statement.mandate.agent
            for env in peer.context[1:]
            if (vs := verify_statement(env)).body == "mandate"
        }
    )
    params: dict[str, Any] = {
        "did": peer.did,
        "publicKeys": [
            {
                "id": peer.did,
                "type": "Ed25519",
                "publicKeyBase64": base64.b64encode(public_key_from_did(peer.did)).decode(),
            }
        ],
        "principal": mandate.issuer,
        "mandate": mandate.digest.hex(),
        "mandateEnvelope": base64.b64encode(mandate.envelope).decode(),
        "protocolVersions": list(PROTOCOL_VERSIONS),
        "payloadType": STATEMENT_PAYLOAD_TYPE,
        "mediaTypes": list(MEDIA_TYPES),
        "commitmentKinds": list(BODIES),
        "acceptedEscrows": escrows,
        "cooperationService": {"url": endpoint, "service": COOPERATION_SERVICE, "protocolBinding": "GRPC"},
    }
    ext_params = struct_pb2.Struct()
    ext_params.update(params)
    extension = a2a_pb2.AgentExtension(
        uri=EXTENSION_URI,
        description=EXTENSION_DESCRIPTION,
        required=False,
        params=ext_params,
    )
    return a2a_pb2.AgentCard(
        name=name,
        description=description,
        version=version,
        supported_interfaces=[
            a2a_pb2.AgentInterface(
                url=endpoint, protocol_binding="GRPC", protocol_version=A2A_PROTOCOL_VERSION
            )
        ],
        capabilities=a2a_pb2.AgentCapabilities(
            streaming=False, push_notifications=False, extended_agent_card=True, extensions=[extension]
        ),
        default_input_modes=[*MEDIA_TYPES, "text/plain"],
        default_output_modes=[*MEDIA_TYPES, "text/plain"],
        skills=[
            a2a_pb2.AgentSkill(
                id="a2a-coop-trade",
                name="Signed trade",
                description="Negotiate, contract, deliver and receipt under the a2a-coop extension.",
                tags=["a2a-coop", "trade", "negotiation"],
                input_modes=list(MEDIA_TYPES),
                output_modes=list(MEDIA_TYPES),
            )
        ],
    )


def card_json(card: a2a_pb2.AgentCard) -> bytes:
    """The card in A2A's JSON form (protobuf JSON mapping, camelCase)."""
    return json.dumps(json_format.MessageToDict(card), indent=2).encode()


class CardServer:
    """Serves the AgentCard at ``/.well-known/agent-card.json`` over plain HTTP, on a thread."""

    def __init__(
        self, get_card: Callable[[], a2a_pb2.AgentCard], host: str = "127.0.0.1", port: int = 0
    ) -> None:

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # http.server's name
                if self.path.split("?")[0] != AGENT_CARD_PATH:
                    self.send_error(404)
                    return
                body = card_json(get_card())
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer((host, port), Handler)
        self._httpd.daemon_threads = True
        self.host = host
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="a2a-card", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """Base URL of the agent, for ``ClientFactory.create_from_url``."""
        return f"http://{self.host}:{self.port}"

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()
