"""conformance/vectors/wire.json decoded alone: the runner an implementer's decoder test follows.

Every test of wire.json is also an ordinary vector (tests/test_vectors.py runs its envelopes through a
verifier). Here only its ``wire`` member counts: decode ``wire.hex`` as ``wire.message`` and expect
``wire.result`` -- ``canonical``, or the code of step 8/9 (a Statement payload) or step 2 (an Envelope)
of SPEC section 11 -- with no signature, key or verifier state involved. Two decoders must agree with
the file: the library's (:func:`decode_statement`, :func:`decode_envelope`, fast path included) and
the decoding profile's scanner alone (:func:`a2a_coop.protocol.decoding.check`).
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from a2a_coop._proto.a2acoop.v1 import envelope_pb2, statement_pb2
from a2a_coop.protocol import decoding
from a2a_coop.protocol.envelope import ENVELOPE_SPEC, Envelope, decode_envelope
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.statements import STATEMENT_SPEC, decode_statement

WIRE_FILE = Path(__file__).resolve().parent.parent / "conformance" / "vectors" / "wire.json"
STATEMENT = "a2acoop.v1.Statement"
ENVELOPE = "a2acoop.v1.Envelope"
RESULTS = {
    STATEMENT: {"canonical", "MALFORMED_STATEMENT", "NONCANONICAL_ENCODING"},
    ENVELOPE: {"canonical", "MALFORMED_ENVELOPE"},
}


@dataclass(frozen=True)
class WireCase:
    tc_id: int
    comment: str
    flags: tuple[str, ...]
    requirements: tuple[str, ...]
    message: str
    data: bytes
    result: str
    last_envelope: bytes

    @property
    def name(self) -> str:
        return f"wire-{self.tc_id}-{self.requirements[0]}"


def load(doc: Any) -> list[WireCase]:
    """The ``wire`` members of a wire.json document. Raises ValueError for a malformed one."""
    out = []
    for group in doc["testGroups"]:
        for test in group["tests"]:
            w = test.get("wire")
            if not isinstance(w, dict) or set(w) != {"message", "hex", "result"}:
                raise ValueError(f"tcId {test.get('tcId')}: wire must be {{message, hex, result}}")
            if w["message"] not in RESULTS or w["result"] not in RESULTS[w["message"]]:
                raise ValueError(f"tcId {test['tcId']}: unknown message or result {w}")
            out.append(
                WireCase(
                    test["tcId"],
                    test["comment"],
                    tuple(test["flags"]),
                    tuple(test["requirements"]),
                    w["message"],
                    bytes.fromhex(w["hex"]),
                    w["result"],
                    base64.b64decode(test["envelopes"][-1], validate=True),
                )
            )
    return out


CASES = load(json.loads(WIRE_FILE.read_text(encoding="utf-8")))


def library_result(message: str, data: bytes) -> str:
    """What the library's decoders make of the bytes: steps 8-9 for a payload, step 2 for an envelope."""
    try:
        if message == STATEMENT:
            decode_statement(data)
        else:
            env = decode_envelope(data)
            if len(env.signatures) != 1 or not env.payload:
                return "MALFORMED_ENVELOPE"
    except CoopError as exc:
        return exc.code
    return "canonical"


def scanner_result(message: str, data: bytes) -> str:
    """The decoding profile's scanner alone (the library's slow path, never its upb fast path)."""
    if message == STATEMENT:
        try:
            defect = decoding.check(data, STATEMENT_SPEC)
        except decoding.Malformed:
            return "MALFORMED_STATEMENT"
        return "canonical" if defect is None else "NONCANONICAL_ENCODING"
    try:
        defect = decoding.check(data, ENVELOPE_SPEC, allow_unknown=False)
    except decoding.Malformed:
        return "MALFORMED_ENVELOPE"
    if defect is not None:
        return "MALFORMED_ENVELOPE"
    env = Envelope.FromString(data)
    return "canonical" if len(env.signatures) == 1 and env.payload else "MALFORMED_ENVELOPE"


