"""redteam24: what a series of lower answers revealed one at a time costs a view (NEG-021).

Of two answers of one key to one offer naming no escrow the lower in its chain binds (NEG-021): each one
revealed below the answer held cuts the line back to the offer, and a contract formed there is displaced --
kept, as the negotiation would stand with it (``Negotiation._keep_displaced``), for the statements that
name it. Nothing bounds how many such answers a key keeps in reserve but its own signatures: each needs a
seq below the one revealed before and a time within the offer's life, and k of them signed in a row cost
k signatures. Alice signs ``k`` Accepts of Bob's offer with her key (each the next link of her chain) and
reveals them highest first to a view of evidence: each is taken, the lower one's contract each time.
Work is counted in statements, never seconds.
"""

from __future__ import annotations

import pytest

from a2a_coop.protocol.negotiation import Negotiation, State
from a2a_coop.protocol.statements import VerifiedStatement
from a2a_coop.protocol.verifier import Verifier
from a2a_coop.testing import FixedClock, Party

_K = 40


def _revealed(
    k: int, monkeypatch: pytest.MonkeyPatch
) -> tuple[Negotiation, list[VerifiedStatement], list[int]]:
    """A view of evidence fed Bob's offer, then Alice's ``k`` Accepts of it highest first; what each cut-back
    superseded (statements counted at ``Negotiation._supersede``)."""
    cut: list[int] = []
    real = Negotiation._supersede

    def counted(self: Negotiation, digests: object) -> None:
        digests = list(digests)  # type: ignore[call-overload]
        cut.append(len(digests))
        real(self, digests)

    monkeypatch.setattr(Negotiation, "_supersede", counted)
    clock = FixedClock()
    alice, bob = Party("alice", clock), Party("bob", clock)
    offer = bob.offer(alice, bob.proposal(), ttl_ms=600_000)
    accepts = []
    for _ in range(k):
        clock.advance(1)
        accepts.append(alice.accept(offer))  # all within the offer's life, each a link of her chain
    view = Verifier()
    for env in [*alice.setup, *bob.setup, offer.envelope]:
        view.accept(env)
    for accept in reversed(accepts):
        view.accept_statement(accept)  # taken: lower than the answer held
    neg = view.negotiations.get(offer.negotiation_id)
    return neg, accepts, cut


@pytest.mark.req("NEG-021", "NEG-018")
def test_each_lower_answer_revealed_cuts_back_once_and_supersedes_each_statement_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The attack happened: every Accept taken, the lowest one the contract, every other superseded, one
    displaced contract kept per cut-back. Each cut-back supersedes the contract it displaces (its Accept)
    and nothing else (its Accept, named twice: as what closed the offer and as the contract's): k - 1
    statements in all, each once -- linear in what the key signed."""
    neg, accepts, cut = _revealed(_K, monkeypatch)
    assert neg.state is State.ACCEPTED and neg.contract is not None
    assert neg.contract.accept.digest == accepts[0].digest
    assert {a.digest for a in accepts[1:]} <= set(neg.superseded)
    assert len(neg.displaced or {}) == _K - 1
    assert cut == [2] * (_K - 1)


@pytest.mark.xfail(
    strict=True,
    reason=(
        "redteam24: each displaced contract is kept as a copy of the negotiation "
        "(Negotiation._keep_displaced copies its superseded set and its history), and the set holds every "
        "contract displaced before: k lower answers revealed highest first keep (k - 1)^2 entries "
        "(1,521 for 40 Accepts; 39,601 for 200, 2.3 MB in all) in every view that takes them -- quadratic in "
        "signatures the key alone chooses. Proposed fix: the copy keeps only the digests of its own "
        "contract's line (what statements naming it can meet), or the copies share one set of what was "
        "superseded before each, read up to the copy's place"
    ),
)
def test_the_displaced_contracts_kept_grow_linearly_with_the_lower_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    neg, _, _ = _revealed(_K, monkeypatch)
    shadows = list((neg.displaced or {}).values())
    assert len(shadows) == _K - 1  # the attack happened
    kept = sum(len(s.superseded) + len(s.history) for s in shadows)
    assert kept <= 4 * _K, kept
