"""KEY-009 (d): statements of no negotiation, every order a view of evidence hears them in.

A view of evidence (an auditor, an observer, a reputation system) held a statement of a negotiation, or a
Mandate, that a held KeyRevocation or KeyRotation would reject whichever it heard first (KEY-009 (b), (c)); a
statement of no negotiation -- a Stamp, a KeyRevocation, a KeyRotation, an Attestation, a Checkpoint, an Ack,
a Deposit -- it refused (`KEY_REVOKED`) heard after the revocation and held heard before, and a held one acts:
a Stamp witnesses, a KeyRevocation revokes, a KeyRotation ends a chain. So the same statements gave two
verdicts by order: a revoked escrow key's thief stamped a statement of a revoked key before stamping that
key's revocation, and a view that heard the escrow key's revocation last counted the statement as witnessed
before, one that heard it first disowned it.

Now such a view holds every one in every order, and derives what it does from the statements held: a Stamp a
held revocation or rotation of its signer (or of its Mandate's principal) would reject witnesses nothing
(:meth:`Verifier.unwitnessing`), whichever came first -- one heard before the revocation is taken out of the
witness index and the negotiations of what it named are derived again; a KeyRevocation or KeyRotation so
rejected revokes, or ends its key's chain, all the same (it only removes authority, and whether it is
disowned reads no Stamp: no cycle).

Each test feeds a fresh view every order of a small set of statements (itertools.permutations) through the
real verifier and asserts one outcome; the reading before is patched back in to show the orders did differ.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import permutations

import pytest
from test_escrow_handover import _story, _upholding

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2
from a2a_coop.protocol import reputation
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.merkle import root as merkle_root
from a2a_coop.protocol.negotiation import DEFAULT_RESPONSE_WINDOW_MS
from a2a_coop.protocol.statements import NEGOTIATION_BODIES, VerifiedStatement, verify_statement
from a2a_coop.protocol.verifier import Verifier
from a2a_coop.reputation_vectors import parse_reputation_file, rate_bundle
from a2a_coop.testing import FixedClock, Party, Signer

Outcome = tuple[
    tuple[str, ...],  # refusals: "name CODE requirement"
    frozenset[str],  # the statements held, by name
    frozenset[str],  # those disowned
    frozenset[str],  # the Stamps witnessing nothing
    tuple[tuple[str, str | None], ...],  # per negotiation: its state
    frozenset[str],  # the keys revoked
]


def _outcome(
    setup: Iterable[VerifiedStatement],
    order: Sequence[VerifiedStatement],
    names: dict[bytes, str],
    **kw: object,
) -> Outcome:
    v = Verifier(**kw)  # type: ignore[arg-type]
    for vs in setup:
        v.accept_statement(vs)
    refused = []
    for vs in order:
        try:
            v.accept_statement(vs)
        except CoopError as e:
            refused.append(f"{names[vs.digest]} {e.code} {e.requirement}")
    held = [vs for vs in v.statements.values() if vs.digest in names]
    return (
        tuple(refused),
        frozenset(names[vs.digest] for vs in held),
        frozenset(names[vs.digest] for vs in held if v.disowned(vs)),
        frozenset(names[vs.digest] for vs in held if vs.body == "stamp" and v.unwitnessing(vs)),
        tuple(sorted((nid.hex()[:8], n.state.name) for nid, n in v.negotiations.by_id.items())),
        frozenset(v.revoked),
    )


def _every_order(
    setup: Sequence[VerifiedStatement], named: dict[str, VerifiedStatement], **kw: object
) -> dict[Outcome, list[str]]:
    """Each distinct outcome of a view fed ``setup`` then an order of ``named``, with one order giving it."""
    names = {vs.digest: name for name, vs in named.items()}
    seen: dict[Outcome, list[str]] = {}
    count = 0
    for order in permutations(named.values()):
        count += 1
        seen.setdefault(_outcome(setup, order, names, **kw), [names[vs.digest] for vs in order])
    assert count >= len(named)
    return seen


def _before_nonneg23(mp: pytest.MonkeyPatch) -> None:
    """The reading before: a view refuses a statement of no negotiation (a Mandate aside) a revocation or
    rotation would reject, and a Stamp it holds witnesses whatever its signer's revocations."""
    mp.setattr(
        Verifier,
        "_kept_as_evidence",
        lambda self, vs: (
            vs is not None and self.evidence_view and (vs.body == "mandate" or vs.body in NEGOTIATION_BODIES)
        ),
    )
    mp.setattr(Verifier, "_stamp_disowned", lambda self, vs: False)


