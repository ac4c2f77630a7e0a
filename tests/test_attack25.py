"""Attacker's pass 25: values a stranger chooses that a rule reads as someone else's -- which key signs a
Stamp naming a contract's statement, and from when that key's principal disowns it. Each test here is a
way such a choice hurt an honest party, failing before its fix (SPEC 10.2, 16.14)."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from a2a_coop._proto.a2acoop.v1 import identity_pb2
from a2a_coop.protocol.reputation import attestation_evidence, rate
from a2a_coop.protocol.verifier import Verifier
from a2a_coop.reputation_vectors import RATING_SCHEMA
from a2a_coop.testing import Party
from conformance.generate_vectors.negotiation import ctx, stamp
from conformance.generate_vectors.ratings import FULFILLED, _attest, _settled_trade

ROOT = Path(__file__).resolve().parents[1]
NODE = shutil.which("node")


def _strangers_disowned_stamp() -> tuple[list[bytes], str, bytes]:
    """Alice and Bob settle a bonded trade and Alice attests Bob FULFILLED. Mallory, who has nothing to do
    with the contract, signs a Stamp naming Bob's Accept (any key can sign a Stamp) and has her own
    principal revoke her key from 1 ms before it. Returns the bundle, the escrow and the foreign Stamp."""
    d, trade = _settled_trade()
    attestation = _attest(d.alice, d, d.bob, FULFILLED)
    mallory = Party("mallory", d.clock)
    foreign = stamp(mallory, d.accept)
    d.clock.advance(1_000)
    revocation = mallory.principal.sign(
        "key_revocation",
        identity_pb2.KeyRevocation(key=mallory.did, effective_ms=foreign.header.issued_at_ms - 1, reason="x"),
    )
    bundle = [*trade, attestation, *ctx(mallory), foreign.envelope, revocation.envelope]
    return bundle, d.escrow.did, foreign.digest


@pytest.mark.req("ATT-020", "KEY-009", "ATT-004")
def test_a_strangers_disowned_stamp_of_the_accept_does_not_zero_an_honest_rating(tmp_path: Path) -> None:
    """Attack: ATT-020 zeroes a rating when a held revocation disowns a statement it rests on, the
    escrow's Stamps of the contract's statements among them. Mallory chose the key that stamps Bob's
    Accept (her own: any key may sign a Stamp of any digest, and a view takes it) and the effective_ms of
    her principal's revocation of that key (1 ms before the Stamp). Read as "every Stamp held naming the
    Accept", her disowned Stamp zeroed Alice's honest rating of Bob -- which the second implementation,
    written from SPEC 10.2, did (stake 0 where the reference weighed 100): anyone holding a contract's
    Accept digest (an escrow's public transcript shows it) could erase its ratings in such views for two
    signatures. ATT-020 (a): only each statement's earliest Stamp by its witnessing escrow is evidence."""
    bundle, escrow, foreign = _strangers_disowned_stamp()
    verifier = Verifier(complete_chains=False, evidence_view=True)
    held = [verifier.accept(data, None) for data in bundle]  # every envelope taken: the attack is legal
    attestation = next(vs for vs in held if vs.body == "attestation")
    # The attack happened: the view holds the stranger's Stamp of the Accept, and disowns it.
    assert verifier.disowned(verifier.statements[foreign])
    # Caught: the Stamp is no part of the rating's evidence, and Alice's rating keeps its stake.
    assert foreign not in {vs.digest for vs in attestation_evidence(verifier, attestation)}
    assert rate(verifier, attestation, {escrow}).stake == 100
    if NODE is None:
        pytest.skip("node is not on PATH: the second implementation is not run")
    rating = rate(verifier, attestation, {escrow})
    vector = {
        "tcId": 1,
        "comment": "a stranger's disowned Stamp of the Accept",
        "requirements": ["ATT-020"],
        "trusted_escrows": [escrow],
        "envelopes": [base64.b64encode(e).decode() for e in bundle],
        "expected": [
            {
                "attestation": rating.attestation.hex(),
                "rater": rating.rater,
                "subject": rating.subject,
                "stake": rating.stake,
                "score": rating.score,
                "settled_ms": rating.settled_ms,
            }
        ],
    }
    doc = {
        "schema": RATING_SCHEMA,
        "algorithm": "a2a-coop/v1 rating of an attestation: SPEC 10.2 over an evidence bundle",
        "generatorVersion": "1",
        "numberOfTests": 1,
        "header": [],
        "ratingGroups": [{"type": "Rating", "tests": [vector]}],
    }
    path = tmp_path / "stranger-stamp.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    run = subprocess.run(
        [NODE, str(ROOT / "examples" / "js_verifier" / "verify.mjs"), "--json", str(path)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert json.loads(run.stdout)["disagreements"] == [], run.stdout[-2000:]
    assert run.returncode == 0, run.stderr
