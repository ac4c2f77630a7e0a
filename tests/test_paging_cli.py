"""RPC-019 (b) from the command line: the bound on a paged read is the client's to choose, so every
command that pages a server takes it -- ``--max-pages N`` and ``--max-read-bytes SIZE`` on ``escrow
ledger``, ``escrow export``, ``resume``, ``offer``, ``claim`` and ``revoke`` (each syncs with the
escrow's ledger) -- checked as it is parsed, one line for a bad value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cli_run import one_line_error, run_cli
from test_paging import _at, _bounded, hostile  # noqa: F401  (hostile: the fixture)

from a2a_coop._proto.a2acoop.v1 import service_pb2
from a2a_coop.cli._runtime import page_limits
from a2a_coop.cli.main import build_parser
from a2a_coop.transport import PageLimits

pytestmark = pytest.mark.req("RPC-019")

# The commands that page an escrow, each with the arguments it needs to parse.
PAGING: dict[str, list[str]] = {
    "escrow ledger": ["--escrow", "127.0.0.1:9", "--out", "x.json"],
    "escrow export": ["--escrow", "127.0.0.1:9", "--out", "x.json"],
    "resume": ["--key", "k", "--mandate", "m", "--journal", "j", "--to", "127.0.0.1:9"],
    "offer": [
        "--key",
        "k",
        "--mandate",
        "m",
        "--journal",
        "j",
        "--to",
        "127.0.0.1:9",
        "--give",
        "a:1",
        "--want",
        "b:1",
    ],
    "claim": ["--key", "k", "--mandate", "m", "--journal", "j", "--to", "127.0.0.1:9", "--negotiation", "ab"],
    "revoke": [
        "--key",
        "k",
        "--mandate",
        "m",
        "--journal",
        "j",
        "--to",
        "127.0.0.1:9",
        "--negotiation",
        "ab",
    ],
}


def _endless(r: Any) -> Any:
    """Pages that each continue the ledger (or transcript) under a head always ten entries ahead."""
    if isinstance(r, service_pb2.GetLedgerRequest):
        return service_pb2.GetLedgerResponse(
            envelopes=[_at(r.from_seq + i) for i in range(4)], head_seq=r.from_seq + 10
        )
    return service_pb2.GetTranscriptResponse(
        envelopes=[_at(r.from_seq)], head_seq=r.from_seq + 10, next_seq=r.from_seq + 1
    )


@pytest.mark.parametrize("command", ["ledger", "export"])
def test_max_pages_stops_an_escrows_endless_pages_at_the_bound_chosen(
    hostile: Any,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    command: str,
) -> None:
    """Attack: an escrow whose pages never end (each continues the read under a head always ahead).
    With ``--max-pages 3`` the read stops after the third page -- the fourth asked is the one past the
    bound, where the default would have read 10,000 -- one line naming RPC-019, non-zero exit, no file."""
    target, server = hostile(_endless)
    out = tmp_path / "out.json"
    code, _, err = _bounded(
        lambda: run_cli(capsys, "escrow", command, "--escrow", target, "--out", out, "--max-pages", "3")
    )
    assert code != 0
    one_line_error(err, "RPC-019", "3 pages")
    assert server.calls == 4
    assert not out.exists()


@pytest.mark.parametrize("command", ["ledger", "export"])
def test_max_read_bytes_stops_a_read_past_the_size_chosen(
    hostile: Any,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    command: str,
) -> None:
    """``--max-read-bytes 2KiB``: the read stops once its envelopes pass 2,048 bytes, a few pages in."""
    target, server = hostile(_endless)
    out = tmp_path / "out.json"
    code, _, err = _bounded(
        lambda: run_cli(
            capsys, "escrow", command, "--escrow", target, "--out", out, "--max-read-bytes", "2KiB"
        )
    )
    assert code != 0
    one_line_error(err, "RPC-019", "2048 bytes")
    assert 1 < server.calls < 20
    assert not out.exists()


@pytest.mark.parametrize("command", sorted(PAGING))
def test_every_paging_command_takes_the_bound(command: str) -> None:
    """Each command parses both options into the bound its escrow client reads with; without them,
    the defaults (10,000 pages, 256 MiB)."""
    parser = build_parser()
    base = [*command.split(), *PAGING[command]]
    args = parser.parse_args([*base, "--max-pages", "7", "--max-read-bytes", "3MiB"])
    assert page_limits(args) == PageLimits(7, 3 * 1024 * 1024)
    assert page_limits(parser.parse_args(base)) == PageLimits()


@pytest.mark.parametrize("command", sorted(PAGING))
@pytest.mark.parametrize(
    ("option", "value", "says"),
    [
        ("--max-pages", "0", "is not a positive integer"),
        ("--max-pages", "-5", "is not a positive integer"),
        ("--max-pages", "many", "is not a positive integer"),
        ("--max-read-bytes", "0", "is not a positive size in bytes"),
        ("--max-read-bytes", "0MiB", "is not a positive size in bytes"),
        ("--max-read-bytes", "12XB", "is not a positive size in bytes"),
        ("--max-read-bytes", "1.5MiB", "is not a positive size in bytes"),
    ],
)
def test_a_bad_bound_is_one_line(
    capsys: pytest.CaptureFixture[str], command: str, option: str, value: str, says: str
) -> None:
    code, out, err = run_cli(capsys, *command.split(), *PAGING[command], f"{option}={value}")
    assert code == 2 and not out
    assert "Traceback" not in err
    (line,) = err.strip().splitlines()
    assert f"argument {option}" in line and says in line, line


def test_a_clients_own_bound_is_the_one_its_reads_keep(hostile: Any) -> None:  # noqa: F811
    """What ``resume``, ``offer``, ``claim`` and ``revoke`` rely on: the escrow client they open carries
    the command's bound (``page_limits``), and ``fetch_ledger`` and ``fetch_transcript`` (``resume``'s
    escrow sync) read with it when they are given none; a CooperationClient's ``log_pages`` and
    ``get_attestations`` likewise, a bound named in the call still first."""
    from a2a_coop.runtime.trade import fetch_ledger, fetch_transcript
    from a2a_coop.transport import CooperationClient, EscrowClient, PagingViolation

    target, server = hostile(_endless)
    with EscrowClient(target, page_limits=PageLimits(max_pages=3)) as escrow:
        for read in (fetch_ledger, fetch_transcript):
            server.calls = 0
            result = _bounded(lambda read=read: read(escrow))  # type: ignore[misc]
            assert isinstance(result, PagingViolation) and "3 pages" in str(result), result
            assert server.calls == 4
        server.calls = 0
        result = _bounded(lambda: fetch_ledger(escrow, PageLimits(max_pages=5)))
        assert isinstance(result, PagingViolation) and server.calls == 6

    def log(r: Any) -> Any:
        return service_pb2.GetLogResponse(
            envelopes=[_at(r.from_seq)], head_seq=r.from_seq + 10, next_seq=r.from_seq + 1
        )

    log_target, log_server = hostile(log)
    with CooperationClient(log_target, page_limits=PageLimits(max_pages=2)) as peer:
        result = _bounded(lambda: peer.read_log(0))
        assert isinstance(result, PagingViolation) and log_server.calls == 3
        log_server.calls = 0
        result = _bounded(lambda: peer.read_log(0, max_pages=4))
        assert isinstance(result, PagingViolation) and log_server.calls == 5
