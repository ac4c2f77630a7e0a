"""Red team, twenty-second session: the statement path's direct libsodium calls and hand-written
envelope encoding, differentially tested against PyNaCl's own API and protobuf's upb encoder.

``Keypair.sign`` and ``ed25519_verify`` (a2a_coop.protocol.identity) call libsodium's crypto_sign and
crypto_sign_open through PyNaCl's cffi module, and ``_signed_envelope`` (a2a_coop.protocol.envelope)
writes a statement's Envelope by hand; the twenty-first session's 63-byte signature bug (a signature
of the wrong length read by crypto_sign_open as ``signature || message`` split elsewhere) was caught
only at merge. Here hypothesis draws the inputs an attacker chooses -- odd and empty lengths, large
fields, keys off the curve or of small order, non-canonical scalars and points, signatures of every
length -- and every verdict and byte must equal the library's own.
"""

from __future__ import annotations

import nacl.exceptions
import nacl.signing
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from google.protobuf.internal import encoder as pb_encoder
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from a2a_coop._proto.a2acoop.v1 import envelope_pb2
from a2a_coop.protocol import decoding
from a2a_coop.protocol.envelope import (
    ENVELOPE_SPEC,
    MAX_ENVELOPE_BYTES,
    STATEMENT_PAYLOAD_TYPE,
    _length,
    pae,
    parse_envelope,
    sign_payload,
    sign_payload_with_digest,
    statement_digest,
    verify_envelope,
)
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.identity import (
    GROUP_ORDER,
    Keypair,
    _double,
    _recover_x,
    ed25519_verify,
    validate_public_key,
)

_P = 2**255 - 19
# The eight small-order points' canonical encodings and some non-canonical ones (y >= p, x = 0 with the
# sign bit): the inputs on which a hand-written check most easily drifts from libsodium's.
_SMALL_ORDER = [
    bytes(32),
    (1).to_bytes(32, "little"),
    (_P - 1).to_bytes(32, "little"),
    bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),
    bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
    bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85"),
    bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa"),
    (1).to_bytes(32, "little")[:31] + b"\x80",
    (_P + 1).to_bytes(32, "little"),
    (_P).to_bytes(32, "little"),
    b"\xff" * 31 + b"\x7f",
    b"\xff" * 32,
    b"\xec" + b"\xff" * 30 + b"\x7f",
    b"\xee" + b"\xff" * 30 + b"\x7f",
]
_SEEDS = st.binary(min_size=32, max_size=32)
# Messages of every length up to a few kilobytes, and the lengths whose decimal or varint forms change.
_MESSAGES = st.one_of(
    st.binary(max_size=300),
    st.integers(min_value=0, max_value=70_000).map(lambda n: bytes(i & 0xFF for i in range(n))),
    st.sampled_from([0, 1, 9, 10, 63, 64, 65, 99, 100, 127, 128, 129, 16_383, 16_384, 16_385]).map(bytes),
)
_SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _pynacl_verify(signature: bytes, message: bytes, public_key: bytes) -> bool:
    """PyNaCl's own verdict: VerifyKey.verify, refusing what it raises on (a key or a signature of the
    wrong length, a bad signature)."""
    try:
        nacl.signing.VerifyKey(public_key).verify(message, signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.CryptoError, ValueError, TypeError):
        return False
    return True


def _openssl_verify(signature: bytes, message: bytes, public_key: bytes) -> bool:
    """A second, independent reference: OpenSSL's Ed25519 (through ``cryptography``, as Node's crypto the
    JavaScript verifier calls), with the checks examples/js_verifier/verify.mjs adds before it -- the key
    valid (KEY-001..003), S < L (ENV-007) and R not of small order, its y reduced mod p -- since OpenSSL
    alone takes a small-order R or key that libsodium's strict verify refuses."""
    if len(signature) != 64 or len(public_key) != 32:
        return False
    try:
        validate_public_key(public_key)
    except CoopError:
        return False
    if int.from_bytes(signature[32:], "little") >= GROUP_ORDER:
        return False
    y = int.from_bytes(signature[:32], "little") & ((1 << 255) - 1)
    x = _recover_x(y % _P, signature[31] >> 7)
    if x is not None:
        px, py, pz = x, y % _P, 1
        for _ in range(3):
            px, py, pz = _double(px, py, pz)
        if px == 0 and py == pz:
            return False
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except InvalidSignature:
        return False
    return True


