"""The gRPC binding's error model and limits (SPEC section 13, RPC-*, ERR-001)."""

from __future__ import annotations

import grpc

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, service_pb2
from a2a_coop.protocol.errors import registry
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.testing import Party
from conformance.suite.context import Context
from conformance.suite.flows import fair_proposal, form_contract, target
from conformance.suite.model import CaseFailed, Level, Outcome, case

MAX_INT = 2**53 - 1
# How many negotiations rpc.context-offer-over-open-cap opens from one key looking for the target's cap
# on them (RPC-012; the reference peer's is 256): none by then, SKIP.
OPEN_CAP_PROBE = 320


@case(
    "rpc.error-info",
    "A rejection carries the registry's gRPC status and an ErrorInfo with reason, domain and metadata",
    "RPC-005",
    "ERR-001",
)
def error_info(ctx: Context) -> Outcome:
    """Send an Offer without its Mandate (MANDATE_UNKNOWN): the status must be FAILED_PRECONDITION; the
    grpc-status-details-bin trailer's first detail an ErrorInfo with reason MANDATE_UNKNOWN, domain
    a2acoop.v1, metadata keys detail, origin (= remote: the caller's statement was at fault) and
    evidence (a count); requirement, when present, a requirement ID."""
    alice = ctx.party()
    reply = ctx.exchange(
        alice.offer(target(ctx), fair_proposal(alice)).envelope, note="an offer without its mandate"
    )
    err = ctx.expect_rejection(reply, "MANDATE_UNKNOWN", what="an offer without its mandate")
    ctx.must(err.reason in registry(), f"reason {err.reason} is not in the error registry (ERR-001)")
    missing = [k for k in ("detail", "origin", "evidence") if k not in err.metadata]
    ctx.must(not missing, f"ErrorInfo metadata lacks {', '.join(missing)} (RPC-005)")
    ctx.must(
        err.metadata["origin"] == "remote",
        f"origin is {err.metadata['origin']!r}, expected 'remote' (the caller's statement was refused)",
    )
    ctx.must(err.metadata["evidence"].isdigit(), f"evidence is {err.metadata['evidence']!r}, not a count")
    req = err.metadata.get("requirement", "")
    ctx.must(not req or (len(req) == 7 and req[3] == "-"), f"requirement {req!r} is not a requirement ID")
    return Outcome.passed("status, reason, domain and metadata as RPC-005 says")


@case(
    "rpc.malformed-request",
    "Request bytes that do not parse fail INVALID_ARGUMENT, and the server keeps serving",
    "RPC-007",
)
def malformed_request(ctx: Context) -> Outcome:
    """Call Exchange with bytes that are not an ExchangeRequest (a truncated length-delimited field),
    then a valid GetCheckpoint: the first fails INVALID_ARGUMENT, the second succeeds."""
    reply = ctx.raw("Exchange", b"\x0a\xff\xff\x03", note="bytes that are no ExchangeRequest")
    ctx.must(reply.error is not None, "the server accepted request bytes that do not parse")
    assert reply.error is not None
    ctx.must(
        reply.error.status is grpc.StatusCode.INVALID_ARGUMENT,
        f"failed {reply.error.status.name}, expected INVALID_ARGUMENT",
    )
    after = ctx.call("GetCheckpoint", service_pb2.GetCheckpointRequest(), note="still serving?")
    ctx.must(after.ok, "the server stopped serving after a malformed request")
    return Outcome.passed("INVALID_ARGUMENT, and the server kept serving")


@case(
    "rpc.request-too-large",
    "A request over the receive limit fails RESOURCE_EXHAUSTED; one of 66560 bytes is admitted",
    "RPC-008",
    "RPC-007",
)
def request_too_large(ctx: Context) -> Outcome:
    """An Exchange request of 1 MiB fails RESOURCE_EXHAUSTED (refused by the transport's limit, or,
    under a larger limit, as ENVELOPE_TOO_LARGE, whose status is the same); an Exchange whose request
    is 65536 +
    1024 bytes (an over-long envelope field, refused by the protocol, not by the transport) must reach
    the protocol: it is refused with an a2acoop ErrorInfo, proving the limit is at least that."""
    big = service_pb2.ExchangeRequest(envelope=b"\x00" * (1 << 20)).SerializeToString()
    reply = ctx.raw("Exchange", big, note="a 1 MiB request")
    ctx.must(
        reply.error is not None and reply.error.status is grpc.StatusCode.RESOURCE_EXHAUSTED,
        f"a 1 MiB request got {reply.error.status.name if reply.error else 'OK'}, "
        "expected RESOURCE_EXHAUSTED",
    )
    edge = service_pb2.ExchangeRequest(envelope=b"\x00" * (65536 + 1024 - 4)).SerializeToString()
    reply = ctx.raw("Exchange", edge, note=f"a {len(edge)}-byte request")
    ctx.must(
        reply.error is not None and bool(reply.error.reason),
        f"a {len(edge)}-byte request did not reach the protocol "
        f"(got {reply.error.status.name if reply.error else 'OK'} without ErrorInfo): "
        "receive limit below 65536 + 1024",
    )
    return Outcome.passed(
        f"1 MiB refused RESOURCE_EXHAUSTED; {len(edge)} bytes reached the protocol "
        f"({reply.error.reason if reply.error else ''})"
    )


