"""Attacker's pass 15: the rules this session added -- KEY-008 (a principal's KeyRevocation travels with
its key's binding as the Exchange context, taken before the revocation is checked), ``a2a-coop
revoke-key``, and ESC-016 (an escrow refunds the bonds of a contract another escrow's witnessed Accept
displaced) -- asked who chose each value they rely on and what a liar gains (SPEC 3.4, 9.2, 16.14).

Mallory is the attacker; a test marked ``xfail(strict=True)`` is a hole this version still has, its
reason naming the options.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from escrow_pages import pages
from peers import fresh_key, line_moved_to, make_peer
from test_escrow_handover_binding_kept import _successor

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2
from a2a_coop.cli.keys import _submit_to_escrow
from a2a_coop.protocol.errors import (
    CoopError,
    IssuedInFuture,
    KeyRevoked,
    RevocationUnauthorized,
    UnknownNegotiation,
)
from a2a_coop.protocol.escrow import Escrow
from a2a_coop.protocol.escrow_audit import audit_ledger
from a2a_coop.protocol.merkle import root as merkle_root
from a2a_coop.protocol.negotiation import DEFAULT_RESPONSE_WINDOW_MS
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.runtime.journal import Journal
from a2a_coop.runtime.node import META_SHOWN_BINDINGS, EscrowNode
from a2a_coop.testing import DAY_MS, FixedClock, LocalEscrow, Party, Signer, derive
from a2a_coop.transport import serve

BOND = 100


def _checkpoint(signer: Any, mandate: VerifiedStatement) -> VerifiedStatement:
    """``signer``'s public Checkpoint under ``mandate``: the statement binding it (KEY-007)."""
    return signer.sign(
        "checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([])), mandate=mandate.digest
    )


def _revocation(by: Any, key: str, effective_ms: int) -> VerifiedStatement:
    msg = identity_pb2.KeyRevocation(key=key, effective_ms=effective_ms, reason="stolen")
    return by.sign("key_revocation", msg)


def _thief(party: Party, clock: FixedClock) -> Signer:
    """Whoever copied ``party``'s agent key: the same key, its own chain from seq 0 and its own nonces
    (so what it signs at a seq the owner signed at too is an equivocation, not a nonce reuse)."""
    thief = Signer(party.name, clock)
    thief._nonce_counter = 1_000
    return thief


# --- 1: a refused revocation made the peer keep its binding ------------------------------------------


def _stranger(i: int, clock: FixedClock, key: Any, mandate: VerifiedStatement) -> VerifiedStatement:
    """A key's revocation by a third key it never signed under: REVOCATION_UNAUTHORIZED."""
    return _revocation(Signer(f"stranger/{i}", clock), key.did, clock.now_ms)


def _dated_ahead(i: int, clock: FixedClock, key: Any, mandate: VerifiedStatement) -> VerifiedStatement:
    """The key's own principal's revocation, dated a day ahead: ISSUED_IN_FUTURE."""
    boss = Signer(f"mallory-principal/{i}", clock)
    clock.advance(DAY_MS)
    try:
        return _revocation(boss, key.did, clock.now_ms)
    finally:
        clock.advance(-DAY_MS)


@pytest.mark.req("KEY-008", "RPC-015", "KEY-004")
@pytest.mark.parametrize(
    ("revocation", "refusal", "stamped"),
    [
        (_stranger, RevocationUnauthorized, False),
        (_dated_ahead, IssuedInFuture, False),
        (_dated_ahead, IssuedInFuture, True),
    ],
    ids=["by-a-stranger", "dated-ahead", "dated-ahead-its-binding-stamped"],
)
def test_a_refused_revocation_keeps_none_of_its_binding(
    tmp_path: Path,
    revocation: Callable[[int, FixedClock, Any, VerifiedStatement], VerifiedStatement],
    refusal: type[CoopError],
    stamped: bool,
) -> None:
    """KEY-008 made a KeyRevocation's context take, before the revocation is checked, the first statement
    of the revoked key under a Mandate -- anyone's, and kept whatever became of the revocation. Twenty
    fresh keys each minted a key, its Mandate and its Checkpoint, and sent Bob a revocation of it he
    refuses (a stranger's: REVOCATION_UNAUTHORIZED; or the principal's own, dated a day ahead:
    ISSUED_IN_FUTURE), with [Mandate, Checkpoint] as context: Bob kept and journaled both, two statements
    of his disk a refused request -- the hole RPC-015 closed for Acks, reopened. Fixed: the binding is
    taken only under a Mandate the revoker granted the key, and held as the request's Mandates are, taken
    only once the revocation passes its checks beside it. A Stamp of the binding by the key itself, after
    it in the context, was taken as context the request needs (a Stamp naming one of its statements),
    with the Mandate, once the binding was held so: it is not needed (a Checkpoint is public), and is
    not taken."""
    clock = FixedClock()
    bob = Party("bob", clock)
    with Journal.open(tmp_path / "bob.db") as journal:
        b = make_peer(bob, clock, journal=journal)
        start, held = sum(1 for _ in journal.statements()), len(b.verifier.statements)
        for i in range(20):
            key, mandate = fresh_key(i, clock)
            binding = _checkpoint(key, mandate)
            context = [mandate.envelope, binding.envelope]
            if stamped:
                msg = commitment_pb2.Stamp(statements=[binding.digest])
                context.append(key.sign("stamp", msg, mandate=mandate.digest).envelope)
            with pytest.raises(refusal):
                b.exchange(revocation(i, clock, key, mandate).envelope, context)
            assert binding.digest not in b.verifier.statements and mandate.digest not in b.verifier.statements
        assert len(b.verifier.statements) == held
        assert sum(1 for _ in journal.statements()) == start
        # and the principal's own revocation, on time, is taken with both, in one commit (KEY-008)
        boss = Signer("mallory-principal/0", clock)
        key, mandate = fresh_key(0, clock, principal=boss)
        binding = _checkpoint(key, mandate)
        revoked = _revocation(boss, key.did, clock.now_ms)
        b.exchange(revoked.envelope, [mandate.envelope, binding.envelope])
        journaled = [env for _, _, env in journal.statements()]
        assert journaled[-3:] == [mandate.envelope, binding.envelope, revoked.envelope]
        with pytest.raises(KeyRevoked):
            b.exchange(key.sign("checkpoint", identity_pb2.Checkpoint(log_root=b"\0" * 32)).envelope)


