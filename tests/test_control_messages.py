"""The test-only control service's refusals quote what its caller sent cut and escaped (RPC-005 (b)),
as every other service's do."""

from __future__ import annotations

import grpc
import pytest
from peers import make_peer

from a2a_coop._proto.a2acoop.v1 import control_pb2, control_pb2_grpc
from a2a_coop.runtime.control import control_service
from a2a_coop.testing import FixedClock, Party
from a2a_coop.transport import serve
from a2a_coop.transport.errors import MAX_DETAIL_CHARS, shown


@pytest.mark.req("RPC-005")
def test_the_control_service_quotes_a_callers_url_cut_and_escaped() -> None:
    """Initiate with a counterparty address of 40,000 characters led by a terminal's clear-screen
    sequence: the UNAVAILABLE message quoted it whole -- a 40 KB status message with raw control
    characters, past the trailers' limit. Expect UNAVAILABLE still, its message at most 2,048
    characters, and no control character in it (the escape shown as text)."""
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    peer = make_peer(alice, clock)
    url = "\x1b[2J\n" + "x" * 40_000
    request = control_pb2.InitiateRequest(
        counterparty_url=url, counterparty=bob.did, proposal=alice.proposal()
    )
    with (
        serve(peer, None, extra_servicers=[control_service(peer)]) as server,
        grpc.insecure_channel(server.target) as channel,
        pytest.raises(grpc.RpcError) as failed,
    ):
        control_pb2_grpc.ConformanceControlServiceStub(channel).Initiate(request, timeout=30)
    assert failed.value.code() is grpc.StatusCode.UNAVAILABLE, failed.value
    message = failed.value.details()
    assert message.startswith("counterparty: ") and "\\x1b[2J\\n" in message
    assert len(message) <= 2 * MAX_DETAIL_CHARS and message.isprintable()


def test_shown_escapes_every_control_character_and_cuts_after_escaping() -> None:
    assert shown("a\tb\x00c\u202ed") == "a\\tb\\x00c\\u202ed"
    assert shown("\n" * 10, limit=5) == "\\n\\n\\"
    assert shown("plain 'quoted' text") == "plain 'quoted' text"
