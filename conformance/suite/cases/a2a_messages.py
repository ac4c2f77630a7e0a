"""The A2A binding's messages (SPEC section 14.2-14.6), live over A2A's JSON-RPC 2.0 binding:
activation, version, statements as Parts, Tasks and their states, Artifacts, streaming, ListTasks,
CancelTask and A2A's error mapping. SKIP without ``--a2a-url``. Plain HTTP: no A2A SDK needed.

Each case opens its own negotiations with the suite's identities through ``SendMessage``, exactly as
a stock A2A client with the extension activated would, and checks the target's answers with the
shadow verifier like the gRPC cases do.
"""

from __future__ import annotations

import http.client
import ssl
import uuid
from typing import Any, Final
from urllib.parse import urlsplit

from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.testing import Party
from conformance.suite.cases._a2a_rpc import (
    EXTENSION_URI,
    A2AClient,
    RpcReply,
    answers,
    envelopes_of,
    expect_error,
    message,
)
from conformance.suite.cases.a2a import skip_without_a2a_url
from conformance.suite.context import Context
from conformance.suite.flows import fair_proposal, target, unfair_proposal, with_signature
from conformance.suite.model import Capability, CaseFailed, Level, Outcome, Role, case

# SPEC 14.4: negotiation state -> A2A task state (A2A-011).
TASK_STATES: Final = {
    "PROPOSED": "TASK_STATE_INPUT_REQUIRED",
    "COUNTERED": "TASK_STATE_INPUT_REQUIRED",
    "ACCEPTED": "TASK_STATE_WORKING",
    "BONDED": "TASK_STATE_WORKING",
    "PERFORMING": "TASK_STATE_WORKING",
    "DISPUTED": "TASK_STATE_WORKING",
    "FULFILLED": "TASK_STATE_COMPLETED",
    "BREACHED": "TASK_STATE_FAILED",
    "REJECTED": "TASK_STATE_REJECTED",
    "WITHDRAWN": "TASK_STATE_CANCELED",
    "REVOKED": "TASK_STATE_CANCELED",
    "EXPIRED": "TASK_STATE_CANCELED",
}
# A2A section 5.4: JSON-RPC codes.
TASK_NOT_FOUND, TASK_NOT_CANCELABLE, PUSH_NOT_SUPPORTED = -32001, -32002, -32003
CONTENT_TYPE_NOT_SUPPORTED, EXTENSION_REQUIRED, VERSION_NOT_SUPPORTED = -32005, -32008, -32009
PARSE_ERROR, INVALID_PARAMS = -32700, -32602


def _client(ctx: Context) -> A2AClient | Outcome:
    """The JSON-RPC client of the target's A2A binding, or SKIP without ``--a2a-url``."""
    skipped = skip_without_a2a_url(ctx)
    return skipped if skipped is not None else A2AClient(ctx)


def _offer(ctx: Context, name: str = "alice", *, fair: bool = True) -> tuple[Party, VerifiedStatement]:
    party = ctx.party(name)
    proposal = fair_proposal(party) if fair else unfair_proposal(party)
    return party, party.offer(target(ctx), proposal)


def _context_id(ctx: Context, name: str) -> str:
    """A context id no earlier run used (a replay with the same seed must not see its old Tasks)."""
    return f"conformance-{ctx.case.id}-{name}-{uuid.uuid4().hex[:12]}"


def _check_state(task: dict[str, Any], *, what: str) -> str:
    """The Task's state must map its negotiation's (A2A-011); returns the negotiation state."""
    coop = task.get("metadata", {}).get("a2aCoop", {})
    state = str(coop.get("state", ""))
    if state not in TASK_STATES:
        raise CaseFailed(f"{what}: metadata.a2aCoop.state is {state!r}, not a negotiation state (14.4)")
    got = task.get("status", {}).get("state")
    if got != TASK_STATES[state]:
        raise CaseFailed(
            f"{what}: negotiation {state} shown as {got}, expected {TASK_STATES[state]} (A2A-011)"
        )
    return state


def _task(reply: RpcReply, *, what: str) -> dict[str, Any]:
    if reply.error is not None:
        raise CaseFailed(f"{what} was refused: {reply.summary()}")
    task = (reply.result or {}).get("task")
    if not isinstance(task, dict):
        raise CaseFailed(f"{what} was not answered with a Task: {reply.result}")
    return task


