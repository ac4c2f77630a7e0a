"""How far back a KeyRevocation reaches (SPEC.md KEY-011).

A revocation's effective_ms is its revoker's choice, and the revoker may be a thief: one who holds an agent's
or an escrow's key K, not its principal's key. Taken by effective_ms alone, the thief's revocation of K dated
back to 1970 -- signed with K itself, or by a principal of its own it bound K to -- disowned K's whole
history: every contract of an agent, every ledger statement of an escrow. Now a revocation reaches back only
over statements made under its issuer's own authority: a principal's over K's statements under its Mandates,
the key's own over none (it takes effect no earlier than its issued_at_ms, and reaches none of K's
statements at a seq below its own, which K's chain orders before it). Each attack is played and shown to
happen -- the revocation is taken -- and then shown to disown nothing it must not, in every order.
"""

from __future__ import annotations

from itertools import permutations
from pathlib import Path

import pytest

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2
from a2a_coop.protocol.errors import CoopError, KeyRevoked
from a2a_coop.protocol.forks import ForkProof, fork_proof_from, verify_fork_proof
from a2a_coop.protocol.merkle import root as merkle_root
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.protocol.verifier import Verifier
from a2a_coop.runtime.evidence import EvidenceVerifier
from a2a_coop.runtime.journal import Journal
from a2a_coop.testing import DAY_MS, FixedClock, Party, Signer
from conformance.generate_vectors.key_time import forked_own_revocation, mandate_for


def _revocation(revoker: Signer, key: str, effective_ms: int) -> VerifiedStatement:
    return revoker.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=key, effective_ms=effective_ms, reason="stolen")
    )


def _refusals(v: Verifier, envelopes: list[bytes], *, requirement: bool = False) -> list[str]:
    """Feed ``v`` each envelope in order: the code of each refusal ("" when taken), with the requirement it
    was refused under when ``requirement``."""
    codes = []
    for env in envelopes:
        try:
            v.accept(env)
            codes.append("")
        except CoopError as e:
            codes.append(f"{e.code} {e.requirement}" if requirement else e.code)
    return codes


def _taken(envelopes: list[bytes], **kw: object) -> tuple[Verifier, list[str]]:
    """A verifier fed ``envelopes`` in order; returns it and the code of each refusal ("" when taken)."""
    v = Verifier(**kw)  # type: ignore[arg-type]
    return v, _refusals(v, envelopes)


def _alice_trades() -> tuple[FixedClock, Party, Party, list[VerifiedStatement]]:
    """Alice's key binds itself to her principal (a public Checkpoint) and signs two Offers to Bob, a
    second apart; then -- its holder a thief -- revokes itself back to 1 ms."""
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    binding = alice.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([])))
    clock.advance(1_000)
    first = alice.offer(bob)
    clock.advance(1_000)
    second = alice.offer(bob)
    clock.advance(1_000)
    return clock, alice, bob, [binding, first, second]


@pytest.mark.req("KEY-011", "KEY-004")
@pytest.mark.parametrize("role", ["live", "escrow", "view"])
def test_an_agent_keys_backdated_self_revocation_disowns_none_of_its_earlier_statements(role: str) -> None:
    """A thief holding Alice's key revokes it itself, effective 1 ms -- before everything the key ever
    signed -- and shows the revocation first. Before KEY-011 every verifier then refused both of Alice's
    Offers KEY_REVOKED; now each takes them (her chain orders them before the revocation) and refuses only
    what the key signs after it."""
    _, alice, bob, signed = _alice_trades()
    own = _revocation(alice.agent, alice.did, 1)
    kw = {"live": {"me": bob.did}, "escrow": {"evidence_view": False}, "view": {}}[role]
    v, codes = _taken([*alice.setup, *bob.setup, own.envelope, *(vs.envelope for vs in signed)], **kw)
    assert own.digest in v.statements  # the attack happened: the revocation was taken ...
    assert v.revoked[alice.did] == own.issued_at_ms  # ... effective from when it was signed, not from 1 ms
    assert codes[-len(signed) :] == ["", "", ""]
    assert not any(v.revokes(vs) or v.disowned(vs) for vs in signed)
    later = alice.offer(bob)  # the same millisecond as the revocation, after it in the chain
    if role == "view":  # a view of evidence holds it, disowned in every order (KEY-009 (c))
        v.accept(later.envelope)
        assert v.disowned(later)
        return
    with pytest.raises(KeyRevoked) as e:
        v.accept(later.envelope)
    assert e.value.requirement == "KEY-004" and e.value.reach_ms == own.issued_at_ms


