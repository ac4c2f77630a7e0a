"""A2A's operations for one peer, once for every binding (SPEC.md section 14).

:class:`CoopRequestHandler` is an a2a-sdk ``RequestHandler``: a2a-sdk's JSON-RPC and HTTP+JSON
routes call it directly (:mod:`.http`), and the gRPC servicer (:mod:`.service`) calls the same
methods on the same event loop, so the three bindings reach the same negotiations with the same
semantics (transport equivalence). What each operation means for a negotiation:

* ``SendMessage``: the statement goes to ``PeerNode.exchange``; the answers come back in the Task's
  status message (A2A-005..A2A-010).
* ``SendStreamingMessage``: the same exchange as a stream: the Task, an artifact-update per
  evidence bundle the exchange formed, then a status-update carrying the signed answers and the
  resulting state. The stream ends once the peer has answered (A2A-015).
* ``SubscribeToTask``: the Task, then a status-update for every statement the negotiation takes in
  (through any binding or CooperationService) and an artifact-update for every new bundle, until
  the negotiation is terminal (A2A-015).
* ``GetTask`` (strict ids, A2A-013), ``ListTasks`` (one context's tasks, paged, A2A-014),
  ``CancelTask`` (a signed Withdraw of our outstanding offer, else TaskNotCancelable, A2A-018), for
  the operator's callers only (A2A-022).
* Who calls (:mod:`.callers`, A2A-026): the operator's, a party's did:key (by its client certificate),
  or a stranger. With ``private_tasks`` (``serve --a2a-private-tasks``, A2A-025), a Task is shown to the
  operator's callers and to the callers of its two parties alone: ``GetTask``, ``SubscribeToTask``,
  ``ListTasks`` and ``CancelTask`` answer any other caller as for a Task the agent does not hold, and a
  ``SendMessage`` answer to one carries no Artifacts.
* A negotiation's ``contextId`` is bound only by a message from the operator's caller or one of its
  parties' (A2A-027), and shown only to a request naming it (A2A-024).
* A Task's Artifacts go in parts of at most 1 MiB of envelopes (A2A-028 (a), :func:`cut_artifacts`): a
  Task says where the rest starts (``metadata.a2aCoop.nextArtifact``), GetTask reads it from the
  ``A2A-Coop-Artifacts-From`` service parameter, and a stream sends it as artifact-updates.
* Push notifications are not offered: PushNotificationNotSupported.

Every method checks ``A2A-Version`` (Major.Minor, A2A-004) and the request's required fields first.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import threading
import uuid
from collections.abc import AsyncGenerator, Callable, Iterable, Sequence
from typing import Any, Final
from urllib.parse import unquote

from a2a.server.context import ServerCallContext
from a2a.server.request_handlers.request_handler import RequestHandler
from a2a.types import a2a_pb2
from a2a.utils import errors as a2a_errors
from a2a.utils.proto_utils import validate_proto_required_fields
from google.protobuf import struct_pb2

from a2a_coop._proto.a2acoop.v1 import trade_pb2
from a2a_coop.a2a.callers import OPERATOR, STRANGER, Callers
from a2a_coop.a2a.parts import (
    A2A_PROTOCOL_VERSION,
    ARTIFACTS_FROM_HEADER,
    ENVELOPE_MEDIA_TYPE,
    EXTENSION_URI,
    MAX_A2A_ARTIFACT_BYTES,
    MAX_A2A_PART_BYTES,
    MEDIA_TYPES,
    answer_from_of,
    artifacts_from,
    envelope_of,
    envelope_part,
    is_envelope_part,
    set_coop_number,
    task_id_for,
)
from a2a_coop.protocol.envelope import parse_envelope
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.negotiation import BARGAINING_STATES, Negotiation, State
from a2a_coop.protocol.statements import VerifiedStatement, decode_statement, verify_statement
from a2a_coop.runtime.node import PeerNode
from a2a_coop.runtime.peer import Peer
from a2a_coop.transport.errors import hints
from a2a_coop.transport.server import answer_part

log = logging.getLogger("a2a_coop.a2a")

# SPEC.md section 14, A2A-011: negotiation state -> A2A task state.
TASK_STATES: Final[dict[State, int]] = {
    State.PROPOSED: a2a_pb2.TASK_STATE_INPUT_REQUIRED,
    State.COUNTERED: a2a_pb2.TASK_STATE_INPUT_REQUIRED,
    State.ACCEPTED: a2a_pb2.TASK_STATE_WORKING,
    State.BONDED: a2a_pb2.TASK_STATE_WORKING,
    State.PERFORMING: a2a_pb2.TASK_STATE_WORKING,
    State.DISPUTED: a2a_pb2.TASK_STATE_WORKING,
    State.FULFILLED: a2a_pb2.TASK_STATE_COMPLETED,
    State.BREACHED: a2a_pb2.TASK_STATE_FAILED,
    State.REVOKED: a2a_pb2.TASK_STATE_CANCELED,
    State.REJECTED: a2a_pb2.TASK_STATE_REJECTED,
    State.WITHDRAWN: a2a_pb2.TASK_STATE_CANCELED,
    State.EXPIRED: a2a_pb2.TASK_STATE_CANCELED,
}

CONTEXTS_META_KEY: Final = "a2a.contexts"  # journal meta: negotiation id (hex) -> A2A context id
_WHO_STATE_KEY: Final = "a2a_coop.who"  # ServerCallContext.state: who the call is, once judged (A2A-026)
NOT_OPERATOR: Final = "NOT_OPERATOR"  # ErrorInfo metadata a2aCoopRefusal of a CancelTask refused (A2A-022)
DEFAULT_PAGE_SIZE: Final = 50
MAX_PAGE_SIZE: Final = 100
_TASK_ID: Final = re.compile(r"\A(?:[0-9a-f]{2})+\Z")
_VERSION: Final = re.compile(r"\A(\d+)\.(\d+)(?:\.\d+)?\Z")


def coop_refusal(cause: CoopError) -> a2a_errors.InvalidParamsError:
    """A statement the peer refused (A2A-009): A2A's InvalidParams, its data naming the section 12
    code; ``coop_cause`` keeps the error, which the gRPC binding sends as its section 13 status.
    (An InvalidParamsError itself, not a subclass: a2a-sdk maps errors by exact type.)"""
    data = {"a2aCoopCode": cause.code, "requirement": cause.requirement or "", "detail": cause.detail}
    data |= hints(cause)  # the retry hint and a revocation's reach, as the gRPC binding's ErrorInfo carries
    error = a2a_errors.InvalidParamsError(str(cause), data=data)
    error.coop_cause = cause  # type: ignore[attr-defined]
    return error


def coop_cause(error: BaseException) -> CoopError | None:
    cause = getattr(error, "coop_cause", None)
    return cause if isinstance(cause, CoopError) else None


class TaskEvents:
    """Tells the streams that a negotiation may have changed. ``changed`` is thread-safe; waiters
    live on one event loop (the HTTP server's)."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self._waiters: set[asyncio.Event] = set()
        self._lock = threading.Lock()

    def changed(self) -> None:
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        with self._lock:
            waiters = list(self._waiters)
        for w in waiters:
            loop.call_soon_threadsafe(w.set)

    def waiter(self) -> asyncio.Event:
        event = asyncio.Event()
        with self._lock:
            self._waiters.add(event)
        return event

    def drop(self, event: asyncio.Event) -> None:
        with self._lock:
            self._waiters.discard(event)


class NotifyingNode:
    """The CooperationHandler that serves CooperationService beside A2A: ``node`` (or a wrapper of it,
    such as the CLI's logging one), telling the A2A streams after every exchange."""

    def __init__(self, inner: Any, events: TaskEvents) -> None:
        self._inner = inner
        self._events = events

    def exchange(self, envelope: bytes, context: Sequence[bytes]) -> list[bytes]:
        try:
            return list(self._inner.exchange(envelope, context))
        finally:
            self._events.changed()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class CoopRequestHandler(RequestHandler):
    """A2A's operations over one :class:`PeerNode` (see the module docstring).

    Args:
        node: the peer.
        card: returns the AgentCard (``GetExtendedAgentCard``).
        exchange: how a statement reaches the peer (default ``node.exchange``; the CLI passes its
            logging wrapper).
        events: the change notifier shared with CooperationService.
        identify: who a call is (A2A-026): :data:`~.callers.OPERATOR`, a party's did:key, or ""
            (a stranger); default :meth:`Callers.identify` (a client certificate, else the operator's on
            this host).
        operator: instead of ``identify``, whether a call is the operator's (every other caller a
            stranger): the only caller ``CancelTask`` makes the peer sign a Withdraw for (A2A-022).
        private_tasks: serve a Task only to the operator's callers and its parties' (A2A-025, A2A-026):
            any other caller is answered as for a Task the agent does not hold, and a SendMessage
            answer to one (its signed answers, RPC-003) carries no Artifacts.
    """

    def __init__(
        self,
        node: PeerNode,
        card: Callable[[], a2a_pb2.AgentCard],
        *,
        exchange: Callable[[bytes, Sequence[bytes]], list[bytes]] | None = None,
        events: TaskEvents | None = None,
        identify: Callable[[ServerCallContext], str] | None = None,
        operator: Callable[[ServerCallContext], bool] | None = None,
        private_tasks: bool = False,
    ) -> None:
        self.node = node
        self._card = card
        if identify is None:
            if operator is not None:
                is_operator = operator
                identify = lambda ctx: OPERATOR if is_operator(ctx) else STRANGER  # noqa: E731
            else:
                identify = Callers(agent=node.peer.did).identify
        self._identify = identify
        self.private_tasks = private_tasks
        self._exchange = exchange or node.exchange
        self.events = events or TaskEvents()
        self._lock = threading.Lock()
        stored = node.journal.get_meta(CONTEXTS_META_KEY, {}) if node.journal is not None else {}
        self._contexts: dict[str, str] = dict(stored or {})  # negotiation id hex -> context id

    # -- contexts (persisted in the journal, A2A-007) ---------------------------------------------

    def context_of(self, task_id: str) -> str:
        with self._lock:
            return self._contexts.get(task_id, task_id)

    def _bind_context(self, task_id: str, context_id: str) -> str:
        # Under the peer's lock: the journal's one connection is the peer's (never two writers), and
        # snapshots reach it in the order they were taken.
        with self.node.peer.lock:
            with self._lock:
                known = self._contexts.get(task_id)
                if known is not None:
                    return known
                self._contexts[task_id] = context_id
                snapshot = dict(self._contexts)
            if self.node.journal is not None:
                self.node.journal.put_meta(CONTEXTS_META_KEY, snapshot)
        return context_id

    # -- the operations ---------------------------------------------------------------------------

    async def on_message_send(
        self, params: a2a_pb2.SendMessageRequest, context: ServerCallContext
    ) -> a2a_pb2.Task | a2a_pb2.Message:
        _check(params, context)
        _check_message(params)
        outcome = await self._send(params.message, context)
        if isinstance(outcome, a2a_pb2.Message):
            return outcome
        neg, (answers, next_answer), _before = outcome
        task = self.task(neg, [envelope_part(a) for a in answers], named=params.message.context_id)
        _mark_cut(task.status.message, next_answer)
        if not self._sees(self._who(context), neg):
            del task.artifacts[:]  # A2A-025: the signed answers (RPC-003), not the contract's evidence
        cut_artifacts(task, 0)  # A2A-028 (a): the rest by GetTask
        return task

    async def on_message_send_stream(
        self, params: a2a_pb2.SendMessageRequest, context: ServerCallContext
    ) -> AsyncGenerator[Any]:
        _check(params, context)
        _check_message(params)
        outcome = await self._send(params.message, context)
        if isinstance(outcome, a2a_pb2.Message):
            yield outcome
            return
        neg, (answers, next_answer), before = outcome
        task = self.task(neg, [], named=params.message.context_id)
        if not self._sees(self._who(context), neg):
            del task.artifacts[:]  # A2A-025, as on_message_send
        first = a2a_pb2.Task()
        first.CopyFrom(task)
        left_out = {a.artifact_id for a in cut_artifacts(first, 0)}
        yield first
        for artifact in task.artifacts:  # the ones the Task left out (A2A-028 (a)) and the ones this formed
            if artifact.artifact_id not in before or artifact.artifact_id in left_out:
                yield _artifact_update(task, artifact)
        update = self._status_update(task, [envelope_part(a) for a in answers])
        _mark_cut(update.status.message, next_answer)
        yield update

    async def on_subscribe_to_task(
        self, params: a2a_pb2.SubscribeToTaskRequest, context: ServerCallContext
    ) -> AsyncGenerator[Any]:
        _check(params, context)
        neg = self._visible(params.id, context)
        if neg.is_terminal:
            raise a2a_errors.UnsupportedOperationError(
                f"task {params.id} is in a terminal state ({neg.state.value}); there is nothing to follow"
            )
        waiter = self.events.waiter()
        try:
            # Each event is read in one hold of the peer's lock -- the statements new since the last
            # one and the state they led to -- so no statement the stream reports a state after is
            # missing from it (a receipt landing between the two reads once ended the stream without it).
            with self.node.peer.lock:
                task = self.task(neg, [])
                seen = len(neg.history)
            seen_artifacts = {a.artifact_id for a in task.artifacts}
            left_out = cut_artifacts(task, 0)
            yield task
            for artifact in left_out:  # A2A-028 (a): the Artifacts the Task had no room for, one an event
                yield _artifact_update(task, artifact)
            while True:
                await waiter.wait()
                waiter.clear()
                with self.node.peer.lock:
                    fresh = neg.history[seen:]
                    if not fresh:
                        continue
                    seen = len(neg.history)
                    held = self.node.peer.verifier.statements
                    envelopes = [held[d].envelope for *_, d in fresh if d and d in held]
                    task = self.task(neg, [])
                    terminal = neg.is_terminal
                for artifact in task.artifacts:
                    if artifact.artifact_id not in seen_artifacts:
                        seen_artifacts.add(artifact.artifact_id)
                        yield _artifact_update(task, artifact)
                yield self._status_update(task, [envelope_part(e) for e in envelopes])
                if terminal:
                    return
        finally:
            self.events.drop(waiter)

    async def on_get_task(self, params: a2a_pb2.GetTaskRequest, context: ServerCallContext) -> a2a_pb2.Task:
        _check(params, context)
        if params.HasField("history_length") and params.history_length < 0:
            raise a2a_errors.InvalidParamsError("historyLength must not be negative")
        try:
            start = artifacts_from(_header(context, ARTIFACTS_FROM_HEADER))
        except ValueError as err:
            raise a2a_errors.InvalidParamsError(f"{err} (A2A-028)") from None
        task = self.task(self._visible(params.id, context), [])
        cut_artifacts(task, start)
        return task

    async def on_list_tasks(
        self, params: a2a_pb2.ListTasksRequest, context: ServerCallContext
    ) -> a2a_pb2.ListTasksResponse:
        _check(params, context)
        size = params.page_size if params.HasField("page_size") else DEFAULT_PAGE_SIZE
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise a2a_errors.InvalidParamsError(f"pageSize must be between 1 and {MAX_PAGE_SIZE}")
        if params.HasField("history_length") and params.history_length < 0:
            raise a2a_errors.InvalidParamsError("historyLength must not be negative")
        offset = _page_offset(params.page_token)
        after_ms = (
            params.status_timestamp_after.ToMilliseconds()
            if params.HasField("status_timestamp_after")
            else None
        )
        rows: list[tuple[int, str, Negotiation]] = []
        with self._lock:
            mine = [t for t, c in self._contexts.items() if params.context_id and c == params.context_id]
            if _TASK_ID.match(params.context_id) and params.context_id not in self._contexts:
                mine.append(params.context_id)  # A2A-020: an unbound negotiation's context is its Task id
        who = self._who(context)
        if self.private_tasks and who == STRANGER:
            mine = []  # A2A-025: as a context of no Task
        elif self.private_tasks and not self._is_operator(who):
            # A2A-026: a party's own Tasks alone, each told by one journal query whether held, forgotten
            # or unknown (never rebuilt to be refused); a Task id bound to another context costs the
            # query its unknown id does (tests/test_attack20_a2a.py).
            if not mine and _TASK_ID.match(params.context_id):
                self._party_of(who, params.context_id)
            mine = [t for t in mine if self._party_of(who, t)]
        peer = self.node.peer
        with peer.lock:
            for task_id in mine:
                neg = _held_or_archived(peer, bytes.fromhex(task_id))
                if neg is None or not self._sees(who, neg):  # A2A-026: a party's own Tasks alone
                    continue
                if params.status and TASK_STATES[neg.state] != params.status:
                    continue
                updated = _updated_ms(peer, neg)
                if after_ms is not None and updated <= after_ms:
                    continue
                rows.append((updated, task_id, neg))
        rows.sort(key=lambda r: (-r[0], r[1]))  # most recently updated first (A2A 3.1.4)
        tasks: list[a2a_pb2.Task] = []
        room = MAX_A2A_ARTIFACT_BYTES  # A2A-028 (a): a page's Artifacts, as one Task's
        for _, _, neg in rows[offset : offset + size]:
            task = self.task(neg, [], named=params.context_id)
            if not params.include_artifacts:
                del task.artifacts[:]
            cut_artifacts(task, 0, room)  # the first Task: at least one Artifact, as GetTask's
            if tasks and task.artifacts and _artifacts_bytes(task.artifacts) > room:
                break  # no room left on this page: the next starts with this Task
            room -= _artifacts_bytes(task.artifacts)
            tasks.append(task)
        end = offset + len(tasks)
        return a2a_pb2.ListTasksResponse(
            tasks=tasks,
            next_page_token=_token(end) if end < len(rows) else "",
            page_size=size,
            total_size=len(rows),
        )

    async def on_cancel_task(
        self, params: a2a_pb2.CancelTaskRequest, context: ServerCallContext
    ) -> a2a_pb2.Task:
        _check(params, context)
        neg = self._visible(params.id, context)
        # A2A-022: CancelTask carries no signature, and the Task id is no secret (it is in every
        # statement of the negotiation, and in an escrow's transcript): anyone could have us withdraw.
        if not self._is_operator(self._who(context)):
            raise a2a_errors.TaskNotCancelableError(
                "only this agent's operator may have it withdraw its offer (a caller on this host, or one "
                "whose client certificate is the operator's, A2A-026); the counterparty ends the offer "
                "with a signed Reject",
                data={"a2aCoopRefusal": NOT_OPERATOR},
            )
        peer = self.node.peer

        def withdraw() -> VerifiedStatement:
            with peer.lock:
                if neg.state not in BARGAINING_STATES or neg.outstanding.issuer != peer.did:
                    raise a2a_errors.TaskNotCancelableError(_not_cancelable(peer, neg))
                offer = neg.outstanding
                vs = peer.sign(
                    "withdraw",
                    trade_pb2.Withdraw(offer=offer.digest, reason="A2A CancelTask"),
                    audience=neg.other(peer.did),
                    negotiation_id=neg.id,
                    refs=[offer.digest],
                )
                return vs

        try:
            vs = await asyncio.to_thread(withdraw)
        except CoopError as err:
            raise a2a_errors.TaskNotCancelableError(f"the peer cannot withdraw now: {err}") from None
        finally:
            self.events.changed()
        # A bonded offer withdrawn: its escrow is shown the Withdraw before anyone else sees it (ESC-013).
        # Taken first there, no Accept of the offer after it binds (ESC-014) -- else the counterparty,
        # seeing the Withdraw, could still sign an Accept dated before the offer's expiry and get it to the
        # escrow first. An Accept the escrow took before it takes precedence (NEG-017) and is revealed.
        show = getattr(self.node, "show_escrow_now", None)
        if show is not None:
            await asyncio.to_thread(show, neg.id)
            self.events.changed()
        task = self.task(neg, [envelope_part(vs.envelope)])
        cut_artifacts(task, 0)  # A2A-028 (a)
        return task

    async def on_get_extended_agent_card(
        self, params: a2a_pb2.GetExtendedAgentCardRequest, context: ServerCallContext
    ) -> a2a_pb2.AgentCard:
        _check(params, context)
        return self._card()

    async def on_create_task_push_notification_config(self, params: Any, context: ServerCallContext) -> Any:
        _check(params, context)
        raise a2a_errors.PushNotificationNotSupportedError()

    async def on_get_task_push_notification_config(self, params: Any, context: ServerCallContext) -> Any:
        _check(params, context)
        raise a2a_errors.PushNotificationNotSupportedError()

    async def on_list_task_push_notification_configs(self, params: Any, context: ServerCallContext) -> Any:
        _check(params, context)
        raise a2a_errors.PushNotificationNotSupportedError()

    async def on_delete_task_push_notification_config(self, params: Any, context: ServerCallContext) -> None:
        _check(params, context)
        raise a2a_errors.PushNotificationNotSupportedError()

    # -- internals --------------------------------------------------------------------------------

    async def _send(
        self, msg: a2a_pb2.Message, context: ServerCallContext
    ) -> a2a_pb2.Message | tuple[Negotiation, tuple[list[bytes], int], set[str]]:
        """The statement ``msg`` carries taken by the peer: its Negotiation, the part of the answer this
        response carries and where the rest starts (0: none, A2A-028), and the Task's Artifacts before."""
        activated = activated_extensions(context, msg.extensions)
        signed = [p for p in msg.parts if is_envelope_part(p)]
        if not signed:
            return self._unsigned(msg, activated, context)
        if EXTENSION_URI not in activated:
            raise a2a_errors.ExtensionSupportRequiredError(
                f"a2a-coop Parts need the extension activated: send A2A-Extensions: {EXTENSION_URI}"
            )
        try:
            *ctx, envelope = [envelope_of(p) for p in signed]
            request_vs = verify_statement(envelope)
        except CoopError as err:
            raise coop_refusal(err) from None
        try:
            answer_from = answer_from_of(msg)
        except ValueError as err:
            raise a2a_errors.InvalidParamsError(f"{err} (A2A-028)") from None
        nid = request_vs.header.negotiation_id
        if msg.task_id and msg.task_id != task_id_for(nid):
            raise a2a_errors.InvalidParamsError(
                f"the statement belongs to task {task_id_for(nid)!r}, not {msg.task_id!r} "
                "(one Task per negotiation, A2A-007)"
            )
        before: set[str] = set()
        known = _held_or_archived(self.node.peer, nid) if nid else None
        if known is not None:
            before = {a.artifact_id for a in self.task(known, []).artifacts}
        try:
            answers = await asyncio.to_thread(self._exchange, envelope, ctx)
        except CoopError as err:
            raise coop_refusal(err) from None
        finally:
            self.events.changed()
        _echo(context, activated)
        # One response holds a part of the answer (A2A-028): the rest is read by the same message again.
        cut = answer_part(answers, answer_from, MAX_A2A_PART_BYTES)
        if not nid:
            reply = _agent_message(
                [envelope_part(a) for a in cut[0]], context_id=msg.context_id or str(uuid.uuid4())
            )
            _mark_cut(reply, cut[1])
            return reply
        neg = _held_or_archived(self.node.peer, nid)
        assert neg is not None  # exchange accepted a statement of it (perhaps forgotten since: journal)
        task_id = task_id_for(nid)
        if not self._bound(task_id) and self._may_bind(self._who(context), neg):
            # A2A-027: only the operator's caller or a party's binds a negotiation's context (once). A
            # statement is anyone's to send -- a relayer, a reader of an escrow's transcript -- and its
            # signature says who signed it, never who sent it.
            await asyncio.to_thread(self._bind_context, task_id, msg.context_id or task_id)
        return neg, cut, before

    def _unsigned(
        self, msg: a2a_pb2.Message, activated: set[str], context: ServerCallContext
    ) -> a2a_pb2.Message:
        """A message with no a2a-coop Part: never changes a negotiation (A2A-010), else a plain reply."""
        if msg.task_id:
            self._visible(msg.task_id, context)  # TaskNotFound first
            text = (
                f"task {msg.task_id} is an a2a-coop negotiation: only signed statements "
                f"(Parts of media type {ENVELOPE_MEDIA_TYPE}) can change it"
            )
            if EXTENSION_URI not in activated:
                raise a2a_errors.ExtensionSupportRequiredError(text)
            raise a2a_errors.InvalidParamsError(text)
        _echo(context, activated)
        text = (
            f"This agent trades under the a2a-coop extension ({EXTENSION_URI}). Activate it with the "
            f"A2A-Extensions header and send signed statements as Parts of media type "
            f"{ENVELOPE_MEDIA_TYPE}; see the extension's params in the AgentCard."
        )
        data = struct_pb2.Value()
        data.struct_value.update({"extension": EXTENSION_URI, "mediaTypes": list(MEDIA_TYPES)})
        parts = [a2a_pb2.Part(text=text), a2a_pb2.Part(data=data, media_type="application/json")]
        return _agent_message(parts, context_id=msg.context_id or str(uuid.uuid4()), coop=False)

    def _who(self, context: ServerCallContext) -> str:
        """Who this call is (A2A-026): OPERATOR, a party's did:key, or STRANGER; judged once per call."""
        who = context.state.get(_WHO_STATE_KEY)
        if who is None:
            who = context.state[_WHO_STATE_KEY] = self._identify(context)
        return str(who)

    def _is_operator(self, who: str) -> bool:
        return who == OPERATOR or (who != STRANGER and who == self.node.peer.did)

    def _sees(self, who: str, neg: Negotiation) -> bool:
        """Whether the caller ``who`` may see ``neg``'s Task: anyone, unless Tasks are private (A2A-025);
        then the operator's callers and the negotiation's two parties' alone (A2A-026)."""
        return not self.private_tasks or self._is_operator(who) or (who != STRANGER and who in neg.parties)

    def _may_bind(self, who: str, neg: Negotiation) -> bool:
        """A2A-027: the operator's callers and the negotiation's parties' bind its contextId; no one else."""
        return self._is_operator(who) or (who != STRANGER and who in neg.parties)

    def _bound(self, task_id: str) -> bool:
        with self._lock:
            return task_id in self._contexts

    def _visible(self, task_id: str, context: ServerCallContext) -> Negotiation:
        """The negotiation of a Task this caller may see. A caller that may not see it gets the answer of a
        Task the agent does not hold (A2A-025, A2A-026): the same error -- a stranger's before the Task
        is looked up, as for every Task, and a party's after the work an unknown Task costs (a look-up
        that misses memory and the journal: one of an id no negotiation has) --, so nothing tells that
        it exists."""
        who = self._who(context)
        if self.private_tasks and who == STRANGER:
            raise a2a_errors.TaskNotFoundError(f"no task {task_id!r}")
        if self.private_tasks and not self._is_operator(who) and not self._party_of(who, task_id):
            raise a2a_errors.TaskNotFoundError(f"no task {task_id!r}")
        return self._negotiation(task_id)

    def _party_of(self, who: str, task_id: str) -> bool:
        """Whether ``who`` is a party of the Task's negotiation (A2A-026), at one cost for a Task held in
        memory, one the agent forgot and one unknown: one journal query for its opening statement (the
        parties are its issuer and audience), never a rebuild of a forgotten negotiation from its
        statements, which checks every signature again and told a forgotten Task from an unknown one by
        milliseconds (tests/test_attack20_a2a.py). Without a journal, memory alone."""
        nid = bytes.fromhex(task_id) if _TASK_ID.match(task_id) else b""
        journal = self.node.journal
        if journal is None:
            with self.node.peer.lock:
                neg = self.node.peer.verifier.negotiations.by_id.get(nid)
            return neg is not None and who in neg.parties
        envelope = journal.opening(nid) if nid else None
        # An unknown Task decodes a statement too (the agent's own Mandate), as a held one decodes its
        # opening: the same work, found or not.
        stmt = decode_statement(
            parse_envelope(envelope or self.node.peer.mandate_vs.envelope).envelope.payload
        )
        return envelope is not None and who in (stmt.header.issuer, stmt.header.audience)

    def _negotiation(self, task_id: str) -> Negotiation:
        """The negotiation of a task id: exactly the lower-case hex of its id (A2A-013)."""
        if _TASK_ID.match(task_id):
            with self.node.peer.lock:
                neg = _held_or_archived(self.node.peer, bytes.fromhex(task_id))
            if neg is not None:
                return neg
        raise a2a_errors.TaskNotFoundError(f"no task {task_id!r}")

    def task(self, neg: Negotiation, parts: Sequence[a2a_pb2.Part], *, named: str = "") -> a2a_pb2.Task:
        """The Task of ``neg``. Its contextId is the one bound to it only when the request ``named`` that
        one (A2A-024 (b)): a contextId is the key ListTasks takes, so it is shown to no one who did not
        show it -- GetTask, SubscribeToTask, CancelTask and a message under another context see the
        Task id."""
        peer = self.node.peer
        with peer.lock:
            state = neg.state
            artifacts = negotiation_artifacts(peer, neg)
            updated = _updated_ms(peer, neg)
        task_id = task_id_for(neg.id)
        bound = self.context_of(task_id)
        context_id = bound if named and named == bound else task_id
        status = a2a_pb2.TaskStatus(state=TASK_STATES[state])  # type: ignore[arg-type]
        if parts:
            status.message.CopyFrom(_agent_message(parts, context_id=context_id, task_id=task_id))
        status.timestamp.FromMilliseconds(updated)
        metadata = struct_pb2.Struct()
        metadata.update({"a2aCoop": {"negotiationId": neg.id.hex(), "state": state.value}})
        return a2a_pb2.Task(
            id=task_id, context_id=context_id, status=status, artifacts=artifacts, metadata=metadata
        )

    @staticmethod
    def _status_update(task: a2a_pb2.Task, parts: Sequence[a2a_pb2.Part]) -> a2a_pb2.TaskStatusUpdateEvent:
        status = a2a_pb2.TaskStatus()
        status.CopyFrom(task.status)
        if parts:
            status.message.CopyFrom(_agent_message(parts, context_id=task.context_id, task_id=task.id))
        return a2a_pb2.TaskStatusUpdateEvent(
            task_id=task.id, context_id=task.context_id, status=status, metadata=task.metadata
        )


# --- helpers ---------------------------------------------------------------------------------------


def _check(params: Any, context: ServerCallContext) -> None:
    check_version(context)
    if params is not None:
        validate_proto_required_fields(params)


def check_version(context: ServerCallContext) -> None:
    """A2A-004: ``A2A-Version`` must be 1.0 (Major.Minor, A2A 3.6.2; absent means 0.3)."""
    headers = context.state.get("headers") or {}
    version = str(headers.get("a2a-version") or headers.get("A2A-Version") or "").strip() or "0.3"
    m = _VERSION.match(version)
    if m is None or f"{int(m[1])}.{int(m[2])}" != A2A_PROTOCOL_VERSION:
        raise a2a_errors.VersionNotSupportedError(
            f"A2A version {version!r} is not supported; this agent speaks {A2A_PROTOCOL_VERSION}"
        )


def caller_of(peer: str) -> str:
    """The caller's address from a gRPC peer string (``ipv4:127.0.0.1:5000``, ``ipv6:[::1]:5000``,
    URL-encoded or not, ``unix:/path``): the IP address, ``unix`` for a Unix socket, else ""."""
    kind, _, rest = unquote(peer).partition(":")
    if kind in ("unix", "unix-abstract"):
        return "unix"
    if kind == "ipv4":
        return rest.rpartition(":")[0]
    if kind == "ipv6" and rest.startswith("["):
        return rest[1:].partition("]")[0]
    return ""


def _check_message(params: a2a_pb2.SendMessageRequest) -> None:
    """Required fields of a SendMessage (A2A 4.1.4): message, its messageId, role and parts."""
    missing = []
    if not params.HasField("message"):
        missing.append("message")
    else:
        msg = params.message
        if not msg.message_id:
            missing.append("message.messageId")
        if msg.role == a2a_pb2.ROLE_UNSPECIFIED:
            missing.append("message.role")
        if not msg.parts:
            missing.append("message.parts")
    if missing:
        raise a2a_errors.InvalidParamsError(f"required field(s) missing: {', '.join(missing)}")


def activated_extensions(context: ServerCallContext, message_extensions: Iterable[str]) -> set[str]:
    """Extensions the client activated: ``A2A-Extensions`` / ``X-A2A-Extensions``, or the message's list."""
    requested = set(context.requested_extensions)
    headers = context.state.get("headers") or {}
    for key in ("x-a2a-extensions", "X-A2A-Extensions"):
        value = headers.get(key)
        if value:
            requested.update(e.strip() for e in str(value).split(",") if e.strip())
    requested.update(message_extensions)
    return requested & {EXTENSION_URI}


def _echo(context: ServerCallContext, activated: set[str]) -> None:
    if activated:
        context.state.setdefault("activated_extensions", set()).update(activated)


def _updated_ms(peer: Peer, neg: Negotiation) -> int:
    """When the negotiation last changed: the issue time of the last statement that moved it."""
    held = peer.verifier.statements
    for *_, digest in reversed(neg.history):
        vs = held.get(digest) if digest else None
        if vs is not None:
            return int(vs.header.issued_at_ms)
    return int(neg.outstanding.header.issued_at_ms)


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o{offset}".encode()).decode()


def _page_offset(token: str) -> int:
    if not token:
        return 0
    try:
        raw = base64.urlsafe_b64decode(token.encode()).decode()
        if raw[0] == "o" and raw[1:].isdigit():
            return int(raw[1:])
    except (ValueError, UnicodeError, IndexError):
        pass
    raise a2a_errors.InvalidParamsError(f"pageToken {token!r} is not one this agent issued")


def _not_cancelable(peer: Peer, neg: Negotiation) -> str:
    if neg.is_terminal:
        return f"the negotiation has ended ({neg.state.value})"
    if neg.state in BARGAINING_STATES:
        return (
            "the open offer is the counterparty's: only its issuer may withdraw it (NEG-004); "
            "answer it with a signed Reject instead"
        )
    return f"a formed contract ({neg.state.value}) ends by performance, a ruling or a signed Revoke"


def negotiation_artifacts(peer: Peer, neg: Negotiation) -> list[a2a_pb2.Artifact]:
    """The contract, its receipts and its attestations, each a self-contained evidence bundle
    (mandates first, then the statements in dependency order) that verifies offline (A2A-012)."""
    c = neg.contract
    if c is None:
        return []
    held = peer.verifier.statements
    mandates = {d: held[d] for d in (c.offer.header.mandate, c.accept.header.mandate) if d in held}
    contract = [*mandates.values(), c.offer, c.accept]
    out = [_artifact("contract", c.id, contract, "The co-signed contract: mandates, offer, accept.")]
    for _before, _event, _after, digest in neg.history:
        receipt = held.get(digest) if digest else None
        if receipt is None or receipt.body != "receipt":
            continue
        delivery = held.get(receipt.statement.receipt.delivery)
        if delivery is None:
            continue
        out.append(_artifact("receipt", receipt.digest, [*contract, delivery, receipt], "A signed Receipt."))
    about = peer.verifier.attestations_about  # digests, also of attestations memory forgot (journal)
    for digest in [d for party in c.parties for d in about.get(party, ())]:
        vs = held.get(digest)
        if vs is not None and vs.statement.attestation.accept == c.id:
            extra = held.get(vs.header.mandate)
            bundle = {s.digest: s for s in (*([extra] if extra else []), *contract, vs)}
            out.append(_artifact("attestation", vs.digest, list(bundle.values()), "An Attestation."))
    return out


def _artifact(
    kind: str, digest: bytes, statements: Sequence[VerifiedStatement], description: str
) -> a2a_pb2.Artifact:
    metadata = struct_pb2.Struct()
    metadata.update({"a2aCoop": {"kind": kind, "digest": digest.hex()}})
    return a2a_pb2.Artifact(
        artifact_id=f"{kind}-{digest.hex()}",
        name=kind,
        description=description,
        parts=[envelope_part(vs.envelope) for vs in statements],
        metadata=metadata,
        extensions=[EXTENSION_URI],
    )


def cut_artifacts(
    task: a2a_pb2.Task, start: int, max_bytes: int = MAX_A2A_ARTIFACT_BYTES
) -> list[a2a_pb2.Artifact]:
    """Keep in ``task`` the part of its Artifacts one response carries from index ``start`` (A2A-028 (a)):
    the longest run of whole Artifacts within ``max_bytes`` of envelopes, at least one (never past the
    bound: a bundle is at most six envelopes of at most 64 KiB each, 384 KiB), and
    ``metadata.a2aCoop.nextArtifact`` -- the index of the first one it leaves out -- unless it carries
    the last. Returns the ones left out after the part. A Task's Artifacts grow with its contract's
    Receipts and Attestations: whole, a long contract's passed every client's receive limit."""
    artifacts = list(task.artifacts)
    end = start
    size = 0
    while end < len(artifacts):
        size += _artifacts_bytes(artifacts[end : end + 1])
        if end > start and size > max_bytes:
            break
        end += 1
    del task.artifacts[:]
    task.artifacts.extend(artifacts[start:end])
    if end < len(artifacts):
        set_coop_number(task, "nextArtifact", end)
    return artifacts[end:]


def _artifacts_bytes(artifacts: Iterable[a2a_pb2.Artifact]) -> int:
    return sum(len(p.raw) for a in artifacts for p in a.parts)


def _artifact_update(task: a2a_pb2.Task, artifact: a2a_pb2.Artifact) -> a2a_pb2.TaskArtifactUpdateEvent:
    return a2a_pb2.TaskArtifactUpdateEvent(
        task_id=task.id, context_id=task.context_id, artifact=artifact, last_chunk=True
    )


def _header(context: ServerCallContext, name: str) -> str | None:
    """A service parameter of the call (an HTTP header, gRPC metadata), its name in any case."""
    headers = context.state.get("headers") or {}
    return next((str(v) for k, v in headers.items() if str(k).lower() == name), None)


def _mark_cut(message: a2a_pb2.Message, next_answer: int) -> None:
    """Say in ``message`` where the rest of the answer it holds a part of starts (A2A-028)."""
    if next_answer:
        set_coop_number(message, "nextAnswer", next_answer)


def _agent_message(
    parts: Sequence[a2a_pb2.Part], *, context_id: str, task_id: str = "", coop: bool = True
) -> a2a_pb2.Message:
    return a2a_pb2.Message(
        message_id=str(uuid.uuid4()),
        role=a2a_pb2.ROLE_AGENT,
        context_id=context_id,
        task_id=task_id,
        parts=parts,
        extensions=[EXTENSION_URI] if coop else [],
    )


def _held_or_archived(peer: Peer, negotiation_id: bytes) -> Negotiation | None:
    """The peer's negotiation, also one its memory forgot (read back from its journal), or None."""
    try:
        return peer.negotiation(negotiation_id)
    except CoopError:
        return None
