"""The decoding profile (SPEC 6.2): what parses, what is canonical, and which code each case gets.

The profile is a scan of the bytes against the schema (:mod:`a2a_coop.protocol.decoding`);
:func:`decode_statement` takes upb's parse and re-encode as a fast path and falls back to the scan.
These tests pin each row of SPEC 6.2's profile table with a small payload, check SPEC's own example
table against the library, and check by fuzzing that the fast path never decides differently from
the scan.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from google.protobuf.descriptor import FieldDescriptor
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from a2a_coop._proto.a2acoop.v1 import statement_pb2, trade_pb2
from a2a_coop.protocol import decoding
from a2a_coop.protocol.errors import CoopError, MalformedStatement, NonCanonicalEncoding
from a2a_coop.protocol.statements import STATEMENT_SPEC, decode_statement, encode_statement
from a2a_coop.testing import FixedClock, Party, Signer

SPEC = Path(__file__).resolve().parent.parent / "SPEC.md"
MALFORMED, NONCANONICAL, CANONICAL = "MALFORMED_STATEMENT", "NONCANONICAL_ENCODING", "canonical"


def _outcome(payload: bytes) -> tuple[str, str]:
    """(code or 'canonical', requirement) of decode_statement."""
    try:
        decode_statement(payload)
    except CoopError as exc:
        return exc.code, exc.requirement
    return CANONICAL, ""


def _scan(payload: bytes) -> str:
    try:
        return CANONICAL if decoding.check(payload, STATEMENT_SPEC) is None else NONCANONICAL
    except decoding.Malformed:
        return MALFORMED


H = "0a020801"  # Statement{header{version: 1}}

# (row of SPEC 6.2's profile table, payload hex, code, requirement the library names)
ROWS = [
    ("W1 tag cut off", H + "c0", MALFORMED, "STM-014"),
    ("W1 value cut off", "0a0208", MALFORMED, "STM-014"),
    ("W2 11-byte varint", "0a0c08" + "81" + "80" * 9 + "00", MALFORMED, "STM-014"),
    ("W2 value 2^64", "0a0b30" + "80" * 9 + "02", MALFORMED, "STM-014"),
    ("W2 value 2^64 - 1 parses", "0a0b30" + "ff" * 9 + "01", CANONICAL, ""),
    ("W3 field number 0", H + "0001", MALFORMED, "STM-014"),
    ("W3 tag 2^32", H + "808080801001", MALFORMED, "STM-014"),
    ("W3 field number 2^29 - 1", H + "f8ffffff0f01", CANONICAL, ""),
    ("W4 group", H + "9b0608019c06", MALFORMED, "STM-014"),
    ("W4 end group", H + "9c06", MALFORMED, "STM-014"),
    ("W4 wire type 6", H + "9e0601", MALFORMED, "STM-014"),
    ("W4 wire type 7", H + "9f0601", MALFORMED, "STM-014"),
    ("W5 length past the payload", "0a05", MALFORMED, "STM-014"),
    ("W5 length past the sub-message", "0a0412030000" + "00", MALFORMED, "STM-014"),
    ("W5 fixed64 cut short", H + "99060102", MALFORMED, "STM-014"),
    ("W5 fixed32 cut short", H + "9d060102", MALFORMED, "STM-014"),
    ("W6 padded value", "0a03088100", NONCANONICAL, "STM-002"),
    ("W6 padded tag", "0a03880001", NONCANONICAL, "STM-002"),
    ("W6 tag over 5 bytes", "0a0788808080800001", NONCANONICAL, "STM-002"),
    ("W6 tag over 10 bytes", "0a0c" + "88" + "80" * 9 + "00" + "01", MALFORMED, "STM-014"),
    ("W6 padded length", "0a8200" + "0801", NONCANONICAL, "STM-002"),
    ("W6 10-byte varint ending in 00", "0a0b08" + "81" + "80" * 8 + "00", NONCANONICAL, "STM-002"),
    ("K1 uint32 as length-delimited", "0a030a0101", MALFORMED, "STM-015"),
    ("K1 string as varint", "0a021001", MALFORMED, "STM-015"),
    ("K1 message as varint, at the end", H + "0801", MALFORMED, "STM-015"),
    ("K2 uint32 2^32 + 1", "0a06088180808010", MALFORMED, "STM-015"),
    ("K2 uint32 2^32 - 1", "0a0608ffffffff0f", CANONICAL, ""),
    ("K5 enum -1", "a2010d0a0b08" + "ff" * 9 + "01", MALFORMED, "STM-015"),
    ("K5 enum 2^31", "a201080a06088080808008", MALFORMED, "STM-015"),
    ("K6 enum 2^31 - 1", "a201080a0608ffffffff07", CANONICAL, ""),
    ("K4 bool 2", "a201061a042a020802", MALFORMED, "STM-015"),
    ("K4 bool 1", "a201061a042a020801", CANONICAL, ""),
    ("K10 bool 0 written", "a201061a042a020800", NONCANONICAL, "STM-002"),
    ("K7 not UTF-8", "0a041202fffe", MALFORMED, "STM-015"),
    ("K7 surrogate", "0a051203eda080", MALFORMED, "STM-015"),
    ("K7 U+10FFFF", "0a061204f48fbfbf", CANONICAL, ""),
    ("K8 version twice", "0a0408010801", NONCANONICAL, "STM-002"),
    ("K8 header split in two", "0a0208010a03120161", NONCANONICAL, "STM-002"),
    ("K8 out of order", "0a0512016108" + "01", NONCANONICAL, "STM-002"),
    ("K8 first of two occurrences not UTF-8", "0a031201ff" + H, MALFORMED, "STM-015"),
    ("K8 repeated not consecutive", "0a09" + "5a0162" + "62012a" + "5a0163", NONCANONICAL, "STM-002"),
    ("K9 two body members", H + "52006a00", NONCANONICAL, "STM-002"),
    ("K9 two members of Claim.value", "a201072a05180022" + "0100", NONCANONICAL, "STM-002"),
    ("K10 explicit 0", "0a020800", NONCANONICAL, "STM-002"),
    ("K10 explicit empty string", "0a021200", NONCANONICAL, "STM-002"),
    ("K11 empty sub-message", "0a00", CANONICAL, ""),
    ("K11 empty repeated element", "0a025a00", CANONICAL, ""),
    ("U1 field 5 at the end", H + "2801", MALFORMED, "STM-016"),
    ("U1 field 14 before the body", H + "72005200", MALFORMED, "STM-016"),
    ("U2 unknown varint", H + "c03e01", CANONICAL, ""),
    ("U2 unknown 10-byte varint", H + "c03e" + "ff" * 9 + "01", CANONICAL, ""),
    ("U2 unknown fixed64 and fixed32", H + "c13e0102030405060708c53e01020304", CANONICAL, ""),
    ("U2 unknown bytes not UTF-8", H + "c23e02fffe", CANONICAL, ""),
    ("U3 unknown before known", "c03e01" + H, NONCANONICAL, "STM-016"),
    ("U3 known field twice, an unknown between", H + "c03e01" + H, NONCANONICAL, "STM-016"),
    ("U3 unknown fields out of order", H + "c83e01c03e01", NONCANONICAL, "STM-016"),
    ("U4 unknown padded value", H + "c03e8100", NONCANONICAL, "STM-016"),
    ("U4 unknown padded tag", H + "c0be0001", NONCANONICAL, "STM-016"),
    ("U4 unknown padded length", H + "c23e8200" + "0000", NONCANONICAL, "STM-016"),
    ("U5 unknown twice in a row", H + "c03e01c03e02", CANONICAL, ""),
    ("P1 padded, then cut off", "0a030881000a", MALFORMED, "STM-014"),
    ("P1 out of order, then a group", "c03e01" + H + "c33ec43e", MALFORMED, "STM-014"),
]


@pytest.mark.req("STM-001", "STM-002", "STM-014", "STM-015", "STM-016")
@pytest.mark.parametrize(("row", "payload", "code", "requirement"), ROWS, ids=[r[0] for r in ROWS])
def test_profile_row(row: str, payload: str, code: str, requirement: str) -> None:
    """One case per row of SPEC 6.2's profile table; expect its code and the rule the library names,
    from the library (fast path included) and from the scan alone."""
    data = bytes.fromhex(payload)
    assert _outcome(data) == (code, requirement), row
    assert _scan(data) == code, row


def _spec_examples() -> list[tuple[str, str]]:
    """(payload hex, result) of each row of SPEC 6.2's example table."""
    text = SPEC.read_text(encoding="utf-8")
    section = text[text.index("### 6.2 Canonical encoding") : text.index("### 6.3 Digest")]
    table = section[section.index("| Payload (hex) |") :]
    rows = []
    for line in table.splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows.append((cells[0].strip("`").replace(" ", ""), cells[2].split(" ")[0].strip("`")))
    return rows