@pytest.mark.req("KEY-011", "KEY-004", "KEY-007")
def test_a_principals_revocation_still_reaches_back_where_the_keys_own_does_not() -> None:
    """The same Offers, and Alice's principal revoking her key back to the first one (the theft it
    dates): the principal's revocation disowns both, in a live receiver and a view, while the key's own
    revocation of the same effective_ms disowns neither."""
    _, alice, bob, signed = _alice_trades()
    binding, first, second = signed
    theirs = _revocation(alice.principal, alice.did, first.issued_at_ms)
    own = _revocation(alice.agent, alice.did, first.issued_at_ms)
    setup = [*alice.setup, *bob.setup, binding.envelope]
    for kw in ({"me": bob.did}, {}):
        v, codes = _taken([*setup, theirs.envelope, first.envelope, second.envelope], **kw)  # type: ignore[arg-type]
        refused = "KEY_REVOKED" if kw else ""  # a view of evidence holds them, disowned (KEY-009 (c))
        assert codes[-3:] == ["", refused, refused]
        assert kw or (v.disowned(first) and v.disowned(second))
        v, codes = _taken([*setup, own.envelope, first.envelope, second.envelope], **kw)  # type: ignore[arg-type]
        assert codes[-3:] == ["", "", ""]
        assert not v.disowned(first) and not v.disowned(second)
    # heard after the Offers, the principal's disowns them in a view; the key's own does not
    view, _ = _taken([*setup, first.envelope, second.envelope, theirs.envelope])
    assert view.disowned(first) and view.disowned(second)
    view, _ = _taken([*setup, first.envelope, second.envelope, own.envelope])
    assert not view.disowned(first) and not view.disowned(second)


@pytest.mark.req("KEY-011", "KEY-004", "KEY-007")
def test_a_thief_revoking_the_key_through_a_principal_of_its_own_disowns_only_what_it_signed_under_it() -> (
    None
):
    """The thief binds Alice's key to its own principal T (a Checkpoint under T's Mandate for the key) and
    has T revoke the key back to 1 ms -- a principal's revocation, taken (KEY-004). It reaches back over
    the key's statements under T's Mandates only: Alice's Offers, under her principal's Mandate, stand."""
    clock, alice, bob, signed = _alice_trades()
    thief = Party("thief", clock)
    m = identity_pb2.Mandate()
    m.CopyFrom(alice.mandate_vs.statement.mandate)
    t_mandate = thief.principal.sign("mandate", m, ttl_ms=365 * DAY_MS)
    t_binding = alice.agent.sign(
        "checkpoint",
        identity_pb2.Checkpoint(log_root=merkle_root([vs.digest for vs in signed])),
        mandate=t_mandate.digest,
    )
    clock.advance(1_000)
    t_back = _revocation(thief.principal, alice.did, 1)
    for kw in ({"me": bob.did}, {"evidence_view": False}, {}):
        envelopes = [*alice.setup, *bob.setup, t_mandate.envelope, t_binding.envelope, t_back.envelope]
        v, codes = _taken([*envelopes, *(vs.envelope for vs in signed)], **kw)  # type: ignore[arg-type]
        assert codes[len(alice.setup) + len(bob.setup) :] == [""] * 6, kw  # T's revocation taken too
        assert thief.principal.did in v.bound[alice.did]
        assert not any(v.disowned(vs) for vs in signed)
        assert v.disowned(t_binding)  # what was signed under T's Mandate, T's revocation does reach


@pytest.mark.req("KEY-011", "KEY-004", "KEY-007")
def test_the_principal_reaches_back_over_what_the_thief_signed_under_a_principal_bound_later() -> None:
    """The thief signs, an hour after the theft, under a Mandate of its own principal T (the key bound to
    T only then) -- escaping, it hopes, the reach of Alice's principal, whose Mandates it does not use.
    Alice's principal, learning of the theft a day later, revokes the key back to the theft: bound to the
    key before T, it reaches back over what the key signed under T's Mandates too, in every verifier; T,
    bound later, reaches back over none of what the key signed under Alice's principal's."""
    clock, alice, bob, signed = _alice_trades()
    stolen_at = clock.now_ms
    thief = Party("thief", clock)
    m = identity_pb2.Mandate()
    m.CopyFrom(alice.mandate_vs.statement.mandate)
    t_mandate = thief.principal.sign("mandate", m, ttl_ms=365 * DAY_MS)
    clock.advance(3_600_000)
    t_statement = alice.agent.sign(
        "checkpoint",
        identity_pb2.Checkpoint(log_root=merkle_root([vs.digest for vs in signed])),
        mandate=t_mandate.digest,
    )
    clock.advance(DAY_MS)
    back = _revocation(alice.principal, alice.did, stolen_at)
    setup = [*alice.setup, *bob.setup, *(vs.envelope for vs in signed), t_mandate.envelope]
    for kw in ({"me": bob.did}, {"evidence_view": False}, {}):
        v, codes = _taken([*setup, back.envelope, t_statement.envelope], **kw)  # type: ignore[arg-type]
        # a view of evidence holds it heard after the revocation too, disowned (KEY-009 (d))
        assert codes[-2:] == ["", "" if kw == {} else "KEY_REVOKED"], kw
        assert kw != {} or v.disowned(t_statement)
        v, codes = _taken([*setup, t_statement.envelope, back.envelope], **kw)  # type: ignore[arg-type]
        assert codes[-2:] == ["", ""] and v.disowned(t_statement), kw
        assert not any(v.disowned(vs) for vs in signed)


