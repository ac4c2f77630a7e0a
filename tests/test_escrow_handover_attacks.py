"""Attacks on an escrow's hand-over (SPEC.md ESC-022, ESC-023): the values it relies on -- the exported
transcript the successor loads, the revocation's effective time -- and a repeated Submit to a successor.

Desk (tests/test_escrow_handover.py): Alice and Bob bonded at the reference escrow K1 (principal P), Bob
never delivering; P revokes K1 and hands its contracts to K2.
"""

from __future__ import annotations

import pytest
from test_escrow_handover import Desk

from a2a_coop._proto.a2acoop.v1 import identity_pb2
from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.escrow import Escrow
from a2a_coop.protocol.negotiation import DEFAULT_RESPONSE_WINDOW_MS, State
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.protocol.verifier import Verifier
from a2a_coop.testing import _LedgerSigner


def _ruled_by_k1() -> tuple[Desk, int, VerifiedStatement]:
    """K1 stamps Alice's claim, upholds it, forfeits Bob's bond to her and releases hers -- Alice's view
    holds all of it -- and is then revoked. Returns the desk, how long K1's transcript was before the
    claim, and the revocation."""
    d = Desk()
    claim = d.claim()
    d.view.accept(claim.envelope, ours=True)
    before_claim = len(d.old.transcript())
    d.relay([vs.envelope for vs in d.old.submit([claim.envelope], d.clock.now_ms)])
    d.clock.advance(DEFAULT_RESPONSE_WINDOW_MS + 30_000)
    settled = d.old.tick(d.clock.now_ms)
    assert [vs.body for vs in settled] == ["ruling", "forfeit", "release"]
    d.relay([vs.envelope for vs in settled])
    assert d.state() is State.BREACHED and d.old.balance(d.alice.did) == (1_100, 0)
    rev = d.esc.principal.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=d.esc.did, effective_ms=d.clock.advance(1))
    )
    return d, before_claim, rev


@pytest.mark.req("ESC-023")
def test_a_successor_fed_an_export_cut_short_takes_none_of_the_old_keys_missing_ledger() -> None:
    # The operator's export of K1's journal stops before K1's Stamp of Alice's claim (a file cut short,
    # or doctored): every statement in it is K1's, its chain has no gap, and the successor cannot know
    # K1's head. It holds both bonds locked, while the ledger the parties saw settled them.
    d, before_claim, rev = _ruled_by_k1()
    full = d.old.transcript()
    succ = d.successor()
    new = Escrow(
        _LedgerSigner(succ.agent),
        succ.mandate_vs.digest,
        setup=succ.setup,
        predecessor=[*full[:before_claim], rev.envelope],
    )
    assert new.balance(d.alice.did) == (900, 100) and new.open_contracts == 1
    # Alice shows it K1's statements it misses (dated before the revocation: K1's, KEY-004). Before ESC-023
    # (e) it stamped them as evidence: the contract closed, and both bonds stayed locked in its book for
    # good. Now it refuses them, taking nothing: its operator restarts it from the full export.
    size = new.ledger_size
    with pytest.raises(CoopError) as e:
        new.submit(full[before_claim:], d.clock.now_ms)
    assert e.value.code == "CHAIN_GAP" and e.value.requirement == "ESC-023"
    assert new.ledger_size == size and new.open_contracts == 1
    assert new.balance(d.alice.did) == (900, 100)
    # From the full export, the successor's ledger is the one the parties saw.
    again = Escrow(
        _LedgerSigner(d.successor("escrow3").agent),
        succ.mandate_vs.digest,
        setup=succ.setup,
        predecessor=[*full, rev.envelope],
    )
    assert again.balance(d.alice.did) == (1_100, 0) and again.balance(d.bob.did) == (900, 0)
    assert again.open_contracts == 0


