"""The gRPC binding (SPEC.md section 13) against a real server on 127.0.0.1, in this process.

Each test starts a server on a free loopback port, talks to it with the
clients (or a raw channel, to send what the clients never would) and stops it.
The multi-process peer tests live elsewhere; here the server's threads share the
test's process, which lets handlers record what reached them.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final, cast

import grpc
import pytest
import trio
from google.protobuf import descriptor_pool
from google.rpc import error_details_pb2, status_pb2  # type: ignore[import-untyped]
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
from pki import Pki

from a2a_coop._proto.a2acoop.v1 import service_pb2, service_pb2_grpc
from a2a_coop.protocol import errors
from a2a_coop.protocol.envelope import MAX_ENVELOPE_BYTES
from a2a_coop.protocol.errors import CoopError, Origin
from a2a_coop.protocol.forks import ForkProof
from a2a_coop.protocol.identity import did_from_public_key
from a2a_coop.testing import FixedClock, Party
from a2a_coop.transport import (
    CooperationClient,
    CooperationHandler,
    EscrowClient,
    RunningServer,
    TransportError,
    serve,
)
from a2a_coop.transport.errors import (
    DOMAIN,
    ENVELOPE_TYPE_URL,
    STATUS_DETAILS_KEY,
    from_rpc_error,
    status_for,
)
from a2a_coop.transport.limits import MAX_PAGE_BYTES, MAX_PAGE_ENTRIES, MAX_RESPONSE_BYTES
from a2a_coop.transport.server import COOPERATION_SERVICE, ESCROW_SERVICE, _invoke
from a2a_coop.transport.trio_bridge import (
    TrioCooperationClient,
    TrioEscrowClient,
    TrioHandlerBridge,
    call_in_trio,
)

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `benchmarks` is a top-level package of the checkout, not installed
    sys.path.insert(0, str(ROOT))

EXCHANGE = "/a2acoop.v1.CooperationService/Exchange"


# --- handlers ----------------------------------------------------------------------------


class ScriptedPeer:
    """A CooperationHandler that answers by the envelope's bytes.

    ``reject:CODE`` raises that code's CoopError; ``boom`` raises a plain bug;
    ``slow`` waits (bounded) until released; anything else is echoed back,
    followed by the context envelopes.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[bytes, list[bytes]]] = []
        self.threads: set[int] = set()
        self.release = threading.Event()
        self.slow_started = threading.Event()
        self.evidence: tuple[bytes, ...] = ()

    def exchange(self, envelope: bytes, context: Sequence[bytes]) -> list[bytes]:
        self.calls.append((envelope, list(context)))
        self.threads.add(threading.get_ident())
        if envelope.startswith(b"reject:"):
            cls = errors.by_code(envelope[7:].decode())
            raise cls(
                "the scripted peer says no",
                requirement="TST-001",
                origin=Origin.REMOTE,
                evidence=self.evidence,
            )
        if envelope == b"boom":
            raise RuntimeError("secret internals /etc/passwd")
        if envelope == b"slow":
            self.slow_started.set()
            self.release.wait(5)
        return [envelope, *context]

    def get_log(self, from_seq: int, limit: int) -> tuple[list[bytes], int]:
        return [b"log-%d" % s for s in range(from_seq, from_seq + min(limit, 3))], from_seq + 2

    def get_checkpoint(self) -> bytes:
        return b"checkpoint"

    def get_attestations(
        self, subject: str, limit: int, page_token: str, max_bytes: int
    ) -> tuple[list[list[bytes]], str]:
        # Two pages of one bundle each: "" then "2".
        bundle = [b"mandate", b"offer", b"accept", subject.encode() + page_token.encode()]
        return [bundle], "" if page_token else "2"

    def gossip(
        self, envelopes: Sequence[bytes], proofs: Sequence[ForkProof]
    ) -> tuple[list[bytes], list[ForkProof]]:
        return [b"checkpoint", *envelopes], [ForkProof(b"b", b"a"), *proofs]


class ScriptedEscrow:
    def __init__(self) -> None:
        self.submitted: list[list[bytes]] = []

    def submit(self, envelopes: Sequence[bytes]) -> list[bytes]:
        self.submitted.append(list(envelopes))
        if envelopes and envelopes[0] == b"reject":
            raise errors.MandateUnknown("no mandate on file", requirement="ESC-001")
        return [b"bond_lock"]

    def get_ledger(self, from_seq: int, limit: int) -> tuple[list[bytes], int]:
        return [b"ledger-%d" % from_seq], 41

    def get_transcript(
        self, from_seq: int, limit: int, max_bytes: int, opening_from: int = 0
    ) -> tuple[list[bytes], int, int, int]:
        return [b"page-%d-%d-%d" % (from_seq, limit, max_bytes)], 41, from_seq + 1, 0

    def get_balance(self, party: str) -> tuple[int, int, str, int]:
        return 900, 100, "credits", 41


@pytest.fixture
def peer() -> ScriptedPeer:
    return ScriptedPeer()


@pytest.fixture
def escrow_handler() -> ScriptedEscrow:
    return ScriptedEscrow()


@pytest.fixture
def server(peer: ScriptedPeer, escrow_handler: ScriptedEscrow) -> Iterator[RunningServer]:
    running = serve(peer, escrow_handler)
    yield running
    peer.release.set()
    running.stop(grace=0)


@pytest.fixture
def client(server: RunningServer) -> Iterator[CooperationClient]:
    with CooperationClient(server.target, timeout_s=5) as c:
        yield c


@pytest.fixture
def channel(server: RunningServer) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(server.target) as ch:
        yield ch


def raw_exchange(channel: grpc.Channel) -> Any:
    """Exchange with no serializers: the test sends and receives raw bytes."""
    return channel.unary_unary(EXCHANGE, request_serializer=None, response_deserializer=None)


