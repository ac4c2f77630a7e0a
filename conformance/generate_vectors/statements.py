"""Statement vectors: valid statements, header and body rules, verification order.

ValidStatement: one well-formed statement of each kind every verifier must accept. Header: the
header rules (SPEC 6.4; STM-003..011, MND-001, VER-001). Body: the body rules (SPEC 7; BDY-001..012).
VerificationOrder: inputs that break several rules on purpose, expecting the first code in the
normative order (SPEC 11 and 12; ERR-002).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2, trade_pb2
from a2a_coop.protocol.bodies import MAX_INT
from a2a_coop.protocol.claims import commit
from a2a_coop.protocol.envelope import STATEMENT_PAYLOAD_TYPE, pae
from a2a_coop.protocol.identity import GROUP_ORDER, did_from_public_key
from a2a_coop.protocol.negotiation import CLAIM_WINDOW_MS, DEFAULT_RESPONSE_WINDOW_MS
from a2a_coop.protocol.statements import Statement, encode_statement, negotiation_id_for
from a2a_coop.testing import DAY_MS, FixedClock, Party, Signer, derive, service
from conformance.generate_vectors import wire
from conformance.generate_vectors._common import (
    Group,
    agent_draft,
    attestation_draft,
    chain_sign,
    draft,
    draft_offer,
    edited,
    make_envelope,
    seal,
    world,
)
from conformance.generate_vectors.keys import IDENTITY
from conformance.generate_vectors.negotiation import DISMISS, LAPSE, UPHOLD, Deal, stamp

RULING_UNSPECIFIED = commitment_pb2.RULING_DECISION_UNSPECIFIED


def valid_statements() -> Group:
    g = Group("ValidStatement", "sparse")
    clock, alice, bob = world()
    g.add(
        "a principal's Mandate delegating to an agent key (principal body, no context)",
        ["ENV-001", "ENV-002", "ENV-006", "STM-001", "STM-012", "BDY-010"],
        [alice.mandate_vs.envelope],
    )
    g.add(
        "an Offer from Alice's agent, preceded by the Mandate it cites",
        ["BDY-001", "BDY-002", "BDY-003", "MND-001", "MND-002", "STM-009"],
        [*alice.setup, alice.offer(bob).envelope],
    )
    escrow = Signer("escrow", clock)
    salt = derive("salt/reservation")
    rich = alice.proposal(
        issuer_bond=100,
        audience_bond=150,
        escrow=escrow.did,
        revocation=trade_pb2.Revocation(allowed=True, forfeit_bond=True, notice_ms=3_600_000),
        exclusive_key=b"gpu-slot-7",
        claims=[
            trade_pb2.Claim(kind=trade_pb2.CLAIM_KIND_HOLDING, subject="gpu-hours", amount=40),
            trade_pb2.Claim(
                kind=trade_pb2.CLAIM_KIND_RESERVATION_VALUE,
                subject="code-review",
                commitment=commit(420, salt),
            ),
        ],
    )
    g.add(
        "an Offer with bonds, an escrow, revocation terms, an exclusive key and two claims",
        ["BDY-001", "BDY-003", "BDY-005", "BDY-006", "BDY-007"],
        [*alice.setup, alice.offer(bob, rich).envelope],
    )
    carol = Signer("carol-principal", clock)
    g.add(
        "a key revoking itself (principal body: no mandate needed)",
        ["KEY-004", "BDY-012", "MND-001"],
        [
            carol.sign(
                "key_revocation", identity_pb2.KeyRevocation(key=carol.did, effective_ms=clock.now_ms)
            ).envelope
        ],
    )
    dave = Signer("dave-principal", clock)
    g.add(
        "a Checkpoint at seq 0 (empty log_root)",
        ["CHN-007", "BDY-012"],
        [dave.sign("checkpoint", identity_pb2.Checkpoint()).envelope],
    )
    erin, erin2 = Signer("erin", clock), Signer("erin-next", clock)
    g.add(
        "a KeyRotation naming the successor key",
        ["KEY-005", "BDY-012"],
        [erin.sign("key_rotation", identity_pb2.KeyRotation(new_key=erin2.did)).envelope],
    )
    stmt = draft_offer(alice, bob)
    payload = encode_statement(stmt) + wire.varint(99 << 3 | 2) + wire.varint(5) + b"later"
    g.add(
        "an Offer carrying an unknown field (number 99) after the known ones, as a newer peer emits it",
        ["VER-002", "STM-002", "ENV-005"],
        [*alice.setup, seal(alice.agent.key, payload)],
        None,
        "UnknownField",
    )
    stmt = draft_offer(alice, bob)
    stmt.offer.gives[0].description = "Überprüfung des Codes (コードレビュー)"
    g.add(
        "an Offer with non-ASCII UTF-8 text in an item description",
        ["STM-001"],
        [*alice.setup, chain_sign(alice.agent, stmt).envelope],
    )
    return g


def header() -> Group:
    g = Group("Header", "sparse")
    # Alice's mandate is valid from time 0, so that an offer issued at 0 breaks STM-008 and not MND-003.
    clock, alice, bob = world(alice={"valid_from_ms": 0})
    key = alice.agent.key

    def bad(
        comment: str,
        reqs: Sequence[str],
        edit: Callable[[Statement], None],
        code: str,
        *flags: str,
        context: Sequence[bytes] = (),
    ) -> None:
        """Alice's offer with one header edit; its twin is the offer unedited. An edit of the issuer
        or the nonce re-derives the negotiation id from them, so that NEG-013 still holds and the
        edit breaks only the rule it targets."""
        stmt = draft_offer(alice, bob)

        def one_edit(s: Statement) -> None:
            nid = s.header.negotiation_id
            edit(s)
            if s.header.negotiation_id == nid and s.WhichOneof("body") == "offer":
                s.header.negotiation_id = negotiation_id_for(s.header.issuer, s.header.nonce)

        g.add(
            comment,
            reqs,
            [*alice.setup, *context, seal(key, edited(stmt, one_edit))],
            code,
            *(flags or ("HeaderRule",)),
            twin=[*alice.setup, *context, seal(key, stmt)],
        )

    def setter(**values: Any) -> Callable[[Statement], None]:
        def edit(stmt: Statement) -> None:
            for name, value in values.items():
                if name == "refs":
                    stmt.header.refs.extend(value)
                else:
                    setattr(stmt.header, name, value)

        return edit

    bad(
        "header.version = 2",
        ["STM-003", "VER-001"],
        setter(version=2),
        "UNSUPPORTED_VERSION",
        "UnknownVersion",
    )
    bad(
        "header.version = 0 (absent)", ["STM-003"], setter(version=0), "UNSUPPORTED_VERSION", "UnknownVersion"
    )
    bad(
        "header.issuer is Bob, signed by Alice's key (Bob's offer to Alice, under Bob's mandate)",
        ["STM-004"],
        setter(issuer=bob.did, audience=alice.did, mandate=bob.mandate_vs.digest),
        "KEYID_MISMATCH",
        "IssuerMismatch",
        context=bob.setup,
    )
    bad("header.issuer empty", ["STM-004"], setter(issuer=""), "KEYID_MISMATCH", "IssuerMismatch")
    for n in (0, 15, 17):
        bad(f"nonce of {n} bytes", ["STM-007"], setter(nonce=derive("nonce/short", 32)[:n]), "HEADER_INVALID")
    bad("seq 0 with a prev digest", ["STM-006"], setter(prev=derive("prev")), "HEADER_INVALID")
    bad("seq 1 with an empty prev", ["STM-006"], setter(seq=1), "HEADER_INVALID")
    bad("seq 1 with a 31-byte prev", ["STM-006"], setter(seq=1, prev=derive("prev", 31)), "HEADER_INVALID")
    bad("issued_at_ms = 0", ["STM-008"], setter(issued_at_ms=0), "HEADER_INVALID")
    bad(
        "expires_at_ms == issued_at_ms",
        ["STM-008"],
        lambda s: setattr(s.header, "expires_at_ms", s.header.issued_at_ms),
        "HEADER_INVALID",
    )
    bad(
        "not_before_ms == expires_at_ms",
        ["STM-008"],
        lambda s: setattr(s.header, "not_before_ms", s.header.expires_at_ms),
        "HEADER_INVALID",
    )
    bad("Offer without a negotiation_id", ["STM-009"], setter(negotiation_id=b""), "HEADER_INVALID")
    bad(
        "Offer with a 15-byte negotiation_id",
        ["STM-009"],
        setter(negotiation_id=derive("n", 15)),
        "HEADER_INVALID",
    )
    bad("65 refs", ["STM-011"], setter(refs=[derive(f"ref/{i}") for i in range(65)]), "HEADER_INVALID")
    bad("a 31-byte ref", ["STM-011"], setter(refs=[derive("ref", 31)]), "HEADER_INVALID")
    bad("Offer without a mandate digest", ["MND-001"], setter(mandate=b""), "HEADER_INVALID")
    bad("Offer with a 16-byte mandate digest", ["MND-001"], setter(mandate=derive("m", 16)), "HEADER_INVALID")
    bad(
        "no body at all (and so no negotiation_id)",
        ["STM-010"],
        lambda s: (s.ClearField("offer"), setattr(s.header, "negotiation_id", b"")),
        "BODY_MISSING",
        "MissingBody",
    )
    stmt = draft_offer(alice, bob, refs=[derive(f"ref/{i}") for i in range(64)])
    g.add(
        "exactly 64 refs",
        ["STM-011"],
        [*alice.setup, chain_sign(alice.agent, stmt).envelope],
        None,
        "Boundary",
    )
    m = draft(alice.principal, "mandate", alice.mandate_vs.statement.mandate)
    pkey = alice.principal.key
    # A principal body may cite a mandate of its own (MND-001): one a board delegates to Alice's principal.
    board = Signer("alice-board", clock)
    board_mandate = board.sign(
        "mandate",
        identity_pb2.Mandate(
            agent=alice.principal.did,
            valid_from_ms=clock.now_ms - DAY_MS,
            valid_until_ms=clock.now_ms + DAY_MS,
            currency="credit",
        ),
    )
    g.add(
        "a Mandate (not a negotiation body) with a negotiation_id",
        ["STM-009"],
        [seal(pkey, edited(m, lambda s: setattr(s.header, "negotiation_id", derive("n", 16))))],
        "HEADER_INVALID",
        "HeaderRule",
        twin=[seal(pkey, m)],
    )
    cited = edited(m, lambda s: setattr(s.header, "mandate", board_mandate.digest))
    g.add(
        "a Mandate whose optional mandate digest is 31 bytes",
        ["MND-001"],
        [
            board_mandate.envelope,
            seal(pkey, edited(cited, lambda s: setattr(s.header, "mandate", s.header.mandate[:31]))),
        ],
        "HEADER_INVALID",
        "HeaderRule",
        twin=[board_mandate.envelope, seal(pkey, cited)],
    )
    return g


def bodies() -> Group:
    g = Group("Body", "sparse")
    clock, alice, bob = world()
    dl = clock.now_ms + DAY_MS
    item = service("code-review", value=10, deadline_ms=dl)

    def offer_case(
        comment: str, reqs: Sequence[str], proposal: trade_pb2.Offer, fixed: trade_pb2.Offer
    ) -> None:
        """Alice offers ``proposal`` (one body defect); its twin offers ``fixed`` (the same, without it)."""
        nonce = alice.agent.next_nonce()
        bad = seal(alice.agent.key, draft_offer(alice, bob, proposal, nonce=nonce))
        good = seal(alice.agent.key, draft_offer(alice, bob, fixed, nonce=nonce))
        g.add(comment, reqs, [*alice.setup, bad], "BODY_INVALID", "BodyRule", twin=[*alice.setup, good])

    def variant(**kw: Any) -> trade_pb2.Offer:
        p = alice.proposal()
        for k, v in kw.items():
            if k == "item":
                p.gives[0].CopyFrom(v)
            elif k == "terms":
                p.terms.CopyFrom(v)
            elif isinstance(v, list):
                getattr(p, k).extend(v)
            else:
                setattr(p, k, v)
        return p

    default = alice.proposal()
    empty_wants = alice.proposal()
    del empty_wants.wants[:]
    offer_case("Offer with no wants", ["BDY-001"], empty_wants, default)
    no_terms = alice.proposal()
    no_terms.ClearField("terms")
    offer_case("Offer without terms", ["BDY-001"], no_terms, default)
    offer_case(
        "33 items given",
        ["BDY-001"],
        variant(item=item, gives=[item] * 32),
        variant(item=item, gives=[item] * 31),
    )
    offer_case(
        "item kind unspecified",
        ["BDY-002"],
        variant(item=trade_pb2.Item(category="code-review", quantity=1, value=500, deadline_ms=dl)),
        variant(
            item=trade_pb2.Item(
                kind=trade_pb2.ITEM_KIND_SERVICE,
                category="code-review",
                quantity=1,
                value=500,
                deadline_ms=dl,
            )
        ),
    )
    offer_case(
        "item category with upper case",
        ["BDY-002"],
        variant(item=service("Code-Review", value=500, deadline_ms=dl)),
        variant(item=service("code-review", value=500, deadline_ms=dl, description="Code-Review")),
    )
    offer_case(
        "item quantity 0",
        ["BDY-002"],
        variant(item=service("code-review", value=500, deadline_ms=dl, quantity=0)),
        default,
    )
    offer_case(
        "item deadline 0",
        ["BDY-002"],
        variant(item=service("code-review", value=500, deadline_ms=0)),
        default,
    )
    offer_case(
        "currency with a space",
        ["BDY-003"],
        variant(terms=trade_pb2.Terms(currency="us dollar")),
        variant(terms=trade_pb2.Terms(currency="credit")),
    )
    escrow = Signer("escrow", clock)
    offer_case(
        "a bond without an escrow",
        ["BDY-003"],
        variant(terms=trade_pb2.Terms(currency="credit", issuer_bond=100)),
        variant(terms=trade_pb2.Terms(currency="credit", issuer_bond=100, escrow=escrow.did)),
    )
    offer_case(
        "forfeit_bond without revocation.allowed",
        ["BDY-003"],
        variant(
            terms=trade_pb2.Terms(
                currency="credit", escrow=escrow.did, revocation=trade_pb2.Revocation(forfeit_bond=True)
            )
        ),
        variant(
            terms=trade_pb2.Terms(
                currency="credit",
                escrow=escrow.did,
                revocation=trade_pb2.Revocation(allowed=True, forfeit_bond=True),
            )
        ),
    )
    offer_case(
        "exclusive_key of 33 bytes",
        ["BDY-005"],
        variant(exclusive_key=b"k" * 33),
        variant(exclusive_key=b"k" * 32),
    )
    need = trade_pb2.Claim(kind=trade_pb2.CLAIM_KIND_NEED, subject="gpu-hours", amount=1)
    offer_case(
        "a claim with neither amount nor commitment",
        ["BDY-006"],
        variant(claims=[trade_pb2.Claim(kind=trade_pb2.CLAIM_KIND_NEED, subject="gpu-hours")]),
        variant(claims=[need]),
    )
    offer_case(
        "a commitment of 31 bytes",
        ["BDY-006"],
        variant(
            claims=[
                trade_pb2.Claim(kind=trade_pb2.CLAIM_KIND_NEED, subject="gpu-hours", commitment=b"c" * 31)
            ]
        ),
        variant(
            claims=[
                trade_pb2.Claim(kind=trade_pb2.CLAIM_KIND_NEED, subject="gpu-hours", commitment=b"c" * 32)
            ]
        ),
    )
    offer_case("17 claims", ["BDY-006"], variant(claims=[need] * 17), variant(claims=[need] * 16))
    offer = alice.offer(bob)
    clock.advance(1_000)
    accept = bob.accept(offer)
    delivery = alice.deliver(accept, bob)
    nid = offer.header.negotiation_id
    contract = [*alice.setup, *bob.setup, offer.envelope, accept.envelope, delivery.envelope]
    short = agent_draft(
        bob, "accept", trade_pb2.Accept(offer=offer.digest[:31]), audience=alice.did, negotiation_id=nid
    )
    g.add(
        "Accept whose offer digest is 31 bytes",
        ["BDY-004"],
        [*alice.setup, *bob.setup, offer.envelope, seal(bob.agent.key, short)],
        "BODY_INVALID",
        "BodyRule",
        twin=[
            *alice.setup,
            *bob.setup,
            offer.envelope,
            seal(bob.agent.key, edited(short, lambda s: setattr(s.accept, "offer", offer.digest))),
        ],
    )
    receipt = agent_draft(
        bob,
        "receipt",
        commitment_pb2.Receipt(delivery=delivery.digest, rating=100),
        audience=alice.did,
        negotiation_id=nid,
    )
    g.add(
        "Receipt with rating 101",
        ["BDY-009"],
        [*contract, seal(bob.agent.key, edited(receipt, lambda s: setattr(s.receipt, "rating", 101)))],
        "BODY_INVALID",
        "BodyRule",
        twin=[*contract, seal(bob.agent.key, receipt)],
    )
    no_delivery = edited(receipt, lambda s: setattr(s.receipt, "delivery", offer.digest))
    g.add(
        "Receipt with rating 100 passes the body rules (it then fails: it names no delivery)",
        ["BDY-009", "NEG-005"],
        [*contract, seal(bob.agent.key, no_delivery)],
        "STALE_REFERENCE",
        "Boundary",
        twin=[*contract, seal(bob.agent.key, receipt)],
    )
    p = alice.principal

    def mandate_case(comment: str, mandate: identity_pb2.Mandate, fix: Callable[[Statement], None]) -> None:
        stmt = draft(p, "mandate", mandate)
        g.add(
            comment,
            ["BDY-010"],
            [seal(p.key, stmt)],
            "BODY_INVALID",
            "BodyRule",
            twin=[seal(p.key, edited(stmt, fix))],
        )

    mandate_case(
        "Mandate with valid_until_ms == valid_from_ms",
        identity_pb2.Mandate(agent=alice.did, valid_from_ms=5, valid_until_ms=5, currency="credit"),
        lambda s: setattr(s.mandate, "valid_until_ms", 6),
    )
    mandate_case(
        "Mandate whose agent is a small-order key",
        identity_pb2.Mandate(
            agent=did_from_public_key(IDENTITY), valid_from_ms=5, valid_until_ms=6, currency="credit"
        ),
        lambda s: setattr(s.mandate, "agent", alice.did),
    )
    mandate_case(
        "Mandate with a budget but no period",
        identity_pb2.Mandate(
            agent=alice.did, valid_from_ms=5, valid_until_ms=6, currency="credit", budget_per_period=10
        ),
        lambda s: setattr(s.mandate, "period_ms", 1),
    )
    rotation = draft(p, "key_rotation", identity_pb2.KeyRotation(new_key=p.did))
    g.add(
        "KeyRotation to the same key",
        ["BDY-012"],
        [seal(p.key, rotation)],
        "BODY_INVALID",
        "BodyRule",
        twin=[seal(p.key, edited(rotation, lambda s: setattr(s.key_rotation, "new_key", alice.did)))],
    )
    fresh = Signer("gina-principal", clock)
    genesis = draft(fresh, "checkpoint", identity_pb2.Checkpoint())
    g.add(
        "Checkpoint at seq 0 with a log_root (nothing precedes it)",
        ["BDY-012", "CHN-007"],
        [seal(fresh.key, edited(genesis, lambda s: setattr(s.checkpoint, "log_root", derive("root"))))],
        "BODY_INVALID",
        "BodyRule",
        twin=[seal(fresh.key, genesis)],
    )
    att = attestation_draft(alice, bob, offer, accept)
    g.add(
        "Attestation with an audience (attestations are public)",
        ["BDY-011"],
        [*contract, seal(alice.agent.key, edited(att, lambda s: setattr(s.header, "audience", bob.did)))],
        "BODY_INVALID",
        "BodyRule",
        twin=[*contract, seal(alice.agent.key, att)],
    )
    return g


def verification_order() -> Group:
    g = Group("VerificationOrder", "sparse")
    clock, alice, bob = world()
    stmt = draft_offer(alice, bob)
    payload = encode_statement(stmt)
    key = alice.agent.key
    g.add(
        "unsupported payload type and a wrong signature: payload type is checked first",
        ["ERR-002", "ENV-003"],
        [*alice.setup, make_envelope(payload, "text/plain", [(alice.did, bytes(64))])],
        "UNSUPPORTED_PAYLOAD_TYPE",
        "VerificationOrder",
    )
    g.add(
        "small-order keyid and a 10-byte signature: the key is checked first",
        ["ERR-002", "KEY-003"],
        [
            *alice.setup,
            make_envelope(payload, STATEMENT_PAYLOAD_TYPE, [(did_from_public_key(IDENTITY), bytes(10))]),
        ],
        "KEY_SMALL_ORDER",
        "VerificationOrder",
    )
    v2 = Statement()
    v2.CopyFrom(stmt)
    v2.header.version = 2
    sig = key.sign(pae(STATEMENT_PAYLOAD_TYPE, encode_statement(v2)))
    s_plus_l = sig[:32] + (int.from_bytes(sig[32:], "little") + GROUP_ORDER).to_bytes(32, "little")
    g.add(
        "S + L on a version-2 statement: S is checked before the payload",
        ["ERR-002", "ENV-007"],
        [*alice.setup, make_envelope(encode_statement(v2), STATEMENT_PAYLOAD_TYPE, [(alice.did, s_plus_l)])],
        "SIGNATURE_NONCANONICAL",
        "VerificationOrder",
        "NonCanonicalS",
    )

    def nonminimal_version(h: list[wire.Field]) -> bytes:
        return wire.encode(h, widths={wire.position(h, 1): 2})

    g.add(
        "non-minimal varint in a version-2 statement: canonical encoding is checked before the version",
        ["ERR-002", "STM-002"],
        [*alice.setup, seal(key, wire.edit_header(encode_statement(v2), nonminimal_version))],
        "NONCANONICAL_ENCODING",
        "VerificationOrder",
        "NonCanonicalEncoding",
    )
    v2.header.issuer = bob.did
    g.add(
        "version 2 and issuer != keyid: the version is checked first",
        ["ERR-002", "STM-003"],
        [*alice.setup, seal(key, v2)],
        "UNSUPPORTED_VERSION",
        "VerificationOrder",
    )
    both = Statement()
    both.CopyFrom(stmt)
    both.header.issuer = bob.did
    both.header.nonce = b"short"
    g.add(
        "issuer != keyid and a short nonce: the issuer binding is checked first",
        ["ERR-002", "STM-004"],
        [*alice.setup, seal(key, both)],
        "KEYID_MISMATCH",
        "VerificationOrder",
    )
    clock.advance(10 * DAY_MS)
    late = alice.offer(bob)
    g.add(
        "unknown mandate and expired at the reference time: the mandate is checked first",
        ["ERR-002", "MND-002"],
        [late.envelope],
        "MANDATE_UNKNOWN",
        "VerificationOrder",
        "UnknownMandate",
        now_ms=clock.now_ms + 30 * DAY_MS,
    )
    return g


# --- SPEC 0.2: integer range, derived negotiation ids, escrow bodies ---------------------------------


def integer_range() -> Group:
    """STM-013 and BDY-015: every integer of a statement is at most 2^53 - 1 (SPEC 6.10)."""
    g = Group("IntegerRange", "sparse")
    clock = FixedClock()
    # Header integers, on a Checkpoint (a principal body: no mandate, no budget, no negotiation).
    ida = Signer("ida-principal", clock)
    checkpoint = draft(ida, "checkpoint", identity_pb2.Checkpoint())

    def header(**values: int) -> bytes:
        def edit(s: Statement) -> None:
            for name, value in values.items():
                setattr(s.header, name, value)
            if s.header.seq:
                s.header.prev, s.checkpoint.log_root = derive("ida prev"), derive("ida root")

        return seal(ida.key, edited(checkpoint, edit))

    limit = header(expires_at_ms=MAX_INT)
    g.add("expires_at_ms = 2^53 - 1", ["STM-013"], [limit], None, "Boundary", "IntegerRange")
    for comment, value in [
        ("expires_at_ms = 2^53", MAX_INT + 1),
        (
            "expires_at_ms = 2^64 - 1 (a 64-bit verifier adding the skew wraps it to 'long expired')",
            2**64 - 1,
        ),
    ]:
        g.add(
            comment,
            ["STM-013"],
            [header(expires_at_ms=value)],
            "HEADER_INVALID",
            "IntegerRange",
            twin=[limit],
        )
    g.add(
        "issued_at_ms = 2^53 (and expires_at_ms 1 ms later)",
        ["STM-013"],
        [header(issued_at_ms=MAX_INT + 1, expires_at_ms=MAX_INT + 2)],
        "HEADER_INVALID",
        "IntegerRange",
        twin=[header(issued_at_ms=MAX_INT - 1, expires_at_ms=MAX_INT)],
    )
    top = header(seq=MAX_INT)
    g.add("seq = 2^53 - 1", ["STM-013"], [top], None, "Boundary", "IntegerRange")
    g.add("seq = 2^53", ["STM-013"], [header(seq=MAX_INT + 1)], "HEADER_INVALID", "IntegerRange", twin=[top])

    # Body integers, under a "no limit" mandate: every cap 2^53 - 1 (SPEC 4.1).
    unlimited = {
        "max_per_deal": MAX_INT,
        "budget_per_period": MAX_INT,
        "max_outstanding": MAX_INT,
        "execution_window_end_ms": MAX_INT,
    }
    clock, alice, bob = world(alice=unlimited)
    escrow = Party("escrow", clock)

    def offer_with(edit: Callable[[trade_pb2.Offer, int], None], value: int, nonce: bytes) -> bytes:
        p = alice.proposal()
        edit(p, value)
        return seal(alice.agent.key, draft_offer(alice, bob, p, nonce=nonce))

    def quantity(p: trade_pb2.Offer, v: int) -> None:
        p.gives[0].quantity = v

    def value(p: trade_pb2.Offer, v: int) -> None:
        p.gives[0].value = v

    def deadline(p: trade_pb2.Offer, v: int) -> None:
        p.gives[0].deadline_ms = v

    def notice(p: trade_pb2.Offer, v: int) -> None:
        p.terms.escrow = escrow.did
        p.terms.revocation.CopyFrom(trade_pb2.Revocation(allowed=True, notice_ms=v))

    def claim_amount(p: trade_pb2.Offer, v: int) -> None:
        p.claims.append(trade_pb2.Claim(kind=trade_pb2.CLAIM_KIND_HOLDING, subject="gpu-hours", amount=v))

    # Item.value and deadline_ms above 2^53 - 1 would also exceed every mandate's max_per_deal and
    # execution window (no cap can be larger), breaking MND-004 or MND-008 too: only their limits are here.
    for field, note, edit, invalid_too in [
        ("Item.quantity", "", quantity, True),
        ("Item.value", " (the mandate's max_per_deal is 2^53 - 1: no limit)", value, False),
        ("Item.deadline_ms", " (the mandate's execution window ends at 2^53 - 1)", deadline, False),
        ("Revocation.notice_ms", "", notice, True),
        ("Claim.amount", "", claim_amount, True),
    ]:
        nonce = alice.agent.next_nonce()
        at_limit = offer_with(edit, MAX_INT, nonce)
        g.add(
            f"{field} = 2^53 - 1{note}",
            ["BDY-015"],
            [*alice.setup, at_limit],
            None,
            "Boundary",
            "IntegerRange",
        )
        if invalid_too:
            g.add(
                f"{field} = 2^53",
                ["BDY-015"],
                [*alice.setup, offer_with(edit, MAX_INT + 1, nonce)],
                "BODY_INVALID",
                "IntegerRange",
                twin=[*alice.setup, at_limit],
            )
    mandate = draft(alice.principal, "mandate", alice.mandate_vs.statement.mandate)
    g.add(
        "Mandate.max_outstanding = 2^53",
        ["BDY-015"],
        [
            seal(
                alice.principal.key,
                edited(mandate, lambda s: setattr(s.mandate, "max_outstanding", MAX_INT + 1)),
            )
        ],
        "BODY_INVALID",
        "IntegerRange",
        twin=[seal(alice.principal.key, mandate)],
    )
    jo = Signer("jo-principal", clock)
    revocation = draft(jo, "key_revocation", identity_pb2.KeyRevocation(key=jo.did, effective_ms=MAX_INT))
    g.add(
        "KeyRevocation.effective_ms = 2^53 - 1",
        ["BDY-015"],
        [seal(jo.key, revocation)],
        None,
        "Boundary",
        "IntegerRange",
    )
    g.add(
        "KeyRevocation.effective_ms = 2^53",
        ["BDY-015"],
        [seal(jo.key, edited(revocation, lambda s: setattr(s.key_revocation, "effective_ms", MAX_INT + 1)))],
        "BODY_INVALID",
        "IntegerRange",
        twin=[seal(jo.key, revocation)],
    )
    deposit = agent_draft(
        escrow,
        "deposit",
        commitment_pb2.Deposit(party=alice.did, amount=MAX_INT, currency="credit"),
        audience=alice.did,
    )
    g.add(
        "Deposit.amount = 2^53 - 1",
        ["BDY-015", "BDY-014"],
        [*escrow.setup, seal(escrow.agent.key, deposit)],
        None,
        "Boundary",
        "IntegerRange",
    )
    g.add(
        "Deposit.amount = 2^53",
        ["BDY-015"],
        [
            *escrow.setup,
            seal(escrow.agent.key, edited(deposit, lambda s: setattr(s.deposit, "amount", MAX_INT + 1))),
        ],
        "BODY_INVALID",
        "IntegerRange",
        twin=[*escrow.setup, seal(escrow.agent.key, deposit)],
    )

    def revealed(amount: int) -> list[bytes]:
        """Alice commits to ``amount`` in an offer's claim, then reveals it."""
        salt = derive(f"salt/{amount}")
        committed = trade_pb2.Claim(
            kind=trade_pb2.CLAIM_KIND_NEED, subject="gpu-hours", commitment=commit(amount, salt)
        )
        offer = alice.offer(bob, alice.proposal(claims=[committed]))
        msg = commitment_pb2.Reveal(statement=offer.digest, claim_index=0, salt=salt, amount=amount)
        return [*alice.setup, offer.envelope, seal(alice.agent.key, agent_draft(alice, "reveal", msg))]

    g.add(
        "Reveal.amount = 2^53 (opening a commitment to 2^53)",
        ["BDY-015", "BDY-007"],
        revealed(MAX_INT + 1),
        "BODY_INVALID",
        "IntegerRange",
        twin=revealed(MAX_INT),
    )
    return g