@pytest.mark.req("KEY-008", "KEY-007", "KEY-004")
def test_a_minted_mandate_and_the_victims_own_binding_revoke_nothing() -> None:
    """Mallory mints a Mandate naming Alice's key and revokes the key, sending as context her Mandate
    and Alice's real, public Checkpoint (under Alice's principal's Mandate) -- and a Checkpoint of the
    key under her own Mandate, which only the key can sign, is out of her reach. Held: the binding binds
    the key to Alice's principal only, Mallory's revocation is refused REVOCATION_UNAUTHORIZED, nothing of
    its context is kept, and Alice's next Offer is taken."""
    clock = FixedClock()
    alice, carol = Party("alice", clock), Party("carol", clock)
    binding = alice.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([])))
    mallory = Signer("mallory-principal", clock)
    caps = identity_pb2.Mandate(
        agent=alice.did, valid_from_ms=clock.now_ms, valid_until_ms=clock.now_ms + DAY_MS, currency="credit"
    )
    minted = mallory.sign("mandate", caps, ttl_ms=DAY_MS)
    c = make_peer(carol, clock)
    held = len(c.verifier.statements)
    with pytest.raises(RevocationUnauthorized):
        c.exchange(
            _revocation(mallory, alice.did, clock.now_ms).envelope,
            [minted.envelope, *alice.setup, binding.envelope],
        )
    assert len(c.verifier.statements) == held
    c.exchange(alice.offer(carol).envelope, alice.setup)


def _checkpoints(
    key: Any, mandate: VerifiedStatement, clock: FixedClock, request: VerifiedStatement
) -> list[VerifiedStatement]:
    """Twenty Checkpoints of ``key``'s chain after ``request``, each over the statements before it."""
    chain: list[VerifiedStatement] = [request]
    for _ in range(20):
        root = merkle_root([vs.digest for vs in chain])
        chain.append(key.sign("checkpoint", identity_pb2.Checkpoint(log_root=root), mandate=mandate.digest))
    return chain[1:]


def _mandates_then_rotation(
    key: Any, mandate: VerifiedStatement, clock: FixedClock, request: VerifiedStatement
) -> list[VerifiedStatement]:
    """Twenty fresh principals' Mandates naming ``key``, then the key's KeyRotation (which passes)."""
    caps = identity_pb2.Mandate(
        agent=key.did, valid_from_ms=clock.now_ms, valid_until_ms=clock.now_ms + DAY_MS, currency="credit"
    )
    others = [Signer(f"principal/{key.did[-8:]}/{i}", clock).sign("mandate", caps) for i in range(20)]
    rotation = key.sign(
        "key_rotation",
        identity_pb2.KeyRotation(new_key=Signer("successor", clock).did),
        mandate=mandate.digest,
    )
    return [*others, rotation]


@pytest.mark.req("RPC-015")
@pytest.mark.parametrize(
    ("beside", "kept"),
    [(_checkpoints, 0), (_mandates_then_rotation, 2)],
    ids=["its-checkpoints", "mandates-naming-it-before-its-rotation"],
)
def test_a_refused_request_keeps_no_pile_of_its_issuers_key_statements(
    tmp_path: Path,
    beside: Callable[[Any, VerifiedStatement, FixedClock, VerifiedStatement], list[VerifiedStatement]],
    kept: int,
) -> None:
    """Twenty fresh keys each send Bob a Delivery of no negotiation of his (refused UNKNOWN_NEGOTIATION),
    with context [their Mandate, ...]: (1) twenty Checkpoints of their own chain -- RPC-015 took "the key
    statements" of the request's issuer before the request, Checkpoints among them, and kept them when
    it was refused: 21 statements of Bob's journal a refused request; (2) twenty fresh principals'
    Mandates naming the key as agent, then the key's KeyRotation -- the Mandates, held provisionally,
    were all taken once the rotation passed: 22 a refused request. Fixed: the key statements taken
    before a request are those that end a key (KeyRotation, KeyRevocation: its checks read them), and a
    context statement that passes takes the Mandate it cites, not every Mandate held. What is left is
    the key's own Mandate and KeyRotation (one per key)."""
    clock = FixedClock()
    bob = Party("bob", clock)
    with Journal.open(tmp_path / "bob.db") as journal:
        b = make_peer(bob, clock, journal=journal)
        start = sum(1 for _ in journal.statements())
        for i in range(20):
            key, mandate = fresh_key(i, clock)
            request = key.sign(
                "delivery",
                commitment_pb2.Delivery(contract=derive(f"no-such-contract/{i}"), item_index=0),
                audience=bob.did,
                negotiation_id=derive(f"no-such-negotiation/{i}", 16),
                mandate=mandate.digest,
            )
            context = [mandate, *beside(key, mandate, clock, request)]
            with pytest.raises(UnknownNegotiation):
                b.exchange(request.envelope, [vs.envelope for vs in context])
        assert sum(1 for _ in journal.statements()) - start == 20 * kept


@pytest.mark.req("RPC-015", "TIM-006")
def test_a_context_statement_passing_beside_a_held_stamp_takes_that_stamp_with_it() -> None:
    """The two RPC-015 rules together (a Stamp naming the request held provisionally; a context statement
    that passes takes the Mandate it cites, not all that is held): Bob offers Alice terms naming his
    escrow; her Accept and Delivery reach him two minutes late, dated back (TIM-006), with the escrow's
    one Stamp of both before the Accept in the context. The Stamp names the request, so it is held; the
    Accept passes beside it -- and must take it too, not only Alice's Mandate: it is checked again as it
    is taken, and without its Stamp it was dated back unwitnessed (ISSUED_IN_PAST, the Exchange failed)."""
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    e = LocalEscrow(Party("escrow", clock))
    b = make_peer(bob, clock, context=[e.mandate])
    offer = b.propose(alice.did, bob.proposal(escrow=e.did))
    clock.advance(1_000)
    accept = alice.accept(offer)
    delivery = alice.deliver(accept, bob)
    stamp = e.submit([*alice.setup, *bob.setup, offer.envelope, accept.envelope, delivery.envelope])[1]
    named = verify_statement(stamp).statement.stamp.statements
    assert accept.digest in named and delivery.digest in named
    clock.advance(120_000)
    b.exchange(delivery.envelope, [*alice.setup, stamp, accept.envelope])
    contract = b.negotiation(offer.negotiation_id).contract
    assert contract is not None and contract.accept.digest == accept.digest
    assert delivery.digest in b.verifier.statements


# --- 2: a thief's equivocation with the binding keeps the revocation out ------------------------------


