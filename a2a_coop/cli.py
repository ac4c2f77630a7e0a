"""The ``a2a-coop`` command: keys, offline verification, and running peers and escrows.

Offline: ``keygen``, ``verify``, ``inspect``, ``version``. Networked (the
implementations live in :mod:`a2a_coop.cli_runtime`, loaded only when one of
them runs): ``mandate``, ``serve``, ``escrow serve|ledger|export|audit``, ``offer``,
``claim``, ``revoke``, ``status``, ``export``, and ``demo`` (an escrow and two peers as separate
processes on loopback; ``demo --offline`` runs the in-process protocol demo).

Exit codes (SPEC.md, CLI): 0 everything valid, 1 something invalid (an
envelope, a vector that did not come out as expected, a bad equivocation
proof), 2 usage or I/O errors. User mistakes get a one-line message on stderr,
never a traceback.

``verify`` reads, per file:

* a binary protobuf Envelope;
* a DSSE JSON envelope (``{"payload", "payloadType", "signatures"}``);
* a JSON transcript ``{"envelopes": [DSSE JSON or base64 strings], "now_ms"?, "mode"?}``
  (or a bare JSON list of envelopes);
* a vector file (``{"testGroups": ...}``, conformance/vectors/README.md): every
  vector is run and compared with its expected result;
* an equivocation proof (``{"schema": "a2a-coop-equivocation-proof/1", "first", "second"}``).

The envelopes of all non-vector files are verified in order as one transcript
by one :class:`~a2a_coop.verifier.Verifier`. Without ``--at`` this is offline
evidence checking: freshness is not applied (TIM-005).

This module is an adapter: it reads files and the clock, and draws keys from
the OS; the library it calls does none of that. It imports no transport code
(grpc, trio) until a networked command runs, so ``verify`` starts fast.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import os
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, TextIO

from a2a_coop import __version__
from a2a_coop.envelope import STATEMENT_PAYLOAD_TYPE, decode_envelope, envelope_from_json, statement_digest
from a2a_coop.errors import CoopError, MalformedEnvelope
from a2a_coop.statements import PROTOCOL_VERSION, Statement, VerifiedStatement, verify_statement
from a2a_coop.vectors import Vector, VectorFormatError, VectorOutcome, parse_vector_file, run_vectors

EXIT_OK: Final = 0
EXIT_INVALID: Final = 1
EXIT_USAGE: Final = 2
PROOF_SCHEMA: Final = "a2a-coop-equivocation-proof/1"
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


class UsageError(Exception):
    """A user mistake (missing file, unreadable JSON, bad option): exit 2 with one line on stderr."""


# --- reading inputs ------------------------------------------------------------------------


@dataclass
class _Item:
    """One envelope of the transcript: bytes, or the error its JSON form already caused."""

    file: str
    index: int  # 0-based position within its file
    data: bytes
    error: CoopError | None = None


@dataclass
class _Inputs:
    items: list[_Item] = field(default_factory=list)
    vector_files: list[tuple[str, list[Vector]]] = field(default_factory=list)
    proofs: list[tuple[str, Any]] = field(default_factory=list)
    now_ms: set[int] = field(default_factory=set)
    complete: bool = False


def _read_bytes(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None


def _read_json(path: str, data: bytes) -> Any | None:
    """The decoded JSON document, or None if the file does not look like JSON at all."""
    if data.lstrip()[:1] not in (b"{", b"["):
        return None
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path}: unreadable JSON: {exc}") from None


def _envelope_item(path: str, index: int, obj: Any) -> _Item:
    """A transcript entry: a DSSE JSON object or a base64 string of envelope bytes."""
    if isinstance(obj, str):
        try:
            return _Item(path, index, base64.b64decode(obj, validate=True))
        except (binascii.Error, ValueError):
            err = MalformedEnvelope("transcript entry is not valid base64", requirement="ENV-004")
            return _Item(path, index, b"", err)
    try:
        return _Item(path, index, envelope_from_json(obj))
    except CoopError as exc:
        return _Item(path, index, b"", exc)


def _load(paths: Sequence[str]) -> _Inputs:
    out = _Inputs()
    for path in paths:
        data = _read_bytes(path)
        doc = _read_json(path, data)
        if doc is None:
            out.items.append(_Item(path, 0, data))
        elif isinstance(doc, dict) and "testGroups" in doc:
            try:
                out.vector_files.append((path, parse_vector_file(doc, Path(path).stem)))
            except VectorFormatError as exc:
                raise UsageError(f"{path}: {exc}") from None
        elif isinstance(doc, dict) and doc.get("schema") == PROOF_SCHEMA:
            out.proofs.append((path, doc))
        elif isinstance(doc, list) or (isinstance(doc, dict) and "envelopes" in doc):
            _load_transcript(path, doc, out)
        elif isinstance(doc, dict) and "payloadType" in doc:
            out.items.append(_envelope_item(path, 0, doc))
        else:
            raise UsageError(f"{path}: JSON is neither an envelope, a transcript, a vector file nor a proof")
    if len(out.now_ms) > 1:
        raise UsageError("transcripts name different now_ms; pass --at to choose one")
    return out


def _load_transcript(path: str, doc: Any, out: _Inputs) -> None:
    envelopes = doc if isinstance(doc, list) else doc["envelopes"]
    if not isinstance(envelopes, list):
        raise UsageError(f"{path}: 'envelopes' must be a list")
    if isinstance(doc, dict):
        now_ms, mode = doc.get("now_ms"), doc.get("mode", "sparse")
        if now_ms is not None:
            if not isinstance(now_ms, int) or isinstance(now_ms, bool) or now_ms < 0:
                raise UsageError(f"{path}: now_ms must be a non-negative integer or null")
            out.now_ms.add(now_ms)
        if mode not in ("sparse", "complete"):
            raise UsageError(f"{path}: mode must be 'sparse' or 'complete'")
        out.complete |= mode == "complete"
    out.items.extend(_envelope_item(path, i, e) for i, e in enumerate(envelopes))


# --- time --------------------------------------------------------------------------------


def parse_time(text: str) -> int:
    """``now``, Unix milliseconds, or an ISO 8601 time (UTC if no offset) -> Unix ms."""
    if text == "now":
        return time.time_ns() // 1_000_000
    if text.isdigit():
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
    """Unix ms as ISO 8601 UTC with milliseconds, e.g. 2026-01-01T00:00:00.000Z."""
    dt = _EPOCH + timedelta(milliseconds=ms)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def _short(did: str) -> str:
    body = did.removeprefix("did:key:")
    return f"{body[:8]}...{body[-4:]}" if len(body) > 14 else did


# --- verify ------------------------------------------------------------------------------


def _statement_json(item: _Item, vs: VerifiedStatement) -> dict[str, Any]:
    return {
        "file": item.file,
        "index": item.index,
        "seq": vs.header.seq,
        "issuer": vs.issuer,
        "body": vs.body,
        "digest": vs.digest.hex(),
    }


def _transcript_report(inputs: _Inputs, now_ms: int | None, complete: bool) -> dict[str, Any]:
    """Verify every envelope, in order, with one Verifier; stop at the first failure."""
    from a2a_coop.verifier import Verifier

    verifier = Verifier(complete_chains=complete)
    statements: list[dict[str, Any]] = []
    error: dict[str, Any] | None = None
    for item in inputs.items:
        try:
            if item.error is not None:
                raise item.error
            statements.append(_statement_json(item, verifier.accept(item.data, now_ms)))
        except CoopError as exc:
            error = {
                "code": exc.code,
                "requirement": exc.requirement,
                "detail": exc.detail,
                "file": item.file,
                "envelope": item.index + 1,
            }
            break
    return {
        "result": "valid" if error is None else "invalid",
        "mode": "complete" if complete else "sparse",
        "now_ms": now_ms,
        "statements": statements,
        "error": error,
    }


def _write_transcript(report: dict[str, Any], out: TextIO) -> None:
    for s in report["statements"]:
        out.write(f"{s['seq']:>4} {_short(s['issuer'])} {s['body']:<14} {s['digest'][:16]}\n")
    error = report["error"]
    if error is None:
        now_ms = report["now_ms"]
        fresh = f"at {iso(now_ms)}" if now_ms is not None else "off (offline evidence)"
        out.write(
            f"valid: {len(report['statements'])} statements ({report['mode']} chains, freshness {fresh})\n"
        )
        return
    req = f" [{error['requirement']}]" if error["requirement"] else ""
    out.write(
        f"invalid: {error['code']}{req} {error['detail']} (envelope {error['envelope']} of {error['file']})\n"
    )


def _vector_report(path: str, outcomes: list[VectorOutcome]) -> dict[str, Any]:
    return {
        "file": path,
        "total": len(outcomes),
        "passed": sum(o.passed for o in outcomes),
        "failures": [
            {
                "tcId": o.vector.tc_id,
                "name": o.vector.name,
                "comment": o.vector.comment,
                "expected": o.vector.expected,
                "actual": o.actual,
                "requirement": o.requirement,
                "detail": o.detail,
            }
            for o in outcomes
            if not o.passed
        ],
    }


def _proof_report(path: str, doc: Any) -> dict[str, Any]:
    from a2a_coop.chain import EquivocationProof, verify_equivocation_proof

    try:
        first, second = envelope_from_json(doc["first"]), envelope_from_json(doc["second"])
        issuer = verify_equivocation_proof(EquivocationProof(first, second))
    except (KeyError, TypeError) as exc:
        return {"file": path, "valid": False, "detail": f"proof needs 'first' and 'second' envelopes ({exc})"}
    except (CoopError, ValueError) as exc:
        return {"file": path, "valid": False, "detail": str(exc)}
    seqs = sorted(verify_statement(e).header.seq for e in (first, second))
    return {"file": path, "valid": True, "issuer": issuer, "seqs": seqs}


def _cmd_verify(args: argparse.Namespace, out: TextIO) -> int:
    inputs = _load(args.files)
    now_ms: int | None = args.at if args.at is not None else next(iter(inputs.now_ms), None)
    vectors = [_vector_report(path, run_vectors(vs)) for path, vs in inputs.vector_files]
    proofs = [_proof_report(path, doc) for path, doc in inputs.proofs]
    transcript = None
    if inputs.items or not (vectors or proofs):
        transcript = _transcript_report(inputs, now_ms, args.complete or inputs.complete)
    ok = (
        all(not v["failures"] for v in vectors)
        and all(p["valid"] for p in proofs)
        and (transcript is None or transcript["result"] == "valid")
    )
    if args.json:
        report = {
            "result": "valid" if ok else "invalid",
            "transcript": transcript,
            "vectors": vectors,
            "proofs": proofs,
        }
        out.write(json.dumps(report, indent=2) + "\n")
        return EXIT_OK if ok else EXIT_INVALID
    for v in vectors:
        out.write(f"{v['file']}: {v['passed']}/{v['total']} vectors as expected\n")
        for f in v["failures"]:
            req = f" [{f['requirement']}]" if f["requirement"] else ""
            detail = f" {f['detail']}" if f["detail"] else ""
            got = f"expected {f['expected']}, got {f['actual']}{req}{detail}"
            out.write(f"  FAIL {f['name']} ({f['comment']}): {got}\n")
    for p in proofs:
        if p["valid"]:
            seqs = " and ".join(str(s) for s in p["seqs"])
            out.write(f"{p['file']}: valid equivocation proof: {p['issuer']} signed conflicting seq {seqs}\n")
        else:
            out.write(f"{p['file']}: invalid equivocation proof: {p['detail']}\n")
    if transcript is not None:
        _write_transcript(transcript, out)
    return EXIT_OK if ok else EXIT_INVALID


# --- inspect -----------------------------------------------------------------------------


def _inspect_envelope(data: bytes, label: str, out: TextIO) -> None:
    from google.protobuf import text_format
    from google.protobuf.message import DecodeError

    out.write(f"{label} ({len(data)} bytes)\n")
    try:
        verify_statement(data)
        out.write("  verify:       ok (stateless checks; mandates, chains and state need `verify`)\n")
    except CoopError as exc:
        out.write(f"  verify:       FAILED {exc}\n")
    try:
        env = decode_envelope(data, max_bytes=sys.maxsize)
    except CoopError as exc:
        out.write(f"  not an envelope: {exc.detail}\n")
        return
    out.write(f"  payload type: {env.payload_type!r}\n")
    for s in env.signatures:
        out.write(f"  signature:    keyid {s.keyid}\n                {len(s.sig)} bytes {s.sig.hex()}\n")
    if not env.signatures:
        out.write("  signature:    (none)\n")
    out.write(f"  digest:       {statement_digest(env.payload, env.payload_type).hex()}\n")
    stmt = Statement()
    try:
        stmt.ParseFromString(env.payload)
    except (DecodeError, RuntimeWarning, ValueError) as exc:
        out.write(f"  payload:      {len(env.payload)} bytes, not a Statement ({exc})\n")
        return
    h = stmt.header

    def when(ms: int) -> str:
        return f"{iso(ms)} ({ms})" if ms else "(unset)"

    rows = [
        ("version", str(h.version)),
        ("issuer", h.issuer or "(empty)"),
        ("audience", h.audience or "(public)"),
        ("seq", str(h.seq)),
        ("prev", h.prev.hex() or "(none)"),
        ("issued_at", when(h.issued_at_ms)),
        ("not_before", when(h.not_before_ms)),
        ("expires_at", when(h.expires_at_ms)),
        ("nonce", h.nonce.hex() or "(empty)"),
        ("negotiation_id", h.negotiation_id.hex() or "(none)"),
        ("mandate", h.mandate.hex() or "(none)"),
    ]
    out.write("  header:\n")
    for name, value in rows:
        out.write(f"    {name + ':':<16}{value}\n")
    for i, ref in enumerate(h.refs):
        out.write(f"    {f'refs[{i}]:':<16}{ref.hex()}\n")
    body = stmt.WhichOneof("body")
    if body is None:
        out.write("  body:         (none this version knows)\n")
        return
    out.write(f"  body:         {body}\n")
    text = text_format.MessageToString(getattr(stmt, body), as_utf8=True)
    for line in text.splitlines():
        out.write(f"    {line}\n")


def _cmd_inspect(args: argparse.Namespace, out: TextIO) -> int:
    for path in args.files:
        data = _read_bytes(path)
        doc = _read_json(path, data)
        if doc is None:
            _inspect_envelope(data, f"envelope 1 of {path}", out)
        elif isinstance(doc, dict) and "testGroups" in doc:
            try:
                vectors = parse_vector_file(doc, Path(path).stem)
            except VectorFormatError as exc:
                raise UsageError(f"{path}: {exc}") from None
            for v in vectors:
                out.write(f"== {v.name}: {v.comment} (expected {v.expected}, {v.mode} chains)\n")
                for i, data in enumerate(v.envelopes):
                    _inspect_envelope(data, f"envelope {i} of tcId {v.tc_id}", out)
        elif isinstance(doc, dict) and doc.get("schema") == PROOF_SCHEMA:
            for key in ("first", "second"):
                item = _envelope_item(path, 0, doc.get(key))
                _inspect_item(item, f"{key} envelope of {path}", out)
        else:
            for item in _load([path]).items:
                _inspect_item(item, f"envelope {item.index + 1} of {item.file}", out)
    return EXIT_OK


def _inspect_item(item: _Item, label: str, out: TextIO) -> None:
    if item.error is not None:
        out.write(f"{label}\n  not an envelope: {item.error}\n")
    else:
        _inspect_envelope(item.data, label, out)


# --- keygen, demo, version -------------------------------------------------------------------


def _cmd_keygen(args: argparse.Namespace, out: TextIO) -> int:
    from a2a_coop.keyfile import generate_keypair, key_file_document, write_key_file

    key = generate_keypair()
    if args.out is None:
        out.write(json.dumps(key_file_document(key), indent=2) + "\n")
        return EXIT_OK
    try:
        write_key_file(args.out, key)
    except FileExistsError:
        raise UsageError(f"{args.out} exists; refusing to overwrite a key file") from None
    except OSError as exc:
        raise UsageError(f"cannot write {args.out}: {exc.strerror or exc}") from None
    out.write(key.did + "\n")
    return EXIT_OK


def _cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    if not args.offline:
        _quiet_grpc()
        from a2a_coop.demo_processes import run_process_demo

        try:
            return run_process_demo(args.out, trades=args.trades, out=out)
        except KeyboardInterrupt:  # the servers were stopped on the way out
            print("a2a-coop: demo interrupted", file=sys.stderr)
            return 130
    from a2a_coop.demo import run_demo

    try:
        result = run_demo(args.out, trades=args.trades)
    except OSError as exc:
        raise UsageError(f"cannot write to {args.out}: {exc.strerror or exc}") from None
    report = result.report
    out.write(
        f"{result.trades} trades ({result.breaches} breached): {len(report.statements)} statements "
        f"written to {result.transcript_path}\n"
    )
    if report.error is not None:
        out.write(f"invalid: {report.error} (envelope {report.failed_index})\n")
        return EXIT_INVALID
    out.write(f"verified offline: valid. Check it yourself: a2a-coop verify {result.transcript_path}\n")
    return EXIT_OK


def _quiet_grpc() -> None:
    """gRPC's C core logs failures (a port in use) on stderr itself, besides raising: keep errors to
    our one line unless the user asked for its logs (children inherit the setting)."""
    os.environ.setdefault("GRPC_VERBOSITY", "NONE")


def _runtime(name: str) -> Any:
    """The networked command ``name``, loaded (with the transport) only when it runs."""

    def command(args: argparse.Namespace, out: TextIO) -> int:
        _quiet_grpc()
        from a2a_coop import cli_runtime

        return cli_runtime.run(cli_runtime.COMMANDS[name], args, out)

    return command


def _cmd_version(args: argparse.Namespace, out: TextIO) -> int:
    out.write(f"a2a-coop {__version__} (protocol version {PROTOCOL_VERSION}, {STATEMENT_PAYLOAD_TYPE})\n")
    return EXIT_OK


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return int(text)


def _non_negative(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a non-negative integer")
    return int(text)


_UNITS_MS: Final = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def parse_duration(text: str) -> int:
    """``500ms``, ``30s``, ``5m``, ``1h``, ``2d`` (a bare number is seconds) -> milliseconds."""
    m = re.fullmatch(r"(\d+)(ms|s|m|h|d)?", text.strip())
    if m is None or int(m[1]) == 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 30s, 5m, 1h or 2d")
    return int(m[1]) * _UNITS_MS[m[2] or "s"]


def _item_spec(text: str) -> tuple[str, int]:
    category, sep, value = text.rpartition(":")
    if not sep or not category or not value.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not CATEGORY:VALUE (e.g. code-review:500)")
    return category, int(value)


def _funding(text: str) -> tuple[str, int]:
    did, sep, amount = text.rpartition("=")
    if not sep or not did or not amount.isdigit() or int(amount) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not DID=AMOUNT with a positive amount")
    return did, int(amount)


def _strategy_spec(text: str) -> str:
    m = re.fullmatch(r"withhold-every-Nth:(\d+)", text)
    if text != "honest" and (m is None or int(m[1]) < 1):
        raise argparse.ArgumentTypeError(f"{text!r}: use 'honest' or 'withhold-every-Nth:N' (N >= 1)")
    return text


def _add_identity(p: argparse.ArgumentParser) -> None:
    p.add_argument("--key", type=Path, required=True, help="the agent's key file (a2a-coop keygen)")
    p.add_argument("--mandate", type=Path, required=True, help="its mandate (a2a-coop mandate)")
    p.add_argument("--journal", type=Path, required=True, help="its journal (SQLite; created if new)")


def _add_listen(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=_non_negative, default=0, help="port to bind (default 0: any free port)")
    g = p.add_argument_group(
        "TLS (default: plaintext)",
        "--tls-cert and --tls-key serve TLS; --tls-client-ca adds mutual TLS: clients without a "
        "certificate signed by that CA are refused.",
    )
    g.add_argument("--tls-cert", type=Path, metavar="PEM", help="the server's certificate chain (PEM)")
    g.add_argument("--tls-key", type=Path, metavar="PEM", help="its private key (PEM; needs --tls-cert)")
    g.add_argument(
        "--tls-client-ca",
        type=Path,
        metavar="PEM",
        help="require client certificates signed by this CA (mutual TLS)",
    )


def _add_dial_tls(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "TLS (default: plaintext)",
        "Any of these options dials with TLS, for every address the command dials. --tls-cert and "
        "--tls-key present a client certificate, for servers that require mutual TLS.",
    )
    g.add_argument(
        "--tls-ca",
        type=Path,
        metavar="PEM",
        help="the CA that signs the servers' certificates (PEM; default: the system roots)",
    )
    g.add_argument("--tls-cert", type=Path, metavar="PEM", help="client certificate chain (PEM, mutual TLS)")
    g.add_argument("--tls-key", type=Path, metavar="PEM", help="its private key (PEM; needs --tls-cert)")
    g.add_argument(
        "--tls-server-name",
        metavar="NAME",
        help="check the servers' certificates for NAME instead of the host dialled",
    )


def _add_counterparty(p: argparse.ArgumentParser) -> None:
    """claim and revoke: an initiator's identity, a negotiation in its journal, and where to send."""
    _add_identity(p)
    p.add_argument("--negotiation", required=True, metavar="HEX", help="negotiation id (or a unique prefix)")
    p.add_argument("--to", required=True, metavar="HOST:PORT", help="the counterparty's address")
    p.add_argument("--escrow", metavar="HOST:PORT", help="the escrow holding the bonds")
    _add_dial_tls(p)


