"""Signed envelopes: DSSE pre-authentication encoding over Ed25519 (SPEC.md section 5).

Theory of operation. A signature covers

    PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body

where LEN is the decimal byte length (ENV-002). The signed bytes are built from
the payload *as received*; nothing is re-serialized before verifying
(ENV-005). Domain separation comes from the payload type, which is fixed per
protocol version, so a signature over a statement can never be replayed as a
signature over anything else (ENV-003).

Verification checks, in order, each with its own SPEC code: size (ENV-008),
envelope structure and canonical form (ENV-004, ENV-009), payload type (ENV-003), the keyid as a valid
did:key (KEY-001..003), S < L (ENV-007), and the signature (ENV-006).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from google.protobuf.message import DecodeError

from a2a_coop._proto.a2acoop.v1 import envelope_pb2
from a2a_coop.protocol import decoding
from a2a_coop.protocol.errors import (
    EnvelopeTooLarge,
    MalformedEnvelope,
    SignatureInvalid,
    SignatureNonCanonical,
    UnsupportedPayloadType,
)
from a2a_coop.protocol.identity import (
    GROUP_ORDER,
    SIGNATURE_BYTES,
    Keypair,
    ed25519_verify,
    public_key_from_did,
)

STATEMENT_PAYLOAD_TYPE = "application/vnd.a2acoop.statement.v1+protobuf"
MAX_ENVELOPE_BYTES = 64 * 1024
DIGEST_BYTES = 32

Envelope = envelope_pb2.Envelope
# The decoding profile's view of Envelope and Signature (SPEC 5.1, ENV-009).
ENVELOPE_SPEC = decoding.message_spec(Envelope.DESCRIPTOR)


def _pae_prefix(payload_type: str) -> bytes:
    t = payload_type.encode()
    return b"DSSEv1 %d %b " % (len(t), t)


_STATEMENT_PAE_PREFIX = _pae_prefix(STATEMENT_PAYLOAD_TYPE)
_sha256 = hashlib.sha256


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding (ENV-002)."""
    prefix = _STATEMENT_PAE_PREFIX if payload_type == STATEMENT_PAYLOAD_TYPE else _pae_prefix(payload_type)
    return b"%b%d %b" % (prefix, len(payload), payload)


def statement_digest(payload: bytes, payload_type: str = STATEMENT_PAYLOAD_TYPE) -> bytes:
    """SHA-256 of the signed bytes: the name other statements use for this one (STM-012)."""
    if payload_type is STATEMENT_PAYLOAD_TYPE:  # the default: pae() inlined (hot path)
        return _sha256(b"%b%d %b" % (_STATEMENT_PAE_PREFIX, len(payload), payload)).digest()
    return _sha256(pae(payload_type, payload)).digest()


def sign_payload(payload: bytes, key: Keypair, payload_type: str = STATEMENT_PAYLOAD_TYPE) -> bytes:
    """Sign payload and return the encoded Envelope bytes. No size limit: see sign_statement."""
    return _signed_envelope(payload, key, payload_type, pae(payload_type, payload))


def sign_payload_with_digest(
    payload: bytes, key: Keypair, payload_type: str = STATEMENT_PAYLOAD_TYPE
) -> tuple[bytes, bytes]:
    """Sign payload; return (envelope bytes, statement digest). No size limit: see sign_statement."""
    message = pae(payload_type, payload)
    return _signed_envelope(payload, key, payload_type, message), hashlib.sha256(message).digest()


def _length(n: int) -> bytes:
    """``n`` as a protobuf varint (a length-delimited field's length)."""
    if n < 0x80:
        return bytes((n,))
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


# Envelope field 2 (payload_type) of a statement's envelope, as its deterministic encoding writes it.
_STATEMENT_TYPE_FIELD = b"\x12%b%b" % (
    _length(len(STATEMENT_PAYLOAD_TYPE.encode())),
    STATEMENT_PAYLOAD_TYPE.encode(),
)


def _signed_envelope(payload: bytes, key: Keypair, payload_type: str, message: bytes) -> bytes:
    sig = key.sign(message)
    if payload and payload_type is STATEMENT_PAYLOAD_TYPE:
        # A statement's (hot path): the deterministic encoding written out -- fields in number order
        # (payload 1, payload_type 2, signatures 3: keyid 1, sig 2), each a tag, a varint length and the
        # bytes; none is empty (a did:key, a 64-byte signature), so none is left out. The same bytes as
        # upb's (tests/test_envelope.py), without building the message there (0.6 us of CPU a statement).
        keyid = key.did.encode()
        signature = b"\x0a%b%b\x12%b%b" % (_length(len(keyid)), keyid, _length(len(sig)), sig)
        return b"\x0a%b%b%b\x1a%b%b" % (
            _length(len(payload)),
            payload,
            _STATEMENT_TYPE_FIELD,
            _length(len(signature)),
            signature,
        )
    env = Envelope(payload=payload, payload_type=payload_type)
    env.signatures.add(keyid=key.did, sig=sig)
    return env.SerializeToString(deterministic=True)


