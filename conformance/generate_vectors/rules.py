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
    Bookkeeping    what the second mutation run found: a Checkpoint over seven statements (CHN-007:
                   three subtrees), a bond settled twice through a Forfeit (NEG-012), an Offer living
                   longer than a budget period (MND-013), budget periods that start off the clock's
                   day grid (MND-009), a check that looks back to the very expiry of an offer the
                   book had already put behind it, a contract formed after its claim window (MND-010),
                   and an Attestation's rating at its limit (BDY-009)
    Accumulation   what the third run found: rules over every part of something, where one part alone
                   passes -- a second Checkpoint's root over the whole log, not the part since the
                   first (CHN-007); a side's value as the sum of its items (MND-004), for the offering
                   and the accepting side; every item's category, offered or wanted (MND-006)
    SeqZero        CHN-005 for a seq 0 received after the issuer's seq 1: its time is compared with the
                   statement above it, as for any other seq
    ClaimBoundaries  what the twenty-sixth session's run found: a claim at the boundaries of CMT-009 (a
                   bond locked at the very deadline of the item claimed on counts, one locked 1 ms later
                   does not) and CMT-011 (an Accept dated at the very deadline leaves the item claimable)
    SideAtTheCap   what the twenty-seventh session's run of mandate found: an Accept commits the
                   acceptor's side of the offer, the sum of the items it wants, against MND-010 and MND-009
                   at the cap that holds it exactly (the others only ever charged an offer at a cap), and an
                   offer its own side with its issuer's bond, the audience's bond not (every bonded offer
                   before had equal bonds)
    StartInOneMs   SPEC 4.5's dated starts within one millisecond: an offer signed in the same ms as the
                   agent's statement before it, one seq higher, does not count for that statement -- nor
                   when its counterparty rejected it in that same ms (its answer is then before its start)
    PlacesInOneMs  what the twenty-ninth session's run of the exposure bookkeeping found: an answer, an
                   Accept, a witnessed Accept's displacement and its cut of the line each end what counts
                   at their own place -- another key's before every seq of its ms, the agent's own at its
                   seq -- also when a later answer held dated the cut-off offer later
    AnsweredPastTheLine  what the thirtieth session's run found: an answer to the witnessed contract's offer
                   taken superseded after the line had gone on past that offer (a Withdraw of it after a
                   Counter of it) dates the offer's end at its own place all the same (SPEC 4.5)
    StampUnderARevokedPrincipal  what the thirty-second session's run found: an escrow's Stamp under a
                   Mandate whose issuer revoked its own key (MND-012) is disowned and witnesses nothing, also
                   when the view heard the revocation after the Stamp (KEY-009 (d))
    BareAcceptReach  the same run: how far back a revocation reaches an Accept no escrow can witness
                   (KEY-011): not before its effective_ms, not below a key's own revocation's seq, only from
                   its issued_at_ms for a principal bound after the one whose Mandate the Accept names or
                   after the Mandate was signed; back to its effective_ms for that principal's
    StampsInOneMsAtTheEscrow  the same run, at an escrow: of two Stamps of an Accept in one millisecond under
                   two Mandates, the lower seq's Mandate is the one ESC-020 reads, whichever was heard first
    RotationForkAtTheEscrow  the same run: keytime.json's RotationFork at an escrow, where no KEY-009
                   exception keeps the statement: refused as the fork (CHAIN_BROKEN), not KEY_REVOKED
    CutOffAnswersOfEachKind  what the thirty-third session's run found: on the line a witnessed Accept cut
                   off, a key's Counter or Accept answering an offer its Accept answered binds that contract's
                   offerer to nothing (NEG-023 (b)), and its lower Counter or Reject, come after the higher
                   answer, is the offer's answer there (NEG-021)

Every group builds its own clock and parties. New cases go at the end of a group, new groups at the
end of :func:`groups` (tcIds follow the order).
"""

from __future__ import annotations

import hashlib
from typing import Any, Final

from a2a_coop import vectors
from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2, trade_pb2
from a2a_coop.protocol.chain import EquivocationProof, verify_equivocation_proof
from a2a_coop.protocol.claims import commit
from a2a_coop.protocol.envelope import envelope_to_json, pae
from a2a_coop.protocol.forks import ForkProof, verify_fork_proof
from a2a_coop.protocol.identity import GROUP_ORDER, public_key_from_did
from a2a_coop.protocol.merkle import root as merkle_root
from a2a_coop.protocol.negotiation import CLAIM_WINDOW_MS
from a2a_coop.protocol.statements import Statement, VerifiedStatement, verify_statement
from a2a_coop.testing import DAY_MS, FixedClock, Party, Signer, derive, service
from conformance.generate_vectors._common import (
    Group,
    agent_draft,
    attestation_draft,
    chain_sign,
    draft,
    draft_offer,
    edited,
    make_envelope,
    open_envelope,
    retimed,
    seal,
    world,
)
from conformance.generate_vectors.key_time import BOND, _checkpoint, add_rotation_fork
from conformance.generate_vectors.keys import IDENTITY
from conformance.generate_vectors.negotiation import (
    Deal,
    accepted_at,
    answer,
    claimed_breach,
    ctx,
    escrow_draft,
    pair,
    stamp,
)

MAX_INT: Final = 2**53 - 1
HOUR_MS: Final = 3_600_000
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


def pair_by(key: Any, good: Statement, edit: Any) -> tuple[bytes, bytes]:
    """(defective, twin) as :func:`.negotiation.pair`, for any key (a principal's, a plain signer's)."""
    return seal(key, edited(good, edit)), seal(key, good)


def prev_proof() -> dict[str, Any]:
    """equivocation-proof-prev.json: two consecutive statements whose link does not hold (CHN-003)."""
    _, alice, bob = world()
    first = alice.offer(bob)
    second = edited(draft_offer(alice, bob), _set("header.prev", derive("rules/another prev")))
    later = seal(alice.agent.key, second)
    proof = EquivocationProof(later, first.envelope)
    return {
        "schema": "a2a-coop-equivocation-proof/1",
        "comment": "Alice's agent signed a statement at seq 1 whose prev is not the digest of her statement "
        "at seq 0 (CHN-003): no single chain holds both. The statement with the higher seq comes first.",
        "requirements": ["CHN-003", "CHN-004"],
        "issuer": verify_equivocation_proof(proof),
        "first": envelope_to_json(proof.first),
        "second": envelope_to_json(proof.second),
    }


def answer_proof() -> dict[str, Any]:
    """equivocation-proof-answer.json: two answers of one key to one statement (ATT-022), two linked links
    of its chain -- no fork of it, and still a proof no honest key signs."""
    _, alice, bob = world()
    offer = bob.offer(alice)
    reject = alice.reject(offer, "kept back")
    accept = alice.accept(offer)
    proof = ForkProof(reject.envelope, accept.envelope)
    assert accept.header.prev == reject.digest  # linked: no equivocation proof
    return {
        "schema": "a2a-coop-equivocation-proof/1",
        "comment": "Alice's agent signed a Reject of Bob's Offer at seq 0 and an Accept of the same Offer at "
        "seq 1, linked to it (ATT-022): no fork of her chain, but two answers to one statement, which no "
        "honest key signs. Checked offline with no other context: both envelopes verify, one issuer, "
        "different digests, each a Counter, Accept or Reject whose offer field names the same statement.",
        "requirements": ["ATT-022", "ATT-012"],
        "issuer": verify_fork_proof(proof),
        "first": envelope_to_json(proof.first),
        "second": envelope_to_json(proof.second),
    }


def groups() -> list[Group]:
    """The test groups of rules.json, in file order (tcIds follow it)."""
    return [
        body_fields(),
        signature(),
        key_rules(),
        trade_rules(),
        attestations(),
        settlement_rules(),
        contract_state(),
        exposure_rules(),
        bookkeeping(),
        accumulation(),
        seq_zero(),
        key_rules_at_the_escrow(),  # after the others, so that no earlier tcId moved
        claim_boundaries(),
        side_at_the_cap(),
        start_in_one_ms(),
        places_in_one_ms(),
        answered_past_the_line(),
        stamp_under_a_revoked_principal(),
        bare_accept_reach(),
        stamps_in_one_ms_at_the_escrow(),
        rotation_fork_at_the_escrow(),
        cut_off_answers_of_each_kind(),
        late_bound_revoker_at_the_escrow(),
        repeated_in_a_view(),
    ]


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

    def case(  # noqa: PLR0917 - one line per case reads best
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
    att = attestation_draft(alice, bob, offer, accept, evidence=[derive("rules/evidence")])
    for comment, req, edit in [
        ("Attestation.subject is not a did:key", "BDY-011", _set("attestation.subject", NOT_A_DID)),
        ("Attestation.outcome unspecified", "BDY-011", _set("attestation.outcome", 0)),
        ("Attestation.offer of 31 bytes", "BDY-004", _set("attestation.offer", SHORT)),
        ("Attestation.accept of 31 bytes", "BDY-004", _set("attestation.accept", SHORT)),
        ("an Attestation.evidence entry of 31 bytes", "BDY-004", _set("attestation.evidence.0", SHORT)),
    ]:
        case(comment, [req], alice.agent.key, att, edit, contract)

    # Enums are open (section 6.2.1 K6): a value the enum does not name passes (BDY-006, BDY-011).
    unnamed = trade_pb2.Claim(kind=2**31 - 1, subject="gpu-hours", amount=3)  # type: ignore[arg-type]
    offer_case(
        "a claim whose kind is 2^31 - 1, a value ClaimKind does not name (enums are open)",
        ["BDY-006"],
        alice.proposal(claims=[unnamed]),
        None,
        "Boundary",
    )
    g.add(
        "an Attestation whose outcome is 2^31 - 1, a value Outcome does not name (enums are open)",
        ["BDY-011"],
        [*contract, seal(alice.agent.key, edited(att, _set("attestation.outcome", 2**31 - 1)))],
        None,
        "Boundary",
    )

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
    # BDY-010 checks no entry of a Mandate's lists: one that is no category token, or no did:key, is taken
    # and matches nothing (MND-005, MND-006).
    odd = identity_pb2.Mandate()
    odd.CopyFrom(caps)
    odd.allowed_categories[:] = ["Not A Category!"]
    odd.allowed_counterparties[:] = ["nobody"]
    g.add(
        "a Mandate whose allowed_categories entry is no category token and whose allowed_counterparties "
        "entry is no did:key (BDY-010 checks neither)",
        ["BDY-010"],
        [seal(alice.principal.key, draft(alice.principal, "mandate", odd))],
        None,
        "Boundary",
    )

    def under_lists(counterparties: list[str]) -> list[bytes]:
        _, agent, to = world(alice={"allowed_counterparties": counterparties})
        return [*ctx(agent, to), agent.offer(to).envelope]

    g.add(
        'an offer to Bob under a Mandate whose only allowed_counterparties entry is "nobody" (no did:key): '
        "it matches no audience",
        ["BDY-010", "MND-005"],
        under_lists(["nobody"]),
        "MANDATE_VIOLATION",
        "MandateViolation",
        twin=under_lists([]),
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


# --- Signature ---------------------------------------------------------------------------------------


def signature() -> Group:
    """ENV-006's small-order R check, alone: the signature satisfies the cofactorless equation."""
    g = Group("Signature", "sparse")
    _, alice, bob = world()
    offer = alice.offer(bob)
    payload, ptype, keyid, _ = open_envelope(offer.envelope)
    # RFC 8032 secret scalar of Alice's agent key; S = k * a makes [S]B - [k]A the identity, which is R.
    h = bytearray(hashlib.sha512(alice.agent.key.seed).digest()[:32])
    h[0] &= 248
    h[31] = (h[31] & 127) | 64
    a = int.from_bytes(h, "little")
    public_key = public_key_from_did(keyid)
    k = int.from_bytes(hashlib.sha512(IDENTITY + public_key + pae(ptype, payload)).digest(), "little")
    forged = IDENTITY + (k * a % GROUP_ORDER).to_bytes(32, "little")
    g.add(
        "R is the identity and S = k * a mod L: the cofactorless equation [S]B - [k]A = R holds, only the "
        "small-order R check refuses it",
        ["ENV-006"],
        [*alice.setup, make_envelope(payload, ptype, [(keyid, forged)])],
        "SIGNATURE_INVALID",
        "SmallOrderR",
        twin=[*alice.setup, offer.envelope],
    )
    return g


# --- KeyRules ----------------------------------------------------------------------------------------


def key_rules() -> Group:
    """KEY-004 (the earliest effective revocation counts), KEY-005 against a replay, MND-002 for a
    principal body naming a mandate."""
    g = Group("KeyRules", "sparse")
    revoked, late, _, clock = _revoked_twice()
    lee = Signer("lee", clock)  # the same key (by its name): the KeyRotation below names it
    g.add(  # KEY-009 (d): refused before by a view that heard the revocations first; KeyRulesAtTheEscrow
        "a key revoked twice, from in 2 hours and from in a day: a statement of no negotiation 3 hours on is "
        "held by a view of evidence, disowned (KEY-009 (d)); an escrow refuses it (KeyRulesAtTheEscrow)",
        ["KEY-004", "KEY-009"],
        [*revoked, late],
    )
    mo = Signer("mo", clock)
    rotation = mo.sign("key_rotation", identity_pb2.KeyRotation(new_key=lee.did))
    g.add(
        "a KeyRotation received twice: the second is a replay (RPL-002 runs after KEY-005, which refuses "
        "only seqs above the rotation)",
        ["RPL-002", "KEY-005"],
        [rotation.envelope, rotation.envelope],
        "REPLAYED",
        "Replay",
        no_twin="the defect is the statement's second arrival",
    )
    _, alice, _ = world()
    binding = agent_draft(alice, "checkpoint", identity_pb2.Checkpoint())
    bound = seal(alice.agent.key, binding)
    g.add(
        "a Checkpoint (a principal body) naming a Mandate the verifier does not hold",
        ["MND-002"],
        [bound],
        "MANDATE_UNKNOWN",
        "UnknownMandate",
        twin=[*alice.setup, bound],
    )
    return g


def _revoked_twice() -> tuple[list[bytes], bytes, bytes, FixedClock]:
    """A key revoked by itself twice, from in 2 hours and from in a day, and its Checkpoint 3 hours on and
    its twin an hour on: (the revocations, the late one, the early one, the clock they were signed by)."""
    clock = FixedClock()
    lee = Signer("lee", clock)
    t = clock.now_ms
    first = lee.sign("key_revocation", identity_pb2.KeyRevocation(key=lee.did, effective_ms=t + 2 * HOUR_MS))
    clock.advance(1)
    second = lee.sign("key_revocation", identity_pb2.KeyRevocation(key=lee.did, effective_ms=t + DAY_MS))
    root = merkle_root([first.digest, second.digest])
    checkpoint = draft(lee, "checkpoint", identity_pb2.Checkpoint(log_root=root), issued_at_ms=t + HOUR_MS)
    late, early = pair_by(lee.key, checkpoint, retimed(t + 3 * HOUR_MS))
    return [first.envelope, second.envelope], late, early, clock


def key_rules_at_the_escrow() -> Group:
    """KEY-004 at an escrow taking evidence (and its audit): the earliest effective revocation counts -- a
    view of evidence holds the statement, disowned (KEY-009 (d), rules.json KeyRules)."""
    g = Group("KeyRulesAtTheEscrow", "sparse", role="escrow")
    revoked, late, early, _ = _revoked_twice()
    g.add(
        "at an escrow taking evidence: a key revoked twice, from in 2 hours and from in a day: a statement 3 "
        "hours on is refused (the earliest effective revocation counts)",
        ["KEY-004"],
        [*revoked, late],
        "KEY_REVOKED",
        "RevokedKey",
        twin=[*revoked, early],
    )
    return g


# --- TradeRules --------------------------------------------------------------------------------------


