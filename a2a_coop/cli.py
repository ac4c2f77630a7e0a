"""The ``a2a-coop`` command: keygen, verify, inspect, demo, version.

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
(grpc, trio), so it starts fast.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import os
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


def _cmd_version(args: argparse.Namespace, out: TextIO) -> int:
    out.write(f"a2a-coop {__version__} (protocol version {PROTOCOL_VERSION}, {STATEMENT_PAYLOAD_TYPE})\n")
    return EXIT_OK


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="a2a-coop",
        description="Keys, offline verification and inspection of a2a-coop signed statements.",
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

    p = sub.add_parser("demo", help="run the in-process trading demo and verify its transcript")
    p.add_argument("--out", type=Path, default=Path("demo-out"), help="output directory (default: demo-out)")
    p.add_argument("--trades", type=_positive, default=5, help="number of trades (the last one is breached)")
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
    sys.exit(main())