def naive_result(message: str, data: bytes) -> str:
    """A plain decode and re-encode with upb (unknown fields kept): what the profile replaces."""
    cls = statement_pb2.Statement if message == STATEMENT else envelope_pb2.Envelope
    bad = "MALFORMED_STATEMENT" if message == STATEMENT else "MALFORMED_ENVELOPE"
    try:
        msg = cls.FromString(data)
    except Exception:
        return bad
    if msg.SerializeToString(deterministic=True) == data:
        return "canonical"
    return "NONCANONICAL_ENCODING" if message == STATEMENT else bad


def _params() -> list[Any]:
    return [pytest.param(c, id=c.name, marks=pytest.mark.req(*c.requirements)) for c in CASES]


@pytest.mark.req("STM-001", "STM-002", "STM-014", "STM-015", "STM-016", "ENV-009")
def test_wire_file_covers_every_profile_row_and_result() -> None:
    """wire.json has a case for each row of SPEC 6.2's profile table (W1..P1) and every result of both
    messages."""
    rows = {c.comment.split(":", 1)[0] for c in CASES if c.message == STATEMENT}
    expected = {f"{row}{i}" for row, n in (("W", 6), ("K", 11), ("U", 5), ("P", 1)) for i in range(1, n + 1)}
    assert expected <= rows
    assert {(c.message, c.result) for c in CASES} == {(m, r) for m, rs in RESULTS.items() for r in rs}


@pytest.mark.parametrize("case", _params())
def test_wire_vector_library(case: WireCase) -> None:
    """Decode the bytes alone with the library; expect the file's result."""
    assert library_result(case.message, case.data) == case.result, case.comment


@pytest.mark.parametrize("case", _params())
def test_wire_vector_scanner_alone(case: WireCase) -> None:
    """Decode the bytes with the profile's scanner only; expect the file's result (the fast path of the
    library must not be what makes a case pass)."""
    assert scanner_result(case.message, case.data) == case.result, case.comment


@pytest.mark.parametrize("case", _params())
def test_wire_bytes_are_what_the_transcript_feeds(case: WireCase) -> None:
    """The ``wire`` bytes are the last envelope of the test (an Envelope case) or its payload."""
    if case.message == ENVELOPE:
        assert case.data == case.last_envelope
    else:
        env = envelope_pb2.Envelope.FromString(case.last_envelope)
        assert env.payload == case.data


@pytest.mark.req("STM-001", "ENV-009")
def test_a_plain_decode_and_reencode_fails_the_file() -> None:
    """The file must catch a decoder that checks canonical form by decode, re-encode, compare (the
    pre-profile check): expect it to get at least 20 cases wrong, among them every case flagged
    DecoderDisagreement."""
    wrong = [c for c in CASES if naive_result(c.message, c.data) != c.result]
    assert len(wrong) >= 20
    flagged = {c.tc_id for c in CASES if "DecoderDisagreement" in c.flags}
    assert flagged <= {c.tc_id for c in wrong}


def test_the_runner_can_fail() -> None:
    """A wrong expectation is reported: flip each kind of result and expect a mismatch."""
    for case in CASES[:: max(1, len(CASES) // 10)]:
        wrong = next(r for r in sorted(RESULTS[case.message]) if r != case.result)
        assert library_result(case.message, case.data) != wrong
        assert scanner_result(case.message, case.data) != wrong


def test_malformed_wire_members_are_refused() -> None:
    """A runner must not silently pass a broken file: expect ValueError for a missing or odd member."""
    doc = json.loads(WIRE_FILE.read_text(encoding="utf-8"))
    test = doc["testGroups"][0]["tests"][0]
    for bad in ({}, {**test["wire"], "result": "valid"}, {**test["wire"], "message": "Envelope"}):
        broken = {"testGroups": [{"tests": [{**test, "wire": bad}]}]}
        with pytest.raises(ValueError):
            load(broken)
