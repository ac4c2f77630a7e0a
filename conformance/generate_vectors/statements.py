"""Statement vectors: valid statements, header and body rules, verification order.

ValidStatement: one well-formed statement of each kind every verifier must accept. Header: the
header rules (SPEC 6.4; STM-003..011, MND-001, VER-001). Body: the body rules (SPEC 7; BDY-001..012).
VerificationOrder: inputs that break several rules on purpose, expecting the first code in the
normative order (SPEC 11 and 12; ERR-002).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2, reputation_pb2, trade_pb2
from a2a_coop.protocol.claims import commit
from a2a_coop.protocol.envelope import STATEMENT_PAYLOAD_TYPE, pae
from a2a_coop.protocol.identity import GROUP_ORDER, did_from_public_key
from a2a_coop.protocol.statements import Statement, encode_statement, negotiation_id_for
from a2a_coop.testing import DAY_MS, Signer, derive, service
from conformance.generate_vectors import wire
from conformance.generate_vectors._common import (
    Group,
    agent_draft,
    chain_sign,
    draft,
    draft_offer,
    edited,
    make_envelope,
    seal,
    world,
)
from conformance.generate_vectors.keys import IDENTITY


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
    att = agent_draft(
        alice,
        "attestation",
        reputation_pb2.Attestation(
            subject=bob.did,
            offer=offer.digest,
            accept=accept.digest,
            outcome=reputation_pb2.OUTCOME_FULFILLED,
        ),
    )
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
