"""A peer's words reach a terminal or a log as words (RPC-005 (b)): control characters, C1 controls
and format characters of text another party chose -- a refusal's message and detail, a statement's
reason or issuer -- are escaped by one helper, :func:`a2a_coop.protocol.errors.printable`, by a
server in the refusals it sends and by a client wherever it shows them."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2  # type: ignore[import-untyped]

from a2a_coop._proto.a2acoop.v1 import trade_pb2
from a2a_coop.cli import main
from a2a_coop.cli._runtime import configure_logging
from a2a_coop.cli.offline import _fields
from a2a_coop.protocol.errors import RequestInvalid, printable
from a2a_coop.transport import TransportError, serve
from a2a_coop.transport.errors import STATUS_DETAILS_KEY, status_for

# A clear screen, a window title with a bell, a forged log line, a C1 CSI and a right-to-left override.
HOSTILE = "\x1b[2J\x1b]0;owned\x07 then\nforged line\r\x9b31m\u202eevil"
RAW = ("\x1b", "\x07", "\n", "\r", "\x9b", "\u202e")


def _clean(text: str) -> bool:
    return not any(c in text for c in RAW)


def test_printable_escapes_every_character_a_terminal_acts_on() -> None:
    shown = printable(HOSTILE)
    assert _clean(shown) and shown.startswith("\\x1b[2J") and "\\u202eevil" in shown
    assert printable("plain words, did:key:z6Mk and ümlauts") == "plain words, did:key:z6Mk and ümlauts"


@pytest.mark.req("RPC-005")
def test_a_refusal_quoting_the_callers_words_escapes_them() -> None:
    """status_for cut the detail and the message to their bounds but sent the caller's control
    characters on as they came."""
    status = status_for(RequestInvalid(f"your reason {HOSTILE!s}"))
    assert _clean(status.details)
    sent = status_pb2.Status.FromString(dict(status.trailing_metadata)[STATUS_DETAILS_KEY])
    info = error_details_pb2.ErrorInfo()
    sent.details[0].Unpack(info)
    assert _clean(info.metadata["detail"]) and "\\x1b[2J" in info.metadata["detail"]


class _HostileEscrow:
    """An escrow whose every answer is a refusal in words of its choosing, escaped (a CoopError, as the
    reference sends it) or not (a bare status, as any server may send)."""

    def __init__(self, refusal: Exception) -> None:
        self.refusal = refusal

    def get_transcript(
        self, from_seq: int, limit: int, max_bytes: int, opening_from: int = 0
    ) -> tuple[list[bytes], int, int, int]:
        raise self.refusal

    def submit(self, envelopes: Sequence[bytes]) -> list[bytes]:
        raise self.refusal


@pytest.mark.req("RPC-005")
@pytest.mark.parametrize(
    "refusal",
    [TransportError(grpc.StatusCode.FAILED_PRECONDITION, HOSTILE), RequestInvalid(HOSTILE)],
    ids=["a bare status", "a typed refusal"],
)
def test_the_cli_shows_a_servers_refusal_escaped(
    refusal: Exception, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A server's status message reached the CLI's one line as it came: its escapes cleared the
    operator's screen, and its newline made a line of its own. Expect one line, escaped, whatever the
    server escaped itself."""
    with serve(None, _HostileEscrow(refusal)) as server:
        code = main(["escrow", "export", "--escrow", server.target, "--out", str(tmp_path / "t.json")])
    err = capsys.readouterr().err
    assert code != 0 and _clean(err.rstrip("\n")) and err.count("\n") == 1, repr(err)
    assert "\\x1b]0;owned\\x07 then\\nforged line" in err


def test_a_served_nodes_log_lines_escape_what_peers_sent(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    before = root.handlers[:]
    root.handlers.clear()
    try:
        configure_logging()
        logging.getLogger("a2a_coop.serve").info("refused %s: %s", "offer from z6Mk", HOSTILE)
    finally:
        root.handlers[:] = before
    err = capsys.readouterr().err
    assert _clean(err.rstrip("\n")) and err.count("\n") == 1 and "\\nforged line" in err, repr(err)


def test_inspect_shows_a_statements_text_escaped() -> None:
    """``inspect`` printed a string field as JSON, which escapes C0 controls but left a C1 CSI and a
    bidi override to the terminal."""
    lines = list(_fields(trade_pb2.Reject(reason=HOSTILE)))
    assert lines and all(_clean(line) for line in lines)
