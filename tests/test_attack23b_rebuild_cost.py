"""redteam23b: what ESC-022 (e)'s rebuild costs, and who makes a verifier pay it.

K1, Alice and Bob's escrow key, is stolen; its principal revokes it and hands its contracts to K2. A view
that comes to honour the hand-over, or whose hand-over's time comes earlier (a revocation of K1 dated
earlier held), rebuilds each contract naming K1 that holds a statement of K1 from that time on
(``Verifier._rebuild_handed_over``). ESC-022 (e)'s Why says the hand-over's time "only comes earlier as its
revocations are held (each time it does, once: a revoker's corrections are bounded, RPC-016 (c))" and that a
rebuild runs "once per hand-over honoured or moved earlier -- never per statement of the thief's".

Who chose the values it relies on: the hand-over's time is the earliest reach of a revocation of K1 held
(KEY-011 (d)) -- and K1's own revocation is one, its reach its issued_at_ms, chosen by K1's holder: the
thief. The thief signs pairs: a Stamp by K1 of Alice's claim dated just before the hand-over's time (K1's
own word, taken -- no revocation reaches it), then K1's own revocation dated a millisecond before that Stamp
at one seq lower: it reaches the Stamp just signed (dated and chained after it, KEY-011 (a)), which no longer
counts, and moves the hand-over's time below it. The contract is rebuilt once per pair: RPC-016 (c) bounds
nothing here (at a peer K1 is the escrow of its contract, in its dealings for good, uncounted; a view of
evidence keeps no quota).

What each rebuild reads was the hole (rebuild24 closed it): one pass over every statement the verifier
held, and over every negotiation it held, to find the touched contracts' -- so each pair of the stolen key's
cost every view a pass over everything it holds. Now the verifier keeps the digests of each negotiation's
statements held, in the order they came (``Verifier._held_by_negotiation``, leaving memory with the
negotiation, read back from the archive with it), and the negotiations whose contract names each escrow key
it honours a hand-over of (``Verifier._naming_escrow``): a rebuild reads the touched contracts' statements
alone, with 200 bystanders' statements and 50 bystanders' contracts held as with none, and a contract read
back from the archive, or held by a verifier pickled before the index, is rebuilt as one held in memory.
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from js_run import js_module
from test_escrow_handover_thief_order import World, _world

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2
from a2a_coop.protocol.archive import HeldStatements
from a2a_coop.protocol.chain import ChainSigner
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.protocol.verifier import Verifier
from a2a_coop.runtime import snapshot
from a2a_coop.runtime.journal import Journal
from a2a_coop.testing import Party

_ROLES = [{}, {"evidence_view": False}]  # a view of evidence; a live receiver's (or an escrow's) view
_PAIRS = 12


def _k1_at(w: World, seq: int, at_ms: int, body: str, message: object) -> VerifiedStatement:
    """A statement signed with K1's stolen key at the seq and time its thief picks."""
    signer = ChainSigner(
        w.thief.agent.key, clock=lambda: at_ms, nonce=lambda: os.urandom(16), head=(seq, b"\x01" * 32)
    )
    mandate = w.thief.mandate_vs.digest if body == "stamp" else b""
    return signer.sign(body, message, issued_at_ms=at_ms, mandate=mandate)


def _thiefs_pairs(w: World, pairs: int) -> list[VerifiedStatement]:
    """K1's thief: a Stamp of Alice's claim, then K1's own revocation a millisecond earlier (one seq
    lower), each pair below the last -- all signed by K1 alone, all dated before the principal's
    revocation took effect."""
    assert w.s.claim is not None
    out = []
    seq, at = 1_000_000, w.revocation.statement.key_revocation.effective_ms - 1
    for _ in range(pairs):
        out.append(_k1_at(w, seq, at, "stamp", commitment_pb2.Stamp(statements=[w.s.claim.digest])))
        out.append(
            _k1_at(
                w,
                seq - 1,
                at - 1,
                "key_revocation",
                identity_pb2.KeyRevocation(key=w.thief.did, effective_ms=at - 1),
            )
        )
        seq, at = seq - 2, at - 2
    return out


