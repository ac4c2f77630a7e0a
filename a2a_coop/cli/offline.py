"""The offline commands: ``keygen``, ``verify``, ``inspect`` and ``audit``.

They read files and draw keys from the OS, never the network: this module
imports no transport (grpc, trio), so ``verify`` starts fast. ``verify``
checks every envelope of every non-vector file, in order, as one transcript
with one :class:`~a2a_coop.protocol.verifier.Verifier`; without ``--at`` that
is offline evidence checking, with no freshness (TIM-005). Vector files run
each vector and compare it with its expected result (a reputation vector file's views with the
figures it states, ATT-021); proofs are checked alone. ``audit`` runs SPEC 19's detectors
(:mod:`a2a_coop.protocol.audit`) over the envelopes given.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

from a2a_coop.cli._common import EXIT_INVALID, EXIT_OK, UsageError, iso, short
from a2a_coop.cli._inputs import Inputs, Item, did_key, envelope_item, load, read_bytes, read_json
from a2a_coop.protocol.envelope import decode_envelope, envelope_from_json, statement_digest
from a2a_coop.protocol.errors import CoopError, printable
from a2a_coop.protocol.forks import PROOF_SCHEMA
from a2a_coop.protocol.statements import Statement, VerifiedStatement, verify_statement
from a2a_coop.reputation_vectors import SCHEMAS as REPUTATION_SCHEMAS
from a2a_coop.reputation_vectors import RatingVector, ReputationOutcome, run_reputation_vectors
from a2a_coop.vectors import (
    NON_PROOF_SCHEMA,
    NonProofOutcome,
    VectorFormatError,
    VectorOutcome,
    parse_vector_file,
    run_non_proofs,
    run_vectors,
)

if TYPE_CHECKING:
    from a2a_coop.protocol.audit import Finding


def cmd_keygen(args: argparse.Namespace, out: TextIO) -> int:
    from a2a_coop.runtime.keyfile import generate_keypair, key_file_document, write_key_file

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


def _statement_json(item: Item, vs: VerifiedStatement) -> dict[str, Any]:
    return {
        "file": item.file,
        "index": item.index,
        "seq": vs.header.seq,
        "issuer": vs.issuer,
        "body": vs.body,
        "digest": vs.digest.hex(),
    }


def _transcript_report(inputs: Inputs, now_ms: int | None, complete: bool, trust: _Trust) -> dict[str, Any]:
    """Verify every envelope, in order, with one view of evidence; stop at the first failure. The fork and
    answer proofs it holds then (ATT-012, ATT-022: a refused fork too) are reported, each key they convict
    (ATT-013) by its proof's two digests, and every key and principal they convict in that view, reading
    "witnessed before" only from the trusted escrows' Stamps (ATT-013 (d); None: every escrow's), each
    conviction with the escrows whose Stamps it rests on; and the sets the transcripts state, applied only
    when the operator said so (``trust``)."""
    from a2a_coop.protocol.reputation import conviction_stamps, faulty_of
    from a2a_coop.runtime.evidence import EvidenceVerifier

    verifier = EvidenceVerifier(complete_chains=complete)
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
    if not inputs.items:  # nothing was shown valid: a verdict needs evidence
        files = ", ".join(dict.fromkeys(inputs.files)) or "the input"
        error = {
            "code": "NOTHING_TO_VERIFY",
            "requirement": "",
            "detail": "no envelope to judge",
            "file": files,
            "envelope": 0,
        }
    return {
        "result": "valid" if error is None else "invalid",
        "mode": "complete" if complete else "sparse",
        "now_ms": now_ms,
        "statements": statements,
        "error": error,
        "fork_proofs": [
            {"issuer": issuer, "digests": [verify_statement(e).digest.hex() for e in (p.first, p.second)]}
            for issuer, p in verifier.forks.items()
        ],
        "trusted_escrows": None if trust.escrows is None else sorted(trust.escrows),
        "trusted_by": trust.by,
        "stated_trusted_escrows": [sorted(s) for s in inputs.trusted_escrows],
        "faulty": sorted(faulty_of(verifier, verifier.forks, trust.escrows)),
        "convictions": [
            {"subject": subject, "proof_against": key, "stamps_of": escrows}
            for key, proof in verifier.forks.items()
            for subject, escrows in conviction_stamps(verifier, key, proof, trust.escrows).items()
        ],
    }


def _write_transcript(report: dict[str, Any], out: TextIO) -> None:
    for s in report["statements"]:
        out.write(f"{s['seq']:>4} {short(s['issuer'])} {s['body']:<14} {s['digest'][:16]}\n")
    for p in report["fork_proofs"]:
        pair = " and ".join(d[:16] for d in p["digests"])
        out.write(f"fork proof against {p['issuer']}: {pair} (ATT-012; see `a2a-coop audit`)\n")
    trusted = report["trusted_escrows"]
    for stated in report["stated_trusted_escrows"]:
        applied = "applied: --trust-stated" if report["trusted_by"] == "transcript" else "not applied"
        listed = ", ".join(stated) or "none"
        out.write(f"the transcript states trusted_escrows (its presenter's choice; {applied}): {listed}\n")
    n = None if trusted is None else len(trusted)
    if report["faulty"]:
        read = {None: "every escrow's Stamps", 0: "no escrow's Stamps: none trusted"}.get(
            n, f"the Stamps of the {n} escrow{'s' if n != 1 else ''} trusted"
        )
        out.write(f"faulty (ATT-013, reading {read}): {', '.join(report['faulty'])}\n")
    for c in report["convictions"]:
        rests = f"and the Stamps of {', '.join(c['stamps_of'])}" if c["stamps_of"] else "alone"
        unnamed = " (not named by you: --trust-escrow KEY chooses)" if c["stamps_of"] and n is None else ""
        out.write(f"  {c['subject']}: the proof against {short(c['proof_against'])} {rests}{unnamed}\n")
    error = report["error"]
    if error is None:
        now_ms = report["now_ms"]
        fresh = f"at {iso(now_ms)}" if now_ms is not None else "off (offline evidence)"
        out.write(
            f"valid: {len(report['statements'])} statements ({report['mode']} chains, freshness {fresh})\n"
        )
        return
    req = f" [{error['requirement']}]" if error["requirement"] else ""
    where = f"envelope {error['envelope']} of {error['file']}" if error["envelope"] else error["file"]
    out.write(f"invalid: {error['code']}{req} {error['detail']} ({where})\n")


_Outcome = TypeVar("_Outcome", VectorOutcome, ReputationOutcome, NonProofOutcome)
_Checked = TypeVar("_Checked", VectorOutcome, NonProofOutcome)


def _file_report(
    path: str, outcomes: list[_Outcome], failure: Callable[[_Outcome], dict[str, Any]]
) -> dict[str, Any]:
    """A vector file's report: its totals, and each vector that failed -- its id, name and comment, then
    ``failure``'s fields (what it expected, what came, the requirement, a detail)."""
    return {
        "file": path,
        "total": len(outcomes),
        "passed": sum(o.passed for o in outcomes),
        "failures": [
            {"tcId": o.vector.tc_id, "name": o.vector.name, "comment": o.vector.comment, **failure(o)}
            for o in outcomes
            if not o.passed
        ],
    }