class VerifiedEnvelope(NamedTuple):
    """An envelope whose single signature verified.

    Attributes:
        payload: the payload bytes exactly as received and signed.
        signer: did:key of the signer (the signature's keyid).
        digest: :func:`statement_digest` of the payload.
        signature: the 64-byte signature.
    """

    payload: bytes
    signer: str
    digest: bytes
    signature: bytes


# tuple.__new__ builds a VerifiedEnvelope without the NamedTuple's Python-level __new__ (hot path).
_new_verified_envelope: Callable[[type[VerifiedEnvelope], tuple[bytes, str, bytes, bytes]], VerifiedEnvelope]
_new_verified_envelope = tuple.__new__


def _parse_envelope(data: bytes) -> envelope_pb2.Envelope:
    """Envelope bytes parsed under the decoding profile, and canonical with no unknown field.

    Fast path: upb parses, drops unknown fields and re-encodes; equal bytes mean a canonical
    envelope (an Envelope has no varint values for upb to read differently from the profile). Any
    other input goes to the profile's scanner only to tell malformed bytes (ENV-004) from a
    non-canonical envelope (ENV-009): both are MALFORMED_ENVELOPE.
    """
    try:
        env = Envelope.FromString(data)
    except (DecodeError, RuntimeWarning, ValueError):
        pass
    else:
        env.DiscardUnknownFields()
        if env.SerializeToString(deterministic=True) == data:
            return env
    try:
        defect = decoding.check(data, ENVELOPE_SPEC, allow_unknown=False)
    except decoding.Malformed as exc:
        raise MalformedEnvelope(f"not a protobuf Envelope: {exc.detail}", requirement="ENV-004") from None
    detail = defect.detail if defect is not None else "upb and the decoding profile disagree"
    raise MalformedEnvelope(f"not the canonical encoding of an Envelope: {detail}", requirement="ENV-009")


def decode_envelope(data: bytes, *, max_bytes: int = MAX_ENVELOPE_BYTES) -> envelope_pb2.Envelope:
    """Parse envelope bytes without checking the signature (ENV-004, ENV-008, ENV-009).

    Only a canonical envelope with no unknown field parses, so what a receiver stores is determined
    by the payload and the signature.
    """
    if len(data) > max_bytes:
        raise EnvelopeTooLarge(f"{len(data)} bytes > limit {max_bytes}", requirement="ENV-008")
    return _parse_envelope(data)


class ParsedEnvelope(NamedTuple):
    """Envelope bytes parsed (:func:`decode_envelope`), and the digest of the statement they carry,
    before any signature check: what a receiver needs to look up whether it holds that statement."""

    envelope: envelope_pb2.Envelope
    digest: bytes  # statement_digest of the payload, under the envelope's payload type


# tuple.__new__ builds a ParsedEnvelope without the NamedTuple's Python-level __new__ (hot path).
_new_parsed_envelope: Callable[[type[ParsedEnvelope], tuple[envelope_pb2.Envelope, bytes]], ParsedEnvelope]
_new_parsed_envelope = tuple.__new__


def parse_envelope(data: bytes) -> ParsedEnvelope:
    """:func:`decode_envelope` and the payload's digest: no signature checked (ENV-004, ENV-008,
    ENV-009). Hand the result to :func:`verify_envelope` to check the signature without parsing or
    hashing again."""
    env = decode_envelope(data)
    payload, payload_type = env.payload, env.payload_type
    if payload_type == STATEMENT_PAYLOAD_TYPE:  # a statement (hot path): pae() inlined
        digest = _sha256(b"%b%d %b" % (_STATEMENT_PAE_PREFIX, len(payload), payload)).digest()
    else:
        digest = statement_digest(payload, payload_type)
    return _new_parsed_envelope(ParsedEnvelope, (env, digest))