def trade_rules() -> Group:
    """NEG-003 for the opening offer, the acceptor's mandate on an Accept of a Counter (MND-004), exclusive
    keys counted at the Accept only (NEG-009), and a reveal of a Counter's claim (BDY-007)."""
    g = Group("TradeRules", "sparse")
    clock, alice, bob = world()
    base = ctx(alice, bob)
    good = draft_offer(alice, bob)
    for comment, audience in [
        ("an Offer addressed to its own issuer", alice.did),
        ("an Offer addressed to nobody (empty audience)", ""),
    ]:
        bad = edited(good, _set("header.audience", audience))
        g.add(
            comment,
            ["NEG-003"],
            [*base, seal(alice.agent.key, bad)],
            "WRONG_PARTY",
            "WrongParty",
            twin=[*base, seal(alice.agent.key, good)],
        )

    def counter_accepted(max_per_deal: int) -> list[bytes]:
        """Bob counters Alice's offer asking her to give 800; Alice accepts under ``max_per_deal``."""
        clock, alice, bob = world(alice={"max_per_deal": max_per_deal})
        offer = alice.offer(bob)
        dl = clock.now_ms + DAY_MS
        proposal = bob.proposal(
            gives=[service("copy-editing", value=450, deadline_ms=dl)],
            wants=[service("code-review", value=800, deadline_ms=dl)],
        )
        counter = bob.counter(offer, proposal)
        return [*ctx(alice, bob), offer.envelope, counter.envelope, alice.accept(counter).envelope]

    g.add(
        "Alice accepts Bob's Counter, which has her give 800, under max_per_deal 799 (an Accept is checked "
        "against the proposal it accepts, a Counter's as an Offer's)",
        ["MND-004"],
        counter_accepted(799),
        "MANDATE_VIOLATION",
        "MandateViolation",
        twin=counter_accepted(800),
    )
    g.add(
        "the same Accept under max_per_deal 800",
        ["MND-004"],
        counter_accepted(800),
        None,
        "Boundary",
    )

    clock, alice, bob = world()
    carol = Party("carol", clock)
    key = b"gpu-slot-7"
    held = alice.offer(bob, alice.proposal(exclusive_key=key))
    taken = bob.accept(held)
    second = alice.offer(carol, alice.proposal(exclusive_key=key))
    countered = carol.counter(second, carol.proposal())
    g.add(
        "Carol counters Alice's offer whose exclusive key Alice's live contract with Bob holds: only an "
        "Accept is refused for it",
        ["NEG-009"],
        [*ctx(alice, bob, carol), held.envelope, taken.envelope, second.envelope, countered.envelope],
    )

    salt = derive("rules/counter salt")
    claim = trade_pb2.Claim(kind=trade_pb2.CLAIM_KIND_NEED, subject="gpu-hours", commitment=commit(42, salt))
    offer = alice.offer(bob)
    blind = bob.counter(offer, bob.proposal(claims=[claim]))
    reveal = bob.sign(
        "reveal", commitment_pb2.Reveal(statement=blind.digest, claim_index=0, salt=salt, amount=42)
    )
    g.add(
        "Bob reveals a committed claim of his Counter",
        ["BDY-007"],
        [*base, offer.envelope, blind.envelope, reveal.envelope],
        None,
        "Commitment",
    )
    return g


# --- Attestations ------------------------------------------------------------------------------------


def attestations() -> Group:
    """ATT-001 with one of the two cited statements not held."""
    g = Group("Attestations", "sparse")
    _, alice, bob = world()
    offer = alice.offer(bob)
    accept = bob.accept(offer)
    other = alice.offer(bob)
    contract = [*ctx(alice, bob), offer.envelope, accept.envelope]
    att = attestation_draft(alice, bob, offer, accept)
    g.add(
        "an attestation citing the held offer and an Accept the verifier does not hold",
        ["ATT-001"],
        [*ctx(alice, bob), offer.envelope, seal(alice.agent.key, att)],
        "ATTESTATION_INADMISSIBLE",
        "Attestation",
        twin=[*contract, seal(alice.agent.key, att)],
    )
    g.add(
        "an attestation citing the held Accept and an offer the verifier does not hold",
        ["ATT-001"],
        [*contract, seal(alice.agent.key, edited(att, _set("attestation.offer", other.digest)))],
        "ATTESTATION_INADMISSIBLE",
        "Attestation",
        twin=[*contract, seal(alice.agent.key, att)],
    )
    return g


# --- a contract to settle ----------------------------------------------------------------------------

UPHOLD, DISMISS = commitment_pb2.RULING_DECISION_UPHOLD, commitment_pb2.RULING_DECISION_DISMISS
WINDOW: Final = 3_600_000  # the default response window (CMT-002)


class Trade:
    """Alice (proposer) and Bob (acceptor) in a contract naming an escrow, with Carol standing by.

    Unlike :class:`.negotiation.Deal` the two bonds and the two sides' items may differ. ``base`` is the
    context every case starts from (four mandates, the offer, the Accept); ``locks`` the escrow's
    BondLocks of the non-zero bonds, signed when ``locked``. Statements are signed through each party's
    chain unless a builder returns an unsigned :class:`Statement`.
    """

    def __init__(
        self,
        issuer_bond: int = 0,
        audience_bond: int = 0,
        *,
        gives: Any = None,
        wants: Any = None,
        locked: bool = True,
        **terms: Any,
    ) -> None:
        self.clock = clock = FixedClock()
        self.alice, self.bob = Party("alice", clock), Party("bob", clock)
        self.escrow, self.carol = Party("escrow", clock), Party("carol", clock)
        proposal = self.alice.proposal(
            gives=gives or (),
            wants=wants or (),
            issuer_bond=issuer_bond,
            audience_bond=audience_bond,
            escrow=self.escrow.did,
            **terms,
        )
        self.offer = self.alice.offer(self.bob, proposal)
        clock.advance(1_000)
        self.accept = self.bob.accept(self.offer)
        self.proposal = proposal
        self.base = [
            *ctx(self.alice, self.bob, self.escrow, self.carol),
            self.offer.envelope,
            self.accept.envelope,
        ]
        bonded = [p for p in (self.alice, self.bob) if self.bond(p)]
        self.locks = [self.escrow_says("bond_lock", p).envelope for p in bonded] if locked else []
        clock.advance(1_000)

    @property
    def nid(self) -> bytes:
        return self.offer.header.negotiation_id

    def other(self, party: Party) -> Party:
        return self.bob if party is self.alice else self.alice

    def bond(self, party: Party) -> int:
        t = self.proposal.terms
        return t.issuer_bond if party is self.alice else t.audience_bond

    def deadline(self, party: Party, index: int = 0) -> int:
        """The deadline of item ``index`` that ``party`` gives."""
        items = self.proposal.gives if party is self.alice else self.proposal.wants
        return items[index].deadline_ms

    def money(self, body: str, party: Party, amount: int | None = None, **fields: Any) -> Statement:
        """An unsigned BondLock, Release, Forfeit or Refund of ``party``'s bond (in full by default)."""
        cls = {
            "bond_lock": commitment_pb2.BondLock,
            "release": commitment_pb2.Release,
            "forfeit": commitment_pb2.Forfeit,
            "refund": commitment_pb2.Refund,
        }[body]
        full = self.bond(party) if amount is None else amount
        msg = cls(contract=self.accept.digest, party=party.did, amount=full, **fields)
        return escrow_draft(self.escrow, body, msg, self.accept, audience=party.did)

    def escrow_says(self, body: str, party: Party, **fields: Any) -> VerifiedStatement:
        return chain_sign(self.escrow.agent, self.money(body, party, **fields))

    def forfeit(self, party: Party, cause: VerifiedStatement, **fields: Any) -> Statement:
        return self.money("forfeit", party, beneficiary=self.other(party).did, cause=cause.digest, **fields)

    def deliver(self, party: Party, item_index: int = 0) -> VerifiedStatement:
        return party.deliver(self.accept, self.other(party), item_index)

    def claim_draft(self, claimant: Party, item_index: int = 0, **kw: Any) -> Statement:
        msg = commitment_pb2.BreachClaim(contract=self.accept.digest, item_index=item_index, reason="late")
        return agent_draft(
            claimant, "breach_claim", msg, audience=self.other(claimant).did, negotiation_id=self.nid, **kw
        )

    def claim(self, claimant: Party, item_index: int = 0, **kw: Any) -> VerifiedStatement:
        """``claimant``'s BreachClaim on the other party's item ``item_index``, issued now."""
        return chain_sign(claimant.agent, self.claim_draft(claimant, item_index, **kw))

    def revoke(self, party: Party) -> VerifiedStatement:
        return party.revoke(self.accept, self.other(party), "changed plans")

    def stamp(self, *statements: VerifiedStatement, at: int | None = None) -> VerifiedStatement:
        msg = commitment_pb2.Stamp(statements=[vs.digest for vs in statements])
        return self.escrow.sign("stamp", msg, issued_at_ms=at)

    def ruling(self, claim: VerifiedStatement, decision: int, evidence: bytes = b"", **kw: Any) -> Statement:
        msg = commitment_pb2.Ruling(
            contract=self.accept.digest, claim=claim.digest, decision=decision, evidence=evidence
        )
        return escrow_draft(self.escrow, "ruling", msg, self.accept, **kw)

    def sign(self, stmt: Statement) -> bytes:
        """Sign an escrow statement built here, through the escrow's chain."""
        return chain_sign(self.escrow.agent, stmt).envelope


def items(*deadlines: int) -> list[trade_pb2.Item]:
    return [service("code-review", value=100, deadline_ms=dl) for dl in deadlines]


# --- SettlementRules ---------------------------------------------------------------------------------


def settlement_rules() -> Group:
    """Bonds locked and settled once, in full (NEG-012); who may claim which item, and when a claim and
    its stamp count (NEG-008, CMT-002, CMT-005, WIT-002); forfeits for a revoke (CMT-003)."""
    g = Group("SettlementRules", "sparse")

    t = Trade(100, 200, locked=False)
    lock_a = t.money("bond_lock", t.alice)
    both = [t.escrow_says("bond_lock", p).envelope for p in (t.alice, t.bob)]
    g.add(
        "bonds of 100 (Alice's, the proposer's) and 200 (Bob's), each locked in full",
        ["NEG-012"],
        [*t.base, *both],
    )
    wrong, right = pair(t.escrow, lock_a, _set("bond_lock.amount", 200))
    g.add(
        "the escrow locks Alice's bond at Bob's amount (200 of her 100)",
        ["NEG-012"],
        [*t.base, wrong],
        "BODY_INVALID",
        "ContractRule",
        twin=[*t.base, right],
    )
    g.add(
        "a BondLock naming Carol, who is no party of the contract",
        ["NEG-008"],
        [*t.base, seal(t.escrow.agent.key, edited(lock_a, _set("bond_lock.party", t.carol.did)))],
        "BODY_INVALID",
        "ContractRule",
        twin=[*t.base, right],
    )

    t = Trade(100, 100, locked=False)
    only_alice = [*t.base, t.escrow_says("bond_lock", t.alice).envelope]
    release_a = t.money("release", t.alice)
    unlocked, locked = pair(t.escrow, release_a, _set("release.party", t.bob.did))
    g.add(
        "a Release of Bob's bond, which was never locked",
        ["NEG-012"],
        [*only_alice, unlocked],
        "BODY_INVALID",
        "ContractRule",
        twin=[*only_alice, locked],
    )
    half, full = pair(t.escrow, release_a, _set("release.amount", 50))
    g.add(
        "a Release of 50 of Alice's locked 100",
        ["NEG-012"],
        [*only_alice, half],
        "BODY_INVALID",
        "ContractRule",
        twin=[*only_alice, full],
    )
    released = chain_sign(t.escrow.agent, release_a)
    g.add(
        "a second Release of Alice's bond",
        ["NEG-012"],
        [*only_alice, released.envelope, seal(t.escrow.agent.key, t.money("release", t.alice))],
        "BODY_INVALID",
        "ContractRule",
        no_twin="the defect is settling the bond a second time: without the first Release it is valid",
    )

    # Alice gives one item due on day 1; Bob gives two, due on day 2.
    t0 = FixedClock().now_ms
    d1, d2 = t0 + DAY_MS, t0 + 2 * DAY_MS
    t = Trade(100, 100, gives=items(d1), wants=items(d2, d2))
    bonded = [*t.base, *t.locks]
    t.clock.now_ms = d1 + 1
    bobs = t.claim(t.bob)
    stamped = t.stamp(bobs)
    t.clock.now_ms = stamped.header.issued_at_ms + WINDOW
    upheld = t.sign(t.ruling(bobs, UPHOLD))
    to_bob = t.sign(t.forfeit(t.alice, bobs))
    g.add(
        "Bob (the acceptor) claims Alice's item 1 ms after its deadline, a day before his own: stamped, "
        "upheld, and Alice's bond forfeited to him",
        ["NEG-008", "CMT-002", "CMT-005"],
        [*bonded, bobs.envelope, stamped.envelope, upheld, to_bob],
    )
    beyond, item0 = pair(
        t.bob, t.claim_draft(t.bob, 0, issued_at_ms=d1 + 1), _set("breach_claim.item_index", 1)
    )
    g.add(
        "Bob claims Alice's item 1; she gives one item",
        ["NEG-008"],
        [*bonded, beyond],
        "BODY_INVALID",
        "ContractRule",
        twin=[*bonded, item0],
    )
    t.clock.now_ms = d2 + 1
    alices = t.claim_draft(t.alice, 1)
    third, second = pair(t.alice, alices, _set("breach_claim.item_index", 2))
    g.add(
        "Alice claims Bob's item 2; he gives two (items 0 and 1)",
        ["NEG-008"],
        [*bonded, third],
        "BODY_INVALID",
        "ContractRule",
        twin=[*bonded, second],
    )
    claim = chain_sign(t.alice.agent, alices)
    g.add(
        "Alice claims Bob's item 1, stamped",
        ["NEG-008", "CMT-005"],
        [*bonded, claim.envelope, t.stamp(claim).envelope],
    )
    on_time, after = pair(t.alice, t.claim_draft(t.alice, 0, issued_at_ms=d2 + 1), retimed(d2))
    g.add(
        "a BreachClaim issued exactly at the item's deadline",
        ["CMT-002"],
        [*bonded, on_time],
        "ILLEGAL_TRANSITION",
        "IllegalTransition",
        "Boundary",
        twin=[*bonded, after],
    )
    carols = seal(t.carol.agent.key, edited(t.claim_draft(t.carol, 0), _set("header.audience", t.bob.did)))
    g.add(
        "a BreachClaim by Carol, who is no party of the contract",
        ["NEG-008"],
        [*bonded, carols],
        "WRONG_PARTY",
        "WrongParty",
        twin=[*bonded, after],
    )
    to_carol = agent_draft(
        t.alice,
        "delivery",
        commitment_pb2.Delivery(contract=t.accept.digest, item_index=0),
        audience=t.carol.did,
        negotiation_id=t.nid,
    )
    to_carol_env, to_bob = pair(
        t.alice, edited(to_carol, _set("header.audience", t.bob.did)), _set("header.audience", t.carol.did)
    )
    g.add(
        "Alice delivers to Carol, not to Bob",
        ["NEG-008"],
        [*bonded, to_carol_env],
        "WRONG_PARTY",
        "WrongParty",
        twin=[*bonded, to_bob],
    )

    def stamped_claim(*stamp_at: int, claim_first: bool = False) -> list[bytes]:
        """Alice's claim on Bob's item, issued 1 ms after its deadline, stamped at each of ``stamp_at``
        (ms after the deadline; the stamps before the claim unless ``claim_first``), then an UPHOLD a
        response window after the first stamp."""
        t = Trade()
        dl = t.deadline(t.bob)
        t.clock.now_ms = dl + 1
        claim = t.claim(t.alice)
        stamps = [t.stamp(claim, at=dl + at).envelope for at in stamp_at]
        ruled = t.sign(t.ruling(claim, UPHOLD, issued_at_ms=dl + max(stamp_at) + WINDOW))
        evidence = [claim.envelope, *stamps] if claim_first else [*stamps, claim.envelope]
        return [*t.base, *evidence, ruled]

    g.add(
        "the escrow's stamp is dated exactly at the item's deadline: the claim never takes effect (CMT-005: "
        "stamped after the deadline), so a ruling on it names no effective claim",
        ["CMT-005", "WIT-005", "CMT-002"],
        stamped_claim(0, claim_first=True),
        "STALE_REFERENCE",
        "Unwitnessed",
        "Boundary",
        twin=stamped_claim(1, claim_first=True),
    )
    g.add(
        "a stamp past the claim window arrives before the claim: the claim never takes effect",
        ["CMT-005", "WIT-005", "CMT-002"],
        stamped_claim(CLAIM_WINDOW_MS + 1),
        "STALE_REFERENCE",
        "Unwitnessed",
        "Boundary",
        twin=stamped_claim(CLAIM_WINDOW_MS),
    )
    g.add(
        "the claim stamped twice, in the window and after it, both stamps before the claim: the earliest "
        "stamp is its witnessed time (WIT-002), so it takes effect",
        ["WIT-002", "WIT-005", "CMT-005"],
        stamped_claim(1, CLAIM_WINDOW_MS + 1),
    )

    def revoked(forfeit_bond: bool, forfeited: str = "bob") -> list[bytes]:
        """Bob revokes, the escrow stamps it, then forfeits ``forfeited``'s bond citing the revoke."""
        t = Trade(100, 100, revocation=trade_pb2.Revocation(allowed=True, forfeit_bond=forfeit_bond))
        revoke = t.revoke(t.bob)
        witness = t.stamp(revoke)
        party = t.bob if forfeited == "bob" else t.alice
        return [*t.base, *t.locks, revoke.envelope, witness.envelope, t.sign(t.forfeit(party, revoke))]

    g.add(
        "Bob's stamped Revoke under forfeit_bond terms: the escrow forfeits Bob's bond to Alice",
        ["CMT-003", "WIT-005"],
        revoked(True),
    )
    g.add(
        "the escrow forfeits Alice's bond citing Bob's Revoke",
        ["CMT-003"],
        revoked(True, "alice"),
        "BODY_INVALID",
        "ContractRule",
        twin=revoked(True),
    )
    g.add(
        "a forfeit citing Bob's Revoke under terms without forfeit_bond",
        ["CMT-003"],
        revoked(False),
        "BODY_INVALID",
        "ContractRule",
        twin=revoked(True),
    )
    return g


