"""Statement encoding and header rules (SPEC section 6, section 11.1 steps 8-19): one defect each,
signed properly, then the valid statement at the same seq (ERR-003)."""

from __future__ import annotations

from collections.abc import Callable

from a2a_coop._proto.a2acoop.v1 import statement_pb2
from a2a_coop.protocol.envelope import decode_envelope
from conformance.suite.context import Context
from conformance.suite.flows import fair_proposal, forge, refuses, resign_payload, target
from conformance.suite.model import Outcome, case

MAX_INT = 2**53 - 1


def _defect(ctx: Context, code: str, what: str, mutate: Callable[[statement_pb2.Statement], None]) -> Outcome:
    """Alice's opening Offer with ``mutate`` applied, signed; refused with ``code``; then the valid
    Offer at the same seq is accepted."""
    alice = ctx.party()
    bad = forge(alice, "offer", fair_proposal(alice), audience=ctx.target, mutate=mutate)
    valid = alice.offer(target(ctx), fair_proposal(alice))
    return Outcome.passed(refuses(ctx, bad, code, what=what, context=alice.setup, then=valid))


def _set(field: str, value: object) -> Callable[[statement_pb2.Statement], None]:
    def mutate(s: statement_pb2.Statement) -> None:
        setattr(s.header, field, value)

    return mutate


@case(
    "stm.version-2",
    "A statement of header.version 2 is refused UNSUPPORTED_VERSION",
    "STM-003",
    "VER-001",
    "ERR-003",
)
def version_2(ctx: Context) -> Outcome:
    """An Offer with header.version = 2, otherwise valid."""
    return _defect(ctx, "UNSUPPORTED_VERSION", "version 2", _set("version", 2))


@case("stm.nonce-short", "A 15-byte nonce is refused HEADER_INVALID", "STM-007", "ERR-003")
def nonce_short(ctx: Context) -> Outcome:
    """An Offer whose nonce is 15 bytes (its negotiation id still derived from it)."""

    def mutate(s: statement_pb2.Statement) -> None:
        from a2a_coop.protocol.statements import negotiation_id_for

        s.header.nonce = s.header.nonce[:15]
        s.header.negotiation_id = negotiation_id_for(s.header.issuer, s.header.nonce)

    return _defect(ctx, "HEADER_INVALID", "a 15-byte nonce", mutate)


@case("stm.seq0-with-prev", "seq 0 with a non-empty prev is refused HEADER_INVALID", "STM-006", "ERR-003")
def seq0_with_prev(ctx: Context) -> Outcome:
    """The first statement of a chain (seq 0) naming a prev."""
    return _defect(ctx, "HEADER_INVALID", "seq 0 with a prev", _set("prev", b"\x11" * 32))


@case(
    "stm.expires-before-issued",
    "expires_at_ms <= issued_at_ms is refused HEADER_INVALID",
    "STM-008",
    "ERR-003",
)
def expires_before_issued(ctx: Context) -> Outcome:
    """An Offer that expires at the instant it is issued."""

    def mutate(s: statement_pb2.Statement) -> None:
        s.header.expires_at_ms = s.header.issued_at_ms

    return _defect(ctx, "HEADER_INVALID", "expires_at_ms = issued_at_ms", mutate)


@case("stm.integer-over-2-53", "A header time above 2^53 - 1 is refused HEADER_INVALID", "STM-013", "ERR-003")
def integer_over(ctx: Context) -> Outcome:
    """expires_at_ms = 2^53 (a 64-bit verifier would accept it; every verifier must refuse it)."""
    return _defect(ctx, "HEADER_INVALID", "expires_at_ms = 2^53", _set("expires_at_ms", MAX_INT + 1))


@case("stm.refs-65", "65 refs are refused HEADER_INVALID", "STM-011", "ERR-003")
def refs_65(ctx: Context) -> Outcome:
    """An Offer with 65 32-byte refs (at most 64 are allowed)."""

    def mutate(s: statement_pb2.Statement) -> None:
        s.header.refs.extend(bytes([i]) * 32 for i in range(65))

    return _defect(ctx, "HEADER_INVALID", "65 refs", mutate)


@case("stm.ref-31-bytes", "A 31-byte ref is refused HEADER_INVALID", "STM-011")
def ref_31(ctx: Context) -> Outcome:
    """An Offer with one 31-byte ref."""
    return _defect(ctx, "HEADER_INVALID", "a 31-byte ref", lambda s: s.header.refs.append(b"\x01" * 31))


