"""RFC 6962 Merkle tree hash and inclusion proofs for checkpoints (SPEC CHN-007)."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from a2a_coop._proto.a2acoop.v1 import identity_pb2
from a2a_coop.protocol.merkle import (
    CompactRange,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    verify_inclusion,
)
from a2a_coop.protocol.verifier import Verifier
from a2a_coop.testing import FixedClock, Signer

# RFC 6962 reference leaves and roots, as pinned in google/certificate-transparency's
# python/ct/crypto/merkle_test.py (TreeHasherTest) and Trillian's merkle tests.
CT_LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
CT_ROOTS = {
    1: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    2: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    3: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    4: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    5: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    6: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    7: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    8: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}
CT_PROOF_0_OF_8 = [
    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
]

DIGESTS = [hashlib.sha256(b"statement %d" % i).digest() for i in range(8)]


def H(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _hand_built(d: list[bytes]) -> tuple[dict[int, bytes], dict[tuple[int, int], list[bytes]]]:
    """Roots and audit paths for sizes 1..8, written out by hand from RFC 6962 section 2.1
    (leaf = H(0x00 || d), node = H(0x01 || left || right), split at the largest power of two < n)."""
    L = [H(b"\x00" + x) for x in d]

    def N(a: bytes, b: bytes) -> bytes:
        return H(b"\x01" + a + b)

    n01, n23, n45, n67 = N(L[0], L[1]), N(L[2], L[3]), N(L[4], L[5]), N(L[6], L[7])
    n0123 = N(n01, n23)
    roots = {
        1: L[0],
        2: n01,
        3: N(n01, L[2]),
        4: n0123,
        5: N(n0123, L[4]),
        6: N(n0123, n45),
        7: N(n0123, N(n45, L[6])),
        8: N(n0123, N(n45, n67)),
    }
    paths = {
        (1, 0): [],
        (2, 0): [L[1]],
        (2, 1): [L[0]],
        (3, 0): [L[1], L[2]],
        (3, 1): [L[0], L[2]],
        (3, 2): [n01],
        (4, 0): [L[1], n23],
        (4, 1): [L[0], n23],
        (4, 2): [L[3], n01],
        (4, 3): [L[2], n01],
        (5, 0): [L[1], n23, L[4]],
        (5, 3): [L[2], n01, L[4]],
        (5, 4): [n0123],
        (6, 4): [L[5], n0123],
        (6, 5): [L[4], n0123],
        (7, 0): [L[1], n23, N(n45, L[6])],
        (7, 4): [L[5], L[6], n0123],
        (7, 5): [L[4], L[6], n0123],
        (7, 6): [n45, n0123],
        (8, 0): [L[1], n23, N(n45, n67)],
        (8, 5): [L[4], n67, n0123],
        (8, 7): [L[6], n45, n0123],
    }
    return roots, paths


HAND_ROOTS, HAND_PATHS = _hand_built(DIGESTS)


@pytest.mark.req("CHN-007")
def test_hashes_are_domain_separated_per_rfc_6962() -> None:
    """A leaf is H(0x00 || d) and a node H(0x01 || l || r); expect exactly those, so a leaf can
    never be passed off as a node."""
    d = DIGESTS[0]
    assert leaf_hash(d) == H(b"\x00" + d)
    assert node_hash(d, d) == H(b"\x01" + d + d)
    assert leaf_hash(d + d) != node_hash(d, d)


@pytest.mark.req("CHN-007")
def test_empty_log_has_an_empty_root() -> None:
    """A checkpoint at seq 0 commits to nothing; expect empty bytes (not SHA-256 of nothing)."""
    assert root([]) == b""


@pytest.mark.req("CHN-007")
@pytest.mark.parametrize("size", range(1, 9))
def test_root_matches_the_hand_built_tree(size: int) -> None:
    """Trees of 1..8 statements; expect root() to equal the tree written out by hand."""
    assert root(DIGESTS[:size]) == HAND_ROOTS[size]


@pytest.mark.req("CHN-007")
@pytest.mark.parametrize("size", sorted(CT_ROOTS))
def test_root_matches_certificate_transparency_reference_roots(size: int) -> None:
    """The published RFC 6962 reference leaves; expect the published roots."""
    assert root(CT_LEAVES[:size]).hex() == CT_ROOTS[size]


@pytest.mark.req("CHN-007")
def test_inclusion_proof_matches_the_published_audit_path() -> None:
    """Leaf 0 of the 8-leaf reference tree; expect the published audit path, and that it verifies."""
    proof = inclusion_proof(CT_LEAVES, 0)
    assert [p.hex() for p in proof] == CT_PROOF_0_OF_8
    assert verify_inclusion(CT_LEAVES[0], 0, 8, proof, bytes.fromhex(CT_ROOTS[8]))


@pytest.mark.req("CHN-007")
@pytest.mark.parametrize(("size", "index"), sorted(HAND_PATHS))
def test_inclusion_proof_matches_the_hand_built_audit_path(size: int, index: int) -> None:
    """Selected leaves of trees 1..8; expect the audit path written out by hand."""
    assert inclusion_proof(DIGESTS[:size], index) == HAND_PATHS[(size, index)]


@pytest.mark.req("CHN-007")
@pytest.mark.parametrize("size", range(1, 9))
def test_every_inclusion_proof_verifies_and_every_tampered_one_fails(size: int) -> None:
    """For every leaf of trees 1..8: the honest proof verifies; flipping any bit of any sibling,
    naming another leaf or index, dropping or adding a sibling, or another size's root does not."""
    digests = DIGESTS[:size]
    r = HAND_ROOTS[size]
    for index in range(size):
        proof = inclusion_proof(digests, index)
        assert verify_inclusion(digests[index], index, size, proof, r)
        for j in range(len(proof)):
            for bit in (0, 7, 255):
                bad = list(proof)
                bad[j] = bytearray(bad[j])
                bad[j][bit // 8] ^= 1 << (bit % 8)
                assert not verify_inclusion(digests[index], index, size, [bytes(p) for p in bad], r)
        assert not verify_inclusion(hashlib.sha256(b"forged").digest(), index, size, proof, r)
        for other in range(size):
            if other != index and digests[other] != digests[index]:
                assert not verify_inclusion(digests[other], index, size, proof, r)
        if size > 1:
            assert not verify_inclusion(digests[index], (index + 1) % size, size, proof, r)
            assert not verify_inclusion(digests[index], index, size, proof[:-1], r)
        assert not verify_inclusion(digests[index], index, size, [*proof, r], r)
        assert not verify_inclusion(digests[index], index, size, proof, HAND_ROOTS[size % 8 + 1])


@pytest.mark.req("CHN-007")
@pytest.mark.parametrize(("index", "size"), [(-1, 4), (4, 4), (0, 0)])
def test_index_outside_the_tree_never_verifies(index: int, size: int) -> None:
    """An index at or past the size, or negative; expect False (and IndexError from the prover)."""
    assert not verify_inclusion(DIGESTS[0], index, size, [], root(DIGESTS[:1]))
    with pytest.raises(IndexError):
        inclusion_proof(DIGESTS[:size], index)


@pytest.mark.req("CHN-007", "CHN-001")
def test_checkpoint_commits_to_the_issuers_chain_and_proves_inclusion() -> None:
    """An agent signs five statements, then a Checkpoint whose log_root is the tree of their digests.
    An auditor holding the envelopes recomputes the root; expect equality, and that an inclusion
    proof for statement 2 verifies against the signed checkpoint alone."""
    clock = FixedClock()
    agent = Signer("checkpointer", clock)
    chain = []
    for i in range(5):
        chain.append(
            agent.sign("checkpoint", identity_pb2.Checkpoint(log_root=root([v.digest for v in chain])))
        )
        clock.advance(10)
        assert chain[i].header.seq == i
    digests = [v.digest for v in chain]
    checkpoint = agent.sign("checkpoint", identity_pb2.Checkpoint(log_root=root(digests)))
    auditor = Verifier(complete_chains=True)
    for vs in [*chain, checkpoint]:
        auditor.accept(vs.envelope)
    held = [auditor.chains[agent.did].links[s].digest for s in range(checkpoint.header.seq)]
    assert root(held) == checkpoint.statement.checkpoint.log_root
    proof = inclusion_proof(digests, 2)
    assert verify_inclusion(
        digests[2], 2, checkpoint.header.seq, proof, checkpoint.statement.checkpoint.log_root
    )


# --- CompactRange: the same root in O(log n) ----------------------------------------------------------


@pytest.mark.req("CHN-007")
@pytest.mark.parametrize("size", range(9))
def test_compact_range_matches_the_hand_built_tree(size: int) -> None:
    """Appending 0..8 digests one by one; expect the root of the tree written out by hand (empty bytes
    for no digest, as at seq 0) and the size, whether built by appends or from the list."""
    grown = CompactRange()
    for d in DIGESTS[:size]:
        grown.append(d)
    expected = HAND_ROOTS[size] if size else b""
    assert grown.root() == expected
    assert CompactRange(DIGESTS[:size]).root() == expected
    assert len(grown) == size


@pytest.mark.req("CHN-007")
@settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.binary(min_size=32, max_size=32), max_size=70), st.binary(max_size=40))
def test_compact_range_root_is_the_tree_hash_of_every_prefix(digests: list[bytes], odd: bytes) -> None:
    """Any list of digests (sizes around every power of two up to 64, plus one leaf of another
    length), appended one by one; expect the root after each append to equal root() of that prefix,
    so a verifier checking checkpoints incrementally agrees with the definition at every seq."""
    grown = CompactRange()
    assert grown.root() == root([])
    for n, d in enumerate([*digests, odd], start=1):
        grown.append(d)
        assert len(grown) == n
        assert grown.root() == root([*digests, odd][:n])


@pytest.mark.req("CHN-007")
def test_compact_range_keeps_logarithmic_state_over_a_long_log() -> None:
    """100 000 digests; expect the root of the whole list and at most log2(n) + 1 subtree roots kept
    (the reason a verifier can check every checkpoint of a long chain)."""
    digests = [hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(100_000)]
    grown = CompactRange(digests)
    assert grown.root() == root(digests)
    assert len(grown._peaks) == bin(100_000).count("1") <= (100_000).bit_length()
