"""Signed envelopes: DSSE PAE, structure, payload type, strict Ed25519 (SPEC section 5, ENV-*)."""

from __future__ import annotations

import base64
import hashlib

import pytest

from a2a_coop._proto.a2acoop.v1 import envelope_pb2
from a2a_coop.protocol.envelope import (
    MAX_ENVELOPE_BYTES,
    STATEMENT_PAYLOAD_TYPE,
    decode_envelope,
    envelope_from_json,
    envelope_to_json,
    pae,
    parse_envelope,
    sign_payload,
    statement_digest,
    verify_envelope,
)
from a2a_coop.protocol.errors import (
    EnvelopeTooLarge,
    KeyInvalid,
    MalformedEnvelope,
    NonCanonicalEncoding,
    SignatureInvalid,
    SignatureNonCanonical,
    UnsupportedPayloadType,
)
from a2a_coop.protocol.identity import GROUP_ORDER, Keypair, ed25519_verify
from a2a_coop.protocol.statements import Statement, VerifiedStatement, encode_statement, verify_statement
from a2a_coop.testing import FixedClock, Party, derive

KEY = Keypair.from_seed(derive("envelope/key"))
OTHER = Keypair.from_seed(derive("envelope/other"))


def _envelope(
    payload: bytes = b"payload",
    payload_type: str = STATEMENT_PAYLOAD_TYPE,
    sigs: list[tuple[str, bytes]] | None = None,
) -> bytes:
    env = envelope_pb2.Envelope(payload=payload, payload_type=payload_type)
    if sigs is None:
        sigs = [(KEY.did, KEY.sign(pae(payload_type, payload)))]
    for keyid, sig in sigs:
        env.signatures.add(keyid=keyid, sig=sig)
    return env.SerializeToString(deterministic=True)


def _with_s(sig: bytes, s: int) -> bytes:
    return sig[:32] + s.to_bytes(32, "little")


@pytest.fixture
def offer(alice: Party, bob: Party) -> VerifiedStatement:
    return alice.offer(bob)


# --- ENV-002: what is signed ----------------------------------------------------------------------