def _thief_stamps_a_revoked_keys_offer() -> tuple[list[VerifiedStatement], dict[str, VerifiedStatement]]:
    """Alice's principal revokes her key back to her escrowed Offer; the escrow's key, stolen before, is
    revoked by its principal from the theft, and its thief stamps Alice's Offer, then her revocation -- as if
    the escrow had taken the Offer first."""
    clock = FixedClock()
    alice, bob, escrow = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    bindings = [
        p.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([]))) for p in (alice, escrow)
    ]
    clock.advance(1_000)
    stolen = escrow.principal.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=escrow.did, effective_ms=clock.now_ms)
    )
    offer = alice.offer(bob, alice.proposal(escrow=escrow.did))
    clock.advance(1_000)
    revoked = alice.principal.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=alice.did, effective_ms=offer.issued_at_ms)
    )
    clock.advance(1_000)
    of_offer = escrow.sign("stamp", commitment_pb2.Stamp(statements=[offer.digest]))
    clock.advance(1_000)
    of_revocation = escrow.sign("stamp", commitment_pb2.Stamp(statements=[revoked.digest]))
    setup = [verify_statement(e) for p in (alice, bob, escrow) for e in p.setup] + bindings
    named = {
        "stolen": stolen,
        "offer": offer,
        "revoked": revoked,
        "of_offer": of_offer,
        "of_revocation": of_revocation,
    }
    return setup, named


@pytest.mark.req("KEY-009", "KEY-004")
def test_a_revoked_escrow_keys_stamp_witnesses_nothing_in_every_order() -> None:
    """Every order of the five (120): nothing refused, all held, the thief's two Stamps witnessing nothing and
    disowned, so Alice's Offer is not witnessed before her revocation: disowned in every order."""
    setup, named = _thief_stamps_a_revoked_keys_offer()
    seen = _every_order(setup, named)
    assert len(seen) == 1, seen
    ((refused, held, disowned, unwitnessing, _, revoked),) = seen
    assert refused == () and held == set(named)
    assert disowned == {"offer", "of_offer", "of_revocation"}
    assert unwitnessing == {"of_offer", "of_revocation"}
    assert revoked == {named["offer"].issuer, named["of_offer"].issuer}


@pytest.mark.req("KEY-009", "KEY-004")
def test_before_a_revoked_escrow_keys_stamp_witnessed_by_the_order() -> None:
    """The same orders read as before: the thief's Stamps refused when the escrow key's revocation came first
    (Alice's Offer disowned), held and witnessing when it came last (her Offer counted)."""
    setup, named = _thief_stamps_a_revoked_keys_offer()
    with pytest.MonkeyPatch.context() as mp:
        _before_nonneg23(mp)
        seen = _every_order(setup, named)
    assert len(seen) > 1
    assert {"offer" in outcome[2] for outcome in seen} == {True, False}  # the order chose


def _thief_stamps_a_claim() -> tuple[list[VerifiedStatement], dict[str, VerifiedStatement], str]:
    """Bob breaches at escrow key K1 and Alice claims (``_story``); K1's principal revokes K1 from before the
    claim; K1's thief stamps the claim and upholds it a response window later."""
    s = _story()
    setup = list(s.verifier.statements.values())
    assert s.claim is not None
    stolen = s.escrow.principal.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=s.escrow.did, effective_ms=s.clock.now_ms - 10)
    )
    stamp = s.escrow.sign("stamp", commitment_pb2.Stamp(statements=[s.claim.digest]))
    s.clock.advance(DEFAULT_RESPONSE_WINDOW_MS + 1)
    return setup, {"stolen": stolen, "stamp": stamp, "uphold": _upholding(s, s.escrow)}, s.nid.hex()[:8]


@pytest.mark.req("KEY-009", "WIT-005")
def test_a_thiefs_stamp_makes_no_claim_effective_in_any_order() -> None:
    """Every order of the revocation, the thief's Stamp and its Ruling: the contract stays BONDED (the claim
    never in force: its one Stamp witnesses nothing), the Stamp held in each. The thief's Ruling is refused
    (`STALE_REFERENCE`) by a view that heard it after the revocation; one that took it before holds it,
    moving nothing once the contract is derived again -- un-taking is what no view does (KEY-009 (d), what
    stays order-bound)."""
    setup, named, nid = _thief_stamps_a_claim()
    seen = _every_order(setup, named)
    states = {dict(outcome[4])[nid] for outcome in seen}
    assert states == {"BONDED"}, seen
    assert all({"stamp", "stolen"} <= outcome[1] and outcome[3] == {"stamp"} for outcome in seen)
    assert {outcome[0] for outcome in seen} <= {(), ("uphold STALE_REFERENCE CMT-002",)}
    with pytest.MonkeyPatch.context() as mp:
        _before_nonneg23(mp)
        before = _every_order(setup, named)
    assert len({dict(outcome[4])[nid] for outcome in before} - {"BONDED"}) >= 1  # the order chose


