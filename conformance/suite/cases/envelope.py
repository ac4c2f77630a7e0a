"""Envelope and signature (SPEC sections 5 and 11.1, steps 1-7): one defect per statement."""

from __future__ import annotations

from a2a_coop._proto.a2acoop.v1 import envelope_pb2
from a2a_coop.protocol.envelope import decode_envelope
from a2a_coop.testing import Party
from conformance.suite.context import Context
from conformance.suite.flows import fair_proposal, refuses, resign_payload, target, with_signature
from conformance.suite.model import Outcome, case

# The order of the Ed25519 group (RFC 8032): S must be below it (ENV-007).
GROUP_ORDER = 2**252 + 27742317777372353535851937790883648493


def _offer(ctx: Context) -> tuple[Party, bytes]:
    """A valid opening Offer of the case's party, not yet sent and not advancing its chain."""
    alice = ctx.party()
    vs = alice.offer(target(ctx), fair_proposal(alice))
    # Roll the chain back: the case sends a defective copy first, then this valid one at the same seq.
    alice.agent.writer.next_seq, alice.agent.writer.prev = vs.header.seq, vs.header.prev
    return alice, vs.envelope


def _valid_again(alice: Party, ctx: Context):  # type: ignore[no-untyped-def]
    return alice.offer(target(ctx), fair_proposal(alice))


@case(
    "env.signature-flipped",
    "A signature with one bit flipped is refused SIGNATURE_INVALID",
    "ENV-006",
    "ENV-002",
    "ERR-003",
)
def signature_flipped(ctx: Context) -> Outcome:
    """Send a valid Offer whose signature has its first bit flipped; expect SIGNATURE_INVALID
    (UNAUTHENTICATED), then the valid Offer at the same seq must be accepted."""
    alice, env = _offer(ctx)
    sig = bytearray(decode_envelope(env).signatures[0].sig)
    sig[0] ^= 0x01
    bad = with_signature(env, sig=bytes(sig))
    return Outcome.passed(
        refuses(
            ctx,
            bad,
            "SIGNATURE_INVALID",
            what="a flipped signature",
            context=alice.setup,
            then=_valid_again(alice, ctx),
        )
    )


@case("env.signature-short", "A 63-byte signature is refused SIGNATURE_INVALID", "ENV-006")
def signature_short(ctx: Context) -> Outcome:
    """The signature cut to 63 bytes (step 5)."""
    alice, env = _offer(ctx)
    bad = with_signature(env, sig=decode_envelope(env).signatures[0].sig[:63])
    return Outcome.passed(
        refuses(ctx, bad, "SIGNATURE_INVALID", what="a 63-byte signature", context=alice.setup)
    )


@case(
    "env.signature-high-s", "A signature with S + L (malleable) is refused SIGNATURE_NONCANONICAL", "ENV-007"
)
def signature_high_s(ctx: Context) -> Outcome:
    """Add the group order L to S: the same signature for a lax verifier (malleability); a strict one
    refuses it with SIGNATURE_NONCANONICAL (step 6)."""
    alice, env = _offer(ctx)
    sig = decode_envelope(env).signatures[0].sig
    s = int.from_bytes(sig[32:], "little") + GROUP_ORDER
    if s >= 2**256:  # cannot happen for S < L, but keep the bytes honest
        return Outcome.not_tested("S + L does not fit in 32 bytes for this signature")
    bad = with_signature(env, sig=sig[:32] + s.to_bytes(32, "little"))
    return Outcome.passed(
        refuses(ctx, bad, "SIGNATURE_NONCANONICAL", what="a signature with S >= L", context=alice.setup)
    )


@case(
    "env.payload-type",
    "Another payload type, correctly signed, is refused UNSUPPORTED_PAYLOAD_TYPE",
    "ENV-003",
)
def payload_type(ctx: Context) -> Outcome:
    """The statement's payload signed under ``application/vnd.a2acoop.statement.v2+protobuf``."""
    alice, env = _offer(ctx)
    bad = resign_payload(alice, decode_envelope(env).payload, "application/vnd.a2acoop.statement.v2+protobuf")
    return Outcome.passed(
        refuses(ctx, bad, "UNSUPPORTED_PAYLOAD_TYPE", what="a foreign payload type", context=alice.setup)
    )


@case(
    "env.two-signatures",
    "An envelope with two signatures is refused MALFORMED_ENVELOPE",
    "ENV-004",
    "ENV-001",
)
def two_signatures(ctx: Context) -> Outcome:
    """A valid envelope with its signature repeated (exactly one is allowed)."""
    alice, env = _offer(ctx)
    e = envelope_pb2.Envelope.FromString(env)
    e.signatures.append(e.signatures[0])
    bad = e.SerializeToString(deterministic=True)
    return Outcome.passed(refuses(ctx, bad, "MALFORMED_ENVELOPE", what="two signatures", context=alice.setup))


@case("env.garbage", "Bytes that are no Envelope are refused MALFORMED_ENVELOPE", "ENV-004", "ENV-009")
def garbage(ctx: Context) -> Outcome:
    """Send 0xff bytes as the envelope."""
    return Outcome.passed(refuses(ctx, b"\xff" * 40, "MALFORMED_ENVELOPE", what="40 bytes of 0xff"))


@case("env.too-large", "An envelope over 65536 bytes is refused ENVELOPE_TOO_LARGE", "ENV-008", "RPC-008")
def too_large(ctx: Context) -> Outcome:
    """A 65537-byte envelope (a valid statement padded with an over-long signature field) inside a
    request the server's receive limit (at least 65536 + 1024) must admit: the refusal must be
    ENVELOPE_TOO_LARGE, not a transport-level RESOURCE_EXHAUSTED without ErrorInfo."""
    alice, env = _offer(ctx)
    sig = decode_envelope(env).signatures[0].sig
    pad = 65537 - len(env)
    bad = with_signature(env, sig=sig + b"\x00" * pad)
    grow = 65537 - len(bad)
    if grow:
        bad = with_signature(env, sig=sig + b"\x00" * (pad + grow))
    assert len(bad) == 65537, len(bad)
    return Outcome.passed(
        refuses(ctx, bad, "ENVELOPE_TOO_LARGE", what="a 65537-byte envelope", context=alice.setup)
    )


@case(
    "env.keyid-mismatch",
    "A statement signed by a key other than its issuer is refused KEYID_MISMATCH",
    "STM-004",
)
def keyid_mismatch(ctx: Context) -> Outcome:
    """Alice's Offer payload signed (validly) by Mallory, under Mallory's keyid."""
    alice, env = _offer(ctx)
    mallory = ctx.party("mallory")
    bad = resign_payload(mallory, decode_envelope(env).payload)
    return Outcome.passed(
        refuses(ctx, bad, "KEYID_MISMATCH", what="alice's statement signed by mallory", context=alice.setup)
    )


@case("env.keyid-invalid", "A keyid that is not a did:key is refused KEY_INVALID", "KEY-001")
def keyid_invalid(ctx: Context) -> Outcome:
    """The signature's keyid replaced by ``did:key:zNotAKey``."""
    alice, env = _offer(ctx)
    bad = with_signature(env, keyid="did:key:zNotAKey")
    return Outcome.passed(
        refuses(ctx, bad, "KEY_INVALID", what="a keyid that is not a did:key", context=alice.setup)
    )