def negotiation_ids() -> Group:
    """NEG-013: an Offer's negotiation_id is SHA256("a2a-coop/v1/negotiation" 00 issuer 00 nonce)[0:16],
    checked statelessly (step 17); later statements carry the negotiation's id."""
    g = Group("NegotiationId", "sparse")
    _, alice, bob = world()
    nonce = alice.agent.next_nonce()
    good = draft_offer(alice, bob, nonce=nonce)
    earlier = alice.offer(bob)
    undomained = hashlib.sha256(alice.did.encode() + b"\x00" + nonce).digest()[:16]
    for comment, nid in [
        ("an Offer whose negotiation_id its issuer chose (16 bytes of its own)", derive("chosen id", 16)),
        (
            "an Offer whose negotiation_id derives from another issuer (Bob) and its nonce",
            negotiation_id_for(bob.did, nonce),
        ),
        (
            "an Offer whose negotiation_id derives from its issuer and another nonce",
            earlier.header.negotiation_id,
        ),
        ("an Offer whose negotiation_id is hashed without the domain string", undomained),
    ]:
        g.add(
            comment,
            ["NEG-013"],
            [
                *alice.setup,
                seal(
                    alice.agent.key, edited(good, lambda s, nid=nid: setattr(s.header, "negotiation_id", nid))
                ),
            ],
            "HEADER_INVALID",
            "DerivedNegotiationId",
            twin=[*alice.setup, seal(alice.agent.key, good)],
        )
    counter = bob.counter(earlier, bob.proposal())
    g.add(
        "a Counter carries its negotiation's id, not one derived from its own nonce (only an Offer's is)",
        ["NEG-013", "STM-009"],
        [*alice.setup, *bob.setup, earlier.envelope, counter.envelope],
    )
    return g