@_SETTINGS
@given(seed=_SEEDS, message=_MESSAGES)
@example(seed=bytes(32), message=b"")
def test_keypair_sign_is_pynacls_signature_for_every_message(seed: bytes, message: bytes) -> None:
    """Keypair.sign copies the first 64 bytes out of crypto_sign's ``signature || message``: expect the
    bytes of PyNaCl's SigningKey.sign(...).signature for every seed and message, the empty one included,
    and the same public key."""
    key = Keypair.from_seed(seed)
    reference = nacl.signing.SigningKey(seed)
    assert key.public_key == bytes(reference.verify_key)
    signature = key.sign(message)
    assert signature == reference.sign(message).signature
    assert ed25519_verify(signature, message, key.public_key)


def _mutations(
    signature: bytes, message: bytes, public_key: bytes
) -> st.SearchStrategy[tuple[bytes, bytes, bytes]]:
    """What an attacker makes of one honest (signature, message, key): bit flips, truncations and
    extensions of each, bytes moved between the signature and the message (the 63-byte bug's shape),
    S + L, a small-order or non-canonical R or key, and fields replaced by arbitrary bytes."""

    def flip(data: bytes, i: int, bit: int) -> bytes:
        if not data:
            return data
        i %= len(data)
        return data[:i] + bytes((data[i] ^ (1 << bit),)) + data[i + 1 :]

    idx, bit = st.integers(0, 10_000), st.integers(0, 7)
    s = int.from_bytes(signature[32:], "little")
    return st.one_of(
        st.just((signature, message, public_key)),
        st.builds(lambda i, b: (flip(signature, i, b), message, public_key), idx, bit),
        st.builds(lambda i, b: (signature, flip(message, i, b), public_key), idx, bit),
        st.builds(lambda i, b: (signature, message, flip(public_key, i, b)), idx, bit),
        st.integers(0, 64).map(lambda n: (signature[:n], signature[n:] + message, public_key)),
        st.integers(1, 64).map(lambda n: (signature + message[:n], message[n:], public_key)),
        st.binary(max_size=3).map(lambda extra: (signature + extra, message, public_key)),
        st.binary(max_size=40).map(lambda extra: (signature, message, public_key + extra)),
        st.integers(0, 31).map(lambda n: (signature, message, public_key[:n])),
        st.just((signature[:32] + (s + GROUP_ORDER).to_bytes(32, "little"), message, public_key)),
        st.sampled_from(_SMALL_ORDER).map(lambda r: (r + signature[32:], message, public_key)),
        st.sampled_from(_SMALL_ORDER).map(lambda a: (signature, message, a)),
        st.binary(min_size=64, max_size=64).map(lambda sig: (sig, message, public_key)),
        st.binary(min_size=32, max_size=32).map(lambda a: (signature, message, a)),
    )


@_SETTINGS
@given(data=st.data(), seed=_SEEDS, message=_MESSAGES)
def test_ed25519_verify_agrees_with_pynacl_on_whatever_an_attacker_sends(
    data: st.DataObject, seed: bytes, message: bytes
) -> None:
    """An attacker sends any (signature, message, key): expect ed25519_verify's verdict to be PyNaCl's
    VerifyKey.verify's and OpenSSL's (with the JavaScript verifier's checks) on every one, never an exception;
    the honest triple verifies (so the attack's inputs were real signatures)."""
    key = Keypair.from_seed(seed)
    honest = (key.sign(message), message, key.public_key)
    assert ed25519_verify(*honest)
    signature, msg, public_key = data.draw(_mutations(*honest))
    ours = ed25519_verify(signature, msg, public_key)
    assert ours == _pynacl_verify(signature, msg, public_key) == _openssl_verify(signature, msg, public_key)


