"""redteam23b: a thief's own revocation of a handed-over escrow key, backdated, unwinds the key's ledger.

KEY-011 keeps a thief holding escrow key K1 from disowning K1's ledger with K1's own revocation dated back
before its first statement: K1's own revocation "reaches none of the key's statements at a seq below its
own" (the key's chain orders them before it) -- `tests/test_escrow_handover.py::
test_a_thiefs_backdated_self_revocation_does_not_stop_the_principals_hand_over`. ESC-022 (e) reads the
hand-over's time instead -- "the earliest effective_ms of a KeyRevocation of K held (its reach time for K's
statements under P's Mandates)", the seq floor set aside (KEY-011 (d), ``Verifier._cut``) -- and counts
for nothing every statement of K1 itself from that time on, its Stamps as witnesses too, rebuilding the
contracts they touched (``Verifier._rebuild_handed_over``).

Who chose the value it relies on: K1's own revocation's issued_at_ms, and so its reach time, is the
thief's. Signed at a seq above every statement of K1 (it reaches none of them, KEY-004), dated a millisecond
before K1's first statement, it moves the hand-over's time before K1's whole ledger: the escrow's Stamp of
Alice and Bob's Accept and its two BondLocks -- K1's honest work, before the theft -- count for nothing,
and their contract falls from BONDED to ACCEPTED with no bond locked, in every view that honours the
hand-over (a view of evidence and a live receiver's alike), while K2, the successor, took those locks over
(ESC-023) and rules on them. Closed (selfrev23): ESC-022 (e) counts for nothing exactly the statements of
K1 a revocation of K1 held reaches (KEY-011, its seq floor kept: ``WitnessIndex.own_counts``, JS
``ownReached``, F46); K2's statements still count from the hand-over's time (ESC-022 (b)).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess

import pytest
from test_escrow_handover import Desk
from test_escrow_handover_thief_order import World, _world
from test_js_verifier import NODE, ROOT

from a2a_coop._proto.a2acoop.v1 import identity_pb2
from a2a_coop.protocol.chain import ChainSigner
from a2a_coop.protocol.escrow import Escrow
from a2a_coop.protocol.statements import VerifiedStatement, verify_statement
from a2a_coop.protocol.verifier import Verifier
from a2a_coop.testing import _LedgerSigner

_ROLES = [{}, {"evidence_view": False}]  # a view of evidence; a live receiver's (or an escrow's) view


def _backdated(w: World) -> VerifiedStatement:
    """K1's own revocation, signed by its thief at a seq above every statement of K1, dated a millisecond
    before K1's first statement (effective_ms 1: its reach is its issued_at_ms, KEY-011)."""
    first = min(vs.issued_at_ms for vs in w.base if vs.issuer == w.thief.did)
    at = first - 1
    signer = ChainSigner(
        w.thief.agent.key, clock=lambda: at, nonce=lambda: os.urandom(16), head=(1_000_000, b"\x01" * 32)
    )
    return signer.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=w.thief.did, effective_ms=1), issued_at_ms=at
    )


def _contract(w: World, v: Verifier) -> tuple[str, frozenset[str]]:
    neg = v.negotiations.get(w.s.nid)
    c = neg.contract
    assert c is not None
    names = {w.s.alice.did: "alice", w.s.bob.did: "bob"}
    return neg.state.name, frozenset(names[p] for p in c.locked if p not in c.settled)


def _attacked(w: World, role: dict[str, object]) -> Verifier:
    v, refused = w.view([w.revocation, w.k2.mandate_vs], **role)
    assert refused == []
    principals = v.successors(w.thief.did)
    assert principals is not None and principals[1] == w.revocation.statement.key_revocation.effective_ms
    assert _contract(w, v) == ("BONDED", frozenset({"alice", "bob"}))  # K1's Stamp and BondLocks count
    own = _backdated(w)
    v.accept(own.envelope)
    # The attack happened: K1's own revocation, signed with the stolen key, is taken; it reaches none of
    # K1's statements (KEY-004, KEY-011: all at a seq below its own), and the hand-over's time is now its
    # issued_at_ms, before K1's first statement.
    assert own.digest in v.statements and own.issuer == w.thief.did
    k1s = [vs for vs in w.base if vs.issuer == w.thief.did]
    assert k1s and not any(v.revokes(vs) for vs in k1s)
    after = v.successors(w.thief.did)
    assert after is not None and after[1] == own.issued_at_ms < min(vs.issued_at_ms for vs in k1s)
    return v