@case(
    "rpc.getlog-from-seq-too-large",
    "GetLog from_seq above 2^53 - 1 is refused REQUEST_INVALID; past the head it is an empty page",
    "RPC-011",
)
def getlog_from_seq(ctx: Context) -> Outcome:
    """GetLog(from_seq = 2^53) must be REQUEST_INVALID (INVALID_ARGUMENT, origin remote); GetLog(from_seq
    = 2^53 - 1) an empty page with the head seq."""
    reply = ctx.call("GetLog", service_pb2.GetLogRequest(from_seq=MAX_INT + 1), note="from_seq 2^53")
    err = ctx.expect_rejection(reply, "REQUEST_INVALID", what="GetLog from 2^53")
    ctx.must(err.metadata.get("origin") == "remote", "origin is not remote")
    reply = ctx.call("GetLog", service_pb2.GetLogRequest(from_seq=MAX_INT), note="from_seq 2^53 - 1")
    ctx.must(reply.ok, f"GetLog past the head failed {reply.error.reason if reply.error else ''}")
    ctx.must(len(reply.message.envelopes) == 0, "GetLog past the head returned envelopes")
    return Outcome.passed(
        f"REQUEST_INVALID above 2^53 - 1; empty page past the head (head {reply.message.head_seq})"
    )


@case("rpc.health-reflection", "The server serves grpc.health.v1 (SERVING) and reflection", "RPC-010")
def health_reflection(ctx: Context) -> Outcome:
    """Check grpc.health.v1.Health for the server and CooperationService, and list services by
    reflection. Missing either is NON-STRICT (a SHOULD)."""
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    stub = health_pb2_grpc.HealthStub(ctx.session.channel)
    for service in ("", "a2acoop.v1.CooperationService"):
        try:
            resp = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=ctx.session.timeout_s)
            ctx.record("grpc.health.v1.Health/Check", {"service": service}, {"status": resp.status})
        except grpc.RpcError as err:
            ctx.record("grpc.health.v1.Health/Check", {"service": service}, None, err.code().name)
            raise CaseFailed(
                f"health check of {service or 'the server'} failed {err.code().name}", Level.NON_STRICT
            ) from None
        ctx.must(
            resp.status == health_pb2.HealthCheckResponse.SERVING,
            f"{service or 'the server'} is not SERVING",
            Level.NON_STRICT,
        )
    try:
        from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
    except ImportError:
        return Outcome.passed("health SERVING (reflection not checked: grpcio-reflection missing here)")
    stub_r = reflection_pb2_grpc.ServerReflectionStub(ctx.session.channel)
    try:
        answers = list(
            stub_r.ServerReflectionInfo(
                iter([reflection_pb2.ServerReflectionRequest(list_services="")]),
                timeout=ctx.session.timeout_s,
            )
        )
    except grpc.RpcError as err:
        raise CaseFailed(f"reflection failed {err.code().name}", Level.NON_STRICT) from None
    names = {s.name for a in answers for s in a.list_services_response.service}
    ctx.record(
        "grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
        {"list_services": ""},
        {"services": sorted(names)},
    )
    ctx.must(
        "a2acoop.v1.CooperationService" in names,
        "reflection does not list a2acoop.v1.CooperationService",
        Level.NON_STRICT,
    )
    return Outcome.passed("health SERVING; reflection lists CooperationService")


@case(
    "rpc.ack",
    "A statement addressed to the target that it answers with nothing else gets one Ack naming its digest",
    "RPC-002",
    "BDY-013",
)
def ack(ctx: Context) -> Outcome:
    """Our Receipt of the target's Delivery calls for no statement in answer: the response must be
    exactly one Ack, addressed to us, naming the Receipt's digest."""
    contract = form_contract(ctx)
    if not contract.deliveries:
        return Outcome.info("the target did not deliver in its answer; nothing to receipt")
    receipt = contract.party.receipt(contract.deliveries[0])
    answers = ctx.send(receipt, note="our receipt")
    bodies = [a.body for a in answers]
    if "ack" not in bodies:
        ctx.must(bool(answers), "no answer at all to a statement addressed to the target (RPC-002: one Ack)")
        return Outcome.info(f"the target answered our receipt with {', '.join(bodies)}")
    ctx.must(bodies == ["ack"], f"an Ack with other statements: {bodies}")
    a = answers[0]
    ctx.must(a.statement.ack.statement == receipt.digest, "the Ack does not name our receipt's digest")
    ctx.must(a.header.audience == contract.party.did, "the Ack is not addressed to us")
    return Outcome.passed("one Ack naming our receipt")