def verify_envelope(
    data: bytes,
    *,
    max_bytes: int = MAX_ENVELOPE_BYTES,
    payload_type: str = STATEMENT_PAYLOAD_TYPE,
    parsed: ParsedEnvelope | None = None,
) -> VerifiedEnvelope:
    """Check an envelope's structure and signature over the bytes as received.

    Args:
        parsed: what :func:`parse_envelope` returned for ``data``, when the caller parsed it already
            (to look its digest up): neither parsed nor hashed again.

    Raises:
        EnvelopeTooLarge, MalformedEnvelope, UnsupportedPayloadType,
        KeyInvalid, KeyNonCanonical, KeySmallOrder, SignatureNonCanonical,
        SignatureInvalid.
    """
    if len(data) > max_bytes:
        raise EnvelopeTooLarge(f"{len(data)} bytes > limit {max_bytes}", requirement="ENV-008")
    if parsed is not None:
        env = parsed.envelope  # by decode_envelope: canonical, with no unknown field (ENV-004, ENV-009)
    else:
        try:  # the fast path of _parse_envelope, inlined (hot path)
            env = Envelope.FromString(data)
            env.DiscardUnknownFields()
            canonical = env.SerializeToString(deterministic=True) == data
        except (DecodeError, RuntimeWarning, ValueError):
            canonical = False
        if not canonical:
            env = _parse_envelope(data)  # raises MalformedEnvelope with the rule (ENV-004 or ENV-009)
    sigs = env.signatures
    if len(sigs) != 1:
        raise MalformedEnvelope(f"expected exactly one signature, got {len(sigs)}", requirement="ENV-004")
    payload = env.payload
    if not payload:
        raise MalformedEnvelope("empty payload", requirement="ENV-004")
    if env.payload_type != payload_type:
        raise UnsupportedPayloadType(f"payload type {env.payload_type!r:.80}", requirement="ENV-003")
    sig = sigs[0]
    keyid = sig.keyid
    public_key = public_key_from_did(keyid)
    signature = sig.sig
    if len(signature) != SIGNATURE_BYTES:
        raise SignatureInvalid(f"signature is {len(signature)} bytes, not 64", requirement="ENV-006")
    if signature[63] & 0xF0 and int.from_bytes(signature[32:], "little") >= GROUP_ORDER:
        raise SignatureNonCanonical("S >= L", requirement="ENV-007")
    if payload_type is STATEMENT_PAYLOAD_TYPE:  # the default: pae() inlined (hot path)
        message = b"%b%d %b" % (_STATEMENT_PAE_PREFIX, len(payload), payload)
    else:
        message = pae(payload_type, payload)
    if not ed25519_verify(signature, message, public_key):
        raise SignatureInvalid(requirement="ENV-006")
    # parse_envelope hashed the same bytes: PAE of this payload under this (checked) payload type.
    digest = parsed.digest if parsed is not None else _sha256(message).digest()
    return _new_verified_envelope(VerifiedEnvelope, (payload, keyid, digest, signature))


# --- DSSE JSON form (for files and for other DSSE tooling) ------------------------------


def envelope_to_json(data: bytes) -> dict[str, Any]:
    """The JSON form of encoded envelope bytes (ENV-010: DSSE JSON, canonical standard base64)."""
    env = decode_envelope(data)
    return {
        "payload": base64.b64encode(env.payload).decode(),
        "payloadType": env.payload_type,
        "signatures": [{"keyid": s.keyid, "sig": base64.b64encode(s.sig).decode()} for s in env.signatures],
    }


_JSON_MEMBERS = frozenset({"payload", "payloadType", "signatures"})
_JSON_SIGNATURE_MEMBERS = frozenset({"keyid", "sig"})


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in pairs:
        if name in out:
            raise ValueError(f"member name {name!r:.40} appears twice in one object")
        out[name] = value
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def strict_json_loads(text: str | bytes | bytearray) -> Any:
    """Parse JSON text (RFC 8259, UTF-8) refusing what parsers disagree on: a member name twice in
    one object, NaN and Infinity. Raises ValueError (json.JSONDecodeError is one)."""
    try:
        if isinstance(text, bytes | bytearray):
            text = bytes(text).decode("utf-8")
        return json.loads(text, object_pairs_hook=_unique_members, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def envelope_from_json(obj: Any) -> bytes:
    """Canonical envelope bytes from the JSON form, a stricter profile of DSSE JSON (ENV-010).

    Args:
        obj: the JSON text (``str`` or UTF-8 ``bytes``), or the object a JSON parser made of it.
            Give the text where you have it: only then can a member name that appears twice be
            refused (a parser has already kept one of the two values in the object).

    Raises:
        MalformedEnvelope: not exactly {payload, payloadType, signatures: [{keyid, sig}]} with
            string values and canonical standard base64 (ENV-010).
    """
    try:
        if isinstance(obj, str | bytes | bytearray):
            obj = strict_json_loads(obj)
        if not isinstance(obj, Mapping) or set(obj) != _JSON_MEMBERS:
            raise ValueError(f"an envelope is an object with exactly the members {sorted(_JSON_MEMBERS)}")
        sigs = obj["signatures"]
        if not isinstance(sigs, list) or len(sigs) != 1:
            raise ValueError("signatures must be an array of exactly one signature")
        (sig,) = sigs
        if not isinstance(sig, Mapping) or set(sig) != _JSON_SIGNATURE_MEMBERS:
            raise ValueError(f"a signature has exactly the members {sorted(_JSON_SIGNATURE_MEMBERS)}")
        payload_type, keyid = obj["payloadType"], sig["keyid"]
        if not isinstance(payload_type, str) or not isinstance(keyid, str):
            raise ValueError("payloadType and keyid must be strings")
        env = Envelope(payload=_b64(obj["payload"], "payload"), payload_type=payload_type)
        env.signatures.add(keyid=keyid, sig=_b64(sig["sig"], "sig"))
    except (ValueError, UnicodeError) as exc:
        raise MalformedEnvelope(f"not a JSON envelope: {exc!s:.120}", requirement="ENV-010") from None
    return env.SerializeToString(deterministic=True)


def _b64(text: Any, what: str) -> bytes:
    """The bytes of canonical standard base64 (RFC 4648 section 4, padded, pad bits zero)."""
    if isinstance(text, str):
        try:
            data = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            pass
        else:
            if base64.b64encode(data).decode("ascii") == text:
                return data
    raise ValueError(f"{what} is not a string of canonical standard base64 (padded, pad bits zero)")