def status_details(err: grpc.RpcError) -> Any:
    """The google.rpc.Status a failed call carries in its trailers."""
    trailers: dict[str, Any] = {k: v for k, v in cast(Any, err.trailing_metadata())}
    return status_pb2.Status.FromString(trailers[STATUS_DETAILS_KEY])


# --- round trips ---------------------------------------------------------------------------


@pytest.mark.req("RPC-001")
def test_exchange_carries_envelope_and_context_bytes_exactly(
    client: CooperationClient, peer: ScriptedPeer, alice: Party, bob: Party
) -> None:
    """Alice sends a real Offer with her Mandate as context; expect the exact bytes both ways."""
    offer = alice.offer(bob).envelope
    assert client.exchange(offer, alice.setup) == [offer, *alice.setup]
    assert peer.calls == [(offer, list(alice.setup))]


@pytest.mark.req("RPC-003")
def test_exchange_is_answered_identically_when_retried(client: CooperationClient) -> None:
    """The same envelope twice gets the same answer (the handler's idempotency; no client retry)."""
    assert client.exchange(b"statement") == client.exchange(b"statement") == [b"statement"]


@pytest.mark.req("RPC-002")
def test_negotiate_stream_answers_each_statement_in_order(
    client: CooperationClient, peer: ScriptedPeer
) -> None:
    sent = [(b"offer", [b"mandate"]), (b"counter", []), (b"accept", [])]
    assert list(client.negotiate(sent)) == [[b"offer", b"mandate"], [b"counter"], [b"accept"]]
    assert [e for e, _ in peer.calls] == [b"offer", b"counter", b"accept"]


@pytest.mark.req("RPC-002")
def test_negotiate_stream_ends_at_the_first_rejection(client: CooperationClient, peer: ScriptedPeer) -> None:
    """RPC-002 (a): the second request is refused; expect the stream to end with its error and the
    third never read."""
    answers = client.negotiate([(b"offer", []), (b"reject:ILLEGAL_TRANSITION", []), (b"never", [])])
    assert next(answers) == [b"offer"]
    with pytest.raises(errors.IllegalTransition):
        next(answers)
    assert b"never" not in [e for e, _ in peer.calls]


SUBJECT = Party("carol", FixedClock()).agent.did
# did:keys that KEY-002 and KEY-003, not KEY-001, refuse: y = p (unreduced), and the identity point.
BAD_KEYS: Final = (
    (did_from_public_key(bytes.fromhex("ed" + "ff" * 30 + "7f")), errors.KeyNonCanonical, "KEY-002"),
    (did_from_public_key(bytes.fromhex("01" + "00" * 31)), errors.KeySmallOrder, "KEY-003"),
)


@pytest.mark.req("ATT-014")
def test_get_attestations_about_what_is_not_a_did_is_invalid_argument(client: CooperationClient) -> None:
    """GetAttestations("not-a-did") is refused (KEY_INVALID, INVALID_ARGUMENT), not an empty OK, and a
    did:key of a non-canonical or small-order key with that key's code (section 13.5: KEY-001 to
    KEY-003, in section 3.2's order); an empty subject asks for every attestation held (ATT-014) and is
    answered."""
    for subject in ("not-a-did", "did:key:z6Mkexample"):
        with pytest.raises(errors.KeyInvalid):
            client.get_attestations(subject)
    for subject, refused, requirement in BAD_KEYS:
        with pytest.raises(refused) as info:
            client.get_attestations(subject)
        assert (info.value.grpc_status, info.value.requirement) == ("INVALID_ARGUMENT", requirement)
    assert client.get_attestations("")[0] == [b"mandate", b"offer", b"accept", b""]


def test_get_balance_of_what_is_not_a_did_key_is_key_invalid(server: RunningServer) -> None:
    """GetBalance("alice") once answered zeros, as for a party with no funds. Expect KEY_INVALID
    (INVALID_ARGUMENT) with its ErrorInfo for an empty party, a name and a did:key that is no Ed25519
    key; KEY_NONCANONICAL and KEY_SMALL_ORDER for a did:key of such a key (section 13.5); and a valid
    did:key answered."""
    with EscrowClient(server.target, timeout_s=5) as escrow:
        for party in ("", "alice", "did:key:z6Mkexample", SUBJECT + " "):
            with pytest.raises(errors.KeyInvalid) as info:
                escrow.get_balance(party)
            assert (info.value.grpc_status, info.value.requirement) == ("INVALID_ARGUMENT", "KEY-001")
        for party, refused, requirement in BAD_KEYS:
            with pytest.raises(refused) as bad:
                escrow.get_balance(party)
            assert (bad.value.grpc_status, bad.value.requirement) == ("INVALID_ARGUMENT", requirement)
        assert escrow.get_balance(SUBJECT)[:2] == (900, 100)


def test_read_calls_round_trip(client: CooperationClient) -> None:
    assert client.get_log(5, 2) == ([b"log-5", b"log-6"], 7)
    assert client.get_log(0, 0) == ([b"log-0", b"log-1", b"log-2"], 2)  # 0 = the server's page size
    assert client.get_checkpoint() == b"checkpoint"
    subject = SUBJECT
    first, token = client.get_attestations_page(subject, limit=1)
    assert (first, token) == ([[b"mandate", b"offer", b"accept", subject.encode()]], "2")
    assert client.get_attestations(subject) == [  # every page
        [b"mandate", b"offer", b"accept", subject.encode()],
        [b"mandate", b"offer", b"accept", subject.encode() + b"2"],
    ]
    assert client.gossip([b"mine"], [ForkProof(b"1", b"2")]) == (
        [b"checkpoint", b"mine"],
        [ForkProof(b"b", b"a"), ForkProof(b"1", b"2")],
    )