def _revoked_principal_revokes() -> tuple[list[VerifiedStatement], dict[str, VerifiedStatement]]:
    """Carol's principal key revokes itself; then (its thief, or its owner) it revokes Carol's key back over
    her Offer naming no escrow: a revocation signed by a revoked key, disowned."""
    clock = FixedClock()
    carol, dave = Party("carol", clock), Party("dave", clock)
    binding = carol.sign("checkpoint", identity_pb2.Checkpoint())
    clock.advance(1_000)
    own = carol.principal.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=carol.principal.did, effective_ms=clock.now_ms)
    )
    offer = carol.offer(dave, issued_at_ms=clock.now_ms - 500)
    clock.advance(1_000)
    of_agent = carol.principal.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=carol.did, effective_ms=offer.issued_at_ms)
    )
    setup = [verify_statement(e) for p in (carol, dave) for e in p.setup] + [binding]
    return setup, {"own": own, "offer": offer, "of_agent": of_agent}


@pytest.mark.req("KEY-009", "KEY-004", "MND-012")
def test_a_revocation_signed_by_a_revoked_key_revokes_in_every_order() -> None:
    """Every order: the principal key's revocation of Carol's key is held, disowned, and revokes -- her Offer,
    dated before the principal key's own revocation (MND-012 does not reach it) but after the agent's
    revocation's effective_ms, is disowned in every order. Before, a view that heard the principal key's own
    revocation first refused the other (`KEY_REVOKED`) and counted her Offer."""
    setup, named = _revoked_principal_revokes()
    seen = _every_order(setup, named)
    assert len(seen) == 1, seen
    ((refused, held, disowned, _, _, revoked),) = seen
    assert refused == () and held == set(named)
    assert disowned == {"own", "of_agent", "offer"}  # the principal key's own too, from its time
    assert revoked == {named["offer"].issuer, named["own"].issuer}
    with pytest.MonkeyPatch.context() as mp:
        _before_nonneg23(mp)
        before = _every_order(setup, named)
    assert {"offer" in outcome[2] for outcome in before} == {True, False}


@pytest.mark.req("KEY-009", "KEY-004", "KEY-007")
def test_two_keys_revoking_each_other_need_no_fixpoint() -> None:
    """Erin's and Fay's keys are each bound to the other (each signed under a Mandate the other issued); each
    revokes the other from before both revocations. Each revocation is disowned by the other; were a
    disowned revocation to revoke nothing, neither would be disowned, so both would revoke -- no reading
    would be consistent. Both revoke whether disowned or not: one outcome in every order."""
    clock = FixedClock()
    erin, fay = Signer("erin", clock), Signer("fay", clock)
    caps = {"valid_from_ms": clock.now_ms - 1_000, "valid_until_ms": clock.now_ms + 10**9, "currency": "c"}
    m_erin = erin.sign("mandate", identity_pb2.Mandate(agent=fay.did, **caps))
    m_fay = fay.sign("mandate", identity_pb2.Mandate(agent=erin.did, **caps))
    b_fay = fay.sign(
        "checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([m_fay.digest])), mandate=m_erin.digest
    )
    b_erin = erin.sign(
        "checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([m_erin.digest])), mandate=m_fay.digest
    )
    t = clock.now_ms
    clock.advance(1_000)
    r_fay = erin.sign("key_revocation", identity_pb2.KeyRevocation(key=fay.did, effective_ms=t))
    r_erin = fay.sign("key_revocation", identity_pb2.KeyRevocation(key=erin.did, effective_ms=t))
    seen = _every_order([m_erin, m_fay, b_fay, b_erin], {"r_fay": r_fay, "r_erin": r_erin})
    assert len(seen) == 1, seen
    ((refused, held, disowned, _, _, revoked),) = seen
    assert refused == () and held == {"r_fay", "r_erin"} and disowned == {"r_fay", "r_erin"}
    assert revoked == {erin.did, fay.did}
    with pytest.MonkeyPatch.context() as mp:
        _before_nonneg23(mp)
        assert len(_every_order([m_erin, m_fay, b_fay, b_erin], {"r_fay": r_fay, "r_erin": r_erin})) == 2


