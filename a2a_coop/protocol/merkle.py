"""RFC 6962 Merkle tree hash over statement digests (SPEC.md CHN-007).

A Checkpoint's ``log_root`` lets an issuer prove one statement is in its log
without revealing the others: an inclusion proof carries only sibling hashes.

:func:`root` is the definition, written as RFC 6962 states it (O(n) per call).
A verifier that checks every Checkpoint of a long chain cannot afford O(n) per
checkpoint, so :class:`CompactRange` keeps the same root for a list that grows
at the end in O(log n) memory, updated in amortised O(1) hashes per append.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence


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


class CompactRange:
    """MTH of a list that only grows at the end, without keeping the list.

    The tree of n leaves (RFC 6962 section 2.1) is, read left to right, one
    perfect subtree per set bit of n, largest first: 6 = 4 + 2 leaves are
    MTH(D[0:4]) and MTH(D[4:6]), and MTH(D[0:6]) = node(MTH(D[0:4]), MTH(D[4:6])).
    Only those subtree roots (at most log2(n) + 1) are kept. Appending a leaf
    merges equal-sized subtrees as binary addition carries bits, and the root
    folds the subtrees right to left, because the split point k of RFC 6962 is
    always the size of the largest one.
    """

    __slots__ = ("_peaks", "_size")

    def __init__(self, digests: Iterable[bytes] = ()) -> None:
        self._size = 0
        self._peaks: list[bytes] = []  # perfect-subtree roots, largest (leftmost) first
        for digest in digests:
            self.append(digest)

    def __len__(self) -> int:
        return self._size

    def append(self, digest: bytes) -> None:
        """Add the leaf for ``digest`` at index ``len(self)``."""
        h = leaf_hash(digest)
        n = self._size
        while n & 1:  # each trailing 1 bit is a subtree of the new leaf's size: merge (a carry)
            h = node_hash(self._peaks.pop(), h)
            n >>= 1
        self._peaks.append(h)
        self._size += 1

    def root(self) -> bytes:
        """MTH over every digest appended so far; empty bytes when there are none (like :func:`root`)."""
        if not self._peaks:
            return b""
        r = self._peaks[-1]
        for peak in reversed(self._peaks[:-1]):
            r = node_hash(peak, r)
        return r
