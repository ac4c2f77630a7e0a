"""One statement, one envelope: canonical binary envelopes (ENV-009) and the strict JSON form (ENV-010).

The envelope is not signed, so before ENV-009 a relay could add an unknown field (or pad a length,
reorder fields, repeat one) and the same signed statement circulated, and was stored, as a second
envelope. The JSON form had the same problem with its own leniencies (padding bits, repeated member
names, extra members).
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from peers import make_peer

from a2a_coop.protocol.envelope import (
    decode_envelope,
    envelope_from_json,
    envelope_to_json,
    strict_json_loads,
    verify_envelope,
)
from a2a_coop.protocol.errors import CoopError, MalformedEnvelope
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.protocol.verifier import Verifier
from a2a_coop.runtime.journal import Journal
from a2a_coop.testing import FixedClock, LocalEscrow, Party


def _varint(n: int, width: int = 0) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        if n or len(out) + 1 < width:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _field(number: int, value: bytes, *, width: int = 0) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(value), width) + value


def _parts(data: bytes) -> tuple[bytes, bytes, bytes, bytes]:
    env = decode_envelope(data)
    sig = env.signatures[0]
    return env.payload, env.payload_type.encode(), sig.keyid.encode(), sig.sig


def _signature(keyid: bytes, sig: bytes) -> bytes:
    return _field(1, keyid) + _field(2, sig)


def _rebuilt(data: bytes, how: str) -> bytes:
    """The envelope's parts put together again in another (non-canonical) way."""
    p, t, k, s = _parts(data)
    sig = _signature(k, s)
    return {
        "unknown field 3 in the Signature": _field(1, p) + _field(2, t) + _field(3, sig + b"\x18\x01"),
        "payload_type before payload": _field(2, t) + _field(1, p) + _field(3, sig),
        "sig before keyid": _field(1, p) + _field(2, t) + _field(3, _field(2, s) + _field(1, k)),
        "payload length padded": _field(1, p, width=3) + _field(2, t) + _field(3, sig),
        "payload_type twice": _field(1, p) + _field(2, t) + _field(2, t) + _field(3, sig),
    }[how]


# Each edit keeps the payload and the signature: only the envelope's own bytes change.
VARIANTS: dict[str, Callable[[bytes], bytes]] = {
    "unknown varint field 4 at the end": lambda d: d + b"\x20\x01",
    "unknown bytes field 15 at the end": lambda d: d + b"\x7a\x00",
    "payload twice (garbage first)": lambda d: _field(1, b"\xff") + d,
    **{
        how: functools.partial(_rebuilt, how=how)
        for how in (
            "unknown field 3 in the Signature",
            "payload_type before payload",
            "sig before keyid",
            "payload length padded",
            "payload_type twice",
        )
    },
}


@pytest.fixture
def offer(alice: Party, bob: Party) -> VerifiedStatement:
    return alice.offer(bob)


@pytest.mark.req("ENV-009")
@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_non_canonical_envelope_of_a_valid_statement_is_refused(
    name: str, alice: Party, offer: VerifiedStatement
) -> None:
    """A relay re-encodes a valid envelope without touching payload or signature; expect
    MALFORMED_ENVELOPE [ENV-009] from decode_envelope, verify_envelope and verify_statement, where the
    envelope as signed verifies."""
    data = VARIANTS[name](offer.envelope)
    assert data != offer.envelope
    for check in (decode_envelope, verify_envelope, verify_statement):
        with pytest.raises(MalformedEnvelope) as err:
            check(data)
        assert err.value.requirement == "ENV-009", name
    verify_statement(offer.envelope)


@pytest.mark.req("ENV-004", "ENV-009")
def test_malformed_envelope_is_env_004_and_non_canonical_is_env_009(offer: VerifiedStatement) -> None:
    """A truncated envelope, a group, a wrong wire type are not Envelopes (ENV-004); a padded tag over 5
    bytes parses under the profile but is not canonical (ENV-009). All share MALFORMED_ENVELOPE."""
    data = offer.envelope
    for bad in (data[:-1], data + b"\x23\x24", data + b"\x10\x01"):
        with pytest.raises(MalformedEnvelope) as err:
            verify_envelope(bad)
        assert err.value.requirement == "ENV-004"
    padded_tag = b"\x8a\x80\x80\x80\x80\x00" + data[1:]
    with pytest.raises(MalformedEnvelope) as err:
        verify_envelope(padded_tag)
    assert err.value.requirement == "ENV-009"