@pytest.mark.req("KEY-011", "KEY-004", "KEY-009")
def test_views_holding_the_same_statements_weigh_a_self_revocation_the_same_in_every_order() -> None:
    """Every order of Alice's binding, her two Offers and her key's own revocation back to 1 ms (signed
    last): each verifier -- a live receiver, an escrow taking evidence, a view -- takes all four and
    disowns none of the Offers, whichever it heard first. Before KEY-011 one that heard the revocation
    first refused the Offers, one that heard it last held them: the thief chose, by whom it showed the
    revocation to first, where Alice's history disappeared."""
    _, alice, bob, signed = _alice_trades()
    own = _revocation(alice.agent, alice.did, 1)
    statements = [*signed, own]
    seen = set()
    for order in permutations(statements):
        for kw in ({"me": bob.did}, {"evidence_view": False}, {}):
            v, codes = _taken([*alice.setup, *bob.setup, *(vs.envelope for vs in order)], **kw)  # type: ignore[arg-type]
            assert codes[-4:] == [""] * 4, ([vs.body for vs in order], kw, codes)
            held = frozenset(vs.digest for vs in statements if vs.digest in v.statements)
            disowned = frozenset(vs.digest for vs in statements if v.disowned(vs))
            seen.add((tuple(sorted(kw)), held, disowned))
    assert len(seen) == 3  # one outcome per kind of verifier, whatever the order


# --- a principal's key: who revokes it, and how far back (KEY-011 (c), MND-012, MND-025) ---------------


def _key_revocation_codes(envelopes: list[bytes], **kw: object) -> list[str]:
    """:func:`_taken`'s codes, each with the requirement it was refused under ("" when taken)."""
    return _refusals(Verifier(**kw), envelopes, requirement=True)  # type: ignore[arg-type]


def _bind(key: Signer, mandate: VerifiedStatement, held: list[VerifiedStatement]) -> VerifiedStatement:
    """``key``'s public Checkpoint under ``mandate`` (binding it to that Mandate's principal, KEY-007), over
    ``held``, its statements so far."""
    return key.sign(
        "checkpoint",
        identity_pb2.Checkpoint(log_root=merkle_root([vs.digest for vs in held])),
        mandate=mandate.digest,
    )


def _under_root(party: Party) -> list[bytes]:
    """Give ``party`` a fresh principal key bound, before it signs anything else, to a root key kept apart
    (its first statement: a Checkpoint under the root's Mandate for it); the party's Mandate is signed by
    that principal key after the binding. Returns the root's Mandate and the binding, which a verifier
    needs before the party's Mandate (the party's ``setup``), and sets ``party.root``."""
    root = Signer(f"{party.name}-root", party.clock)
    principal = Signer(f"{party.name}-principal-bound", party.clock)
    for_principal = mandate_for(root, principal.did, party)
    binding = principal.sign("checkpoint", identity_pb2.Checkpoint(), mandate=for_principal.digest)
    party.principal = principal
    party.mandate_vs = mandate_for(principal, party.did, party)
    party.setup = [party.mandate_vs.envelope]
    party.root = root  # type: ignore[attr-defined]
    return [for_principal.envelope, binding.envelope]


