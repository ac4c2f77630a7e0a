"""The AgentCard: how a peer declares the a2a-coop extension to A2A clients, and serves it over HTTP.

:func:`agent_card` describes the peer: its A2A interfaces and the extension in
``capabilities.extensions`` (``required: false``, A2A-002), whose ``params``
carry the did:key, public key, mandate, supported versions, bodies and media
types, and the CooperationService endpoint. :mod:`.http` serves it at
:data:`AGENT_CARD_PATH`; every binding serves it as ``GetExtendedAgentCard``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
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
PROTOCOL_VERSIONS: Final = (1,)  # a2a-coop's statement versions (the card lists them as strings)
BODIES: Final = tuple(f.name for f in statement_pb2.Statement.DESCRIPTOR.oneofs_by_name["body"].fields)
AGENT_CARD_PATH: Final = "/.well-known/agent-card.json"


def agent_card(
    node: PeerNode,
    endpoint: str,
    *,
    interfaces: Sequence[tuple[str, str]] | None = None,
    tls: bool = False,
    name: str = "a2a-coop peer",
    description: str = DEFAULT_DESCRIPTION,
    version: str = "0.1.0",
) -> a2a_pb2.AgentCard:
    """The AgentCard of a peer whose gRPC server (A2AService and CooperationService) is at ``endpoint``.

    ``interfaces``: the A2A interfaces, ``(url, protocolBinding)``, preferred first (default: gRPC
    at ``endpoint`` only). ``tls``: the gRPC endpoint needs TLS (said in the extension's params).
    """
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
        "protocolVersions": [str(v) for v in PROTOCOL_VERSIONS],
        "payloadType": STATEMENT_PAYLOAD_TYPE,
        "mediaTypes": list(MEDIA_TYPES),
        "commitmentKinds": list(BODIES),
        "acceptedEscrows": escrows,
        "cooperationService": {
            "url": endpoint,
            "service": COOPERATION_SERVICE,
            "protocolBinding": "GRPC",
            "tls": tls,
        },
    }
    ext_params = struct_pb2.Struct()
    ext_params.update(params)
    extension = a2a_pb2.AgentExtension(
        uri=EXTENSION_URI,
        description=EXTENSION_DESCRIPTION,
        required=False,
        params=ext_params,
    )
    listed = interfaces if interfaces is not None else [(endpoint, "GRPC")]
    return a2a_pb2.AgentCard(
        name=name,
        description=description,
        version=version,
        supported_interfaces=[
            a2a_pb2.AgentInterface(url=url, protocol_binding=binding, protocol_version=A2A_PROTOCOL_VERSION)
            for url, binding in listed
        ],
        capabilities=a2a_pb2.AgentCapabilities(
            streaming=True, push_notifications=False, extended_agent_card=True, extensions=[extension]
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


def card_dict(card: a2a_pb2.AgentCard) -> dict[str, Any]:
    """The card in A2A's JSON form (protobuf JSON mapping, camelCase), with the booleans protobuf JSON
    drops when false written out: each extension's ``required`` (A2A-002) and the capabilities."""
    out: dict[str, Any] = json_format.MessageToDict(card)
    caps = out.setdefault("capabilities", {})
    caps["streaming"] = card.capabilities.streaming
    caps["pushNotifications"] = card.capabilities.push_notifications
    for ext, src in zip(caps.get("extensions", []), card.capabilities.extensions, strict=True):
        ext["required"] = src.required
    return out


def card_json(card: a2a_pb2.AgentCard) -> bytes:
    """The card in A2A's JSON form (:func:`card_dict`), as served."""
    return json.dumps(card_dict(card), indent=2).encode()