def test_escrow_calls_round_trip(server: RunningServer, escrow_handler: ScriptedEscrow) -> None:
    with EscrowClient(server.target, timeout_s=5) as escrow:
        assert escrow.submit([b"mandate", b"contract"]) == [b"bond_lock"]
        assert escrow.get_ledger(3, 10) == ([b"ledger-3"], 41)
        # 0 asks for the server's page size; the server passes its page byte budget to the handler
        assert escrow.get_transcript(3, 0) == ([b"page-3-%d-%d" % (MAX_PAGE_ENTRIES, MAX_PAGE_BYTES)], 41, 4)
        assert escrow.get_balance(SUBJECT) == (900, 100, "credits", 41)
        with pytest.raises(errors.MandateUnknown) as info:
            escrow.submit([b"reject"])
    assert info.value.requirement == "ESC-001"
    assert escrow_handler.submitted == [[b"mandate", b"contract"], [b"reject"]]


@pytest.mark.req("RPC-011")
@pytest.mark.parametrize("from_seq", [2**53, 2**63, 2**64 - 1])
def test_read_calls_refuse_a_from_seq_no_statement_can_carry(
    server: RunningServer, client: CooperationClient, from_seq: int
) -> None:
    """GetLog once answered INTERNAL (an OverflowError in SQLite) to from_seq >= 2^63. Expect
    REQUEST_INVALID (INVALID_ARGUMENT, RPC-011) from each of the three paged reads, before any handler
    runs, and the largest valid from_seq passed through."""
    with pytest.raises(errors.RequestInvalid) as info:
        client.get_log(from_seq, 1)
    assert info.value.requirement == "RPC-011" and info.value.grpc_status == "INVALID_ARGUMENT"
    with EscrowClient(server.target, timeout_s=5) as escrow:
        with pytest.raises(errors.RequestInvalid):
            escrow.get_ledger(from_seq, 1)
        with pytest.raises(errors.RequestInvalid):
            escrow.get_transcript(from_seq, 1)
        assert escrow.get_ledger(2**53 - 1, 1)[0] == [b"ledger-%d" % (2**53 - 1)]
    assert client.get_log(2**53 - 1, 1)[0] == [b"log-%d" % (2**53 - 1)]


def test_a_client_is_a_handler_so_a_relay_forwards_calls_and_rejections(client: CooperationClient) -> None:
    """A server whose handler is a client of another server relays both answers and typed errors."""
    upstream: CooperationHandler = client  # the client satisfies the handler Protocol
    with serve(upstream, None) as relay, CooperationClient(relay.target, timeout_s=5) as via:
        assert via.exchange(b"hello", [b"ctx"]) == [b"hello", b"ctx"]
        with pytest.raises(errors.WrongParty) as info:
            via.exchange(b"reject:WRONG_PARTY")
    assert info.value.requirement == "TST-001"


# --- errors across the wire (ERR-001) ------------------------------------------------------


@pytest.mark.req("RPC-005")
@pytest.mark.req("ERR-001")
@pytest.mark.parametrize("code", sorted(errors.registry()))
def test_rejection_arrives_as_the_same_error_with_code_and_requirement(
    client: CooperationClient, channel: grpc.Channel, code: str
) -> None:
    """The peer rejects with each registry code; expect its gRPC status, an a2acoop.v1 ErrorInfo,
    and on the client the same CoopError subclass with requirement and detail."""
    cls = errors.by_code(code)
    with pytest.raises(CoopError) as info:
        client.exchange(b"reject:" + code.encode())
    err = info.value
    assert type(err) is cls
    assert (err.code, err.requirement, err.detail) == (code, "TST-001", "the scripted peer says no")
    assert err.origin is Origin.LOCAL  # the server blamed its caller: that is us

    with pytest.raises(grpc.RpcError) as raw:
        raw_exchange(channel)(
            service_pb2.ExchangeRequest(envelope=b"reject:" + code.encode()).SerializeToString()
        )
    assert raw.value.code() == grpc.StatusCode[cls.grpc_status]
    status = status_details(raw.value)
    details = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(details)
    assert (details.reason, details.domain) == (code, DOMAIN)
    assert dict(details.metadata) == {
        "requirement": "TST-001",
        "detail": "the scripted peer says no",
        "origin": "remote",
        "evidence": "0",
    }


@pytest.mark.req("RPC-006")
def test_equivocation_evidence_arrives_as_the_exact_envelopes(
    client: CooperationClient, peer: ScriptedPeer, alice: Party, bob: Party
) -> None:
    """The peer proves an equivocation with two signed statements; expect their bytes unchanged."""
    peer.evidence = (alice.offer(bob).envelope, alice.setup[0])
    with pytest.raises(errors.Equivocation) as info:
        client.exchange(b"reject:EQUIVOCATION")
    assert info.value.evidence == peer.evidence


@pytest.mark.req("RPC-006")
def test_evidence_too_big_for_trailers_is_left_out_but_counted(
    client: CooperationClient, channel: grpc.Channel, peer: ScriptedPeer
) -> None:
    peer.evidence = (b"a" * 20_000, b"b" * 20_000)
    with pytest.raises(errors.ChainBroken) as info:
        client.exchange(b"reject:CHAIN_BROKEN")
    assert info.value.evidence == ()
    with pytest.raises(grpc.RpcError) as raw:
        raw_exchange(channel)(
            service_pb2.ExchangeRequest(envelope=b"reject:CHAIN_BROKEN").SerializeToString()
        )
    status = status_details(raw.value)
    assert len(status.details) == 1
    details = error_details_pb2.ErrorInfo()
    status.details[0].Unpack(details)
    assert details.metadata["evidence"] == "2"


