"""Generate the offline conformance vectors in conformance/vectors/.

    python -m conformance.generate_vectors             # (re)write the vector files
    python -m conformance.generate_vectors --check     # exit 1 if the checked-in files differ
    python -m conformance.generate_vectors --twinless  # the invalid cases without a valid twin, and why

Theory of operation. Every vector is a short transcript: context statements
(the mandates an agent's statements cite, the offer an Accept answers, ...)
followed by the statement under test. Keys, nonces and salts derive from names
(:func:`a2a_coop.testing.derive`) and time comes from a fixed clock, so the
output is byte-identical on every run.

Invalid cases are made the way a buggy or hostile peer would make them: a valid
statement is built with one thing wrong and then *re-signed* by its issuer, so
exactly one rule is broken and the vector pins which one. Cases that break
several rules on purpose pin the normative verification order (ERR-002).
Where the library refuses to build a bad encoding (it only emits canonical
protobuf), the bytes are edited directly with the small wire-format codec in
:mod:`.wire`.

Before anything is written, every vector runs through :mod:`a2a_coop.vectors`;
a case whose outcome differs from what the generator states is a bug in one
of the two, and generation stops. So does an invalid case rejected for a
requirement it does not declare, and one whose *twin* fails: every invalid
case carries the valid transcript it was derived from (its defect fixed,
:class:`._common.Twin`) or says why it has none, and every twin must pass
(:func:`.output.check_twins`). That is the one-rule check: a case that also
breaks a second rule, hidden behind the first in the verification order, has a
twin that fails. Cases flagged VerificationOrder break several on purpose.

Package layout. One module per vector family; each of its public functions
builds one test group (one ``testGroups`` entry, named by its ``type``):

    keys         KeyEncoding; the weak keys other families reuse
    envelopes    EnvelopeStructure, Signature, PayloadEncoding
    statements   ValidStatement, Header, Body, VerificationOrder; IntegerRange,
                 NegotiationId, EscrowBody (SPEC 0.2)
    freshness    Freshness, Replay
    mandates     Mandate, Exposure
    chains       Chain (and the equivocation proof), CompleteLog, KeyLifecycle;
                 ChainTime, CheckpointRoot, KeyAuthority (SPEC 0.2)
    negotiation  Negotiation, Settlement, Attestation, Commitment; Arbitration,
                 Causality, Confluence (SPEC 0.2); WitnessedAccept (NEG-017), after
                 precision's group
    exposure_order  ExposureOrder: a contract's ending and an offer's answer are dated
                 (MND-009, MND-010, NEG-009), last in
                 chains.json
    attacks      Attack: SPEC 16.14 attacks an offline auditor can judge
    precision    Precision: where two readers of SPEC 0.1 disagreed, the answer 0.2 states
    decoding     DecodingProfile, EnvelopeEncoding: wire.json, whose tests also carry
                 the bytes to decode alone and the expected result (SPEC 6.2, 5.1)
    rules        BodyField, Signature, KeyRules, TradeRules, Attestations,
                 SettlementRules, ContractState, ExposureRules: rules.json, the
                 checks mutation testing found unpinned (conformance.mutation)
    mutations    MutationFlip .. MutationSplice: mutations.json, a typed mutation grammar
                 over every valid transcript (and twin) of the three files above
    key_time     StampTimedRevocation, StampTimedRevocationView, RotationWitnessed,
                 RotationAtTheEscrow, ClaimWindowAtTheEscrow: keytime.json, which time a
                 revocation or rotation is compared with (KEY-010, KEY-005 read as KEY-009)
                 and ESC-019's claim window at an escrow; its escrow groups carry
                 role "escrow" (SPEC 17). Not a source of mutations or canaries.
    canaries     Canary: canaries.json, per check a verifier might skip (conformance.lazy),
                 the vectors of all the other files such a verifier accepts
    reputation   reputation.json: aggregation vectors (SPEC 10.3), ratings + seeds + faulty
                 + now -> each principal's trust, score, uncertainty; another schema
                 (a2a-coop-reputation-vectors/1, no envelopes), self-checked on its own
    ratings      ratings.json: evidence bundles -> the rating of each attestation (SPEC 10.2,
                 ATT-004..ATT-007), schema a2a-coop-rating-vectors/1

They share :mod:`._common` (Case, Group and the statement builders),
:mod:`.wire` (the codec) and :mod:`.flags` (what each flag means, the files'
``notes``); :mod:`.output` turns groups into a file and self-checks it. This
module says which groups go into which file, in which order. Every group
function builds its own clock and parties, so no state passes from one to the
next, but ``tcId`` numbers follow the order below: reordering or inserting a
group renumbers every test after it, which is why the SPEC 0.2 groups come
after the 0.1 ones. A new family is a new module whose groups are appended to a
file here, or make a new file in :func:`render` (as mutations and canaries do:
they are derived from the other files' groups, so they come last).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from a2a_coop.protocol.chain import EquivocationProof, verify_equivocation_proof
from a2a_coop.protocol.envelope import envelope_to_json
from conformance.generate_vectors import (
    attacks,
    canaries,
    chains,
    decoding,
    envelopes,
    exposure_order,
    freshness,
    key_time,
    keys,
    mandates,
    mutations,
    negotiation,
    precision,
    ratings,
    reputation,
    rules,
    statements,
)
from conformance.generate_vectors._common import Group
from conformance.generate_vectors.output import document, self_check, twinless

__all__ = [
    "VECTOR_DIR",
    "chains_file",
    "chains_groups",
    "main",
    "proof_file",
    "render",
    "statements_file",
    "statements_groups",
]

VECTOR_DIR: Final = Path(__file__).resolve().parent.parent / "vectors"


def statements_groups() -> list[Group]:
    """The test groups of statements.json, in file order (tcIds follow it)."""
    return [
        statements.valid_statements(),
        envelopes.envelope_structure(),
        envelopes.signatures(),
        keys.key_encoding(),
        envelopes.payload_encoding(),
        statements.header(),
        statements.bodies(),
        statements.verification_order(),
        freshness.freshness(),
        freshness.replay(),
        mandates.mandate(),
        statements.integer_range(),
        statements.negotiation_ids(),
        statements.escrow_bodies(),
    ]


def chains_groups() -> tuple[list[Group], EquivocationProof]:
    """The test groups of chains.json, in file order, and the equivocation found in it."""
    chain, proof = chains.chain()
    groups = [
        chain,
        chains.complete_log(),
        chains.key_lifecycle(),
        negotiation.negotiation(),
        negotiation.settlement(),
        mandates.exposure(),
        negotiation.attestation(),
        negotiation.commitment(),
        chains.chain_time(),
        chains.checkpoint_root(),
        chains.key_authority(),
        negotiation.arbitration(),
        negotiation.causality(),
        negotiation.confluence(),
        attacks.attacks(),
        precision.precision(),
        negotiation.witnessed_accept(),
        chains.witnessed_before_revocation(),
        exposure_order.exposure_order(),
        negotiation.lower_answer(),
        negotiation.answered_twice(),
        negotiation.witnessed_counter(),
        chains.lower_seq_late(),
        negotiation.witnessed_branch(),
        negotiation.witnessed_counted(),
        negotiation.nested_cut_back(),
        negotiation.nested_branch(),
        negotiation.witnessed_late(),
        negotiation.two_witnessed(),
        negotiation.line_counted(),
        negotiation.witnessed_late_key(),
        negotiation.witnessed_beside(),
        negotiation.answered_accept(),
        negotiation.cut_off_answered_twice(),
        negotiation.checked_against_itself(),
        negotiation.stamped_answer(),
        chains.accept_of_an_offer_not_held(),
        chains.named_statement_not_held(),
    ]
    return groups, proof


def statements_file() -> dict[str, Any]:
    """The statements.json document."""
    return document(statements_groups())


def chains_file() -> tuple[dict[str, Any], EquivocationProof]:
    """The chains.json document, and the equivocation found in it."""
    groups, proof = chains_groups()
    return document(groups), proof


def proof_file(proof: EquivocationProof) -> dict[str, Any]:
    """An offline equivocation proof: two envelopes one issuer signed for one chain position."""
    issuer = verify_equivocation_proof(proof)
    return {
        "schema": "a2a-coop-equivocation-proof/1",
        "comment": "Alice's agent signed two different statements at seq 1 (CHN-004). Anyone can check this "
        "offline: both envelopes verify under the issuer's key and name the same seq.",
        "requirements": ["CHN-004"],
        "issuer": issuer,
        "first": envelope_to_json(proof.first),
        "second": envelope_to_json(proof.second),
    }


def render() -> dict[str, str]:
    """File name -> exact file text, for every file this package owns."""
    with mutations.recording_keys() as keys:  # the issuers' keys, for the mutations to re-sign with
        statement_groups = statements_groups()
        chain_groups, proof = chains_groups()
        rule_groups = rules.groups()
    statements_doc, chains_doc = document(statement_groups), document(chain_groups)
    self_check("statements", statements_doc, statement_groups)
    self_check("chains", chains_doc, chain_groups)
    docs = {
        "statements.json": statements_doc,
        "chains.json": chains_doc,
        "equivocation-proof.json": proof_file(proof),
    }
    wire_doc, wire_groups = decoding.wire_file()
    self_check("wire", wire_doc, wire_groups)
    if problems := decoding.check_wire(wire_doc):
        raise SystemExit(
            f"wire: {len(problems)} wire results disagree with the library:\n" + "\n".join(problems)
        )
    docs[decoding.FILE] = wire_doc
    docs.update(rules_files(rule_groups))
    key_time_groups = key_time.groups()
    key_time_doc = document(key_time_groups)
    self_check("keytime", key_time_doc, key_time_groups)
    docs[key_time.FILE] = key_time_doc
    sources = [("statements", statement_groups), ("chains", chain_groups), ("rules", rule_groups)]
    mutation_doc, mutation_groups = mutations.mutations_file(sources, keys)
    self_check("mutations", mutation_doc, mutation_groups)
    docs[mutations.FILE] = mutation_doc
    canary_doc, canary_groups = canaries.canaries_file(
        [
            ("statements", statements_doc, statement_groups),
            ("chains", chains_doc, chain_groups),
            ("wire", wire_doc, wire_groups),
            ("rules", docs["rules.json"], rule_groups),
            ("mutations", mutation_doc, mutation_groups),
        ]
    )
    self_check("canaries", canary_doc, canary_groups)
    docs[canaries.FILE] = canary_doc
    docs[reputation.FILE] = reputation.reputation_file()
    docs[ratings.FILE] = ratings.ratings_file()
    return {name: file_text(doc) for name, doc in docs.items()}


def file_text(doc: dict[str, Any]) -> str:
    """A vector file's exact text."""
    return json.dumps(doc, indent=1, ensure_ascii=False) + "\n"