@pytest.mark.req("KEY-011", "MND-012", "KEY-007", "KEY-004")
def test_a_principals_key_thief_binding_it_to_its_own_principal_disowns_none_of_its_agents_history() -> None:
    """A thief holding Alice's principal's key P -- not Alice's key -- has its own principal T mint a
    Mandate for P, signs a Checkpoint with P under it (P is then bound to T, KEY-007) and has T revoke P
    back to 1 ms: a principal's revocation, taken (KEY-004). Before KEY-011 (c) read the binding's place,
    MND-012 took T's revocation as P's from 1 ms over every Mandate P signed: Alice's Offer under P's
    Mandate, signed before the theft, was refused KEY_REVOKED (MND-012) by every verifier that heard the
    revocation first and disowned by every view that heard it after -- the thief erased the whole history of
    every agent of the principal whose key it stole. Now T reaches back only over the Mandates P signed
    once bound to T: the thief's own, signed with P after the binding."""
    clock = FixedClock()
    alice, bob, thief = Party("alice", clock), Party("bob", clock), Party("thief", clock)
    offer = alice.offer(bob)
    clock.advance(1_000)
    stolen = alice.principal
    t_mandate = mandate_for(thief.principal, stolen.did, alice)
    t_binding = _bind(stolen, t_mandate, [alice.mandate_vs])
    x_mandate = mandate_for(
        stolen, thief.did, alice
    )  # the thief's agent, under P's Mandate after the binding
    clock.advance(1_000)
    x_offer = thief.agent.sign("offer", thief.proposal(), audience=bob.did, mandate=x_mandate.digest)
    clock.advance(1_000)
    t_back = _revocation(thief.principal, stolen.did, 1)
    thefts = [t_mandate.envelope, t_binding.envelope, x_mandate.envelope, t_back.envelope]
    setup = [*alice.setup, *bob.setup]
    for kw in ({"me": bob.did}, {"evidence_view": False}, {}):
        v, codes = _taken([*setup, *thefts, offer.envelope, x_offer.envelope], **kw)  # type: ignore[arg-type]
        assert t_back.digest in v.statements and thief.principal.did in v.bound[stolen.did], (
            kw
        )  # the attack ran
        refused = "KEY_REVOKED" if kw else ""  # a view of evidence holds the thief's, disowned (KEY-009 (c))
        assert codes[-2:] == ["", refused], (kw, codes)  # Alice's Offer stands; the thief's does not
        assert not v.disowned(offer) and v.disowned(x_offer), kw
        refused = "KEY_REVOKED MND-012" if kw else ""
        assert _key_revocation_codes([*setup, *thefts, x_offer.envelope], **kw)[-1] == refused
        v, _ = _taken([*setup, offer.envelope, *thefts], **kw)  # type: ignore[arg-type]
        assert not v.disowned(offer), kw
        # T's revocation heard before P's Mandate for Alice: the Mandate is P's own word (under no Mandate),
        # signed before P was bound to T -- KEY-004 took T's revocation as reaching it from 1 ms
        v, codes = _taken([*bob.setup, *thefts, *alice.setup, offer.envelope], **kw)  # type: ignore[arg-type]
        assert codes[-2:] == ["", ""] and not v.disowned(alice.mandate_vs) and not v.disowned(offer), kw


@pytest.mark.req("KEY-011", "MND-012", "KEY-007")
def test_a_root_key_above_a_principals_key_reaches_back_over_its_thiefs_mandates_where_its_own_does_not() -> (
    None
):
    """Alice's principal key P is stolen; the thief mints, with P, a Mandate for its own agent X, which
    offers Bob a trade. P's own revocation, dated back to the theft, reaches back over nothing (KEY-011
    (a), (c)): X's Offer, signed before it was issued, stands -- the thief's gain when P is the top of its
    trust chain. A principal that keeps a root key above P -- P bound to it by its first statement, before
    it signed any Mandate -- has the root revoke P back to the theft: X's Offer is refused (MND-012), while
    Alice's Offer, signed before the theft, stands; a principal T the thief binds P to after the theft
    reaches back over none of P's earlier Mandates."""
    clock = FixedClock()
    alice, bob, thief = Party("alice", clock), Party("bob", clock), Party("thief", clock)
    rooted = _under_root(alice)
    offer = alice.offer(bob)
    clock.advance(1_000)
    stolen_at = clock.now_ms
    x_mandate = mandate_for(alice.principal, thief.did, alice)
    clock.advance(1_000)
    x_offer = thief.agent.sign("offer", thief.proposal(), audience=bob.did, mandate=x_mandate.digest)
    clock.advance(3_600_000)
    own = _revocation(alice.principal, alice.principal.did, stolen_at)
    by_root = _revocation(alice.root, alice.principal.did, stolen_at)  # type: ignore[attr-defined]
    setup = [*rooted, *alice.setup, *bob.setup, x_mandate.envelope]
    for kw in ({"me": bob.did}, {"evidence_view": False}, {}):
        assert _key_revocation_codes([*setup, own.envelope, offer.envelope, x_offer.envelope], **kw)[-2:] == [
            "",
            "",
        ]
        v, _ = _taken([*setup, offer.envelope, x_offer.envelope, own.envelope], **kw)  # type: ignore[arg-type]
        assert own.digest in v.statements and not v.disowned(x_offer), kw
        v, codes = _taken([*setup, by_root.envelope, offer.envelope, x_offer.envelope], **kw)  # type: ignore[arg-type]
        refused = "KEY_REVOKED" if kw else ""  # a view of evidence holds it, disowned (KEY-009 (c))
        assert codes[-3:] == ["", "", refused], (kw, codes)
        assert v.disowned(x_offer) and not v.disowned(offer), kw
        codes = _key_revocation_codes([*setup, by_root.envelope, offer.envelope, x_offer.envelope], **kw)
        assert codes[-1] == ("KEY_REVOKED MND-012" if kw else ""), (kw, codes)
        v, _ = _taken([*setup, offer.envelope, x_offer.envelope, by_root.envelope], **kw)  # type: ignore[arg-type]
        assert v.disowned(x_offer) and not v.disowned(offer), kw