@pytest.mark.req("KEY-008", "KEY-004", "KEY-007")
def test_a_thiefs_statement_at_the_bindings_seq_does_not_keep_the_revocation_out_of_a_peer() -> None:
    """Alice's key leaks. The thief signs, at the seq of the key's binding Checkpoint, its own statement
    under Alice's Mandate (the Mandate is public) and shows it to Carol first: the key is bound to Alice
    there. Alice's principal sends the revocation with the binding as KEY-008 says: Carol's peer took the
    binding first, refused it (EQUIVOCATION: two statements at one seq) and so the revocation with it, and
    went on taking the thief's statements. Fixed: a revocation whose issuer the key is bound to already
    takes no binding from its context -- it needs none."""
    clock = FixedClock()
    alice, carol = Party("alice", clock), Party("carol", clock)
    binding = alice.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([])))
    clock.advance(1_000)
    thief = _thief(alice, clock)
    fork = _checkpoint(thief, alice.mandate_vs)
    assert fork.header.seq == binding.header.seq and fork.digest != binding.digest
    c = make_peer(carol, clock)
    c.exchange(fork.envelope, alice.setup)
    clock.advance(1_000)
    revocation = _revocation(alice.principal, alice.did, clock.now_ms - 1_500)
    c.exchange(revocation.envelope, [*alice.setup, binding.envelope])
    assert revocation.digest in c.verifier.statements
    with pytest.raises(KeyRevoked):
        c.exchange(
            thief.sign(
                "offer", alice.proposal(), audience=carol.did, mandate=alice.mandate_vs.digest
            ).envelope
        )


@pytest.mark.req("KEY-008", "KEY-004", "KEY-007")
def test_revoke_key_gets_the_revocation_to_an_escrow_past_a_binding_it_refuses(tmp_path: Path) -> None:
    """The same thief, at the escrow where it trades with Alice's key under her Mandate -- where the
    revocation matters most (ESC-013: the escrow then refuses the thief's claims). ``revoke-key`` submitted
    [Mandate, binding, revocation] in one Submit; the escrow takes a Submit's envelopes in order and stops
    at the first it refuses -- the binding, EQUIVOCATION -- so the revocation was never taken, each run
    again the same, though what the escrow held (the thief's statement under Alice's Mandate) binds the key
    to her. Fixed: the revocation goes in a Submit of its own after its context's, and the user is told
    the binding was refused."""
    clock = FixedClock()
    alice = Party("alice", clock)
    binding = alice.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([])))
    clock.advance(1_000)
    fork = _checkpoint(_thief(alice, clock), alice.mandate_vs)
    escrow = LocalEscrow(Party("escrow", clock))
    escrow.submit([*alice.setup, fork.envelope])
    revocation = _revocation(alice.principal, alice.did, clock.now_ms - 500)
    out = io.StringIO()
    with serve(None, escrow) as server:
        assert _submit_to_escrow(server.target, revocation, [*alice.setup, binding.envelope], None, out)
    said = out.getvalue()
    assert said.startswith(f"escrow {server.target}: taken") and "EQUIVOCATION" in said, said
    assert revocation.digest in escrow.escrow.verifier.statements
    assert binding.digest not in escrow.escrow.verifier.statements
    # An escrow that holds nothing of the key, sent the revocation with the Mandate alone, says what to
    # add, as a peer does (it said "not taken: REVOCATION_UNAUTHORIZED ..." with no hint).
    other, out = LocalEscrow(Party("other-escrow", clock)), io.StringIO()
    with serve(None, other) as server:
        assert not _submit_to_escrow(server.target, revocation, alice.setup, None, out)
    assert "refused REVOCATION_UNAUTHORIZED" in out.getvalue() and "--binding-from" in out.getvalue()


def _own_principal(
    thief: Any, clock: FixedClock, name: str = "thief-principal"
) -> tuple[Any, VerifiedStatement]:
    """The thief's own principal and the Mandate it mints naming the stolen key, for a day."""
    boss = Signer(name, clock)
    caps = identity_pb2.Mandate(
        agent=thief.did,
        valid_from_ms=clock.now_ms,
        valid_until_ms=clock.now_ms + DAY_MS,
        currency="credit",
        period_ms=DAY_MS,
    )
    return boss, boss.sign("mandate", caps, ttl_ms=DAY_MS)


def _fork(
    kind: str, alice: Party, clock: FixedClock, own: VerifiedStatement
) -> tuple[Any, VerifiedStatement]:
    """The thief's statement under its own principal's Mandate ``own`` that makes Alice's binding
    Checkpoint (her seq 0) fail its chain or nonce check where it is held: (thief, statement)."""
    if kind == "same-nonce":  # at seq 0 with the binding's nonce: NONCE_REUSED (checked before the chain)
        thief = Signer(alice.name, clock)
        return thief, _checkpoint(thief, own)
    thief = _thief(alice, clock)
    first = _checkpoint(thief, own)
    if kind == "same-seq":  # at seq 0: EQUIVOCATION
        return thief, first
    # its seq 1, its seq 0 never shown: seq 1's prev is not the binding's digest, CHAIN_BROKEN
    return thief, thief.sign(
        "checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([first.digest])), mandate=own.digest
    )


@pytest.mark.req("KEY-008", "KEY-004", "KEY-007")
@pytest.mark.parametrize(
    ("kind", "refused"),
    [("same-seq", "EQUIVOCATION"), ("same-nonce", "NONCE_REUSED"), ("prev-broken", "CHAIN_BROKEN")],
)
def test_a_thief_cannot_keep_a_principals_revocation_out_by_forking_the_binding(
    tmp_path: Path, kind: str, refused: str
) -> None:
    """The thief signs the fork under its own principal's Mandate and shows it to Carol first: the key
    was bound to the thief's principal only there, Alice's binding refused (EQUIVOCATION; or NONCE_REUSED,
    CHAIN_BROKEN when the thief forks with the binding's nonce, or at the next seq) and so her revocation,
    and the thief's Offer under Alice's Mandate was taken. Fixed (KEY-007, KEY-008): a revocation's
    binding whose only faults are against other statements of its key -- its chain, its nonce -- is
    shown, not held: it binds the key to the revoker all the same (its signature is the key's), the
    revocation is taken, and the thief's Offer is refused KEY_REVOKED -- after a restart too (the
    binding is kept with its Mandate in the journal's meta, not among its statements)."""
    clock = FixedClock()
    alice, carol = Party("alice", clock), Party("carol", clock)
    binding = alice.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([])))
    clock.advance(1_000)
    boss, own = _own_principal(alice.agent, clock)
    thief, fork = _fork(kind, alice, clock, own)
    with Journal.open(tmp_path / "carol.db") as journal:
        c = make_peer(carol, clock, journal=journal)
        c.exchange(fork.envelope, [own.envelope])
        with pytest.raises(CoopError) as alone:  # the binding by itself: refused as before
            c.exchange(binding.envelope, alice.setup)
        assert alone.value.code == refused
        assert c.verifier.bound[alice.did] == {boss.did}
        clock.advance(1_000)
        revocation = _revocation(alice.principal, alice.did, clock.now_ms - 1_500)
        c.exchange(revocation.envelope, [*alice.setup, binding.envelope])
        assert revocation.digest in c.verifier.statements and binding.digest not in c.verifier.statements
        assert c.verifier.bound[alice.did] == {boss.did, alice.principal.did}
        clock.advance(1_000)
        offer = thief.sign("offer", alice.proposal(), audience=carol.did, mandate=alice.mandate_vs.digest)
        with pytest.raises(KeyRevoked):
            c.exchange(offer.envelope, alice.setup)
        journaled = {env for _, _, env in journal.statements()}
        assert binding.envelope not in journaled and revocation.envelope in journaled
    with Journal.open(tmp_path / "carol.db") as journal:
        again = make_peer(carol, clock, journal=journal)
        assert again.verifier.revoked[alice.did] == revocation.statement.key_revocation.effective_ms
        assert alice.principal.did in again.verifier.bound[alice.did]
        with pytest.raises(KeyRevoked):
            again.exchange(offer.envelope, alice.setup)


