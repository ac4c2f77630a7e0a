"""The connection to the target and everything a case works with.

A :class:`Session` is one run against one target: the gRPC channel (plaintext,
TLS or mutual TLS), the target's identity (its did:key, learnt from
``GetCheckpoint``, and its Mandate, learnt from its answer to an Offer), the
run's seed, and the recorder of every envelope the target signed (for the
audit). A :class:`Context` is one case's view of it: the suite's own
deterministic identities (derived from the seed and the case ID, so a replay
with ``--seed`` signs with the same keys), a live clock, a shadow verifier
that checks everything the target signs with the reference verifier, and the
wire transcript of the case.

Cases call the target through :meth:`Context.exchange` and friends, which never
raise on a rejection: they return a :class:`Reply` carrying the gRPC status and
the ``google.rpc.ErrorInfo`` exactly as received, so a case can check the code,
the status and the metadata (RPC-005) itself or with :meth:`Context.expect_rejection`.
"""

from __future__ import annotations

import base64
import contextlib
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import grpc
from google.protobuf.message import DecodeError, Message
from google.rpc import error_details_pb2, status_pb2  # type: ignore[import-untyped]  # no py.typed

from a2a_coop._proto.a2acoop.v1 import service_pb2, service_pb2_grpc, trade_pb2
from a2a_coop.protocol.envelope import decode_envelope, statement_digest
from a2a_coop.protocol.errors import CoopError, by_code
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.protocol.verifier import Verifier
from a2a_coop.testing import FixedClock, Party
from a2a_coop.transport.client import open_channel
from a2a_coop.transport.errors import DOMAIN, ENVELOPE_TYPE_URL, STATUS_DETAILS_KEY
from a2a_coop.transport.paging import CutAnswerViolation, read_whole
from a2a_coop.transport.tls import TlsConfig
from conformance.suite.model import Case, CaseFailed, Exchange, Level

DEFAULT_TIMEOUT_S = 10.0
_NO_ANSWER = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
_NO_MANDATE = "does not answer an empty Submit with its Mandate alone (ESC-002)"


@dataclass(frozen=True)
class _Counterparty:
    """The target as the ``to`` of :meth:`Party.deliver` (it reads only ``did``)."""

    did: str


class EndpointError(ConnectionError):
    """An endpoint the run needs gave no usable answer: the run cannot give a verdict (exit 2).

    Attributes:
        endpoint: which one, as a user names it: "target", "control endpoint", "escrow" or "A2A
            endpoint".
        address: where the suite called it.
        detail: what happened (a gRPC status and its message, or what was wrong with the answer).
        answered: False when nothing answered at all (unreachable, or the deadline passed); True
            when something answered, but not as that endpoint must (another service, a bad answer).
    """

    def __init__(self, endpoint: str, address: str, detail: str, *, answered: bool = False) -> None:
        super().__init__(f"{endpoint} {address}: {detail}")
        self.endpoint = endpoint
        self.address = address
        self.detail = detail
        self.answered = answered

    @classmethod
    def from_rpc(cls, endpoint: str, address: str, err: grpc.RpcError, rpc: str) -> EndpointError:
        code = err.code()
        if code in _NO_ANSWER:
            return cls(endpoint, address, f"{code.name}: {err.details()}")
        return cls(endpoint, address, f"refused {rpc}: {code.name}: {err.details()}", answered=True)


class LiveClock(FixedClock):
    """The wall clock, shifted by whatever a case advanced it: a :class:`FixedClock` that moves.
    ``offset_ms``: where it starts ahead of the wall clock (how far the run moved the target's test
    clock, :meth:`Session.advance_target_clock`)."""

    def __init__(self, offset_ms: int = 0) -> None:  # no dataclass __init__: now_ms is computed
        self._offset_ms = offset_ms

    @property
    def now_ms(self) -> int:
        return int(time.time() * 1000) + self._offset_ms

    @now_ms.setter
    def now_ms(self, value: int) -> None:
        self._offset_ms = value - int(time.time() * 1000)

    def advance(self, ms: int) -> int:
        self._offset_ms += ms
        return self.now_ms


