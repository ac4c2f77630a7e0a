"""Witnessed time: when a statement is known to have existed, by a clock its issuer does not control
(SPEC.md section 9.5, WIT-*).

Theory of operation. A statement's ``issued_at_ms`` is what its signer wrote:
a claim, not a fact. Nothing that moves value may rest on it, because the
party who profits chose it (a Delivery dated back to its deadline defeats a
breach claim; an Accept dated back to an offer's expiry revives it). A
statement is *witnessed* at time ``w`` when someone other than its issuer
signed, at their own clock, that they had it by ``w``:

* the contract's escrow, in a :data:`Stamp` of its ledger (WIT-001), or
* the statement's audience -- the counterparty it was sent to -- in an Ack
  naming it, or a Receipt naming it (a Delivery).

The *witnessed time* is the earliest such ``w`` (WIT-002). Every party can
get a witness without the other's cooperation, because the escrow stamps
whatever evidence it is sent. Deadlines that move value are judged on the
witnessed time, with :data:`CLOCK_TOLERANCE_MS` for clocks that disagree
(WIT-003, WIT-004).

:class:`WitnessIndex` is the verifier's memory of stamps and acknowledgements.
It is pure bookkeeping: which statements a stamp names may not be held yet
(stamps arrive in any order), so lookups are by digest.
"""

from __future__ import annotations

from bisect import insort
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from a2a_coop.protocol.negotiation import CLOCK_TOLERANCE_MS, Contract
from a2a_coop.protocol.statements import VerifiedStatement

__all__ = ["CLOCK_TOLERANCE_MS", "WitnessIndex"]