@case(
    "a2a.activation",
    "a2a-coop Parts need the extension activated; activated extensions are echoed",
    "A2A-003",
    "ERR-003",
    role=Role.A2A,
    capability=Capability.A2A,
)
def activation(ctx: Context) -> Outcome:
    """An Offer as Parts without ``A2A-Extensions`` must be refused EXTENSION_SUPPORT_REQUIRED
    (-32008) and record nothing: the same Offer, activated by the header, is then accepted, and the
    response echoes the URI in ``A2A-Extensions`` and in the ``extensions`` of the status message and
    of every Artifact. A second Offer activated only by ``Message.extensions`` is accepted too."""
    a2a = _client(ctx)
    if isinstance(a2a, Outcome):
        return a2a
    alice, offer = _offer(ctx)
    bare = a2a.call(
        "SendMessage",
        {"message": message([*alice.setup, offer.envelope])},
        activate=False,
        note="not activated",
    )
    expect_error(
        bare, "EXTENSION_SUPPORT_REQUIRED", EXTENSION_REQUIRED, what="a2a-coop Parts without activation"
    )
    reply = a2a.call(
        "SendMessage", {"message": message([*alice.setup, offer.envelope])}, note="the same Offer, activated"
    )
    task = _task(reply, what="the same Offer with the extension activated (the refusal must record nothing)")
    echoed = {e.strip() for e in reply.headers.get("a2a-extensions", "").split(",")}
    ctx.must(EXTENSION_URI in echoed, "the response's A2A-Extensions does not echo the activated extension")
    ctx.must(
        EXTENSION_URI in task.get("status", {}).get("message", {}).get("extensions", []),
        "the status message carrying a2a-coop Parts does not list the extension in its extensions",
    )
    for artifact in task.get("artifacts", []):
        ctx.must(
            EXTENSION_URI in artifact.get("extensions", []),
            f"Artifact {artifact.get('artifactId')} does not list the extension in its extensions",
        )
    ctx.sent(offer)
    ctx.verify_signed(answers(task), what="the answer to our Offer")
    bob, second = _offer(ctx, "bob")
    via_field = a2a.call(
        "SendMessage",
        {"message": message([*bob.setup, second.envelope], extensions=[EXTENSION_URI])},
        activate=False,
        note="activated by Message.extensions only",
    )
    _task(via_field, what="an Offer activated by Message.extensions")
    return Outcome.passed("refused without activation, accepted by header and by Message.extensions, echoed")


@case(
    "a2a.version",
    "A2A-Version other than 1.0 (or absent) is VERSION_NOT_SUPPORTED on every method",
    "A2A-004",
    role=Role.A2A,
    capability=Capability.A2A,
)
def version(ctx: Context) -> Outcome:
    """SendMessage, GetTask and ListTasks with ``A2A-Version: 0.3``, ``2.0`` or none must be refused
    VERSION_NOT_SUPPORTED (-32009); ``1.0.7`` is 1.0 (the patch is ignored): a GetTask of an unknown
    task then gets TASK_NOT_FOUND, not a version error."""
    a2a = _client(ctx)
    if isinstance(a2a, Outcome):
        return a2a
    alice, offer = _offer(ctx)
    calls: list[tuple[str, dict[str, Any]]] = [
        ("SendMessage", {"message": message([*alice.setup, offer.envelope])}),
        ("GetTask", {"id": offer.header.negotiation_id.hex()}),
        ("ListTasks", {"contextId": _context_id(ctx, "v")}),
    ]
    for method, params in calls:
        for v in ("0.3", "2.0", None):
            reply = a2a.call(method, params, version=v, note=f"A2A-Version {v or 'absent'}")
            expect_error(
                reply, "VERSION_NOT_SUPPORTED", VERSION_NOT_SUPPORTED, what=f"{method} with A2A-Version {v}"
            )
    patch = a2a.call("GetTask", {"id": "00" * 16}, version="1.0.7", note="a patch version is 1.0")
    expect_error(
        patch, "TASK_NOT_FOUND", TASK_NOT_FOUND, what="GetTask of an unknown task with A2A-Version 1.0.7"
    )
    return Outcome.passed("0.3, 2.0 and absent refused on three methods; 1.0.7 read as 1.0")


@case(
    "a2a.parts-raw",
    "A raw Part statement: the Task is the negotiation, answers in status.message, contextId kept",
    "A2A-005",
    "A2A-006",
    "A2A-007",
    "A2A-008",
    "A2A-011",
    "A2A-020",
    "RPC-002",
    role=Role.A2A,
    capability=Capability.A2A,
)
def parts_raw(ctx: Context) -> Outcome:
    """An Offer as a raw Part (exact envelope bytes) after our Mandate and a text Part (other media
    types must not matter), under a contextId of ours: the answer is a Task whose id is the hex
    negotiation id, whose contextId is ours, whose state maps the negotiation's, and whose
    ``status.message`` (role agent) holds the target's answers, starting with its Mandate; GetTask
    shows the same Task (its contextId is the Task id: it names no context, A2A-024)."""
    a2a = _client(ctx)
    if isinstance(a2a, Outcome):
        return a2a
    alice, offer = _offer(ctx)
    context_id = _context_id(ctx, "a")
    task, signed = a2a.send(
        offer,
        alice.setup,
        context_id=context_id,
        before=[{"text": "accepted (a text Part changes nothing)"}],
        note="Offer as a raw Part, after a text Part",
    )
    nid = offer.header.negotiation_id.hex()
    ctx.must(
        task.get("id") == nid, f"the Task id is {task.get('id')!r}, not the negotiation id {nid} (A2A-007)"
    )
    ctx.must(
        task.get("contextId") == context_id,
        f"the Task's contextId is {task.get('contextId')!r}, not ours (A2A-020)",
    )
    ctx.must(
        task["status"].get("message", {}).get("role") == "ROLE_AGENT",
        "the status message is not the agent's (A2A-008)",
    )
    ctx.must(bool(signed), "the Task's status message holds no signed answer (A2A-008)")
    ctx.must(
        signed[0].body == "mandate" and signed[0].statement.mandate.agent == ctx.target,
        f"the answers start with {signed[0].body}, not the target's Mandate (RPC-002, A2A-008)",
    )
    ctx.must(
        all(vs.issuer == ctx.target or vs.body == "mandate" for vs in signed),
        "the answers hold statements the target did not sign",
    )
    state = _check_state(task, what="the Task after our Offer")
    again = a2a.get_task(nid, note="GetTask")
    ctx.must(again.get("id") == nid, f"GetTask {nid} answered the Task {again.get('id')!r}")
    _check_state(again, what="GetTask")
    return Outcome.passed(f"Task {nid[:8]}… in {state}, {len(signed)} answers in order, contextId kept")


