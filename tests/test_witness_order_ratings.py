"""KEY-009 (c) pinned by weight: `conformance/vectors/ratings.json` 36 to 45.

A view of evidence holds a statement a held revocation or rotation would reject when it has a witnessing
escrow, and :meth:`Verifier.disowned` decides from that escrow's Stamps whether it counts. The auditor vectors
of chains.json and keytime.json that pinned a refusal now pin a take, which says nothing of the witness order.
These rating bundles do: each situation (a principal's revocation of Bob's key, KEY-004; his key's rotation
back below his Accept, KEY-005; KEY-010 (c)'s escrow-ordered revocation; a thief's own revocation forked into
his Accept's seq, KEY-013; his principal's key revoked, MND-012) is a pair that differs only in the order the
escrow stamped Bob's Accept and the revocation or rotation, and Bob's escrowed breach weighs 100 in one and 0
in the other. Here the reference's order of Stamps (``_before``) is read backwards: every weight moves, so an
implementation with the witness order wrong fails them (tests/test_js_verifier.py does the same to the
JavaScript verifier).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from a2a_coop.protocol import verifier as verifier_module
from a2a_coop.reputation_vectors import RatingVector, parse_reputation_file, rate_bundle

ROOT = Path(__file__).resolve().parent.parent
WITNESS_ORDER = range(36, 46)  # even tcId: the escrow stamped Bob's Accept first (stake 100); odd: 0


def _vectors() -> list[RatingVector]:
    doc = json.loads((ROOT / "conformance" / "vectors" / "ratings.json").read_text(encoding="utf-8"))
    vs = parse_reputation_file(doc, "ratings")
    got = [v for v in vs if isinstance(v, RatingVector) and v.tc_id in WITNESS_ORDER]
    assert [v.tc_id for v in got] == list(WITNESS_ORDER)
    return got


def _stakes(vs: list[RatingVector]) -> list[int]:
    out = []
    for v in vs:
        rated = rate_bundle(v)
        assert not isinstance(rated, str), (v.tc_id, rated)  # every envelope held (KEY-009 (c))
        assert len(rated) == 1, (v.tc_id, rated)
        out.append(rated[0]["stake"])
    return out


@pytest.mark.req("KEY-009", "ATT-020", "KEY-010")
def test_each_pair_weighs_the_breach_by_the_escrows_order_alone() -> None:
    vs = _vectors()
    expected = [v.expected[0]["stake"] for v in vs]
    assert expected == [100, 0] * 5
    assert _stakes(vs) == expected
    for counted, disowned in zip(vs[::2], vs[1::2], strict=True):  # the same statements, Stamps aside
        assert len(counted.envelopes) == len(disowned.envelopes)
        assert counted.trusted_escrows == disowned.trusted_escrows


@pytest.mark.req("KEY-009", "ATT-020", "KEY-010")
def test_reading_the_witness_order_backwards_moves_every_weight(monkeypatch: pytest.MonkeyPatch) -> None:
    vs = _vectors()
    before = verifier_module._before
    monkeypatch.setattr(verifier_module, "_before", lambda first, then: before(then, first))
    assert _stakes(vs) == [0, 100] * 5  # the attack on the check happened: each stake flipped