@pytest.mark.req("ENV-009", "ERR-003")
def test_verifier_records_nothing_for_a_second_envelope_of_one_statement(
    alice: Party, offer: VerifiedStatement
) -> None:
    """An auditor holds the Mandate; the offer with an extra envelope field is refused and changes
    nothing, and the offer as signed is then accepted."""
    v = Verifier()
    for env in alice.setup:
        v.accept(env)
    before = set(v.statements)
    with pytest.raises(MalformedEnvelope):
        v.accept(offer.envelope + b"\x20\x01")
    assert set(v.statements) == before
    v.accept(offer.envelope)
    assert offer.digest in v.statements


@pytest.mark.req("ENV-009", "VER-002")
def test_exchange_and_submit_refuse_a_second_envelope_and_store_only_the_canonical_one(
    tmp_path: Path,
) -> None:
    """The issue's case: Bob's peer (with a journal) and an escrow each get Alice's offer with an extra
    unknown envelope field; expect MALFORMED_ENVELOPE from both, nothing recorded, then the canonical
    envelope accepted and stored byte for byte."""
    clock = FixedClock()
    alice, bob, escrow_party = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    pa = make_peer(alice, clock)
    pb = make_peer(bob, clock, journal=Journal.open(tmp_path / "bob.db"))
    offer = pa.propose(pb.did, alice.proposal())
    extra = offer.envelope + b"\x20\x01"
    seq = pb.writer.next_seq
    with pytest.raises(MalformedEnvelope):
        pb.exchange(extra, pa.send_context())
    with pytest.raises(MalformedEnvelope):
        pb.exchange(offer.envelope, [*pa.send_context()[:-1], pa.send_context()[-1] + b"\x20\x01"])
    assert pb.writer.next_seq == seq
    assert offer.digest not in pb.verifier.statements
    pb.exchange(offer.envelope, pa.send_context())
    assert pb.verifier.statements[offer.digest].envelope == offer.envelope

    escrow = LocalEscrow(escrow_party)
    escrow.submit(alice.setup)
    size = escrow.escrow.ledger_size
    with pytest.raises(MalformedEnvelope):
        escrow.submit([extra])
    assert escrow.escrow.ledger_size == size
    assert offer.digest not in escrow.escrow.verifier.statements


@pytest.mark.req("ENV-009")
def test_every_signed_envelope_is_canonical(offer: VerifiedStatement) -> None:
    """What this library signs is the canonical envelope: decoding and re-encoding it changes nothing."""
    env = decode_envelope(offer.envelope)
    assert env.SerializeToString(deterministic=True) == offer.envelope
    assert envelope_from_json(envelope_to_json(offer.envelope)) == offer.envelope


# --- ENV-010: the JSON form ---------------------------------------------------------------------


def _json(offer: VerifiedStatement) -> dict[str, object]:
    return envelope_to_json(offer.envelope)


def _set_pad_bits(text: str) -> str:
    """The same bytes in base64 whose unused bits of the last character are not zero."""
    assert text.endswith("=")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    i = len(text.rstrip("=")) - 1
    return text[:i] + alphabet[alphabet.index(text[i]) | 1] + text[i + 1 :]


@pytest.mark.req("ENV-010", "ENV-001")
def test_json_text_round_trips_and_is_read_from_text_and_bytes(offer: VerifiedStatement) -> None:
    """The JSON form as an object, as text and as UTF-8 bytes gives the same canonical envelope."""
    obj = _json(offer)
    text = json.dumps(obj)
    assert envelope_from_json(obj) == envelope_from_json(text) == envelope_from_json(text.encode())
    assert envelope_from_json(text) == offer.envelope


@pytest.mark.req("ENV-010")
@pytest.mark.parametrize(
    "text",
    [
        '{"payload": "AA==", "payload": "AQ==", "payloadType": "t", "signatures": [{"keyid": "k", '
        '"sig": ""}]}',
        '{"payload": "AA==", "payloadType": "t", "signatures": [{"keyid": "k", "keyid": "j", "sig": ""}]}',
        '{"payload": "AA==", "payloadType": "t", "signatures": [{"keyid": "k", "sig": ""}], '
        '"signatures": []}',
    ],
    ids=["payload", "keyid", "signatures"],
)
def test_json_with_a_member_name_twice_is_refused(text: str) -> None:
    """A parser keeps the first or the last of two equal names; expect MALFORMED_ENVELOPE [ENV-010]."""
    with pytest.raises(MalformedEnvelope) as err:
        envelope_from_json(text)
    assert err.value.requirement == "ENV-010"