def _vector_report(path: str, outcomes: list[_Checked]) -> dict[str, Any]:
    """A statement vector file's report, or an equivocation-non-proofs file's: the same fields."""
    return _file_report(
        path,
        outcomes,
        lambda o: {
            "expected": o.vector.expected,
            "actual": o.actual,
            "requirement": o.requirement,
            "detail": o.detail,
        },
    )


def _reputation_report(path: str, outcomes: list[ReputationOutcome]) -> dict[str, Any]:
    """A reputation vector file's report, in the shape of :func:`_vector_report`'s."""
    return _file_report(
        path,
        outcomes,
        lambda o: {
            "expected": "the ratings the vector states"
            if isinstance(o.vector, RatingVector)
            else "the view the vector states (ATT-021's tolerance)",
            "actual": "; ".join(o.differences),
            "requirement": o.vector.requirements[0] if o.vector.requirements else "",
            "detail": "",
        },
    )


def _proof_report(path: str, doc: Any) -> dict[str, Any]:
    from a2a_coop.protocol.forks import ForkProof, answers_one_statement, verify_fork_proof

    try:
        first, second = envelope_from_json(doc["first"]), envelope_from_json(doc["second"])
        issuer = verify_fork_proof(ForkProof(first, second))  # ATT-012: a fork, or two answers (ATT-022)
    except (KeyError, TypeError) as exc:
        return {"file": path, "valid": False, "detail": f"proof needs 'first' and 'second' envelopes ({exc})"}
    except (CoopError, ValueError) as exc:
        return {"file": path, "valid": False, "detail": str(exc)}
    a, b = verify_statement(first), verify_statement(second)
    seqs = sorted(vs.header.seq for vs in (a, b))
    answers = answers_one_statement(a, b)
    return {"file": path, "valid": True, "issuer": issuer, "seqs": seqs, "answers": answers}