@pytest.mark.req("RPC-007")
def test_handler_bug_is_internal_without_leaking_and_is_logged(
    client: CooperationClient, caplog: pytest.LogCaptureFixture
) -> None:
    """A handler raises a non-protocol exception; expect a bare INTERNAL on the wire, the
    traceback in the server's log, and the server still serving."""
    with (
        caplog.at_level(logging.ERROR, logger="a2a_coop.transport.server"),
        pytest.raises(TransportError) as info,
    ):
        client.exchange(b"boom")
    assert not isinstance(info.value, CoopError)
    assert info.value.code is grpc.StatusCode.INTERNAL
    assert info.value.details == "internal error"
    assert "secret" not in str(info.value)
    assert any(r.exc_info and "secret internals" in str(r.exc_info[1]) for r in caplog.records)
    assert client.exchange(b"still there") == [b"still there"]


class _FakeRpcError(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, status: status_pb2.Status | None) -> None:
        self._code, self._status = code, status

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return "from the peer"

    def trailing_metadata(self) -> Any:
        return () if self._status is None else ((STATUS_DETAILS_KEY, self._status.SerializeToString()),)


def _status(code: grpc.StatusCode, reason: str, domain: str = DOMAIN) -> status_pb2.Status:
    status = status_pb2.Status(code=code.value[0], message="x")
    status.details.add().Pack(error_details_pb2.ErrorInfo(reason=reason, domain=domain))
    return status


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        pytest.param(None, "", id="no-details"),
        pytest.param(
            _status(grpc.StatusCode.ABORTED, "CODE_FROM_THE_FUTURE"), "CODE_FROM_THE_FUTURE", id="unknown"
        ),
        pytest.param(
            _status(grpc.StatusCode.ABORTED, "EQUIVOCATION", "other.example"), "", id="other-domain"
        ),
        pytest.param(_status(grpc.StatusCode.NOT_FOUND, "EQUIVOCATION"), "", id="status-mismatch"),
    ],
)
def test_errors_without_a_known_code_become_transport_errors(
    status: status_pb2.Status | None, reason: str
) -> None:
    """A code this version does not know is a rejection of the stated status (SPEC.md section 12),
    reported as a TransportError that keeps the code; foreign or inconsistent details are ignored."""
    err = from_rpc_error(_FakeRpcError(grpc.StatusCode.ABORTED, status))
    assert isinstance(err, TransportError)
    assert (err.code, err.reason, err.details) == (grpc.StatusCode.ABORTED, reason, "from the peer")


def test_key_revoked_carries_its_reach_time_for_machines_and_people() -> None:
    """A KEY_REVOKED rejection carries the revocation's reach time (KEY-011) in its ErrorInfo metadata
    as ``reach_ms`` and, for older clients, the same value under its old name ``effective_ms`` (RPC-005
    (a)); the client reads it back, and reads an older server's ``effective_ms`` alone as the reach; the
    detail shows it as a UTC time."""
    sent = errors.KeyRevoked(
        "revoked from 2026-12-06 01:41:26.123 UTC (reach_ms=1796521286123)",
        requirement="KEY-004",
        reach_ms=1_796_521_286_123,
    )
    status = status_for(sent)
    trailers = dict(status.trailing_metadata)
    info = error_details_pb2.ErrorInfo()
    assert status_pb2.Status.FromString(trailers[STATUS_DETAILS_KEY]).details[0].Unpack(info)
    assert info.metadata["reach_ms"] == info.metadata["effective_ms"] == "1796521286123"
    got = from_rpc_error(
        _FakeRpcError(status.code, status_pb2.Status.FromString(trailers[STATUS_DETAILS_KEY]))
    )
    assert isinstance(got, errors.KeyRevoked)
    assert (got.reach_ms, got.detail) == (1_796_521_286_123, sent.detail)
    # an older server's refusal: the reach under the old name alone
    old = status_pb2.Status.FromString(trailers[STATUS_DETAILS_KEY])
    del info.metadata["reach_ms"]
    old.details[0].Pack(info)
    got_old = from_rpc_error(_FakeRpcError(status.code, old))
    assert isinstance(got_old, errors.KeyRevoked) and got_old.reach_ms == 1_796_521_286_123


@pytest.mark.req("RPC-006")
@pytest.mark.parametrize("cls", [errors.IllegalTransition, errors.StaleReference])
def test_an_escrow_refusal_names_its_stamps_ledger_seq_whichever_code_it_carries(cls: type) -> None:
    """RPC-006 (b): both codes an escrow refuses an answer to an offer it closed with (ILLEGAL_TRANSITION,
    and STALE_REFERENCE since red team 30) carry ``stamp_seq`` when the evidence does not fit, and the
    client reads it back (final30 gave it to ILLEGAL_TRANSITION alone: a STALE_REFERENCE lost it)."""
    status = status_for(cls("closed here", stamp_seq=41))
    trailers = dict(status.trailing_metadata)
    got = from_rpc_error(
        _FakeRpcError(status.code, status_pb2.Status.FromString(trailers[STATUS_DETAILS_KEY]))
    )
    assert isinstance(got, cls) and got.stamp_seq == 41


# --- limits and malformed input ------------------------------------------------------------


@pytest.mark.req("RPC-007", "RPC-008")
@pytest.mark.req("ENV-008")
def test_oversize_request_is_refused_before_the_handler(
    client: CooperationClient, peer: ScriptedPeer
) -> None:
    """A client sends a 70 kB envelope; expect RESOURCE_EXHAUSTED from gRPC itself, no handler call."""
    with pytest.raises(TransportError) as info:
        client.exchange(b"x" * 70_000)
    assert info.value.code is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert peer.calls == []
    assert client.exchange(b"ok") == [b"ok"]