def _own_principal(party: Party) -> None:
    """Make ``party``'s key its own principal: its Mandate signed by itself (MND-021: a key that only signs
    under its own Mandates may)."""
    m = identity_pb2.Mandate()
    m.CopyFrom(party.mandate_vs.statement.mandate)
    party.mandate_vs = party.agent.sign("mandate", m, ttl_ms=365 * DAY_MS)
    party.setup = [party.mandate_vs.envelope]


@pytest.mark.req("MND-025", "KEY-011", "KEY-004")
def test_a_key_under_its_own_mandate_is_revoked_as_any_of_its_statements_not_by_mnd_012() -> None:
    """Kay's key is its own principal and trades under a Mandate it signed itself. Its Offer and its own
    revocation back to 1 ms are signed in one millisecond, the Offer first in its chain: KEY-004 reads the
    revocation's seq and takes the Offer (KEY-011 (a)) in every order; MND-012 read on top of it -- the
    revocation's issuer is the Mandate's principal -- has no seq clause and would refuse the Offer in every
    verifier that heard the revocation first. A thief that binds Kay's key to its own principal T and has T
    revoke it back to 1 ms reaches none of Kay's Offers (KEY-011 (b): bound to itself first); a root key
    Kay's key bound itself to first reaches back over them."""
    clock = FixedClock()
    kay, bob, thief = Party("kay", clock), Party("bob", clock), Party("thief", clock)
    _own_principal(kay)
    clock.advance(1_000)
    offer = kay.offer(bob)
    own = _revocation(kay.agent, kay.did, 1)
    assert own.issued_at_ms == offer.issued_at_ms and own.seq == offer.seq + 1
    setup = [*kay.setup, *bob.setup]
    for order in permutations([offer, own]):
        for kw in ({"me": bob.did}, {"evidence_view": False}, {}):
            v, codes = _taken([*setup, *(vs.envelope for vs in order)], **kw)  # type: ignore[arg-type]
            assert codes[-2:] == ["", ""] and not v.disowned(offer), (kw, [vs.body for vs in order])
    t_mandate = mandate_for(thief.principal, kay.did, kay)
    clock.advance(1_000)
    t_binding = _bind(kay.agent, t_mandate, [kay.mandate_vs, offer, own])
    clock.advance(1_000)
    t_back = _revocation(thief.principal, kay.did, 1)
    for kw in ({"me": bob.did}, {"evidence_view": False}, {}):
        v, codes = _taken(
            [*setup, t_mandate.envelope, t_binding.envelope, t_back.envelope, offer.envelope], **kw
        )  # type: ignore[arg-type]
        assert t_back.digest in v.statements and codes[-1] == "" and not v.disowned(offer), kw
    # bound first to a root key, by the key's first statement: the root's revocation reaches back
    clock2 = FixedClock()
    root, kay2, bob2 = Signer("kay-root", clock2), Party("kay", clock2), Party("bob", clock2)
    for_kay = mandate_for(root, kay2.did, kay2)
    binding = _bind(kay2.agent, for_kay, [])
    _own_principal(kay2)
    clock2.advance(1_000)
    offer2 = kay2.offer(bob2)
    by_root = _revocation(root, kay2.did, 1)
    for kw in ({"me": bob2.did}, {"evidence_view": False}, {}):
        envelopes = [
            for_kay.envelope,
            binding.envelope,
            *kay2.setup,
            *bob2.setup,
            by_root.envelope,
            offer2.envelope,
        ]
        refused = "KEY_REVOKED KEY-004" if kw else ""  # a view of evidence holds it, disowned (KEY-009 (c))
        assert _key_revocation_codes(envelopes, **kw)[-2:] == ["", refused], kw
        v, _ = _taken(envelopes, **kw)  # type: ignore[arg-type]
        assert v.disowned(offer2), kw


# --- a thief's own revocation signed into a seq the key used: a fork (KEY-012, KEY-011 Left open) --------


