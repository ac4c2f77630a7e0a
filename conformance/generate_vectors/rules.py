"""Vectors that pin the checks nothing else pinned (rules.json): one rule per case, found by mutation.

``python -m conformance.mutation`` changes the protocol core one small step at a time (an operator,
a constant, a dropped argument) and runs every vector file against each change; a change that every
vector still passes marks a check no vector pins -- an implementation could leave it out, or get it
wrong, and pass the whole suite. Issue 11 found the same with an independent verifier, each of its
checks removed in turn. The groups here close those gaps, each case breaking one rule (with the valid
twin it was derived from, :class:`._common.Twin`) or being the valid boundary a wrong comparison
would refuse:

    BodyField      every digest field (BDY-004), item, bond and claim limits (BDY-002, BDY-006,
                   BDY-015), the bodies nothing else checks (Ack, Deposit, Attestation, Mandate,
                   key bodies: BDY-010..014), reveals (BDY-007) and money amounts (BDY-008)
    Signature      a small-order R that satisfies the cofactorless equation (ENV-006)
    KeyRules       the earliest revocation counts (KEY-004); a KeyRotation replayed (RPL-002 before
                   KEY-005); a principal body naming a mandate the verifier lacks (MND-002)
    TradeRules     self-addressed offers (NEG-003), accepting a Counter under the acceptor's mandate
                   (MND-004), exclusive keys counted only at an Accept (NEG-009)
    SettlementRules  bonds of different sizes, settling once and in full (NEG-012), claims by either
                   party and their item index and deadline (NEG-008, CMT-002), stamps at the window's
                   edges and stamps twice (CMT-005, WIT-002), forfeits for a revoke (CMT-003)
    ContractState  what state a contract is in, seen through its exclusive key (NEG-009): a contract
                   that has ended frees the key, a live one holds it -- so every transition that ends
                   a contract, or must not, is visible to an auditor
    ExposureRules  MND-009 and MND-010 at their boundaries: offers that expire, are countered or
                   accepted; contracts that end or outlive their claim window; sides of unequal value;
                   offers over two budget periods; statements that arrive out of time order
    Attestations   attestations citing a statement the verifier does not hold (ATT-001)

Every group builds its own clock and parties. New cases go at the end of a group, new groups at the
end of :func:`groups` (tcIds follow the order).
"""

from __future__ import annotations

from typing import Any, Final

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2, reputation_pb2, trade_pb2
from a2a_coop.protocol.chain import EquivocationProof, verify_equivocation_proof
from a2a_coop.protocol.claims import commit
from a2a_coop.protocol.envelope import envelope_to_json
from a2a_coop.protocol.statements import Statement
from a2a_coop.testing import DAY_MS, Party, derive, service
from conformance.generate_vectors._common import (
    Group,
    agent_draft,
    chain_sign,
    draft,
    draft_offer,
    edited,
    seal,
    world,
)
from conformance.generate_vectors.negotiation import Deal, answer, ctx, escrow_draft, pair

MAX_INT: Final = 2**53 - 1
SHORT: Final = derive("rules/a 31-byte digest", 31)  # one byte short of a digest (BDY-004)
NOT_A_DID: Final = "did:example:mallory"  # not an Ed25519 did:key (KEY-001)
ROOMY: Final = {  # mandate caps at the integer limit: only the rule under test can refuse
    "max_per_deal": MAX_INT,
    "budget_per_period": MAX_INT,
    "max_outstanding": MAX_INT,
    "execution_window_end_ms": MAX_INT,
}


def _set(path: str, value: Any) -> Any:
    """An edit for :func:`edited`: set the scalar field at ``path`` (e.g. "offer.gives.0.value")."""

    def edit(s: Statement) -> None:
        *parents, name = path.split(".")
        target: Any = s
        for p in parents:
            target = target[int(p)] if p.isdigit() else getattr(target, p)
        if name.isdigit():
            target[int(name)] = value
        else:
            setattr(target, name, value)

    return edit


