"""Per-issuer hash chains and equivocation proofs (SPEC.md CHN-*).

Theory of operation. Every statement an issuer signs takes the next ``seq``
and names the digest of the previous one in ``prev``, so an issuer's whole
history is one chain. A counterparty usually sees only part of it (statements
to others leave gaps), so a :class:`ChainView` records what it has seen,
``seq -> (digest, prev, issued_at, envelope)``, and checks each new statement
against what it holds. The chain step (SPEC section 11, step 27) runs
CHN-004, CHN-003, CHN-005, CHN-002, then CHN-007, and reports the first
failure:

* same seq, different digest: EQUIVOCATION (CHN-004);
* prev not the digest held for seq-1, or a held seq+1 whose prev is not this
  statement: CHAIN_BROKEN (CHN-003);
* issued_at earlier than the *nearest* held statement below it, or later than
  the nearest held above it, however far away: CHAIN_BROKEN (CHN-005);
* in *complete* mode (verifying a log segment), any seq other than last+1:
  CHAIN_GAP (CHN-002);
* a Checkpoint whose log_root is not the RFC 6962 tree hash of the issuer's
  statements 0..seq-1: LOG_ROOT_MISMATCH (CHN-007), checked only when the
  view holds every one of them. With any of them missing the root cannot be
  recomputed, so a sparse view accepts such a Checkpoint unchecked, and does
  not go back to it when the gap is filled later; an auditor verifying the
  complete log from seq 0 checks every Checkpoint in it.

CHN-007 comes last because it is the only check of the body: it compares the
root with the history this statement extends, which is only that statement's
history once the chain checks before it have placed it (CHN-003 pins prev to
the held seq-1, CHN-004 rules out a second statement at its seq). It is also
the only one with a slow path (below), which the cheap checks then never reach.

CHN-005 looks past the gaps on purpose. A key that was rotated out (its
KeyRotation is the last link of its chain, KEY-005) still holds the secret,
and in a sparse view it could sign a statement at an unused-looking seq
below the rotation. Only the nearest held neighbours bound its time: with the
KeyRotation held above it, the statement cannot claim a time after the
rotation. Checking the nearest held neighbours is as strong as checking every
held statement, because what is held is itself in time order: each statement
was checked against its own nearest neighbours before it was added (as the
Verifier does: check, then add).

Cost, for views of 100k statements and more: the held seqs are also kept in
ascending order, so the nearest neighbours are a binary search away, O(log n),
and an append at the head (the common case) is O(1); filling a gap moves the
higher seqs up one slot, a memory move far cheaper than the signature check
that precedes it. For CHN-007 the view
keeps a :class:`~a2a_coop.protocol.merkle.CompactRange` over its contiguous
prefix 0..p-1 (the statements it holds from seq 0 without a gap), extended as
links arrive, so a Checkpoint at seq p (the next statement, the common case)
is checked in O(log n). A Checkpoint below p can only be one the view already
holds (CHN-004 rejects any other); re-checking it costs O(n), which is rare.

Whenever a fork is detected, the two conflicting envelopes are a proof anyone
can check offline with :func:`verify_equivocation_proof`: both are signed by
the issuer, and no single chain can contain both.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from a2a_coop.protocol import merkle
from a2a_coop.protocol.errors import ChainBroken, ChainGap, Equivocation, LogRootMismatch
from a2a_coop.protocol.identity import Keypair
from a2a_coop.protocol.statements import (
    PROTOCOL_VERSION,
    Statement,
    VerifiedStatement,
    candidate,
    negotiation_id_for,
    new_statement,
    sign_candidate,
    verify_statement,
)

if TYPE_CHECKING:
    from a2a_coop.protocol.archive import Archive, Nearest

# What a ChainSigner's statements live for unless told otherwise: a year, as an escrow's ledger entries
# and a principal's Mandates do (an old Stamp or Forfeit is still relayed live).
DEFAULT_SIGNER_TTL_MS = 365 * 86_400_000


class _Link(NamedTuple):
    digest: bytes
    prev: bytes
    issued_at_ms: int
    envelope: bytes


# tuple.__new__ builds a _Link without the NamedTuple's Python-level __new__ (one per statement added).
_new_link: Callable[[type[_Link], tuple[bytes, bytes, int, bytes]], _Link] = tuple.__new__


def joins_no_chain(vs: VerifiedStatement) -> bool:
    """KEY-013: whether ``vs`` is a KeyRevocation of its issuer by itself, which joins no chain of a sparse
    view (nor its replay memory): the last statement an honest key signs, read from its own seq and time
    (KEY-011 (a)), taken though it forks the chain. A complete log (CHN-002) holds it as any statement."""
    return vs.body == "key_revocation" and vs.statement.key_revocation.key == vs.issuer


@dataclass(frozen=True)
class EquivocationProof:
    """Two envelopes by one issuer that cannot both belong to one chain."""

    first: bytes
    second: bytes


@dataclass
class ChainView:
    """What one verifier knows of one issuer's chain."""

    issuer: str
    complete: bool = False
    links: dict[int, _Link] = field(default_factory=dict)
    head: int | None = None  # highest seq held (kept as links are added, not recomputed)
    # With an archive, only the ``window`` to ``2 * window`` highest links held stay in memory; the
    # seqs below ``floor`` are looked up in the archive (bounded memory, a2a_coop.protocol.archive).
    archive: Archive | None = field(default=None, repr=False, compare=False)
    window: int = 256
    floor: int = 0
    # KEY-013: the digests of the issuer's own KeyRevocations taken beside this (sparse) chain, not into it:
    # the archive holds them, and never answers one as a link (None: none; a set only once there is one).
    outside: set[bytes] | None = field(default=None, repr=False, compare=False)
    # The keys of ``links`` in ascending order, for the nearest held neighbours of a seq (CHN-005).
    _seqs: list[int] = field(init=False, repr=False, compare=False)
    # The longest gapless prefix held, seqs 0..p-1 (CHN-007), and the MTH state over its first
    # len(_prefix) digests: hashed only when a root is asked for, or before links leave memory.
    _prefix_len: int = field(init=False, repr=False, compare=False)
    _prefix: merkle.CompactRange = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._seqs = sorted(self.links)
        self._prefix = merkle.CompactRange()
        self._prefix_len = 0
        self._extend_prefix()

    def prefix_root(self) -> tuple[int, bytes]:
        """``(p, MTH(digests 0..p-1))`` for the contiguous run of statements held from seq 0 (CHN-007):
        what a Checkpoint at seq p carries as its log_root, in O(log p) amortised."""
        self._hash_prefix()
        return len(self._prefix), self._prefix.root()

    def check(self, vs: VerifiedStatement) -> None:
        """Raise the CHN-* error ``vs`` would cause; change nothing.

        For EQUIVOCATION and CHAIN_BROKEN the error's ``evidence`` holds the two
        conflicting envelopes, the lower seq first. Under CHN-004 and CHN-003 they
        are an equivocation proof (``EquivocationProof(*err.evidence)``); under
        CHN-005 they are two statements by the issuer whose times run backwards
        along its seqs, which anyone can also check offline. LOG_ROOT_MISMATCH
        carries no evidence: proving it takes the issuer's whole log 0..seq-1.
        """
        seq = vs.seq
        links = self.links
        held = links.get(seq)
        if held is None and seq < self.floor:
            held = self._archived(seq, "at")
        if held is not None and held.digest != vs.digest:
            raise Equivocation(
                f"two statements at seq {seq}", requirement="CHN-004", evidence=(held.envelope, vs.envelope)
            )
        if seq <= self.floor:  # a neighbour may be in the archive only
            before, after = self._link(seq - 1), self._link(seq + 1)
        else:
            before, after = links.get(seq - 1), links.get(seq + 1)
        if before is not None and vs.prev != before.digest:
            raise ChainBroken(
                f"prev at seq {seq} does not match seq {seq - 1}",
                requirement="CHN-003",
                evidence=(before.envelope, vs.envelope),
            )
        if after is not None and after.prev != vs.digest:
            raise ChainBroken(
                f"seq {seq + 1} does not follow this statement",
                requirement="CHN-003",
                evidence=(vs.envelope, after.envelope),
            )
        self._check_time(vs)
        head = self.head
        if self.complete and head is not None and seq != head + 1:
            raise ChainGap(f"expected seq {head + 1}, got {seq}", requirement="CHN-002")
        if vs.body == "checkpoint":
            self._check_log_root(vs)

    def _check_time(self, vs: VerifiedStatement) -> None:
        """CHN-005 against the nearest held statements below and above ``vs``, at any distance."""
        inverted = self.time_inversion(vs)
        if inverted is not None:
            raise inverted

    def time_inversion(self, vs: VerifiedStatement) -> ChainBroken | None:
        """CHN-005's refusal of ``vs`` (its evidence a time-inversion pair), or None -- whatever else
        :meth:`check` finds first: a statement refused for its seq or link may also run time back against
        a neighbour, a second proof a view ranks against the first (ATT-013 (c))."""
        seq, at = vs.seq, vs.issued_at_ms
        head = self.head
        if head is not None and seq > head:  # the common case: the chain grows at its head
            top = self.links[head]  # held: trimming only drops the lowest seqs
            if at < top.issued_at_ms:
                return ChainBroken(
                    f"issued at {at}, before the issuer's held seq below {seq} ({top.issued_at_ms})",
                    requirement="CHN-005",
                    evidence=(top.envelope, vs.envelope),
                )
            return None
        seqs = self._seqs
        i = bisect_left(seqs, seq)
        # A statement held at this very seq is this one (CHN-004 passed): compare with the others.
        j = i + 1 if i < len(seqs) and seqs[i] == seq else i
        below = self.links[seqs[i - 1]] if i else None
        above = self.links[seqs[j]] if j < len(seqs) else None
        if seq < self.floor:  # below what memory holds: the archive has both neighbours
            below, above = self._archived(seq, "below"), self._archived(seq, "above")
        elif below is None and self.floor:
            below = self._archived(seq, "below")
        if below is not None and at < below.issued_at_ms:
            return ChainBroken(
                f"issued at {at}, before the issuer's held seq below {seq} ({below.issued_at_ms})",
                requirement="CHN-005",
                evidence=(below.envelope, vs.envelope),
            )
        if above is not None and at > above.issued_at_ms:
            return ChainBroken(
                f"issued at {at}, after the issuer's held seq above {seq} ({above.issued_at_ms})",
                requirement="CHN-005",
                evidence=(vs.envelope, above.envelope),
            )
        return None

    def _link(self, seq: int) -> _Link | None:
        link = self.links.get(seq)
        if link is None and seq < self.floor:
            link = self._archived(seq, "at")
        return link

    def leave_out(self, digest: bytes) -> None:
        """KEY-013: the issuer's own KeyRevocation ``digest`` was taken beside this sparse chain, not added to
        it; the archive, which holds it, is asked past it."""
        if self.outside is None:
            self.outside = set()
        self.outside.add(digest)

    def _archived(self, seq: int, nearest: Nearest) -> _Link | None:
        """The link at ``seq`` (or the nearest below or above) in the archive: of the statements it holds,
        those that join the issuer's chain. A sparse view passes over the issuer's own KeyRevocations
        (KEY-013), as memory holds none: those :meth:`leave_out` named, and any other the archive answers
        (one it holds that this view was not told of yet: a replay of the archive reads ahead of it)."""
        archive = self.archive
        if archive is None:
            return None
        skip = self.outside
        while True:
            if skip:
                envelope = archive.at_seq(self.issuer, seq, nearest=nearest, skip=skip)
            else:
                envelope = archive.at_seq(self.issuer, seq, nearest=nearest)
            if envelope is None:
                return None
            vs = verify_statement(envelope)
            if self.complete or not joins_no_chain(vs):
                return _Link(vs.digest, vs.prev, vs.issued_at_ms, envelope)
            skip = {*(skip or ()), vs.digest}

    def _digests_below(self, seq: int) -> list[bytes]:
        """The digests at seqs 0..seq-1, every one held (in memory or the archive)."""
        links = [self._link(i) for i in range(seq)]
        return [link.digest for link in links if link is not None]

    def trim(self) -> None:
        """With an archive, keep only the ``window`` highest links held, as :meth:`add` does past twice
        that: for links added before the archive held them (it answers for the rest from now on)."""
        if self.archive is not None and len(self._seqs) > self.window:
            self._trim()

    def _trim(self) -> None:
        """Keep the ``window`` highest links held; the archive answers for the rest."""
        self._hash_prefix()  # the prefix's digests are read from memory: hash them before they leave
        cut = len(self._seqs) - self.window
        for seq in self._seqs[:cut]:
            del self.links[seq]
        self.floor = self._seqs[cut]
        del self._seqs[:cut]

    def _check_log_root(self, vs: VerifiedStatement) -> None:
        """CHN-007, when every statement of the issuer below ``vs`` is held; otherwise skipped."""
        seq = vs.seq
        held = self._prefix_len
        if seq > held:
            return  # seq `held` is missing: the root over 0..seq-1 cannot be recomputed from this view
        if seq == held:
            self._hash_prefix()
            expected = self._prefix.root()
        else:  # vs is already held here (see the module docstring): rare, so O(n) is acceptable
            expected = merkle.root(self._digests_below(seq))
        if vs.statement.checkpoint.log_root != expected:
            raise LogRootMismatch(
                f"log_root is not the tree hash of the issuer's statements 0..{seq - 1}",
                requirement="CHN-007",
            )

    def add(self, vs: VerifiedStatement) -> None:
        seq = vs.seq
        held = self.links.get(seq)
        if held is None:
            if self.head is None or seq > self.head:
                self._seqs.append(seq)  # the common case: the chain grows at its head
            else:
                insort(self._seqs, seq)  # filling a gap of a sparse view: an O(n) memory move
        self.links[seq] = _new_link(_Link, (vs.digest, vs.prev, vs.issued_at_ms, vs.envelope))
        if self.head is None or seq > self.head:
            self.head = seq
        if held is not None and held.digest != vs.digest and seq < len(self._prefix):
            # Only a caller that adds without check() replaces a link (a fork); keep the range true.
            self._prefix = merkle.CompactRange(self._digests_below(seq))
        self._extend_prefix()
        if self.archive is not None and len(self._seqs) >= 2 * self.window:
            self._trim()

    def _extend_prefix(self) -> None:
        """Count the held links that continue the gapless prefix (hashed later: :meth:`_hash_prefix`)."""
        links, n = self.links, self._prefix_len
        while n in links:
            n += 1
        self._prefix_len = n

    def _hash_prefix(self) -> None:
        """Bring the MTH state up to the whole gapless prefix (each seq is hashed once)."""
        prefix, links = self._prefix, self.links
        for seq in range(len(prefix), self._prefix_len):
            prefix.append(links[seq].digest)