def _proofs(v: Verifier, refused: list[CoopError]) -> set[str]:
    """The keys the fork proofs ``v`` holds convict: those its refusals carried (ATT-011 keeps them) and
    those it found between two statements it took (KEY-013)."""
    proofs = [fork_proof_from(e) for e in refused]
    found = [ForkProof(*pair) for pair in v.own_revocation_forks.values()]
    return {verify_fork_proof(p) for p in (*proofs, *found) if p is not None}


def _fed(v: Verifier, envelopes: list[bytes]) -> list[CoopError]:
    """Feed ``v`` each envelope in order; the refusals."""
    refused = []
    for env in envelopes:
        try:
            v.accept(env)
        except CoopError as e:
            refused.append(e)
    return refused


def _counted(v: Verifier, statements: list[VerifiedStatement]) -> frozenset[bytes]:
    """The digests of ``statements`` that count in ``v``: held, and -- but for a KeyRevocation, which counts
    once held (a key's own is at a seq it reaches itself) -- not disowned (KEY-009)."""
    return frozenset(
        vs.digest
        for vs in statements
        if vs.digest in v.statements and (vs.body == "key_revocation" or not v.disowned(vs))
    )


_KINDS = (
    {"me": "bob"},
    {"evidence_view": False},
    {},
)  # a live receiver (Bob), an escrow taking evidence, a view


def _verifier(kind: dict[str, object], bob: Party) -> Verifier:
    return Verifier(**{k: bob.did if v == "bob" else v for k, v in kind.items()})  # type: ignore[arg-type]


@pytest.mark.req("KEY-012", "KEY-013", "ATT-011", "ATT-013", "KEY-011")
def test_every_view_that_holds_both_halves_of_a_forked_own_revocation_holds_the_forks_proof() -> None:
    """Every order of Alice's second and third Offers and the thief's revocation forked into the second's
    seq: each verifier -- a live receiver, an escrow taking evidence, a view -- takes the revocation and
    holds a proof of the fork (ATT-011 keeps it, ATT-013 makes the key and its principal faulty), whichever
    it heard first: carried by its refusal of an Offer forking the revocation held (KEY-012), or found
    between the Offers and the revocation it took though it forked them (KEY-013). Before KEY-012 one that
    heard the revocation first refused both Offers KEY_REVOKED, with the revocation alone as evidence: no
    proof, and the thief chose, by whom it showed the revocation to first, where Alice's principal stayed
    unblemished while her history was refused; before KEY-013 one that heard the Offers first refused the
    revocation, and Alice's key stayed unrevoked there."""
    alice, bob, (binding, first, second, third), fork = forked_own_revocation()
    for order in permutations([second, fork, third]):
        for kind in _KINDS:
            v = _verifier(kind, bob)
            _fed(v, [*alice.setup, *bob.setup, binding.envelope, first.envelope])
            refused = _fed(v, [vs.envelope for vs in order])
            assert all(fork_proof_from(e) is not None for e in refused), ([e.code for e in refused], kind)
            assert _proofs(v, refused) == {alice.did}, ([x.body for x in order], kind)
            # the attack ran: the forked revocation was taken, and reaches both Offers
            assert fork.digest in v.statements and v.revokes(second) and v.revokes(third)
            assert v.revoked[alice.did] == fork.issued_at_ms


@pytest.mark.req("KEY-013", "ATT-011", "ATT-013")
def test_a_peers_verifier_keeps_the_proof_of_a_fork_it_took_both_halves_of() -> None:
    """A peer's verifier (the runtime's, which keeps the fork proofs its refusals carry, ATT-011) hears
    Alice's second and third Offers, then the thief's revocation forked into the second's seq: it takes the
    revocation (KEY-013) -- no refusal carries the proof -- and keeps the proof all the same, so its
    reputation view holds Alice's key faulty (ATT-013) as one that heard the revocation first does."""
    alice, bob, (binding, first, second, third), fork = forked_own_revocation()
    v = EvidenceVerifier()
    assert not _fed(
        v, [*alice.setup, *bob.setup, *(vs.envelope for vs in (binding, first, second, third, fork))]
    )
    assert fork.digest in v.statements and verify_fork_proof(v.forks[alice.did]) == alice.did