@pytest.mark.req("RPC-008")
@pytest.mark.req("ENV-008")
@pytest.mark.parametrize("where", ["envelope", "context"])
def test_envelope_over_the_limit_is_refused_even_when_the_request_limit_is_raised(
    peer: ScriptedPeer, where: str
) -> None:
    """A server accepting 256 kB requests still refuses any one envelope over 65536 bytes."""
    big = b"x" * (MAX_ENVELOPE_BYTES + 1)
    envelope, context = (big, []) if where == "envelope" else (b"ok", [b"mandate", big])
    with (
        serve(peer, None, max_message_bytes=256 * 1024) as srv,
        CooperationClient(srv.target, timeout_s=5) as c,
    ):
        assert c.exchange(b"x" * MAX_ENVELOPE_BYTES) == [b"x" * MAX_ENVELOPE_BYTES]
        with pytest.raises(errors.EnvelopeTooLarge) as info:
            c.exchange(envelope, context)
    assert info.value.requirement == "ENV-008"
    assert len(peer.calls) == 1


@pytest.mark.req("RPC-005")
def test_a_refusal_with_a_long_detail_still_arrives_typed(peer: ScriptedPeer) -> None:
    """A refusal whose detail runs to 20,000 characters (a detail may quote what the caller sent);
    expect the client to get the typed error with its code, the detail cut to 1,024 characters as
    section 13.3 says: whole, the Status would pass the trailers' 8 KiB limit and reach the client as a
    transport failure, no rejection at all."""

    class Verbose(ScriptedPeer):
        def exchange(self, envelope: bytes, context: Sequence[bytes]) -> list[bytes]:
            raise errors.MandateViolation("x" * 20_000, requirement="MND-011", origin=Origin.REMOTE)

    with (
        serve(Verbose(), None) as srv,
        CooperationClient(srv.target, timeout_s=5) as c,
        pytest.raises(errors.MandateViolation) as info,
    ):
        c.exchange(b"anything")
    assert info.value.detail == "x" * 1024 and info.value.requirement == "MND-011"


@pytest.mark.req("RPC-008")
def test_a_full_page_is_read_whole_by_a_client_at_the_response_limit(peer: ScriptedPeer) -> None:
    """A GetLog page as full as the server sends -- MAX_PAGE_ENTRIES envelopes, MAX_PAGE_BYTES of them
    -- is over gRPC's default receive limit of 4 MiB with its framing; expect the server to send it and
    the client to read it whole, at the limit RPC-008 (a) names (4 MiB + 64 KiB), and a client left at
    its library's default to fail on it (why the SPEC names the number)."""
    envelope = b"x" * (MAX_PAGE_BYTES // MAX_PAGE_ENTRIES)

    class FullPages(ScriptedPeer):
        def get_log(self, from_seq: int, limit: int) -> tuple[list[bytes], int]:
            return [envelope] * limit, 5000

    assert MAX_RESPONSE_BYTES == 4 * 1024 * 1024 + 64 * 1024  # the number RPC-008 (a) gives
    with serve(FullPages(), None) as srv:
        with CooperationClient(srv.target, timeout_s=10) as c:
            page, head = c.get_log(0, 0)
        assert len(page) == MAX_PAGE_ENTRIES and sum(map(len, page)) == MAX_PAGE_BYTES and head == 5000
        with grpc.insecure_channel(srv.target) as ch, pytest.raises(grpc.RpcError) as info:
            service_pb2_grpc.CooperationServiceStub(ch).GetLog(service_pb2.GetLogRequest(), timeout=10)
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


@pytest.mark.parametrize(
    "garbage", [b"\x0f", b"\x0a\xff", b"\xff\xff\xff\xff"], ids=["bad-wire-type", "truncated", "bad-tag"]
)
@pytest.mark.req("RPC-007")
def test_malformed_request_bytes_are_invalid_argument_and_the_server_keeps_serving(
    channel: grpc.Channel, client: CooperationClient, peer: ScriptedPeer, garbage: bytes
) -> None:
    with pytest.raises(grpc.RpcError) as info:
        raw_exchange(channel)(garbage, timeout=5)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    error = from_rpc_error(cast(grpc.RpcError, info.value))  # typed: our ErrorInfo, a SPEC code
    assert isinstance(error, errors.RequestMalformed) and error.requirement == "RPC-007"
    assert peer.calls == []
    assert client.exchange(b"ok") == [b"ok"]


@pytest.mark.req("RPC-009")
def test_deadline_exceeded_surfaces_as_transport_error(server: RunningServer, peer: ScriptedPeer) -> None:
    with CooperationClient(server.target, timeout_s=0.2) as impatient, pytest.raises(TransportError) as info:
        impatient.exchange(b"slow")
    assert info.value.code is grpc.StatusCode.DEADLINE_EXCEEDED


class _Expired:
    """A gRPC context whose deadline has passed."""

    def time_remaining(self) -> float:
        return 0.0

    def abort(self, code: grpc.StatusCode, details: str) -> None:
        raise TransportError(code, details)


@pytest.mark.req("RPC-009")
def test_a_call_whose_deadline_passed_before_it_is_handled_is_not_handled() -> None:
    """RPC-009: expect DEADLINE_EXCEEDED and the handler never called (nothing recorded)."""
    called: list[int] = []
    with pytest.raises(TransportError) as info:
        _invoke(cast(grpc.ServicerContext, _Expired()), "Exchange", lambda: called.append(1))
    assert info.value.code is grpc.StatusCode.DEADLINE_EXCEEDED and called == []


def test_serve_refuses_a_port_in_use(server: RunningServer, peer: ScriptedPeer) -> None:
    with pytest.raises(RuntimeError):
        serve(peer, None, port=server.port)


# --- operations -----------------------------------------------------------------------------


@pytest.mark.req("RPC-010")
def test_health_reports_serving_for_the_server_and_each_service(channel: grpc.Channel) -> None:
    stub = health_pb2_grpc.HealthStub(channel)
    for name in ("", COOPERATION_SERVICE, ESCROW_SERVICE):
        reply = stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING, name


@pytest.mark.req("RPC-010")
def test_health_list_answers_every_service(channel: grpc.Channel) -> None:
    """Health declares List; it answers (not UNIMPLEMENTED with a logged traceback)."""
    reply = health_pb2_grpc.HealthStub(channel).List(health_pb2.HealthListRequest(), timeout=5)
    assert {"", COOPERATION_SERVICE, ESCROW_SERVICE} <= set(reply.statuses)
    assert {s.status for s in reply.statuses.values()} == {health_pb2.HealthCheckResponse.SERVING}


@pytest.mark.req("RPC-010")
def test_reflection_answers_v1_as_well_as_v1alpha(channel: grpc.Channel) -> None:
    """grpcurl asks grpc.reflection.v1 first; both versions list the services."""
    from grpc_reflection.v1alpha import reflection_pb2

    for service in ("grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"):
        call = channel.stream_stream(
            f"/{service}/ServerReflectionInfo",
            request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
        )
        (reply,) = list(call(iter([reflection_pb2.ServerReflectionRequest(list_services="*")]), timeout=5))
        names = {s.name for s in reply.list_services_response.service}
        assert {COOPERATION_SERVICE, ESCROW_SERVICE, "grpc.reflection.v1.ServerReflection"} <= names, service


@pytest.mark.req("RPC-010")
def test_reflection_lists_our_services(channel: grpc.Channel) -> None:
    """What `grpcurl -plaintext HOST:PORT list` and `describe` ask."""
    database = ProtoReflectionDescriptorDatabase(channel)
    services = set(database.get_services())
    assert {COOPERATION_SERVICE, ESCROW_SERVICE, "grpc.health.v1.Health"} <= services
    described = descriptor_pool.DescriptorPool(database).FindServiceByName(COOPERATION_SERVICE)
    assert [m.name for m in described.methods] == [
        "Exchange",
        "Negotiate",
        "GetLog",
        "GetCheckpoint",
        "GetAttestations",
        "Gossip",
    ]


def test_a_cooperation_only_server_does_not_offer_escrow(peer: ScriptedPeer) -> None:
    with serve(peer, None) as srv, EscrowClient(srv.target, timeout_s=5) as escrow:
        with pytest.raises(TransportError) as info:
            escrow.get_balance("did:key:z6Mkparty")
        assert info.value.code is grpc.StatusCode.UNIMPLEMENTED
        assert srv.services == (COOPERATION_SERVICE,)


# --- TLS --------------------------------------------------------------------------------------


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path)


