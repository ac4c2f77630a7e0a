"""redteam23b: what ESC-022 (e)'s rebuild costs, and who makes a verifier pay it.

K1, Alice and Bob's escrow key, is stolen; its principal revokes it and hands its contracts to K2. A view
that comes to honour the hand-over, or whose hand-over's time comes earlier (a revocation of K1 dated
earlier held), rebuilds each contract naming K1 that holds a statement of K1 from that time on
(``Verifier._rebuild_handed_over``): one pass over every statement the verifier holds, then each touched
contract replayed. ESC-022 (e)'s Why says the hand-over's time "only comes earlier as its revocations are
held (each time it does, once: a revoker's corrections are bounded, RPC-016 (c))" and that a rebuild runs
"once per hand-over honoured or moved earlier -- never per statement of the thief's".

Who chose the values it relies on: the hand-over's time is the earliest reach of a revocation of K1 held
(KEY-011 (d)) -- and K1's own revocation is one, its reach its issued_at_ms, chosen by K1's holder: the
thief. The thief signs pairs: a Stamp by K1 of Alice's claim dated just before the hand-over's time (K1's
own word, taken -- no revocation reaches it), then K1's own revocation dated just before that Stamp (at a
lower seq: K1's chain orders it first, so it reaches nothing of K1's; only the hand-over's time moves). Each
pair moves the hand-over's time below the Stamp it just had taken, which then no longer counts: the
contract is rebuilt, every statement held read once more. RPC-016 (c) bounds nothing here: at a peer K1 is
the escrow of its contract, in its dealings for good (uncounted), and a view of evidence keeps no quota.
A test marked ``xfail(strict=True)`` is a hole this version still has; its reason says what happens and the
fix proposed.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from test_escrow_handover_thief_order import World, _world

from a2a_coop._proto.a2acoop.v1 import commitment_pb2, identity_pb2
from a2a_coop.protocol.chain import ChainSigner
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.protocol.verifier import Verifier
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
    """The work of the rebuilds: contracts replayed, and the statements held each pass reads."""

    def __init__(self, mp: pytest.MonkeyPatch) -> None:
        self.rebuilds = self.read = 0
        real = Verifier._rebuild_negotiation

        def counted(v: Verifier, *args: object) -> None:
            self.rebuilds += 1
            self.read += len(v.statements)
            real(v, *args)  # type: ignore[arg-type]

        mp.setattr(Verifier, "_rebuild_negotiation", counted)


def _padding(w: World, n: int) -> Iterator[VerifiedStatement]:
    """``n`` statements that have nothing to do with K1: strangers' Mandates."""
    for i in range(n):
        yield Party(f"bystander{i}", w.s.clock).mandate_vs


def _run(
    w: World, pairs: list[VerifiedStatement], padding: int, role: dict[str, object], reads: _Reads
) -> Verifier:
    v, refused = w.view([w.revocation, w.k2.mandate_vs, *_padding(w, padding)], **role)
    assert refused == []
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
@pytest.mark.xfail(
    strict=True,
    reason=(
        "redteam23b: ESC-022 (e)'s rebuild reads every statement the verifier holds "
        "(Verifier._rebuild_handed_over: one pass over self.statements, in the order they came) each "
        "time the hand-over's time comes earlier, and K1's thief moves it earlier at will with K1's own "
        "revocations (KEY-011: their reach is their issued_at_ms, the thief's choice), each after a Stamp "
        "of K1's dated just above it: two statements signed by the stolen key alone cost every view one "
        "pass over everything it holds -- 12 pairs read 12 x (all statements held), and 200 bystanders' "
        "statements held add 2,400 reads. RPC-016 (c) bounds none of it: at a peer K1 is its contract's "
        "escrow, in its dealings for good, and a view of evidence keeps no quota. Fix proposed: index the "
        "statements held by negotiation (the digests of each, in the order they came, beside "
        "Negotiations.by_id, archived with it) so a rebuild reads only the touched contracts' statements "
        "(each pair then costs one contract's replay, as a statement of it does); and, in SPEC ESC-022 "
        "(e), move the hand-over's time only by a revocation of K by a principal K is bound to (at most "
        "its first and its one correction, RPC-016 (c)), K's own revocations disowning what they reach "
        "through KEY-004 as before"
    ),
)
def test_a_thiefs_pairs_cost_a_rebuild_no_more_than_the_contracts_own_statements(
    role: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What each of the thief's pairs costs should not grow with what the verifier holds apart from the
    contract: the same pairs read the same with 200 unrelated statements held as with none."""
    w = _world()
    pairs = _thiefs_pairs(w, _PAIRS)
    reads = _Reads(monkeypatch)
    _run(w, pairs, 0, role, reads)
    bare = reads.read
    _run(w, pairs, 200, role, reads)
    assert reads.read == bare, (bare, reads.read)
