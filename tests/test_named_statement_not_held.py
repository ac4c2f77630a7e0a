"""KEY-009 (e): a statement naming another -- an Accept, Reject or Withdraw its offer, a Delivery, BreachClaim
or Revoke its contract's Accept, a Receipt its Delivery -- whose named statement the view does not hold has no
witnessing escrow (chains.json AcceptOfAnOfferNotHeld, NamedStatementNotHeld; JS F118, F122). Read by its
negotiation's contract's or outstanding offer's escrow instead, holding the named statement took back a
conviction; read by none, holding more statements never does."""

from __future__ import annotations

import contextlib
from itertools import combinations

import pytest

from a2a_coop.protocol.errors import CoopError
from a2a_coop.protocol.reputation import faulty_of
from a2a_coop.protocol.statements import verify_statement
from a2a_coop.runtime.evidence import EvidenceVerifier
from conformance.generate_vectors import chains

_CASES = chains.named_statement_not_held().cases


def _spared(body: str) -> tuple[list[bytes], list[str]]:
    """The case of ``body`` whose second fork names the statement not held, and its trusted escrows."""
    case = _CASES[2 * chains.NAMING_BODIES.index(body)]
    assert case.trusted_escrows is not None and body.replace("_", " ") in case.comment
    return list(case.envelopes), list(case.trusted_escrows)


def _faulty(envelopes: list[bytes], trusted: list[str]) -> frozenset[str]:
    v = EvidenceVerifier()
    for e in envelopes:
        with contextlib.suppress(CoopError):  # the second half among them: a view holds what it took
            v.accept(e)
    return frozenset(faulty_of(v, v.forks, trusted))


@pytest.mark.req("KEY-009", "ATT-013")
@pytest.mark.parametrize("body", chains.NAMING_BODIES)
def test_holding_more_statements_never_takes_back_a_conviction(body: str) -> None:
    """Over every subset of the branch under E2 the vector's view never hears (the second half's named
    statement and what leads to it), shown after the fork proof is held: a view holding a statement more
    convicts every key and principal the view without it convicts, and the vector's view, holding none of it,
    spares P. (The reading before convicted P there; holding the branch after moved nothing in these orders --
    its negotiation refuses it -- while a receiver given the named statement as the proof's link, ATT-025,
    read E2 and spared P: KEY-009 (e)'s Why.)"""
    envelopes, trusted = _spared(body)
    branch = chains.named_statement_branch(body)
    held, tail = (
        envelopes[:-4],
        envelopes[-4:],
    )  # E's Stamp of the two halves, P's revocation, its Stamp, the second
    faulty = {
        chosen: _faulty([*held, *tail, *(branch[i] for i in chosen)], trusted)
        for n in range(len(branch) + 1)
        for chosen in combinations(range(len(branch)), n)
    }
    for chosen, convicted in faulty.items():
        for i in set(range(len(branch))) - set(chosen):
            assert convicted <= faulty[tuple(sorted((*chosen, i)))], (chosen, i)
    # the vector's view: K alone, P spared (holding K's Counter too adds its answer proof with the Accept,
    # ATT-022, which P's revocation reaches neither half of -- a conviction more, never one fewer)
    assert faulty[()] == {verify_statement(envelopes[-1]).issuer}


@pytest.mark.req("KEY-009", "NEG-005")
@pytest.mark.parametrize("body", chains.NAMING_BODIES)
def test_outside_a_fork_the_core_refuses_a_statement_naming_one_not_held(body: str) -> None:
    """Outside a fork proof no verdict reads the statement's escrow: without the first half, the second is
    refused by its negotiation before it is held, whatever stamped it -- so neither a revocation's reach
    (KEY-009 (c)) nor a rating's stake (ATT-020) reads the fallback -- and it has no witnessing escrow."""
    envelopes, _ = _spared(body)
    v = EvidenceVerifier()
    second = envelopes[-1]
    first = verify_statement(envelopes[-4]).statement.stamp.statements[0]  # E's Stamp names it first
    for e in envelopes[:-1]:
        if verify_statement(e).digest != first:
            v.accept(e)
    with pytest.raises(CoopError) as refused:
        v.accept(second)
    assert (refused.value.code, refused.value.requirement) == ("STALE_REFERENCE", "NEG-005")
    assert v.witnessing_escrow(verify_statement(second)) == ""