def verify_equivocation_proof(proof: EquivocationProof) -> str:
    """Check an equivocation proof offline (CHN-004, CHN-003).

    Returns:
        The did:key of the issuer that equivocated.

    Raises:
        CoopError: an envelope does not verify.
        ValueError: the two statements do not conflict.
    """
    a, b = verify_statement(proof.first), verify_statement(proof.second)
    if a.issuer != b.issuer:
        raise ValueError("the statements have different issuers")
    if a.digest == b.digest:
        raise ValueError("the statements are the same")
    sa, sb = a.header.seq, b.header.seq
    if sa == sb:
        return a.issuer
    lo, hi = (a, b) if sa < sb else (b, a)
    if hi.header.seq == lo.header.seq + 1 and hi.header.prev != lo.digest:
        return a.issuer
    raise ValueError("the statements do not conflict")


class ChainWriter:
    """The issuer's side of a chain: stamps version, issuer, seq, prev and nonce, then signs.

    The caller sets every other header field and the body. Nonces come from
    the caller (a CSPRNG in a peer, a seeded generator in tests), because the
    core draws no randomness of its own.

    A peer MUST persist (seq, digest) before sending what it signed, or after a
    crash it could sign a second statement at a used seq: an equivocation.
    The journal (issue #4) does that; this class only keeps memory state.
    """

    def __init__(self, key: Keypair, *, next_seq: int = 0, prev: bytes = b"") -> None:
        self.key = key
        self.next_seq = next_seq
        self.prev = prev

    def stamp(self, stmt: Statement, *, nonce: bytes) -> VerifiedStatement:
        """Fill in the chain fields and return an unsigned candidate (nothing advances).

        An opening Offer left without a negotiation_id gets the one its issuer and
        nonce determine (NEG-013).
        """
        h = stmt.header
        h.version = PROTOCOL_VERSION
        h.issuer = self.key.did
        h.seq = self.next_seq
        h.prev = self.prev
        h.nonce = nonce
        if not h.negotiation_id and stmt.WhichOneof("body") == "offer":
            h.negotiation_id = negotiation_id_for(h.issuer, nonce)
        return candidate(stmt, self.key.did)

    def advance(self, vs: VerifiedStatement) -> None:
        """Move the head past ``vs``, once it is persisted (see the class docstring)."""
        if vs.seq != self.next_seq or vs.prev != self.prev:
            raise ValueError(f"{vs.seq} is not the next link of this chain ({self.next_seq})")
        self.next_seq += 1
        self.prev = vs.digest

    def sign(self, stmt: Statement, *, nonce: bytes) -> VerifiedStatement:
        """Stamp, sign and advance in one step (for callers with no journal or guard)."""
        vs = sign_candidate(self.stamp(stmt, nonce=nonce), self.key)
        self.advance(vs)
        return vs