def _add_runtime_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "mandate",
        help="sign a mandate delegating authority from a principal key to an agent key",
        description="The principal signs a Mandate for the agent. The principal's chain lives in its "
        "journal, so a seq is never reused.",
    )
    p.add_argument("--principal", type=Path, required=True, help="the principal's key file")
    p.add_argument("--agent", required=True, help="the agent's did:key (or its key file)")
    p.add_argument("--out", type=Path, required=True, help="write the mandate (DSSE JSON) here")
    p.add_argument("--journal", type=Path, help="the principal's journal (default: PRINCIPAL with .db)")
    p.add_argument("--max-per-deal", type=_non_negative, default=1000, help="(default 1000)")
    p.add_argument("--budget", type=_non_negative, default=10000, help="budget per period (default 10000)")
    p.add_argument("--period-days", type=_positive, default=1, help="budget period (default 1 day)")
    p.add_argument("--max-outstanding", type=_non_negative, default=5000, help="(default 5000)")
    p.add_argument("--days", type=_positive, default=30, help="validity in days (default 30)")
    p.add_argument("--category", nargs="+", action="extend", default=[], help="allowed categories")
    p.add_argument("--counterparty", nargs="+", action="extend", default=[], help="allowed did:keys")
    p.set_defaults(func=_runtime("mandate"))

    p = sub.add_parser(
        "serve",
        help="run a peer: answer offers over gRPC until SIGINT/SIGTERM",
        description="Serve CooperationService for an agent. Prints 'listening on HOST:PORT as DID' "
        "once serving; logs each exchange on stderr.",
    )
    _add_identity(p)
    _add_listen(p)
    p.add_argument(
        "--strategy",
        type=_strategy_spec,
        default="honest",
        help="honest (default) or withhold-every-Nth:N (never delivers on every Nth contract)",
    )
    p.add_argument(
        "--context",
        type=Path,
        nargs="+",
        action="extend",
        default=[],
        metavar="FILE",
        help="envelopes to hold from the start (e.g. an escrow's mandate)",
    )
    p.add_argument(
        "--a2a",
        action="store_true",
        help="also serve A2A's A2AService on the same port and the AgentCard over HTTP "
        "(needs the a2a extra); prints 'agent card at URL' after the listening line",
    )
    p.add_argument(
        "--card-port",
        type=int,
        default=0,
        help="HTTP port of the AgentCard with --a2a (default: any free port)",
    )
    p.set_defaults(func=_runtime("serve"))

    p = sub.add_parser("escrow", help="run an escrow, fetch its ledger, audit a ledger")
    esub = p.add_subparsers(dest="escrow_command", required=True, metavar="ACTION")
    e = esub.add_parser(
        "serve",
        help="serve EscrowService until SIGINT/SIGTERM",
        description="Serve an escrow. Prints 'listening on HOST:PORT as DID' once serving.",
    )
    _add_identity(e)
    _add_listen(e)
    e.add_argument(
        "--fund",
        type=_funding,
        action="append",
        default=[],
        metavar="DID=AMOUNT",
        help="deposit for a party when the journal is new (repeatable)",
    )
    e.add_argument(
        "--response-window-ms",
        type=_positive,
        default=3_600_000,
        help="how long the accused may answer a breach claim (default 1 h)",
    )
    e.add_argument("--tick-ms", type=_positive, default=500, help="how often time-driven rules run")
    e.set_defaults(func=_runtime("escrow serve"))
    e = esub.add_parser("ledger", help="fetch an escrow's ledger as a JSON transcript")
    e.add_argument("--escrow", required=True, metavar="HOST:PORT")
    e.add_argument("--out", type=Path, required=True)
    _add_dial_tls(e)
    e.set_defaults(func=_runtime("escrow ledger"))
    e = esub.add_parser(
        "export",
        help="write an escrow's transcript (ledger and the evidence it acted on) from its journal",
    )
    e.add_argument("--journal", type=Path, required=True, help="the escrow's journal (it may be running)")
    e.add_argument("--mandate", type=Path, help="default: the mandate recorded in the journal")
    e.add_argument("--out", type=Path, required=True)
    e.set_defaults(func=_runtime("escrow export"))
    e = esub.add_parser(
        "audit",
        help="replay a ledger offline: balances and findings (exit 1 on findings)",
        description="Audit an escrow's ledger: its mandate and chain from seq 0 ('escrow ledger'), "
        "or its whole transcript with the evidence each decision rests on ('escrow export').",
    )
    e.add_argument("files", nargs="+", metavar="FILE")
    e.add_argument("--escrow-did", help="the escrow audited (default: issuer of the first ledger entry)")
    e.add_argument("--json", action="store_true", help="print one JSON report")
    e.set_defaults(func=_runtime("escrow audit"))

    p = sub.add_parser(
        "offer",
        help="offer trades to a serving peer and carry them through (prints one line per trade)",
    )
    _add_identity(p)
    p.add_argument("--to", required=True, metavar="HOST:PORT", help="the counterparty's address")
    p.add_argument("--escrow", metavar="HOST:PORT", help="the escrow holding the bonds")
    p.add_argument("--give", type=_item_spec, action="append", required=True, metavar="CATEGORY:VALUE")
    p.add_argument("--want", type=_item_spec, action="append", required=True, metavar="CATEGORY:VALUE")
    p.add_argument("--deadline", type=parse_duration, default=3_600_000, help="from now (default 1h)")
    p.add_argument("--bond", type=_non_negative, default=0, help="bond each side posts (needs --escrow)")
    p.add_argument("--count", type=_positive, default=1, help="how many trades (default 1)")
    p.add_argument("--revocable", action="store_true", help="terms that allow either side to revoke")
    p.add_argument(
        "--forfeit-bond", action="store_true", help="with --revocable: the revoker forfeits its bond"
    )
    _add_dial_tls(p)
    p.set_defaults(func=_runtime("offer"))

    p = sub.add_parser(
        "claim",
        help="file a breach claim on an overdue item of a contract you offered, with the escrow",
        description="Sign a BreachClaim for the counterparty's item once its deadline has passed, send "
        "it to the counterparty and, with the negotiation's evidence, to the escrow, and relay the "
        "escrow's answers. The escrow decides once its response window ends; run the command again "
        "(the same claim is sent again, nothing new signed) or pass --wait to fetch and relay it.",
    )
    _add_counterparty(p)
    p.add_argument("--item", type=_non_negative, default=0, help="the counterparty's item index (default 0)")
    p.add_argument("--reason", default="", help="why (free text)")
    p.add_argument(
        "--wait", type=parse_duration, default=0, help="wait up to this long for the escrow's decision"
    )
    p.set_defaults(func=_runtime("claim"))

    p = sub.add_parser(
        "revoke",
        help="revoke a contract you offered, under its revocation terms",
        description="Sign a Revoke (refused unless the terms allow it), send it to the counterparty "
        "and the escrow, relay the escrow's answers, and print the state and balances.",
    )
    _add_counterparty(p)
    p.add_argument("--reason", default="", help="why (free text)")
    p.set_defaults(func=_runtime("revoke"))

    p = sub.add_parser("status", help="open negotiations, obligations, exposure (and escrow balance)")
    p.add_argument("--journal", type=Path, required=True)
    p.add_argument("--key", type=Path, required=True)
    p.add_argument("--mandate", type=Path, help="default: the mandate recorded in the journal")
    p.add_argument("--escrow", metavar="HOST:PORT", help="also ask this escrow for the balance")
    p.add_argument("--json", action="store_true", help="print one JSON report")
    _add_dial_tls(p)
    p.set_defaults(func=_runtime("status"))

    p = sub.add_parser("export", help="write the evidence of one negotiation, verifiable with `verify`")
    p.add_argument("--journal", type=Path, required=True)
    p.add_argument("--key", type=Path, required=True)
    p.add_argument("--mandate", type=Path, help="default: the mandate recorded in the journal")
    p.add_argument("--negotiation", required=True, metavar="HEX", help="negotiation id (or a unique prefix)")
    p.add_argument("--out", type=Path, required=True)
    p.set_defaults(func=_runtime("export"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="a2a-coop",
        description="Keys, offline verification and inspection of a2a-coop signed statements; "
        "peers and escrows over gRPC.",
        epilog="Exit codes: 0 valid, 1 invalid, 2 usage or I/O error.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("keygen", help="create an Ed25519 key (seed from os.urandom) and print its did:key")
    p.add_argument("--out", type=Path, help="write the key file here (mode 0600; never overwritten)")
    p.set_defaults(func=_cmd_keygen)

    p = sub.add_parser(
        "verify",
        help="verify envelopes, transcripts, vector files or equivocation proofs",
        description="Verify envelopes (binary or DSSE JSON) and transcripts as one transcript, in order; "
        "run vector files; check equivocation proofs.",
    )
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument(
        "--at",
        type=parse_time,
        metavar="TIME",
        help="check freshness at TIME: 'now', Unix ms or ISO 8601 (default: offline, no freshness; TIM-005)",
    )
    p.add_argument("--complete", action="store_true", help="treat each issuer's statements as a complete log")
    p.add_argument("--json", action="store_true", help="print one JSON report")
    p.set_defaults(func=_cmd_verify)

    p = sub.add_parser("inspect", help="dump envelopes in human-readable form (valid or not)")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.set_defaults(func=_cmd_inspect)

    _add_runtime_parsers(sub)

    p = sub.add_parser(
        "demo",
        help="run an escrow and two peers as processes, trade, breach, claim; verify the evidence",
        description="Starts an escrow and a peer as separate processes on loopback and trades with "
        "them as a second peer: a batch of bonded trades, one breached and claimed. No configuration.",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("a2a-coop-demo"),
        help="working directory, recreated on each run (default: ./a2a-coop-demo)",
    )
    p.add_argument("--trades", type=_positive, default=5, help="number of trades (one is breached)")
    p.add_argument(
        "--offline",
        action="store_true",
        help="run the in-process protocol demo instead (no network, fixed clock)",
    )
    p.set_defaults(func=_cmd_demo)

    p = sub.add_parser("version", help="print the version")
    p.set_defaults(func=_cmd_version)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code (argparse's usage errors included)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2), already printed by argparse
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        code: int = args.func(args, sys.stdout)
        sys.stdout.flush()
    except UsageError as exc:
        print(f"a2a-coop: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # e.g. `a2a-coop inspect big.json | head`: the reader left; so do we
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_INVALID
    return code


if __name__ == "__main__":
    # `python -m a2a_coop.cli`: run the imported module's main, so that the runtime commands
    # (which import a2a_coop.cli) share its classes (UsageError) instead of this __main__ copy.
    from a2a_coop.cli import main as _main

    raise SystemExit(_main())