@pytest.mark.req("KEY-013", "KEY-011", "KEY-012", "KEY-009")
def test_views_holding_both_halves_of_a_forked_own_revocation_count_the_same_statements_in_every_order() -> (
    None
):
    """Every order of Alice's second, third and fourth Offers and the thief's revocation forked into the
    second's seq: each kind of verifier counts the same statements (held, and not disowned), revokes her
    key from the same time and holds the fork's proof, whichever it heard first -- the revocation counts
    from its place in her chain (KEY-011 (a)), none of her Offers from that seq on does (no escrow
    witnessed them), and her first Offer, below the fork, stands. Before KEY-013 a view that heard the
    revocation first refused her Offers (forks of it), one that heard them first refused the revocation and
    took her fourth Offer: the thief chose, by whom it showed the revocation to first, where her key was
    revoked (KEY-011, Left open, a strict xfail)."""
    alice, bob, (binding, first, second, third), fork = forked_own_revocation()
    alice.clock.advance(1_000)
    fourth = alice.offer(bob)
    heard = [first, second, fork, third, fourth]
    for kind in _KINDS:
        seen = set()
        for order in permutations([second, fork, third, fourth]):
            v = _verifier(kind, bob)
            _fed(v, [*alice.setup, *bob.setup, binding.envelope, first.envelope])
            refused = _fed(v, [vs.envelope for vs in order])
            seen.add((_counted(v, heard), v.revoked.get(alice.did), frozenset(_proofs(v, refused))))
        assert seen == {
            (frozenset({first.digest, fork.digest}), fork.issued_at_ms, frozenset({alice.did}))
        }, kind


@pytest.mark.req("KEY-013", "KEY-011", "CHN-003", "CHN-005")
@pytest.mark.parametrize("fork_kind", ["late", "prev"])
def test_a_forked_own_revocation_reaches_what_its_place_says_in_every_order(fork_kind: str) -> None:
    """Two more forks of Alice's chain by the thief's revocation at her second Offer's seq, each heard in
    every order with her first three Offers: dated after her third Offer (time running backwards along her
    chain, CHN-005), it reaches none of them (KEY-011 (a): each was signed before it) and every view counts
    all four; with a prev linking to nothing she signed (her first Offer, below it, does not link up to it,
    CHN-003), it reaches her second and third as the fork linked to her first does. Either way each kind of
    verifier counts the same statements, revokes her key from the same time and holds the fork's proof,
    whichever it heard first -- before KEY-013 one that heard her Offers first refused the revocation
    CHAIN_BROKEN and kept her key unrevoked."""
    kw = {"late": {"late": True}, "prev": {"prev": b"\x01" * 32}}[fork_kind]
    alice, bob, (binding, first, second, third), fork = forked_own_revocation(**kw)  # type: ignore[arg-type]
    counted = [first, second, fork, third] if fork_kind == "late" else [first, fork]
    for kind in _KINDS:
        seen = set()
        for order in permutations([first, second, fork, third]):
            v = _verifier(kind, bob)
            _fed(v, [*alice.setup, *bob.setup, binding.envelope])
            refused = _fed(v, [vs.envelope for vs in order])
            assert fork.digest in v.statements, (kind, [x.body for x in order])
            seen.add((_counted(v, [first, second, fork, third]), frozenset(_proofs(v, refused))))
        assert seen == {(frozenset(vs.digest for vs in counted), frozenset({alice.did}))}, kind


@pytest.mark.req("KEY-013", "KEY-009", "KEY-012")
@pytest.mark.parametrize("revocation_stamped_first", [False, True])
def test_a_view_counts_what_the_escrow_witnessed_before_a_forked_own_revocation_in_every_order(
    revocation_stamped_first: bool,
) -> None:
    """Alice's Offers name an escrow, which stamps her second and third before it stamps the thief's forked
    revocation: a view counts both Offers and the revocation in every order (KEY-009) -- one that heard the
    revocation first takes her Offers, witnessed before it, where KEY-012 refused them as forks of it
    (EQUIVOCATION, CHAIN_BROKEN), and holds the fork's proof all the same. The thief erases nothing the
    escrow witnessed first; stamped the other way round -- the revocation first -- neither Offer counts, in
    any order: the escrow's order decides, never the revocation's times or whom it was shown to first."""
    clock = FixedClock()
    escrow = Party("escrow", clock)
    alice, bob, (binding, first, second, third), fork = forked_own_revocation(escrow)
    offers = escrow.sign("stamp", commitment_pb2.Stamp(statements=[second.digest, third.digest]))
    clock.advance(1)
    revocation = escrow.sign("stamp", commitment_pb2.Stamp(statements=[fork.digest]))
    if revocation_stamped_first:
        revocation = escrow.sign("stamp", commitment_pb2.Stamp(statements=[fork.digest]))
        clock.advance(1)
        offers = escrow.sign("stamp", commitment_pb2.Stamp(statements=[second.digest, third.digest]))
    setup = [*alice.setup, *bob.setup, *escrow.setup, binding.envelope, first.envelope]
    counted = {fork.digest} if revocation_stamped_first else {second.digest, third.digest, fork.digest}
    for order in permutations([second, fork, third]):
        v = Verifier()
        refused = _fed(v, [*setup, offers.envelope, revocation.envelope, *(vs.envelope for vs in order)])
        assert _counted(v, [second, fork, third]) == counted, ([x.body for x in order], refused)
        assert _proofs(v, refused) == {alice.did}
        if order[0] is fork and not revocation_stamped_first:  # KEY-012 refused these before KEY-013
            assert not refused and second.digest in v.statements and third.digest in v.statements