def _resend(a2a: A2AClient, envelopes: list[bytes], context_id: str, *, note: str) -> dict[str, Any]:
    """SendMessage with statements the target already took, as anyone holding them can: a Task."""
    params: dict[str, Any] = {"message": message(envelopes, context_id=context_id)}
    return _task(a2a.call("SendMessage", params, note=note), what=note)


def _listed(a2a: A2AClient, context_id: str, *, note: str) -> list[str]:
    reply = a2a.call("ListTasks", {"contextId": context_id}, note=note)
    if reply.error is not None:
        raise CaseFailed(f"ListTasks was refused: {reply.summary()}")
    return [str(t.get("id")) for t in (reply.result or {}).get("tasks", [])]


@case(
    "a2a.context-binding",
    "A contextId is bound once, by the operator's or a party's caller; a resend is not shown it",
    "A2A-024",
    "A2A-027",
    "A2A-020",
    "A2A-017",
    role=Role.A2A,
    capability=Capability.A2A,
)
def context_binding(ctx: Context) -> Outcome:
    """An Offer under our contextId. A target that does not know the suite as its operator's caller or a
    party's (A2A-026: the suite calls from another host, without a client certificate naming the Offer's
    issuer) must bind nothing (A2A-027): the Task's contextId is its id, our context lists nothing, its Task
    id lists it. Otherwise: a second Offer under ours; then the first resent under another contextId: the
    answer must be the same Task, its contextId not ours (the Task id), and that other context must list
    nothing (bound once); GetTask must not show ours either, while ListTasks of ours still lists both and
    a message naming ours is shown ours. Then an Offer sent over CooperationService (no contextId there),
    resent over A2A under a third contextId: the first A2A message of the suite's binds it (A2A-027), and
    a resend under a fourth binds nothing."""
    a2a = _client(ctx)
    if isinstance(a2a, Outcome):
        return a2a
    mine, other, late, later = (_context_id(ctx, n) for n in ("mine", "other", "late", "later"))
    alice, first = _offer(ctx)
    t1, _ = a2a.send(first, alice.setup, context_id=mine, note="our first Offer, under our context")
    nid = first.header.negotiation_id.hex()
    if t1.get("contextId") != mine:  # the suite is a stranger to the target: nothing binds (A2A-027)
        ctx.must(
            t1.get("contextId") == nid,
            f"an unbound Task shows contextId {t1.get('contextId')!r}, not its id (A2A-020)",
        )
        ctx.must(
            not _listed(a2a, mine, note="our context"), "ListTasks lists a Task under a context not bound"
        )
        ctx.must(
            _listed(a2a, nid, note="the Task id as context") == [nid],
            "ListTasks of an unbound Task's id does not list it (A2A-020)",
        )
        return Outcome.passed(
            "the target did not take the suite for its operator's caller or a party's, and bound nothing "
            "(A2A-027); the rest needs the suite on the target's host or with a party's certificate"
        )
    ctx.clock.advance(5)
    bob, second = _offer(ctx, "bob")
    t2, _ = a2a.send(second, bob.setup, context_id=mine, note="our second Offer, under our context")
    ids = {str(t1.get("id")), str(t2.get("id"))}
    ctx.must(set(_listed(a2a, mine, note="our context")) == ids, "ListTasks of our context lacks our Tasks")
    resent = _resend(a2a, [*alice.setup, first.envelope], other, note="our first Offer, resent elsewhere")
    ctx.must(resent.get("id") == nid, f"the resent Offer answered the Task {resent.get('id')!r}, not {nid}")
    ctx.must(
        resent.get("contextId") != mine,
        "a resend under another contextId was shown ours: it lists our other Tasks with ListTasks (A2A-024)",
    )
    ctx.must(
        resent.get("contextId") == nid,
        f"a resend under another contextId was shown {resent.get('contextId')!r}, not the Task id (A2A-024)",
    )
    ctx.must(not _listed(a2a, other, note="the resender's context"), "a resend bound our Task to its context")
    got = a2a.get_task(nid, note="GetTask")
    ctx.must(got.get("contextId") != mine, "GetTask shows our contextId to a caller that did not name it")
    ctx.must(set(_listed(a2a, mine, note="our context again")) == ids, "the resend took a Task out of ours")
    named = _resend(a2a, [*alice.setup, first.envelope], mine, note="our first Offer again, under ours")
    ctx.must(named.get("contextId") == mine, "a message naming our context is not shown ours (A2A-020)")
    carol, third = _offer(ctx, "carol")
    ctx.send(third, carol.setup, note="an Offer over CooperationService")
    tid = third.header.negotiation_id.hex()
    late_task = _resend(a2a, [*carol.setup, third.envelope], late, note="that Offer sent over A2A")
    ctx.must(
        late_task.get("contextId") == late and _listed(a2a, late, note="the late context") == [tid],
        "a negotiation opened over CooperationService was not bound by the first A2A message of a caller "
        "that may bind (A2A-027)",
    )
    again = _resend(a2a, [*carol.setup, third.envelope], later, note="that Offer resent under another")
    ctx.must(not _listed(a2a, later, note="a fourth context"), "a bound negotiation was bound again")
    ctx.must(again.get("contextId") == tid, f"a resend elsewhere was shown {again.get('contextId')!r}")
    return Outcome.passed(
        "bound once, by a caller that may bind; the bound contextId shown only to a request naming it"
    )


