"""Statement format: canonical encoding, header rules, versioning (SPEC section 6, STM-*, VER-*, MND-001)."""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Callable

import pytest

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2
from a2a_coop.protocol.envelope import (
    STATEMENT_PAYLOAD_TYPE,
    decode_envelope,
    pae,
    sign_payload,
    statement_digest,
)
from a2a_coop.protocol.errors import (
    BodyMissing,
    ChainGap,
    CoopError,
    HeaderInvalid,
    KeyIdMismatch,
    KeyInvalid,
    KeySmallOrder,
    MalformedStatement,
    NonCanonicalEncoding,
    UnsupportedVersion,
)
from a2a_coop.protocol.identity import Keypair, did_from_public_key
from a2a_coop.protocol.mandate import committed_value
from a2a_coop.protocol.statements import (
    _KEPT_READS,
    KNOWN_BODIES,
    NEGOTIATION_BODIES,
    PRINCIPAL_BODIES,
    PROTOCOL_VERSION,
    Statement,
    VerifiedStatement,
    candidate,
    decode_statement,
    encode_statement,
    sign_candidate,
    sign_statement,
    verify_statement,
)
from a2a_coop.protocol.verifier import Verifier
from a2a_coop.testing import Party, derive

SMALL_ORDER_DID = did_from_public_key(bytes.fromhex("01" + "00" * 31))  # the identity point


def _resign(vs: VerifiedStatement, key: Keypair, mutate: Callable[[Statement], None]) -> bytes:
    """Copy a statement, change it, and sign the result without any checks (as an attacker or a
    buggy peer would)."""
    stmt = Statement()
    stmt.CopyFrom(vs.statement)
    mutate(stmt)
    return sign_payload(encode_statement(stmt), key)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n & 0x7F, n >> 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _with_raw_header(vs: VerifiedStatement, header_bytes: bytes) -> bytes:
    """Statement payload bytes with ``header_bytes`` as the header field, body unchanged."""
    rest = Statement()
    rest.CopyFrom(vs.statement)
    rest.ClearField("header")
    return b"\x0a" + _varint(len(header_bytes)) + header_bytes + encode_statement(rest)


def _header_bytes(vs: VerifiedStatement) -> bytes:
    return vs.header.SerializeToString(deterministic=True)


def _code(data: bytes) -> tuple[str, str]:
    with pytest.raises(CoopError) as err:
        verify_statement(data)
    return err.value.code, err.value.requirement


@pytest.fixture
def offer(alice: Party, bob: Party) -> VerifiedStatement:
    return alice.offer(bob)


# --- STM-001, STM-002: canonical encoding ---------------------------------------------------------


@pytest.mark.req("STM-001", "STM-014")
def test_payload_that_is_not_a_statement_is_refused(alice: Party) -> None:
    """A correctly signed envelope carries bytes that do not parse as a Statement; expect
    MALFORMED_STATEMENT for the wire-structure rule they break."""
    for payload in (b"\xff\xff\xff", b"\x0a\x10short", b"\x0a\x02\x08"):
        with pytest.raises(MalformedStatement) as err:
            verify_statement(sign_payload(payload, alice.agent.key))
        assert err.value.requirement == "STM-014"


@pytest.mark.req("STM-001")
def test_encoding_is_deterministic_and_in_field_order(offer: VerifiedStatement) -> None:
    """Encode the same statement twice and after a parse round trip; expect identical bytes, with
    the header (field 1) first and the body after it."""
    payload = decode_envelope(offer.envelope).payload
    again = Statement()
    again.ParseFromString(payload)
    assert encode_statement(again) == payload == encode_statement(offer.statement)
    assert payload[0] == 0x0A  # field 1 (header), wire type 2
    header = _header_bytes(offer)
    assert header.startswith(b"\x08\x01\x12")  # version = 1, then issuer


@pytest.mark.req("STM-001", "STM-002")
@pytest.mark.parametrize(
    ("name", "edit"),
    [
        ("non-minimal varint for version", lambda h: h.replace(b"\x08\x01", b"\x08\x81\x00", 1)),
        ("version field repeated", lambda h: b"\x08\x01" + h),
        ("fields out of order", lambda h: h[2:] + h[:2]),
        ("default value encoded explicitly", lambda h: h + b"\x38\x00"),
    ],
)
def test_non_canonical_encoding_of_a_valid_statement_is_refused(
    offer: VerifiedStatement, alice: Party, name: str, edit: Callable[[bytes], bytes]
) -> None:
    """An issuer signs another encoding of the same statement (which would have another digest);
    expect NONCANONICAL_ENCODING."""
    payload = _with_raw_header(offer, edit(_header_bytes(offer)))
    assert payload != decode_envelope(offer.envelope).payload
    with pytest.raises(NonCanonicalEncoding) as err:
        decode_statement(payload)
    assert err.value.requirement == "STM-002"
    assert _code(sign_payload(payload, alice.agent.key)) == ("NONCANONICAL_ENCODING", "STM-002")