@pytest.mark.parametrize("mutual", [False, True], ids=["tls", "mtls"])
def test_tls_round_trip(pki: Pki, peer: ScriptedPeer, mutual: bool) -> None:
    with (
        serve(peer, None, tls=pki.server(mutual=mutual)) as srv,
        CooperationClient(srv.target, tls=pki.client(with_certificate=mutual), timeout_s=5) as c,
    ):
        assert c.exchange(b"over tls") == [b"over tls"]
        with pytest.raises(errors.MandateViolation):
            c.exchange(b"reject:MANDATE_VIOLATION")


def test_mtls_refuses_a_client_without_a_certificate(pki: Pki, peer: ScriptedPeer) -> None:
    with (
        serve(peer, None, tls=pki.server(mutual=True)) as srv,
        CooperationClient(srv.target, tls=pki.client(with_certificate=False), timeout_s=5) as c,
        pytest.raises(TransportError) as info,
    ):
        c.exchange(b"let me in")
    assert info.value.code is grpc.StatusCode.UNAVAILABLE
    assert peer.calls == []


def test_tls_client_refuses_a_server_its_roots_do_not_sign(
    pki: Pki, peer: ScriptedPeer, tmp_path: Path
) -> None:
    (tmp_path / "other").mkdir()
    other = Pki(tmp_path / "other")  # a second CA, unknown to the server's
    with (
        serve(peer, None, tls=pki.server(mutual=False)) as srv,
        CooperationClient(srv.target, tls=other.client(with_certificate=False), timeout_s=5) as c,
        pytest.raises(TransportError) as info,
    ):
        c.exchange(b"hello?")
    assert info.value.code is grpc.StatusCode.UNAVAILABLE


def test_plaintext_client_cannot_talk_to_a_tls_server(pki: Pki, peer: ScriptedPeer) -> None:
    with (
        serve(peer, None, tls=pki.server(mutual=False)) as srv,
        CooperationClient(srv.target, timeout_s=5) as c,
        pytest.raises(TransportError),
    ):
        c.exchange(b"hello?")
    assert peer.calls == []


# --- trio ---------------------------------------------------------------------------------------


class CountingPeer(ScriptedPeer):
    """Records how many handler calls overlap: bridged handlers must never overlap."""

    def __init__(self) -> None:
        super().__init__()
        self.active = 0
        self.max_active = 0

    def exchange(self, envelope: bytes, context: Sequence[bytes]) -> list[bytes]:
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            time.sleep(0.0005)  # widen the window an unbridged handler would overlap in
            return super().exchange(envelope, context)
        finally:
            self.active -= 1


