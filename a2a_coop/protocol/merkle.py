"""RFC 6962 Merkle tree hash over statement digests (SPEC.md CHN-007).

A Checkpoint's ``log_root`` lets an issuer prove one statement is in its log
without revealing the others: an inclusion proof carries only sibling hashes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence


def leaf_hash(digest: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + digest).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """Largest power of two strictly less than n (RFC 6962 section 2.1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def root(digests: Sequence[bytes]) -> bytes:
    """MTH(D[0:n]); empty bytes for an empty log (SPEC: log_root empty at seq 0)."""
    if not digests:
        return b""
    if len(digests) == 1:
        return leaf_hash(digests[0])
    k = _split(len(digests))
    return node_hash(root(digests[:k]), root(digests[k:]))


def inclusion_proof(digests: Sequence[bytes], index: int) -> list[bytes]:
    """PATH(m, D[0:n]) for leaf ``index`` (RFC 6962 section 2.1.1)."""
    if not 0 <= index < len(digests):
        raise IndexError(index)
    if len(digests) == 1:
        return []
    k = _split(len(digests))
    if index < k:
        return [*inclusion_proof(digests[:k], index), root(digests[k:])]
    return [*inclusion_proof(digests[k:], index - k), root(digests[:k])]


def verify_inclusion(
    digest: bytes, index: int, size: int, proof: Sequence[bytes], expected_root: bytes
) -> bool:
    """Check an inclusion proof (RFC 9162 section 2.1.3.2 algorithm)."""
    if not 0 <= index < size:
        return False
    fn, sn = index, size - 1
    r = leaf_hash(digest)
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == expected_root