@case(
    "a2a.parts-json",
    "A DSSE JSON data Part is accepted; an envelope media type in the wrong form is MALFORMED_ENVELOPE",
    "A2A-006",
    "A2A-009",
    role=Role.A2A,
    capability=Capability.A2A,
)
def parts_json(ctx: Context) -> Outcome:
    """An Offer whose envelopes travel as ``data`` Parts of the JSON media type must be accepted as
    the raw form is; a Part of the protobuf media type holding text (not raw bytes) must be refused
    INVALID_PARAMS naming MALFORMED_ENVELOPE, never guessed at."""
    a2a = _client(ctx)
    if isinstance(a2a, Outcome):
        return a2a
    bob = ctx.party("bob")
    wrong = message(bob.setup)
    wrong["parts"].append({"text": "not bytes", "mediaType": "application/vnd.a2acoop.envelope.v1+protobuf"})
    reply = a2a.call("SendMessage", {"message": wrong}, note="protobuf media type in a text Part")
    expect_error(reply, "INVALID_PARAMS", INVALID_PARAMS, what="an envelope media type in a text Part")
    code = reply.metadata.get("a2aCoopCode", "")
    ctx.must(
        code == "MALFORMED_ENVELOPE",
        f"the wrong-form Part was refused as {code}, not MALFORMED_ENVELOPE",
    )
    alice, offer = _offer(ctx)
    task, signed = a2a.send(offer, alice.setup, form="json", note="Offer as DSSE JSON data Parts")
    ctx.must(
        task.get("id") == offer.header.negotiation_id.hex(),
        "the JSON-form Offer's Task is not its negotiation",
    )
    ctx.must(bool(signed), "the JSON-form Offer got no signed answer")
    return Outcome.passed("JSON form accepted, a wrong-form Part refused")


@case(
    "a2a.task-mismatch",
    "A statement sent under another negotiation's Task id is INVALID_PARAMS",
    "A2A-007",
    "ERR-003",
    role=Role.A2A,
    capability=Capability.A2A,
)
def task_mismatch(ctx: Context) -> Outcome:
    """Our second Offer (a new negotiation) with ``taskId`` naming our first negotiation must be
    refused INVALID_PARAMS (-32602) and record nothing: the same Offer without the task id is
    then accepted."""
    a2a = _client(ctx)
    if isinstance(a2a, Outcome):
        return a2a
    alice, first = _offer(ctx)
    a2a.send(first, alice.setup, note="first negotiation")
    second = alice.offer(target(ctx), fair_proposal(alice))
    wrong = a2a.call(
        "SendMessage",
        {"message": message([second.envelope], task_id=first.header.negotiation_id.hex())},
        note="second Offer under the first negotiation's task id",
    )
    expect_error(wrong, "INVALID_PARAMS", INVALID_PARAMS, what="a statement under another negotiation's Task")
    task, _ = a2a.send(second, note="the same Offer without the task id")
    ctx.must(
        task.get("id") == second.header.negotiation_id.hex(), "the second Offer's Task is not its negotiation"
    )
    return Outcome.passed("refused under the wrong task, accepted alone")


@case(
    "a2a.refusal",
    "A refused statement is INVALID_PARAMS naming its a2a-coop code; nothing is recorded",
    "A2A-009",
    "ERR-003",
    role=Role.A2A,
    capability=Capability.A2A,
)
def refusal(ctx: Context) -> Outcome:
    """An Offer with a flipped signature must be refused INVALID_PARAMS (-32602, A2A ErrorInfo of
    domain a2a-protocol.org) whose metadata names ``a2aCoopCode`` SIGNATURE_INVALID; the valid Offer
    at the same chain position is then accepted (nothing was recorded)."""
    a2a = _client(ctx)
    if isinstance(a2a, Outcome):
        return a2a
    alice, offer = _offer(ctx)
    bad = with_signature(offer.envelope, sig=bytes(64))
    reply = a2a.call(
        "SendMessage", {"message": message([*alice.setup, bad])}, note="one defect: a zero signature"
    )
    expect_error(reply, "INVALID_PARAMS", INVALID_PARAMS, what="an Offer with a bad signature")
    code = reply.metadata.get("a2aCoopCode")
    ctx.must(
        code == "SIGNATURE_INVALID",
        f"the refusal names a2aCoopCode {code!r}, not SIGNATURE_INVALID (A2A-009)",
    )
    a2a.send(offer, alice.setup, note="the valid Offer at the same seq (ERR-003)")
    return Outcome.passed("refused INVALID_PARAMS / SIGNATURE_INVALID, then the valid Offer accepted")