@pytest.mark.req("VER-002", "STM-002")
def test_statement_with_unknown_header_field_verifies_and_keeps_its_bytes(
    offer: VerifiedStatement, alice: Party, bob: Party
) -> None:
    """A newer peer appends header field 99 and signs; expect this version to verify it, to keep
    the envelope bytes exactly, and to use the digest of the bytes with the unknown field."""
    unknown = _varint(99 << 3 | 2) + b"\x05later"
    payload = _with_raw_header(offer, _header_bytes(offer) + unknown)
    data = sign_payload(payload, alice.agent.key)
    vs = verify_statement(data)
    assert vs.envelope == data
    assert vs.digest == statement_digest(payload) != offer.digest
    assert encode_statement(vs.statement) == payload  # re-emitted after the known fields
    v = Verifier(me=bob.did)
    v.accept(alice.setup[0])
    kept = v.accept(data)
    assert kept.envelope == data
    assert v.chains[alice.did].links[0].envelope == data
    assert v.statements[vs.digest].envelope == data


@pytest.mark.req("VER-003", "STM-016")
def test_new_fields_must_take_higher_numbers_than_existing_ones(
    offer: VerifiedStatement, alice: Party
) -> None:
    """Two hypothetical extensions of Statement: one numbered above every body (50), one in the
    unused gap below them (5). Expect this version to accept the first and to reject the second as
    MALFORMED_STATEMENT wherever it stands (no revision may number a field 5, VER-003), which is why
    later fields must take higher numbers."""
    header_field = encode_statement(Statement(header=offer.statement.header))
    body_only = Statement()
    body_only.CopyFrom(offer.statement)
    body_only.ClearField("header")
    body_field = encode_statement(body_only)
    extension = b"\x05later"
    above = header_field + body_field + _varint(50 << 3 | 2) + extension
    verify_statement(sign_payload(above, alice.agent.key))
    for below in (
        header_field + _varint(5 << 3 | 2) + extension + body_field,
        header_field + body_field + _varint(5 << 3 | 2) + extension,
    ):
        with pytest.raises(MalformedStatement) as err:
            verify_statement(sign_payload(below, alice.agent.key))
        assert err.value.requirement == "STM-016"
    numbers = [f.number for f in Statement.DESCRIPTOR.oneofs_by_name["body"].fields]
    assert min(numbers) > Statement.DESCRIPTOR.fields_by_name["header"].number


@pytest.mark.req("VER-004", "STM-010")
def test_statement_with_a_body_this_version_does_not_know_is_body_missing(
    offer: VerifiedStatement, alice: Party
) -> None:
    """A newer peer sends a body added later (oneof member 60); expect BODY_MISSING, not a crash and
    not MALFORMED_STATEMENT."""
    payload = encode_statement(Statement(header=offer.statement.header)) + _varint(60 << 3 | 2) + b"\x00"
    with pytest.raises(BodyMissing) as err:
        verify_statement(sign_payload(payload, alice.agent.key))
    assert err.value.requirement == "STM-010"


@pytest.mark.req("VER-004", "ERR-003", "CHN-002", "CHN-005")
@pytest.mark.parametrize("complete", [False, True], ids=["sparse", "complete"])
def test_an_unknown_body_leaves_no_trace_so_every_verifier_judges_what_follows_alike(
    alice: Party, bob: Party, complete: bool
) -> None:
    """Alice's seq 0 is an offer, seq 1 a body this version does not know, seq 2 an offer again. The
    unknown body is BODY_MISSING and records nothing, not even its chain link: a sparse verifier takes
    seq 2 across the gap, a complete one refuses it (CHAIN_GAP) -- the same verdicts at every verifier."""
    first = alice.offer(bob)
    unknown = Statement(header=first.statement.header)
    unknown.header.seq, unknown.header.prev, unknown.header.nonce = 1, first.digest, bytes(range(16))
    unknown_env = sign_payload(encode_statement(unknown) + _varint(60 << 3 | 2) + b"\x00", alice.agent.key)
    unknown_digest = statement_digest(decode_envelope(unknown_env).payload)

    def third(s: Statement) -> None:
        s.header.seq, s.header.prev, s.header.nonce = 2, unknown_digest, bytes(range(1, 17))
        s.header.negotiation_id = hashlib.sha256(
            b"a2a-coop/v1/negotiation\x00" + alice.did.encode() + b"\x00" + s.header.nonce
        ).digest()[:16]

    later = _resign(first, alice.agent.key, third)
    verifier = Verifier(complete_chains=complete)
    for env in [*alice.setup, *bob.setup, first.envelope]:
        verifier.accept(env)
    with pytest.raises(BodyMissing):
        verifier.accept(unknown_env)
    assert verifier.chains[alice.did].head == 0
    if complete:
        with pytest.raises(ChainGap):
            verifier.accept(later)
    else:
        assert verifier.accept(later).header.seq == 2