def escrow_bodies() -> Group:
    """SPEC 0.2 body rules: terms name a valid escrow, and revocable terms name one (BDY-003); the shapes
    of a Ruling (BDY-016) and of a Stamp (BDY-017)."""
    g = Group("EscrowBody", "sparse")
    clock, alice, bob = world()
    escrow = Party("escrow", clock)

    def terms_case(comment: str, bad: trade_pb2.Terms, good: trade_pb2.Terms) -> None:
        nonce = alice.agent.next_nonce()
        offers = []
        for terms in (bad, good):
            p = alice.proposal()
            p.terms.CopyFrom(terms)
            offers.append(seal(alice.agent.key, draft_offer(alice, bob, p, nonce=nonce)))
        g.add(
            comment,
            ["BDY-003"],
            [*alice.setup, offers[0]],
            "BODY_INVALID",
            "BodyRule",
            twin=[*alice.setup, offers[1]],
        )

    revocable = trade_pb2.Revocation(allowed=True)
    terms_case(
        "revocation allowed, but no escrow (a Revoke takes effect only by an escrow's stamp)",
        trade_pb2.Terms(currency="credit", revocation=revocable),
        trade_pb2.Terms(currency="credit", revocation=revocable, escrow=escrow.did),
    )
    terms_case(
        "an escrow that is not a did:key, with no bonds",
        trade_pb2.Terms(currency="credit", escrow="did:web:escrow.example"),
        trade_pb2.Terms(currency="credit", escrow=escrow.did),
    )
    # The response window is at most the claim window: the escrow rules on a claim only once it has
    # passed, so a longer one would let one claim lock the accused's bond that long.
    day = 86_400_000
    terms_case(
        "Terms.response_window_ms = 86400001, one more than the claim window",
        trade_pb2.Terms(currency="credit", escrow=escrow.did, response_window_ms=day + 1),
        trade_pb2.Terms(currency="credit", escrow=escrow.did, response_window_ms=day),
    )
    at_limit = alice.proposal(escrow=escrow.did)
    at_limit.terms.response_window_ms = day
    g.add(
        "Terms.response_window_ms = 86400000, the claim window",
        ["BDY-003"],
        [*alice.setup, alice.offer(bob, at_limit).envelope],
        None,
        "Boundary",
        "BodyRule",
    )
    arbiter_only = alice.proposal(escrow=escrow.did)
    g.add(
        "terms naming an escrow without bonds (an arbiter for claims)",
        ["BDY-003", "CMT-005"],
        [*alice.setup, alice.offer(bob, arbiter_only).envelope],
    )

    # Ruling shapes, in a dispute where each shape is otherwise right: Alice delivered on time (the
    # escrow stamped it), Bob did not; both claim; the escrow rules once the response window passed.
    d = Deal(bond=0)
    delivered = d.deliver(d.alice)
    d.clock.now_ms = d.deadline + 1
    against_bob, against_alice = d.claim(d.alice), d.claim(d.bob)
    context = [
        *d.base,
        delivered.envelope,
        stamp(d.escrow, delivered, against_bob, against_alice).envelope,
        against_bob.envelope,
        against_alice.envelope,
    ]
    d.clock.advance(DEFAULT_RESPONSE_WINDOW_MS)
    upheld = d.ruling(against_bob, UPHOLD)
    dismissed = d.ruling(against_alice, DISMISS, evidence=delivered.digest)
    key = d.escrow.agent.key

    # A digest of the wrong length in a Ruling or a Stamp breaks BDY-016 or BDY-017; the reference library
    # reports it under its generic digest rule, BDY-004 (the code is the same), so those cases name both.
    digest = ("BDY-016", "BDY-004")

    def shape(
        comment: str,
        good: Statement,
        edit: Callable[[Statement], Any],
        ctx: Sequence[bytes] = context,
        reqs: Sequence[str] = ("BDY-016",),
    ) -> None:
        g.add(
            comment,
            reqs,
            [*ctx, seal(key, edited(good, edit))],
            "BODY_INVALID",
            "BodyRule",
            twin=[*ctx, seal(key, good)],
        )

    g.add(
        "a Ruling UPHOLD naming the claim and no evidence",
        ["BDY-016", "CMT-002"],
        [*context, seal(key, upheld)],
    )
    g.add(
        "a Ruling DISMISS naming the claim and the timely Delivery",
        ["BDY-016", "CMT-002"],
        [*context, seal(key, dismissed)],
    )
    shape("a Ruling without a decision", upheld, lambda s: setattr(s.ruling, "decision", RULING_UNSPECIFIED))
    # proto3 parses any number into an enum: a decision this version does not define is refused, not
    # read as a dismissal (or as anything else), so that verifiers cannot disagree on it.
    shape("a Ruling whose decision is 4 (undefined)", upheld, lambda s: setattr(s.ruling, "decision", 4))
    shape(
        "a Ruling whose decision is 4 (undefined), naming the timely Delivery as a dismissal would",
        dismissed,
        lambda s: setattr(s.ruling, "decision", 4),
    )
    shape(
        "a Ruling UPHOLD naming evidence", upheld, lambda s: setattr(s.ruling, "evidence", delivered.digest)
    )
    shape("a Ruling UPHOLD naming no claim", upheld, lambda s: setattr(s.ruling, "claim", b""), reqs=digest)
    shape(
        "a Ruling DISMISS naming no evidence",
        dismissed,
        lambda s: setattr(s.ruling, "evidence", b""),
        reqs=digest,
    )
    shape(
        "a Ruling whose contract is 31 bytes",
        upheld,
        lambda s: setattr(s.ruling, "contract", s.ruling.contract[:31]),
        reqs=digest,
    )
    d = Deal(bond=0)
    lapse = d.ruling(None, LAPSE, issued_at_ms=d.deadline + CLAIM_WINDOW_MS + 1)
    g.add(
        "a Ruling LAPSE naming neither claim nor evidence",
        ["BDY-016", "CMT-006"],
        [*d.base, seal(d.escrow.agent.key, lapse)],
    )
    key = d.escrow.agent.key
    shape(
        "a Ruling LAPSE naming a claim",
        lapse,
        lambda s: setattr(s.ruling, "claim", derive("a claim")),
        d.base,
    )

    # Stamp shapes: 1 to 256 digests of 32 bytes.
    digests = [derive(f"stamped/{i}") for i in range(257)]
    one = agent_draft(escrow, "stamp", commitment_pb2.Stamp(statements=digests[:1]))
    most = edited(one, lambda s: s.stamp.statements.extend(digests[1:256]))
    ek = escrow.agent.key
    g.add("a Stamp naming 256 statements", ["BDY-017"], [*escrow.setup, seal(ek, most)], None, "Boundary")
    for comment, bad, good in [
        ("a Stamp naming no statement", edited(one, lambda s: s.stamp.ClearField("statements")), one),
        (
            "a Stamp naming 257 statements",
            edited(most, lambda s: s.stamp.statements.append(digests[256])),
            most,
        ),
        (
            "a Stamp naming a 31-byte digest",
            edited(one, lambda s: s.stamp.statements.append(digests[1][:31])),
            one,
        ),
    ]:
        g.add(
            comment,
            ["BDY-017", "BDY-004"] if "31-byte" in comment else ["BDY-017"],
            [*escrow.setup, seal(ek, bad)],
            "BODY_INVALID",
            "BodyRule",
            twin=[*escrow.setup, seal(ek, good)],
        )
    return g