def test_bridged_handler_runs_on_the_trio_thread_while_the_loop_makes_many_calls() -> None:
    """One trio loop serves a bridged peer and makes 200 calls to it, 50 in flight; expect
    every answer right, every handler call on the trio thread, none overlapping."""
    peer = CountingPeer()
    results: dict[int, list[bytes]] = {}

    async def main() -> int:
        trio_thread = threading.get_ident()
        bridge = TrioHandlerBridge()
        with serve(bridge.cooperation(peer), None, max_workers=8) as srv:
            client = TrioCooperationClient(CooperationClient(srv.target, timeout_s=5))
            limiter = trio.CapacityLimiter(50)

            async def one(i: int) -> None:
                async with limiter:
                    results[i] = await client.exchange(b"stmt-%d" % i)

            async with trio.open_nursery() as nursery:
                for i in range(200):
                    nursery.start_soon(one, i)
            client.client.close()
        return trio_thread

    trio_thread = trio.run(main)
    assert results == {i: [b"stmt-%d" % i] for i in range(200)}
    assert peer.threads == {trio_thread}
    assert peer.max_active == 1


def test_trio_clients_cover_every_call(server: RunningServer) -> None:
    async def main() -> None:
        coop = TrioCooperationClient(CooperationClient(server.target, timeout_s=5))
        escrow = TrioEscrowClient(EscrowClient(server.target, timeout_s=5))
        assert await coop.exchange(b"a", [b"b"]) == [b"a", b"b"]
        assert await coop.get_log(1, 1) == ([b"log-1"], 3)
        assert await coop.get_checkpoint() == b"checkpoint"
        assert await coop.get_attestations(SUBJECT) == [
            [b"mandate", b"offer", b"accept", SUBJECT.encode()],
            [b"mandate", b"offer", b"accept", SUBJECT.encode() + b"2"],
        ]
        assert await coop.gossip([b"c"], []) == ([b"checkpoint", b"c"], [ForkProof(b"b", b"a")])
        assert await escrow.submit([b"m"]) == [b"bond_lock"]
        assert await escrow.get_ledger(2, 1) == ([b"ledger-2"], 41)
        assert await escrow.get_transcript(2, 1) == ([b"page-2-1-%d" % MAX_PAGE_BYTES], 41, 3)
        assert await escrow.get_balance(SUBJECT) == (900, 100, "credits", 41)
        with pytest.raises(errors.StaleReference):
            await coop.exchange(b"reject:STALE_REFERENCE")
        coop.client.close()
        escrow.client.close()

    trio.run(main)


def test_trio_deadline_surfaces_as_transport_error(server: RunningServer) -> None:
    async def main() -> None:
        client = TrioCooperationClient(CooperationClient(server.target, timeout_s=0.2))
        with pytest.raises(TransportError) as info:
            await client.exchange(b"slow")
        assert info.value.code is grpc.StatusCode.DEADLINE_EXCEEDED
        client.client.close()

    trio.run(main)


@pytest.fixture
def watched_server() -> Iterator[tuple[str, threading.Event, threading.Event]]:
    """A bare gRPC server whose Exchange waits (at most 5 s) for its caller to go away, and says so."""
    started, saw_cancel = threading.Event(), threading.Event()

    def exchange(request: bytes, context: grpc.ServicerContext) -> bytes:
        started.set()
        deadline = time.monotonic() + 5
        while context.is_active() and time.monotonic() < deadline:
            time.sleep(0.01)
        if not context.is_active():
            saw_cancel.set()
        return request

    handler = grpc.method_handlers_generic_handler(
        "a2acoop.v1.CooperationService", {"Exchange": grpc.unary_unary_rpc_method_handler(exchange)}
    )
    with ThreadPoolExecutor(2) as pool:
        srv = grpc.server(pool, handlers=[handler])
        port = srv.add_insecure_port("127.0.0.1:0")
        srv.start()
        yield f"127.0.0.1:{port}", started, saw_cancel
        srv.stop(0).wait()


def test_cancelling_the_trio_scope_cancels_the_rpc(
    watched_server: tuple[str, threading.Event, threading.Event],
) -> None:
    """A trio task gives up on a slow call after 0.3 s; expect the task free at once, the gRPC
    call cancelled, and the server to see its caller go away."""
    target, started, saw_cancel = watched_server
    calls: list[grpc.Future[Any]] = []

    async def main() -> float:
        with grpc.insecure_channel(target) as ch:
            stub = service_pb2_grpc.CooperationServiceStub(ch)

            def start(*args: Any, **kwargs: Any) -> grpc.Future[Any]:
                calls.append(stub.Exchange.future(*args, **kwargs))
                return calls[-1]

            begin = time.monotonic()
            with trio.move_on_after(0.3):
                await call_in_trio(start, service_pb2.ExchangeRequest(envelope=b"slow"), timeout=10)
                pytest.fail("the call should have been cancelled")
            return time.monotonic() - begin

    elapsed = trio.run(main)
    # An uncancelled call would take the server's 5 s; 3 s leaves a loaded machine room (1 s flaked).
    assert elapsed < 3.0
    assert calls[0].cancelled()
    assert started.is_set()
    assert saw_cancel.wait(5)


def test_uncancellable_call_runs_to_its_end(server: RunningServer, peer: ScriptedPeer) -> None:
    """cancellable=False: the task's scope fires, but the call completes and its result arrives."""

    async def main() -> list[bytes]:
        client = CooperationClient(server.target, timeout_s=5)
        got: list[bytes] = []
        release = threading.Timer(0.3, peer.release.set)
        release.start()
        with trio.move_on_after(0.1):
            resp = await call_in_trio(
                client.stub.Exchange.future,
                service_pb2.ExchangeRequest(envelope=b"slow"),
                timeout=5,
                cancellable=False,
            )
            got = list(resp.envelopes)
        release.join()
        client.close()
        return got

    assert trio.run(main) == [b"slow"]