@pytest.mark.req("KEY-008", "KEY-004", "KEY-007")
def test_a_shown_binding_authorises_no_one_but_its_mandates_principal() -> None:
    """Mallory, a stranger to Alice's key, takes the forked binding Carol refuses and sends her own
    revocation of the key with it -- beside her own minted Mandate for the key, or beside Alice's: the
    shown binding binds the key to Alice's principal only (the Mandate it cites), so Mallory's revocation
    is refused REVOCATION_UNAUTHORIZED, nothing of its context is kept, and the key stays bound to the
    thief's principal alone."""
    clock = FixedClock()
    alice, carol = Party("alice", clock), Party("carol", clock)
    binding = alice.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([])))
    clock.advance(1_000)
    boss, own = _own_principal(alice.agent, clock)
    _, fork = _fork("same-seq", alice, clock, own)
    c = make_peer(carol, clock)
    c.exchange(fork.envelope, [own.envelope])
    mallory, minted = _own_principal(alice.agent, clock, "mallory-principal")
    held = len(c.verifier.statements)
    for context in ([minted.envelope, binding.envelope], [minted.envelope, *alice.setup, binding.envelope]):
        with pytest.raises(RevocationUnauthorized):
            c.exchange(_revocation(mallory, alice.did, clock.now_ms).envelope, context)
        assert len(c.verifier.statements) == held and c.verifier.bound[alice.did] == {boss.did}


@pytest.mark.req("KEY-008", "KEY-004", "KEY-007", "RPC-015")
def test_a_shown_binding_is_refused_for_its_own_faults_and_kept_only_with_its_revocation(
    tmp_path: Path,
) -> None:
    """Only what the key's other statements cause is forgiven a shown binding: (1) a forked binding
    under Alice's principal's Mandate not yet in force when it was signed is refused MANDATE_VIOLATION
    (MND-003), the revocation with it; (2) a good forked binding beside a revocation Carol refuses (dated
    a day ahead, ISSUED_IN_FUTURE) binds nothing and is kept nowhere -- not in memory, the journal's
    statements, nor its meta."""
    clock = FixedClock()
    alice, carol = Party("alice", clock), Party("carol", clock)
    binding = alice.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([])))
    clock.advance(1_000)
    boss, own = _own_principal(alice.agent, clock)
    _, fork = _fork("same-seq", alice, clock, own)
    caps = identity_pb2.Mandate(
        agent=alice.did,
        valid_from_ms=clock.now_ms + DAY_MS,
        valid_until_ms=clock.now_ms + 2 * DAY_MS,
        currency="credit",
    )
    later = alice.principal.sign("mandate", caps, ttl_ms=2 * DAY_MS)
    early = Signer(alice.name, clock)
    early._nonce_counter = 2_000
    premature = _checkpoint(early, later)
    with Journal.open(tmp_path / "carol.db") as journal:
        c = make_peer(carol, clock, journal=journal)
        c.exchange(fork.envelope, [own.envelope])
        start, held = sum(1 for _ in journal.statements()), len(c.verifier.statements)
        revocation = _revocation(alice.principal, alice.did, clock.now_ms)
        with pytest.raises(CoopError) as refused:
            c.exchange(revocation.envelope, [later.envelope, premature.envelope])
        assert (refused.value.code, refused.value.requirement) == ("MANDATE_VIOLATION", "MND-003")
        clock.advance(DAY_MS)
        ahead = _revocation(alice.principal, alice.did, clock.now_ms)
        clock.advance(-DAY_MS)
        with pytest.raises(IssuedInFuture):
            c.exchange(ahead.envelope, [*alice.setup, binding.envelope])
        assert c.verifier.bound[alice.did] == {boss.did} and len(c.verifier.statements) == held
        assert sum(1 for _ in journal.statements()) == start
        assert not list(journal.meta_under("a2a-coop/shown-bindings/"))


@pytest.mark.req("KEY-008", "KEY-004", "KEY-007")
def test_a_thief_binding_the_key_to_its_own_principal_gains_no_more_than_the_keys_own_revocation() -> None:
    """The other way round: Carol holds Alice's binding, and the thief's statement under its own
    principal's Mandate at that seq is the fork. Shown with the thief's principal's revocation of the
    key, it binds the key to that principal, and the revocation is taken -- as the key's own revocation,
    which the thief signs with the stolen key and every verifier takes without any binding (KEY-004), is
    at a second peer: both refuse Alice's next statement KEY_REVOKED from the same time, and neither
    reaches back over Alice's statements under her principal's Mandates (KEY-011: the key's own
    revocation reaches back over nothing, a principal's only over statements under its own Mandates).
    Whoever holds the key's private key could always end it; a shown binding needs the key's
    signature, so it gives no one else that power (Mallory's minted Mandate, above, binds nothing)."""
    clock = FixedClock()
    alice, carol, dave = Party("alice", clock), Party("carol", clock), Party("dave", clock)
    binding = alice.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([])))
    clock.advance(1_000)
    boss, own = _own_principal(alice.agent, clock)
    _, fork = _fork("same-seq", alice, clock, own)
    c, d = make_peer(carol, clock), make_peer(dave, clock)
    for peer in (c, d):
        peer.exchange(binding.envelope, alice.setup)
    effective = clock.now_ms
    clock.advance(1_000)
    c.exchange(_revocation(boss, alice.did, effective).envelope, [own.envelope, fork.envelope])
    assert c.verifier.bound[alice.did] == {alice.principal.did, boss.did}
    # the key's own revocation, signed with the stolen key after the public binding (seq 1)
    d.exchange(_revocation(alice.agent, alice.did, effective).envelope)
    # KEY-011: the thief's principal's revocation reaches back to the time it names only over the key's
    # statements under its own Mandates (the fork) -- over Alice's, under her principal's Mandates, from
    # its issued_at_ms -- and the key's own reaches back over nothing
    assert c.verifier.revoked[alice.did] == effective
    assert c.verifier._cut(alice.did, alice.principal.did) == d.verifier.revoked[alice.did] == clock.now_ms
    for peer, party in ((c, carol), (d, dave)):
        with pytest.raises(KeyRevoked):
            peer.exchange(alice.offer(party).envelope, alice.setup)


