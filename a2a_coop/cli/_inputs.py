"""Reading what ``verify``, ``inspect`` and ``escrow audit`` are given: envelopes, transcripts, vector
files and equivocation proofs, told apart by their content.

A binary file is one protobuf Envelope; JSON is a DSSE envelope
(``{"payload", "payloadType", "signatures"}``), a transcript
(``{"envelopes": [...], "now_ms"?, "mode"?, "trusted_escrows"?}`` or a bare list), a vector file
(``{"testGroups": ...}``), a reputation or rating vector file (``{"schema": one of REPUTATION_SCHEMAS, ...}``)
or a proof (``{"schema": PROOF_SCHEMA, ...}``).
An envelope whose JSON form is already wrong is kept with its error, so the
verifier reports it at its place in the transcript.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from a2a_coop.cli._common import SQLITE_HEADER, UsageError
from a2a_coop.protocol.envelope import envelope_from_json, strict_json_loads
from a2a_coop.protocol.errors import CoopError, MalformedEnvelope
from a2a_coop.protocol.forks import PROOF_SCHEMA
from a2a_coop.reputation_vectors import SCHEMAS as REPUTATION_SCHEMAS
from a2a_coop.reputation_vectors import (
    RatingVector,
    ReputationVector,
    ReputationVectorFormatError,
    parse_reputation_file,
)
from a2a_coop.runtime.keyfile import KEY_FILE_TYPE
from a2a_coop.vectors import (
    NON_PROOF_SCHEMA,
    NonProof,
    Vector,
    VectorFormatError,
    parse_non_proofs,
    parse_vector_file,
)

ReputationVectors = list[ReputationVector] | list[RatingVector]
_NEITHER: Final = "is neither an envelope, a transcript, a vector file nor a proof"


@dataclass
class Item:
    """One envelope of the transcript: bytes, or the error its JSON form already caused."""

    file: str
    index: int  # 0-based position within its file
    data: bytes
    error: CoopError | None = None


@dataclass
class Inputs:
    files: list[str] = field(default_factory=list)  # every path read, in order
    items: list[Item] = field(default_factory=list)
    # (path, did): the escrow a transcript's ``escrow`` field names (``escrow export`` writes it). Its
    # author's word, never what an audit judges unasked (AUD-001): a hint of what to pass.
    named_escrows: list[tuple[str, str]] = field(default_factory=list)
    vector_files: list[tuple[str, list[Vector]]] = field(default_factory=list)
    reputation_files: list[tuple[str, list[ReputationVector] | list[RatingVector]]] = field(
        default_factory=list
    )
    proofs: list[tuple[str, Any]] = field(default_factory=list)
    non_proof_files: list[tuple[str, list[NonProof]]] = field(default_factory=list)
    now_ms: set[int] = field(default_factory=set)
    complete: bool = False
    # The escrows the transcripts say their view trusts (ATT-013 (d)), each distinct set once: their
    # presenter's choice, shown by ``verify`` and applied only with ``--trust-stated``.
    trusted_escrows: list[frozenset[str]] = field(default_factory=list)


def read_bytes(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None


def read_json(path: str, data: bytes) -> Any | None:
    """The decoded JSON document, or None for a binary file (a protobuf Envelope).

    Text is taken for JSON: an Envelope is never valid UTF-8 in practice (its 64-byte signature is
    random), so a damaged JSON file is reported as invalid JSON, not as a corrupt protobuf. A journal
    is refused by name: read as one envelope it would fail as a too large one (ENV-008).
    """
    if data.startswith(SQLITE_HEADER):
        raise UsageError(
            f"{path} is a journal (SQLite), not evidence: write a negotiation's evidence from it "
            "with `a2a-coop export` (an escrow's with `a2a-coop escrow export`) and verify that"
        )
    try:
        text = data.decode("utf-8-sig")  # a byte order mark is not part of the document
    except UnicodeDecodeError:
        return None
    if not text.strip():
        raise UsageError(f"{path} is empty")
    if text.startswith("did:key:"):  # `keygen > alice.did`: an identity, nothing signed to check
        raise UsageError(
            f"{path} is a did:key (the public identity a key file's owner gives out), not evidence"
        )
    try:  # strict: a member name twice is refused, not resolved to one of its values (ENV-010)
        doc = strict_json_loads(text)
    except ValueError as exc:  # json.JSONDecodeError is one; so is "nested too deeply"
        raise UsageError(f"{path}: invalid JSON: {exc}") from None
    if not isinstance(doc, dict | list):  # null would read as "binary"; nothing we read is a scalar
        raise UsageError(f"{path}: JSON {_NEITHER}")
    return doc


def envelope_item(path: str, index: int, obj: Any) -> Item:
    """A transcript entry: a DSSE JSON object or a base64 string of envelope bytes."""
    if isinstance(obj, str):
        try:
            return Item(path, index, base64.b64decode(obj, validate=True))
        except (binascii.Error, ValueError):
            err = MalformedEnvelope("transcript entry is not valid base64", requirement="ENV-004")
            return Item(path, index, b"", err)
    try:
        return Item(path, index, envelope_from_json(obj))
    except CoopError as exc:
        return Item(path, index, b"", exc)


def load(paths: Sequence[str]) -> Inputs:
    out = Inputs()
    for path in paths:
        out.files.append(path)
        data = read_bytes(path)
        doc = read_json(path, data)
        if doc is None:
            out.items.append(Item(path, 0, data))
        elif isinstance(doc, dict) and doc.get("schema") in REPUTATION_SCHEMAS:
            try:
                out.reputation_files.append((path, parse_reputation_file(doc, Path(path).stem)))
            except ReputationVectorFormatError as exc:
                raise UsageError(f"{path}: {exc}") from None
        elif isinstance(doc, dict) and "testGroups" in doc:
            try:
                out.vector_files.append((path, parse_vector_file(doc, Path(path).stem)))
            except VectorFormatError as exc:
                raise UsageError(f"{path}: {exc}") from None
        elif isinstance(doc, dict) and doc.get("schema") == PROOF_SCHEMA:
            out.proofs.append((path, doc))
        elif isinstance(doc, dict) and doc.get("schema") == NON_PROOF_SCHEMA:
            try:
                out.non_proof_files.append((path, parse_non_proofs(doc, Path(path).stem)))
            except VectorFormatError as exc:
                raise UsageError(f"{path}: {exc}") from None
        elif isinstance(doc, list) or (isinstance(doc, dict) and "envelopes" in doc):
            load_transcript(path, doc, out)
        elif isinstance(doc, dict) and "payloadType" in doc:
            out.items.append(envelope_item(path, 0, doc))
        else:
            what = "a key file" if isinstance(doc, dict) and doc.get("type") == KEY_FILE_TYPE else "JSON"
            raise UsageError(
                f"{path}: {what} is neither an envelope, a transcript, a vector file nor a proof"
            )
    if len(out.now_ms) > 1:
        raise UsageError("transcripts name different now_ms; pass --at to choose one")
    return out


def did_key(text: str, where: str) -> str:
    """``text`` when it is a well-formed did:key (an Ed25519 key, SPEC 4.1), else a one-line UsageError
    naming ``where`` it came from."""
    from a2a_coop.protocol.errors import CoopError
    from a2a_coop.protocol.identity import public_key_from_did

    try:
        public_key_from_did(text)
    except CoopError as exc:
        raise UsageError(f"{where}: {text[:80]!r} is not a did:key ({exc.detail})") from None
    return text


def load_transcript(path: str, doc: Any, out: Inputs) -> None:
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
        if isinstance(doc.get("escrow"), str):
            out.named_escrows.append((path, doc["escrow"]))
        trusted = doc.get("trusted_escrows")
        if trusted is not None:
            if not isinstance(trusted, list) or not all(isinstance(k, str) for k in trusted):
                raise UsageError(f"{path}: trusted_escrows must be a list of did:keys")
            named = frozenset(did_key(k, f"{path}: trusted_escrows") for k in trusted)
            out.trusted_escrows += [] if named in out.trusted_escrows else [named]
    out.items.extend(envelope_item(path, i, e) for i, e in enumerate(envelopes))