@dataclass
class ErrorDetail:
    """A gRPC failure as received: the status and, when present, our ErrorInfo."""

    status: grpc.StatusCode
    message: str
    reason: str = ""
    domain: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    evidence: list[bytes] = field(default_factory=list)
    status_details_present: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status.name,
            "message": self.message,
            "reason": self.reason,
            "domain": self.domain,
            "metadata": dict(sorted(self.metadata.items())),
            "evidence": len(self.evidence),
        }


@dataclass
class Reply:
    """What one call got back: envelopes, or an error."""

    envelopes: list[bytes] = field(default_factory=list)
    error: ErrorDetail | None = None
    message: Any = None  # the raw response message for read RPCs
    entry: Exchange | None = None  # its line in the transcript (cases may call from several threads)

    @property
    def ok(self) -> bool:
        return self.error is None


def parse_error(err: grpc.RpcError) -> ErrorDetail:
    """The status and our ErrorInfo (domain a2acoop.v1) of a failed call, without interpreting it."""
    code = err.code()
    detail = ErrorDetail(code, err.details() or "")
    trailers: Iterable[tuple[str, str | bytes]]
    try:  # (key, value) pairs, as in a2a_coop.transport.errors
        trailers = cast(Any, err).trailing_metadata() or ()
    except AttributeError:
        trailers = ()
    for key, value in trailers:
        if key != STATUS_DETAILS_KEY or not isinstance(value, bytes):
            continue
        detail.status_details_present = True
        try:
            status = status_pb2.Status.FromString(value)
        except DecodeError:
            return detail
        for any_detail in status.details:
            if any_detail.type_url == ENVELOPE_TYPE_URL:
                detail.evidence.append(bytes(any_detail.value))
            elif any_detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR) and not detail.reason:
                info = error_details_pb2.ErrorInfo()
                any_detail.Unpack(info)
                if info.domain == DOMAIN:
                    detail.reason, detail.domain, detail.metadata = (
                        info.reason,
                        info.domain,
                        dict(info.metadata),
                    )
    return detail


def _status(err: grpc.RpcError) -> str:
    return f"{err.code().name}: {err.details()}"


def describe(envelope: bytes) -> dict[str, Any]:
    """An envelope for the transcript: its base64 and, when it decodes, who said what."""
    out: dict[str, Any] = {"b64": base64.b64encode(envelope).decode()}
    try:
        vs = verify_statement(envelope)
    except CoopError as exc:
        with contextlib.suppress(CoopError):
            out["digest"] = statement_digest(decode_envelope(envelope).payload).hex()
        out["summary"] = f"(does not verify: {exc.code})"
        return out
    h = vs.header
    out["digest"] = vs.digest.hex()
    out["summary"] = f"{vs.body} by {_short(h.issuer)} seq {h.seq} to {_short(h.audience) or 'public'}"
    return out


def _short(did: str) -> str:
    return did[:20] + "…" if len(did) > 21 else did


@dataclass
class TargetInfo:
    """What the suite learnt about the target."""

    did: str = ""
    mandate: bytes = b""  # the target's Mandate envelope, once an Offer's answer carried it
    escrow_only: bool = False  # it serves EscrowService and not CooperationService
    checkpoint_error: str = ""  # why its Checkpoint did not verify, if it did not

    @property
    def mandate_digest(self) -> bytes:
        return statement_digest(decode_envelope(self.mandate).payload) if self.mandate else b""


