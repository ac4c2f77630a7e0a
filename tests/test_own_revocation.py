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

import pytest

from a2a_coop._proto.a2acoop.v1 import identity_pb2
from a2a_coop.protocol.errors import CoopError, KeyRevoked
from a2a_coop.protocol.merkle import root as merkle_root
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.protocol.verifier import Verifier
from a2a_coop.testing import DAY_MS, FixedClock, Party, Signer


def _revocation(revoker: Signer, key: str, effective_ms: int) -> VerifiedStatement:
    return revoker.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=key, effective_ms=effective_ms, reason="stolen")
    )


def _taken(envelopes: list[bytes], **kw: object) -> tuple[Verifier, list[str]]:
    """A verifier fed ``envelopes`` in order; returns it and the code of each refusal ("" when taken)."""
    v = Verifier(**kw)  # type: ignore[arg-type]
    codes = []
    for env in envelopes:
        try:
            v.accept(env)
            codes.append("")
        except CoopError as e:
            codes.append(e.code)
    return v, codes


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
    with pytest.raises(KeyRevoked) as e:
        v.accept(later.envelope)
    assert e.value.requirement == "KEY-004" and e.value.effective_ms == own.issued_at_ms


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
        assert codes[-3:] == ["", "KEY_REVOKED", "KEY_REVOKED"]
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
        assert codes[-2:] == ["", "KEY_REVOKED"], kw
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