@dataclass(frozen=True)
class _Trust:
    """The escrows whose Stamps the view reads (ATT-013 (d)), None: every escrow's; and who chose them:
    "operator" (``--trust-escrow``), "transcript" (``--trust-stated``: the presenter's set, the operator
    told to apply it) or None (the default)."""

    escrows: frozenset[str] | None = None
    by: str | None = None


def _trusted(args: argparse.Namespace, inputs: Inputs) -> _Trust:
    """The escrows the view trusts (ATT-013 (d)), the view operator's choice: each ``--trust-escrow`` -- a
    did:key, or a file of them, one a line (``#`` starts a comment) --, else with ``--trust-stated`` the set
    the transcripts state, else every escrow. Never the stated set unasked: a transcript is handed over by
    someone else, and a narrower set spares -- a thief's presenter names no escrow, and its conviction
    goes (ARCHITECTURE "Spare on what a view cannot vouch for")."""
    if args.trust_stated:
        if args.trust_escrow:
            raise UsageError(
                "--trust-stated applies the transcript's trusted_escrows; --trust-escrow names yours"
            )
        if not inputs.trusted_escrows:
            raise UsageError("--trust-stated: no transcript states trusted_escrows")
        if len(inputs.trusted_escrows) > 1:
            raise UsageError(
                "transcripts state different trusted_escrows; pass --trust-escrow to choose them"
            )
        return _Trust(inputs.trusted_escrows[0], "transcript")
    if not args.trust_escrow:
        return _Trust()
    out: set[str] = set()
    for given in args.trust_escrow:
        if given.startswith("did:"):
            out.add(did_key(given, "--trust-escrow"))
            continue
        text = read_bytes(given).decode("utf-8", "replace")
        lines = [line.split("#", 1)[0].strip() for line in text.splitlines()]
        out |= {did_key(line, f"--trust-escrow {given}") for line in lines if line}
    return _Trust(frozenset(out), "operator")


def cmd_verify(args: argparse.Namespace, out: TextIO) -> int:
    inputs = load(args.files)
    stating = [*inputs.vector_files, *inputs.reputation_files, *inputs.non_proof_files]
    if stating and not args.vectors:
        # A vector file states the result each of its vectors expects, and whoever wrote it chose that:
        # run as evidence, a forged transcript wrapped as a vector expecting its own refusal would pass.
        path = stating[0][0]
        raise UsageError(
            f"{path} is a test vector file, which states its own expected results: run it with "
            "`a2a-coop verify --vectors`; evidence (what `export` writes) verifies without it"
        )
    if args.vectors and inputs.items:
        # Evidence verified under --vectors exited 0 on a valid transcript, which read as "every vector as
        # expected": the flag runs vector files and proofs, and evidence has its own verdict.
        path = inputs.items[0].file
        count = sum(item.file == path for item in inputs.items)
        raise UsageError(
            f"{path} is evidence ({count} statement{'s' if count != 1 else ''}), not a test vector file: "
            f"`a2a-coop verify {path}` (without --vectors) verifies it"
        )
    now_ms: int | None = args.at if args.at is not None else next(iter(inputs.now_ms), None)
    from a2a_coop.runtime.evidence import EvidenceVerifier  # a view keeping every proof shown (F125)

    vectors = [_vector_report(path, run_vectors(vs, EvidenceVerifier)) for path, vs in inputs.vector_files]
    vectors += [_reputation_report(path, run_reputation_vectors(vs)) for path, vs in inputs.reputation_files]
    vectors += [_vector_report(path, run_non_proofs(vs)) for path, vs in inputs.non_proof_files]
    proofs = [_proof_report(path, doc) for path, doc in inputs.proofs]
    transcript = None
    if inputs.items or not (vectors or proofs):
        transcript = _transcript_report(
            inputs, now_ms, args.complete or inputs.complete, _trusted(args, inputs)
        )
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
            what = "answered one statement twice, at seq" if p["answers"] else "signed conflicting seq"
            out.write(f"{p['file']}: valid equivocation proof: {p['issuer']} {what} {seqs}\n")
        else:
            out.write(f"{p['file']}: invalid equivocation proof: {p['detail']}\n")
    if transcript is not None:
        _write_transcript(transcript, out)
    return EXIT_OK if ok else EXIT_INVALID