def _variants(offer: VerifiedStatement) -> dict[str, object]:
    good = _json(offer)
    sig = good["signatures"][0]  # type: ignore[index]
    payload = str(good["payload"])
    sig_text = str(sig["sig"])

    def with_(**changes: object) -> dict[str, object]:
        return {**good, **changes}

    def with_sig(**changes: object) -> dict[str, object]:
        return with_(signatures=[{**sig, **changes}])

    raw_sig = base64.b64decode(sig_text)
    return {
        "payload pad bits set": with_(
            payload=_set_pad_bits(payload) if payload.endswith("=") else payload + "!"
        ),
        "sig pad bits set": with_sig(sig=_set_pad_bits(sig_text)),
        "payload without padding": with_(payload=payload.rstrip("=") if payload.endswith("=") else "A"),
        "sig without padding": with_sig(sig=sig_text.rstrip("=")),
        "sig with extra padding": with_sig(sig=sig_text + "=="),
        "payload with a line break": with_(payload=payload[:20] + "\n" + payload[20:]),
        "payload with a space": with_(payload=payload[:8] + " " + payload[8:]),
        "sig in URL-safe base64": with_sig(sig=base64.urlsafe_b64encode(raw_sig + b"\xfb\xff").decode()),
        "keyid missing": with_(signatures=[{"sig": sig_text}]),
        "keyid not a string": with_sig(keyid=None),
        "sig not a string": with_sig(sig=5),
        "payloadType not a string": with_(payloadType=["x"]),
        "an extra top-level member": with_(comment="hi"),
        "an extra signature member": with_sig(cert="x"),
        "no signature": with_(signatures=[]),
        "two signatures": with_(signatures=[sig, sig]),
        "signatures not an array": with_(signatures=sig),
        "not an object": [good],
    }


@pytest.mark.req("ENV-010")
def test_json_outside_the_profile_is_refused(offer: VerifiedStatement) -> None:
    """Each leniency of DSSE tooling the profile does not allow; expect MALFORMED_ENVELOPE [ENV-010]
    for every one, never a KeyError or a different signature."""
    variants = _variants(offer)
    assert len(variants) == 18
    for name, obj in variants.items():
        with pytest.raises(MalformedEnvelope) as err:
            envelope_from_json(obj)
        assert err.value.requirement == "ENV-010", name
        with pytest.raises(MalformedEnvelope):
            envelope_from_json(json.dumps(obj))


@pytest.mark.req("ENV-010")
def test_json_pad_bits_would_otherwise_name_the_same_bytes(offer: VerifiedStatement) -> None:
    """The non-canonical base64 that ENV-010 refuses really decodes to the same bytes under a lenient
    decoder: the refusal is what keeps one envelope one JSON text."""
    sig_text = str(_json(offer)["signatures"][0]["sig"])  # type: ignore[index]
    assert base64.b64decode(_set_pad_bits(sig_text)) == base64.b64decode(sig_text)


@pytest.mark.req("ENV-010", "STM-004")
def test_json_with_an_empty_keyid_converts_and_fails_at_step_4(offer: VerifiedStatement) -> None:
    """An empty keyid is present: the JSON form is fine, and verification fails with KEY_INVALID."""
    obj = _json(offer)
    obj["signatures"][0]["keyid"] = ""  # type: ignore[index]
    with pytest.raises(CoopError) as err:
        verify_statement(envelope_from_json(obj))
    assert err.value.code == "KEY_INVALID"


@pytest.mark.req("ENV-010")
@pytest.mark.parametrize(
    "text",
    ["[" * 5000 + "]" * 5000, b"\xff\xfe{}", '{"payload": NaN}', "{", ""],
    ids=["deep", "not-utf8", "nan", "cut-off", "empty"],
)
def test_json_text_that_is_not_json_is_malformed_without_a_traceback(text: str | bytes) -> None:
    """Deep nesting, bytes that are not UTF-8, NaN, cut-off and empty text; expect MALFORMED_ENVELOPE."""
    with pytest.raises(MalformedEnvelope):
        envelope_from_json(text)


def test_strict_json_loads_refuses_repeated_names_at_any_depth() -> None:
    """The parser behind ENV-010 is usable for any JSON input (a transcript holding envelopes)."""
    assert strict_json_loads('{"a": [{"b": 1}]}') == {"a": [{"b": 1}]}
    for text in ('{"a": 1, "a": 1}', '{"x": [{"b": 1, "b": 2}]}', "Infinity"):
        with pytest.raises(ValueError):
            strict_json_loads(text)