@case("stm.audience-invalid", "An audience that is not a did:key is refused KEY_INVALID", "STM-005")
def audience_invalid(ctx: Context) -> Outcome:
    """An Offer addressed to ``did:key:zBogus``."""
    return _defect(ctx, "KEY_INVALID", "audience did:key:zBogus", _set("audience", "did:key:zBogus"))


@case(
    "stm.wrong-audience",
    "A statement addressed to another key is refused WRONG_AUDIENCE",
    "STM-005",
    "ERR-003",
)
def wrong_audience(ctx: Context) -> Outcome:
    """A valid Offer to Carol (a suite identity) delivered to the target."""
    carol = ctx.party("carol")
    return _defect(ctx, "WRONG_AUDIENCE", "an offer addressed to carol", _set("audience", carol.did))


@case("stm.no-body", "A statement with no body is refused BODY_MISSING", "STM-010", "VER-004")
def no_body(ctx: Context) -> Outcome:
    """An Offer's header with the body cleared."""
    return _defect(ctx, "BODY_MISSING", "a statement with no body", lambda s: s.ClearField("offer"))


@case(
    "stm.negotiation-id-squat",
    "An Offer whose negotiation_id is not derived from issuer and nonce is refused HEADER_INVALID",
    "NEG-013",
    "STM-009",
)
def negotiation_id_squat(ctx: Context) -> Outcome:
    """An opening Offer under a negotiation id of the suite's choosing (id squatting)."""
    return _defect(ctx, "HEADER_INVALID", "a chosen negotiation_id", _set("negotiation_id", b"\x42" * 16))


@case("stm.no-mandate", "A trade statement without header.mandate is refused HEADER_INVALID", "MND-001")
def no_mandate(ctx: Context) -> Outcome:
    """An Offer with header.mandate empty."""
    return _defect(ctx, "HEADER_INVALID", "an offer naming no mandate", _set("mandate", b""))


@case(
    "stm.payload-garbage",
    "A signed payload that is no Statement is refused MALFORMED_STATEMENT",
    "STM-001",
    "STM-014",
)
def payload_garbage(ctx: Context) -> Outcome:
    """A correctly signed envelope whose payload is 0xff bytes."""
    alice = ctx.party()
    bad = resign_payload(alice, b"\xff\xff\xff\xff")
    return Outcome.passed(
        refuses(ctx, bad, "MALFORMED_STATEMENT", what="a payload that does not parse", context=alice.setup)
    )


@case(
    "stm.payload-noncanonical",
    "A payload with its fields out of order is refused NONCANONICAL_ENCODING",
    "STM-002",
    "ENV-005",
)
def payload_noncanonical(ctx: Context) -> Outcome:
    """The valid Offer's top-level fields re-ordered (body before header), signed: the same message,
    not its canonical bytes. A verifier that decodes and re-encodes before checking would accept it."""
    alice = ctx.party()
    vs = alice.offer(target(ctx), fair_proposal(alice))
    payload = decode_envelope(vs.envelope).payload
    fields = _top_level_fields(payload)
    if len(fields) < 2:
        return Outcome.not_tested("the offer's payload has a single top-level field")
    bad = resign_payload(alice, b"".join(reversed(fields)))
    alice.agent.writer.next_seq, alice.agent.writer.prev = vs.header.seq, vs.header.prev
    valid = alice.offer(target(ctx), fair_proposal(alice))
    return Outcome.passed(
        refuses(
            ctx, bad, "NONCANONICAL_ENCODING", what="fields out of order", context=alice.setup, then=valid
        )
    )


def _top_level_fields(data: bytes) -> list[bytes]:
    """Split protobuf bytes into their top-level fields (length-delimited and varint only)."""
    out, i = [], 0
    while i < len(data):
        start = i
        key, i = _varint(data, i)
        wire = key & 7
        if wire == 0:
            _, i = _varint(data, i)
        elif wire == 2:
            n, i = _varint(data, i)
            i += n
        else:
            raise ValueError(f"wire type {wire}")
        out.append(data[start:i])
    return out


