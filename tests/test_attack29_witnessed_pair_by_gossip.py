"""redteam29: a pair its escrow witnessed before the principal's revocation convicts the principal only where
the escrow's Stamp is held -- never in a view the proof reached by gossip (Left open; ATT-013 (b)).

ATT-013 (b) lets a principal P revoke its key K back over K's two answers and be spared, at a price: what K
signed since that no escrow witnessed first is disowned, and "a pair an escrow witnessed before it stamped
the revocation is P's word and still convicts". Whether a statement was witnessed first is read from the
witnessing escrow's Stamps the view holds. A swap (ATT-011) carries the proof, Checkpoints and Mandates --
never a Stamp (``gossip.GOSSIPED_BODIES``) -- so a third party that took the proof by gossip, and P's
revocation from P (who shows it wherever it wants to be spared: the context of its new key's requests, a
bundle, ATT-014), holds the escrowed pair unwitnessed and spares P, while Bob's view and the escrow's, which
hold the Stamp, convict it. Who chose the values: P chose the revocation's effective_ms and whom to show it;
the Stamps are E's, but which views hold them is the gossip's choice, i.e. no one's. What P gains: its
principal's standing everywhere but in the views of the parties it dealt with, for a pair of answers its
escrow witnessed -- the (b) price paid only there.

Fix (not done here, for its size): a swap passing a proof on passes with it the Stamps its holder holds of
the proof's statements and of the revocations of its key by the escrows those statements name (taken as
evidence only, moving no trade: ATT-019), and ATT-014 bundles do the same; or ATT-013 (b) reads a statement
whose terms name an escrow as witnessed unless a Stamp of the revocation by that escrow came first.
"""

from __future__ import annotations

import pytest
from peers import make_peer
from test_attack27b_thief_frames_principal import _escrowed_pair, _view

from a2a_coop.protocol.statements import verify_statement
from a2a_coop.runtime import gossip
from a2a_coop.testing import Party


@pytest.mark.req("ATT-013", "ATT-011", "KEY-009")
@pytest.mark.xfail(
    strict=True,
    reason="ATT-013 (b) reads 'witnessed first' from Stamps the view holds, and no swap carries a Stamp: a"
    " third party holding the proof by gossip and P's revocation spares P where Bob's view convicts it",
)
def test_a_third_party_given_the_witnessed_pair_by_gossip_convicts_the_principal_as_bobs_view_does() -> None:
    clock, alice, _, held, proof = _escrowed_pair(stamped=True)
    bobs = _view(clock, held, proof)  # the parties' view: it holds E's Stamp of the pair
    assert alice.principal.did in bobs.faulty()
    holder = make_peer(Party("holder", clock), clock)  # a peer holding what Bob's view holds, but his offer
    for env in held:
        if verify_statement(env).body != "offer":  # addressed to Alice: a peer takes it only as her
            holder.verifier.accept(env)
    assert holder.verifier.take_fork_proof(proof) == alice.did
    carols = make_peer(Party("carol", clock), clock)
    assert gossip.swap(carols, holder, holder.did) == [alice.did]  # the proof travels (ATT-011)
    assert alice.principal.did in carols.reputation.faulty()  # bound to K by the gossiped Checkpoint
    revocation = next(e for e in held if verify_statement(e).body == "key_revocation")
    carols.verifier.accept(revocation)  # P shows its revocation where it wants to be spared
    assert alice.principal.did in carols.reputation.faulty()