class ChainSigner:
    """A key signing the statements of its chain, one after another: each built with the given header
    fields, stamped with the chain's next seq and prev (:class:`ChainWriter`), checked unsigned (header
    and body rules), and only then signed (:meth:`sign_candidate`), which advances the chain. Sans-IO:
    the time and the nonces come from ``clock`` and ``nonce``.

    Implements :class:`~a2a_coop.protocol.escrow.EscrowSigner`; the caller journals what it signed
    before it leaves the process (write-ahead, see :class:`ChainWriter`).
    """

    def __init__(
        self,
        key: Keypair,
        *,
        clock: Callable[[], int],
        nonce: Callable[[], bytes],
        head: tuple[int, bytes] = (0, b""),
        ttl_ms: int = DEFAULT_SIGNER_TTL_MS,
    ) -> None:
        self.key = key
        self.writer = ChainWriter(key, next_seq=head[0], prev=head[1])
        self.now, self.nonce, self.ttl_ms = clock, nonce, ttl_ms

    @property
    def did(self) -> str:
        return self.key.did

    def candidate(
        self,
        body: str,
        message: Any,
        *,
        audience: str = "",
        negotiation_id: bytes = b"",
        mandate: bytes = b"",
        issued_at_ms: int | None = None,
        ttl_ms: int | None = None,
        refs: Sequence[bytes] = (),
        nonce: bytes | None = None,
    ) -> VerifiedStatement:
        """The next statement of the chain, checked and unsigned; nothing advances until
        :meth:`sign_candidate` signs it. ``issued_at_ms``, ``ttl_ms`` and ``nonce`` default to the
        clock's time, the signer's lifetime and a fresh nonce."""
        stmt = new_statement(
            body,
            message,
            issued_at_ms=self.now() if issued_at_ms is None else issued_at_ms,
            ttl_ms=self.ttl_ms if ttl_ms is None else ttl_ms,
            audience=audience,
            negotiation_id=negotiation_id,
            mandate=mandate,
            refs=refs,
        )
        return self.writer.stamp(stmt, nonce=self.nonce() if nonce is None else nonce)

    def sign_candidate(self, cand: VerifiedStatement) -> VerifiedStatement:
        """Sign a :meth:`candidate` and advance the chain past it."""
        vs = sign_candidate(cand, self.key)
        self.writer.advance(vs)
        return vs

    def sign(self, body: str, message: Any, **kw: Any) -> VerifiedStatement:
        """:meth:`candidate` and :meth:`sign_candidate` in one step (for callers with no guard)."""
        return self.sign_candidate(self.candidate(body, message, **kw))
