"""Ed25519 keys and their ``did:key`` identifiers (SPEC.md section 3).

An agent or principal is named by the ``did:key`` of its Ed25519 public key:
``did:key:z`` + base58btc(0xed 0x01 || public key). Parsing an identifier
*validates* the key, because libsodium's verify would reject a weak key only
later and with a less useful error, and because a verifier that caches keys
must never cache a bad one:

* KEY-002: the encoding of y must be canonical (y < p, and no "negative zero").
* KEY-003: the point must be on the curve and must not have small order
  ([8]P != identity); small-order keys let one signature verify for many
  messages.

The point arithmetic below is only used for this one-time check per key and
is cached; signing and verifying go through libsodium.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Final

import nacl.bindings
from nacl._sodium import ffi as _ffi
from nacl._sodium import lib as _sodium

from a2a_coop.protocol.errors import KeyInvalid, KeyNonCanonical, KeySmallOrder

DID_KEY_PREFIX = "did:key:z"
ED25519_MULTICODEC = b"\xed\x01"
PUBLIC_KEY_BYTES = 32
SEED_BYTES = 32
SIGNATURE_BYTES = 64

# Curve25519 / edwards25519 constants (RFC 8032 section 5.1).
_P = 2**255 - 19
_D = (-121665 * pow(121666, _P - 2, _P)) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)
GROUP_ORDER = 2**252 + 27742317777372353535851937790883648493  # "L"

_B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(_B58_ALPHABET)}


def b58encode(data: bytes) -> str:
    """Base58btc (Bitcoin alphabet), keeping leading zero bytes as '1'."""
    n = int.from_bytes(data, "big")
    out = []
    while n:
        n, r = divmod(n, 58)
        out.append(_B58_ALPHABET[r])
    pad = len(data) - len(data.lstrip(b"\0"))
    return "1" * pad + "".join(reversed(out))


def b58decode(text: str) -> bytes:
    """Inverse of :func:`b58encode`. Raises ValueError on a bad character."""
    n = 0
    for c in text:
        try:
            n = n * 58 + _B58_INDEX[c]
        except KeyError:
            raise ValueError(f"not base58: {c!r}") from None
    pad = len(text) - len(text.lstrip("1"))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    return b"\0" * pad + body


def did_from_public_key(public_key: bytes) -> str:
    """The did:key for a 32-byte Ed25519 public key (no validation)."""
    return DID_KEY_PREFIX + b58encode(ED25519_MULTICODEC + public_key)


@lru_cache(maxsize=65536)
def public_key_from_did(did: str) -> bytes:
    """Parse and validate an Ed25519 did:key (KEY-001..KEY-003).

    Returns:
        The 32-byte public key.

    Raises:
        KeyInvalid: not an Ed25519 did:key, or not a curve point.
        KeyNonCanonical: the key's encoding is not canonical.
        KeySmallOrder: the key is a small-order point.
    """
    if not isinstance(did, str) or not did.startswith(DID_KEY_PREFIX):
        raise KeyInvalid(f"not a did:key with base58btc multibase: {did!r:.80}", requirement="KEY-001")
    try:
        raw = b58decode(did[len(DID_KEY_PREFIX) :])
    except ValueError as exc:
        raise KeyInvalid(str(exc), requirement="KEY-001") from None
    if not raw.startswith(ED25519_MULTICODEC) or len(raw) != 2 + PUBLIC_KEY_BYTES:
        raise KeyInvalid(
            "did:key is not an Ed25519 public key (multicodec 0xed01, 32 bytes)", requirement="KEY-001"
        )
    if did_from_public_key(raw[2:]) != did:  # e.g. extra leading '1's
        raise KeyInvalid("did:key is not in its canonical base58 form", requirement="KEY-001")
    public_key = raw[2:]
    validate_public_key(public_key)
    return public_key


def validate_public_key(public_key: bytes) -> None:
    """Reject non-canonical, off-curve and small-order Ed25519 keys (KEY-002, KEY-003)."""
    if len(public_key) != PUBLIC_KEY_BYTES:
        raise KeyInvalid("public key must be 32 bytes", requirement="KEY-001")
    y = int.from_bytes(public_key, "little") & ((1 << 255) - 1)
    sign = public_key[31] >> 7
    if y >= _P:
        raise KeyNonCanonical("y coordinate is not reduced modulo p", requirement="KEY-002")
    x = _recover_x(y, sign)
    if x is None:
        raise KeyInvalid("public key is not a point on edwards25519", requirement="KEY-001")
    if x == 0 and sign == 1:
        raise KeyNonCanonical("x = 0 encoded with the sign bit set", requirement="KEY-002")
    px, py, pz = x, y, 1
    for _ in range(3):
        px, py, pz = _double(px, py, pz)
    if px == 0 and py == pz:
        raise KeySmallOrder("public key is in the small-order subgroup", requirement="KEY-003")


def _recover_x(y: int, sign: int) -> int | None:
    """RFC 8032 section 5.1.3 point decoding, steps 2-4."""
    u = (y * y - 1) % _P
    v = (_D * y * y + 1) % _P
    # u / v: v is never 0 (d is not a square mod p, so d * y^2 != -1); pow(v, -1, p) is the inverse
    # pow(v, p - 2, p) gives, by extended Euclid rather than a 255-bit exponentiation.
    x2 = u * (pow(v, -1, _P) if v else 0) % _P
    if x2 == 0:
        return 0
    x = pow(x2, (_P + 3) // 8, _P)
    if (x * x - x2) % _P != 0:
        x = x * _SQRT_M1 % _P
    if (x * x - x2) % _P != 0:
        return None
    if x & 1 != sign:
        x = _P - x
    return x


def _double(x: int, y: int, z: int) -> tuple[int, int, int]:
    """Point doubling in projective coordinates on -x^2 + y^2 = 1 + d x^2 y^2."""
    b = (x + y) * (x + y) % _P
    c = x * x % _P
    d = y * y % _P
    f = (d - c) % _P
    j = (f - 2 * z * z) % _P
    return (b - c - d) * j % _P, f * (-c - d) % _P, f * j % _P


@dataclass(frozen=True)
class Keypair:
    """An Ed25519 signing key and its did:key.

    The core never generates randomness: make a Keypair from a 32-byte seed
    that the caller drew (``os.urandom(32)`` in the CLI, fixed seeds in tests).
    """

    seed: bytes = field(repr=False)
    public_key: bytes = field(init=False)
    did: str = field(init=False)
    _secret: bytes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if len(self.seed) != SEED_BYTES:
            raise KeyInvalid("an Ed25519 seed is 32 bytes")
        public_key, secret = nacl.bindings.crypto_sign_seed_keypair(self.seed)
        object.__setattr__(self, "public_key", public_key)
        object.__setattr__(self, "_secret", secret)
        # Interned, as the DIDs statements carry are once checked (a2a_coop.protocol.statements).
        object.__setattr__(self, "did", sys.intern(did_from_public_key(public_key)))

    @classmethod
    def from_seed(cls, seed: bytes) -> Keypair:
        return cls(seed)

    def sign(self, message: bytes) -> bytes:
        """The 64-byte detached Ed25519 signature of message: libsodium's crypto_sign, as PyNaCl's
        binding calls it, with only the signature copied out of its output (signature || message)."""
        n = len(message)
        signed = _ffi_new("unsigned char[]", n + SIGNATURE_BYTES)
        if _crypto_sign(signed, _NULL, message, n, self._secret):  # pragma: no cover - never fails
            raise RuntimeError("libsodium could not sign")
        signature: bytes = _ffi_buffer(signed, SIGNATURE_BYTES)[:]
        return signature


# libsodium through PyNaCl's cffi module, called directly on the per-statement path: PyNaCl's Python
# wrappers add two buffer allocations, a copy of the message and a frame to every call (about 1 us of a
# statement's sign and verify, RELIABILITY.md, twenty-first session). The same functions, the same bytes.
_NULL: Final = _ffi.NULL
_ffi_new: Final = _ffi.new
_ffi_buffer: Final = _ffi.buffer
# Looked up on each call (the trade benchmark's recorder and tests count signs and checks by replacing them).
_crypto_sign: Callable[[object, object, bytes, int, bytes], int] = _sodium.crypto_sign
_crypto_sign_open: Callable[[object, object, bytes, int, bytes], int] = _sodium.crypto_sign_open


def ed25519_verify(signature: bytes, message: bytes, public_key: bytes) -> bool:
    """libsodium's strict verify (canonical S; R and A canonical and not of small order).

    Returns False for any failure and never raises. libsodium's crypto_sign_open checks
    ``signature || message`` (verify_detached on its first 64 bytes and the rest) and, given no output
    buffer, copies nothing; a signature of the wrong length is refused before it is split.
    """
    if len(public_key) != PUBLIC_KEY_BYTES:  # libsodium reads 32 bytes of it, whatever its length
        return False
    if len(signature) != SIGNATURE_BYTES:  # else libsodium splits ``signature || message`` elsewhere: a
        return False  # 63-byte signature and a message b || m' would verify a signature of m', not of m
    signed = signature + message
    return _crypto_sign_open(_NULL, _NULL, signed, len(signed), public_key) == 0