@case(
    "a2a.unsigned-messages",
    "A message without a2a-coop Parts gets a plain reply, and never changes a negotiation",
    "A2A-010",
    "A2A-014",
    role=Role.A2A,
    capability=Capability.A2A,
)
def unsigned_messages(ctx: Context) -> Outcome:
    """A text message naming no Task must be answered with an agent Message naming the extension URI
    and holding no signed statement. A text "accepted" naming our negotiation's Task must be refused:
    EXTENSION_SUPPORT_REQUIRED without activation, INVALID_PARAMS with it; the Task's state is
    unchanged."""
    a2a = _client(ctx)
    if isinstance(a2a, Outcome):
        return a2a
    hello = {"messageId": "hello-" + ctx.case.id, "role": "ROLE_USER", "parts": [{"text": "hello"}]}
    plain = a2a.call("SendMessage", {"message": hello}, activate=False, note="a plain text message")
    if plain.error is not None:
        raise CaseFailed(f"a plain A2A message was refused: {plain.summary()} (A2A-014)")
    reply = (plain.result or {}).get("message")
    ctx.must(
        isinstance(reply, dict), f"a plain message was not answered with a Message: {plain.result} (A2A-014)"
    )
    assert isinstance(reply, dict)
    ctx.must(reply.get("role") == "ROLE_AGENT", "the reply to a plain message is not the agent's")
    ctx.must(
        EXTENSION_URI in str(reply.get("parts", [])),
        "the reply to a plain message does not name the extension URI",
    )
    ctx.must(not envelopes_of(reply.get("parts", [])), "a plain message caused a signed statement (A2A-014)")
    alice, offer = _offer(ctx)
    task, _ = a2a.send(offer, alice.setup, note="a negotiation to name")
    nid = task["id"]
    before = _check_state(task, what="the Task")
    text = {
        "messageId": "text-" + ctx.case.id,
        "role": "ROLE_USER",
        "taskId": nid,
        "parts": [{"text": "accepted"}],
    }
    bare = a2a.call(
        "SendMessage", {"message": text}, activate=False, note="text naming the Task, not activated"
    )
    expect_error(
        bare,
        "EXTENSION_SUPPORT_REQUIRED",
        EXTENSION_REQUIRED,
        what="a text message naming a Task, not activated",
    )
    text["messageId"] += "-2"
    activated = a2a.call("SendMessage", {"message": text}, note="text naming the Task, activated")
    expect_error(activated, "INVALID_PARAMS", INVALID_PARAMS, what="a text message naming a Task, activated")
    after = _check_state(a2a.get_task(nid, note="state unchanged?"), what="GetTask")
    ctx.must(after == before, f"a text message moved the negotiation from {before} to {after} (A2A-010)")
    return Outcome.passed("plain reply naming the extension; text naming a Task refused both ways")


def _trade(ctx: Context, a2a: A2AClient) -> tuple[dict[str, Any], str]:
    """Offer, then Receipts of the target's Deliveries and our Delivery, all over A2A.

    Returns:
        The last Task and the negotiation id (hex).
    """
    alice, offer = _offer(ctx)
    task, signed = a2a.send(offer, alice.setup, note="opening offer")
    nid = task["id"]
    accept = next((vs for vs in signed if vs.body == "accept"), None)
    if accept is None:
        raise CaseFailed(f"the target did not accept a fair offer ({[vs.body for vs in signed]})", Level.INFO)
    for d in [vs for vs in signed if vs.body == "delivery"]:
        task, signed = a2a.send(alice.receipt(d), task_id=nid, note="our receipt of its delivery")
    task, signed = a2a.send(alice.deliver(accept, target(ctx)), task_id=nid, note="our delivery")
    return task, nid


def _verifies_alone(ctx: Context, artifact: dict[str, Any]) -> int:
    from a2a_coop.protocol.errors import CoopError
    from a2a_coop.protocol.verifier import Verifier

    alone = Verifier()
    envelopes = envelopes_of(artifact.get("parts", []))
    for i, env in enumerate(envelopes):
        try:
            alone.accept(env)
        except CoopError as exc:
            raise CaseFailed(
                f"Artifact {artifact.get('name')}: Part {i} does not verify with no other input "
                f"(A2A-012): {exc}"
            ) from None
    return len(envelopes)


@case(
    "a2a.artifacts",
    "A trade over A2A: WORKING then COMPLETED, with contract and receipt Artifacts that verify alone",
    "A2A-011",
    "A2A-012",
    role=Role.A2A,
    capability=Capability.A2A,
)
def artifacts(ctx: Context) -> Outcome:
    """A whole trade through SendMessage: the Task must carry a ``contract`` Artifact once the
    contract is formed, then one ``receipt`` Artifact per Receipt, each an evidence bundle that a
    fresh verifier accepts with no other input; the FULFILLED negotiation is TASK_STATE_COMPLETED."""
    a2a = _client(ctx)
    if isinstance(a2a, Outcome):
        return a2a
    _, nid = _trade(ctx, a2a)
    final = a2a.get_task(nid, note="the Task after the trade")
    state = _check_state(final, what="the Task after the trade")
    if state != "FULFILLED":
        return Outcome.info(f"the trade ended in {state}, not FULFILLED; Artifacts checked so far")
    names = [a.get("name") for a in final.get("artifacts", [])]
    ctx.must("contract" in names, f"the fulfilled Task has no contract Artifact ({names}) (A2A-012)")
    ctx.must("receipt" in names, f"the fulfilled Task has no receipt Artifact ({names}) (A2A-012)")
    counted = sum(_verifies_alone(ctx, a) for a in final["artifacts"])
    return Outcome.passed(f"COMPLETED with {names}, {counted} envelopes verifying offline")