# --- ContractState -----------------------------------------------------------------------------------

KEY: Final = b"gpu-slot-7"


def contract_state() -> Group:
    """Whether a contract is finished (SPEC 8.1), seen through its exclusive key (NEG-009).

    Alice's contract with Bob carries an exclusive key. After the events of each case, Alice offers
    Carol a proposal with the same key and Carol accepts: while the first contract is live the Accept is
    refused (EXCLUSIVE_CONFLICT, its twin the same offer without the key), once it is finished (FULFILLED,
    BREACHED, REVOKED, EXPIRED) it is accepted. So each case pins one transition of SPEC 8.4 that moves a
    contract into an ended state, or must not."""
    g = Group("ContractState", "sparse")

    def case(comment: str, reqs: list[str], t: Trade, events: list[bytes], live: bool) -> None:
        nonce = t.alice.agent.next_nonce()
        probes = []
        for key in (KEY, b""):
            drafted = draft_offer(t.alice, t.carol, t.alice.proposal(exclusive_key=key), nonce=nonce)
            offer_env = seal(t.alice.agent.key, drafted)
            offer_vs = verify_statement(offer_env)
            accept = answer(t.carol, "accept", trade_pb2.Accept(offer=offer_vs.digest), offer_vs)
            probes.append([offer_env, seal(t.carol.agent.key, accept)])
        transcript = [*t.base, *events, *probes[0]]
        if live:
            g.add(
                comment,
                reqs,
                transcript,
                "EXCLUSIVE_CONFLICT",
                "ContractRule",
                twin=[*t.base, *events, *probes[1]],
            )
        else:
            g.add(comment, reqs, transcript)

    def keyed(**terms: Any) -> Trade:
        return Trade(exclusive_key=KEY, **terms)

    t = keyed()
    dl = t.deadline(t.bob)
    t.clock.now_ms = dl + 1
    claim = t.claim(t.alice)
    stamp = t.stamp(claim)
    case(
        "a stamped claim: DISPUTED, the key still held",
        ["NEG-009", "WIT-005"],
        t,
        [claim.envelope, stamp.envelope],
        True,
    )
    t = keyed()
    t.clock.now_ms = t.deadline(t.bob) + 1
    claim = t.claim(t.alice)
    stamp = t.stamp(claim)
    case(
        "the stamp before the claim: DISPUTED on the claim's arrival, the key still held",
        ["NEG-009", "WIT-005"],
        t,
        [stamp.envelope, claim.envelope],
        True,
    )
    for first in ("revoke", "stamp"):
        t = keyed(revocation=trade_pb2.Revocation(allowed=True))
        revoke = t.revoke(t.alice)
        stamp = t.stamp(revoke)
        order = [revoke.envelope, stamp.envelope] if first == "revoke" else [stamp.envelope, revoke.envelope]
        case(
            f"a stamped Revoke ({first} first): REVOKED, the key free",
            ["NEG-009", "WIT-005"],
            t,
            order,
            False,
        )
    t = keyed()
    t.clock.now_ms = t.deadline(t.bob) + 1
    claim = t.claim(t.alice)
    stamp = t.stamp(claim)
    t.clock.now_ms = stamp.header.issued_at_ms + WINDOW
    case(
        "a claim upheld: BREACHED, the key free",
        ["NEG-009", "CMT-002"],
        t,
        [claim.envelope, stamp.envelope, t.sign(t.ruling(claim, UPHOLD))],
        False,
    )

    def dismissed(
        receipts: int, claims: int = 1, rulings: int = 1, last_receipt_after: bool = False
    ) -> tuple[Trade, list[bytes]]:
        """Both deliver on time; Bob's Receipt, and Alice's when ``receipts`` is 2; ``claims`` stamped
        claims (Alice's on Bob's item, then Bob's on Alice's) after the deadline; ``rulings`` of them
        dismissed, citing the delivery; with ``last_receipt_after`` Alice's Receipt comes after the
        rulings."""
        t = keyed()
        da, db = t.deliver(t.alice), t.deliver(t.bob)
        events = [da.envelope, db.envelope]
        rb = t.bob.receipt(da)
        events.append(rb.envelope)
        if receipts == 2 and not last_receipt_after:
            events.append(t.alice.receipt(db).envelope)
        t.clock.now_ms = t.deadline(t.bob) + 1
        made = [t.claim(t.alice), t.claim(t.bob)][:claims]
        stamps = [t.stamp(c) for c in made]
        events += [e for c, s in zip(made, stamps, strict=True) for e in (c.envelope, s.envelope)]
        t.clock.now_ms = stamps[-1].header.issued_at_ms + WINDOW
        for c in made[:rulings]:
            evidence = db.digest if c.issuer == t.alice.did else da.digest
            events.append(t.sign(t.ruling(c, DISMISS, evidence)))
        if last_receipt_after:
            t.clock.advance(1_000)
            events.append(t.alice.receipt(db).envelope)
        return t, events

    t, events = dismissed(receipts=1)
    case(
        "a claim dismissed while an obligation is still unreceipted: PERFORMING, the key still held",
        ["NEG-009", "CMT-002"],
        t,
        events,
        True,
    )
    t, events = dismissed(receipts=2)
    case(
        "a claim dismissed after every obligation was receipted: FULFILLED, the key free",
        ["NEG-009", "CMT-002"],
        t,
        events,
        False,
    )
    t, events = dismissed(receipts=2, last_receipt_after=True)
    case(
        "a claim dismissed, then the last Receipt: FULFILLED, the key free",
        ["NEG-009", "CMT-002"],
        t,
        events,
        False,
    )
    t, events = dismissed(receipts=2, claims=2, rulings=1)
    case(
        "two stamped claims, every obligation receipted, one claim dismissed: still DISPUTED, but every "
        "obligation was receipted, so the contract is finished: the key free (SPEC 8.1)",
        ["NEG-009", "CMT-002"],
        t,
        events,
        False,
    )
    # The same statements in two orders (SPEC 8.1, NEG-015): every obligation receipted, then a stamped
    # claim (FULFILLED, then DISPUTED), or the stamped claim before the last Receipt (DISPUTED throughout).
    # The contract is finished in both: the key is free whichever order a verifier met them in.
    for claim_first in (False, True):
        t = keyed()
        da, db = t.deliver(t.alice), t.deliver(t.bob)
        rb, ra = t.bob.receipt(da), t.alice.receipt(db)
        t.clock.now_ms = t.deadline(t.bob) + 1
        claim = t.claim(t.alice)
        stamp = t.stamp(claim)
        stamped = [claim.envelope, stamp.envelope]
        events = [da.envelope, db.envelope, rb.envelope]
        events += [*stamped, ra.envelope] if claim_first else [ra.envelope, *stamped]
        case(
            "every obligation receipted and a stamped claim, "
            + (
                "the claim and its Stamp before the last Receipt (DISPUTED throughout)"
                if claim_first
                else "the claim and its Stamp after the last Receipt (FULFILLED, then DISPUTED)"
            )
            + ": the contract is finished either way, the key free",
            ["NEG-009", "NEG-015", "WIT-005"],
            t,
            events,
            False,
        )
    t, events = dismissed(receipts=2, claims=2, rulings=2)
    case(
        "two stamped claims, every obligation receipted, both dismissed: FULFILLED, the key free",
        ["NEG-009", "CMT-002"],
        t,
        events,
        False,
    )
    t = keyed()
    da, db = t.deliver(t.alice), t.deliver(t.bob)
    case(
        "both delivered, one Receipt: PERFORMING, the key still held",
        ["NEG-009"],
        t,
        [da.envelope, db.envelope, t.bob.receipt(da).envelope],
        True,
    )
    return g


# --- ExposureRules -----------------------------------------------------------------------------------