class _Reads:
    """The work of the rebuilds (counted while ``Verifier._rebuild_handed_over`` runs): contracts replayed,
    and what they read -- each statement held looked at (iterated over, or asked for by digest), each
    negotiation held looked at (iterated over, or asked for by id: :func:`_count_negotiations`), each
    envelope an archive gives back."""

    def __init__(self, mp: pytest.MonkeyPatch) -> None:
        self.rebuilds = self.read = 0
        self.active = False
        rebuild, handed_over = Verifier._rebuild_negotiation, Verifier._rebuild_handed_over
        values, get = HeldStatements.values, HeldStatements.get

        def counted(v: Verifier, *args: object) -> None:
            self.rebuilds += 1
            rebuild(v, *args)  # type: ignore[arg-type]

        def counting(v: Verifier) -> None:
            self.active = True
            try:
                handed_over(v)
            finally:
                self.active = False

        def counted_values(held: HeldStatements) -> Any:
            self.read += len(held) if self.active else 0  # a pass reads every one
            return values(held)

        def counted_get(held: HeldStatements, digest: bytes, default: Any = None) -> Any:
            self.read += self.active
            return get(held, digest, default)

        mp.setattr(Verifier, "_rebuild_negotiation", counted)
        mp.setattr(Verifier, "_rebuild_handed_over", counting)
        mp.setattr(HeldStatements, "values", counted_values)
        mp.setattr(HeldStatements, "get", counted_get)

    def count_negotiations(self, v: Verifier) -> None:
        """From now on, count what the rebuilds look at of ``v``'s negotiations held."""
        reads = self

        class Counted(dict[bytes, Any]):
            def items(self) -> Any:
                reads.read += len(self) if reads.active else 0
                return super().items()

            def values(self) -> Any:
                reads.read += len(self) if reads.active else 0
                return super().values()

            def __iter__(self) -> Any:
                reads.read += len(self) if reads.active else 0
                return super().__iter__()

            def get(self, key: bytes, default: Any = None) -> Any:
                reads.read += reads.active
                return super().get(key, default)

        v.negotiations.by_id = Counted(v.negotiations.by_id)