@pytest.mark.req("STM-010")
def test_statement_without_body_is_refused(offer: VerifiedStatement, alice: Party) -> None:
    """A statement with a header and nothing else; expect BODY_MISSING."""
    with pytest.raises(BodyMissing):
        verify_statement(_resign(offer, alice.agent.key, lambda s: s.ClearField("offer")))


# --- header rules --------------------------------------------------------------------------------


@pytest.mark.req("STM-003", "VER-001")
@pytest.mark.parametrize("version", [0, 2, 1000])
def test_unknown_protocol_version_is_refused(offer: VerifiedStatement, alice: Party, version: int) -> None:
    """A statement claims protocol version 0, 2 or 1000; expect UNSUPPORTED_VERSION."""
    data = _resign(offer, alice.agent.key, lambda s: setattr(s.header, "version", version))
    assert _code(data) == ("UNSUPPORTED_VERSION", "STM-003")
    assert PROTOCOL_VERSION == 1


@pytest.mark.req("STM-004")
def test_header_issuer_other_than_the_signer_is_refused(
    offer: VerifiedStatement, alice: Party, bob: Party
) -> None:
    """Alice signs a statement whose header names Bob as issuer; expect KEYID_MISMATCH."""
    data = _resign(offer, alice.agent.key, lambda s: setattr(s.header, "issuer", bob.did))
    with pytest.raises(KeyIdMismatch):
        verify_statement(data)


@pytest.mark.req("STM-005", "KEY-001", "KEY-003")
def test_audience_that_is_not_a_valid_did_key_is_refused(offer: VerifiedStatement, alice: Party) -> None:
    """An offer is addressed to a did:web and to a small-order key; expect KEY_INVALID and
    KEY_SMALL_ORDER."""
    with pytest.raises(KeyInvalid):
        verify_statement(
            _resign(offer, alice.agent.key, lambda s: setattr(s.header, "audience", "did:web:x"))
        )
    with pytest.raises(KeySmallOrder):
        verify_statement(
            _resign(offer, alice.agent.key, lambda s: setattr(s.header, "audience", SMALL_ORDER_DID))
        )


@pytest.mark.req("STM-006")
@pytest.mark.parametrize(
    ("seq", "prev"),
    [(0, b"\x01" * 32), (1, b""), (1, b"\x01" * 31), (5, b"\x01" * 33)],
)
def test_seq_and_prev_must_agree(offer: VerifiedStatement, alice: Party, seq: int, prev: bytes) -> None:
    """A genesis statement with a prev, or a later one without a 32-byte prev; expect HEADER_INVALID."""

    def edit(s: Statement) -> None:
        s.header.seq, s.header.prev = seq, prev

    assert _code(_resign(offer, alice.agent.key, edit)) == ("HEADER_INVALID", "STM-006")


@pytest.mark.req("STM-007")
@pytest.mark.parametrize("length", [0, 8, 15, 17, 32])
def test_nonce_must_be_16_bytes(offer: VerifiedStatement, alice: Party, length: int) -> None:
    """A nonce of the wrong size; expect HEADER_INVALID."""
    data = _resign(offer, alice.agent.key, lambda s: setattr(s.header, "nonce", b"\x07" * length))
    assert _code(data) == ("HEADER_INVALID", "STM-007")