@pytest.mark.req("ESC-018", "KEY-008", "KEY-004", "KEY-007", "ESC-013", "ESC-001")
@pytest.mark.parametrize(
    ("kind", "refused"),
    [("same-seq", "EQUIVOCATION"), ("same-nonce", "NONCE_REUSED"), ("prev-broken", "CHAIN_BROKEN")],
)
def test_a_thief_cannot_keep_a_principals_revocation_out_of_an_escrow_by_forking_the_binding(
    kind: str, refused: str
) -> None:
    """The thief submits its Checkpoint under its own principal's Mandate to the escrow first; Alice's
    principal runs revoke-key's escrow path with [Mandate, binding]. The escrow takes evidence Submit by
    Submit, stopping at the first envelope it refuses (ESC-001): the forked binding was refused
    (EQUIVOCATION; or NONCE_REUSED, CHAIN_BROKEN) in the context Submit, the revocation in its own
    Submit REVOCATION_UNAUTHORIZED (the key bound only to the thief's principal there), and the thief's
    claims under Alice's Mandate were taken (ESC-013). Fixed (KEY-007, ESC-001): a statement refused
    only for its chain or nonce, followed in the same Submit by a KeyRevocation of its key by its
    Mandate's principal that passes beside it, binds the key -- shown, not held, and stamped -- and
    revoke-key sends [Mandate, binding, revocation] in one Submit once the binding alone was refused so:
    the revocation is taken, and the thief's statement under Alice's Mandate is refused KEY_REVOKED."""
    clock = FixedClock()
    alice = Party("alice", clock)
    binding = alice.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([])))
    clock.advance(1_000)
    _, own = _own_principal(alice.agent, clock)
    thief, fork = _fork(kind, alice, clock, own)
    escrow = LocalEscrow(Party("escrow", clock))
    escrow.submit([own.envelope, fork.envelope])
    revocation = _revocation(alice.principal, alice.did, clock.now_ms - 500)
    out = io.StringIO()
    with serve(None, escrow) as server:
        assert _submit_to_escrow(server.target, revocation, [*alice.setup, binding.envelope], None, out)
    said = out.getvalue()
    assert said.startswith(f"escrow {server.target}: taken") and f"shown with it: {refused}" in said, said
    assert revocation.digest in escrow.escrow.verifier.statements, said
    assert binding.digest not in escrow.escrow.verifier.statements  # shown, not held: in no chain
    report = audit_ledger(escrow.escrow.transcript(), escrow=escrow.did)  # binds it as the escrow did
    assert report.ok, report.findings
    later = identity_pb2.Checkpoint(log_root=merkle_root([fork.digest]))  # its seq 1, under Alice's Mandate
    with pytest.raises(KeyRevoked):
        escrow.submit([thief.sign("checkpoint", later, mandate=alice.mandate_vs.digest).envelope])


@pytest.mark.req("KEY-008", "ESC-018", "ESC-001")
def test_revoke_key_shows_the_forked_binding_with_the_revocation_whatever_else_its_context_holds() -> None:
    """revoke-key's context for the escrow holds, besides the binding the thief forked, (1) a second
    statement of the key under Alice's Mandate after it (her seq 1, which the thief's fork breaks too), or
    (2) three hundred renewals of her Mandate, more than one request carries (the client splits the
    Submit, RPC-008). Sent as [context..., revocation], the revocation followed the second binding, not
    the forked one, or came in another request than the binding: the escrow refused the Submit at the
    binding. revoke-key sends, for each binding of the context, [its Mandate, it, the revocation]: taken."""
    clock = FixedClock()
    alice = Party("alice", clock)
    binding = alice.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([])))
    second = alice.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([binding.digest])))
    renewals = []
    for i in range(300):
        caps = identity_pb2.Mandate(
            agent=alice.did,
            valid_from_ms=clock.now_ms + i,
            valid_until_ms=clock.now_ms + DAY_MS,
            currency="credit",
        )
        renewals.append(alice.principal.sign("mandate", caps, ttl_ms=DAY_MS).envelope)
    clock.advance(1_000)
    _, own = _own_principal(alice.agent, clock)
    _, fork = _fork("same-seq", alice, clock, own)
    revocation = _revocation(alice.principal, alice.did, clock.now_ms - 500)
    for context in (
        [*alice.setup, binding.envelope, second.envelope],
        [*renewals, *alice.setup, binding.envelope],
    ):
        escrow = LocalEscrow(Party("escrow", clock))
        escrow.submit([own.envelope, fork.envelope])
        out = io.StringIO()
        with serve(None, escrow) as server:
            assert _submit_to_escrow(server.target, revocation, context, None, out), out.getvalue()
        assert revocation.digest in escrow.escrow.verifier.statements