@case(
    "rpc.rate-limit",
    "A server that limits requests refuses RATE_LIMITED with retry_after_ms and RetryInfo",
    "RPC-012",
)
def rate_limit(ctx: Context) -> Outcome:
    """Send 40 cheap requests (GetCheckpoint) in a burst. No RATE_LIMITED: SKIP (limiting is a MAY).
    A RATE_LIMITED must come with RESOURCE_EXHAUSTED and ErrorInfo metadata retry_after_ms."""
    for i in range(40):
        reply = ctx.call("GetCheckpoint", service_pb2.GetCheckpointRequest(), note=f"burst {i}")
        if reply.error is not None and reply.error.reason == "RATE_LIMITED":
            ctx.must(
                reply.error.status is grpc.StatusCode.RESOURCE_EXHAUSTED,
                "RATE_LIMITED without RESOURCE_EXHAUSTED",
            )
            ctx.must(
                reply.error.metadata.get("retry_after_ms", "").isdigit(),
                "RATE_LIMITED without retry_after_ms",
            )
            return Outcome.passed(f"rate limited after {i} requests, with a retry hint")
    return Outcome.skipped(
        "no RATE_LIMITED in a burst of 40 reads (the target limits nothing, or only signed requests)"
    )


@case(
    "rpc.context-offer-over-open-cap",
    "An opening Offer among a request's context counts toward the cap on one issuer's open negotiations",
    "RPC-012",
)
def context_offer_over_open_cap(ctx: Context) -> Outcome:
    """One key opens negotiations with the target -- Offers it accepts, in which it gives nothing of
    value, so each stays a contract not ended -- until an opening Offer is refused RATE_LIMITED (none
    within 320: SKIP, the limit is a MAY). Then it sends a Delivery of a new negotiation, that
    negotiation's opening Offer (addressed to the target) as its context: the Offer would open one more
    negotiation, so the request must be refused RATE_LIMITED with retry_after_ms (RPC-012), not the
    Offer taken past the cap as context and the Delivery refused for its own fault (a server taking a
    request's negotiation before the request, RPC-015, kept one such Offer a refused request)."""
    party = ctx.party("mallory")
    answers: list[list[VerifiedStatement]] = []  # each contract's answer: performed at the end
    try:
        return _over_open_cap(ctx, party, answers)
    finally:
        _perform(ctx, party, answers)


def _over_open_cap(ctx: Context, party: Party, answers: list[list[VerifiedStatement]]) -> Outcome:
    opened = 0
    for opened in range(OPEN_CAP_PROBE):
        offer = party.offer(target(ctx), fair_proposal(party, value=1, ask=0))
        reply = ctx.exchange(offer.envelope, party.setup, note=f"opening offer {opened + 1}")
        if reply.error is not None:
            if reply.error.reason == "RATE_LIMITED":
                break
            refused = reply.error.reason or reply.error.status.name
            return Outcome.info(f"the target refused opening offer {opened + 1} with {refused}")
        answer = [verify_statement(e) for e in reply.envelopes]
        answers.append(answer)
        if any(vs.body == "reject" for vs in answer):
            return Outcome.info(f"the target rejected opening offer {opened + 1}: it opens no negotiation")
    else:
        return Outcome.skipped(
            f"no RATE_LIMITED in {OPEN_CAP_PROBE} negotiations opened by one key (the target caps none, "
            "or higher)"
        )
    offer = party.offer(target(ctx), fair_proposal(party, value=1, ask=0))
    delivery = party.sign(
        "delivery",
        commitment_pb2.Delivery(contract=offer.digest, item_index=0),
        audience=ctx.target,
        negotiation_id=offer.header.negotiation_id,
    )
    reply = ctx.exchange(
        delivery.envelope, [*party.setup, offer.envelope], note="a Delivery, its opening Offer as context"
    )
    err = ctx.expect_rejection(
        reply, "RATE_LIMITED", what=f"a request with an opening Offer as context, past a cap of {opened}"
    )
    ctx.must(err.metadata.get("retry_after_ms", "").isdigit(), "RATE_LIMITED without retry_after_ms")
    return Outcome.passed(f"capped at {opened} open negotiations; an Offer in the context counted")


def _perform(ctx: Context, party: Party, answers: list[list[VerifiedStatement]]) -> None:
    """Perform our side of each contract the probe formed -- a Receipt of each Delivery the target
    answered with, then our own Delivery -- so that the run leaves none of them open in the target
    (until their deadline plus the claim window, a day: a target a CI job probes again and again would
    fill its caps on open negotiations with them). What the target answers is not judged here. Our
    statements are dated no earlier than the target's they answer (NEG-014): a target whose clock, or
    the dates it took from an earlier run's statements (dated ahead within the skew, TIM-009), is ahead
    of ours refused them all ``ILLEGAL_TRANSITION``, and every contract stayed open."""
    for answer in answers:
        accept = next((vs for vs in answer if vs.body == "accept"), None)
        if accept is None:
            continue
        for vs in answer:
            ctx.follow(vs)
        for vs in answer:
            if vs.body == "delivery":
                ctx.exchange(party.receipt(vs).envelope, note="closing the probe's contract: our receipt")
        ctx.exchange(party.deliver(accept, target(ctx)).envelope, note="closing the probe's contract")