def _inspect_envelope(data: bytes, label: str, out: TextIO) -> bool:
    """Dump one envelope; whether its stateless checks passed."""
    from google.protobuf.message import DecodeError

    out.write(f"{label} ({len(data)} bytes)\n")
    try:
        verify_statement(data)
        out.write("  verify:       ok (stateless checks; mandates, chains and state need `verify`)\n")
        ok = True
    except CoopError as exc:
        out.write(f"  verify:       FAILED {printable(str(exc))}\n")
        ok = False
    try:
        env = decode_envelope(data, max_bytes=sys.maxsize)
    except CoopError as exc:
        out.write(f"  not an envelope: {exc.detail}\n")
        return False
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
        return False
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
    for name, value in rows:  # the issuer and audience are the signer's words, unverified here
        out.write(f"    {name + ':':<16}{printable(value)}\n")
    for i, ref in enumerate(h.refs):
        out.write(f"    {f'refs[{i}]:':<16}{ref.hex()}\n")
    body = stmt.WhichOneof("body")
    if body is None:
        out.write("  body:         (none this version knows)\n")
        return ok
    out.write(f"  body:         {body}\n")
    for line in _fields(getattr(stmt, body)):
        out.write(f"    {line}\n")
    return ok


def _fields(message: Any, indent: str = "") -> Iterator[str]:
    """A message in protobuf text format, except that bytes are hex: every bytes field of a body is a
    digest, a salt or a commitment, which text format would print as octal escapes no one can read or
    compare with the digests printed elsewhere."""
    for field, value in message.ListFields():
        values = value if field.is_repeated else [value]
        for v in values:
            if field.type == field.TYPE_MESSAGE:
                yield f"{indent}{field.name} {{"
                yield from _fields(v, indent + "  ")
                yield f"{indent}}}"
            elif field.type == field.TYPE_BYTES:
                yield f"{indent}{field.name}: {v.hex()}"
            elif field.type == field.TYPE_STRING:
                yield f"{indent}{field.name}: {printable(json.dumps(v, ensure_ascii=False))}"
            elif field.type == field.TYPE_ENUM:
                named = field.enum_type.values_by_number.get(v)
                yield f"{indent}{field.name}: {named.name if named is not None else v}"
            else:
                yield f"{indent}{field.name}: {str(v).lower() if isinstance(v, bool) else v}"


def cmd_inspect(args: argparse.Namespace, out: TextIO) -> int:
    """Dump every envelope; exit 1 if one fails its stateless checks. A vector file's envelopes do not
    count: many are wrong on purpose, and ``verify`` judges them against their expectations."""
    results: list[bool] = []
    for path in args.files:
        data = read_bytes(path)
        doc = read_json(path, data)
        if doc is None:
            results.append(_inspect_envelope(data, f"envelope 1 of {path}", out))
        elif isinstance(doc, dict) and doc.get("schema") in REPUTATION_SCHEMAS:
            for rv in load([path]).reputation_files[0][1]:
                if isinstance(rv, RatingVector):
                    what = f"{len(rv.envelopes)} envelopes, escrows trusted {len(rv.trusted_escrows)}"
                else:
                    what = f"{len(rv.ratings)} ratings, seeds {', '.join(rv.seeds)}, at {iso(rv.now_ms)}"
                out.write(f"== {rv.name}: {rv.comment} ({what})\n")
        elif isinstance(doc, dict) and "testGroups" in doc:
            try:
                vectors = parse_vector_file(doc, Path(path).stem)
            except VectorFormatError as exc:
                raise UsageError(f"{path}: {exc}") from None
            for v in vectors:
                out.write(f"== {v.name}: {v.comment} (expected {v.expected}, {v.mode} chains)\n")
                for i, data in enumerate(v.envelopes):
                    _inspect_envelope(data, f"envelope {i} of tcId {v.tc_id}", out)
        elif isinstance(doc, dict) and doc.get("schema") == NON_PROOF_SCHEMA:
            for np in load([path]).non_proof_files[0][1]:
                out.write(f"== {np.name}: {np.comment} (expected {np.expected})\n")
                for key, data in (("first", np.first), ("second", np.second)):
                    results.append(_inspect_envelope(data, f"{key} envelope of tcId {np.tc_id}", out))
        elif isinstance(doc, dict) and doc.get("schema") == PROOF_SCHEMA:
            for key in ("first", "second"):
                item = envelope_item(path, 0, doc.get(key))
                results.append(_inspect_item(item, f"{key} envelope of {path}", out))
        else:
            inputs = load([path])
            if not inputs.items:
                raise UsageError(f"{path} holds no envelope")
            for item in inputs.items:
                results.append(_inspect_item(item, f"envelope {item.index + 1} of {item.file}", out))
    return EXIT_OK if all(results) else EXIT_INVALID