class Session:
    """One run against one target.

    Args:
        target: ``host:port`` of the target's CooperationService.
        tls: None for plaintext.
        seed: the run's seed; identities derive from it (printed in every replay command).
        a2a_url: base URL of the target's A2A HTTP endpoint (AgentCard), if it offers the binding.
        control: ``host:port`` of the target's ConformanceControlService, if it offers it.
        escrow: ``host:port`` of an EscrowService the target trusts (it was started with ``--escrow``
            pointing at it) and that funds the suite's parties: the bonded ``mis.*`` scenarios name it
            in their contracts, so a withheld delivery can be claimed and ruled on (SPEC 18.3).
        timeout_s: deadline of every call (RPC-009).
        test_clock: the target serves TestClockService to the suite (its operator, CTL-003): cases that
            wait out the clock tolerance move the target's clock and the suite's instead
            (:meth:`Context.skip_ahead`).
    """

    def __init__(
        self,
        target: str,
        *,
        tls: TlsConfig | None = None,
        seed: str = "0",
        a2a_url: str | None = None,
        control: str | None = None,
        escrow: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        test_clock: bool = False,
    ) -> None:
        self.target = target
        self.test_clock = test_clock
        self.clock_offset_ms = 0  # how far the run moved the target's test clock (and so every case's)
        self.tls = tls
        self.seed = seed
        self.a2a_url = a2a_url
        self.control = control
        self.timeout_s = timeout_s
        self.channel = open_channel(target, tls)
        self.cooperation = service_pb2_grpc.CooperationServiceStub(self.channel)
        self.control_channel = open_channel(control, tls) if control and control != target else self.channel
        self.escrow = escrow
        self.escrow_channel = open_channel(escrow, tls) if escrow else None
        self.info = TargetInfo()
        self._has_control: bool | None = None
        self.signed: dict[bytes, bytes] = {}  # digest -> envelope of every statement the target signed

    def close(self) -> None:
        if self.control_channel is not self.channel:
            self.control_channel.close()
        if self.escrow_channel is not None:
            self.escrow_channel.close()
        self.channel.close()

    def check_control(self) -> None:
        """Check the ``control`` endpoint given apart from the target before the cases run, so that a
        wrong address is a connection error naming it, not the target "stopping" mid-run.

        Raises:
            EndpointError: nothing answers there, or it does not serve ConformanceControlService.
        """
        if self.control_channel is self.channel:
            return  # the target's own address: connect() reached it
        assert self.control is not None
        if not self.has_control():
            raise EndpointError(
                "control endpoint",
                self.control,
                "does not serve a2acoop.v1.ConformanceControlService (UNIMPLEMENTED)",
                answered=True,
            )

    def has_control(self) -> bool:
        """Whether the target serves ConformanceControlService (an empty Initiate is INVALID_ARGUMENT there,
        UNIMPLEMENTED elsewhere)."""
        if self._has_control is None:
            from a2a_coop._proto.a2acoop.v1 import control_pb2, control_pb2_grpc

            stub = control_pb2_grpc.ConformanceControlServiceStub(self.control_channel)
            try:
                stub.Initiate(control_pb2.InitiateRequest(), timeout=self.timeout_s)
                self._has_control = True
            except grpc.RpcError as err:
                if err.code() in _NO_ANSWER and self.control_channel is not self.channel:
                    raise EndpointError("control endpoint", self.control or "", _status(err)) from None
                self._has_control = err.code() is not grpc.StatusCode.UNIMPLEMENTED
        return self._has_control

    def advance_target_clock(self, by_ms: int) -> None:
        """Move the test clocks of the target and of the ``escrow`` it trusts, if one was given, ``by_ms``
        forward (TestClockService, CTL-003), and with them the clock of every case that starts
        afterwards: every clock of the run moves together (none finds another's statements dated in its
        future, TIM-003).

        Raises:
            CaseFailed: one of them refused or did not answer (it serves no test clock to the suite).
        """
        from a2a_coop._proto.a2acoop.v1 import control_pb2, control_pb2_grpc

        endpoints = [("the target", self.channel)]
        if self.escrow_channel is not None:
            endpoints.append(("the escrow", self.escrow_channel))
        for who, channel in endpoints:
            stub = control_pb2_grpc.TestClockServiceStub(channel)
            try:
                stub.AdvanceClock(control_pb2.AdvanceClockRequest(by_ms=by_ms), timeout=self.timeout_s)
            except grpc.RpcError as err:
                raise CaseFailed(
                    f"--test-clock: {who} did not move its clock ({_status(err)}): start it with one that "
                    "answers the suite as its operator (reference: serve or escrow serve --test-clock)"
                ) from None
        self.clock_offset_ms += by_ms

    def connect(self) -> str:
        """Learn the target's did:key from a Checkpoint (its signature authenticates it).

        Raises:
            EndpointError: the target does not answer, or its answer is not a verifiable Checkpoint.
        """
        try:
            resp = self.cooperation.GetCheckpoint(service_pb2.GetCheckpointRequest(), timeout=self.timeout_s)
        except grpc.RpcError as err:
            if err.code() is grpc.StatusCode.UNIMPLEMENTED:
                return self._connect_escrow()
            raise EndpointError.from_rpc("target", self.target, err, "GetCheckpoint") from None
        try:
            vs = verify_statement(resp.envelope)
        except CoopError as exc:
            # A target whose own signatures fail is a verdict (env.target-signatures), not a lost
            # connection: take its claimed key and let the cases fail.
            try:
                claimed = decode_envelope(resp.envelope).signatures[0].keyid
            except (CoopError, IndexError):
                raise EndpointError(
                    "target", self.target, f"answered GetCheckpoint with no envelope: {exc}", answered=True
                ) from None
            self.info.did, self.info.checkpoint_error = claimed, str(exc)
            return claimed
        self.info.did = vs.issuer
        self.record_signed([resp.envelope])
        self.info.mandate = self._discover_mandate()
        return vs.issuer

    def check_escrow(self) -> str:
        """The did:key of the escrow given with ``escrow``, from the Mandate an empty Submit answers
        with (ESC-002): checked before the cases run, so a wrong address is a usage error, not a verdict.

        Raises:
            EndpointError: it cannot be reached, or does not answer as an escrow.
        """
        assert self.escrow_channel is not None and self.escrow is not None, "no escrow given"
        stub = service_pb2_grpc.EscrowServiceStub(self.escrow_channel)
        try:
            resp = stub.Submit(service_pb2.SubmitRequest(), timeout=self.timeout_s)
        except grpc.RpcError as err:
            if err.code() is grpc.StatusCode.UNIMPLEMENTED:
                raise EndpointError(
                    "escrow",
                    self.escrow,
                    "does not serve a2acoop.v1.EscrowService (UNIMPLEMENTED)",
                    answered=True,
                ) from None
            raise EndpointError.from_rpc("escrow", self.escrow, err, "Submit") from None
        try:
            vs = verify_statement(resp.envelopes[0]) if len(resp.envelopes) == 1 else None
        except CoopError:
            vs = None
        if vs is None or vs.body != "mandate":
            raise EndpointError("escrow", self.escrow, _NO_MANDATE, answered=True)
        return vs.statement.mandate.agent

    def _connect_escrow(self) -> str:
        """A target without CooperationService may be an escrow: learn its key from the Mandate an
        empty Submit answers with (ESC-002). Cases of the other roles then SKIP.

        Raises:
            EndpointError: it serves neither service, or its answer is not a verifiable Mandate.
        """
        escrow = service_pb2_grpc.EscrowServiceStub(self.channel)
        try:
            resp = escrow.Submit(service_pb2.SubmitRequest(), timeout=self.timeout_s)
        except grpc.RpcError as err:
            if err.code() in _NO_ANSWER:
                raise EndpointError("target", self.target, _status(err)) from None
            raise EndpointError(
                "target",
                self.target,
                f"serves neither a2acoop.v1.CooperationService nor EscrowService ({_status(err)})",
                answered=True,
            ) from None
        try:
            vs = verify_statement(resp.envelopes[0]) if len(resp.envelopes) == 1 else None
        except CoopError:
            vs = None
        if vs is None or vs.body != "mandate":
            raise EndpointError("target", self.target, _NO_MANDATE, answered=True)
        self.info.did = vs.statement.mandate.agent
        self.info.escrow_only = True
        return self.info.did

    def _discover_mandate(self) -> bytes:
        """The target's Mandate, from an empty Gossip (its Checkpoint comes after the Mandate it names,
        SPEC 13.5); empty if the target does not serve Gossip (the answer to an Offer carries it too)."""
        try:
            resp = self.cooperation.Gossip(service_pb2.GossipRequest(), timeout=self.timeout_s)
        except grpc.RpcError:
            return b""
        for env in resp.envelopes:
            try:
                vs = verify_statement(env)
            except CoopError:
                continue
            if vs.body == "mandate" and vs.statement.mandate.agent == self.info.did:
                return bytes(env)
        return b""

    def record_signed(self, envelopes: Sequence[bytes]) -> None:
        """Keep every envelope the target signed (for the audit and the report)."""
        for env in envelopes:
            try:
                vs = verify_statement(env)
            except CoopError:
                continue
            if vs.issuer == self.info.did:
                self.signed.setdefault(vs.digest, env)


