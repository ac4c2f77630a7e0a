"""The initiator role: the suite serves CooperationService as the counterparty and asks the target,
through its ConformanceControlService (SPEC 18.2), to open a negotiation with it.

:func:`initiate` starts a server on 127.0.0.1 for one case, whose every Exchange is answered by the
case's ``answer`` function (with the statements the suite signs, or a refusal), records both
directions in the case's transcript, and verifies what the target sends with the shadow verifier.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import grpc

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, control_pb2, control_pb2_grpc, trade_pb2
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.testing import Party
from a2a_coop.transport import serve
from conformance.suite.context import Context, EndpointError, ErrorDetail, describe, parse_error
from conformance.suite.flows import fair_proposal
from conformance.suite.model import CaseFailed, Exchange, Level

Answer = Callable[[VerifiedStatement], Sequence[bytes]]


@dataclass
class Initiated:
    """What an Initiate call came to."""

    received: list[VerifiedStatement] = field(default_factory=list)  # what the target sent us, verified
    envelopes: list[bytes] = field(default_factory=list)  # Initiate's answer: everything it signed
    negotiation_id: bytes = b""
    error: ErrorDetail | None = None


def target_proposal(party: Party) -> trade_pb2.Offer:
    """A proposal from the target's point of view: it gives 10, it wants our 20."""
    ours = fair_proposal(party)
    out = trade_pb2.Offer()
    out.CopyFrom(ours)
    out.ClearField("gives")
    out.ClearField("wants")
    out.gives.extend(ours.wants)
    out.wants.extend(ours.gives)
    return out


def require_control(ctx: Context) -> None:
    if not ctx.session.has_control():
        raise CaseFailed(
            "the target does not serve ConformanceControlService (optional, test-only: SPEC 18.2); "
            "initiator cases need it (reference peer: a2a-coop serve --conformance-control)",
            Level.SKIP,
        )


def ack(party: Party, vs: VerifiedStatement) -> bytes:
    return party.sign("ack", commitment_pb2.Ack(statement=vs.digest), audience=vs.issuer).envelope


class _Counterparty:
    """The suite's CooperationService for one case."""

    def __init__(self, ctx: Context, party: Party, answer: Answer, received: list[VerifiedStatement]) -> None:
        self.ctx, self.party, self.answer, self.received = ctx, party, answer, received

    def exchange(self, envelope: bytes, context: Sequence[bytes] = ()) -> list[bytes]:
        entry = Exchange(
            "← target calls CooperationService/Exchange",
            {"envelope": describe(envelope), "context": [describe(c) for c in context]},
        )
        self.ctx.transcript.append(entry)
        try:
            for env in context:
                self.ctx.hold(env)
            vs = self.ctx.shadow.accept(envelope)
        except CoopError as exc:
            entry.error = {"status": exc.grpc_status, "reason": exc.code, "metadata": {"detail": exc.detail}}
            self.ctx.failure = f"the target sent a statement the reference verifier refuses: {exc}"
            raise
        self.ctx.session.record_signed([envelope])
        self.ctx.follow(vs)
        self.received.append(vs)
        accepted = self.ctx.shadow.statements.get(vs.statement.accept.offer) if vs.body == "accept" else None
        if accepted is not None and accepted.issuer == self.party.did:  # our Counter: a contract to close
            self.ctx.note_formed(accepted, [vs])
        self.ctx.note_offered(self.party, vs)  # rejected after the case if the case left it outstanding
        answers = list(self.answer(vs))
        if vs.body == "offer":
            answers = [self.party.mandate_vs.envelope, *answers]  # RPC-002: our Mandate first
        entry.response = {"envelopes": [describe(e) for e in answers]}
        for env in answers:  # what we answer, the target will hold: so does the shadow
            with contextlib.suppress(CoopError):  # a deliberately defective answer, or a mandate held
                self.ctx.shadow.accept(env)
        return answers


def initiate(
    ctx: Context,
    answer: Answer,
    *,
    name: str = "alice",
    proposal: trade_pb2.Offer | None = None,
    ttl_ms: int = 0,
) -> Initiated:
    """Ask the target to open a negotiation with a suite identity served here, answered by ``answer``."""
    require_control(ctx)
    party = ctx.party(name)
    out = Initiated()
    server = serve(_Counterparty(ctx, party, answer, out.received), None)  # type: ignore[arg-type]
    try:
        request = control_pb2.InitiateRequest(
            counterparty_url=server.target,
            counterparty=party.did,
            context=party.setup,
            proposal=proposal or target_proposal(party),
            ttl_ms=ttl_ms,
        )
        entry = Exchange(
            "ConformanceControlService/Initiate", {"note": f"initiate with {party.did} at {server.target}"}
        )
        ctx.transcript.append(entry)
        stub = control_pb2_grpc.ConformanceControlServiceStub(ctx.session.control_channel)
        started = time.perf_counter()
        try:
            resp = stub.Initiate(request, timeout=ctx.session.timeout_s * 3)
        except grpc.RpcError as err:
            out.error = parse_error(err)
            entry.error = out.error.as_dict()
            if (
                out.error.status in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
                and not out.received
            ):
                session = ctx.session
                apart = session.control_channel is not session.channel
                raise EndpointError(
                    "control endpoint" if apart else "target",
                    (session.control or "") if apart else session.target,
                    f"{out.error.status.name}: {out.error.message}",
                ) from None
        else:
            out.envelopes, out.negotiation_id = list(resp.envelopes), resp.negotiation_id
            entry.response = {"envelopes": [describe(e) for e in out.envelopes]}
            ctx.session.record_signed(out.envelopes)
        entry.elapsed_ms = (time.perf_counter() - started) * 1000
    finally:
        server.stop(0)
    if ctx.failure:
        raise CaseFailed(ctx.failure)
    return out