@pytest.mark.req("STM-008")
@pytest.mark.parametrize(
    ("issued", "expires", "not_before"),
    [(0, 10, 0), (10, 10, 0), (10, 9, 0), (10, 20, 20), (10, 20, 25)],
)
def test_time_fields_must_be_ordered(
    offer: VerifiedStatement, alice: Party, issued: int, expires: int, not_before: int
) -> None:
    """issued_at missing, expiry not after issue, or not_before not before expiry; expect HEADER_INVALID."""

    def edit(s: Statement) -> None:
        s.header.issued_at_ms, s.header.expires_at_ms, s.header.not_before_ms = issued, expires, not_before

    assert _code(_resign(offer, alice.agent.key, edit)) == ("HEADER_INVALID", "STM-008")


@pytest.mark.req("STM-008")
def test_not_before_just_before_expiry_is_accepted(offer: VerifiedStatement, alice: Party) -> None:
    """not_before_ms = expires_at_ms - 1 (and also below issued_at); expect the header to pass."""

    def edit(s: Statement) -> None:
        s.header.not_before_ms = s.header.expires_at_ms - 1

    verify_statement(_resign(offer, alice.agent.key, edit))
    verify_statement(_resign(offer, alice.agent.key, lambda s: setattr(s.header, "not_before_ms", 1)))


@pytest.mark.req("STM-009")
def test_the_negotiation_bodies_are_exactly_the_specified_ones() -> None:
    """The SPEC lists 14 negotiation bodies; expect the implementation to use exactly that set."""
    negotiation_bodies = {
        "offer", "counter", "accept", "reject", "withdraw", "bond_lock", "delivery", "receipt",
        "breach_claim", "revoke", "release", "forfeit", "refund", "ruling",
    }  # fmt: skip
    assert negotiation_bodies == NEGOTIATION_BODIES
    assert NEGOTIATION_BODIES <= KNOWN_BODIES
    assert frozenset({"mandate", "key_rotation", "key_revocation", "checkpoint"}) == PRINCIPAL_BODIES


@pytest.mark.req("STM-009")
@pytest.mark.parametrize("nid", [b"", b"\x01" * 15, b"\x01" * 17])
def test_negotiation_statement_needs_a_16_byte_negotiation_id(
    offer: VerifiedStatement, alice: Party, nid: bytes
) -> None:
    """An offer whose negotiation_id is missing or of the wrong size; expect HEADER_INVALID."""
    data = _resign(offer, alice.agent.key, lambda s: setattr(s.header, "negotiation_id", nid))
    assert _code(data) == ("HEADER_INVALID", "STM-009")


@pytest.mark.req("STM-009")
def test_non_negotiation_statement_carries_no_negotiation_id(alice: Party, bob: Party) -> None:
    """An attestation (not part of a negotiation) carries a negotiation_id; expect HEADER_INVALID."""
    offer = alice.offer(bob)
    accept = bob.accept(offer)
    att = alice.attest(offer, accept, bob.did)
    data = _resign(att, alice.agent.key, lambda s: setattr(s.header, "negotiation_id", b"\x01" * 16))
    assert _code(data) == ("HEADER_INVALID", "STM-009")


@pytest.mark.req("STM-011")
def test_at_most_64_refs_of_32_bytes(offer: VerifiedStatement, alice: Party) -> None:
    """64 refs pass; a 65th, or one ref of 31 bytes, is HEADER_INVALID."""

    def refs(n: int, size: int = 32) -> Callable[[Statement], None]:
        def edit(s: Statement) -> None:
            del s.header.refs[:]
            s.header.refs.extend(derive(f"ref/{i}", size) for i in range(n))

        return edit

    verify_statement(_resign(offer, alice.agent.key, refs(64)))
    assert _code(_resign(offer, alice.agent.key, refs(65))) == ("HEADER_INVALID", "STM-011")
    assert _code(_resign(offer, alice.agent.key, refs(1, 31))) == ("HEADER_INVALID", "STM-011")


@pytest.mark.req("MND-001")
@pytest.mark.parametrize("mandate", [b"", b"\x01" * 31])
def test_agent_statement_without_a_mandate_digest_is_refused(
    offer: VerifiedStatement, alice: Party, mandate: bytes
) -> None:
    """An agent's offer has no (or a short) mandate digest; expect HEADER_INVALID."""
    data = _resign(offer, alice.agent.key, lambda s: setattr(s.header, "mandate", mandate))
    assert _code(data) == ("HEADER_INVALID", "MND-001")


@pytest.mark.req("MND-001")
def test_principal_bodies_need_no_mandate_but_a_present_one_must_be_a_digest(alice: Party) -> None:
    """A principal signs a Mandate on its own authority (no mandate field): accepted. The same with a
    31-byte mandate field: HEADER_INVALID."""
    mandate = alice.mandate_vs
    assert mandate.header.mandate == b""
    verify_statement(mandate.envelope)
    data = _resign(mandate, alice.principal.key, lambda s: setattr(s.header, "mandate", b"\x01" * 31))
    assert _code(data) == ("HEADER_INVALID", "MND-001")