@pytest.mark.req("KEY-009", "KEY-005")
def test_a_rotation_past_the_chains_end_is_held_and_ends_it_in_every_order() -> None:
    """Mallory's key rotates at seq 1, then (its thief, or she) at seq 3, and acks Carol's Offer at seq 4 --
    a Checkpoint, an Ack: statements of no negotiation. Every order: all held; the rotation at seq 3, the
    Ack and her Offer at seq 2 disowned (the lower rotation ends the chain); before, a view that heard the
    lower rotation first refused the other three."""
    clock = FixedClock()
    mallory, carol = Party("mallory", clock), Party("carol", clock)
    first = mallory.offer(carol)
    clock.advance(1_000)
    low = mallory.sign("key_rotation", identity_pb2.KeyRotation(new_key=Party("m-2", clock).did), mandate=b"")
    clock.advance(1_000)
    between = mallory.offer(carol)
    clock.advance(1_000)
    high = mallory.sign(
        "key_rotation", identity_pb2.KeyRotation(new_key=Party("m-3", clock).did), mandate=b""
    )
    offer = carol.offer(mallory)
    clock.advance(1_000)
    ack = mallory.sign("ack", commitment_pb2.Ack(statement=offer.digest), audience=carol.did)
    setup = [verify_statement(e) for p in (mallory, carol) for e in p.setup] + [first, offer]
    named = {"low": low, "between": between, "high": high, "ack": ack}
    seen = _every_order(setup, named)
    assert len(seen) == 1, seen
    ((refused, held, disowned, *_),) = seen
    assert refused == () and held == set(named)
    assert disowned == {"between", "high", "ack"}
    with pytest.MonkeyPatch.context() as mp:
        _before_nonneg23(mp)
        assert len(_every_order(setup, named)) > 1


@pytest.mark.req("KEY-009", "KEY-004")
def test_a_live_receiver_and_an_escrow_still_refuse_a_revoked_keys_stamp_by_the_order() -> None:
    """Live receivers and escrows taking evidence stay order-bound (KEY-004): the thief's Stamp heard after
    the escrow key's revocation is refused `KEY_REVOKED`, heard before it is held and witnesses."""
    setup, named = _thief_stamps_a_revoked_keys_offer()
    stolen, stamp = named["stolen"], named["of_offer"]
    names = {vs.digest: name for name, vs in named.items()}
    for kw in ({"me": named["offer"].audience}, {"evidence_view": False}):
        first = _outcome(setup, [stolen, stamp], names, **kw)
        assert first[0] == ("of_offer KEY_REVOKED KEY-004",), kw
        last = _outcome(setup, [stamp, stolen], names, **kw)
        assert last[0] == () and last[3] == frozenset(), kw  # held, and it witnesses there
    for order in ([stolen, stamp], [stamp, stolen]):  # a view of evidence: held, witnessing nothing
        assert _outcome(setup, order, names)[3] == {"of_offer"}


@pytest.mark.req("KEY-009", "ATT-020")
def test_a_rating_weighs_a_thiefs_stamps_the_same_in_every_order() -> None:
    """`conformance/vectors/ratings.json` 49 and 50 as bundles, their last statements in every order (the
    escrow key's revocation, the thief's two Stamps, Alice's attestation after them): Bob's Accept not
    witnessed before his revocation by any Stamp that counts, his breach weighs 0 in every order; the reading
    before weighs it 100 in some (the Stamps counted) and refuses the bundle in others."""
    import json
    from pathlib import Path

    doc = json.loads(
        (Path(__file__).resolve().parent.parent / "conformance/vectors/ratings.json").read_text()
    )
    (vector,) = [v for v in parse_reputation_file(doc, "ratings") if v.tc_id == 50]
    *head, s1, s2, stolen, attestation = vector.envelopes
    stakes, before = set(), set()
    for tail in permutations([s1, s2, stolen]):
        bundle = vector.__class__(**{**vector.__dict__, "envelopes": (*head, *tail, attestation)})
        rated = rate_bundle(bundle)
        stakes.add(rated if isinstance(rated, str) else rated[0]["stake"])
        with pytest.MonkeyPatch.context() as mp:
            _before_nonneg23(mp)
            rated = rate_bundle(bundle)
            before.add("refused" if isinstance(rated, str) else rated[0]["stake"])
    assert stakes == {0}
    assert before == {0, "refused"}  # the order chose whether the bundle was rated at all
    assert reputation.attestation_evidence  # the module the bundles are rated by
