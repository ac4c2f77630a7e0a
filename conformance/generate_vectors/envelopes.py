"""Envelope, signature and payload-encoding vectors (SPEC 5 Envelope and signing, 6.2 Canonical encoding).

EnvelopeStructure: bytes that are not one well-formed envelope, payload types, PAE and the size
limit, checked before parsing (ENV-002..004, ENV-008, ERR-002). Signature: wrong keys, lengths,
non-canonical S, small-order R and flipped bits (ENV-005..007, STM-004). PayloadEncoding: signed
payloads that decode but are not the canonical encoding, or do not decode (STM-001, STM-002,
STM-010, VER-002..004).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from a2a_coop._proto.a2acoop.v1 import identity_pb2
from a2a_coop.protocol.envelope import STATEMENT_PAYLOAD_TYPE, pae
from a2a_coop.protocol.identity import GROUP_ORDER, Keypair
from a2a_coop.protocol.statements import encode_statement
from a2a_coop.testing import Signer, derive
from conformance.generate_vectors import wire
from conformance.generate_vectors._common import Group, draft, make_envelope, open_envelope, seal, world
from conformance.generate_vectors.keys import FIELD_PRIME, IDENTITY, WEAK_KEYS

MAX_ENVELOPE: Final = 65_536
GARBAGE: Final = "not derived from a statement: there is no valid input it differs from by one defect"


def envelope_structure() -> Group:
    g = Group("EnvelopeStructure", "sparse")
    clock, alice, _ = world()
    good = alice.mandate_vs.envelope
    payload, ptype, keyid, sig = open_envelope(good)
    pkey = alice.principal.key
    g.add(
        "garbage bytes (0xff * 32)",
        ["ENV-004"],
        [b"\xff" * 32],
        "MALFORMED_ENVELOPE",
        "MalformedEnvelope",
        no_twin=GARBAGE,
    )
    g.add(
        "ASCII text, not protobuf",
        ["ENV-004"],
        [b"not an envelope"],
        "MALFORMED_ENVELOPE",
        "MalformedEnvelope",
        no_twin=GARBAGE,
    )
    g.add(
        "zero bytes (an empty Envelope: no payload, no signature)",
        ["ENV-004"],
        [b""],
        "MALFORMED_ENVELOPE",
        "MalformedEnvelope",
        no_twin=GARBAGE,
    )
    g.add(
        "a valid envelope truncated by 10 bytes (inside the signature)",
        ["ENV-004"],
        [good[:-10]],
        "MALFORMED_ENVELOPE",
        "MalformedEnvelope",
        twin=[good],
    )
    g.add(
        "a valid envelope truncated inside the payload",
        ["ENV-004"],
        [good[: len(good) // 2]],
        "MALFORMED_ENVELOPE",
        "MalformedEnvelope",
        twin=[good],
    )
    g.add(
        "empty payload, signed",
        ["ENV-004"],
        [seal(pkey, b"")],
        "MALFORMED_ENVELOPE",
        "MalformedEnvelope",
        twin=[good],
    )
    g.add(
        "no signature",
        ["ENV-004"],
        [make_envelope(payload, ptype, [])],
        "MALFORMED_ENVELOPE",
        "SignatureCount",
        twin=[good],
    )
    other = Keypair.from_seed(derive("key/mallory"))
    g.add(
        "two valid signatures (the issuer's and another key's)",
        ["ENV-004"],
        [make_envelope(payload, ptype, [(keyid, sig), (other.did, other.sign(pae(ptype, payload)))])],
        "MALFORMED_ENVELOPE",
        "SignatureCount",
        twin=[good],
    )
    g.add(
        "the same signature twice",
        ["ENV-004"],
        [make_envelope(payload, ptype, [(keyid, sig), (keyid, sig)])],
        "MALFORMED_ENVELOPE",
        "SignatureCount",
        twin=[good],
    )
    for label, other_type in [
        ("an in-toto statement type", "application/vnd.in-toto+json"),
        ("a future statement version", "application/vnd.a2acoop.statement.v2+protobuf"),
        ("an empty type", ""),
        ("the statement type with different case", STATEMENT_PAYLOAD_TYPE.upper()),
    ]:
        g.add(
            f"payload type is {label}, signed under that type",
            ["ENV-003"],
            [seal(pkey, payload, other_type)],
            "UNSUPPORTED_PAYLOAD_TYPE",
            "PayloadTypeSwap",
            twin=[good],
        )
    swapped = make_envelope(payload, "application/vnd.in-toto+json", [(keyid, sig)])
    g.add(
        "payload type changed after signing (signature is over the statement type)",
        ["ENV-003"],
        [swapped],
        "UNSUPPORTED_PAYLOAD_TYPE",
        "PayloadTypeSwap",
        twin=[good],
    )
    cross = pkey.sign(pae("application/vnd.in-toto+json", payload))
    g.add(
        "signed under another payload type, envelope claims the statement type",
        ["ENV-002", "ENV-003", "ENV-006"],
        [make_envelope(payload, ptype, [(keyid, cross)])],
        "SIGNATURE_INVALID",
        "PayloadTypeSwap",
        twin=[good],
    )
    g.add(
        "signature over the raw payload instead of PAE",
        ["ENV-002", "ENV-006"],
        [make_envelope(payload, ptype, [(keyid, pkey.sign(payload))])],
        "SIGNATURE_INVALID",
        "PaeMismatch",
        twin=[good],
    )
    t = ptype.encode()
    padded = b"DSSEv1 0%d %b %d %b" % (len(t), t, len(payload), payload)
    g.add(
        "signature over a PAE whose length has a leading zero",
        ["ENV-002", "ENV-006"],
        [make_envelope(payload, ptype, [(keyid, pkey.sign(padded))])],
        "SIGNATURE_INVALID",
        "PaeMismatch",
        twin=[good],
    )
    # Size limit: a self-revocation whose free-text reason fills the envelope to exactly the limit.
    big_signer = Signer("frank-principal", clock)

    def sized(target: int) -> bytes:
        for n in range(target - 1000, target):
            stmt = draft(
                big_signer,
                "key_revocation",
                identity_pb2.KeyRevocation(key=big_signer.did, effective_ms=clock.now_ms, reason="x" * n),
                nonce=derive("nonce/frank/size", 16),
            )
            env = seal(big_signer.key, stmt)
            if len(env) == target:
                return env
        raise AssertionError(f"no envelope of exactly {target} bytes")

    g.add(
        "envelope of exactly 65536 bytes (the limit)",
        ["ENV-008"],
        [sized(MAX_ENVELOPE)],
        None,
        "Boundary",
    )
    g.add(
        "envelope of 65537 bytes, otherwise valid",
        ["ENV-008"],
        [sized(MAX_ENVELOPE + 1)],
        "ENVELOPE_TOO_LARGE",
        "OversizedEnvelope",
        twin=[sized(MAX_ENVELOPE)],
    )
    g.add(
        "envelope of 100000 bytes of garbage (size is checked before parsing)",
        ["ENV-008", "ERR-002"],
        [b"\xff" * 100_000],
        "ENVELOPE_TOO_LARGE",
        "OversizedEnvelope",
        "VerificationOrder",
    )
    return g


def signatures() -> Group:
    g = Group("Signature", "sparse")
    _, alice, bob = world()
    offer = alice.offer(bob)
    payload, ptype, keyid, sig = open_envelope(offer.envelope)
    ctx = alice.setup
    mallory = Keypair.from_seed(derive("key/mallory"))
    g.add(
        "signed by another key, keyid unchanged",
        ["ENV-006"],
        [*ctx, make_envelope(payload, ptype, [(keyid, mallory.sign(pae(ptype, payload)))])],
        "SIGNATURE_INVALID",
        "WrongKey",
        twin=[*ctx, offer.envelope],
    )
    g.add(
        "signed by another key that is the keyid, header.issuer unchanged",
        ["STM-004"],
        [*ctx, make_envelope(payload, ptype, [(mallory.did, mallory.sign(pae(ptype, payload)))])],
        "KEYID_MISMATCH",
        "IssuerMismatch",
        twin=[*ctx, offer.envelope],
    )
    for n in (0, 63, 65):
        g.add(
            f"signature of {n} bytes",
            ["ENV-006"],
            [*ctx, make_envelope(payload, ptype, [(keyid, (sig + b"\0")[:n])])],
            "SIGNATURE_INVALID",
            "SignatureLength",
            twin=[*ctx, offer.envelope],
        )
    s = int.from_bytes(sig[32:], "little")
    g.add(
        "S replaced by S + L (same R): verifies under lax S handling",
        ["ENV-007"],
        [*ctx, make_envelope(payload, ptype, [(keyid, sig[:32] + (s + GROUP_ORDER).to_bytes(32, "little"))])],
        "SIGNATURE_NONCANONICAL",
        "NonCanonicalS",
        twin=[*ctx, offer.envelope],
    )
    g.add(
        "S = L exactly",
        ["ENV-007"],
        [*ctx, make_envelope(payload, ptype, [(keyid, sig[:32] + GROUP_ORDER.to_bytes(32, "little"))])],
        "SIGNATURE_NONCANONICAL",
        "NonCanonicalS",
        "Boundary",
        twin=[*ctx, offer.envelope],
    )
    g.add(
        "S = L - 1 (canonical, but not the right S)",
        ["ENV-006", "ENV-007"],
        [*ctx, make_envelope(payload, ptype, [(keyid, sig[:32] + (GROUP_ORDER - 1).to_bytes(32, "little"))])],
        "SIGNATURE_INVALID",
        "ModifiedSignature",
        "Boundary",
        twin=[*ctx, offer.envelope],
    )
    g.add(
        "S + 8L: the top bit of the 256-bit encoding is set",
        ["ENV-007"],
        [
            *ctx,
            make_envelope(payload, ptype, [(keyid, sig[:32] + (s + 8 * GROUP_ORDER).to_bytes(32, "little"))]),
        ],
        "SIGNATURE_NONCANONICAL",
        "NonCanonicalS",
        twin=[*ctx, offer.envelope],
    )
    g.add(
        "R is the identity point, S = 0",
        ["ENV-006"],
        [*ctx, make_envelope(payload, ptype, [(keyid, IDENTITY + bytes(32))])],
        "SIGNATURE_INVALID",
        "SmallOrderR",
        twin=[*ctx, offer.envelope],
    )
    g.add(
        "R is a small-order point (order 8), S from the valid signature",
        ["ENV-006"],
        [*ctx, make_envelope(payload, ptype, [(keyid, WEAK_KEYS[4][1] + sig[32:])])],
        "SIGNATURE_INVALID",
        "SmallOrderR",
        twin=[*ctx, offer.envelope],
    )
    g.add(
        "R encoded non-canonically (y = p + 1)",
        ["ENV-006"],
        [*ctx, make_envelope(payload, ptype, [(keyid, (FIELD_PRIME + 1).to_bytes(32, "little") + sig[32:])])],
        "SIGNATURE_INVALID",
        "SmallOrderR",
        twin=[*ctx, offer.envelope],
    )
    for label, pos in (("first bit of R", 0), ("a bit of S", 40)):
        bad = bytearray(sig)
        bad[pos] ^= 0x01
        g.add(
            f"{label} flipped",
            ["ENV-006"],
            [*ctx, make_envelope(payload, ptype, [(keyid, bytes(bad))])],
            "SIGNATURE_INVALID",
            "ModifiedSignature",
            twin=[*ctx, offer.envelope],
        )
    flipped = bytearray(payload)
    flipped[-1] ^= 0x01
    g.add(
        "one payload bit flipped after signing",
        ["ENV-005", "ENV-006"],
        [*ctx, make_envelope(bytes(flipped), ptype, [(keyid, sig)])],
        "SIGNATURE_INVALID",
        "ModifiedSignature",
        twin=[*ctx, offer.envelope],
    )
    return g


def payload_encoding() -> Group:
    g = Group("PayloadEncoding", "sparse")
    _, alice, _ = world()
    principal = alice.principal
    stmt = alice.mandate_vs.statement
    base = encode_statement(stmt)

    def add(comment: str, payload: bytes, error: str | None, *flags: str, reqs: Sequence[str] = ()) -> None:
        """The Mandate's payload, edited on the wire and re-signed; its twin is the canonical payload."""
        twin = None if error is None or payload == b"\xff" * 16 else [seal(principal.key, base)]
        no_twin = GARBAGE if error is not None and twin is None else ""
        g.add(
            comment,
            reqs or ["STM-001", "STM-002"],
            [seal(principal.key, payload)],
            error,
            *flags,
            twin=twin,
            no_twin=no_twin,
        )

    def nonminimal_version(h: list[wire.Field]) -> bytes:
        return wire.encode(h, widths={wire.position(h, 1): 2})

    add(
        "header.version = 1 encoded as a 2-byte varint (0x81 0x00)",
        wire.edit_header(base, nonminimal_version),
        "NONCANONICAL_ENCODING",
        "NonCanonicalEncoding",
    )

    def nonminimal_seq_time(h: list[wire.Field]) -> bytes:
        return wire.encode(h, widths={wire.position(h, 6): 10})

    add(
        "header.issued_at_ms encoded as a 10-byte varint",
        wire.edit_header(base, nonminimal_seq_time),
        "NONCANONICAL_ENCODING",
        "NonCanonicalEncoding",
    )
    top = wire.decode(base)
    add(
        "the header's length prefix as a non-minimal varint",
        wire.encode(top, widths={0: 3}),
        "NONCANONICAL_ENCODING",
        "NonCanonicalEncoding",
    )

    def duplicate_time(h: list[wire.Field]) -> bytes:
        i = wire.position(h, 6)
        return wire.encode([*h[: i + 1], h[i], *h[i + 1 :]])

    add(
        "header.issued_at_ms present twice with the same value",
        wire.edit_header(base, duplicate_time),
        "NONCANONICAL_ENCODING",
        "NonCanonicalEncoding",
    )

    def duplicate_issuer_other(h: list[wire.Field]) -> bytes:
        i = wire.position(h, 2)
        return wire.encode([*h[:i], (2, 2, b"did:key:z6MkOther"), *h[i:]])

    add(
        "header.issuer present twice (first an other value, last wins in protobuf)",
        wire.edit_header(base, duplicate_issuer_other),
        "NONCANONICAL_ENCODING",
        "NonCanonicalEncoding",
    )
    header_fields = wire.decode(stmt.header.SerializeToString(deterministic=True))
    add(
        "the header message split in two occurrences (protobuf merges them)",
        wire.encode(
            [(1, 2, wire.encode(header_fields[:3])), (1, 2, wire.encode(header_fields[3:])), *top[1:]]
        ),
        "NONCANONICAL_ENCODING",
        "NonCanonicalEncoding",
    )

    def swap_version_issuer(h: list[wire.Field]) -> bytes:
        a, b = wire.position(h, 1), wire.position(h, 2)
        h[a], h[b] = h[b], h[a]
        return wire.encode(h)

    add(
        "header fields out of order (issuer before version)",
        wire.edit_header(base, swap_version_issuer),
        "NONCANONICAL_ENCODING",
        "NonCanonicalEncoding",
    )
    add(
        "body (field 10) before header (field 1)",
        wire.encode([*top[1:], top[0]]),
        "NONCANONICAL_ENCODING",
        "NonCanonicalEncoding",
    )

    def explicit_default(h: list[wire.Field]) -> bytes:
        i = wire.position(h, 6)
        return wire.encode([*h[: i + 1], (7, 0, 0), *h[i + 1 :]])

    add(
        "header.not_before_ms = 0 written explicitly (implicit presence: must be omitted)",
        wire.edit_header(base, explicit_default),
        "NONCANONICAL_ENCODING",
        "NonCanonicalEncoding",
    )

    def unknown_first(h: list[wire.Field]) -> bytes:
        return wire.encode([(99, 0, 7), *h])

    add(
        "an unknown header field placed before the known ones",
        wire.edit_header(base, unknown_first),
        "NONCANONICAL_ENCODING",
        "NonCanonicalEncoding",
        reqs=["STM-016", "VER-002"],
    )

    def unknown_last(h: list[wire.Field]) -> bytes:
        return wire.encode([*h, (99, 0, 7)])

    add(
        "an unknown header field after the known ones (kept byte-exact)",
        wire.edit_header(base, unknown_last),
        None,
        "UnknownField",
        reqs=["STM-016", "VER-002", "VER-003"],
    )
    add(
        "a payload truncated inside the header",
        base[:20],
        "MALFORMED_STATEMENT",
        "MalformedPayload",
        reqs=["STM-001", "STM-014"],
    )
    add(
        "a payload of garbage bytes",
        b"\xff" * 16,
        "MALFORMED_STATEMENT",
        "MalformedPayload",
        reqs=["STM-001", "STM-014"],
    )

    def bad_utf8(h: list[wire.Field]) -> bytes:
        i = wire.position(h, 2)
        h[i] = (2, 2, b"did:key:z\xff\xfe")
        return wire.encode(h)

    add(
        "header.issuer is not valid UTF-8",
        wire.edit_header(base, bad_utf8),
        "MALFORMED_STATEMENT",
        "MalformedPayload",
        reqs=["STM-001", "STM-015"],
    )
    add(
        "a body field (number 60) this version does not know, and no known body",
        wire.encode([top[0], (60, 2, b"\x08\x01")]),
        "BODY_MISSING",
        "MissingBody",
        "UnknownField",
        reqs=["STM-010", "VER-004"],
    )
    return g