def exposure_rules() -> Group:
    """MND-009 and MND-010 (SPEC 4.5) at their boundaries, each pair a cap that holds exactly and one
    unit less (the twin raises the cap): what is live when, what a contract counts and until when,
    which periods a statement charges, and statements that arrive out of their time order."""
    g = Group("ExposureRules", "sparse")

    def pair_at(comment: str, reqs: list[str], build: Any, fits: int, *flags: str) -> None:
        """``build(cap)`` at the cap that just fits (valid), and one less (MANDATE_VIOLATION)."""
        g.add(comment.format(cap=fits), reqs, build(fits), None, "Boundary", *flags)
        g.add(
            comment.format(cap=fits - 1),
            reqs,
            build(fits - 1),
            "MANDATE_VIOLATION",
            "Exposure",
            *flags,
            twin=build(fits),
        )

    def offers(n: int, cap: str, limit: int) -> list[bytes]:
        """Alice's ``n`` live offers of 500 under ``cap`` = ``limit``."""
        _, alice, bob = world(alice={cap: limit})
        return [*alice.setup, *(alice.offer(bob).envelope for _ in range(n))]

    pair_at(
        "three live offers of 500 under max_outstanding {cap}",
        ["MND-010"],
        lambda cap: offers(3, "max_outstanding", cap),
        1500,
    )
    pair_at(
        "three live offers of 500 in one period under budget_per_period {cap}",
        ["MND-009"],
        lambda cap: offers(3, "budget_per_period", cap),
        1500,
    )

    def after_expiry(cap: str, gap: int) -> list[bytes]:
        """Alice's offer of 500, then another ``gap`` ms after the first expires, under ``cap`` = 500."""
        clock, alice, bob = world(alice={cap: 500})
        first = alice.offer(bob)
        clock.now_ms = first.header.expires_at_ms + gap
        return [*alice.setup, first.envelope, alice.offer(bob).envelope]

    for cap, req in (("max_outstanding", "MND-010"), ("budget_per_period", "MND-009")):
        g.add(
            f"an offer 1 ms after Alice's other offer expired: that one no longer counts ({cap} 500)",
            [req],
            after_expiry(cap, 1),
            None,
            "Boundary",
        )
        g.add(
            f"an offer at the very expires_at_ms of Alice's other offer: both count ({cap} 500)",
            [req],
            after_expiry(cap, 0),
            "MANDATE_VIOLATION",
            "Exposure",
            "Boundary",
            twin=after_expiry(cap, 1),
        )

    clock, alice, bob = world(alice={"max_outstanding": 500})
    first = alice.offer(bob)
    countered = bob.counter(first, bob.proposal())
    g.add(
        "Bob counters Alice's offer of 500: it is no longer live, so her next offer of 500 fits "
        "max_outstanding 500",
        ["MND-010"],
        [*ctx(alice, bob), first.envelope, countered.envelope, alice.offer(bob).envelope],
    )

    def bob_counters(cap: int) -> list[bytes]:
        """Bob's Counter gives 450; then Bob offers Carol 500, under Bob's max_outstanding ``cap``."""
        clock, alice, bob = world(bob={"max_outstanding": cap})
        carol = Party("carol", clock)
        first = alice.offer(bob)
        dl = clock.now_ms + DAY_MS
        proposal = bob.proposal(
            gives=[service("copy-editing", value=450, deadline_ms=dl)],
            wants=[service("code-review", value=500, deadline_ms=dl)],
        )
        countered = bob.counter(first, proposal)
        return [*ctx(alice, bob, carol), first.envelope, countered.envelope, bob.offer(carol).envelope]

    pair_at(
        "Bob's live Counter (450) and his offer of 500 under max_outstanding {cap}",
        ["MND-010"],
        bob_counters,
        950,
    )

    def contract_then_offer(cap: int, *, fulfilled: bool = False, at: int | None = None) -> list[bytes]:
        """Alice's contract giving 500 (fulfilled or open), then her offer of 500 (at ``at``), under
        max_outstanding ``cap``."""
        clock, alice, bob = world(alice={"max_outstanding": cap})
        offer = alice.offer(bob)
        accept = bob.accept(offer)
        done: list[bytes] = []
        if fulfilled:
            da, db = alice.deliver(accept, bob), bob.deliver(accept, alice)
            done = [da.envelope, db.envelope, bob.receipt(da).envelope, alice.receipt(db).envelope]
        if at is not None:
            clock.now_ms = at
        return [*ctx(alice, bob), offer.envelope, accept.envelope, *done, alice.offer(bob).envelope]

    g.add(
        "Alice's contract of 500 fulfilled: it no longer counts, so her next offer of 500 fits "
        "max_outstanding 500",
        ["MND-010"],
        contract_then_offer(500, fulfilled=True),
    )
    g.add(
        "Alice's open contract of 500 and her next offer of 500 under max_outstanding 500",
        ["MND-010"],
        contract_then_offer(500),
        "MANDATE_VIOLATION",
        "Exposure",
        twin=contract_then_offer(500, fulfilled=True),
    )
    last = FixedClock().now_ms + DAY_MS + CLAIM_WINDOW_MS  # the default items' deadline + the claim window
    g.add(
        "an open contract stops counting once its last deadline plus the claim window has passed (1 ms "
        "after)",
        ["MND-010"],
        contract_then_offer(500, at=last + 1),
        None,
        "Boundary",
    )
    g.add(
        "an open contract still counts at its last deadline plus the claim window exactly",
        ["MND-010"],
        contract_then_offer(500, at=last),
        "MANDATE_VIOLATION",
        "Exposure",
        "Boundary",
        twin=contract_then_offer(500, at=last + 1),
    )

    def sides(party: str, cap: int) -> list[bytes]:
        """A contract with bonds (Alice gives 500 + 10, Bob 450 + 20), then ``party``'s offer of 500 to
        Carol under that party's max_outstanding ``cap``."""
        clock, alice, bob = world(**{party: {"max_outstanding": cap}})
        carol, escrow = Party("carol", clock), Party("escrow", clock)
        offer = alice.offer(bob, alice.proposal(issuer_bond=10, audience_bond=20, escrow=escrow.did))
        accept = bob.accept(offer)
        by = alice if party == "alice" else bob
        return [*ctx(alice, bob, carol, escrow), offer.envelope, accept.envelope, by.offer(carol).envelope]

    pair_at(
        "Alice's contract counts her side, 500 + her bond 10; with her offer of 500, max_outstanding {cap}",
        ["MND-010", "MND-004"],
        lambda cap: sides("alice", cap),
        1010,
    )
    pair_at(
        "Bob's contract counts his side, 450 + his bond 20; with his offer of 500, max_outstanding {cap}",
        ["MND-010", "MND-004"],
        lambda cap: sides("bob", cap),
        970,
    )

    def accepted_at(cap: int) -> list[bytes]:
        clock, alice, bob = world(bob={"max_per_deal": cap})
        escrow = Party("escrow", clock)
        offer = alice.offer(bob, alice.proposal(issuer_bond=10, audience_bond=20, escrow=escrow.did))
        return [*ctx(alice, bob, escrow), offer.envelope, bob.accept(offer).envelope]

    pair_at(
        "Bob accepts an offer that has him give 450 + his bond 20, under max_per_deal {cap}",
        ["MND-004"],
        accepted_at,
        470,
    )
    _, alice, bob = world(alice={"min_per_deal": 500})
    g.add(
        "an offer of exactly min_per_deal (500)",
        ["MND-004"],
        [*alice.setup, alice.offer(bob).envelope],
        None,
        "Boundary",
    )

    # Budget periods of one day (the mandate's valid_from_ms is a day before the clock's start, so
    # period 2 starts a day after it).
    day = {"period_ms": DAY_MS}
    p2 = FixedClock().now_ms + DAY_MS

    def late_arrival(budget: int, *, span: bool = True, by_counter: bool = False) -> list[bytes]:
        """Alice's offer (or Counter) of 500 issued 30 min before period 2 (living an hour, so in periods
        1 and 2 when ``span``, else 2 hours before and in period 1 only), then her offer of 600 an hour
        into period 2; the verifier receives the second first."""
        clock, alice, bob = world(alice={"budget_per_period": budget, **day})
        clock.now_ms = p2 - 3 * HOUR_MS
        bobs = bob.offer(alice, ttl_ms=3 * HOUR_MS) if by_counter else None
        clock.now_ms = p2 - (30 * 60_000 if span else 2 * HOUR_MS)
        if bobs is not None:
            early = alice.counter(bobs, alice.proposal(), ttl_ms=HOUR_MS)
        else:
            early = alice.offer(bob, ttl_ms=HOUR_MS)
        clock.now_ms = p2 + HOUR_MS
        big = alice.offer(
            bob, alice.proposal(gives=[service("code-review", value=600, deadline_ms=p2 + DAY_MS)])
        )
        context = [*ctx(alice, bob), *([bobs.envelope] if bobs is not None else [])]
        return [*context, big.envelope, early.envelope]

    g.add(
        "an offer over periods 1 and 2 arrives after a later offer of 600 in period 2: the later one "
        "started after it and does not reserve period 2 for it (SPEC 4.5), budget_per_period 600",
        ["MND-009"],
        late_arrival(600),
        None,
        "Boundary",
    )
    g.add(
        "the same with a Counter over periods 1 and 2: budget_per_period 600",
        ["MND-009"],
        late_arrival(600, by_counter=True),
        None,
        "Boundary",
    )
    g.add(
        "an offer within period 1 arrives after an offer of 600 in period 2: it charges period 1 only "
        "(budget_per_period 600)",
        ["MND-009"],
        late_arrival(600, span=False),
        None,
        "Boundary",
    )

    clock, alice, bob = world(bob={"budget_per_period": 900, **day})
    carol = Party("carol", clock)
    clock.now_ms = p2 - HOUR_MS
    offer = alice.offer(bob, ttl_ms=HOUR_MS)
    clock.now_ms = p2 - 30 * 60_000
    accept = bob.accept(offer, ttl_ms=HOUR_MS)
    clock.now_ms = p2 + HOUR_MS
    bobs = bob.offer(carol)
    g.add(
        "Bob's Accept (450) issued in period 1 and living into period 2 arrives after his offer of 500 in "
        "period 2: an Accept charges the period it is issued in only (budget_per_period 900)",
        ["MND-009"],
        [*ctx(alice, bob, carol), offer.envelope, bobs.envelope, accept.envelope],
        None,
        "Boundary",
    )

    def lifetime(body: str, ttl: int) -> list[bytes]:
        """A statement of ``body`` living ``ttl`` under one-day budget periods."""
        _, alice, bob = world(alice=day, bob=day)
        offer = alice.offer(bob, ttl_ms=ttl if body == "offer" else DAY_MS)
        if body == "offer":
            return [*ctx(alice, bob), offer.envelope]
        if body == "accept":
            return [*ctx(alice, bob), offer.envelope, bob.accept(offer, ttl_ms=ttl).envelope]
        return [*ctx(alice, bob), offer.envelope, bob.counter(offer, bob.proposal(), ttl_ms=ttl).envelope]

    g.add(
        "an offer living exactly one budget period (it overlaps two periods)",
        ["MND-013", "MND-009"],
        lifetime("offer", DAY_MS),
        None,
        "Boundary",
    )
    g.add(
        "an Accept living two budget periods (MND-013 bounds Offers and Counters only)",
        ["MND-013"],
        lifetime("accept", 2 * DAY_MS),
        None,
        "Boundary",
    )
    g.add(
        "a Counter living 1 ms longer than a budget period",
        ["MND-013"],
        lifetime("counter", DAY_MS + 1),
        "MANDATE_VIOLATION",
        "Exposure",
        twin=lifetime("counter", DAY_MS),
    )

    def back_in_time(cap: int, order: str) -> list[bytes]:
        """Alice's offers X (500, from 3 h to 1 h before t), Y (500, at 2 h before, living 30 min) and Z
        (100, an hour after t), received in ``order``: Y's check looks back to a time when X was live."""
        clock, alice, bob = world(alice={"max_outstanding": cap})
        t = clock.now_ms + 4 * HOUR_MS
        clock.now_ms = t - 3 * HOUR_MS
        x = alice.offer(bob, ttl_ms=2 * HOUR_MS)
        clock.now_ms = t - 2 * HOUR_MS
        y = alice.offer(bob, ttl_ms=HOUR_MS // 2)
        clock.now_ms = t + HOUR_MS
        z = alice.offer(
            bob, alice.proposal(gives=[service("code-review", value=100, deadline_ms=t + DAY_MS)])
        )
        signed = {"x": x, "y": y, "z": z}
        return [*alice.setup, *(signed[k].envelope for k in order)]

    pair_at(
        "offers received out of time order (X, then Z, then Y issued between them): at Y's time X is live "
        "again and Z, issued after Y, does not count (SPEC 4.5), 1000 outstanding, max_outstanding {cap}",
        ["MND-010"],
        lambda cap: back_in_time(cap, "xzy"),
        1000,
    )
    g.add(
        "the same offers received Z, X, Y (X arrives already expired at the last check's time)",
        ["MND-010"],
        back_in_time(1100, "zxy"),
        None,
        "Boundary",
    )

    def budget_with_contract(budget: int) -> list[bytes]:
        """Alice's contract of 500 formed today, then her offer of 500, budget ``budget`` a day."""
        _, alice, bob = world(alice={"budget_per_period": budget, **day})
        offer = alice.offer(bob)
        accept = bob.accept(offer)
        return [*ctx(alice, bob), offer.envelope, accept.envelope, alice.offer(bob).envelope]

    pair_at(
        "a contract of 500 formed in the period and an offer of 500 under budget_per_period {cap}",
        ["MND-009"],
        budget_with_contract,
        1000,
    )

    def free_deals() -> list[bytes]:
        clock, alice, bob = world(alice={"budget_per_period": 0, "period_ms": 0})
        nothing = alice.proposal(gives=[service("code-review", value=0, deadline_ms=clock.now_ms + DAY_MS)])
        offer = alice.offer(bob, nothing)
        accept = bob.accept(offer)
        return [*ctx(alice, bob), offer.envelope, accept.envelope, alice.offer(bob, nothing).envelope]

    g.add(
        "a mandate without budget periods (budget 0, period 0): contracts and offers of value 0",
        ["MND-009", "MND-010"],
        free_deals(),
        None,
        "Boundary",
    )

    def revoked_or_claimed(cap: int, *, claim: bool) -> list[bytes]:
        """Alice's contract of 500 (revocable, with an escrow) ends by a stamped Revoke, or is disputed by a
        stamped claim; then her offer of 500 under max_outstanding ``cap``."""
        clock, alice, bob = world(alice={"max_outstanding": cap})
        escrow = Party("escrow", clock)
        terms = alice.proposal(escrow=escrow.did, revocation=trade_pb2.Revocation(allowed=True))
        offer = alice.offer(bob, terms)
        accept = bob.accept(offer)
        nid = offer.header.negotiation_id
        if claim:
            clock.now_ms = offer.statement.offer.wants[0].deadline_ms + 1
            msg = commitment_pb2.BreachClaim(contract=accept.digest, item_index=0, reason="late")
            act = alice.sign("breach_claim", msg, audience=bob.did, negotiation_id=nid)
        else:
            act = alice.revoke(accept, bob, "changed plans")
        stamp = escrow.sign("stamp", commitment_pb2.Stamp(statements=[act.digest]))
        return [
            *ctx(alice, bob, escrow),
            offer.envelope,
            accept.envelope,
            act.envelope,
            stamp.envelope,
            alice.offer(bob).envelope,
        ]

    g.add(
        "a stamped Revoke ends Alice's contract of 500: her next offer of 500 fits max_outstanding 500",
        ["MND-010", "WIT-005"],
        revoked_or_claimed(500, claim=False),
    )

    def fulfilled_and_claimed(cap: int, *, claim_first: bool) -> list[bytes]:
        """Alice's contract of 500 (with an escrow): both deliver and receipt, and Alice's claim on Bob's
        item is stamped -- before the last Receipt (``claim_first``: DISPUTED throughout) or after it
        (FULFILLED, then DISPUTED); then her offer of 500 under max_outstanding ``cap``."""
        clock, alice, bob = world(alice={"max_outstanding": cap})
        escrow = Party("escrow", clock)
        offer = alice.offer(bob, alice.proposal(escrow=escrow.did))
        accept = bob.accept(offer)
        da, db = alice.deliver(accept, bob), bob.deliver(accept, alice)
        rb, ra = bob.receipt(da), alice.receipt(db)
        clock.now_ms = offer.statement.offer.wants[0].deadline_ms + 1
        msg = commitment_pb2.BreachClaim(contract=accept.digest, item_index=0, reason="late")
        act = alice.sign("breach_claim", msg, audience=bob.did, negotiation_id=offer.header.negotiation_id)
        stamp = escrow.sign("stamp", commitment_pb2.Stamp(statements=[act.digest]))
        stamped = [act.envelope, stamp.envelope]
        return [
            *ctx(alice, bob, escrow),
            offer.envelope,
            accept.envelope,
            da.envelope,
            db.envelope,
            rb.envelope,
            *([*stamped, ra.envelope] if claim_first else [ra.envelope, *stamped]),
            alice.offer(bob).envelope,
        ]

    for claim_first in (False, True):
        g.add(
            "Alice's contract of 500, every obligation receipted and a stamped claim on it, "
            + ("the claim before the last Receipt" if claim_first else "the claim after the last Receipt")
            + ": the contract is finished (SPEC 4.5: the same statements in either order), so her next offer "
            "of 500 fits max_outstanding 500",
            ["MND-010", "NEG-015", "WIT-005"],
            fulfilled_and_claimed(500, claim_first=claim_first),
            None,
            "Boundary",
        )
    pair_at(
        "a stamped claim does not end Alice's contract of 500 (DISPUTED): with her next offer of 500, "
        "max_outstanding {cap}",
        ["MND-010", "WIT-005"],
        lambda cap: revoked_or_claimed(cap, claim=True),
        1000,
    )

    clock, alice, bob = world(alice={"max_outstanding": 1000})
    first = alice.offer(bob)
    clock.now_ms = first.header.expires_at_ms
    second = alice.offer(bob)
    withdrawn = alice.withdraw(first)
    g.add(
        "an offer withdrawn at its very expires_at_ms stops counting: two more offers of 500 fit "
        "max_outstanding 1000",
        ["MND-010"],
        [*ctx(alice, bob), first.envelope, second.envelope, withdrawn.envelope, alice.offer(bob).envelope],
        None,
        "Boundary",
    )

    clock, alice, bob = world(alice={"max_outstanding": 501})
    lasting = alice.offer(bob, ttl_ms=HOUR_MS)
    small = alice.proposal(gives=[service("code-review", value=1, deadline_ms=clock.now_ms + DAY_MS)])
    churn: list[bytes] = []
    for _ in range(40):
        clock.advance(1_000)
        o = alice.offer(bob, small)
        churn += [o.envelope, alice.withdraw(o).envelope]
    clock.now_ms = lasting.header.expires_at_ms + 1
    g.add(
        "40 offers made and withdrawn while a long offer is live (the book drops their dead entries), then "
        "an offer of 500 after the long one expired: it fits max_outstanding 501",
        ["MND-010"],
        [*ctx(alice, bob), lasting.envelope, *churn, alice.offer(bob).envelope],
    )
    return g


# --- Bookkeeping -------------------------------------------------------------------------------------


def bookkeeping() -> Group:
    """Cases the second full mutation run found unpinned (conformance/vectors/README.md, "Mutation
    testing"): the Merkle range past three leaves, a Forfeit counting as the bond's settlement, MND-013
    for an Offer, budget periods counted from the mandate's valid_from_ms, and the exposure book's
    sweep moving back to exactly an offer's expiry."""
    g = Group("Bookkeeping", "sparse")

    # CHN-007 over seven statements: the tree of 7 leaves is three perfect subtrees (4 + 2 + 1), so the
    # root folds three peaks, and appending the 4th and the 7th leaf carries twice.
    clock, alice, bob = world(alice=ROOMY)
    offers = []
    for _ in range(7):
        offers.append(alice.offer(bob))
        clock.advance(1_000)
    digests = [o.digest for o in offers]
    log = [*alice.setup, *(o.envelope for o in offers)]
    right = agent_draft(alice, "checkpoint", identity_pb2.Checkpoint(log_root=merkle_root(digests)))
    g.add(
        "seq 0..6 held, then a Checkpoint at seq 7 over them (a tree of three subtrees: 4 + 2 + 1)",
        ["CHN-007"],
        [*log, seal(alice.agent.key, right)],
        None,
        "LogRoot",
    )
    six = agent_draft(alice, "checkpoint", identity_pb2.Checkpoint(log_root=merkle_root(digests[:6])))
    six = edited(edited(six, _set("header.seq", 6)), _set("header.prev", digests[5]))
    g.add(
        "seq 0..5 held, then a Checkpoint at seq 6 over them (two subtrees: 4 + 2)",
        ["CHN-007"],
        [*log[:-1], seal(alice.agent.key, six)],
        None,
        "LogRoot",
    )
    g.add(
        "seq 0..6 held, then a Checkpoint at seq 7 whose log_root covers seq 0..5 only",
        ["CHN-007"],
        [*log, seal(alice.agent.key, edited(right, _set("checkpoint.log_root", merkle_root(digests[:6]))))],
        "LOG_ROOT_MISMATCH",
        "LogRoot",
        twin=[*log, seal(alice.agent.key, right)],
    )

    # NEG-012: a Forfeit settles the bond it takes, so a Release of the same bond after it settles twice.
    t = Trade(100, 100, revocation=trade_pb2.Revocation(allowed=True, forfeit_bond=True))
    revoke = t.revoke(t.bob)
    witness = t.stamp(revoke)
    forfeited = chain_sign(t.escrow.agent, t.forfeit(t.bob, revoke))
    g.add(
        "the escrow forfeits Bob's bond (his stamped Revoke), then releases the same bond to him",
        ["NEG-012"],
        [
            *t.base,
            *t.locks,
            revoke.envelope,
            witness.envelope,
            forfeited.envelope,
            seal(t.escrow.agent.key, t.money("release", t.bob)),
        ],
        "BODY_INVALID",
        "ContractRule",
        no_twin="the defect is settling the bond a second time: without the Forfeit the Release is valid",
    )
    # The other order: a Forfeit of a bond the escrow released is taken and prevails (an escrow at fault
    # signed both; views holding both agree whichever came first, as an UPHOLD over a DISMISS).
    t = Trade(100, 100, revocation=trade_pb2.Revocation(allowed=True, forfeit_bond=True))
    revoke = t.revoke(t.bob)
    witness = t.stamp(revoke)
    released_bob = chain_sign(t.escrow.agent, t.money("release", t.bob))
    g.add(
        "the escrow releases Bob's bond, then forfeits it for his stamped Revoke (its fault: the audit's "
        "DOUBLE_SETTLEMENT): the Forfeit is taken and prevails",
        ["NEG-012", "NEG-015"],
        [
            *t.base,
            *t.locks,
            revoke.envelope,
            witness.envelope,
            released_bob.envelope,
            seal(t.escrow.agent.key, t.forfeit(t.bob, revoke)),
        ],
    )

    # MND-013 for an Offer (the ExposureRules group has the Counter and the Accept).
    def offer_living(ttl: int) -> list[bytes]:
        _, alice, bob = world(alice={"period_ms": DAY_MS})
        return [*alice.setup, alice.offer(bob, ttl_ms=ttl).envelope]

    g.add(
        "an Offer living 1 ms longer than a budget period",
        ["MND-013"],
        offer_living(DAY_MS + 1),
        "MANDATE_VIOLATION",
        "Exposure",
        "Boundary",
        twin=offer_living(DAY_MS),
    )

    # MND-009: periods are counted from the mandate's valid_from_ms, which here is 8 hours past a
    # multiple of the period (every other vector's mandate starts on the clock's day grid). Two live
    # offers always share a period (an offer charges every period it overlaps), so the boundary shows
    # through a contract, which charges the period it is formed in, open or ended.
    def off_grid(second_at: int, second_ttl: int) -> list[bytes]:
        """Alice's mandate (budget 500 a day, periods starting at 08:00): her offer of 500 at 05:00,
        accepted at 06:00, then her next offer of 500 at ``second_at`` for ``second_ttl`` ms."""
        clock = FixedClock()
        start = clock.now_ms
        caps = {"budget_per_period": 500, "period_ms": DAY_MS, "valid_from_ms": start - DAY_MS + 8 * HOUR_MS}
        alice, bob = Party("alice", clock, caps), Party("bob", clock)
        clock.now_ms = start + 5 * HOUR_MS
        first = alice.offer(bob, ttl_ms=2 * HOUR_MS)
        clock.now_ms = start + 6 * HOUR_MS
        accept = bob.accept(first)
        clock.now_ms = start + second_at
        second = alice.offer(bob, ttl_ms=second_ttl)
        return [*ctx(alice, bob), first.envelope, accept.envelope, second.envelope]

    g.add(
        "a mandate whose budget periods start at 08:00: Alice's contract of 500 formed at 06:00 and her "
        "offer of 500 at 09:00 fall in two periods (budget_per_period 500)",
        ["MND-009"],
        off_grid(9 * HOUR_MS, HOUR_MS),
        None,
        "Boundary",
    )
    g.add(
        "a mandate whose budget periods start at 08:00: Alice's contract of 500 formed at 06:00 and her "
        "offer of 500 at 07:00 fall in one period (budget_per_period 500)",
        ["MND-009"],
        off_grid(7 * HOUR_MS, HOUR_MS // 2),
        "MANDATE_VIOLATION",
        "Exposure",
        "Boundary",
        twin=off_grid(9 * HOUR_MS, HOUR_MS),
    )

    g.add(
        "a mandate whose budget periods start at 08:00: Alice's contract of 500 formed at 06:00 and her "
        "offer of 500 issued at 08:00 exactly, the next period's start (budget_per_period 500)",
        ["MND-009"],
        off_grid(8 * HOUR_MS, HOUR_MS),
        None,
        "Boundary",
    )
    g.add(
        "the same offer issued 1 ms before 08:00 and living 1 ms: it overlaps the period of the contract "
        "(budget_per_period 500)",
        ["MND-009"],
        off_grid(8 * HOUR_MS - 1, 1),
        "MANDATE_VIOLATION",
        "Exposure",
        "Boundary",
        twin=off_grid(8 * HOUR_MS, HOUR_MS),
    )

    # MND-010 out of time order, at the boundary: Y is issued at the very expires_at_ms of X, after the
    # verifier checked Z (later than both), so X has to count again at Y's time (live until expiry).
    def back_to_expiry(cap: int) -> list[bytes]:
        """Alice's X (500, 3 h before t, living 2 h), Z (100, an hour after t) and Y (500, at X's expiry),
        received X, Z, Y under max_outstanding ``cap``."""
        clock, alice, bob = world(alice={"max_outstanding": cap})
        t = clock.now_ms + 4 * HOUR_MS
        clock.now_ms = t - 3 * HOUR_MS
        x = alice.offer(bob, ttl_ms=2 * HOUR_MS)
        clock.now_ms = x.header.expires_at_ms
        y = alice.offer(bob, ttl_ms=HOUR_MS // 2)
        clock.now_ms = t + HOUR_MS
        z = alice.offer(
            bob, alice.proposal(gives=[service("code-review", value=100, deadline_ms=t + DAY_MS)])
        )
        return [*alice.setup, x.envelope, z.envelope, y.envelope]

    g.add(
        "offers received X, Z, Y where Y is issued at the very expires_at_ms of X: X counts at Y's time "
        "(Z, issued after Y, does not), 1000 outstanding, max_outstanding 1000",
        ["MND-010"],
        back_to_expiry(1000),
        None,
        "Boundary",
    )
    g.add(
        "offers received X, Z, Y where Y is issued at the very expires_at_ms of X: X counts at Y's time "
        "(Z, issued after Y, does not), 1000 outstanding, max_outstanding 999",
        ["MND-010"],
        back_to_expiry(999),
        "MANDATE_VIOLATION",
        "Exposure",
        "Boundary",
        twin=back_to_expiry(1000),
    )

    # MND-010: a contract formed after its last deadline plus the claim window counts nothing, even
    # though the book's sweep has already passed the time it stops counting at.
    clock = FixedClock()
    start = clock.now_ms
    early = {"valid_from_ms": start - 3 * DAY_MS}
    alice, bob = Party("alice", clock, {**early, "max_outstanding": 1000}), Party("bob", clock, early)
    stale = alice.proposal(
        gives=[service("code-review", value=500, deadline_ms=start - 2 * DAY_MS)],
        wants=[service("code-review", value=1, deadline_ms=start - 2 * DAY_MS)],
    )
    offer = alice.offer(bob, stale)
    other = alice.offer(bob)
    accept = bob.accept(offer)
    g.add(
        "Alice makes two offers of 500 and Bob accepts the first, whose deadlines were two days ago: the "
        "contract's claim window closed a day before it formed, so it never counts, and her third offer of "
        "500 fits max_outstanding 1000 beside the second",
        ["MND-010"],
        [*ctx(alice, bob), offer.envelope, other.envelope, accept.envelope, alice.offer(bob).envelope],
        None,
        "Boundary",
    )

    # BDY-009 for an Attestation's rating (0..100), at its limit.
    _, alice, bob = world()
    offer = alice.offer(bob)
    accept = bob.accept(offer)
    contract = [*ctx(alice, bob), offer.envelope, accept.envelope]

    def rated(rating: int) -> bytes:
        return seal(alice.agent.key, attestation_draft(alice, bob, offer, accept, rating=rating))

    g.add("an Attestation rating of 100 (the most BDY-009 allows)", ["BDY-009"], [*contract, rated(100)])
    g.add(
        "an Attestation rating of 101",
        ["BDY-009"],
        [*contract, rated(101)],
        "BODY_INVALID",
        "Boundary",
        twin=[*contract, rated(100)],
    )
    return g


def accumulation() -> Group:
    """Cases the third mutation run found unpinned (conformance/vectors/README.md, "Mutation testing"):
    every earlier vector had one Checkpoint per chain, one item per side and no allowed category list
    that an offer passed, so a verifier that re-hashed the log from seq 0 at each Checkpoint, took a
    side's last item for its value, or refused every item under a category list passed them all."""
    g = Group("Accumulation", "sparse")

    # CHN-007 twice in one chain: the second Checkpoint's root covers seq 0..5, the first one included.
    clock, alice, bob = world(alice=ROOMY)
    log = [*alice.setup]
    digests: list[bytes] = []

    def offered(n: int) -> None:
        for _ in range(n):
            o = alice.offer(bob)
            log.append(o.envelope)
            digests.append(o.digest)
            clock.advance(1_000)

    offered(3)
    first = alice.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root(digests)))
    log.append(first.envelope)
    digests.append(first.digest)
    offered(2)
    second = agent_draft(alice, "checkpoint", identity_pb2.Checkpoint(log_root=merkle_root(digests)))
    g.add(
        "Checkpoints at seq 3 (over seq 0..2) and seq 6 (over seq 0..5, the first Checkpoint among them)",
        ["CHN-007"],
        [*log, seal(alice.agent.key, second)],
        None,
        "LogRoot",
    )
    g.add(
        "Checkpoints at seq 3 (over seq 0..2) and seq 6 whose log_root covers only seq 3..5, the "
        "statements since the first",
        ["CHN-007"],
        [*log, seal(alice.agent.key, edited(second, _set("checkpoint.log_root", merkle_root(digests[3:]))))],
        "LOG_ROOT_MISMATCH",
        "LogRoot",
        twin=[*log, seal(alice.agent.key, second)],
    )

    # MND-004: a side's value is the sum of its items (plus its bond), never one item's value.
    def offering(max_per_deal: int) -> list[bytes]:
        """Alice offers two items of 300 under max_per_deal ``max_per_deal``."""
        clock, alice, bob = world(alice={"max_per_deal": max_per_deal})
        deadline = clock.now_ms + DAY_MS
        gives = [service("code-review", value=300, deadline_ms=deadline) for _ in range(2)]
        return [*alice.setup, alice.offer(bob, alice.proposal(gives=gives)).envelope]

    g.add("Alice gives two items of 300 under max_per_deal 600", ["MND-004"], offering(600), None, "Boundary")
    g.add(
        "Alice gives two items of 300 under max_per_deal 599",
        ["MND-004"],
        offering(599),
        "MANDATE_VIOLATION",
        "MandateViolation",
        "Boundary",
        twin=offering(600),
    )

    def accepting(max_per_deal: int) -> list[bytes]:
        """Bob accepts Alice's offer that wants 200 and 250 of him, under his max_per_deal."""
        clock, alice, bob = world(bob={"max_per_deal": max_per_deal})
        deadline = clock.now_ms + DAY_MS
        wants = [service("copy-editing", value=v, deadline_ms=deadline) for v in (200, 250)]
        offer = alice.offer(bob, alice.proposal(wants=wants))
        return [*ctx(alice, bob), offer.envelope, bob.accept(offer).envelope]

    g.add(
        "Bob accepts an offer wanting 200 and 250 of him under max_per_deal 450",
        ["MND-004"],
        accepting(450),
        None,
        "Boundary",
    )
    g.add(
        "Bob accepts an offer wanting 200 and 250 of him under max_per_deal 449",
        ["MND-004"],
        accepting(449),
        "MANDATE_VIOLATION",
        "MandateViolation",
        "Boundary",
        twin=accepting(450),
    )

    # MND-006: every item of both sides is checked against the list, and an offer whose every
    # category is listed passes.
    def categories(allowed: list[str], gives: list[str], wants: list[str]) -> list[bytes]:
        clock, alice, bob = world(alice={"allowed_categories": allowed})
        deadline = clock.now_ms + DAY_MS
        proposal = alice.proposal(
            gives=[service(c, value=250, deadline_ms=deadline) for c in gives],
            wants=[service(c, value=225, deadline_ms=deadline) for c in wants],
        )
        return [*alice.setup, alice.offer(bob, proposal).envelope]

    listed = ["code-review", "copy-editing", "translation"]
    g.add(
        "an offer whose every item's category is one the mandate allows",
        ["MND-006"],
        categories(listed, ["code-review", "translation"], ["copy-editing", "translation"]),
    )
    g.add(
        "an offer whose second given item's category is not one the mandate allows",
        ["MND-006"],
        categories(listed[:2], ["code-review", "translation"], ["copy-editing"]),
        "MANDATE_VIOLATION",
        "MandateViolation",
        twin=categories(listed, ["code-review", "translation"], ["copy-editing"]),
    )
    g.add(
        "an offer whose second wanted item's category is not one the mandate allows",
        ["MND-006"],
        categories(listed[:2], ["code-review"], ["copy-editing", "translation"]),
        "MANDATE_VIOLATION",
        "MandateViolation",
        twin=categories(listed, ["code-review"], ["copy-editing", "translation"]),
    )
    return g


def seq_zero() -> Group:
    """CHN-005 at seq 0 (the third mutation run): no statement lies below it, but one may lie above,
    received first in a sparse view; every earlier vector held seq 0 before anything above it."""
    g = Group("SeqZero", "sparse")

    def late_first(gap_ms: int) -> list[bytes]:
        """Alice's seq 0 issued ``gap_ms`` after her seq 1 (which links to it), seq 1 received first."""
        clock, alice, bob = world()
        t = clock.now_ms
        clock.now_ms = t + 1_000
        zero = alice.offer(bob)
        one = edited(draft_offer(alice, bob), retimed(t + 1_000 - gap_ms))
        return [*alice.setup, seal(alice.agent.key, one), zero.envelope]

    g.add(
        "seq 1 received, then seq 0, issued 1 ms after seq 1",
        ["CHN-005"],
        late_first(1),
        "CHAIN_BROKEN",
        "ChainBroken",
        "Boundary",
        twin=late_first(0),
    )
    g.add(
        "seq 1 received, then seq 0, issued at the same millisecond as seq 1",
        ["CHN-005"],
        late_first(0),
        None,
        "Boundary",
    )
    return g


# --- ClaimBoundaries ---------------------------------------------------------------------------------


def claim_boundaries() -> Group:
    """A BreachClaim at the boundaries of CMT-009 and CMT-011, each inclusive: a bond locked by a BondLock
    issued *at* the claimed item's deadline_ms counts, and an Accept issued *at* it leaves the item
    claimable. The other vectors lock every bond long before any deadline, or never, and refuse only an
    Accept dated after the deadline: a verifier that took either boundary as exclusive failed none."""
    g = Group("ClaimBoundaries", "sparse")
    t = FixedClock().now_ms
    due = t + 5_000  # before the bonding cutoff (the offer's expires_at_ms + 30 s): a lock after it counts
    d = Deal(
        locked=False,
        gives=[service("code-review", value=100, deadline_ms=due)],
        wants=[service("copy-editing", value=100, deadline_ms=due)],
    )
    alice_lock = d.escrow_says("bond_lock", d.alice).envelope
    late, at_deadline = pair(d.escrow, edited(d.money("bond_lock", d.bob), retimed(due)), retimed(due + 1))
    d.clock.now_ms = due + 1_000
    claim = d.claim(d.alice).envelope  # on Bob's item 0, due at ``due``
    g.add(
        "the escrow locks Bob's bond 1 ms after the item Alice claims on fell due: the claim is refused",
        ["CMT-009"],
        [*d.base, alice_lock, late, claim],
        "ILLEGAL_TRANSITION",
        "IllegalTransition",
        "Boundary",
        twin=[*d.base, alice_lock, at_deadline, claim],
    )
    g.add(
        "the escrow locks Bob's bond at the very deadline of the item Alice claims on: the claim is held",
        ["CMT-009"],
        [*d.base, alice_lock, at_deadline, claim],
        None,
        "Boundary",
    )
    g.add(
        "Bob's Accept is dated at the very deadline of his item (ahead of the clock, within the skew), "
        "both bonds locked at once: Alice's claim on it after the deadline is held",
        ["CMT-011"],
        accepted_at(0),
        None,
        "Boundary",
    )
    return g


def side_at_the_cap() -> Group:
    """MND-010 and MND-009 for an Accept at the cap: Bob accepts Alice's offer wanting two items of his (300
    and 150), which commits him 450 -- held under Bob's max_outstanding or budget_per_period 450, refused at
    449. Every other cap vector filled the cap with offers, so a verifier that miscounted the acceptor's side
    (an item left out, a sum not starting at zero) failed none. Then an offer's own side with unequal bonds:
    Alice gives 500 bonding 100, Bob bonds nothing -- 600 at stake for her, held under max_outstanding 600,
    refused at 599 (a verifier that took the audience's bond for hers passed every equal-bonded vector)."""
    g = Group("SideAtTheCap", "sparse")

    def accepted(cap: str, limit: int) -> list[bytes]:
        clock, alice, bob = world(bob={cap: limit})
        due = clock.now_ms + DAY_MS
        wants = [
            service("copy-editing", value=300, deadline_ms=due),
            service("proofreading", value=150, deadline_ms=due),
        ]
        offer = alice.offer(bob, alice.proposal(wants=wants))
        return [*ctx(alice, bob), offer.envelope, bob.accept(offer).envelope]

    for cap, req in (("max_outstanding", "MND-010"), ("budget_per_period", "MND-009")):
        g.add(
            f"Bob accepts wanting 300 + 150 of him under his {cap} 450: held",
            [req],
            accepted(cap, 450),
            None,
            "Boundary",
        )
        g.add(
            f"the same under his {cap} 449: refused",
            [req],
            accepted(cap, 449),
            "MANDATE_VIOLATION",
            "Exposure",
            "Boundary",
            twin=accepted(cap, 450),
        )

    def bonded(limit: int) -> list[bytes]:
        clock, alice, bob = world(alice={"max_outstanding": limit})
        esc = Party("escrow", clock)
        offer = alice.offer(bob, alice.proposal(issuer_bond=100, escrow=esc.did))
        return [*ctx(alice, bob, esc), offer.envelope]

    g.add(
        "Alice offers 500 bonding 100 (Bob's bond 0) under her max_outstanding 600: held",
        ["MND-010"],
        bonded(600),
        None,
        "Boundary",
    )
    g.add(
        "the same under her max_outstanding 599: refused (her bond is at stake, Bob's is not hers)",
        ["MND-010"],
        bonded(599),
        "MANDATE_VIOLATION",
        "Exposure",
        "Boundary",
        twin=bonded(600),
    )
    return g


def start_in_one_ms() -> Group:
    """SPEC 4.5 (MND-010, MND-009): an offer counts for a statement only if it started before it, by
    ``(issued_at_ms, seq)``. Alice signs two offers of 500 in one millisecond, seqs 0 and 1, under
    max_outstanding 500: held in the other order, the second does not count for the first (it started after
    it, one seq higher); in chain order the first counts for the second. The dated-start vectors before all
    had their statements in different milliseconds, so a verifier that put a statement's place one seq too
    late passed them. Then an offer answered in the millisecond it started: Alice's offer to Carol (400), a
    second later her offer to Carol of 600 (seq 1) and to Bob of 500 (seq 2) in one ms, which Bob rejects in
    that ms; held in the order 400, 500, Bob's Reject, 600, the 500 counts nowhere for the 600 (it started
    after it), so 400 + 600 is refused under max_outstanding 999 and held under 1,000 -- a verifier that dated
    the answered offer by its answer alone (which here is before its start) took 500 off for it. Last, the
    two offers of 500 under budget_per_period 500 (MND-009 dates starts alike)."""
    g = Group("StartInOneMs", "sparse")

    def two_offers(limit: int, *, reverse: bool, cap: str = "max_outstanding") -> list[bytes]:
        _, alice, bob = world(alice={cap: limit})
        first, second = alice.offer(bob), alice.offer(bob)  # the clock does not move: one millisecond
        assert first.issued_at_ms == second.issued_at_ms and second.seq == first.seq + 1
        offers = [second, first] if reverse else [first, second]
        return [*ctx(alice, bob), *(o.envelope for o in offers)]

    g.add(
        "Alice's two offers of 500 in one ms, the second (seq 1) held first: it started after the first "
        "(seq 0), so the first fits max_outstanding 500 -- held",
        ["MND-010"],
        two_offers(500, reverse=True),
        None,
        "Boundary",
    )
    g.add(
        "the same in chain order: the first counts for the second -- refused",
        ["MND-010"],
        two_offers(500, reverse=False),
        "MANDATE_VIOLATION",
        "Exposure",
        twin=two_offers(1_000, reverse=False),
    )

    def answered_in_its_ms(limit: int) -> list[bytes]:
        clock, alice, bob = world(alice={"max_outstanding": limit})
        carol = Party("carol", clock)
        due = clock.now_ms + DAY_MS

        def giving(to: Party, value: int) -> VerifiedStatement:
            return alice.offer(
                to, alice.proposal(gives=[service("translation", value=value, deadline_ms=due)])
            )

        first = giving(carol, 400)
        clock.advance(1_000)
        before, started = giving(carol, 600), giving(bob, 500)  # seqs 1 and 2, one ms
        rejected = bob.reject(started)
        held = [first, started, rejected, before]
        return [*ctx(alice, bob, carol), *(vs.envelope for vs in held)]

    g.add(
        "Alice's 400, then in one ms her 600 (seq 1) and 500 (seq 2), the 500 rejected by Bob in that ms; "
        "held 400, 500, Reject, 600 under max_outstanding 999: the 500 started after the 600 -- refused "
        "(400 + 600)",
        ["MND-010"],
        answered_in_its_ms(999),
        "MANDATE_VIOLATION",
        "Exposure",
        "Boundary",
        twin=answered_in_its_ms(1_000),
    )
    g.add(
        "the same under max_outstanding 1,000 -- held",
        ["MND-010"],
        answered_in_its_ms(1_000),
        None,
        "Boundary",
    )
    g.add(
        "the two offers of 500 in one ms, the second held first, under budget_per_period 500: held (MND-009 "
        "dates starts as MND-010 does)",
        ["MND-009"],
        two_offers(500, reverse=True, cap="budget_per_period"),
        None,
        "Boundary",
    )
    g.add(
        "the same in chain order under budget_per_period 500 -- refused",
        ["MND-009"],
        two_offers(500, reverse=False, cap="budget_per_period"),
        "MANDATE_VIOLATION",
        "Exposure",
        twin=two_offers(1_000, reverse=False, cap="budget_per_period"),
    )
    return g


def places_in_one_ms() -> Group:
    """SPEC 4.5's places where an offer's answer, an Accept or a displacement ends what counts, within one
    millisecond and across a witnessed Accept (MND-010, NEG-019, MND-022): an answer or an Accept dates
    the offer's end at its own place -- its seq when the offer's agent signed it, else before every seq of
    its ms -- and a witnessed Accept dates the end of the contract it displaces and of each offer it cuts
    off the line likewise. The twenty-ninth session's run of the verifier's exposure bookkeeping
    (Verifier._track_exposure) found each of these places unpinned: every dated end before was in
    another ms than the statement checked, or by the agent itself, or already dated as early by an answer
    held."""
    g = Group("PlacesInOneMs", "sparse")
    gap = 1_000

    def giving(party: Party, to: Party, value: int) -> VerifiedStatement:
        due = party.clock.now_ms + DAY_MS
        return party.offer(to, party.proposal(gives=[service("code-review", value=value, deadline_ms=due)]))

    def accepted_in_its_ms() -> list[bytes]:
        clock, alice, bob = world(alice={"max_outstanding": 1_000})
        carol, dave = Party("carol", clock), Party("dave", clock)
        offer = alice.offer(bob)
        bobs = [bob.offer(dave), bob.offer(dave)]  # his Accept at seq 2, above her next offer's seq 1
        clock.advance(gap)
        nxt = giving(alice, carol, 400)
        accept = bob.accept(offer)
        assert accept.seq > nxt.seq and accept.issued_at_ms == nxt.issued_at_ms
        return [
            *ctx(alice, bob, carol, dave),
            offer.envelope,
            *(b.envelope for b in bobs),
            accept.envelope,
            nxt.envelope,
        ]

    g.add(
        "Bob accepts Alice's offer of 500 at his seq 2 in the ms of her offer of 400 to Carol (her seq 1), "
        "under max_outstanding 1,000: his Accept, another key's statement of that ms, is before her offer, "
        "so the contract counts for it and the accepted offer no more (500 + 400) -- held",
        ["MND-010"],
        accepted_in_its_ms(),
        None,
        "Boundary",
    )

    def rejected_in_its_ms() -> list[bytes]:
        clock, alice, bob = world(alice={"max_outstanding": 500})
        carol, dave = Party("carol", clock), Party("dave", clock)
        offer = alice.offer(bob)
        bobs = [bob.offer(dave), bob.offer(dave)]
        clock.advance(gap)
        nxt = alice.offer(carol)
        reject = bob.reject(offer, "no")
        assert reject.seq > nxt.seq and reject.issued_at_ms == nxt.issued_at_ms
        return [
            *ctx(alice, bob, carol, dave),
            offer.envelope,
            *(b.envelope for b in bobs),
            reject.envelope,
            nxt.envelope,
        ]

    g.add(
        "Bob rejects Alice's offer of 500 at his seq 2 in the ms of her next offer of 500 (her seq 1), "
        "under max_outstanding 500: another key's answer of that ms is before her offer, whatever its seq "
        "-- held",
        ["MND-010"],
        rejected_in_its_ms(),
        None,
        "Boundary",
    )

    def withdrawn_late(above: bool) -> list[bytes]:
        clock, alice, bob = world(alice={"max_outstanding": 500})
        carol, escrow = Party("carol", clock), Party("escrow", clock)
        offer = alice.offer(bob, alice.proposal(escrow=escrow.did))
        clock.advance(gap)
        if above:
            nxt, withdraw = alice.offer(carol), alice.withdraw(offer)
        else:
            withdraw, nxt = alice.withdraw(offer), alice.offer(carol)
        clock.advance(gap)
        witnessed = bob.accept(offer)
        shown = [stamp(escrow, witnessed).envelope, witnessed.envelope, withdraw.envelope]
        return [*ctx(alice, bob, carol, escrow), offer.envelope, *shown, nxt.envelope]

    g.add(
        "Alice withdraws her offer of 500 naming an escrow in the ms of her next offer of 500 but above it "
        "in her chain; Bob's Accept of the first, witnessed and dated later, shown first and the Withdraw "
        "after it (taken superseded, NEG-018, it still dates the offer's end at its own place): the first "
        "offer still counts for the next, which exceeds max_outstanding 500",
        ["MND-010", "NEG-019"],
        withdrawn_late(above=True),
        "MANDATE_VIOLATION",
        "Exposure",
        "Boundary",
        twin=withdrawn_late(above=False),
    )

    def counter_cut_off(countered: bool) -> list[bytes]:
        clock, alice, bob = world(bob={"max_outstanding": 500})
        dave, escrow = Party("dave", clock), Party("escrow", clock)
        offer = alice.offer(bob, alice.proposal(escrow=escrow.did))
        clock.advance(gap)
        counter = bob.counter(offer, bob.proposal(escrow=escrow.did))
        clock.advance(gap)
        nxt = bob.offer(dave)
        clock.advance(gap)
        witnessed = bob.accept(offer)
        held = [offer, counter] if countered else [offer]
        shown = [stamp(escrow, witnessed).envelope, witnessed.envelope]
        return [*ctx(alice, bob, dave, escrow), *(vs.envelope for vs in held), *shown, nxt.envelope]

    g.add(
        "Bob counters Alice's offer naming an escrow (he gives 500), offers Dave 500, then signs an Accept "
        "of her offer that the escrow witnesses, shown before his offer to Dave: the Accept cuts his "
        "Counter off the line (NEG-017) at its own place, after his offer to Dave, for which the Counter "
        "still counts -- over max_outstanding 500",
        ["MND-010", "NEG-019"],
        counter_cut_off(countered=True),
        "MANDATE_VIOLATION",
        "Exposure",
        twin=counter_cut_off(countered=False),
    )

    def displaced_in_its_ms(checked: str, first: bool = True) -> list[bytes]:
        clock, alice, bob = world(alice={"max_outstanding": 1_000}, bob={"max_outstanding": 500})
        carol, escrow = Party("carol", clock), Party("escrow", clock)
        offer = alice.offer(bob, alice.proposal(escrow=escrow.did))
        accept = bob.accept(offer)
        clock.advance(gap)
        if checked == "bob":  # his offer to Carol below his witnessed Accept, in its ms
            nxt = bob.offer(carol)
            witnessed = bob.accept(offer)
        else:  # her offer of 400 to Carol in the witnessed Accept's ms, at a seq below its own
            witnessed = bob.accept(offer)
            nxt = giving(alice, carol, 400)
            assert nxt.seq <= witnessed.seq
        held = [offer, accept] if first else [offer]
        shown = [stamp(escrow, witnessed).envelope, witnessed.envelope]
        return [*ctx(alice, bob, carol, escrow), *(vs.envelope for vs in held), *shown, nxt.envelope]

    g.add(
        "Bob accepts Alice's offer naming an escrow (he gives 450), then, a second later, offers Carol 500 "
        "and signs a second Accept of her offer above it in his chain, which the escrow witnesses: the "
        "first contract, displaced at the witnessed Accept's own place (NEG-019), still counts for his "
        "offer -- over his max_outstanding 500",
        ["MND-010", "NEG-019"],
        displaced_in_its_ms("bob"),
        "MANDATE_VIOLATION",
        "Exposure",
        "Boundary",
        twin=displaced_in_its_ms("bob", first=False),
    )
    g.add(
        "the same witnessed Accept, and in its ms Alice's offer of 400 to Carol at a seq no higher than the "
        "Accept's, under her max_outstanding 1,000: another key's witnessed Accept of that ms is before her "
        "offer, so the contract it displaced counts no more and the witnessed one does (500 + 400) -- held",
        ["MND-010", "NEG-019"],
        displaced_in_its_ms("alice"),
        None,
        "Boundary",
    )

    def line_cut_off(cap: int, *, below: bool) -> list[bytes]:
        clock, alice, bob = world(bob={"max_outstanding": cap})
        dave, escrow = Party("dave", clock), Party("escrow", clock)
        offer = alice.offer(bob, alice.proposal(escrow=escrow.did))
        clock.advance(gap)
        counter = bob.counter(offer, bob.proposal(escrow=escrow.did))
        clock.advance(gap)
        if below:
            nxt, witnessed = bob.offer(dave), bob.accept(offer)
        else:
            witnessed, nxt = bob.accept(offer), bob.offer(dave)
        clock.advance(gap)
        answer = alice.counter(counter, alice.proposal(escrow=escrow.did))  # dated after the witnessed Accept
        held = [offer, counter, answer]
        shown = [stamp(escrow, witnessed).envelope, witnessed.envelope]
        return [*ctx(alice, bob, dave, escrow), *(vs.envelope for vs in held), *shown, nxt.envelope]

    g.add(
        "Alice's offer naming an escrow, Bob's Counter (he gives 500), Alice's Counter of it dated a second "
        "after Bob's Accept of her offer, which the escrow witnesses; in the ms of that Accept, above it, "
        "Bob offers Dave 500, under max_outstanding 950: the Accept cuts his Counter off at its own place, "
        "before his offer, though her later answer held dates it later -- the contract (450) and the offer "
        "fit -- held",
        ["MND-010", "NEG-019"],
        line_cut_off(950, below=False),
        None,
        "Boundary",
    )
    g.add(
        "the same with Bob's offer to Dave below the witnessed Accept in his chain: his Counter counts for "
        "it (500 + 500, over max_outstanding 950) and the witnessed contract does not",
        ["MND-010", "NEG-019"],
        line_cut_off(950, below=True),
        "MANDATE_VIOLATION",
        "Exposure",
        "Boundary",
        twin=line_cut_off(1_000, below=True),
    )

    def longer_line_cut_off() -> list[bytes]:
        clock, alice, bob = world(alice={"max_outstanding": 1_000})
        carol, dave, escrow = Party("carol", clock), Party("dave", clock), Party("escrow", clock)
        offer = alice.offer(bob, alice.proposal(escrow=escrow.did))
        bobs = [bob.offer(dave), bob.offer(dave)]  # his witnessed Accept at seq 3, above her next offer's 2
        clock.advance(gap)
        counter = bob.counter(offer, bob.proposal(escrow=escrow.did))
        clock.advance(gap)
        hers = alice.counter(counter, alice.proposal(escrow=escrow.did))
        clock.advance(gap)
        witnessed = bob.accept(offer)
        nxt = giving(alice, carol, 400)
        assert nxt.seq < witnessed.seq and nxt.issued_at_ms == witnessed.issued_at_ms
        clock.advance(gap)
        answer = bob.counter(hers, bob.proposal(escrow=escrow.did))  # dated after the witnessed Accept
        held = [offer, *bobs, counter, hers, answer]
        shown = [stamp(escrow, witnessed).envelope, witnessed.envelope]
        return [*ctx(alice, bob, carol, dave, escrow), *(vs.envelope for vs in held), *shown, nxt.envelope]

    g.add(
        "Alice's offer naming an escrow, Bob's Counter, Alice's Counter (she gives 500), Bob's Counter of it "
        "dated a second after his Accept of her offer, which the escrow witnesses; in the ms of that Accept "
        "(his seq 3) Alice offers Carol 400 at her seq 2, under max_outstanding 1,000: the Accept, another "
        "key's statement of that ms, cut her Counter off before her offer, though his later answer held "
        "dates it later -- the contract (500) and the offer fit -- held",
        ["MND-010", "NEG-019"],
        longer_line_cut_off(),
        None,
        "Boundary",
    )

    def displaced_ended_in_its_ms(above: bool) -> list[bytes]:
        clock, alice, bob = world(bob={"max_outstanding": 500})
        carol, escrow = Party("carol", clock), Party("escrow", clock)
        offer = alice.offer(bob, alice.proposal(escrow=escrow.did))
        first = bob.accept(offer)
        clock.advance(gap)
        da, db = alice.deliver(first, bob), bob.deliver(first, alice)
        clock.advance(gap)
        ra = alice.receipt(db)
        clock.advance(gap)
        if above:  # his last Receipt above his offer to Carol in his chain, in its ms
            nxt, rb = bob.offer(carol), bob.receipt(da)
        else:
            rb, nxt = bob.receipt(da), bob.offer(carol)
        clock.advance(gap)
        witnessed = bob.accept(offer)
        shown = [stamp(escrow, witnessed).envelope, witnessed.envelope]
        performed = [
            da,
            db,
            ra,
            rb,
        ]  # taken superseded (NEG-018), applied to the displaced contract (MND-023)
        head = [*ctx(alice, bob, carol, escrow), offer.envelope, first.envelope]
        return [*head, *shown, *(vs.envelope for vs in performed), nxt.envelope]

    g.add(
        "Bob's first contract with Alice (he gives 450), displaced by his witnessed Accept dated after his "
        "offer of 500 to Carol, is finished by his own last Receipt in the ms of that offer but above it in "
        "his chain, taken superseded after the witnessed Accept: not finished before the offer, the "
        "displaced contract counts for it -- over max_outstanding 500",
        ["MND-023", "NEG-019", "MND-010"],
        displaced_ended_in_its_ms(above=True),
        "MANDATE_VIOLATION",
        "Exposure",
        "Boundary",
        twin=displaced_ended_in_its_ms(above=False),
    )
    return g


def answered_past_the_line() -> Group:
    """SPEC 4.5: an answer to the witnessed contract's offer that a verifier takes only after the witnessed
    Accept (superseded, NEG-018) dates that offer's end at its own place -- also one a verifier meeting it
    before that Accept would have refused because the line had gone on past the offer (Alice's Withdraw of
    her offer after Bob's Counter of it, NEG-004): the view that took it holds it, and its date is the one
    a verifier that met it before the Counter dates the offer's end by. The thirtieth session's run of the
    verifier's exposure bookkeeping (Verifier._track_exposure) found that dating unpinned: every superseded
    answer before answered the line's open end, which the cut-off line dates as well."""
    g = Group("AnsweredPastTheLine", "sparse")
    gap = 1_000

    def withdrawn_past_the_line(withdrawn_first: bool) -> list[bytes]:
        clock, alice, bob = world(alice={"max_outstanding": 500})
        carol, escrow = Party("carol", clock), Party("escrow", clock)
        offer = alice.offer(bob, alice.proposal(escrow=escrow.did))
        clock.advance(gap)
        if withdrawn_first:
            withdraw, nxt = alice.withdraw(offer), alice.offer(carol)
        else:
            nxt, withdraw = alice.offer(carol), alice.withdraw(offer)
        clock.advance(gap)
        counter = bob.counter(offer, bob.proposal(escrow=escrow.did))  # dated after both of hers
        clock.advance(gap)
        witnessed = bob.accept(offer)
        line = [offer, counter]  # the line went on past her offer before the witnessed Accept came
        shown = [stamp(escrow, witnessed).envelope, witnessed.envelope, withdraw.envelope]
        return [*ctx(alice, bob, carol, escrow), *(vs.envelope for vs in line), *shown, nxt.envelope]

    g.add(
        "Alice's offer of 500 naming an escrow, her Withdraw of it, then her offer of 500 to Carol; Bob's "
        "Counter of the first offer, dated after both, taken before his Accept of it, which the escrow "
        "witnesses; the Withdraw shown after the Accept (superseded, NEG-018), then her offer to Carol, "
        "under max_outstanding 500: the Withdraw dates the first offer's end before her next offer, though "
        "the line had gone on past it -- held",
        ["MND-010", "NEG-019"],
        withdrawn_past_the_line(withdrawn_first=True),
        None,
    )
    g.add(
        "the same with her offer to Carol below the Withdraw in her chain: the first offer counts for it "
        "(500 + 500, over max_outstanding 500)",
        ["MND-010", "NEG-019"],
        withdrawn_past_the_line(withdrawn_first=False),
        "MANDATE_VIOLATION",
        "Exposure",
        twin=withdrawn_past_the_line(withdrawn_first=True),
    )

    def rejected_past_the_line() -> list[bytes]:
        clock, alice, bob = world(alice={"max_outstanding": 500})
        carol, dave, escrow = Party("carol", clock), Party("dave", clock), Party("escrow", clock)
        offer = alice.offer(bob, alice.proposal(escrow=escrow.did))
        bobs = [bob.offer(dave), bob.offer(dave)]  # his Reject at seq 2, above her next offer's seq 1
        clock.advance(gap)
        nxt, reject = alice.offer(carol), bob.reject(offer, "no")
        assert reject.seq > nxt.seq and reject.issued_at_ms == nxt.issued_at_ms
        clock.advance(gap)
        counter = bob.counter(offer, bob.proposal(escrow=escrow.did))
        clock.advance(gap)
        witnessed = bob.accept(offer)
        line = [offer, *bobs, counter]
        shown = [stamp(escrow, witnessed).envelope, witnessed.envelope, reject.envelope]
        return [*ctx(alice, bob, carol, dave, escrow), *(vs.envelope for vs in line), *shown, nxt.envelope]

    g.add(
        "Bob rejects Alice's offer of 500 naming an escrow at his seq 2 in the ms of her offer of 500 to "
        "Carol (her seq 1), then counters it and signs an Accept of it the escrow witnesses; the Counter "
        "taken before the Accept, the Reject after it (superseded), then her offer, under max_outstanding "
        "500: another key's answer of that ms is before her offer, whatever its seq, though the line had "
        "gone on past the offer -- held",
        ["MND-010", "NEG-019"],
        rejected_past_the_line(),
        None,
        "Boundary",
    )
    return g


def cut_off_answers_of_each_kind() -> Group:
    """NEG-023 (b) and NEG-021 on the line a witnessed Accept cut off, for each kind of answer: chains'
    CutOffAnsweredTwice story (Bob's offer naming no escrow, Alice's Counter of it naming E with both bonds
    at +1 s, Bob's Counter of hers, 500 his, at +2 s, Bob's Accept of her Counter at +4 s, which E
    witnesses) with Alice's two answers to Bob's Counter, X at +3 s and Y, higher in her chain, at +3.2 s,
    each an Accept, a Counter or a Reject, both taken after E's witnessed Accept (superseded). Bob's
    max_outstanding 1,050; his offer of 600 to Carol at +3.1 s fits only where nothing of his Counter's
    line counts for him there: X an Accept and Y another answer -- X's contract binds him to nothing (her
    key answered his Counter twice) --, or Y first and X lower (the offer's answer on the line, X, ends
    his Counter at +3 s). The thirty-third session's run of Verifier._track_exposure found Y's Counter and
    Accept, and X's Counter and Reject, unpinned: only a Reject Y and an Accept X were."""
    g = Group("CutOffAnswersOfEachKind", "sparse")

    def story(x_kind: str, y_kind: str, y_first: bool) -> list[bytes]:
        clock, alice, bob = world(bob={"max_outstanding": 1_050})
        carol, escrow = Party("carol", clock), Party("escrow", clock)
        offer = bob.offer(alice)
        clock.advance(1_000)
        counter = alice.counter(offer, alice.proposal(escrow=escrow.did, issuer_bond=100, audience_bond=100))
        clock.advance(1_000)
        bobs = bob.counter(counter, bob.proposal())

        def answer_of(kind: str) -> VerifiedStatement:
            if kind == "accept":
                return alice.accept(bobs)
            if kind == "counter":
                return alice.counter(bobs, alice.proposal())
            return alice.reject(bobs, "no")

        clock.advance(1_000)
        x = answer_of(x_kind)
        clock.advance(100)
        gives = [service("code-review", value=600, deadline_ms=clock.now_ms + DAY_MS)]
        probe = bob.offer(carol, bob.proposal(gives=gives))
        clock.advance(100)
        y = answer_of(y_kind)
        clock.advance(800)
        accept = bob.accept(counter)
        answers = [y, x] if y_first else [x, y]
        return [
            *ctx(alice, bob, carol, escrow),
            offer.envelope,
            counter.envelope,
            bobs.envelope,
            accept.envelope,
            stamp(escrow, accept).envelope,
            *(vs.envelope for vs in answers),
            probe.envelope,
        ]

    for y_kind in ("counter", "accept"):
        g.add(
            f"Alice's Accept X of Bob's Counter, then her {y_kind.title()} Y of it, both after E's witnessed "
            "Accept: X's contract binds Bob to nothing (her key answered his Counter twice), and his offer "
            "of 600 to Carol at +3.1 s fits his max_outstanding 1,050",
            ["NEG-023", "NEG-021", "NEG-017", "MND-010"],
            story("accept", y_kind, y_first=False),
        )
    for x_kind in ("counter", "reject"):
        g.add(
            f"Alice's Reject Y of Bob's Counter, then her {x_kind.title()} X of it, lower in her chain, both "
            "after E's witnessed Accept: X is the Counter's answer on the cut-off line, which ends there "
            "(+3 s), and Bob's offer of 600 to Carol at +3.1 s fits his max_outstanding 1,050",
            ["NEG-021", "NEG-017", "MND-010"],
            story(x_kind, "reject", y_first=True),
        )
    return g


NON_PROOFS_FILE: Final = "equivocation-non-proofs.json"


def stamp_under_a_revoked_principal() -> Group:
    """KEY-009 (d) read through the Mandate (MND-012): the principal of an escrow key revokes its own key --
    the key that signed the escrow's Mandate -- from the theft of the escrow key; the thief's Stamp of
    Alice's claim, dated after, is disowned and witnesses nothing, so the escrow key's Ruling upholding the
    claim a response window later is refused as of a claim not in force, whichever of the revocation and
    the Stamp the view heard first. The thirty-second session's run (Verifier._reweigh_stamps) found the
    Stamps a principal's revocation disowns, heard after them, unpinned: every disowned Stamp before was
    reached by a revocation of its own key."""
    g = Group("StampUnderARevokedPrincipal", "sparse")

    def story(order: str) -> tuple[list[bytes], list[bytes]]:
        clock, _, _, esc, offer, accept, claim, base = claimed_breach(100)
        nid = offer.header.negotiation_id
        pre = list(base)
        if order == "other first":  # another escrow's Stamp of the claim, held before the thief's
            other = Party("escrow-other", clock)
            pre += [
                *other.setup,
                other.sign("stamp", commitment_pb2.Stamp(statements=[claim.digest])).envelope,
            ]
        own = identity_pb2.KeyRevocation(key=esc.principal.did, effective_ms=clock.now_ms)
        stolen = esc.principal.sign("key_revocation", own)
        clock.advance(10)
        thief = esc.sign("stamp", commitment_pb2.Stamp(statements=[claim.digest]))
        clock.advance(HOUR_MS + 1)  # past the response window (DEFAULT_RESPONSE_WINDOW_MS)
        uphold = commitment_pb2.Ruling(
            contract=accept.digest, claim=claim.digest, decision=commitment_pb2.RULING_DECISION_UPHOLD
        )
        ruling = esc.sign("ruling", uphold, negotiation_id=nid)
        heard = [stolen, thief] if order == "revocation first" else [thief, stolen]
        return [*pre, *(vs.envelope for vs in heard), ruling.envelope], [
            *pre,
            thief.envelope,
            ruling.envelope,
        ]

    for order, how in (
        ("revocation first", "the revocation heard first"),
        ("stamp first", "the thief's Stamp heard before the revocation: the view weighs it again"),
        ("other first", "another escrow's Stamp of the claim held before both, the revocation heard last"),
    ):
        envelopes, twin = story(order)
        g.add(
            "Alice's bonded trade at escrow key K1 under its principal P's Mandate; Alice claims; P revokes "
            f"its own key (the Mandate's, MND-012) from now; K1's thief stamps the claim ({how}); K1's "
            "Ruling upholding the claim a response window later: refused -- the Stamp under the revoked "
            "principal's Mandate is disowned (KEY-009 (d)) and the claim not in force; without the "
            "revocation, taken",
            ["KEY-009", "MND-012", "WIT-005", "CMT-002"],
            envelopes,
            "STALE_REFERENCE",
            "StaleReference",
            "Unwitnessed",
            twin=twin,
        )
    return g


def bare_accept_reach() -> Group:
    """KEY-004 and MND-012 with KEY-011 for an Accept no escrow can witness (KEY-009 (c), MND-010): Bob
    (max_outstanding 1,000) offers Alice 600 naming no escrow, her key accepts, and Bob then offers Carol
    600 -- taken exactly when the Accept is disowned (it binds Bob to nothing). Disowned when her principal's
    revocation of her key, signed after the Accept, reaches back over it; not when a revocation takes
    effect only after it, when her key's own revocation is signed in its millisecond one seq above it
    (KEY-011: its seq floor), when the revoker is a principal the key was bound to only after the principal
    whose Mandate the Accept names (a thief's), or when her principal's key is revoked back over it by a
    principal it was bound to only after signing her Mandate (MND-012, KEY-011 (c)). The thirty-second
    session's run (Verifier._disowned_by) found these reaches unpinned for an Accept: every disowned one
    before was dated after a revocation that reached back to its effective_ms."""
    g = Group("BareAcceptReach", "sparse")

    def story(how: str, cap: int = 1_000) -> tuple[list[bytes], int]:
        clock = FixedClock()
        bob = Party("bob", clock, {"max_outstanding": cap})
        carol, alice = Party("carol", clock), Party("alice", clock)
        binding = alice.sign("checkpoint", identity_pb2.Checkpoint())
        clock.advance(1_000)
        item = service("code-review", value=600, deadline_ms=clock.now_ms + DAY_MS)
        to_alice = bob.offer(alice, bob.proposal(gives=[item]), ttl_ms=60_000)
        extra: list[bytes] = []
        back = clock.now_ms + 100  # before the Accept
        if how == "later":  # her principal revokes her key from a second after the Accept
            rev = alice.principal.sign(
                "key_revocation", identity_pb2.KeyRevocation(key=alice.did, effective_ms=clock.now_ms + 1_000)
            )
            clock.advance(500)
            acc = alice.accept(to_alice)
            heard = [rev, acc]
        elif how == "own":  # her key revokes itself in the Accept's ms, one seq above
            clock.advance(500)
            acc = alice.accept(to_alice)
            rev = alice.agent.sign(
                "key_revocation", identity_pb2.KeyRevocation(key=alice.did, effective_ms=1)
            )
            assert rev.issued_at_ms == acc.issued_at_ms and rev.seq == acc.seq + 1
            heard = [acc, rev]
        else:
            revoker: Any = alice.principal
            key = alice.did
            if how in ("thief", "principal's"):
                revoker = Signer("alice-later", clock)
                caps = {"valid_from_ms": clock.now_ms - DAY_MS, "valid_until_ms": clock.now_ms + DAY_MS}
                if how == "thief":  # her key bound to the thief's principal T after P
                    m = identity_pb2.Mandate()
                    m.CopyFrom(alice.mandate_vs.statement.mandate)
                    later = revoker.sign("mandate", m, ttl_ms=365 * DAY_MS)
                    bound = alice.agent.sign(
                        "checkpoint",
                        identity_pb2.Checkpoint(log_root=merkle_root([binding.digest])),
                        mandate=later.digest,
                    )
                else:  # P's key bound to a principal Q after it signed her Mandate; Q revokes P's key
                    later = revoker.sign(
                        "mandate",
                        identity_pb2.Mandate(agent=alice.principal.did, currency="c", **caps),
                        ttl_ms=DAY_MS,
                    )
                    bound = alice.principal.sign(
                        "checkpoint",
                        identity_pb2.Checkpoint(log_root=merkle_root([alice.mandate_vs.digest])),
                        mandate=later.digest,
                    )
                    key = alice.principal.did
                extra = [later.envelope, bound.envelope]
            clock.advance(500)
            acc = alice.accept(to_alice)
            clock.advance(500)
            rev = revoker.sign("key_revocation", identity_pb2.KeyRevocation(key=key, effective_ms=back))
            heard = [acc, rev]
        clock.advance(120_000)
        item = service("code-review", value=600, deadline_ms=clock.now_ms + DAY_MS)
        to_carol = bob.offer(carol, bob.proposal(gives=[item]))
        setup = [*alice.setup, *bob.setup, *carol.setup, binding.envelope, *extra, to_alice.envelope]
        envelopes = [*setup, *(vs.envelope for vs in heard), to_carol.envelope]
        return envelopes, len(envelopes) - 1

    def refused(comment: str, requirements: list[str], how: str) -> None:
        envelopes, at = story(how)
        g.add(
            comment,
            requirements,
            envelopes,
            "MANDATE_VIOLATION",
            "Exposure",
            failed_index=at,  # Bob's offer to Carol
            twin=story(how, cap=1_200)[0],
        )

    refused(
        "Bob (max_outstanding 1,000) offers Alice 600 naming no escrow; her principal P revokes her key from "
        "a second after her Accept, which comes next; Bob offers Carol 600: refused -- the revocation does "
        "not reach the Accept, which binds Bob (600 + 600)",
        ["KEY-004", "KEY-009", "MND-010"],
        "later",
    )
    refused(
        "the same, her key revoking itself (effective_ms 1) in her Accept's millisecond, one seq above it: "
        "refused -- a key's own revocation reaches none of its statements below its seq (KEY-011), the "
        "Accept binds Bob",
        ["KEY-011", "KEY-009", "MND-010"],
        "own",
    )
    refused(
        "the same, her key bound to a thief's principal T after P (a statement under T's Mandate), her "
        "Accept under P's Mandate, then T's revocation of her key back to before the Accept: refused -- "
        "T's reaches back only over her statements under its own Mandates or of principals bound after it "
        "(KEY-011), from its issued_at_ms here, after the Accept, which binds Bob",
        ["KEY-011", "KEY-009", "MND-010"],
        "thief",
    )
    refused(
        "the same, P's key bound to a principal Q after it signed her Mandate, then her Accept, then Q's "
        "revocation of P's key back to before it: refused -- a revocation of the Mandate's issuer by a "
        "principal bound after the Mandate's place reaches its agent's statements from its issued_at_ms "
        "(MND-012, KEY-011 (c)), after the Accept, which binds Bob",
        ["MND-012", "KEY-011", "MND-010"],
        "principal's",
    )
    g.add(
        "the same, P's revocation of her key signed after her Accept, effective before it: held -- P's "
        "revocation reaches back to its effective_ms over her statements under its Mandate (KEY-011), the "
        "Accept is disowned and binds Bob to nothing (KEY-009 (c))",
        ["KEY-011", "KEY-009", "MND-010"],
        story("back")[0],
    )
    return g


def stamps_in_one_ms_at_the_escrow() -> Group:
    """ESC-020 at an escrow and its audit with KEY-009's order of two Stamps in one millisecond: of the
    escrow's two Stamps of Mallory's Offer and Alice's Accept signed in one ms under two Mandates -- one
    valid past the contract's last ruling time, one ending a day from now, before it -- the one at the
    lower seq of the escrow's chain is its earliest, whichever was heard first, and its Mandate is the one
    ESC-020 reads. The thirty-second session's run (Verifier._commit) found that order unpinned: every
    vector with two Stamps in one ms was a view of evidence, which takes the Accept whatever its Stamps."""
    g = Group("StampsInOneMsAtTheEscrow", "sparse", role="escrow")

    def story(short_below: bool) -> list[bytes]:
        clock = FixedClock()
        alice, mallory, escrow = Party("alice", clock), Party("mallory", clock), Party("escrow", clock)
        m = identity_pb2.Mandate()
        m.CopyFrom(escrow.mandate_vs.statement.mandate)
        m.valid_until_ms = clock.now_ms + DAY_MS  # before the last ruling time (ESC-020)
        short = escrow.principal.sign("mandate", m, ttl_ms=DAY_MS)
        offer = mallory.offer(alice, mallory.bonded_proposal(escrow.did, clock.now_ms + DAY_MS, bond=100))
        clock.advance(1_000)
        accept = alice.accept(offer)
        body = commitment_pb2.Stamp(statements=[offer.digest, accept.digest])
        cited = [short.digest, escrow.mandate_vs.digest]
        low, high = (
            escrow.sign("stamp", body, issued_at_ms=clock.now_ms, mandate=d)
            for d in (cited if short_below else cited[::-1])
        )
        assert high.seq == low.seq + 1 and high.issued_at_ms == low.issued_at_ms
        setup = [*escrow.setup, short.envelope, *alice.setup, *mallory.setup]
        return [*setup, high.envelope, low.envelope, offer.envelope, accept.envelope]

    valid = story(short_below=False)
    g.add(
        "the escrow stamps Mallory's bonded Offer and Alice's Accept twice in one millisecond, at seq n "
        "under its Mandate valid for a year and at n + 1 under one ending in a day (before the last ruling "
        "time); heard n + 1 first: the earliest Stamp is seq n (KEY-009's order), its Mandate outlives the "
        "contract -- taken",
        ["ESC-020", "KEY-009"],
        valid,
    )
    refused = story(short_below=True)
    g.add(
        "the same, the Mandate ending in a day cited at seq n and the year's at n + 1, heard n + 1 first: "
        "the earliest Stamp (seq n) cites the short Mandate, which ends before the last ruling time -- "
        "refused",
        ["ESC-020", "KEY-009"],
        refused,
        "MANDATE_VIOLATION",
        "EscrowValidity",
        "MandateViolation",
        failed_index=len(refused) - 1,
        twin=valid,
    )
    return g


def rotation_fork_at_the_escrow() -> Group:
    """KEY-012 (a) at an escrow and its audit: keytime.json's RotationFork replayed where KEY-009 keeps
    nothing as evidence -- the statement at the next seq after a KeyRotation held, not linking to it, is
    refused as the fork it is (CHAIN_BROKEN, the two envelopes its proof), not KEY_REVOKED by KEY-005 with
    the rotation alone. The thirty-second session's run (Verifier._commit) found the rotations a key's chain
    holds (read by the fork check) unpinned: in a view of evidence the chain check finds the fork anyway."""
    return add_rotation_fork(
        Group("RotationForkAtTheEscrow", "sparse", role="escrow"), "at an escrow taking evidence: "
    )


def late_bound_revoker_at_the_escrow() -> Group:
    """ESC-019 with KEY-011 (b) at an escrow: Alice's key is bound to her principal P, then to a thief's
    principal T; T revokes the key with an effective_ms back at the start. Over her statements under P's
    Mandate T's revocation takes effect from its issued_at_ms only (the key was bound to T after P), so it
    cuts the validity her contract's claims need there, not at its effective_ms. The thirty-third
    session's run (Verifier._cut) found the principal of the Mandate read for that cut unpinned."""
    g = Group("LateBoundRevokerAtTheEscrow", "sparse", role="escrow")

    def story(issued_after: int) -> tuple[list[bytes], int]:
        clock = FixedClock()
        t0 = clock.now_ms
        alice = Party(
            "alice", clock, {"valid_until_ms": t0 + 30 * DAY_MS, "execution_window_end_ms": t0 + 7 * DAY_MS}
        )
        mallory, escrow, thief = Party("mallory", clock), Party("escrow", clock), Party("thief", clock)
        m = identity_pb2.Mandate()
        m.CopyFrom(alice.mandate_vs.statement.mandate)
        t_mandate = thief.principal.sign("mandate", m, ttl_ms=365 * DAY_MS)
        chain: list[bytes] = []
        p_bind = _checkpoint(alice, alice.mandate_vs.digest, chain)
        t_bind = _checkpoint(alice, t_mandate.digest, chain)
        due = t0 + 3 * DAY_MS  # its claim window ends on day 4
        offer = mallory.offer(alice, mallory.bonded_proposal(escrow.did, due, bond=BOND))
        clock.advance(1_000)
        accept = alice.accept(offer)
        back = thief.principal.sign(
            "key_revocation",
            identity_pb2.KeyRevocation(key=alice.did, effective_ms=t0 + 1),
            issued_at_ms=due + issued_after,
        )
        setup = [*alice.setup, *mallory.setup, t_mandate.envelope, p_bind.envelope, t_bind.envelope]
        heard = [*setup, back.envelope, offer.envelope, accept.envelope]
        return heard, len(heard) - 1

    late, _ = story(2 * DAY_MS)
    g.add(
        "T's revocation back to the start, issued on day 5, heard before Alice's Accept under P's Mandate "
        "of Mallory's trade due on day 3: it reaches her statements under P's Mandate from day 5 -- after "
        "the claim window ends on day 4: taken",
        ["ESC-019", "KEY-011", "KEY-007"],
        late,
    )
    early, at = story(DAY_MS // 2)
    g.add(
        "the same revocation issued on day 3 and a half: it cuts Alice's validity before the claim window "
        "ends -- refused",
        ["ESC-019", "KEY-011", "MND-012"],
        early,
        "MANDATE_VIOLATION",
        "ClaimWindow",
        "MandateViolation",
        failed_index=at,
        twin=late,
    )
    return g


def repeated_in_a_view() -> Group:
    """CMT-013 and CMT-005 bind a signer and a live receiver, not a view: a second Delivery of one item and
    a second BreachClaim of one claimant and item, unstamped, are taken by a view that holds them (views
    holding the same statements agree), with a now or without. The thirty-third session's run
    (Verifier.check) found the live receiver's refusals unpinned offline."""
    g = Group("RepeatedInAView", "sparse")
    due = FixedClock().now_ms + 60_000  # a minute after the Trade's start: the claims come after it
    t = Trade(gives=items(due), wants=items(due))
    first = t.deliver(t.alice)
    t.clock.advance(1_000)
    again = t.deliver(t.alice)
    t.clock.advance(120_000)
    claim = t.claim(t.alice)
    t.clock.advance(1_000)
    claim_again = t.claim(t.alice)
    deliveries = [*t.base, first.envelope, again.envelope]
    claims = [*t.base, first.envelope, claim.envelope, claim_again.envelope]
    for now, how in ((None, "without a now"), (t.clock.now_ms, "at a now")):
        g.add(
            f"Alice delivers her item twice, {how}: the second Delivery is taken -- CMT-013 forbids signing "
            "it, and a live receiver refuses it, but a view holding both reads the earliest",
            ["CMT-013", "CMT-002"],
            deliveries,
            now_ms=now,
        )
        g.add(
            f"Alice claims Bob's item twice, neither claim stamped, {how}: the second claim is taken -- only "
            "a live receiver refuses it unstamped (CMT-005 counts the first the escrow stamps)",
            ["CMT-005"],
            claims,
            now_ms=now,
        )
    return g


def non_proofs() -> dict[str, Any]:
    """equivocation-non-proofs.json: pairs of valid envelopes that are no equivocation proof, fork proof
    or answer proof (the mutation run over chain, session 25): every proof file is positive, so an
    offline checker missing a refusal -- the issuer compared, the link compared only for consecutive
    seqs, the answered statement compared -- passed every file."""
    _, alice, bob = world()
    zero = alice.offer(bob)
    one = alice.offer(bob)
    two = alice.offer(bob)
    bobs = bob.offer(alice)
    assert one.header.prev == zero.digest and zero.seq == bobs.seq == 0
    _, alice2, bob2 = world()
    offers = [bob2.offer(alice2), bob2.offer(alice2)]
    reject = alice2.reject(offers[0], "kept back")
    accept = alice2.accept(offers[1])
    cases = [
        (
            "two statements of Alice's agent at consecutive seqs 0 and 1, the second linked to the first "
            "(its prev is the first's digest): one chain holds both",
            ["CHN-003", "CHN-004"],
            zero,
            one,
        ),
        (
            "two statements of Alice's agent at seqs 0 and 2: the prev of seq 2 names seq 1, not seq 0, "
            "which proves nothing (only consecutive seqs must link)",
            ["CHN-003", "CHN-004"],
            zero,
            two,
        ),
        (
            "Alice's agent's and Bob's agent's statements at one seq (0): two keys, two chains",
            ["CHN-004", "ATT-012"],
            zero,
            bobs,
        ),
        (
            "Alice's agent's Reject of Bob's first Offer and her Accept of his second: two answers of one "
            "key, to two statements (ATT-022 needs the same one)",
            ["ATT-022", "ATT-012"],
            reject,
            accept,
        ),
        ("one envelope twice: the statements are the same", ["CHN-004", "ATT-012"], zero, zero),
    ]
    tests = []
    for tc_id, (comment, requirements, a, b) in enumerate(cases, start=1):
        for first, second in ((a, b), (b, a)):
            try:
                verify_fork_proof(ForkProof(first.envelope, second.envelope))
            except ValueError:
                continue
            raise AssertionError(f"non-proof {tc_id} holds as a proof")
        tests.append(
            {
                "tcId": tc_id,
                "comment": comment,
                "requirements": requirements,
                "first": envelope_to_json(a.envelope),
                "second": envelope_to_json(b.envelope),
            }
        )
    return {
        "schema": vectors.NON_PROOF_SCHEMA,
        "comment": "Pairs of envelopes that each verify but are no equivocation proof (CHN-003, CHN-004), "
        "fork proof (ATT-012) or answer proof (ATT-022): a checker MUST refuse each, in either order. "
        "Each test has the members of an a2a-coop-equivocation-proof/1 document but issuer.",
        "tests": tests,
    }