class WitnessIndex:
    """Stamps by escrows and acknowledgements by audiences, each kept at its earliest time."""

    def __init__(self) -> None:
        self._stamped: dict[tuple[str, bytes], int] = {}  # (escrow, digest) -> earliest stamp time
        self._stamp_of: dict[tuple[str, bytes], bytes] = {}  # (escrow, digest) -> that Stamp's digest
        # (escrow, digest) -> its later stamp times, ascending, when the escrow stamped it more than once
        # (at fault, WIT-006): a claim takes effect at its earliest Stamp within the claim window (WIT-005),
        # which need not be the earliest Stamp.
        self._later: dict[tuple[str, bytes], list[int]] = {}
        self._acked: dict[tuple[str, bytes], int] = {}  # (acknowledger, digest) -> earliest time
        self._provisional: tuple[str, bytes, int] | None = None
        # a held Stamp's seq, by its digest (None when not held): ESC-022 (e) reads whether a revocation of
        # the escrow key reaches its earliest Stamp of a statement (KEY-011's seq floor). Set by the verifier.
        self.seq_of: Callable[[bytes], int | None] | None = None

    # old escrow key -> (its successors, from_ms): the hand-overs the verifier honours (ESC-022), whose
    # Stamps issued at or after from_ms count as the old key's -- every successor the key's principal
    # named, so that what counts only grows with the statements held. Set by the verifier
    # (set_successors); a class default, replaced whole, never mutated.
    _successors: dict[str, tuple[tuple[str, ...], int]] = {}
    # old escrow key -> the reaches (from when, from which seq) of the revocations of it held over its own
    # statements under its principal's Mandates (KEY-011): ESC-022 (e) counts for nothing exactly the
    # statements of the old key one of them reaches. A class default, replaced whole, never mutated.
    _own_reach: dict[str, tuple[tuple[int, int], ...]] = {}

    def set_successors(
        self,
        successors: dict[str, tuple[tuple[str, ...], int]],
        own_reach: dict[str, tuple[tuple[int, int], ...]] | None = None,
    ) -> dict[str, tuple[tuple[str, ...], int]]:
        """The hand-overs honoured now (ESC-022): old escrow key -> (successor keys, from_ms), and the
        reaches of the old key's revocations over its own statements (``own_reach``). Returns those
        honoured before."""
        was, self._successors = self._successors, dict(successors)
        self._own_reach = dict(own_reach or {})
        return was

    def own_counts(self, escrow: str, at_ms: int, seq: int | None) -> bool:
        """ESC-022 (e): whether the escrow key ``escrow``'s own statement issued at ``at_ms``, at ``seq``,
        still counts as the escrow's -- no hand-over of it honoured, or no revocation of it held reaches
        it (KEY-011, with its seq floor: the key's own revocation reaches nothing its chain orders before
        it, however early it is dated). With ``seq`` unknown, whether it is issued before the hand-over's
        time."""
        succ = self._successors.get(escrow) if self._successors else None
        if succ is None:
            return True
        reaches = self._own_reach.get(escrow)
        if reaches is None or seq is None:
            return at_ms < succ[1]
        return not any(at_ms >= when and seq >= floor for when, floor in reaches)

    def _own_stamp_counts(self, escrow: str, digest: bytes, at_ms: int) -> bool:
        """:meth:`own_counts` for ``escrow``'s own Stamp of ``digest`` at ``at_ms``: its seq read when it is
        the earliest Stamp held (a later one's is not kept: its time decides, against the hand-over's)."""
        seq = None
        if self.seq_of is not None and self._stamped.get((escrow, digest)) == at_ms:
            stamp = self._stamp_of.get((escrow, digest))
            seq = None if stamp is None else self.seq_of(stamp)
        return self.own_counts(escrow, at_ms, seq)

    def acts_for(self, issuer: str, escrow: str, at_ms: int, seq: int | None = None) -> bool:
        """Whether a statement by ``issuer`` issued at ``at_ms`` (at ``seq``) is the escrow ``escrow``'s:
        its own before a hand-over of it honoured or that no revocation of it reaches, or a successor's
        from the hand-over's time on (ESC-022, (e))."""
        if issuer == escrow:  # the revoked key's own a revocation reaches: its thief's (ESC-022 (e))
            return self.own_counts(escrow, at_ms, seq)
        succ = self._successors.get(escrow) if self._successors else None
        return succ is not None and issuer in succ[0] and at_ms >= succ[1]

    def own_stamp_time(self, escrow: str, digest: bytes) -> int | None:
        """When the key ``escrow`` itself first stamped ``digest``, whatever hand-over of it is honoured."""
        return self._stamped.get((escrow, digest))

    def own_stamp_counts(self, escrow: str, digest: bytes) -> bool:
        """Whether ``escrow``'s own earliest Stamp of ``digest``, if any, still counts (ESC-022 (e))."""
        at = self._stamped.get((escrow, digest))
        return at is None or self._own_stamp_counts(escrow, digest, at)

    def succeeded_by(self, issuer: str, at_ms: int) -> list[str]:
        """The old escrow keys ``issuer`` acts for at ``at_ms`` (ESC-022)."""
        return [old for old, (new, from_ms) in self._successors.items() if issuer in new and at_ms >= from_ms]

    def stamp_time(self, escrow: str, digest: bytes, after_ms: int | None = None) -> int | None:
        """When ``escrow`` first stamped ``digest`` (WIT-001) -- first after ``after_ms``, when given -- or
        None. A successor's Stamp from its hand-over's time on is the escrow's (ESC-022)."""
        return self._with_successor(self._own_stamp_time, escrow, digest, after_ms)

    def _with_successor(
        self,
        read: Callable[[str, bytes, int | None], int | None],
        escrow: str,
        digest: bytes,
        after_ms: int | None,
    ) -> int | None:
        """``read(escrow, digest, after_ms)``, or a successor's own read from its hand-over's time on when
        it stamped ``digest`` earlier (ESC-022): the earliest of them."""
        own = read(escrow, digest, after_ms)
        succ = self._successors.get(escrow) if self._successors else None
        if succ is None:
            return own
        if own is not None and not self._own_stamp_counts(escrow, digest, own):
            own = None  # reached by a revocation of it: its successors speak for the escrow, not its thief
        after = succ[1] - 1 if after_ms is None else max(after_ms, succ[1] - 1)
        for new in succ[0]:
            theirs = read(new, digest, after)
            if theirs is not None and (own is None or theirs < own):
                own = theirs
        return own

    def _own_stamp_time(self, escrow: str, digest: bytes, after_ms: int | None = None) -> int | None:
        p = self._provisional
        if p is not None and p[0] == escrow and p[1] == digest:
            return self._with_provisional(p[2], escrow, digest, after_ms)
        if after_ms is None:
            return self._stamped.get((escrow, digest))
        return self._own_recorded(escrow, digest, after_ms)

    def _with_provisional(self, at_ms: int, escrow: str, digest: bytes, after_ms: int | None) -> int | None:
        """:meth:`stamp_time` counting the stamp ``escrow`` is giving ``digest`` now, at ``at_ms``."""
        at = self._own_recorded(escrow, digest, after_ms)
        if after_ms is not None and at_ms <= after_ms:
            return at
        return at_ms if at is None else min(at, at_ms)

    def recorded_stamp_time(self, escrow: str, digest: bytes, after_ms: int | None = None) -> int | None:
        """:meth:`stamp_time`, leaving out the stamp an escrow is giving now (:meth:`set_provisional`)."""
        return self._with_successor(self._own_recorded, escrow, digest, after_ms)

    def _own_recorded(self, escrow: str, digest: bytes, after_ms: int | None = None) -> int | None:
        key = (escrow, digest)
        at = self._stamped.get(key)
        if at is None or after_ms is None or at > after_ms:
            return at
        return next((t for t in self._later.get(key, ()) if t > after_ms), None)

    def ack_time(self, by: str, digest: bytes) -> int | None:
        """When ``by`` first acknowledged (Ack or Receipt) ``digest``, or None."""
        return self._acked.get((by, digest))

    def stamp_of(self, escrow: str, digest: bytes) -> bytes | None:
        """The digest of the earliest Stamp held naming ``digest`` by ``escrow`` before a hand-over of it,
        or by a successor from the hand-over's time on (ESC-022; of two successors' in one millisecond, the
        one first by did), or None: the earliest, whoever signed it (ATT-020 (a)), and none the old key
        signed from the hand-over's time on (ESC-022 (e)) -- its successors speak for the escrow then, and
        a thief holding the revoked key signs Stamps naming any digest, at any time."""
        key = (escrow, digest)
        own = self._stamp_of.get(key)
        succ = self._successors.get(escrow) if self._successors else None
        if succ is None:
            return own
        own_at = self._stamped.get(key)
        # from the hand-over on its successors speak for the escrow, not the revoked key (its thief's)
        found = (
            None
            if own is None or own_at is None or not self._own_stamp_counts(escrow, digest, own_at)
            else (own_at, escrow)
        )
        for new in succ[0]:
            at = self._stamped.get((new, digest))
            if (
                at is not None
                and at >= succ[1]
                and (new, digest) in self._stamp_of
                and (found is None or (at, new) < found)  # the old key's are all earlier
            ):
                found = (at, new)
        return None if found is None else self._stamp_of.get((found[1], digest))

    def record_stamp(
        self,
        escrow: str,
        digest: bytes,
        at_ms: int,
        stamp: bytes = b"",
        *,
        seq: int | None = None,
        seq_of: Callable[[bytes], int | None] | None = None,
    ) -> None:
        """Record ``escrow``'s Stamp ``stamp`` (its digest) of ``digest``, issued at ``at_ms``; of two in one
        millisecond the earlier in the escrow's chain is its earliest (KEY-009's order) whichever is heard
        first, when ``seq`` (the new Stamp's) and ``seq_of`` (a held Stamp's seq, None when forgotten) are
        given -- else, or the held one forgotten, the first heard is kept."""
        key = (escrow, digest)
        earlier = self._stamped.get(key)
        if earlier is None or at_ms < earlier:
            self._stamped[key] = at_ms
            if stamp:
                self._stamp_of[key] = stamp
            if earlier is not None:
                self._later_stamp(key, earlier)
        elif at_ms == earlier and stamp:
            # The escrow records its stamp time when it accepts evidence and signs the Stamp after.
            held = self._stamp_of.setdefault(key, stamp)
            if held != stamp and seq is not None and seq_of is not None:
                held_seq = seq_of(held)
                if held_seq is not None and seq < held_seq:  # KEY-009: an earlier seq of the escrow's chain
                    self._stamp_of[key] = stamp
        elif at_ms > earlier:
            self._later_stamp(key, at_ms)

    def _later_stamp(self, key: tuple[str, bytes], at_ms: int) -> None:
        later = self._later.setdefault(key, [])
        if at_ms not in later:
            insort(later, at_ms)

    def record_ack(self, by: str, digest: bytes, at_ms: int) -> None:
        key = (by, digest)
        self._acked[key] = min(at_ms, self._acked.get(key, at_ms))

    def forget(self, digests: set[bytes], by: tuple[str, ...]) -> None:
        """Drop the acknowledgements by ``by`` of ``digests`` (a forgotten negotiation's: bounded memory)."""
        for party in by:
            for digest in digests:
                self._acked.pop((party, digest), None)

    def forget_stamps(self, escrow: str, digests: Iterable[bytes]) -> None:
        """Drop ``escrow``'s stamps of ``digests`` (an escrow forgetting its own: bounded memory, its
        archive answers for them)."""
        for digest in digests:
            self._stamped.pop((escrow, digest), None)
            self._stamp_of.pop((escrow, digest), None)
            self._later.pop((escrow, digest), None)

    @contextmanager
    def stamps_held(self, stamps: Iterable[tuple[str, bytes, int]]) -> Iterator[None]:
        """Lookups see ``stamps`` -- (escrow, digest, time) -- as recorded, for the block only: what they
        changed is put back afterwards (a server checks a request beside the Stamps of its context
        before it takes them, RPC-015)."""
        saved: dict[tuple[str, bytes], tuple[int | None, bytes | None, list[int] | None]] = {}
        for escrow, digest, at_ms in stamps:
            key = (escrow, digest)
            if key not in saved:
                later = self._later.get(key)
                saved[key] = (
                    self._stamped.get(key),
                    self._stamp_of.get(key),
                    None if later is None else [*later],
                )
            self.record_stamp(escrow, digest, at_ms)
        try:
            yield
        finally:
            for key, (at, stamp, later) in saved.items():
                self._stamped.pop(key, None)
                self._stamp_of.pop(key, None)
                self._later.pop(key, None)
                if at is not None:
                    self._stamped[key] = at
                if stamp is not None:
                    self._stamp_of[key] = stamp
                if later is not None:
                    self._later[key] = later

    def set_provisional(self, escrow: str, digest: bytes, at_ms: int) -> None:
        """The escrow itself is checking a statement it is about to stamp at ``at_ms``: let the check
        see that stamp (cleared by :meth:`clear_provisional`, recorded only if the statement passes)."""
        self._provisional = (escrow, digest, at_ms)

    def clear_provisional(self) -> None:
        self._provisional = None

    def witnessed_ms(self, vs: VerifiedStatement, escrow: str) -> int | None:
        """WIT-002: the earliest time ``escrow`` stamped ``vs`` or its audience acknowledged it."""
        stamped = self.stamp_time(escrow, vs.digest) if escrow else None
        audience = vs.header.audience
        acked = self.ack_time(audience, vs.digest) if audience else None
        times = [t for t in (stamped, acked) if t is not None]
        return min(times) if times else None

    def delivery_timely(self, c: Contract, delivery: VerifiedStatement) -> bool:
        """WIT-003: issued by the item's deadline, and witnessed by the deadline plus the tolerance."""
        item = c.gives(delivery.issuer)[delivery.statement.delivery.item_index]
        if delivery.header.issued_at_ms > item.deadline_ms:
            return False
        witnessed = self.witnessed_ms(delivery, c.escrow)
        return witnessed is not None and witnessed <= item.deadline_ms + CLOCK_TOLERANCE_MS