# --- STM-012: digests ----------------------------------------------------------------------------


@pytest.mark.req("STM-012")
def test_statement_digest_is_sha256_of_pae(offer: VerifiedStatement, alice: Party, bob: Party) -> None:
    """Compute a digest by hand; expect the one statements reference (Accept.offer, refs) to equal it."""
    payload = decode_envelope(offer.envelope).payload
    expected = hashlib.sha256(pae(STATEMENT_PAYLOAD_TYPE, payload)).digest()
    assert offer.digest == expected == statement_digest(payload)
    accept = bob.accept(offer)
    assert accept.statement.accept.offer == expected
    assert list(accept.header.refs) == [expected]


# --- ERR-002: stateless steps in order ----------------------------------------------------------


@pytest.mark.req("ERR-002", "STM-002", "STM-003")
def test_non_canonical_and_wrong_version_reports_non_canonical(
    offer: VerifiedStatement, alice: Party
) -> None:
    """A payload fails step 9 (canonical) and step 10 (version); expect NONCANONICAL_ENCODING."""
    header = _header_bytes(offer).replace(b"\x08\x01", b"\x08\x82\x00", 1)  # version 2, non-minimal
    assert _code(sign_payload(_with_raw_header(offer, header), alice.agent.key))[0] == "NONCANONICAL_ENCODING"


@pytest.mark.req("ERR-002", "STM-003", "STM-004")
def test_wrong_version_and_wrong_issuer_reports_the_version(
    offer: VerifiedStatement, alice: Party, bob: Party
) -> None:
    """Steps 10 and 11 both fail; expect UNSUPPORTED_VERSION."""

    def edit(s: Statement) -> None:
        s.header.version, s.header.issuer = 2, bob.did

    with pytest.raises(UnsupportedVersion):
        verify_statement(_resign(offer, alice.agent.key, edit))


@pytest.mark.req("ERR-002", "STM-006", "STM-007", "STM-008")
def test_several_header_faults_report_the_earliest_rule(offer: VerifiedStatement, alice: Party) -> None:
    """Bad prev, bad nonce and bad times at once, then without the prev fault, then only times;
    expect the requirement to move from STM-006 to STM-007 to STM-008 (all HEADER_INVALID)."""

    def faults(prev: bool, nonce: bool) -> Callable[[Statement], None]:
        def edit(s: Statement) -> None:
            s.header.expires_at_ms = s.header.issued_at_ms
            if prev:
                s.header.prev = b"\x01"
            if nonce:
                s.header.nonce = b"\x01"

        return edit

    assert _code(_resign(offer, alice.agent.key, faults(True, True)))[1] == "STM-006"
    assert _code(_resign(offer, alice.agent.key, faults(False, True)))[1] == "STM-007"
    assert _code(_resign(offer, alice.agent.key, faults(False, False)))[1] == "STM-008"


@pytest.mark.req("ERR-002", "STM-010", "STM-009", "STM-011", "MND-001")
def test_body_presence_is_checked_before_negotiation_id_refs_and_mandate(
    offer: VerifiedStatement, alice: Party
) -> None:
    """No body, no negotiation_id, a bad ref and no mandate; expect BODY_MISSING (step 16). Then with
    a body: the negotiation id (17) before refs (18) before the mandate field (19)."""

    def edit(body: bool, nid: bool, refs: bool) -> Callable[[Statement], None]:
        def apply(s: Statement) -> None:
            if not body:
                s.ClearField("offer")
            if not nid:
                s.header.negotiation_id = b""
            if not refs:
                s.header.refs.append(b"\x01")
            s.header.mandate = b""

        return apply

    assert _code(_resign(offer, alice.agent.key, edit(False, False, False)))[0] == "BODY_MISSING"
    assert _code(_resign(offer, alice.agent.key, edit(True, False, False))) == ("HEADER_INVALID", "STM-009")
    assert _code(_resign(offer, alice.agent.key, edit(True, True, False))) == ("HEADER_INVALID", "STM-011")
    assert _code(_resign(offer, alice.agent.key, edit(True, True, True))) == ("HEADER_INVALID", "MND-001")