def _inspect_item(item: Item, label: str, out: TextIO) -> bool:
    if item.error is not None:
        out.write(f"{label}\n  not an envelope: {item.error}\n")
        return False
    return _inspect_envelope(item.data, label, out)


def cmd_audit(args: argparse.Namespace, out: TextIO) -> int:
    """SPEC 19 over the evidence given: every finding, hard proofs first; exit 1 when one is a hard proof.
    An ``equivocation``'s two statements are a fork or answer proof (ATT-012, ATT-022), written with
    ``--proofs DIR`` as the file ``verify`` checks and gossip carries."""
    from a2a_coop.protocol.audit import audit

    inputs = load(args.files)
    if inputs.vector_files or inputs.reputation_files or inputs.proofs or inputs.non_proof_files:
        raise UsageError("audit reads evidence -- envelopes and transcripts -- not vector or proof files")
    held = [item.data for item in inputs.items if item.error is None]  # a broken one proves nothing
    if not held:
        raise UsageError(f"{', '.join(dict.fromkeys(inputs.files))} holds no envelope to audit")
    subject = None
    if args.subject is not None:
        from a2a_coop.cli._runtime import resolve_did

        subject = resolve_did(args.subject)
    findings = audit(held, subject=subject, screens=not args.no_screens)
    written = _write_proofs(args.proofs, findings) if args.proofs is not None else {}
    hard = [f for f in findings if f.hard]
    if args.json:
        report = {
            "result": "proven" if hard else "clean",
            "statements": len(held),
            "findings": [{**f.to_json(), "proof_file": written.get(id(f))} for f in findings],
        }
        out.write(json.dumps(report, indent=2) + "\n")
        return EXIT_INVALID if hard else EXIT_OK
    for f in findings:
        what = "proof" if f.hard else f"screen {f.confidence:.2f}"
        req = f" [{f.requirement}]" if f.requirement else ""
        out.write(f"{f.kind} ({what}){req} {f.subject}: {f.explanation}\n")
        for vs in f.evidence:
            out.write(f"  {vs.header.seq:>4} {short(vs.issuer)} {vs.body:<14} {vs.digest.hex()[:16]}\n")
        if id(f) in written:
            out.write(f"  proof written to {written[id(f)]} (check it: a2a-coop verify {written[id(f)]})\n")
    screens = _count(len(findings) - len(hard), "screen finding")
    out.write(f"{len(held)} statements: {_count(len(hard), 'hard proof')}, {screens}\n")
    return EXIT_INVALID if hard else EXIT_OK


def _count(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


def _write_proofs(directory: Path, findings: Sequence[Finding]) -> dict[int, str]:
    """Write each finding's fork or answer proof to ``directory`` (made if missing), one file per subject,
    never over an existing file; returns each written finding's path, by ``id``."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot make {directory}: {exc.strerror or exc}") from None
    written = {}
    for f in findings:
        proof = f.proof
        if proof is None:
            continue
        path = directory / f"{f.subject.removeprefix('did:key:')}.proof.json"
        try:
            with path.open("x", encoding="utf-8") as fh:
                fh.write(json.dumps(proof.to_json(f.subject), indent=1) + "\n")
        except FileExistsError:
            raise UsageError(f"{path} exists; refusing to overwrite a proof file") from None
        except OSError as exc:
            raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
        written[id(f)] = str(path)
    return written