@case(
    "a2a.streaming",
    "SendStreamingMessage: the Task, artifact updates, then a status update holding the answers",
    "A2A-016",
    role=Role.A2A,
    capability=Capability.A2A,
)
def streaming(ctx: Context) -> Outcome:
    """When the card declares ``capabilities.streaming``, a fair Offer sent with SendStreamingMessage
    must stream the Task, an ``artifactUpdate`` per Artifact the exchange formed (the contract), then
    a ``statusUpdate`` whose message holds the signed answers and whose state is the Task's; then end."""
    a2a = _client(ctx)
    if isinstance(a2a, Outcome):
        return a2a
    if not a2a.streaming:
        return Outcome.skipped("the card does not declare capabilities.streaming")
    alice, offer = _offer(ctx)
    reply = a2a.call(
        "SendStreamingMessage", {"message": message([*alice.setup, offer.envelope])}, note="Offer, streamed"
    )
    if reply.error is not None:
        raise CaseFailed(f"SendStreamingMessage was refused: {reply.summary()}")
    kinds = [next(iter(e), "?") for e in reply.events]
    ctx.must(bool(kinds) and kinds[0] == "task", f"the stream does not start with the Task: {kinds}")
    ctx.must(kinds[-1] == "statusUpdate", f"the stream does not end with a statusUpdate: {kinds}")
    ctx.must(
        set(kinds[1:-1]) <= {"artifactUpdate"}, f"unexpected events between Task and statusUpdate: {kinds}"
    )
    task, update = reply.events[0]["task"], reply.events[-1]["statusUpdate"]
    formed = {a.get("artifactId") for a in task.get("artifacts", [])}
    streamed = {e["artifactUpdate"].get("artifact", {}).get("artifactId") for e in reply.events[1:-1]}
    ctx.must(
        streamed == formed,
        f"artifact updates {sorted(streamed)} are not the Artifacts formed {sorted(formed)}",
    )
    ctx.must(
        update.get("status", {}).get("state") == task.get("status", {}).get("state"),
        "the statusUpdate's state is not the Task's",
    )
    ctx.sent(offer)
    signed = ctx.verify_signed(answers(update), what="the statusUpdate's answers")
    ctx.must(bool(signed), "the statusUpdate's message holds no signed answer (A2A-008)")
    return Outcome.passed(f"streamed {kinds}")


@case(
    "a2a.list-tasks",
    "ListTasks returns one context's Tasks, newest first, paged, without Artifacts by default",
    "A2A-017",
    role=Role.A2A,
    capability=Capability.A2A,
)
def list_tasks(ctx: Context) -> Outcome:
    """Two negotiations under our contextId and one under another: ListTasks of our contextId returns
    exactly the two, newest first, without Artifacts; pageSize 1 pages them with ``nextPageToken``
    (empty on the last page); a request naming no contextId sees none of them; pageSize 101 is
    INVALID_PARAMS."""
    a2a = _client(ctx)
    if isinstance(a2a, Outcome):
        return a2a
    mine, other = _context_id(ctx, "mine"), _context_id(ctx, "other")
    ids = []
    for name, context_id in (("alice", mine), ("bob", other), ("carol", mine)):
        party, offer = _offer(ctx, name)
        task, _ = a2a.send(offer, party.setup, context_id=context_id, note=f"{name}'s offer")
        ids.append(task["id"])
        ctx.clock.advance(5)  # distinct status timestamps
    listed = a2a.call("ListTasks", {"contextId": mine}, note="our context")
    if listed.error is not None:
        raise CaseFailed(f"ListTasks was refused: {listed.summary()}")
    tasks = (listed.result or {}).get("tasks", [])
    got = [t.get("id") for t in tasks]
    ctx.must(
        sorted(got) == sorted([ids[0], ids[2]]),
        f"ListTasks of our context returned {got}, expected {[ids[2], ids[0]]}",
    )
    ctx.must(got == [ids[2], ids[0]], f"ListTasks is not newest first: {got}")
    ctx.must(
        all(not t.get("artifacts") for t in tasks), "ListTasks returned Artifacts without includeArtifacts"
    )
    page1 = a2a.call("ListTasks", {"contextId": mine, "pageSize": 1}, note="page 1 of 2")
    token = (page1.result or {}).get("nextPageToken", "")
    ctx.must(
        [t.get("id") for t in (page1.result or {}).get("tasks", [])] == [ids[2]] and bool(token),
        "pageSize 1 does not page (no nextPageToken)",
    )
    page2 = a2a.call("ListTasks", {"contextId": mine, "pageSize": 1, "pageToken": token}, note="page 2 of 2")
    ctx.must(
        [t.get("id") for t in (page2.result or {}).get("tasks", [])] == [ids[0]],
        "the second page is not the older Task",
    )
    ctx.must(not (page2.result or {}).get("nextPageToken"), "the last page has a nextPageToken")
    none = a2a.call("ListTasks", {}, note="no contextId")
    seen = {t.get("id") for t in (none.result or {}).get("tasks", [])}
    ctx.must(not seen & set(ids), "ListTasks naming no contextId shows our Tasks")
    big = a2a.call("ListTasks", {"contextId": mine, "pageSize": 101}, note="pageSize 101")
    expect_error(big, "INVALID_PARAMS", INVALID_PARAMS, what="ListTasks with pageSize 101")
    return Outcome.passed("one context, newest first, paged, no Artifacts by default")