@pytest.mark.req("ERR-002", "MND-001", "BDY-001")
def test_header_rules_are_checked_before_body_rules(offer: VerifiedStatement, alice: Party) -> None:
    """An offer with no mandate and no wanted items; expect HEADER_INVALID (step 19) over BODY_INVALID."""

    def edit(s: Statement) -> None:
        s.header.mandate = b""
        del s.offer.wants[:]

    assert _code(_resign(offer, alice.agent.key, edit)) == ("HEADER_INVALID", "MND-001")


# --- building statements --------------------------------------------------------------------------


def test_sign_statement_refuses_to_sign_what_a_verifier_would_refuse(alice: Party) -> None:
    """A caller asks to sign a statement with no nonce; expect the same HEADER_INVALID a verifier
    would report, raised before anything leaves the signer."""
    stmt = Statement()
    h = stmt.header
    h.version, h.issuer, h.issued_at_ms, h.expires_at_ms = 1, alice.did, 10, 20
    stmt.checkpoint.CopyFrom(identity_pb2.Checkpoint())
    with pytest.raises(HeaderInvalid):
        sign_statement(stmt, alice.agent.key)


def test_verified_statement_exposes_header_issuer_and_body(alice: Party, bob: Party) -> None:
    """Verify a receipt; expect the convenience accessors to name its parts."""
    offer = alice.offer(bob)
    accept = bob.accept(offer)
    delivery = alice.deliver(accept, bob)
    receipt = verify_statement(bob.receipt(delivery, rating=77).envelope)
    assert receipt.body == "receipt"
    assert receipt.issuer == bob.did == receipt.header.issuer
    assert isinstance(receipt.body_message, commitment_pb2.Receipt)
    assert receipt.body_message.rating == 77


def test_a_candidate_is_signed_as_it_was_checked(alice: Party) -> None:
    """The policy guard checks a candidate, then something changes its statement before it is signed
    (MND-011); expect the bytes signed to be the ones checked, under the candidate's digest, and a
    candidate made by hand (no checked bytes) to be encoded when signed."""
    stmt = Statement()
    h = stmt.header
    h.version, h.issuer, h.nonce = PROTOCOL_VERSION, alice.did, derive("candidate/nonce", 16)
    h.issued_at_ms, h.expires_at_ms = 10, 20
    stmt.checkpoint.CopyFrom(identity_pb2.Checkpoint())
    cand = candidate(stmt, alice.did)
    checked = encode_statement(cand.statement)
    cand.statement.header.expires_at_ms = 30  # after the check: never signed
    vs = verify_statement(sign_candidate(cand, alice.agent.key).envelope)
    assert vs.digest == cand.digest
    assert encode_statement(vs.statement) == checked
    assert vs.header.expires_at_ms == 20

    by_hand = VerifiedStatement(b"", cand.digest, Statement.FromString(checked), "checkpoint")
    assert verify_statement(sign_candidate(by_hand, alice.agent.key).envelope).digest == cand.digest


def test_verified_statement_reads_stay_those_of_its_statement(alice: Party, bob: Party) -> None:
    """Statements made every way the core makes them (verified, a candidate, signed from a candidate,
    built by hand); expect every header read a VerifiedStatement keeps to be its statement's, read once
    and kept (the same object each read), and the DIDs to be interned (one string per key)."""
    offer = alice.offer(bob)
    made = [verify_statement(offer.envelope), offer, VerifiedStatement(*offer)]
    stmt = Statement.FromString(encode_statement(offer.statement))
    cand = candidate(stmt, alice.did)
    made += [cand, sign_candidate(cand, alice.agent.key)]
    field_of = {"mandate_digest": "mandate"}  # the other reads are named as their header field
    for vs in made:
        assert vs.issuer == alice.did == vs.statement.header.issuer
        assert vs.header == vs.statement.header
        assert vs.issued_at_ms == vs.statement.header.issued_at_ms > 0
        assert (
            vs.negotiation_id == vs.statement.header.negotiation_id == offer.statement.header.negotiation_id
        )
        for name in _KEPT_READS:
            assert getattr(vs, name) is getattr(vs, name), name
            if name != "header":
                assert getattr(vs, name) == getattr(vs.statement.header, field_of.get(name, name)), name
    for vs in made[:1] + made[3:]:  # through the header rules: their DIDs are interned
        assert vs.issuer is sys.intern(alice.did) and vs.audience is sys.intern(bob.did)
    for vs in (made[0], made[4]):  # held for good, each an offer whose terms the mandate checks keep
        committed_value(vs)
        assert len(vs.__dict__) <= 10  # an 11th entry doubles the dict (272 to 464 bytes a statement)
