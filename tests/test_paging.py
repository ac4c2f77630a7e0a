"""RPC-019: what a client takes of a server's pages. Each test puts a hostile server in this process (gRPC
on 127.0.0.1) that answers pages that never end, never advance, go back or are huge, and reads it with
the client's paging loop in a thread: a loop that never stops fails the test at its timeout, never hangs
it (the server stopped, the client's next call fails)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
import pytest
import trio
from cli_run import one_line_error, run_cli
from peers import make_peer

from a2a_coop._proto.a2acoop.v1 import envelope_pb2, service_pb2, service_pb2_grpc
from a2a_coop.protocol.envelope import decode_envelope
from a2a_coop.protocol.statements import decode_statement
from a2a_coop.runtime.peer import drive
from a2a_coop.runtime.trade import fetch_ledger, fetch_transcript, sync_with_escrow
from a2a_coop.testing import FixedClock, LocalEscrow, Party
from a2a_coop.transport import CooperationClient, EscrowClient, PageLimits, PagingViolation
from a2a_coop.transport.paging import DEFAULT_MAX_PAGES, DEFAULT_MAX_READ_BYTES
from a2a_coop.transport.trio_bridge import TrioCooperationClient

_CLOCK = FixedClock()
_ESCROW = Party("paging-escrow", _CLOCK)
_TEMPLATE = _ESCROW.mandate_vs
TIMEOUT_S = 30.0

pytestmark = pytest.mark.req("RPC-019")


def _at(seq: int) -> bytes:
    """An envelope of a statement at ``seq`` (its signature no longer verifies: a page's seqs are read
    before any check of what it holds)."""
    env = decode_envelope(_TEMPLATE.envelope)
    stmt = decode_statement(env.payload)
    stmt.header.seq = seq
    return envelope_pb2.Envelope(
        payload=stmt.SerializeToString(), payload_type=env.payload_type, signatures=env.signatures
    ).SerializeToString()


class Hostile(service_pb2_grpc.CooperationServiceServicer, service_pb2_grpc.EscrowServiceServicer):
    """Answers every read with what ``answer(request)`` says; counts the requests."""

    def __init__(self, answer: Callable[[Any], Any]) -> None:
        self.answer = answer
        self.calls = 0

    def _page(self, request: Any, context: Any) -> Any:
        self.calls += 1
        return self.answer(request)

    GetLog = GetAttestations = GetLedger = GetTranscript = _page

    def Submit(self, request: Any, context: Any) -> Any:
        return service_pb2.SubmitResponse(envelopes=[_ESCROW.mandate_vs.envelope])


@pytest.fixture
def hostile() -> Any:
    servers: list[grpc.Server] = []

    def start(answer: Callable[[Any], Any]) -> tuple[str, Hostile]:
        servicer = Hostile(answer)
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        service_pb2_grpc.add_CooperationServiceServicer_to_server(servicer, server)
        service_pb2_grpc.add_EscrowServiceServicer_to_server(servicer, server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        servers.append(server)
        return f"127.0.0.1:{port}", servicer

    yield start
    for server in servers:
        server.stop(0)


def _bounded(read: Callable[[], Any]) -> BaseException | Any:
    """``read()``'s exception (or result), run in a thread for at most TIMEOUT_S: past it the test fails
    (the server, stopped by the fixture, then ends the thread's read)."""
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(read())
        except BaseException as exc:  # the verdict, raised or not, goes to the test
            out.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(TIMEOUT_S)
    assert not thread.is_alive(), f"the read did not stop within {TIMEOUT_S} s"
    return out[0]


def _violation(result: Any, code: grpc.StatusCode, *needles: str) -> PagingViolation:
    assert isinstance(result, PagingViolation), result
    assert result.code is code, result
    for needle in ("RPC-019", *needles):
        assert needle in str(result), result
    return result


# --- GetLedger (fetch_ledger: `resume`'s escrow sync, `escrow ledger --escrow`) ------------------------


def test_getledger_pages_that_never_end_stop_at_the_page_bound(hostile: Any) -> None:
    """Attack: every page continues the ledger and names a head ten entries further: the read never
    ends. Defence: the read's page bound."""
    target, server = hostile(
        lambda r: service_pb2.GetLedgerResponse(envelopes=[_at(r.from_seq)], head_seq=r.from_seq + 10)
    )
    with EscrowClient(target) as client:
        result = _bounded(lambda: fetch_ledger(client, PageLimits(max_pages=50)))
    _violation(result, grpc.StatusCode.RESOURCE_EXHAUSTED, "50 pages")
    assert server.calls == 51


def test_getledger_pages_whose_seqs_repeat_are_refused_at_the_second(hostile: Any) -> None:
    """Attack: every page is the same entry (seq 0) under a head always ahead: the ledger read so far
    grew by one entry a page, for ever. Defence: a page's seqs continue the ledger read so far."""
    target, server = hostile(
        lambda r: service_pb2.GetLedgerResponse(envelopes=[_at(0)], head_seq=r.from_seq + 10)
    )
    with EscrowClient(target) as client:
        result = _bounded(lambda: fetch_ledger(client))
    _violation(result, grpc.StatusCode.OUT_OF_RANGE, "seq 0")
    assert server.calls == 2


def test_getledger_huge_pages_stop_at_the_byte_bound(hostile: Any) -> None:
    """Attack: full pages (1000 entries each), each continuing the ledger, for ever. Defence: the read's
    byte bound."""
    target, _ = hostile(
        lambda r: service_pb2.GetLedgerResponse(
            envelopes=[_at(r.from_seq + i) for i in range(1000)], head_seq=r.from_seq + 10_000
        )
    )
    with EscrowClient(target) as client:
        result = _bounded(lambda: fetch_ledger(client, PageLimits(max_bytes=1 << 20)))
    _violation(result, grpc.StatusCode.RESOURCE_EXHAUSTED, f"{1 << 20} bytes")


def test_getledger_an_empty_page_below_the_head_is_refused(hostile: Any) -> None:
    """Attack: a page of nothing while the head says five entries remain: the read ended there, a
    truncated ledger taken for the whole. Defence: an empty page ends the read only past the head."""
    target, _ = hostile(lambda r: service_pb2.GetLedgerResponse(envelopes=[], head_seq=5))
    with EscrowClient(target) as client:
        _violation(_bounded(lambda: fetch_ledger(client)), grpc.StatusCode.OUT_OF_RANGE, "empty page")


def test_getledger_a_head_that_goes_back_is_refused(hostile: Any) -> None:
    target, _ = hostile(
        lambda r: service_pb2.GetLedgerResponse(envelopes=[_at(r.from_seq)], head_seq=10 - r.from_seq)
    )
    with EscrowClient(target) as client:
        _violation(_bounded(lambda: fetch_ledger(client)), grpc.StatusCode.OUT_OF_RANGE, "head_seq went back")


# --- GetTranscript (fetch_transcript: `escrow export --escrow`) ----------------------------------------


def test_gettranscript_pages_that_never_end_stop_at_the_page_bound(hostile: Any) -> None:
    target, server = hostile(
        lambda r: service_pb2.GetTranscriptResponse(
            envelopes=[_at(r.from_seq)], head_seq=r.from_seq + 10, next_seq=r.from_seq + 1
        )
    )
    with EscrowClient(target) as client:
        result = _bounded(lambda: fetch_transcript(client, PageLimits(max_pages=50)))
    _violation(result, grpc.StatusCode.RESOURCE_EXHAUSTED)
    assert server.calls == 51


def test_gettranscript_a_next_seq_that_goes_back_is_refused(hostile: Any) -> None:
    """Attack: the second page's next_seq goes back: the read ended there, the transcript cut short.
    Defence: a next_seq not past its page's from_seq ends the read only past the head (or an empty
    ledger)."""
    target, _ = hostile(
        lambda r: service_pb2.GetTranscriptResponse(
            envelopes=[_at(r.from_seq)], head_seq=10, next_seq=5 if r.from_seq == 0 else 3
        )
    )
    with EscrowClient(target) as client:
        result = _bounded(lambda: fetch_transcript(client))
    _violation(result, grpc.StatusCode.OUT_OF_RANGE, "next_seq 3")


def test_gettranscript_a_next_seq_past_the_head_is_refused(hostile: Any) -> None:
    target, _ = hostile(
        lambda r: service_pb2.GetTranscriptResponse(envelopes=[_at(0)], head_seq=3, next_seq=1000)
    )
    with EscrowClient(target) as client:
        _violation(_bounded(lambda: fetch_transcript(client)), grpc.StatusCode.OUT_OF_RANGE, "next_seq 1000")


def test_gettranscript_huge_pages_stop_at_the_byte_bound(hostile: Any) -> None:
    target, _ = hostile(
        lambda r: service_pb2.GetTranscriptResponse(
            envelopes=[_at(0)] * 1000, head_seq=r.from_seq + 10, next_seq=r.from_seq + 1
        )
    )
    with EscrowClient(target) as client:
        result = _bounded(lambda: fetch_transcript(client, PageLimits(max_bytes=1 << 20)))
    _violation(result, grpc.StatusCode.RESOURCE_EXHAUSTED)


def test_an_honest_empty_or_one_entry_transcript_still_ends(hostile: Any) -> None:
    pages = {0: ([], 0, 0)}
    target, _ = hostile(
        lambda r: service_pb2.GetTranscriptResponse(
            envelopes=pages[0][0], head_seq=pages[0][1], next_seq=pages[0][2]
        )
    )
    with EscrowClient(target) as client:
        assert fetch_transcript(client) == []
        pages[0] = ([_at(0)], 0, 1)
        assert fetch_transcript(client) == [_at(0)]


# --- GetLog (CooperationClient.log_pages, read_log; revoke-key's --binding-from) ----------------------


def test_getlog_of_a_server_before_0_2_repeating_its_first_page_is_refused_at_the_second(
    hostile: Any,
) -> None:
    """Attack: a server that sets no next_seq answers every page with seq 0 and a head ahead: the read
    went on from seq 1 for 100,000 pages, each kept by read_log. Defence: a page's seqs are past the seq
    it was asked from."""
    target, server = hostile(lambda r: service_pb2.GetLogResponse(envelopes=[_at(0)], head_seq=10))
    with CooperationClient(target) as client:
        _violation(_bounded(client.read_log), grpc.StatusCode.OUT_OF_RANGE, "seq 0")
    assert server.calls == 2


def test_getlog_pages_that_never_end_stop_at_the_page_bound(hostile: Any) -> None:
    target, server = hostile(
        lambda r: service_pb2.GetLogResponse(head_seq=r.from_seq + 2, next_seq=r.from_seq + 1)
    )
    with CooperationClient(target) as client:
        result = _bounded(lambda: client.read_log(max_pages=50))
    _violation(result, grpc.StatusCode.RESOURCE_EXHAUSTED)
    assert server.calls == 51


def test_getlog_a_seq_at_or_past_next_seq_is_refused(hostile: Any) -> None:
    target, _ = hostile(
        lambda r: service_pb2.GetLogResponse(
            envelopes=[_at(r.from_seq + 5)], head_seq=100, next_seq=r.from_seq + 1
        )
    )
    with CooperationClient(target) as client:
        _violation(_bounded(client.read_log), grpc.StatusCode.OUT_OF_RANGE, "next_seq")


# --- GetAttestations (blocking and trio) --------------------------------------------------------------


def _same_token(r: Any) -> Any:
    return service_pb2.GetAttestationsResponse(
        bundles=[service_pb2.EvidenceBundle(envelopes=[_at(0)])], next_page_token="again"
    )


def test_getattestations_a_page_token_given_twice_is_refused(hostile: Any) -> None:
    """Attack: every page names the same next token: the read asked the same page for ever (up to
    1000 pages, each kept). Defence: a page token is never one given before in the read."""
    target, server = hostile(_same_token)
    with CooperationClient(target) as client:
        _violation(_bounded(lambda: client.get_attestations("")), grpc.StatusCode.OUT_OF_RANGE, "again")
    assert server.calls == 2


def test_getattestations_from_trio_a_page_token_given_twice_is_refused(hostile: Any) -> None:
    target, server = hostile(_same_token)
    with CooperationClient(target) as client:
        result = _bounded(lambda: trio.run(TrioCooperationClient(client).get_attestations, ""))
    _violation(result, grpc.StatusCode.OUT_OF_RANGE, "again")
    assert server.calls == 2


def test_getattestations_huge_pages_stop_at_the_byte_bound(hostile: Any) -> None:
    target, _ = hostile(
        lambda r: service_pb2.GetAttestationsResponse(
            bundles=[service_pb2.EvidenceBundle(envelopes=[_at(0)] * 1000)],
            next_page_token=f"t{int(r.page_token[1:] or 0) + 1}",
        )
    )
    with CooperationClient(target) as client:
        result = _bounded(lambda: client.get_attestations("", max_bytes=1 << 20))
    _violation(result, grpc.StatusCode.RESOURCE_EXHAUSTED)


# --- the CLI and the bound's defaults -----------------------------------------------------------------


@pytest.mark.parametrize("command", ["ledger", "export"])
def test_the_cli_says_a_hostile_escrows_pages_in_one_line(
    hostile: Any, capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str
) -> None:
    """`escrow ledger --escrow` (GetLedger) and `escrow export --escrow` (GetTranscript) of an escrow
    whose pages go back: one line naming RPC-019, a non-zero exit, no file written."""
    target, _ = hostile(
        lambda r: (
            service_pb2.GetLedgerResponse(envelopes=[_at(0)], head_seq=r.from_seq + 10)
            if isinstance(r, service_pb2.GetLedgerRequest)
            else service_pb2.GetTranscriptResponse(
                envelopes=[_at(0)], head_seq=10, next_seq=5 if r.from_seq == 0 else 3
            )
        )
    )
    out = tmp_path / "out.json"
    code, _, err = _bounded(lambda: run_cli(capsys, "escrow", command, "--escrow", target, "--out", out))
    assert code != 0
    one_line_error(err, "RPC-019", target)
    assert not out.exists()


def test_the_bound_has_its_documented_defaults() -> None:
    assert (DEFAULT_MAX_PAGES, DEFAULT_MAX_READ_BYTES) == (10_000, 256 * 1024 * 1024)
    assert PageLimits() == PageLimits(DEFAULT_MAX_PAGES, DEFAULT_MAX_READ_BYTES)
    with pytest.raises(ValueError):
        PageLimits(max_pages=0)


def test_resumes_escrow_sync_with_a_hostile_escrow_stops_and_loses_nothing(hostile: Any) -> None:
    """`resume`'s escrow sync (``sync_with_escrow``) of a contract whose escrow's address answers
    GetLedger with its first entry again and again: the sync stops at the second page with
    PagingViolation (the CLI's `resume` reports the negotiation stopped, one line), and the peer holds
    exactly what it held -- nothing relayed, nothing dropped."""
    clock = FixedClock()
    alice_party, bob_party = Party("alice", clock), Party("bob", clock)
    escrow = LocalEscrow(Party("escrow", clock), funds={alice_party.did: 1_000, bob_party.did: 1_000})
    alice = make_peer(alice_party, clock, context=[escrow.mandate])
    bob = make_peer(bob_party, clock, context=[escrow.mandate])
    offer = alice.propose(
        bob.did, alice_party.proposal(issuer_bond=100, audience_bond=100, escrow=escrow.did)
    )
    drive(alice, bob.exchange, offer)
    neg = alice.negotiation(offer.header.negotiation_id)
    assert neg.contract is not None
    held = dict(alice.verifier.statements)
    target, server = hostile(
        lambda r: service_pb2.GetLedgerResponse(envelopes=[_at(0)], head_seq=r.from_seq + 10)
    )
    with EscrowClient(target) as client:
        result = _bounded(lambda: sync_with_escrow(alice, bob, client, neg))  # type: ignore[arg-type]
    _violation(result, grpc.StatusCode.OUT_OF_RANGE)
    assert server.calls == 2
    assert dict(alice.verifier.statements) == held