@pytest.mark.req("KEY-013", "RPL-001")
def test_a_forked_own_revocation_carrying_the_nonce_of_the_statement_it_forks_is_taken_in_every_order(
    tmp_path: Path,
) -> None:
    """The thief's forked revocation carries the nonce of Alice's second Offer, the one it forks: before
    KEY-013 a verifier that heard the Offer first refused the revocation NONCE_REUSED -- no fork proof, and
    the key unrevoked there. Now it is taken in every order, holding no nonce, and every kind of verifier
    counts the same statements; a verifier reading nonces from its archive (a peer's journal) too."""
    alice, bob, (binding, first, second, third), fork = forked_own_revocation(same_nonce=True)
    assert fork.header.nonce == second.header.nonce
    setup = [*alice.setup, *bob.setup, binding.envelope, first.envelope]
    for kind in _KINDS:
        seen = set()
        for order in permutations([second, fork, third]):
            v = _verifier(kind, bob)
            _fed(v, setup)
            refused = _fed(v, [vs.envelope for vs in order])
            assert "NONCE_REUSED" not in {e.code for e in refused}, kind
            seen.add((_counted(v, [first, second, fork, third]), frozenset(_proofs(v, refused))))
        assert seen == {(frozenset({first.digest, fork.digest}), frozenset({alice.did}))}, kind
    # dated after her Offers, the revocation reaches neither: step 22 passes her second, and only the nonce,
    # which a verifier with an archive reads there, could refuse it
    alice, bob, (binding, first, second, third), fork = forked_own_revocation(same_nonce=True, late=True)
    journal = Journal.open(tmp_path / "journal.db", durability="normal")
    v = Verifier()
    v.use_archive(journal)
    held = [verify_statement(env) for env in [*alice.setup, *bob.setup, binding.envelope, first.envelope]]
    held.append(verify_statement(fork.envelope))
    for vs in held:
        v.accept_statement(vs)
    journal.record_batch([(vs, [], False) for vs in held], at_ms=0)
    assert journal.by_nonce(alice.did, fork.header.nonce) == fork.digest  # the archive holds its nonce
    v.accept(second.envelope)  # before KEY-013: NONCE_REUSED
    assert not v.revokes(second) and alice.did in v.own_revocation_forks
    journal.close()


@pytest.mark.req("KEY-011", "KEY-004", "KEY-007")
def test_a_principals_revocation_reaches_back_over_the_keys_own_word_only_from_its_binding() -> None:
    """Alice's key signs a bare Checkpoint (under no Mandate) before anything binds it, then its binding
    under her principal's Mandate; after the theft its thief signs another bare Checkpoint. Her principal
    revokes the key back to 1 ms: the thief's Checkpoint, signed after the binding, is reached back to 1 ms
    (refused held first, disowned heard after), the one signed before the binding only from the
    revocation's issued_at_ms -- the key's own word before it answered to that principal, which is what a
    principal a thief binds a principal's key to must not reach (KEY-011 (b))."""
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    before = alice.agent.sign("checkpoint", identity_pb2.Checkpoint())
    clock.advance(1_000)
    binding = alice.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([before.digest])))
    clock.advance(1_000)
    after = alice.agent.sign(
        "checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([before.digest, binding.digest]))
    )
    clock.advance(1_000)
    back = _revocation(alice.principal, alice.did, 1)
    setup = [*alice.setup, *bob.setup]
    for kw in ({"me": bob.did}, {"evidence_view": False}, {}):
        v, codes = _taken([*setup, binding.envelope, back.envelope, before.envelope, after.envelope], **kw)  # type: ignore[arg-type]
        # a view of evidence holds the thief's Checkpoint heard after the revocation, disowned (KEY-009 (d))
        assert codes[-3:] == ["", "", "" if kw == {} else "KEY_REVOKED"], (kw, codes)
        assert kw != {} or (v.disowned(after) and not v.disowned(before))
        v, codes = _taken([*setup, before.envelope, binding.envelope, after.envelope, back.envelope], **kw)  # type: ignore[arg-type]
        assert codes[-4:] == [""] * 4 and v.disowned(after) and not v.disowned(before), kw