@case(
    "a2a.cancel",
    "CancelTask: TASK_NOT_CANCELABLE unless the open offer is the target's, which it withdraws",
    "A2A-018",
    "A2A-019",
    role=Role.A2A,
    capability=Capability.A2A,
)
def cancel(ctx: Context) -> Outcome:
    """CancelTask of a formed contract must be TASK_NOT_CANCELABLE (-32002). Then an unfair Offer:
    if the target counters (the open offer is its own), CancelTask must answer the Task CANCELED with
    its signed Withdraw as the status message; if the open offer is ours or the negotiation ended,
    TASK_NOT_CANCELABLE. (The withdraw half needs a target that counters, and that takes the suite for
    its operator -- on its host, A2A-022; else TASK_NOT_CANCELABLE with ``a2aCoopRefusal`` NOT_OPERATOR.)"""
    a2a = _client(ctx)
    if isinstance(a2a, Outcome):
        return a2a
    alice, offer = _offer(ctx)
    task, _ = a2a.send(offer, alice.setup, note="a fair offer")
    if task.get("metadata", {}).get("a2aCoop", {}).get("state") in {"ACCEPTED", "BONDED", "PERFORMING"}:
        reply = a2a.call("CancelTask", {"id": task["id"]}, note="cancel a formed contract")
        expect_error(
            reply, "TASK_NOT_CANCELABLE", TASK_NOT_CANCELABLE, what="CancelTask of a formed contract"
        )
    bob, unfair = _offer(ctx, "bob", fair=False)
    task, signed = a2a.send(unfair, bob.setup, note="an unfair offer")
    state = _check_state(task, what="the Task after an unfair Offer")
    reply = a2a.call("CancelTask", {"id": task["id"]}, note=f"cancel in {state}")
    countered = bool(signed) and signed[-1].body == "counter"
    if not countered:
        expect_error(
            reply,
            "TASK_NOT_CANCELABLE",
            TASK_NOT_CANCELABLE,
            what=f"CancelTask in {state}, the open offer not the target's",
        )
        return Outcome.passed(
            f"TASK_NOT_CANCELABLE for a contract and in {state} (the target did not counter)"
        )
    if reply.error is not None and reply.metadata.get("a2aCoopRefusal") == "NOT_OPERATOR":
        # A2A-022: the target withdraws only for its operator, and the suite is not it (it calls from
        # another host); the withdraw half needs a suite the target trusts (on its host, or mutual TLS).
        expect_error(reply, "TASK_NOT_CANCELABLE", TASK_NOT_CANCELABLE, what="CancelTask by a non-operator")
        return Outcome.passed(
            "contract not cancelable; the target's own Counter not withdrawn for the suite, which is not "
            "its operator (A2A-022: the withdraw half needs the suite on the target's host)"
        )
    if reply.error is not None or not isinstance(reply.result, dict):
        raise CaseFailed(f"CancelTask of the target's own Counter was refused: {reply.summary()} (A2A-018)")
    cancelled = reply.result.get("task", reply.result)
    ctx.must(
        cancelled.get("status", {}).get("state") == "TASK_STATE_CANCELED", "CancelTask did not end CANCELED"
    )
    withdraw = ctx.verify_signed(answers(cancelled), what="CancelTask's status message")
    ctx.must(
        [vs.body for vs in withdraw] == ["withdraw"], "CancelTask's status message is not the signed Withdraw"
    )
    return Outcome.passed("contract not cancelable; the target's Counter withdrawn by CancelTask")


@case(
    "a2a.errors",
    "A2A's error mapping on JSON-RPC: unknown and non-canonical task ids, missing fields, bad bodies",
    "A2A-019",
    role=Role.A2A,
    capability=Capability.A2A,
)
def errors(ctx: Context) -> Outcome:
    """GetTask of an unknown id and of a real negotiation id in upper case: TASK_NOT_FOUND (-32001);
    SendMessage without messageId: INVALID_PARAMS (-32602); bytes that are not JSON: -32700; a body
    declared text/plain: CONTENT_TYPE_NOT_SUPPORTED (-32005); push notification configuration when
    the card declares none: PUSH_NOTIFICATION_NOT_SUPPORTED (-32003)."""
    a2a = _client(ctx)
    if isinstance(a2a, Outcome):
        return a2a
    alice, offer = _offer(ctx)
    task, _ = a2a.send(offer, alice.setup, note="a real Task")
    for task_id, what in (
        ("ab" * 16, "an unknown task"),
        (task["id"].upper(), "a negotiation id in upper case"),
    ):
        reply = a2a.call("GetTask", {"id": task_id}, note=what)
        expect_error(reply, "TASK_NOT_FOUND", TASK_NOT_FOUND, what=f"GetTask of {what}")
    missing = {"message": {"role": "ROLE_USER", "parts": [{"text": "hi"}]}}
    expect_error(
        a2a.call("SendMessage", missing, note="no messageId"),
        "INVALID_PARAMS",
        INVALID_PARAMS,
        what="a message without messageId",
    )
    garbage = a2a.call("SendMessage", {}, body=b"{not json", note="bytes that are not JSON")
    expect_error(garbage, "PARSE_ERROR", PARSE_ERROR, what="a body that does not parse")
    text = a2a.call("SendMessage", {}, body=b"hello", content_type="text/plain", note="text/plain body")
    expect_error(text, "CONTENT_TYPE_NOT_SUPPORTED", CONTENT_TYPE_NOT_SUPPORTED, what="a text/plain body")
    if not a2a.card.get("capabilities", {}).get("pushNotifications"):
        push = a2a.call(
            "GetTaskPushNotificationConfig", {"taskId": task["id"], "id": "x"}, note="push config"
        )
        expect_error(
            push, "PUSH_NOTIFICATION_NOT_SUPPORTED", PUSH_NOT_SUPPORTED, what="a push notification request"
        )
    return Outcome.passed(
        "TASK_NOT_FOUND, INVALID_PARAMS, parse error, content type and push errors as A2A maps them"
    )