class Context:
    """One case's view of a :class:`Session`."""

    def __init__(self, session: Session, case: Case) -> None:
        self.session = session
        self.case = case
        # Where the run's test clock stands (a session-like object without one: the wall clock).
        self.clock = LiveClock(getattr(session, "clock_offset_ms", 0))
        self.transcript: list[Exchange] = []
        self.shadow = Verifier()  # the reference verifier, as an auditor, over the whole conversation
        self._parties: dict[str, Party] = {}
        # Contracts without escrow the target formed by accepting an Offer of ours (send): closed once
        # the case is over (close_contracts), so that a run leaves none of them open in the target.
        self._formed: list[tuple[Party, VerifiedStatement, VerifiedStatement, list[VerifiedStatement]]] = []
        # Offers and Counters the target made a party of ours (the initiator cases): rejected once the case
        # is over if still outstanding (reject_open_offers), so that a run leaves none PROPOSED in the target.
        self._offered: list[tuple[Party, VerifiedStatement]] = []
        self.failure = ""  # set by the suite's own server when the target sends it something invalid
        if session.info.mandate:
            self.hold(session.info.mandate)

    # -- identities ---------------------------------------------------------------------

    @property
    def target(self) -> str:
        """The target's did:key."""
        return self.session.info.did

    def party(self, name: str = "alice", **mandate_caps: Any) -> Party:
        """A suite identity (agent key, principal, Mandate), deterministic in the seed, case and name."""
        if name not in self._parties:
            label = f"conformance/{self.session.seed}/{self.case.id}/{name}"
            party = Party(label, self.clock, mandate_caps=mandate_caps)
            self._parties[name] = party
            self.shadow.accept(party.mandate_vs.envelope)
        return self._parties[name]

    # -- calls ----------------------------------------------------------------------------

    def exchange(self, envelope: bytes, context: Sequence[bytes] = (), *, note: str = "") -> Reply:
        """Send one statement with ``Exchange``; record both ways."""
        req = service_pb2.ExchangeRequest(envelope=envelope, context=context)
        request = {
            "note": note,
            "envelope": describe(envelope),
            "context": [describe(c) for c in context],
        }
        reply = self._call("CooperationService/Exchange", self.session.cooperation.Exchange, req, request)
        if reply.ok:
            reply.envelopes = self.whole_answer(reply, self.session.cooperation.Exchange, req)
            self.session.record_signed(reply.envelopes)
            assert reply.entry is not None
            reply.entry.response = {"envelopes": [describe(e) for e in reply.envelopes]}
            # Whatever sent it (send, or a case's own exchange of an Offer with a defect the target may
            # take), a contract the target formed is closed after the case.
            with contextlib.suppress(CoopError):
                self.note_formed(verify_statement(envelope), _verified(reply.envelopes))
        return reply

    def send(
        self, vs: VerifiedStatement, context: Sequence[bytes] = (), *, note: str = ""
    ) -> list[VerifiedStatement]:
        """Send one of the suite's valid statements; it must be accepted, and every answer must verify.

        Returns:
            The target's answers, verified by the shadow verifier, in order.

        Raises:
            CaseFailed: the target refused it, or signed an answer the reference verifier refuses.
        """
        reply = self.exchange(vs.envelope, context, note=note or f"our {vs.body}")
        if reply.error is not None:
            err = reply.error
            raise CaseFailed(
                f"the target refused a valid {vs.body}: {err.reason or err.status.name}: "
                f"{err.metadata.get('detail', err.message)}"
            )
        for env in context:
            self.hold(env)
        self.sent(vs)
        return self.verify_signed(reply.envelopes, what=f"its answer to our {vs.body}")

    def note_formed(self, offer: VerifiedStatement, answers: Sequence[VerifiedStatement]) -> None:
        """Remember a contract without escrow the target formed by accepting ``offer``, an Offer or a
        Counter of ours (the initiator cases' target accepts our Counter in a call to the suite)."""
        if offer.body not in ("offer", "counter") or _proposal(offer).terms.escrow:
            return
        party = next((p for p in self._parties.values() if p.did == offer.issuer), None)
        accepts = (a for a in answers if a.body == "accept" and a.issuer == self.target)
        accept = next((a for a in accepts if offer.digest in a.header.refs), None)
        if party is not None and accept is not None:
            self._formed.append((party, offer, accept, list(answers)))

    def close_contracts(self) -> None:
        """Perform our side of each contract without escrow the case formed from an Offer of ours -- a
        Receipt of each Delivery of it the target signed to us (dated within the skew of our clock), our
        Delivery of each item we owe -- so that the run leaves none of them open in the target. Open,
        they stayed until their deadline plus the claim window (a day), each holding value of the
        target's mandate's exposure cap: a reference peer probed with a mandate's defaults (`a2a-coop
        mandate`: 5,000 outstanding) refused the initiator and mandate cases `MANDATE_VIOLATION` from the
        third or fourth run of a day. What the target answers is not judged here (a case may have
        delivered, revoked or rotated the key already)."""
        for party, offer, accept, answers in self._formed:
            receipted: set[bytes] = set()
            try:
                for vs in answers:
                    self.follow(vs)
                # And the Deliveries the target sent in calls of its own (initiator cases): the shadow holds
                # them.
                todo = [*answers, *self.shadow.statements.values()]
                for i in range(len(_proposal(offer).gives)):
                    delivery = party.deliver(accept, cast(Party, _Counterparty(self.target)), i)
                    reply = self.exchange(delivery.envelope, note="closing the case's contract: our delivery")
                    if reply.ok:
                        todo += [verify_statement(e) for e in reply.envelopes]
                for vs in todo:
                    # Only the target's Deliveries of this contract to our party, dated within the skew
                    # of our clock (TIM-003): a target answering with Deliveries of other contracts (to
                    # others) had our party receipt them, a Receipt in a negotiation it is no party of,
                    # and one dated a year ahead had it sign a Receipt dated a year ahead (follow), no
                    # statement a verifier takes (tests/test_attack18.py).
                    if (
                        vs.body == "delivery"
                        and vs.issuer == self.target
                        and vs.audience == party.did
                        and vs.statement.delivery.contract == accept.digest
                        and vs.header.issued_at_ms <= self.clock.now_ms + self.shadow.skew_ms
                        and vs.digest not in receipted
                    ):
                        receipted.add(vs.digest)
                        self.follow(vs)
                        receipt = party.receipt(vs)
                        self.exchange(receipt.envelope, note="closing the case's contract: our receipt")
            except (CoopError, ConnectionError, grpc.RpcError):  # closing is a courtesy, never a verdict
                continue

    def note_offered(self, party: Party, vs: VerifiedStatement) -> None:
        """Remember an Offer or Counter of the target to ``party``, one of ours, to reject after the case."""
        if vs.body in ("offer", "counter") and vs.issuer == self.target and vs.audience == party.did:
            self._offered.append((party, vs))

    def reject_open_offers(self) -> None:
        """Reject each Offer or Counter the target made one of our parties that is still outstanding once
        the case is over -- answered only with a defect the target refused (our Withdraw of it, an Accept
        with a bad signature) -- as its offeree may (NEG-001). Unanswered, each stayed PROPOSED in the
        target until it expired (three a run of the initiator cases). One expired already is left: no
        answer to it is taken (NEG-007). What the target answers is not judged here."""
        for party, offer in self._offered:
            negotiation = self.shadow.negotiations.by_id.get(offer.negotiation_id)
            if (
                negotiation is None
                or negotiation.is_terminal
                or negotiation.outstanding.digest != offer.digest
                or offer.header.expires_at_ms <= self.clock.now_ms
            ):
                continue
            try:
                reject = party.reject(offer, "the conformance case is over")
                if self.exchange(reject.envelope, note="closing the case: our reject of its offer").ok:
                    self.sent(reject)
            except (CoopError, ConnectionError, grpc.RpcError):  # closing is a courtesy, never a verdict
                continue

    def hold(self, envelope: bytes) -> None:
        """Give the shadow verifier a context envelope (a mandate) unless it holds it already."""
        if statement_digest(decode_envelope(envelope).payload) not in self.shadow.statements:
            self.shadow.accept(envelope)

    def call(self, rpc: str, request: Message, *, note: str = "") -> Reply:
        """Call a CooperationService read method (``GetLog``, ``GetCheckpoint``, ...) by name."""
        method: Callable[..., Any] = getattr(self.session.cooperation, rpc)
        from google.protobuf.json_format import MessageToDict

        shown = {"note": note, "message": MessageToDict(request, preserving_proto_field_name=True)}
        reply = self._call(f"CooperationService/{rpc}", method, request, shown)
        if reply.ok:
            envelopes = list(getattr(reply.message, "envelopes", []))
            if getattr(reply.message, "envelope", b""):
                envelopes.append(reply.message.envelope)
            reply.envelopes = envelopes
            self.session.record_signed(envelopes)
            assert reply.entry is not None
            reply.entry.response = {"envelopes": [describe(e) for e in envelopes]}
        return reply

    def raw(self, rpc: str, request_bytes: bytes, *, note: str = "") -> Reply:
        """Call ``CooperationService/rpc`` with arbitrary request bytes (malformed requests)."""
        method = self.session.channel.unary_unary(
            f"/a2acoop.v1.CooperationService/{rpc}",
            request_serializer=None,
            response_deserializer=None,
        )
        shown = {"note": note, "bytes_b64": base64.b64encode(request_bytes).decode()[:4096]}
        return self._call(f"CooperationService/{rpc}", method, request_bytes, shown)

    def record(
        self, rpc: str, request: dict[str, Any], response: dict[str, Any] | None, error: str = ""
    ) -> None:
        """Add a call made outside the helpers above (health, reflection, HTTP) to the transcript."""
        self.transcript.append(
            Exchange(
                rpc, request, response, {"status": error, "reason": "", "metadata": {}} if error else None
            )
        )

    def whole_answer(
        self, reply: Reply, method: Callable[..., Any], request: Any, *, where: tuple[str, str] | None = None
    ) -> list[bytes]:
        """The whole Exchange or Submit answer ``reply`` (taken) starts: the rest of a cut one read by
        ``request`` again from each part's ``next_answer`` (RPC-021), each part a call of the transcript.
        The first part alone once stood for the answer: a target that cut one failed cases it passed.

        Raises:
            CaseFailed: a part was refused, or the parts broke RPC-021.
        """
        assert reply.entry is not None
        rpc = reply.entry.rpc

        def again(start: int) -> Any:
            request.answer_from = start
            shown = {"note": f"the rest of a cut answer, from {start}"}
            part = self._call(rpc, method, request, shown, where=where)
            if part.error is not None:
                why = part.error.reason or part.error.status.name
                raise CaseFailed(f"the rest of a cut answer, from {start}, was refused: {why} (RPC-021)")
            return part.message

        try:
            return read_whole(reply.message, again)
        except CutAnswerViolation as exc:
            raise CaseFailed(exc.details) from None

    def _call(
        self,
        name: str,
        method: Callable[..., Any],
        request: Any,
        shown: dict[str, Any],
        *,
        where: tuple[str, str] | None = None,
    ) -> Reply:
        """Call ``method``; ``where`` is the endpoint it is bound to (what, address) if not the target.

        Raises:
            EndpointError: nothing answered (UNAVAILABLE, DEADLINE_EXCEEDED): the run stops.
        """
        entry = Exchange(name, shown)
        self.transcript.append(entry)
        started = time.perf_counter()
        try:
            message = method(request, timeout=self.session.timeout_s)
        except grpc.RpcError as err:
            entry.elapsed_ms = (time.perf_counter() - started) * 1000
            detail = parse_error(err)
            entry.error = detail.as_dict()
            if detail.status in _NO_ANSWER:
                what, address = where or ("target", self.session.target)
                raise EndpointError(what, address, f"{detail.status.name}: {detail.message}") from None
            return Reply(error=detail, entry=entry)
        entry.elapsed_ms = (time.perf_counter() - started) * 1000
        entry.response = {}
        return Reply(message=message, entry=entry)

    # -- checks ---------------------------------------------------------------------------

    def expect_rejection(self, reply: Reply, code: str, *, what: str) -> ErrorDetail:
        """``reply`` must be a rejection with SPEC code ``code`` and that code's gRPC status (RPC-005).

        Raises:
            CaseFailed: the target accepted ``what``, or refused it with another code or status.
        """
        if reply.error is None:
            kinds = ", ".join(describe(e).get("summary", "?") for e in reply.envelopes) or "nothing"
            raise CaseFailed(f"the target accepted {what} (answered: {kinds}); expected {code}")
        err = reply.error
        want_status = by_code(code).grpc_status
        if not err.reason:
            raise CaseFailed(
                f"{what} was refused with {err.status.name} but no a2acoop.v1 ErrorInfo "
                f"(expected reason {code}, ERR-001/RPC-005)"
            )
        if err.reason != code:
            raise CaseFailed(f"{what} was refused with {err.reason}, expected {code}")
        if err.status.name != want_status:
            raise CaseFailed(
                f"{code} came with gRPC status {err.status.name}, expected {want_status} (RPC-005)"
            )
        return err

    def verify_signed(self, envelopes: Sequence[bytes], *, what: str) -> list[VerifiedStatement]:
        """Feed the target's envelopes to the shadow verifier (auditor, no freshness: the target's
        clock is not ours) and return them verified.

        Raises:
            CaseFailed: one does not verify.
        """
        out = []
        for i, env in enumerate(envelopes):
            try:
                vs = self.shadow.accept(env)
            except CoopError as exc:
                try:
                    digest = statement_digest(decode_envelope(env).payload)
                except CoopError:
                    digest = b""
                if digest in self.shadow.statements:  # already held (the same statement again)
                    out.append(self.shadow.statements[digest])
                    continue
                raise CaseFailed(f"envelope {i} of {what} does not verify: {exc}") from None
            if (
                vs.body == "mandate"
                and vs.statement.mandate.agent == self.target
                and not self.session.info.mandate
            ):
                self.session.info.mandate = env
            self.follow(vs)
            out.append(vs)
        return out

    def follow(self, vs: VerifiedStatement) -> None:
        """Our answers must not be dated before what they answer (NEG-014): like a signer whose clock
        is behind, the suite's clock catches up with the target's statements."""
        if vs.issuer == self.target and vs.header.issued_at_ms > self.clock.now_ms:
            self.clock.now_ms = vs.header.issued_at_ms

    def sent(self, vs: VerifiedStatement) -> None:
        """Record our own statement, accepted by the target, in the shadow verifier."""
        if vs.digest in self.shadow.statements:
            return
        try:
            self.shadow.accept(vs.envelope)
        except CoopError as exc:  # the suite built it; a bug here is the suite's own
            raise RuntimeError(f"the suite's own {vs.body} does not verify: {exc}") from exc

    def skip_ahead(self, by_ms: int) -> bool:
        """With ``--test-clock`` (CTL-003), move the target's clock and ours ``by_ms`` forward together
        (ours stays within the skew of the target's, TIM-003) and say True; otherwise False: the case
        waits on the wall clock, as against any target."""
        if not getattr(self.session, "test_clock", False):
            return False
        self.session.advance_target_clock(by_ms)
        self.clock.advance(by_ms)
        return True

    def must(self, condition: bool, reason: str, level: Level = Level.FAIL) -> None:
        """End the case with ``level`` (FAIL by default) and ``reason`` unless ``condition`` holds."""
        if not condition:
            raise CaseFailed(reason, level)


def _proposal(vs: VerifiedStatement) -> trade_pb2.Offer:
    """What an Offer or a Counter proposes, from its issuer's point of view."""
    return vs.statement.offer if vs.body == "offer" else vs.statement.counter.proposal


def _verified(envelopes: Sequence[bytes]) -> list[VerifiedStatement]:
    """The envelopes that verify, in order (the others are the audit's business, not closing's)."""
    out = []
    for env in envelopes:
        with contextlib.suppress(CoopError):
            out.append(verify_statement(env))
    return out
