"""The A2A binding (SPEC.md section 14): an a2a-coop peer as an A2A agent.

Needs the optional ``a2a`` extra (``pip install -e '.[a2a]'`` in the checkout, which brings
a2a-sdk); the core never imports this module. A2A's own types and its
``lf.a2a.v1.A2AService`` come from a2a-sdk, never redefined here.

Theory of operation. One :class:`CoopRequestHandler` (an a2a-sdk ``RequestHandler``, :mod:`.handler`)
implements A2A's operations over a :class:`PeerNode`, and all three of A2A's bindings call it
(:func:`serve_a2a`): a2a-sdk's JSON-RPC 2.0 and HTTP+JSON routes on uvicorn (:mod:`.http`, which also
serves the card), and the gRPC ``A2AService`` (:mod:`.service`) on the same grpcio server as
CooperationService, running the handler's coroutines on the HTTP server's event loop:

* **Discovery.** :func:`agent_card` describes the peer: its three interfaces and the a2a-coop
  extension in ``capabilities.extensions`` (``required: false``), whose ``params`` carry the did:key,
  public key, mandate, supported versions, bodies and media types, and the CooperationService
  endpoint. The card is served by ``GetExtendedAgentCard`` and, over HTTP, at
  ``/.well-known/agent-card.json`` with caching headers and CORS.
* **Messages.** ``SendMessage`` takes a Message whose a2a-coop Parts each hold
  one envelope (a ``raw`` Part of :data:`ENVELOPE_MEDIA_TYPE`, or a ``data``
  Part holding the DSSE JSON form, :data:`ENVELOPE_JSON_MEDIA_TYPE`): the last
  is the statement, the ones before it its context, dependencies first. The
  statement goes to ``PeerNode.exchange``; the signed answers come back as the
  Parts of the Task's status message. One negotiation is one Task, whose id is
  the negotiation id in hex; its state is mapped from the negotiation's
  (:data:`TASK_STATES`); the formed contract, every receipt and every
  attestation of it are Artifacts, each a self-contained evidence bundle.
* **Activation.** a2a-coop Parts are only read when the client activates the
  extension (``A2A-Extensions`` or ``X-A2A-Extensions`` metadata, or the URI
  in ``Message.extensions``); activated extensions are echoed in the
  response's ``a2a-extensions`` metadata and in the reply's ``extensions``.
  Without activation, a message carrying a2a-coop Parts is refused with A2A's
  ``EXTENSION_SUPPORT_REQUIRED``; a plain message is answered with a plain
  agent Message that says how to trade. Unsigned messages never change a
  negotiation (no downgrade).
* **Other operations.** Streaming (the exchange streamed; SubscribeToTask follows a negotiation to
  its end), ListTasks (one context's tasks, paged), CancelTask (a signed Withdraw of our open offer,
  else TASK_NOT_CANCELABLE); errors by A2A's own mapping on each binding (SPEC.md 14.5).

Modules: :mod:`.parts` (the extension's URI, media types and Parts),
:mod:`.card` (the AgentCard), :mod:`.handler` (the operations), :mod:`.callers` (who calls: the
operator's, a party's did:key by its client certificate, or a stranger), :mod:`.http`
(JSON-RPC, HTTP+JSON and the card on uvicorn), :mod:`.service` (the gRPC
servicer and :func:`serve_a2a`) and :mod:`.client` (:func:`drive_a2a`).
"""

try:
    import a2a.types  # noqa: F401  # a2a-sdk, the optional extra
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "a2a_coop.a2a needs the a2a extra: pip install -e '.[a2a]' in the a2a-coop checkout"
    ) from exc

from a2a_coop.a2a.card import AGENT_CARD_PATH, agent_card, card_dict, card_json
from a2a_coop.a2a.client import drive_a2a, send_whole, whole_task
from a2a_coop.a2a.handler import TASK_STATES, CoopRequestHandler, negotiation_artifacts
from a2a_coop.a2a.http import JSONRPC_PATH, REST_PATH, HttpServer, http_app
from a2a_coop.a2a.parts import (
    ENVELOPE_JSON_MEDIA_TYPE,
    ENVELOPE_MEDIA_TYPE,
    EXTENSION_URI,
    MEDIA_TYPES,
    activation,
    answers_of,
    coop_params,
    envelope_of,
    envelope_part,
    envelopes_in,
    next_answer_of,
    next_artifact_of,
    statement_message,
    task_id_for,
)
from a2a_coop.a2a.service import A2AServer, A2AServicer, serve_a2a

__all__ = [
    "AGENT_CARD_PATH",
    "ENVELOPE_JSON_MEDIA_TYPE",
    "ENVELOPE_MEDIA_TYPE",
    "EXTENSION_URI",
    "JSONRPC_PATH",
    "MEDIA_TYPES",
    "REST_PATH",
    "TASK_STATES",
    "A2AServer",
    "A2AServicer",
    "CoopRequestHandler",
    "HttpServer",
    "activation",
    "agent_card",
    "answers_of",
    "card_dict",
    "card_json",
    "coop_params",
    "drive_a2a",
    "envelope_of",
    "envelope_part",
    "envelopes_in",
    "http_app",
    "negotiation_artifacts",
    "next_answer_of",
    "next_artifact_of",
    "send_whole",
    "serve_a2a",
    "statement_message",
    "task_id_for",
    "whole_task",
]