@settings(max_examples=400, deadline=None)
@given(n=st.one_of(st.integers(0, 1 << 14), st.integers(0, (1 << 64) - 1)))
@example(n=0)
@example(n=127)
@example(n=128)
@example(n=16_383)
@example(n=16_384)
def test_the_hand_written_varint_is_protobufs(n: int) -> None:
    """envelope._length writes a length-delimited field's length: expect protobuf's own varint bytes for
    every n, at every boundary of the one- to ten-byte forms."""
    assert _length(n) == pb_encoder._VarintBytes(n)
    assert decoding.varint_size(n) == len(_length(n))


def _upb(payload: bytes, payload_type: str, keyid: str, sig: bytes) -> bytes:
    env = envelope_pb2.Envelope(payload=payload, payload_type=payload_type)
    env.signatures.add(keyid=keyid, sig=sig)
    return env.SerializeToString(deterministic=True)


@_SETTINGS
@given(seed=_SEEDS, payload=_MESSAGES, other_type=st.booleans())
def test_a_hand_written_envelope_is_upbs_for_every_payload(
    seed: bytes, payload: bytes, other_type: bool
) -> None:
    """sign_payload writes a statement's Envelope by hand (a non-empty payload under the statement
    type): expect the exact bytes of upb's deterministic encoding of the same Envelope for every payload
    (the empty one too, which goes through upb), under either payload type; the digest
    sign_payload_with_digest returns is statement_digest's, and the envelope parses and, if its payload
    is not empty, verifies to the same payload, signer and digest."""
    key = Keypair.from_seed(seed)
    payload_type = "application/example" if other_type else STATEMENT_PAYLOAD_TYPE
    signed = sign_payload(payload, key, payload_type)
    sig = key.sign(pae(payload_type, payload))
    assert signed == _upb(payload, payload_type, key.did, sig)
    again, digest = sign_payload_with_digest(payload, key, payload_type)
    assert again == signed and digest == statement_digest(payload, payload_type)
    parsed = parse_envelope(signed) if len(signed) <= MAX_ENVELOPE_BYTES else None
    if parsed is not None:
        assert parsed.digest == digest and parsed.envelope.payload == payload
    if payload and parsed is not None:
        verified = verify_envelope(signed, payload_type=payload_type)
        assert (verified.payload, verified.signer, verified.digest, verified.signature) == (
            payload,
            key.did,
            digest,
            sig,
        )


_TAGS = st.sampled_from([0x0A, 0x12, 0x1A, 0x08, 0x22, 0x0D, 0x09, 0x10, 0x00, 0xFF])