def prev_proof() -> dict[str, Any]:
    """equivocation-proof-prev.json: two consecutive statements whose link does not hold (CHN-003)."""
    _, alice, bob = world()
    first = alice.offer(bob)
    second = edited(draft_offer(alice, bob), _set("header.prev", derive("rules/another prev")))
    later = seal(alice.agent.key, second)
    proof = EquivocationProof(later, first.envelope)
    return {
        "schema": "a2a-coop-equivocation-proof/1",
        "comment": "Alice's agent signed a statement at seq 1 whose prev is not the digest of her statement at "
        "seq 0 (CHN-003): no single chain holds both. The statement with the higher seq comes first.",
        "requirements": ["CHN-003", "CHN-004"],
        "issuer": verify_equivocation_proof(proof),
        "first": envelope_to_json(proof.first),
        "second": envelope_to_json(proof.second),
    }


def groups() -> list[Group]:
    """The test groups of rules.json, in file order (tcIds follow it)."""
    return [body_fields()]


# --- BodyField ---------------------------------------------------------------------------------------


def body_fields() -> Group:
    """The stateless body rules (SPEC 7) each case breaks alone, in the context its twin needs."""
    g = Group("BodyField", "sparse")
    clock, alice, bob = world(alice=ROOMY)
    escrow = Party("escrow", clock)
    base = ctx(alice, bob)
    dl = clock.now_ms + DAY_MS

    def offer_case(
        comment: str, reqs: list[str], proposal: trade_pb2.Offer, edit: Any = None, *flags: str
    ) -> None:
        """Alice's offer of ``proposal``: valid without ``edit``; with it, one defect and that offer as
        the twin."""
        good = draft_offer(alice, bob, proposal)
        if edit is None:
            g.add(comment, reqs, [*base, seal(alice.agent.key, good)], None, *flags)
            return
        bad = seal(alice.agent.key, edited(good, edit))
        g.add(comment, reqs, [*base, bad], "BODY_INVALID", *flags, twin=[*base, seal(alice.agent.key, good)])

    plain = alice.proposal()
    offer_case(
        "an item's spec_digest of 31 bytes",
        ["BDY-002"],
        plain,
        _set("offer.gives.0.spec_digest", SHORT),
        "BodyRule",
    )
    spec = alice.proposal()
    spec.gives[0].spec_digest = derive("rules/spec")
    offer_case("an item's spec_digest of 32 bytes", ["BDY-002"], spec)
    offer_case(
        "Item.value = 2^53 on the side Alice wants (her mandate caps only what she gives)",
        ["BDY-015"],
        alice.proposal(wants=[service("copy-editing", value=MAX_INT, deadline_ms=dl)]),
        _set("offer.wants.0.value", MAX_INT + 1),
        "IntegerRange",
    )
    offer_case(
        "Item.deadline_ms = 2^53 (the mandate's execution window ends at 2^53 - 1)",
        ["BDY-015"],
        alice.proposal(wants=[service("copy-editing", value=450, deadline_ms=MAX_INT)]),
        _set("offer.wants.0.deadline_ms", MAX_INT + 1),
        "IntegerRange",
    )
    free = [service("code-review", value=0, deadline_ms=dl)]  # gives nothing of value: the bond is all
    for bond in ("issuer_bond", "audience_bond"):
        offer_case(
            f"Terms.{bond} = 2^53",
            ["BDY-015"],
            alice.proposal(gives=free, escrow=escrow.did, **{bond: MAX_INT}),
            _set(f"offer.terms.{bond}", MAX_INT + 1),
            "IntegerRange",
        )
    tiny = service("code-review", value=1, deadline_ms=dl)
    offer_case(
        "32 items on each side (the most BDY-001 allows)",
        ["BDY-001"],
        alice.proposal(gives=[tiny] * 32, wants=[tiny] * 32),
        None,
        "Boundary",
    )
    offer_case(
        "an exclusive_key of 32 bytes (the most BDY-005 allows)",
        ["BDY-005"],
        alice.proposal(exclusive_key=derive("rules/exclusive")),
        None,
        "Boundary",
    )
    claim = trade_pb2.Claim(kind=trade_pb2.CLAIM_KIND_NEED, subject="gpu-hours", amount=3)
    offer_case(
        "16 claims (the most BDY-006 allows)",
        ["BDY-006"],
        alice.proposal(claims=[claim] * 16),
        None,
        "Boundary",
    )
    offer_case(
        "a claim whose kind is unspecified (subject and amount set)",
        ["BDY-006"],
        alice.proposal(claims=[claim]),
        _set("offer.claims.0.kind", trade_pb2.CLAIM_KIND_UNSPECIFIED),
        "BodyRule",
    )
    offer_case(
        "a claim without a subject (kind and amount set)",
        ["BDY-006"],
        alice.proposal(claims=[claim]),
        _set("offer.claims.0.subject", ""),
        "BodyRule",
    )

    def case(
        comment: str, reqs: list[str], signer: Any, good: Statement, edit: Any, pre: list[bytes]
    ) -> None:
        """``good`` with one ``edit`` (BODY_INVALID) after the context ``pre``; ``good`` is the twin."""
        g.add(
            comment,
            reqs,
            [*pre, seal(signer, edited(good, edit))],
            "BODY_INVALID",
            "BodyRule",
            twin=[*pre, seal(signer, good)],
        )

    # Digests (BDY-004) of the answers to an offer, and of an Ack.
    offer = alice.offer(bob)
    with_offer = [*base, offer.envelope]
    for body, by, msg in [
        ("counter", bob, trade_pb2.Counter(offer=offer.digest, proposal=bob.proposal())),
        ("reject", bob, trade_pb2.Reject(offer=offer.digest, reason="no")),
        ("withdraw", alice, trade_pb2.Withdraw(offer=offer.digest)),
    ]:
        case(
            f"{body.title()}.offer of 31 bytes",
            ["BDY-004"],
            by.agent.key,
            answer(by, body, msg, offer),
            _set(f"{body}.offer", SHORT),
            with_offer,
        )
    ack = agent_draft(bob, "ack", commitment_pb2.Ack(statement=offer.digest), audience=alice.did)
    g.add(
        "Bob acknowledges Alice's offer (an Ack addressed to her)",
        ["BDY-013"],
        [*with_offer, seal(bob.agent.key, ack)],
    )
    case(
        "Ack.statement of 31 bytes",
        ["BDY-004", "BDY-013"],
        bob.agent.key,
        ack,
        _set("ack.statement", SHORT),
        with_offer,
    )
    case("an Ack with no audience", ["BDY-013"], bob.agent.key, ack, _set("header.audience", ""), with_offer)

    # Attestations (BDY-011, BDY-004).
    accept = bob.accept(offer)
    contract = [*with_offer, accept.envelope]
    att = agent_draft(
        alice,
        "attestation",
        reputation_pb2.Attestation(
            subject=bob.did,
            offer=offer.digest,
            accept=accept.digest,
            outcome=reputation_pb2.OUTCOME_FULFILLED,
            evidence=[derive("rules/evidence")],
        ),
    )
    for comment, req, edit in [
        ("Attestation.subject is not a did:key", "BDY-011", _set("attestation.subject", NOT_A_DID)),
        ("Attestation.outcome unspecified", "BDY-011", _set("attestation.outcome", 0)),
        ("Attestation.offer of 31 bytes", "BDY-004", _set("attestation.offer", SHORT)),
        ("Attestation.accept of 31 bytes", "BDY-004", _set("attestation.accept", SHORT)),
        ("an Attestation.evidence entry of 31 bytes", "BDY-004", _set("attestation.evidence.0", SHORT)),
    ]:
        case(comment, [req], alice.agent.key, att, edit, contract)

    # Deposits (BDY-014): the escrow's ledger credits a party.
    deposit = agent_draft(
        escrow,
        "deposit",
        commitment_pb2.Deposit(party=alice.did, amount=1, currency="credit"),
        audience=alice.did,
    )
    g.add("a Deposit of 1", ["BDY-014"], [*escrow.setup, seal(escrow.agent.key, deposit)], None, "Boundary")
    for comment, edit in [
        ("a Deposit of 0", _set("deposit.amount", 0)),
        ("Deposit.party is not a did:key", _set("deposit.party", NOT_A_DID)),
        ("Deposit.currency with upper case", _set("deposit.currency", "Credit")),
    ]:
        case(comment, ["BDY-014"], escrow.agent.key, deposit, edit, escrow.setup)

    # Mandates (BDY-010) and key bodies (BDY-012), by principals: no context.
    caps = identity_pb2.Mandate()
    caps.CopyFrom(alice.mandate_vs.statement.mandate)
    caps.min_per_deal = caps.max_per_deal
    mandate = draft(alice.principal, "mandate", caps)
    g.add(
        "a Mandate with min_per_deal = max_per_deal",
        ["BDY-010"],
        [seal(alice.principal.key, mandate)],
        None,
        "Boundary",
    )
    case(
        "a Mandate with min_per_deal = max_per_deal + 1",
        ["BDY-010"],
        alice.principal.key,
        mandate,
        _set("mandate.min_per_deal", caps.max_per_deal + 1),
        [],
    )
    case(
        "a Mandate whose currency has upper case",
        ["BDY-010"],
        alice.principal.key,
        mandate,
        _set("mandate.currency", "Credit"),
        [],
    )
    jo, kim = Party("jo", clock), Party("kim", clock)
    own = draft(jo.agent, "key_revocation", identity_pb2.KeyRevocation(key=jo.did, effective_ms=clock.now_ms))
    case(
        "KeyRevocation.key is not a did:key",
        ["BDY-012"],
        jo.agent.key,
        own,
        _set("key_revocation.key", NOT_A_DID),
        [],
    )
    rotation = draft(kim.agent, "key_rotation", identity_pb2.KeyRotation(new_key=jo.did))
    case(
        "KeyRotation.new_key is not a did:key",
        ["BDY-012"],
        kim.agent.key,
        rotation,
        _set("key_rotation.new_key", NOT_A_DID),
        [],
    )

    # Reveals (BDY-007, BDY-004).
    salt = derive("rules/salt")
    committed = trade_pb2.Claim(
        kind=trade_pb2.CLAIM_KIND_RESERVATION_VALUE, subject="price", commitment=commit(0, salt)
    )
    blind = alice.offer(bob, alice.proposal(claims=[committed]))
    reveal = agent_draft(
        alice, "reveal", commitment_pb2.Reveal(statement=blind.digest, claim_index=0, salt=salt, amount=0)
    )
    with_blind = [*base, blind.envelope]
    g.add(
        "a Reveal of a commitment to 0",
        ["BDY-007"],
        [*with_blind, seal(alice.agent.key, reveal)],
        None,
        "Commitment",
    )
    case(
        "Reveal.salt of 31 bytes",
        ["BDY-007"],
        alice.agent.key,
        reveal,
        _set("reveal.salt", salt[:31]),
        with_blind,
    )
    case(
        "Reveal.statement of 31 bytes",
        ["BDY-004"],
        alice.agent.key,
        reveal,
        _set("reveal.statement", SHORT),
        with_blind,
    )

    # Commitment statements (BDY-004, BDY-008) in a bonded contract, by the parties and the escrow.
    d = Deal(locked=False, revocation=trade_pb2.Revocation(allowed=True))
    esc = d.escrow.agent.key
    case(
        "BondLock.contract of 31 bytes",
        ["BDY-004"],
        esc,
        d.money("bond_lock", d.alice),
        _set("bond_lock.contract", SHORT),
        d.base,
    )
    case(
        "BondLock.party is not a did:key",
        ["BDY-008"],
        esc,
        d.money("bond_lock", d.alice),
        _set("bond_lock.party", NOT_A_DID),
        d.base,
    )
    locks = [d.escrow_says("bond_lock", p).envelope for p in (d.alice, d.bob)]
    bonded = [*d.base, *locks]
    delivery = agent_draft(
        d.alice,
        "delivery",
        commitment_pb2.Delivery(
            contract=d.accept.digest, item_index=0, artifact_digest=derive("rules/artifact")
        ),
        audience=d.bob.did,
        negotiation_id=d.nid,
    )
    case(
        "Delivery.contract of 31 bytes",
        ["BDY-004"],
        d.alice.agent.key,
        delivery,
        _set("delivery.contract", SHORT),
        bonded,
    )
    case(
        "Delivery.artifact_digest of 31 bytes",
        ["BDY-004"],
        d.alice.agent.key,
        delivery,
        _set("delivery.artifact_digest", SHORT),
        bonded,
    )
    revoke = agent_draft(
        d.alice,
        "revoke",
        commitment_pb2.Revoke(contract=d.accept.digest),
        audience=d.bob.did,
        negotiation_id=d.nid,
    )
    case(
        "Revoke.contract of 31 bytes",
        ["BDY-004"],
        d.alice.agent.key,
        revoke,
        _set("revoke.contract", SHORT),
        bonded,
    )
    for body in ("release", "refund"):
        case(
            f"{body.title()}.contract of 31 bytes",
            ["BDY-004"],
            esc,
            d.money(body, d.bob),
            _set(f"{body}.contract", SHORT),
            bonded,
        )
    delivered = d.deliver(d.alice)
    receipt = agent_draft(
        d.bob,
        "receipt",
        commitment_pb2.Receipt(delivery=delivered.digest, rating=90),
        audience=d.alice.did,
        negotiation_id=d.nid,
    )
    case(
        "Receipt.delivery of 31 bytes",
        ["BDY-004"],
        d.bob.agent.key,
        receipt,
        _set("receipt.delivery", SHORT),
        [*bonded, delivered.envelope],
    )
    d.clock.now_ms = d.deadline + 1
    claim = agent_draft(
        d.alice,
        "breach_claim",
        commitment_pb2.BreachClaim(contract=d.accept.digest, item_index=0, evidence=[delivered.digest]),
        audience=d.bob.did,
        negotiation_id=d.nid,
    )
    case(
        "BreachClaim.contract of 31 bytes",
        ["BDY-004"],
        d.alice.agent.key,
        claim,
        _set("breach_claim.contract", SHORT),
        bonded,
    )
    case(
        "a BreachClaim.evidence entry of 31 bytes",
        ["BDY-004"],
        d.alice.agent.key,
        claim,
        _set("breach_claim.evidence.0", SHORT),
        bonded,
    )
    claimed = chain_sign(d.alice.agent, claim)
    witness = chain_sign(
        d.escrow.agent, agent_draft(d.escrow, "stamp", commitment_pb2.Stamp(statements=[claimed.digest]))
    )
    disputed = [*bonded, claimed.envelope, witness.envelope]
    d.clock.now_ms = witness.header.issued_at_ms + 3_600_000
    upheld = d.ruling(claimed, commitment_pb2.RULING_DECISION_UPHOLD)
    case(
        "Ruling.claim of 31 bytes (an UPHOLD)",
        ["BDY-004"],
        esc,
        upheld,
        _set("ruling.claim", SHORT),
        disputed,
    )
    dismissal = d.ruling(claimed, commitment_pb2.RULING_DECISION_DISMISS, evidence=delivered.digest)
    case(
        "Ruling.evidence of 31 bytes (a DISMISS)",
        ["BDY-004"],
        esc,
        dismissal,
        _set("ruling.evidence", SHORT),
        disputed,
    )
    ruled = [*disputed, chain_sign(d.escrow.agent, upheld).envelope]
    forfeit = d.forfeit(d.bob, claimed)
    case("Forfeit.cause of 31 bytes", ["BDY-004"], esc, forfeit, _set("forfeit.cause", SHORT), ruled)
    case(
        "Forfeit.beneficiary is not a did:key",
        ["BDY-008"],
        esc,
        forfeit,
        _set("forfeit.beneficiary", NOT_A_DID),
        ruled,
    )
    small = Deal(bond=1)
    g.add(
        "bonds of 1 locked (the least amount BDY-008 allows)",
        ["BDY-008", "NEG-012"],
        [*small.base, *small.locks],
        None,
        "Boundary",
    )
    return g
