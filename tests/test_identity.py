"""did:key identifiers and Ed25519 key validation (SPEC section 3, KEY-001..KEY-003)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from a2a_coop.protocol.errors import KeyInvalid, KeyNonCanonical, KeySmallOrder
from a2a_coop.protocol.identity import (
    _D,
    _SQRT_M1,
    DID_KEY_PREFIX,
    ED25519_MULTICODEC,
    Keypair,
    _recover_x,
    b58decode,
    b58encode,
    did_from_public_key,
    ed25519_verify,
    public_key_from_did,
    validate_public_key,
)
from a2a_coop.runtime.keyfile import generate_keypair, read_key_file, write_key_file
from a2a_coop.testing import derive

_P = 2**255 - 19

# The eight small-order points of edwards25519 in canonical encoding (libsodium's blocklist).
SMALL_ORDER_KEYS = {
    "identity": "01" + "00" * 31,
    "order-2": "ec" + "ff" * 30 + "7f",
    "order-4": "00" * 32,
    "order-4-neg": "00" * 31 + "80",
    "order-8a": "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "order-8a-neg": "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    "order-8b": "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "order-8b-neg": "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
}

NONCANONICAL_KEYS = {
    "y = p": "ed" + "ff" * 30 + "7f",
    "y = p + 1 (the identity, unreduced)": "ee" + "ff" * 30 + "7f",
    "y = 2^255 - 1": "ff" * 32,
    "x = 0 with the sign bit set (negative zero)": "01" + "00" * 30 + "80",
}


def _did_for_raw(raw: bytes) -> str:
    return DID_KEY_PREFIX + b58encode(raw)


def _off_curve_key() -> bytes:
    """A canonical y whose x^2 has no square root: not a curve point."""
    for i in range(100):
        pk = derive(f"off-curve/{i}")
        y = int.from_bytes(pk, "little") & ((1 << 255) - 1)
        if y < _P and _recover_x(y, pk[31] >> 7) is None:
            return pk
    raise AssertionError("no off-curve candidate found")  # pragma: no cover


@pytest.mark.req("KEY-001")
def test_did_key_round_trips_through_public_key() -> None:
    """An agent publishes the did:key of its fresh key; expect parsing it to give back the same key."""
    key = Keypair.from_seed(derive("identity/alice"))
    assert key.did.startswith("did:key:z6Mk")  # 0xed01 multicodec always encodes to z6Mk
    assert public_key_from_did(key.did) == key.public_key
    assert did_from_public_key(key.public_key) == key.did


@pytest.mark.req("KEY-001")
@pytest.mark.parametrize(
    "did",
    [
        "did:web:example.com",
        "did:key:6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK",  # multibase prefix missing
        "did:key:z0OIl",  # characters outside the base58btc alphabet
        "",
    ],
)
def test_identifier_that_is_not_an_ed25519_did_key_is_refused(did: str) -> None:
    """A peer names itself with something that is not did:key:z...; expect KEY_INVALID."""
    with pytest.raises(KeyInvalid) as err:
        public_key_from_did(did)
    assert err.value.requirement == "KEY-001"


@pytest.mark.req("KEY-001")
def test_did_key_with_another_multicodec_is_refused() -> None:
    """A secp256k1 did:key (multicodec 0xe7 0x01) is presented as an agent id; expect KEY_INVALID."""
    pk = Keypair.from_seed(derive("identity/x")).public_key
    with pytest.raises(KeyInvalid):
        public_key_from_did(_did_for_raw(b"\xe7\x01" + pk))
    with pytest.raises(KeyInvalid):
        public_key_from_did(_did_for_raw(ED25519_MULTICODEC + pk[:31]))


@pytest.mark.req("KEY-001")
def test_did_key_in_non_canonical_base58_is_refused() -> None:
    """An attacker prefixes the base58 body with '1' (a leading zero byte) to name the same key a
    second way; expect KEY_INVALID: only the string that re-encodes to itself is the identifier."""
    key = Keypair.from_seed(derive("identity/alice"))
    body = key.did.removeprefix(DID_KEY_PREFIX)
    for variant in ("1" + body, "11" + body):
        with pytest.raises(KeyInvalid) as err:
            public_key_from_did(DID_KEY_PREFIX + variant)
        assert err.value.requirement == "KEY-001"


@pytest.mark.req("KEY-001")
def test_key_that_is_not_a_curve_point_is_refused() -> None:
    """A did:key holds 32 bytes that decode to no point of edwards25519; expect KEY_INVALID."""
    with pytest.raises(KeyInvalid):
        public_key_from_did(_did_for_raw(ED25519_MULTICODEC + _off_curve_key()))


@pytest.mark.req("KEY-002")
@pytest.mark.parametrize("name", sorted(NONCANONICAL_KEYS))
def test_non_canonical_key_encoding_is_refused(name: str) -> None:
    """A key encodes its y coordinate unreduced (or x = 0 with a sign); expect KEY_NONCANONICAL."""
    raw = bytes.fromhex(NONCANONICAL_KEYS[name])
    with pytest.raises(KeyNonCanonical) as err:
        validate_public_key(raw)
    assert err.value.requirement == "KEY-002"
    with pytest.raises(KeyNonCanonical):
        public_key_from_did(_did_for_raw(ED25519_MULTICODEC + raw))


@pytest.mark.req("KEY-003")
@pytest.mark.parametrize("name", sorted(SMALL_ORDER_KEYS))
def test_small_order_key_is_refused(name: str) -> None:
    """A key in the small-order subgroup (one signature would verify for many messages);
    expect KEY_SMALL_ORDER."""
    raw = bytes.fromhex(SMALL_ORDER_KEYS[name])
    with pytest.raises(KeySmallOrder) as err:
        public_key_from_did(_did_for_raw(ED25519_MULTICODEC + raw))
    assert err.value.requirement == "KEY-003"


@pytest.mark.req("KEY-001", "KEY-002", "KEY-003")
def test_honest_keys_pass_validation() -> None:
    """Keys from 50 different seeds; expect every one to validate (the checks do not over-reject)."""
    for i in range(50):
        key = Keypair.from_seed(derive(f"identity/honest/{i}"))
        validate_public_key(key.public_key)


def test_keypair_needs_a_32_byte_seed() -> None:
    """A caller passes a 16-byte seed; expect KEY_INVALID rather than a weak key."""
    with pytest.raises(KeyInvalid):
        Keypair.from_seed(b"\x00" * 16)


def test_keypair_repr_does_not_leak_the_seed() -> None:
    """A Keypair ends up in a log line; expect its repr to hold the did but not the seed."""
    seed = derive("identity/secret")
    key = Keypair.from_seed(seed)
    assert seed.hex() not in repr(key)
    assert key.did in repr(key)


def test_signature_verifies_only_for_its_message_and_key() -> None:
    """Alice signs a message; expect it to verify for her key and that message only."""
    alice, bob = Keypair.from_seed(derive("a")), Keypair.from_seed(derive("b"))
    sig = alice.sign(b"hello")
    assert len(sig) == 64
    assert ed25519_verify(sig, b"hello", alice.public_key)
    assert not ed25519_verify(sig, b"hellO", alice.public_key)
    assert not ed25519_verify(sig, b"hello", bob.public_key)
    assert not ed25519_verify(sig[:63], b"hello", alice.public_key)  # wrong length: False, no raise


@pytest.mark.parametrize("data", [b"", b"\x00", b"\x00\x00\x01", b"\xff" * 34, derive("b58")])
def test_base58_round_trips_with_leading_zero_bytes(data: bytes) -> None:
    """Leading zero bytes become leading '1's and come back; expect an exact round trip."""
    assert b58decode(b58encode(data)) == data


def test_base58_decoder_refuses_characters_outside_the_alphabet() -> None:
    """'0', 'O', 'I' and 'l' are not base58btc; expect ValueError."""
    for bad in "0OIl":
        with pytest.raises(ValueError):
            b58decode("z" + bad)


@pytest.mark.req("KEY-006")
def test_generated_keys_come_from_the_csprng_and_are_stored_owner_only(tmp_path: Path) -> None:
    """Two keys generated in a row differ (seeds come from os.urandom, never from a label), and a key
    file is created with mode 0600 even under a permissive umask, and read back as the same key."""
    first, second = generate_keypair(), generate_keypair()
    assert first.did != second.did
    path = tmp_path / "agent.key"
    old = os.umask(0)
    try:
        write_key_file(path, first)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_key_file(path).did == first.did
    with pytest.raises(FileExistsError):
        write_key_file(path, second)  # a key file is never overwritten


def test_point_decoding_inverts_by_euclid_as_fermat_does() -> None:
    """_recover_x divides by v with pow(v, -1, p) (extended Euclid): the same x as RFC 8032's v^(p-2),
    for every sign, on and off the curve, and at the edges (y = 0, 1, p - 1)."""

    def rfc8032(y: int, sign: int) -> int | None:
        u, v = (y * y - 1) % _P, (_D * y * y + 1) % _P
        x2 = u * pow(v, _P - 2, _P) % _P
        if x2 == 0:
            return 0
        x = pow(x2, (_P + 3) // 8, _P)
        if (x * x - x2) % _P != 0:
            x = x * _SQRT_M1 % _P
        if (x * x - x2) % _P != 0:
            return None
        return _P - x if x & 1 != sign else x

    ys = [0, 1, 2, _P - 1] + [int.from_bytes(derive(f"y/{i}"), "little") % _P for i in range(200)]
    assert any(rfc8032(y, 0) is None for y in ys) and any(rfc8032(y, 0) for y in ys)
    for y in ys:
        for sign in (0, 1):
            assert _recover_x(y, sign) == rfc8032(y, sign)


def test_a_signature_of_the_wrong_length_verifies_no_message_however_the_bytes_fall() -> None:
    """libsodium's crypto_sign_open reads ``signature || message`` as 64 bytes of signature and the rest: a
    63-byte signature whose message starts with the signature's missing byte is a valid signature of the
    message's tail. ed25519_verify must refuse it as a signature of the whole message."""
    key = Keypair.from_seed(bytes(range(32)))
    tail = b"a statement the signer did sign"
    signature = key.sign(tail)
    assert ed25519_verify(signature, tail, key.public_key)  # the real signature, of the tail
    assert not ed25519_verify(signature[:63], signature[63:] + tail, key.public_key)
    assert not ed25519_verify(signature + b"\x00", tail, key.public_key)