@pytest.mark.req("ESC-018", "KEY-007", "KEY-008", "ESC-001", "ESC-006", "ESC-007", "AUD-003", "WIT-001")
def test_a_shown_binding_at_an_escrow_survives_its_restart_and_passes_its_audit(tmp_path: Path) -> None:
    """The escrow took Alice's principal's revocation beside the binding the thief forked (shown, not
    held). Its journal keeps the binding apart from its statements -- whose seq and nonce indexes serve
    the chain and replay checks: there, at the key's seq 0, is the thief's fork alone -- and places it,
    stamped, right before the revocation in its transcript. Restarted from the journal, the escrow takes
    the revocation again (the thief's next statement is refused KEY_REVOKED, the transcript is the same);
    an Escrow restored from that transcript (setup) does too; the audit of the transcript, whole or
    paged, binds the key as the escrow did and finds nothing; the same Submit again is answered as the
    first time (ESC-007); and revoke-key run again is answered (taken), the escrow keeping no second
    shown binding."""
    clock = FixedClock()
    alice, party = Party("alice", clock), Party("escrow", clock)
    binding = alice.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([])))
    clock.advance(1_000)
    _, own = _own_principal(alice.agent, clock)
    thief, fork = _fork("same-seq", alice, clock, own)
    path = tmp_path / "escrow.db"

    def node() -> EscrowNode:
        return EscrowNode(
            party.agent.key, party.mandate_vs.envelope, path, clock=lambda: clock.now_ms, durability="normal"
        )

    later = identity_pb2.Checkpoint(log_root=merkle_root([fork.digest]))
    theft = thief.sign("checkpoint", later, mandate=alice.mandate_vs.digest)  # after the revocation's time
    e = node()
    try:
        e.submit([own.envelope, fork.envelope])
        revocation = _revocation(alice.principal, alice.did, clock.now_ms - 500)
        submitted = [*alice.setup, binding.envelope, revocation.envelope]
        first = e.submit(submitted)
        stamp = next(vs for vs in map(verify_statement, first) if vs.body == "stamp")
        assert list(stamp.statement.stamp.statements)[-2:] == [binding.digest, revocation.digest]
        with pytest.raises(KeyRevoked):
            e.submit([theft.envelope])
        transcript = e.escrow.transcript()
        assert transcript.index(binding.envelope) + 1 == transcript.index(revocation.envelope)
        assert e.journal.by_digest(binding.digest) is None
        assert e.journal.at_seq(alice.did, 0) == fork.envelope
        report = audit_ledger(transcript, escrow=party.did)
        assert report.ok, report.findings
        paged = pages(e)
        assert binding.envelope in paged and audit_ledger(paged, escrow=party.did).ok
    finally:
        e.close()
    again = node()
    try:
        assert again.escrow.verifier.revoked[alice.did] == revocation.statement.key_revocation.effective_ms
        assert again.escrow.transcript() == transcript
        assert again.submit(submitted) == first  # ESC-007: the same answer, nothing signed
        with pytest.raises(KeyRevoked):
            again.submit([theft.envelope])
        out = io.StringIO()
        with serve(None, again) as server:
            assert _submit_to_escrow(server.target, revocation, [*alice.setup, binding.envelope], None, out)
        assert out.getvalue().startswith(f"escrow {server.target}: taken"), out.getvalue()
        assert again.escrow.transcript() == transcript
        assert len(again.journal.meta_under(META_SHOWN_BINDINGS + "/")) == 1
    finally:
        again.close()
    restored = Escrow(party.agent, party.mandate_vs.digest, setup=transcript)
    assert restored.verifier.revoked[alice.did] == revocation.statement.key_revocation.effective_ms
    assert restored.transcript() == transcript
    with pytest.raises(KeyRevoked):
        restored.submit([theft.envelope], clock.now_ms)
    assert audit_ledger(restored.transcript(), escrow=party.did).ok


@pytest.mark.req("ESC-018", "KEY-007", "ESC-022", "ESC-023", "AUD-006")
@pytest.mark.parametrize(
    ("kind", "refused"),
    [("same-seq", "EQUIVOCATION"), ("same-nonce", "NONCE_REUSED"), ("prev-broken", "CHAIN_BROKEN")],
)
@pytest.mark.parametrize("snapshot_every", [0, 1])
def test_a_successor_takes_over_a_transcript_holding_a_shown_binding(
    tmp_path: Path, kind: str, refused: str, snapshot_every: int
) -> None:
    """The escrow K1 took Alice's principal's revocation beside the binding the thief forked (ESC-018:
    shown, not held, stamped right before the revocation). K1's principal then revokes K1 and hands its
    ledger to K2 (ESC-022), which takes K1's transcript over whole (ESC-023): there the binding is refused
    for its chain or nonce again, against the thief's fork K1 took first -- K2 must bind the key by it
    beside the revocation after it and keep it, shown, not held, as K1 did, or the revocation is refused
    REVOCATION_UNAUTHORIZED and K2 cannot start. Its journal keeps the transcript taken over (the binding
    is no journal row); restarted from it (the whole journal replayed, or from its snapshot), K2 holds the
    same; the thief's later statement under Alice's Mandate is refused KEY_REVOKED at K2; and K2's
    transcript audits clean (AUD-006)."""
    clock = FixedClock()
    alice, party = Party("alice", clock), Party("escrow", clock)
    binding = alice.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([])))
    clock.advance(1_000)
    _, own = _own_principal(alice.agent, clock)
    thief, fork = _fork(kind, alice, clock, own)
    later = identity_pb2.Checkpoint(log_root=merkle_root([fork.digest]))
    theft = thief.sign("checkpoint", later, mandate=alice.mandate_vs.digest)
    old = EscrowNode(
        party.agent.key,
        party.mandate_vs.envelope,
        tmp_path / "old.db",
        clock=lambda: clock.now_ms,
        durability="normal",
    )
    try:
        old.submit([own.envelope, fork.envelope])
        revocation = _revocation(alice.principal, alice.did, clock.now_ms - 500)
        old.submit([*alice.setup, binding.envelope, revocation.envelope])
        shown = old.escrow.shown_binding(binding.digest)
        assert shown is not None and shown.revocation == revocation.digest  # the setting: K1 showed it
        transcript = old.escrow.transcript()
    finally:
        old.close()
    succ, handover = _successor(party, clock)
    for restart in (False, True):
        new = EscrowNode(
            succ.agent.key,
            succ.mandate_vs.envelope,
            tmp_path / "new.db",
            clock=lambda: clock.now_ms,
            durability="normal",
            snapshot_every=snapshot_every,
            predecessor=() if restart else [*transcript, handover],
        )
        try:
            assert (new.resumed_from is not None) == (restart and snapshot_every > 0)
            held = new.escrow.verifier.statements
            assert revocation.digest in held and fork.digest in held
            assert binding.digest not in held  # shown, not held: in no chain
            kept = new.escrow.shown_binding(binding.digest)
            assert kept is not None and kept.revocation == revocation.digest  # kept as K1 kept it
            assert alice.principal.did in new.escrow.verifier.bound[alice.did]
            assert new.escrow.verifier.revoked[alice.did] == revocation.statement.key_revocation.effective_ms
            with pytest.raises(KeyRevoked):
                new.submit([theft.envelope])
            if not restart:
                new.deposit(
                    alice.did, 100
                )  # a statement of its own journaled: a snapshot at close follows it
            taken = new.escrow.transcript()
            assert taken.index(binding.envelope) + 1 == taken.index(revocation.envelope)
            report = audit_ledger(taken, escrow=succ.did)
            assert report.ok, report.findings
        finally:
            new.close()