@pytest.mark.req("STM-001", "STM-002", "STM-014", "STM-015", "STM-016")
def test_spec_example_table_is_what_the_library_says() -> None:
    """Every example payload of SPEC 6.2 gets the result the SPEC gives it."""
    rows = _spec_examples()
    assert len(rows) >= 14
    for payload, result in rows:
        assert re.fullmatch(r"[0-9a-f]+", payload), payload
        assert _outcome(bytes.fromhex(payload))[0] == result, payload


@pytest.mark.req("STM-001", "STM-016", "VER-002")
def test_canonical_payload_with_unknown_fields_keeps_them(alice: Party) -> None:
    """A canonical payload with unknown fields (the scan's path): expect the decoded statement to hold
    them, so re-encoding it gives back the payload byte for byte."""
    payload = encode_statement(alice.mandate_vs.statement) + bytes.fromhex("c03e01c23e03abc0ff")
    stmt = decode_statement(payload)
    assert stmt.mandate.agent == alice.did
    assert stmt.SerializeToString(deterministic=True) == payload


@pytest.mark.req("STM-015")
def test_negative_enum_is_malformed_even_though_upb_reads_it_back(alice: Party, bob: Party) -> None:
    """Item.kind = -1 (10 bytes): upb reads -1 and re-encodes it unchanged, and BDY-002 refuses only 0,
    so a plain decode and re-encode accepted it. Expect MALFORMED_STATEMENT [STM-015]; the same offer
    with kind 2^31 - 1 decodes."""
    offer = alice.offer(bob).statement
    offer.offer.gives[0].kind = -1  # type: ignore[assignment]
    payload = encode_statement(offer)
    assert statement_pb2.Statement.FromString(payload).SerializeToString(deterministic=True) == payload
    assert _outcome(payload) == (MALFORMED, "STM-015")
    offer.offer.gives[0].kind = 2**31 - 1  # type: ignore[assignment]
    assert decode_statement(encode_statement(offer)).offer.gives[0].kind == 2**31 - 1