@case(
    "a2a.errors-rest",
    "A2A's error mapping on HTTP+JSON: 404 for an unknown task, 409 not cancelable, 400 wrong version",
    "A2A-019",
    "A2A-004",
    "A2A-015",
    role=Role.A2A,
    capability=Capability.A2A,
)
def errors_rest(ctx: Context) -> Outcome:
    """When the card lists an HTTP+JSON interface: ``GET tasks/{unknown}`` must be HTTP 404
    TASK_NOT_FOUND, ``POST tasks/{formed contract}:cancel`` HTTP 409 TASK_NOT_CANCELABLE, and a request
    with ``A2A-Version: 0.3`` HTTP 400 VERSION_NOT_SUPPORTED (A2A section 5.4, whatever an SDK's table
    says); the Task JSON-RPC created is the same over HTTP+JSON."""
    a2a = _client(ctx)
    if isinstance(a2a, Outcome):
        return a2a
    if not a2a.rest_url:
        return Outcome.skipped("the card lists no HTTP+JSON interface")
    unknown = a2a.rest("GET", "/tasks/" + "cd" * 16, note="an unknown task")
    expect_error(unknown, "TASK_NOT_FOUND", 404, what="HTTP+JSON GET of an unknown task")
    old = a2a.rest("GET", "/tasks/" + "cd" * 16, version="0.3", note="A2A-Version 0.3")
    expect_error(old, "VERSION_NOT_SUPPORTED", 400, what="HTTP+JSON GET with A2A-Version 0.3")
    alice, offer = _offer(ctx)
    task, _ = a2a.send(offer, alice.setup, note="a fair offer (over JSON-RPC)")
    if task.get("metadata", {}).get("a2aCoop", {}).get("state") not in {"ACCEPTED", "BONDED", "PERFORMING"}:
        return Outcome.passed("404 and 400 as A2A maps them (no contract formed to cancel)")
    got = a2a.rest("GET", f"/tasks/{task['id']}", note="the same Task over HTTP+JSON")
    ctx.must(
        got.error is None and (got.result or {}).get("id") == task["id"],
        f"HTTP+JSON does not serve the Task JSON-RPC created ({got.summary()}) (A2A-015)",
    )
    cancel = a2a.rest("POST", f"/tasks/{task['id']}:cancel", note="cancel a formed contract")
    expect_error(cancel, "TASK_NOT_CANCELABLE", 409, what="HTTP+JSON cancel of a formed contract")
    return Outcome.passed("404, 400 and 409 as A2A maps them; the Task is the same on both bindings")


# A body announced past any limit A2A-023 allows (64 MiB at most): the case sends its headers only.
ANNOUNCED_BODY_BYTES: Final = 256 * 1024 * 1024


@case(
    "a2a.body-limit",
    "An HTTP request announcing a body past the agent's limit is refused 413 before its body is read",
    "A2A-023",
    role=Role.A2A,
    capability=Capability.A2A,
)
def body_limit(ctx: Context) -> Outcome:
    """POST to the JSON-RPC endpoint headers announcing a 256 MiB body (Content-Length) and send none of
    it: the target must answer 413 at once (a JSON-RPC error -32600), not wait to read the body -- it
    would read and parse any size a sender chose. Then a plain ListTasks must still be answered."""
    if (skipped := skip_without_a2a_url(ctx)) is not None:
        return skipped
    client = A2AClient(ctx)
    url = urlsplit(client.url)
    port = url.port or (443 if url.scheme == "https" else 80)
    host = url.hostname or "localhost"
    conn: http.client.HTTPConnection
    if url.scheme == "https":
        conn = http.client.HTTPSConnection(
            host, port, timeout=ctx.session.timeout_s, context=ssl.create_default_context()
        )
    else:
        conn = http.client.HTTPConnection(host, port, timeout=ctx.session.timeout_s)
    shown = {"Content-Length": str(ANNOUNCED_BODY_BYTES), "note": "headers only, no body sent"}
    try:
        conn.putrequest("POST", url.path or "/")
        for name, value in (
            ("Content-Type", "application/json"),
            ("A2A-Version", "1.0"),
            ("A2A-Extensions", EXTENSION_URI),
            ("Content-Length", str(ANNOUNCED_BODY_BYTES)),
        ):
            conn.putheader(name, value)
        conn.endheaders()
        resp = conn.getresponse()
        status = resp.status
        resp.read()
    except (OSError, http.client.HTTPException) as exc:
        ctx.record("A2A JSON-RPC POST (oversized)", shown, None, str(exc))
        raise CaseFailed(
            f"no answer to a request announcing {ANNOUNCED_BODY_BYTES} bytes within "
            f"{ctx.session.timeout_s:g} s: the target waits to read a body of any size ({exc})"
        ) from None
    finally:
        conn.close()
    ctx.record("A2A JSON-RPC POST (oversized)", shown, {"http_status": status})
    ctx.must(status == 413, f"announcing {ANNOUNCED_BODY_BYTES} bytes was answered {status}, not 413")
    reply = client.call("ListTasks", {"contextId": str(uuid.uuid4())}, note="after the oversized request")
    ctx.must(reply.error is None, f"no answer after the oversized request: {reply.summary()}")
    return Outcome.passed("refused 413 on its Content-Length, nothing read; the endpoint still answers")