@st.composite
def _edited_envelopes(draw: st.DrawFn) -> bytes:
    """An honest statement envelope edited the ways a non-canonical encoder or an attacker would: a
    field repeated, reordered, empty, dropped or unknown; a length padded to a longer varint; bytes cut,
    inserted or flipped."""
    key = Keypair.from_seed(draw(_SEEDS))
    payload = draw(st.binary(min_size=1, max_size=200))
    honest = sign_payload(payload, key)
    keyid, sig = key.did.encode(), key.sign(pae(STATEMENT_PAYLOAD_TYPE, payload))
    ptype = STATEMENT_PAYLOAD_TYPE.encode()
    sig_msg = b"\x0a" + _length(len(keyid)) + keyid + b"\x12" + _length(len(sig)) + sig
    fields = {
        "payload": b"\x0a" + _length(len(payload)) + payload,
        "type": b"\x12" + _length(len(ptype)) + ptype,
        "sigs": b"\x1a" + _length(len(sig_msg)) + sig_msg,
    }
    kind = draw(st.sampled_from(["order", "repeat", "empty", "drop", "unknown", "padded", "splice"]))
    names = ["payload", "type", "sigs"]
    if kind == "order":
        order = draw(st.permutations(names))
        return b"".join(fields[n] for n in order)
    if kind == "repeat":
        name = draw(st.sampled_from(names))
        return b"".join(fields[n] * (2 if n == name else 1) for n in names)
    if kind == "empty":
        name = draw(st.sampled_from(names))
        tag = fields[name][:1]
        return b"".join(fields[n] if n != name else tag + b"\x00" for n in names)
    if kind == "drop":
        name = draw(st.sampled_from(names))
        return b"".join(fields[n] for n in names if n != name)
    if kind == "unknown":
        extra = draw(st.sampled_from([b"\x20\x01", b"\x22\x00", b"\x25\x00\x00\x00\x00", b"\x08\x00"]))
        at = draw(st.integers(0, 3))
        parts = [fields[n] for n in names]
        parts.insert(at, extra)
        return b"".join(parts)
    if kind == "padded":  # a length written in a longer varint than its shortest
        name = draw(st.sampled_from(names))
        value = {"payload": len(payload), "type": len(ptype), "sigs": len(sig_msg)}[name]
        padded = bytearray(_length(value))
        padded[-1] |= 0x80
        padded.append(0)
        body = fields[name][1 + len(_length(value)) :]
        return b"".join(fields[n] if n != name else fields[n][:1] + bytes(padded) + body for n in names)
    at = draw(st.integers(0, len(honest)))
    cut = draw(st.integers(0, 4))
    insert = draw(st.binary(max_size=4) | _TAGS.map(lambda t: bytes((t,))))
    return honest[:at] + insert + honest[at + cut :]


@settings(max_examples=700, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=_edited_envelopes())
def test_upbs_canonical_check_and_the_decoding_profile_agree_on_every_edited_envelope(data: bytes) -> None:
    """verify_envelope takes an envelope upb parses and re-encodes to the same bytes (its fast path) and
    asks the decoding profile only why it refuses one; parse_envelope does the same. Expect, for every
    edit of an honest envelope: the fast path takes it exactly when the profile calls it canonical with no
    unknown field; parse_envelope and verify_envelope agree; and every refusal is a typed CoopError."""
    try:
        defect = decoding.check(data, ENVELOPE_SPEC, allow_unknown=False)
        profile_canonical = defect is None
    except decoding.Malformed:
        profile_canonical = False
    try:
        env = envelope_pb2.Envelope.FromString(data)
        env.DiscardUnknownFields()
        upb_canonical = env.SerializeToString(deterministic=True) == data
    except Exception:  # upb's parse errors are the fast path's "not canonical"
        upb_canonical = False
    assert upb_canonical == profile_canonical, (data.hex(), defect if not profile_canonical else None)
    try:
        parse_envelope(data)
        parsed = True
    except CoopError:
        parsed = False
    assert parsed == profile_canonical
    try:
        verify_envelope(data)
    except CoopError:
        verified = False
    else:
        verified = True
    if verified:
        assert profile_canonical


@pytest.mark.parametrize("length", [0, 1, 31, 32, 33, 63, 65, 96, 128])
def test_a_signature_of_any_wrong_length_is_refused_as_pynacl_refuses_it(length: int) -> None:
    """The 63-byte shape at every wrong length: the first ``length`` bytes of a real signature and the
    rest moved into the message (or padding added). Expect ed25519_verify to refuse each, as PyNaCl
    does (it raises), while the real signature of the tail verifies (the attack's bytes are real)."""
    key = Keypair.from_seed(bytes(range(32)))
    tail = b"the statement the signer signed"
    signature = key.sign(tail)
    assert ed25519_verify(signature, tail, key.public_key)
    forged = (signature + bytes(length))[:length]
    moved = (signature + bytes(128))[length:64] + tail
    assert not ed25519_verify(forged, moved, key.public_key)
    assert not _pynacl_verify(forged, moved, key.public_key)