# --- the fast path never decides differently from the scan ----------------------------------------


def _seeds() -> list[bytes]:
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    escrow = Signer("escrow", clock)
    rich = alice.proposal(
        issuer_bond=5,
        escrow=escrow.did,
        revocation=trade_pb2.Revocation(allowed=True, notice_ms=5),
        claims=[
            trade_pb2.Claim(kind=trade_pb2.CLAIM_KIND_NEED, subject="x", amount=0),
            trade_pb2.Claim(kind=trade_pb2.CLAIM_KIND_HOLDING, subject="y", commitment=b"\x01" * 32),
        ],
    )
    return [
        encode_statement(alice.offer(bob, rich).statement),
        encode_statement(alice.mandate_vs.statement),
        bytes.fromhex(H + "c03e01"),
    ]


SEEDS = _seeds()
SNIPPETS = [
    bytes.fromhex(h) for h in ("c03e01", "c03e8100", "9806", "0801", "1200", "c23e01ff", "ff" * 4 + "01")
]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.integers(0, 4))
        i = draw(st.integers(0, len(data)))
        if op == 0 and i < len(data):
            data[i] = draw(st.integers(0, 255))
        elif op == 1:
            data[i:i] = bytes([draw(st.integers(0, 255))])
        elif op == 2 and i < len(data):
            del data[i]
        elif op == 3:
            data[i:i] = draw(st.sampled_from(SNIPPETS))
        else:
            j = draw(st.integers(i, len(data)))
            data[i:] = data[j:] + data[i:j]
    return bytes(data)