def _varint(data: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        b = data[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            return value, i


def _splice(ctx: Context, build: Callable[[bytes], bytes]) -> tuple[bytes, object]:
    """Alice's valid Offer payload rebuilt by ``build``, signed by Alice; and the valid Offer at the
    same seq."""
    alice = ctx.party()
    vs = alice.offer(target(ctx), fair_proposal(alice))
    bad = resign_payload(alice, build(decode_envelope(vs.envelope).payload))
    return bad, vs


@case(
    "stm.wire-type-mismatch",
    "A defined field with the wrong wire type is refused MALFORMED_STATEMENT",
    "STM-015",
    "STM-014",
)
def wire_type_mismatch(ctx: Context) -> Outcome:
    """Statement field 1 (header, a message) first sent as a varint, then as itself."""
    alice = ctx.party()
    bad, _ = _splice(ctx, lambda p: b"\x08\x01" + p)
    return Outcome.passed(
        refuses(ctx, bad, "MALFORMED_STATEMENT", what="field 1 as a varint", context=alice.setup)
    )


@case(
    "stm.unknown-field-in-range",
    "An unknown field numbered below a defined one is refused MALFORMED_STATEMENT",
    "STM-016",
)
def unknown_field_in_range(ctx: Context) -> Outcome:
    """Statement field 5 (undefined; the body numbers run to 43) inserted between header and body."""
    alice = ctx.party()

    def build(p: bytes) -> bytes:
        header, *rest = _top_level_fields(p)
        return header + b"\x28\x01" + b"".join(rest)

    bad, _ = _splice(ctx, build)
    return Outcome.passed(
        refuses(ctx, bad, "MALFORMED_STATEMENT", what="an unknown field 5", context=alice.setup)
    )


@case(
    "stm.unknown-field-kept",
    "An unknown field above every defined one is accepted and kept byte-exact",
    "VER-002",
    "STM-016",
    "RPC-001",
)
def unknown_field_kept(ctx: Context) -> Outcome:
    """Alice's Offer with field 100 (a later revision's field) appended, signed: the target must accept
    it and answer naming the digest of those exact bytes (the Accept's offer field), so it neither
    dropped the field nor re-encoded the payload."""
    from a2a_coop.protocol.envelope import statement_digest

    alice = ctx.party()
    bad, _ = _splice(ctx, lambda p: p + b"\xa0\x06\x01")
    reply = ctx.exchange(bad, alice.setup, note="an offer with unknown field 100")
    if reply.error is not None:
        from conformance.suite.model import CaseFailed

        raise CaseFailed(
            f"an offer with an unknown field 100 was refused "
            f"{reply.error.reason or reply.error.status.name} (STM-016 allows it)"
        )
    digest = statement_digest(decode_envelope(bad).payload)
    alice.agent.writer.prev = (
        digest  # the target took these bytes at seq 0: the closing Delivery links to them
    )
    for env in reply.envelopes:
        from a2a_coop.protocol.statements import verify_statement

        vs = verify_statement(env)
        if vs.body in ("accept", "reject", "counter"):
            named = getattr(vs.statement, vs.body).offer
            ctx.must(
                named == digest,
                "the target's answer names another digest: "
                "it dropped or re-encoded the unknown field (VER-002)",
            )
            return Outcome.passed(f"accepted; its {vs.body} names the exact bytes' digest")
    return Outcome.info("accepted, but the answer names no offer digest to compare")


@case("stm.check-order", "With several defects, the first check in SPEC order decides the code", "ERR-002")
def check_order(ctx: Context) -> Outcome:
    """Two statements with two defects each: a bad signature on a version-2 statement (step 7 before
    step 10: SIGNATURE_INVALID), and an Offer to Carol that expired 2 minutes ago (audience, step 21,
    before freshness, step 25: WRONG_AUDIENCE)."""
    from a2a_coop.protocol.envelope import decode_envelope as dec
    from conformance.suite.flows import with_signature

    alice = ctx.party()
    v2 = forge(alice, "offer", fair_proposal(alice), audience=ctx.target, mutate=_set("version", 2))
    sig = bytearray(dec(v2).signatures[0].sig)
    sig[5] ^= 0x10
    first = refuses(
        ctx,
        with_signature(v2, sig=bytes(sig)),
        "SIGNATURE_INVALID",
        what="version 2 with a bad signature",
        context=alice.setup,
    )
    carol = ctx.party("carol")
    now = ctx.clock.now_ms
    stale = forge(
        alice, "offer", fair_proposal(alice), audience=carol.did, issued_at_ms=now - 180_000, ttl_ms=60_000
    )
    second = refuses(ctx, stale, "WRONG_AUDIENCE", what="an expired offer to carol")
    return Outcome.passed(f"{first}; {second}")