@pytest.mark.req("ESC-007", "ESC-023")
def test_a_repeated_submit_to_a_successor_is_answered_with_both_keys_statements() -> None:
    # Bob submits the contract twice to the successor after it ruled: each answer is the same -- K1's
    # Stamp of the Accept and its locks, then the successor's Stamp of the claim, Ruling, Forfeit and
    # Release -- and signs nothing new (ESC-007 for a successor).
    d = Desk()
    _rev, succ, new = d.take_over()
    claim = d.claim()
    new.submit([claim.envelope], d.clock.now_ms)
    d.clock.advance(DEFAULT_RESPONSE_WINDOW_MS + 30_000)
    assert [vs.body for vs in new.tick(d.clock.now_ms)] == ["ruling", "forfeit", "release"]
    size = new.ledger_size
    contract = [d.offer.envelope, d.accept.envelope, claim.envelope]
    first = [vs.envelope for vs in new.submit(contract, d.clock.now_ms)]
    second = [vs.envelope for vs in new.submit(contract, d.clock.advance(1_000))]
    assert first == second and new.ledger_size == size
    answer = new.with_mandates(succ.mandate_vs.envelope, first)
    issued = [(verify_statement(e).issuer, verify_statement(e).body) for e in answer]
    k1, k2, p = d.esc.did, succ.did, d.esc.principal.did
    # (K1's Stamp of the contract is the binding the revocation needs, KEY-008: it comes before it.)
    assert issued == [
        (p, "mandate"),
        (p, "mandate"),
        (k1, "stamp"),
        (p, "key_revocation"),
        (k1, "bond_lock"),
        (k1, "bond_lock"),
        (k2, "stamp"),
        (k2, "ruling"),
        (k2, "forfeit"),
        (k2, "release"),
    ]
    # Bob, holding nothing of K1 (Alice claimed to him), takes the answer and sees the contract breached.
    bob = Verifier(me=d.bob.did)
    for env in [d.alice.mandate_vs.envelope, d.bob.mandate_vs.envelope, d.offer.envelope, d.accept.envelope]:
        bob.accept(env, ours=verify_statement(env).issuer == d.bob.did)
    for env in answer:
        if verify_statement(env).issuer == k2 and verify_statement(env).body == "stamp":
            bob.accept(claim.envelope)  # the claim Alice sent him, after the locks
        if verify_statement(env).digest not in bob.statements:
            bob.accept(env)
    assert bob.negotiations.get(d.offer.header.negotiation_id).state is State.BREACHED


@pytest.mark.req("ESC-023")
def test_a_successor_refuses_an_export_missing_a_statement_inside_the_old_keys_chain() -> None:
    # The export with K1's Stamp of Alice's claim, its Ruling, Forfeit and Release cut out of its middle,
    # K1's later Deposit kept: each statement left passes its checks (a verifier may hold a chain with
    # gaps), and before ESC-023 (e) the successor started with both bonds locked. It now takes K1's chain
    # over whole from seq 0, as the audit replays it (AUD-006), and does not start.
    d, before_claim, _ = _ruled_by_k1()
    d.old.deposit(d.alice.did, 5, "credit", "a later entry", d.clock.now_ms)
    rev = d.esc.principal.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=d.esc.did, effective_ms=d.clock.advance(1))
    )
    full = d.old.transcript()
    assert [verify_statement(env).body for env in full[before_claim:]] == [
        *("stamp", "breach_claim", "ruling", "forfeit", "release", "deposit")
    ]
    succ = d.successor()
    with pytest.raises(CoopError) as e:
        Escrow(
            _LedgerSigner(succ.agent),
            succ.mandate_vs.digest,
            setup=succ.setup,
            predecessor=[*full[:before_claim], full[-1], rev.envelope],
        )
    assert e.value.code == "CHAIN_GAP" and e.value.requirement == "ESC-023"
    taken = Escrow(
        _LedgerSigner(succ.agent), succ.mandate_vs.digest, setup=succ.setup, predecessor=[*full, rev.envelope]
    )
    assert taken.balance(d.alice.did) == (1_105, 0)