@pytest.mark.req("ENV-002")
def test_pae_matches_the_dsse_specification_example() -> None:
    """The DSSE spec's own example; expect byte-identical PAE."""
    assert (
        pae("http://example.com/HelloWorld", b"hello world")
        == b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


@pytest.mark.req("ENV-002")
def test_pae_lengths_are_decimal_byte_counts_without_leading_zeros() -> None:
    """Non-ASCII type and a payload of 100 bytes; expect byte (not character) lengths in plain decimal."""
    assert pae("é", b"") == b"DSSEv1 2 \xc3\xa9 0 "
    assert pae("t", b"x" * 100).startswith(b"DSSEv1 1 t 100 x")


@pytest.mark.req("ENV-002", "ENV-006")
def test_signature_covers_pae_of_type_and_payload(offer: VerifiedStatement) -> None:
    """A third party recomputes PAE by hand; expect the envelope's signature to verify over exactly it,
    and not over the bare payload."""
    env = decode_envelope(offer.envelope)
    sig, payload = env.signatures[0].sig, env.payload
    public_key = Keypair.from_seed(derive("key/alice")).public_key
    message = b"DSSEv1 %d %s %d %s" % (
        len(STATEMENT_PAYLOAD_TYPE),
        STATEMENT_PAYLOAD_TYPE.encode(),
        len(payload),
        payload,
    )
    assert ed25519_verify(sig, message, public_key)
    assert not ed25519_verify(sig, payload, public_key)


@pytest.mark.req("ENV-002")
def test_signature_for_one_payload_type_does_not_verify_under_another() -> None:
    """An attacker relabels a signed payload with a different type string of the same length;
    expect the signature to fail, because the type is inside the signed bytes."""
    other_type = STATEMENT_PAYLOAD_TYPE.replace("v1", "v2")
    sig = KEY.sign(pae(other_type, b"payload"))
    with pytest.raises(SignatureInvalid):
        verify_envelope(_envelope(sigs=[(KEY.did, sig)]))


# --- ENV-001: the JSON form ------------------------------------------------------------------------


@pytest.mark.req("ENV-001")
def test_dsse_json_form_round_trips_to_the_same_bytes(offer: VerifiedStatement) -> None:
    """An envelope is written as DSSE JSON and read back; expect the same envelope bytes and the
    DSSE field names with standard base64."""
    obj = envelope_to_json(offer.envelope)
    assert set(obj) == {"payload", "payloadType", "signatures"}
    assert obj["payloadType"] == STATEMENT_PAYLOAD_TYPE
    assert [set(s) for s in obj["signatures"]] == [{"keyid", "sig"}]
    env = decode_envelope(offer.envelope)
    assert obj["payload"] == base64.b64encode(env.payload).decode()
    assert obj["signatures"][0]["sig"] == base64.b64encode(env.signatures[0].sig).decode()
    assert envelope_from_json(obj) == offer.envelope
    verify_statement(envelope_from_json(obj))


@pytest.mark.req("ENV-001")
def test_dsse_json_with_url_safe_base64_is_refused(offer: VerifiedStatement) -> None:
    """A tool writes the signature in URL-safe base64 ('-' and '_'); expect MALFORMED_ENVELOPE, not
    a silently different signature."""
    obj = envelope_to_json(offer.envelope)
    sig = base64.b64decode(obj["signatures"][0]["sig"])
    urlsafe = base64.urlsafe_b64encode(sig).decode()
    assert urlsafe != obj["signatures"][0]["sig"]  # this signature has '+' or '/'
    obj["signatures"][0]["sig"] = urlsafe
    with pytest.raises(MalformedEnvelope):
        envelope_from_json(obj)


@pytest.mark.req("ENV-001", "ENV-004")
@pytest.mark.parametrize(
    "obj",
    [
        {},
        {"payload": "AA==", "payloadType": STATEMENT_PAYLOAD_TYPE},
        {"payload": 5, "payloadType": STATEMENT_PAYLOAD_TYPE, "signatures": []},
        {"payload": "not base64!", "payloadType": STATEMENT_PAYLOAD_TYPE, "signatures": []},
        {"payload": "AA==", "payloadType": STATEMENT_PAYLOAD_TYPE, "signatures": [{"keyid": "x"}]},
        ["payload"],
    ],
)
def test_malformed_dsse_json_is_refused(obj: object) -> None:
    """A JSON file misses fields or has the wrong types; expect MALFORMED_ENVELOPE, never a KeyError."""
    with pytest.raises(MalformedEnvelope):
        envelope_from_json(obj)


# --- ENV-003, ENV-004: structure -------------------------------------------------------------------


@pytest.mark.req("ENV-003")
def test_envelope_with_another_payload_type_is_refused() -> None:
    """A correctly signed envelope of another media type (e.g. an in-toto statement) is offered as a
    statement; expect UNSUPPORTED_PAYLOAD_TYPE."""
    data = _envelope(payload_type="application/vnd.in-toto+json")
    with pytest.raises(UnsupportedPayloadType) as err:
        verify_envelope(data)
    assert err.value.requirement == "ENV-003"


@pytest.mark.req("ENV-004")
def test_envelope_without_signature_is_refused() -> None:
    """A peer strips the signature; expect MALFORMED_ENVELOPE."""
    with pytest.raises(MalformedEnvelope, match="exactly one signature"):
        verify_envelope(_envelope(sigs=[]))


@pytest.mark.req("ENV-004")
def test_envelope_with_two_signatures_is_refused() -> None:
    """A second (valid) signature is added; expect MALFORMED_ENVELOPE: version 1 has exactly one."""
    sig = (KEY.did, KEY.sign(pae(STATEMENT_PAYLOAD_TYPE, b"payload")))
    other = (OTHER.did, OTHER.sign(pae(STATEMENT_PAYLOAD_TYPE, b"payload")))
    with pytest.raises(MalformedEnvelope):
        verify_envelope(_envelope(sigs=[sig, other]))


@pytest.mark.req("ENV-004")
def test_envelope_with_empty_payload_is_refused() -> None:
    """An envelope signs the empty payload; expect MALFORMED_ENVELOPE."""
    with pytest.raises(MalformedEnvelope, match="empty payload"):
        verify_envelope(_envelope(payload=b""))


@pytest.mark.req("ENV-004")
@pytest.mark.parametrize(
    "data", [b"\xff", b"\x0a\x05abc", b"\x0a\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80", b""]
)
def test_bytes_that_are_not_an_envelope_are_refused(data: bytes) -> None:
    """Garbage, a truncated field, an overlong varint, nothing at all; expect MALFORMED_ENVELOPE."""
    with pytest.raises(MalformedEnvelope):
        verify_envelope(data)


# --- ENV-005: verify what arrived ------------------------------------------------------------------


@pytest.mark.req("ENV-005", "STM-002")
def test_signature_is_checked_over_the_payload_as_received(alice: Party, bob: Party) -> None:
    """An issuer signs a non-canonical encoding (a field repeated) of a statement; expect the
    signature to verify over the received bytes and the statement to be refused afterwards as
    NONCANONICAL_ENCODING. A verifier that re-serialized first would say SIGNATURE_INVALID."""
    offer = alice.offer(bob)
    payload = decode_envelope(offer.envelope).payload
    # Re-emit header.version (field 1, varint) once more at the end of the Statement: proto3
    # parsers keep the last value, so the message is unchanged but the bytes are not canonical.
    noncanonical = payload + b"\x0a\x02\x08\x01"
    data = sign_payload(noncanonical, alice.agent.key)
    verified = verify_envelope(data)
    assert verified.payload == noncanonical
    assert verified.digest == statement_digest(noncanonical)
    with pytest.raises(NonCanonicalEncoding):
        verify_statement(data)


# --- ENV-006, ENV-007: strict Ed25519 -------------------------------------------------------------


@pytest.mark.req("ENV-006")
def test_signature_by_another_key_is_refused() -> None:
    """Mallory signs but names Alice's key as keyid; expect SIGNATURE_INVALID."""
    sig = OTHER.sign(pae(STATEMENT_PAYLOAD_TYPE, b"payload"))
    with pytest.raises(SignatureInvalid):
        verify_envelope(_envelope(sigs=[(KEY.did, sig)]))


@pytest.mark.req("ENV-006")
@pytest.mark.parametrize("length", [0, 32, 63, 65, 128])
def test_signature_of_wrong_length_is_refused(length: int) -> None:
    """A signature is truncated or padded; expect SIGNATURE_INVALID before any crypto runs."""
    sig = (KEY.sign(pae(STATEMENT_PAYLOAD_TYPE, b"payload")) * 2)[:length]
    with pytest.raises(SignatureInvalid, match="not 64"):
        verify_envelope(_envelope(sigs=[(KEY.did, sig)]))


@pytest.mark.req("ENV-006")
def test_signature_with_small_order_r_is_refused() -> None:
    """R is replaced by the identity point (a classic forgery ingredient); expect SIGNATURE_INVALID."""
    sig = KEY.sign(pae(STATEMENT_PAYLOAD_TYPE, b"payload"))
    for r in (bytes.fromhex("01" + "00" * 31), bytes.fromhex("ec" + "ff" * 30 + "7f")):
        with pytest.raises(SignatureInvalid):
            verify_envelope(_envelope(sigs=[(KEY.did, r + sig[32:])]))


@pytest.mark.req("ENV-006")
def test_signature_with_non_canonical_r_is_refused() -> None:
    """R is encoded with y >= p; expect SIGNATURE_INVALID (libsodium's strict rules)."""
    sig = KEY.sign(pae(STATEMENT_PAYLOAD_TYPE, b"payload"))
    bad_r = bytes.fromhex("ee" + "ff" * 30 + "7f")
    with pytest.raises(SignatureInvalid):
        verify_envelope(_envelope(sigs=[(KEY.did, bad_r + sig[32:])]))


@pytest.mark.req("ENV-007")
def test_malleated_signature_with_s_plus_l_is_refused() -> None:
    """An attacker adds the group order L to S, which a lax verifier still accepts; expect
    SIGNATURE_NONCANONICAL."""
    sig = KEY.sign(pae(STATEMENT_PAYLOAD_TYPE, b"payload"))
    s = int.from_bytes(sig[32:], "little")
    with pytest.raises(SignatureNonCanonical) as err:
        verify_envelope(_envelope(sigs=[(KEY.did, _with_s(sig, s + GROUP_ORDER))]))
    assert err.value.requirement == "ENV-007"


@pytest.mark.req("ENV-007")
@pytest.mark.parametrize("s", [GROUP_ORDER, GROUP_ORDER + 1, 2**256 - 1])
def test_signature_scalar_at_or_above_group_order_is_refused(s: int) -> None:
    """S is exactly L, L + 1 or all ones; expect SIGNATURE_NONCANONICAL."""
    sig = KEY.sign(pae(STATEMENT_PAYLOAD_TYPE, b"payload"))
    with pytest.raises(SignatureNonCanonical):
        verify_envelope(_envelope(sigs=[(KEY.did, _with_s(sig, s))]))


@pytest.mark.req("ENV-007", "ENV-006")
def test_scalar_just_below_group_order_is_not_reported_as_non_canonical() -> None:
    """S = L - 1 is canonical but the signature is wrong; expect SIGNATURE_INVALID, not NONCANONICAL."""
    sig = KEY.sign(pae(STATEMENT_PAYLOAD_TYPE, b"payload"))
    with pytest.raises(SignatureInvalid):
        verify_envelope(_envelope(sigs=[(KEY.did, _with_s(sig, GROUP_ORDER - 1))]))


# --- ENV-008: size ---------------------------------------------------------------------------------


def _sized_statement(target: int) -> bytes:
    """A correctly signed offer envelope of exactly ``target`` bytes (padding an item description).

    Signed with sign_payload directly, because sign_statement refuses to sign what a verifier
    would refuse."""
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    stmt = Statement()
    stmt.CopyFrom(alice.offer(bob).statement)
    pad = target - 600
    for _ in range(20):
        stmt.offer.gives[0].description = "x" * pad
        data = sign_payload(encode_statement(stmt), alice.agent.key)
        if len(data) == target:
            return data
        pad += target - len(data)
    raise AssertionError("could not hit the target size")  # pragma: no cover


@pytest.mark.req("ENV-008")
def test_envelope_of_exactly_the_limit_is_accepted() -> None:
    """A statement whose envelope is exactly 65536 bytes; expect it to verify (the limit is inclusive)."""
    data = _sized_statement(MAX_ENVELOPE_BYTES)
    assert len(data) == MAX_ENVELOPE_BYTES
    assert verify_statement(data).body == "offer"


@pytest.mark.req("ENV-008")
def test_envelope_one_byte_over_the_limit_is_refused() -> None:
    """A correctly signed statement of 65537 bytes; expect ENVELOPE_TOO_LARGE."""
    data = _sized_statement(MAX_ENVELOPE_BYTES + 1)
    with pytest.raises(EnvelopeTooLarge) as err:
        verify_statement(data)
    assert err.value.requirement == "ENV-008"


@pytest.mark.req("ENV-008", "ERR-002")
def test_oversized_garbage_is_refused_for_size_before_parsing() -> None:
    """A megabyte of garbage arrives; expect ENVELOPE_TOO_LARGE (size is step 1), not MALFORMED."""
    with pytest.raises(EnvelopeTooLarge):
        verify_envelope(b"\xff" * (1 << 20))
    with pytest.raises(EnvelopeTooLarge):
        decode_envelope(b"\xff" * (MAX_ENVELOPE_BYTES + 1))


# --- ERR-002: the envelope steps in order -------------------------------------------------------


@pytest.mark.req("ERR-002", "ENV-004", "ENV-003")
def test_two_signatures_and_wrong_type_reports_the_signature_count_first() -> None:
    """An envelope fails step 2 (signature count) and step 3 (type); expect MALFORMED_ENVELOPE."""
    with pytest.raises(MalformedEnvelope):
        verify_envelope(_envelope(payload_type="text/plain", sigs=[]))


@pytest.mark.req("ERR-002", "ENV-003", "KEY-001")
def test_wrong_type_and_bad_keyid_reports_the_type_first() -> None:
    """An envelope fails step 3 (type) and step 4 (keyid); expect UNSUPPORTED_PAYLOAD_TYPE."""
    with pytest.raises(UnsupportedPayloadType):
        verify_envelope(_envelope(payload_type="text/plain", sigs=[("did:web:x", b"\x00" * 64)]))


@pytest.mark.req("ERR-002", "KEY-001", "ENV-006")
def test_bad_keyid_and_short_signature_reports_the_keyid_first() -> None:
    """An envelope fails step 4 (keyid) and step 5 (signature length); expect KEY_INVALID."""
    with pytest.raises(KeyInvalid):
        verify_envelope(_envelope(sigs=[("did:web:x", b"\x00" * 3)]))


@pytest.mark.req("ERR-002", "ENV-007", "ENV-006")
def test_non_canonical_s_is_reported_before_the_signature_check() -> None:
    """S >= L and also a wrong R: steps 6 and 7 both fail; expect SIGNATURE_NONCANONICAL."""
    with pytest.raises(SignatureNonCanonical):
        verify_envelope(_envelope(sigs=[(KEY.did, b"\x07" * 32 + b"\xff" * 32)]))


@pytest.mark.req("STM-012")
def test_verified_envelope_reports_the_digest_of_the_signed_bytes(offer: VerifiedStatement) -> None:
    """Verify an envelope; expect its digest to be SHA-256 over PAE(type, payload)."""
    verified = verify_envelope(offer.envelope)
    assert verified.digest == hashlib.sha256(pae(STATEMENT_PAYLOAD_TYPE, verified.payload)).digest()
    assert verified.signer == offer.issuer


@pytest.mark.req("ENV-006", "STM-012")
def test_an_envelope_parsed_once_is_verified_as_if_parsed_again(offer: VerifiedStatement) -> None:
    """Parse an envelope (parse_envelope, as a receiver does to look its digest up), then verify it
    from that parse; expect the same result as verifying the bytes alone, and a forged signature over
    the same payload still refused: the parse spares the second parse and hash, not the signature."""
    parsed = parse_envelope(offer.envelope)
    assert parsed.digest == offer.digest
    assert verify_envelope(offer.envelope, parsed=parsed) == verify_envelope(offer.envelope)
    assert verify_statement(offer.envelope, parsed=parsed) == offer
    forged = _envelope(payload=parsed.envelope.payload, sigs=[(offer.issuer, OTHER.sign(b"anything"))])
    with pytest.raises(SignatureInvalid):
        verify_envelope(forged, parsed=parse_envelope(forged))


@pytest.mark.parametrize("length", [1, 127, 128, 420, 16_383, 16_384, MAX_ENVELOPE_BYTES])
@pytest.mark.parametrize("payload_type", [STATEMENT_PAYLOAD_TYPE, "application/example"])
def test_a_signed_envelope_is_the_deterministic_encoding_upb_writes(length: int, payload_type: str) -> None:
    """sign_payload writes a statement's envelope by hand (a tag, a varint length and the bytes of each
    field, in number order), other payload types through upb. Expect exactly the bytes upb's
    deterministic encoding of the same Envelope gives, across the varint lengths' one-, two- and
    three-byte forms, and an envelope that verifies: a hand encoding that drifted from it would be refused
    by every verifier as non-canonical (ENV-009)."""
    payload = bytes(range(256)) * (length // 256) + bytes(length % 256)
    for key in (KEY, OTHER):
        signed = sign_payload(payload, key, payload_type)
        assert signed == _envelope(payload, payload_type, [(key.did, key.sign(pae(payload_type, payload)))])
        assert (
            verify_envelope(signed, max_bytes=2 * MAX_ENVELOPE_BYTES, payload_type=payload_type).signer
            == key.did
        )
