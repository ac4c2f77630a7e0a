"""Red team 32: the subject of a rating names an escrow of its own -- or none -- in its opening offer, then
revokes its key back over it, and the rating weighs nothing (ATT-020 (c), KEY-009).

ATT-020 takes an attestation's stake as 0 when a held revocation disowns a statement its rating rests on:
the opening Offer and the Counters up to the accepted statement among them. A statement is not disowned
when its witnessing escrow stamped it before it stamped the revocation (KEY-009) -- and an Offer's or
Counter's witnessing escrow is the one its own terms name, chosen by its issuer. Bob opens with an Offer to
Alice naming escrow M, a key Bob controls (or no escrow at all); Alice, trading only under E, counters naming
E with both bonds; Bob accepts; E locks both bonds, Bob never delivers, E upholds Alice's claim and forfeits
his bond, and Alice attests Bob BREACHED. Then Bob's principal revokes Bob's key back to before his
opening Offer. E stamped Alice's Counter and Bob's Accept before any Stamp of the revocation, so they stand;
M never stamps the opening Offer (or stamps the revocation first), so read by M's Stamps it is disowned,
and Alice's rating of Bob -- an escrowed breach -- weighed 0 in every view: the breach erased.

Who chose the values: the opening Offer's escrow (M or none), Bob; M's Stamps, Bob (M is his key); the
revocation's effective_ms, Bob's principal. What Bob gains: every escrowed breach of a contract he opened
gone from every view, for one revocation of a key its principal replaces at once. The same reading let a
thief's own escrow decide for a stolen key's Offer (red team 31): whoever names the escrow decides. Defence
(ATT-020 (c)): an Offer or Counter naming another escrow or none is read with the later statements of the
chain that the contract's escrow witnesses -- its Stamp of one of them (the Accept at last) before it
stamped the revocation witnesses the statements it rests on -- and never by its own escrow's Stamps.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from js_ratings import assert_js_rates_alike

from a2a_coop.protocol.reputation import rate
from a2a_coop.protocol.verifier import Verifier
from a2a_coop.reputation_vectors import parse_reputation_file
from conformance.generate_vectors.ratings import BOND, opened_elsewhere, ratings_file


def _erased(opening: str, *, m_stamps: str = "", escrow_first: bool = False) -> tuple[int, int]:
    """The stake of Alice's rating of Bob's escrowed breach before and after the view takes his
    principal's revocation of his key back over his opening Offer
    (:func:`conformance.generate_vectors.ratings.opened_elsewhere` tells the story)."""
    d, bundle, attestation, after = opened_elsewhere(opening, m_stamps=m_stamps, escrow_first=escrow_first)
    view = Verifier(complete_chains=False, evidence_view=True)
    for data in bundle:
        view.accept(data, None)
    held = view.statements[attestation.digest]
    before = rate(view, held, {d.escrow.did}).stake
    for data in after:
        view.accept(data, None)  # taken: the attack is legal
    return before, rate(view, held, {d.escrow.did}).stake


@pytest.mark.req("ATT-020", "KEY-009")
@pytest.mark.parametrize(
    ("opening", "m_stamps"), [("m", ""), ("m", "revocation"), ("m", "offer"), ("none", "")]
)
def test_the_subject_naming_its_own_escrow_in_its_opening_offer_does_not_erase_its_breach(
    opening: str, m_stamps: str
) -> None:
    """Bob's breach, escrowed by E, weighs in full after his principal revokes his key back over his
    opening Offer: E witnessed Alice's Counter and Bob's Accept, which rest on it, before the revocation --
    whatever M stamps, or with no escrow named. Before the fix it weighed 0 unless M chose to stamp it
    before stamping the revocation."""
    assert _erased(opening, m_stamps=m_stamps) == (BOND, BOND), "the subject's own escrow erased its breach"


@pytest.mark.req("ATT-020", "KEY-009")
def test_the_contracts_escrow_stamping_the_revocation_first_still_disowns_the_chain() -> None:
    """The control: E stamped the revocation before it stamped Alice's Counter or Bob's Accept -- nothing
    E witnessed rests on the opening Offer before the revocation, and M's Stamp of it does not count: the
    rating weighs 0 as KEY-009 says."""
    assert _erased("m", m_stamps="offer", escrow_first=True) == (BOND, 0)
    assert _erased("none", escrow_first=True) == (BOND, 0)


@pytest.mark.req("ATT-020", "KEY-009")
def test_both_implementations_weigh_the_subjects_own_escrow_alike(tmp_path: Path) -> None:
    """ratings.json's last four vectors are this story; the second implementation, written from ATT-020
    (c), weighs each as the reference does."""
    vectors = [v for v in parse_reputation_file(ratings_file()) if "opening Offer named" in v.comment]
    assert [v.expected[0]["stake"] for v in vectors] == [BOND, BOND, BOND, 0]
    docs = ratings_file()["ratingGroups"][0]["tests"]
    assert_js_rates_alike(tmp_path, [t for t in docs if "opening Offer named" in t["comment"]], "own-escrow")