@pytest.mark.req("ESC-018", "KEY-007", "KEY-004", "ESC-001")
def test_an_escrow_shows_a_forked_binding_only_with_a_revocation_it_takes() -> None:
    """The shown-binding path at an escrow, as a stranger would use it: after the thief's fork, the
    escrow refuses Alice's binding, its Submit stopping there (EQUIVOCATION, ESC-001), and keeps nothing
    of it -- not stamped, not in its transcript -- when what follows it is (1) Mallory's revocation of the
    key beside her own minted Mandate, or (2) beside Alice's (a shown binding authorises its own Mandate's
    principal only), (3) Alice's principal's revocation dated a day ahead (ISSUED_IN_FUTURE), (4) nothing.
    A forked statement of a negotiation -- an Offer naming the escrow under Alice's Mandate -- is never a
    shown binding (a Stamp of it would date it for anyone shown the Stamp): (5) refused too. The key stays
    bound to the thief's principal alone, and the revocation goes in afterwards with the binding."""
    clock = FixedClock()
    alice, bob, party = Party("alice", clock), Party("bob", clock), Party("escrow", clock)
    binding = alice.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([])))
    clock.advance(1_000)
    boss, own = _own_principal(alice.agent, clock)
    _, fork = _fork("same-seq", alice, clock, own)
    escrow = LocalEscrow(party)
    escrow.submit([own.envelope, fork.envelope])
    mallory, minted = _own_principal(alice.agent, clock, "mallory-principal")
    clock.advance(DAY_MS)
    ahead = _revocation(alice.principal, alice.did, clock.now_ms)
    clock.advance(-DAY_MS)
    proposal = alice.proposal()
    proposal.terms.escrow = party.did
    offer = alice.agent.sign("offer", proposal, audience=bob.did, mandate=alice.mandate_vs.digest)
    revocation = _revocation(alice.principal, alice.did, clock.now_ms)
    attempts = [
        [
            *alice.setup,
            minted.envelope,
            binding.envelope,
            _revocation(mallory, alice.did, clock.now_ms).envelope,
        ],
        [*alice.setup, binding.envelope, _revocation(mallory, alice.did, clock.now_ms).envelope],
        [*alice.setup, binding.envelope, ahead.envelope],
        [*alice.setup, binding.envelope],
        [*alice.setup, offer.envelope, revocation.envelope],
    ]
    for evidence in attempts:
        with pytest.raises(CoopError) as refused:
            escrow.submit(evidence)
        # the Offer, Alice's seq 1, links to her binding, not to the thief's seq 0 held
        assert refused.value.code == ("CHAIN_BROKEN" if offer.envelope in evidence else "EQUIVOCATION")
        assert escrow.escrow.verifier.bound[alice.did] == {boss.did}
        assert not any(map(escrow.escrow.took, (binding.digest, offer.digest, ahead.digest)))
        assert binding.envelope not in escrow.escrow.transcript()
    escrow.submit([*alice.setup, binding.envelope, revocation.envelope])
    assert escrow.escrow.verifier.bound[alice.did] == {boss.did, alice.principal.did}
    assert audit_ledger(escrow.escrow.transcript(), escrow=party.did).ok


@pytest.mark.req("AUD-003", "ESC-018", "KEY-007")
def test_the_audit_binds_nothing_for_a_refused_statement_without_its_revocation() -> None:
    """An escrow's transcript that shows the forked binding stamped without a revocation the binding
    authorises after it -- none, or one by another principal -- is not sound: the binding's refusal is a
    finding (EQUIVOCATION), as before."""
    clock = FixedClock()
    alice = Party("alice", clock)
    binding = alice.sign("checkpoint", identity_pb2.Checkpoint(log_root=merkle_root([])))
    clock.advance(1_000)
    _, own = _own_principal(alice.agent, clock)
    _, fork = _fork("same-seq", alice, clock, own)
    escrow = LocalEscrow(Party("escrow", clock))
    escrow.submit([own.envelope, fork.envelope])
    revocation = _revocation(alice.principal, alice.did, clock.now_ms - 500)
    escrow.submit([*alice.setup, binding.envelope, revocation.envelope])
    good = escrow.escrow.transcript()
    assert audit_ledger(good, escrow=escrow.did).ok
    mallory, _ = _own_principal(alice.agent, clock, "mallory-principal")
    for forged in (
        [env for env in good if env != revocation.envelope],
        [
            _revocation(mallory, alice.did, clock.now_ms).envelope if env == revocation.envelope else env
            for env in good
        ],
    ):
        codes = {f.code for f in audit_ledger(forged, escrow=escrow.did).findings}
        assert "EQUIVOCATION" in codes, codes


# --- 3: opening Offers as context, past RPC-012's caps ------------------------------------------------


@pytest.mark.req("RPC-012", "RPC-015", "KEY-008")
def test_offers_in_the_context_open_no_negotiation_past_the_caps() -> None:
    """Bob takes at most 2 negotiations not ended from one key, 4 in all. Mallory sends him, six times, a
    Delivery of a negotiation he does not hold (refused), her opening Offer of that negotiation as its
    context: RPC-015 takes a statement of the request's negotiation before the request, and keeps it
    when the request is refused, and the caps were checked for a request only -- six negotiations open
    with her, each costing Bob memory until it is released. Then six fresh principals each revoke their
    key (effective far ahead), the binding KEY-008 takes being the key's Offer addressed to Bob: each
    opened a negotiation too, past the total. Fixed: an opening Offer addressed to the server among the
    context counts toward the caps as a request does; one over them refuses the request RATE_LIMITED."""
    clock = FixedClock()
    bob, mallory = Party("bob", clock), Party("mallory", clock)
    b = make_peer(bob, clock, max_open_per_counterparty=2, max_open_total=4)
    kept = []
    for _ in range(6):
        offer = mallory.offer(bob)
        delivery = mallory.sign(
            "delivery",
            commitment_pb2.Delivery(contract=offer.digest, item_index=0),
            audience=bob.did,
            negotiation_id=offer.header.negotiation_id,
        )
        with pytest.raises(CoopError) as refused:
            b.exchange(delivery.envelope, [*mallory.setup, offer.envelope])
        kept.append((refused.value.code, offer.digest in b.verifier.statements))
    assert kept == [("ILLEGAL_TRANSITION", True)] * 2 + [("RATE_LIMITED", False)] * 4
    assert b.status()["negotiations"]["PROPOSED"] == 2
    codes = []
    for i in range(6):
        key = Party(f"fresh/{i}", clock)
        revocation = _revocation(key.principal, key.did, clock.now_ms + DAY_MS)
        try:
            b.exchange(revocation.envelope, [*key.setup, key.offer(bob).envelope])
            codes.append("taken")
        except CoopError as exc:
            codes.append(exc.code)
    opened = b.status()["negotiations"]["PROPOSED"]
    assert opened <= 4, (opened, codes)
    assert "RATE_LIMITED" in codes


# --- 4: ESC-016, money out twice ---------------------------------------------------------------------