def _padding(w: World, n: int) -> Iterator[VerifiedStatement]:
    """``n`` statements that have nothing to do with K1: for each four, two strangers' contract (a trade with
    no escrow: their Mandates, an Offer and its Accept); the rest, strangers' Mandates."""
    for i in range(n // 4):
        a, b = Party(f"bystander{i}a", w.s.clock), Party(f"bystander{i}b", w.s.clock)
        offer = a.offer(b)
        yield from (a.mandate_vs, b.mandate_vs, offer, b.accept(offer))
    for i in range(n % 4):
        yield Party(f"bystander{i}", w.s.clock).mandate_vs


def _run(
    w: World, pairs: list[VerifiedStatement], padding: int, role: dict[str, object], reads: _Reads
) -> Verifier:
    v, refused = w.view([w.revocation, w.k2.mandate_vs, *_padding(w, padding)], **role)
    return _pairs(w, v, pairs, refused, reads)


def _pairs(
    w: World, v: Verifier, pairs: list[VerifiedStatement], refused: list[str], reads: _Reads
) -> Verifier:
    """``v``, holding the hand-over, takes the thief's ``pairs``: the attack happens, and each pair rebuilds
    the contract once."""
    assert refused == []
    reads.count_negotiations(v)
    handed_over = v.successors(w.thief.did)
    assert handed_over is not None and handed_over[1] == w.revocation.statement.key_revocation.effective_ms
    neg = v.negotiations.get(w.s.nid)
    exposed = _outstanding(w, v)
    reads.rebuilds = reads.read = 0
    for stamp, revocation in zip(pairs[::2], pairs[1::2], strict=True):
        v.accept(stamp.envelope)  # K1's own word before the hand-over's time: the claim takes effect
        assert len(v.negotiations.get(w.s.nid).contract.claims) == 1  # type: ignore[union-attr]
        v.accept(revocation.envelope)  # the hand-over's time comes below it: the claim is not effective
        assert not v.negotiations.get(w.s.nid).contract.claims  # type: ignore[union-attr]
    # The attack happened: every statement signed by K1 alone, all taken, each revocation moved the
    # hand-over's time earlier -- one rebuild per pair.
    assert {vs.issuer for vs in pairs} == {w.thief.did}
    assert all(vs.digest in v.statements for vs in pairs)
    after = v.successors(w.thief.did)
    assert after is not None and after[1] == pairs[-1].statement.key_revocation.effective_ms
    assert neg is not None and reads.rebuilds == len(pairs) // 2
    # Rebuilt once per pair, the contract counts once toward each party's outstanding value (MND-010), as
    # before the pairs: Exposure.contract_reopened replaces its entry.
    assert _outstanding(w, v) == exposed and all(exposed)
    return v


def _outstanding(w: World, v: Verifier) -> tuple[int, ...]:
    """Alice's and Bob's outstanding value (MND-010) under the Mandates their contract cites, now."""
    c = v.negotiations.get(w.s.nid).contract
    assert c is not None
    now = w.s.clock.now_ms
    return tuple(v.exposure.by_mandate[vs.mandate_digest].outstanding(now) for vs in (c.offer, c.accept))


@pytest.mark.req("ESC-022", "KEY-011", "RPC-016")
@pytest.mark.parametrize("role", _ROLES)
def test_the_thiefs_own_revocations_rebuild_the_contract_once_per_pair(
    role: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pinned: each pair of K1's thief -- a Stamp of Alice's claim, K1's own revocation just before it --
    makes the claim effective and then rebuilds the contract without it, in a view of evidence and in a
    live receiver's alike; the rebuilds grow with the pairs the thief signs, not with the hand-overs."""
    w = _world()
    pairs = _thiefs_pairs(w, _PAIRS)
    reads = _Reads(monkeypatch)
    _run(w, pairs, 0, role, reads)
    assert reads.rebuilds == _PAIRS


@pytest.mark.req("ESC-022", "KEY-011", "RPC-016")
@pytest.mark.parametrize("role", _ROLES)
def test_a_thiefs_pairs_cost_a_rebuild_no_more_than_the_contracts_own_statements(
    role: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What each of the thief's pairs costs does not grow with what the verifier holds apart from the
    contract: the same pairs read the same with 200 unrelated statements held -- 50 bystanders' contracts
    among them -- as with none, and each rebuild reads no more than twice the contract's statements held
    (:meth:`Verifier._holds_stolen` reads its history, :meth:`Verifier._held_of` its statements) and the one
    contract naming K1. Before (redteam23b's strict xfail), each read every statement and every negotiation
    held: 12 pairs with these 200 bystanders' statements held read 2,400 statements and 600 negotiations
    more than with none."""
    w = _world()
    pairs = _thiefs_pairs(w, _PAIRS)
    reads = _Reads(monkeypatch)
    v = _run(w, pairs, 0, role, reads)
    bare = reads.read
    held = sum(vs.negotiation_id == w.s.nid for vs in v.statements.values())  # the contract's statements held
    padded = _run(w, pairs, 200, role, reads)
    assert len(padded.statements) >= len(v.statements) + 200  # the bystanders held ...
    assert len(padded.negotiations.by_id) == len(v.negotiations.by_id) + 50
    assert reads.read == bare, (bare, reads.read)  # ... and read by no rebuild
    # each rebuild: the contract's history (an entry per event) and its statements held, and the seqs of the
    # Stamps it holds effective asked of the witness index -- the contract's, a few times over, and no more
    assert 0 < bare <= _PAIRS * 3 * held, (bare, held)


class _Journal:
    """A journal as the verifier's archive, counting the envelopes it gives back of a negotiation."""

    def __init__(self, path: Path) -> None:
        self.journal = Journal.open(path, durability="normal")
        self.given = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.journal, name)

    def negotiation(self, negotiation_id: bytes, *, upto: int | None = None) -> list[bytes]:
        envelopes = self.journal.negotiation(negotiation_id, upto=upto)
        self.given += len(envelopes)
        return envelopes


@pytest.mark.req("ESC-022", "KEY-011")
@pytest.mark.parametrize("role", _ROLES)
def test_a_contract_read_back_from_the_archive_is_rebuilt_as_one_held_in_memory(
    role: dict[str, object], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A bounded verifier forgot the contract (its statements are in its journal) and a statement naming it
    brought it back (``Negotiations._held``, as :meth:`Verifier.check` does): the thief's pairs rebuild it
    from the statements the archive gives back, in the order it took them, exactly as a verifier holding it in
    memory does -- the claim made effective by each Stamp, and not by the revocation after it; Alice's and
    Bob's outstanding value as before. Before, a rebuild read memory alone, found none of the contract's
    statements there, and left the thief's Stamp making the claim effective."""
    w = _world()
    pairs = _thiefs_pairs(w, 3)
    reads = _Reads(monkeypatch)
    in_memory = w.outcome(_run(w, pairs, 0, role, reads))
    archive = _Journal(tmp_path / "journal.db")
    v = Verifier(**role)  # type: ignore[arg-type]
    try:
        v.use_archive(archive)  # type: ignore[arg-type]
        for vs in [*w.base, w.revocation, w.k2.mandate_vs]:
            v.accept(vs.envelope)
            archive.record_batch([(vs, [], False)], at_ms=0)
        assert v.forget_negotiation(w.s.nid)
        assert w.s.nid not in v.negotiations.by_id
        assert w.s.nid not in (getattr(v, "_held_by_negotiation", None) or {})  # the index forgot it too
        assert v.negotiations._held(w.s.nid)  # read back, kept
        archive.given = 0
        assert _pairs(w, v, pairs, [], reads) is v
        assert archive.given == reads.rebuilds * len(archive.journal.negotiation(w.s.nid))
        assert w.outcome(v) == in_memory
    finally:
        archive.close()


@pytest.mark.req("ESC-022", "KEY-011")
@pytest.mark.parametrize("role", _ROLES)
def test_a_verifier_pickled_before_the_index_rebuilds_as_one_taken_now(
    role: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A node's snapshot pickles its verifier whole: one pickled by a version before the index (no
    ``_held_by_negotiation``, no ``_naming_escrow``) builds both from memory once and rebuilds the contract as
    a verifier that took every statement now does, reading the contract's statements alone after that; a
    restart replaying the journal (every statement taken again, in order) is a verifier taking them now."""
    w = _world()
    pairs = _thiefs_pairs(w, 3)
    reads = _Reads(monkeypatch)
    now = _run(w, pairs, 40, role, reads)
    fresh = reads.read
    v, refused = w.view([w.revocation, w.k2.mandate_vs, *_padding(w, 40)], **role)
    buffer = io.BytesIO()
    snapshot._Pickler(buffer, {}, ()).dump(v)  # as a node's snapshot pickles it
    old = snapshot._Unpickler(io.BytesIO(buffer.getvalue()), {}).load()
    del old.__dict__["_held_by_negotiation"], old.__dict__["_naming_escrow"]
    assert old._held_by_negotiation is None and old._naming_escrow is None  # the class defaults
    assert _pairs(w, old, pairs, refused, reads) is old
    assert w.outcome(old) == w.outcome(now)
    assert old._held_by_negotiation == v._held_by_negotiation
    # once, in its first rebuild: a pass over the statements and the negotiations held to build the index,
    # one over the negotiations to find those naming K1; then the contract's statements alone
    assert fresh < reads.read <= fresh + len(old.statements) + 2 * len(old.negotiations.by_id)


_JS_READS = """
import { Verifier } from %s;
import { readFileSync } from 'node:fs';
const runs = JSON.parse(readFileSync(0, 'utf8'));
let active = false, read = 0, replayed = 0;
const values = Map.prototype.values;
Map.prototype.values = function () {
  if (active) read += this.size; // a pass over a map reads every entry
  return values.call(this);
};
const rebuild = Verifier.prototype.rebuildHandedOver, check = Verifier.prototype.checkNegotiation;
Verifier.prototype.rebuildHandedOver = function () {
  active = true;
  try { return rebuild.call(this); } finally { active = false; }
};
Verifier.prototype.checkNegotiation = function (r) {
  if (active) replayed += 1;
  return check.call(this, r);
};
const out = [];
for (const run of runs) {
  const v = new Verifier({ mode: "sparse", nowMs: null, role: "auditor" });
  const take = (e) => { try { v.accept(Buffer.from(e, 'base64')); } catch (err) { out.push(String(err)); } };
  run.setup.forEach(take);
  read = replayed = 0;
  run.pairs.forEach(take);
  const c = v.negotiations.get(run.nid).contract;
  out.push({ read, replayed, effective: c.pendingClaims(null).length, held: v.byDigest.size });
}
console.log(JSON.stringify(out));
"""


@pytest.mark.req("ESC-022")
@pytest.mark.skipif(shutil.which("node") is None, reason="node is not on PATH")
def test_the_js_verifiers_rebuild_reads_no_more_with_bystanders_held() -> None:
    """The second implementation (finding F47): ``rebuildHandedOver`` replays each contract naming K1 from
    the records of its negotiation held (``heldByNegotiation``), not from a pass over every record held for
    each: the thief's 4 pairs read the same with 40 bystanders' statements held as with none, the contract
    replayed all the same and the claim not effective at the end. Before, each rebuild of the contract read
    every record held: 40 more for each (few, to keep the test cheap: a view of evidence's reweigh derives
    everything taken again at each revocation)."""
    w = _world()
    pairs = _thiefs_pairs(w, 4)
    runs = [
        {
            "setup": [_b64(vs) for vs in [*w.base, w.revocation, w.k2.mandate_vs, *_padding(w, padding)]],
            "pairs": [_b64(vs) for vs in pairs],
            "nid": w.s.nid.hex(),
        }
        for padding in (0, 40)
    ]
    verifier = Path(__file__).resolve().parent.parent / "examples" / "js_verifier" / "verify.mjs"
    bare, padded = js_module(_JS_READS % json.dumps(verifier.as_uri()), stdin=json.dumps(runs), timeout=120)
    assert padded["held"] >= bare["held"] + 40  # the bystanders held, every statement taken ...
    assert bare["replayed"] > 0 and padded["replayed"] == bare["replayed"]  # ... the contract replayed ...
    assert bare["effective"] == padded["effective"] == 0  # ... the thief's Stamps making no claim effective
    assert padded["read"] == bare["read"], (bare, padded)  # ... and no bystander read by a rebuild


def _b64(vs: VerifiedStatement) -> str:
    return base64.b64encode(vs.envelope).decode()
