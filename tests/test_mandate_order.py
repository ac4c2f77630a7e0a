"""KEY-009 (a), ATT-020 (b) in every order: a view of evidence weighs a Mandate its principal rotated (or
revoked) back below by the statements it holds, not by the order it heard them in (SPEC 3.4, 10.2).

Bob's principal left a gap in its chain (seq 1 and 2 held by no view) and signed Bob's Mandate at seq 3.
Bob accepts Alice's bonded offer and never delivers; the escrow upholds Alice's claim and forfeits his
bond; Alice attests Bob BREACHED. Then Bob's principal signs a KeyRotation at seq 1, dated between its
seq 0 and the Mandate. A view that took the Mandate before the rotation holds it and weighs it by the
escrow's Stamps (KEY-009 (a)); one that heard the rotation first refused the Mandate (`KEY_REVOKED`,
KEY-005) -- and with it Bob's Accept (`MANDATE_UNKNOWN`), the contract and Alice's attestation of it: the
breach gone from that view, by the order alone. A Mandate is witnessed only through a statement naming it
(KEY-009 (a)), which no verifier takes before the Mandate (MND-002): a Mandate refused for a rotation can
never be shown witnessed, so a view of evidence holds it and derives whether it counts (``disowned``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest
from test_attack20 import _observe, _ratings, _rotated_back_after_a_breach

from a2a_coop._proto.a2acoop.v1 import identity_pb2
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.reputation import rate
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.protocol.verifier import Verifier
from a2a_coop.reputation_vectors import RatingVector, rate_bundle
from a2a_coop.testing import FixedClock, Party, Signer
from conformance.generate_vectors.key_time import mandate_for
from conformance.generate_vectors.negotiation import Deal, ctx, stamp
from conformance.generate_vectors.ratings import (
    FULFILLED,
    GapInPrincipalsChain,
    _attest,
    _settled_trade,
    breached_then_rotated,
)

BOND = 100


def _story(
    stamped: str,
) -> tuple[GapInPrincipalsChain, list[bytes], VerifiedStatement, VerifiedStatement, list[VerifiedStatement]]:
    """The breach, the attestation, the rotation, and the escrow's Stamps: ``stamped`` "both" (Bob's
    Mandate and Accept, in one Stamp), "accept" (the Accept alone), "rotation first" (the rotation, then a
    second later Bob's Mandate and Accept) or "none" (neither the Mandate nor the Accept)."""
    d = GapInPrincipalsChain()
    bundle, attestation, rotation = breached_then_rotated(d)
    stamps = []
    if stamped == "rotation first":
        stamps.append(stamp(d.escrow, rotation))
        d.clock.advance(1)
    if stamped in ("both", "rotation first"):
        stamps.append(stamp(d.escrow, d.bob.mandate_vs, d.accept))
    elif stamped == "accept":
        stamps.append(stamp(d.escrow, d.accept))
    return d, bundle, attestation, rotation, stamps


def _interleavings(base: Sequence[bytes], after: bytes, extra: Sequence[bytes]) -> Iterator[list[bytes]]:
    """Every sequence of ``base`` (its own order kept) with each of ``extra`` inserted anywhere, the Stamps
    (all of ``extra`` but the first, the rotation) after ``after``, the escrow's Mandate (a Stamp is checked
    against its issuer's Mandate, MND-002, whatever it names)."""

    def insert(seq: list[bytes], items: Sequence[bytes], floor: int) -> Iterator[list[bytes]]:
        if not items:
            yield seq
            return
        for i in range(floor, len(seq) + 1):
            grown = [*seq[:i], items[0], *seq[i:]]
            yield from insert(grown, items[1:], grown.index(after) + 1)

    yield from insert(list(base), extra, 0)


def _fed(order: list[bytes], verified: dict[bytes, VerifiedStatement]) -> tuple[Verifier, list[str]]:
    """A view of evidence fed ``order``, and what it refused ("body CODE requirement" each)."""
    v = Verifier(complete_chains=False, evidence_view=True)
    refused = []
    for env in order:
        try:
            v.accept_statement(verified[env])
        except CoopError as e:
            refused.append(f"{verified[env].body} {e.code} {e.requirement}")
    return v, refused


def _weigh(
    order: list[bytes], verified: dict[bytes, VerifiedStatement], d: GapInPrincipalsChain, att: bytes
) -> tuple[tuple[str, ...], frozenset[bytes], bool | None, int | None]:
    """A view of evidence fed ``order``: (the refusals, the held digests, the Mandate disowned read with the
    Accept naming it, the attestation's stake -- None when the view did not take it)."""
    v, refused = _fed(order, verified)
    mandate, accept = v.statements.get(d.bob.mandate_vs.digest), v.statements.get(d.accept.digest)
    disowned = None if mandate is None or accept is None else v.disowned(mandate, [accept])
    held = v.statements.get(att)
    stake = None if held is None else rate(v, held, {d.escrow.did}).stake
    return (
        tuple(refused),
        frozenset(vs.digest for vs in verified.values() if vs.digest in v.statements),
        disowned,
        stake,
    )


@pytest.mark.parametrize(
    ("stamped", "stake"), [("both", BOND), ("accept", BOND), ("rotation first", 0), ("none", 0)]
)
@pytest.mark.req("KEY-009", "ATT-020", "KEY-005")
def test_a_rotation_below_a_mandate_weighs_the_same_in_every_order(stamped: str, stake: int) -> None:
    """Every interleaving of the rotation and the escrow's Stamps with the contract's statements (Bob's
    Mandate before the statements under it, as ATT-014's bundle places it): a view of evidence takes every
    statement, holds the same set, and weighs Alice's rating the same -- 100 when the escrow stamped the
    Mandate or the Accept before any Stamp of the rotation, 0 when it stamped the rotation first or never
    stamped either. Before, a view that heard the rotation before the Mandate refused the Mandate
    (`KEY_REVOKED`, KEY-005), Bob's Accept (`MANDATE_UNKNOWN`) and the attestation: the breach gone."""
    d, bundle, attestation, rotation, stamps = _story(stamped)
    base = [*bundle, attestation.envelope]
    verified = {e: verify_statement(e) for e in [*base, rotation.envelope, *(s.envelope for s in stamps)]}
    outcomes: dict[tuple[tuple[str, ...], frozenset[bytes], bool | None, int | None], list[bytes]] = {}
    count = 0
    for order in _interleavings(
        base, d.escrow.mandate_vs.envelope, [rotation.envelope, *(s.envelope for s in stamps)]
    ):
        count += 1
        outcome = _weigh(order, verified, d, attestation.digest)
        outcomes.setdefault(outcome, order)
    assert count >= len(base) + 1  # every place of the rotation at least
    assert len(outcomes) == 1, [(o, [verified[e].body for e in order]) for o, order in outcomes.items()]
    ((refused, held, disowned, got),) = outcomes
    assert refused == () and len(held) == len(verified)
    assert got == stake and disowned is (stake == 0)


@pytest.mark.req("KEY-009", "ATT-020", "KEY-005")
def test_a_rating_bundle_with_the_rotation_first_is_taken_whole_and_weighed_by_the_escrows_stamps() -> None:
    """The reputation view of the offline vectors (`rate_bundle`, ATT-014's bundle, section 10.2): the
    rotation first in the bundle, before Bob's Mandate. Before, the bundle was not taken (the Mandate
    refused `KEY_REVOKED`, KEY-005); now it is, and the rating is 100 (the escrow stamped the Mandate and
    the Accept, never the rotation)."""
    d, bundle, attestation, rotation, stamps = _story("both")
    envelopes = [rotation.envelope, *bundle, *(s.envelope for s in stamps), attestation.envelope]
    vector = RatingVector(
        "ratings", "Rating", 1, "rotation first", ("KEY-009",), (d.escrow.did,), tuple(envelopes), ()
    )
    got = rate_bundle(vector)
    assert not isinstance(got, str), got
    assert [r["stake"] for r in got] == [BOND]


class _BobUnderRoot(Deal):
    """Deal, but Bob's principal key is bound, before it signs Bob's Mandate, to a root key kept apart (its
    first statement: a Checkpoint under the root's Mandate for it). ``lead``: the root's Mandate and that
    binding, which a view needs before the root's revocation of the principal (KEY-007, KEY-008)."""

    def __init__(self) -> None:
        self.clock = clock = FixedClock()
        self.alice, self.bob = Party("alice", clock), Party("bob", clock)
        self.escrow, self.carol = Party("escrow", clock), Party("carol", clock)
        self.root = Signer("bob-root", clock)
        principal = Signer("bob-principal-bound", clock)
        for_principal = mandate_for(self.root, principal.did, self.bob)
        binding = principal.sign("checkpoint", identity_pb2.Checkpoint(), mandate=for_principal.digest)
        self.lead = [for_principal.envelope, binding.envelope]
        self.bound_ms = binding.header.issued_at_ms
        clock.advance(1_000)
        self.bob.principal = principal
        self.bob.mandate_vs = mandate_for(principal, self.bob.did, self.bob)
        self.bob.setup = [self.bob.mandate_vs.envelope]
        clock.advance(1_000)
        proposal = self.alice.proposal(issuer_bond=BOND, audience_bond=BOND, escrow=self.escrow.did)
        self.offer = self.alice.offer(self.bob, proposal)
        clock.advance(1_000)
        self.accept = self.bob.accept(self.offer)
        self.base = [*ctx(self.alice, self.bob, self.escrow), self.offer.envelope, self.accept.envelope]
        self.bond = BOND
        self.locks = [self.escrow_says("bond_lock", p).envelope for p in (self.alice, self.bob)]
        clock.advance(1_000)


@pytest.mark.req("KEY-009", "KEY-004", "MND-012", "ATT-020")
def test_a_mandate_heard_after_its_principals_revocation_weighs_as_one_heard_before() -> None:
    """The root above Bob's principal key revokes it back to just after its binding, before Bob's Mandate
    (KEY-011 (b): the principal's own word, reached back to effective_ms); the escrow stamped Bob's Mandate
    and Accept and never the revocation, so both are witnessed before it (KEY-009 (a): a revocation the
    escrow never stamped proves nothing came after it) and Alice's rating of Bob counts. Every place of the
    revocation after the binding it needs (the escrow's Stamp held before the Accept, so the Accept's own
    witness is there when it comes): a view takes the Mandate, the Accept and the attestation, and rates
    100. Before, one that heard
    the revocation before Bob's Mandate refused it (`KEY_REVOKED`, KEY-004) and the contract with it. A live
    receiver refuses the Mandate after the revocation whatever stamped it (KEY-004)."""
    d = _BobUnderRoot()
    taken = stamp(d.escrow, d.bob.mandate_vs, d.accept)
    d.clock.advance(1_000)
    trade = _settled_trade(d)[1]
    attestation = verify_statement(_attest(d.alice, d, d.bob, FULFILLED))
    revocation = d.root.sign(
        "key_revocation",
        identity_pb2.KeyRevocation(key=d.bob.principal.did, effective_ms=d.bound_ms + 1, reason="stolen"),
    )
    at = trade.index(d.escrow.mandate_vs.envelope) + 1
    base = [*d.lead, *trade[:at], taken.envelope, *trade[at:], attestation.envelope]
    verified = {e: verify_statement(e) for e in [*base, revocation.envelope]}
    outcomes = set()
    for i in range(len(d.lead), len(base) + 1):
        order = [*base[:i], revocation.envelope, *base[i:]]
        v, refused = _fed(order, verified)
        held = v.statements.get(attestation.digest)
        kept = all(vs.digest in v.statements for vs in (d.bob.mandate_vs, d.accept))
        outcomes.add((kept, None if held is None else rate(v, held, {d.escrow.did}).stake))
        # Bob's later statements, which the escrow never stamped, are held and disowned in every order
        # (KEY-009 (c), the test below).
        assert not [r for r in refused if r.split()[0] in ("mandate", "accept", "attestation")], (i, refused)
    assert outcomes == {(True, BOND)}, outcomes
    # The attack's premise: the revocation reaches the Mandate, which a live receiver refuses after it.
    live = Verifier(me=d.carol.did)
    for env in [*d.lead, revocation.envelope]:
        live.accept(env)
    with pytest.raises(CoopError) as refused_live:
        live.accept(d.bob.mandate_vs.envelope)
    assert (refused_live.value.code, refused_live.value.requirement) == ("KEY_REVOKED", "KEY-004")


@pytest.mark.req("KEY-009", "KEY-005", "ATT-020")
def test_a_rotated_keys_statement_heard_before_its_stamp_weighs_as_one_heard_after() -> None:
    """KEY-009 (c): the same order problem for a statement with a witnessing escrow of its own.
    Mallory's key accepts Bob's bonded offer at seq 3, the escrow stamps the Accept, upholds Bob's claim
    and forfeits her bond; her key then rotates itself back into a gap at seq 1 (tests/test_attack20.py).
    A view that held the escrow's Stamp before the Accept took it (witnessed before the rotation) and
    weighed Bob's rating 100; one that heard the rotation, then the Accept, then the Stamp refused the Accept
    (`KEY_REVOKED`, KEY-005) and with it the contract: Bob's rating was not rated at all. Now a view holds a
    statement with a witnessing escrow whatever the Stamps held when it comes, and weighs it by those held
    (`disowned`): every place of the Stamp and of the rotation holds every statement, ends the contract in
    one state and rates Bob's breach 100, Bob's stake."""
    clock = FixedClock()
    bob, mallory, escrow, log, rotation = _rotated_back_after_a_breach(clock)
    accept = next(vs for vs in log if vs.body == "accept")
    witness = next(vs for vs in log if vs.body == "stamp" and accept.digest in vs.statement.stamp.statements)
    rest = [vs.envelope for vs in log if vs is not witness]
    evidence = [*bob.setup, *mallory.setup, *escrow.setup, *rest]
    after = evidence.index(escrow.mandate_vs.envelope) + 1
    seen = set()
    for i in range(after, len(evidence) + 1):
        with_stamp = [*evidence[:i], witness.envelope, *evidence[i:]]
        for j in range(len(with_stamp) + 1):
            heard = _observe([*with_stamp[:j], rotation.envelope, *with_stamp[j:]])
            neg = heard.negotiations.get(accept.negotiation_id)
            held = sum(vs.digest in heard.statements for vs in log)
            seen.add((tuple(_ratings(heard, escrow.did)), None if neg is None else neg.state, held))
    assert len(seen) == 1, seen
    ((ratings, _state, held),) = seen
    assert ratings == ((bob.principal.did, mallory.principal.did, BOND, 0.0),) and held == len(log)