def test_bridge_refuses_with_unavailable_after_the_trio_loop_ends(peer: ScriptedPeer) -> None:
    async def make_bridge() -> TrioHandlerBridge:
        return TrioHandlerBridge()

    bridge = trio.run(make_bridge)
    with serve(bridge.cooperation(peer), None) as srv, CooperationClient(srv.target, timeout_s=5) as c:
        with pytest.raises(TransportError) as info:
            c.exchange(b"anyone?")
        assert info.value.code is grpc.StatusCode.UNAVAILABLE
    assert peer.calls == []


# --- benchmark smoke ------------------------------------------------------------------------------


def test_bridge_benchmark_quick_run_ends_with_a_json_summary(capsys: pytest.CaptureFixture[str]) -> None:
    from benchmarks.__main__ import main

    assert main(["bridge", "--quick"]) == 0
    summary = json.loads(capsys.readouterr().out.rstrip("\n").splitlines()[-1])
    assert summary["benchmark"] == "bridge"
    for key in (
        "bridge_rps_conc32",
        "aio_rps_conc32",
        "sync_rps_seq",
        "sync_rps_conc32",
        "bridge_vs_aio",
        "sync_vs_aio_conc32",
    ):
        assert isinstance(summary[key], float) and summary[key] > 0, key


@pytest.mark.req("RPC-005")
def test_a_rejection_without_a_stated_origin_goes_out_as_the_callers_fault() -> None:
    """A verifier raises with no origin (it judged the request, not itself); expect ErrorInfo origin
    "remote" on the wire, never "unknown", so the caller learns the fault is in what it sent."""
    status = status_for(errors.Expired("old", requirement="TIM-001"))
    details = error_details_pb2.ErrorInfo()
    assert (
        status_pb2.Status.FromString(dict(status.trailing_metadata)[STATUS_DETAILS_KEY])
        .details[0]
        .Unpack(details)
    )
    assert details.metadata["origin"] == "remote"


@pytest.mark.req("TIM-009", "RPC-012")
def test_an_owed_deadline_refusal_carries_its_retry_hint_on_the_wire() -> None:
    """TIM-009's refusal says when to come back, as RPC-012's does: ErrorInfo ``retry_after_ms`` and a
    google.rpc.RetryInfo detail."""
    status = status_for(errors.IssuedInFuture("owed", requirement="TIM-009", retry_after_ms=20_001))
    details = status_pb2.Status.FromString(dict(status.trailing_metadata)[STATUS_DETAILS_KEY]).details
    info, retry = error_details_pb2.ErrorInfo(), error_details_pb2.RetryInfo()
    assert details[0].Unpack(info) and details[1].Unpack(retry)
    assert (info.reason, info.metadata["retry_after_ms"]) == ("ISSUED_IN_FUTURE", "20001")
    assert (retry.retry_delay.seconds, retry.retry_delay.nanos) == (20, 1_000_000)


@pytest.mark.req("RPC-006", "RPC-012")
def test_a_retry_hint_stays_beside_the_evidence_a_refusal_carries() -> None:
    """A refusal with a retry hint and an envelope it rests on: expect ErrorInfo, then RetryInfo, then
    the envelope (RPC-005 (a): a client picks envelopes by type URL) -- the envelopes once replaced
    every detail after the ErrorInfo, RetryInfo included, which RPC-012 (b) requires."""
    status = status_for(errors.RateLimited("busy", retry_after_ms=1_500, evidence=(b"envelope",)))
    details = status_pb2.Status.FromString(dict(status.trailing_metadata)[STATUS_DETAILS_KEY]).details
    info, retry = error_details_pb2.ErrorInfo(), error_details_pb2.RetryInfo()
    assert details[0].Unpack(info) and details[1].Unpack(retry)
    assert info.metadata["evidence"] == "1"
    assert (retry.retry_delay.seconds, retry.retry_delay.nanos) == (1, 500_000_000)
    assert [(d.type_url, d.value) for d in details[2:]] == [(ENVELOPE_TYPE_URL, b"envelope")]


class SizedEscrow(ScriptedEscrow):
    """Answers a Submit with a stand-in for its Mandate and how many envelopes it carried."""

    def submit(self, envelopes: Sequence[bytes]) -> list[bytes]:
        self.submitted.append(list(envelopes))
        return [b"mandate", b"n=%d" % len(envelopes)] if envelopes else []


@pytest.mark.req("RPC-008", "ESC-001")
def test_trio_escrow_client_splits_evidence_as_the_blocking_one_does() -> None:
    """Evidence too large for one request at the least receive limit goes as consecutive Submits, each
    within it, and the answers are joined with the escrow's Mandate once -- from the trio client too,
    which sent it as one request the escrow's transport may refuse (RESOURCE_EXHAUSTED), every time."""
    evidence = [bytes([i]) * 30_000 for i in range(5)]  # 150 kB: more than twice the least limit
    seen: dict[str, tuple[list[list[bytes]], list[bytes]]] = {}
    for how in ("blocking", "trio"):
        handler = SizedEscrow()
        running = serve(None, handler)
        try:
            with EscrowClient(running.target, timeout_s=5) as client:
                if how == "blocking":
                    answer = client.submit(evidence)
                else:
                    answer = trio.run(TrioEscrowClient(client).submit, evidence)
        finally:
            running.stop(grace=0)
        seen[how] = (handler.submitted, answer)
    batches, answer = seen["trio"]
    assert seen["blocking"] == seen["trio"]
    sent = [b for b in batches if b]
    assert len(sent) > 1 and [e for b in sent for e in b] == evidence
    assert all(sum(len(e) for e in b) <= 65_536 for b in sent)
    assert answer == [b"mandate", *(b"n=%d" % len(b) for b in sent)]
