"""KeyEncoding vectors: keys and identifiers a verifier must refuse (SPEC 3.1 did:key, 3.2 Key validation).

Small-order keys with a signature a lax verifier accepts (KEY-003), non-canonical point encodings
(KEY-002), off-curve keys and malformed did:key identifiers (KEY-001), as keyid and as audience
(STM-005). The weak points (:data:`IDENTITY`, :data:`WEAK_KEYS`) are also used by other families
as signature R values and mandate agents.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Final

from a2a_coop.protocol.envelope import STATEMENT_PAYLOAD_TYPE, pae
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.identity import GROUP_ORDER, b58encode, did_from_public_key, validate_public_key
from a2a_coop.protocol.statements import PROTOCOL_VERSION, Statement, encode_statement
from a2a_coop.testing import DEFAULT_TTL_MS, FixedClock, derive
from conformance.generate_vectors._common import Group, draft_offer, make_envelope, open_envelope, seal, world

FIELD_PRIME: Final = 2**255 - 19
IDENTITY: Final = bytes.fromhex("01" + "00" * 31)

# (label, encoding, order of the point a lax decoder reads, expected code)
WEAK_KEYS: Final = [
    ("identity point (order 1)", IDENTITY, 1, "KEY_SMALL_ORDER"),
    ("order-2 point (y = -1)", bytes.fromhex("ec" + "ff" * 30 + "7f"), 2, "KEY_SMALL_ORDER"),
    ("order-4 point (y = 0, x positive)", bytes(32), 4, "KEY_SMALL_ORDER"),
    ("order-4 point (y = 0, x negative)", bytes(31) + b"\x80", 4, "KEY_SMALL_ORDER"),
    (
        "order-8 point",
        bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),
        8,
        "KEY_SMALL_ORDER",
    ),
    (
        "order-8 point (other)",
        bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
        8,
        "KEY_SMALL_ORDER",
    ),
    (
        "order-8 point (negated x)",
        bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85"),
        8,
        "KEY_SMALL_ORDER",
    ),
    ("identity encoded with y = p + 1", (FIELD_PRIME + 1).to_bytes(32, "little"), 1, "KEY_NONCANONICAL"),
    ("identity with the sign bit set (x = 0)", IDENTITY[:31] + b"\x80", 1, "KEY_NONCANONICAL"),
    ("order-4 point encoded with y = p", FIELD_PRIME.to_bytes(32, "little"), 4, "KEY_NONCANONICAL"),
    ("order-2 point with the sign bit set (x = 0)", b"\xec" + b"\xff" * 31, 2, "KEY_NONCANONICAL"),
]


def _forged_small_order(public_key: bytes, order: int, clock: FixedClock) -> bytes:
    """A principal-body statement "signed" by a small-order key: R = identity, S = 0.

    [S]B = R + [k]A holds when [k]A = identity, i.e. k = H(R || A || M) mod L is a
    multiple of A's order; the nonce is varied until it is, so cofactorless
    verifiers without a small-order check accept the envelope.
    """
    did = did_from_public_key(public_key)
    signature = IDENTITY + bytes(32)
    for attempt in range(1000):
        stmt = Statement()
        h = stmt.header
        h.version, h.issuer, h.issued_at_ms = PROTOCOL_VERSION, did, clock.now_ms
        h.expires_at_ms, h.nonce = clock.now_ms + DEFAULT_TTL_MS, derive(f"forge/{did}/{attempt}", 16)
        stmt.key_revocation.key = did
        stmt.key_revocation.effective_ms = clock.now_ms
        payload = encode_statement(stmt)
        message = pae(STATEMENT_PAYLOAD_TYPE, payload)
        k = int.from_bytes(hashlib.sha512(IDENTITY + public_key + message).digest(), "little") % GROUP_ORDER
        if k % order == 0:
            return make_envelope(payload, STATEMENT_PAYLOAD_TYPE, [(did, signature)])
    raise AssertionError("no nonce found")  # pragma: no cover - probability 2**-3000 for order 8


def _key_error(public_key: bytes) -> str | None:
    try:
        validate_public_key(public_key)
    except CoopError as exc:
        return exc.code
    return None


def _noncanonical_large_order_key() -> bytes:
    """y + p for the smallest y whose point is on the curve and of large order."""
    y = next(y for y in range(2, 19) if _key_error(y.to_bytes(32, "little")) is None)
    return (y + FIELD_PRIME).to_bytes(32, "little")


def _off_curve_key() -> bytes:
    """The smallest y that is not the y coordinate of a curve point."""
    return next(b for y in range(2, 100) if _key_error(b := y.to_bytes(32, "little")) == "KEY_INVALID")


def key_encoding() -> Group:
    g = Group("KeyEncoding", "sparse")
    clock, alice, bob = world()
    for label, key, order, code in WEAK_KEYS:
        req = "KEY-003" if code == "KEY_SMALL_ORDER" else "KEY-002"
        flags = ("SmallOrderKey",) if code == "KEY_SMALL_ORDER" else ("NonCanonicalKey", "SmallOrderKey")
        g.add(
            f"keyid and issuer are the {label}; signature R = identity, S = 0 (a lax-verifier forgery)",
            [req],
            [_forged_small_order(key, order, clock)],
            code,
            *flags,
            no_twin="the key is the defect: no key pair has this public key, so nobody signs a valid twin",
        )
    payload, ptype, _, sig = open_envelope(alice.mandate_vs.envelope)
    g.add(
        "keyid is a non-canonical encoding (y + p) of a large-order point",
        ["KEY-002"],
        [make_envelope(payload, ptype, [(did_from_public_key(_noncanonical_large_order_key()), sig)])],
        "KEY_NONCANONICAL",
        "NonCanonicalKey",
        twin=[alice.mandate_vs.envelope],
    )
    g.add(
        "keyid's 32 bytes are not a curve point",
        ["KEY-001"],
        [make_envelope(payload, ptype, [(did_from_public_key(_off_curve_key()), sig)])],
        "KEY_INVALID",
        "OffCurveKey",
        twin=[alice.mandate_vs.envelope],
    )
    good = alice.principal.did
    raw = b"\xed\x01" + alice.principal.key.public_key
    bad_dids = [
        ("a character outside base58 ('0')", good[:-1] + "0"),
        ("an extra leading '1' (non-canonical base58)", "did:key:z1" + good[len("did:key:z") :]),
        ("the secp256k1 multicodec (0xe7 0x01)", "did:key:z" + b58encode(b"\xe7\x01" + raw[2:] + b"\x02")),
        ("a 31-byte key", "did:key:z" + b58encode(raw[:-1])),
        ("a 33-byte key", "did:key:z" + b58encode(raw + b"\x00")),
        ("multibase base64 instead of base58btc", "did:key:m" + base64.b64encode(raw).decode().rstrip("=")),
        ("another DID method", "did:web:example.com"),
        ("upper-case scheme", "DID:KEY:" + good[len("did:key:") :]),
        ("an empty keyid", ""),
    ]
    for label, did in bad_dids:
        g.add(
            f"keyid with {label}",
            ["KEY-001"],
            [make_envelope(payload, ptype, [(did, sig)])],
            "KEY_INVALID",
            "MalformedDid",
            twin=[alice.mandate_vs.envelope],
        )
    for label, audience, code, req, flag in [
        ("a malformed did:key", good[:-1] + "0", "KEY_INVALID", "KEY-001", "MalformedDid"),
        (
            "a small-order key",
            did_from_public_key(WEAK_KEYS[4][1]),
            "KEY_SMALL_ORDER",
            "KEY-003",
            "SmallOrderKey",
        ),
        (
            "a non-canonical key",
            did_from_public_key((FIELD_PRIME + 1).to_bytes(32, "little")),
            "KEY_NONCANONICAL",
            "KEY-002",
            "NonCanonicalKey",
        ),
    ]:
        nonce = alice.agent.next_nonce()
        stmt = draft_offer(alice, audience, nonce=nonce)
        g.add(
            f"Offer addressed to {label} (audience), re-signed",
            ["STM-005", req],
            [*alice.setup, seal(alice.agent.key, stmt)],
            code,
            flag,
            twin=[*alice.setup, seal(alice.agent.key, draft_offer(alice, bob, nonce=nonce))],
        )
    return g