@pytest.mark.req("STM-001", "STM-002", "STM-014", "STM-015", "STM-016")
@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_fast_path_and_scan_agree(payload: bytes) -> None:
    """Mutated statements (bytes changed, inserted, deleted, moved; unknown fields and padded varints
    spliced in): expect decode_statement to give exactly the scan's verdict, only CoopErrors, and,
    when canonical, a message that re-encodes to the payload."""
    verdict = _scan(payload)
    try:
        stmt = decode_statement(payload)
    except (MalformedStatement, NonCanonicalEncoding) as exc:
        assert exc.code == verdict
    else:
        assert verdict == CANONICAL
        assert stmt.SerializeToString(deterministic=True) == payload


@given(st.binary(max_size=200))
@settings(max_examples=300, deadline=None)
def test_any_bytes_decode_or_fail_with_a_code(payload: bytes) -> None:
    """Random bytes never raise anything but the two codes of steps 8 and 9."""
    with contextlib.suppress(MalformedStatement, NonCanonicalEncoding):
        decode_statement(payload)


# --- the schema the profile accepts -----------------------------------------------------------------


def _descriptor(name: str, type_: int, *, repeated: bool = False, map_entry: bool = False) -> Any:
    sub = SimpleNamespace(
        full_name="t.Entry", fields=[], GetOptions=lambda: SimpleNamespace(map_entry=map_entry)
    )
    field = SimpleNamespace(
        name=name,
        number=1,
        type=type_,
        is_repeated=repeated,
        has_presence=False,
        containing_oneof=None,
        message_type=sub,
    )
    return SimpleNamespace(full_name="t.M", fields=[field])


@pytest.mark.req("STM-015")
@pytest.mark.parametrize(
    "descriptor",
    [
        _descriptor("signed", FieldDescriptor.TYPE_INT64),
        _descriptor("zigzag", FieldDescriptor.TYPE_SINT32),
        _descriptor("fixed", FieldDescriptor.TYPE_FIXED64),
        _descriptor("real", FieldDescriptor.TYPE_DOUBLE),
        _descriptor("old", FieldDescriptor.TYPE_GROUP),
        _descriptor("packed", FieldDescriptor.TYPE_UINT64, repeated=True),
        _descriptor("table", FieldDescriptor.TYPE_MESSAGE, repeated=True, map_entry=True),
    ],
    ids=["int64", "sint32", "fixed64", "double", "group", "repeated-uint64", "map"],
)
def test_profile_refuses_a_schema_outside_it(descriptor: Any) -> None:
    """A message with a type v1 does not use (signed, zigzag, fixed, floating, group, packed, map) has
    no rules in the profile yet; expect building its spec to fail rather than guess."""
    with pytest.raises(ValueError, match="not in the profile"):
        decoding.message_spec(descriptor)


@pytest.mark.req("STM-014")
def test_varint_reader_bounds() -> None:
    """10 bytes ending in 01 is 2^64 - 1; ending in 02 or longer, malformed; shortest sizes are right."""
    assert decoding.read_varint(b"\xff" * 9 + b"\x01", 0, 10) == (2**64 - 1, 10)
    for bad in (b"\xff" * 9 + b"\x02", b"\x80" * 10 + b"\x00", b"\x80\x80"):
        with pytest.raises(decoding.Malformed):
            decoding.read_varint(bad, 0, len(bad))
    assert [decoding.varint_size(n) for n in (0, 127, 128, 2**63, 2**64 - 1)] == [1, 1, 2, 10, 10]