def _displacement(
    clock: FixedClock,
) -> tuple[LocalEscrow, Party, Party, bytes, VerifiedStatement, list[bytes]]:
    """P1 offers P2 terms naming K; P2 counters naming the honest escrow E, which P1 accepts: E bonds the
    contract. P2's Accept of the first offer, stamped by K by its cutoff, is signed at once and kept back:
    (E, P1, P2, negotiation id, the contract's Accept, [K's Mandate, K's Stamp, the displacing Accept])."""
    p1, p2, k = Party("p1", clock), Party("p2", clock), Party("k", clock)
    e = LocalEscrow(Party("escrow", clock), funds={p1.did: 1_000, p2.did: 1_000})
    o1, c2, a2 = line_moved_to(clock, p1, p2, k.did, e.did, bond=BOND)
    e.submit([*p1.setup, *p2.setup, o1.envelope, c2.envelope, a2.envelope])
    clock.advance(1_000)
    a0 = p2.accept(o1)
    stamp = k.sign("stamp", commitment_pb2.Stamp(statements=[a0.digest]))
    return e, p1, p2, o1.header.negotiation_id, a2, [*k.setup, stamp.envelope, a0.envelope]


@pytest.mark.req("ESC-016", "AUD-002", "AUD-004", "NEG-017")
@pytest.mark.parametrize("shown", ["claim pending", "after the forfeit"])
def test_a_displacement_shown_late_pays_no_bond_twice(shown: str) -> None:
    """P2 keeps K's witnessed Accept back, lets P1 default under E's contract and claims; then shows E the
    Accept -- while the claim awaits its ruling, or once E forfeited P1's bond to P2. Could E refund a bond
    it also rules on or forfeited (money out twice)? Held: pending, both bonds come back and E signs no
    ruling after; forfeited, the settled bonds are not refunded (ESC-016: only what is not settled);
    balances sum to the deposits, and the audit finds nothing."""
    clock = FixedClock()
    e, p1, p2, nid, a2, displacing = _displacement(clock)
    clock.advance(DAY_MS + 1_000)  # past P1's deadline: P2 claims
    claim = p2.sign(
        "breach_claim",
        commitment_pb2.BreachClaim(contract=a2.digest, item_index=0, reason="never arrived"),
        audience=p1.did,
        negotiation_id=nid,
    )
    e.submit([claim.envelope])
    if shown == "after the forfeit":
        clock.advance(DEFAULT_RESPONSE_WINDOW_MS + 60_000)
        e.tick()
    head = e.escrow.ledger_size
    e.submit(displacing)
    clock.advance(DEFAULT_RESPONSE_WINDOW_MS + 3 * DAY_MS)
    e.tick()
    after = [verify_statement(env).body for env in e.escrow.ledger(head)]
    balances = [e.get_balance(p.did)[:2] for p in (p1, p2)]
    if shown == "claim pending":
        assert after == ["stamp", "refund", "refund"]
        assert balances == [(1_000, 0), (1_000, 0)]
    else:
        assert after == ["stamp"]
        assert balances == [(1_000 - BOND, 0), (1_000 + BOND, 0)]
    assert sum(free + locked for free, locked in balances) == 2_000
    report = audit_ledger(e.escrow.transcript(), escrow=e.did)
    assert report.ok, report.findings


@pytest.mark.req("ESC-016", "NEG-017")
def test_a_replayed_displacement_refunds_nothing_more() -> None:
    """Shown the displacing Accept again, alone or with a later claim of the displaced contract, E
    signs no second Refund (its Book says the bonds are settled), and the claim moves nothing."""
    clock = FixedClock()
    e, p1, p2, nid, a2, displacing = _displacement(clock)
    e.submit(displacing)
    size = e.escrow.ledger_size
    clock.advance(DAY_MS + 1_000)
    claim = p2.sign(
        "breach_claim",
        commitment_pb2.BreachClaim(contract=a2.digest, item_index=0, reason="never arrived"),
        audience=p1.did,
        negotiation_id=nid,
    )
    e.submit([*displacing, claim.envelope])
    clock.advance(DEFAULT_RESPONSE_WINDOW_MS + 3 * DAY_MS)
    e.tick()
    assert {verify_statement(env).body for env in e.escrow.ledger(size)} <= {"stamp"}
    assert [e.get_balance(p.did)[:2] for p in (p1, p2)] == [(1_000, 0)] * 2
    assert audit_ledger(e.escrow.transcript(), escrow=e.did).ok


@pytest.mark.req("ESC-016", "ESC-001")
def test_a_displacement_in_a_refused_submit_is_refunded_once_across_a_restart(tmp_path: Path) -> None:
    """The displacing Accept comes in a Submit the escrow then refuses (an envelope after it does not
    verify): what came before it stays taken and stamped (ESC-001), so the Refunds are due all the same.
    Could the refusal leave them unsigned, or signed and not journaled, to be signed again after a
    restart (money out twice)? Held: refunded in that Submit, journaled with it; the restarted node
    signs nothing more, and the audit of its journal is sound."""
    path = tmp_path / "escrow.db"
    clock = FixedClock()
    p1, p2, k, party = Party("p1", clock), Party("p2", clock), Party("k", clock), Party("escrow", clock)

    def node() -> EscrowNode:
        return EscrowNode(
            party.agent.key, party.mandate_vs.envelope, path, clock=lambda: clock.now_ms, durability="normal"
        )

    e = node()
    for who in (p1, p2):
        e.deposit(who.did, 1_000)
    o1, c2, a2 = line_moved_to(clock, p1, p2, k.did, party.did, bond=BOND)
    e.submit([*p1.setup, *p2.setup, o1.envelope, c2.envelope, a2.envelope])
    clock.advance(1_000)
    a0 = p2.accept(o1)
    stamp = k.sign("stamp", commitment_pb2.Stamp(statements=[a0.digest]))
    garbage = bytearray(p2.deliver(a0, p1).envelope)
    garbage[-1] ^= 1  # its signature broken
    head = e.escrow.ledger_size
    with pytest.raises(CoopError):
        e.submit([*k.setup, stamp.envelope, a0.envelope, bytes(garbage)])
    assert [verify_statement(env).body for env in e.escrow.ledger(head)] == ["stamp", "refund", "refund"]
    size = e.escrow.ledger_size
    e.close()
    again = node()
    try:
        clock.advance(1_000)
        assert again.tick() == []
        assert again.escrow.ledger_size == size
        assert [again.escrow.balance(p.did) for p in (p1, p2)] == [(1_000, 0)] * 2
        report = audit_ledger(again.escrow.transcript(), escrow=party.did)
        assert report.ok, report.findings
    finally:
        again.close()
