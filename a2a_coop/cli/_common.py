"""What every ``a2a-coop`` command shares: exit codes, the two user-facing failures, and argument types.

Exit codes (SPEC.md, CLI): 0 everything valid or done, 1 something invalid or
refused, 2 usage, I/O or network errors, 3 a trade did not finish (its state is
printed; ``resume`` carries it on), 130 interrupted, 141 output to a closed pipe (``| head``: the
reader left; 128 + SIGPIPE, as a shell reports a program that signal killed). A user mistake is
one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Final

EXIT_OK: Final = 0
EXIT_INVALID: Final = 1
EXIT_USAGE: Final = 2
EXIT_UNFINISHED: Final = 3
EXIT_INTERRUPTED: Final = 130
EXIT_BROKEN_PIPE: Final = 141
# How long `serve --escrow` waits at start for an escrow nothing answers at yet (--escrow-wait): one
# started at the same moment needs about a second to listen, more on a loaded machine.
ESCROW_START_WAIT_MS: Final = 10_000
SQLITE_HEADER: Final = b"SQLite format 3\x00"  # the first bytes of a journal (an SQLite database)
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


class UsageError(Exception):
    """A user mistake (missing file, unreadable JSON, bad option): exit 2 with one line on stderr."""


class OutOfReach(UsageError):
    """Nothing answered at an address given (down, or taking the connection and not answering): a run that
    can do part of its work without that server (`resume` without its escrow) goes on; else exit 2."""


class Invalid(Exception):
    """Something the user gave us does not verify or was refused: exit 1 with one line."""


def parse_time(text: str) -> int:
    """``now``, Unix milliseconds, or an ISO 8601 time (UTC if no offset) -> Unix ms."""
    if text == "now":
        return time.time_ns() // 1_000_000
    if text.isdecimal():
        return int(text)
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not 'now', Unix milliseconds or an ISO 8601 time"
        ) from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return (dt - _EPOCH) // timedelta(milliseconds=1)


def iso(ms: int) -> str:
    """Unix ms as ISO 8601 UTC with milliseconds, e.g. 2026-01-01T00:00:00.000Z; a time past year
    9999 (a statement may expire as late as 2^53 - 1 ms) as its ms count."""
    try:
        dt = _EPOCH + timedelta(milliseconds=ms)
    except OverflowError:
        return f"{ms} ms after 1970"
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def short(did: str) -> str:
    """A did:key shortened for log lines and tables."""
    body = did.removeprefix("did:key:")
    return f"{body[:8]}...{body[-4:]}" if len(body) > 14 else did


def quiet_grpc() -> None:
    """gRPC's C core logs failures (a port in use) on stderr itself, besides raising: keep errors to
    our one line unless the user asked for its logs (children inherit the setting)."""
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")


MAX_INTEGER: Final = 2**53 - 1  # the largest integer a statement holds (STM-013, BDY-015)


def _at_most_max(text: str, value: int) -> int:
    """``value``, unless it is beyond what a statement holds: a protobuf field past 2^64 raised
    ValueError (a traceback), and one past 2^53 - 1 is refused by our own checks later anyway."""
    if value > MAX_INTEGER:
        raise argparse.ArgumentTypeError(
            f"{text!r} is more than 2^53 - 1 ({MAX_INTEGER}), the largest integer a statement holds"
        )
    return value


def positive(text: str) -> int:
    if not text.isdecimal() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return _at_most_max(text, int(text))


_BYTE_UNITS: Final = {"": 1, "B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}


def byte_size(text: str) -> int:
    """A positive number of bytes: ``1048576``, ``64KiB``, ``256MiB``, ``1GiB`` (binary units)."""
    m = re.fullmatch(r"(\d+)\s*(B|KiB|MiB|GiB)?", text.strip())
    if m is None or int(m[1]) == 0:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a positive size in bytes (e.g. 1048576, 64KiB, 256MiB or 1GiB)"
        )
    return _at_most_max(text, int(m[1]) * _BYTE_UNITS[m[2] or ""])


def non_negative(text: str) -> int:
    if not text.isdecimal():
        raise argparse.ArgumentTypeError(f"{text!r} is not a non-negative integer")
    return _at_most_max(text, int(text))


def trust_score(text: str) -> float:
    """A trust threshold: a score between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a score between 0 and 1")
    return value


def port_number(text: str) -> int:
    """A TCP port, 0..65535 (0: any free port). Larger numbers would wrap silently in the resolver."""
    if not text.isdecimal() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0..65535)")
    return int(text)


def address(text: str) -> str:
    """A gRPC address to dial: HOST:PORT, an IPv6 host in brackets (``[::1]:7001``), port 1..65535.

    gRPC's resolver would dial a missing port as 443 and wrap a port above 65535 silently, so both
    would fail later with a connection error naming another address than the one given.
    """
    host, sep, port = text.rpartition(":")
    bracketed = host.startswith("[") and host.endswith("]") and len(host) > 2
    if (
        not sep
        or not host
        or not (port.isascii() and port.isdigit())
        or not 0 < int(port) < 65536
        or (":" in host and not bracketed)
    ):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not HOST:PORT with a port 1..65535 (e.g. 127.0.0.1:7001 or [::1]:7001)"
        )
    return text


_UNITS_MS: Final = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def parse_duration(text: str) -> int:
    """``500ms``, ``30s``, ``5m``, ``1h``, ``2d`` (a bare number is seconds) -> milliseconds."""
    m = re.fullmatch(r"(\d+)(ms|s|m|h|d)?", text.strip())
    if m is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 30s, 5m, 1h or 2d")
    if int(m[1]) == 0:
        raise argparse.ArgumentTypeError(f"{text!r}: a duration must be more than 0 (e.g. 500ms, 30s)")
    return _at_most_max(text, int(m[1]) * _UNITS_MS[m[2] or "s"])


def utf8_text(text: str) -> str:
    """Free text that goes into a statement or onto the wire (a category, a reason, a host name).
    Bytes of the command line that are not UTF-8 arrive as lone surrogates, which protobuf and
    gRPC cannot encode: refused here, in one line, instead of a UnicodeEncodeError traceback later
    (file names are not text: they keep such bytes)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise argparse.ArgumentTypeError(f"{text!r} is not UTF-8 text") from None
    return text


def item_spec(text: str) -> tuple[str, int]:
    category, sep, value = utf8_text(text).rpartition(":")
    if not sep or not category or not value.isdecimal():
        raise argparse.ArgumentTypeError(f"{text!r} is not CATEGORY:VALUE (e.g. code-review:500)")
    return category, _at_most_max(text, int(value))


def funding(text: str) -> tuple[str, int]:
    did, sep, amount = text.rpartition("=")
    if not sep or not did or not amount.isdecimal() or int(amount) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not DID=AMOUNT with a positive amount")
    return did, _at_most_max(text, int(amount))


def strategy_spec(text: str) -> str:
    m = re.fullmatch(r"withhold-every-Nth:(\d+)", text)
    if text != "honest" and (m is None or int(m[1]) < 1):
        raise argparse.ArgumentTypeError(f"{text!r}: use 'honest' or 'withhold-every-Nth:N' (N >= 1)")
    return text