def rules_files(groups: list[Group] | None = None) -> dict[str, dict[str, Any]]:
    """rules.json (the checks mutation testing found unpinned, :mod:`.rules`) and its extra
    equivocation proofs (a broken link, two answers to one statement), self-checked."""
    groups = rules.groups() if groups is None else groups
    doc = document(groups)
    self_check("rules", doc, groups)
    return {
        "rules.json": doc,
        "equivocation-proof-prev.json": rules.prev_proof(),
        "equivocation-proof-answer.json": rules.answer_proof(),
        rules.NON_PROOFS_FILE: rules.non_proofs(),
    }


def _print_twinless() -> None:
    """The invalid cases that carry no valid twin, and why (for reviews of the one-rule check)."""
    for name, groups in (
        ("statements", statements_groups()),
        ("chains", chains_groups()[0]),
        ("wire", decoding.wire_groups()[0]),
        ("rules", rules.groups()),
        ("keytime", key_time.groups()),
    ):
        for tc_id, case in twinless(groups):
            why = case.no_twin or "VerificationOrder: breaks several rules on purpose"
            print(f"{name}-{tc_id}-{case.requirements[0]}\t{case.comment}\t{why}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m conformance.generate_vectors", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if the files on disk differ")
    parser.add_argument("--out", type=Path, default=VECTOR_DIR, help="output directory")
    parser.add_argument(
        "--twinless", action="store_true", help="list the invalid cases without a valid twin, and why"
    )
    args = parser.parse_args(argv)
    if args.twinless:
        _print_twinless()
        return 0
    files = render()
    if args.check:
        stale = [
            n
            for n, text in files.items()
            if not (args.out / n).is_file() or (args.out / n).read_text(encoding="utf-8") != text
        ]
        for n in stale:
            print(f"{args.out / n}: out of date; run python -m conformance.generate_vectors", file=sys.stderr)
        return 1 if stale else 0
    args.out.mkdir(parents=True, exist_ok=True)
    for n, text in files.items():
        (args.out / n).write_text(text, encoding="utf-8")
        print(f"wrote {args.out / n}")
    return 0