@pytest.mark.req("ESC-022", "KEY-011", "KEY-004")
@pytest.mark.parametrize("role", _ROLES)
def test_a_thiefs_backdated_own_revocation_leaves_the_escrows_locks_standing(role: dict[str, object]) -> None:
    """K1's Stamp of the Accept and its BondLocks, at seqs below the thief's own revocation (which reaches
    none of them, KEY-011), still count (ESC-022 (e) reads the reach, not the hand-over's time) -- BONDED,
    both bonds locked, as K2 holds them. Before (redteam23b), the contract fell to ACCEPTED, no bond
    locked."""
    w = _world()
    v = _attacked(w, role)
    assert _contract(w, v) == ("BONDED", frozenset({"alice", "bob"}))


@pytest.mark.req("ESC-023", "ESC-022", "KEY-011")
def test_the_successor_escrow_takes_over_the_locks_the_views_no_longer_count() -> None:
    """The other side of the split, pinned: K2, the successor escrow, handed the same backdated own
    revocation of K1 (its hand-over's time before K1's first statement), takes K1's whole ledger over --
    the contract open, Alice's bond locked as K1 held it (ESC-023 reads K1's chain, KEY-011) -- where every
    view above holds that contract ACCEPTED with no bond locked."""
    d = Desk()
    d.claim()
    old = [verify_statement(env) for env in d.old.transcript()]
    first = min(vs.issued_at_ms for vs in old if vs.issuer == d.esc.did)
    signer = ChainSigner(
        d.esc.agent.key, clock=lambda: first - 1, nonce=lambda: os.urandom(16), head=(1_000_000, b"\x01" * 32)
    )
    own = signer.sign(
        "key_revocation", identity_pb2.KeyRevocation(key=d.esc.did, effective_ms=1), issued_at_ms=first - 1
    )
    when = d.clock.advance(1)
    rev = d.esc.principal.sign("key_revocation", identity_pb2.KeyRevocation(key=d.esc.did, effective_ms=when))
    succ = d.successor()
    new = Escrow(
        _LedgerSigner(succ.agent),
        succ.mandate_vs.digest,
        setup=succ.setup,
        predecessor=[*d.old.transcript(), own.envelope, rev.envelope],
    )
    assert new.handover_ms == first - 1  # the thief's time, before K1's whole ledger
    assert new.open_contracts == 1
    assert new.balance(d.alice.did) == d.old.balance(d.alice.did) == (900, 100)  # her bond locked


_JS_READ = """
import { Verifier } from "./examples/js_verifier/verify.mjs";
const tests = JSON.parse(process.argv[1]);
const out = tests.map((envelopes) => {
  const v = new Verifier({ mode: "sparse", nowMs: null, role: "auditor" });
  for (const e of envelopes) v.accept(Buffer.from(e, "base64"));
  return [...v.negotiations.values()].filter((n) => n.contract).map((n) => [n.state, n.contract.locked.size]);
});
console.log(JSON.stringify(out));
"""


@pytest.mark.req("ESC-022", "KEY-011")
@pytest.mark.skipif(NODE is None, reason="node not installed")
def test_every_order_and_the_js_verifier_read_the_backdated_own_revocation_alike() -> None:
    """The backdated own revocation heard first, amid or last, a view of evidence and a live receiver's
    alike end BONDED, both bonds locked -- as without it --, and so does the second implementation (F46;
    before, both ended ACCEPTED with no bond locked)."""
    w = _world()
    own = _backdated(w)
    handed = [w.revocation, w.k2.mandate_vs]
    orders = [[own, *w.base, *handed], [*w.base, own, *handed], [*w.base, handed[0], own, handed[1]]]
    for role in _ROLES:
        for order in orders:
            v = Verifier(**role)  # type: ignore[arg-type]
            for vs in order:
                v.accept(vs.envelope)
            assert _contract(w, v) == ("BONDED", frozenset({"alice", "bob"}))
    bundles = [[*w.base, *handed], *orders]
    run = subprocess.run(
        [
            NODE or "node",
            "--input-type=module",
            "-e",
            _JS_READ,
            json.dumps([[_b64(vs) for vs in b] for b in bundles]),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert json.loads(run.stdout) == [[["BONDED", 2]]] * len(bundles)


def _b64(vs: VerifiedStatement) -> str:
    return base64.b64encode(vs.envelope).decode()
